import { t } from "elysia";
import { boundedString, NO_NUL, stringWithRules } from "../http/schemas";
import { NAME_MAX_LENGTH, USERNAME_PATTERN } from "./input";
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from "./password-policy";

export {
  BusyOrUnavailable,
  errorResponse,
  InternalError,
  InvalidBody,
  PayloadTooLarge,
  RateLimited,
  Unauthorized,
  Unavailable,
  UnsupportedMediaType,
} from "../http/error-schemas";

// A `title` names a schema: the OpenAPI document lists it once under components.schemas and refers to it.
// Response objects say `additionalProperties: false`, as Elysia makes them when it compiles them (it strips
// anything else from a response), so the document is the same before and after the first request.
// Examples are the document's: they work as they are against `bun run dev` (which allows `.edu` addresses).
export const EXAMPLE_EMAIL = "ada.lovelace@mit.edu";
export const EXAMPLE_PASSWORD = "Analytical-Engine-1843";
const EXAMPLE_USER = {
  id: "0190c6f2-5b7e-7c3a-9d41-6f2e8a1b4c5d",
  email: EXAMPLE_EMAIL,
  username: "ada_lovelace",
  firstName: "Ada",
  lastName: "Lovelace",
  emailVerified: true,
  createdAt: "2026-11-27T08:00:00.000Z",
};
// Signed with a throw-away secret: its claims are those of a real token (sub, iat, exp, jti).
const EXAMPLE_JWT =
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIwMTkwYzZmMi01YjdlLTdjM2EtOWQ0MS02ZjJlOGExYjRjNWQiLCJpYXQiOjE3OTU3NjY0MDAsImV4cCI6MTc5NjM3MTIwMCwianRpIjoiNmIxZjBjMmUtOWE0ZC00ZTFiLThmM2EtMmQ1YzdlOWIxYTA0In0.22Oe_yeRIHRN8uqjF2FhspTEjkoqD7sXqRNOyfN8Sv4";

export const PublicUser = t.Object(
  {
    id: t.String({ format: "uuid" }),
    email: t.String({ description: "Lower-cased university email address" }),
    username: t.String({ description: "As registered (unique case-insensitively)" }),
    firstName: t.String({ description: "Trimmed" }),
    lastName: t.Union([t.String(), t.Null()], { description: "Trimmed; null when none was given" }),
    emailVerified: t.Boolean(),
    createdAt: t.String({ format: "date-time" }),
  },
  {
    title: "User",
    additionalProperties: false,
    description: "The public view of an account: nothing else about it is ever returned",
    examples: [EXAMPLE_USER],
  },
);

export const Message = t.Object(
  { message: t.String() },
  { title: "Message", additionalProperties: false, description: "Done: a sentence to show the user" },
);

export const Session = t.Object(
  {
    token: t.String({ description: "JWT (HS256) to send as `Authorization: Bearer <token>`" }),
    tokenType: t.Literal("Bearer"),
    expiresAt: t.String({ format: "date-time" }),
    user: PublicUser,
  },
  {
    title: "Session",
    additionalProperties: false,
    description: "Logged in: a JWT and the account",
    examples: [{ token: EXAMPLE_JWT, tokenType: "Bearer", expiresAt: "2026-12-04T08:00:00.000Z", user: EXAMPLE_USER }],
  },
);

const DEVICE_TOKEN_EXAMPLE =
  "eyJhIjoiM2J2X1lVZkR0cU1aeHlZRjdiNVJ0QSIsImUiOjE4Mjc0NDAwMDAsIm4iOiIwYjFlIn0.Zm9yLWV4YW1wbGUtb25seS1ub3QtYS1yZWFsLW1hYw";
const deviceToken = (description: string) => boundedString(512, { description, examples: [DEVICE_TOKEN_EXAMPLE] });

