/**
 * The floor the service is compared with: Bun.serve and nothing else (no framework, no middleware, no
 * logging), on the same runtime, pinned and loaded like the service by bench.ts.
 *   GET /        {"status":"ok"}
 *   GET /pg      SELECT 1 through the `postgres` package (pool of 10), when FLOOR_POSTGRES_URL is set
 *   GET /sqlite  SELECT 1 through a bun:sqlite prepared statement on the file FLOOR_SQLITE_PATH
 * Run by bench.ts; by hand: PORT=8080 FLOOR_SQLITE_PATH=/tmp/floor.db bun test/bench/floor.ts
 */
import { Database } from "bun:sqlite";
import postgres from "postgres";

const postgresUrl = process.env.FLOOR_POSTGRES_URL;
const sql = postgresUrl ? postgres(postgresUrl, { max: 10 }) : null;
const sqlite = new Database(process.env.FLOOR_SQLITE_PATH ?? ":memory:", { create: true });
const selectOne = sqlite.prepare<{ one: number }, []>("SELECT 1 AS one");

const server = Bun.serve({
  port: Number(process.env.PORT ?? 0),
  hostname: "127.0.0.1",
  routes: {
    "/": { GET: () => Response.json({ status: "ok" }) },
    "/pg": {
      GET: async () => {
        if (!sql) return Response.json({ status: "unavailable" }, { status: 503 });
        const [row] = await sql<{ one: number }[]>`SELECT 1 AS one`;
        return Response.json({ status: "ok", one: row?.one });
      },
    },
    "/sqlite": { GET: () => Response.json({ status: "ok", one: selectOne.get()?.one }) },
  },
  fetch: () => Response.json({ status: "not found" }, { status: 404 }),
});

console.log(`floor listening on ${server.url}`);
