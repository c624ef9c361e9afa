import { jwt } from "@elysiajs/jwt";
import { Elysia } from "elysia";
import type { Logger } from "pino";
import { authRoutes } from "./auth/routes";
import { argon2idHasher, type PasswordHasher } from "./auth/secrets";
import { AuthService } from "./auth/service";
import { type Clock, systemClock } from "./clock";
import type { Config } from "./config/config";
import type { Database } from "./db/database";
import { healthRoutes } from "./health/routes";
import { corsPlugin } from "./http/cors";
import { httpPlugin } from "./http/plugin";
import { swaggerPlugin } from "./http/swagger";
import { OutboxWorker } from "./mail/outbox";
import { createTransport } from "./mail/transport";
import type { MailTransport } from "./mail/types";

export interface AppDeps {
  config: Config;
  database: Database;
  logger: Logger;
  clock?: Clock;
  mailTransport?: MailTransport;
  hasher?: PasswordHasher;
}

/** Builds the service from its dependencies; tests pass their own database, clock, mailer and logger. */
export function createApp(deps: AppDeps) {
  const { config, database, logger } = deps;
  const clock = deps.clock ?? systemClock;
  const outbox = new OutboxWorker({
    database,
    clock,
    config,
    logger,
    transport: deps.mailTransport ?? createTransport(config, logger),
  });
  const auth = new AuthService({
    config,
    database,
    clock,
    logger,
    hasher: deps.hasher ?? argon2idHasher(),
    jwt: jwt({ name: "jwt", secret: config.jwt.secret, alg: "HS256" }).decorator.jwt,
    onEmailQueued: () => outbox.wake(),
  });
  const app = new Elysia()
    .use(httpPlugin({ logger }))
    .use(corsPlugin(config.corsOrigins))
    .use(config.swaggerEnabled ? swaggerPlugin() : new Elysia())
    .use(healthRoutes({ database, clock, startedAt: clock.now() }))
    .use(authRoutes(auth));
  return { app, outbox, auth };
}

export type App = ReturnType<typeof createApp>["app"];
