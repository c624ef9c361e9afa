import { Elysia, t } from "elysia";
import { requestContext } from "../http/request-context";
import {
  ChangePasswordBody,
  EmailBody,
  ErrorResponse,
  LoginBody,
  Message,
  PublicUser,
  RegisterBody,
  ResetPasswordBody,
  Session,
  TokenBody,
} from "./schemas";
import type { AuthService } from "./service";
import { toPublicUser } from "./users";

const bearer = [{ bearerAuth: [] }];
/** Error responses of an endpoint (all in the one error shape); 500 INTERNAL_ERROR is always possible. */
const errors = (...statuses: number[]) => Object.fromEntries([...statuses, 500].map((status) => [status, ErrorResponse]));
// Every JSON-body endpoint: 400 (invalid body), 413 (over 16 KiB), 415 (not JSON).
const bodyErrors = [400, 413, 415] as const;
const ACCEPTED = "If an account with this address needs it, an email is on its way.";

/** The `/api/auth/*` routes: HTTP in and out; the rules live in AuthService. */
export function authRoutes(auth: AuthService, options: { trustProxy: boolean }) {
  return new Elysia({ prefix: "/api/auth", tags: ["auth"] })
    .derive(({ request, server }) => ({ context: requestContext(request, server, options.trustProxy) }))
    .post(
      "/register",
      async ({ body, context, status }) => status(201, { user: await auth.register(context, body), verificationRequired: true as const }),
      {
        body: RegisterBody,
        parse: "json",
        // Before validation: every attempt counts, accepted or not.
        transform: ({ context }) => auth.limitClient(context, "register_client"),
        response: { 201: t.Object({ user: PublicUser, verificationRequired: t.Literal(true) }), ...errors(...bodyErrors, 409, 429) },
        detail: {
          summary: "Register with a university email",
          description:
            "Creates an unverified account and sends a verification email. Errors: 400 VALIDATION_ERROR / EMAIL_DOMAIN_NOT_ALLOWED, 409 EMAIL_TAKEN / USERNAME_TAKEN, 429 RATE_LIMITED.",
        },
      },
    )
    .post("/verify-email", async ({ body, context }) => ({ user: await auth.verifyEmail(context, body.token) }), {
      body: TokenBody,
      parse: "json",
      response: { 200: t.Object({ user: PublicUser }), ...errors(...bodyErrors) },
      detail: {
        summary: "Verify an email address with the token from the email",
        description: "Tokens are single use and expire after 24 hours. Errors: 400 INVALID_TOKEN, 400 VALIDATION_ERROR.",
      },
    })
    .post(
      "/resend-verification",
      async ({ body, context, status }) => {
        await auth.resendVerification(context, body.email);
        return status(202, { message: ACCEPTED });
      },
      {
        body: EmailBody,
        parse: "json",
        transform: ({ context }) => auth.limitClient(context, "resend_client"),
        response: { 202: Message, ...errors(...bodyErrors, 429) },
        detail: {
          summary: "Send the verification email again",
          description:
            "Answers 202 with the same body for every well-formed address (no account enumeration); sending is throttled per account silently.",
        },
      },
    )
    .post("/login", ({ body, context }) => auth.login(context, body.email, body.password), {
      body: LoginBody,
      parse: "json",
      response: { 200: Session, ...errors(...bodyErrors, 401, 403, 429) },
      detail: {
        summary: "Log in and get a JWT",
        description:
          "Errors: 401 INVALID_CREDENTIALS (unknown email and wrong password alike), 403 EMAIL_NOT_VERIFIED (right password, unverified email), 429 RATE_LIMITED with Retry-After.",
      },
    })
    .get("/me", async ({ headers, context }) => ({ user: toPublicUser((await auth.authenticate(context, headers.authorization)).user) }), {
      response: { 200: t.Object({ user: PublicUser }), ...errors(401) },
      detail: { summary: "The logged-in user", security: bearer, description: "401 UNAUTHORIZED with WWW-Authenticate: Bearer." },
    })
    .post(
      "/logout",
      async ({ headers, context, status }) => {
        const { user, claims } = await auth.authenticate(context, headers.authorization);
        await auth.logout(context, user, claims);
        return status(204, undefined);
      },
      {
        response: { 204: t.Void({ description: "Logged out: this token is rejected from now on" }), ...errors(401) },
        detail: { summary: "Revoke the presented token", security: bearer },
      },
    )
    .post(
      "/forgot-password",
      async ({ body, context, status }) => {
        await auth.forgotPassword(context, body.email);
        return status(202, { message: ACCEPTED });
      },
      {
        body: EmailBody,
        parse: "json",
        transform: ({ context }) => auth.limitClient(context, "forgot_client"),
        response: { 202: Message, ...errors(...bodyErrors, 429) },
        detail: {
          summary: "Ask for a password reset email",
          description: "Answers 202 with the same body whether or not the account exists; throttled per account silently.",
        },
      },
    )
    .post(
      "/reset-password",
      async ({ body, context }) => {
        await auth.resetPassword(context, body.token, body.password);
        return { message: "Your password has been changed. Please log in again." };
      },
      {
        body: ResetPasswordBody,
        parse: "json",
        response: { 200: Message, ...errors(...bodyErrors) },
        detail: {
          summary: "Set a new password with the token from the reset email",
          description:
            "Every JWT issued before is rejected afterwards. Errors: 400 INVALID_TOKEN (unknown, expired after 1 hour, used), 400 VALIDATION_ERROR.",
        },
      },
    )
    .post(
      "/change-password",
      async ({ body, headers, context }) => {
        const { user } = await auth.authenticate(context, headers.authorization);
        return auth.changePassword(context, user, body.currentPassword, body.newPassword);
      },
      {
        body: ChangePasswordBody,
        parse: "json",
        response: { 200: Session, ...errors(...bodyErrors, 401) },
        detail: {
          summary: "Change the password (logged in)",
          security: bearer,
          description:
            "Returns a new JWT; every other JWT of the user is rejected from then on. Errors: 400 INVALID_CURRENT_PASSWORD, 400 VALIDATION_ERROR, 401 UNAUTHORIZED.",
        },
      },
    );
}
