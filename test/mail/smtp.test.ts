import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type AddressObject, type ParsedMail, simpleParser } from "mailparser";
import { SMTPServer } from "smtp-server";
import { createApp } from "../../src/app";
import { type Clock, systemClock } from "../../src/clock";
import { type Database, openDatabase } from "../../src/db/database";
import { applyMigrations } from "../../src/db/migrate";
import { argon2idHasher } from "../../src/hashing/password-hasher";
import { createLogger } from "../../src/logger";
import { retryDelayMs } from "../../src/mail/outbox-worker";
import { createTestApp, PASSWORD } from "../support/app";
import { freshDatabaseConfig, TEST_DIALECT } from "../support/database";

const APP_URL = "https://app.classmatefinder.test";
const FROM_ADDRESS = "no-reply@classmatefinder.test";
const MAIL_FROM = `ClassmateFinder <${FROM_ADDRESS}>`;

interface Received {
  mailFrom: string;
  rcptTo: string[];
  user: unknown;
  raw: string;
  parsed: ParsedMail;
  at: number;
}

interface TestSmtpServerOptions {
  port?: number;
  /** Require AUTH with these credentials. */
  auth?: { user: string; pass: string };
  /** Wait this long after the message data before answering 250. */
  dataDelayMs?: number;
  onDataStart?: () => void;
  /** Implicit TLS with smtp-server's built-in (untrusted) certificate. */
  secure?: boolean;
  /** Offer STARTTLS with smtp-server's built-in (untrusted) certificate. */
  starttls?: boolean;
}

const servers = new Set<SMTPServer>();
/** The apps' outboxes: stopped first, so that their pooled SMTP connections close before the servers. */
const outboxes = new Set<{ stop(): Promise<void> }>();
afterEach(async () => {
  for (const outbox of outboxes) await outbox.stop();
  outboxes.clear();
  for (const server of servers) await new Promise<void>((resolve) => server.close(() => resolve()));
  servers.clear();
});

