import type { EmailKind, EmailMessage } from "./types";

function describeLifetime(seconds: number): string {
  if (seconds % 3600 === 0) return seconds === 3600 ? "1 hour" : `${seconds / 3600} hours`;
  return seconds % 60 === 0 ? `${seconds / 60} minutes` : `${seconds} seconds`;
}

const escapeHtml = (value: string) => value.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

const COPY: Record<EmailKind, { subject: string; intro: string; action: string; ignore: string }> = {
  verify_email: {
    subject: "Verify your ClassmateFinder email address",
    intro:
      "Someone registered this address with ClassmateFinder. If it was you, open the link below and confirm with the password you chose when you registered.",
    action: "Confirm my email address",
    ignore: "If you did not register, ignore this email: nobody can use this address without the link.",
  },
  reset_password: {
    subject: "Reset your ClassmateFinder password",
    intro: "Someone (hopefully you) asked to reset the password of your ClassmateFinder account.",
    action: "Choose a new password",
    ignore: "If you did not ask for this, ignore this email: your password stays the same.",
  },
};

/** Renders an email. It names nothing of the account but the link; the token lives only in the link. */
export function renderEmail(input: { kind: EmailKind; to: string; from: string; link: string; lifetimeSeconds: number }): EmailMessage {
  const copy = COPY[input.kind];
  const expiry = `This link expires in ${describeLifetime(input.lifetimeSeconds)} and can be used once.`;
  const text = `${copy.intro}\n\n${copy.action}:\n${input.link}\n\n${expiry}\n\n${copy.ignore}\n`;
  const link = escapeHtml(input.link);
  const html = `<!doctype html><html><body style="font-family:sans-serif"><p>${escapeHtml(copy.intro)}</p><p><a href="${link}">${escapeHtml(copy.action)}</a></p><p>Or open this address: ${link}</p><p>${escapeHtml(expiry)}</p><p>${escapeHtml(copy.ignore)}</p></body></html>`;
  return { kind: input.kind, to: input.to, from: input.from, subject: copy.subject, text, html, link: input.link };
}
