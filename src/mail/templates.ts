import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
// The shipped templates, embedded in the binary: the defaults, and the examples an operator copies.
import resetHtml from "../../deploy/email-templates/reset_password.html.txt" with { type: "text" };
import resetSubject from "../../deploy/email-templates/reset_password.subject.txt" with { type: "text" };
import resetText from "../../deploy/email-templates/reset_password.text.txt" with { type: "text" };
import verifyHtml from "../../deploy/email-templates/verify_email.html.txt" with { type: "text" };
import verifySubject from "../../deploy/email-templates/verify_email.subject.txt" with { type: "text" };
import verifyText from "../../deploy/email-templates/verify_email.text.txt" with { type: "text" };
import type { EmailKind, EmailMessage } from "./types";

/** One email's subject and bodies, with `{{link}}` and `{{lifetime}}` as their only variables. */
export interface EmailTemplate {
  subject: string;
  text: string;
  html: string;
}

export type EmailTemplates = Record<EmailKind, EmailTemplate>;

export const SHIPPED_TEMPLATES: EmailTemplates = {
  verify_email: { subject: verifySubject, text: verifyText, html: verifyHtml },
  reset_password: { subject: resetSubject, text: resetText, html: resetHtml },
};

const PARTS = ["subject", "text", "html"] as const;
const KINDS = Object.keys(SHIPPED_TEMPLATES) as EmailKind[];
const VARIABLE = /\{\{\s*([^{}]*?)\s*\}\}/g;
const VARIABLES = new Set(["link", "lifetime"]);

/** A template an operator wrote that cannot be used: the file and what is wrong. */
export class TemplateError extends Error {
  constructor(
    readonly file: string,
    problem: string,
  ) {
    super(`${file}: ${problem}`);
    this.name = "TemplateError";
  }
}

/** What is wrong with one part of a template, or null. */
function problemOf(part: (typeof PARTS)[number], content: string): string | null {
  if (content.includes("\uFFFD")) return "is not UTF-8 text";
  const names = [...content.matchAll(VARIABLE)].map((match) => match[1] ?? "");
  const unknown = names.find((name) => !VARIABLES.has(name));
  if (unknown !== undefined) return `unknown variable {{${unknown}}} (the variables are {{link}} and {{lifetime}})`;
  if (content.replace(VARIABLE, "").includes("{{")) return "has a {{ without its }}";
  if (part === "subject") {
    const subject = content.trim();
    if (!subject) return "is empty";
    if (subject.includes("\n")) return "must be one line";
    if (subject.length > 200) return "is longer than 200 characters";
    if (names.includes("link")) return "must not contain the link";
    return null;
  }
  return names.includes("link") ? null : "must contain {{link}}";
}

/**
 * The templates of EMAIL_TEMPLATES_DIR: `<kind>.<part>.txt` for kind verify_email or reset_password and
 * part subject, text or html; a file left out keeps the shipped one. Checked whole at start, so that a
 * broken template stops the service (and `check`) naming its file instead of failing an email later.
 */
export function loadEmailTemplates(dir: string): EmailTemplates {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new TemplateError(dir, "is not a directory");
  const expected = new Set(KINDS.flatMap((kind) => PARTS.map((part) => `${kind}.${part}.txt`)));
  for (const name of readdirSync(dir)) {
    if (!expected.has(name) && !name.startsWith(".")) {
      throw new TemplateError(join(dir, name), `unknown template file (expected names: ${[...expected].join(", ")})`);
    }
  }
  const templates = structuredClone(SHIPPED_TEMPLATES);
  for (const kind of KINDS) {
    for (const part of PARTS) {
      const file = join(dir, `${kind}.${part}.txt`);
      if (!existsSync(file)) continue;
      let content: string;
      try {
        content = readFileSync(file, "utf8");
      } catch (error) {
        throw new TemplateError(file, `cannot be read (${error instanceof Error ? error.message : error})`);
      }
      const problem = problemOf(part, content);
      if (problem) throw new TemplateError(file, problem);
      templates[kind][part] = content;
    }
  }
  return templates;
}

function describeLifetime(seconds: number): string {
  if (seconds % 3600 === 0) return seconds === 3600 ? "1 hour" : `${seconds / 3600} hours`;
  return seconds % 60 === 0 ? `${seconds / 60} minutes` : `${seconds} seconds`;
}

const escapeHtml = (value: string) => value.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** Renders an email. It names nothing of the account but the link; the token lives only in the link. */
export function renderEmail(input: {
  kind: EmailKind;
  to: string;
  from: string;
  link: string;
  lifetimeSeconds: number;
  templates?: EmailTemplates;
}): EmailMessage {
  const template = (input.templates ?? SHIPPED_TEMPLATES)[input.kind];
  const lifetime = describeLifetime(input.lifetimeSeconds);
  const fill = (content: string, encode: (value: string) => string) =>
    content.replace(VARIABLE, (_match, name: string) => encode(name === "link" ? input.link : lifetime));
  const plain = (value: string) => value;
  return {
    kind: input.kind,
    to: input.to,
    from: input.from,
    subject: fill(template.subject, plain).trim(),
    text: fill(template.text, plain),
    html: fill(template.html, escapeHtml),
    link: input.link,
  };
}
