import { describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { argon2idHasher, argon2idParams, type PasswordHasher } from "../../src/auth/password-hasher";
import { createTestApp, PASSWORD, TEST_HASHER } from "../support/app";

/** The test hasher, except that while `held` is set every verification waits until `release()`. */
function holdableHasher() {
  let gate: Promise<void> | null = null;
  let open = () => {};
  let entered = () => {};
  const hasher: PasswordHasher = {
    ...TEST_HASHER,
    verify: async (password, hash) => {
      entered();
      if (gate) await gate;
      return TEST_HASHER.verify(password, hash);
    },
  };
  return {
    hasher,
    /** Holds every verification from now on; resolves once the first one is waiting. */
    hold(): Promise<void> {
      gate = new Promise((resolve) => {
        open = resolve;
      });
      return new Promise((resolve) => {
        entered = resolve;
      });
    },
    release() {
      gate = null;
      open();
    },
  };
}

describe("a login flood (password hashing at capacity)", () => {
  test("the excess gets 503 SERVICE_BUSY with Retry-After quickly, is not counted as attempts, and the rest of the API answers", async () => {
    const slow = holdableHasher();
    const app = await createTestApp({
      hasher: slow.hasher,
      env: { PASSWORD_HASH_CONCURRENCY: "1", PASSWORD_HASH_QUEUE_TIMEOUT: "50ms", RATE_LIMIT_LOGIN_ACCOUNT: "3/15m" },
    });
    const holder = await app.registerUser();
    const { email } = await app.registerUser();
    const token = await app.login(email);

    const holding = slow.hold();
    const first = app.call("POST", "/api/auth/login", { body: { email: holder.email, password: PASSWORD } });
    // Only once the first login holds the slot: its database look-ups may take longer than the others'.
    await holding;
    const flood = await Promise.all(
      [1, 2, 3].map(() => app.call("POST", "/api/auth/login", { body: { email, password: "WrongPass123" } })),
    );
    for (const res of flood) {
      expect(res.status).toBe(503);
      expect(res.headers.get("retry-after")).toBe("1");
      expect(res.json.error.code).toBe("SERVICE_BUSY");
    }
    // Everything that needs no password hash is unaffected while the hashing slot is taken.
    expect((await app.call("GET", "/health")).status).toBe(200);
    expect((await app.call("GET", "/api/auth/me", { token })).status).toBe(200);

    slow.release();
    expect((await first).status).toBe(200);
    // Had the three turned-away wrong passwords counted, a fourth would reach the limit (3) and get 429.
    expect((await app.call("POST", "/api/auth/login", { body: { email, password: "WrongPass123" } })).status).toBe(401);

    const metrics = (await app.metrics.scrape()).text;
    expect(metrics).toContain("password_hash_rejections_total 3");
    expect(metrics).toContain('auth_logins_total{result="service_busy"} 3');
    // Turned away before anything was decided: request lines, but no audit events.
    expect(app.logLines.filter((line) => line.includes('"status":503'))).toHaveLength(3);
    expect(app.logLines.filter((line) => line.includes('"audit":true') && line.includes("service_busy"))).toEqual([]);
  });

  test("registration at capacity is 503 too, and creates no account", async () => {
    const slowHash = argon2idHasher({ memoryKib: 1024, timeCost: 1 });
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let hashing = () => {};
    const firstHashStarted = new Promise<void>((resolve) => {
      hashing = resolve;
    });
    const app = await createTestApp({
      hasher: {
        ...slowHash,
        hash: async (password) => {
          hashing();
          await held;
          return slowHash.hash(password);
        },
      },
      env: { PASSWORD_HASH_CONCURRENCY: "1", PASSWORD_HASH_QUEUE_TIMEOUT: "30ms" },
    });
    const body = (name: string) => ({ email: `${name}@ualberta.ca`, username: name, password: PASSWORD, firstName: "A" });
    // The first registration's hash holds the one slot until released.
    const first = app.call("POST", "/api/auth/register", { body: body("first_one") });
    // Only once the first one holds the slot: its database look-ups may take longer than the second's.
    await firstHashStarted;
    const busy = await app.call("POST", "/api/auth/register", { body: body("busy_one") });
    expect(busy.status).toBe(503);
    expect(busy.json.error.code).toBe("SERVICE_BUSY");
    release();
    expect((await first).status).toBe(201);
    // The turned-away registration left nothing behind: the same address and username register now.
    expect((await app.call("POST", "/api/auth/register", { body: body("busy_one") })).status).toBe(201);
  });
});

describe("argon2id parameters chosen on purpose", () => {
  test("a password hashed with older parameters is re-hashed with the configured ones at the next successful login", async () => {
    const app = await createTestApp();
    const { email, user } = await app.registerUser();
    const { users } = app.database.tables;
    const readHash = async () => (await app.database.db.select().from(users).where(eq(users.id, user.id)))[0]?.passwordHash ?? "";
    const older = await argon2idHasher({ memoryKib: 2048, timeCost: 3 }).hash(PASSWORD);
    await app.database.db.update(users).set({ passwordHash: older }).where(eq(users.id, user.id));

    // A wrong password changes nothing.
    expect((await app.call("POST", "/api/auth/login", { body: { email, password: "WrongPass123" } })).status).toBe(401);
    expect(await readHash()).toBe(older);

    expect((await app.call("POST", "/api/auth/login", { body: { email, password: PASSWORD } })).status).toBe(200);
    const upgraded = await readHash();
    expect(upgraded).not.toBe(older);
    expect(argon2idParams(upgraded)).toEqual({ memoryKib: 1024, timeCost: 1 });
    // The same password still works, with the new hash.
    expect((await app.call("POST", "/api/auth/login", { body: { email, password: PASSWORD } })).status).toBe(200);
    expect(await readHash()).toBe(upgraded);
  });
});
