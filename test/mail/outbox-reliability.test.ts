import { afterEach, describe, expect, test } from "bun:test";
import { createApp } from "../../src/app";
import type { Database } from "../../src/db/database";
import { DatabaseUnavailableError } from "../../src/db/errors";
import { createLogger } from "../../src/logger";
import { retryDelayMs } from "../../src/mail/outbox-worker";
import { createTestApp, TEST_HASHER } from "../support/app";
import { openTestDatabase } from "../support/database";
import { withoutRelease } from "../support/metrics";
import { SmtpSink } from "../support/smtp-sink";

// Issue 30: exactly once in normal operation, by construction; permanent refusals given up.
const sinks = new Set<SmtpSink>();
const outboxes = new Set<{ stop(): Promise<void> }>();
afterEach(async () => {
  for (const outbox of outboxes) await outbox.stop();
  for (const sink of sinks) await sink.stop();
  outboxes.clear();
  sinks.clear();
});

async function sink(options: ConstructorParameters<typeof SmtpSink>[0] = {}) {
  const started = await SmtpSink.start(options);
  sinks.add(started);
  return started;
}

/** An instance of the service delivering through `smtpUrl`, on the system clock (the database's time), with captured logs. */
function instance(database: Database, smtpUrl: string, config: Awaited<ReturnType<typeof createTestApp>>["config"]) {
  const lines: string[] = [];
  const logger = createLogger({ logLevel: "info" }, { write: (chunk: string) => void lines.push(...chunk.split("\n").filter(Boolean)) });
  const built = createApp({
    config: { ...config, mail: { ...config.mail, transport: "smtp", smtpUrl } },
    database,
    logger,
    hasher: TEST_HASHER,
    outboxPollIntervalMs: 100,
  });
  outboxes.add(built.outbox);
  return { ...built, logs: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`not reached within ${timeoutMs} ms`);
    await Bun.sleep(50);
  }
}

