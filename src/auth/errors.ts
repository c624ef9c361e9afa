/** Why an account rule said no. The HTTP edge (routes.ts) turns each code into a status and headers. */
export type AuthErrorCode =
  | "VALIDATION_ERROR"
  | "EMAIL_DOMAIN_NOT_ALLOWED"
  | "EMAIL_TAKEN"
  | "USERNAME_TAKEN"
  | "INVALID_TOKEN"
  | "INVALID_CREDENTIALS"
  | "EMAIL_NOT_VERIFIED"
  | "INVALID_CURRENT_PASSWORD"
  | "UNAUTHORIZED"
  | "RATE_LIMITED"
  | "SERVICE_BUSY";

export interface FieldProblem {
  field: string;
  message: string;
}

export interface AuthErrorData {
  /** VALIDATION_ERROR, EMAIL_DOMAIN_NOT_ALLOWED: one entry per offending field. */
  fields?: FieldProblem[];
  /** RATE_LIMITED, SERVICE_BUSY: whole seconds to wait. */
  retryAfterSeconds?: number;
}

const MESSAGES: Record<AuthErrorCode, string> = {
  VALIDATION_ERROR: "The request is not valid.",
  EMAIL_DOMAIN_NOT_ALLOWED: "Registration needs an email address of a participating university.",
  EMAIL_TAKEN: "An account with this email address already exists.",
  USERNAME_TAKEN: "This username is already taken.",
  INVALID_TOKEN: "This link is invalid, expired or has already been used.",
  INVALID_CREDENTIALS: "The email or password is incorrect.",
  EMAIL_NOT_VERIFIED: "Please verify your email address first; we can send the link again.",
  INVALID_CURRENT_PASSWORD: "The current password is incorrect.",
  UNAUTHORIZED: "A valid access token is required.",
  RATE_LIMITED: "Too many attempts. Please wait before trying again.",
  SERVICE_BUSY: "The service is busy. Please try again in a moment.",
};

export class AuthError extends Error {
  constructor(
    readonly code: AuthErrorCode,
    readonly data: AuthErrorData = {},
  ) {
    super(MESSAGES[code]);
    this.name = "AuthError";
  }
}

export const validationError = (fields: FieldProblem[]) => new AuthError("VALIDATION_ERROR", { fields });
