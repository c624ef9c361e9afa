import { and, asc, count, eq, gt, inArray, isNull, lte, or, sql } from "drizzle-orm";
import type { Logger } from "pino";
import { mailboxOf } from "../auth/email";
import type { Keys } from "../auth/keys";
import type { Clock } from "../clock";
import type { Config } from "../config/config";
import type { Database, Queryable } from "../db/database";
import { describeError, isDatabaseUnavailable } from "../db/errors";
import { renderEmail } from "./templates";
import type { EmailKind, MailTransport } from "./types";

const GIVE_UP_AFTER_MS = 24 * 3600 * 1000;
const LEASE_MS = 60_000;
const BATCH_SIZE = 10;

/** Delay before the n-th retry: 2 s, 4 s, 8 s … capped at 5 minutes. */
/**
 * Emails waiting to be sent: `queued` rows are sealed (this release), `pending` rows hold their link in
 * clear (releases before). A release before this one claims only `pending`, so during a canary it never
 * sends a sealed link it cannot read.
 */
export const WAITING = ["queued", "pending"] as const;
const EMAIL_ADDRESS = /[^\s<>()"',;:]+@[^\s<>()"',;:]+/g;

export function retryDelayMs(attempts: number): number {
  return Math.min(2000 * 2 ** Math.max(0, attempts - 1), 5 * 60_000);
}

/**
 * Writes an email into the outbox, inside the caller's transaction: it is sent iff that commits. The
 * recipient and the link are sealed (the database files never hold them in clear); the keyed hash of the
 * address serves the per-address throttling.
 */
export async function queueEmail(
  tx: Queryable,
  database: Database,
  keys: Keys,
  email: { userId: string; kind: EmailKind; recipient: string; link: string; now: Date },
): Promise<void> {
  await tx.insert(database.tables.emailOutbox).values({
    id: crypto.randomUUID(),
    userId: email.userId,
    kind: email.kind,
    recipient: keys.seal(email.recipient),
    recipientHash: recipientHash(keys, email.recipient),
    link: keys.seal(email.link),
    status: "queued",
    attempts: 0,
    nextAttemptAt: email.now,
    createdAt: email.now,
  });
}

/**
 * The keyed hash of the mailbox an address delivers to (without its +tag; the address itself when it has
 * none, as releases before hashed it): what the per-mailbox email limit counts by.
 */
export const recipientHash = (keys: Keys, address: string) => `h:${keys.bookkeepingHash(`outbox-recipient:${mailboxOf(address)}`)}`;

/** How many emails of this kind were queued for the address's mailbox since `since` (the per-mailbox limit). */
export async function emailsQueuedSince(tx: Queryable, database: Database, keys: Keys, address: string, kind: EmailKind, since: Date) {
  const { emailOutbox } = database.tables;
  const [row] = await tx
    .select({ n: count() })
    .from(emailOutbox)
    .where(and(eq(emailOutbox.recipientHash, recipientHash(keys, address)), eq(emailOutbox.kind, kind), gt(emailOutbox.createdAt, since)));
  return row?.n ?? 0;
}

/** The waiting emails of these registrations, whose links ended: never sent, still counted by the throttle. */
export async function cancelPendingEmails(tx: Queryable, database: Database, userIds: string[]) {
  const { emailOutbox } = database.tables;
  await tx
    .update(emailOutbox)
    .set({ status: "cancelled", link: null, recipient: sql`coalesce(${emailOutbox.recipientHash}, '')` })
    .where(and(inArray(emailOutbox.userId, userIds), inArray(emailOutbox.status, [...WAITING])));
}

/** Every email of a deleted account, queued or sent: nothing of it stays. */
export async function deleteAccountEmails(tx: Queryable, database: Database, userId: string) {
  const { emailOutbox } = database.tables;
  await tx.delete(emailOutbox).where(eq(emailOutbox.userId, userId));
}

export interface OutboxDeps {
  database: Database;
  keys: Keys;
  transport: MailTransport;
  clock: Clock;
  config: Config;
  logger: Logger;
  pollIntervalMs?: number;
  /** `queuedAt` (when sent): when the email was queued, for the queued → delivered histogram. */
  onResult?: (kind: string, result: "sent" | "retry" | "failed", queuedAt?: Date) => void;
  onCrash?: (error: unknown) => void;
}

/**
 * Delivers queued emails. Rows are claimed with a lease (and `FOR UPDATE SKIP LOCKED` on PostgreSQL),
 * so several instances never send the same row at once; a process that dies mid-send leaves the lease
 * to expire and the email is sent again later: at worst twice, never lost.
 */
export class OutboxWorker {
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** Rounds run one after another, never overlapping within a process. */
  private rounds: Promise<unknown> = Promise.resolve();
  private stopped = true;

  constructor(private readonly deps: OutboxDeps) {}

  /** Starts polling, the first time after `delayMs`. */
  start(delayMs = 0): void {
    this.stopped = false;
    this.schedule(delayMs);
  }

  /** Called after a transaction queued an email: deliver now instead of at the next poll. */
  wake(): void {
    if (!this.stopped) this.schedule(0);
  }

  /** Stops polling and waits for the send in progress to finish. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.rounds;
  }

  private schedule(delayMs: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(), delayMs);
  }

  private async tick(): Promise<void> {
    this.timer = null;
    let claimed = 0;
    try {
      claimed = await this.deliverDue();
    } catch (error) {
      // The database being away is an outage, not a bug: the emails wait, the next round tries again.
      if (isDatabaseUnavailable(error)) {
        this.deps.logger.warn({ reason: describeError(error) }, "email outbox: database unavailable, will retry");
      } else {
        this.deps.logger.error({ err: error }, "email outbox: delivery round failed");
        this.deps.onCrash?.(error);
      }
    }
    // A full batch means more may be due: go on at once.
    if (!this.stopped && !this.timer) this.schedule(claimed === BATCH_SIZE ? 0 : (this.deps.pollIntervalMs ?? 1000));
  }

  /** One round: claim due emails and try each once. Returns how many were claimed. */
  deliverDue(): Promise<number> {
    const round = this.rounds.then(() => this.deliverBatch());
    this.rounds = round.catch(() => undefined);
    return round;
  }

  private async claim(now: Date) {
    const { database } = this.deps;
    const { emailOutbox } = database.tables;
    const due = database.db
      .select({ id: emailOutbox.id })
      .from(emailOutbox)
      .where(
        and(
          inArray(emailOutbox.status, [...WAITING]),
          lte(emailOutbox.nextAttemptAt, now),
          or(isNull(emailOutbox.lockedUntil), lte(emailOutbox.lockedUntil, now)),
        ),
      )
      .orderBy(asc(emailOutbox.nextAttemptAt))
      .limit(BATCH_SIZE);
    // SQLite serialises writers, so its UPDATE … WHERE id IN (…) is already exclusive.
    const claimable = database.kind === "postgres" ? due.for("update", { skipLocked: true }) : due;
    return database.transaction((tx) =>
      tx
        .update(emailOutbox)
        .set({ lockedUntil: new Date(now.getTime() + LEASE_MS), attempts: sql`${emailOutbox.attempts} + 1` })
        .where(and(inArray(emailOutbox.id, claimable), inArray(emailOutbox.status, [...WAITING])))
        .returning(),
    );
  }

  private async deliverBatch(): Promise<number> {
    const { database, transport, clock, config, logger, keys } = this.deps;
    const { emailOutbox } = database.tables;
    const claimed = await this.claim(clock.now());
    for (const row of claimed) {
      const finish = (values: Partial<typeof emailOutbox.$inferInsert>) =>
        database.statement((db) => db.update(emailOutbox).set(values).where(eq(emailOutbox.id, row.id)));
      const kind = row.kind as EmailKind;
      if (!row.link) {
        await finish({ status: "failed", lockedUntil: null, lastError: "no link" });
        continue;
      }
      // Once delivered or abandoned, only the keyed hash of the address stays (bookkeeping).
      const forgotten = { link: null, recipient: row.recipientHash ?? "" };
      let to: string;
      let link: string;
      try {
        to = keys.open(row.recipient);
        link = keys.open(row.link);
      } catch {
        // Sealed with another DATA_SECRET: nobody can read it any more.
        await finish({ status: "failed", ...forgotten, lockedUntil: null, lastError: "sealed with another DATA_SECRET" });
        logger.error({ emailId: row.id, kind }, "email outbox: cannot unseal the email (was DATA_SECRET changed?)");
        this.deps.onResult?.(kind, "failed");
        continue;
      }
      const message = renderEmail({
        kind,
        to,
        from: config.mail.from,
        link,
        lifetimeSeconds: kind === "verify_email" ? config.tokens.verifyEmailSeconds : config.tokens.resetPasswordSeconds,
        templates: config.mail.templates,
      });
      const startedAt = performance.now();
      try {
        const outcome = await transport.send(message);
        // Delivered: forget the link, so no table holds a usable token any more.
        await finish({ status: "sent", ...forgotten, sentAt: clock.now(), lockedUntil: null, lastError: null });
        this.deps.onResult?.(kind, "sent", row.createdAt);
        // No address, no link: which email, which attempt, how long, through which provider.
        logger.info(
          {
            emailId: row.id,
            kind,
            attempt: row.attempts,
            durationMs: Math.round(performance.now() - startedAt),
            via: outcome?.via ?? transport.name,
          },
          "email delivered",
        );
      } catch (error) {
        const now = clock.now();
        // A mail server's refusal often quotes the recipient: the row and the log keep no address.
        const reason = (error instanceof Error ? error.message : String(error)).replace(EMAIL_ADDRESS, "[email]").slice(0, 500);
        if (now.getTime() - row.createdAt.getTime() >= GIVE_UP_AFTER_MS) {
          await finish({ status: "failed", ...forgotten, lockedUntil: null, lastError: reason });
          logger.error({ emailId: row.id, kind, attempts: row.attempts, reason }, "email outbox: giving up after 24 hours");
          this.deps.onResult?.(kind, "failed");
        } else {
          const retryAt = new Date(now.getTime() + retryDelayMs(row.attempts));
          await finish({ nextAttemptAt: retryAt, lockedUntil: null, lastError: reason });
          logger.warn({ emailId: row.id, kind, attempts: row.attempts, retryAt, reason }, "email outbox: send failed, will retry");
          this.deps.onResult?.(kind, "retry");
        }
      }
    }
    return claimed.length;
  }

  /** Emails waiting to be delivered (for the `email_outbox_pending` metric). */
  async pendingCount(): Promise<number> {
    const { database } = this.deps;
    const { emailOutbox } = database.tables;
    const [row] = await database.db
      .select({ n: count() })
      .from(emailOutbox)
      .where(inArray(emailOutbox.status, [...WAITING]));
    return row?.n ?? 0;
  }
}
