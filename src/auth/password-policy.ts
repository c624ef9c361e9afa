export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 128;

// zxcvbn-ts's list of ~49,000 most common passwords (maintained, lower-case). Loaded and unpacked at the
// first password check rather than at start, where it cost a tenth of the start-up time and 6 MB.
let commonPasswords: ReadonlySet<string> | undefined;

function isCommonPassword(lower: string): boolean {
  if (!commonPasswords) {
    const { dictionary } = require("@zxcvbn-ts/language-common") as typeof import("@zxcvbn-ts/language-common");
    commonPasswords = new Set(dictionary["passwords-common"] as string[]);
  }
  return commonPasswords.has(lower);
}

/**
 * What is hashed and checked: the password in Unicode NFKC, so that the same password typed on another
 * keyboard or system (composed or decomposed accents, full-width digits) is the same password.
 */
export function normalizePassword(password: string): string {
  return password.normalize("NFKC");
}

export interface PasswordContext {
  username?: string;
  email?: string;
}

/** Returns why the (normalised) password is refused, or null when it is acceptable. */
export function passwordProblem(password: string, context: PasswordContext = {}): string | null {
  const codePoints = [...password];
  if (codePoints.length < PASSWORD_MIN_LENGTH || codePoints.length > PASSWORD_MAX_LENGTH) {
    return `must be ${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters long`;
  }
  if (codePoints.every((char) => char === codePoints[0])) return "must not be one character repeated";
  const lower = password.toLowerCase();
  if (isCommonPassword(lower)) return "is too common; choose a less predictable password";
  if (context.username && lower === context.username.toLowerCase()) return "must not be the same as the username";
  const email = context.email?.toLowerCase();
  const localPart = email?.slice(0, email.lastIndexOf("@"));
  if (email && (lower === localPart || lower === email)) return "must not be the same as the email address";
  return null;
}
