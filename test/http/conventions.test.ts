import { describe, expect, test } from "bun:test";
import { createTestApp } from "../support/app";

const app = await createTestApp({ env: { CORS_ORIGIN: "https://classmatefinder.com,http://localhost:3000" } });
const json = { "content-type": "application/json" };

describe("request bodies", () => {
  test("invalid JSON is 400 VALIDATION_ERROR naming the body", async () => {
    const res = await app.call("POST", "/api/auth/login", { body: '{"email": ', headers: json });
    expect(res.status).toBe(400);
    expect(res.json.error).toMatchObject({ code: "VALIDATION_ERROR", details: [{ field: "body" }] });
  });

  test.each([["[]"], ['"text"'], ["42"], ["null"], ["true"]])("JSON that is not an object (%s) is 400", async (body) => {
    const res = await app.call("POST", "/api/auth/register", { body, headers: json });
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe("VALIDATION_ERROR");
  });

  test("a body over 16 KiB is 413 PAYLOAD_TOO_LARGE", async () => {
    const res = await app.call("POST", "/api/auth/register", { body: { email: "a@ualberta.ca", padding: "x".repeat(17 * 1024) } });
    expect(res.status).toBe(413);
    expect(res.json.error.code).toBe("PAYLOAD_TOO_LARGE");
  });

  test("a form post is 415 UNSUPPORTED_MEDIA_TYPE", async () => {
    for (const contentType of ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x"]) {
      const res = await app.call("POST", "/api/auth/login", {
        body: "email=a%40b.edu&password=x",
        headers: { "content-type": contentType },
      });
      expect(res.status).toBe(415);
      expect(res.json.error.code).toBe("UNSUPPORTED_MEDIA_TYPE");
    }
  });

  test("JSON with a charset parameter is accepted", async () => {
    const res = await app.call("POST", "/api/auth/login", {
      body: JSON.stringify({ email: "x@ualberta.ca", password: "whatever1" }),
      headers: { "content-type": "application/json; charset=utf-8" },
    });
    expect(res.status).toBe(401);
  });
});

describe("headers", () => {
  test("X-Request-Id: a valid incoming id is echoed, an invalid one replaced", async () => {
    const echoed = await app.call("GET", "/health/live", { headers: { "x-request-id": "abc.DEF_123-x" } });
    expect(echoed.headers.get("x-request-id")).toBe("abc.DEF_123-x");
    const replaced = await app.call("GET", "/health/live", { headers: { "x-request-id": "bad id with spaces" } });
    expect(replaced.headers.get("x-request-id")).toMatch(/^[A-Za-z0-9._-]{1,128}$/);
    expect(replaced.headers.get("x-request-id")).not.toBe("bad id with spaces");
    const fresh = await app.call("GET", "/nowhere");
    expect(fresh.headers.get("x-request-id")).toMatch(/^[A-Za-z0-9._-]{1,128}$/);
  });

  test("every /api/auth response has Cache-Control: no-store, errors included; all have nosniff", async () => {
    const responses = [
      await app.call("POST", "/api/auth/login", { body: {} }),
      await app.call("GET", "/api/auth/me"),
      await app.call("POST", "/api/auth/forgot-password", { body: { email: "a@ualberta.ca" } }),
      await app.call("GET", "/api/auth/unknown"),
    ];
    for (const res of responses) {
      expect(res.headers.get("cache-control")).toBe("no-store");
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    }
    const health = await app.call("GET", "/health");
    expect(health.headers.get("x-content-type-options")).toBe("nosniff");
  });

  test("unknown routes are 404 NOT_FOUND in the error shape", async () => {
    for (const [method, path] of [
      ["GET", "/nope"],
      ["POST", "/api/auth/nope"],
      ["DELETE", "/api/auth/login"],
    ] as const) {
      const res = await app.call(method, path);
      expect(res.status).toBe(404);
      expect(res.json).toEqual({ error: { code: "NOT_FOUND", message: expect.any(String) } });
    }
  });
});

describe("CORS", () => {
  test("a listed origin gets CORS headers and a preflight allowing Authorization and Content-Type", async () => {
    const preflight = await app.call("OPTIONS", "/api/auth/login", {
      headers: {
        origin: "http://localhost:3000",
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type",
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe("http://localhost:3000");
    expect(preflight.headers.get("access-control-allow-headers")).toContain("Authorization");
    expect(preflight.headers.get("access-control-allow-headers")).toContain("Content-Type");
    expect(preflight.headers.get("access-control-allow-methods")).toContain("POST");
    const actual = await app.call("GET", "/health/live", { headers: { origin: "https://classmatefinder.com" } });
    expect(actual.headers.get("access-control-allow-origin")).toBe("https://classmatefinder.com");
  });

  test("an unlisted origin gets no CORS headers at all", async () => {
    for (const origin of ["https://evil.com", "https://classmatefinder.com.evil.com", "http://classmatefinder.com"]) {
      const preflight = await app.call("OPTIONS", "/api/auth/login", { headers: { origin, "access-control-request-method": "POST" } });
      const actual = await app.call("GET", "/health/live", { headers: { origin } });
      for (const res of [preflight, actual]) {
        const corsHeaders = [...res.headers.keys()].filter((name) => name.startsWith("access-control-"));
        expect(corsHeaders).toEqual([]);
      }
    }
  });
});
