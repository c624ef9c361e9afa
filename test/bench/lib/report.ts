/** The markdown of a bench run: context, targets, one table per database, floor, hashing, binary, logs. */
import type { HashComparison } from "../hash-implementations";
import type { OverloadRun } from "../overload";
import type { LogSummary } from "./logs";
import { overloadTable, overloadTargets } from "./overload-report";
import { aggregate, median } from "./stats";
import { statusPerSecond, successPerSecond, type WrkResult } from "./wrk";

export type DatabaseKind = "sqlite" | "postgres";

/** wrk results per scenario key, one per run. */
export type Samples = Record<string, WrkResult[]>;

export interface ServiceResults {
  database: DatabaseKind;
  label: string;
  samples: Samples;
  /** VmHWM after each login flood (reset before it) */
  floodPeakRssBytes: number[];
  /** the isolated hash rate measured right before each run's login scenario (same order as its samples) */
  adjacentHashRates: number[];
  /** CPU time of the service's main thread per successful login, in ms, one per run of the login scenario */
  loginMainThreadMs: number[];
  /** parameters of the hashes the service stored for the seeded accounts ("m=19456,t=2,p=1") */
  storedHashParameters: string;
  log: LogSummary;
  /** the overload scenarios (test/bench/overload.ts), one per run */
  overload: OverloadRun[];
}

export interface HashRates {
  /** the argon2id implementations side by side (test/bench/hash-implementations.ts); the first set is the configured one */
  comparison: HashComparison;
  /** the implementation the service hashes with */
  service: string;
  configuredFromEnv: boolean;
}

export interface BinaryFigures {
  sizeBytes: number;
  coldStartMs: number[];
  idleRssBytes: number;
}

export interface BenchContext {
  command: string;
  date: string;
  machine: string;
  software: string;
  wrk: string;
  pinning: string;
  service: string;
}

export interface BenchResults {
  context: BenchContext;
  floor: Samples;
  services: ServiceResults[];
  hashRates: HashRates;
  binary: BinaryFigures;
}

/** Scenario keys, shared with scenarios.ts, and how rows are labelled. */
export const SCENARIO_LABELS: Record<string, string> = {
  health: "GET /health",
  me: "GET /api/auth/me (rotating JWTs)",
  login: "POST /api/auth/login (rotating accounts)",
  mixed: "mixed: 80 % /api/auth/me, 15 % /health, 5 % login",
  register: "POST /api/auth/register (new account each)",
  floodLogin: "login flood: POST /api/auth/login",
  floodHealth: "… meanwhile GET /health (2 connections)",
};
export const FLOOR_LABELS: Record<string, string> = {
  raw: "GET / (JSON, nothing else)",
  pg: "GET /pg (SELECT 1, postgres package)",
  sqlite: "GET /sqlite (SELECT 1, bun:sqlite)",
};

const EXPRESS_PRISMA_MIXED = 209;
const EXPRESS_BCRYPT_LOGIN = 17.2;

// ---- formatting ----

const thousands = (value: number) => Math.round(value).toLocaleString("en-US");
export const fmtRate = (value: number) => (value >= 100 ? thousands(value) : value.toFixed(value >= 10 ? 1 : 2));
export const fmtMs = (value: number) => (value >= 100 ? thousands(value) : value.toFixed(value >= 10 ? 1 : 2));
const fmtCount = (value: number) => thousands(value);
const fmtMB = (bytes: number) => (bytes / 1e6).toFixed(1);

/** One value, or the median and the range over the runs. */
function cell(values: number[], format: (value: number) => string): string {
  if (values.length === 0) return "–";
  if (values.length === 1) return format(values[0] as number);
  const { median: mid, min, max } = aggregate(values);
  return `${format(mid)} (${format(min)}–${format(max)})`;
}

function table(header: string[], rows: string[][], rightAligned = header.length - 1): string {
  const align = header.map((_, index) => (index === 0 || index > rightAligned ? "---" : "---:"));
  return [header, align, ...rows].map((row) => `| ${row.join(" | ")} |`).join("\n");
}

function sumCounts(results: WrkResult[], pick: (result: WrkResult) => Record<string, number>): Record<string, number> {
  const total: Record<string, number> = {};
  for (const result of results) {
    for (const [key, count] of Object.entries(pick(result))) total[key] = (total[key] ?? 0) + count;
  }
  return total;
}

