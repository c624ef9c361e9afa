import type { TSchema } from "@sinclair/typebox";
import { t } from "elysia";
import type { ErrorCode, FieldProblem as FieldProblemValue } from "./errors";

interface CodeDoc {
  /** What the code means: the OpenAPI descriptions of the responses that carry it. */
  meaning: string;
  /** A body like the one the service sends: the document's per-code example. */
  message: string;
  details?: FieldProblemValue[];
}

/** Every error code of the contract, what it means and what it looks like. */
export const ERROR_CODE_DOCS: Record<ErrorCode, CodeDoc> = {
  VALIDATION_ERROR: {
    meaning: "the body is not valid JSON or breaks a field rule (details names each field)",
    message: "The request is not valid.",
  },
  EMAIL_DOMAIN_NOT_ALLOWED: {
    meaning: "the email is not an address of a participating university",
    message: "Registration needs an email address of a participating university.",
    details: [{ field: "email", message: "must be a university email address" }],
  },
  EMAIL_TAKEN: {
    meaning: "a verified account with this email address exists",
    message: "An account with this email address already exists.",
  },
  USERNAME_TAKEN: { meaning: "the username is taken (case-insensitively)", message: "This username is already taken." },
  INVALID_TOKEN: {
    meaning: "the email link's token is unknown, expired or already used",
    message: "This link is invalid, expired or has already been used.",
  },
  INVALID_CREDENTIALS: {
    meaning: "unknown email or wrong password (deliberately indistinguishable)",
    message: "The email or password is incorrect.",
  },
  EMAIL_NOT_VERIFIED: {
    meaning: "the password is right but the email is not verified yet",
    message: "Please verify your email address first; we can send the link again.",
  },
  INVALID_CURRENT_PASSWORD: { meaning: "the current password is wrong", message: "The current password is incorrect." },
  UNAUTHORIZED: {
    meaning: "the bearer token is missing, invalid, expired or revoked (WWW-Authenticate: Bearer)",
    message: "A valid access token is required.",
  },
  NOT_FOUND: { meaning: "nothing at this address", message: "There is nothing at this address." },
  PAYLOAD_TOO_LARGE: { meaning: "the body is larger than 16 KiB", message: "The request body must not exceed 16384 bytes." },
  UNSUPPORTED_MEDIA_TYPE: {
    meaning: "the body is not sent as application/json",
    message: "Send the request body as JSON with Content-Type: application/json.",
  },
  RATE_LIMITED: {
    meaning: "too many attempts; Retry-After says how many seconds to wait",
    message: "Too many attempts. Please wait before trying again.",
  },
  SERVICE_BUSY: {
    meaning:
      "password hashing is under sustained overload, or this client is flooding it (bursts are queued and served, not refused); nothing was done (not counted as an attempt), retry after Retry-After seconds. To a flooding client it may come before the body is validated",
    message: "The service is busy. Please try again in a moment.",
  },
  SERVICE_UNAVAILABLE: {
    meaning: "the database cannot be reached; nothing was done, retry after Retry-After seconds",
    message: "The service is temporarily unavailable. Please try again in a moment.",
  },
  INTERNAL_ERROR: { meaning: "an unexpected failure on the server", message: "Something went wrong on our side." },
};

export const ERROR_CODES = Object.keys(ERROR_CODE_DOCS) as [ErrorCode, ...ErrorCode[]];

/** The response headers that every answer with this code carries. */
export const HEADERS_OF_CODE: Partial<Record<ErrorCode, readonly string[]>> = {
  UNAUTHORIZED: ["WWW-Authenticate"],
  RATE_LIMITED: ["Retry-After"],
  SERVICE_BUSY: ["Retry-After"],
  SERVICE_UNAVAILABLE: ["Retry-After"],
};

// A `title` names a schema: the OpenAPI document lists it once under components.schemas (src/http/openapi-document.ts).
export const FieldProblem = t.Object(
  { field: t.String({ description: "The body property's name (`body` when the body as a whole is wrong)" }), message: t.String() },
  { title: "FieldProblem", additionalProperties: false, examples: [{ field: "email", message: "must be a valid email address" }] },
);

const envelope = <Code extends TSchema>(code: Code, options: object) =>
  t.Object(
    {
      error: t.Object(
        {
          code,
          message: t.String({ description: "Human readable sentence; never echoes the submitted values" }),
          details: t.Optional(
            t.Array(FieldProblem, {
              description: "One entry per offending field: present for VALIDATION_ERROR and EMAIL_DOMAIN_NOT_ALLOWED",
            }),
          ),
        },
        { additionalProperties: false },
      ),
    },
    { additionalProperties: false, ...options },
  );

// UnionEnum's default (its first value) would read as a meaningful default in the document.
const codeEnum = <const Codes extends readonly [ErrorCode, ...ErrorCode[]]>(codes: Codes, options: object = {}) =>
  t.UnionEnum(codes, { description: "Stable machine-readable code", default: undefined, ...options });

/** The error codes, named: generated clients get one enum type. */
export const ErrorCodeSchema = codeEnum(ERROR_CODES, { title: "ErrorCode" });
/** The one error shape with every code: the document's `Error`, which each error response narrows to its codes. */
export const ErrorEnvelope = envelope(ErrorCodeSchema, {
  title: "Error",
  description: "Every error the service answers with: nothing else (no stack trace, SQL or schema internals).",
});

/**
 * The one error shape, with `code` narrowed to the codes that an endpoint answers with at one status:
 * typed clients can switch on `error.value.error.code`, and the OpenAPI document lists them as an enum.
 */
export const errorResponse = <const Codes extends readonly [ErrorCode, ...ErrorCode[]]>(codes: Codes) =>
  envelope(codeEnum(codes), { description: codes.map((code) => `${code}: ${ERROR_CODE_DOCS[code].meaning}`).join("; ") });

// The errors that several endpoints share.
export const InvalidBody = errorResponse(["VALIDATION_ERROR"]);
export const PayloadTooLarge = errorResponse(["PAYLOAD_TOO_LARGE"]);
export const UnsupportedMediaType = errorResponse(["UNSUPPORTED_MEDIA_TYPE"]);
export const Unauthorized = errorResponse(["UNAUTHORIZED"]);
export const NotFound = errorResponse(["NOT_FOUND"]);
export const RateLimited = errorResponse(["RATE_LIMITED"]);
export const InternalError = errorResponse(["INTERNAL_ERROR"]);
/** The database cannot be reached: every endpoint that needs it. */
export const Unavailable = errorResponse(["SERVICE_UNAVAILABLE"]);
/** The endpoints that hash a password: at capacity (SERVICE_BUSY) or without a database (SERVICE_UNAVAILABLE). */
export const BusyOrUnavailable = errorResponse(["SERVICE_BUSY", "SERVICE_UNAVAILABLE"]);
