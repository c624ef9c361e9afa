import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freshDatabaseConfig, TEST_DIALECT } from "../support/database";

// Finding 5 as the outside tester met it: a production server answered bodies such as
// {"email":{"toString":1}} with a bare 500 text/plain, logged compiled source, and leaked its in-flight
// count, so that SIGTERM waited the full 10 s grace period.
const ROOT = join(import.meta.dir, "..", "..");
const dir = mkdtempSync(join(tmpdir(), "cmf-production-"));
const services = new Set<ReturnType<typeof Bun.spawn>>();
afterAll(() => {
  for (const service of services) service.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  const server = Bun.serve({ port: 0, fetch: () => new Response() });
  const port = server.port as number;
  await server.stop(true);
  return port;
}

async function waitFor(check: () => Promise<boolean>) {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await Bun.sleep(50);
  }
  throw new Error("the server did not come up");
}

describe(`a production server (${TEST_DIALECT})`, () => {
  test("hostile bodies get a JSON 400 with request id, the log has no error, and SIGTERM does not wait out the grace period", async () => {
    const port = await freePort();
    const env = {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      NODE_ENV: "production",
      JWT_SECRET: "production-test-secret-0123456789abcdefghij",
      DATABASE_URL: TEST_DIALECT === "sqlite" ? `file:${join(dir, "app.db")}` : (await freshDatabaseConfig()).url,
      PORT: String(port),
      HOST: "127.0.0.1",
      CORS_ORIGIN: "https://classmatefinder.com",
    };
    const migrate = Bun.spawnSync([process.execPath, "src/main.ts", "migrate"], { cwd: ROOT, env });
    expect(migrate.exitCode).toBe(0);
    const service = Bun.spawn([process.execPath, "src/main.ts", "serve"], { cwd: ROOT, env, stdout: "pipe", stderr: "pipe" });
    services.add(service);
    const base = `http://127.0.0.1:${port}`;
    await waitFor(async () => (await fetch(`${base}/health/live`).catch(() => null))?.ok === true);

    let deep = "[1]";
    for (let i = 0; i < 5000; i++) deep = `[${deep}]`;
    const bodies = [
      '{"email":{"toString":1},"password":"xxxxxxxx"}',
      '{"email":{"valueOf":1,"toString":1},"password":"xxxxxxxx"}',
      `{"email":${deep},"password":"xxxxxxxx"}`,
    ];
    for (const path of ["/api/auth/login", "/api/auth/register", "/api/auth/forgot-password"]) {
      for (const body of bodies) {
        const res = await fetch(`${base}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body });
        expect(res.status).toBe(400);
        expect(res.headers.get("content-type")).toStartWith("application/json");
        expect(res.headers.get("x-request-id")).toBeTruthy();
        expect(((await res.json()) as { error: { code: string } }).error.code).toBe("VALIDATION_ERROR");
      }
    }

    service.kill("SIGTERM");
    expect(await service.exited).toBe(0);
    const lines = (await new Response(service.stdout).text())
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(lines.filter((line) => line.level === "error" || line.level === "fatal")).toEqual([]);
    expect(lines.filter((line) => String(line.msg).includes("still in flight"))).toEqual([]);
    expect(lines.at(-1).msg).toBe("stopped");
    // Its own timeout: the production default drains 5 s after SIGTERM, and bun applies the preload's
    // default timeout only to the first test file it runs.
  }, 30_000);
});
