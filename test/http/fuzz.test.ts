import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { createTestApp } from "../support/app";

const app = await createTestApp();
const { email } = await app.registerUser();
const token = await app.login(email);

const ENDPOINTS = [
  "/api/auth/register",
  "/api/auth/verify-email",
  "/api/auth/resend-verification",
  "/api/auth/login",
  "/api/auth/logout",
  "/api/auth/forgot-password",
  "/api/auth/reset-password",
  "/api/auth/change-password",
];
const FIELDS = ["email", "username", "password", "firstName", "lastName", "token", "currentPassword", "newPassword", "emailVerified"];

/** Objects with the contract's field names and arbitrary values: these reach the rules, not just the schema. */
const plausibleBody = fc.dictionary(fc.constantFrom(...FIELDS), fc.oneof(fc.string(), fc.jsonValue(), fc.emailAddress()), { maxKeys: 6 });

/** Values that once crashed Elysia's validator or the database: the outside test's finding 5 and 6. */
const nested = (depth: number, leaf: unknown, asObject: boolean) => {
  let value = leaf;
  for (let i = 0; i < depth; i++) value = asObject ? { a: value } : [value];
  return value;
};
const hostileValue = fc.oneof(
  fc.record({ toString: fc.jsonValue() }),
  fc.record({ valueOf: fc.jsonValue(), toString: fc.jsonValue() }),
  fc.dictionary(fc.constantFrom("toString", "valueOf", "constructor", "__proto__", "toJSON"), fc.jsonValue(), { minKeys: 1 }),
  fc.tuple(fc.integer({ min: 1, max: 6000 }), fc.jsonValue(), fc.boolean()).map(([depth, leaf, asObject]) => nested(depth, leaf, asObject)),
  fc.tuple(fc.string(), fc.string()).map(([a, b]) => `${a}\u0000${b}`),
  fc.tuple(fc.string(), fc.constantFrom("\ud800", "\udfff", "\udbff", "\udc00x")).map(([a, b]) => `${a}${b}`),
  fc.string({ unit: "binary" }),
);
const hostileBody = fc.oneof(
  fc.dictionary(fc.constantFrom(...FIELDS), fc.oneof(hostileValue, fc.string(), fc.emailAddress()), { minKeys: 1, maxKeys: 6 }),
  hostileValue,
);

async function expectWellFormed(path: string, init: RequestInit) {
  const res = await app.app.handle(new Request(`http://localhost${path}`, { method: "POST", ...init }));
  expect(res.status).toBeLessThan(500);
  if (res.status >= 400) {
    const body = (await res.json()) as { error: Record<string, unknown> };
    expect(body).toEqual({ error: expect.objectContaining({ code: expect.stringMatching(/^[A-Z_]+$/), message: expect.any(String) }) });
    expect(Object.keys(body.error).every((key) => ["code", "message", "details"].includes(key))).toBe(true);
  }
}

describe("arbitrary input never causes a 500", () => {
  test("arbitrary JSON values", async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ENDPOINTS), fc.jsonValue(), fc.boolean(), async (path, value, authed) =>
        expectWellFormed(path, {
          headers: { "content-type": "application/json", ...(authed ? { authorization: `Bearer ${token}` } : {}) },
          body: JSON.stringify(value),
        }),
      ),
      { numRuns: 300 },
    );
  });

  test("objects with the contract's field names and arbitrary values", async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ENDPOINTS), plausibleBody, async (path, body) =>
        expectWellFormed(path, { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }),
      ),
      { numRuns: 300 },
    );
  });

  test("hostile values: objects with toString/valueOf, deep nesting, NULs, lone surrogates", async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ENDPOINTS), hostileBody, fc.boolean(), async (path, body, authed) =>
        expectWellFormed(path, {
          headers: { "content-type": "application/json", ...(authed ? { authorization: `Bearer ${token}` } : {}) },
          body: JSON.stringify(body),
        }),
      ),
      { numRuns: 300 },
    );
  });

  test("arbitrary bytes with arbitrary content types", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...ENDPOINTS),
        fc.oneof(fc.string(), fc.uint8Array({ maxLength: 200 })),
        fc.constantFrom(
          "application/json",
          "text/plain",
          "application/x-www-form-urlencoded",
          "",
          "application/json; charset=utf-8",
          "application/xml",
        ),
        async (path, body, contentType) => expectWellFormed(path, { headers: contentType ? { "content-type": contentType } : {}, body }),
      ),
      { numRuns: 300 },
    );
  });
});
