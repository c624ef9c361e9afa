/**
 * `bun run bench`: throughput, latency, memory and start-up of the compiled binary, on this machine, in
 * one run, with the figures compared against targets. Not part of `bun test`.
 *
 * What it does:
 *  1. builds dist/classmatefinder-backend (`bun run build`; BENCH_SKIP_BUILD=1 skips it);
 *  2. with ≥ 2 cores, pins the server under test and PostgreSQL to CPU 0 and the load generator (wrk)
 *     to CPU 1 (PostgreSQL's original affinity is restored at the end, also on error or Ctrl-C);
 *  3. measures the compiled binary: size, cold start to the first 200 of GET /health (median of 10),
 *     idle RSS 3 s after start;
 *  4. measures the argon2id implementations side by side, interleaved in one process pinned to the
 *     server's CPU (test/bench/hash-implementations.ts: Bun.password, @node-rs/argon2 (the service's),
 *     hash-wasm, and node-argon2 when BENCH_ARGON2_MODULE points at a build of it) at the configured
 *     parameters (PASSWORD_HASH_MEMORY_KIB ?? 19456, PASSWORD_HASH_TIME_COST ?? 2) and two stronger sets;
 *  5. per database (a SQLite file; a fresh PostgreSQL database cmf_bench_<pid>, dropped afterwards):
 *     `migrate`, `serve` in production mode (request logs written to a file, rate limits raised),
 *     20 verified accounts, then the scenarios with wrk -t1 -c50 (test/bench/lua/*.lua): /health,
 *     /api/auth/me, login (with the service's main-thread CPU time per successful login), a mixed
 *     workload, registration, and a login flood with /health measured beside it; then the overload
 *     scenarios of test/bench/overload.ts (lecture-hall burst, campus peak, flood from one address;
 *     open-loop, client addresses in X-Forwarded-For), each against the isolated hash rate of the
 *     service's hasher measured right before it;
 *  6. the floor: a bare Bun.serve (test/bench/floor.ts) answering JSON, SELECT 1 on PostgreSQL and on
 *     SQLite, pinned and loaded the same way, so the service is reported as a ratio of it;
 *  7. repeats 5–6 BENCH_RUNS times (medians, min–max), prints markdown and writes it into BENCHMARKS.md
 *     between <!-- bench:start --> and <!-- bench:end -->.
 *
 * This file holds the settings and the order of the steps; the steps live in test/bench/lib:
 * binary.ts (3), hash-rates.ts (4 and the isolated hash rates of 5), service.ts (the service under test:
 * database, binary, seeded accounts), scenarios.ts (the wrk scenarios of 5 and the floor of 6),
 * context.ts and report.ts (the markdown).
 *
 * Rerun: `bun run bench`. Settings (environment): BENCH_RUNS (3), BENCH_DURATION (10s, per scenario),
 * BENCH_DATABASES ("sqlite,postgres"), BENCH_OVERLOAD_DURATION (30s, campus peak and flood each), BENCH_SKIP_BUILD=1, BENCH_KEEP_TEMP=1 (keep the
 * service logs and SQLite files in the temporary directory), BENCH_POSTGRES_URL
 * (postgres://root@127.0.0.1:5432/test, where the bench database is created), PASSWORD_HASH_* (passed
 * to the service), NAPI_RS_NATIVE_LIBRARY_PATH (passed to the service and the adjacent hash-rate
 * measurements: a path with nothing there makes them hash with the Bun.password fallback, for a
 * before/after), BENCH_ARGON2_MODULE (see hash-implementations.ts). Quick check: BENCH_RUNS=1
 * BENCH_DURATION=3s bun run bench. Needs wrk (installed
 * with apt-get when missing and running as root), psql for PostgreSQL, and taskset for pinning.
 */
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { $ } from "bun";
import { measureBinary } from "./lib/binary";
import { context } from "./lib/context";
import { hashRate, measureHashRates } from "./lib/hash-rates";
import { type LogSummary, summarizeLog } from "./lib/logs";
import { PostgresPinning } from "./lib/postgres";
import { LOAD_CPU, PINNED, pinSelf, progress, run, stopServer } from "./lib/proc";
import { type BenchResults, type DatabaseKind, renderMarkdown, replaceResults, type Samples, type ServiceResults } from "./lib/report";
import { runFloor, runServiceScenarios, settle, startFloor, warmUp } from "./lib/scenarios";
import { binaryIn, PASSWORD, SEED_ACCOUNTS, type Service, startService, verifyPending } from "./lib/service";
import { type OverloadRun, runOverloadScenarios } from "./overload";

