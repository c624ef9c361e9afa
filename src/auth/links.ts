import { and, count, eq, exists, gt, inArray, isNotNull, isNull, sql } from "drizzle-orm";
import type { Db, Queryable } from "../db/database";
import { mailboxEmailsSince, outboxRow } from "../mail/outbox";
import type { EmailKind } from "../mail/types";
import type { AuthDeps } from "./core";
import { generateEmailToken, hashEmailToken } from "./secrets";
import type { UserRow } from "./users";

/**
 * The emailed links. A verification link belongs to its address: it verifies whichever pending
 * registration of the address the reader knows the password of. Its row names one registration of the
 * address — the one it was made for — to find the address by, in the form releases before this one
 * wrote and read: during a canary or after a rollback such a release still honours the link (by its own
 * rule, which activates that registration). A reset link belongs to one account. Only a token's hash is
 * stored.
 */
const VERIFY = "verify_email";
const RESET = "reset_password";

const PAGES: Record<EmailKind, string> = { verify_email: "verify-email", reset_password: "reset-password" };

/**
 * Creates a link and queues the email carrying it, in the caller's transaction (which holds the
 * mailbox's lock: lockMailbox) — unless the mailbox already got its share of such emails in the current
 * window; then nothing happens and it returns false (the caller's answer must not change).
 */
export async function issueLink(deps: AuthDeps, tx: Queryable, registration: Pick<UserRow, "id" | "email">, kind: EmailKind, now: Date) {
  if ((await addressState(deps, tx, registration.email, kind, now)).mailboxFull) return false;
  await writeLink(deps, tx, registration, kind, now);
  return true;
}

/**
 * In one statement (the caller holds the mailbox's lock): whether the address has a verified account,
 * and whether its mailbox got its share of `kind` emails in the window ending now.
 */
export async function addressState(deps: AuthDeps, tx: Queryable, email: string, kind: EmailKind, now: Date) {
  const { database, keys } = deps;
  const { users, emailOutbox } = database.tables;
  const { max, windowSeconds } = deps.config.rateLimits.emailsPerMailbox;
  const since = new Date(now.getTime() - windowSeconds * 1000);
  const verifiedAccount = tx
    .select({ id: users.id })
    .from(users)
    .where(and(eq(users.email, email), isNotNull(users.emailVerifiedAt)));
  const [state] = await tx
    .select({ sent: count(), verified: sql<boolean>`${exists(verifiedAccount)}`.mapWith(Boolean) })
    .from(emailOutbox)
    .where(mailboxEmailsSince(database, keys, email, kind, since));
  return { verified: state?.verified ?? false, mailboxFull: (state?.sent ?? 0) >= max };
}

/**
 * Writes a new link and its email; with `newRegistration`, that registration's row first. On PostgreSQL
 * in one statement (data-modifying CTEs; the foreign keys are checked at its end), one round trip where
 * three would be: round trips are most of what a registration costs besides its hash.
 */
export async function writeLink(
  deps: AuthDeps,
  tx: Queryable,
  registration: Pick<UserRow, "id" | "email">,
  kind: EmailKind,
  now: Date,
  newRegistration?: UserRow,
): Promise<void> {
  const { database, config, keys } = deps;
  const { users, emailTokens, emailOutbox } = database.tables;
  const token = generateEmailToken();
  const lifetime = kind === "verify_email" ? config.tokens.verifyEmailSeconds : config.tokens.resetPasswordSeconds;
  const link = {
    id: crypto.randomUUID(),
    userId: registration.id,
    purpose: kind === "verify_email" ? VERIFY : RESET,
    tokenHash: hashEmailToken(token),
    expiresAt: new Date(now.getTime() + lifetime * 1000),
    createdAt: now,
  };
  const email = outboxRow(keys, {
    userId: registration.id,
    kind,
    recipient: registration.email,
    link: `${config.appUrl}/${PAGES[kind]}?token=${token}`,
    now,
  });
  if (database.kind !== "postgres") {
    if (newRegistration) await tx.insert(users).values(newRegistration);
    await tx.insert(emailTokens).values(link);
    await tx.insert(emailOutbox).values(email);
    return;
  }
  const db = tx as Db;
  const linkRow = db.$with("link").as(db.insert(emailTokens).values(link).returning({ id: emailTokens.id }));
  const registrationRow =
    newRegistration && db.$with("registration").as(db.insert(users).values(newRegistration).returning({ id: users.id }));
  await db
    .with(...(registrationRow ? [registrationRow, linkRow] : [linkRow]))
    .insert(emailOutbox)
    .values(email);
}

function usable(deps: AuthDeps, token: string, purposes: string[], now: Date) {
  const { emailTokens } = deps.database.tables;
  return and(
    eq(emailTokens.tokenHash, hashEmailToken(token)),
    inArray(emailTokens.purpose, purposes),
    isNull(emailTokens.usedAt),
    gt(emailTokens.expiresAt, now),
  );
}

/** The address of a usable verification link (without using it), or undefined. */
export async function verificationLinkAddress(deps: AuthDeps, db: Queryable, token: string, now: Date): Promise<string | undefined> {
  const { emailTokens, users } = deps.database.tables;
  const [row] = await db
    .select({ email: users.email })
    .from(emailTokens)
    .innerJoin(users, eq(users.id, emailTokens.userId))
    .where(usable(deps, token, [VERIFY], now));
  return row?.email;
}

/** The account of a usable reset link (without using it), or undefined. */
export async function resetLinkAccount(deps: AuthDeps, token: string, now: Date): Promise<string | undefined> {
  const { emailTokens } = deps.database.tables;
  const [row] = await deps.database.db
    .select({ userId: emailTokens.userId })
    .from(emailTokens)
    .where(usable(deps, token, [RESET], now));
  return row?.userId;
}

/**
 * Uses a reset link and ends the account's other reset links, in the caller's transaction (which holds
 * the account's row lock first: lockUser). False when the link is unknown, expired or used.
 */
export async function useResetLink(deps: AuthDeps, tx: Queryable, token: string, userId: string, now: Date): Promise<boolean> {
  const { emailTokens } = deps.database.tables;
  const [used] = await tx
    .update(emailTokens)
    .set({ usedAt: now })
    .where(and(usable(deps, token, [RESET], now), eq(emailTokens.userId, userId)))
    .returning({ id: emailTokens.id });
  if (!used) return false;
  await endResetLinks(deps, tx, userId, now);
  return true;
}

/** Ends every unused reset link of the account (a reset or a password change). */
export async function endResetLinks(deps: AuthDeps, tx: Queryable, userId: string, now: Date) {
  const { emailTokens } = deps.database.tables;
  await tx
    .update(emailTokens)
    .set({ usedAt: now })
    .where(and(eq(emailTokens.userId, userId), eq(emailTokens.purpose, RESET), isNull(emailTokens.usedAt)));
}
