import { isWellFormedEmail, normalizeEmail } from "./email";
import { type FieldProblem, validationError } from "./errors";
import { normalizePassword, PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, passwordProblem } from "./password-policy";

export const USERNAME_PATTERN = "^[A-Za-z0-9_]{3,30}$";
export const NAME_MAX_LENGTH = 50;
// C0 and C1 controls (NUL included), and the invisible format characters (zero-width, soft hyphen, bidi).
const CONTROL_OR_INVISIBLE = /[\p{Cc}\p{Cf}]/u;

/** One message per body property, used by the schema layer and the rules alike. */
export const FIELD_MESSAGES: Record<string, string> = {
  body: "must be a JSON object",
  email: "must be a valid email address",
  username: "must be 3 to 30 characters of letters, digits and underscore",
  password: `must be ${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters long`,
  newPassword: `must be ${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters long`,
  currentPassword: "is required",
  firstName: `must be 1 to ${NAME_MAX_LENGTH} characters without control characters`,
  lastName: `must be at most ${NAME_MAX_LENGTH} characters without control characters`,
  token: "must be the token from the email",
};

export interface RegistrationInput {
  email: string;
  username: string;
  /** Normalised (NFKC). */
  password: string;
  firstName: string;
  lastName: string | null;
}

const nameProblem = (name: string, min: number) =>
  [...name].length < min || [...name].length > NAME_MAX_LENGTH || CONTROL_OR_INVISIBLE.test(name);

/** Applies the contract's input rules to a registration body that already has the right types. */
export function parseRegistration(body: {
  email: string;
  username: string;
  password: string;
  firstName: string;
  lastName?: string | null;
}): RegistrationInput {
  const problems: FieldProblem[] = [];
  const email = normalizeEmail(body.email);
  if (!isWellFormedEmail(email)) problems.push({ field: "email", message: FIELD_MESSAGES.email as string });
  if (!new RegExp(USERNAME_PATTERN).test(body.username)) {
    problems.push({ field: "username", message: FIELD_MESSAGES.username as string });
  }
  const firstName = body.firstName.trim();
  if (nameProblem(firstName, 1)) problems.push({ field: "firstName", message: FIELD_MESSAGES.firstName as string });
  const lastName = body.lastName?.trim() || null;
  if (lastName !== null && nameProblem(lastName, 0)) {
    problems.push({ field: "lastName", message: FIELD_MESSAGES.lastName as string });
  }
  const password = normalizePassword(body.password);
  const passwordIssue = passwordProblem(password, { username: body.username, email });
  if (passwordIssue) problems.push({ field: "password", message: passwordIssue });
  if (problems.length > 0) throw validationError(problems);
  return { email, username: body.username, password, firstName, lastName };
}

/** For resend-verification and forgot-password: a well-formed address, normalised. */
export function parseEmailField(raw: string): string {
  const email = normalizeEmail(raw);
  if (!isWellFormedEmail(email)) throw validationError([{ field: "email", message: FIELD_MESSAGES.email as string }]);
  return email;
}

/** The new password, normalised, if the rules accept it. */
export function acceptablePassword(field: string, password: string, context: { username: string; email: string }): string {
  const normalized = normalizePassword(password);
  const problem = passwordProblem(normalized, context);
  if (problem) throw validationError([{ field, message: problem }]);
  return normalized;
}

/** PATCH /me's body: any of the registration fields a student may change afterwards. */
export interface ProfileChanges {
  username?: string;
  firstName?: string;
  lastName?: string | null;
}

/** Applies registration's rules to the fields given (every problem at once); the values to store. */
export function parseProfile(body: ProfileChanges): ProfileChanges {
  const problems: FieldProblem[] = [];
  const changes: ProfileChanges = {};
  if (body.username !== undefined) {
    if (new RegExp(USERNAME_PATTERN).test(body.username)) changes.username = body.username;
    else problems.push({ field: "username", message: FIELD_MESSAGES.username as string });
  }
  if (body.firstName !== undefined) {
    const firstName = body.firstName.trim();
    if (nameProblem(firstName, 1)) problems.push({ field: "firstName", message: FIELD_MESSAGES.firstName as string });
    else changes.firstName = firstName;
  }
  if (body.lastName !== undefined) {
    const lastName = body.lastName?.trim() || null;
    if (lastName !== null && nameProblem(lastName, 0)) problems.push({ field: "lastName", message: FIELD_MESSAGES.lastName as string });
    else changes.lastName = lastName;
  }
  if (problems.length > 0) throw validationError(problems);
  return changes;
}
