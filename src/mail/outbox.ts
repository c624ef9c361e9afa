import { and, eq, gt, inArray, sql } from "drizzle-orm";
import { mailboxOf } from "../auth/email";
import type { Keys } from "../auth/keys";
import type { Database, Queryable } from "../db/database";
import type { EmailKind } from "./types";

/**
 * Emails waiting to be sent: `queued` rows are sealed (this release), `pending` rows hold their link in
 * clear (releases before). A release before this one claims only `pending`, so during a canary it never
 * sends a sealed link it cannot read.
 */
export const WAITING = ["queued", "pending"] as const;

/**
 * The outbox row of an email, to be inserted in the caller's transaction: it is sent iff that commits.
 * The recipient and the link are sealed (the database files never hold them in clear); the keyed hash of
 * the address serves the per-address throttling.
 */
export function outboxRow(keys: Keys, email: { userId: string; kind: EmailKind; recipient: string; link: string; now: Date }) {
  return {
    id: crypto.randomUUID(),
    userId: email.userId,
    kind: email.kind,
    recipient: keys.seal(email.recipient),
    recipientHash: recipientHash(keys, email.recipient),
    link: keys.seal(email.link),
    status: "queued",
    attempts: 0,
    nextAttemptAt: email.now,
    createdAt: email.now,
  };
}

/**
 * The keyed hash of the mailbox an address delivers to (without its +tag; the address itself when it has
 * none, as releases before hashed it): what the per-mailbox email limit counts by.
 */
export const recipientHash = (keys: Keys, address: string) => `h:${keys.bookkeepingHash(`outbox-recipient:${mailboxOf(address)}`)}`;

/** The emails of this kind queued for the address's mailbox since `since` (what the per-mailbox limit counts). */
export function mailboxEmailsSince(database: Database, keys: Keys, address: string, kind: EmailKind, since: Date) {
  const { emailOutbox } = database.tables;
  return and(eq(emailOutbox.recipientHash, recipientHash(keys, address)), eq(emailOutbox.kind, kind), gt(emailOutbox.createdAt, since));
}

/** The waiting emails of these registrations, whose links ended: never sent, still counted by the throttle. */
export async function cancelPendingEmails(tx: Queryable, database: Database, userIds: string[]) {
  const { emailOutbox } = database.tables;
  await tx
    .update(emailOutbox)
    .set({ status: "cancelled", link: null, recipient: sql`coalesce(${emailOutbox.recipientHash}, '')` })
    .where(and(inArray(emailOutbox.userId, userIds), inArray(emailOutbox.status, [...WAITING])));
}

/** Every email of a deleted account, queued or sent: nothing of it stays. */
export async function deleteAccountEmails(tx: Queryable, database: Database, userId: string) {
  const { emailOutbox } = database.tables;
  await tx.delete(emailOutbox).where(eq(emailOutbox.userId, userId));
}
