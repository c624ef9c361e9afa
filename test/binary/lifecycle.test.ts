import { Database } from "bun:sqlite";
import { beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { compiledBinary, freePort, serviceTracker, waitFor } from "../support/binary";
import { freshDatabaseConfig, TEST_DIALECT } from "../support/database";
import { SmtpSink } from "../support/smtp-sink";

// Explicit timeouts: bun applies the preload's setDefaultTimeout only to the first test file it runs.
const BUILD_TIMEOUT_MS = 180_000;
const TEST_TIMEOUT_MS = 30_000;

// The lifecycle of the compiled binary as systemd and a load balancer see it: exit codes, the port,
// the drain phase on SIGTERM, commands that must not touch anything, backups.
const SECRET = "lifecycle-test-secret-0123456789abcdef0123456789abcdef";
const ORIGIN = "https://classmatefinder.com";
let binary = "";
let dir = "";
const track = serviceTracker();

beforeAll(async () => {
  binary = await compiledBinary();
  dir = mkdtempSync(join(tmpdir(), "cmf-lifecycle-"));
  chmodSync(dir, 0o755);
  return () => rmSync(dir, { recursive: true, force: true });
}, BUILD_TIMEOUT_MS);

async function databaseUrl(): Promise<string> {
  if (TEST_DIALECT === "sqlite") return `file:${join(dir, `db-${crypto.randomUUID()}`, "app.db")}`;
  return (await freshDatabaseConfig()).url;
}

const production = async (extra: Record<string, string> = {}) => ({
  NODE_ENV: "production",
  JWT_SECRET: SECRET,
  DATABASE_URL: await databaseUrl(),
  PORT: String(await freePort()),
  HOST: "127.0.0.1",
  CORS_ORIGIN: ORIGIN,
  SHUTDOWN_DRAIN: "0",
  ...extra,
});

function run(args: string[], env: Record<string, string>, prefix: string[] = []) {
  // A bound, so that a serve that does not exit (the port shared, before the fix) fails instead of hanging.
  const result = Bun.spawnSync([...prefix, binary, ...args], { cwd: dir, env: { PATH: "/usr/bin:/bin", ...env }, timeout: 20_000 });
  return { code: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

async function start(env: Record<string, string>) {
  const service = track(Bun.spawn([binary, "serve"], { cwd: dir, env: { PATH: "/usr/bin:/bin", ...env }, stdout: "pipe", stderr: "pipe" }));
  const base = `http://127.0.0.1:${env.PORT}`;
  await waitFor(async () => (await fetch(`${base}/health/live`).catch(() => null))?.ok === true);
  return {
    service,
    base,
    logLines: async () =>
      (await new Response(service.stdout as ReadableStream).text())
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l)),
  };
}

/** Runs one statement on the test database from outside the service (to break it on purpose). */
async function execute(url: string, statement: string) {
  if (url.startsWith("file:")) {
    const db = new Database(url.slice(5));
    // The service may be finishing a write of its own (an abandoned request's counter): wait for it.
    db.run("PRAGMA busy_timeout = 5000");
    db.run(statement);
    db.close();
    return;
  }
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  await sql.unsafe(statement);
  await sql.end();
}

describe(`binary lifecycle (${TEST_DIALECT})`, () => {
  test(
    "a port already in use fails at once: exit 1, a line naming the address, also as JSON",
    async () => {
      // The holder asks for SO_REUSEPORT as Elysia did by default: a second such process silently shared it.
      const holder = Bun.serve({ port: 0, hostname: "127.0.0.1", reusePort: true, fetch: () => new Response("holder") });
      try {
        const env = await production({ PORT: String(holder.port) });
        expect(run(["migrate"], env).code).toBe(0);
        const result = run(["serve"], env);
        expect(result.code).toBe(1);
        expect(result.stderr).toContain(`cannot listen on 127.0.0.1:${holder.port}`);
        const fatalLine = result.stdout
          .trim()
          .split("\n")
          .map((line) => JSON.parse(line))
          .find((line) => line.level === "fatal");
        expect(fatalLine).toMatchObject({ address: `127.0.0.1:${holder.port}`, code: "EADDRINUSE" });
      } finally {
        await holder.stop(true);
      }
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "exit codes systemd must not restart: 78 bad configuration, 65 missing migration (naming install.sh run migrate)",
    async () => {
      const env = await production();
      const unmigrated = run(["serve"], env);
      expect(unmigrated.code).toBe(65);
      expect(unmigrated.stderr).toContain("systemd/install.sh run migrate");
      expect(JSON.parse(unmigrated.stdout.trim().split("\n").at(-1) as string)).toMatchObject({
        level: "fatal",
      });
      expect(JSON.parse(unmigrated.stdout.trim().split("\n").at(-1) as string).pending).toContain("0000_initial_schema");
      const bad = run(["serve"], { ...env, JWT_SECRET: "changeme" });
      expect(bad.code).toBe(78);
      expect(bad.stderr.trim().split("\n")).toHaveLength(1);
      expect(JSON.parse(bad.stdout)).toMatchObject({ level: "fatal", variable: "JWT_SECRET" });
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "SIGTERM drains: /health answers 503 draining, other requests are served with Connection: close, then exit 0",
    async () => {
      const env = await production({ SHUTDOWN_DRAIN: "3s" });
      expect(run(["migrate"], env).code).toBe(0);
      const { service, base, logLines } = await start(env);
      expect((await fetch(`${base}/health`)).status).toBe(200);
      service.kill("SIGTERM");
      let health: Response | null = null;
      await waitFor(async () => {
        health = await fetch(`${base}/health`);
        return health.status === 503;
      });
      expect(await (health as unknown as Response).json()).toMatchObject({ status: "draining" });
      const login = await fetch(`${base}/api/auth/login`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ email: "nobody@mit.edu", password: "WrongPass123" }),
      });
      expect(login.status).toBe(401);
      expect(login.headers.get("connection")).toBe("close");
      expect((await fetch(`${base}/health/live`)).status).toBe(200);
      expect(await service.exited).toBe(0);
      const lines = await logLines();
      expect(lines.some((line) => line.msg?.startsWith("draining"))).toBe(true);
      expect(lines.at(-1).msg).toBe("stopped");
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "after preflights, 404s, 413s, 415s, 500s and client aborts nothing counts as in flight: SIGTERM stops within 2 s",
    async () => {
      const env = await production();
      expect(run(["migrate"], env).code).toBe(0);
      const { service, base, logLines } = await start(env);
      const post = (body: string, headers: Record<string, string> = { "content-type": "application/json" }, signal?: AbortSignal) =>
        fetch(`${base}/api/auth/forgot-password`, { method: "POST", headers, body, signal });
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) {
        const preflight = await fetch(`${base}/api/auth/login`, {
          method: "OPTIONS",
          headers: { origin: ORIGIN, "access-control-request-method": "POST", "access-control-request-headers": "content-type" },
        });
        statuses.push(preflight.status);
        statuses.push((await fetch(`${base}/nowhere`)).status);
        statuses.push((await post("x".repeat(64 * 1024))).status);
        statuses.push((await post("email=a", { "content-type": "text/plain" })).status);
      }
      const hangUp = new AbortController();
      const abandoned = Array.from({ length: 4 }, () =>
        post(JSON.stringify({ email: "gone@mit.edu" }), undefined, hangUp.signal).catch(() => null),
      );
      hangUp.abort();
      await Promise.all(abandoned);
      // A table the endpoint needs disappears: the contract's 500.
      await execute(env.DATABASE_URL, "ALTER TABLE rate_limits RENAME TO rate_limits_gone");
      statuses.push((await post(JSON.stringify({ email: "a@mit.edu" }))).status);
      expect(statuses).toEqual([...Array(3).fill([204, 404, 413, 415]).flat(), 500]);

      const signalled = performance.now();
      service.kill("SIGTERM");
      expect(await service.exited).toBe(0);
      // The contract allows 10 s for requests in flight; with none left the stop is immediate.
      expect(performance.now() - signalled).toBeLessThan(2000);
      expect((await logLines()).some((line) => line.msg?.includes("still in flight"))).toBe(false);
    },
    TEST_TIMEOUT_MS,
  );

  test("SIGTERM with 20 emails queued and a mail server taking 2 s a message: exit 0 within 15 s, and after a restart each email arrives once", async () => {
    const sink = await SmtpSink.start({ delayMs: 2000 });
    try {
      // The production drain (5 s) before the stop, as systemd's TimeoutStopSec=25 sees it.
      const env = await production({
        SHUTDOWN_DRAIN: "5s",
        MAIL_TRANSPORT: "smtp",
        SMTP_URL: sink.url,
        RATE_LIMIT_REGISTER_CLIENT: "100/1h",
      });
      expect(run(["migrate"], env).code).toBe(0);
      const recipients = Array.from({ length: 20 }, (_, i) => `queued.${i}@mit.edu`);
      const first = await start(env);
      const registered = await Promise.all(
        recipients.map(async (email, i) => {
          const response = await fetch(`${first.base}/api/auth/register`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ email, username: `queued_${i}`, password: "TestPass123", firstName: "Q" }),
          });
          return response.status;
        }),
      );
      expect(registered).toEqual(recipients.map(() => 201));
      const signalled = performance.now();
      first.service.kill("SIGTERM");
      expect(await first.service.exited).toBe(0);
      expect(performance.now() - signalled).toBeLessThan(15_000);
      expect(sink.received.length).toBeLessThan(recipients.length); // some were still waiting

      const second = await start(env);
      await waitFor(async () => sink.received.length >= recipients.length, 40_000);
      await Bun.sleep(1000); // more rounds: nothing else goes out
      second.service.kill("SIGTERM");
      expect(await second.service.exited).toBe(0);
      expect([...sink.counts()].sort()).toEqual(recipients.map((to) => [to, 1] as [string, number]).sort());
    } finally {
      await sink.stop();
    }
  }, 90_000);

  test(
    "check and migrate status create nothing: no SQLite file or directory, no table",
    async () => {
      const env = await production();
      const before = TEST_DIALECT === "sqlite" ? readdirSync(dir).sort() : [];
      const status = run(["migrate", "status"], env);
      expect(status.code).toBe(1);
      expect(status.stdout).toContain("pending  0000_initial_schema");
      const check = run(["check"], env);
      expect(check.code).toBe(1);
      expect(check.stdout).toContain("systemd/install.sh run migrate");
      if (TEST_DIALECT === "sqlite") {
        expect(readdirSync(dir).sort()).toEqual(before);
        // An existing database that nothing has open: no -wal or -shm file appears either.
        expect(run(["migrate"], env).code).toBe(0);
        const folder = join(env.DATABASE_URL.slice(5), "..");
        const files = readdirSync(folder).sort();
        expect(run(["check"], env).code).toBe(0);
        expect(run(["migrate", "status"], env).code).toBe(0);
        expect(readdirSync(folder).sort()).toEqual(files);
      } else {
        const sql = postgres(env.DATABASE_URL, { max: 1, onnotice: () => {} });
        const [row] = await sql`SELECT to_regclass('schema_migrations')::text AS name`;
        await sql.end();
        expect(row?.name).toBeNull();
      }
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "check as the service user would run: a privileged port is 78, an unwritable SQLite directory is 1",
    async () => {
      const asNobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];
      const locked = join(dir, `locked-${crypto.randomUUID()}`);
      mkdirSync(locked, { mode: 0o755 });
      const env = await production({ DATABASE_URL: `file:${join(locked, "data", "app.db")}` });
      // Privileged ports are those below net.ipv4.ip_unprivileged_port_start (1024; 0 in some containers).
      const firstFree = Number(readFileSync("/proc/sys/net/ipv4/ip_unprivileged_port_start", "utf8"));
      const privileged = run(["check"], { ...env, PORT: String(Math.max(1, firstFree - 1)) }, asNobody);
      if (firstFree > 1) {
        expect(privileged.code).toBe(78);
        expect(privileged.stderr).toContain("PORT");
      } else {
        expect(privileged.stderr).not.toContain("privileged port");
      }
      const unwritable = run(["check"], env, asNobody);
      expect(unwritable.code).toBe(1);
      expect(unwritable.stderr).toContain(`${locked} is not writable`);
      expect(readdirSync(locked)).toEqual([]);
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "backup PATH: a consistent copy while the service runs, with the accounts in it",
    async () => {
      const env = await production();
      expect(run(["migrate"], env).code).toBe(0);
      const { service, base } = await start(env);
      const account = { email: "kept@mit.edu", username: "kept_one", password: "TestPass123", firstName: "Kept" };
      const registered = await fetch(`${base}/api/auth/register`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(account),
      });
      expect(registered.status).toBe(201);
      const target = join(dir, `backup-${crypto.randomUUID()}.db`);
      const backup = run(["backup", target], env);
      expect(backup.stderr).toBe("");
      expect(backup.code).toBe(0);
      expect(run(["backup", target], env).code).toBe(1);
      service.kill("SIGTERM");
      expect(await service.exited).toBe(0);
      if (TEST_DIALECT === "sqlite") {
        expect(backup.stdout).toContain("1 account(s)");
        const copy = new Database(target, { readonly: true });
        expect(copy.query("SELECT email FROM users").all()).toEqual([{ email: account.email }]);
        copy.close();
      } else {
        // The documented restore: pg_restore into an empty database.
        const restored = (await freshDatabaseConfig()).url;
        expect(Bun.spawnSync(["pg_restore", "--no-owner", "--dbname", restored, target]).exitCode).toBe(0);
        const sql = postgres(restored, { max: 1, onnotice: () => {} });
        expect(await sql`SELECT email FROM users`).toEqual([{ email: account.email }] as never);
        await sql.end();
      }
    },
    TEST_TIMEOUT_MS,
  );
});
