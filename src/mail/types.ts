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

/** Hands one message to the outside world; throws when it was not accepted (the outbox retries). */
export interface MailTransport {
  readonly name: "log" | "smtp";
  send(message: EmailMessage): Promise<void>;
  close?(): Promise<void>;
}
