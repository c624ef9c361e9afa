/**
 * The OpenAPI document as Postman users get it (issue 29): fetched from the service, converted by
 * openapi-to-postmanv2 with the document's own examples (parametersResolution "Example", Postman's
 * "Parameter generation: Example"), and the collection run by newman against the same service. Every
 * request must answer as the document says: a status it lists for that operation, a body that its schema
 * for that status accepts, the headers it marks required, and no 5xx or VALIDATION_ERROR (the examples
 * are valid requests). Driven by the document only: new endpoints and changed bodies need no change here.
 *
 *   node check.mjs http://127.0.0.1:5000
 *
 * Prints one `ok`/`not ok` line per check; exit status 1 when any fails.
 */
import { createRequire } from "node:module";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const require = createRequire(import.meta.url);
const { convertV2 } = require("openapi-to-postmanv2");
const newman = require("newman");

const base = process.argv[2];
if (!base) {
  console.error("usage: node check.mjs <the service's URL>");
  process.exit(64);
}
let failed = 0;
const report = (ok, name, problems = []) => {
  console.log(`${ok ? "ok" : "not ok"} - ${name}`);
  for (const problem of problems) console.log(`    ${problem}`);
  if (!ok) failed++;
};

const doc = await (await fetch(`${base}/swagger/json`)).json();
const server = doc.servers?.[0]?.url;
report(server === base, `the document's servers entry is the absolute URL it was fetched from (${server})`);

/** The document with every local $ref replaced by what it points at (the schemas have no cycles). */
const resolve = (value) => {
  if (Array.isArray(value)) return value.map(resolve);
  if (!value || typeof value !== "object") return value;
  if (typeof value.$ref === "string" && value.$ref.startsWith("#/")) {
    const target = value.$ref
      .slice(2)
      .split("/")
      .reduce((node, key) => node[key.replaceAll("~1", "/").replaceAll("~0", "~")], doc);
    return resolve(target);
  }
  return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, resolve(inner)]));
};
const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
const operations = Object.entries(doc.paths).flatMap(([path, item]) =>
  Object.keys(item)
    .filter((method) => METHODS.includes(method))
    .map((method) => ({
      method,
      path,
      pattern: new RegExp(`^${path.replace(/\{[^/]+\}/g, "[^/]+")}$`),
      operation: resolve(item[method]),
    })),
);

const { collection, conversion } = await new Promise((done, fail) =>
  convertV2({ type: "json", data: doc }, { parametersResolution: "Example" }, (error, result) =>
    error ? fail(error) : done({ collection: result.output?.[0]?.data, conversion: result }),
  ),
);
report(conversion.result === true && collection, "openapi-to-postmanv2 converts the document", [conversion.reason].filter(Boolean));
const requests = [];
const walk = (items) => {
  for (const item of items ?? []) item.item ? walk(item.item) : requests.push(item);
}; // folders hold requests
walk(collection?.item);
const baseUrl = collection?.variable?.find((variable) => variable.key === "baseUrl")?.value;
report(baseUrl === base, `the collection's baseUrl is the service's URL (${baseUrl})`);
report(requests.length === operations.length, `the collection has one request per operation (${requests.length} of ${operations.length})`);

const summary = await new Promise((done, fail) =>
  newman.run({ collection, reporters: [], timeoutRequest: 10_000 }, (error, result) => (error ? fail(error) : done(result))),
);

const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
const validate = (schema, value) => (ajv.validate(schema, value) ? [] : ajv.errors.map((e) => `${e.instancePath || "/"} ${e.message}`));
/** A header's text as its schema's type wants it (Retry-After is an integer). */
const headerValue = (schema, text) => (schema?.type === "integer" || schema?.type === "number" ? Number(text) : text);

const seen = new Set();
for (const execution of summary.run.executions) {
  const method = execution.request.method.toLowerCase();
  const path = `/${(execution.request.url.path ?? []).join("/")}`;
  const name = `${method.toUpperCase()} ${execution.request.url.path ? path : execution.request.url.toString()}`;
  const found = operations.find((each) => each.method === method && each.pattern.test(path));
  if (execution.requestError || !execution.response) {
    report(false, `${name}: no answer`, [String(execution.requestError?.message ?? execution.requestError)]);
    continue;
  }
  const response = execution.response;
  const status = response.code;
  if (!found) {
    report(false, `${name} → ${status}: the collection has a request the document does not list`);
    continue;
  }
  seen.add(found);
  const problems = [];
  const documented = found.operation.responses ?? {};
  const answer = documented[String(status)] ?? documented[`${String(status)[0]}XX`] ?? documented.default;
  if (!answer) problems.push(`status ${status} is not documented (documented: ${Object.keys(documented).join(", ")})`);
  if (status >= 500) problems.push(`a ${status} for the document's own example`);
  const text = response.text();
  const type = (response.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
  let body;
  if (type.endsWith("json")) {
    try {
      body = JSON.parse(text);
    } catch {
      problems.push("the body is not JSON");
    }
  }
  if (body?.error?.code === "VALIDATION_ERROR") problems.push(`the document's example is refused: ${JSON.stringify(body.error.details)}`);
  if (answer) {
    const content = answer.content ?? {};
    const media = Object.keys(content).find((key) => key.split(";")[0].trim().toLowerCase() === type);
    if (Object.keys(content).length > 0 && !media) {
      problems.push(`content type "${type}" is not documented (documented: ${Object.keys(content).join(", ")})`);
    }
    if (media && body !== undefined && content[media].schema) problems.push(...validate(content[media].schema, body));
    if (Object.keys(content).length === 0 && text.length > 0) problems.push(`a body where the document has none: ${text.slice(0, 80)}`);
    for (const [header, spec] of Object.entries(answer.headers ?? {})) {
      const value = response.headers.get(header);
      if (value === undefined || value === null) {
        if (spec.required) problems.push(`required header ${header} is missing`);
      } else if (spec.schema) {
        problems.push(...validate(spec.schema, headerValue(spec.schema, value)).map((problem) => `header ${header}: ${problem}`));
      }
    }
  }
  const code = body?.error?.code ? ` ${body.error.code}` : "";
  report(problems.length === 0, `${name} → ${status}${code}: as documented`, problems);
}
const missing = operations.filter((each) => !seen.has(each)).map((each) => `${each.method.toUpperCase()} ${each.path}`);
report(missing.length === 0, "newman sent a request for every operation of the document", missing);

console.log(`postman: ${summary.run.executions.length} requests run by newman, ${failed} checks failed`);
process.exit(failed === 0 ? 0 : 1);
