import { availableParallelism } from "node:os";
import { OWASP_MINIMUM } from "../hashing/password-hasher";
import type { EmailTemplates } from "../mail/templates";
import { parseDurationMilliseconds } from "./duration";
import { parseMailDelivery } from "./mail";
import { parseDataSecret, parseJwt } from "./secrets";
import {
  oneOf,
  parseAppUrl,
  parseBoolean,
  parseCorsOrigins,
  parseDatabaseUrl,
  parseDomains,
  parseLimit,
  parsePort,
  parseSentryDsn,
  parseSmtpUrl,
} from "./values";

export type NodeEnv = "development" | "test" | "production";
export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";

export type DatabaseConfig = { kind: "sqlite"; url: string; path: string } | { kind: "postgres"; url: string };

export interface Config {
  nodeEnv: NodeEnv;
  port: number;
  host: string;
  database: DatabaseConfig;
  databasePool: DatabasePool;
  jwt: JwtConfig;
  /** Keys the data at rest (audit emailHash, rate-limit keys, queued email links); see parseDataSecret. */
  dataSecret: { secret: string; fromJwtSecret: boolean };
  /** Exact origins allowed by CORS; `["*"]` means any (development only). */
  corsOrigins: string[];
  /** Normalised domain suffixes without a leading dot (`edu`, `ualberta.ca`). */
  universityDomains: string[];
  appUrl: string;
  mail: MailConfig;
  trustProxy: boolean;
  logLevel: LogLevel;
  /** Where systemd's journal stream is, when it gave one as stdout or stderr (src/logger.ts). */
  journalStream: JournalStream | null;
  metricsToken: string | null;
  /** Statements at least this slow are logged ("slow query", SQL text without parameters). */
  slowQueryMs: number;
  swaggerEnabled: boolean;
  /** After SIGTERM: how long /health answers 503 "draining" while requests are still served. */
  shutdownDrainMs: number;
  /** SQLite: how many of `migrate`'s automatic backup copies are kept (the newest). */
  migrateBackupsKept: number;
  tokens: { verifyEmailSeconds: number; resetPasswordSeconds: number };
  rateLimits: RateLimits;
  passwordHashing: PasswordHashing;
  sentry: { dsn: string | null; environment: string | null };
}

/** systemd's JOURNAL_STREAM: "<device>:<inode>" of the journal stream it connected, in decimal (systemd.exec(5)). */
export type JournalStream = string;

export interface JwtConfig {
  /** Signs new tokens. */
  secret: string;
  /** Still accepted for tokens signed before a rotation, until they expire (JWT_PREVIOUS_SECRETS). */
  previousSecrets: string[];
  generated: boolean;
  expiresInSeconds: number;
}

/** PostgreSQL connections and the bounds on every wait for the database (SQLite ignores them). */
export interface DatabasePool {
  size: number;
  connectTimeoutMs: number;
  /** The longest a transaction waits for a free connection before 503 SERVICE_UNAVAILABLE. */
  acquireTimeoutMs: number;
  /** The longest a connection waits for the server's next byte of an answer before it is dropped. */
  statementTimeoutMs: number;
  /** Named prepared statements: `auto` uses them only when no pooler sits in between. */
  preparedStatements?: "auto" | "true" | "false";
}

export interface MailConfig {
  transport: "log" | "smtp";
  smtpUrl: string | null;
  from: string;
  /** `required`: never send in clear (smtp:// must upgrade with STARTTLS). */
  tls: "opportunistic" | "required";
  /** PEM certificates trusted for the SMTP servers besides the system's (a private CA). */
  caCertificates: string | null;
  /** The name this host gives in EHLO. */
  ehloName: string;
  /** A second provider, used while the primary fails. */
  fallbackUrl: string | null;
  /** EMAIL_TEMPLATES_DIR, loaded and checked at start; the shipped templates when it is unset. */
  templates: EmailTemplates;
  templatesDir: string | null;
}

export interface PasswordHashing {
  /** argon2id memory in KiB and iterations; hashes made with others are replaced at the next login. */
  memoryKib: number;
  timeCost: number;
  /** Hashes computed at once; more wait in line. */
  concurrency: number;
  /**
   * The longest wait the queue admits (requests ahead × measured hash time ÷ concurrency): a burst the
   * host works off within it is served in full. Also how long the queue must stand before it counts
   * as sustained overload.
   */
  queueTimeoutMs: number;
  /** Under sustained overload the queue is held to this much waiting; the excess gets 503 at once. */
  overloadWaitMs: number;
}

/** A limit of `max` events per `windowSeconds`. */
export interface Limit {
  max: number;
  windowSeconds: number;
}

export interface RateLimits {
  loginPerAccount: Limit;
  loginPerClient: Limit;
  registerPerClient: Limit;
  /** resend-verification and forgot-password, one counter each */
  emailRequestsPerClient: Limit;
  /** verification emails (registrations and resends together) and reset emails, each, per mailbox (silent) */
  emailsPerMailbox: Limit;
}

