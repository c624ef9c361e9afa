import { describe, expect, test } from "bun:test";
import { createTestApp, PASSWORD } from "../support/app";

const app = await createTestApp();
const NEW_PASSWORD = "NewSecret456";

async function resetToken(email: string) {
  const res = await app.call("POST", "/api/auth/forgot-password", { body: { email } });
  expect(res.status).toBe(202);
  await app.outbox.deliverDue();
  return app.mail.tokenFor(email, "reset_password");
}

describe("POST /api/auth/forgot-password", () => {
  test("the same 202 body for known and unknown addresses; only the known one gets a reset link", async () => {
    const { email } = await app.registerUser();
    const before = app.mail.sent.length;
    const known = await app.call("POST", "/api/auth/forgot-password", { body: { email } });
    const unknown = await app.call("POST", "/api/auth/forgot-password", { body: { email: "nobody@ualberta.ca" } });
    expect(known.status).toBe(202);
    expect(unknown.status).toBe(202);
    expect(known.text).toBe(unknown.text);
    await app.outbox.deliverDue();
    const sent = app.mail.sent.slice(before);
    expect(sent.map((m) => m.to)).toEqual([email]);
    expect(sent[0]?.link).toMatch(/^https:\/\/app\.classmatefinder\.test\/reset-password\?token=[A-Za-z0-9_-]{32,}$/);
    expect(sent[0]?.text).toContain("1 hour");
  });

  test("a malformed email is 400 VALIDATION_ERROR", async () => {
    const res = await app.call("POST", "/api/auth/forgot-password", { body: { email: "a@b" } });
    expect(res.status).toBe(400);
    expect(res.json.error.details[0].field).toBe("email");
  });

  test("at most 3 reset emails per account an hour, silently", async () => {
    const { email } = await app.registerUser();
    for (let i = 0; i < 5; i++) expect((await app.call("POST", "/api/auth/forgot-password", { body: { email } })).status).toBe(202);
    await app.outbox.deliverDue();
    expect(app.mail.sent.filter((m) => m.to === email && m.kind === "reset_password")).toHaveLength(3);
  });
});

describe("POST /api/auth/reset-password", () => {
  test("sets the new password, kills every older JWT, and the token works once", async () => {
    const { email } = await app.registerUser();
    const oldToken = await app.login(email);
    const token = await resetToken(email);
    const res = await app.call("POST", "/api/auth/reset-password", { body: { token, password: NEW_PASSWORD } });
    expect(res.status).toBe(200);
    expect(typeof res.json.message).toBe("string");
    expect((await app.call("GET", "/api/auth/me", { token: oldToken })).status).toBe(401);
    expect((await app.call("POST", "/api/auth/login", { body: { email, password: PASSWORD } })).status).toBe(401);
    expect((await app.call("POST", "/api/auth/login", { body: { email, password: NEW_PASSWORD } })).status).toBe(200);
    const again = await app.call("POST", "/api/auth/reset-password", { body: { token, password: "Another789x" } });
    expect(again.status).toBe(400);
    expect(again.json.error.code).toBe("INVALID_TOKEN");
  });

  test("expires after 1 hour", async () => {
    const { email } = await app.registerUser();
    const token = await resetToken(email);
    app.clock.advance(3600_000);
    const res = await app.call("POST", "/api/auth/reset-password", { body: { token, password: NEW_PASSWORD } });
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe("INVALID_TOKEN");
  });

  test("a refused password is 400 VALIDATION_ERROR and leaves the token usable", async () => {
    const { email, username } = await app.registerUser();
    const token = await resetToken(email);
    for (const password of ["12345678", username, "short"]) {
      const res = await app.call("POST", "/api/auth/reset-password", { body: { token, password } });
      expect(res.status).toBe(400);
      expect(res.json.error).toMatchObject({ code: "VALIDATION_ERROR", details: [{ field: "password" }] });
    }
    expect((await app.call("POST", "/api/auth/reset-password", { body: { token, password: NEW_PASSWORD } })).status).toBe(200);
  });

  test("an unknown token, or a verification token, is 400 INVALID_TOKEN", async () => {
    const { email } = await app.registerUser({ verify: false });
    for (const token of ["unknown-token-unknown-token-unknown-token", app.mail.tokenFor(email)]) {
      const res = await app.call("POST", "/api/auth/reset-password", { body: { token, password: NEW_PASSWORD } });
      expect(res.status).toBe(400);
      expect(res.json.error.code).toBe("INVALID_TOKEN");
    }
  });

  test("using one reset link invalidates the other outstanding ones", async () => {
    const { email } = await app.registerUser();
    const first = await resetToken(email);
    const second = await resetToken(email);
    expect((await app.call("POST", "/api/auth/reset-password", { body: { token: second, password: NEW_PASSWORD } })).status).toBe(200);
    expect((await app.call("POST", "/api/auth/reset-password", { body: { token: first, password: "Another789x" } })).status).toBe(400);
  });
});

describe("POST /api/auth/change-password", () => {
  test("returns a new working JWT; every other JWT of the user is rejected", async () => {
    const { email } = await app.registerUser();
    const a = await app.login(email);
    const b = await app.login(email);
    const res = await app.call("POST", "/api/auth/change-password", {
      token: a,
      body: { currentPassword: PASSWORD, newPassword: NEW_PASSWORD },
    });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ tokenType: "Bearer", user: { email } });
    expect((await app.call("GET", "/api/auth/me", { token: res.json.token })).status).toBe(200);
    expect((await app.call("GET", "/api/auth/me", { token: a })).status).toBe(401);
    expect((await app.call("GET", "/api/auth/me", { token: b })).status).toBe(401);
    expect((await app.call("POST", "/api/auth/login", { body: { email, password: NEW_PASSWORD } })).status).toBe(200);
  });

  test("a wrong current password is 400 INVALID_CURRENT_PASSWORD and changes nothing", async () => {
    const { email } = await app.registerUser();
    const token = await app.login(email);
    const res = await app.call("POST", "/api/auth/change-password", {
      token,
      body: { currentPassword: "Wrong123456", newPassword: NEW_PASSWORD },
    });
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe("INVALID_CURRENT_PASSWORD");
    expect((await app.call("GET", "/api/auth/me", { token })).status).toBe(200);
  });

  test("a refused new password is 400 VALIDATION_ERROR on newPassword", async () => {
    const { email } = await app.registerUser();
    const token = await app.login(email);
    const res = await app.call("POST", "/api/auth/change-password", {
      token,
      body: { currentPassword: PASSWORD, newPassword: "password1" },
    });
    expect(res.status).toBe(400);
    expect(res.json.error).toMatchObject({ code: "VALIDATION_ERROR", details: [{ field: "newPassword" }] });
  });

  test("without a token it is 401 UNAUTHORIZED", async () => {
    const res = await app.call("POST", "/api/auth/change-password", { body: { currentPassword: PASSWORD, newPassword: NEW_PASSWORD } });
    expect(res.status).toBe(401);
    expect(res.json.error.code).toBe("UNAUTHORIZED");
  });
});
