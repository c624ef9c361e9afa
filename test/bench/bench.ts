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
import { Database } from "bun:sqlite";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, release, tmpdir, totalmem, type } from "node:os";
import { join, resolve } from "node:path";
import { $ } from "bun";
import { ARGON2ID_IMPLEMENTATION } from "../../src/hashing/password-hasher";
import type { HashComparison } from "./hash-implementations";
import { type LogSummary, summarizeLog } from "./lib/logs";
import { ADMIN_URL, createDatabase, databaseUrl, dropDatabase, PostgresPinning, psql, serverVersion } from "./lib/postgres";
import {
  CORES,
  freePort,
  LOAD_CPU,
  mainThreadCpuMs,
  memoryBytes,
  onCpu,
  PINNED,
  pinSelf,
  progress,
  resetPeakMemory,
  run,
  SERVER_CPU,
  type Server,
  spawnServer,
  stopServer,
  waitForOk,
  waitUntilIdle,
} from "./lib/proc";
import {
  type BenchContext,
  type BenchResults,
  type BinaryFigures,
  type DatabaseKind,
  type HashRates,
  renderMarkdown,
  replaceResults,
  type Samples,
  type ServiceResults,
} from "./lib/report";
import { benchServiceEnv, UNLIMITED } from "./lib/service-env";
import { runWrk, WRK_CONNECTIONS, WRK_THREADS, wrkCommand } from "./lib/wrk";
import { type OverloadRun, runOverloadScenarios } from "./overload";

const ROOT = resolve(import.meta.dir, "../..");
const BUILT_BINARY = join(ROOT, "dist/classmatefinder-backend");
/** The bench runs a private copy of the binary, so a rebuild of dist/ during the run cannot swap it. */
const binaryIn = (dir: string) => join(dir, "classmatefinder-backend");
const BENCHMARKS_FILE = join(ROOT, "BENCHMARKS.md");
const SEED_ACCOUNTS = 20;
const PASSWORD = "Bench-Pass-2026!";
const COLD_STARTS = 10;
const IDLE_RSS_AFTER_MS = 3_000;
const ADJACENT_HASH_RATE_SECONDS = 3;
/** The side-by-side comparison: rounds, and verifications per round at the configured parameters. */
const COMPARISON_ROUNDS = 3;
const COMPARISON_HASHES = 40;
/** Stronger parameter sets beside the configured one, both accepted by the service: what the headroom buys. */
const STRONGER_HASHES = [
  { memoryCostKiB: 47_104, timeCost: 2 },
  { memoryCostKiB: 65_536, timeCost: 3 },
];

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

// ---- the service ----

/** The environment of the service: production, everything it needs and nothing inherited by accident. */
function serviceEnv(databaseUrl: string, port: number): Record<string, string> {
  // Knobs a run may vary (e.g. DATABASE_PREPARED_STATEMENTS=false: the cost of unnamed statements on /me).
  const passedThrough = Object.entries(process.env).filter(
    (entry): entry is [string, string] =>
      (entry[0].startsWith("PASSWORD_HASH_") ||
        entry[0] === "DATABASE_PREPARED_STATEMENTS" ||
        entry[0] === "DATABASE_POOL_SIZE" ||
        entry[0] === "NAPI_RS_NATIVE_LIBRARY_PATH") &&
      entry[1] !== undefined,
  );
  return {
    ...benchServiceEnv(databaseUrl, port),
    // The overload scenarios give each request its client address in X-Forwarded-For.
    TRUST_PROXY: "true",
    ...Object.fromEntries(passedThrough),
  };
}

interface Service {
  database: DatabaseKind;
  label: string;
  url: string;
  server: Server;
  tokenFile: string;
  storedHashParameters: string;
}

/** SQLite file or fresh PostgreSQL database; returns its DATABASE_URL. */
async function prepareDatabase(database: DatabaseKind, dir: string, cleanup: Cleanup): Promise<string> {
  if (database === "sqlite") return `file:${join(dir, "bench.db")}`;
  const name = `cmf_bench_${process.pid}`;
  await dropDatabase(name);
  await createDatabase(name);
  cleanup.add(`drop database ${name}`, () => dropDatabase(name));
  return databaseUrl(name);
}

async function sqlOn(url: string, statement: string, parameters: (string | number)[] = []): Promise<string> {
  if (url.startsWith("postgres")) return psql(url, statement);
  const db = new Database(url.slice("file:".length));
  try {
    db.run("PRAGMA busy_timeout = 5000");
    const row = db.prepare(statement).get(...parameters) as Record<string, unknown> | null;
    return row ? String(Object.values(row)[0]) : "";
  } finally {
    db.close();
  }
}

