import { inArray, min, type SQL, sql } from "drizzle-orm";
import type { Logger } from "pino";
import type { Clock } from "../clock";
import type { Database } from "../db/database";
import { migrationStatus } from "../db/migrate";
import { WAITING } from "../mail/outbox";
import { type Sample, type ScrapedMetric, scraped } from "./metric-types";

const SAMPLE_EVERY_MS = 60_000;

interface Snapshot {
  pendingMigrations: number;
  tables: { table: string; rows: number; bytes: number | null }[];
}

/** Raw SQL in the dialect of the database (drizzle's executor differs between postgres-js and bun:sqlite). */
async function rows(database: Database, query: SQL): Promise<Record<string, unknown>[]> {
  if (database.kind === "postgres") return [...(await database.db.execute(query))] as Record<string, unknown>[];
  return (database.db as unknown as { all(query: SQL): Record<string, unknown>[] }).all(query);
}

/**
 * Cheap estimates, never a scan of a big table: PostgreSQL's statistics (live rows counted by the
 * statistics collector, relation sizes with indexes); on SQLite the span of rowids (rows inserted and
 * not yet cleaned up at either end) and no per-table bytes (that would read every page).
 */
async function tableSizes(database: Database): Promise<Snapshot["tables"]> {
  if (database.kind === "postgres") {
    const found = await rows(
      database,
      sql`SELECT relname AS name, n_live_tup AS rows, pg_total_relation_size(relid) AS bytes
          FROM pg_stat_user_tables WHERE schemaname = current_schema()`,
    );
    return found.map((row) => ({ table: String(row.name), rows: Number(row.rows), bytes: Number(row.bytes) }));
  }
  const names = await rows(database, sql`SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`);
  const tables: Snapshot["tables"] = [];
  for (const { name } of names) {
    const quoted = `"${String(name).replaceAll('"', '""')}"`;
    const [span] = await rows(database, sql.raw(`SELECT COALESCE(MAX(rowid) - MIN(rowid) + 1, 0) AS n FROM ${quoted}`));
    tables.push({ table: String(name), rows: Number(span?.n ?? 0), bytes: null });
  }
  return tables;
}

/**
 * Pending migrations and table sizes, sampled at most once a minute (at scrape time: no timer to
 * stop), so a scrape every few seconds costs the database nothing; and the oldest undelivered email.
 */
export function databaseStats(database: Database, clock: Clock, logger: Logger): ScrapedMetric[] {
  let snapshot: Snapshot | null = null;
  let sampledAt = Number.NEGATIVE_INFINITY;
  let sampling: Promise<void> | null = null;

  const sample = async () => {
    const [status, tables] = await Promise.all([migrationStatus(database), tableSizes(database)]);
    snapshot = { pendingMigrations: status.pending.length, tables };
  };
  /** The latest snapshot; refreshed when older than a minute. A failed sample leaves the metrics absent until one succeeds. */
  const current = async () => {
    if (Date.now() - sampledAt >= SAMPLE_EVERY_MS) {
      sampledAt = Date.now();
      sampling ??= sample()
        .catch((err: unknown) => {
          snapshot = null;
          logger.warn({ err }, "database statistics for /metrics could not be read");
        })
        .finally(() => {
          sampling = null;
        });
    }
    if (sampling && !snapshot) await sampling;
    return snapshot;
  };

  const from = (pick: (s: Snapshot) => Sample[]) => async () => {
    const s = await current();
    return s ? pick(s) : [];
  };
  return [
    scraped(
      "db_migrations_pending",
      "Migrations this release ships that the database lacks",
      "gauge",
      from((s) => [{ labels: {}, value: s.pendingMigrations }]),
    ),
    scraped(
      "db_table_rows",
      "Rows per table (estimate, sampled each minute)",
      "gauge",
      from((s) => s.tables.map(({ table, rows }) => ({ labels: { table }, value: rows }))),
    ),
    scraped(
      "db_table_size_bytes",
      "Size per table with its indexes (PostgreSQL; sampled each minute)",
      "gauge",
      from((s) => s.tables.flatMap(({ table, bytes }) => (bytes === null ? [] : [{ labels: { table }, value: bytes }]))),
    ),
    // Read at every scrape (an index lookup among the few pending rows): a minute's staleness would blur the 5-minute target.
    scraped("email_outbox_oldest_pending_seconds", "Age of the oldest email not yet delivered, 0 when none waits", "gauge", async () => {
      const { emailOutbox } = database.tables;
      const [oldest] = await database.db
        .select({ at: min(emailOutbox.createdAt) })
        .from(emailOutbox)
        .where(inArray(emailOutbox.status, [...WAITING]))
        .catch(() => []);
      if (!oldest) return [];
      const at = oldest.at;
      return [{ labels: {}, value: at ? Math.max(0, (clock.now().getTime() - new Date(at).getTime()) / 1000) : 0 }];
    }),
  ];
}