/** "503×12 (Retry-After on 12); read errors 3" summed over the runs, or "". */
function problemNotes(results: WrkResult[]): string {
  const notes: string[] = [];
  const statuses = Object.entries(sumCounts(results, (result) => result.statuses)).filter(([status]) => !status.startsWith("2"));
  if (statuses.length > 0) {
    const retryAfter = results.reduce((sum, result) => sum + result.retryAfter, 0);
    const list = statuses.map(([status, count]) => `${status}×${fmtCount(count)}`).join(", ");
    notes.push(retryAfter > 0 ? `${list} (Retry-After on ${fmtCount(retryAfter)})` : list);
  }
  const errors = Object.entries(sumCounts(results, (result) => ({ ...result.errors }))).filter(([, count]) => count > 0);
  if (errors.length > 0) notes.push(errors.map(([kind, count]) => `${kind} errors ${fmtCount(count)}`).join(", "));
  const empty = results.filter((result) => result.requests === 0).length;
  if (empty > 0) notes.push(`${empty === 1 ? "a run" : `${empty} runs`} completed no request within the window`);
  if (notes.length > 0 && results.length > 1) notes.push(`(all ${results.length} runs)`);
  return notes.join("; ");
}

function scenarioRow(label: string, results: WrkResult[], extra: string[] = []): string[] {
  const column = (pick: (result: WrkResult) => number, format: (value: number) => string) => cell(results.map(pick), format);
  return [
    label,
    column((result) => result.requestsPerSecond, fmtRate),
    column((result) => result.p50, fmtMs),
    column((result) => result.p95, fmtMs),
    column((result) => result.p99, fmtMs),
    column((result) => result.max, fmtMs),
    column((result) => result.non2xx, fmtCount),
    column((result) => result.socketErrors, fmtCount),
    [...extra, problemNotes(results)].filter(Boolean).join("; "),
  ];
}

const SCENARIO_HEADER = ["scenario", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "non-2xx", "socket errors", "notes"];

function samplesOf(samples: Samples, key: string): WrkResult[] {
  return samples[key] ?? [];
}

function serviceTable(service: ServiceResults): string {
  const rows = Object.keys(SCENARIO_LABELS).map((key) => {
    const results = samplesOf(service.samples, key);
    const extra: string[] = [];
    if (key === "login" || key === "floodLogin") extra.push(`successful ${cell(results.map(successPerSecond), fmtRate)}/s`);
    if (key === "login") extra.push(`main-thread CPU ${cell(service.loginMainThreadMs, fmtMs)} ms per successful login`);
    if (key === "register")
      extra.push(
        `201: ${cell(
          results.map((result) => statusPerSecond(result, "201")),
          fmtRate,
        )}/s`,
      );
    if (key === "floodLogin") extra.push(`peak RSS ${cell(service.floodPeakRssBytes, fmtMB)} MB`);
    return scenarioRow(SCENARIO_LABELS[key] as string, results, extra);
  });
  return table(SCENARIO_HEADER, rows, 7);
}

function floorTable(floor: Samples): string {
  const rows = Object.keys(FLOOR_LABELS)
    .filter((key) => samplesOf(floor, key).length > 0)
    .map((key) => scenarioRow(FLOOR_LABELS[key] as string, samplesOf(floor, key)));
  return table(SCENARIO_HEADER, rows, 7);
}

// ---- targets ----

export interface Target {
  name: string;
  measured: number;
  unit: string;
  atLeast: boolean;
  threshold: number;
  thresholdNote: string;
  /** replaces the measured value when it cannot be trusted (e.g. requests timed out) */
  override?: string;
  /** how the measured value is written (default: by unit) */
  format?: (value: number) => string;
}

const medianOf = (results: WrkResult[], pick: (result: WrkResult) => number) => median(results.map(pick));

