import type { AddressInfo } from "node:net";
import { SMTPServer } from "smtp-server";

export interface Delivered {
  to: string;
  /** The verification or reset token inside the message. */
  token: string | null;
  /** When the server accepted it (epoch ms). */
  at: number;
}

export interface SmtpSinkOptions {
  /** How long the server takes over each message before answering 250. */
  delayMs?: number;
  /** A reply code for MAIL FROM instead of accepting (451: try again later; 554: refused for good). */
  refuse?: number;
  /** Recipients the server refuses for good (550 at RCPT TO). */
  refuseRecipients?: (address: string) => boolean;
}

/**
 * A real SMTP server (smtp-server) on 127.0.0.1 that records what it accepts. Its behaviour can change
 * while it runs (`options`), and `stop()` / `start()` take it away and bring it back on the same port.
 */
export class SmtpSink {
  readonly received: Delivered[] = [];
  port = 0;
  private server: SMTPServer | null = null;

  constructor(public options: SmtpSinkOptions = {}) {}

  static async start(options: SmtpSinkOptions = {}): Promise<SmtpSink> {
    const sink = new SmtpSink(options);
    await sink.start();
    return sink;
  }

  get url(): string {
    return `smtp://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const server = new SMTPServer({
      logger: false,
      // A pooled client never leaves by itself: its connections are cut at once when the server stops.
      closeTimeout: 50,
      authOptional: true,
      disabledCommands: ["STARTTLS"],
      onMailFrom: (_address, _session, callback) => {
        const code = this.options.refuse;
        if (code) return callback(Object.assign(new Error(`refused (${code})`), { responseCode: code }));
        callback();
      },
      onRcptTo: (address, _session, callback) => {
        if (this.options.refuseRecipients?.(address.address)) {
          return callback(Object.assign(new Error("mailbox unavailable"), { responseCode: 550 }));
        }
        callback();
      },
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on("data", (chunk: Buffer) => chunks.push(chunk));
        stream.on("end", () => {
          const text = Buffer.concat(chunks)
            .toString("utf8")
            .replace(/=\r?\n/g, "");
          const token = text.match(/token=([A-Za-z0-9_-]{20,})/)?.[1] ?? null;
          setTimeout(() => {
            for (const rcpt of session.envelope.rcptTo) this.received.push({ to: rcpt.address, token, at: Date.now() });
            callback();
          }, this.options.delayMs ?? 0);
        });
      },
    });
    server.on("error", () => {});
    await new Promise<void>((resolve) => server.listen(this.port, "127.0.0.1", () => resolve()));
    this.port = (server.server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Closes the port and every connection (a mail server gone). */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** How many times each address received an email. */
  counts(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const { to } of this.received) counts.set(to, (counts.get(to) ?? 0) + 1);
    return counts;
  }
}
