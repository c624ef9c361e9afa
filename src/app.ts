import { Elysia } from "elysia";
import type { Logger } from "pino";
import { accountRoutes } from "./auth/account-routes";
import type { AuthDeps } from "./auth/core";
import { combineSinks } from "./auth/events";
import { DeferredWork } from "./auth/in-process";
import { AccessTokens } from "./auth/jwt";
import { createKeys } from "./auth/keys";
import { authErrorToApi, authRoutes, refuseBusyBeforeBody } from "./auth/routes";
import { prepareStatements } from "./auth/statements";
import { type Clock, systemClock } from "./clock";
import type { Config } from "./config/config";
import type { Database } from "./db/database";
import { HashGate } from "./hashing/hash-gate";
import {
  ARGON2ID_IMPLEMENTATION,
  argon2idHasher,
  type HasherTiming,
  OWASP_MINIMUM,
  type PasswordHasher,
  transparentHugePages,
} from "./hashing/password-hasher";
import { healthRoutes } from "./health/routes";
import { corsPlugin } from "./http/cors";
import { DrainState, httpPlugin, InFlightRequests } from "./http/plugin";
import { swaggerPlugin } from "./http/swagger";
import { OutboxWorker } from "./mail/outbox-worker";
import { createTransport } from "./mail/transport";
import type { MailTransport } from "./mail/types";
import { auditLog } from "./observability/audit";
import type { DatabaseMetrics } from "./observability/database-metrics";
import { type ErrorReporter, noErrorReporter } from "./observability/error-reporting";
import { createMetrics } from "./observability/metrics";
import { metricsRoutes } from "./observability/routes";
import { linkPages } from "./pages/link-pages";
import { RateLimiter } from "./ratelimit/limiter";
import { REVISION, VERSION } from "./version";

export interface AppDeps {
  config: Config;
  database: Database;
  logger: Logger;
  clock?: Clock;
  mailTransport?: MailTransport;
  /** Default: argon2id with the configured parameters, on the fastest implementation that loads here. */
  hasher?: PasswordHasher;
  errorReporter?: ErrorReporter;
  /** How often the outbox worker looks for due emails (default 1 s). */
  outboxPollIntervalMs?: number;
  /** The driver hooks' metrics, when `database` was opened with their observer (see serve). */
  databaseMetrics?: DatabaseMetrics;
  /** Default: this build's version and commit. Tests run two "releases" side by side. */
  version?: string;
  revision?: string;
}

