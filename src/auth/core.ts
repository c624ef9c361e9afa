import { eq, sql } from "drizzle-orm";
import type { Logger } from "pino";
import type { Clock } from "../clock";
import type { Config } from "../config/config";
import type { Database, Db, Queryable } from "../db/database";
import { type HashGate, HashGateBusyError } from "../hashing/hash-gate";
import { findMatchingHash, type PasswordHasher } from "../hashing/password-hasher";
import type { Hit, RateLimiter } from "../ratelimit/limiter";
import { mailboxOf } from "./email";
import { AuthError } from "./errors";
import type { AuthEvent, AuthEventSink, RateLimitName, RequestContext } from "./events";
import type { DeferredWork } from "./in-process";
import type { AccessTokens, IssuedToken } from "./jwt";
import type { Keys } from "./keys";
import { normalizePassword } from "./password-policy";
import type { Statements } from "./statements";
import { type PublicUser, toPublicUser, type UserRow } from "./users";

/** How long an answer of 503 SERVICE_BUSY that did not wait in line is held (see withHashSlot). */
const SHED_HOLD_MS = 25;

/** What the account flows (registration, sessions, passwords) are given: everything they use, passed in. */
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
  /** Work deferred past an answer (in-process.ts). */
  deferred: DeferredWork;
  /** Statements built once, on first use (the tables exist only after `migrate`). */
  statements: Statements;
}

export interface Session extends IssuedToken {
  user: PublicUser;
}

/** A login's answer (login, verify-email). */
export interface LoginResult extends Session {
  /** See device-tokens.ts. */
  deviceToken: string;
}

/** A rate-limit key and the limit it counts against. */
export interface LimitedKey {
  key: string;
  limit: RateLimitName;
}

/**
 * The per-address failed-login counter: logins, change-password's current-password checks and
 * verify-email's password checks share it. Keyed by the address, registered or not, so a 429 tells nothing.
 */
export const accountLoginKey = (email: string) => `login:account:${email}`;
export const clientLoginKey = (clientAddress: string) => `login:client:${clientAddress}`;

/**
 * Runs `work` in a password-hashing slot, queued fairly by client address and account; under sustained
 * overload (see HashGate) it becomes SERVICE_BUSY with the queue's Retry-After. Work that only leads up
 * to a hash runs inside the slot too, so a turned-away request has cost nothing but its wait.
 */
export function withHashSlot<T>(deps: AuthDeps, context: RequestContext, account: string, work: () => Promise<T>): Promise<T> {
  return deps.hashGate.run({ client: context.clientAddress, account }, work).catch(async (error) => {
    if (!(error instanceof HashGateBusyError)) throw error;
    throw await busyAnswer(error);
  });
}

/**
 * Before a request's body is read: a rejection with SERVICE_BUSY when the hashing queue would turn
 * this client away whatever it sends (HashGate.refuseEarly), else nothing (no promise to wait for).
 * `event` names what a turned-away request counts as.
 */
