import { existsSync } from "node:fs";
import type { Logger } from "pino";
import { createApp } from "../app";
import { resolveLeftoverEmailRequests } from "../auth/email-requests";
import { CONFIG_EXIT_CODE, type Config } from "../config/config";
import { redactedConfig } from "../config/redacted";
import { type Database, openDatabase } from "../db/database";
import { describeError } from "../db/errors";
import { inspectDatabase } from "../db/inspect";
import { deleteExpiredRows } from "../db/maintenance";
import { applyMigrations, migrationStatus } from "../db/migrate";
import { DatabaseStartup, StartupRefused } from "../db/startup";
import { createLogger } from "../logger";
import { createDatabaseMetrics } from "../observability/database-metrics";
import { createErrorReporter } from "../observability/error-reporting";
import { handleProcessErrors } from "../observability/process-errors";
import { PROGRAM, VERSION } from "../version";
import { pruneMigrateBackups } from "./backup";
import { fatal } from "./fatal";
import { listen, stopOnSignal } from "./lifecycle";
import { startProblems } from "./preflight";
import { USERS_USAGE } from "./users";

/** `serve` on a database that lacks a migration: systemd must not restart it (RestartPreventExitStatus). */
export const MIGRATION_PENDING_EXIT_CODE = 65;
/** Where an operator of the systemd install runs the migration: as the service user, with its env file. */
const MIGRATE_HINT = `systemd/install.sh run migrate\` (or \`${PROGRAM} migrate\` with the service's environment)`;
const MAINTENANCE_INTERVAL_MS = 10 * 60_000;
const STARTUP_QUIET_MS = 1000;

export const USAGE = `${PROGRAM} ${VERSION}: the ClassmateFinder authentication service

Usage: ${PROGRAM} [command]

Commands:
  serve             start the HTTP server (default)
  migrate           apply pending database migrations (SQLite: writes a backup copy first)
  migrate status    list applied and pending migrations; exit 1 when one is pending
  check             validate configuration, the port and the database, changing nothing; exit 0 ready, 78 bad config, 1 database problem
  backup PATH       write a consistent copy of the database to PATH while the service runs (SQLite; pg_dump for PostgreSQL)
  wait-ready [S]    wait up to S seconds (30) until this configuration's service answers; for systemd's ExecStartPost
  smoke URL         verify a deployment over HTTP (health, version, error paths); exit 0 when all pass
${USERS_USAGE}
  rollout-check --prometheus URL [--canary REVISION] [--window 30m] [--job classmatefinder]
                    judge a canary by the rollout plan's criteria; exit 0 promote, 1 hold, 2 roll back
  unit [--template] print the systemd unit (or template unit) this binary runs under; for install.sh
  rollback-notes    what rolling back to the release before this one loses
  --version         print the version and the commit it was built from
  --help            print this help

Configuration comes from environment variables (see docs/configuration.md), e.g. DATABASE_URL, JWT_SECRET, PORT.`;

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
      for (const removed of pruneMigrateBackups(config.database.path, config.migrateBackupsKept)) print(`old backup removed: ${removed}`);
    }
    const applied = await applyMigrations(database);
    for (const tag of applied) print(`applied ${tag}`);
    print(applied.length === 0 ? "database is up to date" : `${applied.length} migration(s) applied`);
    return 0;
  } finally {
    await database.close();
  }
}

/** Reads without creating or changing anything (no SQLite file, no table); null after explaining why not. */
async function inspect(config: Config) {
  try {
    return await inspectDatabase(config.database);
  } catch (error) {
    process.stderr.write(`${PROGRAM}: cannot open the database: ${describeError(error)}\n`);
    return null;
  }
}

export async function migrateStatusCommand(config: Config): Promise<number> {
  const inspection = await inspect(config);
  if (!inspection) return 1;
  const { status } = inspection;
  if (!inspection.exists) print(`no database yet at ${config.database.kind === "sqlite" ? config.database.path : "this URL"}`);
  for (const tag of status.applied) print(`applied  ${tag}${status.unknown.includes(tag) ? " (from a newer release)" : ""}`);
  for (const tag of status.pending) print(`pending  ${tag}`);
  print(status.pending.length === 0 ? "no pending migrations" : `${status.pending.length} pending: run \`${MIGRATE_HINT}`);
  return status.pending.length === 0 ? 0 : 1;
}

export async function checkCommand(config: Config): Promise<number> {
  print(JSON.stringify({ version: VERSION, config: redactedConfig(config) }, null, 2));
  const problems = await startProblems(config);
  for (const { variable, problem } of problems) process.stderr.write(`${PROGRAM}: ${variable}: ${problem}\n`);
  if (process.getuid?.() === 0 && config.nodeEnv === "production") {
    print("note: checked as root; `systemd/install.sh run check` checks as the service user, as it will run");
  }
  const inspection = await inspect(config);
  if (problems.some((p) => p.variable !== "DATABASE_URL")) return CONFIG_EXIT_CODE;
  if (!inspection || problems.length > 0) return 1;
  const { status } = inspection;
  print(
    inspection.exists ? `database: reachable (${config.database.kind})` : "database: does not exist yet (the first migrate creates it)",
  );
  print(
    status.pending.length === 0
      ? "migrations: up to date"
      : `migrations: ${status.pending.length} pending (${status.pending.join(", ")}): run \`${MIGRATE_HINT}`,
  );
  return status.pending.length === 0 ? 0 : 1;
}

