import type { ErrorEvent } from "@sentry/bun";
import type { Config } from "../config/config";
import { withoutQueryParameters } from "../logger";
import { PROGRAM, VERSION } from "../version";

/** Where unexpected errors go besides the log (Sentry when SENTRY_DSN is set). */
export interface ErrorReporter {
  capture(error: unknown, context: { where: string; reqId?: string }): void;
  /** Sends what is queued (on shutdown). */
  close(timeoutMs?: number): Promise<void>;
}

export const noErrorReporter: ErrorReporter = { capture: () => {}, close: async () => {} };

// Only integrations that report errors; none that wraps servers, fetch or the console (they would
// collect request data, which we never want to send). Uncaught exceptions and unhandled rejections are
// reported by our own process handlers (observability/process-errors.ts), which log them as JSON first.
const KEPT_INTEGRATIONS = new Set(["InboundFilters", "EventFilters", "FunctionToString", "LinkedErrors", "Dedupe", "NodeContext"]);
const EMAIL = /[^\s@"'<>]+@[^\s@"'<>]+\.[a-z]{2,}/gi;
const scrubText = (text: string | undefined) => withoutQueryParameters(text)?.replace(EMAIL, "[email]");

/** Removes request bodies, credentials and email addresses from an event before it leaves the host. */
export function scrubEvent<T extends ErrorEvent>(event: T): T {
  if (event.request) {
    delete event.request.data;
    delete event.request.cookies;
    delete event.request.query_string;
    if (event.request.headers) {
      for (const name of Object.keys(event.request.headers)) {
        if (/^(authorization|cookie|x-forwarded-for)$/i.test(name)) delete event.request.headers[name];
      }
    }
  }
  if (event.user) event.user = event.user.id ? { id: event.user.id } : undefined;
  event.message = scrubText(event.message);
  for (const exception of event.exception?.values ?? []) exception.value = scrubText(exception.value);
  for (const crumb of event.breadcrumbs ?? []) crumb.message = scrubText(crumb.message);
  return event;
}

/**
 * Sentry when `SENTRY_DSN` is set; otherwise nothing, and no network call at all. The SDK is loaded
 * only then: loading it took longer than the whole rest of start-up.
 */
export async function createErrorReporter(config: Pick<Config, "sentry" | "nodeEnv">): Promise<ErrorReporter> {
  if (!config.sentry.dsn) return noErrorReporter;
  const Sentry = await import("@sentry/bun");
  Sentry.init({
    dsn: config.sentry.dsn,
    release: `${PROGRAM}@${VERSION}`,
    environment: config.sentry.environment ?? config.nodeEnv,
    integrations: (defaults) => defaults.filter((integration) => KEPT_INTEGRATIONS.has(integration.name)),
    beforeSend: (event) => scrubEvent(event),
    beforeBreadcrumb: () => null,
  });
  return {
    capture: (error, context) => {
      Sentry.withScope((scope) => {
        scope.setTag("where", context.where);
        if (context.reqId) scope.setTag("reqId", context.reqId);
        Sentry.captureException(error);
      });
    },
    close: async (timeoutMs = 2000) => {
      await Sentry.close(timeoutMs);
    },
  };
}
