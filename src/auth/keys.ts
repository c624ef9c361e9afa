import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from "node:crypto";
import type { Config } from "../config/config";

/**
 * The service's keys, one per purpose, so that rotating one changes nothing keyed by another:
 * - signing: JWT_SECRET (new tokens) and JWT_PREVIOUS_SECRETS (still accepted), each named by a `kid`;
 * - the audit emailHash: DATA_SECRET itself, as it was keyed before keys were split (hashes carry over);
 * - rate-limit keys, outbox bookkeeping and the encryption of queued links: HKDF-SHA256 from DATA_SECRET.
 */
export interface Keys {
  signing: SigningKey[];
  /** HMAC key of the audit log's emailHash. */
  auditHash: Buffer;
  /** Keyed hash of an address, a client or a rate-limit key: what tables store instead of the value. */
  bookkeepingHash(value: string): string;
  /** AES-256-GCM for values that must be read back (queued email links and recipients). */
  seal(plain: string): string;
  /** The value `seal` made, or the value itself when it was stored in clear by an older release. */
  open(stored: string): string;
}

export interface SigningKey {
  kid: string;
  key: Buffer;
}

const SEALED_PREFIX = "enc1.";

function derive(secret: string, purpose: string): Buffer {
  return Buffer.from(hkdfSync("sha256", Buffer.from(secret, "utf8"), Buffer.alloc(0), `classmatefinder:${purpose}`, 32));
}

/** A key's public name: a hash of a key derived for the purpose, so it tells nothing about the key. */
function keyId(secret: string): string {
  return derive(secret, "jwt-kid").subarray(0, 9).toString("base64url");
}

export function createKeys(config: Pick<Config, "jwt" | "dataSecret">): Keys {
  // Tokens keep being signed with the raw secret, so tokens of releases before `kid` stay valid.
  const signing = [config.jwt.secret, ...config.jwt.previousSecrets].map((secret) => ({
    kid: keyId(secret),
    key: Buffer.from(secret, "utf8"),
  }));
  const data = config.dataSecret.secret;
  const hashKey = derive(data, "bookkeeping-hash");
  const encryptionKey = derive(data, "at-rest-encryption");
  return {
    signing,
    auditHash: Buffer.from(data, "utf8"),
    bookkeepingHash: (value) => createHmac("sha256", hashKey).update(value).digest("base64url"),
    seal(plain) {
      const iv = randomBytes(12);
      const cipher = createCipheriv("aes-256-gcm", encryptionKey, iv);
      const body = Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]);
      return `${SEALED_PREFIX}${Buffer.concat([iv, cipher.getAuthTag(), body]).toString("base64url")}`;
    },
    open(stored) {
      if (!stored.startsWith(SEALED_PREFIX)) return stored;
      const bytes = Buffer.from(stored.slice(SEALED_PREFIX.length), "base64url");
      const decipher = createDecipheriv("aes-256-gcm", encryptionKey, bytes.subarray(0, 12));
      decipher.setAuthTag(bytes.subarray(12, 28));
      return Buffer.concat([decipher.update(bytes.subarray(28)), decipher.final()]).toString("utf8");
    },
  };
}
