import type { Logger as DrizzleLogger } from "drizzle-orm/logger";
import { drizzle } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import type { DatabasePool } from "../config/config";
import { observePostgres } from "../observability/driver-hooks";
import { Admission } from "./admission";
import type { Database, QueryObserver, RawExec } from "./database";
import * as postgresTables from "./schema.postgres";
import { SocketWatchdog } from "./socket-watchdog";

export const DEFAULT_POOL: DatabasePool = { size: 10, connectTimeoutMs: 5000, acquireTimeoutMs: 3000, statementTimeoutMs: 5000 };

/** Reconnect delays of 0.1 s, 0.2 s … at most 0.5 s: postgres.js's own grow to 20 s during an outage, so
 * a restarted database stayed unused for up to that long. */
const reconnectDelaySeconds = (retries: number) => Math.min(0.1 * Math.max(1, retries), 0.5);

/**
 * PostgreSQL aborted the transaction to break a deadlock (40P01) or a serialization conflict (40001):
 * it did nothing, and running it again is the documented answer. At most this many runs in all.
 */
const CONFLICT_RUNS = 3;
const CONFLICT_CODES = new Set(["40P01", "40001"]);

function isConflict(error: unknown): boolean {
  for (let current = error; current instanceof Error; current = current.cause) {
    if (CONFLICT_CODES.has(String((current as { code?: unknown }).code))) return true;
  }
  return false;
}

/** True when the URL asks for TLS: postgres.js then wraps the socket itself, and the watchdog stays out. */
function wantsTls(url: string): boolean {
  const params = new URL(url).searchParams;
  const mode = params.get("sslmode") ?? params.get("ssl");
  return mode !== null && mode !== "disable" && mode !== "false";
}

// postgres.js 3.4.9 is patched (patches/postgres@3.4.9.patch, upstream issues #1066, #1154, #1208, #1216;
// fixes after PRs #1209 and #1215): a connection cut under a transaction made a deferred write to the closed
// socket throw outside any promise (the process died), and the transaction's later statements, its COMMIT
// included, ran on the reconnected session outside any transaction. A guard here could not reach either:
// both happen inside the driver, after the promise we hold has already rejected.
function clientOptions(pool: DatabasePool): postgres.Options<Record<string, never>> {
  return {
    max: pool.size,
    connect_timeout: pool.connectTimeoutMs / 1000,
    idle_timeout: 60,
    backoff: reconnectDelaySeconds,
    // No named prepared statements until PostgreSQL is known to be reached directly (postgres.js sends
    // even BEGIN/COMMIT/ROLLBACK as named ones): PgBouncer in transaction mode runs each on whichever
    // server connection is free, where the name does not exist, and a failed COMMIT became a silent
    // rollback. See connectsDirectly.
    prepare: false,
    // No type lookup on each new connection: nothing here uses array types, and that lookup failing
    // (PgBouncer's query_wait_timeout) was a rejection nobody handled.
    fetch_types: false,
    onnotice: () => {},
  };
}

/**
 * Statements in flight per pool connection. When every connection is busy, postgres.js sends the next
 * statement on a busy one (pipelining: one write and one read carry several, and PostgreSQL's backend
 * wakes once for them), as a bare postgres.js pool does. With one statement per connection,
 * /api/auth/me on PostgreSQL ran at 0.68 × the previous release's rate (`bun run bench:compare`,
 * side by side); with 4, 1.36 × that, the service's main thread 155 → 119 µs and PostgreSQL's
 * backends 80 → 46 µs of CPU per request.
 */
const PIPELINE_DEPTH = 4;

/**
 * The client as drizzle sees it: every query outside a transaction takes one of `pool.size` ×
 * PIPELINE_DEPTH slots, and every transaction one of `pool.size - 1` (and a query slot), so
 * postgres.js never has more than a few statements per connection. Its own queue has no bound, and a
 * failed connection attempt fails only the one query it was opened for: during an outage the queue
 * drained one query per connect timeout.
 */
function admitted(current: () => postgres.Sql, pool: DatabasePool, observer?: QueryObserver): postgres.Sql {
  const queries = new Admission(pool.size * PIPELINE_DEPTH, pool.acquireTimeoutMs);
  const transactions = new Admission(Math.max(1, pool.size - 1), pool.acquireTimeoutMs);
  observer?.admissionQueue?.(() => queries.queued + transactions.queued);
  const unsafe = (query: string, params?: unknown[], options?: unknown) => {
    let values = false;
    const run = () =>
      queries.run(async () => {
        const pending = current().unsafe(query, params as postgres.ParameterOrJSON<never>[], options as postgres.UnsafeQueryOptions);
        return values ? await pending.values() : await pending;
      });
    // drizzle calls `.values()` on the query, then awaits it: the query starts only then, and once.
    let started: Promise<unknown> | null = null;
    const result = () => (started ??= run());
    const lazy = {
      values: () => {
        values = true;
        return lazy;
      },
      // biome-ignore lint/suspicious/noThenProperty: it is awaited like postgres.js's own pending query
      then: (resolve?: (value: unknown) => unknown, reject?: (reason: unknown) => unknown) => result().then(resolve, reject),
      catch: (reject: (reason: unknown) => unknown) => result().catch(reject),
      finally: (done: () => void) => result().finally(done),
    };
    return lazy;
  };
  const begin = (...args: unknown[]) =>
    transactions.run(() => queries.run(() => (current().begin as (...a: unknown[]) => Promise<unknown>)(...args)));
  return new Proxy(current(), {
    get: (target, property, receiver) =>
      property === "unsafe" ? unsafe : property === "begin" ? begin : Reflect.get(target, property, receiver),
  });
}

