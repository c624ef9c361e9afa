import { describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { createTestApp, type TestApp } from "../support/app";
import { openTestDatabase } from "../support/database";

// The rotation procedure of docs/operations.md (Rotating secrets), end to end on one database: release A
// signs with OLD; the rotated instance signs with NEW and still accepts OLD's tokens until they expire;
// the audit emailHash and the queued (sealed) emails carry over because DATA_SECRET stays.
const OLD = "old-signing-secret-0123456789-abcdefghij";
const NEW = "new-signing-secret-9876543210-zyxwvutsrq";
const HOUR = 3600_000;

const headerOf = (token: string) => JSON.parse(Buffer.from(token.split(".")[0] as string, "base64url").toString());
const auditHashes = (app: TestApp, event: string) =>
  app.logLines
    .map((line) => JSON.parse(line))
    .filter((entry) => entry.audit && entry.event === event)
    .map((entry) => entry.emailHash as string);
const signedWith = (token: string, secret: string) => {
  const [header, payload, signature] = token.split(".") as [string, string, string];
  return createHmac("sha256", secret).update(`${header}.${payload}`).digest("base64url") === signature;
};

describe("rotating JWT_SECRET without logging anyone out", () => {
  test("old tokens work until they expire, new ones are signed with the new key, audit hashes and queued emails carry over", async () => {
    const database = await openTestDatabase();
    const before = await createTestApp({ database, env: { JWT_SECRET: OLD, JWT_EXPIRES_IN: "2h" } });
    const { email } = await before.registerUser();
    const oldToken = await before.login(email);
    expect(signedWith(oldToken, OLD)).toBe(true);
    // An email queued before the rotation and still waiting for the mail server.
    before.mail.failing = true;
    await before.call("POST", "/api/auth/forgot-password", { body: { email } });
    await before.outbox.deliverDue();
    const [hashBefore] = auditHashes(before, "login");

    // Step 3 of the procedure: the old secret moves to JWT_PREVIOUS_SECRETS, DATA_SECRET keeps the old value.
    const after = await createTestApp({
      database,
      env: { JWT_SECRET: NEW, JWT_PREVIOUS_SECRETS: OLD, DATA_SECRET: OLD, JWT_EXPIRES_IN: "2h" },
    });
    expect((await after.call("GET", "/api/auth/me", { token: oldToken })).status).toBe(200);
    const newToken = await after.login(email);
    expect(signedWith(newToken, NEW)).toBe(true);
    expect(headerOf(newToken).kid).not.toBe(headerOf(oldToken).kid);
    expect((await after.call("GET", "/api/auth/me", { token: newToken })).status).toBe(200);
    // An instance that skipped step 2 does not know the new key (hence step 2).
    expect((await before.call("GET", "/api/auth/me", { token: newToken })).status).toBe(401);

    expect(auditHashes(after, "login")).toEqual([hashBefore as string]);
    after.clock.advance(60_000);
    await after.outbox.deliverDue();
    const resetLink = after.mail.tokenFor(email, "reset_password");
    expect((await after.call("POST", "/api/auth/reset-password", { body: { token: resetLink, password: "Rotated-Pass-77" } })).status).toBe(
      200,
    );

    // Step 4: once the old tokens have expired, the old key can go.
    const later = await createTestApp({ database, env: { JWT_SECRET: NEW, DATA_SECRET: OLD, JWT_EXPIRES_IN: "2h" } });
    const fresh = await later.login(email, "Rotated-Pass-77");
    expect(signedWith(fresh, NEW)).toBe(true);
    expect((await later.call("GET", "/api/auth/me", { token: oldToken })).status).toBe(401);
    after.clock.advance(3 * HOUR);
    expect((await after.call("GET", "/api/auth/me", { token: oldToken })).status).toBe(401);
    expect(auditHashes(later, "login")).toEqual([hashBefore as string]);
  });

  test("a rolling rotation refuses no token: instances accept the new key before any signs with it", async () => {
    const database = await openTestDatabase();
    // Step 2: every instance accepts NEW while still signing with OLD; step 3, one instance at a time, swaps them.
    const accepting = await createTestApp({ database, env: { JWT_SECRET: OLD, JWT_PREVIOUS_SECRETS: NEW, DATA_SECRET: OLD } });
    const swapped = await createTestApp({ database, env: { JWT_SECRET: NEW, JWT_PREVIOUS_SECRETS: OLD, DATA_SECRET: OLD } });
    const { email } = await accepting.registerUser();
    const fromAccepting = await accepting.login(email);
    const fromSwapped = await swapped.login(email);
    expect(signedWith(fromAccepting, OLD)).toBe(true);
    expect(signedWith(fromSwapped, NEW)).toBe(true);
    for (const instance of [accepting, swapped]) {
      for (const token of [fromAccepting, fromSwapped]) expect((await instance.call("GET", "/api/auth/me", { token })).status).toBe(200);
    }
  });

  test("tokens issued before keys had a kid (no kid header) stay valid", async () => {
    const app = await createTestApp({ env: { JWT_SECRET: NEW, JWT_PREVIOUS_SECRETS: OLD } });
    const { email, user } = await app.registerUser();
    const token = await app.login(email);
    const claims = JSON.parse(Buffer.from(token.split(".")[1] as string, "base64url").toString());
    const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
    for (const secret of [OLD, NEW]) {
      const body = `${b64({ alg: "HS256", typ: "JWT" })}.${b64({ ...claims, jti: crypto.randomUUID() })}`;
      const legacy = `${body}.${createHmac("sha256", secret).update(body).digest("base64url")}`;
      const res = await app.call("GET", "/api/auth/me", { token: legacy });
      expect(res.status).toBe(200);
      expect(res.json.user.id).toBe(user.id);
    }
    const unknownKid = `${b64({ alg: "HS256", typ: "JWT", kid: "someone-else" })}.${b64(claims)}`;
    const forged = `${unknownKid}.${createHmac("sha256", NEW).update(unknownKid).digest("base64url")}`;
    expect((await app.call("GET", "/api/auth/me", { token: forged })).status).toBe(401);
  });
});
