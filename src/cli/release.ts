import templateUnit from "../../systemd/classmatefinder-backend@.service" with { type: "text" };
import singleUnit from "../../systemd/classmatefinder-backend.service" with { type: "text" };
import { PROGRAM, REVISION, VERSION } from "../version";

/**
 * The release this one follows (its commit, also in .ci/previous-release, where CI builds it for the
 * rollback rehearsal). A rollback goes back to it, and everything this release changes must roll back
 * to it.
 */
export const PREVIOUS_RELEASE = "e1e8c63";

/**
 * What rolling back from this release to PREVIOUS_RELEASE loses, one line each, `subject: what`.
 * `install.sh rollback` prints these lines, docs/operations.md (Rollback) says the same, and the CI
 * rehearsal (.ci/rollout-drill.sh) accepts a loss only when a line names its subject (it knows
 * `verification links`; accounts, sessions, passwords and queued emails must survive). Keep them
 * exact: a release that changes what it writes updates this list with it.
 */
export const ROLLBACK_LOSSES: readonly string[] = [
  "verification links: the previous release honours the links this release sent by its own rule: a link verifies the registration it was made for, without asking for the password (the pre-hijacking protection of this release holds only on this release's instances).",
  "pending registrations: where an address has several, the previous release sees one of them (login, resend-verification), and a registration on it replaces one; nothing is lost while an address has one, and verified accounts are unaffected.",
  "email requests: resend-verification and forgot-password requests of the last second that this release had not resolved yet are not sent by the previous release; the student asks again.",
  "link pages: the previous release serves no /verify-email or /reset-password page; where APP_URL points at the service, emailed links open a 404 there (a frontend's own pages are unaffected).",
  "device tokens, /64 clients, per-mailbox email limits: the previous release ignores device tokens and counts each IPv6 address and each +tag address on its own.",
  "account management: PATCH and DELETE /api/auth/me and POST /api/auth/logout-all answer 404; EMAIL_TEMPLATES_DIR is ignored (the shipped emails are sent).",
];

/**
 * `unit [--template]`: the systemd unit this binary is meant to run under, so that install.sh installs
 * the unit of the binary it installs (a rollback restores the previous release's unit too) and never
 * runs a binary under a unit that asks it for a command it lacks.
 */
export function unitCommand(args: string[]): number {
  if (args.length > 1 || (args[0] !== undefined && args[0] !== "--template")) {
    process.stderr.write(`${PROGRAM}: usage: unit [--template]\n`);
    return 64;
  }
  process.stdout.write(args[0] === "--template" ? templateUnit : singleUnit);
  return 0;
}

/** `rollback-notes`: what a rollback from this release to the previous one loses, or that nothing is lost. */
export function rollbackNotesCommand(): number {
  const print = (line: string) => process.stdout.write(`${line}\n`);
  print(`Rolling back from ${PROGRAM} ${VERSION} (revision ${REVISION}) to the release before it (${PREVIOUS_RELEASE}):`);
  print("- accounts, sessions, passwords, queued emails: nothing is lost; the previous release reads every one this release wrote.");
  for (const loss of ROLLBACK_LOSSES) print(`- ${loss}`);
  return 0;
}
