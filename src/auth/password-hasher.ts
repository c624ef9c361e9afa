import { randomBytes } from "node:crypto";

/** argon2id cost parameters; p is always 1 (Bun's implementation). */
export interface PasswordHashParams {
  memoryKib: number;
  timeCost: number;
}

/** OWASP's minimum for argon2id (m = 19 MiB, t = 2, p = 1): also the default. */
export const OWASP_MINIMUM: PasswordHashParams = { memoryKib: 19456, timeCost: 2 };

export interface PasswordHasher {
  hash(password: string): Promise<string>;
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
