import { rootCertificates } from "node:tls";
import type { Transporter } from "nodemailer";
import type SMTPTransport from "nodemailer/lib/smtp-transport";
import type { Logger } from "pino";
import type { Config } from "../config/config";
import type { MailTransport } from "./types";

/**
 * Sends through an SMTP server given as `smtp://[user:pass@]host[:port]` (STARTTLS whenever the server
 * offers it, port 587 by default) or `smtps://…` (implicit TLS, port 465 by default). Certificates are
 * verified, against the system's CAs plus SMTP_CA_FILE's; SMTP_TLS=required refuses to send in clear
 * when an smtp:// server offers no STARTTLS. One connection per message: the outbox sends few emails and does its own retrying, so a
 * pool (with its own hidden requeueing) would only add state. Timeouts make a hung server fail the
 * attempt instead of blocking the outbox worker.
 */
export function smtpTransport(
  config: Pick<Config["mail"], "smtpUrl" | "from" | "tls" | "caCertificates" | "ehloName">,
  logger: Logger,
  role: "primary" | "fallback" = "primary",
): MailTransport {
  if (!config.smtpUrl) throw new Error("SMTP_URL is required when MAIL_TRANSPORT=smtp");
  const url = new URL(config.smtpUrl);
  const secure = url.protocol === "smtps:";
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = url.port ? Number(url.port) : secure ? 465 : 587;
  const user = decodeCredential(url.username);
  const pass = decodeCredential(url.password);
  // Loaded at the first email, not at start: nodemailer takes longer to load than the rest of start-up.
  let transporter: Promise<Transporter<SMTPTransport.SentMessageInfo>> | undefined;
  const connect = () =>
    (transporter ??= import("nodemailer").then(({ default: nodemailer }) =>
      nodemailer.createTransport({
        host,
        port,
        secure,
        auth: user ? { user, pass } : undefined,
        requireTLS: config.tls === "required",
        name: config.ehloName,
        // Node's `ca` replaces the system's list: a private CA is added to it, not swapped in.
        tls: config.caCertificates ? { ca: [...rootCertificates, config.caCertificates] } : undefined,
        connectionTimeout: 15_000,
        greetingTimeout: 15_000,
        socketTimeout: 30_000,
        // Never hand nodemailer our logger: its protocol traces would contain the AUTH exchange.
        logger: false,
        debug: false,
      }),
    ));
  // An error message must not carry the password into a log line or the outbox's last_error column.
  const scrub = (message: string) => (pass ? message.split(pass).join("***") : message);
  logger.info({ smtp: { role, host, port, secure, tls: secure ? "implicit" : config.tls, user: user || null } }, "mail transport: smtp");

  return {
    name: "smtp",
    send: async (message) => {
      try {
        const info = await (await connect()).sendMail({
          from: message.from || config.from,
          to: message.to,
          subject: message.subject,
          text: message.text,
          html: message.html,
        });
        if (info.rejected.length > 0) throw new Error(`recipient rejected by the SMTP server: ${info.response}`);
        return { via: `${role} ${host}:${port}` };
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        throw new Error(`SMTP ${host}:${port}: ${scrub(reason)}`);
      }
    },
    close: async () => (await transporter)?.close(),
  };
}

function decodeCredential(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    // Not echoed: it may be the password.
    throw new Error("SMTP_URL: percent-encode special characters of the user name and password (% as %25)");
  }
}
