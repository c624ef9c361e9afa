import { describe, expect, test } from "bun:test";
import { Value } from "@sinclair/typebox/value";
import Ajv2020 from "ajv/dist/2020";
import { RegisterBody } from "../../src/auth/schemas";
import { createTestApp, PASSWORD } from "../support/app";

/**
 * The input rules as the OpenAPI document states them (schema constraints) against the service's own rules:
 * the document never refuses what the contract accepts, and what it refuses the service refuses too, with
 * the contract's code and the field named — a constraint never turns a rule's answer into another one.
 */
const app = await createTestApp({ env: { RATE_LIMIT_REGISTER_CLIENT: "10000/1h", RATE_LIMIT_EMAIL_REQUESTS_CLIENT: "10000/1h" } });
const doc = (await app.call("GET", "/swagger/json")).json;
const ajv = new Ajv2020({ allErrors: true, strict: false });
ajv.addSchema(doc, "openapi.json");
const documented = (schema: string) => ajv.getSchema(`openapi.json#/components/schemas/${schema}`)!;
const registerSchema = documented("RegisterRequest");

const valid = { email: "ada@ualberta.ca", username: "ada_l", password: PASSWORD, firstName: "Ada" };
const accepts = (body: object) => registerSchema(body) === true;
const fieldsOf = (res: { json: any }) => (res.json?.error?.details ?? []).map((detail: { field: string }) => detail.field);

const label63 = "b".repeat(63);
/** A 64-character local part at a domain of 63-character labels, `length` characters in all. */
const emailOfLength = (length: number) => {
  const local = `${"a".repeat(64)}@${label63}.${label63}.`;
  return `${local}${"c".repeat(length - local.length - ".ualberta.ca".length)}.ualberta.ca`;
};
const CONTRACT_VALID: [string, unknown][] = [
  ["email", " Ada.Lovelace@UAlberta.CA\t"],
  ["email", `${"a".repeat(64)}@ualberta.ca`],
  ["email", `a@${label63}.ualberta.ca`],
  ["email", emailOfLength(254)],
  ["email", "o'brien+tag@cs.ualberta.ca"],
  ["username", "abc"],
  ["username", "A".repeat(30)],
  ["password", "ﬃﬃﬃ"], // 3 characters as sent, 9 after NFKC
  ["password", "😀".repeat(128)], // 128 code points, 256 UTF-16 units
  ["password", "α\u0313\u0342\u0345".repeat(128)], // 512 characters as sent, 128 after NFKC (ᾇ)
  ["firstName", `   ${"x".repeat(50)}   `],
  ["firstName", "Zoë Ørsted-李"],
  ["lastName", "   "],
  ["lastName", null],
  ["lastName", "x".repeat(50)],
];

describe("the document's constraints never refuse what the contract accepts", () => {
  test.each(CONTRACT_VALID)("%s %j", (field, value) => {
    const body = { ...valid, [field]: value };
    const accepted = accepts(body);
    expect({ accepted, errors: registerSchema.errors }).toEqual({ accepted: true, errors: null });
    // Nor does the request's validation: the rules layer decides, and reports every field at once.
    expect(Value.Check(RegisterBody, body)).toBe(true);
  });
});

const REFUSED_BY_BOTH: [string, unknown][] = [
  ["email", "not an email"],
  ["email", "ada@ualberta"],
  ["email", "ada@-ualberta.ca"],
  ["email", "ada@ualberta..ca"],
  ["email", "ada@ual berta.ca"],
  ["email", ""],
  ["username", "ab"],
  ["username", "a".repeat(31)],
  ["username", "ada-l"],
  ["firstName", ""],
  ["firstName", "   "],
  ["firstName", "x".repeat(51)],
  ["lastName", "x".repeat(51)],
  ["password", ""],
];

describe("what the document refuses, the service refuses with VALIDATION_ERROR naming the field", () => {
  test.each(REFUSED_BY_BOTH)("%s %j", async (field, value) => {
    const body = { ...valid, [field]: value };
    expect(accepts(body)).toBe(false);
    const res = await app.call("POST", "/api/auth/register", { body });
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe("VALIDATION_ERROR");
    expect(fieldsOf(res)).toEqual([field]);
  });

  test("resend-verification and forgot-password: a malformed email is 400 naming email, a well-formed one 202", async () => {
    const emailRequest = documented("EmailRequest");
    for (const path of ["/api/auth/resend-verification", "/api/auth/forgot-password"]) {
      for (const [, value] of REFUSED_BY_BOTH.filter(([field]) => field === "email")) {
        expect(emailRequest({ email: value })).toBe(false);
        const res = await app.call("POST", path, { body: { email: value } });
        expect({ path, value, status: res.status, fields: fieldsOf(res) }).toEqual({ path, value, status: 400, fields: ["email"] });
      }
      expect(emailRequest({ email: " Someone@UAlberta.ca " })).toBe(true);
      expect((await app.call("POST", path, { body: { email: " Someone@UAlberta.ca " } })).status).toBe(202);
    }
  });
});

