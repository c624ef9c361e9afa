import { describe, expect, test } from "bun:test";
import { createTestApp } from "../support/app";
import { conformanceTo } from "../support/openapi-conformance";

// The hook of test/support/app.ts: every response of the shared test app is held against the served document.
const app = await createTestApp();
const conformance = conformanceTo((await app.call("GET", "/swagger/json")).json);

const json = (extra: Record<string, string> = {}) =>
  new Headers({ "content-type": "application/json", "x-request-id": "req-1", "x-content-type-options": "nosniff", ...extra });
const auth = (extra: Record<string, string> = {}) => json({ "cache-control": "no-store", ...extra });
const user = {
  id: "0190c6f2-5b7e-7c3a-9d41-6f2e8a1b4c5d",
  email: "ada@mit.edu",
  username: "ada",
  firstName: "Ada",
  lastName: null,
  emailVerified: true,
  createdAt: "2026-11-27T08:00:00.000Z",
};
const error = (code: string, details?: unknown) => JSON.stringify({ error: { code, message: "m", ...(details ? { details } : {}) } });

describe("a response that conforms passes", () => {
  test("success, error, NotFound and 204", () => {
    expect(conformance.problems("GET", "/api/auth/me", 200, auth(), JSON.stringify({ user }))).toEqual([]);
    const challenge = auth({ "www-authenticate": 'Bearer realm="classmatefinder"' });
    expect(conformance.problems("GET", "/api/auth/me", 401, challenge, error("UNAUTHORIZED"))).toEqual([]);
    expect(conformance.problems("GET", "/nowhere", 404, json(), error("NOT_FOUND"))).toEqual([]);
    expect(
      conformance.problems("POST", "/api/auth/logout", 204, new Headers({ ...Object.fromEntries(auth()), "content-type": "" }), ""),
    ).toEqual([]);
  });
});

describe("what fails the test that produced it", () => {
  test("a status the operation does not document", () => {
    expect(conformance.problems("POST", "/api/auth/login", 418, auth(), error("INTERNAL_ERROR"))).toEqual([
      expect.stringContaining("status 418 is not documented"),
    ]);
  });

  test("a body that drifted from its schema: a field missing, one too many, a wrong type, a code of another status", () => {
    const { email: _, ...withoutEmail } = user;
    expect(conformance.problems("GET", "/api/auth/me", 200, auth(), JSON.stringify({ user: withoutEmail }))).toEqual([
      expect.stringContaining("must have required property 'email'"),
    ]);
    expect(conformance.problems("GET", "/api/auth/me", 200, auth(), JSON.stringify({ user: { ...user, passwordHash: "x" } }))).toEqual([
      expect.stringContaining("must NOT have additional properties"),
    ]);
    expect(
      conformance.problems(
        "GET",
        "/health",
        200,
        json(),
        JSON.stringify({ status: "ok", version: "0.1.0", revision: "0123456789ab", uptimeSeconds: "12", checks: { database: "ok" } }),
      ),
    ).toEqual([expect.stringContaining("/uptimeSeconds must be integer")]);
    const wwwAuthenticate = auth({ "www-authenticate": "Bearer" });
    expect(conformance.problems("POST", "/api/auth/login", 401, wwwAuthenticate, error("EMAIL_NOT_VERIFIED"))).toEqual([
      expect.stringContaining("/error/code must be equal to one of the allowed values"),
    ]);
    // A VALIDATION_ERROR must name the offending fields.
    expect(conformance.problems("POST", "/api/auth/login", 400, auth(), error("VALIDATION_ERROR"))).toEqual([
      expect.stringContaining("must have required property 'details'"),
    ]);
  });

  test("a documented required header missing or malformed", () => {
    expect(conformance.problems("POST", "/api/auth/login", 429, auth(), error("RATE_LIMITED"))).toEqual(["header Retry-After is missing"]);
    expect(conformance.problems("POST", "/api/auth/login", 429, auth({ "retry-after": "soon" }), error("RATE_LIMITED"))).toEqual([
      expect.stringContaining("header Retry-After"),
    ]);
    expect(conformance.problems("GET", "/api/auth/me", 401, auth(), error("UNAUTHORIZED"))).toEqual(["header WWW-Authenticate is missing"]);
    expect(conformance.problems("GET", "/api/auth/me", 200, json(), JSON.stringify({ user }))).toEqual(["header Cache-Control is missing"]);
  });

  test("another content type, a body where none is documented, a route the document does not know", () => {
    const text = auth({ "content-type": "text/plain" });
    expect(conformance.problems("GET", "/api/auth/me", 200, text, "hello")).toEqual([expect.stringContaining('content type "text/plain"')]);
    expect(conformance.problems("POST", "/api/auth/logout", 204, auth(), "{}")).toEqual([
      expect.stringContaining("a body where none is documented"),
    ]);
    expect(conformance.problems("GET", "/api/auth/secret", 200, auth(), "{}")).toEqual([
      expect.stringContaining("is no operation of the document"),
    ]);
  });

  test("through the shared app: a response of a route the document does not describe fails the request", async () => {
    const drifting = await createTestApp({ database: app.database });
    drifting.app.get("/api/auth/undocumented", () => ({ surprise: true }));
    await expect(drifting.call("GET", "/api/auth/undocumented")).rejects.toThrow(/does not conform to the OpenAPI document/);
  });
});
