import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SWITCH_MARGIN } from "../../src/hashing/password-hasher";
import { compiledBinary } from "../support/binary";
import { freshDatabaseConfig, TEST_DIALECT } from "../support/database";

// The compiled binary as a sysadmin runs it: alone in an empty directory, configured by environment.
const SECRET = "binary-test-secret-0123456789abcdef0123456789abcdef";
const ROLLOUT_ENV_FILE = `NODE_ENV=production
DATABASE_URL=postgresql://user:password@localhost:5432/classmatefinder
JWT_SECRET=<generate-with-openssl-rand-64>
JWT_EXPIRES_IN=7d
PORT=5000
CORS_ORIGIN=https://classmatefinder.com
UNIVERSITY_DOMAINS=.edu,.ualberta.ca,.ubc.ca,.utoronto.ca,.mcgill.ca,.uwaterloo.ca
`;

let dir = "";
let binary = "";

beforeAll(async () => {
  // The same build as `bun run build`, alone in an empty directory (shared with the other binary tests).
  binary = await compiledBinary();
  dir = mkdtempSync(join(tmpdir(), "cmf-binary-"));
  // The build takes seconds; bun applies the preload's default timeout only to the first test file.
}, 180_000);

/** Services started by a test: a failing test must not leave one running. */
const services = new Set<ReturnType<typeof Bun.spawn>>();

function startService(env: Record<string, string>) {
  const service = Bun.spawn([binary, "serve"], { cwd: dir, env: { PATH: "/usr/bin:/bin", ...env }, stdout: "pipe", stderr: "pipe" });
  services.add(service);
  return service;
}

