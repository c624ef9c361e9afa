export const EMAIL_MAX_LENGTH = 254;
// local@domain, no whitespace, a dotted domain of plain labels.
const EMAIL_SHAPE = /^[^\s@]+@([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** Expects a normalised email. */
export function isWellFormedEmail(email: string): boolean {
  return email.length <= EMAIL_MAX_LENGTH && EMAIL_SHAPE.test(email);
}

export function emailDomain(email: string): string {
  return email.slice(email.lastIndexOf("@") + 1);
}

/**
 * `ualberta.ca` (configured as `ualberta.ca` or `.ualberta.ca`) allows `ualberta.ca` and its subdomains,
 * never `evilualberta.ca` or `ualberta.ca.evil.com`: the match is on whole labels from the right.
 */
export function isAllowedDomain(domain: string, allowedSuffixes: readonly string[]): boolean {
  const normalized = domain.toLowerCase();
  return allowedSuffixes.some((suffix) => normalized === suffix || normalized.endsWith(`.${suffix}`));
}
