/**
 * `bun run bench:isolated`: what one request costs the server's main thread when requests come one at a
 * time, against what it costs under saturation, for the bare floor (test/bench/floor.ts: Bun.serve, and
 * SELECT 1 through `postgres`) and for the service (`/api/auth/me`, and a login).
 *
 * Why: when logins are bound by the hash rate, the service sees one login every 12–25 ms, each of its
 * steps (the request, a statement's answer, the hash's completion) a wake of an idle event loop. On
 * this virtual machine such isolated work costs many times what the same work costs back-to-back,
 * in the bare runtime as much as in the service: this measures both, side by side.
 *
 * Pinned like `bun run bench`: the servers on CPU 0, this driver and wrk on CPU 1. The service runs from
 * source (`bun src/main.ts serve`, production mode, a fresh PostgreSQL database, dropped afterwards).
 * CPU: the main thread's on-CPU time (/proc/PID/task/PID/schedstat) over the run ÷ the requests.
 * Settings: ISOLATED_SECONDS (5, per cell), BENCH_POSTGRES_URL (postgres://root@127.0.0.1:5432/test),
 * BENCH_WRITE=0 (print only; otherwise written between <!-- isolated:start --> and <!-- isolated:end -->
 * in BENCHMARKS.md).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ADMIN_URL, createDatabase, databaseUrl, dropDatabase, psql } from "./lib/postgres";
import {
  freePort,
  LOAD_CPU,
  mainThreadCpuMs,
  onCpu,
  pinSelf,
  run,
  SERVER_CPU,
  type Server,
  spawnServer,
  stopServer,
  waitForOk,
} from "./lib/proc";
import { writeMarkedSection } from "./lib/sections";
import { benchServiceEnv } from "./lib/service-env";
import { runWrk } from "./lib/wrk";

const ROOT = resolve(import.meta.dir, "../..");
const SECONDS = Number(process.env.ISOLATED_SECONDS ?? "5");
const PACED_RATES = [40, 200] as const;
const PASSWORD = "Bench-Pass-2026!";

interface Target {
  label: string;
  server: Server;
  request: () => Request;
  /** Saturation measured with wrk (report.lua, or me.lua with its token file); none for logins (hash-bound). */
  saturated?: { script: string; args: string[] };
  /** Logins: only the lower rate (one core hashes 40–80 a second). */
  hashBound?: boolean;
}

/** One request at a time, `rate` per second, for SECONDS: main-thread µs per request. */
async function paced(target: Target, rate: number): Promise<number> {
  const before = mainThreadCpuMs(target.server.pid);
  const end = performance.now() + SECONDS * 1000;
  let requests = 0;
  while (performance.now() < end) {
    const started = performance.now();
    const response = await fetch(target.request());
    await response.arrayBuffer();
    if (response.status >= 300) throw new Error(`${target.label}: ${response.status}`);
    requests += 1;
    await Bun.sleep(Math.max(0, 1000 / rate - (performance.now() - started)));
  }
  return ((mainThreadCpuMs(target.server.pid) - before) * 1000) / requests;
}

async function saturated(target: Target): Promise<number | null> {
  if (!target.saturated) return null;
  const before = mainThreadCpuMs(target.server.pid);
  const url = target.request().url;
  const result = await runWrk({ url, script: target.saturated.script, args: target.saturated.args, duration: `${SECONDS}s` });
  return ((mainThreadCpuMs(target.server.pid) - before) * 1000) / result.requests;
}

function start(name: string, command: string[], env: Record<string, string>, port: number, dir: string): Server {
  return spawnServer({ name, command, env, port, stdoutPath: join(dir, `${name}.log`), stderrPath: join(dir, `${name}.stderr`) });
}

