import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, parseConfig } from "../../src/config/config";
import { parseDurationSeconds } from "../../src/config/duration";
import { redactedConfig } from "../../src/config/redacted";

const SECRET = "a".repeat(40);
const ROLLOUT_ENV = {
  NODE_ENV: "production",
  DATABASE_URL: "postgresql://user:password@localhost:5432/classmatefinder",
  JWT_SECRET: SECRET,
  JWT_EXPIRES_IN: "7d",
  PORT: "5000",
  CORS_ORIGIN: "https://classmatefinder.com",
  UNIVERSITY_DOMAINS: ".edu,.ualberta.ca,.ubc.ca,.utoronto.ca,.mcgill.ca,.uwaterloo.ca",
};

function errorFor(env: Record<string, string>): ConfigError {
  try {
    parseConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error("expected a ConfigError");
}

describe("configuration", () => {
  test("defaults for development", () => {
    const config = parseConfig({});
    expect(config).toMatchObject({
      nodeEnv: "development",
      port: 5000,
      host: "0.0.0.0",
      database: { kind: "sqlite", url: "file:./data/classmatefinder.db" },
      corsOrigins: ["*"],
      universityDomains: ["edu"],
      appUrl: "http://localhost:5000",
      mail: { transport: "log", smtpUrl: null, from: "ClassmateFinder <no-reply@localhost>" },
      trustProxy: false,
      logLevel: "info",
      metricsToken: null,
      swaggerEnabled: true,
    });
    expect(config.jwt.generated).toBe(true);
    expect(config.jwt.secret.length).toBeGreaterThanOrEqual(32);
    expect(config.jwt.expiresInSeconds).toBe(7 * 86400);
  });

  test("the rollout plan's env file works verbatim (with a real secret)", () => {
    const config = parseConfig(ROLLOUT_ENV);
    expect(config.database).toEqual({ kind: "postgres", url: ROLLOUT_ENV.DATABASE_URL });
    expect(config.corsOrigins).toEqual(["https://classmatefinder.com"]);
    expect(config.appUrl).toBe("https://classmatefinder.com");
    expect(config.universityDomains).toEqual(["edu", "ualberta.ca", "ubc.ca", "utoronto.ca", "mcgill.ca", "uwaterloo.ca"]);
  });

  test.each([
    [{ JWT_SECRET: "<generate-with-openssl-rand-64>" }, "JWT_SECRET"],
    [{ JWT_SECRET: "changeme" }, "JWT_SECRET"],
    [{ JWT_SECRET: "short" }, "JWT_SECRET"],
    [{ JWT_SECRET: "" }, "JWT_SECRET"],
    [{ DATABASE_URL: "" }, "DATABASE_URL"],
    [{ DATABASE_URL: "mysql://x" }, "DATABASE_URL"],
    [{ CORS_ORIGIN: "*" }, "CORS_ORIGIN"],
    [{ CORS_ORIGIN: "https://a.com/path" }, "CORS_ORIGIN"],
    [{ PORT: "70000" }, "PORT"],
    [{ PORT: "abc" }, "PORT"],
    [{ JWT_EXPIRES_IN: "7 days" }, "JWT_EXPIRES_IN"],
    [{ NODE_ENV: "staging" }, "NODE_ENV"],
    [{ MAIL_TRANSPORT: "smtp" }, "SMTP_URL"],
    [{ MAIL_TRANSPORT: "sendgrid" }, "MAIL_TRANSPORT"],
    [{ MAIL_TRANSPORT: "smtp", SMTP_URL: "http://mail" }, "SMTP_URL"],
    [{ TRUST_PROXY: "yes" }, "TRUST_PROXY"],
    [{ LOG_LEVEL: "verbose" }, "LOG_LEVEL"],
    [{ SWAGGER_ENABLED: "no" }, "SWAGGER_ENABLED"],
    [{ UNIVERSITY_DOMAINS: "bad domain" }, "UNIVERSITY_DOMAINS"],
    [{ APP_URL: "ftp://x" }, "APP_URL"],
    [{ PASSWORD_HASH_MEMORY_KIB: "4096" }, "PASSWORD_HASH_MEMORY_KIB"],
    [{ PASSWORD_HASH_TIME_COST: "1" }, "PASSWORD_HASH_TIME_COST"],
    [{ PASSWORD_HASH_CONCURRENCY: "0" }, "PASSWORD_HASH_CONCURRENCY"],
    [{ PASSWORD_HASH_QUEUE_TIMEOUT: "forever" }, "PASSWORD_HASH_QUEUE_TIMEOUT"],
    [{ PASSWORD_HASH_QUEUE_TIMEOUT: "31s" }, "PASSWORD_HASH_QUEUE_TIMEOUT"],
    [{ PASSWORD_HASH_OVERLOAD_WAIT: "soon" }, "PASSWORD_HASH_OVERLOAD_WAIT"],
    [{ PASSWORD_HASH_QUEUE_TIMEOUT: "1s", PASSWORD_HASH_OVERLOAD_WAIT: "2s" }, "PASSWORD_HASH_OVERLOAD_WAIT"],
  ])("production refuses %j, naming %s", (override, variable) => {
    const error = errorFor({ ...ROLLOUT_ENV, ...override });
    expect(error.variable).toBe(variable);
    expect(error.message).toStartWith(`${variable}: `);
  });

  test("password hashing: argon2id at the OWASP minimum by default, never below it, stronger on request", () => {
    const defaults = parseConfig(ROLLOUT_ENV).passwordHashing;
    // Bursts of up to 8 s of hashing are queued; sustained overload is held to 200 ms of waiting.
    expect(defaults).toMatchObject({ memoryKib: 19456, timeCost: 2, queueTimeoutMs: 8000, overloadWaitMs: 200 });
    expect(defaults.concurrency).toBeGreaterThanOrEqual(1);
    const stronger = parseConfig({
      ...ROLLOUT_ENV,
      PASSWORD_HASH_MEMORY_KIB: "65536",
      PASSWORD_HASH_TIME_COST: "3",
      PASSWORD_HASH_CONCURRENCY: "4",
      PASSWORD_HASH_QUEUE_TIMEOUT: "5s",
      PASSWORD_HASH_OVERLOAD_WAIT: "500ms",
    }).passwordHashing;
    expect(stronger).toEqual({ memoryKib: 65536, timeCost: 3, concurrency: 4, queueTimeoutMs: 5000, overloadWaitMs: 500 });
    expect(errorFor({ ...ROLLOUT_ENV, PASSWORD_HASH_MEMORY_KIB: "1024" }).message).toContain("OWASP minimum");
  });

  test("the error never contains the secret or the SMTP password", () => {
    expect(errorFor({ ...ROLLOUT_ENV, JWT_SECRET: "tiny-secret" }).message).not.toContain("tiny-secret");
    expect(errorFor({ ...ROLLOUT_ENV, MAIL_TRANSPORT: "smtp", SMTP_URL: "http://u:hunter2@x" }).message).not.toContain("hunter2");
  });

  test("`*` CORS is fine in development; APP_URL falls back to the first real origin", () => {
    expect(parseConfig({ CORS_ORIGIN: "*" }).corsOrigins).toEqual(["*"]);
    expect(parseConfig({ NODE_ENV: "test", CORS_ORIGIN: "http://localhost:3000,https://x.org" }).appUrl).toBe("http://localhost:3000");
    expect(parseConfig({ NODE_ENV: "test" }).corsOrigins).toEqual([]);
  });

  test("SHUTDOWN_DRAIN: 5 s in production, none elsewhere, 0 to 60 s when set", () => {
    expect(parseConfig(ROLLOUT_ENV).shutdownDrainMs).toBe(5000);
    expect(parseConfig({}).shutdownDrainMs).toBe(0);
    expect(parseConfig({ ...ROLLOUT_ENV, SHUTDOWN_DRAIN: "0" }).shutdownDrainMs).toBe(0);
    expect(parseConfig({ SHUTDOWN_DRAIN: "750ms" }).shutdownDrainMs).toBe(750);
    expect(parseConfig({ SHUTDOWN_DRAIN: "60s" }).shutdownDrainMs).toBe(60_000);
    for (const bad of ["61s", "5m", "-1s", "soon"]) expect(errorFor({ SHUTDOWN_DRAIN: bad }).variable).toBe("SHUTDOWN_DRAIN");
  });

  test("MIGRATE_BACKUPS_KEPT: 5 by default, at least 1", () => {
    expect(parseConfig({}).migrateBackupsKept).toBe(5);
    expect(parseConfig({ MIGRATE_BACKUPS_KEPT: "2" }).migrateBackupsKept).toBe(2);
    for (const bad of ["0", "x", "-3"]) expect(errorFor({ MIGRATE_BACKUPS_KEPT: bad }).variable).toBe("MIGRATE_BACKUPS_KEPT");
  });

  test("redacted configuration hides every secret", () => {
    const config = parseConfig({
      ...ROLLOUT_ENV,
      METRICS_TOKEN: "metrics-token-value",
      MAIL_TRANSPORT: "smtp",
      SMTP_URL: "smtp://user:mailpass@mail:587",
    });
    const printed = JSON.stringify(redactedConfig(config));
    for (const secret of [SECRET, "metrics-token-value", "mailpass", ":password@"]) expect(printed).not.toContain(secret);
  });

  test("no part of a database password holding @ / : is printed (finding 8)", () => {
    for (const password of ["Xq9r7Zk@Lm4Pw2:Tt8Yu1", "Aa1Bb2Cc3@@Dd4Ee5Ff6", "Gg7Hh8Jj9Kk0"]) {
      const config = parseConfig({ ...ROLLOUT_ENV, DATABASE_URL: `postgresql://app:${password}@db.internal:5432/cmf?sslmode=require` });
      const printed = JSON.stringify(redactedConfig(config));
      expect(printed).toContain("postgresql://app:***@db.internal:5432/cmf?sslmode=require");
      for (const part of password.split(/[@:]/).filter(Boolean)) expect(printed).not.toContain(part);
    }
  });
});

describe("signing keys and the data secret (rotation)", () => {
  const OLD = "o".repeat(40);
  const OLDER = "p".repeat(40);

  test("JWT_PREVIOUS_SECRETS is a comma-separated list, checked like JWT_SECRET in production", () => {
    const config = parseConfig({ ...ROLLOUT_ENV, JWT_PREVIOUS_SECRETS: ` ${OLD} , ${OLDER} `, DATA_SECRET: OLD });
    expect(config.jwt.previousSecrets).toEqual([OLD, OLDER]);
    expect(errorFor({ ...ROLLOUT_ENV, JWT_PREVIOUS_SECRETS: "short", DATA_SECRET: OLD }).variable).toBe("JWT_PREVIOUS_SECRETS");
    expect(errorFor({ ...ROLLOUT_ENV, JWT_PREVIOUS_SECRETS: SECRET, DATA_SECRET: OLD }).variable).toBe("JWT_PREVIOUS_SECRETS");
    expect(parseConfig(ROLLOUT_ENV).jwt.previousSecrets).toEqual([]);
  });

  test("DATA_SECRET defaults to JWT_SECRET, and must be set in production once JWT_PREVIOUS_SECRETS is", () => {
    expect(parseConfig(ROLLOUT_ENV).dataSecret).toEqual({ secret: SECRET, fromJwtSecret: true });
    expect(parseConfig({ ...ROLLOUT_ENV, DATA_SECRET: OLD }).dataSecret).toEqual({ secret: OLD, fromJwtSecret: false });
    const missing = errorFor({ ...ROLLOUT_ENV, JWT_PREVIOUS_SECRETS: OLD });
    expect(missing.variable).toBe("DATA_SECRET");
    expect(missing.message).not.toContain(OLD);
    expect(errorFor({ ...ROLLOUT_ENV, DATA_SECRET: "changeme" }).variable).toBe("DATA_SECRET");
  });

  test("the redacted configuration hides previous secrets and the data secret", () => {
    const printed = JSON.stringify(redactedConfig(parseConfig({ ...ROLLOUT_ENV, JWT_PREVIOUS_SECRETS: OLD, DATA_SECRET: OLDER })));
    for (const secret of [SECRET, OLD, OLDER]) expect(printed).not.toContain(secret);
  });
});

describe("durations", () => {
  test.each([
    ["7d", 604800],
    ["12h", 43200],
    ["15m", 900],
    ["45s", 45],
    ["3600", 3600],
  ])("%s is %d seconds", (text, seconds) => expect(parseDurationSeconds(text)).toBe(seconds));
  test.each(["", "0", "-5", "7w", "1.5h", "d"])("%s is invalid", (text) => expect(parseDurationSeconds(text)).toBeNull());
});

describe("DATABASE_SLOW_QUERY", () => {
  test("defaults to 500 ms; takes ms or s", () => {
    expect(parseConfig({}).slowQueryMs).toBe(500);
    expect(parseConfig({ DATABASE_SLOW_QUERY: "2s" }).slowQueryMs).toBe(2000);
    expect(parseConfig({ DATABASE_SLOW_QUERY: "50ms" }).slowQueryMs).toBe(50);
  });

  test.each(["fast", "0ms", "10m", "601s"])("refuses %p, naming the variable", (value) => {
    const error = errorFor({ DATABASE_SLOW_QUERY: value });
    expect(error.variable).toBe("DATABASE_SLOW_QUERY");
  });
});

const NOT_A_CERTIFICATE = join(mkdtempSync(join(tmpdir(), "cmf-config-")), "not-a-ca.pem");
writeFileSync(NOT_A_CERTIFICATE, "hello\n");

describe("configuration: database pool and timeouts, mail delivery", () => {
  test("defaults: 10 connections, bounded waits; opportunistic STARTTLS, system CAs, EHLO from APP_URL, no fallback", () => {
    const config = parseConfig(ROLLOUT_ENV);
    expect(config.databasePool).toEqual({
      size: 10,
      connectTimeoutMs: 5000,
      acquireTimeoutMs: 3000,
      statementTimeoutMs: 5000,
      preparedStatements: "auto",
    });
    expect(config.mail).toMatchObject({ tls: "opportunistic", caCertificates: null, ehloName: "classmatefinder.com", fallbackUrl: null });
    // No real host name in APP_URL: the machine's own name.
    expect(parseConfig({}).mail.ehloName).not.toBe("localhost:5000");
  });

  test("each can be set", () => {
    const caFile = join(mkdtempSync(join(tmpdir(), "cmf-config-")), "ca.pem");
    writeFileSync(caFile, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
    const config = parseConfig({
      ...ROLLOUT_ENV,
      DATABASE_POOL_SIZE: "25",
      DATABASE_CONNECT_TIMEOUT: "2s",
      DATABASE_ACQUIRE_TIMEOUT: "500ms",
      DATABASE_STATEMENT_TIMEOUT: "15s",
      DATABASE_PREPARED_STATEMENTS: "false",
      MAIL_TRANSPORT: "smtp",
      SMTP_URL: "smtp://mail.internal:587",
      SMTP_TLS: "required",
      SMTP_CA_FILE: caFile,
      SMTP_EHLO_NAME: "mailer.classmatefinder.com",
      SMTP_FALLBACK_URL: "smtps://apikey:fallback-secret@smtp.sendgrid.net:465",
    });
    expect(config.databasePool).toEqual({
      size: 25,
      connectTimeoutMs: 2000,
      acquireTimeoutMs: 500,
      statementTimeoutMs: 15000,
      preparedStatements: "false",
    });
    expect(config.mail).toMatchObject({ tls: "required", ehloName: "mailer.classmatefinder.com" });
    expect(config.mail.caCertificates).toContain("BEGIN CERTIFICATE");
    expect(config.mail.fallbackUrl).toBe("smtps://apikey:fallback-secret@smtp.sendgrid.net:465");
    expect(JSON.stringify(redactedConfig(config))).not.toContain("fallback-secret");
  });

  test.each([
    [{ DATABASE_POOL_SIZE: "0" }, "DATABASE_POOL_SIZE"],
    [{ DATABASE_POOL_SIZE: "ten" }, "DATABASE_POOL_SIZE"],
    [{ DATABASE_CONNECT_TIMEOUT: "5" }, "DATABASE_CONNECT_TIMEOUT"],
    [{ DATABASE_ACQUIRE_TIMEOUT: "10m" }, "DATABASE_ACQUIRE_TIMEOUT"],
    [{ DATABASE_STATEMENT_TIMEOUT: "200s" }, "DATABASE_STATEMENT_TIMEOUT"],
    [{ DATABASE_PREPARED_STATEMENTS: "yes" }, "DATABASE_PREPARED_STATEMENTS"],
    [{ SMTP_TLS: "yes" }, "SMTP_TLS"],
    [{ SMTP_CA_FILE: "/nonexistent/ca.pem" }, "SMTP_CA_FILE"],
    [{ SMTP_CA_FILE: NOT_A_CERTIFICATE }, "SMTP_CA_FILE"],
    [{ SMTP_EHLO_NAME: "not a host" }, "SMTP_EHLO_NAME"],
    [{ SMTP_FALLBACK_URL: "http://u:fallback-pass@mail" }, "SMTP_FALLBACK_URL"],
  ])("refuses %j, naming %s", (override, variable) => {
    const error = errorFor({ ...ROLLOUT_ENV, ...override });
    expect(error.variable).toBe(variable);
    expect(error.message).not.toContain("fallback-pass");
  });
});
