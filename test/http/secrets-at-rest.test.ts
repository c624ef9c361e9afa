import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { openDatabase } from "../../src/db/database";
import { applyMigrations } from "../../src/db/migrate";
import { createTestApp } from "../support/app";

// Finding 8: what the database keeps. Email addresses only in `users`; links only sealed, and not at all
// once delivered.
const dump = async (app: Awaited<ReturnType<typeof createTestApp>>) => {
  const { rateLimits, emailOutbox, emailTokens, revokedTokens } = app.database.tables;
  const db = app.database.db;
  return JSON.stringify([
    await db.select().from(rateLimits),
    await db.select().from(emailOutbox),
    await db.select().from(emailTokens),
    await db.select().from(revokedTokens),
  ]);
};

describe("no email address in clear outside the users table", () => {
  test("failed logins, registrations and email requests leave only keyed hashes behind", async () => {
    const app = await createTestApp({ env: { TRUST_PROXY: "true" } });
    const { email } = await app.registerUser();
    const typo = "unregistered.typo@ualberta.ca";
    const headers = { "x-forwarded-for": "198.51.100.77" };
    await app.call("POST", "/api/auth/login", { body: { email: typo, password: "WrongPass999" }, headers });
    await app.call("POST", "/api/auth/login", { body: { email, password: "WrongPass999" }, headers });
    await app.call("POST", "/api/auth/forgot-password", { body: { email }, headers });
    await app.call("POST", "/api/auth/resend-verification", { body: { email: typo }, headers });
    await app.outbox.deliverDue();
    const stored = await dump(app);
    expect(stored.length).toBeGreaterThan(100);
    for (const secret of [email, typo, email.split("@")[0] as string, "198.51.100.77"]) expect(stored).not.toContain(secret);
  });

  test("a queued email holds its recipient and link sealed; once delivered, neither", async () => {
    const app = await createTestApp();
    app.mail.failing = true;
    const { email } = await app.registerUser({ verify: false });
    const { emailOutbox } = app.database.tables;
    const [pending] = await app.database.db.select().from(emailOutbox);
    expect(pending?.status).toBe("queued");
    expect(pending?.link).toStartWith("enc1.");
    expect(pending?.recipient).not.toContain(email);
    app.mail.failing = false;
    app.clock.advance(60_000);
    await app.outbox.deliverDue();
    const token = app.mail.tokenFor(email);
    const [sent] = await app.database.db.select().from(emailOutbox);
    expect(sent?.status).toBe("sent");
    expect(sent?.link).toBeNull();
    expect(JSON.stringify(sent)).not.toContain(email);
    expect(await dump(app)).not.toContain(token);
    // The link still works: it was read back from the sealed row.
    expect((await app.call("POST", "/api/auth/verify-email", { body: { token, password: "TestPass123" } })).status).toBe(200);
  });
});

describe("a mail server's refusal quoting the address", () => {
  test("is stored and logged without the address", async () => {
    const app = await createTestApp();
    const send = app.mail.send.bind(app.mail);
    app.mail.send = async (message) => {
      throw new Error(`Can't send mail - all recipients were rejected: 550 5.1.1 <${message.to}>: Recipient address rejected`);
    };
    const { email } = await app.registerUser({ verify: false });
    const [row] = await app.database.db.select().from(app.database.tables.emailOutbox);
    expect(row?.lastError).toContain("[email]");
    expect(JSON.stringify(row)).not.toContain(email);
    expect(app.logLines.filter((line) => line.includes(email) && !line.includes('"audit":true'))).toEqual([]);
    app.mail.send = send;
  });
});

describe("canary: the release before this one on the same database", () => {
  test("its queued emails (link in clear) are delivered and cleared; it never claims a sealed one", async () => {
    const app = await createTestApp();
    const { user, email } = await app.registerUser({ verify: false });
    const { emailOutbox } = app.database.tables;
    const db = app.database.db;
    // What the previous release claims: status "pending" only.
    expect(await db.select().from(emailOutbox).where(eq(emailOutbox.status, "pending"))).toEqual([]);
    const link = "https://app.classmatefinder.test/verify-email?token=written-by-the-previous-release-0123456789";
    await db.insert(emailOutbox).values({
      id: crypto.randomUUID(),
      userId: user.id,
      kind: "verify_email",
      recipient: email,
      link,
      status: "pending",
      attempts: 0,
      nextAttemptAt: app.clock.now(),
      createdAt: app.clock.now(),
    });
    await app.outbox.deliverDue();
    expect(app.mail.sent.at(-1)).toMatchObject({ to: email, link });
    const rows = await db.select().from(emailOutbox);
    expect(rows.every((row) => row.status === "sent" && row.link === null && !row.recipient.includes(email))).toBe(true);
  });
});

// Its own SQLite file, whatever TEST_DATABASE says: SQLite is always at hand.
describe("SQLite files", () => {
  test("neither the database file nor its WAL holds a delivered link; freed pages are overwritten", async () => {
    const dir = await mkdtemp(join(tmpdir(), "cmf-at-rest-"));
    const path = join(dir, "carve.db");
    const database = openDatabase({ kind: "sqlite", url: `file:${path}`, path });
    try {
      await applyMigrations(database);
      const app = await createTestApp({ database });
      const { email } = await app.registerUser({ verify: false, email: "carved@ualberta.ca", username: "carved_one" });
      const token = app.mail.tokenFor(email);
      await app.call("POST", "/api/auth/forgot-password", { body: { email: "nobody-here@ualberta.ca" } });
      const files = () => ["", "-wal"].map((suffix) => readFileSync(`${path}${suffix}`, { flag: "r" }).toString("latin1")).join("");
      const raw = files();
      expect(raw).not.toContain(token);
      expect(raw).not.toContain("nobody-here");
      expect(raw).toContain("carved_one");
      const pragma = (database.db as unknown as { $client: { query(sql: string): { get(): unknown } } }).$client
        .query("PRAGMA secure_delete")
        .get();
      expect(pragma).toEqual({ secure_delete: 1 });
    } finally {
      await database.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
