import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { loadEmailTemplates, SHIPPED_TEMPLATES, TemplateError } from "../mail/templates";
import { ConfigError, type MailConfig } from "./config";
import { oneOf, parseSmtpUrl } from "./values";

// Mail delivery beyond the transport and its URL: TLS, a private CA, the EHLO name, a fallback
// provider, the email templates.

export function parseMailDelivery(
  get: (name: string) => string | undefined,
  base: { transport: MailConfig["transport"]; smtpUrl: string | null; from: string; appUrl: string },
): MailConfig {
  const tls = oneOf("SMTP_TLS", get("SMTP_TLS") ?? "opportunistic", ["opportunistic", "required"] as const);
  const caFile = get("SMTP_CA_FILE");
  let caCertificates: string | null = null;
  if (caFile !== undefined) {
    try {
      caCertificates = readFileSync(caFile, "utf8");
    } catch (error) {
      throw new ConfigError("SMTP_CA_FILE", `cannot be read (${(error as NodeJS.ErrnoException).code ?? "error"}): ${caFile}`);
    }
    if (!caCertificates.includes("-----BEGIN CERTIFICATE-----"))
      throw new ConfigError("SMTP_CA_FILE", `holds no PEM certificate: ${caFile}`);
  }
  const ehloName = get("SMTP_EHLO_NAME") ?? defaultEhloName(base.appUrl);
  if (!/^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/i.test(ehloName)) {
    throw new ConfigError("SMTP_EHLO_NAME", `must be a host name such as mail.example.edu (got "${ehloName}")`);
  }
  const fallbackUrl = parseSmtpUrl("SMTP_FALLBACK_URL", get("SMTP_FALLBACK_URL"), false);
  const templatesDir = get("EMAIL_TEMPLATES_DIR") ?? null;
  let templates = SHIPPED_TEMPLATES;
  try {
    if (templatesDir !== null) templates = loadEmailTemplates(templatesDir);
  } catch (error) {
    if (error instanceof TemplateError) throw new ConfigError("EMAIL_TEMPLATES_DIR", error.message);
    throw error;
  }
  return { ...base, tls, caCertificates, ehloName, fallbackUrl, templates, templatesDir };
}

/** APP_URL's host when it is a real name, else the machine's host name: what a receiving server can check. */
function defaultEhloName(appUrl: string): string {
  const host = new URL(appUrl).hostname;
  const usable = host.includes(".") && !/^[\d.]+$/.test(host) && !host.startsWith("[") && host !== "localhost";
  return usable ? host : hostname() || "localhost";
}
