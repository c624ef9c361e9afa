import { and, eq, sql } from "drizzle-orm";
import type { Accounts } from "./accounts";
import { consumeEmailToken, endEmailTokens, peekEmailToken } from "./email-tokens";
import { AuthError } from "./errors";
import type { RequestContext } from "./events";
import { acceptablePassword, parseEmailField } from "./input";
import { type AuthDeps, AuthRules, accountLoginKey, type Session } from "./rules";
import type { UserRow } from "./users";

/**
 * Passwords: the reset by email link, and the change with the current password. Either one ends every
 * JWT issued before (token version) and every outstanding reset link of the account.
 */
export class Passwords extends AuthRules {
  /** Per account, the tail of the password changes running in this process (see changePassword). */
  private readonly changes = new Map<string, Promise<unknown>>();

  constructor(
    deps: AuthDeps,
    private readonly accounts: Accounts,
  ) {
    super(deps);
  }

  /** Same outcome and same work on the request's path for every well-formed address. */
  async forgotPassword(context: RequestContext, rawEmail: string): Promise<void> {
    const email = parseEmailField(rawEmail);
    this.defer("password_reset_request", async () => {
      const user = await this.findUserByEmail(email);
      const queued = user && (await this.accounts.queueAccountEmail(user, "reset_password"));
      this.emit(context, {
        event: "password_reset_request",
        outcome: queued ? "success" : "failure",
        userId: user?.id,
        email,
        reason: queued ? undefined : user ? "throttled" : "unknown_account",
      });
    });
  }

  async resetPassword(context: RequestContext, token: string, password: string): Promise<void> {
    try {
      const user = await this.replacePasswordWithToken(context, token, password);
      this.emit(context, { event: "password_reset", outcome: "success", userId: user.id, email: user.email });
    } catch (error) {
      if (error instanceof AuthError) this.emit(context, { event: "password_reset", outcome: "failure", reason: error.code.toLowerCase() });
      throw error;
    }
  }

  private async replacePasswordWithToken(context: RequestContext, token: string, password: string): Promise<UserRow> {
    const { database, clock } = this.deps;
    const userId = await peekEmailToken(database, token, "reset_password", clock.now());
    const user = userId && (await this.findUserById(userId));
    if (!user) throw new AuthError("INVALID_TOKEN");
    // The password is checked (and hashed, slowly) before the token is used: a refused password keeps it usable.
    const normalized = acceptablePassword("password", password, user);
    const passwordHash = await this.withHashSlot(context, user.email, () => this.deps.hasher.hash(normalized));
    const now = clock.now();
    const { users } = this.tables;
    await database.transaction(async (tx) => {
      // Using the token ends the account's other reset links too.
      if (!(await consumeEmailToken(tx, database, token, "reset_password", now))) throw new AuthError("INVALID_TOKEN");
      await tx
        .update(users)
        .set({ passwordHash, tokenVersion: sql`${users.tokenVersion} + 1`, updatedAt: now })
        .where(eq(users.id, user.id));
    });
    return user;
  }

  /**
   * A wrong current password counts as a failed login of the account (a stolen token cannot be used to
   * guess it), and the change applies only to the token version it was authenticated with: of concurrent
   * changes with one token exactly one succeeds, the others find their token stale (401). The changes of
   * one account run one after another in a process, so those others neither count as attempts nor take
   * more than one hashing slot; across instances the conditional update still lets only one win.
   */
  changePassword(context: RequestContext, user: UserRow, currentPassword: string, newPassword: string): Promise<Session> {
    const previous = this.changes.get(user.id) ?? Promise.resolve();
    const run = previous.then(() => this.changeOnce(context, user, currentPassword, newPassword));
    const tail = run.catch(() => undefined);
    this.changes.set(user.id, tail);
    void tail.then(() => {
      if (this.changes.get(user.id) === tail) this.changes.delete(user.id);
    });
    return run;
  }

  private async changeOnce(
    context: RequestContext,
    authenticated: UserRow,
    currentPassword: string,
    newPassword: string,
  ): Promise<Session> {
    const fail = (error: AuthError) => {
      this.emit(context, {
        event: "password_change",
        outcome: "failure",
        reason: error.code.toLowerCase(),
        userId: authenticated.id,
        email: authenticated.email,
      });
      return error;
    };
    // A change that finished while this one waited made its token stale.
    const user = await this.findUserById(authenticated.id);
    if (!user || user.tokenVersion !== authenticated.tokenVersion) throw fail(new AuthError("UNAUTHORIZED"));
    const accountKey = accountLoginKey(user.email);
    const check = await this.withHashSlot(context, user.email, async () => {
      await this.enforceLimit(context, accountKey, "login_account", "password_change", user.email);
      return this.checkPassword(currentPassword, user.passwordHash);
    });
    if (!check.matched) throw fail(new AuthError("INVALID_CURRENT_PASSWORD"));
    await this.deps.limiter.reset(accountKey);
    let normalized: string;
    try {
      normalized = acceptablePassword("newPassword", newPassword, user);
    } catch (error) {
      throw error instanceof AuthError ? fail(error) : error;
    }
    const passwordHash = await this.withHashSlot(context, user.email, () => this.deps.hasher.hash(normalized));
    const { database, clock } = this.deps;
    const { users } = this.tables;
    const updated = await database.transaction(async (tx) => {
      const now = clock.now();
      const [row] = await tx
        .update(users)
        .set({ passwordHash, tokenVersion: sql`${users.tokenVersion} + 1`, updatedAt: now })
        .where(and(eq(users.id, user.id), eq(users.tokenVersion, user.tokenVersion)))
        .returning();
      if (row) await endEmailTokens(tx, database, user.id, "reset_password", now);
      return row;
    });
    if (!updated) throw fail(new AuthError("UNAUTHORIZED"));
    this.emit(context, { event: "password_change", outcome: "success", userId: user.id, email: user.email });
    return this.session(updated);
  }
}
