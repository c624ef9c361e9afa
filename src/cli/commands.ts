import { existsSync } from "node:fs";
import { createApp } from "../app";
import { type Config, redactedConfig } from "../config/config";
import { type Database, openDatabase } from "../db/database";
import { describeError } from "../db/errors";
import { deleteExpiredRows } from "../db/maintenance";
import { applyMigrations, migrationStatus } from "../db/migrate";
import { DatabaseStartup, StartupRefused } from "../db/startup";
import { createLogger } from "../logger";
import { createErrorReporter } from "../observability/error-reporting";
import { handleProcessErrors } from "../observability/process-errors";
import { PROGRAM, VERSION } from "../version";

const SHUTDOWN_GRACE_MS = 10_000;
const MAINTENANCE_INTERVAL_MS = 10 * 60_000;
const STARTUP_QUIET_MS = 1000;

export const USAGE = `${PROGRAM} ${VERSION}: the ClassmateFinder authentication service

Usage: ${PROGRAM} [command]

Commands:
  serve             start the HTTP server (default)
  migrate           apply pending database migrations (SQLite: writes a backup copy first)
  migrate status    list applied and pending migrations; exit 1 when one is pending
  check             validate configuration and reach the database; exit 0 ready, 78 bad config, 1 database problem
  smoke URL         verify a deployment over HTTP (health, version, error paths); exit 0 when all pass
  --version         print the version
  --help            print this help

Configuration comes from environment variables (see README.md), e.g. DATABASE_URL, JWT_SECRET, PORT.`;

const print = (line: string) => process.stdout.write(`${line}\n`);

/** Opens the database or explains in one line why it cannot. */
async function open(config: Config): Promise<Database | null> {
  try {
    const database = openDatabase(config.database, { pool: config.databasePool });
    await database.ping();
    return database;
  } catch (error) {
    process.stderr.write(`${PROGRAM}: cannot open the database: ${describeError(error)}\n`);
    return null;
  }
}

export async function migrateCommand(config: Config): Promise<number> {
  const existed = config.database.kind === "sqlite" && config.database.path !== ":memory:" && existsSync(config.database.path);
  const database = await open(config);
  if (!database) return 1;
  try {
    // Before anything else touches an existing SQLite file: a copy to go back to.
    if (existed && database.backupTo && config.database.kind === "sqlite") {
      const backup = `${config.database.path}.backup-${new Date().toISOString().replace(/[:.]/g, "-")}`;
      database.backupTo(backup);
      print(`backup written: ${backup}`);
    }
    const applied = await applyMigrations(database);
    for (const tag of applied) print(`applied ${tag}`);
    print(applied.length === 0 ? "database is up to date" : `${applied.length} migration(s) applied`);
    return 0;
  } finally {
    await database.close();
  }
}

export async function migrateStatusCommand(config: Config): Promise<number> {
  const database = await open(config);
  if (!database) return 1;
  try {
    const status = await migrationStatus(database);
    for (const tag of status.applied) print(`applied  ${tag}${status.unknown.includes(tag) ? " (from a newer release)" : ""}`);
    for (const tag of status.pending) print(`pending  ${tag}`);
    print(status.pending.length === 0 ? "no pending migrations" : `${status.pending.length} pending: run \`${PROGRAM} migrate\``);
    return status.pending.length === 0 ? 0 : 1;
  } finally {
    await database.close();
  }
}

export async function checkCommand(config: Config): Promise<number> {
  print(JSON.stringify({ version: VERSION, config: redactedConfig(config) }, null, 2));
  const database = await open(config);
  if (!database) return 1;
  try {
    const status = await migrationStatus(database);
    print(`database: reachable (${config.database.kind})`);
    print(
      status.pending.length === 0
        ? "migrations: up to date"
        : `migrations: ${status.pending.length} pending (${status.pending.join(", ")}): run \`${PROGRAM} migrate\``,
    );
    return status.pending.length === 0 ? 0 : 1;
  } finally {
    await database.close();
  }
}

/**
 * Production never changes the schema by itself (newer migrations, a rollback, are fine); development
 * and test apply what is pending.
 */
async function prepareSchema(config: Config, database: Database, logger: ReturnType<typeof createLogger>): Promise<void> {
  if (config.nodeEnv === "production") {
    const { pending, unknown } = await migrationStatus(database);
    if (pending.length > 0) {
      throw new StartupRefused(`the database lacks ${pending.length} migration(s) of this release: run \`${PROGRAM} migrate\` first`);
    }
    if (unknown.length > 0) logger.warn({ unknown }, "the database has migrations from a newer release (rollback?)");
  } else {
    const applied = await applyMigrations(database);
    if (applied.length > 0) logger.info({ applied }, "migrations applied");
  }
}

