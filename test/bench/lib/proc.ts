/** Processes: running commands, CPU pinning, servers under test and what /proc says about them. */
import { closeSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { $, type Subprocess } from "bun";

/** Pinning needs two cores and taskset: the server and PostgreSQL on CPU 0, the load generator on CPU 1. */
export const CORES = cpus().length;
export const PINNED = CORES >= 2 && Bun.which("taskset") !== null;
export const SERVER_CPU = 0;
export const LOAD_CPU = 1;

/** Progress goes to stderr: stdout carries the markdown only. */
export function progress(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 23)}] ${message}\n`);
}

/** The command, prefixed with `taskset -c <cpu>` when pinning is on. */
export function onCpu(cpu: number, command: string[]): string[] {
  return PINNED ? ["taskset", "-c", String(cpu), ...command] : command;
}

/** Pins this process (all its threads) to one CPU, so polling and bookkeeping stay off the server's CPU. */
export async function pinSelf(cpu: number): Promise<void> {
  if (PINNED) await $`taskset -a -cp ${cpu} ${process.pid}`.quiet();
}

/** Runs a command to completion and returns its stdout; throws with its output when it fails. */
export async function run(command: string[], env?: Record<string, string>): Promise<string> {
  const child = Bun.spawn(command, { env, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  if (code !== 0) throw new Error(`${command.join(" ")} exited with ${code}: ${(stderr || stdout).trim()}`);
  return stdout;
}

/** A port nobody listens on right now. */
export function freePort(): number {
  const probe = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
  const port = probe.port;
  probe.stop(true);
  if (port === undefined) throw new Error("could not find a free port");
  return port;
}

/** A long-running process under test, its stdout and stderr in files. */
export interface Server {
  name: string;
  pid: number;
  baseUrl: string;
  stdoutPath: string;
  stderrPath: string;
  child: Subprocess;
}

export function spawnServer(options: {
  name: string;
  command: string[];
  env: Record<string, string>;
  port: number;
  stdoutPath: string;
  stderrPath: string;
}): Server {
  const stdout = openSync(options.stdoutPath, "a");
  const stderr = openSync(options.stderrPath, "a");
  try {
    const child = Bun.spawn(onCpu(SERVER_CPU, options.command), { env: options.env, stdin: "ignore", stdout, stderr });
    return {
      name: options.name,
      pid: child.pid,
      baseUrl: `http://127.0.0.1:${options.port}`,
      stdoutPath: options.stdoutPath,
      stderrPath: options.stderrPath,
      child,
    };
  } finally {
    closeSync(stdout);
    closeSync(stderr);
  }
}

/** SIGTERM, then SIGKILL when the process has not stopped within `graceMs`. */
export async function stopServer(server: Server, graceMs = 15_000): Promise<void> {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return;
  server.child.kill("SIGTERM");
  const stopped = await Promise.race([server.child.exited.then(() => true), Bun.sleep(graceMs).then(() => false)]);
  if (!stopped) {
    server.child.kill("SIGKILL");
    await server.child.exited;
  }
}

/**
 * Polls `url` every `intervalMs` until it answers 200; resolves with the milliseconds since `since`
 * (a performance.now() value). Throws when the process exits or `timeoutMs` passes first.
 */
export async function waitForOk(url: string, server: Server, since: number, timeoutMs = 15_000, intervalMs = 1): Promise<number> {
  while (performance.now() - since < timeoutMs) {
    if (server.child.exitCode !== null) {
      throw new Error(`${server.name} exited with ${server.child.exitCode} before answering; see ${server.stderrPath}`);
    }
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await response.arrayBuffer();
      if (response.status === 200) return performance.now() - since;
    } catch {
      // not listening yet
    }
    await Bun.sleep(intervalMs);
  }
  throw new Error(`${server.name} did not answer 200 on ${url} within ${timeoutMs} ms; see ${server.stderrPath}`);
}

/** CPU time the main (JavaScript) thread of `pid` has used so far, in ms (the scheduler's own count, in ns). */
export function mainThreadCpuMs(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, "utf8").split(" ")[0]) / 1e6;
}

/** A field of /proc/PID/status in bytes (VmRSS: resident now, VmHWM: peak resident). */
export function memoryBytes(pid: number, field: "VmRSS" | "VmHWM"): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status);
  if (!match) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

/** Resets VmHWM to the current RSS, so the next reading is the peak of what follows. */
export function resetPeakMemory(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, "5");
}

/** CPU time (user + system) the process has used, in clock ticks. */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

/**
 * Waits until the process is idle (under ~10 % of a core over 300 ms), at most `timeoutMs`: work a
 * scenario left queued (password hashes of abandoned logins, the email outbox) must not bill the next.
 */
export async function waitUntilIdle(pid: number, timeoutMs = 30_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let before = cpuTicks(pid);
  while (performance.now() < deadline) {
    await Bun.sleep(300);
    const now = cpuTicks(pid);
    if (now - before <= 3) return;
    before = now;
  }
}
