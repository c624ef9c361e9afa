import { Database as SqliteClient } from "bun:sqlite";
import { mkdirSync, statfsSync } from "node:fs";
import { dirname } from "node:path";
import { drizzle } from "drizzle-orm/bun-sqlite";
import type { Logger as DrizzleLogger } from "drizzle-orm/logger";
import { observeSqlite } from "../observability/driver-hooks";
import type { Database, Db, QueryObserver, Tables } from "./database";
import { DatabaseUnavailableError, describeError, isDiskFailure } from "./errors";
import * as sqliteTables from "./schema.sqlite";

/** Free space below this on the database's file system counts as a disk that is still full. */
const FREE_SPACE_FLOOR_BYTES = 1024 * 1024;

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
  const totalChanges = client.prepare<{ n: number }, []>("SELECT total_changes() AS n");
  /**
   * The last write failed for want of disk (SQLITE_FULL, an I/O error) and none has succeeded since:
   * `ping` (so /health) fails too while the disk has no room, instead of saying 200 over failing writes.
   */
  let writesFailing: unknown = null;
  const watched = async <T>(work: () => Promise<T>): Promise<T> => {
    const before = writesFailing ? (totalChanges.get()?.n ?? 0) : 0;
    try {
      const result = await work();
      if (writesFailing && (totalChanges.get()?.n ?? 0) > before) writesFailing = null;
      return result;
    } catch (error) {
      if (isDiskFailure(error)) writesFailing = error;
      throw error;
    }
  };
  const freeBytes = () => {
    const stats = statfsSync(dirname(path));
    return stats.bavail * stats.bsize;
  };
  // drizzle's bun:sqlite transactions are synchronous; ours must span awaits, hence BEGIN/COMMIT by hand.
  const inTransaction = <T>(work: () => Promise<T>) =>
    mutex.run(() =>
      watched(async () => {
        client.run("BEGIN IMMEDIATE");
        try {
          const result = await work();
          client.run("COMMIT");
          return result;
        } catch (error) {
          // SQLite has already rolled back after some errors (SQLITE_FULL, SQLITE_IOERR): a ROLLBACK then
          // fails ("no transaction is active"), and its error used to replace the real one.
          if (client.inTransaction) client.run("ROLLBACK");
          throw error;
        }
      }),
    );
  return {
    kind: "sqlite",
    db,
    tables: sqliteTables as unknown as Tables,
    transaction: (work) => inTransaction(() => work(db)),
    statement: (work) => mutex.run(() => watched(() => work(db))),
    // WAL with synchronous=NORMAL: the commit is written to the log without an fsync; the next FULL
    // commit syncs the log, this commit's frames included. Between transactions only (the mutex).
    bookkeeping: (work) =>
      mutex.run(() =>
        watched(async () => {
          // Not prepared once: SQLite applies this pragma when it compiles the statement.
          client.run("PRAGMA synchronous = NORMAL");
          try {
            return await work(db);
          } finally {
            client.run("PRAGMA synchronous = FULL");
          }
        }),
      ),
    withMigrationLock: (work) => inTransaction(() => work(async (statement) => client.query(statement).all() as Record<string, unknown>[])),
    ping: async () => {
      if (writesFailing) {
        // Room again on the disk: writes are worth trying (one that fails sets this again).
        if (path !== ":memory:" && freeBytes() >= FREE_SPACE_FLOOR_BYTES) writesFailing = null;
        else throw new DatabaseUnavailableError(`writes fail: ${describeError(writesFailing)}`, { cause: writesFailing });
      }
      selectOne.get();
    },
    backupTo: (target) => {
      mkdirSync(dirname(target), { recursive: true });
      client.query("VACUUM INTO ?").run(target);
    },
    close: async () => client.close(),
  };
}
