import { Elysia, type TSchema, t } from "elysia";
import { checkBodyShape } from "../http/body-shape";
import { ApiError } from "../http/errors";
import type { BeforeBodyContext } from "../http/plugin";
import { requestContext } from "../http/request-context";
import { withExamples } from "../http/schemas";
import { type AuthDeps, limitClient, refuseWhenBusy } from "./core";
import { AuthError, type AuthErrorCode } from "./errors";
import { changePassword, forgotPassword, resetPassword } from "./passwords";
import { register, resendVerification, verifyEmail } from "./registration";
import {
  BusyOrUnavailable,
  ChangePasswordBody,
  EmailBody,
  errorResponse,
  InternalError,
  InvalidBody,
  LoginBody,
  LoginSession,
  Message,
  PayloadTooLarge,
  RateLimited,
  RegisterBody,
  Registration,
  ResetPasswordBody,
  Session,
  Unauthorized,
  Unavailable,
  UnsupportedMediaType,
  UserResult,
  VerifyEmailBody,
} from "./schemas";
import { authenticate, login, logout } from "./sessions";
import { toPublicUser } from "./users";

export const bearer = [{ bearerAuth: [] }];
/**
 * The errors of every endpoint that reads a request body: 400 (invalid body), 413 (over 16 KiB), 415 (not
 * JSON), 500 INTERNAL_ERROR, which is always possible, and 503 SERVICE_UNAVAILABLE (no database); an endpoint
 * with more codes at a status overrides it. Each error schema lists the exact codes of its status, so typed
 * clients (Eden treaty) and the OpenAPI document can rely on them. Errors are rendered by the HTTP plugin's
 * onError, outside response validation.
 */
export const bodyErrors = { 400: InvalidBody, 413: PayloadTooLarge, 415: UnsupportedMediaType, 500: InternalError, 503: Unavailable };
const ACCEPTED = "If an account with this address needs it, an email is on its way.";
const Accepted = withExamples(Message, { message: ACCEPTED });
const PASSWORD_CHANGED = "Your password has been changed. Please log in again."; // reset-password's answer

const STATUS: Record<AuthErrorCode, number> = {
  VALIDATION_ERROR: 400,
  EMAIL_DOMAIN_NOT_ALLOWED: 400,
  INVALID_TOKEN: 400,
  INVALID_CURRENT_PASSWORD: 400,
  INVALID_CREDENTIALS: 401,
  UNAUTHORIZED: 401,
  EMAIL_NOT_VERIFIED: 403,
  EMAIL_TAKEN: 409,
  USERNAME_TAKEN: 409,
  RATE_LIMITED: 429,
  SERVICE_BUSY: 503,
};

/** The HTTP edge of the account rules: each domain error becomes its status, details and headers (see httpPlugin). */
export function authErrorToApi(error: unknown): ApiError | null {
  if (!(error instanceof AuthError)) return null;
  const headers: Record<string, string> = {};
  if (error.data.retryAfterSeconds !== undefined) headers["Retry-After"] = String(error.data.retryAfterSeconds);
  if (error.code === "UNAUTHORIZED") headers["WWW-Authenticate"] = 'Bearer realm="classmatefinder"';
  return new ApiError(STATUS[error.code], error.code, error.message, error.data.fields, headers);
}

/** Before validation: the fields this body schema reads must be plain strings (see checkBodyShape). */
export const shapeOf = (schema: TSchema & { properties: Record<string, unknown> }) => {
  const fields = Object.keys(schema.properties);
  return (body: unknown) => checkBodyShape(body, fields);
};
const shapes = {
  register: shapeOf(RegisterBody),
  verify: shapeOf(VerifyEmailBody),
  email: shapeOf(EmailBody),
  login: shapeOf(LoginBody),
  reset: shapeOf(ResetPasswordBody),
  change: shapeOf(ChangePasswordBody),
};

/** The endpoints whose requests wait for password hashing, and what a request turned away counts as. */
const HASHING_ROUTES = new Map<string, "login" | undefined>([
  ["/api/auth/login", "login"],
  ["/api/auth/verify-email", undefined],
  ["/api/auth/change-password", undefined],
  ["/api/auth/reset-password", undefined],
]);

/**
 * The HTTP plugin's beforeBody: a request to an endpoint that checks or sets a password, from a client
 * address that the hashing queue turns away whatever it sends, is answered 503 SERVICE_BUSY before its
 * body is read (core.ts refuseWhenBusy), so a flood's 503s cost no parsing or validation. Registration
 * is left out: its attempts count against the client's registration limit before anything else.
 */
