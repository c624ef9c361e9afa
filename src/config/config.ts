import { readFileSync } from "node:fs";
import { availableParallelism, hostname } from "node:os";
import { OWASP_MINIMUM } from "../hashing/password-hasher";
import { type EmailTemplates, loadEmailTemplates, SHIPPED_TEMPLATES, TemplateError } from "../mail/templates";
import { parseDurationMilliseconds, parseDurationSeconds } from "./duration";
import { parseDataSecret, parseJwt } from "./secrets";

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
const DOMAIN_SUFFIX = /^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

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
  const queueTimeoutMs = duration("PASSWORD_HASH_QUEUE_TIMEOUT", "5s", 30_000, "30s");
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

// --- Database pool and timeouts, mail delivery (TLS, private CA, EHLO name, fallback provider) ---

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

function parseMailDelivery(
  get: (name: string) => string | undefined,
  base: { transport: MailConfig["transport"]; smtpUrl: string | null; from: string; appUrl: string },
): MailConfig {
  const tls = oneOf("SMTP_TLS", get("SMTP_TLS") ?? "opportunistic", ["opportunistic", "required"] as const);
  const caFile = get("SMTP_CA_FILE");
  let caCertificates: string | null = null;
  if (caFile !== undefined) {
    try {
      caCertificates = readFileSync(caFile, "utf8");
    } catch (error) {
      throw new ConfigError("SMTP_CA_FILE", `cannot be read (${(error as NodeJS.ErrnoException).code ?? "error"}): ${caFile}`);
    }
    if (!caCertificates.includes("-----BEGIN CERTIFICATE-----"))
      throw new ConfigError("SMTP_CA_FILE", `holds no PEM certificate: ${caFile}`);
  }
  const ehloName = get("SMTP_EHLO_NAME") ?? defaultEhloName(base.appUrl);
  if (!/^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/i.test(ehloName)) {
    throw new ConfigError("SMTP_EHLO_NAME", `must be a host name such as mail.example.edu (got "${ehloName}")`);
  }
  const fallbackUrl = parseSmtpUrl("SMTP_FALLBACK_URL", get("SMTP_FALLBACK_URL"), false);
  const templatesDir = get("EMAIL_TEMPLATES_DIR") ?? null;
  let templates = SHIPPED_TEMPLATES;
  try {
    if (templatesDir !== null) templates = loadEmailTemplates(templatesDir);
  } catch (error) {
    if (error instanceof TemplateError) throw new ConfigError("EMAIL_TEMPLATES_DIR", error.message);
    throw error;
  }
  return { ...base, tls, caCertificates, ehloName, fallbackUrl, templates, templatesDir };
}

/** APP_URL's host when it is a real name, else the machine's host name: what a receiving server can check. */
function defaultEhloName(appUrl: string): string {
  const host = new URL(appUrl).hostname;
  const usable = host.includes(".") && !/^[\d.]+$/.test(host) && !host.startsWith("[") && host !== "localhost";
  return usable ? host : hostname() || "localhost";
}

function parseSentryDsn(value: string | undefined): string | null {
  if (value === undefined) return null;
  try {
    const url = new URL(value);
    if (/^https?:$/.test(url.protocol) && url.username) return value;
  } catch {
    // reported below
  }
  throw new ConfigError("SENTRY_DSN", "must be a Sentry DSN such as https://<key>@o0.ingest.sentry.io/<project>");
}

/** `5/15m`: at most 5 per 15 minutes. */
function parseLimit(variable: string, value: string | undefined, fallback: Limit): Limit {
  if (value === undefined) return fallback;
  const [max, window] = value.split("/");
  const windowSeconds = window ? parseDurationSeconds(window) : null;
  if (!max || !/^\d+$/.test(max) || Number(max) < 1 || windowSeconds === null) {
    throw new ConfigError(variable, `must look like 5/15m (at most 5 per 15 minutes), got "${value}"`);
  }
  return { max: Number(max), windowSeconds };
}

function oneOf<const T extends string>(variable: string, value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new ConfigError(variable, `must be one of ${allowed.join(", ")} (got "${value}")`);
}

function parseBoolean(variable: string, value: string | undefined, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (value === "true" || value === "1") return true;
  if (value === "false" || value === "0") return false;
  throw new ConfigError(variable, `must be true or false (got "${value}")`);
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port < 1 || port > 65535) {
    throw new ConfigError("PORT", `must be an integer from 1 to 65535 (got "${value}")`);
  }
  return port;
}

