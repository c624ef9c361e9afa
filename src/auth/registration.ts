import { and, eq, isNotNull, isNull, ne, or, sql } from "drizzle-orm";
import { isUniqueViolation } from "../db/database";
import { cancelPendingEmails } from "../mail/outbox";
import {
  type AuthDeps,
  accountLoginKey,
  clientLoginKey,
  enforceLimitsAndFindAddress,
  hashForAddress,
  issueSession,
  type LoginResult,
  lockMailbox,
  matchAddressPassword,
  withHashSlot,
} from "./core";
import { issueDeviceToken } from "./device-tokens";
import { emailDomain, isAllowedDomain, normalizeEmail } from "./email";
import { requestEmail } from "./email-requests";
import { AuthError } from "./errors";
import type { RequestContext } from "./events";
import { oneAtATime } from "./in-process";
import { parseEmailField, parseRegistration } from "./input";
import { addressState, verificationLinkAddress, writeLink } from "./links";
import { hashEmailToken } from "./secrets";
import { type PublicUser, toPublicUser, type UserRow } from "./users";

/*
 * Registration and email verification. An address is taken only by a verified account. Until one is
 * verified, pending registrations of the address coexist, each with its own username, password and names;
 * a registration never ends or changes another. Every live link of the address works for each of them,
 * and verify-email activates the one whose password comes with the link: only someone who reads the
 * mailbox *and* knows a registration's password can activate it, whoever registered first or last.
 */

export async function register(
  deps: AuthDeps,
  context: RequestContext,
  body: Parameters<typeof parseRegistration>[0],
): Promise<PublicUser> {
  try {
    const user = await createRegistration(deps, context, body);
    deps.events.emit(context, { event: "registration", outcome: "success", userId: user.id, email: user.email });
    return toPublicUser(user);
  } catch (error) {
    if (error instanceof AuthError) {
      const email = typeof body.email === "string" ? normalizeEmail(body.email) : undefined;
      deps.events.emit(context, { event: "registration", outcome: "failure", reason: error.code.toLowerCase(), email });
    }
    throw error;
  }
}

/** EMAIL_TAKEN only for a verified account; a username is held by every registration, pending or not. */
async function refuseTaken(deps: AuthDeps, email: string, username: string): Promise<void> {
  const { users } = deps.database.tables;
  const verifiedAddress = and(eq(users.email, email), isNotNull(users.emailVerifiedAt));
  const holders = await deps.database.db
    .select({ verifiedAddress: sql<boolean>`(${verifiedAddress})`.mapWith(Boolean) })
    .from(users)
    .where(or(verifiedAddress, eq(sql`lower(${users.username})`, username.toLowerCase())));
  if (holders.some((holder) => holder.verifiedAddress)) throw new AuthError("EMAIL_TAKEN");
  if (holders.length > 0) throw new AuthError("USERNAME_TAKEN");
}

async function createRegistration(
  deps: AuthDeps,
  context: RequestContext,
  body: Parameters<typeof parseRegistration>[0],
): Promise<UserRow> {
  const input = parseRegistration(body);
  if (!isAllowedDomain(emailDomain(input.email), deps.config.universityDomains)) {
    throw new AuthError("EMAIL_DOMAIN_NOT_ALLOWED", { fields: [{ field: "email", message: "must be a university email address" }] });
  }
  const passwordHash = await withHashSlot(deps, context, input.email, async () => {
    await refuseTaken(deps, input.email, input.username);
    return hashForAddress(deps, input.password, input.email);
  });
  const now = deps.clock.now();
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
  const { users } = deps.database.tables;
  try {
    const queued = await deps.database.transaction(async (tx) => {
      await lockMailbox(deps, tx, input.email);
      const address = await addressState(deps, tx, input.email, "verify_email", now);
      if (address.verified) throw new AuthError("EMAIL_TAKEN");
      if (address.mailboxFull) {
        await tx.insert(users).values(user);
        return false;
      }
      await writeLink(deps, tx, user, "verify_email", now, user);
      return true;
    });
    if (queued) deps.onEmailQueued();
  } catch (error) {
    // A pending registration never conflicts on its address: the username was taken meanwhile.
    if (isUniqueViolation(error)) throw new AuthError("USERNAME_TAKEN");
    throw error;
  }
  return user;
}

