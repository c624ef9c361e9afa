/**
 * The argon2id implementations side by side, in one process, interleaved: per parameter set, `rounds`
 * rounds in each of which every implementation verifies its own hash `hashes` times in a row (the order
 * rotating from round to round), so a drift of the machine's speed touches each alike. Per
 * implementation: the median time of one verification, its rate (1000 ÷ median), and the CPU time of
 * the main (JavaScript) thread per verification (from /proc/<pid>/task/<pid>/schedstat): work that
 * runs there delays every other request. At the first parameter set each implementation also verifies
 * every other one's hash (the PHC strings are interchangeable).
 *
 * Implementations: Bun.password, @node-rs/argon2 (the service's), hash-wasm (WebAssembly), and `argon2`
 * (node-argon2, libargon2 in C) when it can be loaded: it is not a dependency, since its install compiles
 * C++ with node-gyp, which `bun install` cannot run here; build it with npm in a scratch directory
 * (`npm install argon2@0.45.1`) and point BENCH_ARGON2_MODULE at its node_modules/argon2.
 *
 * Run by bench.ts pinned to the server's CPU. By hand:
 *   taskset -c 0 bun test/bench/hash-implementations.ts [rounds=3] [hashes=40] [m,t ...]
 * (default parameter sets: 19456,2 47104,2 65536,3; `hashes` is for the first, scaled by m × t for the
 * others). Prints one JSON object (HashComparison).
 */
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { hash as nativeHash, verify as nativeVerify } from "@node-rs/argon2";
import { argon2id as wasmHash, argon2Verify as wasmVerify } from "hash-wasm";

const PASSWORD = "Bench-Pass-2026!";

export interface Params {
  memoryCostKiB: number;
  timeCost: number;
}

interface Implementation {
  name: string;
  version: string;
  hash(params: Params): Promise<string>;
  verify(hash: string, password?: string): Promise<boolean>;
}

export interface ImplementationResult {
  implementation: string;
  version: string;
  medianMs: number;
  perSecond: number;
  /** CPU time of the main thread per verification */
  mainThreadMs: number;
  /** CPU time of the whole process (every thread) per verification: what a core spends on one, whatever else runs on it */
  cpuMs: number;
}

export interface HashComparison {
  rounds: number;
  sets: (Params & { hashesPerRound: number; results: ImplementationResult[] })[];
  /** Every pair at the first parameter set: whether the checker verified the maker's hash with the password, and not with another */
  crossChecks: { maker: string; checker: string; ok: boolean }[];
  /** implementations that could not be loaded, and why */
  unavailable: { implementation: string; reason: string }[];
}

const require = createRequire(import.meta.url);
const versionOf = (module: string) =>
  (JSON.parse(readFileSync(require.resolve(`${module}/package.json`), "utf8")) as { version: string }).version;

function implementations(): { available: Implementation[]; unavailable: HashComparison["unavailable"] } {
  const available: Implementation[] = [
    {
      name: "Bun.password",
      version: `bun ${Bun.version}`,
      hash: (p) => Bun.password.hash(PASSWORD, { algorithm: "argon2id", memoryCost: p.memoryCostKiB, timeCost: p.timeCost }),
      verify: (hash, password = PASSWORD) => Bun.password.verify(password, hash, "argon2id"),
    },
    {
      name: "@node-rs/argon2",
      version: versionOf("@node-rs/argon2"),
      hash: (p) => nativeHash(PASSWORD, { memoryCost: p.memoryCostKiB, timeCost: p.timeCost, parallelism: 1 }),
      verify: (hash, password = PASSWORD) => nativeVerify(hash, password),
    },
    {
      name: "hash-wasm",
      version: versionOf("hash-wasm"),
      hash: (p) =>
        wasmHash({
          password: PASSWORD,
          salt: crypto.getRandomValues(new Uint8Array(16)),
          parallelism: 1,
          iterations: p.timeCost,
          memorySize: p.memoryCostKiB,
          hashLength: 32,
          outputType: "encoded",
        }),
      verify: (hash, password = PASSWORD) => wasmVerify({ password, hash }),
    },
  ];
  const unavailable: HashComparison["unavailable"] = [];
  const argon2Path = process.env.BENCH_ARGON2_MODULE ?? "argon2";
  try {
    const argon2 = require(argon2Path) as {
      argon2id: number;
      hash(password: string, options: Record<string, number>): Promise<string>;
      verify(hash: string, password: string): Promise<boolean>;
    };
    available.push({
      name: "argon2",
      version: versionOf(argon2Path),
      hash: (p) => argon2.hash(PASSWORD, { type: argon2.argon2id, memoryCost: p.memoryCostKiB, timeCost: p.timeCost, parallelism: 1 }),
      verify: (hash, password = PASSWORD) => argon2.verify(hash, password),
    });
  } catch (error) {
    const reason = error instanceof Error ? (error.message.split("\n")[0] ?? "") : String(error);
    unavailable.push({
      implementation: "argon2",
      reason: `not installed (${reason}); see the header of test/bench/hash-implementations.ts`,
    });
  }
  return { available, unavailable };
}

