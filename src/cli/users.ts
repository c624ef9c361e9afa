import { userInfo } from "node:os";
import { and, desc, eq, inArray, isNull } from "drizzle-orm";
import { createApp } from "../app";
import { deleteAccount } from "../auth/account";
import { type AuthDeps, accountLoginKey, lockMailbox } from "../auth/core";
import { normalizeEmail } from "../auth/email";
import { sendForAddress } from "../auth/email-requests";
import type { RequestContext } from "../auth/events";
import type { UserRow } from "../auth/users";
import type { Config } from "../config/config";
import { openDatabase } from "../db/database";
import { describeError } from "../db/errors";
import { createLogger } from "../logger";
import { WAITING } from "../mail/outbox";
import { PROGRAM } from "../version";

/*
 * The support desk's commands: "I never got the email", "I'm locked out", "delete my account", without
 * SQL. Each works on both databases with the service's configuration (as `systemd/install.sh run users …`),
 * goes through the same rules as the API, and writes one audit line (JSON, on stderr) naming the action.
 */

export const USERS_USAGE = `  users show EMAIL          status, dates, lock, pending registrations and emails (no hashes, no tokens)
  users list [--unverified] [--limit N]
                            the newest accounts and registrations (50 unless --limit)
  users resend EMAIL        queue a verification email (pending) or a reset email (verified), as the API would
  users verify EMAIL        mark the address verified when the mailbox was confirmed another way
                            (refused when several pending registrations exist: they are named)
  users unlock EMAIL        clear the address's failed-login counter
  users delete EMAIL        delete the account (or the pending registrations) and everything referring to it
  exit codes: 0 done, 2 refused (see the message), 67 no such address, 64 usage, 1 error`;

const NOT_FOUND_EXIT_CODE = 67; // sysexits' EX_NOUSER
const REFUSED_EXIT_CODE = 2;

const print = (line: string) => process.stdout.write(`${line}\n`);
const when = (date: Date | null | undefined) => (date ? date.toISOString() : "—");

type Outcome = { code: number; userId?: string; email?: string; done: boolean };

export async function usersCommand(config: Config, args: string[]): Promise<number> {
  const [subcommand, ...rest] = args;
  const database = openDatabase(config.database, { pool: { ...config.databasePool, size: 2 } });
  // Audit lines go to stderr: stdout is the command's answer.
  const logger = createLogger(config, { write: (line: string) => void process.stderr.write(line) });
  try {
    await database.ping();
    const { auth } = createApp({ config, database, logger });
    const context: RequestContext = { reqId: `cli-${crypto.randomUUID()}`, clientAddress: `cli:${operator()}` };
    const email = rest[0] ? normalizeEmail(rest[0]) : "";
    const needsEmail = (run: () => Promise<Outcome>) => (rest.length === 1 && email ? run() : Promise.resolve(usage()));
    const commands: Record<string, () => Promise<Outcome>> = {
      show: () => needsEmail(() => show(auth, email)),
      list: () => list(auth, rest),
      resend: () => needsEmail(() => resend(auth, email)),
      verify: () => needsEmail(() => verify(auth, email)),
      unlock: () => needsEmail(() => unlock(auth, email)),
      delete: () => needsEmail(() => remove(auth, email)),
    };
    const run = subcommand ? commands[subcommand] : undefined;
    const outcome = run ? await run() : usage();
    // Every command that ran is audited, reading ones too: personal data was shown.
    if (run && outcome.code !== 64) {
      auth.events.emit(context, {
        event: "admin_action",
        action: `users ${subcommand}`,
        outcome: outcome.done ? "success" : "failure",
        reason: outcome.done ? undefined : outcome.code === NOT_FOUND_EXIT_CODE ? "not_found" : "refused",
        userId: outcome.userId,
        email: outcome.email,
      });
    }
    await auth.deferred.settled();
    return outcome.code;
  } catch (error) {
    process.stderr.write(`${PROGRAM}: users ${subcommand ?? ""}: ${describeError(error)}\n`);
    return 1;
  } finally {
    await database.close();
  }
}

