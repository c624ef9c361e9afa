import { expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import type { BunSQLiteDatabase } from "drizzle-orm/bun-sqlite";
import { DEFAULT_POOL } from "../../src/db/postgres";
import { RateLimiter } from "../../src/ratelimit/limiter";
import { freshDatabaseConfig, openTestDatabase } from "../support/database";

const LIMIT = { max: 1_000_000, windowSeconds: 900 };

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
  const setting =
    database.kind === "postgres"
      ? (await database.db.execute<{ synchronous_commit: string }>(sql`SHOW synchronous_commit`))[0]?.synchronous_commit
      : (database.db as unknown as BunSQLiteDatabase).all<{ synchronous: number }>(sql`PRAGMA synchronous`)[0]?.synchronous;
  expect(setting).toBe(database.kind === "postgres" ? "on" : 2);
});
