import { eq, getTableColumns, sql } from "drizzle-orm";
import type { Logger } from "pino";
import type { Clock } from "../clock";
import type { Config } from "../config/config";
import type { Database, Queryable } from "../db/database";
import { type HashGate, HashGateBusyError } from "../hashing/hash-gate";
import type { PasswordHasher } from "../hashing/password-hasher";
import { countingUpsert, type Hit, type RateLimiter } from "../ratelimit/limiter";
import { AuthError } from "./errors";
import type { AuthEvent, AuthEventSink, RateLimitName, RequestContext } from "./events";
import type { AccessTokens, IssuedToken } from "./jwt";
import type { Keys } from "./keys";
import { normalizePassword } from "./password-policy";
import { type PublicUser, toPublicUser, type UserRow } from "./users";

/** How long an answer of 503 SERVICE_BUSY that did not wait in line is held (see withHashSlot). */
const SHED_HOLD_MS = 25;

export interface AuthDeps {
  config: Config;
  database: Database;
  clock: Clock;
  logger: Logger;
  hasher: PasswordHasher;
  /** Admission to password hashing: every hash and check runs inside one of its slots. */
  hashGate: HashGate;
  tokens: AccessTokens;
  keys: Keys;
  limiter: RateLimiter;
  /** Metrics and audit log. */
  events: AuthEventSink;
  /** Called after a transaction that queued an email has committed. */
  onEmailQueued: () => void;
  /** Told when deferred work starts and ends, so that a shutdown waits for it (the in-flight requests). */
  background?: { begin(): void; end(): void };
}

export interface Session extends IssuedToken {
  user: PublicUser;
}

/** A rate-limit key and the limit it counts against. */
export interface LimitedKey {
  key: string;
  limit: RateLimitName;
}

/** The per-account failed-login counter: logins and change-password's current-password checks share it. */
export const accountLoginKey = (email: string) => `login:account:${email}`;

/** What the capabilities (accounts, sessions, passwords) share: lookups, limits, hashing slots, events. */
export class AuthRules {
  private readonly pending = new Set<Promise<void>>();
  /** Prepared on first use (the tables exist only after `migrate`): built once, not on every login. */
  private userLookups: ReturnType<typeof prepareUserLookups> | undefined;
  private countingLookup: ReturnType<typeof prepareCountingLookup> | undefined;

  constructor(protected readonly deps: AuthDeps) {}

  protected get tables() {
    return this.deps.database.tables;
  }

  /**
   * Runs `work` in a password-hashing slot, queued fairly by client address and account; under sustained
   * overload (see HashGate) it becomes SERVICE_BUSY with the queue's Retry-After. Work that only leads up
   * to a hash runs inside the slot too, so a turned-away request has cost nothing but its wait.
   */
  protected withHashSlot<T>(context: RequestContext, account: string, work: () => Promise<T>): Promise<T> {
    return this.deps.hashGate.run({ client: context.clientAddress, account }, work).catch(async (error) => {
      if (!(error instanceof HashGateBusyError)) throw error;
      throw await busyAnswer(error);
    });
  }

  /**
   * Before a request's body is read: a rejection with SERVICE_BUSY when the hashing queue would turn
   * this client away whatever it sends (HashGate.refuseEarly), else nothing (no promise to wait for).
   * `event` names what a turned-away request counts as.
   */
  refuseWhenBusy(context: RequestContext, event?: "login"): Promise<never> | undefined {
    const busy = this.deps.hashGate.refuseEarly(context.clientAddress);
    if (!busy) return undefined;
    if (event) this.emit(context, { event, outcome: "failure", reason: "service_busy" });
    return busyAnswer(busy).then((answer) => Promise.reject(answer));
  }

  /**
   * Checks a password as typed against a stored hash: its NFKC form, and (only when that differs) the
   * form as typed, which is what releases before NFKC hashed. Unknown accounts go the same way.
   */
  protected async checkPassword(typed: string, hash: string): Promise<{ matched: boolean; legacy: boolean }> {
    const normalized = normalizePassword(typed);
    if (await this.deps.hasher.verify(normalized, hash)) return { matched: true, legacy: false };
    if (normalized === typed) return { matched: false, legacy: false };
    const matched = await this.deps.hasher.verify(typed, hash);
    return { matched, legacy: matched };
  }

  protected emit(context: RequestContext, event: AuthEvent) {
    this.deps.events.emit(context, event);
  }

  /** Counts one event against `key`; over the limit: the event, and RATE_LIMITED with the seconds to wait. */
  protected enforceLimit(context: RequestContext, key: string, limit: RateLimitName, failed: AuthEvent["event"], email?: string) {
    return this.enforceLimits(context, [{ key, limit }], failed, email);
  }

  /**
   * Counts one event against each key, in one statement; the first limit exceeded (in the order given)
   * is the one reported.
   */
  protected async enforceLimits(context: RequestContext, keys: LimitedKey[], failed: AuthEvent["event"], email?: string) {
    const hits = await this.deps.limiter.hitEach(this.limited(keys), this.deps.clock.now());
    this.rejectExceeded(context, keys, hits, failed, email);
  }