/**
 * Named prepared statements (drizzle's `.prepare()`, the session lookup of every authenticated request:
 * one round trip instead of two) are used only when the server sees the very address and port this
 * process dialled, i.e. no pooler in between. Through PgBouncer (another port, another address) or
 * when unsure (TLS, not reached yet), every statement stays unnamed. DATABASE_PREPARED_STATEMENTS
 * overrides the detection.
 */
async function connectsDirectly(client: postgres.Sql, watchdog: SocketWatchdog): Promise<boolean> {
  const [row] = await client<
    { addr: string | null; port: number | null }[]
  >`SELECT host(inet_server_addr()) AS addr, inet_server_port() AS port`;
  const dialled = watchdog.lastRemote;
  if (!row?.addr || !row.port || !dialled) return false;
  const plain = (address: string) => address.replace(/^::ffff:/, "");
  return plain(row.addr) === plain(dialled.address) && row.port === dialled.port;
}

export function openPostgres(
  url: string,
  logger: DrizzleLogger | undefined,
  pool: DatabasePool = DEFAULT_POOL,
  observer?: QueryObserver,
): Database {
  const watchdog = wantsTls(url) ? null : new SocketWatchdog(pool.statementTimeoutMs);
  const options = clientOptions(pool);
  const open = (prepare: boolean) =>
    postgres(url, {
      ...options,
      prepare,
      socket: watchdog
        ? (parsed: { host: string[]; port: number[]; path?: string | false }) =>
            watchdog.open(parsed.path ? { path: parsed.path } : { host: parsed.host[0] ?? "localhost", port: parsed.port[0] ?? 5432 })
        : undefined,
    } as postgres.Options<Record<string, never>>);
  const setting = pool.preparedStatements ?? "auto";
  let client = open(setting === "true");
  // Every query of the service goes through drizzle: the observer sees them there (not the health ping).
  const observe = (sql: postgres.Sql) => (observer ? observePostgres(sql, observer) : sql);
  let observed = observe(client);
  const previous: postgres.Sql[] = [];
  let detection: Promise<void> | null = setting === "auto" && watchdog ? null : Promise.resolve();
  const detect = () => {
    detection ??= (async () => {
      if (!watchdog || !(await connectsDirectly(client, watchdog))) return;
      const direct = open(true);
      // drizzle set its value parsers on the first client's options; the new one needs the same.
      Object.assign(direct.options.parsers, client.options.parsers);
      Object.assign(direct.options.serializers, client.options.serializers);
      previous.push(client);
      client = direct;
      observed = observe(direct);
      // In-flight work on the old pool finishes; new work goes to the new one.
      void previous.at(-1)?.end({ timeout: 5 });
    })().catch(() => {
      detection = null; // not reachable yet: decided at a later ping
    });
    return detection;
  };
  // Schema changes may legitimately take longer than any statement bound: their own connection (below).
  const db = drizzle({ client: admitted(() => observed, pool, observer), schema: postgresTables, logger });
  return {
    kind: "postgres",
    db,
    tables: postgresTables,
    // The one place transactions run: every caller's work touches only the database, so a rerun is safe.
    transaction: async (work) => {
      for (let run = 1; ; run++) {
        try {
          return await db.transaction((tx) => work(tx));
        } catch (error) {
          if (run >= CONFLICT_RUNS || !isConflict(error)) throw error;
          // Apart by a random few milliseconds, so the two sides of a deadlock do not meet again.
          await Bun.sleep(run * (5 + Math.random() * 20));
        }
      }
    },
    statement: (work) => work(db),
    bookkeeping: (work) => work(db),
    withMigrationLock: async <T>(work: (exec: RawExec) => Promise<T>) => {
      // Closed right after: an idle connection kept open would hold a server connection of a pooler.
      const migrationClient = postgres(url, { ...options, max: 1 });
      try {
        return (await migrationClient.begin(async (tx) => {
          // Two instances starting at once: the second waits here and then finds nothing pending.
          await tx.unsafe("SELECT pg_advisory_xact_lock(740213)");
          return work(async (statement) => (await tx.unsafe(statement)) as unknown as Record<string, unknown>[]);
        })) as T;
      } finally {
        await migrationClient.end({ timeout: 5 });
      }
    },
    ping: async () => {
      await client`SELECT 1`;
      await detect();
    },
    close: async () => {
      watchdog?.stop();
      await Promise.all([client.end({ timeout: 5 }), ...previous.map((old) => old.end({ timeout: 5 }))]);
    },
  };
}
