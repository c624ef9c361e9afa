import { t } from "elysia";
import type { ErrorCode } from "../http/errors";
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from "./password-policy";

export const PublicUser = t.Object(
  {
    id: t.String({ format: "uuid" }),
    email: t.String({ description: "Lower-cased university email address" }),
    username: t.String({ description: "As registered (unique case-insensitively)" }),
    firstName: t.String(),
    lastName: t.Union([t.String(), t.Null()]),
    emailVerified: t.Boolean(),
    createdAt: t.String({ format: "date-time" }),
  },
  { description: "The public view of an account" },
);

/** What each code means, for the OpenAPI descriptions of the error responses. */
const ERROR_MEANINGS: Record<ErrorCode, string> = {
  VALIDATION_ERROR: "the body is not valid JSON or breaks a field rule (details names each field)",
  EMAIL_DOMAIN_NOT_ALLOWED: "the email is not an address of a participating university",
  EMAIL_TAKEN: "an account with this email address exists",
  USERNAME_TAKEN: "the username is taken (case-insensitively)",
  INVALID_TOKEN: "the email link's token is unknown, expired or already used",
  INVALID_CREDENTIALS: "unknown email or wrong password (deliberately indistinguishable)",
  EMAIL_NOT_VERIFIED: "the password is right but the email is not verified yet",
  INVALID_CURRENT_PASSWORD: "the current password is wrong",
  UNAUTHORIZED: "the bearer token is missing, invalid, expired or revoked (WWW-Authenticate: Bearer)",
  NOT_FOUND: "nothing at this address",
  PAYLOAD_TOO_LARGE: "the body is larger than 16 KiB",
  UNSUPPORTED_MEDIA_TYPE: "the body is not sent as application/json",
  RATE_LIMITED: "too many attempts; Retry-After says how many seconds to wait",
  SERVICE_BUSY: "password checking is at capacity; not counted as an attempt, retry after Retry-After seconds",
  SERVICE_UNAVAILABLE: "the database cannot be reached right now; nothing was done, retry after Retry-After seconds",
  INTERNAL_ERROR: "an unexpected failure on the server",
};

const FieldProblems = t.Array(t.Object({ field: t.String({ description: "Body property name" }), message: t.String() }), {
  description: "Present for VALIDATION_ERROR and EMAIL_DOMAIN_NOT_ALLOWED: one entry per offending field",
});

/**
 * The one error shape, with `code` narrowed to the codes that an endpoint answers with at one status:
 * typed clients can switch on `error.value.error.code`, and the OpenAPI document lists them as an enum.
 */
export const errorResponse = <const Codes extends readonly [ErrorCode, ...ErrorCode[]]>(codes: Codes) =>
  t.Object(
    {
      error: t.Object({
        // UnionEnum's default (its first value) would read as a meaningful default in the document.
        code: t.UnionEnum(codes, { description: "Stable machine-readable code", default: undefined }),
        message: t.String({ description: "Human readable sentence" }),
        details: t.Optional(FieldProblems),
      }),
    },
    { description: codes.map((code) => `${code}: ${ERROR_MEANINGS[code]}`).join("; ") },
  );

// The errors that several endpoints share.
export const InvalidBody = errorResponse(["VALIDATION_ERROR"]);
export const PayloadTooLarge = errorResponse(["PAYLOAD_TOO_LARGE"]);
export const UnsupportedMediaType = errorResponse(["UNSUPPORTED_MEDIA_TYPE"]);
export const Unauthorized = errorResponse(["UNAUTHORIZED"]);
export const RateLimited = errorResponse(["RATE_LIMITED"]);
export const InternalError = errorResponse(["INTERNAL_ERROR"]);
/** The database cannot be reached (down, hanging, pool exhausted): nothing was done; Retry-After says when to retry. */
export const ServiceUnavailable = errorResponse(["SERVICE_UNAVAILABLE"]);
/**
 * Password hashing at capacity (the request was turned away quickly, with Retry-After, instead of
 * queueing), or the database unreachable.
 */
export const ServiceBusy = errorResponse(["SERVICE_BUSY", "SERVICE_UNAVAILABLE"]);

export const Message = t.Object({ message: t.String() });

export const Session = t.Object({
  token: t.String({ description: "JWT (HS256) to send as `Authorization: Bearer <token>`" }),
  tokenType: t.Literal("Bearer"),
  expiresAt: t.String({ format: "date-time" }),
  user: PublicUser,
});

const password = (description: string) => t.String({ minLength: PASSWORD_MIN_LENGTH, maxLength: PASSWORD_MAX_LENGTH, description });
const email = t.String({
  description: "Trimmed and lower-cased; at most 254 characters; local@domain with a dotted domain",
  examples: ["test@ualberta.ca"],
});

export const RegisterBody = t.Object({
  email,
  // Only types here: the rules (src/auth/input.ts) check every field at once and report all problems.
  username: t.String({ description: "3–30 characters of A–Z a–z 0–9 _; unique case-insensitively", examples: ["test"] }),
  password: t.String({
    description: "8–128 characters; not a commonly used password, not the username, not the email's local part",
    examples: ["TestPass123"],
  }),
  firstName: t.String({ description: "1–50 characters after trimming", examples: ["Test"] }),
  lastName: t.Optional(t.Union([t.String({ description: "At most 50 characters after trimming" }), t.Null()])),
});

export const EmailBody = t.Object({ email });
export const TokenBody = t.Object({ token: t.String({ minLength: 1, maxLength: 512, description: "The token from the email link" }) });
export const LoginBody = t.Object({ email: t.String({ maxLength: 1024 }), password: t.String({ maxLength: 1024 }) });
export const ResetPasswordBody = t.Object({
  token: t.String({ minLength: 1, maxLength: 512, description: "The token from the reset link" }),
  password: password("The new password (same rules as registration)"),
});
export const ChangePasswordBody = t.Object({
  currentPassword: t.String({ minLength: 1, maxLength: 1024 }),
  newPassword: password("The new password (same rules as registration)"),
});
