import { parseArgs } from "node:util";
import {
  type CriterionResult,
  evaluateRollout,
  pickCanary,
  type Query,
  releaseName,
  scrapedReleases,
  verdictOf,
} from "../observability/rollout-criteria";
import { PROGRAM, REVISION, VERSION } from "../version";

export const ROLLOUT_CHECK_USAGE = `Usage: ${PROGRAM} rollout-check --prometheus URL [--canary REVISION|VERSION] [--window 30m] [--job classmatefinder]

Asks Prometheus for each criterion of the rollout plan, for the canary release (default: this binary's,
${VERSION} (${REVISION})) against every other release of the scrape job, and prints the releases it
compared, one line per criterion and a verdict. A release is a version and the commit it was built from:
--canary takes a revision (7 or more hex digits) or a version that only one scraped release has.
Exit 0: promote. 1: hold (not enough data, an instance not scraped, or a success criterion unmet).
2: roll back (a trigger fired). 64: bad arguments.`;

const QUERY_TIMEOUT_MS = 10_000;

/** An instant query against Prometheus's HTTP API; NaN values are left out. */
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
      data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] | [number, string] };
    } | null;
    if (!response.ok || body?.status !== "success" || !body.data) {
      throw new Error(`Prometheus answered ${response.status}: ${body?.error ?? "not a query result"} (query: ${promql})`);
    }
    const { resultType, result } = body.data;
    const samples =
      resultType === "scalar"
        ? [{ labels: {}, value: Number((result as [number, string])[1]) }]
        : (result as { metric: Record<string, string>; value: [number, string] }[]).map((r) => ({
            labels: r.metric,
            value: Number(r.value[1]),
          }));
    return samples.filter((sample) => Number.isFinite(sample.value));
  };
}

const OUTCOME_WORDS: Record<CriterionResult["outcome"], string> = { pass: "pass", hold: "FAIL (hold)", rollback: "FAIL (roll back)" };

function line(result: CriterionResult): string {
  const note = result.note ? ` — ${result.note}` : "";
  return `${`${result.name}:`.padEnd(38)} ${result.value}; target ${result.threshold}: ${OUTCOME_WORDS[result.outcome]}${note}`;
}

/** `rollout-check`: a pipeline gates each rollout step on its exit code. */
export async function rolloutCheckCommand(args: string[]): Promise<number> {
  let options: { prometheus?: string; canary?: string; window?: string; job?: string; help?: boolean };
  try {
    ({ values: options } = parseArgs({
      args,
      options: {
        prometheus: { type: "string" },
        canary: { type: "string" },
        window: { type: "string" },
        job: { type: "string" },
        help: { type: "boolean" },
      },
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
  const job = options.job ?? "classmatefinder";
  const problem = !options.prometheus
    ? "--prometheus URL is required"
    : !/^https?:\/\//.test(options.prometheus)
      ? `--prometheus must be an http(s) URL (got "${options.prometheus}")`
      : !/^[1-9]\d*[smhdw]$/.test(window)
        ? `--window must be a duration such as 30m, 2h or 90s (got "${window}")`
        : !/^[A-Za-z0-9_.:-]+$/.test(job)
          ? `--job must be a scrape job name (got "${job}")`
          : null;
  if (problem || !options.prometheus) {
    process.stderr.write(`${PROGRAM} rollout-check: ${problem}\n\n${ROLLOUT_CHECK_USAGE}\n`);
    return 64;
  }
  const query = prometheusQuery(options.prometheus);
  const print = (text: string) => process.stdout.write(`${text}\n`);
  try {
    const releases = await scrapedReleases(query, job);
    const picked = pickCanary(
      releases.map((entry) => entry.release),
      options.canary,
      { version: VERSION, revision: REVISION },
    );
    if ("problem" in picked) {
      print(
        `verdict: hold — ${picked.problem} (job ${job} scrapes: ${releases.map((entry) => releaseName(entry.release)).join(", ") || "nothing"})`,
      );
      return picked.exitCode;
    }
    const canary = picked.release;
    const describe = (entries: typeof releases) =>
      entries.map((entry) => `${releaseName(entry.release)} on ${entry.instances} instance(s)`).join(", ") || "no other release";
    const others = releases.filter((entry) => releaseName(entry.release) !== releaseName(canary));
    const own = releases.filter((entry) => releaseName(entry.release) === releaseName(canary));
    print(`rollout-check: canary ${describe(own)} against ${describe(others)}; job ${job}, window ${window}`);
    const results = await evaluateRollout(query, canary, window, job);
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
