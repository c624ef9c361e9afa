import { describe, expect, test } from "bun:test";
import { createTestApp, PASSWORD } from "../support/app";
import { withoutRelease } from "../support/metrics";

/** The value of one sample line, e.g. sample(text, 'auth_logins_total{result="success"}'), without the release labels every series ends with. */
function sample(text: string, series: string): number {
  const line = withoutRelease(text)
    .split("\n")
    .find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

describe("GET /metrics", () => {
  test("counts requests, logins, registrations, verifications, rejections and emails after a known sequence", async () => {
    const app = await createTestApp({ env: { TRUST_PROXY: "true" } });
    const { email } = await app.registerUser(); // register + verify
    await app.registerUser({ verify: false });
    await app.login(email);
    await app.call("POST", "/api/auth/login", { body: { email, password: "WrongPass999" } });
    await app.call("POST", "/api/auth/login", { body: { email: "ghost@ualberta.ca", password: PASSWORD } });
    await app.call("GET", "/api/auth/me", { token: "not.a.jwt" });
    await app.call("GET", "/api/auth/me");
    await app.call("GET", "/no/such/page/12345");
    for (let i = 0; i < 6; i++)
      await app.call("POST", "/api/auth/login", { body: { email: "locked@ualberta.ca", password: "WrongPass999" } });

    const res = await app.call("GET", "/metrics");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/plain");
    const text = res.text;
    expect(sample(text, "auth_registrations_total")).toBe(2);
    expect(sample(text, "auth_email_verifications_total")).toBe(1);
    expect(sample(text, 'auth_logins_total{result="success"}')).toBe(1);
    expect(sample(text, 'auth_logins_total{result="invalid_credentials"}')).toBe(7);
    expect(sample(text, 'auth_logins_total{result="rate_limited"}')).toBe(1);
    expect(sample(text, 'auth_token_rejections_total{reason="malformed"}')).toBe(1);
    expect(sample(text, 'auth_token_rejections_total{reason="missing"}')).toBe(1);
    expect(sample(text, 'rate_limit_rejections_total{limit="login_account"}')).toBe(1);
    expect(sample(text, 'emails_sent_total{kind="verify_email",result="sent"}')).toBe(2);
    expect(sample(text, "email_outbox_pending")).toBe(0);
    expect(sample(text, 'http_requests_total{method="POST",route="/api/auth/register",status="201"}')).toBe(2);
    expect(sample(text, 'http_requests_total{method="POST",route="/api/auth/login",status="401"}')).toBe(7);
    expect(sample(text, 'http_requests_total{method="POST",route="/api/auth/login",status="429"}')).toBe(1);
    // Unknown paths are one series, never the raw path.
    expect(sample(text, 'http_requests_total{method="GET",route="unmatched",status="404"}')).toBe(1);
    expect(text).not.toContain("12345");
    // The histogram: every request lands in +Inf, and the count matches the counter.
    const routeLabels = 'method="POST",route="/api/auth/register",status="201"';
    expect(sample(text, `http_request_duration_seconds_bucket{le="+Inf",${routeLabels}}`)).toBe(2);
    expect(sample(text, `http_request_duration_seconds_count{${routeLabels}}`)).toBe(2);
    expect(text).toContain("process_cpu_seconds_total");
  });

  test("email_outbox_pending counts undelivered emails", async () => {
    const app = await createTestApp();
    app.mail.failing = true;
    await app.call("POST", "/api/auth/register", {
      body: { email: "p@ualberta.ca", username: "pending", password: PASSWORD, firstName: "P" },
    });
    await app.outbox.deliverDue();
    const text = (await app.call("GET", "/metrics")).text;
    expect(sample(text, "email_outbox_pending")).toBe(1);
    expect(sample(text, 'emails_sent_total{kind="verify_email",result="retry"}')).toBe(1);
  });

  test("with METRICS_TOKEN it needs that bearer token (401 otherwise)", async () => {
    const app = await createTestApp({ env: { METRICS_TOKEN: "scrape-token-0123456789" } });
    const none = await app.call("GET", "/metrics");
    expect(none.status).toBe(401);
    expect(none.json.error.code).toBe("UNAUTHORIZED");
    expect((await app.call("GET", "/metrics", { token: "wrong-token" })).status).toBe(401);
    expect((await app.call("GET", "/metrics", { token: "scrape-token-0123456789" })).status).toBe(200);
  });

  test("in production without METRICS_TOKEN it does not exist (404); with one it works", async () => {
    const prodEnv = { NODE_ENV: "production", DATABASE_URL: "file::memory:", CORS_ORIGIN: "https://classmatefinder.com" };
    const hidden = await createTestApp({ env: prodEnv });
    expect((await hidden.call("GET", "/metrics")).status).toBe(404);
    const shown = await createTestApp({ env: { ...prodEnv, METRICS_TOKEN: "scrape-token-0123456789" } });
    expect((await shown.call("GET", "/metrics", { token: "scrape-token-0123456789" })).status).toBe(200);
  });
});
