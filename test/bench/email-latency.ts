/**
 * `bun run bench:email`: how long a lecture hall waits for its verification emails (issue 30). Not part
 * of `bun test`, nor of `bun run bench` (it needs no pinning, and that bench's CPU is spoken for).
 *
 * Per database (PostgreSQL: a fresh database cmf_bench_email_<pid>; SQLite: one file both instances
 * share), per scenario, BENCH_RUNS times:
 *  - two instances of the compiled binary (dist/classmatefinder-backend, or BENCH_BINARY), production
 *    mode, MAIL_TRANSPORT=smtp to a real SMTP server in this process (smtp-server) that takes
 *    BENCH_SMTP_MS (200) per message, as a provider does;
 *  - 150 students register over BENCH_ARRIVAL (10s), open-loop, each from an address of their own
 *    (X-Forwarded-For, TRUST_PROXY=true), alternately on each instance (a round-robin load balancer); a
 *    503 or a refused connection is retried on the other instance after its Retry-After (1 s);
 *  - scenario "one instance killed": SIGKILL of the second instance once 50 registrations have been
 *    answered (its claimed emails stranded), every later registration on the first;
 *  - per email: from its registration's 201 to the SMTP server's acceptance; p50, p95, max; how many
 *    arrived twice or never (waited for up to 60 s after the last registration); beside it, how long the
 *    registrations themselves took (first request to 201: the hashing queue, not the email pipeline).
 * Writes markdown between <!-- bench-email:start --> and <!-- bench-email:end --> in BENCHMARKS.md.
 * Settings: BENCH_RUNS (3), BENCH_DATABASES ("postgres,sqlite"), BENCH_SMTP_MS, BENCH_ARRIVAL, BENCH_BINARY,
 * BENCH_WRITE=0 (print only).
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { SmtpSink } from "../support/smtp-sink";
import { createDatabase, databaseUrl, dropDatabase } from "./lib/postgres";
import { freePort, progress, run, type Server, spawnServer, stopServer, waitForOk } from "./lib/proc";
import { writeMarkedSection } from "./lib/sections";
import { benchServiceEnv } from "./lib/service-env";
import { median } from "./lib/stats";

const ROOT = resolve(import.meta.dir, "../..");
const BINARY = process.env.BENCH_BINARY ?? join(ROOT, "dist/classmatefinder-backend");
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const DATABASES = (process.env.BENCH_DATABASES ?? "postgres,sqlite").split(",") as Array<"postgres" | "sqlite">;
const SMTP_MS = Number(process.env.BENCH_SMTP_MS ?? 200);
const ARRIVAL_MS = Number.parseFloat(process.env.BENCH_ARRIVAL ?? "10") * 1000;
const STUDENTS = 150;
const KILL_AFTER = 50;
const WAIT_AFTER_MS = 60_000;
const TARGET_P95_MS = 15_000;

type Scenario = "both instances" | "one instance killed";
interface RunResult {
  /** Per email: from the registration's 201 to the SMTP server's acceptance, sorted. */
  latencies: number[];
  /** Per registration: from its first request to its 201 (hashing queue, retries), sorted. */
  registrations: number[];
  missing: number;
  duplicates: number;
  retried: number;
}

function percentile(sorted: number[], fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)] as number;
}

/** The answer's status and, for a 503, how long it asks to wait (Retry-After, in ms). */
async function register(base: string, index: number): Promise<{ status: number; retryAfterMs: number }> {
  const response = await fetch(`${base}/api/auth/register`, {
    method: "POST",
    // Each student from an address of their own (TRUST_PROXY=true), as the overload bench does.
    headers: { "content-type": "application/json", "x-forwarded-for": `10.30.${index >> 8}.${index & 255}` },
    body: JSON.stringify({ email: `hall.${index}@bench.edu`, username: `hall_${index}`, password: "Bench-Pass-2026!", firstName: "Hall" }),
    signal: AbortSignal.timeout(30_000),
  });
  await response.arrayBuffer();
  return { status: response.status, retryAfterMs: Math.min(5, Number(response.headers.get("retry-after") ?? 1) || 1) * 1000 };
}