describe("a schema constraint never turns a rule's answer into another one", () => {
  test("a well-formed address of another university passes the document and is 400 EMAIL_DOMAIN_NOT_ALLOWED naming email", async () => {
    for (const email of [" Ada@Evil.COM ", `${"a".repeat(64)}@gmail.com`, "a@ualberta.ca.evil.com"]) {
      const body = { ...valid, email };
      expect(accepts(body)).toBe(true);
      const res = await app.call("POST", "/api/auth/register", { body });
      expect({ email, status: res.status, code: res.json.error.code, fields: fieldsOf(res) }).toEqual({
        email,
        status: 400,
        code: "EMAIL_DOMAIN_NOT_ALLOWED",
        fields: ["email"],
      });
    }
  });

  test("a password that the document allows and the policy refuses is reported with the other fields at once", async () => {
    const body = { email: "not an email", username: "a!", password: "password1", firstName: "Ada" };
    expect(registerSchema({ ...body, email: valid.email, username: valid.username })).toBe(true);
    const res = await app.call("POST", "/api/auth/register", { body });
    expect(res.status).toBe(400);
    expect(fieldsOf(res).sort()).toEqual(["email", "password", "username"]);
  });

  test("an unknown token passes the document and is 400 INVALID_TOKEN, not a validation error", async () => {
    expect(documented("VerifyEmailRequest")({ token: "not-a-real-token", password: PASSWORD })).toBe(true);
    const res = await app.call("POST", "/api/auth/verify-email", { body: { token: "not-a-real-token", password: PASSWORD } });
    expect({ status: res.status, code: res.json.error.code }).toEqual({ status: 400, code: "INVALID_TOKEN" });
  });
});

describe("every string field: a NUL is 400 VALIDATION_ERROR naming the field, on every endpoint", () => {
  const NUL = "a\u0000b";
  const bodies: [string, string, Record<string, unknown>][] = [
    ["/api/auth/register", "RegisterRequest", { ...valid, lastName: "Lovelace" }],
    ["/api/auth/verify-email", "VerifyEmailRequest", { token: "x".repeat(40), password: PASSWORD }],
    ["/api/auth/resend-verification", "EmailRequest", { email: valid.email }],
    ["/api/auth/login", "LoginRequest", { email: valid.email, password: PASSWORD }],
    ["/api/auth/forgot-password", "EmailRequest", { email: valid.email }],
    ["/api/auth/reset-password", "ResetPasswordRequest", { token: "x".repeat(40), password: PASSWORD }],
    ["/api/auth/change-password", "ChangePasswordRequest", { currentPassword: PASSWORD, newPassword: "Another-Pass-42" }],
  ];
  const cases = bodies.flatMap(([path, schema, body]) => Object.keys(body).map((field) => [path, schema, body, field] as const));

  test.each(cases)("%s %s: %s … %s", async (path, schema, body, field) => {
    expect(documented(schema)({ ...body, [field]: NUL })).toBe(false);
    const res = await app.call("POST", path, { body: { ...body, [field]: NUL } });
    expect({ status: res.status, code: res.json.error.code, fields: fieldsOf(res) }).toEqual({
      status: 400,
      code: "VALIDATION_ERROR",
      fields: [field],
    });
  });
});

describe("rules the document states that the rules layer applies (src/auth/input.ts)", () => {
  // The document refuses these; the request's validation lets them through to the rules, which report every
  // offending field at once (what the rules answer for each is tested with the rules).
  const CONTRACT_REFUSED: [string, string][] = [
    ["email", `${"a".repeat(65)}@ualberta.ca`],
    ["email", `a@${"b".repeat(64)}.ualberta.ca`],
    ["email", emailOfLength(255)],
    ["email", '"alice"@ualberta.ca'],
    ["email", "alice smith@ualberta.ca"],
    ["email", "ålice@ualberta.ca"],
    ["email", "al\u200bice@ualberta.ca"],
    ["firstName", "Ada\u0007"],
    ["lastName", "Love\u0085lace"],
  ];
  test.each(CONTRACT_REFUSED)("%s %j", (field, value) => {
    if (field === "email" && value.length > 254) expect(value.length).toBe(255);
    const body = { ...valid, [field]: value };
    expect(accepts(body)).toBe(false);
    expect(Value.Check(RegisterBody, body)).toBe(true);
  });
});
