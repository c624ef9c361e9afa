import { describe, expect, test } from "bun:test";
import { createTestApp } from "../support/app";

const app = await createTestApp();
const HOUR = 3600_000;

describe("POST /api/auth/verify-email", () => {
  test("the emailed token verifies the account once; a second use is 400 INVALID_TOKEN", async () => {
    const { email } = await app.registerUser({ verify: false });
    const token = app.mail.tokenFor(email);
    const first = await app.call("POST", "/api/auth/verify-email", { body: { token, password: "TestPass123" } });
    expect(first.status).toBe(200);
    expect(first.json.user).toMatchObject({ email, emailVerified: true });
    const again = await app.call("POST", "/api/auth/verify-email", { body: { token, password: "TestPass123" } });
    expect(again.status).toBe(400);
    expect(again.json.error.code).toBe("INVALID_TOKEN");
    expect((await app.call("POST", "/api/auth/login", { body: { email, password: "TestPass123" } })).status).toBe(200);
  });

  test("an unknown token is 400 INVALID_TOKEN; a missing token is 400 VALIDATION_ERROR", async () => {
    const unknown = await app.call("POST", "/api/auth/verify-email", { body: { token: "A".repeat(43), password: "TestPass123" } });
    expect(unknown.status).toBe(400);
    expect(unknown.json.error.code).toBe("INVALID_TOKEN");
    const missing = await app.call("POST", "/api/auth/verify-email", { body: { password: "TestPass123" } });
    expect(missing.status).toBe(400);
    expect(missing.json.error).toMatchObject({ code: "VALIDATION_ERROR", details: [{ field: "token" }] });
    const noPassword = await app.call("POST", "/api/auth/verify-email", { body: { token: "A".repeat(43) } });
    expect(noPassword.status).toBe(400);
    expect(noPassword.json.error).toMatchObject({ code: "VALIDATION_ERROR", details: [{ field: "password" }] });
  });

  test("a token works until 24 hours have passed, and not after", async () => {
    const early = await app.registerUser({ verify: false });
    const late = await app.registerUser({ verify: false });
    app.clock.advance(24 * HOUR - 60_000);
    const ok = await app.call("POST", "/api/auth/verify-email", {
      body: { token: app.mail.tokenFor(early.email), password: "TestPass123" },
    });
    expect(ok.status).toBe(200);
    app.clock.advance(60_000);
    const expired = await app.call("POST", "/api/auth/verify-email", {
      body: { token: app.mail.tokenFor(late.email), password: "TestPass123" },
    });
    expect(expired.status).toBe(400);
    expect(expired.json.error.code).toBe("INVALID_TOKEN");
  });

  test("a token for resetting the password does not verify an email", async () => {
    const { email } = await app.registerUser();
    await app.call("POST", "/api/auth/forgot-password", { body: { email } });
    await app.outbox.deliverDue();
    const res = await app.call("POST", "/api/auth/verify-email", {
      body: { token: app.mail.tokenFor(email, "reset_password"), password: "TestPass123" },
    });
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe("INVALID_TOKEN");
  });

  test("tokens are random, URL-safe and stored only as a hash", async () => {
    const a = await app.registerUser({ verify: false });
    const b = await app.registerUser({ verify: false });
    const tokenA = app.mail.tokenFor(a.email);
    expect(tokenA).toMatch(/^[A-Za-z0-9_-]{32,}$/);
    expect(tokenA).not.toBe(app.mail.tokenFor(b.email));
    const rows = await app.database.db.select().from(app.database.tables.emailTokens);
    expect(rows.length).toBeGreaterThan(0);
    expect(JSON.stringify(rows)).not.toContain(tokenA);
    const outbox = await app.database.db.select().from(app.database.tables.emailOutbox);
    expect(JSON.stringify(outbox)).not.toContain(tokenA); // delivered: the link is gone
  });
});

describe("POST /api/auth/resend-verification", () => {
  test("sends a new working link to an unverified account", async () => {
    const { email } = await app.registerUser({ verify: false });
    const before = app.mail.sent.length;
    const res = await app.call("POST", "/api/auth/resend-verification", { body: { email: email.toUpperCase() } });
    expect(res.status).toBe(202);
    await app.outbox.deliverDue();
    expect(app.mail.sent.length).toBe(before + 1);
    const verified = await app.call("POST", "/api/auth/verify-email", {
      body: { token: app.mail.tokenFor(email), password: "TestPass123" },
    });
    expect(verified.status).toBe(200);
  });

  test("answers the same 202 body for unknown, verified and unverified accounts, mailing only the last", async () => {
    const verified = await app.registerUser();
    const unverified = await app.registerUser({ verify: false });
    await app.outbox.deliverDue();
    const before = app.mail.sent.length;
    const bodies = [];
    for (const email of ["nobody@ualberta.ca", verified.email, unverified.email]) {
      const res = await app.call("POST", "/api/auth/resend-verification", { body: { email } });
      expect(res.status).toBe(202);
      bodies.push(res.text);
    }
    expect(new Set(bodies).size).toBe(1);
    await app.outbox.deliverDue();
    expect(app.mail.sent.slice(before).map((m) => m.to)).toEqual([unverified.email]);
  });

  test("a malformed or missing email is 400 VALIDATION_ERROR", async () => {
    for (const body of [{ email: "nope" }, {}, { email: 5 }]) {
      const res = await app.call("POST", "/api/auth/resend-verification", { body });
      expect(res.status).toBe(400);
      expect(res.json.error.details[0].field).toBe("email");
    }
  });

  test("per account at most 3 verification emails an hour (registration included), silently", async () => {
    const { email } = await app.registerUser({ verify: false });
    await app.outbox.deliverDue();
    const count = () => app.mail.sent.filter((m) => m.to === email).length;
    for (let i = 0; i < 5; i++) {
      const res = await app.call("POST", "/api/auth/resend-verification", { body: { email } });
      expect(res.status).toBe(202);
    }
    await app.outbox.deliverDue();
    expect(count()).toBe(3);
    app.clock.advance(HOUR + 1000);
    await app.call("POST", "/api/auth/resend-verification", { body: { email } });
    await app.outbox.deliverDue();
    expect(count()).toBe(4);
  });
});
