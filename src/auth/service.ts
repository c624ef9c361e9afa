import { and, eq, getTableColumns, sql } from "drizzle-orm";
import type { Logger } from "pino";
import type { Clock } from "../clock";
import type { Config } from "../config/config";
import { type Database, isUniqueViolation, type Queryable } from "../db/database";
import { ApiError } from "../http/errors";
import type { EmailKind } from "../mail/types";
import type { RateLimiter } from "../ratelimit/limiter";
import { emailDomain, isAllowedDomain, normalizeEmail } from "./email";
import { consumeEmailToken, issueEmailToken, peekEmailToken } from "./email-tokens";
import type { AuthEvent, AuthEventSink, RateLimitName, RequestContext } from "./events";
import { type HashGate, HashGateBusyError } from "./hash-gate";
import { parseEmailField, parseRegistration, requireAcceptablePassword } from "./input";
import type { AccessClaims, AccessTokens, IssuedToken, TokenRejection } from "./jwt";
import type { PasswordHasher } from "./password-hasher";
import { type PublicUser, toPublicUser, type UserRow } from "./users";

export interface AuthDeps {
  config: Config;
  database: Database;
  clock: Clock;
  logger: Logger;
  hasher: PasswordHasher;
  /** Admission to password hashing: every hash and check runs inside one of its slots. */
  hashGate: HashGate;
  tokens: AccessTokens;
  limiter: RateLimiter;
  /** Metrics and audit log. */
  events: AuthEventSink;
  /** Called after a transaction that queued an email has committed. */
  onEmailQueued: () => void;
}

export interface Session extends IssuedToken {
  user: PublicUser;
}

const invalidToken = () => new ApiError(400, "INVALID_TOKEN", "This link is invalid, expired or has already been used.");
const rateLimited = (retryAfterSeconds: number) =>
  new ApiError(429, "RATE_LIMITED", "Too many attempts. Please wait before trying again.", undefined, {
    "Retry-After": String(retryAfterSeconds),
  });
const serviceBusy = (retryAfterSeconds: number) =>
  new ApiError(503, "SERVICE_BUSY", "The service is busy. Please try again in a moment.", undefined, {
    "Retry-After": String(retryAfterSeconds),
  });
const invalidCredentials = () => new ApiError(401, "INVALID_CREDENTIALS", "The email or password is incorrect.");
const unauthorized = () =>
  new ApiError(401, "UNAUTHORIZED", "A valid access token is required.", undefined, {
    "WWW-Authenticate": 'Bearer realm="classmatefinder"',
  });

export class AuthService {
  private sessionLookup: ReturnType<typeof prepareSessionLookup> | undefined;

  constructor(private readonly deps: AuthDeps) {}

  /**
   * Runs `work` in a password-hashing slot, queued fairly by client address and account; under
   * sustained overload (see HashGate) it becomes 503 SERVICE_BUSY with Retry-After. Work that only
   * leads up to a hash runs inside the slot too, so a turned-away request has cost nothing but its wait.
   */
  private withHashSlot<T>(context: RequestContext, account: string, work: () => Promise<T>): Promise<T> {
    return this.deps.hashGate.run({ client: context.clientAddress, account }, work).catch(rethrowBusy);
  }

  private emit(context: RequestContext, event: AuthEvent) {
    this.deps.events.emit(context, event);
  }

  /** Counts one event against `key`; over the limit: the event, and 429 with Retry-After. */
  private async enforceLimit(context: RequestContext, key: string, limit: RateLimitName, failed: AuthEvent["event"], email?: string) {
    const limits = this.deps.config.rateLimits;
    const config = {
      login_account: limits.loginPerAccount,
      login_client: limits.loginPerClient,
      register_client: limits.registerPerClient,
      resend_client: limits.emailRequestsPerClient,
      forgot_client: limits.emailRequestsPerClient,
    }[limit];
    const hit = await this.deps.limiter.hit(key, config, this.deps.clock.now());
    if (hit.allowed) return;
    this.emit(context, { event: "rate_limited", outcome: "failure", limit, email });
    this.emit(context, { event: failed, outcome: "failure", reason: "rate_limited", email });
    throw rateLimited(hit.retryAfterSeconds);
  }

  /**
   * Per-client limit of a whole endpoint. The routes call it before the body is validated, because
   * every attempt counts, well-formed or not.
   */
  async limitClient(context: RequestContext, limit: "register_client" | "resend_client" | "forgot_client") {
    const event = (
      { register_client: "registration", resend_client: "verification_resend", forgot_client: "password_reset_request" } as const
    )[limit];
    await this.enforceLimit(context, `${limit}:${context.clientAddress}`, limit, event);
  }

  private get tables() {
    return this.deps.database.tables;
  }

