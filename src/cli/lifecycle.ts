import type { Logger } from "pino";
import type { App } from "../app";
import type { Config } from "../config/config";
import type { DrainState, InFlightRequests } from "../http/plugin";
import { fatal } from "./fatal";

const SHUTDOWN_GRACE_MS = 10_000;

/**
 * Opens the port, alone: Elysia's default `reusePort` let a second process share a port in use (the
 * kernel then splits connections between old and new). Returns false, after a fatal line naming the
 * address, when the port cannot be had.
 */
export function listen(app: App, config: Config, logger: Logger): boolean {
  const address = `${config.host.includes(":") ? `[${config.host}]` : config.host}:${config.port}`;
  try {
    // No limit at Bun's level: its own 413 would not have the contract's shape. The JSON reader refuses
    // bodies over 16 KiB itself, from Content-Length or while streaming, without buffering them.
    app.listen({ port: config.port, hostname: config.host, reusePort: false, maxRequestBodySize: Number.MAX_SAFE_INTEGER });
    return true;
  } catch (error) {
    const code = String((error as { code?: unknown }).code ?? "");
    const reason =
      code === "EADDRINUSE"
        ? "the address is already in use by another process"
        : code === "EACCES"
          ? "permission denied (a port below 1024 needs CAP_NET_BIND_SERVICE)"
          : (error as Error).message;
    fatal(`cannot listen on ${address}: ${reason}`, { address, code: code || undefined }, logger);
    return false;
  }
}

export interface ShutdownDeps {
  app: App;
  logger: Logger;
  config: Config;
  drain: DrainState;
  inFlight: InFlightRequests;
  /** Called at the first signal, before the drain (stops work that waits to begin, such as a database wait). */
  onSignal?: () => void;
  /** Everything after the last request: background work, the database, the error reporter. */
  finish: () => Promise<void>;
}

/**
 * Resolves with the exit code once SIGTERM or SIGINT has stopped the service: first the drain
 * (SHUTDOWN_DRAIN: /health answers 503 "draining", answers carry `Connection: close`, every request
 * is still served; a second signal ends it early), then no new connections, the requests being handled
 * finish (at most 10 s, also those whose client has gone), then `finish`.
 */
export function stopOnSignal(deps: ShutdownDeps): Promise<number> {
  const { app, logger, drain, inFlight } = deps;
  return new Promise((resolve) => {
    let stopping = false;
    let endDrain: (() => void) | null = null;
    const shutdown = async (signal: string) => {
      if (stopping) {
        endDrain?.();
        return;
      }
      stopping = true;
      deps.onSignal?.();
      if (deps.config.shutdownDrainMs > 0) {
        drain.draining = true;
        logger.info({ signal, drainMs: deps.config.shutdownDrainMs }, "draining: /health answers 503, requests are still served");
        await new Promise<void>((done) => {
          const timer = setTimeout(done, deps.config.shutdownDrainMs);
          endDrain = () => {
            clearTimeout(timer);
            done();
          };
        });
      }
      logger.info({ signal }, "shutting down: finishing requests in flight");
      const server = app.server;
      // No new connections; then wait for every request being handled, even one whose client has gone.
      const drained = Promise.all([server?.stop(false), inFlight.idle()]);
      const forced = new Promise<void>((done) =>
        setTimeout(() => {
          logger.warn({ inFlight: inFlight.count }, "requests still in flight after 10 s: closing them");
          server?.stop(true);
          done();
        }, SHUTDOWN_GRACE_MS).unref(),
      );
      await Promise.race([drained, forced]);
      await deps.finish();
      logger.info("stopped");
      resolve(0);
    };
    process.on("SIGTERM", () => void shutdown("SIGTERM"));
    process.on("SIGINT", () => void shutdown("SIGINT"));
  });
}
