import { afterAll, describe, expect, test } from "bun:test";
import { closeSync, fstatSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig } from "../../src/config/config";
import { redactedConfig } from "../../src/config/redacted";
import { createLogger, requestLineWriter, withJournalPriorities } from "../../src/logger";
import { freePort } from "../support/pgbouncer";

/**
 * Issue 29, item 5: under systemd each line carries the journal priority of its level ("<3>" for an
 * error, sd-daemon(3)), so `journalctl -p err` finds errors, while the message stays one JSON object.
 * The process is told by JOURNAL_STREAM ("<device>:<inode>" of the stream systemd connected); here the
 * stream is a file given as stdout and stderr, named the same way. systemd/test-in-sandbox.sh checks
 * the same under a real systemd and journald.
 */
const MAIN = join(import.meta.dir, "../../src/main.ts");
const scratch = mkdtempSync(join(tmpdir(), "cmf-journal-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Runs the service with stdout and stderr on one file; `journal`: whether JOURNAL_STREAM names that file. */
async function run(
  args: string[],
  env: Record<string, string>,
  journal: "this stream" | "another stream" | "unset",
  whileRunning?: (port: number) => Promise<void>,
) {
  const path = join(scratch, `${Math.random().toString(36).slice(2)}.log`);
  const fd = openSync(path, "w");
  const stat = fstatSync(fd);
  const other = statSync(scratch);
  const journalStream = { "this stream": `${stat.dev}:${stat.ino}`, "another stream": `${other.dev}:${other.ino}`, unset: undefined }[
    journal
  ];
  const port = await freePort();
  const child = Bun.spawn([process.execPath, MAIN, ...args], {
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      NODE_ENV: "test",
      HOST: "127.0.0.1",
      PORT: String(port),
      ...env,
      ...(journalStream ? { JOURNAL_STREAM: journalStream } : {}),
    },
    stdout: fd,
    stderr: fd,
  });
  closeSync(fd);
  if (whileRunning) {
    const text = () => readFileSync(path, "utf8");
    for (let i = 0; i < 400 && !text().includes('"msg":"listening"') && child.exitCode === null; i++) await Bun.sleep(25);
    await whileRunning(port);
    child.kill("SIGTERM");
  }
  const exitCode = await child.exited;
  return { exitCode, lines: readFileSync(path, "utf8").split("\n").filter(Boolean) };
}

/** The priority journald reads, and the message it stores. */
const parsed = (line: string) => {
  const match = /^<([0-7])>(.*)$/.exec(line);
  return match ? { priority: Number(match[1]), message: match[2] as string } : { priority: null, message: line };
};
const json = (message: string): Record<string, unknown> | null => {
  try {
    return JSON.parse(message);
  } catch {
    return null;
  }
};

describe("when stdout is the journal stream", () => {
  test("a configuration error: the JSON line and the stderr line at priority 2 (crit), the JSON intact", async () => {
    const { exitCode, lines } = await run(["serve"], { NODE_ENV: "production" }, "this stream");
    expect(exitCode).toBe(78);
    const entries = lines.map(parsed);
    expect(entries.every((entry) => entry.priority !== null)).toBe(true);
    const fatal = entries.find((entry) => json(entry.message)?.level === "fatal");
    expect(fatal?.priority).toBe(2);
    expect(json(fatal?.message ?? "")).toMatchObject({ level: "fatal", variable: "DATABASE_URL" });
    expect(entries.find((entry) => entry.message.startsWith("classmatefinder-backend: invalid configuration"))?.priority).toBe(2);
  });

  test("a running service: warnings at 4, information (the request lines too) at 6", async () => {
    const { lines } = await run(["serve"], { DATABASE_URL: `file:${join(scratch, "serve.db")}` }, "this stream", async (port) => {
      expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);
      await Bun.sleep(50); // the request line goes out on the next turn of the event loop
    });
    const entries = lines.map(parsed);
    expect(entries.filter((entry) => entry.priority === null)).toEqual([]);
    const byLevel = new Map<unknown, Set<number | null>>();
    for (const entry of entries) {
      const level = json(entry.message)?.level;
      byLevel.set(level, (byLevel.get(level) ?? new Set()).add(entry.priority));
    }
    expect(Object.fromEntries([...byLevel].map(([level, priorities]) => [String(level), [...priorities]]))).toEqual({
      warn: [4],
      info: [6],
    });
    const request = entries.map((entry) => json(entry.message)).find((entry) => entry?.msg === "request");
    expect(request).toMatchObject({ level: "info", route: "/health", status: 200 });
  });
});

test.each(["unset", "another stream"] as const)(
  "JOURNAL_STREAM %s: plain JSON lines, as a terminal or a container runtime reads them",
  async (journal) => {
    const { lines } = await run(["serve"], { NODE_ENV: "production" }, journal);
    expect(lines.some((line) => line.startsWith("<"))).toBe(false);
    expect(lines.map(json).find((entry) => entry?.level === "fatal")).toMatchObject({ variable: "DATABASE_URL" });
  },
);

test("every level has its priority: trace and debug 7, info 6, warn 4, error 3, fatal 2", () => {
  const lines: string[] = [];
  const logger = createLogger(
    { logLevel: "trace" },
    withJournalPriorities({ write: (line: string) => void lines.push(line) }, { stderr: false }),
  );
  for (const level of ["trace", "debug", "info", "warn", "error", "fatal"] as const) logger[level]({ password: "hunter22" }, level);
  expect(lines.map((line) => line.slice(0, 3))).toEqual(["<7>", "<7>", "<6>", "<4>", "<3>", "<2>"]);
  expect(lines.map((line) => JSON.parse(line.slice(3)))).toEqual(
    ["trace", "debug", "info", "warn", "error", "fatal"].map((level) =>
      expect.objectContaining({ level, msg: level, password: "[redacted]" }),
    ),
  );
});

test("the request line, written apart from pino, carries info's priority", async () => {
  const lines: string[] = [];
  const logger = createLogger(
    { logLevel: "info" },
    withJournalPriorities({ write: (line: string) => void lines.push(line) }, { stderr: false }),
  );
  requestLineWriter(logger)({ reqId: "r1", method: "GET", route: "/health", status: 200, durationMs: 1 });
  await new Promise((resolve) => setImmediate(resolve));
  expect(lines).toHaveLength(1);
  expect(lines[0]).toStartWith('<6>{"level":"info"');
  expect(JSON.parse((lines[0] as string).slice(3))).toMatchObject({ msg: "request", reqId: "r1" });
});

test("JOURNAL_STREAM is read with the configuration, which `check` still prints as JSON", () => {
  const config = parseConfig({ JOURNAL_STREAM: "8:306630" });
  expect(config.journalStream).toBe("8:306630");
  expect(JSON.parse(JSON.stringify(redactedConfig(config))).journalStream).toBe("8:306630");
  // systemd's, not an operator's: anything else means no journal, never a configuration error.
  expect(parseConfig({ JOURNAL_STREAM: "not a stream" }).journalStream).toBeNull();
});
