import { describe, expect, test } from "bun:test";
import { createTestApp, PASSWORD } from "../support/app";

const app = await createTestApp({ env: { JWT_EXPIRES_IN: "2h" } });

function decodePayload(jwt: string) {
  return JSON.parse(Buffer.from(jwt.split(".")[1] as string, "base64url").toString());
}

describe("POST /api/auth/login", () => {
  test("a verified account gets an HS256 JWT with sub, iat, exp, jti and its expiry", async () => {
    const { email, user } = await app.registerUser();
    const res = await app.call("POST", "/api/auth/login", { body: { email: ` ${email.toUpperCase()} `, password: PASSWORD } });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ tokenType: "Bearer", user: { id: user.id, email, emailVerified: true } });
    const header = JSON.parse(Buffer.from(res.json.token.split(".")[0], "base64url").toString());
    expect(header.alg).toBe("HS256");
    const claims = decodePayload(res.json.token);
    expect(claims.sub).toBe(user.id);
    expect(typeof claims.jti).toBe("string");
    expect(claims.exp).toBe(Math.floor(app.clock.now().getTime() / 1000) + 7200);
    expect(typeof claims.iat).toBe("number");
    expect(res.json.expiresAt).toBe(new Date(claims.exp * 1000).toISOString());
    expect(res.text).not.toContain("passwordHash");
  });

  test("every login gets its own jti", async () => {
    const { email } = await app.registerUser();
    const a = decodePayload(await app.login(email));
    const b = decodePayload(await app.login(email));
    expect(a.jti).not.toBe(b.jti);
  });

  test("unknown email and wrong password get the same 401 INVALID_CREDENTIALS body", async () => {
    const { email } = await app.registerUser();
    const wrong = await app.call("POST", "/api/auth/login", { body: { email, password: "WrongPass123" } });
    const unknown = await app.call("POST", "/api/auth/login", { body: { email: "ghost@ualberta.ca", password: "WrongPass123" } });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(wrong.json.error.code).toBe("INVALID_CREDENTIALS");
    expect(wrong.text).toBe(unknown.text);
  });

  test("an unknown email still costs one password hash check", async () => {
    let verifications = 0;
    const { createApp } = await import("../../src/app");
    const { argon2idHasher } = await import("../../src/hashing/password-hasher");
    const inner = argon2idHasher({ memoryKib: 1024, timeCost: 1 });
    const counted = createApp({
      config: app.config,
      database: app.database,
      logger: (await import("../../src/logger")).createLogger({ logLevel: "silent" }),
      hasher: {
        ...inner,
        verify: (p, h) => {
          verifications++;
          return inner.verify(p, h);
        },
      },
    });
    const res = await counted.app.handle(
      new Request("http://localhost/api/auth/login", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ email: "nobody-at-all@ualberta.ca", password: PASSWORD }),
      }),
    );
    expect(res.status).toBe(401);
    expect(verifications).toBe(1);
  });

  test("the right password on an unverified account is 403 EMAIL_NOT_VERIFIED; a wrong one stays 401", async () => {
    const { email } = await app.registerUser({ verify: false });
    const right = await app.call("POST", "/api/auth/login", { body: { email, password: PASSWORD } });
    expect(right.status).toBe(403);
    expect(right.json.error.code).toBe("EMAIL_NOT_VERIFIED");
    const wrong = await app.call("POST", "/api/auth/login", { body: { email, password: "WrongPass123" } });
    expect(wrong.status).toBe(401);
  });

  test("missing fields are 400 VALIDATION_ERROR", async () => {
    const res = await app.call("POST", "/api/auth/login", { body: { email: "a@ualberta.ca" } });
    expect(res.status).toBe(400);
    expect(res.json.error.details).toEqual([{ field: "password", message: expect.any(String) }]);
  });
});

describe("GET /api/auth/me and POST /api/auth/logout", () => {
  test("me returns the user of the token", async () => {
    const { email, user } = await app.registerUser();
    const res = await app.call("GET", "/api/auth/me", { token: await app.login(email) });
    expect(res.status).toBe(200);
    expect(res.json.user).toEqual({ ...user, emailVerified: true });
  });

  test("without a token, or with a malformed header: 401 UNAUTHORIZED with WWW-Authenticate: Bearer", async () => {
    for (const headers of [
      {} as Record<string, string>,
      { authorization: "Basic dXNlcjpwYXNz" },
      { authorization: "Bearer" },
      { authorization: "Bearer not-a-jwt" },
    ]) {
      const res = await app.call("GET", "/api/auth/me", { headers });
      expect(res.status).toBe(401);
      expect(res.json.error.code).toBe("UNAUTHORIZED");
      expect(res.headers.get("www-authenticate")).toStartWith("Bearer");
    }
  });

  test("logout answers 204 and that token is rejected afterwards; other tokens still work", async () => {
    const { email } = await app.registerUser();
    const token = await app.login(email);
    const other = await app.login(email);
    const out = await app.call("POST", "/api/auth/logout", { token });
    expect(out.status).toBe(204);
    expect(out.text).toBe("");
    expect((await app.call("GET", "/api/auth/me", { token })).status).toBe(401);
    expect((await app.call("POST", "/api/auth/logout", { token })).status).toBe(401);
    expect((await app.call("GET", "/api/auth/me", { token: other })).status).toBe(200);
  });

  test("logout without a valid token is 401", async () => {
    const res = await app.call("POST", "/api/auth/logout");
    expect(res.status).toBe(401);
    expect(res.json.error.code).toBe("UNAUTHORIZED");
  });

  test("a token stops working when it expires", async () => {
    const { email } = await app.registerUser();
    const token = await app.login(email);
    app.clock.advance(2 * 3600_000 - 5000);
    expect((await app.call("GET", "/api/auth/me", { token })).status).toBe(200);
    app.clock.advance(5000);
    expect((await app.call("GET", "/api/auth/me", { token })).status).toBe(401);
  });
});
