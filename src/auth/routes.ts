import { Elysia, type TSchema, t } from "elysia";
import { checkBodyShape } from "../http/body-shape";
import { ApiError } from "../http/errors";
import type { BeforeBodyContext } from "../http/plugin";
import { requestContext } from "../http/request-context";
import { withExamples } from "../http/schemas";
import { AuthError, type AuthErrorCode } from "./errors";
import {
  BusyOrUnavailable,
  ChangePasswordBody,
  EmailBody,
  errorResponse,
  InternalError,
  InvalidBody,
  LoginBody,
  Message,
  PayloadTooLarge,
  RateLimited,
  RegisterBody,
  Registration,
  ResetPasswordBody,
  Session,
  TokenBody,
  Unauthorized,
  Unavailable,
  UnsupportedMediaType,
  UserResult,
} from "./schemas";
import type { AuthService } from "./service";
import { toPublicUser } from "./users";

const bearer = [{ bearerAuth: [] }];
/**
 * The errors of every endpoint that reads a request body: 400 (invalid body), 413 (over 16 KiB), 415 (not
 * JSON), 500 INTERNAL_ERROR, which is always possible, and 503 SERVICE_UNAVAILABLE (no database); an endpoint
 * with more codes at a status overrides it. Each error schema lists the exact codes of its status, so typed
 * clients (Eden treaty) and the OpenAPI document can rely on them. Errors are rendered by the HTTP plugin's
 * onError, outside response validation.
 */
const bodyErrors = { 400: InvalidBody, 413: PayloadTooLarge, 415: UnsupportedMediaType, 500: InternalError, 503: Unavailable };
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
const shapeOf = (schema: TSchema & { properties: Record<string, unknown> }) => {
  const fields = Object.keys(schema.properties);
  return (body: unknown) => checkBodyShape(body, fields);
};
const shapes = {
  register: shapeOf(RegisterBody),
  token: shapeOf(TokenBody),
  email: shapeOf(EmailBody),
  login: shapeOf(LoginBody),
  reset: shapeOf(ResetPasswordBody),
  change: shapeOf(ChangePasswordBody),
};

/** The endpoints whose requests wait for password hashing, and what a request turned away counts as. */
const HASHING_ROUTES = new Map<string, "login" | undefined>([
  ["/api/auth/login", "login"],
  ["/api/auth/change-password", undefined],
  ["/api/auth/reset-password", undefined],
]);

/**
 * The HTTP plugin's beforeBody: a request to an endpoint that checks or sets a password, from a client
 * address that the hashing queue turns away whatever it sends, is answered 503 SERVICE_BUSY before its
 * body is read (AuthRules.refuseWhenBusy), so a flood's 503s cost no parsing or validation. Registration
 * is left out: its attempts count against the client's registration limit before anything else.
 */
export function refuseBusyBeforeBody(auth: AuthService, options: { trustProxy: boolean }) {
  return ({ request, route, server }: BeforeBodyContext) => {
    if (!HASHING_ROUTES.has(route)) return undefined;
    return auth.refuseWhenBusy(requestContext(request, server, options.trustProxy), HASHING_ROUTES.get(route));
  };
}

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
        transform: async ({ context, body }) => {
          await auth.limitClient(context, "register_client");
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
            "Creates an unverified account and sends a verification email (the link's token is valid for 24 hours). An address is taken only by a verified account: registering an address whose account is still unverified replaces that account (its password, username and links stop working). Every invalid field is reported at once in `details`. Registration attempts are limited per client address (429 RATE_LIMITED). 503 SERVICE_BUSY with Retry-After only under sustained overload of password hashing: bursts are queued and served.",
        },
      },
    )
    .post("/verify-email", async ({ body, context }) => ({ user: await auth.verifyEmail(context, body.token) }), {
      body: TokenBody,
      parse: "json",
      transform: ({ body }) => shapes.token(body),
      response: { 200: UserResult, ...bodyErrors, 400: errorResponse(["INVALID_TOKEN", "VALIDATION_ERROR"]) },
      detail: {
        operationId: "verifyEmail",
        summary: "Verify an email address with the token from the email",
        description: "Tokens are single use and expire after 24 hours; an unknown, expired or used token is 400 INVALID_TOKEN.",
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
        transform: async ({ context, body }) => {
          await auth.limitClient(context, "resend_client");
          shapes.email(body);
        },
        response: { 202: Accepted, ...bodyErrors, 429: RateLimited },
        detail: {
          operationId: "resendVerification",
          summary: "Send the verification email again",
          description:
            "Answers 202 with the same body for every well-formed address (no account enumeration); sending is throttled per account silently.",
        },
      },
    )
    .post("/login", ({ body, context }) => auth.login(context, body.email, body.password), {
      body: LoginBody,
      parse: "json",
      transform: ({ body }) => shapes.login(body),
      response: {
        200: Session,
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
          "An unknown email and a wrong password get the same 401 INVALID_CREDENTIALS; 403 EMAIL_NOT_VERIFIED only when the password is right. After 5 failed attempts for one address within 15 minutes that address's logins get 429 RATE_LIMITED (even with the right password) until Retry-After has passed. 503 SERVICE_BUSY with Retry-After only under sustained overload of password checking, or for a client flooding it (bursts are queued and served); the attempt was not counted: retry after Retry-After seconds.",
      },
    })
    .get("/me", async ({ headers, context }) => ({ user: toPublicUser((await auth.authenticate(context, headers.authorization)).user) }), {
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
        const { user, claims } = await auth.authenticate(context, headers.authorization);
        await auth.logout(context, user, claims);
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
        await auth.forgotPassword(context, body.email);
        return status(202, { message: ACCEPTED });
      },
      {
        body: EmailBody,
        parse: "json",
        transform: async ({ context, body }) => {
          await auth.limitClient(context, "forgot_client");
          shapes.email(body);
        },
        response: { 202: Accepted, ...bodyErrors, 429: RateLimited },
        detail: {
          operationId: "forgotPassword",
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
            "Every JWT issued before is rejected afterwards, and the user's other reset links stop working. 400 INVALID_TOKEN: unknown, older than 1 hour, or used. 503 SERVICE_BUSY (sustained overload only): the token stays usable.",
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
