import { Accounts } from "./accounts";
import type { RequestContext } from "./events";
import type { parseRegistration } from "./input";
import type { AccessClaims } from "./jwt";
import { Passwords } from "./passwords";
import type { AuthDeps, Session } from "./rules";
import { Sessions } from "./sessions";
import type { PublicUser, UserRow } from "./users";

export type { AuthDeps, Session } from "./rules";

/**
 * The account rules, one capability per file: accounts (registration, verification), sessions (login,
 * tokens, logout) and passwords (reset, change). They fail with AuthError; routes.ts maps it to HTTP.
 */
export class AuthService {
  private readonly accounts: Accounts;
  private readonly sessions: Sessions;
  private readonly passwords: Passwords;

  constructor(deps: AuthDeps) {
    this.accounts = new Accounts(deps);
    this.sessions = new Sessions(deps);
    this.passwords = new Passwords(deps, this.accounts);
  }

  /** Before the body of a request that waits for password hashing is read: see AuthRules.refuseWhenBusy. */
  refuseWhenBusy(context: RequestContext, event?: "login"): Promise<never> | undefined {
    return this.sessions.refuseWhenBusy(context, event);
  }

  limitClient(context: RequestContext, limit: "register_client" | "resend_client" | "forgot_client"): Promise<void> {
    return this.sessions.limitClient(context, limit);
  }

  register(context: RequestContext, body: Parameters<typeof parseRegistration>[0]): Promise<PublicUser> {
    return this.accounts.register(context, body);
  }

  verifyEmail(context: RequestContext, token: string): Promise<PublicUser> {
    return this.accounts.verifyEmail(context, token);
  }

  resendVerification(context: RequestContext, email: string): Promise<void> {
    return this.accounts.resendVerification(context, email);
  }

  login(context: RequestContext, email: string, password: string): Promise<Session> {
    return this.sessions.login(context, email, password);
  }

  authenticate(context: RequestContext, authorization: string | null | undefined): Promise<{ user: UserRow; claims: AccessClaims }> {
    return this.sessions.authenticate(context, authorization);
  }

  logout(context: RequestContext, user: UserRow, claims: AccessClaims): Promise<void> {
    return this.sessions.logout(context, user, claims);
  }

  forgotPassword(context: RequestContext, email: string): Promise<void> {
    return this.passwords.forgotPassword(context, email);
  }

  resetPassword(context: RequestContext, token: string, password: string): Promise<void> {
    return this.passwords.resetPassword(context, token, password);
  }

  changePassword(context: RequestContext, user: UserRow, currentPassword: string, newPassword: string): Promise<Session> {
    return this.passwords.changePassword(context, user, currentPassword, newPassword);
  }

  /** Resolves when the work deferred past the answers (emails of resend / forgot-password) is done. */
  async settled(): Promise<void> {
    await Promise.all([this.accounts.settled(), this.passwords.settled()]);
  }
}
