import { expect, test } from "bun:test";
import postgres from "postgres";
import type { DatabaseConfig } from "../../src/config/config";
import { createTestApp, PASSWORD, type TestApp } from "../support/app";
import { freshDatabaseConfig, openTestDatabase } from "../support/database";

// Issue 25, finding 5: on PostgreSQL two verification links of one address used at once, two reset
// links at once, and a link clicked while the address is registered again deadlocked (6 of 15, 2 of 10
// pairs) and answered 500. Double clicks, two tabs and mail scanners make these everyday events. Each
// round below holds the rows the requests will lock from another connection until all requests are
// waiting for them, then lets them go at once, so that the collision is certain (PostgreSQL); SQLite
// runs them concurrently as they come.
const ROUNDS = 8;

async function appWithLockHolder(): Promise<{ app: TestApp; holdRows: (table: "users" | "email_tokens") => Promise<() => Promise<void>> }> {
  const config: DatabaseConfig = await freshDatabaseConfig();
  const app = await createTestApp({ database: await openTestDatabase(config), env: { RATE_LIMIT_REGISTER_CLIENT: "1000/1h" } });
  const holdRows = async (table: "users" | "email_tokens") => {
    if (config.kind !== "postgres") return async () => {};
    const sql = postgres(config.url, { max: 1, onnotice: () => {} });
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let locked: () => void = () => {};
    const lockTaken = new Promise<void>((resolve) => {
      locked = resolve;
    });
    const transaction = sql.begin(async (tx) => {
      await tx.unsafe(`SELECT 1 FROM ${table} FOR UPDATE`);
      locked();
      await released;
    });
    await lockTaken;
    return async () => {
      // Long enough for the requests to reach the held rows (or the lock before them).
      await Bun.sleep(150);
      release();
      await transaction;
      await sql.end();
    };
  };
  return { app, holdRows };
}

const unexpected = (statuses: number[], allowed: number[]) => statuses.filter((status) => !allowed.includes(status));

test("two verification links of one address used at once: exactly one 200, the other 400 INVALID_TOKEN, never a 500", async () => {
  const { app, holdRows } = await appWithLockHolder();
  for (let round = 0; round < ROUNDS; round++) {
    const email = `pair${round}@ualberta.ca`;
    await app.registerUser({ email, verify: false });
    await app.call("POST", "/api/auth/resend-verification", { body: { email } });
    await app.outbox.deliverDue();
    const links = app.mail.sent.filter((m) => m.to === email).map((m) => new URL(m.link).searchParams.get("token") as string);
    expect(links).toHaveLength(2);
    const release = await holdRows("email_tokens");
    const answers = links.map((token) => app.call("POST", "/api/auth/verify-email", { body: { token, password: PASSWORD } }));
    await release();
    const statuses = (await Promise.all(answers)).map((answer) => answer.status).sort();
    expect({ round, statuses }).toEqual({ round, statuses: [200, 400] });
  }
});

test("two reset links of one account used at once: exactly one 200, the other 400 INVALID_TOKEN, never a 500", async () => {
  const { app, holdRows } = await appWithLockHolder();
  for (let round = 0; round < ROUNDS; round++) {
    const { email } = await app.registerUser();
    for (let i = 0; i < 2; i++) await app.call("POST", "/api/auth/forgot-password", { body: { email } });
    await app.outbox.deliverDue();
    const links = app.mail.sent
      .filter((m) => m.to === email && m.kind === "reset_password")
      .map((m) => new URL(m.link).searchParams.get("token") as string);
    expect(links).toHaveLength(2);
    const release = await holdRows("users");
    const answers = links.map((token, i) =>
      app.call("POST", "/api/auth/reset-password", { body: { token, password: `Reset-Race-${i}-42` } }),
    );
    await release();
    const results = await Promise.all(answers);
    expect({ round, statuses: results.map((r) => r.status).sort() }).toEqual({ round, statuses: [200, 400] });
    expect(results.find((r) => r.status === 400)?.json.error.code).toBe("INVALID_TOKEN");
  }
});

test("a link clicked while the address is registered again: the click 200, the registration 201 or 409 EMAIL_TAKEN, never a 500", async () => {
  const { app, holdRows } = await appWithLockHolder();
  for (let round = 0; round < ROUNDS; round++) {
    const email = `again${round}@ualberta.ca`;
    await app.registerUser({ email, verify: false });
    const token = app.mail.tokenFor(email);
    const release = await holdRows("users");
    const click = app.call("POST", "/api/auth/verify-email", { body: { token, password: PASSWORD } });
    const again = app.call("POST", "/api/auth/register", {
      body: { email, username: `again_${round}`, password: "Another-Pass-77", firstName: "A" },
    });
    await release();
    const [clicked, registered] = await Promise.all([click, again]);
    expect({ round, click: clicked.status }).toEqual({ round, click: 200 });
    expect(unexpected([registered.status], [201, 409])).toEqual([]);
    if (registered.status === 409) expect(registered.json.error.code).toBe("EMAIL_TAKEN");
  }
});

test("many clicks of one link at once (a mail scanner, a double click, two tabs): one 200, the rest 400", async () => {
  const { app, holdRows } = await appWithLockHolder();
  await app.registerUser({ email: "clicks@ualberta.ca", verify: false });
  const token = app.mail.tokenFor("clicks@ualberta.ca");
  const release = await holdRows("email_tokens");
  const answers = Array.from({ length: 10 }, () => app.call("POST", "/api/auth/verify-email", { body: { token, password: PASSWORD } }));
  await release();
  const statuses = (await Promise.all(answers)).map((answer) => answer.status);
  expect(statuses.filter((status) => status === 200)).toHaveLength(1);
  expect(unexpected(statuses, [200, 400])).toEqual([]);
});
