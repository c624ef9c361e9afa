import { describe, expect, test } from "bun:test";
import { deleteExpiredRows } from "../../src/db/maintenance";
import { createTestApp, PASSWORD } from "../support/app";
import { freshDatabaseConfig, openTestDatabase } from "../support/database";

const MINUTE = 60_000;
const login = (app: Awaited<ReturnType<typeof createTestApp>>, email: string, password: string, address = "203.0.113.7") =>
  app.call("POST", "/api/auth/login", { body: { email, password }, headers: { "x-forwarded-for": address } });

describe("login rate limits", () => {
  test("after 5 failures the 6th login is 429 with Retry-After, even with the right password, until the window passes", async () => {
    const app = await createTestApp({ env: { TRUST_PROXY: "true" } });
    const { email } = await app.registerUser();
    for (let i = 0; i < 5; i++) expect((await login(app, email, "WrongPass999")).status).toBe(401);
    const blocked = await login(app, email, PASSWORD);
    expect(blocked.status).toBe(429);
    expect(blocked.json.error.code).toBe("RATE_LIMITED");
    const retryAfter = Number(blocked.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(15 * 60);
    // From another address too: the account is what is protected.
    expect((await login(app, email, PASSWORD, "198.51.100.1")).status).toBe(429);
    app.clock.advance(retryAfter * 1000);
    expect((await login(app, email, PASSWORD)).status).toBe(200);
  });

  test("an unknown email is limited exactly like a registered one (a 429 reveals nothing)", async () => {
    const app = await createTestApp({ env: { TRUST_PROXY: "true" } });
    for (let i = 0; i < 5; i++) expect((await login(app, "ghost@ualberta.ca", "WrongPass999")).status).toBe(401);
    expect((await login(app, "ghost@ualberta.ca", "WrongPass999")).status).toBe(429);
  });

  test("successful logins do not count as failures", async () => {
    const app = await createTestApp({ env: { TRUST_PROXY: "true" } });
    const { email } = await app.registerUser();
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 4; i++) expect((await login(app, email, "WrongPass999")).status).toBe(401);
      expect((await login(app, email, PASSWORD)).status).toBe(200);
    }
  });

  test("successful logins from one address do not use up its limit: each one's attempt is taken back", async () => {
    const app = await createTestApp({ env: { TRUST_PROXY: "true", RATE_LIMIT_LOGIN_CLIENT: "3/15m" } });
    const { email } = await app.registerUser();
    for (let i = 0; i < 6; i++) expect((await login(app, email, PASSWORD)).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await login(app, `other${i}@ualberta.ca`, "WrongPass999")).status).toBe(401);
    expect((await login(app, email, PASSWORD)).status).toBe(429);
  });

  test("per client address: failures across accounts add up; other addresses are unaffected", async () => {
    const app = await createTestApp({ env: { TRUST_PROXY: "true", RATE_LIMIT_LOGIN_CLIENT: "3/15m" } });
    for (let i = 0; i < 3; i++) expect((await login(app, `user${i}@ualberta.ca`, "WrongPass999")).status).toBe(401);
    const blocked = await login(app, "user9@ualberta.ca", "WrongPass999");
    expect(blocked.status).toBe(429);
    expect(blocked.headers.get("retry-after")).toMatch(/^\d+$/);
    expect((await login(app, "user9@ualberta.ca", "WrongPass999", "198.51.100.2")).status).toBe(401);
  });

  test("with TRUST_PROXY only the rightmost X-Forwarded-For entry counts: a client cannot forge its way out", async () => {
    const app = await createTestApp({ env: { TRUST_PROXY: "true", RATE_LIMIT_LOGIN_CLIENT: "2/15m" } });
    const forged = (i: number) => `10.0.0.${i}, 203.0.113.50`;
    for (let i = 0; i < 2; i++) await login(app, `a${i}@ualberta.ca`, "WrongPass999", forged(i));
    expect((await login(app, "a9@ualberta.ca", "WrongPass999", forged(9))).status).toBe(429);
  });

  test("without TRUST_PROXY, X-Forwarded-For is ignored", async () => {
    const app = await createTestApp({ env: { RATE_LIMIT_LOGIN_CLIENT: "2/15m" } });
    for (let i = 0; i < 2; i++) await login(app, `b${i}@ualberta.ca`, "WrongPass999", `192.0.2.${i}`);
    expect((await login(app, "b9@ualberta.ca", "WrongPass999", "192.0.2.99")).status).toBe(429);
  });

  test("50 concurrent failed logins are all counted", async () => {
    const app = await createTestApp({ env: { TRUST_PROXY: "true", RATE_LIMIT_LOGIN_ACCOUNT: "50/15m" } });
    const { email } = await app.registerUser();
    const results = await Promise.all(Array.from({ length: 50 }, () => login(app, email, "WrongPass999")));
    expect(results.every((r) => r.status === 401)).toBe(true);
    expect((await login(app, email, PASSWORD)).status).toBe(429);
  });

  test("two instances on one database share the counters", async () => {
    const config = await freshDatabaseConfig();
    const first = await createTestApp({ env: { TRUST_PROXY: "true" }, database: await openTestDatabase(config) });
    // SQLite in memory lives in one connection; PostgreSQL gets a second pool, as a second instance would.
    const second = await createTestApp({
      env: { TRUST_PROXY: "true" },
      database: config.kind === "postgres" ? await openTestDatabase(config) : first.database,
    });
    const { email } = await first.registerUser();
    for (let i = 0; i < 3; i++) expect((await login(first, email, "WrongPass999")).status).toBe(401);
    for (let i = 0; i < 2; i++) expect((await login(second, email, "WrongPass999")).status).toBe(401);
    expect((await login(second, email, PASSWORD)).status).toBe(429);
    expect((await login(first, email, PASSWORD)).status).toBe(429);
  });

  test("expired counters are cleaned up", async () => {
    const app = await createTestApp({ env: { TRUST_PROXY: "true" } });
    await login(app, "clean@ualberta.ca", "WrongPass999");
    const rows = () => app.database.db.select().from(app.database.tables.rateLimits);
    expect((await rows()).length).toBeGreaterThan(0);
    app.clock.advance(16 * MINUTE);
    await deleteExpiredRows(app.database, app.clock.now());
    expect(await rows()).toEqual([]);
  });
});

