import { describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import postgres from "postgres";
import type { Database } from "../../src/db/database";
import { createTestApp, PASSWORD } from "../support/app";
import { freshDatabaseConfig, openTestDatabase, TEST_DIALECT } from "../support/database";
import { startPgBouncer } from "../support/pgbouncer";

const ACCOUNTS = 30;

/** Counts straight from PostgreSQL, bypassing PgBouncer and the service. */
async function directCounts(url: string) {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql<{ users: number; verified: number; pending: number; sent: number }[]>`
      SELECT (SELECT count(*)::int FROM users) AS users,
             (SELECT count(*)::int FROM users WHERE email_verified_at IS NOT NULL) AS verified,
             (SELECT count(*)::int FROM email_outbox WHERE status IN ('queued', 'pending')) AS pending,
             (SELECT count(*)::int FROM email_outbox WHERE status = 'sent') AS sent`;
    return row;
  } finally {
    await sql.end();
  }
}

/** After the first ping: how many named prepared statements the (single) connection holds after a prepared query. */
async function namedStatementsAfterPing(database: Database): Promise<number> {
  await database.ping();
  const probe = database.db
    .select({ one: sql<number>`1` })
    .from(sql`(SELECT 1) AS t`)
    .where(sql`1 = ${sql.placeholder("x")}`)
    .prepare("probe");
  await probe.execute({ x: 1 });
  const rows = await database.db.execute(sql`SELECT count(*)::int AS n FROM pg_prepared_statements`);
  return Number((rows as unknown as { n: number }[])[0]?.n);
}

// PostgreSQL only: there is no PgBouncer in front of SQLite, so on SQLite runs this file has no tests.
if (TEST_DIALECT === "postgres") {
  describe.each(["transaction", "session"] as const)("through PgBouncer in %s pooling mode", (mode) => {
    test(`${ACCOUNTS} concurrent registrations, verifications and logins: every write is in PostgreSQL, each email sent once`, async () => {
      // Session mode ties each client connection to a server connection: room for the whole pool.
      const bouncer = await startPgBouncer(mode, mode === "session" ? 20 : 3);
      const direct = await freshDatabaseConfig();
      const database = await openTestDatabase({ kind: "postgres", url: bouncer.through(direct.url) });
      // As `serve` does first: the ping also decides whether named statements are safe (here: not).
      await database.ping();
      const app = await createTestApp({ database });
      const emails = Array.from({ length: ACCOUNTS }, (_, i) => `bouncer${i}@ualberta.ca`);

      const registered = await Promise.all(
        emails.map((email, i) =>
          app.call("POST", "/api/auth/register", { body: { email, username: `bouncer_${i}`, password: PASSWORD, firstName: "Pat" } }),
        ),
      );
      expect(registered.map((res) => res.status)).toEqual(emails.map(() => 201));
      expect(await directCounts(direct.url)).toEqual({ users: ACCOUNTS, verified: 0, pending: ACCOUNTS, sent: 0 });

      // Two delivery rounds at once (as two instances would), until nothing is due.
      while ((await app.outbox.deliverDue()) + (await app.outbox.deliverDue()) > 0);
      expect(app.mail.sent.map((message) => message.to).sort()).toEqual([...emails].sort());
      expect(await directCounts(direct.url)).toEqual({ users: ACCOUNTS, verified: 0, pending: 0, sent: ACCOUNTS });

      const verified = await Promise.all(
        emails.map((email) =>
          app.call("POST", "/api/auth/verify-email", { body: { token: app.mail.tokenFor(email), password: PASSWORD } }),
        ),
      );
      expect(verified.map((res) => res.status)).toEqual(emails.map(() => 200));
      expect((await directCounts(direct.url))?.verified).toBe(ACCOUNTS);

      const logins = await Promise.all(emails.map((email) => app.call("POST", "/api/auth/login", { body: { email, password: PASSWORD } })));
      expect(logins.map((res) => res.status)).toEqual(emails.map(() => 200));
      const me = await Promise.all(logins.map((res) => app.call("GET", "/api/auth/me", { token: res.json.token })));
      expect(me.map((res) => res.json?.user?.emailVerified)).toEqual(emails.map(() => true));
      expect(app.logLines.filter((line) => /"level":"(error|fatal)"/.test(line))).toEqual([]);
      expect(bouncer.log()).not.toMatch(/prepared statement|ERROR/i);
    }, 120_000);
  });

  test("named prepared statements: used once PostgreSQL is known to be reached directly, never through PgBouncer", async () => {
    const pool = { size: 1, connectTimeoutMs: 5000, acquireTimeoutMs: 5000, statementTimeoutMs: 10_000 };
    const direct = await freshDatabaseConfig();
    expect(await namedStatementsAfterPing(await openTestDatabase(direct, { pool }))).toBeGreaterThan(0);
    const bouncer = await startPgBouncer("transaction", 1);
    const through = await openTestDatabase({ kind: "postgres", url: bouncer.through(direct.url) }, { pool });
    expect(await namedStatementsAfterPing(through)).toBe(0);
  }, 60_000);

  test("PgBouncer's pool exhausted (query_wait_timeout): 503 SERVICE_UNAVAILABLE with Retry-After, never a 500 or a crash", async () => {
    // One server connection for everyone, and PgBouncer gives up on a waiting client after 1 s.
    const bouncer = await startPgBouncer("session", 1, { query_wait_timeout: 1 });
    const direct = await freshDatabaseConfig();
    const pool = { size: 4, connectTimeoutMs: 5000, acquireTimeoutMs: 5000, statementTimeoutMs: 10_000 };
    const database = await openTestDatabase({ kind: "postgres", url: bouncer.through(direct.url) }, { pool });
    const app = await createTestApp({ database });
    const { email } = await app.registerUser();
    const token = await app.login(email);

    const answers = await Promise.all(Array.from({ length: 24 }, () => app.call("GET", "/api/auth/me", { token })));
    const statuses = answers.map((res) => res.status);
    expect(statuses.filter((status) => status !== 200 && status !== 503)).toEqual([]);
    const refused = answers.filter((res) => res.status === 503);
    expect(refused.length).toBeGreaterThan(0);
    for (const res of refused) {
      expect(res.json.error.code).toBe("SERVICE_UNAVAILABLE");
      expect(res.headers.get("retry-after")).toBeTruthy();
    }
    expect(bouncer.log()).toContain("query_wait_timeout");
    expect(app.logLines.filter((line) => /"level":"(error|fatal)"/.test(line))).toEqual([]);
    // Once the crowd has gone, the same connection pool serves again.
    expect((await app.call("GET", "/api/auth/me", { token })).status).toBe(200);
    // Stopped here, not in a hook: connections still queued in PgBouncer would make closing slow.
    await bouncer.stop();
  }, 60_000);
}
