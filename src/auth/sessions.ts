import { and, eq, getTableColumns, sql } from "drizzle-orm";
import type { Database } from "../db/database";
import { normalizeEmail } from "./email";
import { AuthError } from "./errors";
import type { RequestContext } from "./events";
import type { AccessClaims, TokenRejection } from "./jwt";
import { normalizePassword } from "./password-policy";
import { AuthRules, accountLoginKey, type Session } from "./rules";
import type { UserRow } from "./users";

/** Sessions: login, the bearer token of every authenticated request, logout. */
export class Sessions extends AuthRules {
  private sessionLookup: ReturnType<typeof prepareSessionLookup> | undefined;

  /** Per-client limit of a whole endpoint, counted before the body is validated: every attempt counts. */
  async limitClient(context: RequestContext, limit: "register_client" | "resend_client" | "forgot_client") {
    const event = (
      { register_client: "registration", resend_client: "verification_resend", forgot_client: "password_reset_request" } as const
    )[limit];
    await this.enforceLimit(context, `${limit}:${context.clientAddress}`, limit, event);
  }

  /**
   * Attempts are counted before the password is checked (so concurrent guesses cannot slip past the
   * limit) and taken back when the password was right: the counters hold failed logins only. All of
   * it waits for a hashing slot first, so a login turned away at capacity has counted nothing.
   */
  async login(context: RequestContext, rawEmail: string, password: string): Promise<Session> {
    const email = normalizeEmail(rawEmail);
    const clientKey = `login:client:${context.clientAddress}`;
    const accountKey = accountLoginKey(email);
    const { user, check } = await this.withHashSlot(context, email, async () => {
      const user = await this.enforceLimitsAndFindUser(
        context,
        [
          { key: clientKey, limit: "login_client" },
          { key: accountKey, limit: "login_account" },
        ],
        "login",
        email,
      );
      return { user, check: await this.checkPassword(password, user?.passwordHash ?? this.deps.hasher.unmatchableHash) };
    }).catch((error) => {
      if (error instanceof AuthError && error.code === "SERVICE_BUSY") {
        this.emit(context, { event: "login", outcome: "failure", reason: "service_busy", email });
      }
      throw error;
    });
    if (!user || !check.matched) {
      this.emit(context, { event: "login", outcome: "failure", reason: "invalid_credentials", userId: user?.id, email });
      throw new AuthError("INVALID_CREDENTIALS");
    }
    await this.deps.limiter.forgive(accountKey, clientKey);
    if (check.legacy || this.deps.hasher.needsRehash(user.passwordHash))
      await this.upgradePasswordHash(context, user, normalizePassword(password));
    if (!user.emailVerifiedAt) {
      this.emit(context, { event: "login", outcome: "failure", reason: "unverified", userId: user.id, email });
      throw new AuthError("EMAIL_NOT_VERIFIED");
    }
    this.emit(context, { event: "login", outcome: "success", userId: user.id, email });
    return this.session(user);
  }

  /**
   * Re-hashes a password made with other argon2id parameters than the configured ones (or before NFKC),
   * at the only moment the password is known. Best effort: when it cannot happen now, the next login tries again.
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

  /** Resolves an `Authorization` header to its user, or throws UNAUTHORIZED. */
  async authenticate(context: RequestContext, authorization: string | null | undefined): Promise<{ user: UserRow; claims: AccessClaims }> {
    const reject = (reason: TokenRejection) => {
      this.emit(context, { event: "token_rejected", outcome: "failure", reason });
      return new AuthError("UNAUTHORIZED");
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
