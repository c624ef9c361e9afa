import type { Database, RawExec } from "./database";
import { readMigrationFiles } from "./embedded-migrations" with { type: "macro" };
import type { MigrationFile } from "./embedded-migrations";

const MIGRATIONS: Record<Database["kind"], MigrationFile[]> = {
  sqlite: readMigrationFiles("sqlite"),
  postgres: readMigrationFiles("postgres"),
};

const CREATE_TABLE = "CREATE TABLE IF NOT EXISTS schema_migrations (tag text PRIMARY KEY, applied_at bigint NOT NULL)";

export interface MigrationStatus {
  applied: string[];
  pending: string[];
  /** Applied by a newer release than this one (accepted: that is what a rollback looks like). */
  unknown: string[];
}

async function readStatus(exec: RawExec, known: MigrationFile[]): Promise<MigrationStatus> {
  await exec(CREATE_TABLE);
  const rows = await exec("SELECT tag FROM schema_migrations ORDER BY tag");
  return statusOf(
    rows.map((row) => String(row.tag)),
    known.map((migration) => migration.tag),
  );
}

/** The tags of the migrations this binary ships for a dialect, in order. */
export const knownMigrationTags = (kind: Database["kind"]): string[] => MIGRATIONS[kind].map((migration) => migration.tag);

/** Compares the tags recorded in a database with the ones this binary knows. */
export function statusOf(applied: string[], knownTags: string[]): MigrationStatus {
  return {
    applied,
    pending: knownTags.filter((tag) => !applied.includes(tag)),
    unknown: applied.filter((tag) => !knownTags.includes(tag)),
  };
}

export function migrationStatus(database: Database): Promise<MigrationStatus> {
  return database.withMigrationLock((exec) => readStatus(exec, MIGRATIONS[database.kind]));
}

/**
 * Applies every pending migration in one transaction (all or nothing) and returns their tags.
 * Safe to run concurrently from several processes: they queue on the migration lock.
 */
export function applyMigrations(database: Database, now: () => Date = () => new Date()): Promise<string[]> {
  const known = MIGRATIONS[database.kind];
  return database.withMigrationLock(async (exec) => {
    const { pending } = await readStatus(exec, known);
    for (const migration of known.filter((m) => pending.includes(m.tag))) {
      for (const statement of migration.statements) await exec(statement);
      // Tags come from our own journal ([0-9a-z_]), never from input.
      await exec(`INSERT INTO schema_migrations (tag, applied_at) VALUES ('${migration.tag}', ${now().getTime()})`);
    }
    return pending;
  });
}