/** CPU time of one thread of this process so far, in ms (the scheduler's count). */
const threadCpuMs = (tid: string | number) => {
  try {
    return Number(readFileSync(`/proc/${process.pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]) / 1e6;
  } catch {
    return 0; // a thread that ended meanwhile
  }
};
const mainThreadCpuMs = () => threadCpuMs(process.pid);
/** CPU time of all this process's threads so far, in ms: the hashing threads' included. */
const processCpuMs = () => readdirSync(`/proc/${process.pid}/task`).reduce((sum, tid) => sum + threadCpuMs(tid), 0);

const medianOf = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
};

async function crossChecks(all: Implementation[], params: Params): Promise<HashComparison["crossChecks"]> {
  const checks: HashComparison["crossChecks"] = [];
  for (const maker of all) {
    const hash = await maker.hash(params);
    for (const checker of all) {
      // A hash the checker cannot parse (node-argon2 writes m=…,p=…,t=…, which Bun.password refuses) counts as not verified.
      const ok = await Promise.all([checker.verify(hash), checker.verify(hash, `${PASSWORD}?`)]).then(
        ([right, wrong]) => right && !wrong,
        () => false,
      );
      checks.push({ maker: maker.name, checker: checker.name, ok });
    }
  }
  return checks;
}

export async function compareImplementations(sets: Params[], rounds: number, hashes: number): Promise<HashComparison> {
  const { available, unavailable } = implementations();
  const first = sets[0] as Params;
  const comparison: HashComparison = { rounds, sets: [], crossChecks: await crossChecks(available, first), unavailable };
  for (const params of sets) {
    const perRound = Math.max(5, Math.round((hashes * first.memoryCostKiB * first.timeCost) / (params.memoryCostKiB * params.timeCost)));
    const own = new Map<Implementation, string>();
    for (const implementation of available) {
      const hash = await implementation.hash(params);
      await implementation.verify(hash); // warm-up
      own.set(implementation, hash);
    }
    const times = new Map<Implementation, number[]>(available.map((implementation) => [implementation, []]));
    const mainThread = new Map<Implementation, number>(available.map((implementation) => [implementation, 0]));
    const allThreads = new Map<Implementation, number>(available.map((implementation) => [implementation, 0]));
    for (let round = 0; round < rounds; round += 1) {
      const order = available.map((_, index) => available[(index + round) % available.length] as Implementation);
      for (const implementation of order) {
        const hash = own.get(implementation) as string;
        const cpuBefore = mainThreadCpuMs();
        const processBefore = processCpuMs();
        for (let n = 0; n < perRound; n += 1) {
          const start = performance.now();
          if (!(await implementation.verify(hash))) throw new Error(`${implementation.name}: verification failed`);
          times.get(implementation)?.push(performance.now() - start);
        }
        mainThread.set(implementation, (mainThread.get(implementation) ?? 0) + mainThreadCpuMs() - cpuBefore);
        allThreads.set(implementation, (allThreads.get(implementation) ?? 0) + processCpuMs() - processBefore);
      }
    }
    comparison.sets.push({
      ...params,
      hashesPerRound: perRound,
      results: available.map((implementation) => {
        const medianMs = medianOf(times.get(implementation) ?? []);
        return {
          implementation: implementation.name,
          version: implementation.version,
          medianMs,
          perSecond: 1000 / medianMs,
          mainThreadMs: (mainThread.get(implementation) ?? 0) / (rounds * perRound),
          cpuMs: (allThreads.get(implementation) ?? 0) / (rounds * perRound),
        };
      }),
    });
  }
  return comparison;
}

export const DEFAULT_SETS: Params[] = [
  { memoryCostKiB: 19_456, timeCost: 2 },
  { memoryCostKiB: 47_104, timeCost: 2 },
  { memoryCostKiB: 65_536, timeCost: 3 },
];

if (import.meta.main) {
  const [rounds = 3, hashes = 40] = process.argv.slice(2, 4).map(Number);
  const sets = process.argv.slice(4).map((set) => {
    const [memoryCostKiB, timeCost] = set.split(",").map(Number);
    return { memoryCostKiB, timeCost } as Params;
  });
  if (!Number.isInteger(rounds) || !Number.isInteger(hashes) || sets.some((set) => !Number.isInteger(set.memoryCostKiB * set.timeCost))) {
    console.error("usage: bun test/bench/hash-implementations.ts [rounds] [hashes] [memoryKiB,timeCost ...]");
    process.exit(2);
  }
  console.log(JSON.stringify(await compareImplementations(sets.length > 0 ? sets : DEFAULT_SETS, rounds, hashes)));
}
