import { readFileSync } from "node:fs";
import { join } from "node:path";

export interface MigrationFile {
  /** drizzle-kit's tag, e.g. `0000_initial_schema`: the migration's identity in `schema_migrations`. */
  tag: string;
  statements: string[];
}

/**
 * Reads drizzle-kit's output for one dialect. Imported `with { type: "macro" }`, so it runs when the
 * code is transpiled or bundled and the SQL ends up inside the compiled binary: no files needed at run time.
 */
export function readMigrationFiles(dialect: "sqlite" | "postgres"): MigrationFile[] {
  const folder = join(import.meta.dir, "..", "..", "drizzle", dialect);
  const journal = JSON.parse(readFileSync(join(folder, "meta", "_journal.json"), "utf8")) as {
    entries: { tag: string }[];
  };
  return journal.entries.map(({ tag }) => ({
    tag,
    statements: readFileSync(join(folder, `${tag}.sql`), "utf8")
      .split("--> statement-breakpoint")
      .map((statement) => statement.trim())
      .filter(Boolean),
  }));
}
