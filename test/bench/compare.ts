/**
 * `bun run bench:compare [REV]`: this checkout's binary against the binary of an earlier revision (by
 * default the previous release, 3ef8a71), on GET /health and GET /api/auth/me (SQLite): both services
 * run side by side, pinned to the same CPU, and are loaded at the same moment, each by its own wrk, so
 * they split that CPU and a drift of the machine's speed hits both alike (see measure()). This is how the
 * cost of a change on the request path is told apart from the machine's minute-to-minute noise: taking
 * turns instead, the ratio of two identical binaries wandered by ±10 % here.
 *
 * Builds REV in a temporary git worktree (bun install --frozen-lockfile, bun run build) and this checkout
 * with `bun run build` (BENCH_SKIP_BUILD=1: use dist/ as it is). Settings: COMPARE_ROUNDS (8),
 * COMPARE_DURATION (5s per run). Prints a markdown table and writes it into BENCHMARKS.md between
 * <!-- compare:start --> and <!-- compare:end -->.
 */
import { Database } from "bun:sqlite";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { $ } from "bun";
import { freePort, LOAD_CPU, pinSelf, progress, run, SERVER_CPU, type Server, spawnServer, stopServer, waitForOk } from "./lib/proc";
import { benchServiceEnv } from "./lib/service-env";
import { aggregate } from "./lib/stats";
import { runWrk } from "./lib/wrk";

const ROOT = resolve(import.meta.dir, "..", "..");
const BENCHMARKS_FILE = join(ROOT, "BENCHMARKS.md");
const PREVIOUS_RELEASE = "3ef8a71";
const ACCOUNTS = 20;
const PASSWORD = "Bench-Pass-2026!";

interface Contender {
  name: string;
  binary: string;
  server?: Server;
  tokenFile?: string;
  health: number[];
  me: number[];
}

async function post(url: string, body: unknown): Promise<Response> {
  return fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
}