/** The contract's defaults; each can be overridden by the variable named in parseConfig. */
export const DEFAULT_RATE_LIMITS: RateLimits = {
  loginPerAccount: { max: 5, windowSeconds: 900 },
  loginPerClient: { max: 100, windowSeconds: 900 },
  registerPerClient: { max: 60, windowSeconds: 3600 },
  emailRequestsPerClient: { max: 30, windowSeconds: 3600 },
  emailsPerMailbox: { max: 3, windowSeconds: 3600 },
};

/** A configuration error: the process must stop with exit code 78 and this one line. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    readonly problem: string,
  ) {
    super(`${variable}: ${problem}`);
    this.name = "ConfigError";
  }
}

export const CONFIG_EXIT_CODE = 78;
export const DEFAULT_SQLITE_URL = "file:./data/classmatefinder.db";
const LOG_LEVELS: LogLevel[] = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

type Env = Record<string, string | undefined>;

/** Reads the environment once into a validated, typed configuration. Throws ConfigError. */
export function parseConfig(env: Env): Config {
  // An empty assignment (`SMTP_URL=` in an env file) means "not set".
  const get = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value === "" ? undefined : value;
  };

  const nodeEnv = oneOf("NODE_ENV", get("NODE_ENV") ?? "development", ["development", "test", "production"] as const);
  const production = nodeEnv === "production";
  const port = parsePort(get("PORT") ?? "5000");
  const host = get("HOST") ?? "0.0.0.0";
  const database = parseDatabaseUrl(get("DATABASE_URL"), production);
  const jwt = parseJwt(get("JWT_SECRET"), get("JWT_PREVIOUS_SECRETS"), get("JWT_EXPIRES_IN") ?? "7d", production);
  const dataSecret = parseDataSecret(get("DATA_SECRET"), jwt, production);
  const corsOrigins = parseCorsOrigins(get("CORS_ORIGIN"), nodeEnv);
  const universityDomains = parseDomains(get("UNIVERSITY_DOMAINS") ?? ".edu");
  const appUrl = parseAppUrl(get("APP_URL"), corsOrigins, port);
  const transport = oneOf("MAIL_TRANSPORT", get("MAIL_TRANSPORT") ?? "log", ["log", "smtp"] as const);
  const smtpUrl = parseSmtpUrl("SMTP_URL", get("SMTP_URL"), transport === "smtp");
  const from = get("MAIL_FROM") ?? "ClassmateFinder <no-reply@localhost>";
  if (!/^[^\r\n]*@[^\r\n]*$/.test(from)) throw new ConfigError("MAIL_FROM", "must contain an email address");
  const mail = parseMailDelivery(get, { transport, smtpUrl, from, appUrl });

  return {
    nodeEnv,
    port,
    host,
    database,
    databasePool: parseDatabasePool(get),
    jwt,
    dataSecret,
    corsOrigins,
    universityDomains,
    appUrl,
    mail,
    trustProxy: parseBoolean("TRUST_PROXY", get("TRUST_PROXY"), false),
    logLevel: oneOf("LOG_LEVEL", (get("LOG_LEVEL") ?? "info").toLowerCase(), LOG_LEVELS),
    journalStream: parseJournalStream(env),
    metricsToken: get("METRICS_TOKEN") ?? null,
    slowQueryMs: parseSlowQuery(get("DATABASE_SLOW_QUERY")),
    swaggerEnabled: parseBoolean("SWAGGER_ENABLED", get("SWAGGER_ENABLED"), true),
    shutdownDrainMs: parseShutdownDrain(get("SHUTDOWN_DRAIN"), production),
    migrateBackupsKept: parseBackupsKept(get("MIGRATE_BACKUPS_KEPT")),
    tokens: { verifyEmailSeconds: 24 * 3600, resetPasswordSeconds: 3600 },
    passwordHashing: parsePasswordHashing(get),
    sentry: { dsn: parseSentryDsn(get("SENTRY_DSN")), environment: get("SENTRY_ENVIRONMENT") ?? null },
    rateLimits: {
      loginPerAccount: parseLimit("RATE_LIMIT_LOGIN_ACCOUNT", get("RATE_LIMIT_LOGIN_ACCOUNT"), DEFAULT_RATE_LIMITS.loginPerAccount),
      loginPerClient: parseLimit("RATE_LIMIT_LOGIN_CLIENT", get("RATE_LIMIT_LOGIN_CLIENT"), DEFAULT_RATE_LIMITS.loginPerClient),
      registerPerClient: parseLimit("RATE_LIMIT_REGISTER_CLIENT", get("RATE_LIMIT_REGISTER_CLIENT"), DEFAULT_RATE_LIMITS.registerPerClient),
      emailRequestsPerClient: parseLimit(
        "RATE_LIMIT_EMAIL_REQUESTS_CLIENT",
        get("RATE_LIMIT_EMAIL_REQUESTS_CLIENT"),
        DEFAULT_RATE_LIMITS.emailRequestsPerClient,
      ),
      // RATE_LIMIT_EMAILS_ACCOUNT: this limit's name in earlier releases, still read so their env files keep working.
      emailsPerMailbox: get("RATE_LIMIT_EMAILS_MAILBOX")
        ? parseLimit("RATE_LIMIT_EMAILS_MAILBOX", get("RATE_LIMIT_EMAILS_MAILBOX"), DEFAULT_RATE_LIMITS.emailsPerMailbox)
        : parseLimit("RATE_LIMIT_EMAILS_ACCOUNT", get("RATE_LIMIT_EMAILS_ACCOUNT"), DEFAULT_RATE_LIMITS.emailsPerMailbox),
    },
  };
}

