import { and, eq, sql } from "drizzle-orm";
import {
  type AuthDeps,
  accountLoginKey,
  checkPassword,
  enforceLimits,
  findUserById,
  issueSession,
  lockUser,
  type Session,
  withHashSlot,
} from "./core";
import { requestEmail } from "./email-requests";
import { AuthError } from "./errors";
import type { RequestContext } from "./events";
import { oneAtATime } from "./in-process";
import { acceptablePassword, parseEmailField } from "./input";
import { endResetLinks, resetLinkAccount, useResetLink } from "./links";
import type { UserRow } from "./users";

/*
 * Passwords: the reset by email link, and the change with the current password. Either one ends every
 * JWT issued before (token version) and every outstanding reset link of the account. Each transaction
 * locks the account's row before its links: one order everywhere, so two of them never deadlock.
 */

/** Same outcome and same work on the request's path for every well-formed address (email-requests.ts). */
export async function forgotPassword(deps: AuthDeps, context: RequestContext, rawEmail: string): Promise<void> {
  // Only a verified account has a password to reset; a pending registration is simply registered again.
  await requestEmail(deps, context, "reset_password", parseEmailField(rawEmail));
}

export async function resetPassword(deps: AuthDeps, context: RequestContext, token: string, password: string): Promise<void> {
  try {
    const user = await replacePasswordWithLink(deps, context, token, password);
    deps.events.emit(context, { event: "password_reset", outcome: "success", userId: user.id, email: user.email });
  } catch (error) {
    if (error instanceof AuthError) {
      deps.events.emit(context, { event: "password_reset", outcome: "failure", reason: error.code.toLowerCase() });
    }
    throw error;
  }
}

async function replacePasswordWithLink(deps: AuthDeps, context: RequestContext, token: string, password: string): Promise<UserRow> {
  const { database, clock, limiter } = deps;
  const userId = await resetLinkAccount(deps, token, clock.now());
  const user = userId && (await findUserById(deps, userId));
  if (!user) throw new AuthError("INVALID_TOKEN");
  // The password is checked (and hashed, slowly) before the link is used: a refused password keeps it usable.
  const normalized = acceptablePassword("password", password, user);
  const passwordHash = await withHashSlot(deps, context, user.email, () => deps.hasher.hash(normalized));
  const { users } = database.tables;
  await database.transaction(async (tx) => {
    await lockUser(deps, tx, user.id);
    const now = clock.now();
    // Using the link ends the account's other reset links too.
    if (!(await useResetLink(deps, tx, token, user.id, now))) throw new AuthError("INVALID_TOKEN");
    await tx
      .update(users)
      .set({ passwordHash, tokenVersion: sql`${users.tokenVersion} + 1`, updatedAt: now })
      .where(eq(users.id, user.id));
  });
  // The reset proved control of the mailbox: whoever guessed at the account before no longer locks it.
  await limiter.reset(accountLoginKey(user.email));
  return user;
}

/**
 * A wrong current password counts as a failed login of the account (a stolen token cannot be used to
 * guess it), and the change applies only to the token version it was authenticated with: of concurrent
 * changes with one token exactly one succeeds, the others find their token stale (401). The changes of
 * one account run one after another in a process, so those others neither count as attempts nor take
 * more than one hashing slot; across instances the conditional update still lets only one win.
 */
export function changePassword(
  deps: AuthDeps,
  context: RequestContext,
  user: UserRow,
  currentPassword: string,
  newPassword: string,
): Promise<Session> {
  return oneAtATime(deps, `password-change:${user.id}`, () => changeOnce(deps, context, user, currentPassword, newPassword));
}

async function changeOnce(
  deps: AuthDeps,
  context: RequestContext,
  authenticated: UserRow,
  currentPassword: string,
  newPassword: string,
): Promise<Session> {
  const fail = (error: AuthError) => {
    deps.events.emit(context, {
      event: "password_change",
      outcome: "failure",
      reason: error.code.toLowerCase(),
      userId: authenticated.id,
      email: authenticated.email,
    });
    return error;
  };
  // A change that finished while this one waited made its token stale.
  const user = await findUserById(deps, authenticated.id);
  if (!user || user.tokenVersion !== authenticated.tokenVersion) throw fail(new AuthError("UNAUTHORIZED"));
  const accountKey = accountLoginKey(user.email);
  const check = await withHashSlot(deps, context, user.email, async () => {
    await enforceLimits(deps, context, [{ key: accountKey, limit: "login_account" }], "password_change", user.email);
    return checkPassword(deps, currentPassword, user.passwordHash);
  });
  if (!check.matched) throw fail(new AuthError("INVALID_CURRENT_PASSWORD"));
  await deps.limiter.reset(accountKey);
  let normalized: string;
  try {
    normalized = acceptablePassword("newPassword", newPassword, user);
  } catch (error) {
    throw error instanceof AuthError ? fail(error) : error;
  }
  const passwordHash = await withHashSlot(deps, context, user.email, () => deps.hasher.hash(normalized));
  const { database, clock } = deps;
  const { users } = database.tables;
  const updated = await database.transaction(async (tx) => {
    const now = clock.now();
    const [row] = await tx
      .update(users)
      .set({ passwordHash, tokenVersion: sql`${users.tokenVersion} + 1`, updatedAt: now })
      .where(and(eq(users.id, user.id), eq(users.tokenVersion, user.tokenVersion)))
      .returning();
    if (row) await endResetLinks(deps, tx, user.id, now);
    return row;
  });
  if (!updated) throw fail(new AuthError("UNAUTHORIZED"));
  deps.events.emit(context, { event: "password_change", outcome: "success", userId: user.id, email: user.email });
  return issueSession(deps, updated);
}
