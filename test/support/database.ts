import { afterAll } from "bun:test";
import postgres from "postgres";
import type { DatabaseConfig } from "../../src/config/config";
import { type Database, type OpenOptions, openDatabase } from "../../src/db/database";
import { applyMigrations } from "../../src/db/migrate";

/** `TEST_DATABASE=postgres bun test` runs the suite on PostgreSQL; SQLite (in memory) otherwise. */
export const TEST_DIALECT: DatabaseConfig["kind"] = process.env.TEST_DATABASE === "postgres" ? "postgres" : "sqlite";
const ADMIN_URL = process.env.TEST_POSTGRES_URL ?? "postgres://root@127.0.0.1:5432/test";

async function admin<T>(work: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
  try {
    return await work(sql);
  } finally {
    await sql.end();
  }
}

/** Databases opened through openTestDatabase, per URL: closed before their database is dropped. */
const openByUrl = new Map<string, Database[]>();

/**
 * A fresh, empty database of the configured dialect. PostgreSQL: a new database, dropped when the
 * calling test file (or test) ends, after the connections opened by openTestDatabase are closed.
 */
export async function freshDatabaseConfig(options: { icuLocale?: string } = {}): Promise<DatabaseConfig> {
  if (TEST_DIALECT === "sqlite") return { kind: "sqlite", url: "file::memory:", path: ":memory:" };
  const name = `cmf_test_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  // A collation other than the test server's (C.UTF-8 here): production databases are often created with one.
  const collation = options.icuLocale ? ` TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE '${options.icuLocale}'` : "";
  await admin((sql) => sql.unsafe(`CREATE DATABASE ${name}${collation}`));
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  const config = { kind: "postgres" as const, url: url.toString() };
  openByUrl.set(config.url, []);
  afterAll(async () => {
    for (const database of openByUrl.get(config.url) ?? []) await database.close();
    openByUrl.delete(config.url);
    await admin((sql) => sql.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  });
  return config;
}

/** Opens (and migrates) a database for a test; it is closed when the calling file or test ends. */
export async function openTestDatabase(config?: DatabaseConfig, options?: OpenOptions): Promise<Database> {
  const resolved = config ?? (await freshDatabaseConfig());
  const database = openDatabase(resolved, options);
  const tracked = resolved.kind === "postgres" ? openByUrl.get(resolved.url) : undefined;
  if (tracked) tracked.push(database);
  else afterAll(() => database.close());
  await applyMigrations(database);
  return database;
}
