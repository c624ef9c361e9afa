import { randomBytes, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";

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

/** The `@node-rs/argon2` functions used here (argon2id, version 19, p = 1 and a 32-byte digest are its defaults). */
type NativeArgon2 = Pick<typeof import("@node-rs/argon2"), "hash" | "verify">;

/**
 * The argon2id implementation this process hashes with: `@node-rs/argon2` (Rust, 2–3.5 × Bun.password's
 * rate at the same parameters), or Bun.password where its prebuilt addon does not load (a platform it
 * has none for); `reason` says why. Loaded once; `bun build --compile` embeds the addon of the build host.
 */
export const ARGON2ID_IMPLEMENTATION: { name: "@node-rs/argon2"; native: NativeArgon2 } | { name: "Bun.password"; reason: string } =
  (() => {
    try {
      return { name: "@node-rs/argon2", native: require("@node-rs/argon2") as NativeArgon2 };
    } catch (error) {
      return { name: "Bun.password", reason: loadFailure(error) };
    }
  })();

/**
 * The loader's first sentence and its first attempt's error (the deepest of its chain of causes: each
 * later attempt wraps the earlier ones), which is what a sysadmin can act on.
 */
function loadFailure(error: unknown): string {
  const sentence = (e: unknown) => (e instanceof Error ? e.message : String(e)).split(/\.\s|\n/)[0];
  let first = error;
  while (first instanceof Error && first.cause instanceof Error) first = first.cause;
  return first === error ? `${sentence(error)}` : `${sentence(error)}: ${sentence(first)}`;
}

/**
 * The service's hasher: argon2id with these parameters on the native implementation where it loads, and
 * Bun.password where it does not or where `chooseQuicker` finds Bun.password quicker on this host.
 */
export function argon2idHasher(params: PasswordHashParams = OWASP_MINIMUM): AdaptiveHasher {
  const bun = { implementation: "Bun.password", hasher: bunArgon2idHasher(params) };
  if (!("native" in ARGON2ID_IMPLEMENTATION)) return adaptiveHasher(params, [bun]);
  return adaptiveHasher(params, [
    { implementation: ARGON2ID_IMPLEMENTATION.name, hasher: nativeArgon2idHasher(params, ARGON2ID_IMPLEMENTATION.native) },
    bun,
  ]);
}

/** An implementation's hasher, by name. */
export interface NamedHasher {
  implementation: string;
  hasher: PasswordHasher;
}

/** What `chooseQuicker` measured: each implementation's best time of one verification, and the one kept. */
export interface HasherTiming {
  chosen: string;
  bestMs: Record<string, number>;
}

/** A hasher that may still change implementation. */
export interface AdaptiveHasher extends PasswordHasher {
  /** Times every candidate and keeps the quickest (see adaptiveHasher); call it when the process is quiet. */
  chooseQuicker(): Promise<HasherTiming>;
}

/** Another implementation replaces the preferred one only when it is quicker by more than this: not for noise. */
export const SWITCH_MARGIN = 1.25;
/** Per candidate: blocks of verifications in a row (taking turns), the best single time counting. */
const TIMING_BLOCKS = 2;
const TIMING_BLOCK_LENGTH = 3;

/**
 * Hashes with the first candidate (the preferred one) until `chooseQuicker` has timed them all on this
 * host, and with the quickest after. Why measure instead of trusting the benchmark: `@node-rs/argon2`
 * allocates its 19 MiB afresh for every hash and the kernel zeroes them each time. With transparent huge
 * pages (THP) that is about 270 page faults and 3 ms per hash; with THP set to `never` (common advice for
 * database hosts) about 4,900 faults, and here a native hash then took 66 ms against Bun.password's 27 ms
 * on one day, 33–37 ms against 49–56 ms on another: what a fault costs is the host's (Bun.password keeps
 * its memory between hashes in a row: which is why the candidates are timed in blocks of verifications
 * in a row, as under load). The PHC strings are the same, so a switch changes
 * nothing stored.
 */
export function adaptiveHasher(params: PasswordHashParams, candidates: readonly [NamedHasher, ...NamedHasher[]]): AdaptiveHasher {
  const shared = sharedParts(params);
  let current = candidates[0];
  return {
    ...shared,
    hash: (password) => current.hasher.hash(password),
    get hashWithSalt() {
      return current.hasher.hashWithSalt;
    },
    verify: (password, hash) => current.hasher.verify(password, hash),
    async chooseQuicker() {
      const bestMs: Record<string, number> = {};
      if (candidates.length === 1) return { chosen: current.implementation, bestMs };
      for (let block = 0; block < TIMING_BLOCKS; block += 1) {
        for (const { implementation, hasher } of candidates) {
          for (let n = 0; n < TIMING_BLOCK_LENGTH; n += 1) {
            const start = performance.now();
            await hasher.verify("timing", shared.unmatchableHash);
            bestMs[implementation] = Math.min(bestMs[implementation] ?? Number.POSITIVE_INFINITY, performance.now() - start);
          }
        }
      }
      const [preferred] = candidates;
      const quickest = candidates.reduce((best, candidate) =>
        (bestMs[candidate.implementation] as number) < (bestMs[best.implementation] as number) ? candidate : best,
      );
      current =
        (bestMs[preferred.implementation] as number) > (bestMs[quickest.implementation] as number) * SWITCH_MARGIN ? quickest : preferred;
      return { chosen: current.implementation, bestMs };
    },
  };
}

/** The kernel's transparent huge pages setting (`always`, `madvise`, `never`), or null where it cannot be read. */
export function transparentHugePages(): string | null {
  try {
    return /\[(\w+)\]/.exec(readFileSync("/sys/kernel/mm/transparent_hugepage/enabled", "utf8"))?.[1] ?? null;
  } catch {
    return null;
  }
}

/**
 * argon2id on `@node-rs/argon2`: the work runs on the runtime's thread pool (N-API async work), never on
 * the main thread. Its PHC strings are byte for byte Bun.password's for the same salt, so each verifies
 * the other's hashes.
 */
export function nativeArgon2idHasher(params: PasswordHashParams, native: NativeArgon2): PasswordHasher {
  const options = (own: PasswordHashParams) => ({ memoryCost: own.memoryKib, timeCost: own.timeCost, parallelism: 1 });
  return {
    ...sharedParts(params),
    hash: (password) => native.hash(password, options(params)),
    hashWithSalt: (password, salt, given = params) => native.hash(password, { ...options(given), salt }),
    // An empty string is no hash (Bun.password says false; the addon would throw).
    verify: async (password, hash) => hash !== "" && native.verify(hash, password),
  };
}

/** argon2id on Bun.password (its own thread pool): the fallback, and the reference the native one is measured against. */
export function bunArgon2idHasher(params: PasswordHashParams = OWASP_MINIMUM): PasswordHasher {
  const options = { algorithm: "argon2id", memoryCost: params.memoryKib, timeCost: params.timeCost } as const;
  return {
    ...sharedParts(params),
    hash: (password) => Bun.password.hash(password, options),
    verify: (password, hash) => Bun.password.verify(password, hash, "argon2id"),
  };
}

/** What does not depend on the implementation: the unmatchable hash and the rehash rule. */
function sharedParts(params: PasswordHashParams): Pick<PasswordHasher, "unmatchableHash" | "needsRehash"> {
  // A random salt and a random digest: no password derives that digest.
  const b64 = (bytes: number) => randomBytes(bytes).toString("base64").replace(/=+$/, "");
  return {
    unmatchableHash: `$argon2id$v=19$m=${params.memoryKib},t=${params.timeCost},p=1$${b64(16)}$${b64(32)}`,
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
