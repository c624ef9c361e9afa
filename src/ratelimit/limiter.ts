import { eq, inArray, type SQL, sql } from "drizzle-orm";
import type { Limit } from "../config/config";
import type { Database } from "../db/database";

export interface Hit {
  /** Events counted in the current window, this one included. */
  count: number;
  allowed: boolean;
  /** Whole seconds until the window ends (for Retry-After). */
  retryAfterSeconds: number;
}

/** A counter row as the counting statement returns it. */
export interface CounterRow {
  key: string;
  count: number;
  expiresAt: number;
}

/** See RateLimiter.plan. */
export interface PlannedHits {
  parameters: { key: string; windowEnd: number; key2?: string; windowEnd2?: number; nowMs: number };
  hits(rows: readonly CounterRow[]): Hit[];
}

/**
 * Fixed-window counters in the database, so every instance on one database shares them. Each hit is a
 * single atomic upsert (no read-modify-write), so concurrent hits are never lost. A key names an email
 * address or a client: the table stores only its keyed hash (`storedKey`).
 */
export class RateLimiter {
  /** Built once, on first use (the table exists only after `migrate`): the SQL of a hit is fixed. */
  private prepared: ReturnType<typeof prepareStatements> | undefined;

  constructor(
    private readonly database: Database,
    private readonly storedKey: (key: string) => string,
  ) {}

  private get statements() {
    this.prepared ??= prepareStatements(this.database);
    return this.prepared;
  }

  /**
   * Counts one event against each key (at most two, distinct) in one statement — a login counts its
   * client address and its account in one round trip and one commit. The hits, in the order given.
   */
  async hitEach(keys: { key: string; limit: Limit }[], now: Date): Promise<Hit[]> {
    const planned = this.plan(keys, now);
    const rows = await this.database.bookkeeping(() =>
      planned.parameters.key2 === undefined
        ? this.statements.hit.execute(planned.parameters)
        : this.statements.hitTwo.execute(planned.parameters),
    );
    return planned.hits(rows);
  }

  /**
   * One hit of each key (one or two, distinct), ready to run as `countingUpsert`'s parameters, and how
   * its returned rows read. For a statement that counts and does more in the same round trip.
   */
  plan(keys: { key: string; limit: Limit }[], now: Date): PlannedHits {
    const nowMs = now.getTime();
    const counted = keys.map(({ key, limit }) => ({ key: this.storedKey(key), limit, windowEnd: nowMs + limit.windowSeconds * 1000 }));
    // Rows are locked in the order they are written: always the same order (by stored key), so two
    // statements counting the same two keys wait for each other instead of deadlocking.
    const [first, second] = [...counted].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    if (!first || counted.length > 2) throw new Error(`a hit counts one or two keys, got ${counted.length}`);
    return {
      parameters: {
        key: first.key,
        windowEnd: first.windowEnd,
        ...(second ? { key2: second.key, windowEnd2: second.windowEnd } : {}),
        nowMs,
      },
      hits: (rows) =>
        counted.map(({ key, limit, windowEnd }) => {
          const row = rows.find((candidate) => candidate.key === key);
          const count = Number(row?.count ?? 1);
          const expiresAt = Number(row?.expiresAt ?? windowEnd);
          return { count, allowed: count <= limit.max, retryAfterSeconds: Math.max(1, Math.ceil((expiresAt - nowMs) / 1000)) };
        }),
    };
  }

  /**
   * A login that turned out right: its account's failures are forgiven and its attempt is taken back
   * from the client's count, in one statement (one commit). On PostgreSQL it locks the two rows in
   * stored-key order, the order `hitEach` writes them in: two statements that each hold one of the
   * rows while waiting for the other would deadlock. That order is byte order (COLLATE "C", as
   * JavaScript compares these ASCII keys), whatever collation the database was created with.
   */
  async forgive(accountKey: string, clientKey: string): Promise<void> {
    const [account, client] = [this.storedKey(accountKey), this.storedKey(clientKey)];
    await this.database.bookkeeping(() => this.statements.forgive.execute({ account, client }));
  }

