/**
 * What a lecture hall costs, request by request: 150 registrations from 150 addresses at once, then
 * (every one verified in the database) 150 logins at once, several rounds, against the service run from
 * this checkout's source (`bun src/main.ts`, production mode, log transport) pinned to CPU 0. For each
 * burst: the answers, when the last came, and the CPU each request cost the service's main thread, its
 * hashing threads (Bun's pool) and PostgreSQL's processes (not pinned here: they may use CPU 1). The
 * first round warms the JIT; compare the later ones.
 *
 * Usage: bun run bench:burst [sqlite|postgres] [rounds=4]. Needs PostgreSQL as for `bun run bench`.
 */
import { Database } from "bun:sqlite";
import { readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ADMIN_URL, createDatabase, databaseUrl, dropDatabase, psql } from "./lib/postgres";
import { freePort, LOAD_CPU, pinSelf, run, spawnServer, stopServer, waitForOk, waitUntilIdle } from "./lib/proc";
import { benchServiceEnv } from "./lib/service-env";

const STUDENTS = 150;
const PASSWORD = "Bench-Pass-2026!";
const [kind = "postgres", roundsArgument = "4"] = process.argv.slice(2);
if (kind !== "sqlite" && kind !== "postgres") throw new Error(`usage: bun run bench:burst [sqlite|postgres] [rounds]; got ${kind}`);
const rounds = Number(roundsArgument);

/** CPU ticks (1/100 s) used so far: the service's threads by kind, and every postgres process together. */
function cpuTicks(pid: number): Record<string, number> {
  const ticks = (stat: string) => {
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]);
  };
  const used: Record<string, number> = { main: 0, hashing: 0, other: 0, postgres: 0 };
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim();
    const thread = tid === String(pid) ? "main" : name.startsWith("Bun Pool") ? "hashing" : "other";
    used[thread] = (used[thread] ?? 0) + ticks(readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8"));
  }
  for (const process of readdirSync("/proc").filter((entry) => /^\d+$/.test(entry))) {
    try {
      const stat = readFileSync(`/proc/${process}/stat`, "utf8");
      if (stat.includes("(postgres)")) used.postgres = (used.postgres ?? 0) + ticks(stat);
    } catch {} // ended meanwhile
  }
  return used;
}

async function burst(baseUrl: string, pid: number, path: string, body: (index: number) => Record<string, string>) {
  const before = cpuTicks(pid);
  const started = performance.now();
  const answers = await Promise.all(
    Array.from({ length: STUDENTS }, async (_, index) => {
      const response = await fetch(`${baseUrl}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-forwarded-for": `10.12.0.${index + 1}` },
        body: JSON.stringify(body(index)),
      });
      await response.arrayBuffer();
      return { status: response.status, ms: performance.now() - started };
    }),
  );
  await waitUntilIdle(pid); // the emails of the registrations are part of their cost
  const after = cpuTicks(pid);
  const statuses: Record<number, number> = {};
  for (const { status } of answers) statuses[status] = (statuses[status] ?? 0) + 1;
  const msPerRequest = Object.fromEntries(
    Object.entries(after).map(([key, value]) => [key, (((value - (before[key] ?? 0)) * 10) / STUDENTS).toFixed(2)]),
  );
  return { path, statuses, lastAnswerMs: Math.round(Math.max(...answers.map((answer) => answer.ms))), cpuMsPerRequest: msPerRequest };
}

await pinSelf(LOAD_CPU);
const name = `burst_${Date.now()}`;
const directory = tmpdir();
const url = kind === "postgres" ? databaseUrl(name) : `file:${join(directory, `${name}.db`)}`;
if (kind === "postgres") await createDatabase(name);
const port = freePort();
const env = { ...benchServiceEnv(url, port), TRUST_PROXY: "true" };
await run(["bun", "src/main.ts", "migrate"], env);
const server = spawnServer({
  name: "service",
  command: ["bun", "src/main.ts", "serve"],
  env,
  port,
  stdoutPath: join(directory, `${name}.log`),
  stderrPath: join(directory, `${name}.err`),
});
try {
  await waitForOk(`${server.baseUrl}/health`, server, performance.now());
  await Bun.sleep(2000); // the hash calibration 1 s after start
  for (let round = 1; round <= rounds; round++) {
    const prefix = `r${round}_${Date.now() % 1_000_000}`;
    const email = (index: number) => `${prefix}_${index}@mit.edu`;
    const registered = await burst(server.baseUrl, server.pid, "/api/auth/register", (index) => ({
      email: email(index),
      username: `${prefix}_${index}`,
      password: PASSWORD,
      firstName: "Student",
    }));
    if (kind === "postgres") await psql(url, "UPDATE users SET email_verified_at = now() WHERE email_verified_at IS NULL");
    else {
      const sqlite = new Database(url.slice("file:".length));
      sqlite.run("UPDATE users SET email_verified_at = unixepoch() * 1000 WHERE email_verified_at IS NULL");
      sqlite.close();
    }
    await Bun.sleep(1500); // a second idle: the next burst is sized by the idle hash time
    const loggedIn = await burst(server.baseUrl, server.pid, "/api/auth/login", (index) => ({ email: email(index), password: PASSWORD }));
    console.log(JSON.stringify({ round, database: kind, registrations: registered, logins: loggedIn }));
    await Bun.sleep(1500);
  }
} finally {
  await stopServer(server);
  if (kind === "postgres") await dropDatabase(name);
  console.error(`service log: ${server.stdoutPath} (PostgreSQL: ${ADMIN_URL})`);
}
