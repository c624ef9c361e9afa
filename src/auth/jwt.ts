import type { jwt } from "@elysiajs/jwt";
import type { UserRow } from "./users";

/** The `jwt` decorator of @elysiajs/jwt. */
export type JwtCodec = ReturnType<typeof jwt>["decorator"]["jwt"];

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

export async function issueAccessToken(codec: JwtCodec, user: UserRow, now: Date, lifetimeSeconds: number): Promise<IssuedToken> {
  const iat = Math.floor(now.getTime() / 1000);
  const exp = iat + lifetimeSeconds;
  const token = await codec.sign({ sub: user.id, jti: crypto.randomUUID(), tv: user.tokenVersion, iat, exp });
  return { token, tokenType: "Bearer", expiresAt: new Date(exp * 1000).toISOString() };
}

function decodeSegment(segment: string | undefined): Record<string, unknown> | null {
  try {
    const value = JSON.parse(Buffer.from(segment ?? "", "base64url").toString("utf8"));
    return value && typeof value === "object" ? value : null;
  } catch {
    return null;
  }
}

/**
 * Checks signature, algorithm (HS256 only: `none`, HS512, RS256 … are refused) and expiry against `now`.
 * Returns the claims or why the token was refused.
 */
export async function verifyAccessToken(codec: JwtCodec, token: string, now: Date): Promise<AccessClaims | TokenRejection> {
  const [headerPart, payloadPart, signature, ...rest] = token.split(".");
  const header = decodeSegment(headerPart);
  const unverified = decodeSegment(payloadPart);
  if (!header || !unverified || signature === undefined || rest.length > 0) return "malformed";
  if (header.alg !== "HS256") return "algorithm";
  const claims = await codec.verify(token, { algorithms: ["HS256"], currentDate: now });
  if (!claims) {
    // Expired, or forged? Only a genuine token verifies at a moment before its expiry.
    const exp = unverified.exp;
    if (typeof exp !== "number" || exp * 1000 > now.getTime()) return "signature";
    const genuine = await codec.verify(token, { algorithms: ["HS256"], currentDate: new Date((exp - 1) * 1000) });
    return genuine ? "expired" : "signature";
  }
  const { sub, jti, tv, exp, iat } = claims as Record<string, unknown>;
  if (typeof sub !== "string" || typeof jti !== "string" || typeof tv !== "number" || typeof exp !== "number" || typeof iat !== "number") {
    return "malformed";
  }
  return { sub, jti, tv, exp, iat };
}
