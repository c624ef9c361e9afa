import { rootCertificates } from "node:tls";
import type { Transporter } from "nodemailer";
import type SMTPTransport from "nodemailer/lib/smtp-transport";
import type { Logger } from "pino";
import type { Config } from "../config/config";
import { type MailTransport, PermanentMailError } from "./types";

/** Connections kept open to the mail server: one per send the outbox has in flight. */
export const SMTP_CONNECTIONS = 4;

/**
 * Sends through an SMTP server given as `smtp://[user:pass@]host[:port]` (STARTTLS whenever the server
 * offers it, port 587 by default) or `smtps://…` (implicit TLS, port 465 by default). Certificates are
 * verified, against the system's CAs plus SMTP_CA_FILE's; SMTP_TLS=required refuses to send in clear
 * when an smtp:// server offers no STARTTLS. A pool of connections, reused from message to message (a
 * lecture hall registering at once is 150 emails, and a new connection each meant a TLS handshake and
 * a login each), with nodemailer's own requeueing off: the outbox does the retrying, with its lease and its
 * bookkeeping. Timeouts make a hung server fail the attempt instead of blocking the outbox worker.
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
        pool: true,
        maxConnections: SMTP_CONNECTIONS,
        maxRequeues: 0,
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
    send: async (message, options) => {
      try {
        const info = await (await connect()).sendMail({
          from: message.from || config.from,
          to: message.to,
          subject: message.subject,
          text: message.text,
          html: message.html,
          // nodemailer 10 takes it (the pool closes the connection delivering the message); its types lag.
          ...({ signal: options?.signal } as object),
        });
        if (info.rejected.length > 0) throw new Error(`recipient rejected by the SMTP server: ${info.response}`);
        return { via: `${role} ${host}:${port}` };
      } catch (error) {
        const reason = `SMTP ${host}:${port}: ${scrub(error instanceof Error ? error.message : String(error))}`;
        // Only a 5xx about this message (its envelope or content) is final; a refused login (535) is a
        // configuration the operator fixes, and the emails must still be there when they do.
        const { permanent, code } = error as { permanent?: unknown; code?: unknown };
        throw permanent === true && (code === "EENVELOPE" || code === "EMESSAGE") ? new PermanentMailError(reason) : new Error(reason);
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
