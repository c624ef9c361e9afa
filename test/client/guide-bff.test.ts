import { afterAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@classmatefinder/api";
import { createTestApp, PASSWORD } from "../support/app";
import { readGuide } from "./guide";
import { REPO } from "./typecheck";

// The guide's backend-for-frontend (docs/integration*.md, `server/bff.ts`) run as written, against the
// real service: only its API_URL is pointed at the test server. types.test.ts compiles it; this runs it.

const app = await createTestApp();
app.app.listen({ port: 0, hostname: "127.0.0.1" });
const apiUrl = `http://127.0.0.1:${app.app.server?.port}`;

const guide = await readGuide();
const block = /```ts\n(\/\/ server\/bff\.ts\n[\s\S]*?)```/.exec(guide)?.[1];
if (!block) throw new Error("the guide (docs/integration*.md) has no `server/bff.ts` block");
const dir = await mkdtemp(join(tmpdir(), "cmf-guide-bff-"));
const source = (url: string) =>
  block
    .replace(/const API_URL = "[^"]+";/, `const API_URL = ${JSON.stringify(url)};`)
    .replace('from "@classmatefinder/api"', `from ${JSON.stringify(join(REPO, "packages/client/src/index.ts"))}`);
await writeFile(join(dir, "bff.ts"), source(apiUrl));
const { handle }: { handle: (request: Request) => Promise<Response> } = await import(join(dir, "bff.ts"));

afterAll(async () => {
  await app.app.stop();
  await rm(dir, { recursive: true, force: true });
});

const ORIGIN = "https://classmatefinder.com";
const email = `bff${Math.random().toString(36).slice(2, 8)}@ualberta.ca`;
const post = (path: string, init: { body?: unknown; cookie?: string; origin?: string | null } = {}) =>
  handle(
    new Request(`${ORIGIN}${path}`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(init.origin === null ? {} : { origin: init.origin ?? ORIGIN }),
        ...(init.cookie ? { cookie: init.cookie } : {}),
      },
      body: init.body === undefined ? null : JSON.stringify(init.body),
    }),
  );
const me = (cookie?: string) => handle(new Request(`${ORIGIN}/bff/me`, { headers: cookie ? { cookie } : {} }));
/** The `name=value` part of a Set-Cookie header, as the browser would send it back. */
const cookieOf = (response: Response) => response.headers.get("set-cookie")?.split(";")[0] ?? "";

describe("the guide's backend-for-frontend, against the service", () => {
  let cookie = "";

  test("login sets an httpOnly, Secure, SameSite=Lax cookie; the page gets the user, never the token", async () => {
    const api = createClient(apiUrl);
    expect(
      (await api.api.auth.register.post({ email, username: `bff_${email.slice(3, 9)}`, password: PASSWORD, firstName: "Ada" })).status,
    ).toBe(201);
    await app.outbox.deliverDue();
    expect((await api.api.auth["verify-email"].post({ token: app.mail.tokenFor(email, "verify_email"), password: PASSWORD })).status).toBe(
      200,
    );

    const wrong = await post("/bff/login", { body: { email, password: "WrongPass123" } });
    expect(wrong.status).toBe(401);
    expect(((await wrong.json()) as any).error.code).toBe("INVALID_CREDENTIALS");
    expect(wrong.headers.get("set-cookie")).toBeNull();

    const login = await post("/bff/login", { body: { email, password: PASSWORD } });
    expect(login.status).toBe(200);
    const body: any = await login.json();
    expect(body.user.email).toBe(email);
    expect(JSON.stringify(body)).not.toContain("token");
    const setCookie = login.headers.get("set-cookie") ?? "";
    expect(setCookie).toStartWith("__Host-cmf_session=");
    for (const attribute of ["Path=/", "HttpOnly", "Secure", "SameSite=Lax"]) expect(setCookie).toContain(attribute);
    expect(Number(/Max-Age=(\d+)/.exec(setCookie)?.[1])).toBeGreaterThan(0);
    cookie = cookieOf(login);
  });

  test("me with the cookie is the user; without it 401", async () => {
    const ok = await me(cookie);
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as any).user.email).toBe(email);
    expect((await me()).status).toBe(401);
  });

  test("a POST from another origin (or none) is refused: CSRF", async () => {
    expect((await post("/bff/logout", { cookie, origin: "https://evil.example" })).status).toBe(403);
    expect((await post("/bff/logout", { cookie, origin: null })).status).toBe(403);
    expect((await me(cookie)).status).toBe(200);
  });

  test("logout revokes the token on the API and clears the cookie; the old cookie then gets 401 and is cleared", async () => {
    const out = await post("/bff/logout", { cookie });
    expect(out.status).toBe(204);
    expect(out.headers.get("set-cookie")).toContain("Max-Age=0");
    const stale = await me(cookie);
    expect(stale.status).toBe(401);
    expect(((await stale.json()) as any).error.code).toBe("UNAUTHORIZED");
    expect(stale.headers.get("set-cookie")).toContain("Max-Age=0");
  });

  test("with the API unreachable, the page gets 503 with Retry-After, not an exception", async () => {
    const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
    const closed = `http://127.0.0.1:${probe.port}`;
    probe.stop(true);
    await writeFile(join(dir, "bff-down.ts"), source(closed));
    const down: { handle: (request: Request) => Promise<Response> } = await import(join(dir, "bff-down.ts"));
    const request = new Request(`${ORIGIN}/bff/login`, {
      method: "POST",
      headers: { origin: ORIGIN, "content-type": "application/json" },
      body: JSON.stringify({ email, password: PASSWORD }),
    });
    const answer = await down.handle(request);
    expect(answer.status).toBe(503);
    expect(answer.headers.get("retry-after")).toBe("5");
    expect(((await answer.json()) as any).error.code).toBe("SERVICE_UNAVAILABLE");
  });
});