function usage(): Outcome {
  process.stderr.write(`Usage:\n${USERS_USAGE}\n`);
  return { code: 64, done: false };
}

/** Who ran the command (as `install.sh run`, the service user: the audit line's clientAddress says so). */
function operator(): string {
  try {
    return userInfo().username;
  } catch {
    return "unknown";
  }
}

function notFound(email: string): Outcome {
  print(`no account or registration for ${email}`);
  return { code: NOT_FOUND_EXIT_CODE, email, done: false };
}

async function rowsOf(deps: AuthDeps, email: string): Promise<UserRow[]> {
  const { users } = deps.database.tables;
  return deps.database.db.select().from(users).where(eq(users.email, email)).orderBy(users.createdAt);
}

async function show(deps: AuthDeps, email: string): Promise<Outcome> {
  const rows = await rowsOf(deps, email);
  if (rows.length === 0) return notFound(email);
  const { emailOutbox, emailTokens } = deps.database.tables;
  const now = deps.clock.now();
  const verified = rows.find((row) => row.emailVerifiedAt);
  const counter = await deps.limiter.peek(accountLoginKey(email), now);
  const limit = deps.config.rateLimits.loginPerAccount;
  print(`address:          ${email}`);
  print(`status:           ${verified ? "verified" : `not verified: ${rows.length} pending registration(s)`}`);
  print(`failed logins:    ${counter ? `${counter.count} in the window ending ${when(counter.expiresAt)}` : "0"}`);
  print(`locked until:     ${counter && counter.count >= limit.max ? when(counter.expiresAt) : "not locked"}`);
  for (const row of verified ? [verified] : rows) {
    print("");
    print(`${verified ? "account" : "registration"}:     ${row.id}`);
    print(`  username:       ${row.username}`);
    print(`  name:           ${row.firstName}${row.lastName ? ` ${row.lastName}` : ""}`);
    print(`  created:        ${when(row.createdAt)}`);
    print(`  verified:       ${when(row.emailVerifiedAt)}`);
  }
  const ids = rows.map((row) => row.id);
  const links = await deps.database.db
    .select({ purpose: emailTokens.purpose, expiresAt: emailTokens.expiresAt, usedAt: emailTokens.usedAt })
    .from(emailTokens)
    .where(inArray(emailTokens.userId, ids));
  const live = links.filter((link) => !link.usedAt && link.expiresAt > now);
  print("");
  print(
    `live links:       ${live.length ? live.map((link) => `${link.purpose === "verify_email" ? "verification" : "reset"} until ${when(link.expiresAt)}`).join(", ") : "none"}`,
  );
  const emails = await deps.database.db
    .select({
      kind: emailOutbox.kind,
      status: emailOutbox.status,
      createdAt: emailOutbox.createdAt,
      sentAt: emailOutbox.sentAt,
      attempts: emailOutbox.attempts,
      lastError: emailOutbox.lastError,
    })
    .from(emailOutbox)
    .where(inArray(emailOutbox.userId, ids))
    .orderBy(emailOutbox.createdAt);
  print(`emails:           ${emails.length === 0 ? "none" : ""}`);
  for (const mail of emails) {
    const state =
      mail.status === "sent"
        ? `sent ${when(mail.sentAt)}`
        : (WAITING as readonly string[]).includes(mail.status)
          ? `waiting (${mail.attempts} attempt(s)${mail.lastError ? `; last error: ${mail.lastError}` : ""})`
          : mail.status;
    print(`  ${mail.kind.padEnd(15)} queued ${when(mail.createdAt)}: ${state}`);
  }
  return { code: 0, email, done: true };
}

