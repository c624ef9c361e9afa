import { and, eq, gt, isNull, ne } from "drizzle-orm";
import type { Config } from "../config/config";
import type { Database, Queryable } from "../db/database";
import { emailsQueuedSince, queueEmail } from "../mail/outbox";
import type { EmailKind } from "../mail/types";
import type { Keys } from "./keys";
import { generateEmailToken, hashEmailToken } from "./secrets";
import type { UserRow } from "./users";

const PAGES: Record<EmailKind, string> = { verify_email: "verify-email", reset_password: "reset-password" };

/**
 * Creates a single-use token (only its hash is stored) and queues the email carrying its link, in the
 * caller's transaction — unless the account already got its share of such emails in the current window;
 * then nothing happens and it returns false (the caller's answer must not change).
 */
export async function issueEmailToken(
  tx: Queryable,
  database: Database,
  config: Pick<Config, "appUrl" | "tokens" | "rateLimits">,
  keys: Keys,
  user: Pick<UserRow, "id" | "email">,
  kind: EmailKind,
  now: Date,
): Promise<boolean> {
  const { max, windowSeconds } = config.rateLimits.emailsPerAccount;
  const sent = await emailsQueuedSince(tx, database, keys, user.email, kind, new Date(now.getTime() - windowSeconds * 1000));
  if (sent >= max) return false;
  const token = generateEmailToken();
  const lifetime = kind === "verify_email" ? config.tokens.verifyEmailSeconds : config.tokens.resetPasswordSeconds;
  await tx.insert(database.tables.emailTokens).values({
    id: crypto.randomUUID(),
    userId: user.id,
    purpose: kind,
    tokenHash: hashEmailToken(token),
    expiresAt: new Date(now.getTime() + lifetime * 1000),
    createdAt: now,
  });
  await queueEmail(tx, database, keys, {
    userId: user.id,
    kind,
    recipient: user.email,
    link: `${config.appUrl}/${PAGES[kind]}?token=${token}`,
    now,
  });
  return true;
}

function usable(database: Database, token: string, purpose: EmailKind, now: Date) {
  const { emailTokens } = database.tables;
  return and(
    eq(emailTokens.tokenHash, hashEmailToken(token)),
    eq(emailTokens.purpose, purpose),
    isNull(emailTokens.usedAt),
    gt(emailTokens.expiresAt, now),
  );
}

/** The account a token belongs to, if the token is still usable (without using it). */
export async function peekEmailToken(database: Database, token: string, purpose: EmailKind, now: Date): Promise<string | undefined> {
  const { emailTokens } = database.tables;
  const [row] = await database.db
    .select({ userId: emailTokens.userId })
    .from(emailTokens)
    .where(usable(database, token, purpose, now));
  return row?.userId;
}

/**
 * Uses a token: one conditional UPDATE, so two concurrent uses cannot both succeed. Every other unused
 * token of the same account and purpose dies with it. Returns the account, or undefined when the token is
 * unknown, expired or used.
 */
export async function consumeEmailToken(
  tx: Queryable,
  database: Database,
  token: string,
  purpose: EmailKind,
  now: Date,
): Promise<string | undefined> {
  const { emailTokens } = database.tables;
  const [used] = await tx
    .update(emailTokens)
    .set({ usedAt: now })
    .where(usable(database, token, purpose, now))
    .returning({ id: emailTokens.id, userId: emailTokens.userId });
  if (!used) return undefined;
  await tx
    .update(emailTokens)
    .set({ usedAt: now })
    .where(
      and(eq(emailTokens.userId, used.userId), eq(emailTokens.purpose, purpose), isNull(emailTokens.usedAt), ne(emailTokens.id, used.id)),
    );
  return used.userId;
}

/** Ends every unused token of the account for `purpose` (a password change ends the reset links). */
export async function endEmailTokens(tx: Queryable, database: Database, userId: string, purpose: EmailKind, now: Date) {
  const { emailTokens } = database.tables;
  await tx
    .update(emailTokens)
    .set({ usedAt: now })
    .where(and(eq(emailTokens.userId, userId), eq(emailTokens.purpose, purpose), isNull(emailTokens.usedAt)));
}
