import { describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { eq } from "drizzle-orm";
import { createTestApp } from "../support/app";

const app = await createTestApp();
const SECRET = app.config.jwt.secret;
const { email, user } = await app.registerUser();
const genuine = await app.login(email);
const [, genuinePayload] = genuine.split(".") as [string, string, string];
const claims = JSON.parse(Buffer.from(genuinePayload, "base64url").toString());

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
function sign(header: object, payload: object, secret = SECRET, algorithm = "sha256") {
  const body = `${b64(header)}.${b64(payload)}`;
  return `${body}.${createHmac(algorithm, secret).update(body).digest("base64url")}`;
}

async function expectRejected(token: string) {
  const res = await app.call("GET", "/api/auth/me", { token });
  expect(res.status).toBe(401);
  expect(res.json.error.code).toBe("UNAUTHORIZED");
  expect(res.headers.get("www-authenticate")).toStartWith("Bearer");
}

describe("forged and stale JWTs are refused with 401", () => {
  test("the genuine token works (control)", async () => {
    expect((await app.call("GET", "/api/auth/me", { token: genuine })).status).toBe(200);
    const header = JSON.parse(Buffer.from(genuine.split(".")[0] as string, "base64url").toString());
    expect(header).toEqual({ alg: "HS256", typ: "JWT", kid: expect.any(String) });
    expect(sign(header, claims)).toBe(genuine);
  });

  test('alg "none" (unsigned)', async () => {
    await expectRejected(`${b64({ alg: "none", typ: "JWT" })}.${b64(claims)}.`);
    await expectRejected(`${b64({ alg: "none", typ: "JWT" })}.${b64(claims)}`);
  });

  test("HS512 with the right secret (algorithm not pinned would accept it)", async () => {
    await expectRejected(sign({ alg: "HS512", typ: "JWT" }, claims, SECRET, "sha512"));
  });

  test("HS256 with a wrong secret", async () => {
    await expectRejected(sign({ alg: "HS256", typ: "JWT" }, claims, "some-other-secret-of-sufficient-length"));
  });

  test("tampered payload (another user id) with the original signature", async () => {
    const tampered = `${genuine.split(".")[0]}.${b64({ ...claims, sub: crypto.randomUUID() })}.${genuine.split(".")[2]}`;
    await expectRejected(tampered);
  });

  test("expired token, correctly signed", async () => {
    const now = Math.floor(app.clock.now().getTime() / 1000);
    await expectRejected(sign({ alg: "HS256", typ: "JWT" }, { ...claims, iat: now - 7200, exp: now - 3600 }));
  });

  test("token of a deleted user", async () => {
    const gone = await app.registerUser();
    const token = await app.login(gone.email);
    await app.database.transaction((tx) => tx.delete(app.database.tables.users).where(eq(app.database.tables.users.id, gone.user.id)));
    await expectRejected(token);
  });

  test("correctly signed token without the claims the service issues", async () => {
    await expectRejected(sign({ alg: "HS256", typ: "JWT" }, { sub: user.id, exp: claims.exp }));
  });

  test("garbage in the Authorization header", async () => {
    for (const token of ["a.b.c", "....", "eyJ.eyJ.sig", "x".repeat(5000)]) await expectRejected(token);
  });
});
