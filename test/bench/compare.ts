/**
 * `bun run bench:compare [REV]`: this checkout's binary against the binary of an earlier revision (by
 * default the previous release, 3ef8a71), on GET /health and GET /api/auth/me, on SQLite and on
 * PostgreSQL: both services run side by side, pinned to the same CPU, and are loaded at the same moment,
 * each by its own wrk, so they split that CPU and a drift of the machine's speed hits both alike (see
 * measure()). This is how the cost of a change on the request path is told apart from the machine's
 * minute-to-minute noise: taking turns instead, the ratio of two identical binaries wandered by ±10 % here.
 *
 * Where the time of a `/me` goes, per request and per binary: CPU of the service's main thread, of its
 * other threads, and (PostgreSQL) of the PostgreSQL backends serving its database (each binary has a
 * database of its own; PostgreSQL's processes are pinned to the services' CPU, as in `bun run bench`,
 * and put back afterwards).
 *
 * Builds REV in a temporary git worktree (bun install --frozen-lockfile, bun run build) and this checkout
 * with `bun run build` (BENCH_SKIP_BUILD=1: use dist/ as it is). Settings: COMPARE_ROUNDS (8),
 * COMPARE_DURATION (5s per run), COMPARE_DATABASES ("sqlite,postgres"), BENCH_POSTGRES_URL (where the
 * databases are created). Prints a markdown table per database and writes them into BENCHMARKS.md
 * between <!-- compare:start --> and <!-- compare:end -->.
 */
import { Database } from "bun:sqlite";
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { $ } from "bun";
import { createDatabase, databaseUrl, dropDatabase, PostgresPinning, psql } from "./lib/postgres";
import {
  freePort,
  LOAD_CPU,
  mainThreadCpuMs,
  PINNED,
  pinSelf,
  progress,
  run,
  SERVER_CPU,
  type Server,
  spawnServer,
  stopServer,
  waitForOk,
} from "./lib/proc";
import { writeMarkedSection } from "./lib/sections";
import { benchServiceEnv } from "./lib/service-env";
import { aggregate } from "./lib/stats";
import { runWrk, type WrkResult } from "./lib/wrk";

type DatabaseKind = "sqlite" | "postgres";

const ROOT = resolve(import.meta.dir, "..", "..");
const PREVIOUS_RELEASE = "3ef8a71";
const ACCOUNTS = 20;
const PASSWORD = "Bench-Pass-2026!";

/** CPU time per `/me` request, in µs, one per round. */
interface CpuPerRequest {
  main: number[];
  otherThreads: number[];
  postgres: number[];
}

interface Contender {
  name: string;
  binary: string;
  server?: Server;
  tokenFile?: string;
  /** PostgreSQL: the database of its own */
  databaseName?: string;
  health: number[];
  me: number[];
  meCpu: CpuPerRequest;
}

async function post(url: string, body: unknown): Promise<Response> {
  return fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
}

/** Starts the binary on a database of its own, registers and verifies the accounts, writes their tokens. */
async function start(contender: Contender, dir: string, database: DatabaseKind): Promise<void> {
  const databasePath = join(dir, `${contender.name}.db`);
  let url = `file:${databasePath}`;
  if (database === "postgres") {
    contender.databaseName = `cmf_compare_${process.pid}_${contender.name}`;
    await dropDatabase(contender.databaseName);
    await createDatabase(contender.databaseName);
    url = databaseUrl(contender.databaseName);
  }
  const port = freePort();
  const env = { ...benchServiceEnv(url, port), MAIL_TRANSPORT: "log" };
  await run([contender.binary, "migrate"], env);
  const server = spawnServer({
    name: contender.name,
    command: [contender.binary, "serve"],
    env,
    port,
    stdoutPath: join(dir, `${contender.name}.log`),
    stderrPath: join(dir, `${contender.name}.stderr`),
  });
  contender.server = server;
  await waitForOk(`${server.baseUrl}/health`, server, performance.now(), 15_000, 10);
  for (let index = 1; index <= ACCOUNTS; index += 1) {
    const response = await post(`${server.baseUrl}/api/auth/register`, {
      email: `compare${index}@mit.edu`,
      username: `compare${index}`,
      password: PASSWORD,
      firstName: "Compare",
    });
    if (response.status !== 201) throw new Error(`${contender.name}: registration answered ${response.status}: ${await response.text()}`);
  }
  if (database === "postgres") await psql(url, "UPDATE users SET email_verified_at = now() WHERE email_verified_at IS NULL");
  else {
    const db = new Database(databasePath);
    db.run("PRAGMA busy_timeout = 5000");
    db.run("UPDATE users SET email_verified_at = ? WHERE email_verified_at IS NULL", [Date.now()]);
    db.close();
  }
  const tokens: string[] = [];
  for (let index = 1; index <= ACCOUNTS; index += 1) {
    const response = await post(`${server.baseUrl}/api/auth/login`, { email: `compare${index}@mit.edu`, password: PASSWORD });
    const body = (await response.json()) as { token?: string };
    if (!body.token) throw new Error(`${contender.name}: login answered ${response.status}`);
    tokens.push(body.token);
  }
  contender.tokenFile = join(dir, `${contender.name}.tokens`);
  writeFileSync(contender.tokenFile, `${tokens.join("\n")}\n`);
}

