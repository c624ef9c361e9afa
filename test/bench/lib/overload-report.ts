/** The overload scenarios (test/bench/overload.ts) in the bench report: their targets and a table. */
import { FLOOD_LOAD, FLOOD_OTHERS_LOAD, LECTURE_HALL_STUDENTS, type Measured, type OverloadRun } from "../overload";
import { countStatuses, percentile, type TimedAnswer } from "./open-loop";
import { fmtMs, fmtRate, type Target } from "./report";
import { aggregate, median } from "./stats";

const count = (answers: TimedAnswer[], predicate: (answer: TimedAnswer) => boolean) => answers.filter(predicate).length;
const lastAnswerMs = (answers: TimedAnswer[]) => Math.max(...answers.map((answer) => answer.endMs));
const fmtCount = (value: number) => Math.round(value).toLocaleString("en-US");
const integer = (value: number) => fmtCount(value);
const percent = (value: number) => `${value.toFixed(1)}`;
const logins = (answers: TimedAnswer[]) => answers.filter((answer) => answer.stream !== "health");
/** Successful logins answered within the scenario's window, per second. */
const goodput = (run: OverloadRun["flood"]) =>
  count(logins(run.answers), (answer) => answer.status === 200 && answer.endMs <= run.durationMs) / (run.durationMs / 1000);

/** The contract's targets for the three scenarios, over the runs of one database. */
export function overloadTargets(name: string, runs: OverloadRun[]): Target[] {
  if (runs.length === 0) return [];
  const rates = (pick: (run: OverloadRun) => number) =>
    runs
      .map(pick)
      .map((rate) => fmtRate(rate))
      .join(", ");
  // Each run's hash rate: the mean of the measurements before and after the scenario (before → after).
  const hashRates = (pick: (run: OverloadRun) => Measured) =>
    runs
      .map(pick)
      .map((run) => `${fmtRate(run.hashRate)} (${fmtRate(run.hashRateBefore)} → ${fmtRate(run.hashRateAfter)})`)
      .join(", ");
  const hall = runs.map((run) => run.lectureHall);
  const hallRate = median(hall.map((run) => run.hashRate));
  const hallLimitMs = (1.5 * LECTURE_HALL_STUDENTS * 1000) / hallRate;
  const targets: Target[] = [
    {
      name: `lecture hall: 503 answers among ${LECTURE_HALL_STUDENTS} registrations and ${LECTURE_HALL_STUDENTS} logins at once, on ${name}`,
      measured: Math.max(...hall.map((run) => count([...run.register, ...run.login], (answer) => answer.status === 503))),
      unit: "",
      atLeast: false,
      threshold: 0,
      thresholdNote: "0 (the worst run)",
      format: integer,
    },
    {
      name: `lecture hall: answers other than 201 (registration) / 200 (login), on ${name}`,
      measured: Math.max(
        ...hall.map((run) => count(run.register, (answer) => answer.status !== 201) + count(run.login, (answer) => answer.status !== 200)),
      ),
      unit: "",
      atLeast: false,
      threshold: 0,
      thresholdNote: "0 (the worst run)",
      format: integer,
    },
  ];
  for (const phase of ["register", "login"] as const) {
    targets.push({
      name: `lecture hall: last ${phase === "register" ? "registration" : "login"} answered after, on ${name}`,
      measured: median(hall.map((run) => lastAnswerMs(run[phase]))),
      unit: "ms",
      atLeast: false,
      threshold: hallLimitMs,
      thresholdNote: `1.5 × ${LECTURE_HALL_STUDENTS} ÷ hash rate (${fmtRate(hallRate)}/s; runs: ${hashRates((run) => run.lectureHall)}/s) = ${fmtMs(hallLimitMs)} ms`,
    });
  }
  const peak = runs.map((run) => run.campusPeak);
  targets.push(
    {
      name: `campus peak (0.9 × hash rate, open-loop): 503 answers, on ${name}`,
      measured: Math.max(...peak.map((run) => count(run.answers, (answer) => answer.status === 503))),
      unit: "",
      atLeast: false,
      threshold: 0,
      thresholdNote: `0 (the worst run; arrivals at 0.9 × the rate before; hash rate ${hashRates((run) => run.campusPeak)}/s)`,
      format: integer,
    },
    {
      name: `campus peak: login p95, on ${name}`,
      measured: median(peak.map((run) => percentile(run.answers, 0.95))),
      unit: "ms",
      atLeast: false,
      threshold: 1000,
      thresholdNote: "1,000 ms",
    },
  );
  const flood = runs.map((run) => run.flood);
  const stream = (run: OverloadRun["flood"], name: string) => run.answers.filter((answer) => answer.stream === name);
  const busyAnswers = (run: OverloadRun["flood"]) => stream(run, "flood").filter((answer) => answer.status === 503);
  targets.push(
    {
      name: `flood (${FLOOD_LOAD} × hash rate from one address): other addresses' logins that succeed, on ${name}`,
      measured: median(flood.map((run) => (100 * count(stream(run, "others"), (a) => a.status === 200)) / stream(run, "others").length)),
      unit: "%",
      atLeast: true,
      threshold: 95,
      thresholdNote: "95 %",
      format: percent,
    },
    {
      name: `flood: goodput (successful logins/s) ÷ isolated hash rate, on ${name}`,
      measured: median(flood.map((run) => goodput(run) / run.hashRate)),
      unit: "×",
      atLeast: true,
      threshold: 0.9,
      thresholdNote: `0.9 (goodput ${rates((run) => goodput(run.flood))}/s; hash rate ${hashRates((run) => run.flood)}/s)`,
    },
    {
      name: `flood: /health p99, on ${name}`,
      measured: median(flood.map((run) => percentile(stream(run, "health"), 0.99))),
      unit: "ms",
      atLeast: false,
      threshold: 50,
      thresholdNote: "50 ms",
    },
    {
      name: `flood: the flood's 503 answers p95, on ${name}`,
      // A run without any 503 (a host fast enough for the flood) had nothing slow.
      measured: median(flood.map((run) => percentile(busyAnswers(run), 0.95) || 0)),
      unit: "ms",
      atLeast: false,
      threshold: 50,
      thresholdNote: `50 ms (they come fast; 503s: ${flood.map((run) => fmtCount(busyAnswers(run).length)).join(", ")})`,
    },
    {
      name: `flood: peak RSS, on ${name}`,
      measured: median(flood.map((run) => run.peakRssBytes)) / 1e6,
      unit: "MB",
      atLeast: false,
      threshold: 200,
      thresholdNote: "200 MB",
    },
  );
  return targets;
}

