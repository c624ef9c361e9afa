/**
 * The client's types: what every call resolves to, derived from the server's route types (`ApiRoutes`).
 * Written for the strictest frontend settings (exactOptionalPropertyTypes, erasableSyntaxOnly,
 * verbatimModuleSyntax): types only, nothing here exists at run time.
 */
import type { ApiRoutes, ErrorCode } from "./server-types.js";

export type { ApiRoutes, ErrorCode };

/** The statuses that carry `Retry-After`: 429 (rate limited) and 503 (busy, or the database unreachable). */
export type RetryAfterStatus = 429 | 503;

/** A failing HTTP answer of the API, as documented for the route: `value` is the error body `{ error }`. */
export type HttpError<Status, Body> = Status extends RetryAfterStatus
  ? {
      status: Status;
      value: Body;
      /** Whole seconds to wait before trying again, from the `Retry-After` header. */
      retryAfter: number;
      /** 503 only: true when the client already retried once by itself (see `ClientOptions.retry`). */
      retried: boolean;
    }
  : { status: Status; value: Body };

/**
 * No response at all: the API is down or unreachable, the browser is offline, the origin is missing
 * from the API's `CORS_ORIGIN` (the browser hides the answer), or the request was aborted.
 */
export interface NetworkFailure {
  status: "network";
  /** What `fetch` threw (a `TypeError` in browsers, a `DOMException` named `AbortError` when aborted). */
  cause: Error;
}

/**
 * A response that is not an answer of the API (the API answers everything with JSON): for example a
 * reverse proxy's HTML `502 Bad Gateway` page while the API restarts, or a wrong base URL.
 */
export interface UnexpectedResponse {
  status: "unexpected";
  /** The HTTP status that came back. */
  httpStatus: number;
}

type Statuses<Responses> = Extract<keyof Responses, number>;
type SuccessStatus<Responses> = Extract<Statuses<Responses>, 200 | 201 | 202 | 204>;
type ErrorStatus<Responses> = Exclude<Statuses<Responses>, SuccessStatus<Responses>>;

/** A success: `data` is the typed body (`undefined` for 204), `error` is null. */
export type Success<Responses> = {
  [S in SuccessStatus<Responses>]: { data: Responses[S]; error: null; status: S; response: Response };
}[SuccessStatus<Responses>];

/** Any failure: an HTTP error of the route, an unexpected response, or no response at all. */
export type Failure<Responses> =
  | {
      [S in ErrorStatus<Responses>]: { data: null; error: HttpError<S, Responses[S]>; status: S; response: Response };
    }[ErrorStatus<Responses>]
  | { data: null; error: UnexpectedResponse; status: number; response: Response }
  | { data: null; error: NetworkFailure; status: null; response: null };

/** What a call resolves to. Calls never throw (nor reject) for a failure of any kind. */
export type Result<Responses> = Success<Responses> | Failure<Responses>;

/** Per-call options. */
export interface RequestOptions {
  /** Extra request headers, e.g. `{ "x-request-id": "…" }`. */
  headers?: Record<string, string> | undefined;
  /** Aborts the request, and the wait before an automatic retry; the call then resolves to a network failure. */
  signal?: AbortSignal | undefined;
}

type Route = { body: unknown; response: unknown };
type HttpMethod = "get" | "post" | "put" | "patch" | "delete";

/** A route's call: `(options?)` for routes without a body, `(body, options?)` for the others. */
export type Call<R extends Route> = unknown extends R["body"]
  ? (options?: RequestOptions) => Promise<Result<R["response"]>>
  : (body: R["body"], options?: RequestOptions) => Promise<Result<R["response"]>>;

/** The client's surface, one property per path segment: `client.api.auth.login.post(body)`, `client.health.get()`. */
export type Client<Tree = ApiRoutes> = {
  [K in keyof Tree]: K extends HttpMethod ? (Tree[K] extends Route ? Call<Tree[K]> : never) : Client<Tree[K]>;
};

type Auth = ApiRoutes["api"]["auth"];
/** The public view of an account, as every endpoint returns it. */
export type PublicUser = Auth["me"]["get"]["response"][200]["user"];
/** What change-password returns: a JWT to send as `Authorization: Bearer <token>`, and the user. */
export type Session = Auth["change-password"]["post"]["response"][200];
/** What login and verify-email return: a Session and the `deviceToken` to keep on this device and send with the next login. */
export type LoginSession = Auth["login"]["post"]["response"][200];
/** One entry of `details`: a body property and what is wrong with it. */
export type FieldProblem = NonNullable<Auth["register"]["post"]["response"][400]["error"]["details"]>[number];
/** The one error body of the API. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: FieldProblem[] | undefined };
}
