import { describe, expect, test } from "bun:test";
import { openDatabase } from "../../src/db/database";
import { applyMigrations, migrationStatus } from "../../src/db/migrate";
import { freshDatabaseConfig } from "../support/database";

describe("migrations", () => {
  test("a fresh database has every migration pending; migrate applies them once; status is then clean", async () => {
    const database = openDatabase(await freshDatabaseConfig());
    try {
      const before = await migrationStatus(database);
      expect(before.applied).toEqual([]);
      expect(before.pending.length).toBeGreaterThan(0);
      expect(await applyMigrations(database)).toEqual(before.pending);
      expect(await applyMigrations(database)).toEqual([]);
      const after = await migrationStatus(database);
      expect(after).toEqual({ applied: before.pending, pending: [], unknown: [] });
    } finally {
      await database.close();
    }
  });

  test("concurrent migrate runs apply each migration exactly once", async () => {
    const config = await freshDatabaseConfig();
    const databases =
      config.kind === "postgres" ? [openDatabase(config), openDatabase(config), openDatabase(config)] : [openDatabase(config)];
    try {
      const results = await Promise.all(databases.flatMap((db) => [applyMigrations(db), applyMigrations(db)]));
      const applied = results.flat();
      expect(new Set(applied).size).toBe(applied.length);
      expect((await migrationStatus(databases[0]!)).pending).toEqual([]);
    } finally {
      for (const db of databases) await db.close();
    }
  });

  test("migrations from a newer release are reported as unknown, not pending", async () => {
    const database = openDatabase(await freshDatabaseConfig());
    try {
      await applyMigrations(database);
      await database.withMigrationLock((exec) =>
        exec("INSERT INTO schema_migrations (tag, applied_at) VALUES ('9999_from_the_future', 0)"),
      );
      const status = await migrationStatus(database);
      expect(status.pending).toEqual([]);
      expect(status.unknown).toEqual(["9999_from_the_future"]);
    } finally {
      await database.close();
    }
  });
});
