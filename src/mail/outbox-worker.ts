import type { Logger } from "pino";
import type { Keys } from "../auth/keys";
import type { Clock } from "../clock";
import type { Config } from "../config/config";
import type { Database } from "../db/database";
import { describeError, isDatabaseUnavailable, unavailableLog } from "../db/errors";
import {
  type Claim,
  claimDue,
  HEARTBEAT_MS,
  type OutboxRow,
  outboxTime,
  pendingEmails,
  type RowUpdate,
  renewClaims,
  settleClaim,
} from "./outbox-claims";
import { SMTP_CONNECTIONS } from "./smtp-transport";
import { renderEmail } from "./templates";
import { type EmailKind, type EmailMessage, type MailTransport, PermanentMailError } from "./types";

/** Sends in flight per instance: one per pooled SMTP connection. */
const SENDS_IN_FLIGHT = SMTP_CONNECTIONS;
/** A refusal of the message itself (5xx) is tried this many times in all, then given up. */
const PERMANENT_REFUSAL_TRIES = 3;
/** A delivered email whose recording failed: the recording (never the send) is retried this long. */
const RECORDING_RETRY_MS = 60_000;
/** After SIGTERM, sends in progress get this long; then they are abandoned and retried later. */
const STOP_GRACE_MS = 8_000;
/** What one `deliverDue` round claims at most. */
const BATCH_SIZE = 10;
/** A wake claims this much later, so that the emails of a burst (a lecture hall registering) are claimed together. */
const WAKE_BATCH_MS = 50;
const EMAIL_ADDRESS = /[^\s<>()"',;:]+@[^\s<>()"',;:]+/g;

/** Delay before the n-th retry: 2 s, 4 s, 8 s … capped at 5 minutes. */
export function retryDelayMs(attempts: number): number {
  return Math.min(2000 * 2 ** Math.max(0, attempts - 1), 5 * 60_000);
}

export interface OutboxDeps {
  database: Database;
  keys: Keys;
  transport: MailTransport;
  /** The system clock stands for the database's own (all times are compared in SQL); a test clock is used as it is. */
  clock: Clock;
  config: Config;
  logger: Logger;
  pollIntervalMs?: number;
  /** `queuedAt` (when sent): when the email was queued, for the queued → delivered histogram. */
  onResult?: (kind: string, result: "sent" | "retry" | "failed", queuedAt?: Date) => void;
  onCrash?: (error: unknown) => void;
}

/**
 * Delivers queued emails, SENDS_IN_FLIGHT at a time. Each row is claimed (a lease, FOR UPDATE SKIP
 * LOCKED on PostgreSQL) and the claim renewed while it is worked on; every write after the send checks
 * that this instance still holds that very claim. So in normal operation an email is sent once: only an
 * instance that dies between the mail server's acceptance and the recording leaves an email that is
 * sent again. A recording that fails is retried as a recording, not as a send. All times are the
 * database's, never this host's clock.
 */
export class OutboxWorker {
  private readonly held = new Map<string, number>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly abandon = new AbortController();
  private timer: ReturnType<typeof setTimeout> | null = null;
  private timerDue = 0;
  private heartbeat: ReturnType<typeof setInterval> | null = null;
  private running = false;
  private claiming = false;
  private pumpAgain = false;
  /**
   * The last claim took as many emails as there were free slots: more may be due, so a finished send
   * claims again. Otherwise the next email comes with a wake (or the poll): claiming after every send
   * would cost an empty claim per email.
   */
  private backlog = false;
  private renewing = false;
  /** The round filling the send slots, if one runs (a stop waits for it). */
  private pumping: Promise<void> = Promise.resolve();
  private stopping: Promise<void> | null = null;
  private readonly logUnavailable: ReturnType<typeof unavailableLog>;

  constructor(private readonly deps: OutboxDeps) {
    this.logUnavailable = unavailableLog(deps.logger, "email outbox: database unavailable, will retry");
  }

  /** Starts polling, the first time after `delayMs`. */
  start(delayMs = 0): void {
    if (this.stopping) return;
    this.running = true;
    this.schedule(delayMs);
  }

  /** Called after a transaction queued an email: deliver now (within WAKE_BATCH_MS) instead of at the next poll. */
  wake(): void {
    // A round due sooner anyway is kept: a stream of wakes never postpones delivery.
    if (!this.running || (this.timer && this.timerDue <= performance.now() + WAKE_BATCH_MS)) return;
    this.schedule(WAKE_BATCH_MS);
  }

  /**
   * Takes no new email from now on; the sends in progress finish (and are recorded) within `graceMs`,
   * or are abandoned: their connection closed, their claim released, the email retried later. Idempotent.
   */
  stop(graceMs = STOP_GRACE_MS): Promise<void> {
    this.stopping ??= this.shutDown(graceMs);
    return this.stopping;
  }

  private async shutDown(graceMs: number): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.pumping;
    const settled = Promise.all(this.inFlight);
    if (!(await within(settled, graceMs))) {
      this.deps.logger.warn(
        { sends: this.inFlight.size, graceMs },
        "email outbox: sends still in progress at shutdown: abandoned, retried later",
      );
      this.abandon.abort();
      await within(settled, 2000);
    }
    await this.deps.transport.close?.();
  }

  /** One round: claims due emails, tries each once (SENDS_IN_FLIGHT at a time). Returns how many were claimed. */
  async deliverDue(): Promise<number> {
    const claims = await claimDue(this.deps, BATCH_SIZE, [...this.held.keys()]);
    const queue = [...claims];
    const lane = async () => {
      for (let next = queue.shift(); next; next = queue.shift()) await this.deliver(next);
    };
    await Promise.all(Array.from({ length: SENDS_IN_FLIGHT }, lane));
    return claims.length;
  }

  private schedule(delayMs: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timerDue = performance.now() + delayMs;
    this.timer = setTimeout(() => {
      this.pumping = this.pump();
    }, delayMs);
  }

  /** Fills the free send slots with due emails; a finished send calls it again. */
  private async pump(): Promise<void> {
    this.timer = null;
    if (!this.running) return;
    const free = SENDS_IN_FLIGHT - this.inFlight.size;
    if (this.claiming || free <= 0) {
      this.pumpAgain ||= this.claiming;
      return;
    }
    this.claiming = true;
    let claims: Claim[] = [];
    let failed = false;
    try {
      claims = await claimDue(this.deps, free, [...this.held.keys()]);
    } catch (error) {
      failed = true;
      // The database being away is an outage, not a bug: the emails wait, the next round tries again.
      if (isDatabaseUnavailable(error)) {
        this.logUnavailable(error);
      } else {
        this.deps.logger.error({ err: error }, "email outbox: delivery round failed");
        this.deps.onCrash?.(error);
      }
    } finally {
      this.claiming = false;
    }
    if (!this.running) {
      // Stopped while claiming: the claims go back at once instead of being sent.
      await Promise.all(claims.map((claim) => settleClaim(this.deps, claim, { lockedUntil: null }).catch(() => false)));
      return;
    }
    this.backlog = !failed && claims.length === free;
    for (const claim of claims) {
      const task: Promise<void> = this.deliver(claim).finally(() => {
        this.inFlight.delete(task);
        if (this.running && this.backlog) this.schedule(0);
      });
      this.inFlight.add(task);
    }
    if (this.timer) return;
    // Every slot taken: the next finished send pumps again. Otherwise wait for the next poll (or a wake).
    if (this.pumpAgain && !failed) this.schedule(0);
    else if (claims.length < free) this.schedule(this.deps.pollIntervalMs ?? 1000);
    this.pumpAgain = false;
  }

  /** Renews the leases of the rows being worked on. */
  private async renew(): Promise<void> {
    if (this.renewing || this.held.size === 0) return;
    this.renewing = true;
    try {
      await renewClaims(this.deps, this.held);
    } catch (error) {
      this.deps.logger.warn({ reason: describeError(error) }, "email outbox: could not renew the claims of the emails being sent");
    } finally {
      this.renewing = false;
    }
  }

  private hold(claim: Claim): void {
    this.held.set(claim.row.id, claim.generation);
    this.heartbeat ??= setInterval(() => void this.renew(), HEARTBEAT_MS);
    this.heartbeat.unref?.();
  }

  private release(claim: Claim): void {
    this.held.delete(claim.row.id);
    if (this.held.size === 0 && this.heartbeat) {
      clearInterval(this.heartbeat);
      this.heartbeat = null;
    }
  }

  /** Sends one claimed email and records the outcome; never throws (a failed write leaves the claim to expire). */
  private async deliver(claim: Claim): Promise<void> {
    this.hold(claim);
    try {
      const message = await this.open(claim);
      if (message) await this.send(claim, message);
    } catch (error) {
      this.deps.logger.warn(
        { emailId: claim.row.id, reason: describeError(error) },
        "email outbox: could not record an attempt, will retry",
      );
    } finally {
      this.release(claim);
    }
  }

  /** The message of a claimed row; null (and the row failed) when it cannot be read any more. */
  private async open(claim: Claim): Promise<EmailMessage | null> {
    const { config, keys, logger } = this.deps;
    const { row } = claim;
    const kind = row.kind as EmailKind;
    if (!row.link) {
      await settleClaim(this.deps, claim, { status: "failed", lockedUntil: null, lastError: "no link" });
      return null;
    }
    try {
      const to = keys.open(row.recipient);
      const link = keys.open(row.link);
      const lifetimeSeconds = kind === "verify_email" ? config.tokens.verifyEmailSeconds : config.tokens.resetPasswordSeconds;
      return renderEmail({ kind, to, from: config.mail.from, link, lifetimeSeconds, templates: config.mail.templates });
    } catch {
      // Sealed with another DATA_SECRET: nobody can read it any more.
      await settleClaim(this.deps, claim, {
        status: "failed",
        ...forgotten(row),
        lockedUntil: null,
        lastError: "sealed with another DATA_SECRET",
      });
      logger.error({ emailId: row.id, kind }, "email outbox: cannot unseal the email (was DATA_SECRET changed?)");
      this.deps.onResult?.(kind, "failed");
      return null;
    }
  }

  private async send(claim: Claim, message: EmailMessage): Promise<void> {
    const { transport, logger } = this.deps;
    const { row } = claim;
    const kind = row.kind as EmailKind;
    const startedAt = performance.now();
    let via: string;
    try {
      via = (await transport.send(message, { signal: this.abandon.signal }))?.via ?? transport.name;
    } catch (error) {
      await this.failed(claim, error);
      return;
    }
    // No address, no link: which email, which attempt, how long, through which provider.
    const durationMs = Math.round(performance.now() - startedAt);
    logger.info({ emailId: row.id, kind, attempt: row.attempts, durationMs, via }, "email delivered");
    this.deps.onResult?.(kind, "sent", row.createdAt);
    await this.recordDelivery(claim);
  }

  /** Delivered: forget the link (no table holds a usable token any more). Retried as a recording, never a send. */
  private async recordDelivery(claim: Claim): Promise<void> {
    const { logger } = this.deps;
    const { row } = claim;
    const values: RowUpdate = { status: "sent", ...forgotten(row), sentAt: outboxTime(this.deps), lockedUntil: null, lastError: null };
    const giveUpAt = performance.now() + RECORDING_RETRY_MS;
    for (let attempt = 1; ; attempt++) {
      try {
        if (!(await settleClaim(this.deps, claim, values))) {
          logger.warn({ emailId: row.id, kind: row.kind }, "email outbox: delivered, but its claim had passed to another instance");
        } else if (attempt > 1) {
          logger.info({ emailId: row.id, kind: row.kind, attempt }, "email outbox: delivery recorded");
        }
        return;
      } catch (error) {
        const reason = describeError(error);
        if (performance.now() >= giveUpAt || this.abandon.signal.aborted) {
          logger.error(
            { emailId: row.id, kind: row.kind, reason },
            "email outbox: could not record a delivered email: it may be sent again",
          );
          return;
        }
        if (attempt === 1)
          logger.warn(
            { emailId: row.id, kind: row.kind, reason },
            "email outbox: recording a delivery failed: retrying the recording, not the send",
          );
        await sleep(Math.min(250 * 2 ** attempt, 5000), this.abandon.signal);
      }
    }
  }

  private async failed(claim: Claim, error: unknown): Promise<void> {
    const { logger } = this.deps;
    const { row } = claim;
    const kind = row.kind as EmailKind;
    // A mail server's refusal often quotes the recipient: the row and the log keep no address.
    const reason = (error instanceof Error ? error.message : String(error)).replace(EMAIL_ADDRESS, "[email]").slice(0, 500);
    if (this.abandon.signal.aborted) {
      // Shutting down: the claim goes back at once, for another instance or the next start.
      await settleClaim(this.deps, claim, { lockedUntil: null, lastError: reason });
      return;
    }
    const refused = error instanceof PermanentMailError;
    if (claim.overdue || (refused && row.attempts >= PERMANENT_REFUSAL_TRIES)) {
      await settleClaim(this.deps, claim, { status: "failed", ...forgotten(row), lockedUntil: null, lastError: reason });
      logger.error(
        { emailId: row.id, kind, attempts: row.attempts, reason },
        refused ? "email outbox: the mail server refused the email for good: giving up" : "email outbox: giving up after 24 hours",
      );
      this.deps.onResult?.(kind, "failed");
      return;
    }
    const retryInMs = retryDelayMs(row.attempts);
    await settleClaim(this.deps, claim, { nextAttemptAt: outboxTime(this.deps, retryInMs), lockedUntil: null, lastError: reason });
    logger.warn({ emailId: row.id, kind, attempts: row.attempts, retryInMs, reason }, "email outbox: send failed, will retry");
    this.deps.onResult?.(kind, "retry");
  }

  /** Emails waiting to be delivered (for the `email_outbox_pending` metric). */
  pendingCount(): Promise<number> {
    return pendingEmails(this.deps.database);
  }
}

/** Once delivered or abandoned, only the keyed hash of the address stays (bookkeeping). */
const forgotten = (row: OutboxRow) => ({ link: null, recipient: row.recipientHash ?? "" });

/** True when `work` settled within `ms`. */
async function within(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([work.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}
