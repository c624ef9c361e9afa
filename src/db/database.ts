import { Database as SqliteClient } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { drizzle as drizzleSqlite } from "drizzle-orm/bun-sqlite";
import type { Logger as DrizzleLogger } from "drizzle-orm/logger";
import { drizzle as drizzlePostgres, type PostgresJsDatabase } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import type { DatabaseConfig } from "../config/config";
import * as postgresTables from "./schema.postgres";
import * as sqliteTables from "./schema.sqlite";

export type Tables = typeof postgresTables;
/**
 * The query builder all behaviour is written against. Both dialects share table and column names, so
 * the SQLite tables and database are used through the PostgreSQL types; drizzle renders each query in
 * the dialect of the database it runs on.
 */
export type Db = PostgresJsDatabase<Tables>;
export type Queryable = Pick<Db, "select" | "insert" | "update" | "delete">;

/** Runs raw SQL inside the migration transaction and returns the rows. */
export type RawExec = (statement: string) => Promise<Record<string, unknown>[]>;

export interface Database {
  kind: DatabaseConfig["kind"];
  db: Db;
  tables: Tables;
  /** Every write that must not be half-done goes through here. */
  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T>;
  /** One transaction, exclusive among all processes on this database, for schema changes. */
  withMigrationLock<T>(work: (exec: RawExec) => Promise<T>): Promise<T>;
  /** Resolves when the database answers a trivial query. */
  ping(): Promise<void>;
  /** SQLite only: copy the database file to `path` (VACUUM INTO). */
  backupTo?(path: string): void;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** Receives each SQL statement (parameters are never passed on). */
  onQuery?: (statement: string) => void;
}

export function openDatabase(config: DatabaseConfig, options: OpenOptions = {}): Database {
  const logger: DrizzleLogger | undefined = options.onQuery && {
    logQuery: (query) => options.onQuery?.(query),
  };
  return config.kind === "sqlite" ? openSqlite(config.path, logger) : openPostgres(config.url, logger);
}

/** Serialises async work: SQLite has one connection, so transactions must not interleave on it. */
class Mutex {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(work: () => Promise<T>): Promise<T> {
    const result = this.tail.then(work);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

function openSqlite(path: string, logger: DrizzleLogger | undefined): Database {
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
  const client = new SqliteClient(path, { create: true, strict: true });
  client.run("PRAGMA journal_mode = WAL");
  client.run("PRAGMA busy_timeout = 5000");
  client.run("PRAGMA foreign_keys = ON");
  const db = drizzleSqlite({ client, schema: sqliteTables, logger }) as unknown as Db;
  const mutex = new Mutex();
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
    withMigrationLock: (work) => inTransaction(() => work(async (statement) => client.query(statement).all() as Record<string, unknown>[])),
    ping: async () => {
      client.query("SELECT 1").get();
    },
    backupTo: (target) => {
      mkdirSync(dirname(target), { recursive: true });
      client.query("VACUUM INTO ?").run(target);
    },
    close: async () => client.close(),
  };
}

function openPostgres(url: string, logger: DrizzleLogger | undefined): Database {
  const client = postgres(url, {
    max: 10,
    connect_timeout: 5,
    idle_timeout: 60,
    onnotice: () => {},
  });
  const db = drizzlePostgres({ client, schema: postgresTables, logger });
  return {
    kind: "postgres",
    db,
    tables: postgresTables,
    transaction: (work) => db.transaction((tx) => work(tx)),
    withMigrationLock: <T>(work: (exec: RawExec) => Promise<T>) =>
      client.begin(async (tx) => {
        // Two instances starting at once: the second waits here and then finds nothing pending.
        await tx.unsafe("SELECT pg_advisory_xact_lock(740213)");
        return work(async (statement) => (await tx.unsafe(statement)) as unknown as Record<string, unknown>[]);
      }) as Promise<T>,
    ping: async () => {
      await client`SELECT 1`;
    },
    close: () => client.end({ timeout: 5 }),
  };
}

/** True when `error` (or what it wraps) is a unique-constraint violation, in either dialect. */
export function isUniqueViolation(error: unknown): boolean {
  for (let current = error; current instanceof Error; current = current.cause) {
    const code = (current as { code?: unknown }).code;
    if (code === "23505" || code === "SQLITE_CONSTRAINT_UNIQUE" || code === "SQLITE_CONSTRAINT_PRIMARYKEY") return true;
  }
  return false;
}