async function main(): Promise<void> {
  await pinSelf(LOAD_CPU);
  const dir = mkdtempSync(join(tmpdir(), "cmf-isolated-"));
  const database = `cmf_isolated_${process.pid}`;
  const servers: Server[] = [];
  try {
    const floorPort = freePort();
    const floor = start(
      "floor",
      [process.execPath, join(import.meta.dir, "floor.ts")],
      { PATH: process.env.PATH ?? "/usr/bin:/bin", PORT: String(floorPort), FLOOR_POSTGRES_URL: ADMIN_URL },
      floorPort,
      dir,
    );
    servers.push(floor);
    await waitForOk(`${floor.baseUrl}/`, floor, performance.now());

    await createDatabase(database);
    const port = freePort();
    const env = benchServiceEnv(databaseUrl(database), port);
    const main = [process.execPath, join(ROOT, "src/main.ts")];
    await run([...main, "migrate"], env);
    const service = start("service", [...main, "serve"], env, port, dir);
    servers.push(service);
    await waitForOk(`${service.baseUrl}/health`, service, performance.now(), 30_000, 10);
    const token = await seed(service.baseUrl, databaseUrl(database));
    const tokenFile = join(dir, "tokens");
    await Bun.write(tokenFile, `${token}\n`);

    const login = JSON.stringify({ email: "bench1@mit.edu", password: PASSWORD });
    const targets: Target[] = [
      {
        label: "floor `GET /` (JSON)",
        server: floor,
        request: () => new Request(`${floor.baseUrl}/`),
        saturated: { script: "report.lua", args: [] },
      },
      {
        label: "floor `GET /pg` (SELECT 1)",
        server: floor,
        request: () => new Request(`${floor.baseUrl}/pg`),
        saturated: { script: "report.lua", args: [] },
      },
      {
        label: "service `GET /api/auth/me`",
        server: service,
        request: () => new Request(`${service.baseUrl}/api/auth/me`, { headers: { authorization: `Bearer ${token}` } }),
        saturated: { script: "me.lua", args: [tokenFile] },
      },
      {
        label: "service `POST /api/auth/login`",
        server: service,
        request: () =>
          new Request(`${service.baseUrl}/api/auth/login`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: login,
          }),
        hashBound: true,
      },
    ];
    const wake = JSON.parse(await run(onCpu(SERVER_CPU, [process.execPath, join(import.meta.dir, "wake-cost.ts")]))) as {
      idleWakeMicros: number;
    };
    const revision = (await run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"])).trim();
    const rows: string[] = [];
    for (const target of targets) {
      await paced(target, PACED_RATES[0]); // warm-up: past the JIT's first tiers
      const cells: string[] = [];
      for (const rate of PACED_RATES) cells.push(target.hashBound && rate > 40 ? "–" : micros(await paced(target, rate)));
      const busy = await saturated(target);
      cells.push(busy === null ? "– (bound by the hash)" : micros(busy));
      rows.push(`| ${target.label} | ${cells.join(" | ")} |`);
    }
    const section = [
      "## A request alone against requests back-to-back (`bun run bench:isolated`)",
      "",
      `- Command: \`bun run bench:isolated\` (\`test/bench/isolated-requests.ts\`); date ${new Date().toISOString().slice(0, 19)}Z; this checkout: ${revision}`,
      `- The floor (\`test/bench/floor.ts\`) and the service (\`bun src/main.ts serve\`, production mode, PostgreSQL) on CPU ${SERVER_CPU}; this driver and wrk on CPU ${LOAD_CPU}; PostgreSQL not pinned`,
      `- Cells: the server's main-thread CPU per request, µs: one request at a time at 40/s and at 200/s (${SECONDS} s each, after ${SECONDS} s of warm-up), and saturated (wrk -t1 -c50, ${SECONDS} s)`,
      `- One wake of an idle event loop (Bun.sleep; \`test/bench/wake-cost.ts\`, pinned to CPU ${SERVER_CPU}): ${wake.idleWakeMicros} µs of CPU`,
      "",
      "| request | at 40/s | at 200/s | saturated |",
      "| --- | ---: | ---: | ---: |",
      ...rows,
    ].join("\n");
    console.log(section);
    if (process.env.BENCH_WRITE !== "0") writeMarkedSection("isolated", section);
  } finally {
    for (const server of servers) await stopServer(server);
    await dropDatabase(database).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One verified account (bench1@mit.edu), and a JWT of it. */
async function seed(baseUrl: string, url: string): Promise<string> {
  const post = (path: string, body: object) =>
    fetch(`${baseUrl}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const registered = await post("/api/auth/register", { email: "bench1@mit.edu", username: "bench1", password: PASSWORD, firstName: "B" });
  if (registered.status !== 201) throw new Error(`register: ${registered.status}`);
  await psql(url, "UPDATE users SET email_verified_at = now()");
  const loggedIn = await post("/api/auth/login", { email: "bench1@mit.edu", password: PASSWORD });
  const body = (await loggedIn.json()) as { token?: string };
  if (!body.token) throw new Error(`login: ${loggedIn.status}`);
  return body.token;
}

const micros = (value: number) => Math.round(value).toLocaleString("en-US");

await main();
