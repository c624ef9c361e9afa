// Swagger UI in a real Chromium against the real service process. Not a *.test.ts file, so plain `bun test`
// skips it; run it with `bun test ./test/browser/swagger-ui.browser.ts` (see .ci/browser-check.sh).
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { type BrowserContext, chromium, type Locator, type Page } from "playwright-core";

setDefaultTimeout(30_000);

const ROOT = resolve(import.meta.dir, "../..");
const BINARY = join(ROOT, "dist/classmatefinder-backend");
const SCREENSHOT = join(ROOT, "test-artifacts/swagger-ui.png");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

let service: ReturnType<typeof Bun.spawn> | undefined;
let serviceOutput = "";
let origin = "";
let profileDir = "";
let context: BrowserContext | undefined;
let page: Page;
/** Requests the page tried to make to anything but the service (all aborted). */
const foreignRequests: string[] = [];
/** Paths the page requested from the service, with the Authorization header it sent. */
const requests = new Map<string, string | undefined>();
const pageErrors: string[] = [];

function freePort(): number {
  const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  const port = probe.port!;
  probe.stop(true);
  return port;
}

async function waitFor<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await check();
    if (value !== undefined) return value;
    await Bun.sleep(100);
  }
  throw new Error(`timed out waiting for ${what}\n--- service output ---\n${serviceOutput}`);
}

async function startService(): Promise<void> {
  const port = freePort();
  origin = `http://127.0.0.1:${port}`;
  const cmd = existsSync(BINARY) ? [BINARY, "serve"] : [process.execPath, "src/main.ts", "serve"];
  console.log(`service: ${cmd.join(" ")} on ${origin}`);
  service = Bun.spawn({
    cmd,
    cwd: ROOT,
    // Not inherited: `bun test` sets NODE_ENV=test, and CI variables must not leak in.
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: tmpdir(),
      NODE_ENV: "development",
      DATABASE_URL: "file::memory:",
      PORT: String(port),
      HOST: "127.0.0.1",
      MAIL_TRANSPORT: "log",
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  for (const stream of [service.stdout, service.stderr] as ReadableStream<Uint8Array>[]) {
    (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of stream) serviceOutput += decoder.decode(chunk, { stream: true });
    })();
  }
  await waitFor("/health/live", async () => {
    if (service?.exitCode !== null) throw new Error(`service exited with ${service?.exitCode}\n${serviceOutput}`);
    const ok = await fetch(`${origin}/health/live`).then(
      (r) => r.ok,
      () => false,
    );
    return ok || undefined;
  });
}

/** The operation block of `METHOD path` (exact path: /health must not match /health/live). */
function operation(method: string, path: string): Locator {
  return page.locator(`.opblock.opblock-${method}`).filter({ has: page.locator(`.opblock-summary-path[data-path="${path}"]`) });
}

/** Clicks "Execute" in an expanded operation in "Try it out" mode; returns the live response row. */
async function execute(method: string, path: string): Promise<{ status?: string; body: string }> {
  const block = operation(method, path);
  // The answer to this click, not an earlier one still shown in the table.
  const answered = page.waitForResponse(
    (response) => new URL(response.url()).pathname === path && response.request().method() === method.toUpperCase(),
  );
  await block.getByRole("button", { name: "Execute" }).click();
  const status = String((await answered).status());
  const response = block.locator(".live-responses-table .response").first();
  await response.locator(".response-col_status", { hasText: status }).waitFor({ timeout: 10_000 });
  return {
    status: (await response.locator(".response-col_status").textContent())?.trim(),
    body: (await response.locator(".response-col_description").textContent()) ?? "",
  };
}

/** Expands an operation, clicks "Try it out" then "Execute", and returns its live response row. */
async function tryItOut(method: string, path: string): Promise<{ status?: string; body: string }> {
  const block = operation(method, path);
  await block.locator(".opblock-summary").first().click();
  await block.getByRole("button", { name: "Try it out" }).click();
  return execute(method, path);
}

