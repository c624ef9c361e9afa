import { describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import type { ManualClock } from "../../src/clock";
import { argon2idHasher, argon2idParams, type PasswordHasher } from "../../src/hashing/password-hasher";
import { createTestApp, PASSWORD, TEST_HASHER, type TestApp } from "../support/app";
import { withoutRelease } from "../support/metrics";

/**
 * The test hasher, on the app's manual clock: every hash or check "takes" 100 ms of that clock, and
 * while `hold()` is in force each one waits until `release()`. So the gate measures 100 ms per hash,
 * and the test decides when hashes finish and how much time passes.
 */
function controllableHasher() {
  let clock: ManualClock | undefined;
  let gate: Promise<void> | null = null;
  let open = () => {};
  /** The passwords hashed or checked, in the order their hashes started. */
  const started: string[] = [];
  const slow =
    <A extends [string, ...unknown[]], R>(work: (...args: A) => Promise<R>) =>
    async (...args: A) => {
      if (gate) await gate;
      started.push(args[0]);
      clock?.advance(100);
      return work(...args);
    };
  const withSalt = TEST_HASHER.hashWithSalt;
  const hasher: PasswordHasher = {
    ...TEST_HASHER,
    hash: slow(TEST_HASHER.hash),
    verify: slow(TEST_HASHER.verify),
    // Registrations hash with their address's salt.
    hashWithSalt: withSalt && slow(withSalt),
  };
  return {
    hasher,
    started,
    useClock(manual: ManualClock) {
      clock = manual;
    },
    hold() {
      gate = new Promise((resolve) => {
        open = resolve;
      });
    },
    release() {
      gate = null;
      open();
    },
  };
}

/** Until the gate holds `count` requests (running and waiting): they have all arrived. */
async function untilInGate(app: TestApp, count: number) {
  while (app.hashGate.load.running + app.hashGate.load.waiting < count) await Bun.sleep(1);
}

const from = (address: string) => ({ "x-forwarded-for": address });

/** Until each request is in the gate or already answered (turned away): the whole burst has arrived. */
async function untilArrived(app: TestApp, requests: Promise<unknown>[]) {
  let answered = 0;
  for (const request of requests) request.finally(() => answered++);
  while (app.hashGate.load.running + app.hashGate.load.waiting + answered < requests.length) await Bun.sleep(1);
}

describe("a burst of students is queued and served", () => {
  // One slot at 100 ms per hash and the default queue timeout (8 s of hashing: 80 requests): 75 at
  // once need 7.5 s, as a lecture hall of 150 does on one core of a host that hashes slowly (about
  // 34 ms per registration on this machine on a slow day, BENCHMARKS.md).
  test("75 registrations from 75 addresses at once, then 75 logins at once: every one gets its real answer, none 503", async () => {
    const slow = controllableHasher();
    const app = await createTestApp({
      hasher: slow.hasher,
      env: { PASSWORD_HASH_CONCURRENCY: "1", PASSWORD_HASH_QUEUE_TIMEOUT: "", TRUST_PROXY: "true" },
    });
    slow.useClock(app.clock);
    const students = Array.from({ length: 75 }, (_, index) => ({
      email: `burst${index}@ualberta.ca`,
      username: `burst_${index}`,
      address: `10.20.0.${index}`,
    }));

    slow.hold();
    const registrations = students.map(({ email, username, address }) =>
      app.call("POST", "/api/auth/register", { body: { email, username, password: PASSWORD, firstName: "A" }, headers: from(address) }),
    );
    await untilArrived(app, registrations);
    slow.release();
    expect((await Promise.all(registrations)).map((res) => res.status)).toEqual(students.map(() => 201));

    while ((await app.outbox.deliverDue()) > 0) {} // a batch at a time
    for (const { email } of students) {
      expect(
        (await app.call("POST", "/api/auth/verify-email", { body: { token: app.mail.tokenFor(email), password: PASSWORD } })).status,
      ).toBe(200);
    }
    slow.hold();
    const logins = students.map(({ email, address }) =>
      app.call("POST", "/api/auth/login", { body: { email, password: PASSWORD }, headers: from(address) }),
    );
    await untilArrived(app, logins);
    slow.release();
    expect((await Promise.all(logins)).map((res) => res.status)).toEqual(students.map(() => 200));
    expect(withoutRelease((await app.metrics.scrape()).text)).toContain("password_hash_rejections_total 0");
  });
});

describe("sustained overload (password hashing)", () => {
  test("a standing queue is shed: 503 SERVICE_BUSY at once with a Retry-After from the queue, not counted as attempts; another address still gets in, and the rest of the API answers", async () => {
    const slow = controllableHasher();
    const app = await createTestApp({
      hasher: slow.hasher,
      env: { PASSWORD_HASH_CONCURRENCY: "1", PASSWORD_HASH_QUEUE_TIMEOUT: "3s", TRUST_PROXY: "true", RATE_LIMIT_LOGIN_ACCOUNT: "1/15m" },
    });
    slow.useClock(app.clock);
    const holder = await app.registerUser();
    const victim = await app.registerUser();
    const student = await app.registerUser();
    const token = await app.login(student.email); // hashes so far measured at 100 ms: 30 may wait
    const login = (email: string, address: string, password = PASSWORD) =>
      app.call("POST", "/api/auth/login", { body: { email, password }, headers: from(address) });

    slow.hold();
    const first = login(holder.email, "10.30.0.1");
    await untilInGate(app, 1);
    // 30 may wait at 100 ms per hash; the flood gets 27 of the places (the last 3 are kept for others).
    const flood = Array.from({ length: 27 }, (_, index) => login(`flood${index}@ualberta.ca`, "10.66.0.1", "WrongPass123"));
    await untilInGate(app, 28);

    // The next one is answered at once; Retry-After is when the 28 in the gate will be done.
    const full = await login(victim.email, "10.66.0.1", "WrongPass123");
    expect(full.status).toBe(503);
    expect(full.json.error.code).toBe("SERVICE_BUSY");
    expect(full.headers.get("retry-after")).toBe("3");
    // Not yet overload: the queue has not stood long. After 3 s without draining, it has.
    expect(withoutRelease((await app.metrics.scrape()).text)).toContain("password_hash_overloaded 0");
    app.clock.advance(3_000);
    const shed = await login(victim.email, "10.66.0.1", "WrongPass123");
    expect(shed.status).toBe(503);
    expect(shed.headers.get("retry-after")).toBe("3");
    const metrics = withoutRelease((await app.metrics.scrape()).text);
    expect(metrics).toContain("password_hash_overloaded 1");
    expect(metrics).toContain("password_hash_queue_limit 2"); // 200 ms of waiting at 100 ms per hash

    // Another client address is not shed: it takes a place kept for others, and is served next.
    const other = login(student.email, "10.40.0.1");
    await untilInGate(app, 29);
    // Everything that needs no password hash is unaffected.
    expect((await app.call("GET", "/health")).status).toBe(200);
    expect((await app.call("GET", "/api/auth/me", { token })).status).toBe(200);

    const startedBefore = slow.started.length;
    slow.release();
    expect((await first).status).toBe(200);
    expect((await other).status).toBe(200);
    expect((await Promise.all(flood)).map((res) => res.status)).toEqual(flood.map(() => 401));
    // Round-robin by address: the holder, one of the flood's, then the student; the flood's others after.
    expect(slow.started.slice(startedBefore, startedBefore + 4)).toEqual([PASSWORD, "WrongPass123", PASSWORD, "WrongPass123"]);

    // Had the two turned-away wrong passwords counted, the victim's limit (1) would make this a 429.
    expect((await login(victim.email, "10.66.0.1", "WrongPass123")).status).toBe(401);
    const after = withoutRelease((await app.metrics.scrape()).text);
    expect(after).toContain("password_hash_rejections_total 2");
    expect(after).toContain('auth_logins_total{result="service_busy"} 2');
    // Overload ends once a whole queue timeout (3 s) has passed in which nobody was turned away.
    app.clock.advance(3_000);
    expect(withoutRelease((await app.metrics.scrape()).text)).toContain("password_hash_overloaded 0");
    // Turned away before anything was decided: request lines, but no audit events.
    expect(app.logLines.filter((line) => line.includes('"status":503'))).toHaveLength(2);
    expect(app.logLines.filter((line) => line.includes('"audit":true') && line.includes("service_busy"))).toEqual([]);
  });

  test("registration turned away at a full queue is 503 too, and creates no account", async () => {
    const slow = controllableHasher();
    // The shortest queue there is: one request waits.
    const app = await createTestApp({
      hasher: slow.hasher,
      env: { PASSWORD_HASH_CONCURRENCY: "1", PASSWORD_HASH_QUEUE_TIMEOUT: "1ms", PASSWORD_HASH_OVERLOAD_WAIT: "1ms" },
    });
    const body = (name: string) => ({ email: `${name}@ualberta.ca`, username: name, password: PASSWORD, firstName: "A" });
    slow.hold();
    const first = app.call("POST", "/api/auth/register", { body: body("first_one") });
    const second = app.call("POST", "/api/auth/register", { body: body("second_one") });
    await untilInGate(app, 2);
    const busy = await app.call("POST", "/api/auth/register", { body: body("busy_one") });
    expect(busy.status).toBe(503);
    expect(busy.json.error.code).toBe("SERVICE_BUSY");
    expect(Number(busy.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    slow.release();
    expect((await first).status).toBe(201);
    expect((await second).status).toBe(201);
    // The turned-away registration left nothing behind: the same address and username register now.
    expect((await app.call("POST", "/api/auth/register", { body: body("busy_one") })).status).toBe(201);
  });
});

describe("a client the hashing queue turns away anyway is answered before its body is read", () => {
  test("login, change-password and reset-password from it are 503 SERVICE_BUSY whatever their body; another client's body is still read; logged and counted as any 503", async () => {
    const slow = controllableHasher();
    // The shortest queue there is: one request waits.
    const app = await createTestApp({
      hasher: slow.hasher,
      env: { PASSWORD_HASH_CONCURRENCY: "1", PASSWORD_HASH_QUEUE_TIMEOUT: "1ms", PASSWORD_HASH_OVERLOAD_WAIT: "1ms", TRUST_PROXY: "true" },
    });
    const { email } = await app.registerUser();
    const post = (path: string, body: string, address: string) =>
      app.call("POST", path, { body, headers: { ...from(address), "content-type": "application/json" } });
    const valid = JSON.stringify({ email, password: PASSWORD });
    slow.hold();
    const running = post("/api/auth/login", valid, "10.66.0.1");
    const waiting = post("/api/auth/login", valid, "10.66.0.1");
    await untilInGate(app, 2);

    // Not even JSON: answered before the body would have been found invalid (or, here, unauthenticated).
    for (const path of ["/api/auth/login", "/api/auth/change-password", "/api/auth/reset-password"]) {
      const refused = await post(path, "{not json", "10.66.0.1");
      expect([path, refused.status, refused.json?.error?.code]).toEqual([path, 503, "SERVICE_BUSY"]);
      expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      expect(refused.headers.get("x-request-id")).toBeTruthy();
    }
    // Another address's body is read and judged as always.
    const other = await post("/api/auth/login", "{not json", "10.40.0.1");
    expect([other.status, other.json.error.code]).toEqual([400, "VALIDATION_ERROR"]);

    slow.release();
    expect([(await running).status, (await waiting).status]).toEqual([200, 200]);
    const metrics = withoutRelease((await app.metrics.scrape()).text);
    expect(metrics).toContain('http_requests_total{method="POST",route="/api/auth/login",status="503"} 1');
    expect(metrics).toContain('http_requests_total{method="POST",route="/api/auth/change-password",status="503"} 1');
    expect(metrics).toContain('auth_logins_total{result="service_busy"} 1');
    expect(metrics).toContain("password_hash_rejections_total 3");
    const lines = app.logLines.map((line) => JSON.parse(line)).filter((line) => line.msg === "request" && line.status === 503);
    expect(lines.map((line) => line.route).sort()).toEqual(["/api/auth/change-password", "/api/auth/login", "/api/auth/reset-password"]);
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