async function list(deps: AuthDeps, args: string[]): Promise<Outcome> {
  let unverified = false;
  let limit = 50;
  for (let index = 0; index < args.length; index++) {
    const arg = args[index];
    if (arg === "--unverified") unverified = true;
    else if (arg === "--limit" && /^[1-9]\d{0,5}$/.test(args[index + 1] ?? "")) limit = Number(args[++index]);
    else return usage();
  }
  const { users } = deps.database.tables;
  const rows = await deps.database.db
    .select()
    .from(users)
    .where(unverified ? isNull(users.emailVerifiedAt) : undefined)
    .orderBy(desc(users.createdAt))
    .limit(limit);
  print(["created".padEnd(24), "status".padEnd(9), "username".padEnd(31), "email"].join(" "));
  for (const row of rows) {
    print(
      [when(row.createdAt).padEnd(24), (row.emailVerifiedAt ? "verified" : "pending").padEnd(9), row.username.padEnd(31), row.email].join(
        " ",
      ),
    );
  }
  return { code: 0, done: true };
}

async function resend(deps: AuthDeps, email: string): Promise<Outcome> {
  const rows = await rowsOf(deps, email);
  if (rows.length === 0) return notFound(email);
  const verified = rows.find((row) => row.emailVerifiedAt);
  const queued = (await sendForAddress(deps, verified ? "reset_password" : "verify_email", email)).outcome === "queued";
  const kind = verified ? "a password reset email" : "a verification email";
  if (!queued) {
    print(
      `not queued: the mailbox of ${email} already got its ${deps.config.rateLimits.emailsPerMailbox.max} emails of this kind in the current window`,
    );
    return { code: REFUSED_EXIT_CODE, email, userId: verified?.id, done: false };
  }
  print(`queued ${kind} to ${email}: the running service delivers it`);
  return { code: 0, email, userId: verified?.id, done: true };
}

async function verify(deps: AuthDeps, email: string): Promise<Outcome> {
  const { users, emailTokens } = deps.database.tables;
  const result = await deps.database.transaction(async (tx) => {
    await lockMailbox(deps, tx, email);
    const rows = await tx.select().from(users).where(eq(users.email, email)).orderBy(users.createdAt);
    if (rows.length === 0) return { kind: "none" as const };
    if (rows.some((row) => row.emailVerifiedAt)) return { kind: "verified" as const, rows };
    if (rows.length > 1) return { kind: "several" as const, rows };
    const now = deps.clock.now();
    const [only] = rows as [UserRow];
    await tx.update(users).set({ emailVerifiedAt: now, updatedAt: now }).where(eq(users.id, only.id));
    await tx
      .update(emailTokens)
      .set({ usedAt: now })
      .where(and(eq(emailTokens.userId, only.id), isNull(emailTokens.usedAt)));
    return { kind: "done" as const, rows };
  });
  if (result.kind === "none") return notFound(email);
  if (result.kind === "verified") {
    print(`${email} is verified already`);
    return { code: REFUSED_EXIT_CODE, email, done: false };
  }
  if (result.kind === "several") {
    print(`refused: ${email} has ${result.rows.length} pending registrations; only its owner can tell which is theirs.`);
    for (const row of result.rows) print(`  ${row.id}  ${row.username.padEnd(31)} registered ${when(row.createdAt)}`);
    print("Ask the student to use a link from their mailbox with their password (users resend), or delete the others first.");
    return { code: REFUSED_EXIT_CODE, email, done: false };
  }
  print(`verified ${email} (${result.rows[0]?.username})`);
  return { code: 0, email, userId: result.rows[0]?.id, done: true };
}

async function unlock(deps: AuthDeps, email: string): Promise<Outcome> {
  const rows = await rowsOf(deps, email);
  if (rows.length === 0) return notFound(email);
  await deps.limiter.reset(accountLoginKey(email));
  print(`cleared the failed-login counter of ${email}`);
  return { code: 0, email, userId: rows.find((row) => row.emailVerifiedAt)?.id, done: true };
}

async function remove(deps: AuthDeps, email: string): Promise<Outcome> {
  const rows = await rowsOf(deps, email);
  if (rows.length === 0) return notFound(email);
  const verified = rows.find((row) => row.emailVerifiedAt);
  // The account; or, when the address has none, each of its pending registrations.
  for (const row of verified ? [verified] : rows) await deleteAccount(deps, row);
  print(verified ? `deleted the account ${verified.username} of ${email}` : `deleted ${rows.length} pending registration(s) of ${email}`);
  return { code: 0, email, userId: verified?.id, done: true };
}
