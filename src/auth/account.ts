import { eq, sql } from "drizzle-orm";
import { isUniqueViolation } from "../db/database";
import { deleteAccountEmails } from "../mail/outbox";
import { type AuthDeps, accountLoginKey, checkPassword, enforceLimits, lockMailbox, lockUser, withHashSlot } from "./core";
import { AuthError } from "./errors";
import type { RequestContext } from "./events";
import { oneAtATime } from "./in-process";
import { type ProfileChanges, parseProfile } from "./input";
import { type PublicUser, toPublicUser, type UserRow } from "./users";

/*
 * What a logged-in student does with their account after sign-up: change their names or username, log out
 * of every device, delete the account. The support desk's commands (src/cli/users.ts) use the same rules.
 */

/** PATCH /me: the given fields, by registration's rules; a username taken by any other registration is 409. */
export async function updateProfile(deps: AuthDeps, context: RequestContext, user: UserRow, body: ProfileChanges): Promise<PublicUser> {
  const changes = parseProfile(body);
  const { users } = deps.database.tables;
  try {
    const [updated] = await deps.database.statement((db) =>
      db
        .update(users)
        .set({ ...changes, updatedAt: deps.clock.now() })
        .where(eq(users.id, user.id))
        .returning(),
    );
    if (!updated) throw new AuthError("UNAUTHORIZED");
    deps.events.emit(context, { event: "profile_update", outcome: "success", userId: user.id, email: user.email });
    return toPublicUser(updated);
  } catch (error) {
    if (isUniqueViolation(error)) {
      deps.events.emit(context, {
        event: "profile_update",
        outcome: "failure",
        reason: "username_taken",
        userId: user.id,
        email: user.email,
      });
      throw new AuthError("USERNAME_TAKEN");
    }
    throw error;
  }
}

/** Every JWT of the account, the one presented included, is rejected from now on (its token version moves on). */
export async function logoutEverywhere(deps: AuthDeps, context: RequestContext, user: UserRow): Promise<void> {
  const { users } = deps.database.tables;
  await deps.database.statement((db) =>
    db
      .update(users)
      .set({ tokenVersion: sql`${users.tokenVersion} + 1`, updatedAt: deps.clock.now() })
      .where(eq(users.id, user.id)),
  );
  deps.events.emit(context, { event: "logout_all", outcome: "success", userId: user.id, email: user.email });
}

/**
 * DELETE /me with the password: a wrong one counts as a failed login of the address (429 after the
 * limit), as change-password's does. Deletions of one account take turns, so a double click is one
 * deletion and one 401 (the account is gone), not two password checks.
 */
export function deleteOwnAccount(deps: AuthDeps, context: RequestContext, user: UserRow, password: string): Promise<void> {
  return oneAtATime(deps, `account-deletion:${user.id}`, async () => {
    const accountKey = accountLoginKey(user.email);
    const current = await deps.statements.userById().execute({ id: user.id });
    const account = current[0];
    if (!account || account.tokenVersion !== user.tokenVersion) throw new AuthError("UNAUTHORIZED");
    const check = await withHashSlot(deps, context, user.email, async () => {
      await enforceLimits(deps, context, [{ key: accountKey, limit: "login_account" }], "account_deletion", user.email);
      return checkPassword(deps, password, account.passwordHash);
    });
    if (!check.matched) {
      deps.events.emit(context, {
        event: "account_deletion",
        outcome: "failure",
        reason: "invalid_current_password",
        userId: user.id,
        email: user.email,
      });
      throw new AuthError("INVALID_CURRENT_PASSWORD");
    }
    await deleteAccount(deps, account);
    deps.events.emit(context, { event: "account_deletion", outcome: "success", userId: user.id, email: user.email });
  });
}

/**
 * Deletes an account and everything that refers to it, in one transaction: its links (a cascade), its
 * emails, queued or sent; then its failed-login counter. The address and the username are free again;
 * its JWTs name a user that no longer exists (401).
 */
export async function deleteAccount(deps: AuthDeps, account: Pick<UserRow, "id" | "email">): Promise<boolean> {
  const { users } = deps.database.tables;
  const deleted = await deps.database.transaction(async (tx) => {
    await lockMailbox(deps, tx, account.email);
    if (!(await lockUser(deps, tx, account.id))) return false;
    await deleteAccountEmails(tx, deps.database, account.id);
    await tx.delete(users).where(eq(users.id, account.id));
    return true;
  });
  if (deleted) await deps.limiter.reset(accountLoginKey(account.email));
  return deleted;
}
