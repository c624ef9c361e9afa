import { describe, expect, test } from "bun:test";
import { mkdirSync, renameSync } from "node:fs";
import { join, resolve } from "node:path";
import SwaggerParser from "@apidevtools/swagger-parser";
import { createTestApp } from "../support/app";
import { inlined } from "../support/openapi";

const ROOT = resolve(import.meta.dir, "../..");
const app = await createTestApp();
const doc = (await app.call("GET", "/swagger/json")).json;
const flat = inlined(doc);
// As a deployment serves it (its servers entry names the host: the linters refuse localhost there).
const deployed = await (await app.app.handle(new Request("https://api.classmatefinder.com/swagger/json"))).json();

const ENDPOINTS: [string, string, number, number[]][] = [
  ["get", "/health", 200, [500, 503]],
  ["get", "/health/live", 200, [500]],
  ["post", "/api/auth/register", 201, [400, 409, 413, 415, 429, 500, 503]],
  ["post", "/api/auth/verify-email", 200, [400, 401, 413, 415, 429, 500, 503]],
  ["post", "/api/auth/resend-verification", 202, [400, 413, 415, 429, 500, 503]],
  ["post", "/api/auth/login", 200, [400, 401, 403, 413, 415, 429, 500, 503]],
  ["get", "/api/auth/me", 200, [401, 500, 503]],
  ["post", "/api/auth/logout", 204, [400, 401, 413, 415, 500, 503]],
  ["post", "/api/auth/forgot-password", 202, [400, 413, 415, 429, 500, 503]],
  ["post", "/api/auth/reset-password", 200, [400, 413, 415, 500, 503]],
  ["post", "/api/auth/change-password", 200, [400, 401, 413, 415, 429, 500, 503]],
  ["get", "/metrics", 200, [401, 404, 500]],
  ["patch", "/api/auth/me", 200, [400, 401, 409, 413, 415, 500, 503]],
  ["post", "/api/auth/logout-all", 204, [400, 401, 413, 415, 500, 503]],
  ["delete", "/api/auth/me", 204, [400, 401, 413, 415, 429, 500, 503]],
];
const operations = ENDPOINTS.map(([method, path]) => ({ method, path, operation: doc.paths[path][method] }));

