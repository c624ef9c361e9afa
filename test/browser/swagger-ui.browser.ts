// Swagger UI in a real Chromium against the real service process. Not a *.test.ts file, so plain `bun test`
// skips it; run it with `bun test ./test/browser/swagger-ui.browser.ts` (see .ci/browser-check.sh).
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Locator, Page } from "playwright-core";
import { launchBrowser, ROOT, type Service, startService } from "./support";

setDefaultTimeout(30_000);

const SCREENSHOT = join(ROOT, "test-artifacts/swagger-ui.png");

let service: Service;
let browser: Awaited<ReturnType<typeof launchBrowser>> | undefined;
let origin = "";
let page: Page;
/** Paths the page requested from the service, with the Authorization header it sent. */
const requests = new Map<string, string | undefined>();

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

/** The token of the newest verification link the service emailed to `email`. */
const verificationToken = async (email: string) => new URL(await service.emailLink(email)).searchParams.get("token") as string;

/** Registers, verifies (token from the log transport's line on stdout) and logs in; returns the JWT. */
async function loggedInUser(email: string): Promise<string> {
  await service.api("POST", "/api/auth/register", { email, username: "browsercheck", password: "TestPass123", firstName: "Browser" });
  await service.api("POST", "/api/auth/verify-email", { token: await verificationToken(email), password: "TestPass123" });
  return (await service.api("POST", "/api/auth/login", { email, password: "TestPass123" })).token;
}

beforeAll(async () => {
  service = await startService();
  origin = service.origin;
  browser = await launchBrowser(origin, (url, authorization) => requests.set(url.pathname, authorization));
  page = browser.page;
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
  await browser?.close();
  await service?.stop();
}, 20_000);

describe("Swagger UI in Chromium", () => {
  test("loads the spec and shows every operation of /swagger/json", async () => {
    const spec = (await (await fetch(`${origin}/swagger/json`)).json()) as { paths: Record<string, object> };
    const operations = Object.entries(spec.paths).flatMap(([path, methods]) => Object.keys(methods).map((method) => ({ method, path })));
    expect(operations.length).toBe(15);
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

    await service.api("POST", "/api/auth/verify-email", { token: await verificationToken(example.email), password: example.password });
    const loggedIn = await execute("post", "/api/auth/login");
    expect(loggedIn.status).toBe("200");
    expect(loggedIn.body).toContain('"tokenType": "Bearer"');
  });

  test("the page needs nothing but the service (no CDN) and throws no errors", () => {
    expect(browser?.foreignRequests).toEqual([]);
    expect(browser?.pageErrors).toEqual([]);
  });
});
