import { describe, expect, test } from "bun:test";
import { type SQL, sql } from "drizzle-orm";
import type { Database } from "../../src/db/database";
import { openDatabase } from "../../src/db/database";
import { createLogger } from "../../src/logger";
import { createDatabaseMetrics, databaseErrorKind } from "../../src/observability/database-metrics";
import { createTestApp } from "../support/app";
import { TEST_DIALECT } from "../support/database";
import { withoutRelease } from "../support/metrics";

/**
 * The value of one sample line, e.g. sample(text, 'auth_logins_total{result="success"}'), without the
 * release labels every series carries (`version`, `revision`, last); undefined when absent.
 */
function sample(text: string, series: string): number | undefined {
  const line = withoutRelease(text)
    .split("\n")
    .find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const scrape = async (app: { call: (method: string, path: string) => Promise<{ text: string }> }) =>
  (await app.call("GET", "/metrics")).text;

/** Raw SQL in the test database's dialect, started at once (drizzle's queries run when awaited). */
function raw(database: Database, query: SQL): Promise<unknown> {
  if (database.kind === "postgres") return Promise.resolve(database.db.execute(query));
  return Promise.resolve((database.db as unknown as { all(q: SQL): unknown }).all(query));
}

describe("metrics a rollout is judged by", () => {
  test("build_info names the release; scrapes and /swagger are not counted; 500 and 503 of every route exist at 0", async () => {
    const app = await createTestApp({ version: "0.2.0-canary", revision: "0123456789ab" });
    await app.call("GET", "/metrics");
    await app.call("GET", "/swagger/json");
    await app.call("GET", "/health");
    const text = await scrape(app);
    expect(sample(text, `classmatefinder_build_info{version="0.2.0-canary",revision="0123456789ab",runtime="bun-${Bun.version}"}`)).toBe(1);
    expect(text).not.toMatch(/http_requests_total\{[^}]*route="\/(metrics|swagger)/);
    expect(sample(text, 'http_requests_total{method="GET",route="/health",status="200"}')).toBe(1);
    for (const route of ["/api/auth/login", "/api/auth/register", "/api/auth/verify-email"]) {
      expect(sample(text, `http_requests_total{method="POST",route="${route}",status="500"}`)).toBe(0);
      expect(sample(text, `http_requests_total{method="POST",route="${route}",status="503"}`)).toBe(0);
    }
    expect(sample(text, 'http_requests_total{method="GET",route="/api/auth/me",status="503"}')).toBe(0);
    // The counters the plan reads exist before their first event.
    expect(sample(text, 'auth_logins_total{result="service_busy"}')).toBe(0);
    expect(sample(text, 'emails_sent_total{kind="verify_email",result="failed"}')).toBe(0);
    expect(sample(text, 'db_errors_total{kind="connection"}')).toBe(0);
  });

  test("two builds of one version are told apart: every counter and histogram carries the version and revision of the process that served it", async () => {
    const builds = await Promise.all(["0123456789ab", "ba9876543210"].map((revision) => createTestApp({ version: "0.1.0", revision })));
    for (const [index, app] of builds.entries()) {
      for (let i = 0; i <= index; i++) await app.call("GET", "/api/auth/me");
      const text = await scrape(app);
      const served = new Set([...text.matchAll(/^# TYPE (\S+) (counter|histogram)$/gm)].map((m) => m[1]));
      const lines = text.split("\n").filter((line) => served.has(line.replace(/(_bucket|_sum|_count)?[{ ].*$/, "")));
      const revision = index === 0 ? "0123456789ab" : "ba9876543210";
      expect(lines.length).toBeGreaterThan(100);
      // Not a join on whatever runs on the instance later: the sample names its own release.
      expect(lines.filter((line) => !line.includes(`version="0.1.0",revision="${revision}"}`))).toEqual([]);
      expect(lines).toContain(
        `http_requests_total{method="GET",route="/api/auth/me",status="401",version="0.1.0",revision="${revision}"} ${index + 1}`,
      );
    }
  });

  test("no value is NaN or a placeholder, no gauge is named *_total, and the process's CPU counts from its start", async () => {
    const app = await createTestApp();
    const before = process.cpuUsage();
    const text = await scrape(app);
    const values = text.split("\n").filter((line) => line && !line.startsWith("#"));
    for (const line of values) {
      const value = Number(line.slice(line.lastIndexOf(" ") + 1));
      expect({ line, finite: Number.isFinite(value) && Math.abs(value) < 1e12 }).toEqual({ line, finite: true });
    }
    const gaugesNamedTotal = [...text.matchAll(/^# TYPE (\S+_total) gauge$/gm)].map((m) => m[1]);
    expect(gaugesNamedTotal).toEqual([]);
    expect(text).not.toContain("nodejs_eventloop_lag_mean_seconds");
    // prom-client's collector counted from its own creation (the first scrape): far below this.
    expect(sample(text, "process_cpu_seconds_total")).toBeGreaterThanOrEqual((before.user + before.system) / 1e6);
    expect(sample(text, "process_resident_memory_bytes")).toBeGreaterThan(0);
    expect(sample(text, "nodejs_eventloop_lag_seconds")).toBeGreaterThanOrEqual(0);
  });

  test("queued → delivered and registration → verification are histograms on the service's clock", async () => {
    const app = await createTestApp();
    const { email } = await app.registerUser({ verify: false }); // delivered at once: 0 s
    await app.call("POST", "/api/auth/resend-verification", { body: { email } });
    app.clock.advance(90_000); // the resent email goes out 90 s after it was queued
    await app.outbox.deliverDue();
    app.clock.advance(10 * 60_000); // verified 11.5 minutes after registering
    expect(
      (await app.call("POST", "/api/auth/verify-email", { body: { token: app.mail.tokenFor(email), password: "TestPass123" } })).status,
    ).toBe(200);
    const text = await scrape(app);
    expect(sample(text, 'email_delivery_seconds_bucket{le="60",kind="verify_email"}')).toBe(1);
    expect(sample(text, 'email_delivery_seconds_bucket{le="120",kind="verify_email"}')).toBe(2);
    expect(sample(text, 'email_delivery_seconds_sum{kind="verify_email"}')).toBe(90);
    expect(sample(text, 'email_delivery_seconds_count{kind="reset_password"}')).toBe(0);
    expect(sample(text, 'auth_verification_delay_seconds_bucket{le="300"}')).toBe(0);
    expect(sample(text, 'auth_verification_delay_seconds_bucket{le="900"}')).toBe(1);
    expect(sample(text, "auth_verification_delay_seconds_sum")).toBe(690);
    expect(sample(text, "email_outbox_oldest_pending_seconds")).toBe(0);
  });

  test("an email waiting in the outbox shows as the age of the oldest pending one", async () => {
    const app = await createTestApp();
    app.mail.failing = true;
    await app.registerUser({ verify: false });
    app.clock.advance(400_000);
    expect(sample(await scrape(app), "email_outbox_oldest_pending_seconds")).toBe(400);
  });

  test("statements are timed by operation, failures counted by kind, migrations and tables sampled", async () => {
    const app = await createTestApp();
    const { user } = await app.registerUser();
    // A second row with the same id: the database refuses it (a constraint violation, not a 500 here).
    const { users } = app.database.tables;
    const now = new Date();
    const duplicate = {
      id: user.id,
      email: "x@ualberta.ca",
      username: "x_dup",
      passwordHash: "-",
      firstName: "X",
      createdAt: now,
      updatedAt: now,
    };
    const refused = await Promise.resolve(app.database.db.insert(users).values(duplicate)).then(
      () => null,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(Error);
    const text = await scrape(app);
    for (const operation of ["select", "insert", "update"]) {
      expect(sample(text, `db_query_duration_seconds_count{operation="${operation}"}`)).toBeGreaterThan(0);
    }
    expect(sample(text, 'db_errors_total{kind="constraint"}')).toBe(1);
    expect(sample(text, 'db_errors_total{kind="connection"}')).toBe(0);
    expect(sample(text, "db_migrations_pending")).toBe(0);
    expect(sample(text, 'db_table_rows{table="users"}')).toBeGreaterThanOrEqual(TEST_DIALECT === "sqlite" ? 1 : 0);
    if (TEST_DIALECT === "postgres") expect(sample(text, 'db_table_size_bytes{table="users"}')).toBeGreaterThan(0);
    else expect(text).not.toContain("db_table_size_bytes{");
  });

  test("a statement slower than DATABASE_SLOW_QUERY is logged with its SQL, never its parameters", async () => {
    const app = await createTestApp({ env: { DATABASE_SLOW_QUERY: "1ms" } });
    const slow =
      TEST_DIALECT === "postgres"
        ? sql`SELECT pg_sleep(0.05), ${"param-secret-42"}::text AS p`
        : sql`WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000) SELECT count(*), ${"param-secret-42"} FROM c`;
    await raw(app.database, slow);
    const lines = app.logLines.filter((line) => line.includes('"msg":"slow query"'));
    const line = lines.find((l) => l.includes(TEST_DIALECT === "postgres" ? "pg_sleep" : "RECURSIVE"));
    expect(line).toBeDefined();
    expect(JSON.parse(line as string)).toMatchObject({ level: "warn", operation: "select", failed: false });
    expect(lines.join("\n")).not.toContain("param-secret-42");
  });

  test("connection failures are their own kind: a database that is not there", async () => {
    const metrics = createDatabaseMetrics({ logger: createLogger({ logLevel: "silent" }), slowQueryMs: 60_000 });
    const database = openDatabase({ kind: "postgres", url: "postgres://root@127.0.0.1:1/nothing" }, { observer: metrics.observer });
    const error = await raw(database, sql`SELECT 1`).catch((e: unknown) => e);
    await database.close();
    expect(databaseErrorKind(error)).toBe("connection");
    const counted = await metrics.metrics.find((m) => m.name === "db_errors_total")?.get();
    expect(counted?.values.find((v) => v.labels.kind === "connection")?.value).toBe(1);
  });

  test("a statement's failure that also fails its transaction is counted once", async () => {
    const metrics = createDatabaseMetrics({ logger: createLogger({ logLevel: "silent" }), slowQueryMs: 60_000 });
    const violation = Object.assign(new Error("duplicate key value violates unique constraint"), { code: "23505" });
    const transactionDone = metrics.observer.transaction();
    metrics.observer.query("insert into users …", true)(violation);
    transactionDone(violation);
    metrics.observer.transaction()(Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" }));
    const counted = (await metrics.metrics.find((m) => m.name === "db_errors_total")?.get())?.values ?? [];
    expect(Object.fromEntries(counted.map((v) => [v.labels.kind, v.value]))).toEqual({
      connection: 1,
      timeout: 0,
      constraint: 1,
      other: 0,
    });
  });

  test("pool connections in use and waiting (PostgreSQL; absent on SQLite, which has no pool)", async () => {
    const app = await createTestApp();
    if (TEST_DIALECT === "sqlite") {
      expect(await scrape(app)).not.toMatch(/^db_pool_connections_in_use /m);
      return;
    }
    // Read from the gauges themselves: a scrape's own queries would queue behind the sleeping statements.
    const gauge = async (name: string) => (await app.databaseMetrics?.metrics.find((m) => m.name === name)?.get())?.values[0]?.value;
    const max = (await gauge("db_pool_connections_max")) as number;
    expect(max).toBeGreaterThan(0);
    // Four more two-second statements than there are connections, counted while they run.
    const running = Array.from({ length: max + 4 }, () => raw(app.database, sql`SELECT pg_sleep(2)`));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const during = { inUse: await gauge("db_pool_connections_in_use"), waiting: await gauge("db_pool_waiting") };
    await Promise.all(running);
    expect(during).toEqual({ inUse: max, waiting: 4 });
    expect({ inUse: await gauge("db_pool_connections_in_use"), waiting: await gauge("db_pool_waiting") }).toEqual({ inUse: 0, waiting: 0 });
  });
});
