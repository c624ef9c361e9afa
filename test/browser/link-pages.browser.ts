// The pages of the emailed links in a real Chromium, against the real service process (issue 25): a
// student registers, opens the emailed link, types the password and lands logged in; the reset page
// likewise. Run with `bun test ./test/browser/link-pages.browser.ts` (see .ci/browser-check.sh).
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { launchBrowser, type Service, startService } from "./support";

setDefaultTimeout(30_000);

let service: Service;
let browser: Awaited<ReturnType<typeof launchBrowser>>;
/** Requests the pages made to the service, as "METHOD path". */
const requests: string[] = [];

beforeAll(async () => {
  // APP_URL is the service itself (its default is http://localhost:PORT): its links open its own pages.
  service = await startService((origin) => ({ APP_URL: origin }));
  browser = await launchBrowser(service.origin, (url) => requests.push(url.pathname));
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await service?.stop();
}, 20_000);

const register = (email: string, username: string, password: string) =>
  service.api("POST", "/api/auth/register", { email, username, password, firstName: "Ada" });

describe("the emailed links' pages in Chromium", () => {
  test("register, open the emailed link, type the password: verified and logged in; the address bar keeps no token", async () => {
    await register("ada.pages@mit.edu", "ada_pages", "Analytical-Engine-1843");
    // Someone else registered the same address: the link still needs the student's own password.
    await register("ada.pages@mit.edu", "not_ada", "Somebody-Else-99");
    const link = await service.emailLink("ada.pages@mit.edu");
    expect(link.startsWith(`${service.origin}/verify-email?token=`)).toBe(true);
    const { page } = browser;
    await page.goto(link);
    expect(new URL(page.url()).search).toBe("");
    await page.getByLabel("Password").fill("Wrong-Password-1");
    await page.getByRole("button", { name: "Confirm" }).click();
    await page.getByText("not the password you registered with").waitFor({ timeout: 10_000 });
    await page.getByLabel("Password").fill("Analytical-Engine-1843");
    await page.getByRole("button", { name: "Confirm" }).click();
    await page.getByText("you are logged in as ada_pages").waitFor({ timeout: 10_000 });
    const session = JSON.parse((await page.evaluate(() => sessionStorage.getItem("classmatefinder.session"))) ?? "null");
    expect(session.user).toMatchObject({ username: "ada_pages", emailVerified: true });
    const me = await fetch(`${service.origin}/api/auth/me`, { headers: { authorization: `Bearer ${session.token}` } });
    expect(((await me.json()) as { user: { username: string } }).user.username).toBe("ada_pages");
  });

  test("opening a link does nothing by itself: only the typed password posts it", async () => {
    await register("grace.pages@mit.edu", "grace_pages", "Compiler-Pioneer-1952");
    const link = await service.emailLink("grace.pages@mit.edu");
    requests.length = 0;
    await browser.page.goto(link);
    await browser.page.getByRole("button", { name: "Confirm" }).waitFor();
    expect(requests).toEqual(["/verify-email"]);
  });

  test("the reset page: a new password typed twice replaces the old one", async () => {
    await register("reset.pages@mit.edu", "reset_pages", "First-Password-2026");
    const verifyLink = new URL(await service.emailLink("reset.pages@mit.edu"));
    await service.api("POST", "/api/auth/verify-email", { token: verifyLink.searchParams.get("token"), password: "First-Password-2026" });
    await service.api("POST", "/api/auth/forgot-password", { email: "reset.pages@mit.edu" });
    const link = await service.emailLink("reset.pages@mit.edu", "reset_password");
    const { page } = browser;
    await page.goto(link);
    await page.getByLabel("New password", { exact: true }).fill("Second-Password-2026");
    await page.getByLabel("New password again").fill("Second-Password-2026");
    await page.getByRole("button", { name: "Change password" }).click();
    await page.getByText("Your password has been changed").waitFor({ timeout: 10_000 });
    const login = await fetch(`${service.origin}/api/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: "reset.pages@mit.edu", password: "Second-Password-2026" }),
    });
    expect(login.status).toBe(200);
  });

  test("the pages load nothing from elsewhere and break none of their own Content-Security-Policy", () => {
    expect(browser.foreignRequests).toEqual([]);
    expect(browser.pageErrors).toEqual([]);
    expect(browser.consoleErrors.filter((line) => !line.includes("401"))).toEqual([]);
  });
});