export function refuseBusyBeforeBody(auth: AuthDeps, options: { trustProxy: boolean }) {
  return ({ request, route, server }: BeforeBodyContext) => {
    if (!HASHING_ROUTES.has(route)) return undefined;
    return refuseWhenBusy(auth, requestContext(request, server, options.trustProxy), HASHING_ROUTES.get(route));
  };
}

/**
 * The `/api/auth/*` routes: HTTP in and out. Each calls its rule in the flow's file: registration.ts
 * (register, verify-email, resend-verification), sessions.ts (login, me, logout), passwords.ts
 * (forgot-password, reset-password, change-password); account-routes.ts has account.ts's (PATCH and
 * DELETE /me, logout-all).
 */
export function authRoutes(auth: AuthDeps, options: { trustProxy: boolean }) {
  return new Elysia({ prefix: "/api/auth", tags: ["auth"] })
    .derive(({ request, server }) => ({ context: requestContext(request, server, options.trustProxy) }))
    .post(
      "/register",
      async ({ body, context, status }) => status(201, { user: await register(auth, context, body), verificationRequired: true as const }),
      {
        body: RegisterBody,
        parse: "json",
        // Before validation: every attempt counts, accepted or not.
        transform: async ({ context, body }) => {
          await limitClient(auth, context, "register_client");
          shapes.register(body);
        },
        response: {
          201: Registration,
          ...bodyErrors,
          400: errorResponse(["VALIDATION_ERROR", "EMAIL_DOMAIN_NOT_ALLOWED"]),
          409: errorResponse(["EMAIL_TAKEN", "USERNAME_TAKEN"]),
          429: RateLimited,
          503: BusyOrUnavailable,
        },
        detail: {
          operationId: "register",
          summary: "Register with a university email",
          description:
            "Creates a pending registration and sends a verification email (its link is valid for 24 hours). An address is taken (409 EMAIL_TAKEN) only by a verified account: until one is verified, several pending registrations of an address may exist side by side, each with its own username, password and names, and a new registration never ends or changes another one. A pending registration holds its username (409 USERNAME_TAKEN) until it is deleted: when another registration of its address is verified, or 24 hours after the newest link of its address. Verification emails go out at most 3 per hour per mailbox (the address without its +tag), registrations and resends together; over that the answer is the same 201, without an email. Every invalid field is reported at once in `details`. Registration attempts are limited per client address (429 RATE_LIMITED). 503 SERVICE_BUSY with Retry-After only under sustained overload of password hashing: bursts are queued and served.",
        },
      },
    )
    .post("/verify-email", ({ body, context }) => verifyEmail(auth, context, body.token, body.password), {
      body: VerifyEmailBody,
      parse: "json",
      transform: ({ body }) => shapes.verify(body),
      response: {
        200: LoginSession,
        ...bodyErrors,
        400: errorResponse(["INVALID_TOKEN", "VALIDATION_ERROR"]),
        401: errorResponse(["INVALID_CREDENTIALS"]),
        429: RateLimited,
        503: BusyOrUnavailable,
      },
      detail: {
        operationId: "verifyEmail",
        summary: "Verify an email address: the token from the email and the password chosen at registration",
        description:
          "Every live link of an address works for every pending registration of that address; the one whose password is sent becomes the address's verified account, and the student is logged in (the answer of login). The address's other pending registrations are deleted and all its links stop working. 400 INVALID_TOKEN: unknown, older than 24 hours, used, or the address already has a verified account. 401 INVALID_CREDENTIALS: no pending registration of the address has this password; the link stays usable, and the attempt counts as a failed login of the address (429 RATE_LIMITED with Retry-After as for login). 503 SERVICE_BUSY with Retry-After under sustained overload of password checking.",
      },
    })
    .post(
      "/resend-verification",
      async ({ body, context, status }) => {
        await resendVerification(auth, context, body.email);
        return status(202, { message: ACCEPTED });
      },
      {
        body: EmailBody,
        parse: "json",
        transform: async ({ context, body }) => {
          await limitClient(auth, context, "resend_client");
          shapes.email(body);
        },
        response: { 202: Accepted, ...bodyErrors, 429: RateLimited },
        detail: {
          operationId: "resendVerification",
          summary: "Send the verification email again",
          description:
            "Answers 202 with the same body for every well-formed address (no account enumeration). When the address has pending registrations and no verified account, a new link is sent that works for each of them; verification emails go out at most 3 per hour per mailbox (registrations and resends together), silently. Requests are limited per client address (429 RATE_LIMITED).",
        },
      },
    )
    .post("/login", ({ body, context }) => login(auth, context, body), {
      body: LoginBody,
      parse: "json",
      transform: ({ body }) => shapes.login(body),
      response: {
        200: LoginSession,
        ...bodyErrors,
        401: errorResponse(["INVALID_CREDENTIALS"]),
        403: errorResponse(["EMAIL_NOT_VERIFIED"]),
        429: RateLimited,
        503: BusyOrUnavailable,
      },
      detail: {
        operationId: "login",
        summary: "Log in and get a JWT",
        description:
          "An unknown email and a wrong password get the same 401 INVALID_CREDENTIALS; 403 EMAIL_NOT_VERIFIED only when the password is that of a pending registration of the address. After 5 failed attempts for one address within 15 minutes that address's logins get 429 RATE_LIMITED (even with the right password) until Retry-After has passed; each client address (an IPv6 client is its /64) is limited too, except for a login that carries the `deviceToken` of an earlier login or verification of this address. 503 SERVICE_BUSY with Retry-After only under sustained overload of password checking, or for a client flooding it (bursts are queued and served); the attempt was not counted: retry after Retry-After seconds.",
      },
    })
    .get("/me", async ({ headers, context }) => ({ user: toPublicUser((await authenticate(auth, context, headers.authorization)).user) }), {
      response: { 200: UserResult, 401: Unauthorized, 500: InternalError, 503: Unavailable },
      detail: {
        operationId: "getMe",
        summary: "The logged-in user",
        security: bearer,
        description:
          "401 UNAUTHORIZED (with WWW-Authenticate: Bearer) when the token is missing, malformed, expired, revoked by logout, older than the last password change or reset, or its user no longer exists.",
      },
    })
    .post(
      "/logout",
      async ({ headers, context, status }) => {
        const { user, claims } = await authenticate(auth, context, headers.authorization);
        await logout(auth, context, user, claims);
        return status(204, undefined);
      },
      {
        response: { 204: t.Void({ description: "Logged out: this token is rejected from now on" }), ...bodyErrors, 401: Unauthorized },
        detail: {
          operationId: "logout",
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
        await forgotPassword(auth, context, body.email);
        return status(202, { message: ACCEPTED });
      },
      {
        body: EmailBody,
        parse: "json",
        transform: async ({ context, body }) => {
          await limitClient(auth, context, "forgot_client");
          shapes.email(body);
        },
        response: { 202: Accepted, ...bodyErrors, 429: RateLimited },
        detail: {
          operationId: "forgotPassword",
          summary: "Ask for a password reset email",
          description:
            "Answers 202 with the same body whether or not the account exists; when a verified account has this address, a reset email is sent, at most 3 per hour per mailbox (the address without its +tag), silently. Requests are limited per client address (429 RATE_LIMITED).",
        },
      },
    )
    .post(
      "/reset-password",
      async ({ body, context }) => {
        await resetPassword(auth, context, body.token, body.password);
        return { message: "Your password has been changed. Please log in again." };
      },
      {
        body: ResetPasswordBody,
        parse: "json",
        transform: ({ body }) => shapes.reset(body),
        response: {
          200: withExamples(Message, { message: PASSWORD_CHANGED }),
          ...bodyErrors,
          400: errorResponse(["INVALID_TOKEN", "VALIDATION_ERROR"]),
          503: BusyOrUnavailable,
        },
        detail: {
          operationId: "resetPassword",
          summary: "Set a new password with the token from the reset email",
          description:
            "Every JWT issued before is rejected afterwards, the user's other reset links stop working, and the account's failed-login count is cleared (the reset proved control of the mailbox). 400 INVALID_TOKEN: unknown, older than 1 hour, or used. 503 SERVICE_BUSY (sustained overload only): the token stays usable.",
        },
      },
    )
    .post(
      "/change-password",
      async ({ body, headers, context }) => {
        const { user } = await authenticate(auth, context, headers.authorization);
        return changePassword(auth, context, user, body.currentPassword, body.newPassword);
      },
      {
        body: ChangePasswordBody,
        parse: "json",
        transform: ({ body }) => shapes.change(body),
        response: {
          200: Session,
          ...bodyErrors,
          400: errorResponse(["INVALID_CURRENT_PASSWORD", "VALIDATION_ERROR"]),
          401: Unauthorized,
          429: RateLimited,
          503: BusyOrUnavailable,
        },
        detail: {
          operationId: "changePassword",
          summary: "Change the password (logged in)",
          security: bearer,
          description:
            "Returns a new JWT; every other JWT of the user and every outstanding reset link is rejected from then on. A wrong currentPassword (400 INVALID_CURRENT_PASSWORD) counts as a failed login of the account: past the limit, 429 RATE_LIMITED with Retry-After. 503 SERVICE_BUSY with Retry-After under sustained overload, or when this client floods password checks.",
        },
      },
    );
}