function parseDatabaseUrl(value: string | undefined, production: boolean): DatabaseConfig {
  if (value === undefined) {
    if (production) throw new ConfigError("DATABASE_URL", "is required in production");
    return { kind: "sqlite", url: DEFAULT_SQLITE_URL, path: "./data/classmatefinder.db" };
  }
  if (value.startsWith("file:")) {
    const path = value.slice("file:".length);
    if (path === "") throw new ConfigError("DATABASE_URL", "file: needs a path (or file::memory:)");
    return { kind: "sqlite", url: value, path: path === ":memory:" ? ":memory:" : path };
  }
  if (/^postgres(ql)?:\/\//.test(value)) {
    try {
      const url = new URL(value);
      if (!url.hostname) throw new Error("no host");
    } catch {
      throw new ConfigError("DATABASE_URL", "is not a valid postgres:// URL");
    }
    return { kind: "postgres", url: value };
  }
  throw new ConfigError("DATABASE_URL", "must start with postgres://, postgresql:// or file:");
}

function parseOrigin(variable: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(variable, `"${value}" is not a URL origin such as https://example.com`);
  }
  if (!/^https?:$/.test(url.protocol) || value.replace(/\/$/, "") !== url.origin) {
    throw new ConfigError(variable, `"${value}" must be an origin such as https://example.com (no path)`);
  }
  return url.origin;
}

function parseCorsOrigins(value: string | undefined, nodeEnv: NodeEnv): string[] {
  if (value === undefined) return nodeEnv === "development" ? ["*"] : [];
  const entries = value
    .split(",")
    .map((entry) => entry.trim())
    .filter(Boolean);
  if (entries.includes("*")) {
    if (nodeEnv === "production") throw new ConfigError("CORS_ORIGIN", '"*" is not allowed in production; list the exact origins');
    return ["*"];
  }
  return entries.map((entry) => parseOrigin("CORS_ORIGIN", entry));
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

function parseDomains(value: string): string[] {
  const domains = value
    .split(",")
    .map((entry) => entry.trim().toLowerCase().replace(/^\./, ""))
    .filter(Boolean);
  if (domains.length === 0) throw new ConfigError("UNIVERSITY_DOMAINS", "must list at least one domain suffix");
  for (const domain of domains) {
    if (!DOMAIN_SUFFIX.test(domain)) throw new ConfigError("UNIVERSITY_DOMAINS", `"${domain}" is not a domain suffix`);
  }
  return domains;
}

function parseAppUrl(value: string | undefined, corsOrigins: string[], port: number): string {
  if (value === undefined) return corsOrigins.find((origin) => origin !== "*") ?? `http://localhost:${port}`;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError("APP_URL", `"${value}" is not a URL`);
  }
  if (!/^https?:$/.test(url.protocol)) throw new ConfigError("APP_URL", "must be an http:// or https:// URL");
  return value.replace(/\/+$/, "");
}

function parseSmtpUrl(variable: string, value: string | undefined, required: boolean): string | null {
  if (value === undefined) {
    if (required) throw new ConfigError(variable, "is required when MAIL_TRANSPORT=smtp");
    return null;
  }
  let url: URL | null = null;
  try {
    url = new URL(value);
  } catch {
    // reported below, without echoing a URL that may hold a password
  }
  if (!url || !/^smtps?:$/.test(url.protocol) || !url.hostname) {
    throw new ConfigError(variable, "must look like smtp://[user:pass@]host[:port] or smtps://…");
  }
  return value;
}

/** The configuration as `check` prints it: secrets replaced. */
export function redactedConfig(config: Config): Record<string, unknown> {
  // As URL parsers read it: the authority ends at the first / ? #, and its credentials at its last `@`
  // (a password may hold `@`). Everything after the user name is replaced.
  const redactUrl = (value: string) => {
    const start = value.indexOf("//") + 2;
    if (start < 2) return value;
    const authorityEnd = value.slice(start).search(/[/?#]/);
    const authority = authorityEnd < 0 ? value.slice(start) : value.slice(start, start + authorityEnd);
    const at = authority.lastIndexOf("@");
    if (at < 0) return value;
    const user = authority.slice(0, at).split(":")[0];
    return `${value.slice(0, start)}${user}:***${value.slice(start + at)}`;
  };
  return {
    ...config,
    database: { ...config.database, url: redactUrl(config.database.url) },
    jwt: {
      secret: config.jwt.generated ? "(random per process)" : "***",
      previousSecrets: config.jwt.previousSecrets.map(() => "***"),
      expiresInSeconds: config.jwt.expiresInSeconds,
    },
    dataSecret: config.dataSecret.fromJwtSecret ? "(JWT_SECRET)" : "***",
    mail: {
      ...config.mail,
      smtpUrl: config.mail.smtpUrl && redactUrl(config.mail.smtpUrl),
      fallbackUrl: config.mail.fallbackUrl && redactUrl(config.mail.fallbackUrl),
      caCertificates: config.mail.caCertificates ? "(PEM from SMTP_CA_FILE)" : null,
      templates: config.mail.templatesDir ? `(from ${config.mail.templatesDir})` : "(shipped)",
    },
    metricsToken: config.metricsToken ? "***" : null,
    sentry: { ...config.sentry, dsn: config.sentry.dsn ? "***" : null },
  };
}
