import { Elysia, ValidationError } from "elysia";
import type { Logger } from "pino";
import { isDatabaseUnavailable, unavailableLog } from "../db/errors";
import { type RequestLine, requestLineWriter } from "../logger";
import type { ErrorReporter } from "../observability/error-reporting";
import { fieldMessage } from "./body-shape";
import { ApiError, type ErrorBody, type FieldProblem, serviceUnavailable } from "./errors";
import { readJsonBody } from "./request-body";
import { beginRequest, requestInfo } from "./request-context";

/** `route` is the route template (`/api/auth/login`), or `unmatched`: never the raw path. */
export type CompletedRequest = RequestLine;

/**
 * The path of a request URL. Bun hands over a relative URL (`/api/auth/me`) when the Host header is one
 * no absolute URL can hold (`a?b`, `a#b`, `a\\b`): then the URL is the path.
 */
export function pathOf(url: string): string {
  if (url.startsWith("/")) return url;
  const afterScheme = url.indexOf("//");
  const path = url.indexOf("/", afterScheme === -1 ? 0 : afterScheme + 2);
  return path === -1 ? "/" : url.slice(path);
}

/** Turns a schema validation failure into one detail per offending body property, without echoing values. */
function validationDetails(error: ValidationError): FieldProblem[] {
  const fields = new Set<string>();
  for (const issue of error.all) fields.add(issue.path?.split("/")[1] || "body");
  return [...fields].map((field) => ({ field, message: fieldMessage(error.value, field) }));
}

/** What a beforeBody hook sees of a request. */
export interface BeforeBodyContext {
  request: Request;
  /** The route template (`/api/auth/login`). */
  route: string;
  server: { requestIP(request: Request): { address: string } | null } | null;
}

/** Turns a capability's own error (a domain error) into its HTTP answer, or null when it is not one. */
export type ErrorMapper = (error: unknown) => ApiError | null;

function toApiError(code: string | number, error: unknown, mappers: readonly ErrorMapper[]): ApiError | null {
  if (error instanceof ApiError) return error;
  // Elysia wraps what a parser throws (our 413/415/400, an answer given before the body) in a ParseError.
  const thrown = code === "PARSE" && error instanceof Error && error.cause !== undefined ? error.cause : error;
  if (thrown instanceof ApiError) return thrown;
  for (const map of mappers) {
    const mapped = map(thrown);
    if (mapped) return mapped;
  }
  if (error instanceof ValidationError && error.type !== "response") {
    return new ApiError(400, "VALIDATION_ERROR", "The request is not valid.", validationDetails(error));
  }
  if (code === "NOT_FOUND") return new ApiError(404, "NOT_FOUND", "There is nothing at this address.");
  if (code === "PARSE") {
    return new ApiError(400, "VALIDATION_ERROR", "The request body is not valid JSON.", [{ field: "body", message: "must be valid JSON" }]);
  }
  return null;
}

/**
 * Requests whose handler is running, and work deferred past an answer (an email), so that a shutdown
 * closes the database only after the last one: the HTTP server's own stop does not wait for requests
 * whose client has already hung up. A request is counted from the first hook that guarantees the
 * after-response hook (before-handle): an answer given earlier (a CORS preflight from onRequest, a
 * 404, a body refused while parsing) never starts a count, and an end without its begin changes nothing.
 */
export class InFlightRequests {
  private requests = 0;
  private background = 0;
  private waiting: Array<() => void> = [];

  get count(): number {
    return this.requests + this.background;
  }

  /**
   * With a request (its RequestInfo, which remembers whether it is counted: cheaper than a set of
   * requests on every answer): that request; without: one piece of background work.
   */
  begin(request?: InFlightMark): void {
    if (!request) this.background++;
    else if (!request.inFlight) {
      request.inFlight = true;
      this.requests++;
    }
  }

  end(request?: InFlightMark): void {
    if (request) {
      if (!request.inFlight) return;
      request.inFlight = false;
      this.requests--;
    } else {
      if (this.background === 0) return;
      this.background--;
    }
    if (this.count === 0) for (const resolve of this.waiting.splice(0)) resolve();
  }

