import { expect, test } from "bun:test";
import { RateLimiter } from "../../src/ratelimit/limiter";
import { openTestDatabase } from "../support/database";

const LIMIT = { max: 1_000_000, windowSeconds: 900 };

// Found by the bench (PostgreSQL, 50 connections from one address): the counting of one login (its
// client row, then its account row) and the forgiving of another (both rows in one UPDATE, locked in
// whatever order the scan met them) took the same two row locks in opposite orders, and PostgreSQL
// broke the deadlock by failing one statement: a 500. Every counter write now locks one row at a time,
// or two in the one order all of them use (by stored key).
test("logins counting and forgiving the same address and accounts at once never deadlock, whatever order the keys are given in", async () => {
  const database = await openTestDatabase();
  const limiter = new RateLimiter(database, (key) => key);
  const failures: unknown[] = [];
  // Several accounts, so that some account's key sorts before the address's and some after it.
  const accounts = Array.from({ length: 6 }, (_, index) => `login:account:user${index}@ualberta.ca`);
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
