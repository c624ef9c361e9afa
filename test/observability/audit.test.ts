import { describe, expect, test } from "bun:test";
import { createTestApp, PASSWORD } from "../support/app";

const app = await createTestApp({ env: { TRUST_PROXY: "true" } });
const CLIENT = "203.0.113.77";

/** The audit lines written while `action` ran. */
async function auditOf(action: () => Promise<unknown>) {
  const start = app.logLines.length;
  await action();
  return app.logLines
    .slice(start)
    .map((line) => JSON.parse(line))
    .filter((entry) => entry.audit === true);
}

const call = (method: string, path: string, init: { body?: unknown; token?: string; reqId?: string } = {}) =>
  app.call(method, path, { ...init, headers: { "x-forwarded-for": CLIENT, "x-request-id": init.reqId ?? "audit-req" } });

function expectOne(lines: any[], event: string, outcome: string, extra: Record<string, unknown> = {}) {
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatchObject({ audit: true, event, outcome, clientAddress: CLIENT, reqId: "audit-req", ...extra });
  expect(typeof lines[0].time).toBe("string");
  expect(JSON.stringify(lines[0])).not.toContain("@ualberta.ca");
}

describe("audit events: exactly one line per security-relevant action", () => {
  const email = "audited@ualberta.ca";
  let userId = "";
  let jwt = "";

  test("registration", async () => {
    const lines = await auditOf(() =>
      call("POST", "/api/auth/register", { body: { email, username: "audited", password: PASSWORD, firstName: "A" } }).then((r) => {
        userId = r.json.user.id;
      }),
    );
    expectOne(lines, "registration", "success", { userId, emailHash: expect.stringMatching(/^[0-9a-f]{32}$/) });
  });

  test("login of an unverified account", async () => {
    expectOne(await auditOf(() => call("POST", "/api/auth/login", { body: { email, password: PASSWORD } })), "login", "failure", {
      reason: "unverified",
      userId,
    });
  });

  test("verification resend", async () => {
    expectOne(await auditOf(() => call("POST", "/api/auth/resend-verification", { body: { email } })), "verification_resend", "success", {
      userId,
    });
  });

  test("verification", async () => {
    await app.outbox.deliverDue();
    const token = app.mail.tokenFor(email);
    expectOne(
      await auditOf(() => call("POST", "/api/auth/verify-email", { body: { token, password: "TestPass123" } })),
      "email_verification",
      "success",
      {
        userId,
      },
    );
  });

  test("login success, with the same email hash as the registration", async () => {
    const lines = await auditOf(async () => {
      jwt = (await call("POST", "/api/auth/login", { body: { email, password: PASSWORD } })).json.token;
    });
    expectOne(lines, "login", "success", { userId });
    const registration = app.logLines.map((l) => JSON.parse(l)).find((e) => e.audit && e.event === "registration");
    expect(lines[0].emailHash).toBe(registration.emailHash);
  });

  test("login with a wrong password", async () => {
    expectOne(await auditOf(() => call("POST", "/api/auth/login", { body: { email, password: "WrongPass999" } })), "login", "failure", {
      reason: "invalid_credentials",
    });
  });

  test("token rejected, with the reason", async () => {
    expectOne(await auditOf(() => call("GET", "/api/auth/me", { token: "abc.def.ghi" })), "token_rejected", "failure", {
      reason: "malformed",
    });
  });

  test("password change", async () => {
    const lines = await auditOf(async () => {
      const res = await call("POST", "/api/auth/change-password", {
        token: jwt,
        body: { currentPassword: PASSWORD, newPassword: "Changed123x" },
      });
      jwt = res.json.token;
    });
    expectOne(lines, "password_change", "success", { userId });
  });

  test("logout", async () => {
    expectOne(await auditOf(() => call("POST", "/api/auth/logout", { token: jwt })), "logout", "success", { userId });
  });

  test("reset requested and reset completed", async () => {
    expectOne(await auditOf(() => call("POST", "/api/auth/forgot-password", { body: { email } })), "password_reset_request", "success", {
      userId,
    });
    await app.outbox.deliverDue();
    const token = app.mail.tokenFor(email, "reset_password");
    expectOne(
      await auditOf(() => call("POST", "/api/auth/reset-password", { body: { token, password: "ResetPass789y" } })),
      "password_reset",
      "success",
      {
        userId,
      },
    );
  });

  test("a rate-limited login: the login failure and the rate-limit hit", async () => {
    for (let i = 0; i < 5; i++) await call("POST", "/api/auth/login", { body: { email: "brute@ualberta.ca", password: "WrongPass999" } });
    const lines = await auditOf(() => call("POST", "/api/auth/login", { body: { email: "brute@ualberta.ca", password: "WrongPass999" } }));
    expect(lines.map((l) => `${l.event}:${l.outcome}:${l.reason ?? l.limit}`).sort()).toEqual([
      "login:failure:rate_limited",
      "rate_limited:failure:login_account",
    ]);
  });
});
