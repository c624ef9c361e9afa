import { eq, sql } from "drizzle-orm";
import type { Limit } from "../config/config";
import type { Database } from "../db/database";

export interface Hit {
  /** Events counted in the current window, this one included. */
  count: number;
  allowed: boolean;
  /** Whole seconds until the window ends (for Retry-After). */
  retryAfterSeconds: number;
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

  async hit(plainKey: string, limit: Limit, now: Date): Promise<Hit> {
    const key = this.storedKey(plainKey);
    const nowMs = now.getTime();
    const windowEnd = nowMs + limit.windowSeconds * 1000;
    const [row] = await this.database.bookkeeping(() => this.statements.hit.execute({ key, nowMs, windowEnd }));
    const count = Number(row?.count ?? 1);
    const expiresAt = Number(row?.expiresAt ?? windowEnd);
    return { count, allowed: count <= limit.max, retryAfterSeconds: Math.max(1, Math.ceil((expiresAt - nowMs) / 1000)) };
  }

  /** Takes one event back (a login that turned out to be successful is not a failed login). */
  async undo(plainKey: string): Promise<void> {
    const key = this.storedKey(plainKey);
    await this.database.bookkeeping(() => this.statements.undo.execute({ key }));
  }

  async reset(plainKey: string): Promise<void> {
    const key = this.storedKey(plainKey);
    await this.database.bookkeeping(() => this.statements.reset.execute({ key }));
  }
}

/**
 * The three statements, prepared: built by drizzle once instead of on every login (building them was
 * most of a login's CPU outside the hash, at the low rate at which logins run, never JIT-hot).
 */
function prepareStatements({ db, tables: { rateLimits } }: Database) {
  const key = sql.placeholder("key");
  const nowMs = sql.placeholder("nowMs");
  const windowEnd = sql.placeholder("windowEnd");
  const expired = sql`${rateLimits.expiresAt} <= ${nowMs}`;
  return {
    hit: db
      .insert(rateLimits)
      .values({ key, windowStart: nowMs, count: 1, expiresAt: windowEnd })
      .onConflictDoUpdate({
        target: rateLimits.key,
        set: {
          count: sql`CASE WHEN ${expired} THEN 1 ELSE ${rateLimits.count} + 1 END`,
          windowStart: sql`CASE WHEN ${expired} THEN ${nowMs} ELSE ${rateLimits.windowStart} END`,
          expiresAt: sql`CASE WHEN ${expired} THEN ${windowEnd} ELSE ${rateLimits.expiresAt} END`,
        },
      })
      .returning({ count: rateLimits.count, expiresAt: rateLimits.expiresAt })
      .prepare("rate_limit_hit"),
    undo: db
      .update(rateLimits)
      .set({ count: sql`CASE WHEN ${rateLimits.count} > 0 THEN ${rateLimits.count} - 1 ELSE 0 END` })
      .where(eq(rateLimits.key, key))
      .prepare("rate_limit_undo"),
    reset: db.delete(rateLimits).where(eq(rateLimits.key, key)).prepare("rate_limit_reset"),
  };
}
