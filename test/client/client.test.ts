import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { createClient, type PublicUser, type Session } from "@classmatefinder/api";
import { createTestApp, PASSWORD } from "../support/app";
import { inlined } from "../support/openapi";
import { REPO } from "./typecheck";

// The real server on a free port, driven over HTTP through the typed client, like the frontend does.
const app = await createTestApp();
app.app.listen({ port: 0, hostname: "127.0.0.1" });
afterAll(async () => {
  await app.app.stop();
});
const baseUrl = `http://127.0.0.1:${app.app.server?.port}`;

/** Every answer the client received, to hold against the OpenAPI document at the end. */
const exchanges: { method: string; path: string; status: number; code?: string }[] = [];
async function recordingFetch(url: string, init: RequestInit): Promise<Response> {
  const response = await fetch(url, init);
  const body: any = response.headers.get("content-type")?.startsWith("application/json") ? await response.clone().json() : null;
  exchanges.push({ method: init.method ?? "GET", path: new URL(url).pathname, status: response.status, code: body?.error?.code });
  return response;
}

let token: string | null = null;
const api = createClient(baseUrl, { getToken: () => token, fetcher: recordingFetch });
const auth = api.api.auth;

type ErrorOf<R> = NonNullable<R extends { error: infer E } ? E : never>;
/** The result's error, asserted to have `status`, and narrowed by it: its codes are those of that status. */
function errorAt<R extends { error: unknown }, const S extends number>(result: R, status: S): Extract<ErrorOf<R>, { status: S }> {
  const error = result.error as Extract<ErrorOf<R>, { status: S }> | null;
  expect(error).not.toBeNull();
  expect(error?.status).toBe(status);
  return error!;
}
/** The result's data, asserted to be a success. */
function dataOf<R extends { data: unknown; error: unknown }>(result: R): NonNullable<R["data"]> {
  if (result.error !== null) throw new Error(`expected a success, got ${JSON.stringify(result.error)}`);
  return result.data as NonNullable<R["data"]>;
}

const email = `ada${Math.random().toString(36).slice(2, 8)}@ualberta.ca`;
const username = `ada_${Math.random().toString(36).slice(2, 8)}`;
const NEW_PASSWORD = "Correct-Horse-42";
const NEWER_PASSWORD = "Battery-Staple-43";
let user: PublicUser;

