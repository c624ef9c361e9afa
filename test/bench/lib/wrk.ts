/** wrk with the Lua scripts of test/bench/lua: every run ends with one BENCH_JSON line (see lua/report.lua). */
import { join } from "node:path";
import { LOAD_CPU, onCpu, run } from "./proc";

export const LUA_DIR = join(import.meta.dir, "..", "lua");
export const WRK_THREADS = 1;
export const WRK_CONNECTIONS = 50;
/** Longer than any answer should take, so slow responses are measured instead of cut off as timeouts. */
export const WRK_TIMEOUT = "10s";

export interface WrkRun {
  url: string;
  script: string;
  args?: string[];
  connections?: number;
  duration: string;
}

export interface SocketErrors {
  connect: number;
  read: number;
  write: number;
  timeout: number;
}

export interface WrkResult {
  requests: number;
  seconds: number;
  requestsPerSecond: number;
  /** latencies in milliseconds */
  p50: number;
  p95: number;
  p99: number;
  max: number;
  statuses: Record<string, number>;
  non2xx: number;
  /** 503 answers that carried Retry-After */
  retryAfter: number;
  errors: SocketErrors;
  socketErrors: number;
}

interface WrkReport {
  requests: number;
  durationUs: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  errors: SocketErrors;
  statuses: Record<string, number>;
  retryAfter: number;
}

export function wrkCommand(options: WrkRun): string[] {
  const connections = options.connections ?? WRK_CONNECTIONS;
  const wrk = ["wrk", `-t${WRK_THREADS}`, `-c${connections}`, `-d${options.duration}`, "--latency", "--timeout", WRK_TIMEOUT];
  return onCpu(LOAD_CPU, [...wrk, "-s", join(LUA_DIR, options.script), options.url, "--", ...(options.args ?? [])]);
}

export async function runWrk(options: WrkRun): Promise<WrkResult> {
  const output = await run(wrkCommand(options));
  const line = output.split("\n").find((candidate) => candidate.startsWith("BENCH_JSON "));
  if (!line) throw new Error(`wrk printed no BENCH_JSON line:\n${output}`);
  return toResult(JSON.parse(line.slice("BENCH_JSON ".length)) as WrkReport);
}

function toResult(report: WrkReport): WrkResult {
  const seconds = report.durationUs / 1e6;
  const non2xx = Object.entries(report.statuses)
    .filter(([status]) => !status.startsWith("2"))
    .reduce((sum, [, count]) => sum + count, 0);
  const { connect, read, write, timeout } = report.errors;
  return {
    requests: report.requests,
    seconds,
    requestsPerSecond: report.requests / seconds,
    p50: report.p50 / 1000,
    p95: report.p95 / 1000,
    p99: report.p99 / 1000,
    max: report.max / 1000,
    statuses: report.statuses,
    non2xx,
    retryAfter: report.retryAfter,
    errors: report.errors,
    socketErrors: connect + read + write + timeout,
  };
}

/** Responses with the given status per second (e.g. successful logins, 201s of registration). */
export function statusPerSecond(result: WrkResult, status: string): number {
  return (result.statuses[status] ?? 0) / result.seconds;
}

/** All 2xx responses per second. */
export function successPerSecond(result: WrkResult): number {
  return (result.requests - result.non2xx) / result.seconds;
}