/** A production database lacking a migration: waiting cannot cure it, and systemd must not restart. */
class MigrationPending extends StartupRefused {
  constructor(readonly pending: string[]) {
    super(`the database lacks ${pending.length} migration(s) of this release: run \`${MIGRATE_HINT} first`);
  }
}

/**
 * Production never changes the schema by itself (newer migrations, a rollback, are fine); development
 * and test apply what is pending.
 */
async function prepareSchema(config: Config, database: Database, logger: Logger): Promise<void> {
  if (config.nodeEnv === "production") {
    const { pending, unknown } = await migrationStatus(database);
    if (pending.length > 0) throw new MigrationPending(pending);
    if (unknown.length > 0) logger.warn({ unknown }, "the database has migrations from a newer release (rollback?)");
  } else {
    const applied = await applyMigrations(database);
    if (applied.length > 0) logger.info({ applied }, "migrations applied");
  }
}

/** The fatal line and exit code of a start that cannot go on: 65 for a missing migration, else 1. */
function startupFailed(error: unknown, logger: Logger): number {
  if (error instanceof MigrationPending) {
    fatal(error.message, { pending: error.pending }, logger);
    return MIGRATION_PENDING_EXIT_CODE;
  }
  fatal(describeError(error), {}, logger);
  return 1;
}

export async function serveCommand(config: Config): Promise<number> {
  const logger = createLogger(config);
  const databaseMetrics = createDatabaseMetrics({ logger, slowQueryMs: config.slowQueryMs });
  // LOG_LEVEL=debug: every SQL statement; parameters are never passed to the logger.
  const rawDatabase = openDatabase(config.database, {
    onQuery: logger.isLevelEnabled("debug") ? (sql) => logger.debug({ sql }, "sql") : undefined,
    observer: databaseMetrics.observer,
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
    logger.warn("SQLite in production: the instances of one host may share its file; instances on several hosts need PostgreSQL");
  }

  const errorReporter = await createErrorReporter(config);
  handleProcessErrors(logger, errorReporter);
  const prepare = (db: Database) => prepareSchema(config, db, logger);
  const closeAll = async () => {
    await rawDatabase.close();
    await errorReporter.close();
  };
  let ready: boolean;
  try {
    // A database that is there is checked before the port opens (a missing migration never serves).
    ready = await startup.attempt(logger, prepare);
  } catch (error) {
    await closeAll();
    return startupFailed(error, logger);
  }
  const { app, auth, outbox, inFlight, drain, calibrateHashing } = createApp({ config, database, logger, errorReporter, databaseMetrics });
  if (!listen(app, config, logger)) {
    startup.stop();
    await closeAll();
    return 1;
  }
  // Background work starts a moment after the port opens (and the database is usable), so that it does
  // not delay the first answers (a restart in a rollout is judged by its first /health): emails waiting
  // from before the restart go out a second later, and new ones wake the outbox at once; so do the emails
  // of resend / forgot-password requests that a stop left unresolved.
  const cleanUp = () =>
    Promise.all([
      deleteExpiredRows(database, new Date(), config.tokens.verifyEmailSeconds).catch((err) =>
        logger.warn({ err }, "clean-up of expired rows failed"),
      ),
      resolveLeftoverEmailRequests(auth).catch((err) => logger.warn({ err }, "resolving left-over email requests failed")),
    ]);
  let firstCleanUp: ReturnType<typeof setTimeout> | undefined;
  let maintenance: ReturnType<typeof setInterval> | undefined;
  logger.info({ port: config.port, host: config.host, database: config.database.kind, env: config.nodeEnv }, "listening");
  setTimeout(() => calibrateHashing().catch((err) => logger.warn({ err }, "password hash calibration failed")), STARTUP_QUIET_MS).unref();

  // The database came up after the port opened, but this release cannot use it (a missing migration).
  const failedLater = (ready ? Promise.resolve(true) : startup.wait(logger, prepare)).then(
    (nowReady) => {
      if (nowReady) {
        outbox.start(STARTUP_QUIET_MS);
        firstCleanUp = setTimeout(cleanUp, STARTUP_QUIET_MS);
        maintenance = setInterval(cleanUp, MAINTENANCE_INTERVAL_MS);
      }
      return new Promise<number>(() => {}); // only a signal ends the service from here
    },
    async (error: unknown) => {
      await app.server?.stop(true);
      await closeAll();
      return startupFailed(error, logger);
    },
  );
  const stopped = stopOnSignal({
    app,
    logger,
    config,
    drain,
    inFlight,
    // The outbox takes no new email from the signal on; the sends in progress finish while requests drain.
    onSignal: () => {
      startup.stop();
      void outbox.stop();
    },
    finish: async () => {
      clearTimeout(firstCleanUp);
      clearInterval(maintenance);
      await outbox.stop();
      await database.close();
      await errorReporter.close();
    },
  });
  return Promise.race([stopped, failedLater]);
}
