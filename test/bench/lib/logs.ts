/** What the service wrote while it was measured: levels, request statuses, and every warning or error. */
import { createReadStream, existsSync, readFileSync } from "node:fs";
import { createInterface } from "node:readline";

export interface LogSummary {
  lines: number;
  levels: Record<string, number>;
  /** request log lines by HTTP status */
  requestStatuses: Record<string, number>;
  /** distinct messages of warn/error/fatal lines (and lines that are not JSON), with counts */
  notable: Record<string, number>;
  stderr: string;
}

const increment = (counts: Record<string, number>, key: string) => {
  counts[key] = (counts[key] ?? 0) + 1;
};

/** Messages become one line of at most 240 characters (markdown list items). */
const oneLine = (text: string) => {
  const flat = text.replace(/\s*\n\s*/g, " ⏎ ");
  return flat.length > 240 ? `${flat.slice(0, 239)}…` : flat;
};

function describe(line: string): { level: string; message: string } {
  try {
    const entry = JSON.parse(line) as { level?: unknown; msg?: unknown; err?: { message?: unknown } };
    const error = typeof entry.err?.message === "string" ? `: ${entry.err.message}` : "";
    return { level: String(entry.level ?? "unknown"), message: oneLine(`${String(entry.msg ?? "")}${error}`) };
  } catch {
    return { level: "not-json", message: oneLine(line) };
  }
}

/** Reads the log line by line (it can be hundreds of MB); only non-info lines are parsed in full. */
export async function summarizeLog(stdoutPath: string, stderrPath: string): Promise<LogSummary> {
  const summary: LogSummary = { lines: 0, levels: {}, requestStatuses: {}, notable: {}, stderr: "" };
  if (existsSync(stdoutPath)) {
    for await (const line of createInterface({ input: createReadStream(stdoutPath), crlfDelay: Number.POSITIVE_INFINITY })) {
      if (line === "") continue;
      summary.lines += 1;
      if (line.includes('"msg":"request"')) {
        const status = /"status":(\d{3})/.exec(line)?.[1];
        if (status) increment(summary.requestStatuses, status);
      }
      if (line.includes('"level":"info"')) {
        increment(summary.levels, "info");
        continue;
      }
      const { level, message } = describe(line);
      increment(summary.levels, level);
      if (!["debug", "trace"].includes(level)) increment(summary.notable, `${level}: ${message}`);
    }
  }
  if (existsSync(stderrPath)) summary.stderr = readFileSync(stderrPath, "utf8").trim();
  return summary;
}
