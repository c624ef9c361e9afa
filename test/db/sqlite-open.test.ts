import { Database as SqliteClient } from "bun:sqlite";
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "drizzle-orm";
import { openSqlite } from "../../src/db/sqlite";

const dir = mkdtempSync(join(tmpdir(), "cmf-sqlite-open-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Found by the systemd sandbox: two instances started at once on a restored backup (a file not yet in
// WAL mode); the one that came second failed at once with "database is locked" and stayed down.
test("opening a file whose lock another process holds for a moment waits for it instead of failing", async () => {
  const path = join(dir, "restored.db");
  const seed = new SqliteClient(path, { create: true });
  seed.run("CREATE TABLE t (x INTEGER)");
  seed.close(); // a rollback-journal file, as VACUUM INTO writes a backup
  const holder = Bun.spawn(
    [
      process.execPath,
      "-e",
      `const { Database } = require("bun:sqlite"); const db = new Database(${JSON.stringify(path)});
       db.run("BEGIN EXCLUSIVE"); console.log("locked"); setTimeout(() => { db.run("COMMIT"); db.close(); }, 400);`,
    ],
    { stdout: "pipe" },
  );
  const reader = holder.stdout.getReader();
  expect(new TextDecoder().decode((await reader.read()).value)).toContain("locked");
  const database = openSqlite(path, undefined);
  try {
    await database.ping();
  } finally {
    await database.close();
    await holder.exited;
  }
});

// Rate-limit counters are written without an fsync (two per login, most of a login's CPU outside the
// hash on this host); everything else must still reach the disk before it is acknowledged.
test("bookkeeping statements commit without waiting for the disk; every other statement and transaction stays durable", async () => {
  const database = openSqlite(join(dir, "durability.db"), undefined);
  // drizzle's bun:sqlite driver answers `get` with the row's values.
  const synchronous = async (db: unknown) => (await (db as { get: (query: unknown) => Promise<number[]> }).get(sql`PRAGMA synchronous`))[0];
  const FULL = 2;
  const NORMAL = 1;
  try {
    expect(await database.statement(synchronous)).toBe(FULL);
    expect(await database.bookkeeping(synchronous)).toBe(NORMAL);
    expect(await database.statement(synchronous)).toBe(FULL);
    await expect(
      database.bookkeeping(async () => {
        throw new Error("constraint failed");
      }),
    ).rejects.toThrow("constraint failed");
    expect(await database.transaction(synchronous)).toBe(FULL);
    // Queued behind a bookkeeping statement, a transaction still commits durably.
    const [counted, durable] = await Promise.all([database.bookkeeping(synchronous), database.transaction(synchronous)]);
    expect([counted, durable]).toEqual([NORMAL, FULL]);
  } finally {
    await database.close();
  }
});