  private findUserByEmail(email: string): Promise<UserRow | undefined> {
    const { users } = this.tables;
    return this.deps.database.db
      .select()
      .from(users)
      .where(eq(users.email, email))
      .then((rows) => rows[0]);
  }

  private findUserById(id: string): Promise<UserRow | undefined> {
    const { users } = this.tables;
    return this.deps.database.db
      .select()
      .from(users)
      .where(eq(users.id, id))
      .then((rows) => rows[0]);
  }

  private async conflictFor(email: string, username: string): Promise<ApiError | null> {
    const { users } = this.tables;
    const db = this.deps.database.db;
    const [byEmail] = await db.select({ id: users.id }).from(users).where(eq(users.email, email));
    if (byEmail) return new ApiError(409, "EMAIL_TAKEN", "An account with this email address already exists.");
    const [byName] = await db
      .select({ id: users.id })
      .from(users)
      .where(eq(sql`lower(${users.username})`, username.toLowerCase()));
    if (byName) return new ApiError(409, "USERNAME_TAKEN", "This username is already taken.");
    return null;
  }

  /** Serialises per-account email decisions (throttle count + insert) by locking the user's row. */
  private lockUser(tx: Queryable, userId: string) {
    const { users } = this.tables;
    return tx
      .update(users)
      .set({ updatedAt: sql`${users.updatedAt}` })
      .where(eq(users.id, userId));
  }

  async register(context: RequestContext, body: Parameters<typeof parseRegistration>[0]): Promise<PublicUser> {
    try {
      const user = await this.createAccount(context, body);
      this.emit(context, { event: "registration", outcome: "success", userId: user.id, email: user.email });
      return user;
    } catch (error) {
      if (error instanceof ApiError) {
        this.emit(context, {
          event: "registration",
          outcome: "failure",
          reason: error.code.toLowerCase(),
          email: typeof body.email === "string" ? normalizeEmail(body.email) : undefined,
        });
      }
      throw error;
    }
  }

  private async createAccount(context: RequestContext, body: Parameters<typeof parseRegistration>[0]): Promise<PublicUser> {
    const input = parseRegistration(body);
    if (!isAllowedDomain(emailDomain(input.email), this.deps.config.universityDomains)) {
      throw new ApiError(400, "EMAIL_DOMAIN_NOT_ALLOWED", "Registration needs an email address of a participating university.", [
        { field: "email", message: "must be a university email address" },
      ]);
    }
    const passwordHash = await this.withHashSlot(context, input.email, async () => {
      const conflict = await this.conflictFor(input.email, input.username);
      if (conflict) throw conflict;
      return this.deps.hasher.hash(input.password);
    });
    const now = this.deps.clock.now();
    const user: UserRow = {
      id: crypto.randomUUID(),
      email: input.email,
      username: input.username,
      passwordHash,
      firstName: input.firstName,
      lastName: input.lastName,
      emailVerifiedAt: null,
      tokenVersion: 0,
      createdAt: now,
      updatedAt: now,
    };
    try {
      await this.deps.database.transaction(async (tx) => {
        await tx.insert(this.tables.users).values(user);
        await issueEmailToken(tx, this.deps.database, this.deps.config, user, "verify_email", now);
      });
    } catch (error) {
      // Lost a race with a concurrent registration: the database's unique indexes decided.
      if (isUniqueViolation(error)) throw (await this.conflictFor(input.email, input.username)) ?? error;
      throw error;
    }
    this.deps.onEmailQueued();
    return toPublicUser(user);
  }

  async verifyEmail(context: RequestContext, token: string): Promise<PublicUser> {
    try {
      const user = await this.consumeVerificationToken(token);
      this.emit(context, { event: "email_verification", outcome: "success", userId: user.id, email: user.email });
      return user;
    } catch (error) {
      if (error instanceof ApiError) this.emit(context, { event: "email_verification", outcome: "failure", reason: "invalid_token" });
      throw error;
    }
  }

  private async consumeVerificationToken(token: string): Promise<PublicUser> {
    const { users } = this.tables;
    const now = this.deps.clock.now();
    const user = await this.deps.database.transaction(async (tx) => {
      const userId = await consumeEmailToken(tx, this.deps.database, token, "verify_email", now);
      if (!userId) throw invalidToken();
      const [verified] = await tx.update(users).set({ emailVerifiedAt: now, updatedAt: now }).where(eq(users.id, userId)).returning();
      return verified;
    });
    if (!user) throw invalidToken();
    return toPublicUser(user);
  }

