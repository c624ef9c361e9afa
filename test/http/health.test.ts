import { describe, expect, test } from "bun:test";
import { createTestApp } from "../support/app";

const app = await createTestApp();

describe("health", () => {
  test("GET /health is 200 with version, uptime and the database check", async () => {
    app.clock.advance(12_000);
    const res = await app.call("GET", "/health");
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ status: "ok", version: "0.1.0", uptimeSeconds: 12, checks: { database: "ok" } });
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
});
