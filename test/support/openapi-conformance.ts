import Ajv2020, { type ValidateFunction } from "ajv/dist/2020";
import addFormats from "ajv-formats";

/**
 * Holds every response against the OpenAPI document that the app serves: its status is documented for the
 * operation (or, for an unknown path or method, it is the document's NotFound response), its body matches the
 * documented media type and schema, and every documented required header is there with a valid value.
 * test/support/app.ts runs it on every response of the shared test app, so a new test is checked by itself.
 */

type Json = any;
const DOCUMENT_ID = "https://classmatefinder.test/openapi.json";
const pointer = (...keys: string[]) => keys.map((key) => key.replaceAll("~", "~0").replaceAll("/", "~1")).join("/");

/** Not operations of the document: CORS preflights, and the documentation itself. */
// Swagger UI, and the HTML pages the emailed links open (pages, not API: src/pages/link-pages.ts).
const LINK_PAGES = new Set(["/verify-email", "/reset-password"]);
const isOutsideDocument = (method: string, path: string) =>
  method === "OPTIONS" || path === "/swagger" || path.startsWith("/swagger/") || (method === "GET" && LINK_PAGES.has(path));

export class ResponseConformance {
  private readonly ajv: Ajv2020;
  private readonly validators = new Map<string, ValidateFunction>();

  constructor(private readonly doc: Json) {
    // Not strict: the document's schemas carry OpenAPI's own keywords (example) besides JSON Schema's.
    this.ajv = new Ajv2020({ allErrors: true, strict: false, coerceTypes: false });
    addFormats(this.ajv);
    this.ajv.addSchema(doc, DOCUMENT_ID);
  }

  private validator(path: string): ValidateFunction {
    let validate = this.validators.get(path);
    if (!validate) {
      validate = this.ajv.getSchema(`${DOCUMENT_ID}#/${path}`);
      if (!validate) throw new Error(`no schema at #/${path}`);
      this.validators.set(path, validate);
    }
    return validate;
  }

  private resolve(object: Json): { value: Json; at: string[] } {
    const ref: string | undefined = object?.$ref;
    if (!ref) return { value: object, at: [] };
    const at = ref
      .slice(2)
      .split("/")
      .map((key) => key.replaceAll("~1", "/").replaceAll("~0", "~"));
    return { value: at.reduce((node, key) => node?.[key], this.doc), at };
  }

  /** What is wrong with this response (empty when it conforms). */
  problems(method: string, path: string, status: number, headers: Headers, body: string): string[] {
    if (isOutsideDocument(method, path)) return [];
    const operation = this.doc.paths[path]?.[method.toLowerCase()];
    let at: string[];
    if (operation) {
      if (!operation.responses[status])
        return [`status ${status} is not documented (documented: ${Object.keys(operation.responses).join(", ")})`];
      at = ["paths", path, method.toLowerCase(), "responses", String(status)];
    } else {
      if (status !== 404) return [`${method} ${path} is no operation of the document, yet answered ${status} instead of NotFound`];
      at = ["components", "responses", "NotFound"];
    }
    const declared = this.resolve(at.reduce((node: Json, key) => node[key], this.doc));
    if (declared.at.length > 0) at = declared.at;
    const response = declared.value;
    const problems: string[] = [];
    for (const [name, raw] of Object.entries(response.headers ?? {})) {
      const { value: header } = this.resolve(raw);
      const value = headers.get(name);
      if (value === null) {
        if (header.required) problems.push(`header ${name} is missing`);
        continue;
      }
      // Header values are text on the wire; an integer header holds a number's digits.
      const typed = header.schema?.type === "integer" && /^\d+$/.test(value) ? Number(value) : value;
      if (!this.ajv.validate(header.schema, typed)) problems.push(`header ${name}: ${JSON.stringify(value)} ${this.ajv.errorsText()}`);
    }
    const content: Json = response.content;
    if (!content) {
      if (body !== "") problems.push(`a body where none is documented: ${body.slice(0, 200)}`);
      return problems;
    }
    const mediaType = (headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
    if (!content[mediaType])
      return [...problems, `content type ${JSON.stringify(mediaType)} is not documented (${Object.keys(content).join(", ")})`];
    let value: unknown = body;
    if (mediaType === "application/json") {
      try {
        value = JSON.parse(body);
      } catch {
        return [...problems, `the body is not JSON: ${body.slice(0, 200)}`];
      }
    }
    const validate = this.validator(pointer(...at, "content", mediaType, "schema"));
    if (!validate(value)) {
      const where = (validate.errors ?? []).map((error) => `${error.instancePath || "(body)"} ${error.message}`);
      problems.push(`the body does not match its schema: ${[...new Set(where)].join("; ")} in ${body.slice(0, 300)}`);
    }
    return problems;
  }

  /** Throws, naming the request and every problem, unless the response conforms. */
  async check(request: Request, response: Response): Promise<void> {
    const path = new URL(request.url).pathname;
    const body = await response.clone().text();
    const problems = this.problems(request.method, path, response.status, response.headers, body);
    if (problems.length > 0) {
      throw new Error(
        `${request.method} ${path} → ${response.status} does not conform to the OpenAPI document:\n- ${problems.join("\n- ")}`,
      );
    }
  }
}

const byDocument = new Map<string, ResponseConformance>();

/** One checker per distinct document (apps of one configuration serve the same one). */
export function conformanceTo(doc: Json): ResponseConformance {
  const text = JSON.stringify(doc);
  const conformance = byDocument.get(text) ?? new ResponseConformance(doc);
  byDocument.set(text, conformance);
  return conformance;
}
