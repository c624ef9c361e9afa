import { afterAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { createTestApp, PASSWORD, TEST_HASHER } from "../support/app";

// Findings 5–7 of the outside test: bodies that crashed validation, NUL bytes, and email / password /
// name rules looser than their standards.
const app = await createTestApp({ env: { RATE_LIMIT_REGISTER_CLIENT: "1000/1h" } });
const { email: verifiedEmail } = await app.registerUser();
const token = await app.login(verifiedEmail);

const BODY_ENDPOINTS: [string, Record<string, unknown>][] = [
  ["/api/auth/register", { email: "x@ualberta.ca", username: "xxx", password: PASSWORD, firstName: "X" }],
  ["/api/auth/verify-email", { token: "t".repeat(43), password: PASSWORD }],
  ["/api/auth/resend-verification", { email: "x@ualberta.ca" }],
  ["/api/auth/login", { email: "x@ualberta.ca", password: "xxxxxxxx" }],
  ["/api/auth/forgot-password", { email: "x@ualberta.ca" }],
  ["/api/auth/reset-password", { token: "t".repeat(43), password: PASSWORD }],
  ["/api/auth/change-password", { currentPassword: PASSWORD, newPassword: "Other-Pass-77" }],
];

let deep: unknown = "x";
for (let i = 0; i < 5000; i++) deep = [deep];
const HOSTILE_VALUES: [string, unknown][] = [
  ["an object with toString", { toString: 1 }],
  ["an object with valueOf and toString", { valueOf: 1, toString: 1 }],
  ["an array nested 5000 deep", deep],
];

// Over a real server too: there the crash was a 500 text/plain without request id.
app.app.listen({ port: 0, hostname: "127.0.0.1" });
afterAll(async () => {
  await app.app.stop();
});
const baseUrl = `http://127.0.0.1:${app.app.server?.port}`;

async function post(path: string, body: unknown) {
  const response = await fetch(`${baseUrl}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  await app.auth.deferred.settled();
  return { status: response.status, headers: response.headers, json: (await response.json().catch(() => null)) as any };
}

describe("values that crashed the validator are 400 VALIDATION_ERROR naming the field (finding 5)", () => {
  for (const [path, valid] of BODY_ENDPOINTS) {
    for (const [what, value] of HOSTILE_VALUES) {
      const field = Object.keys(valid)[0] as string;
      test(`${path}: ${field} is ${what}`, async () => {
        const res = await post(path, { ...valid, [field]: value });
        expect(res.status).toBe(400);
        expect(res.headers.get("content-type")).toStartWith("application/json");
        expect(res.headers.get("x-request-id")).toBeTruthy();
        expect(res.json.error.code).toBe("VALIDATION_ERROR");
        expect(res.json.error.details.map((d: { field: string }) => d.field)).toContain(field);
      });
    }
    test(`${path}: the body itself nested 5000 deep`, async () => {
      const res = await post(path, deep);
      expect(res.status).toBe(400);
      expect(res.json.error.code).toBe("VALIDATION_ERROR");
    });
  }

  test("an unknown property may hold anything: it is ignored", async () => {
    const res = await post("/api/auth/login", { email: verifiedEmail, password: PASSWORD, extra: { toString: 1, deep } });
    expect(res.status).toBe(200);
  });
});

describe("NUL bytes are 400 VALIDATION_ERROR on both databases (finding 6)", () => {
  test.each(["email", "firstName", "lastName", "username", "password"])("register: NUL in %s", async (field) => {
    const valid = { email: "nul@ualberta.ca", username: "nul_user", password: PASSWORD, firstName: "Nul", lastName: "Byte" };
    const value = field === "email" ? "nu\u0000l@ualberta.ca" : `${(valid as Record<string, string>)[field]}\u0000x`;
    const res = await post("/api/auth/register", { ...valid, [field]: value });
    expect(res.status).toBe(400);
    expect(res.json.error.details.map((d: { field: string }) => d.field)).toContain(field);
  });

  test("login, forgot-password, reset-password: NUL is 400, not a 500 after a hash", async () => {
    expect((await post("/api/auth/login", { email: "a\u0000@ualberta.ca", password: PASSWORD })).status).toBe(400);
    expect((await post("/api/auth/forgot-password", { email: "a\u0000@ualberta.ca" })).status).toBe(400);
    expect((await post("/api/auth/reset-password", { token: "t\u0000", password: PASSWORD })).status).toBe(400);
  });

  test("unpaired surrogates are 400 too", async () => {
    const res = await post("/api/auth/register", {
      email: "s@ualberta.ca",
      username: "surrogate",
      password: PASSWORD,
      firstName: "A\ud800",
    });
    expect(res.status).toBe(400);
    expect(res.json.error.details).toEqual([{ field: "firstName", message: expect.any(String) }]);
  });
});

async function register(overrides: Record<string, unknown>) {
  const suffix = Math.random().toString(36).slice(2, 8);
  return post("/api/auth/register", {
    email: `r${suffix}@ualberta.ca`,
    username: `r_${suffix}`,
    password: PASSWORD,
    firstName: "R",
    ...overrides,
  });
}

describe("email addresses as RFC 5321/5322 allow them, without quoted or invisible forms (finding 7)", () => {
  test.each([
    ['"alice"@ualberta.ca', "a quoted local part (a second account for the same mailbox)"],
    ['"<script>@ualberta.ca', "a quote"],
    ["al\u200bice@ualberta.ca", "a zero-width space"],
    ["al\u00adice@ualberta.ca", "a soft hyphen"],
    ["al\u0007ice@ualberta.ca", "a control character"],
    ["alïce@ualberta.ca", "a non-ASCII letter"],
    [`${"a".repeat(65)}@ualberta.ca`, "a 65-character local part"],
    [`a@${"b".repeat(64)}.ualberta.ca`, "a 64-character domain label"],
    [".alice@ualberta.ca", "a leading dot"],
    ["al..ice@ualberta.ca", "two dots in a row"],
  ])("%s is refused (%s)", async (email) => {
    const res = await register({ email });
    expect(res.status).toBe(400);
    expect(res.json.error.details).toEqual([{ field: "email", message: expect.any(String) }]);
  });

  test.each([`${"a".repeat(64)}@ualberta.ca`, `a@${"b".repeat(63)}.ualberta.ca`, "o'brien+news@cs.ualberta.ca"])(
    "%s is accepted",
    async (email) => {
      expect((await register({ email })).status).toBe(201);
    },
  );
});

describe("passwords: NFKC, counted in code points, not trivially guessable (finding 7)", () => {
  test("4 emoji (8 UTF-16 units) are too short", async () => {
    const res = await register({ password: "😀😁😂🤣" });
    expect(res.status).toBe(400);
    expect(res.json.error.details).toEqual([{ field: "password", message: expect.any(String) }]);
  });

  test.each(["aaaaaaaa", "ZZZZZZZZZZZZ"])("one character repeated (%s) is refused", async (password) => {
    expect((await register({ password })).status).toBe(400);
  });

  test("the whole email address as password is refused", async () => {
    const email = "whole.address@ualberta.ca";
    const res = await register({ email, password: email.toUpperCase() });
    expect(res.status).toBe(400);
    expect(res.json.error.details).toEqual([{ field: "password", message: expect.any(String) }]);
  });

  test("a password registered composed (NFC) logs in typed decomposed (NFD), and the other way round", async () => {
    const nfc = "Crème-Brûlée-42".normalize("NFC");
    const nfd = nfc.normalize("NFD");
    expect(nfd).not.toBe(nfc);
    const suffix = Math.random().toString(36).slice(2, 8);
    const address = `nfc${suffix}@ualberta.ca`;
    expect((await register({ email: address, password: nfc })).status).toBe(201);
    await app.outbox.deliverDue();
    // The registration's own password typed decomposed activates it, and logs in afterwards.
    expect((await app.call("POST", "/api/auth/verify-email", { body: { token: app.mail.tokenFor(address), password: nfd } })).status).toBe(
      200,
    );
    expect((await app.call("POST", "/api/auth/login", { body: { email: address, password: nfd } })).status).toBe(200);
    expect((await app.call("POST", "/api/auth/login", { body: { email: address, password: nfc } })).status).toBe(200);
    // Full-width digits are the same password under NFKC.
    expect((await app.call("POST", "/api/auth/login", { body: { email: address, password: nfc.replace("42", "４２") } })).status).toBe(200);
  });
});

describe("passwords stored by the release before NFKC", () => {
  test("still log in as typed then, and are re-hashed normalised at that login", async () => {
    const { email, user } = await app.registerUser();
    const nfd = "Crème-Brûlée-43".normalize("NFD");
    const { users } = app.database.tables;
    // What that release stored: the hash of the password exactly as typed.
    await app.database.db
      .update(users)
      .set({ passwordHash: await TEST_HASHER.hash(nfd) })
      .where(eq(users.id, user.id));
    expect((await app.call("POST", "/api/auth/login", { body: { email, password: nfd } })).status).toBe(200);
    const [row] = await app.database.db.select().from(users).where(eq(users.id, user.id));
    expect(await TEST_HASHER.verify(nfd.normalize("NFKC"), row?.passwordHash as string)).toBe(true);
    expect((await app.call("POST", "/api/auth/login", { body: { email, password: nfd.normalize("NFC") } })).status).toBe(200);
  });
});

describe("names: no control or invisible characters (finding 7)", () => {
  test.each([
    ["firstName", "Zero\u200bWidth"],
    ["firstName", "Bell\u0007"],
    ["lastName", "Soft\u00adHyphen"],
    ["lastName", "Right\u202eLeft"],
  ])("%s %j is refused", async (field, value) => {
    const res = await register({ [field]: value });
    expect(res.status).toBe(400);
    expect(res.json.error.details).toEqual([{ field, message: expect.any(String) }]);
  });

  test("accented and non-Latin names are fine", async () => {
    const res = await register({ firstName: " Zoë ", lastName: "李" });
    expect(res.status).toBe(201);
    expect(res.json.user).toMatchObject({ firstName: "Zoë", lastName: "李" });
  });
});