const ROOT = resolve(import.meta.dir, "../..");
const BUILT_BINARY = join(ROOT, "dist/classmatefinder-backend");
const BENCHMARKS_FILE = join(ROOT, "BENCHMARKS.md");
const ADJACENT_HASH_RATE_SECONDS = 3;

interface Settings {
  runs: number;
  duration: string;
  /** campus peak and flood, each, in ms */
  overloadDurationMs: number;
  databases: DatabaseKind[];
  skipBuild: boolean;
  keepTemp: boolean;
  hash: { memoryCostKiB: number; timeCost: number };
}

function readSettings(env = process.env): Settings {
  const runs = Number(env.BENCH_RUNS ?? "3");
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`BENCH_RUNS must be a positive integer, got "${env.BENCH_RUNS}"`);
  const duration = env.BENCH_DURATION ?? "10s";
  if (!/^\d+[smh]?$/.test(duration)) throw new Error(`BENCH_DURATION must look like 10s, got "${duration}"`);
  const overload = env.BENCH_OVERLOAD_DURATION ?? "30s";
  if (!/^\d+s?$/.test(overload)) throw new Error(`BENCH_OVERLOAD_DURATION must look like 30s, got "${overload}"`);
  const databases = (env.BENCH_DATABASES ?? "sqlite,postgres").split(",").map((name) => name.trim());
  for (const name of databases) {
    if (name !== "sqlite" && name !== "postgres") throw new Error(`BENCH_DATABASES: unknown database "${name}"`);
  }
  return {
    runs,
    duration,
    overloadDurationMs: Number.parseInt(overload, 10) * 1000,
    databases: databases as DatabaseKind[],
    skipBuild: env.BENCH_SKIP_BUILD === "1",
    keepTemp: env.BENCH_KEEP_TEMP === "1",
    hash: { memoryCostKiB: Number(env.PASSWORD_HASH_MEMORY_KIB ?? 19_456), timeCost: Number(env.PASSWORD_HASH_TIME_COST ?? 2) },
  };
}

/** Undo actions, run last-in first-out, once, whether the bench completed, failed or was interrupted. */
class Cleanup {
  private readonly tasks: { name: string; task: () => unknown }[] = [];
  private closing = false;

  /** After run() began (an interrupt in the middle of a step), late additions are undone at once. */
  add(name: string, task: () => unknown): void {
    this.tasks.push({ name, task });
    if (this.closing) void this.run();
  }