function targetRow(target: Target): string[] {
  const met = target.override === undefined && (target.atLeast ? target.measured >= target.threshold : target.measured <= target.threshold);
  const format = target.format ?? (target.unit === "ms" ? fmtMs : target.unit === "MB" ? (value: number) => value.toFixed(1) : fmtRate);
  const ratio = target.measured / target.threshold;
  return [
    target.name,
    target.override ?? `${format(target.measured)}${target.unit.startsWith("/") || target.unit === "" ? "" : " "}${target.unit}`,
    `${target.atLeast ? "≥" : "≤"} ${target.thresholdNote}`,
    Number.isFinite(ratio) ? `${ratio.toFixed(2)}×` : "–",
    met ? "✅" : "❌",
  ];
}

function serviceTargets(service: ServiceResults, floor: Samples, hashRate: number): Target[] {
  const name = service.label.split(" ")[0] as string;
  const samples = (key: string) => samplesOf(service.samples, key);
  const rps = (key: string) => medianOf(samples(key), (result) => result.requestsPerSecond);
  const p99 = (key: string) => medianOf(samples(key), (result) => result.p99);
  const floorRps = (key: string) => medianOf(samplesOf(floor, key), (result) => result.requestsPerSecond);
  const targets: Target[] = [];
  const ratioTarget = (label: string, key: string, factor: number, floorKey: string, floorName: string) => {
    const base = floorRps(floorKey);
    targets.push({
      name: `${label} on ${name}`,
      measured: rps(key),
      unit: "req/s",
      atLeast: true,
      threshold: factor * base,
      thresholdNote: `${factor} × floor ${floorName} (${fmtRate(base)}) = ${fmtRate(factor * base)} req/s`,
    });
  };
  if (service.database === "postgres") {
    ratioTarget("/health", "health", 0.9, "pg", "/pg");
    ratioTarget("/api/auth/me", "me", 0.5, "pg", "/pg");
  } else {
    ratioTarget("/health", "health", 0.7, "raw", "/");
    targets.push({
      name: `/api/auth/me on ${name}`,
      measured: rps("me"),
      unit: "req/s",
      atLeast: true,
      threshold: 20_000,
      thresholdNote: "20,000 req/s",
    });
  }
  targets.push({
    name: `/api/auth/me p99 on ${name}`,
    measured: p99("me"),
    unit: "ms",
    atLeast: false,
    threshold: 10,
    thresholdNote: "10 ms",
  });
  const logins = medianOf(samples("login"), successPerSecond);
  // Paired per run: successful logins over the isolated rate measured just before them.
  const loginRatios = samples("login").map((result, run) => successPerSecond(result) / (service.adjacentHashRates[run] ?? hashRate));
  targets.push(
    {
      name: `successful logins ÷ isolated hash rate measured just before, on ${name}`,
      measured: median(loginRatios),
      unit: "×",
      atLeast: true,
      threshold: 0.9,
      thresholdNote: `0.9 (runs: ${loginRatios.map((ratio) => ratio.toFixed(2)).join(", ")}; isolated ${service.adjacentHashRates
        .map((rate) => fmtRate(rate))
        .join(", ")}/s)`,
    },
    {
      name: `successful logins/s per core (the service pinned to one) on ${name}`,
      measured: logins,
      unit: "/s",
      atLeast: true,
      threshold: EXPRESS_BCRYPT_LOGIN,
      thresholdNote: `${EXPRESS_BCRYPT_LOGIN}/s (Express, bcrypt-10)`,
    },
    {
      name: `mixed on ${name}`,
      measured: rps("mixed"),
      unit: "req/s",
      atLeast: true,
      threshold: 1.5 * EXPRESS_PRISMA_MIXED,
      thresholdNote: `1.5 × ${EXPRESS_PRISMA_MIXED} req/s (Express + Prisma) = ${fmtRate(1.5 * EXPRESS_PRISMA_MIXED)} req/s`,
    },
    { name: `mixed p99 on ${name}`, measured: p99("mixed"), unit: "ms", atLeast: false, threshold: 250, thresholdNote: "250 ms" },
    {
      name: `/health p99 during login flood on ${name}`,
      measured: p99("floodHealth"),
      unit: "ms",
      atLeast: false,
      threshold: 50,
      thresholdNote: "50 ms",
    },
  );
  const flood = samples("floodLogin");
  const timeouts = flood.reduce((sum, result) => sum + result.errors.timeout, 0);
  targets.push(
    {
      name: `login max latency during flood on ${name}`,
      measured: medianOf(flood, (result) => result.max),
      unit: "ms",
      atLeast: false,
      threshold: 5_000,
      thresholdNote: "5,000 ms",
      override: timeouts > 0 ? `> 10 s (${timeouts} timeouts)` : undefined,
    },
    {
      name: `peak RSS under login flood on ${name}`,
      measured: median(service.floodPeakRssBytes) / 1e6,
      unit: "MB",
      atLeast: false,
      threshold: 200,
      thresholdNote: "200 MB",
    },
  );
  return targets;
}