export async function serveCommand(config: Config): Promise<number> {
  const logger = createLogger(config);
  // LOG_LEVEL=debug: every SQL statement; parameters are never passed to the logger.
  const rawDatabase = openDatabase(config.database, {
    onQuery: logger.isLevelEnabled("debug") ? (sql) => logger.debug({ sql }, "sql") : undefined,
    pool: config.databasePool,
  });
  // The port opens at once; the database is waited for (503 meanwhile), however late it comes up.
  const startup = new DatabaseStartup(rawDatabase);
  const database = startup.database;
  if (config.jwt.generated) logger.warn("JWT_SECRET is not set: using a random secret, tokens die with this process");
  if (config.nodeEnv === "production" && config.mail.transport === "log") {
    logger.warn("MAIL_TRANSPORT=log in production: emails are only written to the log, nobody receives them");
  }
  if (config.nodeEnv === "production" && /^https?:\/\/localhost[:/]/.test(`${config.appUrl}/`)) {
    logger.warn(
      { appUrl: config.appUrl },
      "APP_URL points at localhost: links in emails will not work for students; set APP_URL or CORS_ORIGIN",
    );
  }
  if (config.nodeEnv === "production" && config.database.kind === "sqlite") {
    logger.warn("SQLite in production: fine for one instance; use PostgreSQL to run several");
  }

  const errorReporter = await createErrorReporter(config);
  handleProcessErrors(logger, errorReporter);
  const prepare = (db: Database) => prepareSchema(config, db, logger);
  let ready: boolean;
  try {
    // A database that is there is checked before the port opens (a missing migration never serves).
    ready = await startup.attempt(logger, prepare);
  } catch (error) {
    logger.fatal(describeError(error));
    await rawDatabase.close();
    await errorReporter.close();
    return 1;
  }
  const { app, outbox, inFlight } = createApp({ config, database, logger, errorReporter });
  // No limit at Bun's level: its own 413 would not have the contract's shape. The JSON reader refuses
  // bodies over 16 KiB itself, from Content-Length or while streaming, without buffering them.
  app.listen({ port: config.port, hostname: config.host, maxRequestBodySize: Number.MAX_SAFE_INTEGER });
  // Background work starts a moment after the port opens, so that it does not delay the first answers
  // (a restart in a rollout is judged by its first /health): emails waiting from before the restart go
  // out a second later, and new ones wake the outbox at once.
  const cleanUp = () => deleteExpiredRows(database, new Date()).catch((err) => logger.warn({ err }, "clean-up of expired rows failed"));
  let firstCleanUp: ReturnType<typeof setTimeout> | undefined;
  let maintenance: ReturnType<typeof setInterval> | undefined;
  logger.info({ port: config.port, host: config.host, database: config.database.kind, env: config.nodeEnv }, "listening");

  return new Promise((resolve) => {
    let stopping = false;
    (ready ? Promise.resolve(true) : startup.wait(logger, prepare)).then(
      (nowReady) => {
        if (!nowReady) return;
        outbox.start(STARTUP_QUIET_MS);
        firstCleanUp = setTimeout(cleanUp, STARTUP_QUIET_MS);
        maintenance = setInterval(cleanUp, MAINTENANCE_INTERVAL_MS);
      },
      async (error: unknown) => {
        logger.fatal(describeError(error));
        stopping = true;
        await app.server?.stop(true);
        await rawDatabase.close();
        await errorReporter.close();
        resolve(1);
      },
    );
    const shutdown = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      startup.stop();
      logger.info({ signal }, "shutting down: finishing requests in flight");
      const server = app.server;
      // No new connections; then wait for every request being handled, even one whose client has gone.
      const drained = Promise.all([server?.stop(false), inFlight.idle()]);
      const forced = new Promise<void>((done) =>
        setTimeout(() => {
          logger.warn("requests still in flight after 10 s: closing them");
          server?.stop(true);
          done();
        }, SHUTDOWN_GRACE_MS).unref(),
      );
      await Promise.race([drained, forced]);
      clearTimeout(firstCleanUp);
      clearInterval(maintenance);
      await outbox.stop();
      await database.close();
      await errorReporter.close();
      logger.info("stopped");
      resolve(0);
    };
    process.on("SIGTERM", () => void shutdown("SIGTERM"));
    process.on("SIGINT", () => void shutdown("SIGINT"));
  });
}
