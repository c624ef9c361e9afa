import { createHash, randomBytes } from "node:crypto";

/** A single-use email token: 32 random bytes, base64url (43 characters of [A-Za-z0-9_-]). */
export function generateEmailToken(): string {
  return randomBytes(32).toString("base64url");
}

/** What the database keeps instead of the token: a leaked table cannot be replayed. */
export function hashEmailToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}