async function api(method: string, path: string, body: unknown): Promise<any> {
  const res = await fetch(`${origin}${path}`, { method, headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`${method} ${path} answered ${res.status}: ${await res.text()}`);
  return res.json();
}

/** The verification link that the log transport wrote for `email` (one JSON line on the service's stdout). */
async function verificationToken(email: string): Promise<string> {
  const link = await waitFor("the verification email in the service's log", () => {
    const lines = serviceOutput.split("\n").slice(0, -1); // complete lines only
    const mails = lines.filter((line) => line.startsWith("{")).map((line) => JSON.parse(line).email);
    return mails.findLast((mail) => mail?.to === email && mail.kind === "verify_email")?.link as string | undefined;
  });
  return new URL(link).searchParams.get("token") as string;
}

/** Registers, verifies (token from the log transport's line on stdout) and logs in; returns the JWT. */
async function loggedInUser(email: string): Promise<string> {
  await api("POST", "/api/auth/register", { email, username: "browsercheck", password: "TestPass123", firstName: "Browser" });
  await api("POST", "/api/auth/verify-email", { token: await verificationToken(email) });
  return (await api("POST", "/api/auth/login", { email, password: "TestPass123" })).token;
}

beforeAll(async () => {
  await startService();
  profileDir = mkdtempSync(join(tmpdir(), "cmf-chromium-"));
  context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    colorScheme: "light",
    viewport: { width: 1280, height: 900 },
  });
  await context.route("**/*", (route) => {
    const url = new URL(route.request().url());
    if (url.origin !== origin) {
      foreignRequests.push(route.request().url());
      return route.abort("blockedbyclient");
    }
    requests.set(url.pathname, route.request().headers().authorization);
    return route.continue();
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on("pageerror", (error) => pageErrors.push(String(error)));
  await page.goto(`${origin}/swagger`);
  await page.locator(".opblock").first().waitFor({ timeout: 15_000 });
}, 60_000);

afterAll(async () => {
  if (page && !page.isClosed()) {
    mkdirSync(join(ROOT, "test-artifacts"), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true }).then(
      () => console.log(`screenshot: ${SCREENSHOT}`),
      (error) => console.log(`screenshot failed: ${error}`),
    );
  }
  await context?.close().catch(() => {});
  if (profileDir) rmSync(profileDir, { recursive: true, force: true });
  if (service) {
    service.kill("SIGTERM");
    const stopped = await Promise.race([service.exited, Bun.sleep(5_000).then(() => false)]);
    if (stopped === false) service.kill("SIGKILL");
  }
}, 20_000);

describe("Swagger UI in Chromium", () => {
  test("loads the spec and shows every operation of /swagger/json", async () => {
    const spec = (await (await fetch(`${origin}/swagger/json`)).json()) as { paths: Record<string, object> };
    const operations = Object.entries(spec.paths).flatMap(([path, methods]) => Object.keys(methods).map((method) => ({ method, path })));
    expect(operations.length).toBe(12);
    expect(requests.has("/swagger/json")).toBe(true);
    await expect(page.locator(".info .title").textContent()).resolves.toContain("ClassmateFinder API");
    expect(await page.locator(".opblock").count()).toBe(operations.length);
    for (const { method, path } of operations) {
      expect(await operation(method, path).count(), `${method} ${path}`).toBe(1);
    }
  });

  test('"Try it out" on GET /health shows the live 200 response', async () => {
    const { status, body } = await tryItOut("get", "/health");
    expect(status).toBe("200");
    expect(body).toContain('"status": "ok"');
  });

  test("Authorize (bearerAuth) with a JWT, then GET /api/auth/me answers 200", async () => {
    const jwt = await loggedInUser("browser.check@mit.edu");
    await page.locator("button.authorize").first().click();
    const dialog = page.locator(".dialog-ux .modal-ux");
    await expect(dialog.textContent()).resolves.toContain("bearerAuth");
    await dialog.locator("input#auth-bearer-value").fill(jwt);
    // The modal's "Authorize" and "Logout" buttons are named by their aria-labels.
    await dialog.getByRole("button", { name: "Apply credentials" }).click();
    await dialog.getByRole("button", { name: "Remove authorization" }).waitFor({ timeout: 5_000 });
    await dialog.getByRole("button", { name: "Close" }).click();

    const { status, body } = await tryItOut("get", "/api/auth/me");
    expect(status).toBe("200");
    expect(body).toContain("browser.check@mit.edu");
    expect(requests.get("/api/auth/me")).toBe(`Bearer ${jwt}`);
  });

  test('"Try it out" on register and login with their examples: 201, then 403 until verified, then 200', async () => {
    const spec = (await (await fetch(`${origin}/swagger/json`)).json()) as any;
    const example = spec.paths["/api/auth/register"].post.requestBody.content["application/json"].example;
    const registered = await tryItOut("post", "/api/auth/register");
    expect(registered.status).toBe("201");
    expect(registered.body).toContain(`"email": "${example.email}"`);

    const unverified = await tryItOut("post", "/api/auth/login");
    expect(unverified.status).toBe("403");
    expect(unverified.body).toContain("EMAIL_NOT_VERIFIED");

    await api("POST", "/api/auth/verify-email", { token: await verificationToken(example.email) });
    const loggedIn = await execute("post", "/api/auth/login");
    expect(loggedIn.status).toBe("200");
    expect(loggedIn.body).toContain('"tokenType": "Bearer"');
  });

  test("the page needs nothing but the service (no CDN) and throws no errors", () => {
    expect(foreignRequests).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});
