import { join } from "node:path";
import { freePort } from "./pgbouncer";

const MAIN = join(import.meta.dir, "..", "..", "src", "main.ts");

export interface ServiceProcess {
  port: number;
  child: ReturnType<typeof Bun.spawn>;
  /** Every stdout line so far (JSON log lines). */
  lines: string[];
  stderr(): string;
  call(method: string, path: string, init?: { body?: unknown; token?: string }): Promise<{ status: number; headers: Headers; json: any }>;
  waitForLine(match: (entry: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  stop(): Promise<number>;
  kill(): void;
}

/** `bun src/main.ts serve` as a separate process, as systemd runs it. The caller stops it (`kill()` in afterAll). */
export async function startServiceProcess(env: Record<string, string>, options: { preload?: string } = {}): Promise<ServiceProcess> {
  const port = await freePort();
  const child = Bun.spawn([process.execPath, ...(options.preload ? ["--preload", options.preload] : []), MAIN, "serve"], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", NODE_ENV: "test", HOST: "127.0.0.1", PORT: String(port), ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const lines: string[] = [];
  let stderr = "";
  void (async () => {
    const decoder = new TextDecoder();
    let rest = "";
    for await (const chunk of child.stdout as ReadableStream<Uint8Array>) {
      rest += decoder.decode(chunk, { stream: true });
      const parts = rest.split("\n");
      rest = parts.pop() ?? "";
      lines.push(...parts.filter(Boolean));
    }
    if (rest) lines.push(rest);
  })();
  void (async () => {
    stderr = await new Response(child.stderr as ReadableStream<Uint8Array>).text();
  })();

  const parsed = (line: string): Record<string, unknown> => {
    try {
      return JSON.parse(line);
    } catch {
      return { unparsed: line };
    }
  };
  const waitForLine = async (match: (entry: Record<string, unknown>) => boolean, timeoutMs = 20_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = lines.map(parsed).find(match);
      if (found) return found;
      if (child.exitCode !== null) throw new Error(`the service exited (${child.exitCode}): ${stderr}\n${lines.join("\n")}`);
      if (Date.now() > deadline) throw new Error(`no such log line within ${timeoutMs} ms:\n${lines.join("\n")}`);
      await Bun.sleep(25);
    }
  };
  await waitForLine((entry) => entry.msg === "listening");

  return {
    port,
    child,
    lines,
    stderr: () => stderr,
    waitForLine,
    async call(method, path, init = {}) {
      const headers: Record<string, string> = {};
      if (init.body !== undefined) headers["content-type"] = "application/json";
      if (init.token) headers.authorization = `Bearer ${init.token}`;
      // No request may hang: a generous bound that still fails the test when one does.
      const response = await fetch(`http://127.0.0.1:${port}${path}`, {
        method,
        headers,
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
        signal: AbortSignal.timeout(20_000),
      });
      const text = await response.text();
      let json: any = null;
      try {
        json = text ? JSON.parse(text) : null;
      } catch {
        json = null;
      }
      return { status: response.status, headers: response.headers, json };
    },
    kill() {
      if (child.exitCode === null) child.kill("SIGKILL");
    },
    async stop() {
      child.kill("SIGTERM");
      return await child.exited;
    },
  };
}
