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

/** Hands one message to the outside world; throws when it was not accepted (the outbox retries). */
export interface MailTransport {
  readonly name: "log" | "smtp";
  // biome-ignore lint/suspicious/noConfusingVoidType: a transport that names no provider returns nothing
  send(message: EmailMessage): Promise<SendOutcome | void>;
  close?(): Promise<void>;
}
