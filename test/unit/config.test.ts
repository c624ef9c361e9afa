import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, parseConfig, redactedConfig } from "../../src/config/config";
import { parseDurationSeconds } from "../../src/config/duration";

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
  ])("production refuses %j, naming %s", (override, variable) => {
    const error = errorFor({ ...ROLLOUT_ENV, ...override });
    expect(error.variable).toBe(variable);
    expect(error.message).toStartWith(`${variable}: `);
  });

  test("password hashing: argon2id at the OWASP minimum by default, never below it, stronger on request", () => {
    const defaults = parseConfig(ROLLOUT_ENV).passwordHashing;
    expect(defaults).toMatchObject({ memoryKib: 19456, timeCost: 2, queueTimeoutMs: 150 });
    expect(defaults.concurrency).toBeGreaterThanOrEqual(1);
    const stronger = parseConfig({
      ...ROLLOUT_ENV,
      PASSWORD_HASH_MEMORY_KIB: "65536",
      PASSWORD_HASH_TIME_COST: "3",
      PASSWORD_HASH_CONCURRENCY: "4",
      PASSWORD_HASH_QUEUE_TIMEOUT: "1s",
    }).passwordHashing;
    expect(stronger).toEqual({ memoryKib: 65536, timeCost: 3, concurrency: 4, queueTimeoutMs: 1000 });
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