  /**
   * enforceLimits, then the account of `email`. On PostgreSQL in one statement — the counting upsert as
   * a data-modifying CTE, the user joined to the counted rows — one round trip where two would be: a
   * round trip costs the service more CPU than anything else a login does besides its hash. SQLite has
   * no round trips: two statements.
   */
  protected async enforceLimitsAndFindUser(
    context: RequestContext,
    keys: LimitedKey[],
    failed: AuthEvent["event"],
    email: string,
  ): Promise<UserRow | undefined> {
    const { database, limiter, clock } = this.deps;
    if (database.kind !== "postgres") {
      await this.enforceLimits(context, keys, failed, email);
      return this.findUserByEmail(email);
    }
    const planned = limiter.plan(this.limited(keys), clock.now());
    this.countingLookup ??= prepareCountingLookup(database);
    const rows = await this.countingLookup.execute({ ...planned.parameters, email });
    this.rejectExceeded(context, keys, planned.hits(rows), failed, email);
    return rows[0]?.user ?? undefined;
  }

  private limited(keys: LimitedKey[]) {
    const limits = this.deps.config.rateLimits;
    const configOf = {
      login_account: limits.loginPerAccount,
      login_client: limits.loginPerClient,
      register_client: limits.registerPerClient,
      resend_client: limits.emailRequestsPerClient,
      forgot_client: limits.emailRequestsPerClient,
    };
    return keys.map(({ key, limit }) => ({ key, limit: configOf[limit] }));
  }

  private rejectExceeded(context: RequestContext, keys: LimitedKey[], hits: Hit[], failed: AuthEvent["event"], email?: string) {
    const exceeded = hits.findIndex((hit) => !hit.allowed);
    if (exceeded === -1) return;
    const limit = keys[exceeded]?.limit;
    this.emit(context, { event: "rate_limited", outcome: "failure", limit, email });
    this.emit(context, { event: failed, outcome: "failure", reason: "rate_limited", email });
    throw new AuthError("RATE_LIMITED", { retryAfterSeconds: hits[exceeded]?.retryAfterSeconds });
  }

  protected findUserByEmail(email: string): Promise<UserRow | undefined> {
    this.userLookups ??= prepareUserLookups(this.deps.database);
    return this.userLookups.byEmail.execute({ email }).then((rows) => rows[0]);
  }

  protected findUserById(id: string): Promise<UserRow | undefined> {
    this.userLookups ??= prepareUserLookups(this.deps.database);
    return this.userLookups.byId.execute({ id }).then((rows) => rows[0]);
  }

  /** Serialises per-account email decisions (throttle count + insert) by locking the user's row. */
  protected lockUser(tx: Queryable, userId: string) {
    const { users } = this.tables;
    return tx
      .update(users)
      .set({ updatedAt: sql`${users.updatedAt}` })
      .where(eq(users.id, userId));
  }

  protected async session(user: UserRow): Promise<Session> {
    const issued = await this.deps.tokens.issue(user, this.deps.clock.now(), this.deps.config.jwt.expiresInSeconds);
    return { ...issued, user: toPublicUser(user) };
  }

  /**
   * Runs `work` after the answer: what differs between a known and an unknown address (the account's
   * email, its throttle) then costs the request nothing, so its timing tells nothing.
   */
  protected defer(what: string, work: () => Promise<void>): void {
    this.deps.background?.begin();
    const task = work()
      .catch((error) => this.deps.logger.warn({ err: error instanceof Error ? error.message : "unknown", what }, "deferred work failed"))
      .finally(() => {
        this.pending.delete(task);
        this.deps.background?.end();
      });
    this.pending.add(task);
  }

  /** Resolves when the deferred work started so far has finished. */
  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.all(this.pending);
  }
}

function prepareUserLookups({ db, tables: { users } }: Database) {
  return {
    byEmail: db
      .select()
      .from(users)
      .where(eq(users.email, sql.placeholder("email")))
      .prepare("user_by_email"),
    byId: db
      .select()
      .from(users)
      .where(eq(users.id, sql.placeholder("id")))
      .prepare("user_by_id"),
  };
}

/**
 * A login's two counter hits and the user of its email, in one statement (PostgreSQL; see
 * enforceLimitsAndFindUser). The upsert's RETURNING, relaxed commit included, is evaluated whether or not
 * the outer SELECT reads it: a data-modifying CTE always runs to completion.
 */
function prepareCountingLookup(database: Database) {
  const { db, tables } = database;
  const hits = db.$with("hits").as(countingUpsert(database, 2));
  return db
    .with(hits)
    .select({ key: hits.key, count: hits.count, expiresAt: hits.expiresAt, user: getTableColumns(tables.users) })
    .from(hits)
    .leftJoin(tables.users, eq(tables.users.email, sql.placeholder("email")))
    .prepare("login_count_and_lookup");
}

/**
 * A request turned away by the hashing queue. One turned away without waiting is held a moment, so
 * that a client retrying in a loop (ignoring Retry-After) cannot spend the CPU the hashes need on a
 * stream of 503s. Still a fast answer.
 */
async function busyAnswer(error: HashGateBusyError): Promise<AuthError> {
  if (error.reason !== "fair_share") await Bun.sleep(SHED_HOLD_MS);
  return new AuthError("SERVICE_BUSY", { retryAfterSeconds: error.retryAfterSeconds });
}
