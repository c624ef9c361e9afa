/**
 * The rollout plan's criteria as Prometheus queries, evaluated for one canary release against the
 * others (stable). The same numbers as deploy/prometheus/alerts.rules.yml, asked over the chosen window
 * from the raw series, so the check works whether or not the recording rules are loaded.
 */

/** Fewer API requests than this in the window is not enough to judge a release by. */
export const MIN_REQUESTS = 50;

export type Outcome = "pass" | "hold" | "rollback";

export interface CriterionResult {
  name: string;
  /** The measured value(s), formatted. */
  value: string;
  threshold: string;
  outcome: Outcome;
  /** Why the outcome is what it is, when it is not a plain comparison (no data, the database is down everywhere …). */
  note?: string;
}

/** Runs an instant query and returns its single value (the sum); null when the result is empty or NaN. */
export type Query = (promql: string) => Promise<number | null>;

const API = 'route=~"/api/.+"';
const REGISTER = 'method="POST",route="/api/auth/register"';

const percent = (value: number | null) => (value === null ? "no data" : `${(value * 100).toFixed(2)} %`);
const milliseconds = (value: number | null) => (value === null ? "no data" : `${Math.round(value * 1000)} ms`);
const count = (value: number | null) => (value === null ? "no data" : String(Math.round(value * 100) / 100));

/** Selects the instances of a release (or of every other release) for a join. */
function releaseOf(version: string, others: boolean) {
  const quoted = JSON.stringify(version);
  return (expr: string, by = "") =>
    `sum${by}(${expr} * on (job, instance) group_left (version) classmatefinder_build_info{version${others ? "!=" : "="}${quoted}})`;
}
type Of = ReturnType<typeof releaseOf>;

export async function evaluateRollout(query: Query, canary: string, window: string): Promise<CriterionResult[]> {
  const ofCanary = releaseOf(canary, false);
  const ofStable = releaseOf(canary, true);
  const both = async (expr: (of: Of) => string) => Promise.all([query(expr(ofCanary)), query(expr(ofStable))]);
  const ratio = (of: Of, numerator: string, denominator: string) =>
    // A numerator series that never appeared (no 201 from a broken release) is 0, not "no data".
    `(${of(`increase(${numerator}[${window}])`)} or vector(0)) / ${of(`increase(${denominator}[${window}])`)}`;

  const requests = await query(ofCanary(`increase(http_requests_total{${API}}[${window}])`));
  const failures = await query(ofCanary(`increase(http_requests_total{${API},status=~"5.."}[${window}])`));
  const enoughRequests = requests !== null && requests >= MIN_REQUESTS;
  const noRequests = `${count(requests)} API requests in ${window}, fewer than ${MIN_REQUESTS}`;
  const results: CriterionResult[] = [];

  const [errorRate, stableErrorRate] = await both((of) =>
    ratio(of, `http_requests_total{${API},status=~"5.."}`, `http_requests_total{${API}}`),
  );
  results.push({
    name: "error rate",
    value: `${percent(errorRate)} (others ${percent(stableErrorRate)})`,
    threshold: "< 1 %, roll back above 5 %",
    // A failing canary gets few requests at 10 %: ten failures are enough to roll it back.
    ...(errorRate !== null && errorRate > 0.05 && (enoughRequests || (failures ?? 0) >= 10)
      ? { outcome: "rollback" }
      : !enoughRequests || errorRate === null
        ? { outcome: "hold", note: noRequests }
        : { outcome: errorRate < 0.01 ? "pass" : "hold" }),
  });

  const [p95, stableP95] = await both(
    (of) => `histogram_quantile(0.95, ${of(`rate(http_request_duration_seconds_bucket{${API}}[${window}])`, " by (le) ")})`,
  );
  results.push({
    name: "p95 latency",
    value: `${milliseconds(p95)} (others ${milliseconds(stableP95)})`,
    threshold: "< 500 ms, roll back above 2 s",
    ...(p95 !== null && p95 > 2 && enoughRequests
      ? { outcome: "rollback" }
      : !enoughRequests || p95 === null
        ? { outcome: "hold", note: noRequests }
        : { outcome: p95 < 0.5 ? "pass" : "hold" }),
  });

  // Failures of the canary alone are the release's fault; failures everywhere are the database's.
  const [dbFailures, stableDbFailures] = await both((of) => of(`increase(db_errors_total{kind="connection"}[${window}])`));
  results.push({
    name: "database connection failures",
    value: `${count(dbFailures)} (others ${count(stableDbFailures)})`,
    threshold: "none",
    ...(dbFailures === null
      ? { outcome: "hold", note: "the canary reports no db_errors_total" }
      : dbFailures < 0.5
        ? { outcome: "pass" }
        : stableDbFailures !== null && stableDbFailures >= 0.5
          ? { outcome: "hold", note: "every release fails to reach the database: a database problem, not the canary's" }
          : { outcome: "rollback" }),
  });

  // Email criteria are over every release: the outbox and the verification links are shared.
  const registrations = await query(`sum(increase(auth_registrations_total[${window}]))`);
  const verificationRate = await query(
    `sum(increase(auth_email_verifications_total[${window}])) / sum(increase(auth_registrations_total[${window}]))`,
  );
  results.push({
    name: "email verification rate",
    value: `${percent(verificationRate)} of ${count(registrations)} registrations (all releases)`,
    threshold: "> 80 %",
    ...(verificationRate === null || !registrations
      ? { outcome: "hold", note: `no registrations in ${window}` }
      : { outcome: verificationRate > 0.8 ? "pass" : "hold" }),
  });

  const withinFiveMinutes = await query(
    `sum(increase(email_delivery_seconds_bucket{kind="verify_email",le="300"}[${window}])) / sum(increase(email_delivery_seconds_count{kind="verify_email"}[${window}]))`,
  );
  const oldestPending = await query("max(email_outbox_oldest_pending_seconds)");
  const late = oldestPending !== null && oldestPending > 300;
  results.push({
    name: "verification email within 5 minutes",
    value: `${percent(withinFiveMinutes)} delivered within 5 min, oldest waiting ${oldestPending === null ? "unknown" : `${Math.round(oldestPending)} s`}`,
    threshold: "≥ 95 %, none waiting longer",
    ...(withinFiveMinutes === null
      ? { outcome: "hold", note: `no verification email delivered in ${window}` }
      : { outcome: withinFiveMinutes >= 0.95 && !late ? "pass" : "hold" }),
  });

  const [completion, stableCompletion] = await both((of) =>
    ratio(of, `http_requests_total{${REGISTER},status="201"}`, `http_requests_total{${REGISTER}}`),
  );
  results.push({
    name: "registration completion",
    value: `${percent(completion)} (others ${percent(stableCompletion)})`,
    threshold: "> 60 %",
    ...(completion === null
      ? { outcome: "hold", note: `no registration attempt on the canary in ${window}` }
      : { outcome: completion > 0.6 ? "pass" : "hold" }),
  });
  return results;
}

/** 2 when any rollback trigger fired, 1 when anything holds, 0 to promote. */
export function verdictOf(results: CriterionResult[]): { outcome: Outcome; exitCode: 0 | 1 | 2 } {
  if (results.some((result) => result.outcome === "rollback")) return { outcome: "rollback", exitCode: 2 };
  if (results.some((result) => result.outcome === "hold")) return { outcome: "hold", exitCode: 1 };
  return { outcome: "pass", exitCode: 0 };
}
