import { afterAll } from "bun:test";
import { chmodSync, copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

let built: Promise<string> | null = null;

/**
 * The same build as `bun run build`, once per test process (the binary test files share it), copied
 * alone into an empty directory: no node_modules, no checkout, no drizzle/ folder next to it.
 */
export function compiledBinary(): Promise<string> {
  built ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), "cmf-binary-"));
    // Readable by other users: tests run it as an unprivileged user too.
    chmodSync(dir, 0o755);
    const output = join(dir, "build", "classmatefinder-backend");
    const build = Bun.spawn([process.execPath, "scripts/build.ts", output], { cwd: join(import.meta.dir, "..", ".."), stderr: "pipe" });
    if ((await build.exited) !== 0) throw new Error(`build failed: ${await new Response(build.stderr).text()}`);
    const binary = join(dir, "classmatefinder-backend");
    copyFileSync(output, binary);
    rmSync(join(dir, "build"), { recursive: true });
    process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
    return binary;
  })();
  return built;
}

/** Services started by a test file: a failing test must not leave one running. */
export function serviceTracker() {
  const services = new Set<ReturnType<typeof Bun.spawn>>();
  afterAll(() => {
    for (const service of services) service.kill("SIGKILL");
  });
  return (process: ReturnType<typeof Bun.spawn>) => {
    services.add(process);
    return process;
  };
}

export async function freePort(): Promise<number> {
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
  const port = server.port as number;
  await server.stop(true);
  return port;
}

export async function waitFor(condition: () => Promise<boolean>, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await Bun.sleep(50);
  }
  throw new Error("timed out waiting for the service");
}
