import { randomBytes, timingSafeEqual } from "node:crypto";

/** argon2id cost parameters; p is always 1 (Bun's implementation). */
export interface PasswordHashParams {
  memoryKib: number;
  timeCost: number;
}

/** OWASP's minimum for argon2id (m = 19 MiB, t = 2, p = 1): also the default. */
export const OWASP_MINIMUM: PasswordHashParams = { memoryKib: 19456, timeCost: 2 };

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /**
   * Present when the implementation takes the caller's salt (16 bytes): the same password, salt and
   * parameters (this hasher's unless given) give the same PHC string. Pending registrations of one
   * address share a salt, so one hash checks a password against all of them (findMatchingHash).
   */
  hashWithSalt?(password: string, salt: Uint8Array, params?: PasswordHashParams): Promise<string>;
  verify(password: string, hash: string): Promise<boolean>;
  /** True when `hash` was made with other parameters than this hasher's: rehash at the next login. */
  needsRehash(hash: string): boolean;
  /**
   * A hash that no password matches, with this hasher's parameters: checking a password against it
   * costs what checking a real one does (logins for unknown emails use it), and it costs nothing to make.
   */
  unmatchableHash: string;
}

/** The parameters of a PHC-format argon2id hash (`$argon2id$v=19$m=19456,t=2,p=1$…`), or null for anything else. */
export function argon2idParams(hash: string): PasswordHashParams | null {
  const match = /^\$argon2id\$v=\d+\$m=(\d+),t=(\d+),p=1\$/.exec(hash);
  return match ? { memoryKib: Number(match[1]), timeCost: Number(match[2]) } : null;
}

export function argon2idHasher(params: PasswordHashParams = OWASP_MINIMUM): PasswordHasher {
  const options = { algorithm: "argon2id", memoryCost: params.memoryKib, timeCost: params.timeCost } as const;
  // A random salt and a random digest: no password derives that digest.
  const b64 = (bytes: number) => randomBytes(bytes).toString("base64").replace(/=+$/, "");
  return {
    unmatchableHash: `$argon2id$v=19$m=${params.memoryKib},t=${params.timeCost},p=1$${b64(16)}$${b64(32)}`,
    hash: (password) => Bun.password.hash(password, options),
    verify: (password, hash) => Bun.password.verify(password, hash, "argon2id"),
    needsRehash: (hash) => {
      const current = argon2idParams(hash);
      return current?.memoryKib !== params.memoryKib || current.timeCost !== params.timeCost;
    },
  };
}

/** The PHC string up to its digest (`$argon2id$v=19$m=…,t=…,p=1$<salt>$`): what hashes of one salt and parameters share. */
const prefixOf = (hash: string) => hash.slice(0, hash.lastIndexOf("$") + 1);

/**
 * The index of the first of `hashes` that `password` matches, or -1. Hashes that share a salt and
 * parameters cost one hash together when the hasher takes a salt (hashWithSalt); otherwise each is
 * checked in turn. Every comparison is constant-time.
 */
export async function findMatchingHash(hasher: PasswordHasher, password: string, hashes: readonly string[]): Promise<number> {
  const groups = new Map<string, number[]>();
  hashes.forEach((hash, index) => {
    const prefix = prefixOf(hash);
    groups.set(prefix, [...(groups.get(prefix) ?? []), index]);
  });
  let found = -1;
  for (const [prefix, indexes] of groups) {
    const params = argon2idParams(prefix);
    const salt = prefix.split("$")[4];
    if (indexes.length > 1 && hasher.hashWithSalt && params && salt) {
      const computed = Buffer.from(await hasher.hashWithSalt(password, Buffer.from(salt, "base64"), params));
      for (const index of indexes) {
        const stored = Buffer.from(hashes[index] ?? "");
        if (stored.length === computed.length && timingSafeEqual(stored, computed) && found === -1) found = index;
      }
    } else {
      for (const index of indexes) if ((await hasher.verify(password, hashes[index] ?? "")) && found === -1) found = index;
    }
  }
  return found;
}
