import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freshDatabaseConfig, TEST_DIALECT } from "../support/database";
import { type ServiceProcess, startServiceProcess } from "../support/service-process";
import { SmtpSink } from "../support/smtp-sink";

// Issue 30: the host's clock stepped (NTP after a long suspend, a VM restored from a snapshot). The
// service runs under libfaketime, whose offset the test changes while it runs: with SQLite the database
// (in the process) sees the step too; PostgreSQL, as on another host, does not.
const LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";
const dir = mkdtempSync(join(tmpdir(), "cmf-clock-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const PASSWORD = "TestPass123";

/** A service process whose wall clock is the real one shifted by what `step` last wrote ("-2h", "+3h", "+0"). */
async function steppedService(name: string, databaseUrl: string, env: Record<string, string>) {
  if (!existsSync(LIBFAKETIME)) throw new Error(`${LIBFAKETIME} is missing: apt-get install -y libfaketime`);
  const offsetFile = join(dir, `${name}.offset`);
  const step = (offset: string) => writeFileSync(offsetFile, `${offset}\n`);
  step("+0");
  const processEnv = {
    LD_PRELOAD: LIBFAKETIME,
    FAKETIME_TIMESTAMP_FILE: offsetFile,
    FAKETIME_NO_CACHE: "1",
    // Timers and durations run on the monotonic clock, which a step of the wall clock leaves alone.
    FAKETIME_DONT_FAKE_MONOTONIC: "1",
    DATABASE_URL: databaseUrl,
    JWT_SECRET: "clock-step-secret-0123456789abcdef0123456789",
    UNIVERSITY_DOMAINS: ".ualberta.ca",
    RATE_LIMIT_REGISTER_CLIENT: "100/1h",
    ...env,
  };
  return { step, start: () => startServiceProcess(processEnv) };
}

async function databaseUrl(name: string): Promise<string> {
  return TEST_DIALECT === "sqlite" ? `file:${join(dir, name, "app.db")}` : (await freshDatabaseConfig()).url;
}

async function eventually(probe: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`not reached within ${timeoutMs} ms`);
    await Bun.sleep(100);
  }
}

describe(`the host's clock stepped (${TEST_DIALECT})`, () => {
  const services: ServiceProcess[] = [];
  afterAll(() => {
    for (const service of services) service.kill();
  });

  test("stepped back 2 h while the mail server is down: the waiting emails go out as soon as it returns", async () => {
    const sink = await SmtpSink.start();
    await sink.stop(); // the mail server is down; its port stays reserved for its return
    try {
      const { step, start } = await steppedService("back", await databaseUrl("back"), { MAIL_TRANSPORT: "smtp", SMTP_URL: sink.url });
      const service = await start();
      services.push(service);
      const recipients = Array.from({ length: 5 }, (_, i) => `stepped.back.${i}@ualberta.ca`);
      for (const [i, email] of recipients.entries()) {
        const registered = await service.call("POST", "/api/auth/register", {
          body: { email, username: `stepped_back_${i}`, password: PASSWORD, firstName: "B" },
        });
        expect(registered.status).toBe(201);
      }
      const failures = () => service.lines.filter((line) => line.includes("email outbox: send failed, will retry")).length;
      await eventually(() => failures() >= recipients.length, 20_000);
      step("-2h");
      await sink.start();
      // Retries are seconds apart: the emails arrive within seconds, not two hours.
      await eventually(() => sink.received.length >= recipients.length, 30_000);
      expect([...sink.counts()].sort()).toEqual(recipients.map((to) => [to, 1] as [string, number]).sort());
      expect(await service.stop()).toBe(0);
    } finally {
      await sink.stop();
    }
  }, 60_000);

  test("stepped 3 h ahead across a restart, then corrected: a logged-out token stays refused", async () => {
    const { step, start } = await steppedService("ahead", await databaseUrl("ahead"), { JWT_EXPIRES_IN: "2h" });
    const first = await start();
    services.push(first);
    const email = "stepped.ahead@ualberta.ca";
    expect(
      (await first.call("POST", "/api/auth/register", { body: { email, username: "stepped_ahead", password: PASSWORD, firstName: "A" } }))
        .status,
    ).toBe(201);
    const mail = await first.waitForLine((entry) => (entry.email as { to?: string } | undefined)?.to === email);
    const token = new URL(String((mail.email as { link: string }).link)).searchParams.get("token");
    expect((await first.call("POST", "/api/auth/verify-email", { body: { token, password: PASSWORD } })).status).toBe(200);
    const login = await first.call("POST", "/api/auth/login", { body: { email, password: PASSWORD } });
    expect(login.status).toBe(200);
    const jwt = login.json.token as string;
    expect((await first.call("POST", "/api/auth/logout", { token: jwt })).status).toBe(204);
    expect((await first.call("GET", "/api/auth/me", { token: jwt })).status).toBe(401);
    expect(await first.stop()).toBe(0);

    // Restarted with the clock 3 h ahead: the token looks expired, and the clean-up at start runs.
    step("+3h");
    const second = await start();
    services.push(second);
    await Bun.sleep(2500); // the first clean-up of expired rows runs a second after the start
    step("+0");
    const me = await second.call("GET", "/api/auth/me", { token: jwt });
    expect({ status: me.status, code: me.json?.error?.code }).toEqual({ status: 401, code: "UNAUTHORIZED" });
    expect(await second.stop()).toBe(0);
  }, 60_000);
});