/** "12 (10–14)" over the runs. */
function cell(values: number[], format: (value: number) => string): string {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return "–";
  if (finite.length === 1) return format(finite[0] as number);
  const { median: mid, min, max } = aggregate(finite);
  return `${format(mid)} (${format(min)}–${format(max)})`;
}

function statusList(answers: TimedAnswer[][]): string {
  const total: Record<string, number> = {};
  for (const run of answers) for (const [status, n] of Object.entries(countStatuses(run))) total[status] = (total[status] ?? 0) + n;
  const retryAfter = answers.flat().filter((answer) => answer.status === 503 && answer.retryAfter !== null);
  const seconds = [...new Set(retryAfter.map((answer) => answer.retryAfter))].sort().join(", ");
  const list = Object.entries(total)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([status, n]) => `${status === "0" ? "socket error/timeout" : status}×${fmtCount(n)}`)
    .join(", ");
  return retryAfter.length > 0 ? `${list} (Retry-After: ${seconds} s)` : list;
}

/** One row per stream of each scenario: how many, what they got, how long it took (all runs). */
export function overloadTable(runs: OverloadRun[]): string {
  const rows: [string, TimedAnswer[][]][] = [
    [`lecture hall: ${LECTURE_HALL_STUDENTS} registrations at once`, runs.map((run) => run.lectureHall.register)],
    [`lecture hall: ${LECTURE_HALL_STUDENTS} logins at once`, runs.map((run) => run.lectureHall.login)],
    ["campus peak: logins, 0.9 × hash rate", runs.map((run) => run.campusPeak.answers)],
    [`flood: logins from one address, ${FLOOD_LOAD} × hash rate`, runs.map((run) => run.flood.answers.filter((a) => a.stream === "flood"))],
    [
      `flood: logins from 40 other addresses, ${FLOOD_OTHERS_LOAD} × hash rate`,
      runs.map((run) => run.flood.answers.filter((a) => a.stream === "others")),
    ],
    ["flood: GET /health, 20/s", runs.map((run) => run.flood.answers.filter((a) => a.stream === "health"))],
  ];
  const header = ["scenario", "requests", "p50 ms", "p95 ms", "p99 ms", "max ms", "answers (all runs)"];
  const lines = rows.map(([label, answers]) => [
    label,
    cell(
      answers.map((run) => run.length),
      fmtCount,
    ),
    ...[0.5, 0.95, 0.99, 1].map((fraction) =>
      cell(
        answers.map((run) => percentile(run, fraction)),
        fmtMs,
      ),
    ),
    statusList(answers),
  ]);
  const align = header.map((_, index) => (index === 0 || index === header.length - 1 ? "---" : "---:"));
  return [header, align, ...lines].map((row) => `| ${row.join(" | ")} |`).join("\n");
}