afterAll(() => {
  for (const service of services) service.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

/** A database URL for this run's dialect: a new PostgreSQL database or a new SQLite file. */
async function databaseUrl(): Promise<string> {
  if (TEST_DIALECT === "sqlite") return `file:${join(dir, `db-${crypto.randomUUID()}`, "app.db")}`;
  return (await freshDatabaseConfig()).url;
}

function run(args: string[], env: Record<string, string>) {
  // A minimal environment, as under systemd: no Bun on PATH needed.
  const result = Bun.spawnSync([binary, ...args], { cwd: dir, env: { PATH: "/usr/bin:/bin", ...env } });
  return { code: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

function parseEnvFile(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .trim()
      .split("\n")
      .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
  );
}

async function freePort(): Promise<number> {
  const server = Bun.serve({ port: 0, fetch: () => new Response() });
  const port = server.port as number;
  await server.stop(true);
  return port;
}

describe(`compiled binary (${TEST_DIALECT})`, () => {
  test("--version names the release and the commit it was built from; --help", () => {
    const head = Bun.spawnSync(["git", "rev-parse", "--short=12", "HEAD"]).stdout.toString().trim();
    expect(run(["--version"], {}).stdout).toMatch(new RegExp(`^classmatefinder-backend 0\\.1\\.0 \\(revision ${head}(-dirty)?\\)\n$`));
    // The unit this binary runs under travels with it: install.sh installs what it prints.
    expect(run(["unit"], {}).stdout).toBe(readFileSync(join(import.meta.dir, "../../systemd/classmatefinder-backend.service"), "utf8"));
    expect(run(["unit", "--template"], {}).stdout).toBe(
      readFileSync(join(import.meta.dir, "../../systemd/classmatefinder-backend@.service"), "utf8"),
    );
    expect(run(["rollback-notes"], {}).stdout).toContain("to the release before it (e1e8c63)");
    const help = run(["--help"], {});
    expect(help.code).toBe(0);
    for (const command of ["serve", "migrate", "migrate status", "check"]) expect(help.stdout).toContain(command);
  });

  test("invalid configuration: exit 78 and one stderr line naming the variable, before touching the database", () => {
    const cases: [Record<string, string>, string][] = [
      [{ NODE_ENV: "production", DATABASE_URL: "file:./x.db", JWT_SECRET: "<generate-with-openssl-rand-64>" }, "JWT_SECRET"],
      [{ NODE_ENV: "production", JWT_SECRET: SECRET }, "DATABASE_URL"],
      [{ PORT: "99999" }, "PORT"],
    ];
    for (const [env, variable] of cases) {
      for (const command of ["check", "serve", "migrate"]) {
        const result = run([command], env);
        expect(result.code).toBe(78);
        expect(result.stderr.trim().split("\n")).toHaveLength(1);
        expect(result.stderr).toContain(variable);
        expect(result.stderr).not.toContain(SECRET);
      }
    }
  });

  test("the rollout plan's env file verbatim (real secret, test database): check, migrate, migrate status", async () => {
    const env = { ...parseEnvFile(ROLLOUT_ENV_FILE), JWT_SECRET: SECRET, DATABASE_URL: await databaseUrl() };
    const pending = run(["migrate", "status"], env);
    expect(pending.code).toBe(1);
    expect(pending.stdout).toContain("pending");
    const unready = run(["check"], env);
    expect(unready.code).toBe(1);
    expect(unready.stdout).toContain("migrate");
    expect(unready.stdout).not.toContain(SECRET);

    const first = run(["migrate"], env);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain("applied 0000_initial_schema");
    const second = run(["migrate"], env);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain("up to date");

    expect(run(["migrate", "status"], env).code).toBe(0);
    const ready = run(["check"], env);
    expect(ready.code).toBe(0);
    expect(ready.stdout).toContain("migrations: up to date");
    expect(ready.stdout).not.toContain(SECRET);
  });

  test("check exits 1 when the database cannot be reached", () => {
    const env = { NODE_ENV: "production", JWT_SECRET: SECRET, DATABASE_URL: "postgres://nobody@127.0.0.1:1/none" };
    const result = run(["check"], env);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("database");
  });

  if (TEST_DIALECT === "sqlite") {
    test("migrate on an existing SQLite database first writes a backup copy and prints its path", () => {
      const dbDir = join(dir, "backup-test");
      const env = { DATABASE_URL: `file:${join(dbDir, "app.db")}` };
      // An existing database file (data the operator cares about) with migrations still to apply.
      mkdirSync(dbDir, { recursive: true });
      const existing = new Database(join(dbDir, "app.db"));
      existing.run("CREATE TABLE precious (note TEXT)");
      existing.run("INSERT INTO precious VALUES ('keep me')");
      existing.close();
      const result = run(["migrate"], env);
      expect(result.code).toBe(0);
      const backupLine = result.stdout.split("\n").find((line) => line.startsWith("backup written: "));
      expect(backupLine).toBeDefined();
      const backupPath = (backupLine as string).slice("backup written: ".length);
      expect(existsSync(backupPath)).toBe(true);
      expect(readdirSync(dbDir).some((name) => name.startsWith("app.db.backup-"))).toBe(true);
      const backup = new Database(backupPath, { readonly: true });
      expect(backup.query("SELECT note FROM precious").get()).toEqual({ note: "keep me" });
      backup.close();
    });
  }

  test("production serve refuses an unmigrated database and names the command to run", async () => {
    const env = { NODE_ENV: "production", JWT_SECRET: SECRET, DATABASE_URL: await databaseUrl(), PORT: String(await freePort()) };
    const result = run(["serve"], env);
    // 65, not 1: systemd must not restart it in a loop (RestartPreventExitStatus).
    expect(result.code).toBe(65);
    expect(result.stderr).toContain("systemd/install.sh run migrate");
    expect(result.stdout).toContain("classmatefinder-backend migrate");
  });

  test("production serve accepts a database with migrations from a newer release; SIGTERM lets requests in flight finish, exit 0", async () => {
    const port = await freePort();
    const env = {
      NODE_ENV: "production",
      JWT_SECRET: SECRET,
      DATABASE_URL: await databaseUrl(),
      PORT: String(port),
      HOST: "127.0.0.1",
      UNIVERSITY_DOMAINS: ".edu",
      CORS_ORIGIN: "https://classmatefinder.com",
      // The drain phase has a test of its own (lifecycle.test.ts).
      SHUTDOWN_DRAIN: "0",
    };
    expect(run(["migrate"], env).code).toBe(0);
    // A newer release migrated and was rolled back: its migration is unknown to this binary.
    await markNewerMigration(env.DATABASE_URL);

    const service = startService(env);
    const base = `http://127.0.0.1:${port}`;
    await waitFor(async () => (await fetch(`${base}/health/live`).catch(() => null))?.ok === true);
    expect(((await (await fetch(`${base}/health`)).json()) as { status: string }).status).toBe("ok");

    // A body far beyond 16 KiB gets the contract's 413, not a bare one from the HTTP server.
    const huge = await fetch(`${base}/api/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "x".repeat(2 * 1024 * 1024),
    });
    expect(huge.status).toBe(413);
    expect(((await huge.json()) as { error: { code: string } }).error.code).toBe("PAYLOAD_TOO_LARGE");

    // Registrations hash passwords with argon2id: 12 at once take longer than the hashing queue's
    // 150 ms, so some wait for a slot and some are turned away (503) while the service stops.
    const inFlight = Array.from({ length: 12 }, (_, i) =>
      fetch(`${base}/api/auth/register`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ email: `inflight${i}@mit.edu`, username: `inflight_${i}`, password: "TestPass123", firstName: "In" }),
      }).then((res) => res.status),
    );
    // Once the first is answered, all have arrived and most are still being worked on.
    await Promise.race(inFlight);
    service.kill("SIGTERM");
    const statuses = await Promise.all(inFlight);
    expect(statuses.filter((status) => status !== 201 && status !== 503)).toEqual([]);
    expect(statuses).toContain(201);
    expect(await service.exited).toBe(0);
    const log = await new Response(service.stdout).text();
    const lines = log
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    // Every request got its answer before the database closed.
    expect(lines.filter((line) => line.level === "error")).toEqual([]);
    expect(lines.some((line) => line.msg?.includes("newer release"))).toBe(true);
    expect(lines.at(-1).msg).toBe("stopped");
    // After the stop nothing listens any more.
    expect(
      await fetch(`${base}/health/live`).then(
        () => "answered",
        () => "refused",
      ),
    ).toBe("refused");
  });

  test("hashes passwords and logs in on a bare host: the native argon2id, said once at start; Bun.password where the addon does not load", async () => {
    const env = { NODE_ENV: "production", JWT_SECRET: SECRET, DATABASE_URL: await databaseUrl(), HOST: "127.0.0.1", SHUTDOWN_DRAIN: "0" };
    expect(run(["migrate"], env).code).toBe(0);
    // The addon's loader (napi-rs) takes its path from this variable when set: a path with nothing there
    // is a host whose platform has no prebuilt addon.
    const noAddon = { NAPI_RS_NATIVE_LIBRARY_PATH: join(dir, "no-such-addon.node") };
    const registered: string[] = [];
    // Native, then the fallback, then native again on one database: each logs in every account so far,
    // whichever implementation hashed its password.
    for (const [extra, implementation] of [
      [{}, "@node-rs/argon2"],
      [noAddon, "Bun.password"],
      [{}, "@node-rs/argon2"],
    ] as const) {
      const port = await freePort();
      const logFile = join(dir, `hashing-${crypto.randomUUID()}.log`);
      const service = Bun.spawn([binary, "serve"], {
        cwd: dir,
        env: { PATH: "/usr/bin:/bin", ...env, ...extra, PORT: String(port) },
        stdout: Bun.file(logFile),
        stderr: "pipe",
      });
      services.add(service);
      const base = `http://127.0.0.1:${port}`;
      await waitFor(async () => (await fetch(`${base}/health`).catch(() => null))?.ok === true);
      const post = (path: string, body: unknown) =>
        fetch(`${base}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      const name = `hasher_${registered.length}`;
      const email = `${name}@mit.edu`;
      expect((await post("/api/auth/register", { email, username: name, password: "TestPass123", firstName: "Hash" })).status).toBe(201);
      const link = await waitForValue(async () => {
        const lines = (await Bun.file(logFile).text()).split("\n").filter(Boolean);
        return lines.map((line) => JSON.parse(line)).find((line) => line.email?.to === email)?.email.link as string | undefined;
      });
      const token = new URL(link).searchParams.get("token");
      expect((await post("/api/auth/verify-email", { token, password: "TestPass123" })).status).toBe(200);
      registered.push(email);
      for (const account of registered) {
        const login = await post("/api/auth/login", { email: account, password: "TestPass123" });
        expect({ account, status: login.status }).toEqual({ account, status: 200 });
        const { token: jwt } = (await login.json()) as { token: string };
        expect((await fetch(`${base}/api/auth/me`, { headers: { authorization: `Bearer ${jwt}` } })).status).toBe(200);
        expect((await post("/api/auth/login", { email: account, password: "TestPass124" })).status).toBe(401);
      }
      service.kill("SIGTERM");
      expect(await service.exited).toBe(0);
      const said = (await Bun.file(logFile).text())
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line))
        .filter((line) => line.msg?.startsWith("password hashing"));
      expect(said.map((line) => line.implementation)).toEqual([implementation]);
      if (implementation === "Bun.password") expect(said[0].reason).toContain("no-such-addon.node");
    }
  }, 60_000);

  test("a host without transparent huge pages: both argon2id implementations timed once, the quicker kept, accounts work", async () => {
    const env = { NODE_ENV: "production", JWT_SECRET: SECRET, DATABASE_URL: await databaseUrl(), HOST: "127.0.0.1", SHUTDOWN_DRAIN: "0" };
    expect(run(["migrate"], env).code).toBe(0);
    const port = await freePort();
    const logFile = join(dir, `thp-${crypto.randomUUID()}.log`);
    // The addon's allocator (mimalloc) reads this: no huge pages for this process, as on a host whose
    // THP setting is `never`. Which implementation is quicker then depends on what a page fault costs
    // on the host: here a native hash took 66 ms against Bun.password's 27 ms on one day, 33–37 ms
    // against 49–56 ms on another. So the choice is checked against the times the service measured.
    const service = Bun.spawn([binary, "serve"], {
      cwd: dir,
      env: { PATH: "/usr/bin:/bin", ...env, PORT: String(port), MIMALLOC_ALLOW_THP: "0" },
      stdout: Bun.file(logFile),
      stderr: "pipe",
    });
    services.add(service);
    const base = `http://127.0.0.1:${port}`;
    const logLines = async () =>
      (await Bun.file(logFile).text())
        .split("\n")
        .filter(Boolean)
        .map((line) => JSON.parse(line));
    const timed = await waitForValue(async () => (await logLines()).find((line) => line.msg?.startsWith("argon2id implementations timed")));
    const [native, bun] = [timed.bestMs["@node-rs/argon2"], timed.bestMs["Bun.password"]];
    expect(native).toBeGreaterThan(0);
    expect(bun).toBeGreaterThan(0);
    // The logged times are rounded to 0.1 ms: within that of the margin, either choice follows the rule.
    const margin = native - bun * SWITCH_MARGIN;
    if (Math.abs(margin) > 0.2) expect(timed.chosen).toBe(margin > 0 ? "Bun.password" : "@node-rs/argon2");
    expect(timed.level).toBe(timed.chosen === "Bun.password" ? "warn" : "info");
    // Accounts register, verify and log in as before (the hashes are the same PHC strings).
    const post = (path: string, body: unknown) =>
      fetch(`${base}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    expect(
      (await post("/api/auth/register", { email: "thp@mit.edu", username: "thp_off", password: "TestPass123", firstName: "Huge" })).status,
    ).toBe(201);
    const link = await waitForValue(
      async () => (await logLines()).find((line) => line.email?.to === "thp@mit.edu")?.email.link as string | undefined,
    );
    expect((await post("/api/auth/verify-email", { token: new URL(link).searchParams.get("token"), password: "TestPass123" })).status).toBe(
      200,
    );
    expect((await post("/api/auth/login", { email: "thp@mit.edu", password: "TestPass123" })).status).toBe(200);
    expect((await post("/api/auth/login", { email: "thp@mit.edu", password: "TestPass124" })).status).toBe(401);
    service.kill("SIGTERM");
    expect(await service.exited).toBe(0);
    expect((await logLines()).filter((line) => line.msg?.startsWith("argon2id implementations timed"))).toHaveLength(1);
  }, 60_000);

  test("SIGTERM waits for requests whose client has hung up before closing the database", async () => {
    const port = await freePort();
    const env = {
      NODE_ENV: "production",
      JWT_SECRET: SECRET,
      DATABASE_URL: await databaseUrl(),
      PORT: String(port),
      HOST: "127.0.0.1",
      SHUTDOWN_DRAIN: "0",
      METRICS_TOKEN: "hung-up-metrics-token",
    };
    expect(run(["migrate"], env).code).toBe(0);
    const service = startService(env);
    const base = `http://127.0.0.1:${port}`;
    await waitFor(async () => (await fetch(`${base}/health/live`).catch(() => null))?.ok === true);
    const account = { email: "gone@mit.edu", username: "gone_away", password: "TestPass123", firstName: "Gone" };
    const post = (path: string, body: unknown, signal?: AbortSignal) =>
      fetch(`${base}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), signal });
    expect((await post("/api/auth/register", account)).status).toBe(201);

    // Logins whose client gives up at once: the service still checks each password (argon2id) and
    // then writes to the database, after the HTTP server considers them gone.
    const hangUp = new AbortController();
    const abandoned = Array.from({ length: 6 }, () =>
      post("/api/auth/login", { email: account.email, password: account.password }, hangUp.signal).catch(() => "abandoned"),
    );
    // Hung up once the service is hashing them (a fixed wait could end before a loaded machine sent them).
    await waitFor(
      async () => {
        const metrics = await fetch(`${base}/metrics`, { headers: { authorization: "Bearer hung-up-metrics-token" } }).then((r) =>
          r.text(),
        );
        return /password_hash_queue\{state="running"\} [1-9]/.test(metrics);
      },
      10_000,
      5,
    );
    hangUp.abort();
    await Promise.all(abandoned);
    service.kill("SIGTERM");
    expect(await service.exited).toBe(0);
    const lines = (await new Response(service.stdout).text())
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(lines.filter((line) => line.level === "error")).toEqual([]);
    expect(lines.filter((line) => line.route === "/api/auth/login").length).toBeGreaterThan(0);
    expect(lines.at(-1).msg).toBe("stopped");
  });
});

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 10_000, intervalMs = 50) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await Bun.sleep(intervalMs);
  }
  throw new Error("timed out waiting for the service");
}

async function waitForValue<T>(value: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const found = await value();
    if (found !== undefined) return found;
    await Bun.sleep(50);
  }
  throw new Error("timed out waiting for the service");
}

async function markNewerMigration(url: string) {
  const { openDatabase } = await import("../../src/db/database");
  const config = url.startsWith("file:") ? { kind: "sqlite" as const, url, path: url.slice(5) } : { kind: "postgres" as const, url };
  const database = openDatabase(config);
  await database.withMigrationLock((exec) => exec("INSERT INTO schema_migrations (tag, applied_at) VALUES ('9999_newer_release', 0)"));
  await database.close();
}
