import { describe, expect, test } from "bun:test";
import { createTestApp, PASSWORD } from "../support/app";

// The pages the emailed links open when APP_URL points at the service (issue 25, finding 8).
const app = await createTestApp();

describe("GET /verify-email and GET /reset-password", () => {
  for (const path of ["/verify-email", "/reset-password"]) {
    test(`${path}: a small HTML page with a strict CSP, not frameable, not cached, no referrer`, async () => {
      const res = await app.call("GET", `${path}?token=${"A".repeat(43)}`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
      const csp = res.headers.get("content-security-policy") ?? "";
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).toMatch(/script-src 'sha256-[A-Za-z0-9+/=]+'(;|$)/);
      expect(csp).not.toContain("unsafe-inline");
      expect(res.headers.get("x-frame-options")).toBe("DENY");
      expect(res.headers.get("cache-control")).toBe("no-store");
      expect(res.headers.get("referrer-policy")).toBe("no-referrer");
      expect(res.text).toContain('type="password"');
      // No external assets: nothing is loaded from anywhere but the page itself.
      expect(res.text).not.toMatch(/\b(src|href)=/);
      expect(res.text).not.toMatch(/https?:\/\//);
    });
  }

  test("opening the verification link (as a mail scanner does) uses nothing up: the student verifies afterwards", async () => {
    const { email } = await app.registerUser({ verify: false });
    const token = app.mail.tokenFor(email);
    for (let i = 0; i < 3; i++) expect((await app.call("GET", `/verify-email?token=${token}`)).status).toBe(200);
    const verified = await app.call("POST", "/api/auth/verify-email", { body: { token, password: PASSWORD } });
    expect(verified.status).toBe(200);
  });

  test("opening the reset link uses nothing up either", async () => {
    const { email } = await app.registerUser();
    await app.call("POST", "/api/auth/forgot-password", { body: { email } });
    await app.outbox.deliverDue();
    const token = app.mail.tokenFor(email, "reset_password");
    expect((await app.call("GET", `/reset-password?token=${token}`)).status).toBe(200);
    expect((await app.call("POST", "/api/auth/reset-password", { body: { token, password: "Correct-Horse-42" } })).status).toBe(200);
  });
});