export function refuseWhenBusy(deps: AuthDeps, context: RequestContext, event?: "login"): Promise<never> | undefined {
  const busy = deps.hashGate.refuseEarly(context.clientAddress);
  if (!busy) return undefined;
  if (event) deps.events.emit(context, { event, outcome: "failure", reason: "service_busy" });
  return busyAnswer(busy).then((answer) => Promise.reject(answer));
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

/**
 * Checks a password as typed against a stored hash: its NFKC form, and (only when that differs) the
 * form as typed, which is what releases before NFKC hashed. Unknown accounts go the same way.
 */
export async function checkPassword(deps: AuthDeps, typed: string, hash: string): Promise<{ matched: boolean; legacy: boolean }> {
  const normalized = normalizePassword(typed);
  if (await deps.hasher.verify(normalized, hash)) return { matched: true, legacy: false };
  if (normalized === typed) return { matched: false, legacy: false };
  const matched = await deps.hasher.verify(typed, hash);
  return { matched, legacy: matched };
}

/** Whose password `typed` is among the rows of one address: the verified account, or one pending registration. */
export interface AddressMatch {
  user: UserRow | undefined;
  /** The hash was made before passwords were NFKC-normalised: rehash it now that the password is known. */
  legacy: boolean;
}

/**
 * Checks a password against an address: its verified account if it has one, else every pending
 * registration of it — which share the address's salt (hashForAddress), so that costs one hash
 * however many there are. An unknown address costs one hash too (the unmatchable one).
 */
export async function matchAddressPassword(deps: AuthDeps, typed: string, rows: readonly UserRow[]): Promise<AddressMatch> {
  const verified = rows.find((row) => row.emailVerifiedAt);
  if (verified || rows.length === 0) {
    const check = await checkPassword(deps, typed, verified?.passwordHash ?? deps.hasher.unmatchableHash);
    return { user: check.matched ? verified : undefined, legacy: check.legacy };
  }
  const hashes = rows.map((row) => row.passwordHash);
  const normalized = normalizePassword(typed);
  const index = await findMatchingHash(deps.hasher, normalized, hashes);
  if (index !== -1 || normalized === typed) return { user: rows[index], legacy: false };
  const legacy = await findMatchingHash(deps.hasher, typed, hashes);
  return { user: rows[legacy], legacy: legacy !== -1 };
}

/**
 * Hashes a registration's password with its address's salt (when the hasher takes one): every pending
 * registration of an address can then be checked with one hash (matchAddressPassword). The salt is a
 * keyed hash of the address: unique per address, unknown without DATA_SECRET.
 */
export function hashForAddress(deps: AuthDeps, password: string, email: string): Promise<string> {
  const { hasher, keys } = deps;
  if (!hasher.hashWithSalt) return hasher.hash(password);
  const salt = Buffer.from(keys.bookkeepingHash(`registration-salt:${email}`), "base64url").subarray(0, 16);
  return hasher.hashWithSalt(password, salt);
}

/** Counts one event against each key, in one statement; the first limit exceeded (in the order given) is the one reported. */
export async function enforceLimits(
  deps: AuthDeps,
  context: RequestContext,
  keys: LimitedKey[],
  failed: AuthEvent["event"],
  email?: string,
): Promise<void> {
  const hits = await deps.limiter.hitEach(limited(deps, keys), deps.clock.now());
  rejectExceeded(deps, context, keys, hits, failed, email);
}

/** Per-client limit of a whole endpoint, counted before the body is validated: every attempt counts. */
export function limitClient(deps: AuthDeps, context: RequestContext, limit: "register_client" | "resend_client" | "forgot_client") {
  const event = (
    { register_client: "registration", resend_client: "verification_resend", forgot_client: "password_reset_request" } as const
  )[limit];
  return enforceLimits(deps, context, [{ key: `${limit}:${context.clientAddress}`, limit }], event);
}

/**
 * enforceLimits, then the rows of `email` (its verified account or its pending registrations). On
 * PostgreSQL in one statement — the counting upsert as a data-modifying CTE, the users joined to the
 * counted rows — one round trip where two would be: a round trip costs the service more CPU than
 * anything else a login does besides its hash. SQLite has no round trips: two statements.
 */
export async function enforceLimitsAndFindAddress(
  deps: AuthDeps,
  context: RequestContext,
  keys: LimitedKey[],
  failed: AuthEvent["event"],
  email: string,
): Promise<UserRow[]> {
  const { database, limiter, clock, statements } = deps;
  if (database.kind !== "postgres" || keys.length !== 2) {
    await enforceLimits(deps, context, keys, failed, email);
    return findAddress(deps, email);
  }
  const planned = limiter.plan(limited(deps, keys), clock.now());
  const rows = await statements.countingLookup().execute({ ...planned.parameters, email });
  rejectExceeded(deps, context, keys, planned.hits(rows), failed, email);
  const users = new Map<string, UserRow>();
  for (const { user } of rows) if (user) users.set(user.id, user);
  return [...users.values()];
}

function limited(deps: AuthDeps, keys: LimitedKey[]) {
  const limits = deps.config.rateLimits;
  const configOf = {
    login_account: limits.loginPerAccount,
    login_client: limits.loginPerClient,
    register_client: limits.registerPerClient,
    resend_client: limits.emailRequestsPerClient,
    forgot_client: limits.emailRequestsPerClient,
  };
  return keys.map(({ key, limit }) => ({ key, limit: configOf[limit] }));
}

function rejectExceeded(
  deps: AuthDeps,
  context: RequestContext,
  keys: LimitedKey[],
  hits: Hit[],
  failed: AuthEvent["event"],
  email?: string,
) {
  const exceeded = hits.findIndex((hit) => !hit.allowed);
  if (exceeded === -1) return;
  const limit = keys[exceeded]?.limit;
  deps.events.emit(context, { event: "rate_limited", outcome: "failure", limit, email });
  deps.events.emit(context, { event: failed, outcome: "failure", reason: "rate_limited", email });
  throw new AuthError("RATE_LIMITED", { retryAfterSeconds: hits[exceeded]?.retryAfterSeconds });
}

/** The rows of an address: its verified account (at most one), or its pending registrations, oldest first. */
function findAddress(deps: AuthDeps, email: string): Promise<UserRow[]> {
  return deps.statements.usersByEmail().execute({ email });
}

export function findUserById(deps: AuthDeps, id: string): Promise<UserRow | undefined> {
  return deps.statements
    .userById()
    .execute({ id })
    .then((rows) => rows[0]);
}

/**
 * Serialises everything that decides about one mailbox (an address without its +tag): registering,
 * verifying, sending its links. Taken first in each such transaction, before any row lock, so those
 * transactions never wait for each other in two orders (no deadlock). PostgreSQL: a transaction-scoped
 * advisory lock (works through PgBouncer in transaction mode); SQLite runs one writer at a time anyway.
 */
export async function lockMailbox(deps: AuthDeps, tx: Queryable, email: string): Promise<void> {
  if (deps.database.kind !== "postgres") return;
  const key = deps.keys.bookkeepingHash(`mailbox-lock:${mailboxOf(email)}`);
  await (tx as Db).execute(sql`SELECT pg_advisory_xact_lock(hashtextextended(${key}, 0))`);
}

/** Locks an account's row for the rest of the transaction: taken before its tokens (one order everywhere). */
export async function lockUser(deps: AuthDeps, tx: Queryable, userId: string): Promise<UserRow | undefined> {
  const { users } = deps.database.tables;
  const query = tx.select().from(users).where(eq(users.id, userId));
  const [row] = await (deps.database.kind === "postgres" ? query.for("update") : query);
  return row;
}

export async function issueSession(deps: AuthDeps, user: UserRow): Promise<Session> {
  const issued = await deps.tokens.issue(user, deps.clock.now(), deps.config.jwt.expiresInSeconds);
  return { ...issued, user: toPublicUser(user) };
}
