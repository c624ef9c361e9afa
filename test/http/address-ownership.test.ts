import { describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { mailboxOf } from "../../src/auth/email";
import { deleteExpiredRows } from "../../src/db/maintenance";
import type { PasswordHasher } from "../../src/hashing/password-hasher";
import { createTestApp, PASSWORD, TEST_HASHER, type TestApp } from "../support/app";

// Issue 25: a university address belongs to the student who reads its mailbox. Each attack of the
// outside test, written as the attack; both orders where order matters.
const HOUR = 3600_000;
const ATTACKER_PASSWORD = "Attacker-Owns-It-1";
const EMAIL = "student@ualberta.ca";

const registration = (username: string, password: string, email = EMAIL) => ({
  email,
  username,
  password,
  firstName: username === "mallory" ? "Mallory" : "Sam",
});

async function register(app: TestApp, username: string, password: string, email = EMAIL) {
  const res = await app.call("POST", "/api/auth/register", { body: registration(username, password, email) });
  await app.outbox.deliverDue();
  return res;
}

/** Every link that reached the mailbox of `email`, oldest first. */
function linksIn(app: TestApp, email = EMAIL): string[] {
  return app.mail.sent
    .filter((message) => message.kind === "verify_email" && mailboxOf(message.to) === mailboxOf(email))
    .map((message) => new URL(message.link).searchParams.get("token") as string);
}

const verify = (app: TestApp, token: string, password: string) => app.call("POST", "/api/auth/verify-email", { body: { token, password } });
const login = (app: TestApp, password: string, email = EMAIL) => app.call("POST", "/api/auth/login", { body: { email, password } });

describe("verification is bound to the mailbox and the registrant (finding 1)", () => {
  for (const order of ["student first", "attacker first"] as const) {
    test(`${order}: the student verifies with any link in the mailbox and their own password; the attacker's registration is gone`, async () => {
      const app = await createTestApp();
      const student = () => register(app, "sam", PASSWORD);
      const attacker = () => register(app, "mallory", ATTACKER_PASSWORD);
      const answers = order === "student first" ? [await student(), await attacker()] : [await attacker(), await student()];
      expect(answers.map((answer) => answer.status)).toEqual([201, 201]);
      const [first, second] = linksIn(app);
      expect(first && second).toBeTruthy();
      // Both pending registrations coexist: each one's password says which it is.
      expect((await login(app, PASSWORD)).json.error.code).toBe("EMAIL_NOT_VERIFIED");
      expect((await login(app, ATTACKER_PASSWORD)).json.error.code).toBe("EMAIL_NOT_VERIFIED");
      // The newest link (the attacker's registration's, when he registered last) activates the student's.
      const verified = await verify(app, second as string, PASSWORD);
      expect(verified.status).toBe(200);
      expect(verified.json.user).toMatchObject({ email: EMAIL, username: "sam", firstName: "Sam", emailVerified: true });
      expect(verified.json).toMatchObject({ tokenType: "Bearer" });
      expect((await app.call("GET", "/api/auth/me", { token: verified.json.token })).json.user.username).toBe("sam");
      // Every other link of the address ended; the attacker's password and username are gone with his registration.
      expect((await verify(app, first as string, ATTACKER_PASSWORD)).json.error.code).toBe("INVALID_TOKEN");
      expect((await login(app, ATTACKER_PASSWORD)).status).toBe(401);
      expect((await login(app, PASSWORD)).status).toBe(200);
      const { users } = app.database.tables;
      expect((await app.database.db.select().from(users).where(eq(users.email, EMAIL))).map((row) => row.username)).toEqual(["sam"]);
      expect((await register(app, "mallory", ATTACKER_PASSWORD, "elsewhere@ualberta.ca")).status).toBe(201);
    });
  }

  test("a wrong password is 401 and leaves the link usable; it counts as a failed login of the address (429 after 5)", async () => {
    const app = await createTestApp();
    await register(app, "sam", PASSWORD);
    const [link] = linksIn(app);
    for (let attempt = 0; attempt < 5; attempt++) {
      const wrong = await verify(app, link as string, `Wrong-Guess-${attempt}`);
      expect(wrong.status).toBe(401);
      expect(wrong.json.error.code).toBe("INVALID_CREDENTIALS");
    }
    const limited = await verify(app, link as string, PASSWORD);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    expect((await login(app, PASSWORD)).status).toBe(429);
    app.clock.advance(16 * 60_000);
    expect((await verify(app, link as string, PASSWORD)).status).toBe(200);
  });

  test("a password no registration has is 401 even when it is the other registrant's username or an attacker's guess", async () => {
    const app = await createTestApp();
    await register(app, "sam", PASSWORD);
    const [link] = linksIn(app);
    expect((await verify(app, link as string, ATTACKER_PASSWORD)).status).toBe(401);
    expect((await verify(app, link as string, PASSWORD)).status).toBe(200);
  });

  test("a registration never ends another: a username held by a pending registration is 409 USERNAME_TAKEN", async () => {
    const app = await createTestApp();
    await register(app, "sam", PASSWORD);
    const taken = await register(app, "SAM", ATTACKER_PASSWORD, "other@ualberta.ca");
    expect(taken.status).toBe(409);
    expect(taken.json.error.code).toBe("USERNAME_TAKEN");
    expect((await verify(app, linksIn(app)[0] as string, PASSWORD)).status).toBe(200);
  });
});

describe("however many registrations others make, checking a password against them costs one hash", () => {
  test("20 foreign registrations of the address: the student's verification and login each run one argon2id computation", async () => {
    let computations = 0;
    const counting =
      <A extends unknown[], R>(work: (...args: A) => Promise<R>) =>
      (...args: A) => {
        computations++;
        return work(...args);
      };
    const withSalt = TEST_HASHER.hashWithSalt;
    if (!withSalt) throw new Error("the test hasher is the native one, which takes a salt");
    const counted: PasswordHasher = {
      ...TEST_HASHER,
      hash: counting(TEST_HASHER.hash),
      verify: counting(TEST_HASHER.verify),
      hashWithSalt: counting(withSalt),
    };
    const app = await createTestApp({ hasher: counted, env: { RATE_LIMIT_REGISTER_CLIENT: "1000/1h" } });
    for (let i = 0; i < 20; i++) await register(app, `mallory_${i}`, `${ATTACKER_PASSWORD}-${i}`);
    await register(app, "sam", PASSWORD);
    computations = 0;
    expect((await login(app, PASSWORD)).json.error.code).toBe("EMAIL_NOT_VERIFIED");
    expect(computations).toBe(1);
    computations = 0;
    expect((await verify(app, linksIn(app)[0] as string, PASSWORD)).json.user.username).toBe("sam");
    expect(computations).toBe(1);
  });
});

describe("the mailbox's email limit cannot lock the student out (findings 2 and 3)", () => {
  test("three foreign registrations an hour: the student's own registration sends nothing, yet any link in the mailbox verifies it", async () => {
    const app = await createTestApp();
    for (const name of ["mallory", "mallory2", "mallory3"]) expect((await register(app, name, ATTACKER_PASSWORD)).status).toBe(201);
    expect(linksIn(app)).toHaveLength(3);
    expect((await register(app, "sam", PASSWORD)).status).toBe(201);
    expect((await app.call("POST", "/api/auth/resend-verification", { body: { email: EMAIL } })).status).toBe(202);
    await app.outbox.deliverDue();
    expect(linksIn(app)).toHaveLength(3);
    const verified = await verify(app, linksIn(app)[0] as string, PASSWORD);
    expect(verified.status).toBe(200);
    expect(verified.json.user.username).toBe("sam");
  });

  test("the student's link keeps working after others register the address again and again", async () => {
    const app = await createTestApp();
    await register(app, "sam", PASSWORD);
    const [own] = linksIn(app);
    for (let i = 0; i < 5; i++) expect((await register(app, `mallory${i}`, ATTACKER_PASSWORD)).status).toBe(201);
    expect((await verify(app, own as string, PASSWORD)).json.user.username).toBe("sam");
  });

  test("12 plus-addressed registrations put at most 3 verification emails into one mailbox", async () => {
    const app = await createTestApp();
    for (let i = 1; i <= 12; i++) {
      expect((await register(app, `plus_${i}`, PASSWORD, `student+${i}@ualberta.ca`)).status).toBe(201);
    }
    expect(linksIn(app)).toHaveLength(3);
    // The hour over, the mailbox gets its next three.
    app.clock.advance(HOUR + 1000);
    for (let i = 13; i <= 16; i++) await register(app, `plus_${i}`, PASSWORD, `student+${i}@ualberta.ca`);
    expect(linksIn(app)).toHaveLength(6);
  });

  test("reset emails: at most 3 an hour per mailbox, silently", async () => {
    const app = await createTestApp();
    const { email } = await app.registerUser({ email: "reset+me@ualberta.ca" });
    for (let i = 0; i < 5; i++) {
      const res = await app.call("POST", "/api/auth/forgot-password", { body: { email } });
      expect(res.status).toBe(202);
    }
    await app.outbox.deliverDue();
    expect(app.mail.sent.filter((m) => m.kind === "reset_password")).toHaveLength(3);
  });
});

describe("pending registrations end", () => {
  test("24 h after the newest link of their address, freeing their usernames; not while a link could still verify them", async () => {
    const app = await createTestApp();
    await register(app, "early", PASSWORD);
    app.clock.advance(20 * HOUR);
    await register(app, "later", ATTACKER_PASSWORD);
    const { users } = app.database.tables;
    const left = async () => (await app.database.db.select().from(users).where(eq(users.email, EMAIL))).map((row) => row.username);
    app.clock.advance(10 * HOUR); // the first link expired, the second one still verifies both
    await deleteExpiredRows(app.database, app.clock.now());
    expect(await left()).toEqual(["early", "later"]);
    expect((await verify(app, linksIn(app)[1] as string, PASSWORD)).json.user.username).toBe("early");
  });

  test("once no link of the address is live and a day has passed, both go", async () => {
    const app = await createTestApp();
    await register(app, "early", PASSWORD);
    await register(app, "later", ATTACKER_PASSWORD);
    app.clock.advance(25 * HOUR);
    await deleteExpiredRows(app.database, app.clock.now());
    const { users } = app.database.tables;
    expect(await app.database.db.select().from(users).where(eq(users.email, EMAIL))).toHaveLength(0);
    expect((await register(app, "early", PASSWORD)).status).toBe(201);
  });

  test("verification cancels the queued emails of the address's other registrations", async () => {
    const app = await createTestApp();
    await register(app, "sam", PASSWORD);
    const [link] = linksIn(app);
    app.mail.failing = true; // the attacker's email waits in the outbox
    await register(app, "mallory", ATTACKER_PASSWORD);
    expect((await verify(app, link as string, PASSWORD)).status).toBe(200);
    app.mail.failing = false;
    app.clock.advance(60_000);
    await app.outbox.deliverDue();
    expect(linksIn(app)).toHaveLength(1);
  });
});

describe("client identity and shared addresses (findings 4 and 6)", () => {
  const fromAddress = (app: TestApp, address: string, body: unknown, path = "/api/auth/login") =>
    app.call("POST", path, { body, headers: { "x-forwarded-for": address } });

  test("101 failed logins from 101 addresses of one IPv6 /64 are one client: the 101st is 429", async () => {
    const app = await createTestApp({ env: { TRUST_PROXY: "true" } });
    const statuses: number[] = [];
    for (let i = 0; i < 101; i++) {
      const res = await fromAddress(app, `2001:db8:5:7:${i.toString(16)}::${(i * 7).toString(16)}`, {
        email: `nobody${i}@ualberta.ca`,
        password: "Wrong-Guess-1",
      });
      statuses.push(res.status);
    }
    expect(statuses.slice(0, 100).every((status) => status === 401)).toBe(true);
    expect(statuses[100]).toBe(429);
    // Another /64 is another client.
    expect((await fromAddress(app, "2001:db8:5:8::1", { email: "x@ualberta.ca", password: "Wrong-Guess-1" })).status).toBe(401);
  });

  test("an IPv4-mapped IPv6 peer is its IPv4 address", async () => {
    const app = await createTestApp({ env: { TRUST_PROXY: "true", RATE_LIMIT_LOGIN_CLIENT: "2/15m" } });
    const guess = { email: "nobody@ualberta.ca", password: "Wrong-Guess-1" };
    expect((await fromAddress(app, "203.0.113.9", guess)).status).toBe(401);
    expect((await fromAddress(app, "::ffff:203.0.113.9", guess)).status).toBe(401);
    expect((await fromAddress(app, "::ffff:cb00:7109", guess)).status).toBe(429);
  });

  test("registrations from one /64 count against one client's registration limit", async () => {
    const app = await createTestApp({ env: { TRUST_PROXY: "true", RATE_LIMIT_REGISTER_CLIENT: "3/1h" } });
    const statuses = [];
    for (let i = 0; i < 4; i++) {
      const body = registration(`v6_${i}`, PASSWORD, `v6${i}@ualberta.ca`);
      statuses.push((await fromAddress(app, `2001:db8:9:9::${i + 1}`, body, "/api/auth/register")).status);
    }
    expect(statuses).toEqual([201, 201, 201, 429]);
  });

  test("a campus address that someone failed 100 logins from still lets a student with a device token in", async () => {
    const app = await createTestApp({ env: { TRUST_PROXY: "true" } });
    const campus = "198.51.100.20";
    const { email } = await app.registerUser();
    const first = await fromAddress(app, campus, { email, password: PASSWORD });
    expect(first.status).toBe(200);
    const deviceToken = first.json.deviceToken as string;
    expect(deviceToken).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    for (let i = 0; i < 100; i++) await fromAddress(app, campus, { email: `guess${i}@ualberta.ca`, password: "Wrong-Guess-1" });
    expect((await fromAddress(app, campus, { email, password: PASSWORD })).status).toBe(429);
    const trusted = await fromAddress(app, campus, { email, password: PASSWORD, deviceToken });
    expect(trusted.status).toBe(200);
    expect(trusted.json.deviceToken).toEqual(expect.any(String));
    // The token is this address's: another account gains nothing from it.
    const other = await app.registerUser();
    expect((await fromAddress(app, campus, { email: other.email, password: PASSWORD, deviceToken })).status).toBe(429);
    // A forged or altered token is no token.
    const forged = `${deviceToken.split(".")[0]}.${"A".repeat(43)}`;
    expect((await fromAddress(app, campus, { email, password: PASSWORD, deviceToken: forged })).status).toBe(429);
  });

  test("with a device token the per-address limit still applies", async () => {
    const app = await createTestApp();
    const { email } = await app.registerUser();
    const { deviceToken } = (await login(app, PASSWORD, email)).json;
    for (let i = 0; i < 5; i++)
      expect((await app.call("POST", "/api/auth/login", { body: { email, password: "Wrong-1", deviceToken } })).status).toBe(401);
    expect((await app.call("POST", "/api/auth/login", { body: { email, password: PASSWORD, deviceToken } })).status).toBe(429);
  });

  test("verify-email's answer carries a device token for the address", async () => {
    const app = await createTestApp({ env: { TRUST_PROXY: "true", RATE_LIMIT_LOGIN_CLIENT: "1/15m" } });
    await register(app, "sam", PASSWORD);
    const verified = await verify(app, linksIn(app)[0] as string, PASSWORD);
    const { deviceToken } = verified.json;
    await fromAddress(app, "192.0.2.1", { email: "nobody@ualberta.ca", password: "Wrong-1" });
    expect((await fromAddress(app, "192.0.2.1", { email: EMAIL, password: PASSWORD })).status).toBe(429);
    expect((await fromAddress(app, "192.0.2.1", { email: EMAIL, password: PASSWORD, deviceToken })).status).toBe(200);
  });

  test("a reset through the emailed link clears someone else's wrong guesses on the account", async () => {
    const app = await createTestApp();
    const { email } = await app.registerUser();
    for (let i = 0; i < 5; i++) await login(app, `Wrong-Guess-${i}`, email);
    expect((await login(app, PASSWORD, email)).status).toBe(429);
    await app.call("POST", "/api/auth/forgot-password", { body: { email } });
    await app.outbox.deliverDue();
    const reset = await app.call("POST", "/api/auth/reset-password", {
      body: { token: app.mail.tokenFor(email, "reset_password"), password: "Correct-Horse-42" },
    });
    expect(reset.status).toBe(200);
    expect((await login(app, "Correct-Horse-42", email)).status).toBe(200);
  });
});

describe("Cache-Control: no-store whatever the Host header holds (finding 7)", () => {
  test("a Host with ?, # or \\ still gets no-store on /api/auth/* (a real socket: Bun hands over a relative URL)", async () => {
    const app = await createTestApp();
    const server = app.app.listen({ port: 0, hostname: "127.0.0.1" });
    const port = server.server?.port as number;
    try {
      for (const host of ["a?b", "a#b", "a\\b", "example.com"]) {
        const answer = await rawRequest(port, `GET /api/auth/me HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
        expect({ host, status: answer.split(" ")[1], noStore: /\r\ncache-control: no-store\r\n/i.test(answer) }).toEqual({
          host,
          status: "401",
          noStore: true,
        });
      }
    } finally {
      await server.stop(true);
    }
  });
});

async function rawRequest(port: number, request: string): Promise<string> {
  const { connect } = await import("node:net");
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => socket.write(request));
    let received = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk) => {
      received += chunk;
    });
    socket.on("end", () => resolve(received));
    socket.on("error", reject);
    socket.setTimeout(5000, () => socket.destroy(new Error("no answer in 5 s")));
  });
}
