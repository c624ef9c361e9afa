import { FIELD_MESSAGES } from "../auth/input";
import { ApiError } from "./errors";

// NUL, and unpaired UTF-16 surrogates (which no database stores as the client sent them).
const UNSTORABLE = /[\0\p{Cs}]/u;
const UNSTORABLE_MESSAGE = "must not contain NUL or unpaired surrogate characters";

/**
 * What the validator sees instead of a value it must not see: numbers, which it can describe and no
 * string field accepts, so that it still names that field along with every other wrong one. NaN cannot
 * come from JSON: it marks a string that no database can store (its message is then this module's).
 */
const WRONG_TYPE = 0;
const UNSTORABLE_STRING = Number.NaN;

/**
 * Checks a parsed body before schema validation, for the body properties the route reads (string
 * fields): the body must be an object, and a value of those properties must not be an object or array,
 * nor a string with NUL or unpaired surrogates. Elysia's validator describes a wrong value by
 * interpolating it into a message, which throws for `{"toString":1}` and overflows the stack for arrays
 * nested thousands deep: such values never reach it. They are replaced by a stand-in rather than
 * answered here, so that the validator names every other wrong property of the body in the same answer
 * (a number, a boolean, a null, a missing field: issue 29).
 * Other properties are ignored, as the contract says, and are never looked at.
 */
export function checkBodyShape(body: unknown, fields: readonly string[]): void {
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw new ApiError(400, "VALIDATION_ERROR", "The request body must be a JSON object.", [
      { field: "body", message: FIELD_MESSAGES.body as string },
    ]);
  }
  const record = body as Record<string, unknown>;
  for (const field of fields) {
    if (!Object.hasOwn(record, field)) continue;
    const value = record[field];
    if (typeof value === "object" && value !== null) record[field] = WRONG_TYPE;
    else if (typeof value === "string" && UNSTORABLE.test(value)) record[field] = UNSTORABLE_STRING;
  }
}

/** The message of a body property that validation refused (`body`: the value validated). */
export function fieldMessage(body: unknown, field: string): string {
  const value = body !== null && typeof body === "object" ? (body as Record<string, unknown>)[field] : undefined;
  if (Number.isNaN(value)) return UNSTORABLE_MESSAGE;
  return FIELD_MESSAGES[field] ?? "is invalid";
}
