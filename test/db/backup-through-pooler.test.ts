import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { backupCommand } from "../../src/cli/backup";
import { parseConfig } from "../../src/config/config";
import { freshDatabaseConfig, TEST_DIALECT } from "../support/database";
import { startPgBouncer } from "../support/pgbouncer";

// PostgreSQL only: the pooler is PgBouncer in front of it.
if (TEST_DIALECT === "postgres") {
  describe("backup through PgBouncer in transaction mode", () => {
    const dir = mkdtempSync(join(tmpdir(), "cmf-backup-pooler-"));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    test("pg_dump's session settings never reach the pool: the service's next query on it still finds its tables", async () => {
      const database = await freshDatabaseConfig();
      const setup = postgres(database.url, { max: 1, onnotice: () => {} });
      await setup`CREATE TABLE users (id int)`;
      await setup.end();
      // One server connection: whatever pg_dump leaves on it, the next client gets.
      const bouncer = await startPgBouncer("transaction", 1);
      const url = bouncer.through(database.url);
      const config = parseConfig({ NODE_ENV: "test", DATABASE_URL: url });
      const target = join(dir, "backup.dump");
      expect(await backupCommand(config, target)).toBe(0);
      expect(statSync(target).size).toBeGreaterThan(0);

      const client = postgres(url, { max: 1, prepare: false, onnotice: () => {} });
      try {
        const [row] = await client<{ search_path: string }[]>`SHOW search_path`;
        expect(row?.search_path).toBe('"$user", public');
        expect(await client`SELECT count(*) FROM users`).toHaveLength(1);
      } finally {
        await client.end();
        await bouncer.stop();
      }
    });
  });
}
