import pino, { type DestinationStream, type Logger } from "pino";
import type { Config } from "./config/config";
import { VERSION } from "./version";

/** JSON lines on stdout (journald collects them). Credentials are redacted wherever they might appear. */
export function createLogger(config: Pick<Config, "logLevel">, destination?: DestinationStream): Logger {
  return pino(
    {
      level: config.logLevel,
      base: { service: "classmatefinder-backend", version: VERSION },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: {
        paths: [
          "password",
          "*.password",
          "token",
          "*.token",
          "authorization",
          "*.authorization",
          "headers.authorization",
          "passwordHash",
          "*.passwordHash",
        ],
        censor: "[redacted]",
      },
    },
    destination ?? pino.destination({ fd: 1, sync: true }),
  );
}
