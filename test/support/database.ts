import postgres from "postgres";
import type { DatabaseConfig } from "../../src/config/config";
import { type Database, openDatabase } from "../../src/db/database";
import { applyMigrations } from "../../src/db/migrate";

/** `TEST_DATABASE=postgres bun test` runs the suite on PostgreSQL; SQLite (in memory) otherwise. */
export const TEST_DIALECT: DatabaseConfig["kind"] = process.env.TEST_DATABASE === "postgres" ? "postgres" : "sqlite";
const ADMIN_URL = process.env.TEST_POSTGRES_URL ?? "postgres://root@127.0.0.1:5432/test";

const created: string[] = [];

/** A fresh, empty database of the configured dialect (PostgreSQL: a new database, dropped at exit). */
export async function freshDatabaseConfig(): Promise<DatabaseConfig> {
  if (TEST_DIALECT === "sqlite") return { kind: "sqlite", url: "file::memory:", path: ":memory:" };
  const name = `cmf_test_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  await admin.end();
  created.push(name);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return { kind: "postgres", url: url.toString() };
}

export async function freshDatabase(): Promise<Database> {
  const database = openDatabase(await freshDatabaseConfig());
  await applyMigrations(database);
  return database;
}

/** Drops the PostgreSQL databases this test file created (call from afterAll, after closing them). */
export async function dropCreatedDatabases(): Promise<void> {
  if (created.length === 0) return;
  const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
  for (const name of created.splice(0)) await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.end();
}
