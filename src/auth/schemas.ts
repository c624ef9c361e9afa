import { t } from "elysia";
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

export const ErrorResponse = t.Object(
  {
    error: t.Object({
      code: t.String({ description: "Stable machine-readable code, e.g. VALIDATION_ERROR" }),
      message: t.String({ description: "Human readable sentence" }),
      details: t.Optional(
        t.Array(t.Object({ field: t.String({ description: "Body property name" }), message: t.String() }), {
          description: "Present for VALIDATION_ERROR: one entry per offending field",
        }),
      ),
    }),
  },
  { description: "Every error has this shape" },
);

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