/** Runs a linter's command line under Bun (offline: both are dev dependencies) on the document a deployment serves. */
async function lint(cli: string, args: string[]): Promise<{ exitCode: number; stdout: string }> {
  // At a fixed path: Redocly's ignore file (.redocly.lint-ignore.yaml) names the file it applies to.
  mkdirSync(join(ROOT, "test-artifacts"), { recursive: true });
  // Written aside and renamed: a run on the other database at the same moment never reads half a file.
  const aside = join(ROOT, `test-artifacts/openapi.json.${process.pid}`);
  await Bun.write(aside, JSON.stringify(deployed, null, 2));
  renameSync(aside, join(ROOT, "test-artifacts/openapi.json"));
  const child = Bun.spawn([process.execPath, "--bun", join(ROOT, "node_modules/.bin", cli), ...args, "test-artifacts/openapi.json"], {
    cwd: ROOT,
    env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true", NO_COLOR: "1" },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, exitCode] = await Promise.all([new Response(child.stdout).text(), child.exited]);
  return { exitCode, stdout };
}

describe("GET /swagger/json is a document that third-party tools accept", () => {
  test("@apidevtools/swagger-parser validates it", async () => {
    await expect(SwaggerParser.validate(structuredClone(doc))).resolves.toBeDefined();
  });

  test("@redocly/cli lint (recommended rules, redocly.yaml) finds no error and no warning", async () => {
    const { stdout } = await lint("redocly", ["lint", "--config", "redocly.yaml", "--format=json"]);
    const report = JSON.parse(stdout.slice(stdout.indexOf("{")));
    expect(report.problems.map((problem: any) => `${problem.ruleId}: ${problem.message}`)).toEqual([]);
    expect(report.totals).toMatchObject({ errors: 0, warnings: 0 });
  }, 60_000);

  test("Spectral's spectral:oas (.spectral.yaml) finds nothing, down to hints", async () => {
    const { exitCode, stdout } = await lint("spectral", ["lint", "--ruleset", ".spectral.yaml", "--format=json", "--fail-severity=hint"]);
    const results = JSON.parse(stdout.slice(stdout.indexOf("["), stdout.lastIndexOf("]") + 1));
    expect(results.map((result: any) => `${result.code} at ${result.path.join(".")}: ${result.message}`)).toEqual([]);
    expect(exitCode).toBe(0);
  }, 60_000);
});

describe("the document's content", () => {
  test("OpenAPI 3.1 with every endpoint of the contract, servers, license, contact and described tags", () => {
    expect(doc.openapi).toStartWith("3.1");
    expect(doc.info).toMatchObject({ version: "0.1.0", license: { name: expect.any(String) }, contact: { name: expect.any(String) } });
    expect(doc.servers).toEqual([{ url: "http://localhost", description: expect.any(String) }]);
    const listed = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops as object).map((method) => `${method} ${path}`));
    expect(listed.sort()).toEqual(ENDPOINTS.map(([method, path]) => `${method} ${path}`).sort());
    const tags = doc.tags.map((tag: any) => tag.name);
    for (const { operation } of operations) expect(tags).toEqual(expect.arrayContaining(operation.tags));
    for (const tag of doc.tags) expect(tag.description).toBeTruthy();
  });

  // Issue 29: a relative "/" made Postman's import send to "http:////api/auth/…"; tools need an absolute URL.
  test.each([
    ["http://api.example.test/swagger/json", {}, "false", "http://api.example.test"],
    ["http://api.example.test:8080/swagger/json", {}, "false", "http://api.example.test:8080"],
    ["http://api.example.test/swagger/json", { "x-forwarded-proto": "https" }, "true", "https://api.example.test"],
    ["http://api.example.test/swagger/json", { "x-forwarded-proto": "https" }, "false", "http://api.example.test"],
    ["http://api.example.test/swagger/json", { "x-forwarded-proto": "gopher" }, "true", "http://api.example.test"],
  ] as const)("servers: %s with %j, TRUST_PROXY=%s: %s, the address the request reached", async (url, headers, trustProxy, server) => {
    const served = await createTestApp({ env: { TRUST_PROXY: trustProxy } });
    const res = await served.app.handle(new Request(url, { headers }));
    expect(((await res.json()) as { servers: unknown }).servers).toEqual([{ url: server, description: expect.any(String) }]);
  });

  test.each(ENDPOINTS)(
    "%s %s documents its success and every error status, each error as the named Error",
    (method, path, success, failures) => {
      const operation = doc.paths[path][method];
      expect(operation.operationId).toBeTruthy();
      expect(operation.summary).toBeTruthy();
      expect(operation.description).toBeTruthy();
      expect(Object.keys(operation.responses).sort()).toEqual([success, ...failures].map(String).sort());
      for (const status of failures) {
        const schema = flat.paths[path][method].responses[status].content["application/json"].schema;
        if (path === "/health" && status === 503) continue; // readiness has its own body
        expect(Object.keys(schema.properties)).toEqual(["error"]);
        const codes: string[] = schema.properties.error.properties.code.enum;
        expect(codes.length).toBeGreaterThan(0);
        // One example per code, each in the error shape with that code.
        const examples = flat.paths[path][method].responses[status].content["application/json"].examples;
        expect(Object.keys(examples).sort()).toEqual([...codes].sort());
        for (const code of codes) expect(examples[code].value.error.code).toBe(code);
        const raw = operation.responses[status].$ref ?? JSON.stringify(operation.responses[status].content["application/json"].schema);
        expect(raw).toMatch(/#\/components\/(schemas\/(Error|ValidationError)|responses\/NotFound)/);
      }
    },
  );

  test("named schemas: the user, the session and the error envelope are components, never inlined", () => {
    expect(Object.keys(doc.components.schemas)).toEqual(
      expect.arrayContaining([
        "User",
        "Session",
        "Error",
        "ValidationError",
        "ErrorCode",
        "FieldProblem",
        "RegisterRequest",
        "LoginRequest",
      ]),
    );
    // The operations' schemas only refer to them: the user's and the error's properties are not repeated.
    const schemas = operations.flatMap(({ operation }) =>
      [operation.requestBody, ...Object.values<any>(operation.responses)].flatMap((part) =>
        Object.values<any>(part?.content ?? {}).map((media) => media.schema),
      ),
    );
    expect(JSON.stringify(schemas)).not.toContain("emailVerified");
    expect(JSON.stringify(schemas)).not.toContain("details");
    expect(doc.components.schemas.Session.properties.user).toEqual({ $ref: "#/components/schemas/User" });
    expect(flat.components.schemas.ErrorCode.enum).toEqual(
      expect.arrayContaining(["VALIDATION_ERROR", "NOT_FOUND", "SERVICE_UNAVAILABLE"]),
    );
  });

  test("response headers: X-Request-Id everywhere, Cache-Control under /api/auth, Retry-After on 429/503, WWW-Authenticate on 401", () => {
    for (const { method, path } of operations) {
      for (const [status, response] of Object.entries<any>(flat.paths[path][method].responses)) {
        const headers = response.headers ?? {};
        const at = `${method} ${path} ${status}`;
        expect({ at, requestId: headers["X-Request-Id"]?.required }).toEqual({ at, requestId: true });
        // NotFound (any unknown path) has it only under /api/auth/.
        const cache = path.startsWith("/api/auth/") ? true : status === "404" ? false : undefined;
        expect({ at, cache: headers["Cache-Control"]?.required }).toEqual({ at, cache });
        const codes: string[] = response.content?.["application/json"]?.schema?.properties?.error?.properties?.code?.enum ?? [];
        const retry = status === "429" || (status === "503" && codes.length > 0);
        expect({ at, retryAfter: headers["Retry-After"]?.required }).toEqual({ at, retryAfter: retry ? true : undefined });
        const challenge = codes.includes("UNAUTHORIZED");
        expect({ at, challenge: headers["WWW-Authenticate"]?.required }).toEqual({ at, challenge: challenge ? true : undefined });
      }
    }
    expect(flat.components.responses.NotFound.headers["X-Request-Id"].required).toBe(true);
  });

  test("the bearer scheme on me, logout, logout-all and change-password; every other operation says security: []", () => {
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: "http", scheme: "bearer", bearerFormat: "JWT" });
    const bearer = [
      "get /api/auth/me",
      "patch /api/auth/me",
      "delete /api/auth/me",
      "post /api/auth/logout",
      "post /api/auth/logout-all",
      "post /api/auth/change-password",
    ];
    for (const { method, path, operation } of operations) {
      expect(operation.security).toEqual(bearer.includes(`${method} ${path}`) ? [{ bearerAuth: [] }] : []);
    }
  });

  test("logout's 204 has no content; /health's uptimeSeconds is an integer; bodies are JSON only", () => {
    expect(doc.paths["/api/auth/logout"].post.responses["204"].content).toBeUndefined();
    expect(flat.paths["/health"].get.responses["200"].content["application/json"].schema.properties.uptimeSeconds).toMatchObject({
      type: "integer",
    });
    for (const { operation } of operations) {
      if (operation.requestBody) expect(Object.keys(operation.requestBody.content)).toEqual(["application/json"]);
    }
    expect(flat.paths["/api/auth/register"].post.requestBody.content["application/json"].schema.required.sort()).toEqual([
      "email",
      "firstName",
      "password",
      "username",
    ]);
  });

  test("the document does not change once the routes have answered (Elysia compiles response schemas lazily)", async () => {
    const again = await createTestApp({ database: app.database });
    await again.registerUser();
    await again.call("GET", "/health");
    await again.call("GET", "/metrics");
    expect((await again.call("GET", "/swagger/json")).json).toEqual(doc);
  });
});