/** Starts the binary on its own SQLite file, registers and verifies the accounts, writes their tokens. */
async function start(contender: Contender, dir: string): Promise<void> {
  const databasePath = join(dir, `${contender.name}.db`);
  const port = freePort();
  const env = { ...benchServiceEnv(`file:${databasePath}`, port), MAIL_TRANSPORT: "log" };
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
  const db = new Database(databasePath);
  db.run("PRAGMA busy_timeout = 5000");
  db.run("UPDATE users SET email_verified_at = ? WHERE email_verified_at IS NULL", [Date.now()]);
  db.close();
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

async function rate(contender: Contender, path: string, script: string, args: string[], duration: string): Promise<number> {
  const server = contender.server as Server;
  const result = await runWrk({ url: `${server.baseUrl}${path}`, script, args, duration });
  if (result.non2xx > 0 || result.socketErrors > 0) throw new Error(`${contender.name} ${path}: ${JSON.stringify(result.statuses)}`);
  return result.requestsPerSecond;
}

/**
 * Both services are loaded at the same time, each by its own wrk: they share the CPU, which the
 * scheduler splits evenly between their busy threads, so the ratio of their rates is the inverse
 * ratio of their CPU per request — and a slow minute of the machine slows both alike.
 */
async function measure(contenders: Contender[], duration: string): Promise<void> {
  const health = await Promise.all(contenders.map((contender) => rate(contender, "/health", "report.lua", [], duration)));
  const me = await Promise.all(
    contenders.map((contender) => rate(contender, "/api/auth/me", "me.lua", [contender.tokenFile as string], duration)),
  );
  contenders.forEach((contender, index) => {
    contender.health.push(health[index] as number);
    contender.me.push(me[index] as number);
  });
}

const fmt = (value: number) => Math.round(value).toLocaleString("en-US");

function table(base: Contender, head: Contender, rev: string, headRev: string, rounds: number, duration: string): string {
  const row = (label: string, pick: (contender: Contender) => number[]) => {
    const [old, now] = [aggregate(pick(base)), aggregate(pick(head))];
    // Paired: each round's ratio, so a slow minute counts against both.
    const ratios = pick(head).map((value, index) => value / (pick(base)[index] as number));
    const ratio = aggregate(ratios);
    return `| ${label} | ${fmt(old.median)} (${fmt(old.min)}–${fmt(old.max)}) | ${fmt(now.median)} (${fmt(now.min)}–${fmt(now.max)}) | ${ratio.median.toFixed(2)} × (${ratio.min.toFixed(2)}–${ratio.max.toFixed(2)}) |`;
  };
  return [
    "## Request paths against the previous release",
    "",
    `- Command: \`bun run bench:compare ${rev}\` (${rounds} rounds × ${duration} per path)`,
    `- Date: ${new Date().toISOString().replace(/\.\d+Z$/, "Z")} (UTC); this checkout: ${headRev}`,
    `- Both binaries side by side on CPU ${SERVER_CPU}, loaded at the same time (sharing it), each by its own wrk on CPU ${LOAD_CPU} (1 thread, 50 connections); SQLite, NODE_ENV=production, LOG_LEVEL=info to a file`,
    "",
    `| path | ${rev} req/s | this checkout req/s | this ÷ ${rev}, per round |`,
    "| --- | ---: | ---: | ---: |",
    row("GET /health", (contender) => contender.health),
    row(`GET /api/auth/me (${ACCOUNTS} rotating JWTs)`, (contender) => contender.me),
    "",
    "Cells: median (min–max) over the rounds; each service had half the CPU. The ratio's spread is the run-to-run noise.",
    "",
  ].join("\n");
}

function replaceSection(document: string, section: string): string {
  const [startMark, endMark] = ["<!-- compare:start -->", "<!-- compare:end -->"];
  const start = document.indexOf(startMark);
  const end = document.indexOf(endMark);
  if (start === -1 || end === -1) return `${document.trimEnd()}\n\n${startMark}\n${section}${endMark}\n`;
  return `${document.slice(0, start + startMark.length)}\n${section}${document.slice(end)}`;
}

async function main(): Promise<void> {
  const rev = process.argv[2] ?? PREVIOUS_RELEASE;
  const rounds = Number(process.env.COMPARE_ROUNDS ?? "8");
  const duration = process.env.COMPARE_DURATION ?? "5s";
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error("COMPARE_ROUNDS must be a positive integer");
  const dir = mkdtempSync(join(tmpdir(), "cmf-compare-"));
  const worktree = join(dir, "base");
  const contenders: Contender[] = [];
  try {
    progress(`building ${rev} in ${worktree}`);
    await $`git -C ${ROOT} worktree add --detach ${worktree} ${rev}`.quiet();
    await $`${process.execPath} install --frozen-lockfile`.cwd(worktree).quiet();
    await $`${process.execPath} run build`.cwd(worktree).quiet();
    if (process.env.BENCH_SKIP_BUILD !== "1") await $`${process.execPath} run build`.cwd(ROOT).quiet();
    const base: Contender = { name: "base", binary: join(dir, "base-backend"), health: [], me: [] };
    const head: Contender = { name: "head", binary: join(dir, "head-backend"), health: [], me: [] };
    copyFileSync(join(worktree, "dist", "classmatefinder-backend"), base.binary);
    copyFileSync(join(ROOT, "dist", "classmatefinder-backend"), head.binary);
    contenders.push(base, head);
    await pinSelf(LOAD_CPU);
    for (const contender of contenders) await start(contender, dir);
    progress("warm-up");
    await measure(contenders, "3s");
    for (const contender of contenders) contender.health.length = contender.me.length = 0;
    for (let round = 1; round <= rounds; round += 1) {
      progress(`round ${round} of ${rounds}`);
      await measure(contenders, duration);
    }
    const headRev = (await $`git -C ${ROOT} rev-parse --short HEAD`.text()).trim();
    const section = table(base, head, rev, headRev, rounds, duration);
    process.stdout.write(section);
    writeFileSync(BENCHMARKS_FILE, replaceSection(readFileSync(BENCHMARKS_FILE, "utf8"), section));
    progress(`written to ${BENCHMARKS_FILE}`);
  } finally {
    for (const contender of contenders) if (contender.server) await stopServer(contender.server);
    await $`git -C ${ROOT} worktree remove --force ${worktree}`.quiet().nothrow();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
