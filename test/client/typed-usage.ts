/**
 * How the frontend uses the typed client, written so that it only compiles while the types are precise.
 * Checked by `bun run typecheck` (against the package's sources) and, under a strict Vite tsconfig with
 * the built package and no bun-types, by test/client/types.test.ts. Never run: it is not a test file.
 */
import {
  type Client,
  createClient,
  type ErrorCode,
  type LoginSession,
  type NetworkFailure,
  type PublicUser,
  type Session,
} from "@classmatefinder/api";

export type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
export type Expect<T extends true> = T;

type Result<F> = F extends (...args: any[]) => Promise<infer R> ? R : never;
export type ErrorOf<F> = NonNullable<Result<F> extends { error: infer E } ? E : never>;
export type DataOf<F> = NonNullable<Result<F> extends { data: infer D } ? D : never>;
/** The HTTP statuses of a route's errors (without "network" and "unexpected", which every route has). */
export type StatusOf<F> = Exclude<ErrorOf<F> extends { status: infer S } ? S : never, "network" | "unexpected">;
type CodesIn<E> = E extends { value: { error: { code: infer C } } } ? C : never;
/** The codes an endpoint answers with (at one status, or at any). */
export type CodeOf<F, S = StatusOf<F>> = CodesIn<Extract<ErrorOf<F>, { status: S }>>;

type Auth = Client["api"]["auth"];
type Endpoints = { [K in keyof Auth]: Auth[K] extends { post: infer F } ? F : Auth[K] extends { get: infer F } ? F : never }[keyof Auth];
type AnyCode = Endpoints extends infer F ? (F extends unknown ? CodeOf<F> : never) : never;

// Statuses and codes, endpoint by endpoint: every error status is typed, each with its own codes.
export type Checks = [
  Expect<Equal<StatusOf<Auth["register"]["post"]>, 400 | 409 | 413 | 415 | 429 | 500 | 503>>,
  Expect<Equal<CodeOf<Auth["register"]["post"], 400>, "VALIDATION_ERROR" | "EMAIL_DOMAIN_NOT_ALLOWED">>,
  Expect<Equal<CodeOf<Auth["register"]["post"], 409>, "EMAIL_TAKEN" | "USERNAME_TAKEN">>,
  Expect<Equal<CodeOf<Auth["register"]["post"], 429>, "RATE_LIMITED">>,
  Expect<Equal<StatusOf<Auth["login"]["post"]>, 400 | 401 | 403 | 413 | 415 | 429 | 500 | 503>>,
  Expect<Equal<CodeOf<Auth["login"]["post"], 401>, "INVALID_CREDENTIALS">>,
  Expect<Equal<CodeOf<Auth["login"]["post"], 403>, "EMAIL_NOT_VERIFIED">>,
  Expect<Equal<CodeOf<Auth["login"]["post"], 503>, "SERVICE_BUSY" | "SERVICE_UNAVAILABLE">>,
  Expect<Equal<StatusOf<Auth["me"]["get"]>, 401 | 500 | 503>>,
  Expect<Equal<CodeOf<Auth["me"]["get"]>, "UNAUTHORIZED" | "INTERNAL_ERROR" | "SERVICE_UNAVAILABLE">>,
  Expect<Equal<CodeOf<Auth["verify-email"]["post"], 400>, "INVALID_TOKEN" | "VALIDATION_ERROR">>,
  Expect<Equal<CodeOf<Auth["verify-email"]["post"], 401>, "INVALID_CREDENTIALS">>,
  Expect<Equal<DataOf<Auth["verify-email"]["post"]>, LoginSession>>,
  Expect<Equal<CodeOf<Auth["reset-password"]["post"], 400>, "INVALID_TOKEN" | "VALIDATION_ERROR">>,
  Expect<Equal<CodeOf<Auth["change-password"]["post"], 400>, "INVALID_CURRENT_PASSWORD" | "VALIDATION_ERROR">>,
  Expect<Equal<CodeOf<Auth["change-password"]["post"], 401>, "UNAUTHORIZED">>,
  Expect<
    Equal<
      CodeOf<Auth["forgot-password"]["post"]>,
      "VALIDATION_ERROR" | "PAYLOAD_TOO_LARGE" | "UNSUPPORTED_MEDIA_TYPE" | "RATE_LIMITED" | "INTERNAL_ERROR" | "SERVICE_UNAVAILABLE"
    >
  >,
  // Every route can fail without a response, and with a response that is not the API's.
  Expect<Equal<Extract<ErrorOf<Auth["verify-email"]["post"]>, { status: "network" }>, NetworkFailure>>,
  Expect<Equal<Extract<ErrorOf<Client["health"]["live"]["get"]>, { status: "network" }>, NetworkFailure>>,
  Expect<Equal<Extract<ErrorOf<Auth["me"]["get"]>, { status: "unexpected" }>["httpStatus"], number>>,
  // Retry-After, typed where it is sent: 429 and 503.
  Expect<Equal<Extract<ErrorOf<Auth["login"]["post"]>, { status: 429 }>["retryAfter"], number>>,
  Expect<Equal<Extract<ErrorOf<Auth["login"]["post"]>, { status: 503 }>["retried"], boolean>>,
  Expect<Equal<"retryAfter" extends keyof Extract<ErrorOf<Auth["login"]["post"]>, { status: 401 }> ? true : false, false>>,
  // Success bodies.
  Expect<Equal<DataOf<Auth["login"]["post"]>, LoginSession>>,
  Expect<Equal<DataOf<Auth["change-password"]["post"]>, Session>>,
  Expect<Equal<DataOf<Auth["me"]["get"]>, { user: PublicUser }>>,
  Expect<Equal<DataOf<Auth["register"]["post"]>, { user: PublicUser; verificationRequired: true }>>,
  // Every code but NOT_FOUND (any unknown path) belongs to some endpoint.
  Expect<Equal<AnyCode, Exclude<ErrorCode, "NOT_FOUND">>>,
];

