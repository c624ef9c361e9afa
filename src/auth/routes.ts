import { Elysia, t } from "elysia";
import { requestContext } from "../http/request-context";
import {
  ChangePasswordBody,
  EmailBody,
  errorResponse,
  InternalError,
  InvalidBody,
  LoginBody,
  Message,
  PayloadTooLarge,
  PublicUser,
  RateLimited,
  RegisterBody,
  ResetPasswordBody,
  ServiceBusy,
  ServiceUnavailable,
  Session,
  TokenBody,
  Unauthorized,
  UnsupportedMediaType,
} from "./schemas";
import type { AuthService } from "./service";
import { toPublicUser } from "./users";

const bearer = [{ bearerAuth: [] }];
/**
 * The errors of every endpoint that reads a request body: 400 (invalid body), 413 (over 16 KiB), 415 (not
 * JSON), 500 INTERNAL_ERROR and 503 SERVICE_UNAVAILABLE (database unreachable), which are always possible;
 * an endpoint with more codes at 400 or 503 overrides them.
 * Each error schema lists the exact codes of its status, so typed clients (Eden treaty) and the OpenAPI
 * document can rely on them. Errors are rendered by the HTTP plugin's onError, outside response validation.
 */
const bodyErrors = { 400: InvalidBody, 413: PayloadTooLarge, 415: UnsupportedMediaType, 500: InternalError, 503: ServiceUnavailable };
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
        response: {
          201: t.Object({ user: PublicUser, verificationRequired: t.Literal(true) }),
          ...bodyErrors,
          400: errorResponse(["VALIDATION_ERROR", "EMAIL_DOMAIN_NOT_ALLOWED"]),
          409: errorResponse(["EMAIL_TAKEN", "USERNAME_TAKEN"]),
          429: RateLimited,
          503: ServiceBusy,
        },
        detail: {
          summary: "Register with a university email",
          description:
            "Creates an unverified account and sends a verification email. Errors: 400 VALIDATION_ERROR / EMAIL_DOMAIN_NOT_ALLOWED, 409 EMAIL_TAKEN / USERNAME_TAKEN, 429 RATE_LIMITED, 503 SERVICE_BUSY.",
        },
      },
    )
    .post("/verify-email", async ({ body, context }) => ({ user: await auth.verifyEmail(context, body.token) }), {
      body: TokenBody,
      parse: "json",
      response: { 200: t.Object({ user: PublicUser }), ...bodyErrors, 400: errorResponse(["INVALID_TOKEN", "VALIDATION_ERROR"]) },
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
        response: { 202: Message, ...bodyErrors, 429: RateLimited },
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
      response: {
        200: Session,
        ...bodyErrors,
        401: errorResponse(["INVALID_CREDENTIALS"]),
        403: errorResponse(["EMAIL_NOT_VERIFIED"]),
        429: RateLimited,
        503: ServiceBusy,
      },
      detail: {
        summary: "Log in and get a JWT",
        description:
          "Errors: 401 INVALID_CREDENTIALS (unknown email and wrong password alike), 403 EMAIL_NOT_VERIFIED (right password, unverified email), 429 RATE_LIMITED with Retry-After, 503 SERVICE_BUSY with Retry-After (password checking at capacity: retry after the given seconds; not counted as an attempt).",
      },
    })
    .get("/me", async ({ headers, context }) => ({ user: toPublicUser((await auth.authenticate(context, headers.authorization)).user) }), {
      response: { 200: t.Object({ user: PublicUser }), 401: Unauthorized, 500: InternalError, 503: ServiceUnavailable },
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
        response: { 204: t.Void({ description: "Logged out: this token is rejected from now on" }), ...bodyErrors, 401: Unauthorized },
        detail: {
          summary: "Revoke the presented token",
          security: bearer,
          description:
            "Takes no body; like every endpoint, one sent anyway must be JSON of at most 16 KiB (else 400 / 413 / 415). Errors: 401 UNAUTHORIZED.",
        },
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
        response: { 202: Message, ...bodyErrors, 429: RateLimited },
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
        response: { 200: Message, ...bodyErrors, 400: errorResponse(["INVALID_TOKEN", "VALIDATION_ERROR"]), 503: ServiceBusy },
        detail: {
          summary: "Set a new password with the token from the reset email",
          description:
            "Every JWT issued before is rejected afterwards. Errors: 400 INVALID_TOKEN (unknown, expired after 1 hour, used), 400 VALIDATION_ERROR, 503 SERVICE_BUSY (the token stays usable).",
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
        response: {
          200: Session,
          ...bodyErrors,
          400: errorResponse(["INVALID_CURRENT_PASSWORD", "VALIDATION_ERROR"]),
          401: Unauthorized,
          503: ServiceBusy,
        },
        detail: {
          summary: "Change the password (logged in)",
          security: bearer,
          description:
            "Returns a new JWT; every other JWT of the user is rejected from then on. Errors: 400 INVALID_CURRENT_PASSWORD, 400 VALIDATION_ERROR, 401 UNAUTHORIZED, 503 SERVICE_BUSY.",
        },
      },
    );
}
