import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DatabaseConfig } from "../../src/config/config";
import { createTestApp, PASSWORD, type TestApp } from "../support/app";
import { compiledBinary } from "../support/binary";
import { freshDatabaseConfig, TEST_DIALECT } from "../support/database";

// Issue 28: the support desk's commands, run as the compiled binary against the database the service
// uses (SQLite file or PostgreSQL), while the service (here in-process) keeps serving.
const SECRET = "test-secret-that-is-long-enough-0123456789"; // the test app's: keyed hashes must agree

const dir = mkdtempSync(join(tmpdir(), "cmf-users-cli-"));
const config: DatabaseConfig =
  TEST_DIALECT === "sqlite"
    ? { kind: "sqlite", url: `file:${join(dir, "cmf.db")}`, path: join(dir, "cmf.db") }
    : await freshDatabaseConfig();
// At file level: the databases a test app opens are closed when the file ends.
const app: TestApp = await createTestApp({ databaseConfig: config, env: { RATE_LIMIT_REGISTER_CLIENT: "1000/1h" } });
let binary = "";

beforeAll(async () => {
  binary = await compiledBinary();
}, 180_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function users(...args: string[]) {
  const child = Bun.spawn([binary, "users", ...args], {
    cwd: dir,
    env: { PATH: "/usr/bin:/bin", NODE_ENV: "test", DATABASE_URL: config.url, JWT_SECRET: SECRET, UNIVERSITY_DOMAINS: ".ualberta.ca" },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  const audit = stderr
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line))
    .filter((line) => line.audit);
  return { code, stdout, stderr, audit };
}

const login = (email: string, password = PASSWORD) => app.call("POST", "/api/auth/login", { body: { email, password } });

describe(`users commands of the compiled binary (${TEST_DIALECT})`, () => {
  test("show: status, dates, lock and emails, without hashes or tokens; an unknown address is exit 67", async () => {
    const { email, username } = await app.registerUser();
    for (let i = 0; i < 5; i++) await login(email, "Wrong-Guess-1");
    const shown = await users("show", email.toUpperCase());
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain("status:           verified");
    expect(shown.stdout).toContain(username);
    expect(shown.stdout).toMatch(/locked until:\s+\d{4}-/);
    expect(shown.stdout).toMatch(/verify_email\s+queued .*: sent/);
    expect(shown.stdout).not.toMatch(/\$argon2|token=/);
    expect(shown.audit).toEqual([expect.objectContaining({ event: "admin_action", action: "users show", outcome: "success" })]);
    expect(JSON.stringify(shown.audit)).not.toContain(email);
    const unknown = await users("show", "nobody@ualberta.ca");
    expect(unknown.code).toBe(67);
    expect(unknown.audit[0]).toMatchObject({ outcome: "failure", reason: "not_found" });
  });

  test("unlock: the address's failed-login counter is cleared", async () => {
    const { email } = await app.registerUser();
    for (let i = 0; i < 5; i++) await login(email, "Wrong-Guess-1");
    expect((await login(email)).status).toBe(429);
    expect((await users("unlock", email)).code).toBe(0);
    expect((await login(email)).status).toBe(200);
  });

  test("resend: a verification email for a pending address, a reset email for a verified one, through the outbox", async () => {
    const pending = await app.registerUser({ verify: false });
    const verified = await app.registerUser();
    const before = app.mail.sent.length;
    expect((await users("resend", pending.email)).code).toBe(0);
    expect((await users("resend", verified.email)).code).toBe(0);
    // The binary queued them on the real clock; the in-process service delivers on its manual one.
    app.clock.advance(Math.max(0, Date.now() - app.clock.now().getTime()) + 1000);
    await app.outbox.deliverDue();
    // Sent in parallel: in either order.
    expect(
      app.mail.sent
        .slice(before)
        .map((m) => `${m.to} ${m.kind}`)
        .sort(),
    ).toEqual([`${pending.email} verify_email`, `${verified.email} reset_password`].sort());
    // The emailed links work as any other.
    const link = app.mail.tokenFor(pending.email);
    expect((await app.call("POST", "/api/auth/verify-email", { body: { token: link, password: PASSWORD } })).status).toBe(200);
    // The mailbox's limit holds here too: refused (exit 2) once it is used up.
    for (let i = 0; i < 2; i++) await users("resend", verified.email);
    expect((await users("resend", verified.email)).code).toBe(2);
  });

  test("verify: one pending registration is verified; several are refused, named, and none is chosen", async () => {
    const single = await app.registerUser({ verify: false });
    expect((await login(single.email)).status).toBe(403);
    expect((await users("verify", single.email)).code).toBe(0);
    expect((await login(single.email)).status).toBe(200);

    const email = "two.registrations@ualberta.ca";
    await app.registerUser({ email, username: "first_of_two", verify: false });
    await app.registerUser({ email, username: "second_of_two", verify: false });
    const refused = await users("verify", email);
    expect(refused.code).toBe(2);
    expect(refused.stdout).toContain("first_of_two");
    expect(refused.stdout).toContain("second_of_two");
    expect((await login(email)).status).toBe(403);
  });

  test("delete: the account goes with its links and emails; address and username are free again", async () => {
    const { email, username } = await app.registerUser();
    const token = await app.login(email);
    const deleted = await users("delete", email);
    expect(deleted.code).toBe(0);
    expect(deleted.audit[0]).toMatchObject({ action: "users delete", outcome: "success" });
    expect((await app.call("GET", "/api/auth/me", { token })).status).toBe(401);
    expect((await login(email)).status).toBe(401);
    await app.registerUser({ email, username });
    expect((await users("delete", "nobody@ualberta.ca")).code).toBe(67);
  });

  test("list: the newest first, --unverified only pending ones; a bad option is a usage error (64)", async () => {
    app.clock.advance(1000); // the newest registration, on the service's clock
    const pending = await app.registerUser({ verify: false });
    const listed = await users("list", "--unverified", "--limit", "5");
    expect(listed.code).toBe(0);
    expect(listed.stdout.split("\n")[1]).toContain(pending.email);
    expect(listed.stdout).not.toContain(" verified ");
    expect((await users("list", "--limit", "zero")).code).toBe(64);
    expect((await users("frobnicate")).code).toBe(64);
  });
});
