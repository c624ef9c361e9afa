import { FIELD_MESSAGES } from "../auth/input";
import { ApiError, type FieldProblem } from "./errors";

// NUL, and unpaired UTF-16 surrogates (which no database stores as the client sent them).
const UNSTORABLE = /[\0\p{Cs}]/u;

/**
 * Checks a parsed body before schema validation, for the body properties the route reads: the body must
 * be an object, and each of those properties a string (or null) without NUL or unpaired surrogates.
 * Elysia's validator describes a wrong value by interpolating it into a message, which throws for
 * `{"toString":1}` and overflows the stack for arrays nested thousands deep: such values never reach it.
 * Other properties are ignored, as the contract says, and are never looked at.
 */
export function checkBodyShape(body: unknown, fields: readonly string[]): void {
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw new ApiError(400, "VALIDATION_ERROR", "The request body must be a JSON object.", [
      { field: "body", message: FIELD_MESSAGES.body as string },
    ]);
  }
  const problems: FieldProblem[] = [];
  for (const field of fields) {
    if (!Object.hasOwn(body, field)) continue;
    const value = (body as Record<string, unknown>)[field];
    if (typeof value === "object" && value !== null) problems.push({ field, message: FIELD_MESSAGES[field] ?? "must be a string" });
    else if (typeof value === "string" && UNSTORABLE.test(value)) {
      problems.push({ field, message: "must not contain NUL or unpaired surrogate characters" });
    }
  }
  if (problems.length > 0) throw new ApiError(400, "VALIDATION_ERROR", "The request is not valid.", problems);
}