function parsePasswordHashing(get: (name: string) => string | undefined): PasswordHashing {
  const integer = (variable: string, fallback: number, min: number, max: number, why: string) => {
    const value = get(variable);
    if (value === undefined) return fallback;
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
      throw new ConfigError(variable, `must be an integer from ${min} to ${max}${why} (got "${value}")`);
    }
    return Number(value);
  };
  const owasp = " (the OWASP minimum is m=19456 KiB, t=2)";
  const duration = (variable: string, fallback: string, maxMs: number, max: string) => {
    const value = get(variable) ?? fallback;
    const ms = parseDurationMilliseconds(value);
    if (ms === null || ms > maxMs)
      throw new ConfigError(variable, `must be a duration such as 200ms or 3s, at most ${max} (got "${value}")`);
    return ms;
  };
  const queueTimeoutMs = duration("PASSWORD_HASH_QUEUE_TIMEOUT", "8s", 30_000, "30s");
  const overloadWaitMs = duration(
    "PASSWORD_HASH_OVERLOAD_WAIT",
    "200ms",
    queueTimeoutMs,
    `PASSWORD_HASH_QUEUE_TIMEOUT (${queueTimeoutMs}ms)`,
  );
  return {
    memoryKib: integer("PASSWORD_HASH_MEMORY_KIB", OWASP_MINIMUM.memoryKib, OWASP_MINIMUM.memoryKib, 4_194_304, owasp),
    timeCost: integer("PASSWORD_HASH_TIME_COST", OWASP_MINIMUM.timeCost, OWASP_MINIMUM.timeCost, 100, owasp),
    concurrency: integer("PASSWORD_HASH_CONCURRENCY", availableParallelism(), 1, 1024, ""),
    queueTimeoutMs,
    overloadWaitMs,
  };
}

function parseSlowQuery(value: string | undefined): number {
  const milliseconds = parseDurationMilliseconds(value ?? "500ms");
  if (milliseconds === null || milliseconds > 600_000) {
    throw new ConfigError("DATABASE_SLOW_QUERY", `must be a duration such as 200ms or 2s, at most 600s (got "${value}")`);
  }
  return milliseconds;
}

/** Default 5 s in production (a load balancer's health checks notice the 503), none elsewhere. */
function parseShutdownDrain(value: string | undefined, production: boolean): number {
  if (value === undefined) return production ? 5000 : 0;
  const milliseconds = /^0+(ms|s)?$/.test(value) ? 0 : parseDurationMilliseconds(value);
  if (milliseconds === null || milliseconds > 60_000) {
    throw new ConfigError("SHUTDOWN_DRAIN", `must be a duration such as 0, 500ms or 5s, at most 60s (got "${value}")`);
  }
  return milliseconds;
}

function parseBackupsKept(value: string | undefined): number {
  if (value === undefined) return 5;
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 1000) {
    throw new ConfigError("MIGRATE_BACKUPS_KEPT", `must be an integer from 1 to 1000 (got "${value}")`);
  }
  return Number(value);
}

function parseDatabasePool(get: (name: string) => string | undefined): DatabasePool {
  const duration = (variable: string, fallback: string) => {
    const value = get(variable) ?? fallback;
    const ms = parseDurationMilliseconds(value);
    if (ms === null || ms > 120_000)
      throw new ConfigError(variable, `must be a duration such as 500ms or 5s, at most 120s (got "${value}")`);
    return ms;
  };
  const size = get("DATABASE_POOL_SIZE") ?? "10";
  if (!/^\d+$/.test(size) || Number(size) < 1 || Number(size) > 1000) {
    throw new ConfigError("DATABASE_POOL_SIZE", `must be an integer from 1 to 1000 (got "${size}")`);
  }
  return {
    size: Number(size),
    connectTimeoutMs: duration("DATABASE_CONNECT_TIMEOUT", "5s"),
    acquireTimeoutMs: duration("DATABASE_ACQUIRE_TIMEOUT", "3s"),
    statementTimeoutMs: duration("DATABASE_STATEMENT_TIMEOUT", "5s"),
    preparedStatements: oneOf("DATABASE_PREPARED_STATEMENTS", get("DATABASE_PREPARED_STATEMENTS") ?? "auto", [
      "auto",
      "true",
      "false",
    ] as const),
  };
}

/**
 * JOURNAL_STREAM, "<device>:<inode>" in decimal, set by systemd, not by an operator: anything else is
 * no journal rather than a configuration error. Exported apart: the lines about a configuration that
 * cannot be read need it too.
 */
export function parseJournalStream(env: Env): JournalStream | null {
  const value = env.JOURNAL_STREAM?.trim() ?? "";
  return /^\d+:\d+$/.test(value) ? value : null;
}