export const LoginSession = t.Object(
  {
    token: t.String({ description: "JWT (HS256) to send as `Authorization: Bearer <token>`" }),
    tokenType: t.Literal("Bearer"),
    expiresAt: t.String({ format: "date-time" }),
    user: PublicUser,
    deviceToken: t.String({
      description:
        "Keep it on this device (OWASP device cookie) and send it with the next login to this address: that login is then not refused by the per-client failed-login limit (a shared campus address that someone else is failing logins from). The per-address limit still applies.",
    }),
  },
  {
    title: "LoginSession",
    additionalProperties: false,
    description: "Logged in (login, verify-email): a JWT, the account and a device token",
    examples: [
      {
        token: EXAMPLE_JWT,
        tokenType: "Bearer",
        expiresAt: "2026-12-04T08:00:00.000Z",
        user: EXAMPLE_USER,
        deviceToken: DEVICE_TOKEN_EXAMPLE,
      },
    ],
  },
);

export const Registration = t.Object(
  { user: PublicUser, verificationRequired: t.Literal(true) },
  {
    title: "Registration",
    additionalProperties: false,
    description: "Registered: the account is unverified until the emailed link is used",
    examples: [{ user: { ...EXAMPLE_USER, emailVerified: false }, verificationRequired: true }],
  },
);

export const UserResult = t.Object(
  { user: PublicUser },
  { title: "UserResult", additionalProperties: false, description: "The account", examples: [{ user: EXAMPLE_USER }] },
);

/**
 * Printable ASCII without space, `"` or `@`, at most 64 characters; then a dotted domain of labels of at most 63
 * letters, digits and inner hyphens; at most 254 characters in all. The value as sent may be surrounded by
 * whitespace and use capitals: the service trims and lower-cases it first.
 */
const LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
export const EMAIL_PATTERN = `^\\s*(?=\\S{1,254}\\s*$)[!#-?A-~]{1,64}@(?:${LABEL}\\.)+${LABEL}\\s*$`;
const EMAIL_RULE =
  "trimmed and lower-cased, then at most 254 characters: local@domain, the local part at most 64 printable ASCII characters without spaces or quotes, the domain dotted, each label at most 63 letters, digits and inner hyphens";
const email = (description: string) =>
  stringWithRules({ pattern: EMAIL_PATTERN, description: `${description}: ${EMAIL_RULE}`, examples: [EXAMPLE_EMAIL] });

/** No control characters (C0, DEL, C1); whitespace around the value is trimmed, not counted. */
const CONTROL = "\\u0000-\\u001F\\u007F-\\u009F";
const NAME_PATTERN = `^\\s*[^\\s${CONTROL}][^${CONTROL}]{0,${NAME_MAX_LENGTH - 1}}\\s*$`;
const OPTIONAL_NAME_PATTERN = `^\\s*(?:[^\\s${CONTROL}][^${CONTROL}]{0,${NAME_MAX_LENGTH - 1}}\\s*)?$`;

// NFKC can make a password longer (one ligature becomes up to 18 characters) or shorter (up to 4 combining
// characters compose into one), so the rule's 8–128 bound the value as sent only to 1–512.
const NEW_PASSWORD_RULE = `${PASSWORD_MIN_LENGTH}–${PASSWORD_MAX_LENGTH} characters, counted in code points after Unicode NFKC normalisation; not a commonly used password, not the username, the email's local part or the whole email, not one character repeated`;
const newPassword = (description: string) =>
  stringWithRules({
    minLength: 1,
    maxLength: PASSWORD_MAX_LENGTH * 4,
    pattern: NO_NUL,
    description: `${description}: ${NEW_PASSWORD_RULE}. NFKC can change the length, so the bounds here are those of the value as sent.`,
    examples: [EXAMPLE_PASSWORD],
  });

