/// <reference path="./assets.d.ts" />
/**
 * The typed client for the ClassmateFinder API, for the frontend: `createClient(baseUrl, { getToken })`.
 *
 * Built on Eden treaty. Everything it knows about the server is types (`import type` only), so bundling
 * this file into a web app pulls in `@elysiajs/eden` and nothing of the server. A frontend type-checks the
 * server's sources through these imports (see docs/integration.md for its tsconfig); the reference above
 * brings the declarations of the server's asset imports along.
 *
 * ```ts
 * const api = createClient("http://localhost:5000", { getToken: () => session?.token ?? null });
 * const { data, error } = await api.api.auth.login.post({ email, password });
 * if (error) {
 *   if (error.status === 403) offerResend(); // error.value.error.code is "EMAIL_NOT_VERIFIED"
 * } else {
 *   session = data; // { token, tokenType, expiresAt, user }
 * }
 * ```
 */
import { type Treaty, treaty } from "@elysiajs/eden";
import type { App } from "./app";
import type { PublicUser as PublicUserSchema, Session as SessionSchema } from "./auth/schemas";

export type { App } from "./app";
export type { ErrorBody, ErrorCode, FieldProblem } from "./http/errors";

/** The public view of an account, as every endpoint returns it. */
export type PublicUser = (typeof PublicUserSchema)["static"];
/** What login and change-password return: a JWT to send as `Authorization: Bearer <token>`, and the user. */
export type Session = (typeof SessionSchema)["static"];

/**
 * Elysia adds a `422 { type: "validation" }` response to the type of every route with a schema. This
 * service never answers 422: the HTTP layer turns every validation failure into `400 VALIDATION_ERROR`
 * (see src/http/plugin.ts). Dropping it keeps `error.value.error.code` readable on every error.
 */
type WithoutElysia422<Routes> = {
  [K in keyof Routes]: Routes[K] extends { body: unknown; params: unknown; query: unknown; headers: unknown; response: infer Res }
    ? Omit<Routes[K], "response"> & { response: Omit<Res, 422> }
    : WithoutElysia422<Routes[K]>;
};

/** The client's surface: `client.api.auth.login.post(body)`, `client.api.auth.me.get()`, `client.health.get()`. */
export type Client = Treaty.Sign<WithoutElysia422<App["~Routes"]>>;

export interface ClientOptions {
  /**
   * The current access token, or null when logged out; asked before every request. When it returns a
   * token, the request carries `Authorization: Bearer <token>`. Keep the token in memory (see the guide).
   */
  getToken?: () => string | null | undefined;
  /** A `fetch` of your own (tests, SSR, instrumentation); called with the full URL and the request init. */
  fetcher?: (url: string, init: RequestInit) => Promise<Response>;
  /**
   * Extra `fetch` options for every request, e.g. `{ cache: "no-store" }`. Not `credentials: "include"`:
   * the API uses no cookies, and its CORS answers do not allow credentialed requests.
   */
  fetch?: Omit<RequestInit, "headers" | "method">;
}

/**
 * A typed client of the API at `baseUrl` (e.g. `http://localhost:5000`, no trailing path). Every call
 * resolves to `{ data, error, status, response, headers }`: `data` is typed by the success status; `error`
 * is `{ status, value }` with `value.error.code` narrowed to the codes that the endpoint answers with at
 * that status. Calls never throw for HTTP errors; a network failure gives `error.status` 503.
 */
export function createClient(baseUrl: string, options: ClientOptions = {}): Client {
  const { getToken, fetcher, fetch: fetchInit } = options;
  const client = treaty<App>(baseUrl, {
    fetcher: fetcher as typeof fetch | undefined,
    fetch: fetchInit,
    // Eden turns every date-looking string into a Date by default; the API's types say string.
    parseDate: false,
    headers: () => {
      const token = getToken?.();
      return token ? { authorization: `Bearer ${token}` } : undefined;
    },
  });
  return client as unknown as Client;
}
