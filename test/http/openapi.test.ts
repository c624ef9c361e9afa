import { describe, expect, test } from "bun:test";
import { createTestApp } from "../support/app";

const app = await createTestApp();
const doc = (await app.call("GET", "/swagger/json")).json;

const ENDPOINTS: [string, string, number, number[]][] = [
  ["get", "/health", 200, [503]],
  ["get", "/health/live", 200, []],
  ["post", "/api/auth/register", 201, [400, 409, 413, 415, 429]],
  ["post", "/api/auth/verify-email", 200, [400]],
  ["post", "/api/auth/resend-verification", 202, [400, 429]],
  ["post", "/api/auth/login", 200, [400, 401, 403, 429]],
  ["get", "/api/auth/me", 200, [401]],
  ["post", "/api/auth/logout", 204, [401]],
  ["post", "/api/auth/forgot-password", 202, [400, 429]],
  ["post", "/api/auth/reset-password", 200, [400]],
  ["post", "/api/auth/change-password", 200, [400, 401]],
];

describe("GET /swagger/json", () => {
  test("is an OpenAPI 3 document of exactly the contract's endpoints", () => {
    expect(doc.openapi).toStartWith("3.");
    expect(doc.info.version).toBe("0.1.0");
    const listed = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops as object).map((m) => `${m} ${path}`));
    expect(listed.sort()).toEqual(ENDPOINTS.map(([m, p]) => `${m} ${p}`).sort());
  });

  test.each(ENDPOINTS)("%s %s documents its success and error responses", (method, path, success, failures) => {
    const operation = doc.paths[path][method];
    expect(operation.summary).toBeTruthy();
    expect(Object.keys(operation.responses)).toContain(String(success));
    for (const status of failures) {
      expect(Object.keys(operation.responses)).toContain(String(status));
      if (status !== 503) expect(operation.responses[status].content["application/json"].schema.properties.error).toBeDefined();
    }
  });

  test("body endpoints document a JSON request schema", () => {
    const register = doc.paths["/api/auth/register"].post.requestBody.content["application/json"].schema;
    expect(register.required.sort()).toEqual(["email", "firstName", "password", "username"]);
    expect(Object.keys(doc.paths["/api/auth/login"].post.requestBody.content)).toEqual(["application/json"]);
  });

  test("the bearer scheme is declared and used by me, logout and change-password", () => {
    expect(doc.components.securitySchemes.bearerAuth).toEqual({ type: "http", scheme: "bearer", bearerFormat: "JWT" });
    for (const [method, path] of [
      ["get", "/api/auth/me"],
      ["post", "/api/auth/logout"],
      ["post", "/api/auth/change-password"],
    ]) {
      expect(doc.paths[path as string][method as string].security).toEqual([{ bearerAuth: [] }]);
    }
    expect(doc.paths["/api/auth/login"].post.security).toBeUndefined();
  });
});

describe("GET /swagger", () => {
  test("serves the UI with its assets from this service, not a CDN", async () => {
    const page = await app.call("GET", "/swagger");
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    expect(page.text).not.toMatch(/https?:\/\//);
    for (const asset of ["/swagger/assets/swagger-ui-bundle.js", "/swagger/assets/swagger-ui.css"]) {
      expect(page.text).toContain(asset);
      const res = await app.app.handle(new Request(`http://localhost${asset}`));
      expect(res.status).toBe(200);
      expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(10_000);
    }
  });

  test("SWAGGER_ENABLED=false removes both paths", async () => {
    const off = await createTestApp({ env: { SWAGGER_ENABLED: "false" }, database: app.database });
    expect((await off.call("GET", "/swagger")).status).toBe(404);
    expect((await off.call("GET", "/swagger/json")).status).toBe(404);
  });
});
