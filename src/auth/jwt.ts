import { createHmac, createSecretKey, type KeyObject, timingSafeEqual } from "node:crypto";
import type { jwt } from "@elysiajs/jwt";
import type { UserRow } from "./users";

type JwtCodec = ReturnType<typeof jwt>["decorator"]["jwt"];

export interface AccessClaims {
  sub: string;
  jti: string;
  /** The user's token version when issued; a password change or reset bumps it. */
  tv: number;
  exp: number;
  iat: number;
}

export type TokenRejection = "missing" | "malformed" | "algorithm" | "signature" | "expired" | "revoked" | "stale" | "user_not_found";

export interface IssuedToken {
  token: string;
  tokenType: "Bearer";
  expiresAt: string;
}

/** Issues and checks the service's access tokens: HS256 with `JWT_SECRET`, nothing else. */
export class AccessTokens {
  private readonly key: KeyObject;
  private codec: Promise<JwtCodec> | undefined;

  constructor(private readonly secret: string) {
    this.key = createSecretKey(Buffer.from(secret, "utf8"));
  }

  async issue(user: UserRow, now: Date, lifetimeSeconds: number): Promise<IssuedToken> {
    // @elysiajs/jwt (jose) is loaded at the first login, not at start.
    this.codec ??= import("@elysiajs/jwt").then(({ jwt }) => jwt({ name: "jwt", secret: this.secret, alg: "HS256" }).decorator.jwt);
    const iat = Math.floor(now.getTime() / 1000);
    const exp = iat + lifetimeSeconds;
    const token = await (await this.codec).sign({ sub: user.id, jti: crypto.randomUUID(), tv: user.tokenVersion, iat, exp });
    return { token, tokenType: "Bearer", expiresAt: new Date(exp * 1000).toISOString() };
  }

  verify(token: string, now: Date): AccessClaims | TokenRejection {
    return verifyAccessToken(this.key, token, now);
  }
}

function decodeSegment(segment: string): Record<string, unknown> | null {
  try {
    const value = JSON.parse(Buffer.from(segment, "base64url").toString("utf8"));
    return value && typeof value === "object" && !Array.isArray(value) ? value : null;
  } catch {
    return null;
  }
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;
/** The header every token of ours has: {"alg":"HS256","typ":"JWT"}. Any other header is decoded and checked. */
const OUR_HEADER = Buffer.from(JSON.stringify({ alg: "HS256", typ: "JWT" })).toString("base64url");

/**
 * Checks algorithm (HS256 only: `none`, HS512, RS256 … are refused), signature (constant-time) and
 * expiry against `now`; returns the claims or why the token was refused. Tokens are signed by
 * @elysiajs/jwt (jose); verification is this synchronous HMAC because jose's imports the key and goes
 * through async WebCrypto on every call, which was a tenth of the CPU of an authenticated request.
 */
function verifyAccessToken(key: KeyObject, token: string, now: Date): AccessClaims | TokenRejection {
  const parts = token.split(".");
  if (parts.length !== 3) return "malformed";
  const [headerPart = "", payloadPart = "", signaturePart = ""] = parts;
  if (!BASE64URL.test(signaturePart)) return "malformed";
  if (headerPart !== OUR_HEADER) {
    const header = decodeSegment(headerPart);
    if (!header) return "malformed";
    if (header.alg !== "HS256") return "algorithm";
  }
  const claims = decodeSegment(payloadPart);
  if (!claims) return "malformed";
  const expected = createHmac("sha256", key).update(`${headerPart}.${payloadPart}`).digest();
  const signature = Buffer.from(signaturePart, "base64url");
  if (signature.length !== expected.length || !timingSafeEqual(signature, expected)) return "signature";
  const { sub, jti, tv, exp, iat } = claims;
  if (typeof sub !== "string" || typeof jti !== "string" || typeof tv !== "number" || typeof exp !== "number" || typeof iat !== "number") {
    return "malformed";
  }
  if (exp * 1000 <= now.getTime()) return "expired";
  return { sub, jti, tv, exp, iat };
}
