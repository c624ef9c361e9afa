import { describe, expect, test } from "bun:test";
import { REVISION } from "../../src/version";
import { createTestApp } from "../support/app";

const app = await createTestApp();

describe("health", () => {
  test("GET /health is 200 with version, revision, uptime and the database check", async () => {
    app.clock.advance(12_000);
    const res = await app.call("GET", "/health");
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ status: "ok", version: "0.1.0", revision: REVISION, uptimeSeconds: 12, checks: { database: "ok" } });
    // The commit of this checkout: two builds of 0.1.0 answer differently.
    const head = Bun.spawnSync(["git", "rev-parse", "--short=12", "HEAD"]).stdout.toString().trim();
    expect(REVISION.startsWith(head)).toBe(true);
  });

  test("GET /health is 503 within 2 seconds when the database hangs", async () => {
    const database = { ...app.database, ping: () => new Promise<void>(() => {}) };
    const { createApp } = await import("../../src/app");
    const { createLogger } = await import("../../src/logger");
    const hung = createApp({ config: app.config, database, logger: createLogger({ logLevel: "silent" }) });
    const res = await hung.app.handle(new Request("http://localhost/health"));
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ status: "unavailable", version: "0.1.0", checks: { database: "error" } });
  });

  test("GET /health/live answers without the database", async () => {
    const database = { ...app.database, ping: () => Promise.reject(new Error("down")) };
    const { createApp } = await import("../../src/app");
    const { createLogger } = await import("../../src/logger");
    const down = createApp({ config: app.config, database, logger: createLogger({ logLevel: "silent" }) });
    const res = await down.app.handle(new Request("http://localhost/health/live"));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok" });
    const ready = await down.app.handle(new Request("http://localhost/health"));
    expect(ready.status).toBe(503);
  });

  test("while draining (after SIGTERM) /health is 503 draining; everything else is served, with Connection: close", async () => {
    const draining = await createTestApp({ env: { CORS_ORIGIN: "https://app.example" } });
    draining.drain.draining = true;
    try {
      const health = await draining.call("GET", "/health");
      expect(health.status).toBe(503);
      expect(health.json).toMatchObject({ status: "draining", checks: { database: "ok" } });
      expect(health.headers.get("connection")).toBe("close");
      const live = await draining.call("GET", "/health/live");
      expect(live.status).toBe(200);
      expect(live.headers.get("connection")).toBe("close");
      const login = await draining.call("POST", "/api/auth/login", { body: { email: "x@mit.edu", password: "WrongPass123" } });
      expect(login.status).toBe(401);
      const preflight = await draining.call("OPTIONS", "/api/auth/login", {
        headers: { origin: "https://app.example", "access-control-request-method": "POST" },
      });
      expect(preflight.status).toBe(204);
      expect(preflight.headers.get("connection")).toBe("close");
    } finally {
      draining.drain.draining = false;
    }
  });

  test("the in-flight count returns to 0 after every kind of answer, a CORS preflight included", async () => {
    const counted = await createTestApp({ env: { CORS_ORIGIN: "https://app.example" } });
    const answers = [
      await counted.call("OPTIONS", "/api/auth/login", {
        headers: { origin: "https://app.example", "access-control-request-method": "POST" },
      }),
      await counted.call("GET", "/nowhere"),
      await counted.call("POST", "/api/auth/login", { body: "x".repeat(20_000) }),
      await counted.call("POST", "/api/auth/login", { body: "email=a", headers: { "content-type": "text/plain" } }),
      await counted.call("POST", "/api/auth/login", { body: "{not json" }),
      await counted.call("GET", "/health"),
    ];
    expect(answers.map((answer) => answer.status)).toEqual([204, 404, 413, 415, 400, 200]);
    expect(counted.inFlight.count).toBe(0);
    await counted.inFlight.idle();
  });
});
