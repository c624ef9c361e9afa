import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { freshDatabaseConfig, TEST_DIALECT } from "../support/database";
import { FaultProxy } from "../support/fault-proxy";
import { type ServiceProcess, startServiceProcess } from "../support/service-process";

const PASSWORD = "TestPass123";
// The contract's "within a few seconds", with room for a loaded CI machine: never a hang.
const ANSWERS_WITHIN_MS = 12_000;
const RECOVERS_WITHIN_MS = 30_000;

/** Retries `probe` until it returns true; fails after `timeoutMs`. */
async function eventually(probe: () => Promise<boolean>, timeoutMs = RECOVERS_WITHIN_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`not reached within ${timeoutMs} ms`);
    await Bun.sleep(200);
  }
}

// PostgreSQL only: the proxy sits between the service and a PostgreSQL server (SQLite has no network).
if (TEST_DIALECT === "postgres") {
  // At file level: the database is dropped when the file ends.
  const databaseUrl = (await freshDatabaseConfig()).url;
  setDefaultTimeout(60_000);
  describe("a TCP fault proxy between the service process and PostgreSQL", () => {
    let proxy: FaultProxy;
    let service: ServiceProcess;
    let token = "";
    const email = "outage.student@ualberta.ca";

    /** One request that needs the database: 503 SERVICE_UNAVAILABLE with Retry-After, in time. */
    async function expectUnavailable(method: string, path: string, init?: { body?: unknown; token?: string }) {
      const started = Date.now();
      const res = await service.call(method, path, init);
      expect({ path, status: res.status, code: res.json?.error?.code ?? res.json?.status }).toEqual({
        path,
        status: 503,
        code: path === "/health" ? "unavailable" : "SERVICE_UNAVAILABLE",
      });
      if (path !== "/health") expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
      expect(Date.now() - started).toBeLessThan(ANSWERS_WITHIN_MS);
    }

    const healthy = async () => (await service.call("GET", "/health")).status === 200;

    beforeAll(async () => {
      const database = new URL(databaseUrl);
      proxy = await FaultProxy.start({ hostname: database.hostname, port: Number(database.port || 5432) }, "down");
      database.port = String(proxy.port);
      service = await startServiceProcess({
        DATABASE_URL: database.toString(),
        JWT_SECRET: "outage-test-secret-0123456789abcdef0123456789",
        UNIVERSITY_DOMAINS: ".ualberta.ca",
        DATABASE_POOL_SIZE: "3",
        DATABASE_CONNECT_TIMEOUT: "2s",
        DATABASE_ACQUIRE_TIMEOUT: "2s",
        DATABASE_STATEMENT_TIMEOUT: "2s",
        PASSWORD_HASH_QUEUE_TIMEOUT: "30s",
      });
    });
    afterAll(() => {
      service?.kill();
      proxy?.stop();
    });

    test("start while PostgreSQL is down: live 200, /health and the API 503, each failure logged with its reason; serves once it is up", async () => {
      expect((await service.call("GET", "/health/live")).status).toBe(200);
      await expectUnavailable("GET", "/health");
      await expectUnavailable("POST", "/api/auth/login", { body: { email, password: PASSWORD } });
      const waiting = await service.waitForLine((entry) => entry.msg === "database not usable yet: waiting for it (503 meanwhile)");
      expect(String(waiting.reason)).toMatch(/ECONNREFUSED|refused|CONNECTION/i);

      await proxy.set("up");
      await eventually(healthy);
      const registered = await service.call("POST", "/api/auth/register", {
        body: { email, username: "outage_student", password: PASSWORD, firstName: "Pat" },
      });
      expect(registered.status).toBe(201);
    });

    test("PostgreSQL restarts (every connection cut): no 500, and it serves again within seconds", async () => {
      // Verify the account through the link the log transport printed, then log in.
      const mail = await service.waitForLine((entry) => (entry.email as { to?: string } | undefined)?.to === email);
      const link = new URL(String((mail.email as { link: string }).link));
      expect(
        (await service.call("POST", "/api/auth/verify-email", { body: { token: link.searchParams.get("token"), password: "TestPass123" } }))
          .status,
      ).toBe(200);
      const login = await service.call("POST", "/api/auth/login", { body: { email, password: PASSWORD } });
      expect(login.status).toBe(200);
      token = login.json.token;

      proxy.restart();
      await eventually(async () => {
        const res = await service.call("GET", "/api/auth/me", { token });
        expect([200, 503]).toContain(res.status);
        return res.status === 200;
      });
    });

    test("PostgreSQL down: 503 with Retry-After within seconds on every endpoint that needs it; recovery when it is back", async () => {
      await proxy.set("down");
      await expectUnavailable("GET", "/api/auth/me", { token });
      await expectUnavailable("POST", "/api/auth/login", { body: { email, password: PASSWORD } });
      await expectUnavailable("POST", "/api/auth/forgot-password", { body: { email } });
      await expectUnavailable("GET", "/health");
      expect((await service.call("GET", "/health/live")).status).toBe(200);
      await proxy.set("up");
      await eventually(async () => (await service.call("GET", "/api/auth/me", { token })).status === 200);
    });

    test("PostgreSQL hangs (connections accepted, nothing answered): 503 within the bounds, never a hang; recovery", async () => {
      await proxy.set("hang");
      await expectUnavailable("GET", "/api/auth/me", { token });
      await expectUnavailable("POST", "/api/auth/login", { body: { email, password: PASSWORD } });
      await expectUnavailable("GET", "/health");
      await proxy.set("up");
      await eventually(async () => (await service.call("GET", "/api/auth/me", { token })).status === 200);
      await eventually(healthy);
    });

    test("slow PostgreSQL (every packet delayed): requests are answered correctly, just later", async () => {
      proxy.slowMs = 150;
      await proxy.set("slow");
      const me = await service.call("GET", "/api/auth/me", { token });
      expect(me.status).toBe(200);
      expect(me.json.user.email).toBe(email);
      await proxy.set("up");
    });

    test("answers slower than DATABASE_STATEMENT_TIMEOUT (2 s here), 20 requests at once: each is 503 with Retry-After in time, never a 500", async () => {
      proxy.slowMs = 3000;
      await proxy.set("slow");
      const started = Date.now();
      const answers = await Promise.all(Array.from({ length: 20 }, () => service.call("GET", "/api/auth/me", { token })));
      expect(Date.now() - started).toBeLessThan(ANSWERS_WITHIN_MS);
      await proxy.set("up");
      expect(answers.map((res) => res.status)).toEqual(answers.map(() => 503));
      for (const res of answers) expect(res.headers.get("retry-after")).toBeTruthy();
      await eventually(async () => (await service.call("GET", "/api/auth/me", { token })).status === 200);
    });

    test("through all of it the process stayed up, answered no 500, and wrote no error or fatal line", async () => {
      expect(service.child.exitCode).toBeNull();
      const entries = service.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(entries.filter((entry) => entry.msg === "request" && Number(entry.status) >= 500 && entry.status !== 503)).toEqual([]);
      expect(entries.filter((entry) => entry.level === "error" || entry.level === "fatal")).toEqual([]);
      expect(await service.stop()).toBe(0);
    });
  });
}
