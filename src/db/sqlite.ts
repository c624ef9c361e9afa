import { Database as SqliteClient } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { drizzle } from "drizzle-orm/bun-sqlite";
import type { Logger as DrizzleLogger } from "drizzle-orm/logger";
import { observeSqlite } from "../observability/driver-hooks";
import type { Database, Db, QueryObserver, Tables } from "./database";
import * as sqliteTables from "./schema.sqlite";

/** Serialises async work: SQLite has one connection, so transactions must not interleave on it. */
class Mutex {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(work: () => Promise<T>): Promise<T> {
    const result = this.tail.then(work);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

export function openSqlite(path: string, logger: DrizzleLogger | undefined, observer?: QueryObserver): Database {
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
  const client = new SqliteClient(path, { create: true, strict: true });
  // The wait first: switching a file to WAL needs its lock, which another process may hold for a moment
  // (two instances starting on a restored backup, a `backup` or `migrate` beside the service).
  client.run("PRAGMA busy_timeout = 5000");
  client.run("PRAGMA journal_mode = WAL");
  client.run("PRAGMA foreign_keys = ON");
  // Every commit reaches the disk before it is acknowledged (SQLite's default, stated): a registration
  // answered 201 survives a power failure. Only `bookkeeping` relaxes it, for one statement at a time.
  client.run("PRAGMA synchronous = FULL");
  // Freed pages (a delivered link, a replaced account) are overwritten with zeros, not left to be carved.
  client.run("PRAGMA secure_delete = ON");
  const db = drizzle({ client: observer ? observeSqlite(client, observer) : client, schema: sqliteTables, logger }) as unknown as Db;
  const mutex = new Mutex();
  const selectOne = client.prepare("SELECT 1");
  // drizzle's bun:sqlite transactions are synchronous; ours must span awaits, hence BEGIN/COMMIT by hand.
  const inTransaction = <T>(work: () => Promise<T>) =>
    mutex.run(async () => {
      client.run("BEGIN IMMEDIATE");
      try {
        const result = await work();
        client.run("COMMIT");
        return result;
      } catch (error) {
        client.run("ROLLBACK");
        throw error;
      }
    });
  return {
    kind: "sqlite",
    db,
    tables: sqliteTables as unknown as Tables,
    transaction: (work) => inTransaction(() => work(db)),
    statement: (work) => mutex.run(() => work(db)),
    // WAL with synchronous=NORMAL: the commit is written to the log without an fsync; the next FULL
    // commit syncs the log, this commit's frames included. Between transactions only (the mutex).
    bookkeeping: (work) =>
      mutex.run(async () => {
        // Not prepared once: SQLite applies this pragma when it compiles the statement.
        client.run("PRAGMA synchronous = NORMAL");
        try {
          return await work(db);
        } finally {
          client.run("PRAGMA synchronous = FULL");
        }
      }),
    withMigrationLock: (work) => inTransaction(() => work(async (statement) => client.query(statement).all() as Record<string, unknown>[])),
    ping: async () => {
      selectOne.get();
    },
    backupTo: (target) => {
      mkdirSync(dirname(target), { recursive: true });
      client.query("VACUUM INTO ?").run(target);
    },
    close: async () => client.close(),
  };
}
