import type { Logger as DrizzleLogger } from "drizzle-orm/logger";
import { drizzle } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import { observePostgres } from "../observability/driver-hooks";
import type { Database, QueryObserver, RawExec } from "./database";
import * as postgresTables from "./schema.postgres";

export function openPostgres(url: string, logger: DrizzleLogger | undefined, observer?: QueryObserver): Database {
  const client = postgres(url, {
    max: 10,
    connect_timeout: 5,
    idle_timeout: 60,
    onnotice: () => {},
  });
  // Every query of the service goes through drizzle: the observer sees them there (not the health ping).
  const db = drizzle({ client: observer ? observePostgres(client, observer) : client, schema: postgresTables, logger });
  return {
    kind: "postgres",
    db,
    tables: postgresTables,
    transaction: (work) => db.transaction((tx) => work(tx)),
    statement: (work) => work(db),
    withMigrationLock: <T>(work: (exec: RawExec) => Promise<T>) =>
      client.begin(async (tx) => {
        // Two instances starting at once: the second waits here and then finds nothing pending.
        await tx.unsafe("SELECT pg_advisory_xact_lock(740213)");
        return work(async (statement) => (await tx.unsafe(statement)) as unknown as Record<string, unknown>[]);
      }) as Promise<T>,
    ping: async () => {
      await client`SELECT 1`;
    },
    close: () => client.end({ timeout: 5 }),
  };
}
