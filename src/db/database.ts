import type { Logger as DrizzleLogger } from "drizzle-orm/logger";
import type { PostgresJsDatabase } from "drizzle-orm/postgres-js";
import type { DatabaseConfig, DatabasePool } from "../config/config";
import type * as postgresTables from "./schema.postgres";

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
  /**
   * One statement, atomic on its own: PostgreSQL runs it as it is (one round trip, where a transaction
   * costs three); SQLite runs it between transactions on its single connection.
   */
  statement<T>(work: (db: Queryable) => Promise<T>): Promise<T>;
  /**
   * One statement of bookkeeping that a power failure may take back without harm (rate-limit counters:
   * losing the last second of counts is a window that restarted). SQLite commits it without waiting for
   * the disk — the next durable commit or checkpoint writes it, and a crash of the process alone loses
   * nothing. PostgreSQL runs it as `statement`; the rate limiter's statements relax their own commit
   * (synchronous_commit off for that transaction). A login's two counter writes wait for no disk.
   */
  bookkeeping<T>(work: (db: Queryable) => Promise<T>): Promise<T>;
  /** One transaction, exclusive among all processes on this database, for schema changes. */
  withMigrationLock<T>(work: (exec: RawExec) => Promise<T>): Promise<T>;
  /** Resolves when the database answers a trivial query. */
  ping(): Promise<void>;
  /** SQLite only: copy the database file to `path` (VACUUM INTO). */
  backupTo?(path: string): void;
  close(): Promise<void>;
}

/** Told about every statement and transaction the driver runs (metrics: src/observability/database-metrics.ts). */
export interface QueryObserver {
  /** A statement was handed to the driver; the returned function is called once it has finished or failed. */
  query(statement: string, inTransaction: boolean): (error?: unknown) => void;
  /**
   * For a driver that runs each statement synchronously (SQLite): what records one execution of
   * `statement` that took `milliseconds`, resolved once per prepared statement so each execution costs
   * two clock reads and a bucket increment.
   */
  statementTimer(statement: string): (milliseconds: number, error?: unknown) => void;
  /** A transaction began (PostgreSQL); the returned function is called once it has committed or failed. */
  transaction(): (error?: unknown) => void;
  /** The most connections the pool holds (PostgreSQL). */
  poolSize?(connections: number): void;
  /** Reads how much work waits in line before it reaches the driver (PostgreSQL's bounded admission). */
  admissionQueue?(read: () => number): void;
}

export interface OpenOptions {
  /** Receives each SQL statement (parameters are never passed on). */
  onQuery?: (statement: string) => void;
  observer?: QueryObserver;
  /** PostgreSQL: pool size and timeouts (DATABASE_POOL_SIZE …); the defaults otherwise. */
  pool?: DatabasePool;
}

export function openDatabase(config: DatabaseConfig, options: OpenOptions = {}): Database {
  const logger: DrizzleLogger | undefined = options.onQuery && {
    logQuery: (query) => options.onQuery?.(query),
  };
  // Only the driver in use is loaded: the other one's modules would only slow the start down.
  return config.kind === "sqlite"
    ? (require("./sqlite") as typeof import("./sqlite")).openSqlite(config.path, logger, options.observer)
    : (require("./postgres") as typeof import("./postgres")).openPostgres(config.url, logger, options.pool, options.observer);
}

/** True when `error` (or what it wraps) is a unique-constraint violation, in either dialect. */
export function isUniqueViolation(error: unknown): boolean {
  for (let current = error; current instanceof Error; current = current.cause) {
    const code = (current as { code?: unknown }).code;
    if (code === "23505" || code === "SQLITE_CONSTRAINT_UNIQUE" || code === "SQLITE_CONSTRAINT_PRIMARYKEY") return true;
  }
  return false;
}