  async run(): Promise<void> {
    this.closing = true;
    for (let entry = this.tasks.pop(); entry; entry = this.tasks.pop()) {
      try {
        await entry.task();
      } catch (error) {
        progress(`cleanup "${entry.name}" failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }

  onSignals(): void {
    for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
      process.once(signal, () => {
        progress(`${signal}: cleaning up`);
        void this.run().finally(() => process.exit(130));
      });
    }
  }
}

// ---- main ----

async function ensureTools(settings: Settings): Promise<void> {
  if (!Bun.which("wrk")) {
    if (process.getuid?.() !== 0 || !Bun.which("apt-get")) throw new Error("wrk is missing (apt-get install wrk)");
    progress("installing wrk");
    await $`apt-get install -y wrk`.env({ ...process.env, DEBIAN_FRONTEND: "noninteractive" }).quiet();
  }
  if (settings.databases.includes("postgres") && !Bun.which("psql")) throw new Error("psql is missing");
}

async function bench(settings: Settings, cleanup: Cleanup): Promise<BenchResults> {
  await ensureTools(settings);
  if (!settings.skipBuild) {
    progress("bun run build");
    await run([process.execPath, "run", "build"]);
  } else if (!existsSync(BUILT_BINARY)) {
    throw new Error(`BENCH_SKIP_BUILD=1 but ${BUILT_BINARY} does not exist: run bun run build`);
  }
  const dir = mkdtempSync(join(tmpdir(), "cmf-bench-"));
  if (settings.keepTemp) progress(`keeping logs and databases in ${dir}`);
  else cleanup.add(`remove ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
  copyFileSync(BUILT_BINARY, binaryIn(dir));
  await pinSelf(LOAD_CPU);
  const withPostgres = settings.databases.includes("postgres");
  let pinnedPostgres: number | null = null;
  if (PINNED && withPostgres) {
    const pinning = new PostgresPinning();
    cleanup.add("restore PostgreSQL CPU affinity", () => pinning.restore());
    pinnedPostgres = await pinning.pin();
  }

  const binary = await measureBinary(dir);
  const hashRates = await measureHashRates(settings.hash);
  const services: Service[] = [];
  for (const database of settings.databases) services.push(await startService(database, dir, cleanup));
  const postgresService = services.find((service) => service.database === "postgres");
  const floor = await startFloor(dir, postgresService?.url ?? null, cleanup);

  progress("warm-up");
  await warmUp(floor.baseUrl, [{ path: "/", script: "report.lua", args: [] }]);
  for (const service of services) {
    await warmUp(service.server.baseUrl, [
      { path: "/health", script: "report.lua", args: [] },
      { path: "/", script: "me.lua", args: [service.tokenFile] },
    ]);
  }

  const servers = [floor, ...services.map((service) => service.server)];
  const floorSamples: Samples = {};
  const serviceSamples = new Map(
    services.map((service) => [
      service,
      {
        samples: {} as Samples,
        peaks: [] as number[],
        hashRates: [] as number[],
        loginMainThreadMs: [] as number[],
        overload: [] as OverloadRun[],
      },
    ]),
  );
  const measureHashRate = () => hashRate(settings.hash.memoryCostKiB, settings.hash.timeCost, ADJACENT_HASH_RATE_SECONDS);
  for (let runIndex = 1; runIndex <= settings.runs; runIndex += 1) {
    progress(`run ${runIndex} of ${settings.runs}`);
    await runFloor(floor, withPostgres, settings.duration, floorSamples, servers);
    for (const [service, { samples, peaks, hashRates, loginMainThreadMs, overload }] of serviceSamples) {
      const adjacent = { measure: measureHashRate, rates: hashRates };
      await runServiceScenarios(service, settings.duration, samples, peaks, servers, adjacent, loginMainThreadMs);
      overload.push(
        await runOverloadScenarios({
          baseUrl: service.server.baseUrl,
          pid: service.server.pid,
          database: service.database,
          seededAccounts: SEED_ACCOUNTS,
          password: PASSWORD,
          measureHashRate: async () => {
            progress(`${service.database}: isolated hash rate`);
            return measureHashRate();
          },
          verifyPending: () => verifyPending(service.url),
          settle: () => settle(servers),
          durationMs: settings.overloadDurationMs,
        }),
      );
    }
  }

  const results: ServiceResults[] = [];
  await settle(servers); // let abandoned requests finish: stopping must not fail them
  for (const [service, { samples, peaks, hashRates, loginMainThreadMs, overload }] of serviceSamples) {
    await stopServer(service.server);
    const log: LogSummary = await summarizeLog(service.server.stdoutPath, service.server.stderrPath);
    results.push({
      database: service.database,
      label: service.label,
      samples,
      floodPeakRssBytes: peaks,
      adjacentHashRates: hashRates,
      loginMainThreadMs,
      storedHashParameters: service.storedHashParameters,
      log,
      overload,
    });
  }
  return { context: await context(settings, pinnedPostgres), floor: floorSamples, services: results, hashRates, binary };
}

async function main(): Promise<void> {
  const settings = readSettings();
  const cleanup = new Cleanup();
  cleanup.onSignals();
  try {
    const markdown = renderMarkdown(await bench(settings, cleanup));
    process.stdout.write(markdown);
    writeFileSync(BENCHMARKS_FILE, replaceResults(readFileSync(BENCHMARKS_FILE, "utf8"), markdown));
    progress(`results written to ${BENCHMARKS_FILE}`);
  } finally {
    await cleanup.run();
  }
}

try {
  await main();
} catch (error) {
  progress(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exitCode = 1;
}
