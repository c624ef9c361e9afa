import { describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { createTestApp, PASSWORD } from "../support/app";

const app = await createTestApp();
const body = (overrides: Record<string, unknown> = {}) => ({
  email: "Test@UAlberta.ca",
  username: "test",
  password: PASSWORD,
  firstName: "  Test ",
  ...overrides,
});

describe("POST /api/auth/register", () => {
  test("creates an unverified account, returns the public user and sends a verification email", async () => {
    const res = await app.call("POST", "/api/auth/register", { body: body({ lastName: "   " }) });
    expect(res.status).toBe(201);
    expect(res.json.verificationRequired).toBe(true);
    const user = res.json.user;
    expect(Object.keys(user).sort()).toEqual(["createdAt", "email", "emailVerified", "firstName", "id", "lastName", "username"]);
    expect(user).toMatchObject({ email: "test@ualberta.ca", username: "test", firstName: "Test", lastName: null, emailVerified: false });
    expect(user.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(new Date(user.createdAt).toISOString()).toBe(user.createdAt);

    await app.outbox.deliverDue();
    const email = app.mail.sent.at(-1);
    expect(email?.to).toBe("test@ualberta.ca");
    expect(email?.link).toMatch(/^https:\/\/app\.classmatefinder\.test\/verify-email\?token=[A-Za-z0-9_-]{32,}$/);
    expect(email?.text).toContain(email?.link as string);
    expect(email?.text).toContain("24 hours");
  });

  test("the same email (any case) of a verified account is 409 EMAIL_TAKEN; the same username in another case is 409 USERNAME_TAKEN", async () => {
    await app.outbox.deliverDue();
    expect(
      (await app.call("POST", "/api/auth/verify-email", { body: { token: app.mail.tokenFor("test@ualberta.ca"), password: PASSWORD } }))
        .status,
    ).toBe(200);
    const again = await app.call("POST", "/api/auth/register", { body: body({ email: " TEST@ualberta.ca ", username: "other" }) });
    expect(again.status).toBe(409);
    expect(again.json.error.code).toBe("EMAIL_TAKEN");
    const name = await app.call("POST", "/api/auth/register", { body: body({ email: "new@ualberta.ca", username: "TEST" }) });
    expect(name.status).toBe(409);
    expect(name.json.error.code).toBe("USERNAME_TAKEN");
  });

  test("mass assignment: emailVerified, id, role in the body have no effect", async () => {
    const res = await app.call("POST", "/api/auth/register", {
      body: body({
        email: "mass@ualberta.ca",
        username: "mass",
        emailVerified: true,
        id: "00000000-0000-0000-0000-000000000000",
        role: "admin",
        createdAt: "2000-01-01T00:00:00.000Z",
      }),
    });
    expect(res.status).toBe(201);
    expect(res.json.user.emailVerified).toBe(false);
    expect(res.json.user.id).not.toBe("00000000-0000-0000-0000-000000000000");
    expect(res.json.user.role).toBeUndefined();
    expect(res.json.user.createdAt).not.toBe("2000-01-01T00:00:00.000Z");
    const login = await app.call("POST", "/api/auth/login", { body: { email: "mass@ualberta.ca", password: PASSWORD } });
    expect(login.status).toBe(403);
  });

  test("domains: subdomains of an allowed suffix pass, look-alikes get 400 EMAIL_DOMAIN_NOT_ALLOWED", async () => {
    const ok = await app.call("POST", "/api/auth/register", { body: body({ email: "a@cs.ualberta.ca", username: "sub_domain" }) });
    expect(ok.status).toBe(201);
    for (const email of ["a@evilualberta.ca", "a@ualberta.ca.evil.com", "a@gmail.com"]) {
      const res = await app.call("POST", "/api/auth/register", { body: body({ email, username: "lookalike" }) });
      expect(res.status).toBe(400);
      expect(res.json.error.code).toBe("EMAIL_DOMAIN_NOT_ALLOWED");
    }
  });

  test("every invalid field is reported at once, without echoing the submitted values", async () => {
    const res = await app.call("POST", "/api/auth/register", {
      body: { email: "not an email", username: "a!", password: "password1", firstName: "   ", lastName: "x".repeat(51) },
    });
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe("VALIDATION_ERROR");
    const fields = res.json.error.details.map((d: { field: string }) => d.field).sort();
    expect(fields).toEqual(["email", "firstName", "lastName", "password", "username"]);
    expect(res.text).not.toContain("password1");
    expect(res.text).not.toContain("not an email");
  });

  test("missing fields and wrong types are 400 VALIDATION_ERROR naming the field", async () => {
    const missing = await app.call("POST", "/api/auth/register", { body: {} });
    expect(missing.status).toBe(400);
    expect(missing.json.error.details.map((d: { field: string }) => d.field).sort()).toEqual([
      "email",
      "firstName",
      "password",
      "username",
    ]);
    const wrongType = await app.call("POST", "/api/auth/register", { body: body({ email: "n@ualberta.ca", username: 42 }) });
    expect(wrongType.status).toBe(400);
    expect(wrongType.json.error.details).toEqual([{ field: "username", message: expect.any(String) }]);
  });

  test.each([
    ["a common password", "qwertyuiop"],
    ["a common password in another case", "PassWord1"],
    ["the username", "Username_1"],
    ["the email's local part", "Firstname.Last"],
    ["too short", "Ab1!xyz"],
    ["too long", "x".repeat(129)],
  ])("refuses %s as password with field password", async (_, password) => {
    const res = await app.call("POST", "/api/auth/register", {
      body: body({ email: "firstname.last@ualberta.ca", username: "username_1", password }),
    });
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe("VALIDATION_ERROR");
    expect(res.json.error.details).toEqual([{ field: "password", message: expect.any(String) }]);
  });

  test("20 concurrent registrations of one email: each 201, pending side by side; once one is verified exactly one account remains", async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        app.call("POST", "/api/auth/register", {
          body: body({ email: "race@ualberta.ca", username: `racer_${i}`, password: `Racer-Password-${i}` }),
        }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(201));
    const { users } = app.database.tables;
    expect(await app.database.db.select().from(users).where(eq(users.email, "race@ualberta.ca"))).toHaveLength(20);
    await app.outbox.deliverDue();
    const verified = await app.call("POST", "/api/auth/verify-email", {
      body: { token: app.mail.tokenFor("race@ualberta.ca"), password: "Racer-Password-7" },
    });
    expect(verified.status).toBe(200);
    expect(verified.json.user).toMatchObject({ username: "racer_7", emailVerified: true });
    const left = await app.database.db.select().from(users).where(eq(users.email, "race@ualberta.ca"));
    expect(left.map((row) => row.username)).toEqual(["racer_7"]);
  });

  test("20 concurrent registrations of a verified account's email: all 409 EMAIL_TAKEN", async () => {
    // Its own app: the per-client registration limit is the other tests'.
    const other = await createTestApp();
    const { email } = await other.registerUser();
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => other.call("POST", "/api/auth/register", { body: body({ email, username: `late_${i}` }) })),
    );
    expect(results.every((r) => r.status === 409 && r.json.error.code === "EMAIL_TAKEN")).toBe(true);
  });

  test("20 concurrent registrations of one username in different cases: one wins", async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        app.call("POST", "/api/auth/register", {
          body: body({ email: `racer${i}@ualberta.ca`, username: i % 2 ? "SameName" : "samename" }),
        }),
      ),
    );
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    expect(results.filter((r) => r.status === 409 && r.json.error.code === "USERNAME_TAKEN")).toHaveLength(19);
  });
});
