import { describe, expect, test } from "bun:test";
import { createTestApp } from "../support/app";

// Finding 10: /swagger could be framed by any site; CORS-dependent answers had no Vary: Origin.
describe("security headers", () => {
  test("/swagger cannot be framed by another site", async () => {
    const app = await createTestApp();
    for (const path of ["/swagger", "/swagger/json"]) {
      const res = await app.call("GET", path);
      expect(res.status).toBe(200);
      expect(res.headers.get("x-frame-options")).toBe("DENY");
      expect(res.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    }
  });

  test("with exact CORS origins every answer varies on Origin: allowed, refused and absent alike", async () => {
    const app = await createTestApp({ env: { CORS_ORIGIN: "https://app.classmatefinder.test" } });
    const cases: Record<string, string>[] = [{ origin: "https://app.classmatefinder.test" }, { origin: "https://evil.example" }, {}];
    for (const headers of cases) {
      for (const [method, path] of [
        ["GET", "/health/live"],
        ["POST", "/api/auth/login"],
        ["OPTIONS", "/api/auth/login"],
      ] as const) {
        const res = await app.call(method, path, {
          headers: method === "OPTIONS" ? { ...headers, "access-control-request-method": "POST" } : headers,
          body: method === "POST" ? {} : undefined,
        });
        expect(res.headers.get("vary")).toContain("Origin");
      }
    }
  });
});
