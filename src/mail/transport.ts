import type { Logger } from "pino";
import type { Config } from "../config/config";
import { logTransport } from "./log-transport";
import { smtpTransport } from "./smtp-transport";
import type { MailTransport } from "./types";

export function createTransport(config: Config, logger: Logger): MailTransport {
  if (config.mail.transport === "smtp") return smtpTransport(config.mail, logger);
  return logTransport(logger);
}
