import { createHash, randomBytes } from "node:crypto";

/** A single-use email token: 32 random bytes, base64url (43 characters of [A-Za-z0-9_-]). */
export function generateEmailToken(): string {
  return randomBytes(32).toString("base64url");
}

/** What the database keeps instead of the token: a leaked table cannot be replayed. */
export function hashEmailToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  verify(password: string, hash: string): Promise<boolean>;
}

/** argon2id with Bun's defaults (64 MiB, t=2), or cheaper parameters for tests. */
export function argon2idHasher(options: { memoryCost?: number; timeCost?: number } = {}): PasswordHasher {
  return {
    hash: (password) => Bun.password.hash(password, { algorithm: "argon2id", ...options }),
    verify: (password, hash) => Bun.password.verify(password, hash, "argon2id"),
  };
}