async function postJson(url: string, body: unknown, expected: number): Promise<Record<string, unknown>> {
  const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const text = await response.text();
  if (response.status !== expected) throw new Error(`POST ${url}: expected ${expected}, got ${response.status}: ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
}

/** Marks every unverified account verified, as its link would (the link exists only as a hash). */
async function verifyPending(url: string): Promise<void> {
  if (url.startsWith("postgres")) await psql(url, "UPDATE users SET email_verified_at = now() WHERE email_verified_at IS NULL");
  else await sqlOn(url, "UPDATE users SET email_verified_at = ? WHERE email_verified_at IS NULL", [Date.now()]);
}

/** Registers the accounts over HTTP, verifies them in the database (the link exists only as a hash), logs them in. */
async function seedAccounts(baseUrl: string, url: string): Promise<string[]> {
  const accounts = Array.from({ length: SEED_ACCOUNTS }, (_, index) => `bench${index + 1}`);
  for (const name of accounts) {
    await postJson(
      `${baseUrl}/api/auth/register`,
      { email: `${name}@mit.edu`, username: name, password: PASSWORD, firstName: "Bench" },
      201,
    );
  }
  await verifyPending(url);
  const tokens: string[] = [];
  for (const name of accounts) {
    const body = await postJson(`${baseUrl}/api/auth/login`, { email: `${name}@mit.edu`, password: PASSWORD }, 200);
    if (typeof body.token !== "string") throw new Error(`login of ${name} returned no token`);
    tokens.push(body.token);
  }
  return tokens;
}

async function startService(database: DatabaseKind, dir: string, cleanup: Cleanup): Promise<Service> {
  const url = await prepareDatabase(database, dir, cleanup);
  const port = freePort();
  const env = serviceEnv(url, port);
  progress(`${database}: migrate, serve on port ${port}, seed ${SEED_ACCOUNTS} accounts`);
  await run([binaryIn(dir), "migrate"], env);
  const server = spawnServer({
    name: `service (${database})`,
    command: [binaryIn(dir), "serve"],
    env,
    port,
    stdoutPath: join(dir, `${database}.log`),
    stderrPath: join(dir, `${database}.stderr`),
  });
  cleanup.add(`stop ${server.name}`, () => stopServer(server));
  await waitForOk(`${server.baseUrl}/health`, server, performance.now(), 15_000, 10);
  const tokenFile = join(dir, `${database}.tokens`);
  writeFileSync(tokenFile, `${(await seedAccounts(server.baseUrl, url)).join("\n")}\n`);
  const storedHash = await sqlOn(url, "SELECT password_hash FROM users WHERE username = 'bench1'");
  const storedHashParameters = /\$(m=\d+,t=\d+,p=\d+)\$/.exec(storedHash)?.[1] ?? "(unknown)";
  const label = database === "sqlite" ? "SQLite" : `PostgreSQL ${await serverVersion()}`;
  return { database, label, url, server, tokenFile, storedHashParameters };
}

// ---- scenarios ----

interface Scenario {
  key: string;
  path: string;
  script: string;
  args: (service: Service) => string[];
}

const SCENARIOS: Scenario[] = [
  { key: "health", path: "/health", script: "report.lua", args: () => [] },
  { key: "me", path: "/api/auth/me", script: "me.lua", args: (service) => [service.tokenFile] },
  { key: "login", path: "/api/auth/login", script: "login.lua", args: () => [String(SEED_ACCOUNTS), PASSWORD] },
  { key: "mixed", path: "/", script: "mixed.lua", args: (service) => [service.tokenFile, String(SEED_ACCOUNTS), PASSWORD] },
  { key: "register", path: "/api/auth/register", script: "register.lua", args: () => [randomPrefix(), PASSWORD] },
];

/** A few random letters, so the accounts one registration run creates never collide with another's. */
function randomPrefix(): string {
  return `r${crypto.randomUUID().replaceAll("-", "").slice(0, 8)}`;
}

function record(samples: Samples, key: string, value: Samples[string][number]): void {
  samples[key] ??= [];
  samples[key].push(value);
}

async function warmUp(baseUrl: string, paths: { path: string; script: string; args: string[] }[]): Promise<void> {
  for (const { path, script, args } of paths) await runWrk({ url: `${baseUrl}${path}`, script, args, duration: "2s" });
}

/**
 * Logins from 50 connections and, at the same time, /health from 2 more: does the service keep
 * answering cheap requests while password hashing saturates it? Peak RSS is the VmHWM of the flood alone.
 */
async function loginFlood(service: Service, duration: string, samples: Samples): Promise<number> {
  const { baseUrl, pid } = service.server;
  resetPeakMemory(pid);
  const [login, health] = await Promise.all([
    runWrk({ url: `${baseUrl}/api/auth/login`, script: "login.lua", args: [String(SEED_ACCOUNTS), PASSWORD], duration }),
    runWrk({ url: `${baseUrl}/health`, script: "report.lua", connections: 2, duration }),
  ]);
  record(samples, "floodLogin", login);
  record(samples, "floodHealth", health);
  return memoryBytes(pid, "VmHWM");
}

/** Before each scenario: every server idle, so work one left queued (hashes of abandoned logins) bills no other. */
async function settle(servers: Server[]): Promise<void> {
  await Promise.all(servers.map((server) => waitUntilIdle(server.pid)));
}

async function runServiceScenarios(
  service: Service,
  duration: string,
  samples: Samples,
  peaks: number[],
  servers: Server[],
  adjacentHashRates: { measure: () => Promise<number>; rates: number[] },
  loginMainThreadMs: number[],
): Promise<void> {
  for (const scenario of SCENARIOS) {
    await settle(servers);
    if (scenario.key === "login") {
      // The login target is a ratio to the hash rate; this machine's speed drifts from minute to
      // minute, so the reference is measured right before each login run, on the same core.
      progress(`${service.database}: isolated hash rate, before login`);
      adjacentHashRates.rates.push(await adjacentHashRates.measure());
    }
    progress(`${service.database}: ${scenario.key}`);
    const url = `${service.server.baseUrl}${scenario.path}`;
    const cpuBefore = mainThreadCpuMs(service.server.pid);
    const result = await runWrk({ url, script: scenario.script, args: scenario.args(service), duration });
    record(samples, scenario.key, result);
    // What a login costs the thread that answers every request (the hash itself runs on a pool thread).
    if (scenario.key === "login")
      loginMainThreadMs.push((mainThreadCpuMs(service.server.pid) - cpuBefore) / (result.requests - result.non2xx));
  }
  await settle(servers);
  progress(`${service.database}: login flood`);
  peaks.push(await loginFlood(service, duration, samples));
}

// ---- the floor ----

async function startFloor(dir: string, postgresUrl: string | null, cleanup: Cleanup): Promise<Server> {
  const port = freePort();
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    PORT: String(port),
    FLOOR_SQLITE_PATH: join(dir, "floor.db"),
    ...(postgresUrl ? { FLOOR_POSTGRES_URL: postgresUrl } : {}),
  };
  const server = spawnServer({
    name: "floor",
    command: [process.execPath, join(import.meta.dir, "floor.ts")],
    env,
    port,
    stdoutPath: join(dir, "floor.log"),
    stderrPath: join(dir, "floor.stderr"),
  });
  cleanup.add("stop floor", () => stopServer(server));
  await waitForOk(`${server.baseUrl}/`, server, performance.now(), 15_000, 10);
  return server;
}

function floorPaths(withPostgres: boolean): { key: string; path: string }[] {
  return [{ key: "raw", path: "/" }, ...(withPostgres ? [{ key: "pg", path: "/pg" }] : []), { key: "sqlite", path: "/sqlite" }];
}

async function runFloor(floor: Server, withPostgres: boolean, duration: string, samples: Samples, servers: Server[]): Promise<void> {
  for (const { key, path } of floorPaths(withPostgres)) {
    await settle(servers);
    progress(`floor: ${path}`);
    record(samples, key, await runWrk({ url: `${floor.baseUrl}${path}`, script: "report.lua", duration }));
  }
}

// ---- binary and hashing ----

async function startOnce(env: Record<string, string>, port: number, dir: string): Promise<{ server: Server; firstOkMs: number }> {
  const since = performance.now();
  const server = spawnServer({
    name: "cold start",
    command: [binaryIn(dir), "serve"],
    env: { ...env, PORT: String(port) },
    port,
    stdoutPath: join(dir, "cold.log"),
    stderrPath: join(dir, "cold.stderr"),
  });
  try {
    return { server, firstOkMs: await waitForOk(`${server.baseUrl}/health`, server, since, 15_000, 1) };
  } catch (error) {
    await stopServer(server);
    throw error;
  }
}

/** Size; cold start of `serve` on an already-migrated SQLite file (median of 10); idle RSS 3 s after start. */
async function measureBinary(dir: string): Promise<BinaryFigures> {
  progress(`binary: ${COLD_STARTS} cold starts, idle RSS`);
  const env = serviceEnv(`file:${join(dir, "cold.db")}`, freePort());
  await run([binaryIn(dir), "migrate"], env);
  const coldStartMs: number[] = [];
  for (let start = 0; start < COLD_STARTS; start += 1) {
    const { server, firstOkMs } = await startOnce(env, freePort(), dir);
    coldStartMs.push(firstOkMs);
    await stopServer(server);
  }
  const { server, firstOkMs } = await startOnce(env, freePort(), dir);
  await Bun.sleep(Math.max(0, IDLE_RSS_AFTER_MS - firstOkMs));
  const idleRssBytes = memoryBytes(server.pid, "VmRSS");
  await stopServer(server);
  return { sizeBytes: statSync(binaryIn(dir)).size, coldStartMs, idleRssBytes };
}

/** The service's hasher, verifying one hash after another on the server's CPU for `seconds`: verifications/s. */
async function hashRate(memoryCostKiB: number, timeCost: number, seconds: number): Promise<number> {
  const command = [process.execPath, join(import.meta.dir, "hash-rate.ts"), String(memoryCostKiB), String(timeCost), String(seconds)];
  return (JSON.parse(await run(onCpu(SERVER_CPU, command))) as { perSecond: number }).perSecond;
}

async function measureHashRates(settings: Settings): Promise<HashRates> {
  progress("argon2id implementations side by side");
  const configured = settings.hash;
  const sets = [configured, ...STRONGER_HASHES].map((set) => `${set.memoryCostKiB},${set.timeCost}`);
  const command = [
    process.execPath,
    join(import.meta.dir, "hash-implementations.ts"),
    String(COMPARISON_ROUNDS),
    String(COMPARISON_HASHES),
  ];
  // The comparison measures every implementation, whatever NAPI_RS_NATIVE_LIBRARY_PATH makes the service use.
  const { NAPI_RS_NATIVE_LIBRARY_PATH: _, ...env } = process.env;
  const comparison = JSON.parse(await run(onCpu(SERVER_CPU, [...command, ...sets]), env as Record<string, string>)) as HashComparison;
  const fromEnv = process.env.PASSWORD_HASH_MEMORY_KIB !== undefined || process.env.PASSWORD_HASH_TIME_COST !== undefined;
  return { comparison, service: ARGON2ID_IMPLEMENTATION.name, configuredFromEnv: fromEnv };
}

// ---- context ----

function benchCommand(): string {
  const assignments = Object.entries(process.env)
    .filter(
      ([name]) =>
        name.startsWith("BENCH_") ||
        name.startsWith("PASSWORD_HASH_") ||
        name.startsWith("DATABASE_P") ||
        name === "NAPI_RS_NATIVE_LIBRARY_PATH",
    )
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, value]) => `${name}=${value}`);
  return [...assignments, "bun run bench"].join(" ");
}

function machine(): string {
  const model = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? cpus()[0]?.model ?? "unknown CPU";
  return `${CORES} cores (${model}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ${type()} ${release()}`;
}

async function context(settings: Settings, pinnedPostgres: number | null): Promise<BenchContext> {
  const postgres = settings.databases.includes("postgres") ? `; PostgreSQL ${await serverVersion()} on ${new URL(ADMIN_URL).host}` : "";
  const wrk = wrkCommand({ url: "<url>", script: "<scenario>.lua", args: ["<arguments>"], duration: settings.duration })
    .join(" ")
    .replace(`${ROOT}/`, "");
  const pinning = !PINNED
    ? `none (${CORES} core${CORES === 1 ? "" : "s"}${Bun.which("taskset") ? "" : ", no taskset"})`
    : `server under test and floor on CPU ${SERVER_CPU} (taskset -c ${SERVER_CPU}); ` +
      (pinnedPostgres === null
        ? "PostgreSQL not used; "
        : `PostgreSQL's ${pinnedPostgres} processes on CPU ${SERVER_CPU} (taskset -a -cp ${SERVER_CPU}, restored afterwards); `) +
      `wrk and the bench driver on CPU ${LOAD_CPU}`;
  const hashEnv = Object.keys(process.env).filter((name) => name.startsWith("PASSWORD_HASH_"));
  return {
    command: benchCommand(),
    date: `${new Date().toISOString().replace(/\.\d+Z$/, "Z")} (UTC)`,
    machine: machine(),
    software: `bun ${Bun.version}${postgres}`,
    wrk: `\`${wrk}\` (${WRK_THREADS} thread, ${WRK_CONNECTIONS} connections unless noted, ${settings.duration} per scenario); ${settings.runs} run${settings.runs === 1 ? "" : "s"}${settings.runs > 1 ? ", cells are median (min–max)" : ""}`,
    pinning,
    service: `dist/classmatefinder-backend, NODE_ENV=production, LOG_LEVEL=info with the log written to a file, rate limits ${UNLIMITED}, ${SEED_ACCOUNTS} seeded accounts; PASSWORD_HASH_*: ${hashEnv.length > 0 ? hashEnv.map((name) => `${name}=${process.env[name]}`).join(", ") : "not set (the service's defaults)"}`,
  };
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
  const hashRates = await measureHashRates(settings);
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
