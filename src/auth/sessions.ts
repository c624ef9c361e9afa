import { and, eq } from "drizzle-orm";
import {
  type AuthDeps,
  accountLoginKey,
  clientLoginKey,
  enforceLimitsAndFindAddress,
  issueSession,
  type LimitedKey,
  type LoginResult,
  matchAddressPassword,
  withHashSlot,
} from "./core";
import { deviceTokenFits, issueDeviceToken } from "./device-tokens";
import { normalizeEmail } from "./email";
import { AuthError } from "./errors";
import type { RequestContext } from "./events";
import type { AccessClaims, TokenRejection } from "./jwt";
import { normalizePassword } from "./password-policy";
import type { UserRow } from "./users";

/*
 * Sessions: login, the bearer token of every authenticated request, logout.
 *
 * A login's attempt is counted before the password is checked (so concurrent guesses cannot slip past
 * the limit) and taken back when the password was right: the counters hold failed logins only. All of it
 * waits for a hashing slot first, so a login turned away at capacity has counted nothing.
 */

export async function login(
  deps: AuthDeps,
  context: RequestContext,
  input: { email: string; password: string; deviceToken?: string },
): Promise<LoginResult> {
  const email = normalizeEmail(input.email);
  const accountKey = accountLoginKey(email);
  const clientKey = clientLoginKey(context.clientAddress);
  // A device that logged in to this address before is not held back by its client address's failures.
  const trustedDevice = input.deviceToken !== undefined && deviceTokenFits(deps.keys, input.deviceToken, email, deps.clock.now());
  const keys: LimitedKey[] = trustedDevice
    ? [{ key: accountKey, limit: "login_account" }]
    : [
        { key: clientKey, limit: "login_client" },
        { key: accountKey, limit: "login_account" },
      ];
  const { rows, match } = await withHashSlot(deps, context, email, async () => {
    const rows = await enforceLimitsAndFindAddress(deps, context, keys, "login", email);
    return { rows, match: await matchAddressPassword(deps, input.password, rows) };
  }).catch((error) => {
    if (error instanceof AuthError && error.code === "SERVICE_BUSY") {
      deps.events.emit(context, { event: "login", outcome: "failure", reason: "service_busy", email });
    }
    throw error;
  });
  const user = match.user;
  if (!user) {
    const userId = rows.find((row) => row.emailVerifiedAt)?.id;
    deps.events.emit(context, { event: "login", outcome: "failure", reason: "invalid_credentials", userId, email });
    throw new AuthError("INVALID_CREDENTIALS");
  }
  await (trustedDevice ? deps.limiter.reset(accountKey) : deps.limiter.forgive(accountKey, clientKey));
  if (!user.emailVerifiedAt) {
    deps.events.emit(context, { event: "login", outcome: "failure", reason: "unverified", userId: user.id, email });
    throw new AuthError("EMAIL_NOT_VERIFIED");
  }
  if (match.legacy || deps.hasher.needsRehash(user.passwordHash))
    await upgradePasswordHash(deps, context, user, normalizePassword(input.password));
  deps.events.emit(context, { event: "login", outcome: "success", userId: user.id, email });
  const session = await issueSession(deps, user);
  return { ...session, deviceToken: issueDeviceToken(deps.keys, email, deps.clock.now()) };
}

/**
 * Re-hashes a password made with other argon2id parameters than the configured ones (or before NFKC),
 * at the only moment the password is known. Best effort: when it cannot happen now, the next login tries again.
 */
async function upgradePasswordHash(deps: AuthDeps, context: RequestContext, user: UserRow, password: string): Promise<void> {
  const { users } = deps.database.tables;
  try {
    const passwordHash = await withHashSlot(deps, context, user.email, () => deps.hasher.hash(password));
    // Only if the hash is still the one just checked: a concurrent password change wins.
    await deps.database.statement((db) =>
      db
        .update(users)
        .set({ passwordHash })
        .where(and(eq(users.id, user.id), eq(users.passwordHash, user.passwordHash))),
    );
  } catch (error) {
    deps.logger.warn({ userId: user.id, err: error instanceof Error ? error.name : "unknown" }, "password hash upgrade postponed");
  }
}

/** Resolves an `Authorization` header to its user, or throws UNAUTHORIZED. */
export async function authenticate(
  deps: AuthDeps,
  context: RequestContext,
  authorization: string | null | undefined,
): Promise<{ user: UserRow; claims: AccessClaims }> {
  const reject = (reason: TokenRejection) => {
    deps.events.emit(context, { event: "token_rejected", outcome: "failure", reason });
    return new AuthError("UNAUTHORIZED");
  };
  if (!authorization) throw reject("missing");
  const match = /^Bearer ([A-Za-z0-9_\-.=]+)$/i.exec(authorization.trim());
  if (!match?.[1]) throw reject("malformed");
  const claims = deps.tokens.verify(match[1], deps.clock.now());
  if (typeof claims === "string") throw reject(claims);
  const [row] = await deps.statements.sessionLookup().execute({ userId: claims.sub, jti: claims.jti });
  if (!row) throw reject("user_not_found");
  const { revoked, ...user } = row;
  if (revoked) throw reject("revoked");
  if (user.tokenVersion !== claims.tv) throw reject("stale");
  return { user, claims };
}

export async function logout(deps: AuthDeps, context: RequestContext, user: UserRow, claims: AccessClaims): Promise<void> {
  const { revokedTokens } = deps.database.tables;
  deps.events.emit(context, { event: "logout", outcome: "success", userId: user.id, email: user.email });
  await deps.database.statement((db) =>
    db
      .insert(revokedTokens)
      .values({ jti: claims.jti, expiresAt: new Date(claims.exp * 1000) })
      .onConflictDoNothing(),
  );
}