  /** Same outcome for every well-formed address: only the mailbox owner learns anything. */
  async resendVerification(context: RequestContext, rawEmail: string): Promise<void> {
    const email = parseEmailField(rawEmail);
    const user = await this.findUserByEmail(email);
    const queued = user && !user.emailVerifiedAt && (await this.queueAccountEmail(user, "verify_email"));
    // The outcome says whether an email was queued; the HTTP answer is the same either way.
    this.emit(context, {
      event: "verification_resend",
      outcome: queued ? "success" : "failure",
      userId: user?.id,
      email,
      reason: queued ? undefined : !user ? "unknown_account" : user.emailVerifiedAt ? "already_verified" : "throttled",
    });
  }

  private async queueAccountEmail(user: UserRow, kind: EmailKind): Promise<boolean> {
    const queued = await this.deps.database.transaction(async (tx) => {
      await this.lockUser(tx, user.id);
      return issueEmailToken(tx, this.deps.database, this.deps.config, user, kind, this.deps.clock.now());
    });
    if (queued) this.deps.onEmailQueued();
    return queued;
  }

  /**
   * Attempts are counted before the password is checked (so concurrent guesses cannot slip past the
   * limit) and taken back when the password was right: the counters hold failed logins only. All of
   * it waits for a hashing slot first, so a login turned away at capacity has counted nothing.
   */
  async login(context: RequestContext, rawEmail: string, password: string): Promise<Session> {
    const email = normalizeEmail(rawEmail);
    const clientKey = `login:client:${context.clientAddress}`;
    const accountKey = `login:account:${email}`;
    const { user, passwordOk } = await this.withHashSlot(context, email, async () => {
      await this.enforceLimit(context, clientKey, "login_client", "login", email);
      await this.enforceLimit(context, accountKey, "login_account", "login", email);
      const user = await this.findUserByEmail(email);
      return { user, passwordOk: await this.deps.hasher.verify(password, user?.passwordHash ?? this.deps.hasher.unmatchableHash) };
    }).catch((error) => {
      if (error instanceof ApiError && error.code === "SERVICE_BUSY") {
        this.emit(context, { event: "login", outcome: "failure", reason: "service_busy", email });
      }
      throw error;
    });
    if (!user || !passwordOk) {
      this.emit(context, { event: "login", outcome: "failure", reason: "invalid_credentials", userId: user?.id, email });
      throw invalidCredentials();
    }
    await this.deps.limiter.reset(accountKey);
    await this.deps.limiter.undo(clientKey);
    if (this.deps.hasher.needsRehash(user.passwordHash)) await this.upgradePasswordHash(context, user, password);
    if (!user.emailVerifiedAt) {
      this.emit(context, { event: "login", outcome: "failure", reason: "unverified", userId: user.id, email });
      throw new ApiError(403, "EMAIL_NOT_VERIFIED", "Please verify your email address first; we can send the link again.");
    }
    this.emit(context, { event: "login", outcome: "success", userId: user.id, email });
    return this.session(user);
  }

  /**
   * Re-hashes a password made with other argon2id parameters than the configured ones, at the only
   * moment the password is known. Best effort: when it cannot happen now, the next login tries again.
   */
  private async upgradePasswordHash(context: RequestContext, user: UserRow, password: string): Promise<void> {
    const { users } = this.tables;
    try {
      const passwordHash = await this.withHashSlot(context, user.email, () => this.deps.hasher.hash(password));
      // Only if the hash is still the one just checked: a concurrent password change wins.
      await this.deps.database.statement((db) =>
        db
          .update(users)
          .set({ passwordHash })
          .where(and(eq(users.id, user.id), eq(users.passwordHash, user.passwordHash))),
      );
    } catch (error) {
      this.deps.logger.warn({ userId: user.id, err: error instanceof Error ? error.name : "unknown" }, "password hash upgrade postponed");
    }
  }

  private async session(user: UserRow): Promise<Session> {
    const issued = await this.deps.tokens.issue(user, this.deps.clock.now(), this.deps.config.jwt.expiresInSeconds);
    return { ...issued, user: toPublicUser(user) };
  }

  /** Resolves an `Authorization` header to its user, or throws 401 UNAUTHORIZED. */
  async authenticate(context: RequestContext, authorization: string | null | undefined): Promise<{ user: UserRow; claims: AccessClaims }> {
    const reject = (reason: TokenRejection) => {
      this.emit(context, { event: "token_rejected", outcome: "failure", reason });
      return unauthorized();
    };
    if (!authorization) throw reject("missing");
    const match = /^Bearer ([A-Za-z0-9_\-.=]+)$/i.exec(authorization.trim());
    if (!match?.[1]) throw reject("malformed");
    const now = this.deps.clock.now();
    const claims = this.deps.tokens.verify(match[1], now);
    if (typeof claims === "string") throw reject(claims);
    this.sessionLookup ??= prepareSessionLookup(this.deps.database);
    const [row] = await this.sessionLookup.execute({ userId: claims.sub, jti: claims.jti });
    if (!row) throw reject("user_not_found");
    const { revoked, ...user } = row;
    if (revoked) throw reject("revoked");
    if (user.tokenVersion !== claims.tv) throw reject("stale");
    return { user, claims };
  }