async function oneRun(database: "postgres" | "sqlite", scenario: Scenario, dir: string): Promise<RunResult> {
  const pgName = `cmf_bench_email_${process.pid}`;
  let url: string;
  if (database === "postgres") {
    await dropDatabase(pgName);
    await createDatabase(pgName);
    url = databaseUrl(pgName);
  } else {
    const file = join(dir, `run-${Date.now()}.db`);
    url = `file:${file}`;
  }
  const sink = await SmtpSink.start({ delayMs: SMTP_MS });
  const servers: Server[] = [];
  try {
    const env = (port: number) => ({ ...benchServiceEnv(url, port), MAIL_TRANSPORT: "smtp", SMTP_URL: sink.url, TRUST_PROXY: "true" });
    await run([BINARY, "migrate"], env(freePort()));
    for (const name of ["a", "b"]) {
      const port = freePort();
      const server = spawnServer({
        name,
        command: [BINARY, "serve"],
        env: env(port),
        port,
        stdoutPath: join(dir, `${database}-${name}.log`),
        stderrPath: join(dir, `${database}-${name}.err`),
      });
      servers.push(server);
      await waitForOk(`${server.baseUrl}/health`, server, performance.now(), 30_000, 50);
    }
    const [a, b] = servers as [Server, Server];
    const started = new Map<number, number>();
    const registered = new Map<number, number>();
    let answered = 0;
    let retried = 0;
    let killed = false;
    const target = (index: number, attempt: number) => (killed || (index + attempt) % 2 === 0 ? a : b);
    const origin = Date.now();
    const students = Array.from({ length: STUDENTS }, async (_, index) => {
      await Bun.sleep((index * ARRIVAL_MS) / STUDENTS);
      started.set(index, Date.now());
      for (let attempt = 0; ; attempt++) {
        const { status, retryAfterMs } = await register(target(index, attempt).baseUrl, index).catch(() => ({
          status: 0,
          retryAfterMs: 1000,
        }));
        if (status === 201) {
          registered.set(index, Date.now());
          break;
        }
        if (attempt >= 60) throw new Error(`registration ${index}: ${status} after ${attempt + 1} attempts`);
        retried++;
        await Bun.sleep(retryAfterMs);
      }
      answered++;
      if (scenario === "one instance killed" && !killed && answered >= KILL_AFTER) {
        killed = true;
        b.child.kill("SIGKILL");
        progress(
          `${database}: second instance killed at ${((Date.now() - origin) / 1000).toFixed(1)} s (${sink.received.length} emails in)`,
        );
      }
    });
    await Promise.all(students);
    const deadline = Date.now() + WAIT_AFTER_MS;
    while (sink.counts().size < STUDENTS && Date.now() < deadline) await Bun.sleep(100);
    await Bun.sleep(Math.min(2000, Math.max(0, deadline - Date.now()))); // late duplicates
    const firstArrival = new Map<string, number>();
    for (const { to, at } of sink.received) if (!firstArrival.has(to)) firstArrival.set(to, at);
    const latencies: number[] = [];
    for (const [index, at] of registered) {
      const arrived = firstArrival.get(`hall.${index}@bench.edu`);
      if (arrived !== undefined) latencies.push(arrived - at);
    }
    const registrationTimes = [...registered].map(([index, at]) => at - (started.get(index) ?? at));
    return {
      latencies: latencies.sort((x, y) => x - y),
      registrations: registrationTimes.sort((x, y) => x - y),
      missing: STUDENTS - firstArrival.size,
      duplicates: sink.received.length - firstArrival.size,
      retried,
    };
  } finally {
    for (const server of servers) await stopServer(server, 15_000);
    await sink.stop();
    if (database === "postgres") await dropDatabase(pgName);
  }
}

