/**
 * `@classmatefinder/api`: the typed client of the ClassmateFinder API, for the frontend.
 *
 * ```ts
 * const api = createClient("http://localhost:5000", { getToken: () => session?.token ?? null });
 * const { data, error } = await api.api.auth.login.post({ email, password });
 * if (error) {
 *   if (error.status === "network") showOffline(); // no response: error.cause is what fetch threw
 *   else if (error.status === 403) offerResend(); // error.value.error.code is "EMAIL_NOT_VERIFIED"
 * } else {
 *   session = data; // { token, tokenType, expiresAt, user }
 * }
 * ```
 * No dependencies: a `fetch` and a `Proxy` that turns property paths into URLs. Everything the client
 * knows about the server is types (./types.ts, ./server-types.ts).
 */
import type { Client, RequestOptions } from "./types.js";

export type {
  ApiRoutes,
  Call,
  Client,
  ErrorBody,
  ErrorCode,
  Failure,
  FieldProblem,
  HttpError,
  LoginSession,
  NetworkFailure,
  PublicUser,
  RequestOptions,
  Result,
  RetryAfterStatus,
  Session,
  Success,
  UnexpectedResponse,
} from "./types.js";

export interface ClientOptions {
  /**
   * The current access token, or null when logged out; asked before every request. When it returns a
   * token, the request carries `Authorization: Bearer <token>`.
   */
  getToken?: (() => string | null | undefined) | undefined;
  /** A `fetch` of your own (tests, server-side rendering, instrumentation): called with the full URL and the init. */
  fetcher?: ((url: string, init: RequestInit) => Promise<Response>) | undefined;
  /**
   * Extra `fetch` options for every request, e.g. `{ cache: "no-store" }`. Not `credentials: "include"`:
   * the API uses no cookies, and its CORS answers do not allow credentialed requests.
   */
  fetch?: Omit<RequestInit, "headers" | "method" | "body" | "signal"> | undefined;
  /**
   * The built-in retry: a `503` (`SERVICE_BUSY`: password checking at capacity, nothing was done; or
   * the database briefly unreachable) is sent once more after its `Retry-After`, when that is at most
   * `maxDelaySeconds` (default 5). `false` turns it off. The result says `retried: true` when it did.
   */
  retry?: false | { maxDelaySeconds?: number | undefined } | undefined;
}

const METHODS = new Set(["get", "post", "put", "patch", "delete"]);
const DEFAULT_MAX_RETRY_DELAY_SECONDS = 5;

/**
 * A typed client of the API at `baseUrl` (e.g. `http://localhost:5000`, no trailing path). Every call
 * resolves to `{ data, error, status, response }` and never rejects: see `Result`.
 */
export function createClient(baseUrl: string, options: ClientOptions = {}): Client {
  const base = baseUrl.replace(/\/+$/, "");
  const send = (method: string, path: string, body: unknown, hasBody: boolean, call: RequestOptions = {}) =>
    request(options, { method: method.toUpperCase(), url: `${base}${path}`, body, hasBody, call });
  const node = (path: string): unknown =>
    new Proxy(() => undefined, {
      get: (_target, key) => {
        if (typeof key !== "string" || key === "then") return undefined; // not a thenable
        if (METHODS.has(key)) {
          // GET takes (options?); the others (body?, options?), like the types say.
          return key === "get"
            ? (call?: RequestOptions) => send(key, path, undefined, false, call)
            : (body?: unknown, call?: RequestOptions) => send(key, path, body, body !== undefined, call);
        }
        return node(`${path}/${encodeURIComponent(key)}`);
      },
    });
  return node("") as Client;
}

interface Outgoing {
  method: string;
  url: string;
  body: unknown;
  hasBody: boolean;
  call: RequestOptions;
}

async function request(options: ClientOptions, outgoing: Outgoing, retried = false): Promise<unknown> {
  const { method, url, body, hasBody, call } = outgoing;
  const headers: Record<string, string> = {};
  const token = options.getToken?.();
  if (token) headers.authorization = `Bearer ${token}`;
  if (hasBody) headers["content-type"] = "application/json";
  Object.assign(headers, call.headers);
  const init: RequestInit = { ...options.fetch, method, headers };
  if (hasBody) init.body = JSON.stringify(body);
  if (call.signal) init.signal = call.signal;

  let response: Response;
  try {
    response = await (options.fetcher ?? ((input: string, requestInit: RequestInit) => fetch(input, requestInit)))(url, init);
  } catch (thrown) {
    return networkFailure(thrown);
  }
  const status = response.status;
  let value: unknown;
  try {
    value = await readJson(response);
  } catch (thrown) {
    return networkFailure(thrown); // the connection broke while the body arrived
  }
  // The API answers everything but a 204 with JSON; anything else came from something in between, e.g.
  // a proxy's HTML error page, or a wrong base URL that serves the frontend's own index.html with 200.
  if (value === undefined && status !== 204) {
    return { data: null, error: { status: "unexpected", httpStatus: status }, status, response };
  }
  if (status >= 200 && status < 300) return { data: value, error: null, status, response };
  if (status !== 429 && status !== 503) return { data: null, error: { status, value }, status, response };

  const retryAfter = retryAfterSeconds(response);
  const maxDelay = options.retry === false ? -1 : (options.retry?.maxDelaySeconds ?? DEFAULT_MAX_RETRY_DELAY_SECONDS);
  if (status === 503 && !retried && retryAfter <= maxDelay) {
    try {
      await wait(retryAfter * 1000, call.signal);
    } catch (aborted) {
      return networkFailure(aborted);
    }
    return request(options, outgoing, true);
  }
  return { data: null, error: { status, value, retryAfter, retried }, status, response };
}

function networkFailure(thrown: unknown) {
  const cause = thrown instanceof Error ? thrown : new Error(String(thrown));
  return { data: null, error: { status: "network", cause }, status: null, response: null };
}

/** The parsed JSON body, `undefined` when there is none or it is not JSON; rejects when reading fails. */
async function readJson(response: Response): Promise<unknown> {
  if (!response.headers.get("content-type")?.includes("json")) return undefined;
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** `Retry-After` as whole seconds: a number of seconds or an HTTP date; 1 when absent or unreadable. */
function retryAfterSeconds(response: Response): number {
  const header = response.headers.get("retry-after")?.trim() ?? "";
  if (/^\d+$/.test(header)) return Number(header);
  const date = Date.parse(header);
  return Number.isNaN(date) ? 1 : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

function wait(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
