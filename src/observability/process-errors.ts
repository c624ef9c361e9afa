import type { Logger } from "pino";
import { createLogger } from "../logger";
import { type ErrorReporter, noErrorReporter } from "./error-reporting";

/**
 * An error that nothing awaited (an unhandled rejection) or nothing caught (an uncaught exception) is
 * not something this process can reason about: it is logged as one JSON line, reported to Sentry when
 * configured, and the process ends with exit 1, so that systemd (Restart=on-failure) starts a clean
 * one. Without this, Bun printed a raw stack trace and the journal had no JSON line at all.
 */
let target: { logger: Logger; reporter: ErrorReporter } | null = null;
let installed = false;
let ending = false;

function onFatal(kind: "unhandledRejection" | "uncaughtException") {
  return (error: unknown) => {
    if (ending) return;
    ending = true;
    const { logger, reporter } = target ?? { logger: createLogger({ logLevel: "info" }), reporter: noErrorReporter };
    const err = error instanceof Error ? error : new Error(String(error));
    logger.fatal({ err, kind }, `${kind}: ending the process (exit 1) so that it is restarted`);
    reporter.capture(err, { where: kind });
    const exit = () => process.exit(1);
    // Sentry gets two seconds to send the report; the exit does not wait for more.
    setTimeout(exit, 2500).unref();
    reporter.close(2000).then(exit, exit);
  };
}

/** Installs the handlers (once, at the very start); `serve` then hands over its logger and reporter. */
export function handleProcessErrors(logger?: Logger, reporter: ErrorReporter = noErrorReporter): void {
  if (logger) target = { logger, reporter };
  if (!installed) {
    installed = true;
    process.on("unhandledRejection", onFatal("unhandledRejection"));
    process.on("uncaughtException", onFatal("uncaughtException"));
  }
}
