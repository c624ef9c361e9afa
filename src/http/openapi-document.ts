import { FIELD_MESSAGES } from "../auth/input";
import { ERROR_CODE_DOCS, ErrorEnvelope, HEADERS_OF_CODE } from "./error-schemas";
import type { ErrorCode, FieldProblem } from "./errors";

/**
 * Completes the document that @elysiajs/openapi generates from the route schemas with what those cannot
 * say: named schemas listed once under components.schemas, each error response as the named `Error`
 * narrowed to its codes with one example per code, the response headers, and media-type examples taken from
 * the schemas' own. Everything still comes from the route schemas and the error table; nothing is a copy.
 */

type Json = any;
const schemaRef = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const headerRef = (name: string) => ({ $ref: `#/components/headers/${name}` });

/** The response headers of the contract, as the document's components.headers. */
export const RESPONSE_HEADERS: Record<string, Json> = {
  "X-Request-Id": {
    description:
      "The request's id (the one sent, when it matches [A-Za-z0-9._-]{1,128}, else a new one); the same id is in the request's log line",
    required: true,
    schema: { type: "string", pattern: "^[A-Za-z0-9._-]{1,128}$" },
  },
  "X-Content-Type-Options": { description: "Every response", required: true, schema: { type: "string", enum: ["nosniff"] } },
  "Cache-Control": {
    description: "Every response under /api/auth/ (errors included): never stored by a cache",
    required: true,
    schema: { type: "string", enum: ["no-store"] },
  },
  "Retry-After": { description: "Whole seconds to wait before trying again", required: true, schema: { type: "integer", minimum: 0 } },
  "WWW-Authenticate": {
    description: "The bearer challenge (RFC 6750)",
    required: true,
    schema: { type: "string", pattern: "^Bearer( |$)" },
  },
};

/** VALIDATION_ERROR: the error shape with at least one field problem. */
const VALIDATION_ERROR = {
  description: "VALIDATION_ERROR: the body is not valid JSON, not an object, or breaks field rules; `details` names each offending field",
  allOf: [
    schemaRef("Error"),
    {
      type: "object",
      properties: {
        error: { type: "object", required: ["details"], properties: { code: { enum: ["VALIDATION_ERROR"] }, details: { minItems: 1 } } },
      },
    },
  ],
};

/** The codes of an error response as the route schema (errorResponse) declares them, or undefined. */
export function errorCodesOf(schema: Json): ErrorCode[] | undefined {
  return schema?.properties?.error?.properties?.code?.enum;
}

const narrowedError = (codes: ErrorCode[]) =>
  codes.length === 1 && codes[0] === "VALIDATION_ERROR"
    ? schemaRef("ValidationError")
    : { allOf: [schemaRef("Error"), { type: "object", properties: { error: { type: "object", properties: { code: { enum: codes } } } } }] };

/** One example per code, as the service sends it; a validation error names the operation's first body field. */
function errorExamples(codes: ErrorCode[], bodyFields: string[]): Json {
  const field = bodyFields[0];
  const invalid: FieldProblem = field
    ? { field, message: FIELD_MESSAGES[field] ?? "is invalid" }
    : { field: "body", message: "must be valid JSON" };
  return Object.fromEntries(
    codes.map((code) => {
      const { meaning, message, details } = ERROR_CODE_DOCS[code];
      const problems = code === "VALIDATION_ERROR" ? [invalid] : details;
      const text = code === "VALIDATION_ERROR" && !field ? "The request body is not valid JSON." : message;
      const summary = meaning.charAt(0).toUpperCase() + meaning.slice(1);
      return [code, { summary, value: { error: { code, message: text, ...(problems ? { details: problems } : {}) } } }];
    }),
  );
}

/** The headers of one response: those of every response, of /api/auth/, and of its codes. */
function headersOf(path: string | undefined, codes: ErrorCode[]): Json {
  const headers: Json = { "X-Request-Id": headerRef("X-Request-Id"), "X-Content-Type-Options": headerRef("X-Content-Type-Options") };
  if (path === undefined) headers["Cache-Control"] = { ...RESPONSE_HEADERS["Cache-Control"], required: false };
  else if (path.startsWith("/api/auth/")) headers["Cache-Control"] = headerRef("Cache-Control");
  for (const name of new Set(codes.flatMap((code) => HEADERS_OF_CODE[code] ?? []))) {
    const carriers = codes.filter((code) => HEADERS_OF_CODE[code]?.includes(name));
    headers[name] =
      carriers.length === codes.length
        ? headerRef(name)
        : {
            ...RESPONSE_HEADERS[name],
            required: false,
            description: `${RESPONSE_HEADERS[name].description} (with ${carriers.join(", ")})`,
          };
  }
  return headers;
}

/** The schema's own examples become the media type's example (what Swagger UI's "Try it out" sends). */
function moveExamples(media: Json): void {
  const examples = media?.schema?.examples;
  if (!Array.isArray(examples) || examples.length === 0) return;
  delete media.schema.examples;
  if (examples.length === 1) media.example = examples[0];
  else media.examples = Object.fromEntries(examples.map((value, index) => [`example${index + 1}`, { value }]));
}

