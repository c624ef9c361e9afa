import { and, eq, gt, isNotNull, isNull, lt, lte, notExists, notInArray, or } from "drizzle-orm";
import { alias } from "drizzle-orm/pg-core";
import { WAITING } from "../mail/outbox";
import type { Database } from "./database";
import { databaseTime } from "./database-clock";

const DAY_MS = 86400_000;

/**
 * Deletes rows that no longer matter: ended rate-limit windows, revocations of tokens that have expired
 * anyway, pending registrations that no link can verify any more — none of their address's links is live
 * and they are older than a link's lifetime (24 h after the newest link of the address, or after the
 * registration itself when no link was sent) — which frees their usernames, email tokens a week after they expired or were used, delivered emails after 30 days (their
 * rows hold no link). Runs periodically in `serve`; safe on several instances at once.
 */
export async function deleteExpiredRows(database: Database, now: Date, verifyEmailSeconds = 24 * 3600): Promise<void> {
  const { rateLimits, revokedTokens, emailTokens, emailOutbox, users } = database.tables;
  const weekAgo = new Date(now.getTime() - 7 * DAY_MS);
  // A live verification link of the address (any of its registrations'), which could still verify it.
  const registrationsOfAddress = alias(users, "same_address");
  const liveLinkOfAddress = database.db
    .select({ id: emailTokens.id })
    .from(emailTokens)
    .innerJoin(registrationsOfAddress, eq(registrationsOfAddress.id, emailTokens.userId))
    .where(
      and(
        eq(registrationsOfAddress.email, users.email),
        eq(emailTokens.purpose, "verify_email"),
        isNull(emailTokens.usedAt),
        gt(emailTokens.expiresAt, now),
      ),
    );
  const registeredBefore = new Date(now.getTime() - verifyEmailSeconds * 1000);
  await database.transaction(async (tx) => {
    await tx.delete(users).where(and(isNull(users.emailVerifiedAt), lte(users.createdAt, registeredBefore), notExists(liveLinkOfAddress)));
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
