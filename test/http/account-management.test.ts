import { describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { createTestApp, PASSWORD } from "../support/app";

// Issue 28: after sign-up a student can change their names and username, log out everywhere, and
// delete their account.
const app = await createTestApp();

describe("PATCH /api/auth/me", () => {
  test("changes the names and the username by registration's rules; other fields stay", async () => {
    const { email, user } = await app.registerUser();
    const token = await app.login(email);
    const res = await app.call("PATCH", "/api/auth/me", {
      token,
      body: { firstName: "  Augusta Ada ", lastName: "King", emailVerified: false },
    });
    expect(res.status).toBe(200);
    expect(res.json.user).toMatchObject({
      id: user.id,
      email,
      username: user.username,
      firstName: "Augusta Ada",
      lastName: "King",
      emailVerified: true,
    });
    const renamed = await app.call("PATCH", "/api/auth/me", { token, body: { username: "Countess_1815", lastName: "  " } });
    expect(renamed.json.user).toMatchObject({ username: "Countess_1815", firstName: "Augusta Ada", lastName: null });
    expect((await app.call("GET", "/api/auth/me", { token })).json.user.username).toBe("Countess_1815");
    // The old username is free again.
    expect(
      (
        await app.call("POST", "/api/auth/register", {
          body: { email: "other.one@ualberta.ca", username: user.username, password: PASSWORD, firstName: "O" },
        })
      ).status,
    ).toBe(201);
  });

  test("every invalid field at once is 400 VALIDATION_ERROR; a taken username (any case, pending or verified) is 409", async () => {
    const { email } = await app.registerUser();
    const other = await app.registerUser({ verify: false });
    const token = await app.login(email);
    const invalid = await app.call("PATCH", "/api/auth/me", { token, body: { username: "a b", firstName: "", lastName: "x".repeat(51) } });
    expect(invalid.status).toBe(400);
    expect(invalid.json.error.details.map((d: { field: string }) => d.field).sort()).toEqual(["firstName", "lastName", "username"]);
    const typed = await app.call("PATCH", "/api/auth/me", { token, body: { firstName: 5 } });
    expect(typed.status).toBe(400);
    const taken = await app.call("PATCH", "/api/auth/me", { token, body: { username: other.username.toUpperCase() } });
    expect(taken.status).toBe(409);
    expect(taken.json.error.code).toBe("USERNAME_TAKEN");
  });

  test("without a valid token: 401 UNAUTHORIZED", async () => {
    const res = await app.call("PATCH", "/api/auth/me", { body: { firstName: "X" } });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toContain("Bearer");
  });
});

describe("POST /api/auth/logout-all", () => {
  test("every token of the account, this one included, is rejected from then on; a new login works", async () => {
    const { email } = await app.registerUser();
    const [phone, laptop] = [await app.login(email), await app.login(email)];
    expect((await app.call("POST", "/api/auth/logout-all", { token: phone })).status).toBe(204);
    for (const token of [phone, laptop]) expect((await app.call("GET", "/api/auth/me", { token })).status).toBe(401);
    expect((await app.call("POST", "/api/auth/logout-all", { token: phone })).status).toBe(401);
    expect((await app.call("GET", "/api/auth/me", { token: await app.login(email) })).status).toBe(200);
  });
});

describe("DELETE /api/auth/me", () => {
  test("with the password: the account and everything referring to it are gone; address and username are free again", async () => {
    const { email, username, user } = await app.registerUser();
    const token = await app.login(email);
    await app.call("POST", "/api/auth/forgot-password", { body: { email } });
    await app.outbox.deliverDue();
    const resetLink = app.mail.tokenFor(email, "reset_password");
    await app.call("POST", "/api/auth/login", { body: { email, password: "Wrong-Guess-1" } });
    const res = await app.call("DELETE", "/api/auth/me", { token, body: { password: PASSWORD } });
    expect(res.status).toBe(204);
    const { users, emailTokens, emailOutbox } = app.database.tables;
    const { db } = app.database;
    expect(await db.select().from(users).where(eq(users.id, user.id))).toHaveLength(0);
    expect(await db.select().from(emailTokens).where(eq(emailTokens.userId, user.id))).toHaveLength(0);
    expect(await db.select().from(emailOutbox).where(eq(emailOutbox.userId, user.id))).toHaveLength(0);
    expect((await app.call("GET", "/api/auth/me", { token })).status).toBe(401);
    expect((await app.call("POST", "/api/auth/reset-password", { body: { token: resetLink, password: "Correct-Horse-42" } })).status).toBe(
      400,
    );
    // The failed-login counter went with it: five fresh tries before a 429.
    const again = await app.registerUser({ email, username });
    expect(again.user.id).not.toBe(user.id);
    for (let i = 0; i < 4; i++)
      expect((await app.call("POST", "/api/auth/login", { body: { email, password: "Wrong-Guess-2" } })).status).toBe(401);
    expect((await app.call("POST", "/api/auth/login", { body: { email, password: PASSWORD } })).status).toBe(200);
  });

  test("a wrong password is 400 INVALID_CURRENT_PASSWORD and counts as a failed login: the 6th try is 429", async () => {
    const { email } = await app.registerUser();
    const token = await app.login(email);
    for (let i = 0; i < 5; i++) {
      const res = await app.call("DELETE", "/api/auth/me", { token, body: { password: `Wrong-${i}-Guess` } });
      expect(res.status).toBe(400);
      expect(res.json.error.code).toBe("INVALID_CURRENT_PASSWORD");
    }
    const limited = await app.call("DELETE", "/api/auth/me", { token, body: { password: PASSWORD } });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    expect((await app.call("GET", "/api/auth/me", { token })).status).toBe(200);
  });

  test("a missing password is 400 VALIDATION_ERROR; no token is 401; a double click deletes once", async () => {
    const { email } = await app.registerUser();
    const token = await app.login(email);
    expect((await app.call("DELETE", "/api/auth/me", { token, body: {} })).json.error.details[0].field).toBe("password");
    expect((await app.call("DELETE", "/api/auth/me", { body: { password: PASSWORD } })).status).toBe(401);
    const twice = await Promise.all([0, 1].map(() => app.call("DELETE", "/api/auth/me", { token, body: { password: PASSWORD } })));
    expect(twice.map((res) => res.status).sort()).toEqual([204, 401]);
  });

  test("the audit line names the deletion without the address in clear", async () => {
    const { email } = await app.registerUser();
    const token = await app.login(email);
    const before = app.logLines.length;
    await app.call("DELETE", "/api/auth/me", { token, body: { password: PASSWORD } });
    const lines = app.logLines.slice(before).filter((line) => line.includes('"audit":true'));
    expect(lines.some((line) => line.includes('"event":"account_deletion"') && line.includes('"outcome":"success"'))).toBe(true);
    expect(lines.join("\n")).not.toContain(email);
  });
});
