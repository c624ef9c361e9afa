import { constants, Database as SqliteClient } from "bun:sqlite";
import { existsSync } from "node:fs";
import { sql } from "drizzle-orm";
import type { DatabaseConfig } from "../config/config";
import { openDatabase } from "./database";
import { knownMigrationTags, type MigrationStatus, statusOf } from "./migrate";

export interface Inspection {
  /** SQLite: false when the file does not exist yet (the first `migrate` creates it). */
  exists: boolean;
  status: MigrationStatus;
}

/**
 * Reads the migration status without creating or changing anything: no database file, no
 * `schema_migrations` table, no `-wal`/`-shm` files (which, made by root, would lock the service out).
 * For `check` and `migrate status`. Throws when the database cannot be opened or reached.
 */
export async function inspectDatabase(config: DatabaseConfig): Promise<Inspection> {
  const known = knownMigrationTags(config.kind);
  if (config.kind === "sqlite") {
    if (config.path === ":memory:") return { exists: false, status: statusOf([], known) };
    if (!existsSync(config.path)) return { exists: false, status: statusOf([], known) };
    return { exists: true, status: statusOf(readSqliteTags(config.path), known) };
  }
  const database = openDatabase(config);
  try {
    const [table] = await database.db.execute<{ name: string | null }>(sql`SELECT to_regclass('schema_migrations')::text AS name`);
    if (!table?.name) return { exists: true, status: statusOf([], known) };
    const rows = await database.db.execute<{ tag: string }>(sql`SELECT tag FROM schema_migrations ORDER BY tag`);
    return {
      exists: true,
      status: statusOf(
        rows.map((row) => String(row.tag)),
        known,
      ),
    };
  } finally {
    await database.close();
  }
}

/**
 * A read-only connection that leaves no file behind. A database in use has its -wal file: read through
 * it. Otherwise everything is in the main file, and `immutable` reads it without creating the -wal/-shm
 * files a read-only WAL reader would leave.
 */
export function openSqliteReadOnly(path: string): SqliteClient {
  const inUse = existsSync(`${path}-wal`);
  const uri = `file:${encodeURI(path).replace(/\?/g, "%3F").replace(/#/g, "%23")}${inUse ? "" : "?immutable=1"}`;
  return new SqliteClient(uri, constants.SQLITE_OPEN_READONLY | constants.SQLITE_OPEN_URI);
}

function readSqliteTags(path: string): string[] {
  const client = openSqliteReadOnly(path);
  try {
    const table = client.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get();
    if (!table) return [];
    return (client.query("SELECT tag FROM schema_migrations ORDER BY tag").all() as { tag: string }[]).map((row) => String(row.tag));
  } finally {
    client.close();
  }
}