/** Builds the service from its dependencies; tests pass their own database, clock, mailer and logger. */
export function createApp(deps: AppDeps) {
  const { config, database, logger } = deps;
  const clock = deps.clock ?? systemClock;
  const errorReporter = deps.errorReporter ?? noErrorReporter;
  const keys = createKeys(config);
  // The outbox reports to the metrics, and the pending-emails gauge asks the outbox when scraped.
  const metrics = createMetrics({
    pendingEmails: () => outbox.pendingCount(),
    passwordHashLoad: () => ({ ...hashGate.load, ...hashGate.status }),
    release: { version: deps.version ?? VERSION, revision: deps.revision ?? REVISION },
    clock,
    database,
    logger,
    databaseMetrics: deps.databaseMetrics,
  });
  const hashing = config.passwordHashing;
  const adaptive = deps.hasher === undefined ? argon2idHasher(hashing) : undefined;
  const hasher = adaptive ?? (deps.hasher as PasswordHasher);
  if (adaptive) logHashingImplementation(logger, hashing);
  const hashGate = new HashGate({
    concurrency: hashing.concurrency,
    queueTimeoutMs: hashing.queueTimeoutMs,
    overloadWaitMs: hashing.overloadWaitMs,
    // A first guess, replaced by the first measurement: an OWASP-minimum hash takes 10–20 ms on a server
    // core with the native implementation, 30–50 ms with Bun.password.
    initialHashMs:
      ((ARGON2ID_IMPLEMENTATION.name === "@node-rs/argon2" ? 15 : 40) * hashing.memoryKib * hashing.timeCost) /
      (OWASP_MINIMUM.memoryKib * OWASP_MINIMUM.timeCost),
    // Tests drive the gate with their manual clock; in production a monotonic one.
    now: clock === systemClock ? undefined : () => clock.now().getTime(),
    onRejected: () => metrics.recordHashRejection(),
  });
  const outbox = new OutboxWorker({
    database,
    keys,
    clock,
    config,
    logger,
    transport: deps.mailTransport ?? createTransport(config, logger),
    pollIntervalMs: deps.outboxPollIntervalMs,
    onResult: (kind, result, queuedAt) => metrics.recordEmail(kind, result, queuedAt),
    onCrash: (error) => errorReporter.capture(error, { where: "email-outbox" }),
  });
  const limiter = new RateLimiter(database, (key) => `h:${keys.bookkeepingHash(`rate-limit:${key}`)}`);
  const inFlight = new InFlightRequests();
  const auth: AuthDeps = {
    config,
    database,
    clock,
    logger,
    hasher,
    hashGate,
    tokens: new AccessTokens(keys.signing),
    keys,
    limiter,
    events: combineSinks(metrics.events, auditLog(logger, keys.auditHash)),
    onEmailQueued: () => outbox.wake(),
    // Emails deferred past an answer count as work in flight: a shutdown waits for them.
    deferred: new DeferredWork(logger, inFlight),
    statements: prepareStatements(database),
  };
  const drain = new DrainState();
  // No response schema has a transform; Elysia's Encode pass over every response was pure cost.
  const app = new Elysia({ encodeSchema: false })
    .use(
      httpPlugin({
        logger,
        errorReporter,
        inFlight,
        drain,
        errorMappers: [authErrorToApi],
        beforeBody: refuseBusyBeforeBody(auth, { trustProxy: config.trustProxy }),
        onCompleted: (request) => metrics.recordRequest(request),
      }),
    )
    .use(corsPlugin(config.corsOrigins))
    .use(config.swaggerEnabled ? swaggerPlugin({ trustProxy: config.trustProxy }) : new Elysia())
    .use(healthRoutes({ database, clock, startedAt: clock.now(), drain }))
    .use(metricsRoutes(metrics, config))
    .use(linkPages())
    .use(authRoutes(auth, { trustProxy: config.trustProxy }))
    .use(accountRoutes(auth, { trustProxy: config.trustProxy }));
  metrics.expectRoutes(app.routes);
  /**
   * The server calls it once, after start-up: keeps the quicker argon2id implementation of this host,
   * then times one hash as the gate's first estimate.
   */
  const calibrateHashing = async () => {
    if (adaptive) logHashingChoice(logger, await adaptive.chooseQuicker());
    await hashGate.calibrate(() => hasher.verify("calibration", hasher.unmatchableHash));
  };
  return { app, outbox, auth, limiter, metrics, inFlight, drain, hashGate, calibrateHashing };
}

export type App = ReturnType<typeof createApp>["app"];

/** Said once, when the implementations have been timed: their times, and a warning when the native one lost. */
function logHashingChoice(logger: Logger, { chosen, bestMs }: HasherTiming): void {
  const [preferred, ...others] = Object.keys(bestMs);
  if (!preferred || others.length === 0) return;
  const fields = {
    chosen,
    bestMs: Object.fromEntries(Object.entries(bestMs).map(([name, ms]) => [name, Math.round(ms * 10) / 10])),
    transparentHugePages: transparentHugePages(),
  };
  if (chosen === preferred) logger.info(fields, "argon2id implementations timed");
  else
    logger.warn(
      fields,
      `argon2id implementations timed: ${chosen} is quicker than ${preferred} on this host and hashes instead (is transparentHugePages never? see docs/operations.md)`,
    );
}

/** Said once at start: which argon2id implementation hashes passwords, and why not the native one. */
function logHashingImplementation(logger: Logger, params: { memoryKib: number; timeCost: number }): void {
  const parameters = { memoryKib: params.memoryKib, timeCost: params.timeCost };
  if (ARGON2ID_IMPLEMENTATION.name === "@node-rs/argon2") {
    logger.info({ implementation: ARGON2ID_IMPLEMENTATION.name, ...parameters }, "password hashing: argon2id, native");
  } else {
    logger.warn(
      { implementation: ARGON2ID_IMPLEMENTATION.name, reason: ARGON2ID_IMPLEMENTATION.reason, ...parameters },
      "password hashing: the native argon2id (@node-rs/argon2) does not load on this platform; Bun.password hashes instead, 2–3.5 × slower",
    );
  }
}