async function load(contender: Contender, path: string, script: string, args: string[], duration: string): Promise<WrkResult> {
  const server = contender.server as Server;
  const result = await runWrk({ url: `${server.baseUrl}${path}`, script, args, duration });
  if (result.non2xx > 0 || result.socketErrors > 0) throw new Error(`${contender.name} ${path}: ${JSON.stringify(result.statuses)}`);
  return result;
}

/** CPU time (ms) so far of each thread of `pid` (by thread id), from the scheduler's count of each. */
function threadCpuMs(pid: number): Map<string, number> {
  const threads = new Map<string, number>();
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      threads.set(task, Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, "utf8").split(" ")[0]) / 1e6);
    } catch {
      // a thread that ended meanwhile
    }
  }
  return threads;
}

/**
 * The CPU the threads other than the main one used between two snapshots: each thread's own growth (a
 * thread started meanwhile counts from zero). A thread that ended meanwhile drops out, with what it
 * used in between: summing all threads at each end instead would subtract its whole lifetime.
 */
function otherThreadsMs(pid: number, before: Map<string, number>, after: Map<string, number>): number {
  let total = 0;
  for (const [task, ms] of after) if (task !== String(pid)) total += ms - (before.get(task) ?? 0);
  return total;
}

/** CPU time (ms) so far of the PostgreSQL backends connected to `database` (each backend is one process). */
async function postgresCpuMs(database: string | undefined): Promise<number> {
  if (database === undefined) return 0;
  const pids = (
    await psql(databaseUrl(database), `SELECT pid FROM pg_stat_activity WHERE datname = '${database}' AND pid <> pg_backend_pid()`)
  )
    .split("\n")
    .filter(Boolean);
  return pids.reduce((sum, pid) => {
    try {
      return sum + Number(readFileSync(`/proc/${pid}/schedstat`, "utf8").split(" ")[0]) / 1e6;
    } catch {
      return sum;
    }
  }, 0);
}

async function cpuSnapshot(contender: Contender) {
  const pid = (contender.server as Server).pid;
  return { main: mainThreadCpuMs(pid), threads: threadCpuMs(pid), postgres: await postgresCpuMs(contender.databaseName) };
}

/**
 * Both services are loaded at the same time, each by its own wrk: they share the CPU, which the
 * scheduler splits evenly between their busy threads, so the ratio of their rates is the inverse
 * ratio of their CPU per request — and a slow minute of the machine slows both alike.
 */
async function measure(contenders: Contender[], duration: string): Promise<void> {
  const health = await Promise.all(contenders.map((contender) => load(contender, "/health", "report.lua", [], duration)));
  const before = await Promise.all(contenders.map(cpuSnapshot));
  const me = await Promise.all(
    contenders.map((contender) => load(contender, "/api/auth/me", "me.lua", [contender.tokenFile as string], duration)),
  );
  const after = await Promise.all(contenders.map(cpuSnapshot));
  contenders.forEach((contender, index) => {
    const [start, end, requests] = [before[index], after[index], me[index]?.requests ?? 0];
    contender.health.push(health[index]?.requestsPerSecond ?? 0);
    contender.me.push(me[index]?.requestsPerSecond ?? 0);
    if (!start || !end || requests === 0) return;
    const perRequestUs = (ms: number) => (ms * 1000) / requests;
    contender.meCpu.main.push(perRequestUs(end.main - start.main));
    contender.meCpu.otherThreads.push(perRequestUs(otherThreadsMs((contender.server as Server).pid, start.threads, end.threads)));
    contender.meCpu.postgres.push(perRequestUs(end.postgres - start.postgres));
  });
}

const fmt = (value: number) => Math.round(value).toLocaleString("en-US");

const DATABASE_LABELS: Record<DatabaseKind, string> = { sqlite: "SQLite", postgres: "PostgreSQL" };

function table(base: Contender, head: Contender, rev: string, database: DatabaseKind): string {
  const row = (label: string, pick: (contender: Contender) => number[], format = fmt) => {
    const [old, now] = [aggregate(pick(base)), aggregate(pick(head))];
    // Paired: each round's ratio, so a slow minute counts against both.
    const ratios = pick(head).map((value, index) => value / (pick(base)[index] as number));
    const ratio = aggregate(ratios);
    return `| ${label} | ${format(old.median)} (${format(old.min)}–${format(old.max)}) | ${format(now.median)} (${format(now.min)}–${format(now.max)}) | ${ratio.median.toFixed(2)} × (${ratio.min.toFixed(2)}–${ratio.max.toFixed(2)}) |`;
  };
  const cpuRow = (label: string, pick: (cpu: CpuPerRequest) => number[]) =>
    row(
      `… CPU µs per /me: ${label}`,
      (contender) => pick(contender.meCpu),
      (value) => value.toFixed(0),
    );
  return [
    `### ${DATABASE_LABELS[database]}`,
    "",
    `| path | ${rev} | this checkout | this ÷ ${rev}, per round |`,
    "| --- | ---: | ---: | ---: |",
    row("GET /health, req/s", (contender) => contender.health),
    row(`GET /api/auth/me (${ACCOUNTS} rotating JWTs), req/s`, (contender) => contender.me),
    cpuRow("the service's main thread", (cpu) => cpu.main),
    cpuRow("its other threads", (cpu) => cpu.otherThreads),
    ...(database === "postgres" ? [cpuRow("PostgreSQL's backends for its database", (cpu) => cpu.postgres)] : []),
    "",
  ].join("\n");
}

