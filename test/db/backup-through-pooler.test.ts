import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { backupCommand } from "../../src/cli/backup";
import { parseConfig } from "../../src/config/config";
import { freshDatabaseConfig, TEST_DIALECT } from "../support/database";
import { startPgBouncer } from "../support/pgbouncer";

const SERVER_CONNECTIONS = 3;

// PostgreSQL only: the pooler is PgBouncer in front of it.
if (TEST_DIALECT === "postgres") {
  describe("backup behind PgBouncer in transaction mode", () => {
    const dir = mkdtempSync(join(tmpdir(), "cmf-backup-pooler-"));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    test("pg_dump's session settings never reach the pool: every pooled connection still finds the service's tables", async () => {
      const database = await freshDatabaseConfig();
      const setup = postgres(database.url, { max: 1, onnotice: () => {} });
      await setup`CREATE TABLE users (id int)`;
      await setup.end();
      // Round robin over three open server connections: pg_dump's statements outside its transaction
      // (search_path = '' first) land on other connections than its transaction, as under traffic.
      const bouncer = await startPgBouncer("transaction", SERVER_CONNECTIONS, { server_round_robin: 1 });
      const url = bouncer.through(database.url);
      const service = postgres(url, { max: SERVER_CONNECTIONS, prepare: false, onnotice: () => {} });
      try {
        await Promise.all(Array.from({ length: SERVER_CONNECTIONS }, () => service`SELECT pg_sleep(0.05)`));
        const config = parseConfig({ NODE_ENV: "test", DATABASE_URL: url });
        const target = join(dir, "backup.dump");
        expect(await backupCommand(config, target)).toBe(0);
        expect(statSync(target).size).toBeGreaterThan(0);

        const paths = new Set<string>();
        for (let round = 0; round < 8; round++) {
          const rows = await Promise.all(
            Array.from({ length: SERVER_CONNECTIONS }, () => service<{ search_path: string }[]>`SHOW search_path`),
          );
          for (const [row] of rows) paths.add(row?.search_path ?? "");
        }
        expect([...paths]).toEqual(['"$user", public']);
        expect(await service`SELECT count(*) FROM users`).toHaveLength(1);
      } finally {
        await service.end();
        await bouncer.stop();
      }
    });
  });
}
