import { describe, expect, test } from "bun:test";
import { createTestApp, PASSWORD, TEST_HASHER } from "../support/app";

// The account-takeover paths of the outside test (findings 2–4; finding 1, pre-hijacking: address-ownership.test.ts), each written as the attack.
const NEW_PASSWORD = "Correct-Horse-42";

describe("change-password with a stolen token (finding 2)", () => {
  test("wrong current passwords count as failed logins: the 6th try is 429 even with the right password", async () => {
    const app = await createTestApp();
    const { email } = await app.registerUser();
    const token = await app.login(email);
    for (let i = 0; i < 5; i++) {
      const res = await app.call("POST", "/api/auth/change-password", {
        token,
        body: { currentPassword: `Guess-${i}-wrong`, newPassword: NEW_PASSWORD },
      });
      expect(res.status).toBe(400);
      expect(res.json.error.code).toBe("INVALID_CURRENT_PASSWORD");
    }
    const right = await app.call("POST", "/api/auth/change-password", {
      token,
      body: { currentPassword: PASSWORD, newPassword: NEW_PASSWORD },
    });
    expect(right.status).toBe(429);
    expect(right.json.error.code).toBe("RATE_LIMITED");
    expect(Number(right.headers.get("retry-after"))).toBeGreaterThan(0);
    // One counter with the logins of that account.
    expect((await app.call("POST", "/api/auth/login", { body: { email, password: PASSWORD } })).status).toBe(429);
    app.clock.advance(16 * 60_000);
    expect(
      (await app.call("POST", "/api/auth/change-password", { token, body: { currentPassword: PASSWORD, newPassword: NEW_PASSWORD } }))
        .status,
    ).toBe(200);
  });
});

describe("a flood of wrong current passwords on one account (finding 2)", () => {
  test("40 concurrent tries cost at most 5 password checks; the rest are 429", async () => {
    let checks = 0;
    const verify = (password: string, hash: string) => {
      checks++;
      return TEST_HASHER.verify(password, hash);
    };
    const hasher = { ...TEST_HASHER, verify };
    const app = await createTestApp({ hasher });
    const { email } = await app.registerUser();
    const token = await app.login(email);
    checks = 0;
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        app.call("POST", "/api/auth/change-password", { token, body: { currentPassword: `Guess-${i}-wrong`, newPassword: NEW_PASSWORD } }),
      ),
    );
    expect(checks).toBeLessThanOrEqual(5);
    expect(results.filter((r) => r.status === 400)).toHaveLength(5);
    expect(results.filter((r) => r.status === 429)).toHaveLength(35);
  });
});

describe("reset links end with a password change or a reset (finding 3)", () => {
  test("a reset link asked for before a password change no longer resets the password", async () => {
    const app = await createTestApp();
    const { email } = await app.registerUser();
    const token = await app.login(email);
    await app.call("POST", "/api/auth/forgot-password", { body: { email } });
    await app.outbox.deliverDue();
    const link = app.mail.tokenFor(email, "reset_password");
    const changed = await app.call("POST", "/api/auth/change-password", {
      token,
      body: { currentPassword: PASSWORD, newPassword: NEW_PASSWORD },
    });
    expect(changed.status).toBe(200);
    const reset = await app.call("POST", "/api/auth/reset-password", { body: { token: link, password: "Attacker-Chosen-9" } });
    expect(reset.status).toBe(400);
    expect(reset.json.error.code).toBe("INVALID_TOKEN");
    expect((await app.call("POST", "/api/auth/login", { body: { email, password: NEW_PASSWORD } })).status).toBe(200);
  });

  test("a reset ends every other outstanding reset link", async () => {
    const app = await createTestApp();
    const { email } = await app.registerUser();
    await app.call("POST", "/api/auth/forgot-password", { body: { email } });
    await app.outbox.deliverDue();
    const first = app.mail.tokenFor(email, "reset_password");
    await app.call("POST", "/api/auth/forgot-password", { body: { email } });
    await app.outbox.deliverDue();
    const second = app.mail.tokenFor(email, "reset_password");
    expect(second).not.toBe(first);
    expect((await app.call("POST", "/api/auth/reset-password", { body: { token: second, password: NEW_PASSWORD } })).status).toBe(200);
    const older = await app.call("POST", "/api/auth/reset-password", { body: { token: first, password: "Attacker-Chosen-9" } });
    expect(older.status).toBe(400);
    expect(older.json.error.code).toBe("INVALID_TOKEN");
  });
});

describe("concurrent password changes with one token (finding 4)", () => {
  test("20 at once: exactly one 200, the others 401 or 400; the winner's password and token are the ones that work", async () => {
    const app = await createTestApp();
    const { email } = await app.registerUser();
    const token = await app.login(email);
    const passwords = Array.from({ length: 20 }, (_, i) => `Racing-Password-${i}`);
    const results = await Promise.all(
      passwords.map((newPassword) =>
        app.call("POST", "/api/auth/change-password", { token, body: { currentPassword: PASSWORD, newPassword } }),
      ),
    );
    const winners = results.flatMap((res, i) => (res.status === 200 ? [i] : []));
    expect(winners).toHaveLength(1);
    for (const res of results) {
      if (res.status !== 200) expect([401, 400]).toContain(res.status);
      if (res.status === 401) expect(res.json.error.code).toBe("UNAUTHORIZED");
      if (res.status === 400) expect(res.json.error.code).toBe("INVALID_CURRENT_PASSWORD");
    }
    const winner = winners[0] as number;
    expect((await app.call("GET", "/api/auth/me", { token: results[winner]?.json.token })).status).toBe(200);
    expect((await app.call("POST", "/api/auth/login", { body: { email, password: passwords[winner] } })).status).toBe(200);
  });
});
