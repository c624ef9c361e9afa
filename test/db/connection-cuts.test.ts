import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import type { Db } from "../../src/db/database";
import { DEFAULT_POOL, openPostgres } from "../../src/db/postgres";
import { freshDatabaseConfig, TEST_DIALECT } from "../support/database";
import { FaultProxy } from "../support/fault-proxy";
import { type ServiceProcess, startServiceProcess } from "../support/service-process";

const IN_FLIGHT = 16;
const CUTS = 3;

// PostgreSQL only: connections cut under transactions in flight (issue 30: postgres.js 3.4.9's deferred
// write after the socket closed threw outside any promise and ended the process with exit 1).
if (TEST_DIALECT === "postgres") {
  const databaseUrl = (await freshDatabaseConfig()).url;
  describe("PostgreSQL connections cut with transactions in flight", () => {
    let proxy: FaultProxy;
    let service: ServiceProcess;

    beforeAll(async () => {
      const database = new URL(databaseUrl);
      proxy = await FaultProxy.start({ hostname: database.hostname, port: Number(database.port || 5432) });
      database.port = String(proxy.port);
      service = await startServiceProcess({
        DATABASE_URL: database.toString(),
        JWT_SECRET: "connection-cut-secret-0123456789abcdef0123456789",
        UNIVERSITY_DOMAINS: ".ualberta.ca",
        DATABASE_POOL_SIZE: String(IN_FLIGHT + 2),
        DATABASE_STATEMENT_TIMEOUT: "3s",
      });
      await service.waitForLine((entry) => entry.msg === "listening");
    }, 30_000);
    afterAll(() => {
      service?.kill();
      proxy?.stop();
    });

    test(`${CUTS} cuts under ${IN_FLIGHT} transactions each: the process stays up, answers only 400 or 503, /health 200 within 10 s`, async () => {
      const statuses = new Set<number>();
      for (let cut = 0; cut < CUTS; cut++) {
        // Every packet delayed: each verification runs BEGIN, a statement and ROLLBACK over ~1 s.
        proxy.slowMs = 150;
        await proxy.set("slow");
        const answers = Array.from({ length: IN_FLIGHT }, () =>
          service.call("POST", "/api/auth/verify-email", {
            body: { token: crypto.randomUUID().replace(/-/g, "").repeat(2), password: "TestPass123" },
          }),
        );
        await Bun.sleep(450); // past BEGIN: the statements of the transactions are on the wire
        proxy.restart();
        await proxy.set("up");
        for (const answer of await Promise.all(answers)) statuses.add(answer.status);
        const deadline = Date.now() + 10_000;
        let health = 0;
        while (Date.now() < deadline && health !== 200) {
          health = (await service.call("GET", "/health")).status;
          if (health !== 200) await Bun.sleep(100);
        }
        expect({ cut, exitCode: service.child.exitCode, health }).toEqual({ cut, exitCode: null, health: 200 });
      }
      expect([...statuses].filter((status) => status !== 400 && status !== 503)).toEqual([]);
      expect(statuses.has(503)).toBe(true); // the cuts did reach transactions in flight
      const entries = service.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(entries.filter((entry) => entry.level === "fatal")).toEqual([]);
    }, 90_000);
  });

  test("a transaction whose connection was cut runs nothing more: no statement of it lands on the reconnected session", async () => {
    const upstream = new URL(databaseUrl);
    const proxy = await FaultProxy.start({ hostname: upstream.hostname, port: Number(upstream.port || 5432) });
    const through = new URL(databaseUrl);
    through.port = String(proxy.port);
    const database = openPostgres(through.toString(), undefined, { ...DEFAULT_POOL, size: 3 });
    try {
      const db = database.db;
      await db.execute(sql`CREATE TABLE cut_probe (n integer)`);
      let resume = () => {};
      const paused = new Promise<void>((resolve) => {
        resume = resolve;
      });
      let firstDone = () => {};
      const first = new Promise<void>((resolve) => {
        firstDone = resolve;
      });
      const transaction = database.transaction(async (tx) => {
        await (tx as unknown as Db).execute(sql`INSERT INTO cut_probe VALUES (1)`);
        firstDone();
        await paused;
        await (tx as unknown as Db).execute(sql`INSERT INTO cut_probe VALUES (2)`);
      });
      const outcome = transaction.then(
        () => "committed",
        (error: { code?: string }) => error.code,
      );
      await first;
      proxy.restart();
      expect(await outcome).toBe("CONNECTION_CLOSED");
      // Every connection of the pool reconnected (the transaction's among them), then the callback goes on.
      await Promise.all([1, 2, 3].map(() => db.execute(sql`SELECT pg_sleep(0.1)`)));
      resume();
      await Bun.sleep(300);
      expect([...(await db.execute(sql`SELECT n FROM cut_probe`))]).toEqual([]);
    } finally {
      await database.close();
      proxy.stop();
    }
  });
}