  async logout(context: RequestContext, user: UserRow, claims: AccessClaims): Promise<void> {
    const { revokedTokens } = this.tables;
    this.emit(context, { event: "logout", outcome: "success", userId: user.id, email: user.email });
    await this.deps.database.statement((db) =>
      db
        .insert(revokedTokens)
        .values({ jti: claims.jti, expiresAt: new Date(claims.exp * 1000) })
        .onConflictDoNothing(),
    );
  }

  async forgotPassword(context: RequestContext, rawEmail: string): Promise<void> {
    const email = parseEmailField(rawEmail);
    const user = await this.findUserByEmail(email);
    const queued = user && (await this.queueAccountEmail(user, "reset_password"));
    this.emit(context, {
      event: "password_reset_request",
      outcome: queued ? "success" : "failure",
      userId: user?.id,
      email,
      reason: queued ? undefined : user ? "throttled" : "unknown_account",
    });
  }

  async resetPassword(context: RequestContext, token: string, password: string): Promise<void> {
    try {
      const user = await this.replacePasswordWithToken(context, token, password);
      this.emit(context, { event: "password_reset", outcome: "success", userId: user.id, email: user.email });
    } catch (error) {
      if (error instanceof ApiError) this.emit(context, { event: "password_reset", outcome: "failure", reason: error.code.toLowerCase() });
      throw error;
    }
  }

  private async replacePasswordWithToken(context: RequestContext, token: string, password: string): Promise<UserRow> {
    const { database, clock } = this.deps;
    const userId = await peekEmailToken(database, token, "reset_password", clock.now());
    const user = userId && (await this.findUserById(userId));
    if (!user) throw invalidToken();
    // The password is checked (and hashed, slowly) before the token is used: a refused password keeps it usable.
    requireAcceptablePassword("password", password, user);
    const passwordHash = await this.withHashSlot(context, user.email, () => this.deps.hasher.hash(password));
    const now = clock.now();
    const { users } = this.tables;
    await database.transaction(async (tx) => {
      if (!(await consumeEmailToken(tx, database, token, "reset_password", now))) throw invalidToken();
      await tx
        .update(users)
        .set({ passwordHash, tokenVersion: sql`${users.tokenVersion} + 1`, updatedAt: now })
        .where(eq(users.id, user.id));
    });
    return user;
  }

  async changePassword(context: RequestContext, user: UserRow, currentPassword: string, newPassword: string): Promise<Session> {
    const fail = (error: ApiError) => {
      this.emit(context, {
        event: "password_change",
        outcome: "failure",
        reason: error.code.toLowerCase(),
        userId: user.id,
        email: user.email,
      });
      return error;
    };
    if (!(await this.withHashSlot(context, user.email, () => this.deps.hasher.verify(currentPassword, user.passwordHash)))) {
      throw fail(new ApiError(400, "INVALID_CURRENT_PASSWORD", "The current password is incorrect."));
    }
    try {
      requireAcceptablePassword("newPassword", newPassword, user);
    } catch (error) {
      throw error instanceof ApiError ? fail(error) : error;
    }
    const passwordHash = await this.withHashSlot(context, user.email, () => this.deps.hasher.hash(newPassword));
    const { users } = this.tables;
    const [updated] = await this.deps.database.statement((db) =>
      db
        .update(users)
        .set({ passwordHash, tokenVersion: sql`${users.tokenVersion} + 1`, updatedAt: this.deps.clock.now() })
        .where(eq(users.id, user.id))
        .returning(),
    );
    if (!updated) throw unauthorized();
    this.emit(context, { event: "password_change", outcome: "success", userId: user.id, email: user.email });
    return this.session(updated);
  }
}

function rethrowBusy(error: unknown): never {
  throw error instanceof HashGateBusyError ? serviceBusy(error.retryAfterSeconds) : error;
}

/** Every authenticated request runs this: prepared once, one round trip for the user and the revocation. */
function prepareSessionLookup({ db, tables: { users, revokedTokens } }: Database) {
  return db
    .select({
      ...getTableColumns(users),
      revoked: sql<boolean>`exists (select 1 from ${revokedTokens} where ${revokedTokens.jti} = ${sql.placeholder("jti")})`.mapWith(
        Boolean,
      ),
    })
    .from(users)
    .where(eq(users.id, sql.placeholder("userId")))
    .prepare("session_lookup");
}