  /** The current window of a key, if it has one (the support desk's `users show`). */
  async peek(plainKey: string, now: Date): Promise<{ count: number; expiresAt: Date } | undefined> {
    const { rateLimits } = this.database.tables;
    const [row] = await this.database.db
      .select({ count: rateLimits.count, expiresAt: rateLimits.expiresAt })
      .from(rateLimits)
      .where(eq(rateLimits.key, this.storedKey(plainKey)));
    if (!row || Number(row.expiresAt) <= now.getTime()) return undefined;
    return { count: Number(row.count), expiresAt: new Date(Number(row.expiresAt)) };
  }

  async reset(plainKey: string): Promise<void> {
    const key = this.storedKey(plainKey);
    await this.database.bookkeeping(() => this.statements.reset.execute({ key }));
  }
}

/**
 * The statements, prepared: built by drizzle once instead of on every login (building them was
 * most of a login's CPU outside the hash, at the low rate at which logins run, never JIT-hot).
 */
function prepareStatements(database: Database) {
  const { db, kind } = database;
  const { rateLimits } = database.tables;
  const relaxedCommit = relaxedCommitOf(kind);
  const [account, client] = [sql.placeholder("account"), sql.placeholder("client")];
  const both = [account, client];
  return {
    hit: countingUpsert(database, 1).prepare("rate_limit_hit"),
    hitTwo: countingUpsert(database, 2).prepare("rate_limit_hit_two"),
    forgive: db
      .update(rateLimits)
      .set({
        count: sql`CASE WHEN ${rateLimits.key} = ${account} THEN 0 WHEN ${rateLimits.count} > 0 THEN ${rateLimits.count} - 1 ELSE 0 END`,
      })
      .where(
        inArray(
          rateLimits.key,
          kind === "postgres"
            ? db
                .select({ key: rateLimits.key })
                .from(rateLimits)
                .where(inArray(rateLimits.key, both))
                .orderBy(sql`${rateLimits.key} COLLATE "C"`)
                .for("update")
            : both,
        ),
      )
      .returning({ key: rateLimits.key, ...relaxedCommit })
      .prepare("rate_limit_forgive"),
    reset: db
      .delete(rateLimits)
      .where(eq(rateLimits.key, sql.placeholder("key")))
      .returning({ key: rateLimits.key, ...relaxedCommit })
      .prepare("rate_limit_reset"),
  };
}

/**
 * PostgreSQL: a counter's transaction commits without waiting for the WAL flush, as SQLite's do
 * (Database.bookkeeping). Set inside the statement, for its own transaction only: no extra round
 * trip, and nothing stays on the connection for the next statement (a registration) to inherit, with
 * or without a pooler. Evaluated in RETURNING, which every counter write has.
 */
function relaxedCommitOf(kind: Database["kind"]): Record<string, SQL.Aliased> {
  return kind === "postgres" ? { relaxedCommit: sql`set_config('synchronous_commit', 'off', true)`.as("relaxed_commit") } : {};
}

/**
 * The upsert that counts one hit of each of `keys` keys (parameters as RateLimiter.plan makes them):
 * a row's window restarts when it has expired, else its count goes up. Returns the rows (CounterRow).
 */
export function countingUpsert({ db, kind, tables: { rateLimits } }: Database, keys: 1 | 2) {
  const nowMs = sql.placeholder("nowMs");
  // The values of the row being inserted are `excluded`'s.
  const expired = sql`${rateLimits.expiresAt} <= excluded.window_start`;
  const row = (key: string, windowEnd: string) => ({
    key: sql.placeholder(key),
    windowStart: nowMs,
    count: 1,
    expiresAt: sql.placeholder(windowEnd),
  });
  return db
    .insert(rateLimits)
    .values(keys === 1 ? [row("key", "windowEnd")] : [row("key", "windowEnd"), row("key2", "windowEnd2")])
    .onConflictDoUpdate({
      target: rateLimits.key,
      set: {
        count: sql`CASE WHEN ${expired} THEN 1 ELSE ${rateLimits.count} + 1 END`,
        windowStart: sql`CASE WHEN ${expired} THEN excluded.window_start ELSE ${rateLimits.windowStart} END`,
        expiresAt: sql`CASE WHEN ${expired} THEN excluded.expires_at ELSE ${rateLimits.expiresAt} END`,
      },
    })
    .returning({ key: rateLimits.key, count: rateLimits.count, expiresAt: rateLimits.expiresAt, ...relaxedCommitOf(kind) });
}
