import { expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import type { BunSQLiteDatabase } from "drizzle-orm/bun-sqlite";
import type { Database } from "../../src/db/database";
import { DEFAULT_POOL } from "../../src/db/postgres";
import { RateLimiter } from "../../src/ratelimit/limiter";
import { createTestApp, PASSWORD } from "../support/app";
import { freshDatabaseConfig, openTestDatabase } from "../support/database";

const LIMIT = { max: 1_000_000, windowSeconds: 900 };

/** The next statement on the (one) connection commits durably: PostgreSQL synchronous_commit on, SQLite FULL. */
async function expectNextCommitDurable(database: Database) {
  const setting =
    database.kind === "postgres"
      ? (await database.db.execute<{ synchronous_commit: string }>(sql`SHOW synchronous_commit`))[0]?.synchronous_commit
      : (database.db as unknown as BunSQLiteDatabase).all<{ synchronous: number }>(sql`PRAGMA synchronous`)[0]?.synchronous;
  expect(setting).toBe(database.kind === "postgres" ? "on" : 2);
}

// Found by the bench (PostgreSQL, 50 connections from one address): the counting of one login (its
// client row, then its account row) and the forgiving of another (both rows in one UPDATE, locked in
// whatever order the scan met them) took the same two row locks in opposite orders, and PostgreSQL
// broke the deadlock by failing one statement: a 500. Every counter write now locks one row at a time,
// or two in the one order all of them use (by stored key, in byte order).
test("logins counting and forgiving the same address and accounts at once never deadlock, whatever order the keys are given in", async () => {
  // PostgreSQL: a database whose collation sorts "login:Dean…" after "login:client…", where byte order
  // puts it before: forgiving locked rows in the database's order once, and deadlocked there.
  const database = await openTestDatabase(await freshDatabaseConfig({ icuLocale: "en-US" }));
  const limiter = new RateLimiter(database, (key) => key);
  const failures: unknown[] = [];
  // Several accounts, so that some account's key sorts before the address's and some after it, in
  // byte order and in the database's.
  const accounts = Array.from({ length: 6 }, (_, index) => `login:${index % 2 ? "account" : "Dean"}:user${index}@ualberta.ca`);
  const client = "login:client:203.0.113.7";
  const now = new Date();
  const count = (...keys: string[]) =>
    limiter.hitEach(
      keys.map((key) => ({ key, limit: LIMIT })),
      now,
    );
  for (let round = 0; round < 25; round++) {
    const writes = accounts.flatMap((account) => [count(client, account), count(account, client), limiter.forgive(account, client)]);
    await Promise.all(writes.map((write) => write.catch((error) => failures.push(error))));
  }
  expect(
    failures.map((error) => (error instanceof Error ? ((error.cause as Error | undefined)?.message ?? error.message) : String(error))),
  ).toEqual([]);
});

// PostgreSQL: a counter write commits without waiting for the WAL flush, a setting made inside its own
// statement for its own transaction. Had it stayed on the connection, the next statement on it (a
// registration) would be acknowledged before it reached the disk. SQLite: its pragma is back to FULL.
test("counter writes leave the connection's next commits durable", async () => {
  const database = await openTestDatabase(undefined, { pool: { ...DEFAULT_POOL, size: 1 } });
  const limiter = new RateLimiter(database, (key) => key);
  await limiter.hitEach(
    [
      { key: "login:client:203.0.113.7", limit: LIMIT },
      { key: "login:account:a@ualberta.ca", limit: LIMIT },
    ],
    new Date(),
  );
  await limiter.forgive("login:account:a@ualberta.ca", "login:client:203.0.113.7");
  await limiter.reset("login:account:a@ualberta.ca");
  // The next statement on the pool's one connection.
  await expectNextCommitDurable(database);
});

// On PostgreSQL a login counts its attempt and looks up its user in one statement (the counting upsert as
// a data-modifying CTE): the same row locks in the same order, the same relaxed commit, as hitEach's.
test("right and wrong passwords from one address at once: each answered as it should, only the wrong ones counted, the connection's next commits durable", async () => {
  const database = await openTestDatabase(await freshDatabaseConfig({ icuLocale: "en-US" }), { pool: { ...DEFAULT_POOL, size: 1 } });
  const { registerUser, call } = await createTestApp({ database });
  const accounts = await Promise.all(Array.from({ length: 4 }, () => registerUser()));
  const attempt = (email: string, password: string) => call("POST", "/api/auth/login", { body: { email, password } });
  // Two accounts are guessed at (one wrong password each), two log in (three times each), all at once.
  const [guessed, owned] = [accounts.slice(0, 2), accounts.slice(2)];
  const answers = await Promise.all([
    ...guessed.map(({ email }) => attempt(email, "Wrong-Pass-1")),
    ...owned.flatMap(({ email }) => [attempt(email, PASSWORD), attempt(email, PASSWORD), attempt(email, PASSWORD)]),
  ]);
  expect(answers.map((answer) => answer.status)).toEqual([401, 401, 200, 200, 200, 200, 200, 200]);
  // A guessed account has one failure counted, an owned one none: the limit (5) is reached after four
  // more failures, or five, and the attempt after them is refused even with the right password.
  for (const [index, { email }] of accounts.entries()) {
    const more = index < guessed.length ? 4 : 5;
    for (let failure = 0; failure < more; failure++) expect((await attempt(email, "Wrong-Pass-1")).status).toBe(401);
    expect((await attempt(email, PASSWORD)).status).toBe(429);
  }
  await expectNextCommitDurable(database);
});
