import { describe, expect, test } from "bun:test";
import { createApp } from "../../src/app";
import { createLogger } from "../../src/logger";
import { retryDelayMs } from "../../src/mail/outbox-worker";
import { createTestApp } from "../support/app";

const HOUR = 3600_000;

describe("email outbox", () => {
  test("registration succeeds during a mail outage; the email arrives once the server is back, exactly once", async () => {
    const app = await createTestApp();
    app.mail.failing = true;
    const res = await app.call("POST", "/api/auth/register", {
      body: { email: "outage@ualberta.ca", username: "outage", password: "TestPass123", firstName: "Out" },
    });
    expect(res.status).toBe(201);
    await app.outbox.deliverDue();
    expect(app.mail.sent).toHaveLength(0);
    expect(await app.outbox.pendingCount()).toBe(1);

    app.mail.failing = false;
    await app.outbox.deliverDue(); // retry not due yet
    expect(app.mail.sent).toHaveLength(0);
    app.clock.advance(retryDelayMs(1));
    await app.outbox.deliverDue();
    await app.outbox.deliverDue();
    expect(app.mail.sent.map((m) => m.to)).toEqual(["outage@ualberta.ca"]);
    expect(await app.outbox.pendingCount()).toBe(0);
    const verified = await app.call("POST", "/api/auth/verify-email", {
      body: { token: app.mail.tokenFor("outage@ualberta.ca"), password: "TestPass123" },
    });
    expect(verified.status).toBe(200);
  });

  test("a queued email survives a restart: a new app on the same database delivers it", async () => {
    const first = await createTestApp();
    first.mail.failing = true;
    await first.call("POST", "/api/auth/register", {
      body: { email: "restart@ualberta.ca", username: "restart", password: "TestPass123", firstName: "R" },
    });
    await first.outbox.deliverDue();
    const second = await createTestApp({ database: first.database });
    second.clock.advance(60_000);
    await second.outbox.deliverDue();
    expect(second.mail.sent.map((m) => m.to)).toEqual(["restart@ualberta.ca"]);
  });

  test("retries back off exponentially from 2 s, capped at 5 minutes", () => {
    expect([1, 2, 3, 4].map(retryDelayMs)).toEqual([2000, 4000, 8000, 16000]);
    expect(retryDelayMs(20)).toBe(300_000);
  });

  test("after 24 hours of failures the email is given up, its link erased, with an error log line", async () => {
    const app = await createTestApp();
    app.mail.failing = true;
    await app.call("POST", "/api/auth/register", {
      body: { email: "lost@ualberta.ca", username: "lost", password: "TestPass123", firstName: "L" },
    });
    for (let elapsed = 0; elapsed <= 25 * HOUR; elapsed += 5 * 60_000) {
      await app.outbox.deliverDue();
      app.clock.advance(5 * 60_000);
    }
    expect(await app.outbox.pendingCount()).toBe(0);
    const [row] = await app.database.db.select().from(app.database.tables.emailOutbox);
    expect(row).toMatchObject({ status: "failed", link: null });
    const errors = app.logLines.map((line) => JSON.parse(line)).filter((entry) => entry.level === "error");
    expect(errors.map((entry) => entry.msg)).toContain("email outbox: giving up after 24 hours");
  });

  test("the log transport writes each email as one JSON line with recipient, subject and link", async () => {
    const app = await createTestApp();
    const lines: string[] = [];
    const logger = createLogger({ logLevel: "info" }, { write: (line: string) => void lines.push(line) });
    const logged = createApp({ config: app.config, database: app.database, logger, clock: app.clock });
    await logged.app.handle(
      new Request("http://localhost/api/auth/register", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ email: "logged@ualberta.ca", username: "logged", password: "TestPass123", firstName: "L" }),
      }),
    );
    await logged.outbox.deliverDue();
    const emails = lines.map((line) => JSON.parse(line)).filter((entry) => entry.email);
    expect(emails).toHaveLength(1);
    expect(emails[0].email).toMatchObject({ to: "logged@ualberta.ca", subject: expect.stringContaining("Verify") });
    expect(emails[0].email.link).toMatch(/^https:\/\/app\.classmatefinder\.test\/verify-email\?token=[A-Za-z0-9_-]{32,}$/);
  });
});
