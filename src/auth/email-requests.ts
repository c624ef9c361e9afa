import { eq, lte } from "drizzle-orm";
import type { Queryable } from "../db/database";
import type { EmailKind } from "../mail/types";
import { type AuthDeps, lockMailbox } from "./core";
import type { RequestContext } from "./events";
import { issueLink } from "./links";

/*
 * resend-verification and forgot-password: "if an account with this address needs it, an email is on its
 * way". The request is written before the 202, for every well-formed address alike (one insert: the
 * answer's timing tells nothing about the address), and resolved right after the answer — into a link
 * and an email, or into nothing. A request that a crash left unresolved is resolved when the service
 * starts again, so a 202 never loses its email. Resolving deletes the request in the same transaction
 * that queues the email: two instances resolving one request send one email.
 */

export type EmailRequestOutcome = "queued" | "unknown_account" | "already_verified" | "throttled";

const EVENT = { verify_email: "verification_resend", reset_password: "password_reset_request" } as const;

/** Writes the request, then resolves it after the answer. */
export async function requestEmail(deps: AuthDeps, context: RequestContext, kind: EmailKind, email: string): Promise<void> {
  const id = crypto.randomUUID();
  await deps.database.statement((db) =>
    db.insert(deps.database.tables.emailRequests).values({ id, kind, address: deps.keys.seal(email), createdAt: deps.clock.now() }),
  );
  // The client address is read now: after the answer its socket may be gone.
  const answered: RequestContext = { reqId: context.reqId, clientAddress: context.clientAddress };
  deps.deferred.run(EVENT[kind], () => resolveEmailRequest(deps, answered, id));
}

/** Resolves one request, unless another process has already. */
async function resolveEmailRequest(deps: AuthDeps, context: RequestContext, id: string): Promise<void> {
  const { emailRequests } = deps.database.tables;
  const resolved = await deps.database.transaction(async (tx) => {
    const [request] = await tx.delete(emailRequests).where(eq(emailRequests.id, id)).returning();
    if (!request) return null;
    const kind = request.kind as EmailKind;
    const email = deps.keys.open(request.address);
    await lockMailbox(deps, tx, email);
    return { kind, email, ...(await issueForAddress(deps, tx, kind, email)) };
  });
  if (!resolved) return;
  const { kind, email, outcome, userId } = resolved;
  if (outcome === "queued") deps.onEmailQueued();
  // The outcome says whether an email was queued; the HTTP answer was the same either way.
  deps.events.emit(context, {
    event: EVENT[kind],
    outcome: outcome === "queued" ? "success" : "failure",
    userId,
    email,
    reason: outcome === "queued" ? undefined : outcome,
  });
}

/** Resolves the requests older than `olderThanMs` that are still there: those whose process stopped before it could. */
export async function resolveLeftoverEmailRequests(deps: AuthDeps, olderThanMs = 1_000): Promise<number> {
  const { emailRequests } = deps.database.tables;
  const before = new Date(deps.clock.now().getTime() - olderThanMs);
  const leftovers = await deps.database.db.select({ id: emailRequests.id }).from(emailRequests).where(lte(emailRequests.createdAt, before));
  const context: RequestContext = { reqId: "leftover-email-request", clientAddress: "unknown" };
  for (const { id } of leftovers) await resolveEmailRequest(deps, context, id);
  return leftovers.length;
}

/**
 * What an address's request gets, in the caller's transaction (which holds the mailbox's lock): a new
 * verification link of the address when it has pending registrations and no verified account (made for
 * the newest registration; it works for each), a reset link when it has a verified account — unless the
 * mailbox had its share of such emails.
 */
async function issueForAddress(
  deps: AuthDeps,
  tx: Queryable,
  kind: EmailKind,
  email: string,
): Promise<{ outcome: EmailRequestOutcome; userId?: string }> {
  const { users } = deps.database.tables;
  const rows = await tx.select().from(users).where(eq(users.email, email)).orderBy(users.createdAt);
  const verified = rows.find((row) => row.emailVerifiedAt);
  const target = kind === "reset_password" ? verified : verified ? undefined : rows.at(-1);
  if (!target) return { outcome: kind === "verify_email" && verified ? "already_verified" : "unknown_account", userId: verified?.id };
  const queued = await issueLink(deps, tx, target, kind, deps.clock.now());
  return { outcome: queued ? "queued" : "throttled", userId: target.id };
}

/** issueForAddress in a transaction of its own, under the mailbox's lock (the support desk's `users resend`). */
export async function sendForAddress(deps: AuthDeps, kind: EmailKind, email: string) {
  const result = await deps.database.transaction(async (tx) => {
    await lockMailbox(deps, tx, email);
    return issueForAddress(deps, tx, kind, email);
  });
  if (result.outcome === "queued") deps.onEmailQueued();
  return result;
}
