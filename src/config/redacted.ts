import type { Config } from "./config";

/** The configuration as `check` prints it: secrets replaced. */
export function redactedConfig(config: Config): Record<string, unknown> {
  // As URL parsers read it: the authority ends at the first / ? #, and its credentials at its last `@`
  // (a password may hold `@`). Everything after the user name is replaced.
  const redactUrl = (value: string) => {
    const start = value.indexOf("//") + 2;
    if (start < 2) return value;
    const authorityEnd = value.slice(start).search(/[/?#]/);
    const authority = authorityEnd < 0 ? value.slice(start) : value.slice(start, start + authorityEnd);
    const at = authority.lastIndexOf("@");
    if (at < 0) return value;
    const user = authority.slice(0, at).split(":")[0];
    return `${value.slice(0, start)}${user}:***${value.slice(start + at)}`;
  };
  return {
    ...config,
    database: { ...config.database, url: redactUrl(config.database.url) },
    jwt: {
      secret: config.jwt.generated ? "(random per process)" : "***",
      previousSecrets: config.jwt.previousSecrets.map(() => "***"),
      expiresInSeconds: config.jwt.expiresInSeconds,
    },
    dataSecret: config.dataSecret.fromJwtSecret ? "(JWT_SECRET)" : "***",
    mail: {
      ...config.mail,
      smtpUrl: config.mail.smtpUrl && redactUrl(config.mail.smtpUrl),
      fallbackUrl: config.mail.fallbackUrl && redactUrl(config.mail.fallbackUrl),
      caCertificates: config.mail.caCertificates ? "(PEM from SMTP_CA_FILE)" : null,
      templates: config.mail.templatesDir ? `(from ${config.mail.templatesDir})` : "(shipped)",
    },
    metricsToken: config.metricsToken ? "***" : null,
    sentry: { ...config.sentry, dsn: config.sentry.dsn ? "***" : null },
  };
}