describe("the account flow through the typed client, over HTTP", () => {
  test("health", async () => {
    const health = dataOf(await api.health.get());
    expect(health.status).toBe("ok");
    expect(health.checks.database).toBe("ok");
  });

  test("register: 201 with the typed user, dates as the strings the types promise", async () => {
    const result = await auth.register.post({ email: ` ${email.toUpperCase()} `, username, password: PASSWORD, firstName: " Ada " });
    expect(result.status).toBe(201);
    const data = dataOf(result);
    user = data.user;
    expect(data.verificationRequired).toBe(true);
    expect(user).toMatchObject({ email, username, firstName: "Ada", lastName: null, emailVerified: false });
    expect(typeof user.createdAt).toBe("string");
  });

  test("invalid registrations are 400 VALIDATION_ERROR with details, or EMAIL_DOMAIN_NOT_ALLOWED", async () => {
    const invalid = errorAt(await auth.register.post({ email: "nope", username: "a", password: "12345678", firstName: "" }), 400);
    expect(invalid.value.error.code).toBe("VALIDATION_ERROR");
    expect(invalid.value.error.details?.map((problem) => problem.field).sort()).toEqual(["email", "firstName", "password", "username"]);
    const foreign = errorAt(
      await auth.register.post({ email: "ada@gmail.com", username: "ada_g", password: PASSWORD, firstName: "Ada" }),
      400,
    );
    expect(foreign.value.error.code).toBe("EMAIL_DOMAIN_NOT_ALLOWED");
  });

  test("login before verifying is 403 EMAIL_NOT_VERIFIED; resend-verification answers 202", async () => {
    const login = errorAt(await auth.login.post({ email, password: PASSWORD }), 403);
    expect(login.value.error.code).toBe("EMAIL_NOT_VERIFIED");
    const resend = await auth["resend-verification"].post({ email });
    expect(resend.status).toBe(202);
    expect(dataOf(resend).message).toBeString();
  });

  test("verify-email with the emailed token; the token is single use (400 INVALID_TOKEN)", async () => {
    await app.outbox.deliverDue();
    const emailed = app.mail.tokenFor(email, "verify_email");
    const verified = dataOf(await auth["verify-email"].post({ token: emailed, password: PASSWORD }));
    expect(verified.user).toEqual({ ...user, emailVerified: true });
    const again = errorAt(await auth["verify-email"].post({ token: emailed, password: PASSWORD }), 400);
    expect(again.value.error.code).toBe("INVALID_TOKEN");
  });

  test("a registration of a verified address is 409 EMAIL_TAKEN, a taken username 409 USERNAME_TAKEN", async () => {
    const sameEmail = await auth.register.post({ email, username: `${username}_2`, password: PASSWORD, firstName: "Ada" });
    const taken = errorAt(sameEmail, 409);
    expect(taken.value.error.code).toBe("EMAIL_TAKEN");
    expect(taken.value.error.message).toBeString();
    const sameName = await auth.register.post({ email: `x${email}`, username: username.toUpperCase(), password: PASSWORD, firstName: "A" });
    expect(errorAt(sameName, 409).value.error.code).toBe("USERNAME_TAKEN");
  });

  test("login: a wrong password is 401 INVALID_CREDENTIALS; the right one gives a Bearer session", async () => {
    const wrong = errorAt(await auth.login.post({ email, password: "WrongPass123" }), 401);
    expect(wrong.value.error.code).toBe("INVALID_CREDENTIALS");
    const session: Session = dataOf(await auth.login.post({ email, password: PASSWORD }));
    expect(session.tokenType).toBe("Bearer");
    expect(typeof session.expiresAt).toBe("string");
    expect(Date.parse(session.expiresAt)).toBeGreaterThan(app.clock.now().getTime());
    expect(session.user.emailVerified).toBe(true);
    token = session.token;
  });

  test("me: the client sends the token from getToken", async () => {
    const me = dataOf(await auth.me.get());
    expect(me.user.id).toBe(user.id);
  });

  test("logout is 204; the token is then refused: me is 401 UNAUTHORIZED with WWW-Authenticate", async () => {
    const out = await auth.logout.post();
    expect(out.status).toBe(204);
    expect(out.error).toBeNull();
    const me = await auth.me.get();
    expect(errorAt(me, 401).value.error.code).toBe("UNAUTHORIZED");
    expect(me.response?.headers.get("www-authenticate")).toStartWith("Bearer");
    token = null;
    expect(errorAt(await auth.me.get(), 401).value.error.code).toBe("UNAUTHORIZED");
  });

  test("forgot → reset: the password is replaced and older sessions end", async () => {
    token = dataOf(await auth.login.post({ email, password: PASSWORD })).token;
    const forgot = await auth["forgot-password"].post({ email });
    expect(forgot.status).toBe(202);
    // The email is queued after the answer (so the answer's timing tells nothing about the address).
    await app.auth.deferred.settled();
    await app.outbox.deliverDue();
    const emailed = app.mail.tokenFor(email, "reset_password");

    const weak = errorAt(await auth["reset-password"].post({ token: emailed, password: "password1" }), 400);
    expect(weak.value.error.code).toBe("VALIDATION_ERROR");
    expect(weak.value.error.details).toEqual([{ field: "password", message: expect.any(String) }]);
    const unknown = errorAt(await auth["reset-password"].post({ token: "x".repeat(43), password: NEW_PASSWORD }), 400);
    expect(unknown.value.error.code).toBe("INVALID_TOKEN");

    expect(dataOf(await auth["reset-password"].post({ token: emailed, password: NEW_PASSWORD })).message).toBeString();
    expect(errorAt(await auth.me.get(), 401).value.error.code).toBe("UNAUTHORIZED");
    expect(errorAt(await auth.login.post({ email, password: PASSWORD }), 401).value.error.code).toBe("INVALID_CREDENTIALS");
    token = dataOf(await auth.login.post({ email, password: NEW_PASSWORD })).token;
  });

  test("change-password: 400 INVALID_CURRENT_PASSWORD, then a new session; the old token is refused", async () => {
    const wrong = errorAt(await auth["change-password"].post({ currentPassword: "WrongPass123", newPassword: NEWER_PASSWORD }), 400);
    expect(wrong.value.error.code).toBe("INVALID_CURRENT_PASSWORD");
    const oldToken = token;
    const session = dataOf(await auth["change-password"].post({ currentPassword: NEW_PASSWORD, newPassword: NEWER_PASSWORD }));
    expect(session.token).not.toBe(oldToken);
    expect(errorAt(await auth.me.get(), 401).value.error.code).toBe("UNAUTHORIZED");
    token = session.token;
    expect(dataOf(await auth.me.get()).user.email).toBe(email);
    expect(dataOf(await auth.login.post({ email, password: NEWER_PASSWORD })).user.id).toBe(user.id);
    token = null;
    const anonymous = await auth["change-password"].post({ currentPassword: NEWER_PASSWORD, newPassword: NEW_PASSWORD });
    expect(errorAt(anonymous, 401).value.error.code).toBe("UNAUTHORIZED");
  });

  test("profile, logout everywhere and deletion: PATCH /me, logout-all, DELETE /me", async () => {
    token = dataOf(await auth.login.post({ email, password: NEWER_PASSWORD })).token;
    const renamed = dataOf(await auth.me.patch({ firstName: "Augusta Ada", lastName: "King" }));
    expect(renamed.user).toMatchObject({ email, firstName: "Augusta Ada", lastName: "King" });
    const taken = errorAt(await auth.me.patch({ username: "x" }), 400);
    expect(taken.value.error.details?.[0]?.field).toBe("username");
    const other = dataOf(await auth.login.post({ email, password: NEWER_PASSWORD })).token;
    expect((await auth["logout-all"].post()).status).toBe(204);
    expect(errorAt(await auth.me.get(), 401).value.error.code).toBe("UNAUTHORIZED");
    token = other;
    expect(errorAt(await auth.me.get(), 401).value.error.code).toBe("UNAUTHORIZED");
    token = dataOf(await auth.login.post({ email, password: NEWER_PASSWORD })).token;
    expect(errorAt(await auth.me.delete({ password: "WrongPass123" }), 400).value.error.code).toBe("INVALID_CURRENT_PASSWORD");
    expect((await auth.me.delete({ password: NEWER_PASSWORD })).status).toBe(204);
    expect(errorAt(await auth.me.get(), 401).value.error.code).toBe("UNAUTHORIZED");
    token = null;
  });

  test("415 and 413 are typed too", async () => {
    const form = await auth.login.post({ email, password: PASSWORD }, { headers: { "content-type": "text/plain" } });
    expect(errorAt(form, 415).value.error.code).toBe("UNSUPPORTED_MEDIA_TYPE");
    const big = await auth.register.post({ email, username, password: PASSWORD, firstName: "x".repeat(17 * 1024) });
    expect(errorAt(big, 413).value.error.code).toBe("PAYLOAD_TOO_LARGE");
  });

  test("429 RATE_LIMITED carries Retry-After in seconds", async () => {
    const ghost = "ghost@ualberta.ca";
    for (let i = 0; i < 5; i++) errorAt(await auth.login.post({ email: ghost, password: "WrongPass123" }), 401);
    const { error: limited } = await auth.login.post({ email: ghost, password: "WrongPass123" });
    if (limited?.status !== 429) throw new Error(`expected a 429, got ${JSON.stringify(limited)}`);
    expect(limited.value.error.code).toBe("RATE_LIMITED");
    expect(limited.retryAfter).toBeGreaterThan(0);
    expect(limited.retried).toBe(false);
  });

  test("every error the client met is documented in /swagger/json at its status, with its code", async () => {
    const doc: any = inlined(await (await fetch(`${baseUrl}/swagger/json`)).json());
    const errors = exchanges.filter((exchange) => exchange.status >= 400);
    for (const { method, path, status, code } of errors) {
      const documented = doc.paths[path]?.[method.toLowerCase()]?.responses?.[status];
      expect({ method, path, status, documented: Boolean(documented) }).toEqual({ method, path, status, documented: true });
      expect(documented.content["application/json"].schema.properties.error.properties.code.enum).toContain(code);
    }
    const codes = new Set(errors.map((exchange) => exchange.code));
    expect(codes.size).toBe(12);
  });
});

describe("the client package in a web app", () => {
  test("bundles for the browser from its own sources only: its imports of the server are types only", async () => {
    const entry = join(REPO, "packages/client/src/index.ts");
    const build = await Bun.build({ entrypoints: [entry], target: "browser", minify: true, metafile: true });
    expect(build.success).toBe(true);
    const inputs = Object.keys(build.metafile?.inputs ?? {});
    expect(inputs.map((input) => input.replace(/^.*packages\/client\//, ""))).toEqual(["src/index.ts"]);
    expect((await build.outputs[0]!.text()).length).toBeLessThan(4_000);
  });
});
