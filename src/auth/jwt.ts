import { createHmac, createSecretKey, type KeyObject, timingSafeEqual } from "node:crypto";
import type { SigningKey } from "./keys";
import type { UserRow } from "./users";

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

interface VerifyingKey {
  key: KeyObject;
  /** The encoded header of the tokens this key signs: {"alg":"HS256","typ":"JWT","kid":…}. */
  header: string;
}

const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
/** The header of tokens issued before keys had a `kid`: they are checked against every key. */
const LEGACY_HEADER = encode({ alg: "HS256", typ: "JWT" });

/**
 * Issues and checks the service's access tokens: HS256 only. New tokens are signed with the first key
 * (JWT_SECRET) and name it in `kid`; tokens signed with a previous key stay valid until they expire.
 */
export class AccessTokens {
  private readonly byKid: Map<string, VerifyingKey>;
  private readonly all: VerifyingKey[];
  private readonly current: VerifyingKey;
  /**
   * The encoded headers this service writes (one per key, and the legacy one) and the keys each may be
   * signed with: the header of nearly every token, matched as a string, so it is never decoded.
   */
  private readonly ownHeaders: Map<string, KeyObject[]>;

  constructor(keys: readonly SigningKey[]) {
    this.all = keys.map(({ kid, key }) => ({ key: createSecretKey(key), header: encode({ alg: "HS256", typ: "JWT", kid }) }));
    const [current] = this.all;
    if (!current) throw new Error("AccessTokens needs a signing key");
    this.current = current;
    this.byKid = new Map(keys.map(({ kid }, index) => [kid, this.all[index] as VerifyingKey]));
    this.ownHeaders = new Map(this.all.map(({ header, key }) => [header, [key]]));
    if (!this.ownHeaders.has(LEGACY_HEADER))
      this.ownHeaders.set(
        LEGACY_HEADER,
        this.all.map(({ key }) => key),
      );
  }

  async issue(user: UserRow, now: Date, lifetimeSeconds: number): Promise<IssuedToken> {
    const iat = Math.floor(now.getTime() / 1000);
    const exp = iat + lifetimeSeconds;
    const payload = encode({ sub: user.id, jti: crypto.randomUUID(), tv: user.tokenVersion, iat, exp });
    const signingInput = `${this.current.header}.${payload}`;
    const signature = createHmac("sha256", this.current.key).update(signingInput).digest("base64url");
    return { token: `${signingInput}.${signature}`, tokenType: "Bearer", expiresAt: new Date(exp * 1000).toISOString() };
  }

  verify(token: string, now: Date): AccessClaims | TokenRejection {
    const headerPart = token.slice(0, token.indexOf("."));
    const own = this.ownHeaders.get(headerPart);
    return verifyAccessToken(own ?? this.keysFor(headerPart), token, now, own !== undefined);
  }

  /** The keys that may have signed a token with this (foreign-looking) header: the one its `kid` names, or all for one without. */
  private keysFor(headerPart: string): KeyObject[] {
    const kid = decodeSegment(headerPart)?.kid;
    const named = typeof kid === "string" ? this.byKid.get(kid) : undefined;
    return named ? [named.key] : kid === undefined ? this.all.map(({ key }) => key) : [];
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

/**
 * Checks algorithm (HS256 only: `none`, HS512, RS256 … are refused), signature (constant-time, against
 * each candidate key) and expiry against `now`; returns the claims or why the token was refused. Signing
 * and verification are plain synchronous HMAC: jose's went through async WebCrypto on every call, which
 * was a tenth of the CPU of an authenticated request.
 */
function verifyAccessToken(keys: KeyObject[], token: string, now: Date, ownHeader: boolean): AccessClaims | TokenRejection {
  const parts = token.split(".");
  if (parts.length !== 3) return "malformed";
  const [headerPart = "", payloadPart = "", signaturePart = ""] = parts;
  if (!BASE64URL.test(signaturePart)) return "malformed";
  // A header this service writes says HS256; any other is decoded and must say so too.
  if (!ownHeader) {
    const header = decodeSegment(headerPart);
    if (!header) return "malformed";
    if (header.alg !== "HS256") return "algorithm";
  }
  const claims = decodeSegment(payloadPart);
  if (!claims) return "malformed";
  const signature = Buffer.from(signaturePart, "base64url");
  const signed = `${headerPart}.${payloadPart}`;
  let signedBy = false;
  for (const key of keys) {
    const expected = createHmac("sha256", key).update(signed).digest();
    if (signature.length === expected.length && timingSafeEqual(signature, expected)) signedBy = true;
  }
  if (!signedBy) return "signature";
  const { sub, jti, tv, exp, iat } = claims;
  if (typeof sub !== "string" || typeof jti !== "string" || typeof tv !== "number" || typeof exp !== "number" || typeof iat !== "number") {
    return "malformed";
  }
  if (exp * 1000 <= now.getTime()) return "expired";
  return { sub, jti, tv, exp, iat };
}
