/** Who is asking: carried into every rule so that events can name the request and the client. */
export interface RequestContext {
  reqId: string;
  clientAddress: string;
}

export type AuthEventName =
  | "registration"
  | "email_verification"
  | "verification_resend"
  | "login"
  | "logout"
  | "password_change"
  | "password_reset_request"
  | "password_reset"
  | "token_rejected"
  | "rate_limited"
  | "profile_update"
  | "logout_all"
  | "account_deletion"
  /** A support-desk command (src/cli/users.ts): `action` names it. */
  | "admin_action";

export type RateLimitName = "login_account" | "login_client" | "register_client" | "resend_client" | "forgot_client";

/** A security-relevant fact. Never carries a password, token or hash; the email is hashed by the audit log. */
export interface AuthEvent {
  event: AuthEventName;
  outcome: "success" | "failure";
  userId?: string;
  email?: string;
  /** Why it failed: invalid_credentials, unverified, rate_limited, invalid_token, a token rejection reason … */
  reason?: string;
  limit?: RateLimitName;
  /** admin_action: the command (users verify, users unlock, users delete, users resend). */
  action?: string;
  /** email_verification: when the account was registered (ISO time), for the registration → verification histogram. */
  registeredAt?: string;
}

export interface AuthEventSink {
  emit(context: RequestContext, event: AuthEvent): void;
}

export function combineSinks(...sinks: AuthEventSink[]): AuthEventSink {
  return {
    emit: (context, event) => {
      for (const sink of sinks) sink.emit(context, event);
    },
  };
}
