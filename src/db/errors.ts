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

// postgres.js's own connection errors, Node/Bun socket errors, PostgreSQL's class 08 (connection
// exception), shutdown/start-up (57P01–57P03), too many connections (53300), and SQLite's busy database.
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
  "ConnectionRefused",
  "ConnectionClosed",
  "57P01",
  "57P02",
  "57P03",
  "53300",
  "SQLITE_BUSY",
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
    if (typeof code === "string" && (UNAVAILABLE_CODES.has(code) || code.startsWith("08"))) return true;
  }
  return false;
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
