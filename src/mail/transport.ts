import type { Logger } from "pino";
import type { Config } from "../config/config";
import { failoverTransport } from "./failover";
import { logTransport } from "./log-transport";
import { smtpTransport } from "./smtp-transport";
import type { MailTransport } from "./types";

export function createTransport(config: Config, logger: Logger): MailTransport {
  if (config.mail.transport !== "smtp") return logTransport(logger);
  const primary = smtpTransport(config.mail, logger);
  if (!config.mail.fallbackUrl) return primary;
  return failoverTransport(primary, smtpTransport({ ...config.mail, smtpUrl: config.mail.fallbackUrl }, logger, "fallback"), logger);
}