const Username = stringWithRules({
  minLength: 3,
  maxLength: 30,
  pattern: USERNAME_PATTERN,
  description: "3–30 characters of A–Z a–z 0–9 _; unique case-insensitively; returned as registered",
  examples: ["ada_lovelace"],
});
const FirstName = stringWithRules({
  pattern: NAME_PATTERN,
  description: `1–${NAME_MAX_LENGTH} characters after trimming, no control characters`,
  examples: ["Ada"],
});
const LastName = t.Union([
  stringWithRules({
    pattern: OPTIONAL_NAME_PATTERN,
    description: `At most ${NAME_MAX_LENGTH} characters after trimming, no control characters; blank is stored as null`,
    examples: ["Lovelace"],
  }),
  t.Null(),
]);

export const RegisterBody = t.Object(
  {
    email: email("A university address (its domain must match UNIVERSITY_DOMAINS, else 400 EMAIL_DOMAIN_NOT_ALLOWED), unique"),
    username: Username,
    password: newPassword("The password"),
    firstName: FirstName,
    lastName: t.Optional(LastName),
  },
  {
    title: "RegisterRequest",
    // Only type checks in the request's validation: the rules (src/auth/input.ts) check every field at once.
    examples: [{ email: EXAMPLE_EMAIL, username: "ada_lovelace", password: EXAMPLE_PASSWORD, firstName: "Ada", lastName: "Lovelace" }],
  },
);

export const EmailBody = t.Object(
  { email: email("The account's email address") },
  { title: "EmailRequest", examples: [{ email: EXAMPLE_EMAIL }] },
);

const emailToken = (description: string) => boundedString(512, { minLength: 1, description });
export const VerifyEmailBody = t.Object(
  {
    token: emailToken("The token from the verification link (`…/verify-email?token=<token>`)"),
    password: boundedString(1024, {
      minLength: 1,
      description: "The password chosen at registration: it picks which pending registration of the address is activated",
      examples: [EXAMPLE_PASSWORD],
    }),
  },
  { title: "VerifyEmailRequest", examples: [{ token: "Qm9vbGVhbiBhbGdlYnJhIGlzIG5vdCBlbm91Z2gh", password: EXAMPLE_PASSWORD }] },
);

export const LoginBody = t.Object(
  {
    // No rules beyond a bound: an address that cannot exist is simply an unknown one (401).
    email: boundedString(1024, { description: "The account's email address (trimmed and lower-cased)", examples: [EXAMPLE_EMAIL] }),
    password: boundedString(1024, { examples: [EXAMPLE_PASSWORD] }),
    deviceToken: t.Optional(deviceToken("The `deviceToken` of an earlier login or verification of this address on this device")),
  },
  { title: "LoginRequest", examples: [{ email: EXAMPLE_EMAIL, password: EXAMPLE_PASSWORD }] },
);

export const ResetPasswordBody = t.Object(
  {
    token: emailToken("The token from the reset link (`…/reset-password?token=<token>`)"),
    password: newPassword("The new password"),
  },
  { title: "ResetPasswordRequest", examples: [{ token: "c2V2ZW50eS1zZXZlbi1wYXNzd29yZHMtbGF0ZXI", password: EXAMPLE_PASSWORD }] },
);

export const ChangePasswordBody = t.Object(
  {
    currentPassword: boundedString(1024, { minLength: 1, examples: [EXAMPLE_PASSWORD] }),
    newPassword: newPassword("The new password"),
  },
  { title: "ChangePasswordRequest", examples: [{ currentPassword: EXAMPLE_PASSWORD, newPassword: "Difference-Engine-1822" }] },
);

export const ProfileBody = t.Object(
  { username: t.Optional(Username), firstName: t.Optional(FirstName), lastName: t.Optional(LastName) },
  {
    title: "ProfileRequest",
    description: "The fields to change, by registration's rules; fields left out stay as they are",
    examples: [{ firstName: "Augusta Ada", lastName: "King" }],
  },
);

export const DeleteAccountBody = t.Object(
  { password: boundedString(1024, { minLength: 1, description: "The account's current password", examples: [EXAMPLE_PASSWORD] }) },
  { title: "DeleteAccountRequest", examples: [{ password: EXAMPLE_PASSWORD }] },
);
