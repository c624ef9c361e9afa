import { Elysia } from "elysia";
import type { Logger } from "pino";
import { combineSinks } from "./auth/events";
import { HashGate } from "./auth/hash-gate";
import { AccessTokens } from "./auth/jwt";
import { argon2idHasher, OWASP_MINIMUM, type PasswordHasher } from "./auth/password-hasher";
import { authRoutes } from "./auth/routes";
import { AuthService } from "./auth/service";
import { type Clock, systemClock } from "./clock";
import type { Config } from "./config/config";
import type { Database } from "./db/database";
import { healthRoutes } from "./health/routes";
import { corsPlugin } from "./http/cors";
import { httpPlugin, InFlightRequests } from "./http/plugin";
import { swaggerPlugin } from "./http/swagger";
import { OutboxWorker } from "./mail/outbox";
import { createTransport } from "./mail/transport";
import type { MailTransport } from "./mail/types";
import { auditLog } from "./observability/audit";
import { type ErrorReporter, noErrorReporter } from "./observability/error-reporting";
import { createMetrics } from "./observability/metrics";
import { metricsRoutes } from "./observability/routes";
import { RateLimiter } from "./ratelimit/limiter";

export interface AppDeps {
  config: Config;
  database: Database;
  logger: Logger;
  clock?: Clock;
  mailTransport?: MailTransport;
  /** Default: argon2id with the configured parameters. */
  hasher?: PasswordHasher;
  errorReporter?: ErrorReporter;
  /** How often the outbox worker looks for due emails (default 1 s). */
  outboxPollIntervalMs?: number;
}

/** Builds the service from its dependencies; tests pass their own database, clock, mailer and logger. */
export function createApp(deps: AppDeps) {
  const { config, database, logger } = deps;
  const clock = deps.clock ?? systemClock;
  const errorReporter = deps.errorReporter ?? noErrorReporter;
  // The outbox reports to the metrics, and the pending-emails gauge asks the outbox when scraped.
  const metrics = createMetrics({
    pendingEmails: () => outbox.pendingCount(),
    passwordHashLoad: () => ({ ...hashGate.load, ...hashGate.status }),
  });
  const hashing = config.passwordHashing;
  const hasher = deps.hasher ?? argon2idHasher(hashing);
  const hashGate = new HashGate({
    concurrency: hashing.concurrency,
    queueTimeoutMs: hashing.queueTimeoutMs,
    overloadWaitMs: hashing.overloadWaitMs,
    // A first guess (an OWASP-minimum hash takes 20–50 ms on a server core), replaced by the first measurement.
    initialHashMs: (40 * hashing.memoryKib * hashing.timeCost) / (OWASP_MINIMUM.memoryKib * OWASP_MINIMUM.timeCost),
    // Tests drive the gate with their manual clock; in production a monotonic one.
    now: clock === systemClock ? undefined : () => clock.now().getTime(),
    onRejected: () => metrics.recordHashRejection(),
  });
  const outbox = new OutboxWorker({
    database,
    clock,
    config,
    logger,
    transport: deps.mailTransport ?? createTransport(config, logger),
    pollIntervalMs: deps.outboxPollIntervalMs,
    onResult: (kind, result) => metrics.recordEmail(kind, result),
    onCrash: (error) => errorReporter.capture(error, { where: "email-outbox" }),
  });
  const limiter = new RateLimiter(database);
  const auth = new AuthService({
    config,
    database,
    clock,
    logger,
    hasher,
    hashGate,
    tokens: new AccessTokens(config.jwt.secret),
    limiter,
    events: combineSinks(metrics.events, auditLog(logger, config.jwt.secret)),
    onEmailQueued: () => outbox.wake(),
  });
  const inFlight = new InFlightRequests();
  // No response schema has a transform; Elysia's Encode pass over every response was pure cost.
  const app = new Elysia({ encodeSchema: false })
    .use(httpPlugin({ logger, errorReporter, inFlight, onCompleted: (request) => metrics.recordRequest(request) }))
    .use(corsPlugin(config.corsOrigins))
    .use(config.swaggerEnabled ? swaggerPlugin() : new Elysia())
    .use(healthRoutes({ database, clock, startedAt: clock.now() }))
    .use(metricsRoutes(metrics, config))
    .use(authRoutes(auth, { trustProxy: config.trustProxy }));
  /** Times one hash as the gate's first estimate; the server calls it once, after start-up. */
  const calibrateHashing = () => hashGate.calibrate(() => hasher.verify("calibration", hasher.unmatchableHash));
  return { app, outbox, auth, limiter, metrics, inFlight, hashGate, calibrateHashing };
}

export type App = ReturnType<typeof createApp>["app"];