let session: Session | null = null;
const api = createClient("http://localhost:5000", { getToken: () => session?.token ?? null });

/** A login form's submit handler: every branch is typed, and the switch must cover every case. */
export async function logIn(email: string, password: string): Promise<string> {
  const { data, error } = await api.api.auth.login.post({ email, password });
  if (!error) {
    session = data;
    return `Welcome, ${data.user.firstName}`;
  }
  if (error.status === "network") return `Cannot reach the server (${error.cause.message}).`;
  if (error.status === "unexpected") return `Something went wrong (HTTP ${error.httpStatus}).`;
  switch (error.value.error.code) {
    case "INVALID_CREDENTIALS":
      return "Email or password is incorrect.";
    case "EMAIL_NOT_VERIFIED":
      return "Please verify your email first.";
    case "RATE_LIMITED":
    case "SERVICE_BUSY":
    case "SERVICE_UNAVAILABLE":
      return `Please try again in ${error.status === 429 || error.status === 503 ? error.retryAfter : 1} s.`;
    case "VALIDATION_ERROR":
      return (error.value.error.details ?? []).map((problem) => `${problem.field} ${problem.message}`).join("; ");
    case "PAYLOAD_TOO_LARGE":
    case "UNSUPPORTED_MEDIA_TYPE":
    case "INTERNAL_ERROR":
      return "Something went wrong. Please try again.";
    default: {
      const unreachable: never = error.value.error;
      return unreachable;
    }
  }
}

/** Narrowing on the status narrows the codes. */
export async function register(body: Parameters<Auth["register"]["post"]>[0]): Promise<PublicUser | "email" | "username" | "other"> {
  const { data, error } = await api.api.auth.register.post(body);
  if (!error) return data.user;
  if (error.status === 409) {
    const code: "EMAIL_TAKEN" | "USERNAME_TAKEN" = error.value.error.code;
    return code === "EMAIL_TAKEN" ? "email" : "username";
  }
  return "other";
}

export async function logOut(): Promise<void> {
  const { error } = await api.api.auth.logout.post();
  if (error?.status === "network") throw error.cause;
  session = null;
}
