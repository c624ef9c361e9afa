import type { Logger } from "pino";
import type { QueryObserver } from "../db/database";
import { Counter, Histogram, type ScrapedMetric, scraped } from "./metric-types";

export const QUERY_OPERATIONS = ["select", "insert", "update", "delete", "transaction", "other"] as const;
/** `connection`: the database could not be reached or the connection broke; `timeout`: a statement or lock wait was cut off. */
export const DATABASE_ERROR_KINDS = ["connection", "timeout", "constraint", "other"] as const;
type ErrorKind = (typeof DATABASE_ERROR_KINDS)[number];

const QUERY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const CONNECTION_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENOTFOUND",
  "EPIPE",
  "CONNECT_TIMEOUT",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "SQLITE_CANTOPEN",
]);

export function operationOf(statement: string): (typeof QUERY_OPERATIONS)[number] {
  let verb = /^\s*\(?\s*([a-z]+)/i.exec(statement)?.[1]?.toLowerCase();
  if (verb === "with") verb = mainVerb(statement);
  return verb === "select" || verb === "insert" || verb === "update" || verb === "delete" ? verb : "other";
}

/** What a statement with a WITH clause does itself: the first verb outside the parentheses of its definitions. */
function mainVerb(statement: string): string | undefined {
  let depth = 0;
  for (const [token] of statement.matchAll(/[()]|\b(?:select|insert|update|delete)\b/gi)) {
    if (token === "(") depth++;
    else if (token === ")") depth--;
    else if (depth === 0) return token.toLowerCase();
  }
  return undefined;
}

/** Sorts a driver error (postgres.js, bun:sqlite, or a wrapper around one) into a kind an operator acts on. */
export function databaseErrorKind(error: unknown): ErrorKind {
  const seen: unknown[] = [];
  for (let current = error; current instanceof Error && !seen.includes(current); current = current.cause) {
    seen.push(current);
    const code = String((current as { code?: unknown }).code ?? "");
    if (CONNECTION_CODES.has(code) || /^(08|57P0[123]|53300)/.test(code)) return "connection";
    if (code === "57014" || code === "55P03" || code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED")) return "timeout";
    if (code.startsWith("23") || code.startsWith("SQLITE_CONSTRAINT")) return "constraint";
    // AggregateError: every address of a host name failed (e.g. ::1 and 127.0.0.1 for localhost).
    if (current instanceof AggregateError && current.errors.some((inner) => databaseErrorKind(inner) === "connection")) return "connection";
    if (/connection (terminated|closed|ended)/i.test(current.message)) return "connection";
  }
  return "other";
}

/**
 * The database's side of the metrics, fed by the driver hooks: statement and transaction durations by
 * operation, errors by kind, connections in use and waiting, and one warning line per slow statement
 * (its SQL text, never its parameters). Created before the database is opened, since it is handed to it.
 */
export function createDatabaseMetrics(options: { logger: Logger; slowQueryMs: number }) {
  const durations = new Histogram(
    "db_query_duration_seconds",
    "Database statements (and, on PostgreSQL, whole transactions) by operation, including the wait for a connection",
    QUERY_BUCKETS,
    ["operation"],
    QUERY_OPERATIONS.map((operation) => ({ operation })),
  );
  const errors = new Counter(
    "db_errors_total",
    "Failed database statements by kind: connection, timeout, constraint, other",
    ["kind"],
    DATABASE_ERROR_KINDS.map((kind) => ({ kind })),
  );
  let poolSize: number | null = null;
  /** Statements outside a transaction and transactions in progress: each holds (or waits for) a connection. */
  let holders = 0;
  /** Work held back before the driver (the pool's bounded admission, PostgreSQL). */
  let admissionQueue = () => 0;

  /** A statement's error that fails its transaction too is one failure, not two. */
  const counted = new WeakSet<object>();
  const countError = (error: unknown) => {
    if (typeof error === "object" && error !== null) {
      if (counted.has(error)) return;
      counted.add(error);
    }
    errors.inc({ kind: databaseErrorKind(error) });
  };

  const slowQuery = (operation: string, statement: string, milliseconds: number, error: unknown) =>
    options.logger.warn(
      { operation, durationMs: Math.round(milliseconds), sql: statement.slice(0, 1000), failed: error !== undefined },
      "slow query",
    );
  const finish = (operation: string, statement: string, started: number) => (error?: unknown) => {
    const milliseconds = performance.now() - started;
    durations.observe({ operation }, milliseconds / 1000);
    if (error !== undefined) countError(error);
    if (milliseconds >= options.slowQueryMs) slowQuery(operation, statement, milliseconds, error);
  };

  // The service's statements are a small fixed set: each is classified once, not at every execution.
  const operations = new Map<string, ReturnType<typeof operationOf>>();
  const operation = (statement: string) => {
    let known = operations.get(statement);
    if (known === undefined) {
      known = operationOf(statement);
      if (operations.size < 1000) operations.set(statement, known);
    }
    return known;
  };

  const observer: QueryObserver = {
    statementTimer(statement) {
      const label = operation(statement);
      const series = durations.seriesFor({ operation: label });
      return (milliseconds, error) => {
        durations.observeSeries(series, milliseconds / 1000);
        if (error !== undefined) countError(error);
        if (milliseconds >= options.slowQueryMs) slowQuery(label, statement, milliseconds, error);
      };
    },
    query(statement, inTransaction) {
      if (!inTransaction) holders++;
      const done = finish(operation(statement), statement, performance.now());
      return (error) => {
        if (!inTransaction) holders--;
        done(error);
      };
    },
    transaction() {
      holders++;
      const done = finish("transaction", "transaction", performance.now());
      return (error) => {
        holders--;
        done(error);
      };
    },
    poolSize(connections) {
      poolSize = connections;
    },
    admissionQueue(read) {
      admissionQueue = read;
    },
  };

  const pool = (name: string, help: string, value: (size: number) => number) =>
    scraped(name, help, "gauge", () => (poolSize === null ? [] : [{ labels: {}, value: value(poolSize) }]));
  const metrics: ScrapedMetric[] = [
    durations.toMetric(),
    errors.toMetric(),
    pool("db_pool_connections_in_use", "Pool connections busy with a statement or transaction (PostgreSQL)", (size) =>
      Math.min(holders, size),
    ),
    pool("db_pool_connections_max", "Connections the pool may open (DATABASE_POOL_SIZE; PostgreSQL)", (size) => size),
    pool(
      "db_pool_waiting",
      "Statements and transactions waiting for a pool connection (PostgreSQL)",
      (size) => Math.max(0, holders - size) + admissionQueue(),
    ),
  ];
  return { observer, metrics };
}

export type DatabaseMetrics = ReturnType<typeof createDatabaseMetrics>;