/**
 * The pending registration of the link's address whose password this is becomes the address's verified
 * account; the address's other registrations are deleted and its links end. A wrong password leaves the
 * link usable and counts as a failed login of the address.
 */
export function verifyEmail(deps: AuthDeps, context: RequestContext, token: string, password: string): Promise<LoginResult> {
  // Clicks of one link (a double click, two tabs) take turns: the second finds the link used (400)
  // before anything is counted against the address.
  return oneAtATime(deps, `verify:${hashEmailToken(token)}`, () => verifyOnce(deps, context, token, password));
}

async function verifyOnce(deps: AuthDeps, context: RequestContext, token: string, password: string): Promise<LoginResult> {
  const fail = (error: AuthError, email?: string) => {
    const reason = error.code === "INVALID_TOKEN" ? "invalid_token" : error.code.toLowerCase();
    deps.events.emit(context, { event: "email_verification", outcome: "failure", reason, email });
    return error;
  };
  const { email, match } = await withHashSlot(deps, context, `link:${hashEmailToken(token)}`, async () => {
    const email = await verificationLinkAddress(deps, deps.database.db, token, deps.clock.now());
    if (!email) throw fail(new AuthError("INVALID_TOKEN"));
    const keys = [
      { key: clientLoginKey(context.clientAddress), limit: "login_client" as const },
      { key: accountLoginKey(email), limit: "login_account" as const },
    ];
    const rows = await enforceLimitsAndFindAddress(deps, context, keys, "email_verification", email);
    if (rows.some((row) => row.emailVerifiedAt)) throw fail(new AuthError("INVALID_TOKEN"), email);
    return { email, match: await matchAddressPassword(deps, password, rows) };
  });
  if (!match.user) throw fail(new AuthError("INVALID_CREDENTIALS"), email);
  await deps.limiter.forgive(accountLoginKey(email), clientLoginKey(context.clientAddress));
  const verified = await activate(deps, token, match.user, email).catch((error) => {
    // Another registration of the address was verified meanwhile (by a release without the mailbox lock).
    throw isUniqueViolation(error) ? new AuthError("INVALID_TOKEN") : error;
  });
  if (!verified) throw fail(new AuthError("INVALID_TOKEN"), email);
  deps.events.emit(context, {
    event: "email_verification",
    outcome: "success",
    userId: verified.id,
    email,
    registeredAt: verified.createdAt.toISOString(),
  });
  const session = await issueSession(deps, verified);
  return { ...session, deviceToken: issueDeviceToken(deps.keys, email, deps.clock.now()) };
}

/**
 * One transaction under the mailbox's lock: the link is still usable and the registration still pending,
 * or nothing happens (undefined). Of two links used at once, or a link used during a registration, one
 * runs after the other and finds the address's links ended.
 */
function activate(deps: AuthDeps, token: string, registration: UserRow, email: string): Promise<UserRow | undefined> {
  const { database, clock } = deps;
  const { users, emailTokens } = database.tables;
  return database.transaction(async (tx) => {
    await lockMailbox(deps, tx, email);
    const now = clock.now();
    if ((await verificationLinkAddress(deps, tx, token, now)) !== email) return undefined;
    const [verified] = await tx
      .update(users)
      .set({ emailVerifiedAt: now, updatedAt: now })
      .where(and(eq(users.id, registration.id), isNull(users.emailVerifiedAt)))
      .returning();
    if (!verified) return undefined;
    // The links end with the registrations they were made for (a cascade) or, the verified one's, here.
    await tx
      .update(emailTokens)
      .set({ usedAt: now })
      .where(and(eq(emailTokens.userId, verified.id), isNull(emailTokens.usedAt)));
    const othersOfAddress = and(eq(users.email, email), ne(users.id, verified.id), isNull(users.emailVerifiedAt));
    const others = await tx.select({ id: users.id }).from(users).where(othersOfAddress);
    // Their queued emails carry links that end now: never sent (before the delete unlinks them).
    await cancelPendingEmails(tx, database, [verified.id, ...others.map(({ id }) => id)]);
    await tx.delete(users).where(othersOfAddress);
    return verified;
  });
}

/** Same outcome and same work on the request's path for every well-formed address (email-requests.ts). */
export async function resendVerification(deps: AuthDeps, context: RequestContext, rawEmail: string): Promise<void> {
  await requestEmail(deps, context, "verify_email", parseEmailField(rawEmail));
}
