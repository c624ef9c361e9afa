import { type SQL, sql } from "drizzle-orm";
import type { Database } from "./database";

/**
 * The database's own time, `offsetMs` from now, as a value of the timestamp columns (PostgreSQL's
 * timestamptz, SQLite's milliseconds). Leases, retry times and expiry compared in SQL against this
 * clock mean the same on every instance, whatever each host's clock says: a host whose clock was stepped
 * neither delays work by the step nor deletes what is still needed.
 */
export function databaseTime(kind: Database["kind"], offsetMs = 0): SQL {
  // An integer written into the statement: a bound parameter would leave PostgreSQL guessing its type.
  const ms = sql.raw(String(Math.trunc(offsetMs)));
  return kind === "postgres" ? sql`(now() + ${ms} * interval '1 millisecond')` : sql`(CAST(unixepoch('subsec') * 1000 AS INTEGER) + ${ms})`;
}