  /** Resolves when no request is being handled. */
  idle(): Promise<void> {
    return this.count === 0 ? Promise.resolve() : new Promise((resolve) => this.waiting.push(resolve));
  }
}

/** Whether a request is counted as in flight (a field of its RequestInfo). */
export interface InFlightMark {
  inFlight?: boolean;
}

/** Set on SIGTERM: /health says "draining" and every answer closes its connection (`Connection: close`). */
export class DrainState {
  draining = false;
}

/**
 * The conventions every response follows: request id, security headers, JSON bodies under the contract's
 * limits, errors in the contract's shape (never a stack trace or schema dump), and one log line per request.
 */
export function httpPlugin(options: {
  logger: Logger;
  errorReporter: ErrorReporter;
  inFlight: InFlightRequests;
  drain: DrainState;
  /** The capabilities' domain errors, mapped where every error is answered (so handlers need no wrapper). */
  errorMappers?: readonly ErrorMapper[];
  onCompleted?: (request: CompletedRequest) => void;
  /**
   * Runs before a request body is read, with the matched route: a capability may answer first with a
   * rejected promise (the auth routes' 503 SERVICE_BUSY for a client the hashing queue turns away anyway).
   */
  beforeBody?: (context: BeforeBodyContext) => Promise<never> | undefined;
}) {
  const errorMappers = options.errorMappers ?? [];
  const writeRequestLine = requestLineWriter(options.logger);
  const logUnavailable = unavailableLog(options.logger, "database unavailable: answered 503");
  return new Elysia({ name: "http" })
    .onRequest(({ request, set }) => {
      // Before any other hook may answer (CORS preflight): a keep-alive client or proxy reconnects elsewhere.
      if (options.drain.draining) set.headers.connection = "close";
      set.headers["x-request-id"] = beginRequest(request).id;
      set.headers["x-content-type-options"] = "nosniff";
      if (pathOf(request.url).startsWith("/api/auth/") && request.method !== "OPTIONS") set.headers["cache-control"] = "no-store";
    })
    .onBeforeHandle({ as: "global" }, ({ request }) => {
      const info = requestInfo(request);
      if (info) options.inFlight.begin(info);
    })
    .onParse({ as: "global" }, ({ request, route, server }) => {
      const answered = options.beforeBody?.({ request, route, server });
      return answered ? answered.then(() => readJsonBody(request)) : readJsonBody(request);
    })
    .onError({ as: "global" }, ({ code, error, set, request }) => {
      const apiError = toApiError(code, error, errorMappers);
      if (apiError) {
        Object.assign(set.headers, apiError.headers);
        set.status = apiError.status;
        return apiError.toBody();
      }
      const reqId = requestInfo(request)?.id;
      // The database is down, hanging or exhausted: the client may retry; not a bug to report.
      if (isDatabaseUnavailable(error)) {
        logUnavailable(error, { reqId });
        const unavailable = serviceUnavailable();
        Object.assign(set.headers, unavailable.headers);
        set.status = 503;
        return unavailable.toBody();
      }
      options.logger.error({ err: error, reqId }, "unhandled error");
      options.errorReporter.capture(error, { where: "http", reqId });
      set.status = 500;
      return { error: { code: "INTERNAL_ERROR", message: "Something went wrong on our side." } } satisfies ErrorBody;
    })
    .onAfterResponse({ as: "global" }, ({ request, set, route }) => {
      const info = requestInfo(request);
      const completed: CompletedRequest = {
        reqId: info?.id ?? "",
        method: request.method,
        route: route || "unmatched",
        status: typeof set.status === "number" ? set.status : 200,
        durationMs: Math.round((performance.now() - (info?.startedAt ?? performance.now())) * 100) / 100,
      };
      if (info) options.inFlight.end(info);
      writeRequestLine(completed);
      options.onCompleted?.(completed);
    });
}