function binaryTargets(binary: BinaryFigures): Target[] {
  return [
    {
      name: "cold start to first 200",
      measured: median(binary.coldStartMs),
      unit: "ms",
      atLeast: false,
      threshold: 80,
      thresholdNote: "80 ms",
    },
    { name: "idle RSS", measured: binary.idleRssBytes / 1e6, unit: "MB", atLeast: false, threshold: 60, thresholdNote: "60 MB" },
  ];
}

function targetsTable(results: BenchResults): string {
  const targets = [
    ...hashTargets(results.hashRates),
    ...results.services.flatMap((service) => serviceTargets(service, results.floor, configuredRate(results.hashRates))),
    ...results.services.flatMap((service) => overloadTargets(service.label.split(" ")[0] as string, service.overload)),
    ...binaryTargets(results.binary),
  ];
  return table(["target", "measured (median)", "threshold", "ratio", "met"], targets.map(targetRow), 3);
}

// ---- the other sections ----

/** The side-by-side table: a row per parameter set and implementation, the rate as a multiple of Bun.password's. */
function hashTable(rates: HashRates): string {
  const { comparison } = rates;
  const rows = comparison.sets.flatMap((set, index) => {
    const bun = set.results.find((result) => result.implementation === "Bun.password");
    const label = `m=${set.memoryCostKiB} KiB, t=${set.timeCost}${index === 0 ? (rates.configuredFromEnv ? " (configured)" : " (the default)") : ""}`;
    return set.results.map((result) => [
      `${label}: ${result.implementation} ${result.version}${result.implementation === rates.service ? " (the service's)" : ""}`,
      fmtMs(result.medianMs),
      fmtRate(result.perSecond),
      bun ? `${(result.perSecond / bun.perSecond).toFixed(2)}×` : "–",
      fmtMs(result.cpuMs),
      result.mainThreadMs.toFixed(2),
    ]);
  });
  const failed = comparison.crossChecks.filter((check) => !check.ok).map((check) => `${check.maker}'s hash with ${check.checker}`);
  const names = [...new Set(comparison.crossChecks.map((check) => check.maker))];
  return [
    table(
      [
        "argon2id (p=1): implementation",
        "ms per verification (median)",
        "verifications/s",
        "÷ Bun.password",
        "CPU ms per verification, all threads",
        "of which the main thread",
      ],
      rows,
      5,
    ),
    `${comparison.rounds} rounds interleaved in one process, ${comparison.sets.map((set) => set.hashesPerRound).join(" / ")} verifications per implementation and round.`,
    `Each implementation's hash checked by each (${names.join(", ")}; right password accepted, wrong refused): ${
      failed.length === 0 ? "all pass" : `all pass but ${failed.join("; ")}`
    }.`,
    ...comparison.unavailable.map((entry) => `Not measured: ${entry.implementation}, ${entry.reason}.`),
  ].join("\n\n");
}

/** The service's implementation at the configured parameters (the comparison's first set). */
function configuredRate(rates: HashRates): number {
  return rates.comparison.sets[0]?.results.find((result) => result.implementation === rates.service)?.perSecond ?? Number.NaN;
}

function hashTargets(rates: HashRates): Target[] {
  const set = rates.comparison.sets[0];
  const bun = set?.results.find((result) => result.implementation === "Bun.password");
  if (!set || !bun) return [];
  return [
    {
      name: `isolated hash rate of the service's implementation (${rates.service}) at m=${set.memoryCostKiB} KiB, t=${set.timeCost}`,
      measured: configuredRate(rates) / bun.perSecond,
      unit: "×",
      atLeast: true,
      threshold: 2.5,
      thresholdNote: `2.5 × Bun.password's (${fmtRate(bun.perSecond)}/s; the service's ${fmtRate(configuredRate(rates))}/s)`,
    },
  ];
}

