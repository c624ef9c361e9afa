import type { Logger } from "pino";
import type { Config } from "../config/config";
import { logTransport } from "./log-transport";
import type { MailTransport } from "./types";

export function createTransport(config: Config, logger: Logger): MailTransport {
  if (config.mail.transport === "smtp") throw new Error("MAIL_TRANSPORT=smtp is not available in this build yet");
  return logTransport(logger);
}
