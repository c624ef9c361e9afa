import { Kind, type SchemaOptions, type TSchema, TypeRegistry } from "@sinclair/typebox";
import { t } from "elysia";

/** A string without NUL, in the pattern dialect that TypeBox and JSON Schema validators share. */
export const NO_NUL = "^[^\\u0000]*$";

const STRING_WITH_RULES = "StringWithRules";
// The schema layer checks only what the contract groups with the type ("not a string or holds a NUL"); the
// rules themselves are checked by the rules layer (src/auth/input.ts), which reports every offending field at
// once: a pattern failing here would hide the other fields' problems (a common password, say).
TypeRegistry.Set(STRING_WITH_RULES, (_schema, value) => typeof value === "string" && !value.includes("\0"));

export interface StringRules extends SchemaOptions {
  minLength?: number;
  maxLength?: number;
  pattern?: string;
}

/**
 * A string field whose contract rules the OpenAPI document states as constraints (lengths, pattern), while the
 * request's validation leaves them to the rules layer. The constraints describe the value as sent, so they never
 * refuse a value that the rules accept after normalising it (trimming, lower-casing, NFKC).
 */
export const stringWithRules = (rules: StringRules) => t.Unsafe<string>({ ...rules, type: "string", [Kind]: STRING_WITH_RULES });

/** A string field that the schema layer limits itself (no rules layer behind it): at most `maxLength`, no NUL. */
export const boundedString = (maxLength: number, options: SchemaOptions & { minLength?: number } = {}) =>
  t.String({ maxLength, pattern: NO_NUL, ...options });

/** The schema with examples of its own: one schema's example per response (the document shows them per status). */
export const withExamples = <T extends TSchema>(schema: T, ...examples: unknown[]): T => ({ ...schema, examples });