describe("the document's examples work as they are against a development server", () => {
  const example = (path: string) => doc.paths[path].post.requestBody.content["application/json"].example;

  test("register's example is 201; login's is 403 until the address is verified, then 200", async () => {
    const dev = await createTestApp({ env: { UNIVERSITY_DOMAINS: ".edu" } });
    expect((await dev.call("POST", "/api/auth/register", { body: example("/api/auth/register") })).status).toBe(201);
    expect(example("/api/auth/login").email).toBe(example("/api/auth/register").email);
    const refused = await dev.call("POST", "/api/auth/login", { body: example("/api/auth/login") });
    expect(refused.status).toBe(403);
    await dev.outbox.deliverDue();
    const verified = await dev.call("POST", "/api/auth/verify-email", {
      body: { ...example("/api/auth/verify-email"), token: dev.mail.tokenFor(example("/api/auth/register").email) },
    });
    expect(verified.status).toBe(200);
    const session = await dev.call("POST", "/api/auth/login", { body: example("/api/auth/login") });
    expect(session.status).toBe(200);
    const changed = await dev.call("POST", "/api/auth/change-password", {
      body: example("/api/auth/change-password"),
      token: session.json.token,
    });
    expect(changed.status).toBe(200);
    for (const path of ["/api/auth/resend-verification", "/api/auth/forgot-password"]) {
      expect((await dev.call("POST", path, { body: example(path) })).status).toBe(202);
    }
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
