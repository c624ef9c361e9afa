import type { Logger } from "pino";

/**
 * The database cannot be used right now (down, hanging, pool exhausted, not ready yet at start): the
 * request did nothing and may be retried. The HTTP layer answers 503 SERVICE_UNAVAILABLE.
 */
export class DatabaseUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "DatabaseUnavailableError";
  }
}

// postgres.js's own connection errors, Node/Bun socket errors (EMFILE: out of file descriptors),
// PostgreSQL's class 08 (connection exception), shutdown/start-up (57P01–57P03), a full disk (53100),
// too many connections (53300), and SQLite's busy database, full disk and I/O errors (SQLITE_IOERR_*).
const UNAVAILABLE_CODES = new Set([
  "CONNECTION_CLOSED",
  "CONNECTION_DESTROYED",
  "CONNECTION_ENDED",
  "CONNECT_TIMEOUT",
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EPIPE",
  "EMFILE",
  "ENFILE",
  "ConnectionRefused",
  "ConnectionClosed",
  "57P01",
  "57P02",
  "57P03",
  "53100",
  "53300",
  "SQLITE_BUSY",
  "SQLITE_FULL",
  "SQLITE_IOERR",
]);

/** The error itself, what it wraps (`cause`, drizzle's query errors) and the members of an AggregateError. */
function* errorChain(error: unknown, depth = 0): Generator<unknown> {
  if (depth > 8 || error === null || error === undefined) return;
  yield error;
  if (error instanceof AggregateError) for (const inner of error.errors) yield* errorChain(inner, depth + 1);
  if (error instanceof Error && error.cause !== undefined) yield* errorChain(error.cause, depth + 1);
}

/** True when `error` means "the database is not reachable or not answering", not a fault of the request. */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (const current of errorChain(error)) {
    if (current instanceof DatabaseUnavailableError) return true;
    const code = (current as { code?: unknown } | null)?.code;
    if (typeof code === "string" && (UNAVAILABLE_CODES.has(code) || code.startsWith("08") || code.startsWith("SQLITE_IOERR_"))) return true;
  }
  return false;
}

/** SQLite could not write for want of space or a working disk: writes fail, reads may still work. */
export function isDiskFailure(error: unknown): boolean {
  for (const current of errorChain(error)) {
    const code = (current as { code?: unknown } | null)?.code;
    if (typeof code === "string" && (code === "SQLITE_FULL" || code.startsWith("SQLITE_IOERR"))) return true;
  }
  return false;
}

/**
 * A warning about an unavailable database, once per burst: the first names the cause; the next ones
 * with the same cause (the innermost error, whichever statement met it) are only counted until `quietMs`
 * pass without one, and the first line after that says how many went unlogged. (A full disk answered
 * thousands of requests in seconds; the outbox polls every second.)
 */
export function unavailableLog(logger: Pick<Logger, "warn">, message: string, quietMs = 10_000) {
  let cause = "";
  let last = Number.NEGATIVE_INFINITY;
  let unlogged = 0;
  return (error: unknown, fields: Record<string, unknown> = {}) => {
    const now = performance.now();
    const innermost = [...errorChain(error)].at(-1);
    const current =
      innermost instanceof Error ? `${innermost.name}:${(innermost as { code?: unknown }).code}:${innermost.message}` : String(innermost);
    if (current === cause && now - last < quietMs) {
      unlogged++;
      last = now;
      return;
    }
    const reason = describeError(error);
    logger.warn({ ...fields, reason, ...(unlogged > 0 ? { unloggedBefore: unlogged } : {}) }, message);
    cause = current;
    last = now;
    unlogged = 0;
  };
}

/**
 * One line that always says why: an AggregateError (Bun tried ::1 and 127.0.0.1 for `localhost`) has an
 * empty message of its own, and some driver errors carry only a code.
 */
export function describeError(error: unknown): string {
  const parts: string[] = [];
  for (const current of errorChain(error)) {
    if (!(current instanceof Error)) {
      if (typeof current === "string" && current) parts.push(current);
      continue;
    }
    const code = (current as { code?: unknown }).code;
    const text = current.message || (typeof code === "string" ? code : "");
    // drizzle's "Failed query: … params: …" names the SQL; the values never leave this function.
    const line = text
      .replace(/\nparams: [\s\S]*$/, "")
      .replace(/\s+/g, " ")
      .trim();
    if (line && !parts.some((part) => part.includes(line))) parts.push(line);
  }
  return parts.join(": ") || (error instanceof Error ? error.name : String(error)) || "unknown error";
}
