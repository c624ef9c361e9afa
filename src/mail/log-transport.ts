import type { Logger } from "pino";
import type { MailTransport } from "./types";

/** The mock transport: each email (recipient, subject, link) becomes one log line, so the link can be copied. */
export function logTransport(logger: Logger): MailTransport {
  return {
    name: "log",
    send: async (message) => {
      logger.info(
        { email: { kind: message.kind, to: message.to, subject: message.subject, link: message.link } },
        "email sent (log transport)",
      );
    },
  };
}
