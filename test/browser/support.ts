// What the browser checks share: the real service process (the binary when built, else the source) and
// a Chromium that may talk to nothing but that service.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";

export const ROOT = resolve(import.meta.dir, "../..");
const BINARY = join(ROOT, "dist/classmatefinder-backend");
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

function freePort(): number {
  const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  const port = probe.port as number;
  probe.stop(true);
  return port;
}

export async function waitFor<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await check();
    if (value !== undefined) return value;
    await Bun.sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

export type Service = Awaited<ReturnType<typeof startService>>;

/** A development service on a free port, its database in memory, its emails written to stdout (MAIL_TRANSPORT=log). */
export async function startService(env: (origin: string) => Record<string, string> = () => ({})) {
  const port = freePort();
  const origin = `http://127.0.0.1:${port}`;
  const cmd = existsSync(BINARY) ? [BINARY, "serve"] : [process.execPath, "src/main.ts", "serve"];
  console.log(`service: ${cmd.join(" ")} on ${origin}`);
  let output = "";
  const service = Bun.spawn({
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
      ...env(origin),
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  for (const stream of [service.stdout, service.stderr] as ReadableStream<Uint8Array>[]) {
    (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of stream) output += decoder.decode(chunk, { stream: true });
    })();
  }
  await waitFor("/health/live", async () => {
    if (service.exitCode !== null) throw new Error(`service exited with ${service.exitCode}\n${output}`);
    const ok = await fetch(`${origin}/health/live`).then(
      (r) => r.ok,
      () => false,
    );
    return ok || undefined;
  }).catch((error) => {
    throw new Error(`${error instanceof Error ? error.message : error}\n--- service output ---\n${output}`);
  });
  return {
    origin,
    output: () => output,
    /** A JSON request that must succeed; its body. */
    async api(method: string, path: string, body: unknown): Promise<any> {
      const res = await fetch(`${origin}${path}`, { method, headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      if (!res.ok) throw new Error(`${method} ${path} answered ${res.status}: ${await res.text()}`);
      return res.status === 204 ? null : res.json();
    },
    /** The newest link of that kind the log transport wrote for `email` (one JSON line on stdout). */
    emailLink(email: string, kind: "verify_email" | "reset_password" = "verify_email"): Promise<string> {
      return waitFor(`the ${kind} email to ${email} in the service's log`, () => {
        const lines = output.split("\n").slice(0, -1); // complete lines only
        const mails = lines.filter((line) => line.startsWith("{")).map((line) => JSON.parse(line).email);
        return mails.findLast((mail) => mail?.to === email && mail.kind === kind)?.link as string | undefined;
      });
    },
    async stop() {
      service.kill("SIGTERM");
      const stopped = await Promise.race([service.exited, Bun.sleep(5_000).then(() => false)]);
      if (stopped === false) service.kill("SIGKILL");
    },
  };
}

/** Chromium, headless, with every request to anything but `origin` aborted and recorded. */
export async function launchBrowser(origin: string, onRequest?: (url: URL, authorization: string | undefined) => void) {
  const profileDir = mkdtempSync(join(tmpdir(), "cmf-chromium-"));
  const context: BrowserContext = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    colorScheme: "light",
    viewport: { width: 1280, height: 900 },
  });
  const foreignRequests: string[] = [];
  const pageErrors: string[] = [];
  const consoleErrors: string[] = [];
  await context.route("**/*", (route) => {
    const url = new URL(route.request().url());
    if (url.origin !== origin) {
      foreignRequests.push(route.request().url());
      return route.abort("blockedbyclient");
    }
    onRequest?.(url, route.request().headers().authorization);
    return route.continue();
  });
  const page: Page = context.pages()[0] ?? (await context.newPage());
  page.on("pageerror", (error) => pageErrors.push(String(error)));
  // A CSP violation is reported on the console only.
  page.on("console", (message) => {
    if (message.type() === "error") consoleErrors.push(message.text());
  });
  return {
    page,
    foreignRequests,
    pageErrors,
    consoleErrors,
    async close() {
      await context.close().catch(() => {});
      rmSync(profileDir, { recursive: true, force: true });
    },
  };
}