const seconds = (ms: number) => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(1)} s` : "–");

async function main() {
  if (!existsSync(BINARY)) throw new Error(`${BINARY} is missing: run \`bun run build\` first`);
  const dir = mkdtempSync(join(tmpdir(), "cmf-bench-email-"));
  const rows: string[] = [];
  const verdicts: string[] = [];
  try {
    for (const database of DATABASES) {
      for (const scenario of ["both instances", "one instance killed"] as Scenario[]) {
        const runs: RunResult[] = [];
        for (let i = 0; i < RUNS; i++) {
          progress(`${database}, ${scenario}: run ${i + 1} of ${RUNS}`);
          runs.push(await oneRun(database, scenario, dir));
        }
        const p50 = runs.map((r) => percentile(r.latencies, 0.5));
        const p95 = runs.map((r) => (r.missing > 0 ? Number.POSITIVE_INFINITY : percentile(r.latencies, 0.95)));
        const max = runs.map((r) => (r.missing > 0 ? Number.POSITIVE_INFINITY : (r.latencies.at(-1) ?? Number.NaN)));
        const range = (values: number[]) => `${seconds(median(values))} (${seconds(Math.min(...values))}–${seconds(Math.max(...values))})`;
        const registering = runs.map((r) => percentile(r.registrations, 0.95));
        const perRun = (pick: (r: RunResult) => number) => runs.map(pick).join(", ");
        rows.push(
          `| ${database} | ${scenario} | ${range(p50)} | ${range(p95)} | ${range(max)} | ${perRun((r) => r.duplicates)} | ${perRun((r) => r.missing)} | ${range(registering)} | ${perRun((r) => r.retried)} |`,
        );
        const worst = Math.max(...p95);
        verdicts.push(
          `| ${database}, ${scenario}: p95 registered (201) → email accepted (worst run) | ${seconds(worst)} | ≤ ${seconds(TARGET_P95_MS)} | ${worst <= TARGET_P95_MS ? "✅" : "❌"} |`,
        );
      }
    }
  } finally {
    if (process.env.BENCH_KEEP_TEMP !== "1") rmSync(dir, { recursive: true, force: true });
    else progress(`logs kept in ${dir}`);
  }
  const block = [
    "## Verification emails of a lecture hall (issue 30: `bun run bench:email`)",
    "",
    `- Command: \`bun run bench:email\` (\`test/bench/email-latency.ts\`); date ${new Date().toISOString().slice(0, 19)}Z; ${cpus().length} cores; ${RUNS} runs, cells median (min–max)`,
    `- Two instances of \`${BINARY.replace(`${ROOT}/`, "")}\` on one database, production mode, MAIL_TRANSPORT=smtp to a real SMTP server (smtp-server, in the bench process) taking ${SMTP_MS} ms per message; ${STUDENTS} registrations over ${ARRIVAL_MS / 1000} s, alternately on each instance (a 503 retried on the other after its Retry-After, a refused connection after 1 s)`,
    `- "one instance killed": SIGKILL of the second instance once ${KILL_AFTER} registrations were answered; later ones all go to the first`,
    "- Email latency: from the registration's 201 (the account and its email are committed) to the SMTP server's acceptance of the email; registration: from a student's first request to their 201 (the password hashing queue and its 503 retries: the machine's hash rate, not the email pipeline)",
    "",
    "| target | measured | threshold | met |",
    "| --- | ---: | ---: | --- |",
    ...verdicts,
    "",
    "| database | scenario | email p50 | email p95 | email max | emails twice (per run) | never arrived (per run) | registration p95 | 503s retried (per run) |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...rows,
  ].join("\n");
  process.stdout.write(`${block}\n`);
  if (process.env.BENCH_WRITE !== "0") writeMarkedSection("bench-email", block);
}

await main();
