import { and, asc, count, eq, getTableColumns, gt, inArray, isNull, lte, notInArray, or, type SQL, sql } from "drizzle-orm";
import { type Clock, systemClock } from "../clock";
import type { Database, Db } from "../db/database";
import { databaseTime } from "../db/database-clock";
import { WAITING } from "./outbox";

/*
 * The outbox's rows as claims: which emails are due, who works on them (a lease), and writes that land
 * only while the claim is still the writer's. All times are the database's, never this host's clock.
 */

/**
 * A claim lasts LEASE_MS unless renewed, and the instance renews its claims every HEARTBEAT_MS for as
 * long as it works on them: however slow the mail server, no send outlasts its claim, and the claims
 * of an instance that died come back within seconds.
 */
const LEASE_MS = 10_000;
export const HEARTBEAT_MS = 2_500;
/**
 * No release writes a lease longer than a minute or a retry time further than 5 minutes ahead: one
 * further ahead was written by a clock that has since been stepped back, and counts as passed.
 */
const LONGEST_LEASE_MS = 2 * 60_000;
const LONGEST_RETRY_MS = 6 * 60_000;
const GIVE_UP_AFTER_MS = 24 * 3600 * 1000;

export type OutboxRow = Database["tables"]["emailOutbox"]["$inferSelect"];
export type RowUpdate = Parameters<ReturnType<Db["update"]>["set"]>[0];

/** A claimed row; `generation` (its attempts after the claim) tells this claim from any later one. */
export interface Claim {
  row: OutboxRow;
  generation: number;
  /** Queued more than 24 hours ago: a failure now gives it up. */
  overdue: boolean;
}

/** The system clock stands for the database's own (all times are compared in SQL); a test clock is used as it is. */
export interface ClaimDeps {
  database: Database;
  clock: Clock;
}

/** The database's time, `offsetMs` from now; a test's own clock is taken as it is. */
export function outboxTime({ clock, database }: ClaimDeps, offsetMs = 0): SQL {
  if (clock === systemClock) return databaseTime(database.kind, offsetMs);
  return sql`${sql.param(new Date(clock.now().getTime() + offsetMs), database.tables.emailOutbox.nextAttemptAt)}`;
}

/** Claims up to `limit` due emails, none of those this instance already `held`. */
export async function claimDue(deps: ClaimDeps, limit: number, held: readonly string[]): Promise<Claim[]> {
  const { database } = deps;
  const { emailOutbox: t } = database.tables;
  const at = (offsetMs?: number) => outboxTime(deps, offsetMs);
  const now = at();
  const due = database.db
    .select({ id: t.id })
    .from(t)
    .where(
      and(
        inArray(t.status, [...WAITING]),
        // A first attempt is due at once, whatever clock wrote its time.
        or(eq(t.attempts, 0), lte(t.nextAttemptAt, now), gt(t.nextAttemptAt, at(LONGEST_RETRY_MS))),
        or(isNull(t.lockedUntil), lte(t.lockedUntil, now), gt(t.lockedUntil, at(LONGEST_LEASE_MS))),
        held.length > 0 ? notInArray(t.id, [...held]) : undefined,
      ),
    )
    .orderBy(asc(t.nextAttemptAt))
    .limit(limit);
  // SQLite serialises writers, so its UPDATE … WHERE id IN (…) is already exclusive.
  const claimable = database.kind === "postgres" ? due.for("update", { skipLocked: true }) : due;
  // A claim that a power failure takes back is harmless (the process died with it): no wait for the disk.
  const rows = await database.bookkeeping((db) =>
    db
      .update(t)
      .set({ lockedUntil: at(LEASE_MS), attempts: sql`${t.attempts} + 1` })
      .where(and(inArray(t.id, claimable), inArray(t.status, [...WAITING])))
      .returning({ ...getTableColumns(t), overdue: sql<boolean>`(${t.createdAt} <= ${at(-GIVE_UP_AFTER_MS)})`.mapWith(Boolean) }),
  );
  return rows.map(({ overdue, ...row }) => ({ row, generation: row.attempts, overdue }));
}

/** Writes `values` if the claim still holds; false when another instance has taken the row since. */
export async function settleClaim(deps: ClaimDeps, { row, generation }: Claim, values: RowUpdate): Promise<boolean> {
  const { emailOutbox: t } = deps.database.tables;
  const updated = await deps.database.statement((db) =>
    db
      .update(t)
      .set(values)
      .where(and(eq(t.id, row.id), eq(t.attempts, generation), inArray(t.status, [...WAITING])))
      .returning({ id: t.id }),
  );
  return updated.length > 0;
}

/** Renews the leases of the claims `held` (row id → generation). */
export async function renewClaims(deps: ClaimDeps, held: ReadonlyMap<string, number>): Promise<void> {
  const { emailOutbox: t } = deps.database.tables;
  const mine = [...held].map(([id, generation]) => and(eq(t.id, id), eq(t.attempts, generation)));
  await deps.database.bookkeeping((db) =>
    db
      .update(t)
      .set({ lockedUntil: outboxTime(deps, LEASE_MS) })
      .where(and(inArray(t.status, [...WAITING]), or(...mine))),
  );
}

/** Emails waiting to be delivered (for the `email_outbox_pending` metric). */
export async function pendingEmails(database: Database): Promise<number> {
  const { emailOutbox } = database.tables;
  const [row] = await database.db
    .select({ n: count() })
    .from(emailOutbox)
    .where(inArray(emailOutbox.status, [...WAITING]));
  return row?.n ?? 0;
}