describe("other per-client limits", () => {
  test("registration attempts, accepted or not, are limited per address", async () => {
    const app = await createTestApp({ env: { TRUST_PROXY: "true", RATE_LIMIT_REGISTER_CLIENT: "2/1h" } });
    const headers = { "x-forwarded-for": "203.0.113.9" };
    expect((await app.call("POST", "/api/auth/register", { body: {}, headers })).status).toBe(400);
    const ok = { email: "r1@ualberta.ca", username: "r_one", password: PASSWORD, firstName: "R" };
    expect((await app.call("POST", "/api/auth/register", { body: ok, headers })).status).toBe(201);
    const blocked = await app.call("POST", "/api/auth/register", { body: { ...ok, email: "r2@ualberta.ca", username: "r_two" }, headers });
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get("retry-after"))).toBeGreaterThan(0);
  });

  test("resend-verification and forgot-password have one counter each per address", async () => {
    const app = await createTestApp({ env: { TRUST_PROXY: "true", RATE_LIMIT_EMAIL_REQUESTS_CLIENT: "2/1h" } });
    const headers = { "x-forwarded-for": "203.0.113.10" };
    for (const path of ["/api/auth/resend-verification", "/api/auth/forgot-password"]) {
      for (let i = 0; i < 2; i++)
        expect((await app.call("POST", path, { body: { email: `x${i}@ualberta.ca` }, headers })).status).toBe(202);
      const blocked = await app.call("POST", path, { body: { email: "x9@ualberta.ca" }, headers });
      expect(blocked.status).toBe(429);
      expect(blocked.headers.get("retry-after")).toMatch(/^\d+$/);
    }
  });
});
