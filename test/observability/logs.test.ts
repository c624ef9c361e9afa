import { describe, expect, test } from "bun:test";
import { createLogger } from "../../src/logger";
import { createTestApp, PASSWORD } from "../support/app";
import { openTestDatabase } from "../support/database";

describe("logs", () => {
  test("a full account flow logs only JSON lines, and no password, token, JWT or hash appears in them", async () => {
    // The database logs its SQL into the same captured stream, as with LOG_LEVEL=debug.
    const sqlLines: string[] = [];
    const sqlLogger = createLogger({ logLevel: "debug" }, { write: (line: string) => void sqlLines.push(line) });
    const database = await openTestDatabase(undefined, { onQuery: (sql) => sqlLogger.debug({ sql }, "sql") });
    const app = await createTestApp({ env: { TRUST_PROXY: "true" }, database });
    const NEW_PASSWORD = "BrandNew456x";
    const RESET_PASSWORD = "ResetPass789y";
    const secrets: string[] = [PASSWORD, NEW_PASSWORD, RESET_PASSWORD];

    const register = await app.call("POST", "/api/auth/register", {
      body: { email: "flow@ualberta.ca", username: "flow_user", password: PASSWORD, firstName: "Flow" },
      headers: { "x-request-id": "flow-register-1" },
    });
    expect(register.status).toBe(201);
    await app.outbox.deliverDue();
    const verifyToken = app.mail.tokenFor("flow@ualberta.ca");
    secrets.push(verifyToken);
    expect((await app.call("POST", "/api/auth/verify-email", { body: { token: verifyToken } })).status).toBe(200);
    const jwt = await app.login("flow@ualberta.ca");
    secrets.push(jwt, jwt.split(".")[2] as string);
    expect((await app.call("GET", "/api/auth/me", { token: jwt })).status).toBe(200);
    const changed = await app.call("POST", "/api/auth/change-password", {
      token: jwt,
      body: { currentPassword: PASSWORD, newPassword: NEW_PASSWORD },
    });
    expect(changed.status).toBe(200);
    secrets.push(changed.json.token);
    await app.call("POST", "/api/auth/login", { body: { email: "flow@ualberta.ca", password: "a-wrong-password" } });
    secrets.push("a-wrong-password");
    expect((await app.call("POST", "/api/auth/forgot-password", { body: { email: "flow@ualberta.ca" } })).status).toBe(202);
    await app.outbox.deliverDue();
    const resetToken = app.mail.tokenFor("flow@ualberta.ca", "reset_password");
    secrets.push(resetToken);
    expect((await app.call("POST", "/api/auth/reset-password", { body: { token: resetToken, password: RESET_PASSWORD } })).status).toBe(
      200,
    );

    const { users, emailTokens } = app.database.tables;
    for (const row of await app.database.db.select().from(users)) secrets.push(row.passwordHash);
    for (const row of await app.database.db.select().from(emailTokens)) secrets.push(row.tokenHash);

    const lines = [...app.logLines, ...sqlLines];
    expect(lines.length).toBeGreaterThan(20);
    expect(sqlLines.length).toBeGreaterThan(0);
    for (const line of lines) {
      const entry = JSON.parse(line);
      expect(typeof entry.time).toBe("string");
      expect(typeof entry.level).toBe("string");
      expect(typeof entry.msg).toBe("string");
      for (const secret of secrets) expect(line).not.toContain(secret);
      expect(line.toLowerCase()).not.toContain("bearer ");
      expect(line).not.toContain("$argon2");
    }

    const requestLines = app.logLines.map((line) => JSON.parse(line)).filter((entry) => entry.msg === "request");
    expect(requestLines.find((entry) => entry.reqId === "flow-register-1")).toMatchObject({
      method: "POST",
      route: "/api/auth/register",
      status: 201,
      durationMs: expect.any(Number),
    });
  });
});