function binaryTable(binary: BinaryFigures): string {
  return table(
    ["size", "cold start to first 200 (median of 10, min–max)", "idle RSS 3 s after start"],
    [
      [
        `${fmtMB(binary.sizeBytes)} MB`,
        `${fmtMs(median(binary.coldStartMs))} ms (${fmtMs(Math.min(...binary.coldStartMs))}–${fmtMs(Math.max(...binary.coldStartMs))})`,
        `${fmtMB(binary.idleRssBytes)} MB`,
      ],
    ],
    2,
  );
}

function countsList(counts: Record<string, number>): string {
  const entries = Object.entries(counts).sort(([a], [b]) => a.localeCompare(b));
  return entries.length === 0 ? "none" : entries.map(([key, count]) => `${key} ×${fmtCount(count)}`).join(", ");
}

function logSection(service: ServiceResults): string {
  const { log } = service;
  const lines = [
    `- **${service.label}**: ${fmtCount(log.lines)} lines (${countsList(log.levels)}); request lines by status: ${countsList(log.requestStatuses)}.`,
  ];
  const notable = Object.entries(log.notable).sort(([, a], [, b]) => b - a);
  for (const [message, count] of notable.slice(0, 10)) lines.push(`  - ×${fmtCount(count)} \`${message.replaceAll("`", "'")}\``);
  if (notable.length > 10) lines.push(`  - … and ${notable.length - 10} more distinct messages`);
  if (log.stderr) lines.push(`  - stderr: \`${log.stderr.split("\n").slice(0, 3).join(" ⏎ ").replaceAll("`", "'")}\``);
  return lines.join("\n");
}

export function renderMarkdown(results: BenchResults): string {
  const { context } = results;
  const sections = [
    "## Results",
    [
      `- Command: \`${context.command}\``,
      `- Date: ${context.date}`,
      `- Machine: ${context.machine}`,
      `- Software: ${context.software}`,
      `- Load: ${context.wrk}`,
      `- Pinning: ${context.pinning}`,
      `- Service: ${context.service}`,
    ].join("\n"),
    "### Targets",
    targetsTable(results),
    ...results.services.flatMap((service) => [
      `### ${service.label}`,
      serviceTable(service),
      `Stored password hashes: argon2id ${service.storedHashParameters}.`,
      `#### Overload scenarios on ${service.label} (\`test/bench/overload.ts\`, open-loop, TRUST_PROXY client addresses)`,
      overloadTable(service.overload),
    ]),
    "### Floor: Bun.serve alone (`test/bench/floor.ts`), same pinning and load",
    floorTable(results.floor),
    "### Password hashing, isolated: the argon2id implementations side by side (`test/bench/hash-implementations.ts`, one core)",
    hashTable(results.hashRates),
    "### Compiled binary",
    binaryTable(results.binary),
    "### Service logs during the run",
    results.services.map(logSection).join("\n"),
  ];
  return `${sections.join("\n\n")}\n`;
}

// ---- BENCHMARKS.md ----

export const START_MARKER = "<!-- bench:start -->";
export const END_MARKER = "<!-- bench:end -->";

/**
 * Puts `block` between the markers. Without markers (the first time), the old generated sections
 * ("## SQLite …", "## PostgreSQL …") are replaced by the markers; prose sections are kept.
 */
export function replaceResults(document: string, block: string): string {
  const marked = `${START_MARKER}\n${block.trimEnd()}\n${END_MARKER}`;
  const start = document.indexOf(START_MARKER);
  const end = document.indexOf(END_MARKER);
  if (start !== -1 && end > start) return document.slice(0, start) + marked + document.slice(end + END_MARKER.length);

  const lines = document.split("\n");
  const kept: string[] = [];
  let insertAt = -1;
  let dropping = false;
  for (const line of lines) {
    if (line.startsWith("## ")) {
      dropping = /^## (SQLite|PostgreSQL)\b/.test(line);
      if (dropping && insertAt === -1) insertAt = kept.length;
      if (!dropping && insertAt === -1 && /^## Reading/.test(line)) insertAt = kept.length;
    }
    if (!dropping) kept.push(line);
  }
  if (insertAt === -1) return `${document.trimEnd()}\n\n${marked}\n`;
  kept.splice(insertAt, 0, marked, "");
  return kept.join("\n");
}