describe("email outbox: each email once", () => {
  test("the recording of a delivered email fails once (database cut at that moment): the recording is retried, the email is not sent again", async () => {
    const database = await openTestDatabase();
    let failNextWrite = false;
    // The database as the worker sees it: the first write after a send fails, as during a cut or a full disk.
    const flaky: Database = {
      ...database,
      statement: (work) => {
        if (!failNextWrite) return database.statement(work);
        failNextWrite = false;
        return Promise.reject(new DatabaseUnavailableError("connection cut while recording"));
      },
    };
    const app = await createTestApp({ database: flaky });
    const send = app.mail.send.bind(app.mail);
    app.mail.send = async (message) => {
      await send(message);
      failNextWrite = true;
    };
    await app.registerUser({ verify: false, email: "recorded.once@ualberta.ca" });
    for (let round = 0; round < 3; round++) {
      app.clock.advance(3600_000);
      await app.outbox.deliverDue();
    }
    expect(app.mail.sent.map((message) => message.to)).toEqual(["recorded.once@ualberta.ca"]);
    const [row] = await database.db.select().from(database.tables.emailOutbox);
    expect(row).toMatchObject({ status: "sent", link: null });
    const messages = app.logLines.map((line) => JSON.parse(line).msg as string);
    expect(messages.filter((msg) => msg === "email delivered")).toHaveLength(1);
    expect(messages).toContain("email outbox: recording a delivery failed: retrying the recording, not the send");
    expect(messages).not.toContain("email outbox: send failed, will retry");
  });

  test("two instances and a mail server slower than a claim's lease (11 s a message): each of 7 emails is delivered once", async () => {
    const server = await sink({ delayMs: 11_000 });
    const base = await createTestApp();
    const recipients = Array.from({ length: 7 }, (_, i) => `slow.server.${i}@ualberta.ca`);
    for (const [i, email] of recipients.entries()) {
      const registered = await base.call("POST", "/api/auth/register", {
        body: { email, username: `slow_server_${i}`, password: "TestPass123", firstName: "S" },
      });
      expect(registered.status).toBe(201);
    }
    const [a, b] = [instance(base.database, server.url, base.config), instance(base.database, server.url, base.config)];
    a.outbox.start();
    b.outbox.start();
    await waitFor(() => server.received.length >= recipients.length, 45_000);
    await Bun.sleep(1500); // more poll rounds of both: nothing else goes out
    expect([...server.counts()].sort()).toEqual(recipients.map((to) => [to, 1] as [string, number]).sort());
  }, 60_000);

  test("stop() while the mail server hangs mid-message: it ends within its grace, the claim is released, another instance delivers", async () => {
    const server = await sink({ delayMs: 60_000 });
    const base = await createTestApp();
    const registered = await base.call("POST", "/api/auth/register", {
      body: { email: "hung.server@ualberta.ca", username: "hung_server", password: "TestPass123", firstName: "H" },
    });
    expect(registered.status).toBe(201);
    const first = instance(base.database, server.url, base.config);
    first.outbox.start();
    const { emailOutbox } = base.database.tables;
    // The message is with the server (claimed, attempt 1, a moment to reach DATA) when the stop comes.
    for (let i = 0; i < 50 && (await base.database.db.select().from(emailOutbox))[0]?.attempts !== 1; i++) await Bun.sleep(100);
    await Bun.sleep(300);
    await first.outbox.stop(500);
    expect(first.logs().map((entry) => entry.msg)).toContain("email outbox: sends still in progress at shutdown: abandoned, retried later");
    const [released] = await base.database.db.select().from(emailOutbox);
    expect(released).toMatchObject({ status: "queued", lockedUntil: null });

    server.options = {};
    const second = instance(base.database, server.url, base.config);
    second.outbox.start();
    await waitFor(() => server.received.length >= 1, 10_000);
    expect(server.received.map((message) => message.to)).toEqual(["hung.server@ualberta.ca"]);
  }, 30_000);

  test("a stream of registrations: the emails go out on their wakes while it lasts (a wake never postpones a round), each once, claimed without empty claims", async () => {
    const database = await openTestDatabase();
    let claims = 0;
    // Claims are the worker's bookkeeping updates of the outbox (lease renewals too, but no send here lasts that long).
    const counting: Database = {
      ...database,
      bookkeeping: (work) =>
        database.bookkeeping((db) =>
          work(
            new Proxy(db, {
              get: (target, property, receiver) =>
                property === "update"
                  ? (table: Parameters<typeof db.update>[0]) => {
                      if (table === database.tables.emailOutbox) claims += 1;
                      return target.update(table);
                    }
                  : Reflect.get(target, property, receiver),
            }),
          ),
        ),
    };
    const app = await createTestApp({ database: counting, outboxPollIntervalMs: 600_000 }); // no poll in this test
    outboxes.add(app.outbox);
    app.outbox.start();
    await waitFor(() => claims > 0, 5_000); // the round at start, with nothing to send
    claims = 0;
    const recipients = Array.from({ length: 40 }, (_, i) => `stream.${i}@ualberta.ca`);
    const sentAfter: number[] = [];
    for (const [i, email] of recipients.entries()) {
      const registered = await app.call("POST", "/api/auth/register", {
        body: { email, username: `stream_${i}`, password: "TestPass123", firstName: "S" },
      });
      expect(registered.status).toBe(201);
      sentAfter.push(app.mail.sent.length);
      await Bun.sleep(10); // the stream lasts 0.3 s at least, however fast a registration is
    }
    // Registrations 10–30 ms apart, each with its wake: had a wake postponed the round an earlier one
    // scheduled, at most one email (from the round under way at the start) would have gone out before
    // the stream ended; rounds every 50 ms sent most of the first 30 meanwhile.
    expect(sentAfter[29]).toBeGreaterThanOrEqual(5);
    await waitFor(() => app.mail.sent.length >= recipients.length, 10_000);
    await Bun.sleep(300);
    expect(app.mail.sent.map((message) => message.to).sort()).toEqual([...recipients].sort());
    // Fewer claims than emails: a round claims what came in since the last, and no send is followed by a
    // claim that finds nothing (that was two claims an email).
    expect(claims).toBeLessThanOrEqual(recipients.length);
  });

  test("stop() while a claim is under way: the claimed email is not sent but released", async () => {
    const database = await openTestDatabase();
    let claimStarted = () => {};
    const claiming = new Promise<void>((resolve) => {
      claimStarted = resolve;
    });
    let finishClaim = () => {};
    const claimMayFinish = new Promise<void>((resolve) => {
      finishClaim = resolve;
    });
    // Once registered, the worker's claim is the one bookkeeping write: held back until the stop has begun.
    let holdBack = false;
    const slowClaims: Database = {
      ...database,
      bookkeeping: async (work) => {
        if (!holdBack) return database.bookkeeping(work);
        claimStarted();
        await claimMayFinish;
        return database.bookkeeping(work);
      },
    };
    const app = await createTestApp({ database: slowClaims });
    expect(
      (
        await app.call("POST", "/api/auth/register", {
          body: { email: "stopped.claim@ualberta.ca", username: "stopped_claim", password: "TestPass123", firstName: "S" },
        })
      ).status,
    ).toBe(201);
    holdBack = true;
    app.outbox.start();
    await claiming;
    const stopped = app.outbox.stop();
    finishClaim();
    await stopped;
    await Bun.sleep(100);
    expect(app.mail.sent).toEqual([]);
    const [row] = await database.db.select().from(database.tables.emailOutbox);
    expect(row).toMatchObject({ status: "queued", lockedUntil: null });
  });

  test("a permanent refusal (550 for the recipient) is given up after 3 tries, with an error line and the failed metric; a 451 is retried", async () => {
    const server = await sink({ refuseRecipients: (address) => address.startsWith("refused") });
    const app = await createTestApp({ env: { MAIL_TRANSPORT: "smtp", SMTP_URL: server.url } });
    const lines: string[] = [];
    const logger = createLogger({ logLevel: "info" }, { write: (chunk: string) => void lines.push(...chunk.split("\n").filter(Boolean)) });
    const built = createApp({ config: app.config, database: app.database, logger, clock: app.clock, hasher: TEST_HASHER });
    outboxes.add(built.outbox);
    const register = (email: string) =>
      built.app.handle(
        new Request("http://localhost/api/auth/register", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ email, username: email.split("@")[0]?.replace(/\W/g, "_"), password: "TestPass123", firstName: "R" }),
        }),
      );
    expect((await register("refused.student@ualberta.ca")).status).toBe(201);
    for (let attempt = 1; attempt <= 5; attempt++) {
      await built.outbox.deliverDue();
      app.clock.advance(retryDelayMs(attempt));
    }
    const { emailOutbox } = app.database.tables;
    const [refused] = await app.database.db.select().from(emailOutbox);
    expect(refused).toMatchObject({ status: "failed", attempts: 3, link: null });
    const logs = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(logs.filter((entry) => entry.msg === "email outbox: the mail server refused the email for good: giving up")).toEqual([
      expect.objectContaining({ level: "error", attempts: 3, reason: expect.stringContaining("550") }),
    ]);
    expect(JSON.stringify(logs)).not.toContain("refused.student@");
    expect(withoutRelease((await built.metrics.scrape()).text)).toContain('emails_sent_total{kind="verify_email",result="failed"} 1');

    // A temporary refusal is no reason to give up.
    server.options = { refuse: 451 };
    expect((await register("deferred.student@ualberta.ca")).status).toBe(201);
    for (let attempt = 1; attempt <= 5; attempt++) {
      await built.outbox.deliverDue();
      app.clock.advance(retryDelayMs(attempt));
    }
    server.options = {};
    await built.outbox.deliverDue();
    expect(server.received.map((message) => message.to)).toEqual(["deferred.student@ualberta.ca"]);
  });
});
