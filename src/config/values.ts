import { ConfigError, type DatabaseConfig, DEFAULT_SQLITE_URL, type Limit, type NodeEnv } from "./config";
import { parseDurationSeconds } from "./duration";

// Parsers of single environment values: each returns the typed value or throws a ConfigError naming
// the variable and what is wrong.

const DOMAIN_SUFFIX = /^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

export function parseSentryDsn(value: string | undefined): string | null {
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
export function parseLimit(variable: string, value: string | undefined, fallback: Limit): Limit {
  if (value === undefined) return fallback;
  const [max, window] = value.split("/");
  const windowSeconds = window ? parseDurationSeconds(window) : null;
  if (!max || !/^\d+$/.test(max) || Number(max) < 1 || windowSeconds === null) {
    throw new ConfigError(variable, `must look like 5/15m (at most 5 per 15 minutes), got "${value}"`);
  }
  return { max: Number(max), windowSeconds };
}

export function oneOf<const T extends string>(variable: string, value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new ConfigError(variable, `must be one of ${allowed.join(", ")} (got "${value}")`);
}

export function parseBoolean(variable: string, value: string | undefined, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (value === "true" || value === "1") return true;
  if (value === "false" || value === "0") return false;
  throw new ConfigError(variable, `must be true or false (got "${value}")`);
}

export function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port < 1 || port > 65535) {
    throw new ConfigError("PORT", `must be an integer from 1 to 65535 (got "${value}")`);
  }
  return port;
}

export function parseDatabaseUrl(value: string | undefined, production: boolean): DatabaseConfig {
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

export function parseOrigin(variable: string, value: string): string {
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

export function parseCorsOrigins(value: string | undefined, nodeEnv: NodeEnv): string[] {
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

export function parseDomains(value: string): string[] {
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

export function parseAppUrl(value: string | undefined, corsOrigins: string[], port: number): string {
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

export function parseSmtpUrl(variable: string, value: string | undefined, required: boolean): string | null {
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
