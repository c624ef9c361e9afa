import { describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import type { Db } from "../../src/db/database";
import { openTestDatabase, TEST_DIALECT } from "../support/database";

// PostgreSQL only: SQLite runs one transaction at a time, so it has no deadlock to break.
if (TEST_DIALECT === "postgres") {
  describe("transactions PostgreSQL aborts to break a conflict", () => {
    test("two transactions that deadlock (40P01) both succeed: the one PostgreSQL aborted runs again", async () => {
      const database = await openTestDatabase();
      await database.db.execute(sql`CREATE TABLE deadlock_probe (id integer PRIMARY KEY, n integer NOT NULL)`);
      await database.db.execute(sql`INSERT INTO deadlock_probe VALUES (1, 0), (2, 0)`);
      let runs = 0;
      // Each locks one row, waits until the other has locked its own, then asks for the other's.
      let locked = 0;
      const bothLocked = async () => {
        locked++;
        while (locked < 2) await Bun.sleep(5);
      };
      const crosswise = (first: number, second: number) =>
        database.transaction(async (tx) => {
          runs++;
          const db = tx as unknown as Db;
          await db.execute(sql`UPDATE deadlock_probe SET n = n + 1 WHERE id = ${first}`);
          await bothLocked();
          await db.execute(sql`UPDATE deadlock_probe SET n = n + 1 WHERE id = ${second}`);
        });
      await Promise.all([crosswise(1, 2), crosswise(2, 1)]);
      expect(runs).toBe(3); // one of the two ran twice
      expect([...(await database.db.execute(sql`SELECT id, n FROM deadlock_probe ORDER BY id`))]).toEqual([
        { id: 1, n: 2 },
        { id: 2, n: 2 },
      ]);
    });

    test("a transaction that fails otherwise runs once", async () => {
      const database = await openTestDatabase();
      let runs = 0;
      const failing = database.transaction(async (tx) => {
        runs++;
        await (tx as unknown as Db).execute(sql`SELECT 1 / 0`);
      });
      await expect(failing).rejects.toThrow();
      expect(runs).toBe(1);
    });
  });
}
