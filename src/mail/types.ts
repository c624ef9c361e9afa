export type EmailKind = "verify_email" | "reset_password";

export interface EmailMessage {
  kind: EmailKind;
  to: string;
  from: string;
  subject: string;
  text: string;
  html: string;
  /** The action link inside the message (the log transport prints it). */
  link: string;
}

/** Which provider took the message (for the delivery log line). */
export interface SendOutcome {
  via: string;
}

/**
 * The mail server refused this very message for good (a 5xx to its sender, recipient or content): trying
 * again the same way will not change the answer. Any other failure (no connection, 4xx, timeouts, a
 * refused login, which the operator can fix) is temporary.
 */
export class PermanentMailError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PermanentMailError";
  }
}

/** Hands one message to the outside world; throws when it was not accepted (the outbox retries). */
export interface MailTransport {
  readonly name: "log" | "smtp";
  /** `signal` gives up on the message (shutdown): the send then rejects, and the connection carrying it closes. */
  // biome-ignore lint/suspicious/noConfusingVoidType: a transport that names no provider returns nothing
  send(message: EmailMessage, options?: { signal?: AbortSignal }): Promise<SendOutcome | void>;
  close?(): Promise<void>;
}