function header(rev: string, headRev: string, rounds: number, duration: string): string {
  return [
    "## Request paths against the previous release",
    "",
    `- Command: \`bun run bench:compare ${rev}\` (${rounds} rounds × ${duration} per path)`,
    `- Date: ${new Date().toISOString().replace(/\.\d+Z$/, "Z")} (UTC); this checkout: ${headRev}`,
    `- Both binaries side by side on CPU ${SERVER_CPU} (with PostgreSQL's processes), loaded at the same time (sharing it), each by its own wrk on CPU ${LOAD_CPU} (1 thread, 50 connections), each on a database of its own; NODE_ENV=production, LOG_LEVEL=info to a file`,
    "- Cells: median (min–max) over the rounds; each service had half the CPU. The ratio's spread is the run-to-run noise. CPU per request: the scheduler's count for each thread or process over the `/me` run, divided by the requests answered.",
    "",
  ].join("\n");
}

async function compareOn(database: DatabaseKind, binaries: { base: string; head: string }, dir: string, rounds: number, duration: string) {
  const contender = (name: "base" | "head"): Contender => ({
    name,
    binary: binaries[name],
    health: [],
    me: [],
    meCpu: { main: [], otherThreads: [], postgres: [] },
  });
  const contenders = [contender("base"), contender("head")];
  try {
    for (const each of contenders) await start(each, dir, database);
    progress(`${database}: warm-up`);
    await measure(contenders, "3s");
    for (const each of contenders) {
      each.health.length = each.me.length = 0;
      each.meCpu = { main: [], otherThreads: [], postgres: [] };
    }
    for (let round = 1; round <= rounds; round += 1) {
      progress(`${database}: round ${round} of ${rounds}`);
      await measure(contenders, duration);
    }
    return contenders as [Contender, Contender];
  } finally {
    for (const each of contenders) {
      if (each.server) await stopServer(each.server);
      if (each.databaseName) await dropDatabase(each.databaseName);
    }
  }
}

async function main(): Promise<void> {
  const rev = process.argv[2] ?? PREVIOUS_RELEASE;
  const rounds = Number(process.env.COMPARE_ROUNDS ?? "8");
  const duration = process.env.COMPARE_DURATION ?? "5s";
  const databases = (process.env.COMPARE_DATABASES ?? "sqlite,postgres").split(",").map((name) => name.trim());
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error("COMPARE_ROUNDS must be a positive integer");
  for (const name of databases) if (name !== "sqlite" && name !== "postgres") throw new Error(`COMPARE_DATABASES: unknown "${name}"`);
  const dir = mkdtempSync(join(tmpdir(), "cmf-compare-"));
  const worktree = join(dir, "base");
  const pinning = new PostgresPinning();
  try {
    progress(`building ${rev} in ${worktree}`);
    await $`git -C ${ROOT} worktree add --detach ${worktree} ${rev}`.quiet();
    await $`${process.execPath} install --frozen-lockfile`.cwd(worktree).quiet();
    await $`${process.execPath} run build`.cwd(worktree).quiet();
    if (process.env.BENCH_SKIP_BUILD !== "1") await $`${process.execPath} run build`.cwd(ROOT).quiet();
    const binaries = { base: join(dir, "base-backend"), head: join(dir, "head-backend") };
    copyFileSync(join(worktree, "dist", "classmatefinder-backend"), binaries.base);
    copyFileSync(join(ROOT, "dist", "classmatefinder-backend"), binaries.head);
    await pinSelf(LOAD_CPU);
    if (PINNED && databases.includes("postgres")) await pinning.pin();
    const headRev = (await $`git -C ${ROOT} rev-parse --short HEAD`.text()).trim();
    const sections = [header(rev, headRev, rounds, duration)];
    for (const database of databases as DatabaseKind[]) {
      const [base, head] = await compareOn(database, binaries, dir, rounds, duration);
      sections.push(table(base, head, rev, database));
    }
    const section = sections.join("\n");
    process.stdout.write(section);
    writeMarkedSection("compare", section);
    progress("written to BENCHMARKS.md");
  } finally {
    await pinning.restore();
    await $`git -C ${ROOT} worktree remove --force ${worktree}`.quiet().nothrow();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
