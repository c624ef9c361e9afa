import { describe, expect, test } from "bun:test";
import { createTestApp } from "../support/app";

/**
 * Issue 29, item 7: every body property of the wrong type is named in `details` of the 400, on every
 * endpoint, whatever the other properties hold. Driven by the served OpenAPI document: each JSON request
 * body, its documented example, and which properties may be null, so a new endpoint or field is covered.
 */
const app = await createTestApp({ env: { RATE_LIMIT_REGISTER_CLIENT: "10000/1h", RATE_LIMIT_EMAIL_REQUESTS_CLIENT: "10000/1h" } });
const { email } = await app.registerUser();
const token = await app.login(email);
const doc = (await app.call("GET", "/swagger/json")).json;

type Schema = { type?: string | string[]; anyOf?: Schema[]; $ref?: string; properties?: Record<string, Schema>; example?: unknown };
const resolve = (schema: Schema): Schema =>
  schema.$ref ? resolve(doc.components.schemas[schema.$ref.split("/").pop() as string]) : schema;
const allowsNull = (schema: Schema): boolean =>
  [schema.type].flat().includes("null") || (schema.anyOf ?? []).some((each) => allowsNull(resolve(each)));

const endpoints = Object.entries(doc.paths as Record<string, Record<string, any>>).flatMap(([path, operations]) =>
  Object.entries(operations).flatMap(([method, operation]) => {
    const media = operation.requestBody?.content?.["application/json"];
    if (!media) return [];
    const schema = resolve(media.schema);
    const example = (media.example ?? (Object.values(media.examples ?? {})[0] as { value?: unknown } | undefined)?.value) as Record<
      string,
      unknown
    >;
    const fields = Object.entries(schema.properties ?? {}).map(([name, field]) => ({ name, nullable: allowsNull(resolve(field)) }));
    return [{ method: method.toUpperCase(), path, example, fields }];
  }),
);

const WRONG: [string, unknown][] = [
  ["a number", 123],
  ["a fraction", 1.5],
  ["true", true],
  ["false", false],
  ["an object", { value: "x" }],
  ["an array", ["x"]],
];

async function send(endpoint: (typeof endpoints)[number], body: Record<string, unknown>) {
  const res = await app.call(endpoint.method, endpoint.path, { body, token });
  return {
    status: res.status,
    code: res.json?.error?.code,
    fields: (res.json?.error?.details ?? []).map((d: { field: string }) => d.field),
  };
}

test("the document has the JSON bodies of the contract, each with an example", () => {
  expect(endpoints.map((each) => each.path)).toContain("/api/auth/register");
  expect(endpoints.length).toBeGreaterThanOrEqual(7);
  for (const endpoint of endpoints)
    expect({ path: endpoint.path, example: typeof endpoint.example }).toEqual({ path: endpoint.path, example: "object" });
});

for (const endpoint of endpoints) {
  describe(`${endpoint.method} ${endpoint.path}`, () => {
    for (const field of endpoint.fields) {
      const values: [string, unknown][] = field.nullable ? WRONG : [...WRONG, ["null", null]];
      test.each(values)(`${field.name} is %s: named`, async (_what, value) => {
        const res = await send(endpoint, { ...endpoint.example, [field.name]: value });
        expect(res).toEqual({ status: 400, code: "VALIDATION_ERROR", fields: [field.name] });
      });
    }

    // A value the validator cannot be shown (an object) used to end the check before the others.
    test.each(WRONG)("every field wrong at once, one of them %s: each is named", async (_what, value) => {
      const body = Object.fromEntries(
        endpoint.fields.map((field, index) => [field.name, index === 0 ? value : field.nullable ? 42 : [null, 7, false][index % 3]]),
      );
      const res = await send(endpoint, body);
      expect(res).toEqual({ status: 400, code: "VALIDATION_ERROR", fields: endpoint.fields.map((field) => field.name) });
    });

    const [first, second] = endpoint.fields;
    if (!first || !second) return;
    test("an object and a NUL in one body: both named, the NUL with its own message", async () => {
      const res = await app.call(endpoint.method, endpoint.path, {
        body: { ...endpoint.example, [first.name]: { a: 1 }, [second.name]: "x\u0000" },
        token,
      });
      expect(res.status).toBe(400);
      expect(res.json.error.details).toEqual([
        { field: first.name, message: expect.any(String) },
        { field: second.name, message: "must not contain NUL or unpaired surrogate characters" },
      ]);
    });
  });
}