function completeResponse(response: Json, path: string | undefined, bodyFields: string[]): Json {
  // A void response (204) is generated with `{ type: "void" }` where the media-type map belongs.
  if (response.content && !Object.keys(response.content).some((key) => key.includes("/"))) delete response.content;
  const media = response.content?.["application/json"];
  const codes = errorCodesOf(media?.schema);
  if (codes) {
    media.schema = narrowedError(codes);
    media.examples = errorExamples(codes, bodyFields);
  } else {
    for (const each of Object.values(response.content ?? {})) moveExamples(each);
  }
  response.headers = headersOf(path, codes ?? []);
  return response;
}

const MAP_KEYWORDS = ["properties", "patternProperties", "$defs"];
const SCHEMA_KEYWORDS = ["items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames"];
const LIST_KEYWORDS = ["allOf", "anyOf", "oneOf", "prefixItems"];

const canonical = (value: Json): string =>
  JSON.stringify(value, (_key, inner) =>
    inner && typeof inner === "object" && !Array.isArray(inner)
      ? Object.fromEntries(Object.entries(inner).sort(([a], [b]) => (a < b ? -1 : 1)))
      : inner,
  );

/** Lists every schema with a `title` once under components.schemas, by that title, and refers to it. */
function hoistNamedSchemas(doc: Json): void {
  const named: Record<string, Json> = doc.components.schemas;
  const visit = (schema: Json, isComponent: boolean): Json => {
    if (!schema || typeof schema !== "object" || Array.isArray(schema)) return schema;
    for (const key of MAP_KEYWORDS) {
      if (schema[key]) schema[key] = Object.fromEntries(Object.entries(schema[key]).map(([name, child]) => [name, visit(child, false)]));
    }
    for (const key of SCHEMA_KEYWORDS) if (schema[key] && typeof schema[key] === "object") schema[key] = visit(schema[key], false);
    for (const key of LIST_KEYWORDS) if (Array.isArray(schema[key])) schema[key] = schema[key].map((child: Json) => visit(child, false));
    if (isComponent || typeof schema.title !== "string") return schema;
    const existing = named[schema.title];
    if (existing && canonical(existing) !== canonical(schema))
      throw new Error(`two different schemas are named ${schema.title}: ${canonical(existing)} ${canonical(schema)}`);
    named[schema.title] = schema;
    return schemaRef(schema.title);
  };
  for (const [name, schema] of Object.entries(named)) named[name] = visit(schema, true);
  const medias = (content: Json) => Object.values(content ?? {}) as Json[];
  for (const item of Object.values(doc.paths) as Json[]) {
    for (const operation of Object.values(item) as Json[]) {
      for (const media of medias(operation.requestBody?.content)) media.schema = visit(media.schema, false);
      for (const response of Object.values(operation.responses ?? {}) as Json[]) {
        for (const media of medias(response.content)) media.schema = visit(media.schema, false);
      }
    }
  }
}

/** The served document: the generated one, completed (a new object; the generated one is left as it is). */
export function completeDocument(generated: Json): Json {
  const doc = JSON.parse(JSON.stringify(generated));
  doc.components ??= {};
  doc.components.schemas = {
    ...doc.components.schemas,
    Error: JSON.parse(JSON.stringify(ErrorEnvelope)),
    ValidationError: VALIDATION_ERROR,
  };
  doc.components.headers = RESPONSE_HEADERS;
  // Any unknown path or method: the one answer that belongs to no operation.
  const notFound = {
    description: `NOT_FOUND: ${ERROR_CODE_DOCS.NOT_FOUND.meaning} (any unknown path or method)`,
    headers: headersOf(undefined, ["NOT_FOUND"]),
    content: { "application/json": { schema: narrowedError(["NOT_FOUND"]), examples: errorExamples(["NOT_FOUND"], []) } },
  };
  doc.components.responses = { NotFound: notFound };
  for (const [path, item] of Object.entries(doc.paths) as [string, Json][]) {
    for (const operation of Object.values(item) as Json[]) {
      // Public unless the route says otherwise: tools then do not send the bearer token document-wide.
      operation.security ??= [];
      const body = operation.requestBody?.content?.["application/json"];
      moveExamples(body);
      // Unknown body properties are ignored (Elysia strips them, marking the schema closed when it first
      // compiles it): the document keeps request bodies open, before and after the first request alike.
      if (body?.schema) delete body.schema.additionalProperties;
      const bodyFields = Object.keys(body?.schema?.properties ?? {});
      for (const [status, response] of Object.entries(operation.responses ?? {}) as [string, Json][]) {
        const codes = errorCodesOf(response.content?.["application/json"]?.schema);
        operation.responses[status] =
          codes?.length === 1 && codes[0] === "NOT_FOUND"
            ? { $ref: "#/components/responses/NotFound" }
            : completeResponse(response, path, bodyFields);
      }
    }
  }
  hoistNamedSchemas(doc);
  // A scheme that no operation uses (metricsToken without METRICS_TOKEN) would only mislead.
  const used = new Set(
    Object.values(doc.paths).flatMap((item: Json) => Object.values(item).flatMap((op: Json) => op.security.flatMap(Object.keys))),
  );
  for (const name of Object.keys(doc.components.securitySchemes ?? {})) if (!used.has(name)) delete doc.components.securitySchemes[name];
  return doc;
}
