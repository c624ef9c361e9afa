import { parseArgs } from "node:util";
import { type CriterionResult, evaluateRollout, type Query, verdictOf } from "../observability/rollout-criteria";
import { PROGRAM, VERSION } from "../version";

export const ROLLOUT_CHECK_USAGE = `Usage: ${PROGRAM} rollout-check --prometheus URL [--canary VERSION] [--window 30m]

Asks Prometheus for each criterion of the rollout plan, for the canary release (default: ${VERSION},
this binary's) against every other release it scrapes, and prints one line per criterion and a verdict.
Exit 0: promote. 1: hold (not enough data, or a success criterion unmet). 2: roll back (a trigger fired).`;

const QUERY_TIMEOUT_MS = 10_000;

/** An instant query against Prometheus's HTTP API, summed to one number; NaN and empty results are null. */
function prometheusQuery(baseUrl: string): Query {
  return async (promql) => {
    const url = new URL("api/v1/query", baseUrl.endsWith("/") ? baseUrl : `${baseUrl}/`);
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ query: promql }),
      signal: AbortSignal.timeout(QUERY_TIMEOUT_MS),
    });
    const body = (await response.json().catch(() => null)) as {
      status?: string;
      error?: string;
      data?: { resultType: string; result: { value: [number, string] }[] | [number, string] };
    } | null;
    if (!response.ok || body?.status !== "success" || !body.data) {
      throw new Error(`Prometheus answered ${response.status}: ${body?.error ?? "not a query result"} (query: ${promql})`);
    }
    const { resultType, result } = body.data;
    const values =
      resultType === "scalar" ? [(result as [number, string])[1]] : (result as { value: [number, string] }[]).map((r) => r.value[1]);
    const numbers = values.map(Number).filter((value) => Number.isFinite(value));
    return numbers.length === 0 ? null : numbers.reduce((sum, value) => sum + value, 0);
  };
}

const OUTCOME_WORDS: Record<CriterionResult["outcome"], string> = { pass: "pass", hold: "FAIL (hold)", rollback: "FAIL (roll back)" };

function line(result: CriterionResult): string {
  const note = result.note ? ` — ${result.note}` : "";
  return `${`${result.name}:`.padEnd(38)} ${result.value}; target ${result.threshold}: ${OUTCOME_WORDS[result.outcome]}${note}`;
}

/** `rollout-check`: a pipeline gates each rollout step on its exit code. */
export async function rolloutCheckCommand(args: string[]): Promise<number> {
  let options: { prometheus?: string; canary?: string; window?: string; help?: boolean };
  try {
    ({ values: options } = parseArgs({
      args,
      options: { prometheus: { type: "string" }, canary: { type: "string" }, window: { type: "string" }, help: { type: "boolean" } },
    }));
  } catch (error) {
    process.stderr.write(`${PROGRAM} rollout-check: ${(error as Error).message}\n\n${ROLLOUT_CHECK_USAGE}\n`);
    return 64;
  }
  if (options.help) {
    process.stdout.write(`${ROLLOUT_CHECK_USAGE}\n`);
    return 0;
  }
  const window = options.window ?? "30m";
  const problem = !options.prometheus
    ? "--prometheus URL is required"
    : !/^https?:\/\//.test(options.prometheus)
      ? `--prometheus must be an http(s) URL (got "${options.prometheus}")`
      : !/^[1-9]\d*[smhdw]$/.test(window)
        ? `--window must be a duration such as 30m, 2h or 90s (got "${window}")`
        : null;
  if (problem || !options.prometheus) {
    process.stderr.write(`${PROGRAM} rollout-check: ${problem}\n\n${ROLLOUT_CHECK_USAGE}\n`);
    return 64;
  }
  const canary = options.canary ?? VERSION;
  const query = prometheusQuery(options.prometheus);
  const print = (text: string) => process.stdout.write(`${text}\n`);
  try {
    const instances = (await query(`count(classmatefinder_build_info{version=${JSON.stringify(canary)}})`)) ?? 0;
    const others = (await query(`count(classmatefinder_build_info{version!=${JSON.stringify(canary)}})`)) ?? 0;
    print(`rollout-check: canary ${canary} (${instances} instance(s)) against ${others} instance(s) of other releases, window ${window}`);
    if (instances === 0) {
      print(`verdict: hold — Prometheus scrapes no instance of ${canary} (classmatefinder_build_info{version="${canary}"})`);
      return 1;
    }
    const results = await evaluateRollout(query, canary, window);
    for (const result of results) print(line(result));
    const verdict = verdictOf(results);
    const failing = results.filter((result) => result.outcome === verdict.outcome).map((result) => result.name);
    print(
      verdict.exitCode === 0 ? "verdict: promote" : `verdict: ${verdict.exitCode === 2 ? "roll back" : "hold"} — ${failing.join(", ")}`,
    );
    return verdict.exitCode;
  } catch (error) {
    // No answer is no evidence: never promote on it.
    print(`verdict: hold — cannot ask Prometheus: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}