/** A real SMTP server on 127.0.0.1 that records each accepted message. */
async function startSmtpServer(options: TestSmtpServerOptions = {}) {
  const received: Received[] = [];
  const authAttempts: string[] = [];
  const server = new SMTPServer({
    secure: options.secure ?? false,
    logger: false,
    disabledCommands: options.starttls || options.secure ? [] : ["STARTTLS"],
    authOptional: !options.auth,
    allowInsecureAuth: true,
    onAuth(auth, _session, callback) {
      authAttempts.push(auth.username ?? "");
      if (options.auth && auth.username === options.auth.user && auth.password === options.auth.pass) {
        callback(null, { user: auth.username });
      } else {
        callback(new Error("Invalid username or password"));
      }
    },
    onData(stream, session, callback) {
      options.onDataStart?.();
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", async () => {
        const raw = Buffer.concat(chunks);
        const parsed = await simpleParser(raw);
        if (options.dataDelayMs) await Bun.sleep(options.dataDelayMs);
        received.push({
          mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
          rcptTo: session.envelope.rcptTo.map((rcpt) => rcpt.address),
          user: session.user,
          raw: raw.toString("utf8"),
          parsed,
          at: Date.now(),
        });
        callback();
      });
    },
  });
  // A client that refuses the certificate hangs up mid-handshake: an expected error on the server side.
  const errors: Error[] = [];
  server.on("error", (error) => void errors.push(error));
  await new Promise<void>((resolve, reject) => {
    server.server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  servers.add(server);
  const port = (server.server.address() as AddressInfo).port;
  const close = () =>
    new Promise<void>((resolve) => {
      servers.delete(server);
      server.close(() => resolve());
    });
  return { port, received, authAttempts, errors, close };
}

/** A port on 127.0.0.1 on which nothing listens (yet). */
async function closedPort(): Promise<number> {
  const probe = await startSmtpServer();
  await probe.close();
  return probe.port;
}

/**
 * The service with MAIL_TRANSPORT=smtp from the environment (so config → createTransport → smtpTransport),
 * on a fresh database or a given one, with its own captured log lines.
 */
async function smtpApp(smtpUrl: string, options: { database?: Database; clock?: Clock; pollIntervalMs?: number } = {}) {
  const base = await createTestApp({
    database: options.database,
    env: { MAIL_TRANSPORT: "smtp", SMTP_URL: smtpUrl, MAIL_FROM, APP_URL },
  });
  const clock = options.clock ?? base.clock;
  const logLines: string[] = [];
  const logger = createLogger({ logLevel: "debug" }, { write: (line: string) => void logLines.push(line) });
  const hasher = argon2idHasher({ memoryKib: 1024, timeCost: 1 });
  const built = createApp({
    config: base.config,
    database: base.database,
    logger,
    clock,
    hasher,
    outboxPollIntervalMs: options.pollIntervalMs,
  });
  outboxes.add(built.outbox);

  async function call(method: string, path: string, body?: unknown) {
    const response = await built.app.handle(
      new Request(`http://localhost${path}`, {
        method,
        headers: body === undefined ? {} : { "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      }),
    );
    const text = await response.text();
    // Resend-verification and forgot-password queue their email just after answering.
    await built.auth.deferred.settled();
    return { status: response.status, text, json: text ? JSON.parse(text) : null };
  }
  async function register(email: string, username = `u_${Math.random().toString(36).slice(2, 10)}`, firstName = "Test") {
    const res = await call("POST", "/api/auth/register", { email, username, password: PASSWORD, firstName });
    expect(res.status).toBe(201);
    return res;
  }
  // `clock` is the ManualClock to advance (the app runs on it unless another clock was given).
  return { ...built, config: base.config, database: base.database, clock: base.clock, logLines, call, register };
}

const addresses = (field: AddressObject | AddressObject[] | undefined) =>
  (Array.isArray(field) ? field : field ? [field] : []).flatMap((group) => group.value.map((entry) => entry.address));

function linkIn(content: string, page: "verify-email" | "reset-password"): string {
  const escaped = APP_URL.replace(/[.]/g, "\\.");
  const match = content.match(new RegExp(`${escaped}/${page}\\?token=([A-Za-z0-9_-]{32,})`));
  if (!match?.[1]) throw new Error(`no ${page} link in ${content}`);
  return match[1];
}

async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("condition not reached before the deadline");
    await Bun.sleep(20);
  }
}

/**
 * Checks one received email: envelope and headers, both bodies carrying the same link to `page` and the
 * token's lifetime, nothing else of the account. Returns the token from the link.
 */
function expectEmail(message: Received, to: string, subject: string, page: "verify-email" | "reset-password", lifetime: string): string {
  expect(message.rcptTo).toEqual([to]);
  expect(message.mailFrom).toBe(FROM_ADDRESS);
  expect(addresses(message.parsed.to)).toEqual([to]);
  expect(message.parsed.from?.value).toEqual([{ address: FROM_ADDRESS, name: "ClassmateFinder" }]);
  expect(message.parsed.subject).toBe(subject);
  const text = message.parsed.text ?? "";
  const html = typeof message.parsed.html === "string" ? message.parsed.html : "";
  const token = linkIn(text, page);
  expect(linkIn(html, page)).toBe(token);
  expect(text).toContain(lifetime);
  expect(html).toContain(lifetime);
  for (const secret of ["quokka_4711", "Marguerite", PASSWORD]) expect(message.raw).not.toContain(secret);
  return token;
}

describe("SMTP transport", () => {
  test("verification and reset emails arrive through a real SMTP server with the link, the lifetime and nothing else of the account", async () => {
    const server = await startSmtpServer();
    const app = await smtpApp(`smtp://127.0.0.1:${server.port}`);
    expect(app.config.mail).toMatchObject({ transport: "smtp", smtpUrl: `smtp://127.0.0.1:${server.port}`, from: MAIL_FROM });
    const email = "zq.student@ualberta.ca";
    await app.register(email, "quokka_4711", "Marguerite");
    await app.outbox.deliverDue();

    expect(server.received).toHaveLength(1);
    const token = expectEmail(
      server.received[0] as Received,
      email,
      "Verify your ClassmateFinder email address",
      "verify-email",
      "24 hours",
    );

    expect((await app.call("POST", "/api/auth/verify-email", { token, password: PASSWORD })).status).toBe(200);
    // Delivered: the outbox no longer holds the link.
    const [row] = await app.database.db.select().from(app.database.tables.emailOutbox);
    expect(row).toMatchObject({ status: "sent", link: null });

    expect((await app.call("POST", "/api/auth/forgot-password", { email })).status).toBe(202);
    await app.outbox.deliverDue();
    expect(server.received).toHaveLength(2);
    const resetToken = expectEmail(
      server.received[1] as Received,
      email,
      "Reset your ClassmateFinder password",
      "reset-password",
      "1 hour",
    );

    const newPassword = "Lantern-Harbor-Quiet-93";
    expect((await app.call("POST", "/api/auth/reset-password", { token: resetToken, password: newPassword })).status).toBe(200);
    expect((await app.call("POST", "/api/auth/login", { email, password: newPassword })).status).toBe(200);
  });

  test("credentials in SMTP_URL (percent-encoded) authenticate; the password never appears in a log line", async () => {
    const pass = "s3cr:t/p@ss%w?rd#1";
    const server = await startSmtpServer({ auth: { user: "mailer", pass } });
    const app = await smtpApp(`smtp://mailer:${encodeURIComponent(pass)}@127.0.0.1:${server.port}`);
    await app.register("auth.student@ualberta.ca");
    await app.outbox.deliverDue();
    expect(server.received.map((m) => m.rcptTo)).toEqual([["auth.student@ualberta.ca"]]);
    expect(server.received[0]?.user).toBe("mailer");

    // A wrong password: the server refuses, the email stays queued, and neither password is logged or stored.
    const wrong = "Wr0ng:Pa55w0rd!";
    const refused = await smtpApp(`smtp://mailer:${encodeURIComponent(wrong)}@127.0.0.1:${server.port}`);
    await refused.register("refused.student@ualberta.ca");
    await refused.outbox.deliverDue();
    expect(server.received).toHaveLength(1);
    expect(await refused.outbox.pendingCount()).toBe(1);
    const warnings = refused.logLines
      .map((line) => JSON.parse(line))
      .filter((entry) => entry.msg === "email outbox: send failed, will retry");
    expect(warnings).toHaveLength(1);
    expect(warnings[0].reason).toMatch(/auth|login|credentials|password/i);
    const [row] = await refused.database.db.select().from(refused.database.tables.emailOutbox);

    const stored = [...app.logLines, ...refused.logLines, row?.lastError ?? ""];
    expect(app.logLines.some((line) => line.includes('"mail transport: smtp"'))).toBe(true);
    for (const secret of [pass, encodeURIComponent(pass), wrong, encodeURIComponent(wrong)]) {
      for (const line of stored) expect(line).not.toContain(secret);
    }
    expect(server.authAttempts).toEqual(["mailer", "mailer"]);
  });

  test("certificates are verified: an untrusted certificate fails the send, over smtps:// and over STARTTLS", async () => {
    for (const [scheme, options] of [
      ["smtps", { secure: true }],
      ["smtp", { starttls: true }],
    ] as const) {
      const server = await startSmtpServer(options);
      const app = await smtpApp(`${scheme}://127.0.0.1:${server.port}`);
      await app.register(`tls.${scheme}@ualberta.ca`);
      await app.outbox.deliverDue();
      expect(server.received).toHaveLength(0);
      expect(await app.outbox.pendingCount()).toBe(1);
      const [row] = await app.database.db.select().from(app.database.tables.emailOutbox);
      expect(row?.lastError).toMatch(/certificate/i);
    }
  });

  test("outage: registration succeeds while the SMTP server is down; after the retry delay the email arrives exactly once", async () => {
    const port = await closedPort();
    const app = await smtpApp(`smtp://127.0.0.1:${port}`);
    await app.register("outage.student@ualberta.ca");
    await app.outbox.deliverDue();
    expect(await app.outbox.pendingCount()).toBe(1);
    const warnings = app.logLines.map((line) => JSON.parse(line)).filter((entry) => entry.msg === "email outbox: send failed, will retry");
    expect(warnings.map((entry) => entry.reason)).toEqual([expect.stringContaining("ECONNREFUSED")]);

    const server = await startSmtpServer({ port });
    await app.outbox.deliverDue(); // the retry is not due yet
    expect(server.received).toHaveLength(0);
    app.clock.advance(retryDelayMs(1));
    await app.outbox.deliverDue();
    await app.outbox.deliverDue();
    app.clock.advance(3600_000);
    await app.outbox.deliverDue();
    expect(server.received.map((m) => m.rcptTo)).toEqual([["outage.student@ualberta.ca"]]);
    expect(await app.outbox.pendingCount()).toBe(0);
    const token = linkIn(server.received[0]?.parsed.text ?? "", "verify-email");
    expect((await app.call("POST", "/api/auth/verify-email", { token, password: PASSWORD })).status).toBe(200);
  });

  test("outage across a restart: a new instance on the same database delivers the queued email exactly once", async () => {
    const port = await closedPort();
    const first = await smtpApp(`smtp://127.0.0.1:${port}`);
    await first.register("restart.student@ualberta.ca");
    await first.outbox.deliverDue();
    await first.outbox.stop();
    expect(await first.outbox.pendingCount()).toBe(1);

    const server = await startSmtpServer({ port });
    const second = await smtpApp(`smtp://127.0.0.1:${port}`, { database: first.database });
    await second.outbox.deliverDue();
    expect(server.received).toHaveLength(0); // still waiting for the retry delay
    second.clock.advance(retryDelayMs(1));
    await second.outbox.deliverDue();
    await second.outbox.deliverDue();
    expect(server.received.map((m) => m.rcptTo)).toEqual([["restart.student@ualberta.ca"]]);
    const token = linkIn(server.received[0]?.parsed.text ?? "", "verify-email");
    expect((await second.call("POST", "/api/auth/verify-email", { token, password: PASSWORD })).status).toBe(200);
  });

  test(`two instances with running workers on one ${TEST_DIALECT} database send each of 20 emails exactly once`, async () => {
    const server = await startSmtpServer();
    const url = `smtp://127.0.0.1:${server.port}`;
    const dir = mkdtempSync(join(tmpdir(), "cmf-smtp-"));
    const config =
      TEST_DIALECT === "sqlite"
        ? { kind: "sqlite" as const, url: `file:${join(dir, "shared.db")}`, path: join(dir, "shared.db") }
        : await freshDatabaseConfig();
    const databases = [openDatabase(config), openDatabase(config)] as const;
    try {
      await applyMigrations(databases[0]);
      const instances = [
        await smtpApp(url, { database: databases[0], clock: systemClock, pollIntervalMs: 10 }),
        await smtpApp(url, { database: databases[1], clock: systemClock, pollIntervalMs: 10 }),
      ];
      const recipients = Array.from({ length: 20 }, (_, i) => `pair${i}@ualberta.ca`);
      // A backlog larger than one batch that both workers compete for as they start, then registrations
      // while they run.
      for (const [i, email] of recipients.slice(0, 15).entries()) await instances[i % 2]?.register(email);
      for (const instance of instances) instance.outbox.start();
      for (const [i, email] of recipients.slice(15).entries()) await instances[i % 2]?.register(email);

      await waitFor(() => server.received.length >= recipients.length);
      // Several more poll rounds of both workers: nothing is sent twice.
      await Bun.sleep(300);
      for (const instance of instances) await instance.outbox.stop();
      expect(server.received).toHaveLength(recipients.length);
      expect(server.received.flatMap((m) => m.rcptTo).sort()).toEqual([...recipients].sort());
      expect(await instances[0]?.outbox.pendingCount()).toBe(0);
    } finally {
      for (const database of databases) await database.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  test("stop() waits for the send in progress: the email is delivered before stop resolves", async () => {
    let dataStarted!: () => void;
    const sending = new Promise<void>((resolve) => {
      dataStarted = resolve;
    });
    const server = await startSmtpServer({ dataDelayMs: 400, onDataStart: () => dataStarted() });
    const app = await smtpApp(`smtp://127.0.0.1:${server.port}`, { pollIntervalMs: 10 });
    app.outbox.start();
    await app.register("slow.student@ualberta.ca");
    await sending;
    expect(server.received).toHaveLength(0);
    await app.outbox.stop();
    const stoppedAt = Date.now();
    expect(server.received.map((m) => m.rcptTo)).toEqual([["slow.student@ualberta.ca"]]);
    expect(stoppedAt).toBeGreaterThanOrEqual(server.received[0]?.at ?? Number.POSITIVE_INFINITY);
    expect(await app.outbox.pendingCount()).toBe(0);
  });
});
