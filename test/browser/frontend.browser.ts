// The fixture frontend (test/frontend-fixture: Vite + React, built with nothing of the backend but the
// client's tarball) in a real Chromium against the compiled binary: register → verify → login → me →
// logout, then the same pages with the API stopped. Run by .ci/run after the fixture is built:
// `bun test ./test/browser/frontend.browser.ts`.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { ROOT, type Service, startService } from "./support";

setDefaultTimeout(30_000);

const BINARY = join(ROOT, "dist/classmatefinder-backend");
const FIXTURE_DIST = join(ROOT, "test/frontend-fixture/dist");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

let service: Service | undefined;
let apiOrigin = "";

/** The page's server, as a deployment would have it: the built files, and the API's URL filled into index.html. */
const site = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  async fetch(request) {
    const path = new URL(request.url).pathname;
    const file = Bun.file(join(FIXTURE_DIST, path));
    if (path !== "/" && !path.includes("..") && (await file.exists())) return new Response(file);
    const html = (await Bun.file(join(FIXTURE_DIST, "index.html")).text()).replace(
      '<meta name="api-url" content="" />',
      `<meta name="api-url" content="${apiOrigin}" />`,
    );
    return new Response(html, { headers: { "content-type": "text/html; charset=utf-8" } });
  },
});
const siteOrigin = `http://127.0.0.1:${site.port}`;

async function stopService(): Promise<void> {
  await service?.stop();
}

let profileDir = "";
let context: BrowserContext | undefined;
let page: Page;
const pageErrors: string[] = [];
const consoleErrors: string[] = [];

beforeAll(async () => {
  if (!existsSync(BINARY)) throw new Error(`${BINARY} is missing: run \`bun run build\` first`);
  if (!existsSync(join(FIXTURE_DIST, "index.html"))) throw new Error(`${FIXTURE_DIST} is missing: build the fixture first (.ci/run)`);
  // The page is served from another origin, as in production: real CORS, real preflights.
  service = await startService(() => ({ CORS_ORIGIN: siteOrigin, APP_URL: siteOrigin, UNIVERSITY_DOMAINS: ".edu" }));
  apiOrigin = service.origin;
  profileDir = mkdtempSync(join(tmpdir(), "cmf-chromium-"));
  context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-sync"],
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on("pageerror", (error) => pageErrors.push(String(error)));
  page.on("console", (message) => {
    if (message.type() === "error") consoleErrors.push(message.text());
  });
}, 60_000);

afterAll(async () => {
  await context?.close().catch(() => {});
  if (profileDir) rmSync(profileDir, { recursive: true, force: true });
  await stopService();
  site.stop(true);
}, 20_000);

const email = `ada.${Math.random().toString(36).slice(2, 8)}@mit.edu`;
const password = "Correct-Horse-42";
const alert = () => page.getByRole("alert");
const status = () => page.getByRole("status");

describe("the fixture frontend in Chromium, against the binary", () => {
  test("register: the page says to check the inbox", async () => {
    await page.goto(`${siteOrigin}/`);
    await page.getByRole("button", { name: "Create an account" }).click();
    await page.getByPlaceholder("University email").fill(email);
    await page.getByPlaceholder("Username").fill("ada_browser");
    await page.getByPlaceholder("Password").fill(password);
    await page.getByPlaceholder("First name").fill("Ada");
    await page.getByRole("button", { name: "Register" }).click();
    await status().filter({ hasText: "Check your inbox" }).waitFor();
  });

  test("verify: the emailed link opens the page, which sends the token only with the typed password", async () => {
    const link = await (service as Service).emailLink(email);
    expect(link.startsWith(`${siteOrigin}/verify-email?token=`)).toBe(true);
    await page.goto(link);
    await page.getByRole("button", { name: "Confirm my email" }).waitFor();
    expect(new URL(page.url()).search).toBe(""); // the token left the address bar
    await page.getByPlaceholder("Password").fill(password);
    await page.getByRole("button", { name: "Confirm my email" }).click();
    await status().filter({ hasText: "Thanks, Ada: your email address is verified." }).waitFor();
  });

  test("login, then me: the page shows the signed-in user", async () => {
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByPlaceholder("University email").fill(email);
    await page.getByPlaceholder("Password").fill("WrongPass123");
    await page.getByRole("button", { name: "Log in" }).click();
    await alert().filter({ hasText: "The email or password is incorrect." }).waitFor();
    await page.getByPlaceholder("Password").fill(password);
    await page.getByRole("button", { name: "Log in" }).click();
    await page
      .getByTestId("me")
      .filter({ hasText: `Signed in as ada_browser (${email})` })
      .waitFor();
  });

  test("logout: 204, and the page is logged out", async () => {
    await page.getByRole("button", { name: "Log out" }).click();
    await status().filter({ hasText: "You are logged out." }).waitFor();
    await page.getByRole("button", { name: "Log in" }).waitFor();
  });

  test("with the API stopped, login and verify show their error: no uncaught exception", async () => {
    await stopService();
    expect(
      await fetch(`${apiOrigin}/health/live`).then(
        () => "answered",
        () => "down",
      ),
    ).toBe("down");
    await page.goto(`${siteOrigin}/login`);
    await page.getByPlaceholder("University email").fill(email);
    await page.getByPlaceholder("Password").fill(password);
    await page.getByRole("button", { name: "Log in" }).click();
    await alert().filter({ hasText: "Cannot reach ClassmateFinder" }).waitFor();

    await page.goto(`${siteOrigin}/verify-email?token=${"x".repeat(43)}`);
    await page.getByPlaceholder("Password").fill(password);
    await page.getByRole("button", { name: "Confirm my email" }).click();
    await alert().filter({ hasText: "Cannot reach ClassmateFinder" }).waitFor();
  });

  test("the page threw nothing, and logged no error but the failed connections", () => {
    expect(pageErrors).toEqual([]);
    // Chromium logs every failed request: the wrong password's 401, and the refused connections once the
    // API is stopped. Nothing else may appear.
    const expected = (text: string) => text.includes("ERR_CONNECTION_REFUSED") || text.includes("status of 401 (Unauthorized)");
    expect(consoleErrors.filter((text) => !expected(text))).toEqual([]);
    expect(consoleErrors.some((text) => text.includes("ERR_CONNECTION_REFUSED"))).toBe(true);
  });
});
