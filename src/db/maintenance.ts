import { and, eq, gt, isNotNull, isNull, lt, notExists, notInArray, or } from "drizzle-orm";
import { WAITING } from "../mail/outbox";
import type { Database } from "./database";
import { databaseTime } from "./database-clock";

const DAY_MS = 86400_000;

/**
 * Deletes rows that no longer matter: ended rate-limit windows, revocations of tokens that have expired
 * anyway, unverified accounts whose verification links have all expired (which frees their address and
 * username), email tokens a week after they expired or were used, delivered emails after 30 days (their
 * rows hold no link). Runs periodically in `serve`; safe on several instances at once.
 */
export async function deleteExpiredRows(database: Database, now: Date): Promise<void> {
  const { rateLimits, revokedTokens, emailTokens, emailOutbox, users } = database.tables;
  const weekAgo = new Date(now.getTime() - 7 * DAY_MS);
  const liveVerificationLink = database.db
    .select({ id: emailTokens.id })
    .from(emailTokens)
    .where(and(eq(emailTokens.userId, users.id), eq(emailTokens.purpose, "verify_email"), gt(emailTokens.expiresAt, now)));
  await database.transaction(async (tx) => {
    await tx.delete(users).where(and(isNull(users.emailVerifiedAt), notExists(liveVerificationLink)));
    await tx.delete(rateLimits).where(lt(rateLimits.expiresAt, now.getTime()));
    // On the database's clock, and a day after the token's own expiry: a host clock stepped ahead (even
    // across a restart) must not delete a revocation while its token can be accepted again once corrected.
    await tx.delete(revokedTokens).where(lt(revokedTokens.expiresAt, databaseTime(database.kind, -DAY_MS)));
    await tx
      .delete(emailTokens)
      .where(or(lt(emailTokens.expiresAt, weekAgo), and(isNotNull(emailTokens.usedAt), lt(emailTokens.usedAt, weekAgo))));
    await tx
      .delete(emailOutbox)
      .where(and(notInArray(emailOutbox.status, [...WAITING]), lt(emailOutbox.createdAt, new Date(now.getTime() - 30 * DAY_MS))));
  });
}
