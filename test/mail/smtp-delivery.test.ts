import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SMTPServer, type SMTPServerOptions } from "smtp-server";
import { createApp } from "../../src/app";
import { createLogger } from "../../src/logger";
import { retryDelayMs } from "../../src/mail/outbox-worker";
import { createTestApp, PASSWORD, TEST_HASHER } from "../support/app";

// Production mail as it really is: a private CA, STARTTLS required, a provider that fails over.
const dir = mkdtempSync(join(tmpdir(), "cmf-smtp-tls-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A test CA and a certificate for 127.0.0.1 signed by it, made with openssl for this run. */
function makeCertificates() {
  const run = (...args: string[]) => {
    const result = Bun.spawnSync(["openssl", ...args], { cwd: dir, stderr: "pipe" });
    if (result.exitCode !== 0) throw new Error(`openssl ${args[0]}: ${result.stderr.toString()}`);
  };
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  run(
    "req",
    "-x509",
    ...ec,
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "2",
    "-subj",
    "/CN=ClassmateFinder Test CA",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  );
  run("req", ...ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1");
  writeFileSync(join(dir, "ext.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
  run(
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "server.pem",
    "-days",
    "2",
    "-extfile",
    "ext.cnf",
  );
  return { caFile: join(dir, "ca.pem"), key: readFileSync(join(dir, "server.key")), cert: readFileSync(join(dir, "server.pem")) };
}
const certificates = makeCertificates();

interface Received {
  rcptTo: string[];
  secure: boolean;
  ehlo: string;
  text: string;
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

/** A real SMTP server on 127.0.0.1 recording what it accepts; STARTTLS only when given a certificate. */
async function startSmtpServer(options: { tls?: boolean; refuse?: boolean } = {}) {
  const received: Received[] = [];
  const serverOptions: SMTPServerOptions = {
    logger: false,
    authOptional: true,
    disabledCommands: options.tls ? [] : ["STARTTLS"],
    ...(options.tls ? { key: certificates.key, cert: certificates.cert } : {}),
    onMailFrom(_address, _session, callback) {
      if (options.refuse) return callback(Object.assign(new Error("mailbox service unavailable"), { responseCode: 451 }));
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", () => {
        received.push({
          rcptTo: session.envelope.rcptTo.map((rcpt) => rcpt.address),
          secure: session.secure,
          ehlo: session.hostNameAppearsAs,
          text: Buffer.concat(chunks).toString("utf8"),
        });
        callback();
      });
    },
  };
  const server = new SMTPServer(serverOptions);
  server.on("error", () => {});
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  servers.add(server);
  return { port: (server.server.address() as AddressInfo).port, received };
}

/** The service with MAIL_TRANSPORT=smtp and the given variables, through config → createTransport. */
async function smtpApp(env: Record<string, string>) {
  const base = await createTestApp({
    env: { MAIL_TRANSPORT: "smtp", MAIL_FROM: "ClassmateFinder <no-reply@classmatefinder.test>", ...env },
  });
  const logLines: string[] = [];
  const logger = createLogger(
    { logLevel: "debug" },
    { write: (chunk: string) => void logLines.push(...chunk.split("\n").filter(Boolean)) },
  );
  const built = createApp({ config: base.config, database: base.database, logger, clock: base.clock, hasher: TEST_HASHER });
  outboxes.add(built.outbox);
  const register = async (email: string) => {
    const response = await built.app.handle(
      new Request("http://localhost/api/auth/register", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ email, username: `u_${Math.random().toString(36).slice(2, 10)}`, password: PASSWORD, firstName: "Pat" }),
      }),
    );
    expect(response.status).toBe(201);
  };
  const logs = () => logLines.map((line) => JSON.parse(line) as Record<string, unknown>);
  const outboxRow = async () => (await base.database.db.select().from(base.database.tables.emailOutbox))[0];
  return { ...built, config: base.config, clock: base.clock, register, logs, logLines, outboxRow };
}

describe("SMTP in production", () => {
  test("STARTTLS with a certificate from a private CA, trusted through SMTP_CA_FILE; EHLO names the host; one delivery line", async () => {
    const server = await startSmtpServer({ tls: true });
    const url = `smtp://127.0.0.1:${server.port}`;
    // Without the CA the certificate is refused: the setting is what makes it work.
    const untrusted = await smtpApp({ SMTP_URL: url });
    await untrusted.register("untrusted@ualberta.ca");
    await untrusted.outbox.deliverDue();
    expect(server.received).toHaveLength(0);
    expect((await untrusted.outboxRow())?.lastError).toMatch(/certificate/i);

    const app = await smtpApp({ SMTP_URL: url, SMTP_CA_FILE: certificates.caFile, SMTP_TLS: "required" });
    await app.register("trusted@ualberta.ca");
    await app.outbox.deliverDue();
    expect(server.received.map((message) => [message.rcptTo, message.secure])).toEqual([[["trusted@ualberta.ca"], true]]);
    // APP_URL is https://app.classmatefinder.test in the tests: its host is the default EHLO name.
    expect(server.received[0]?.ehlo).toBe("app.classmatefinder.test");
    const delivered = app.logs().filter((entry) => entry.msg === "email delivered");
    expect(delivered).toEqual([
      expect.objectContaining({
        level: "info",
        kind: "verify_email",
        attempt: 1,
        emailId: expect.any(String),
        durationMs: expect.any(Number),
      }),
    ]);
    const line = app.logLines.find((entry) => entry.includes('"email delivered"')) ?? "";
    expect(line).not.toContain("trusted@ualberta.ca");
    expect(line).not.toContain("token=");
  });

  test("SMTP_EHLO_NAME sets the name given in EHLO", async () => {
    const server = await startSmtpServer();
    const app = await smtpApp({ SMTP_URL: `smtp://127.0.0.1:${server.port}`, SMTP_EHLO_NAME: "mail.classmatefinder.test" });
    await app.register("ehlo@ualberta.ca");
    await app.outbox.deliverDue();
    expect(server.received.map((message) => message.ehlo)).toEqual(["mail.classmatefinder.test"]);
  });

  test("SMTP_TLS=required against a server without STARTTLS sends nothing in clear and retries later", async () => {
    const server = await startSmtpServer();
    const app = await smtpApp({ SMTP_URL: `smtp://127.0.0.1:${server.port}`, SMTP_TLS: "required" });
    await app.register("cleartext@ualberta.ca");
    await app.outbox.deliverDue();
    app.clock.advance(retryDelayMs(1));
    await app.outbox.deliverDue();
    expect(server.received).toHaveLength(0);
    const row = await app.outboxRow();
    expect(row).toMatchObject({ status: "queued", attempts: 2 }); // still waiting (sealed), not sent
    expect(row?.lastError).toMatch(/TLS/i);
    expect(app.logs().filter((entry) => entry.msg === "email outbox: send failed, will retry")).toHaveLength(2);
  });

  test("SMTP_FALLBACK_URL: while the primary is down or refuses, the fallback delivers each email exactly once", async () => {
    const fallback = await startSmtpServer();
    const refusing = await startSmtpServer({ refuse: true });
    const closedPort = (await startSmtpServer()).port;
    for (const server of servers) if ((server.server.address() as AddressInfo).port === closedPort) server.close();

    for (const [primaryUrl, label] of [
      [`smtp://127.0.0.1:${closedPort}`, "down"],
      [`smtp://127.0.0.1:${refusing.port}`, "refusing"],
    ] as const) {
      fallback.received.length = 0;
      const app = await smtpApp({ SMTP_URL: primaryUrl, SMTP_FALLBACK_URL: `smtp://127.0.0.1:${fallback.port}` });
      const emails = [1, 2, 3].map((i) => `fallback.${label}.${i}@ualberta.ca`);
      for (const email of emails) await app.register(email);
      await app.outbox.deliverDue();
      await app.outbox.deliverDue();
      expect(fallback.received.flatMap((message) => message.rcptTo).sort()).toEqual([...emails].sort());
      expect(refusing.received).toHaveLength(0);
      expect(await app.outbox.pendingCount()).toBe(0);
      expect(app.logs().some((entry) => entry.msg === "primary SMTP provider failed: using the fallback provider")).toBe(true);
      expect(
        app
          .logs()
          .filter((entry) => entry.msg === "email delivered")
          .map((entry) => String(entry.via)),
      ).toEqual(emails.map(() => `fallback 127.0.0.1:${fallback.port}`));
    }
  });
});
