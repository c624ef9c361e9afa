export const EMAIL_MAX_LENGTH = 254;
export const EMAIL_LOCAL_MAX_LENGTH = 64;
// RFC 5321/5322 without the obsolete and quoted forms: a dot-atom local part of printable ASCII (no
// spaces, quotes, control or invisible characters), a domain of plain labels of at most 63 characters.
const ATOM = "[a-z0-9!#$%&'*+/=?^_`{|}~-]+";
const LABEL = "[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?";
const EMAIL_SHAPE = new RegExp(`^${ATOM}(?:\\.${ATOM})*@(?:${LABEL}\\.)+${LABEL}$`);

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** Expects a normalised email. */
export function isWellFormedEmail(email: string): boolean {
  return email.length <= EMAIL_MAX_LENGTH && EMAIL_SHAPE.test(email) && email.lastIndexOf("@") <= EMAIL_LOCAL_MAX_LENGTH;
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

/**
 * The mailbox an address delivers to: the address without a `+tag` in its local part
 * (`student+1@ualberta.ca` and `student@ualberta.ca` are one mailbox). Expects a normalised email.
 */
export function mailboxOf(email: string): string {
  const at = email.lastIndexOf("@");
  const plus = email.indexOf("+");
  return plus > 0 && plus < at ? email.slice(0, plus) + email.slice(at) : email;
}
