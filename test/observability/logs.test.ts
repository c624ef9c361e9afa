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
    expect((await app.call("POST", "/api/auth/verify-email", { body: { token: verifyToken, password: PASSWORD } })).status).toBe(200);
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

describe("a failed query", () => {
  test("is logged with its SQL but without its parameters (an email, a password hash)", async () => {
    const app = await createTestApp();
    // Inserting a user now fails inside the database, with the new row's values as the query's parameters.
    const sabotage =
      app.database.kind === "sqlite"
        ? "CREATE TRIGGER no_new_users BEFORE INSERT ON users BEGIN SELECT RAISE(ABORT, 'no new users'); END"
        : "ALTER TABLE users ADD CONSTRAINT no_new_users CHECK (false) NOT VALID";
    await app.database.withMigrationLock((exec) => exec(sabotage));
    const res = await app.call("POST", "/api/auth/register", {
      body: { email: "victim@ualberta.ca", username: "victim", password: PASSWORD, firstName: "Vic" },
    });
    expect(res.status).toBe(500);
    const errorLine = app.logLines.find((line) => line.includes('"unhandled error"')) ?? "";
    expect(errorLine).not.toBe("");
    // drizzle's PostgreSQL driver names the query and its values in the message; only the values go.
    if (app.database.kind === "postgres") expect(errorLine).toContain("insert into");
    const everything = app.logLines.join("\n");
    for (const secret of ["victim@ualberta.ca", "$argon2id", PASSWORD]) expect(everything).not.toContain(secret);
  });
});
