import { randomBytes } from "node:crypto";
import { type Config, ConfigError, type JwtConfig } from "./config";
import { parseDurationSeconds } from "./duration";

// The secrets of the configuration: JWT_SECRET, JWT_PREVIOUS_SECRETS, DATA_SECRET (see docs/operations.md,
// "Rotating secrets"). Their values never appear in an error message.
const JWT_SECRET_PLACEHOLDERS = new Set([
  "<generate-secure-secret>",
  "<generate-with-openssl-rand-64>",
  "changeme",
  "change-me",
  "secret",
  "jwt_secret",
  "your-secret",
  "your-secret-key",
]);

export function parseJwt(secret: string | undefined, previous: string | undefined, expiresIn: string, production: boolean): JwtConfig {
  const expiresInSeconds = parseDurationSeconds(expiresIn);
  if (expiresInSeconds === null) {
    throw new ConfigError("JWT_EXPIRES_IN", `must look like 7d, 12h, 15m, 45s or a number of seconds (got "${expiresIn}")`);
  }
  const previousSecrets = (previous ?? "")
    .split(",")
    .map((entry) => entry.trim())
    .filter(Boolean);
  if (secret === undefined) {
    if (production) throw new ConfigError("JWT_SECRET", "is required in production (generate one: openssl rand -hex 64)");
    return { secret: randomBytes(48).toString("base64url"), previousSecrets, generated: true, expiresInSeconds };
  }
  if (production) {
    checkSecretStrength("JWT_SECRET", secret);
    for (const old of previousSecrets) checkSecretStrength("JWT_PREVIOUS_SECRETS", old);
  }
  if (previousSecrets.includes(secret)) throw new ConfigError("JWT_PREVIOUS_SECRETS", "must not contain the current JWT_SECRET");
  return { secret, previousSecrets, generated: false, expiresInSeconds };
}

function checkSecretStrength(variable: string, secret: string) {
  if (JWT_SECRET_PLACEHOLDERS.has(secret.toLowerCase()) || /^<.*>$/.test(secret)) {
    throw new ConfigError(variable, "is a placeholder; generate a real secret: openssl rand -hex 64");
  }
  if (secret.length < 32) throw new ConfigError(variable, "must be at least 32 characters in production");
}

/**
 * DATA_SECRET keys what is stored or logged (audit emailHash, rate-limit keys, encrypted email links),
 * so rotating JWT_SECRET changes none of it. Unset, it is JWT_SECRET, as the audit hash was keyed before
 * it existed; a production rotation (JWT_PREVIOUS_SECRETS set) must pin it to the old JWT_SECRET first.
 */
export function parseDataSecret(value: string | undefined, jwt: JwtConfig, production: boolean): Config["dataSecret"] {
  if (value !== undefined) {
    if (production) checkSecretStrength("DATA_SECRET", value);
    return { secret: value, fromJwtSecret: false };
  }
  if (production && jwt.previousSecrets.length > 0) {
    throw new ConfigError(
      "DATA_SECRET",
      "is required when JWT_PREVIOUS_SECRETS is set: set it to the JWT_SECRET in use before the rotation (see docs/operations.md, Rotating secrets)",
    );
  }
  return { secret: jwt.secret, fromJwtSecret: true };
}
