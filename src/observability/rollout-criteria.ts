/**
 * The rollout plan's criteria as Prometheus queries, evaluated for one canary release against every
 * other release of the same scrape job. The same numbers as deploy/prometheus/alerts.rules.yml, asked
 * over the chosen window from the raw series, so the check works whether or not the recording rules
 * are loaded.
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

/**
 * A release: its version and the commit it was built from. Releases before e1e8c63's successor label
 * only their build_info, with no revision: `revision` is then undefined.
 */
export interface Release {
  version: string;
  revision?: string;
}

export interface Sample {
  labels: Record<string, string>;
  value: number;
}

/** Runs an instant query; NaN values are left out. */
export type Query = (promql: string) => Promise<Sample[]>;

export const releaseName = (release: Release) => `${release.version} (${release.revision ?? "no revision label"})`;
const releaseOf = (labels: Record<string, string>): Release => ({ version: labels.version ?? "", revision: labels.revision || undefined });
const sameRelease = (a: Release, b: Release) => a.version === b.version && a.revision === b.revision;

const API = 'route=~"/api/.+"';
const REGISTER = 'method="POST",route="/api/auth/register"';

/**
 * PromQL for `fn(metric[window])` summed by release. Counters carry the release of the process that
 * served them; a release without those labels is joined on its own build_info (no revision) that its
 * instance reported within the window, never on a newer release's that replaced it there.
 */
export function perRelease(job: string, fn: string, metric: string, selector: string, window: string, by = ""): string {
  const match = `job=${JSON.stringify(job)}${selector ? `,${selector}` : ""}`;
  const unlabelled = `topk by (job, instance) (1, max by (job, instance, version) (max_over_time(classmatefinder_build_info{job=${JSON.stringify(job)},revision=""}[${window}])))`;
  return (
    `(sum by (version, revision${by}) (${fn}(${metric}{${match},revision!=""}[${window}]))` +
    ` or sum by (version${by}) (${fn}(${metric}{${match},revision=""}[${window}]) * on (job, instance) group_left (version) ${unlabelled}))`
  );
}

const percent = (value: number | null) => (value === null ? "no data" : `${(value * 100).toFixed(2)} %`);
const milliseconds = (value: number | null) => (value === null ? "no data" : `${Math.round(value * 1000)} ms`);
const count = (value: number | null) => (value === null ? "no data" : String(Math.round(value * 100) / 100));
const single = (samples: Sample[]) => (samples.length === 0 ? null : samples.reduce((sum, sample) => sum + sample.value, 0));

/** The canary's value and every other release's, from one per-release query. */
function split(samples: Sample[], canary: Release) {
  const canarySample = samples.find((sample) => sameRelease(releaseOf(sample.labels), canary));
  const others = samples.filter((sample) => sample !== canarySample);
  return { canary: canarySample?.value ?? null, others };
}
const othersText = (others: Sample[], format: (value: number | null) => string) =>
  others.length === 0
    ? "no other release"
    : others.map((sample) => `${releaseName(releaseOf(sample.labels))}: ${format(sample.value)}`).join(", ");

export async function evaluateRollout(query: Query, canary: Release, window: string, job: string): Promise<CriterionResult[]> {
  const rel = (fn: string, metric: string, selector: string, by = "") => perRelease(job, fn, metric, selector, window, by);
  const ratio = (numerator: string, denominator: string) =>
    // A release whose numerator series never appeared (no 201 from a broken release) is at 0, not "no data".
    `(${rel("increase", "http_requests_total", numerator)} or ${rel("increase", "http_requests_total", denominator)} * 0) / ${rel("increase", "http_requests_total", denominator)}`;
  const jobMatch = `job=${JSON.stringify(job)}`;
  const results: CriterionResult[] = [];

  // Instances that do not answer, or stopped being targets within the window: what they serve is not judged.
  const down = await query(`up{${jobMatch}} == 0`);
  const vanished = await query(`max_over_time(up{${jobMatch}}[${window}]) unless on (job, instance) up{${jobMatch}}`);
  const unseen = [...down.map((s) => `${s.labels.instance} down`), ...vanished.map((s) => `${s.labels.instance} no longer scraped`)];
  results.push({
    name: "every instance scraped",
    value: unseen.length === 0 ? "yes" : unseen.join(", "),
    threshold: `every target of job ${job} answers`,
    ...(unseen.length === 0 ? { outcome: "pass" } : { outcome: "hold", note: "an instance Prometheus cannot scrape serves unseen" }),
  });

  const requests = split(await query(rel("increase", "http_requests_total", API)), canary).canary;
  const failures = split(await query(rel("increase", "http_requests_total", `${API},status=~"5.."`)), canary).canary;
  const enoughRequests = requests !== null && requests >= MIN_REQUESTS;
  const noRequests = `${count(requests)} API requests of the canary in ${window}, fewer than ${MIN_REQUESTS}`;

  const errorRate = split(await query(ratio(`${API},status=~"5.."`, API)), canary);
  results.push({
    name: "error rate",
    value: `${percent(errorRate.canary)} of ${requests === null ? "no" : Math.round(requests)} requests (${othersText(errorRate.others, percent)})`,
    threshold: "< 1 %, roll back above 5 %",
    // A failing canary gets few requests at 10 %: ten failures are enough to roll it back.
    ...(errorRate.canary !== null && errorRate.canary > 0.05 && (enoughRequests || (failures ?? 0) >= 10)
      ? { outcome: "rollback" }
      : !enoughRequests || errorRate.canary === null
        ? { outcome: "hold", note: noRequests }
        : { outcome: errorRate.canary < 0.01 ? "pass" : "hold" }),
  });

  const p95 = split(await query(`histogram_quantile(0.95, ${rel("rate", "http_request_duration_seconds_bucket", API, ", le")})`), canary);
  results.push({
    name: "p95 latency",
    value: `${milliseconds(p95.canary)} (${othersText(p95.others, milliseconds)})`,
    threshold: "< 500 ms, roll back above 2 s",
    ...(p95.canary !== null && p95.canary > 2 && enoughRequests
      ? { outcome: "rollback" }
      : !enoughRequests || p95.canary === null
        ? { outcome: "hold", note: noRequests }
        : { outcome: p95.canary < 0.5 ? "pass" : "hold" }),
  });

  // Failures of the canary alone are the release's fault; failures everywhere are the database's.
  const db = split(await query(rel("increase", "db_errors_total", 'kind="connection"')), canary);
  results.push({
    name: "database connection failures",
    value: `${count(db.canary)} (${othersText(db.others, count)})`,
    threshold: "none",
    ...(db.canary === null
      ? { outcome: "hold", note: "the canary reports no db_errors_total" }
      : db.canary < 0.5
        ? { outcome: "pass" }
        : db.others.some((sample) => sample.value >= 0.5)
          ? { outcome: "hold", note: "every release fails to reach the database: a database problem, not the canary's" }
          : { outcome: "rollback" }),
  });

  // Email criteria are over every release: the outbox and the verification links are shared.
  const registrations = single(await query(`sum(increase(auth_registrations_total{${jobMatch}}[${window}]))`));
  const verificationRate = single(
    await query(
      `sum(increase(auth_email_verifications_total{${jobMatch}}[${window}])) / sum(increase(auth_registrations_total{${jobMatch}}[${window}]))`,
    ),
  );
  results.push({
    name: "email verification rate",
    value: `${percent(verificationRate)} of ${count(registrations)} registrations (all releases)`,
    threshold: "> 80 %",
    ...(verificationRate === null || !registrations
      ? { outcome: "hold", note: `no registrations in ${window}` }
      : { outcome: verificationRate > 0.8 ? "pass" : "hold" }),
  });

  const withinFiveMinutes = single(
    await query(
      `sum(increase(email_delivery_seconds_bucket{${jobMatch},kind="verify_email",le="300"}[${window}])) / sum(increase(email_delivery_seconds_count{${jobMatch},kind="verify_email"}[${window}]))`,
    ),
  );
  const oldestPending = single(await query(`max(email_outbox_oldest_pending_seconds{${jobMatch}})`));
  const late = oldestPending !== null && oldestPending > 300;
  results.push({
    name: "verification email within 5 minutes",
    value: `${percent(withinFiveMinutes)} delivered within 5 min, oldest waiting ${oldestPending === null ? "unknown" : `${Math.round(oldestPending)} s`}`,
    threshold: "≥ 95 %, none waiting longer",
    ...(withinFiveMinutes === null
      ? { outcome: "hold", note: `no verification email delivered in ${window}` }
      : { outcome: withinFiveMinutes >= 0.95 && !late ? "pass" : "hold" }),
  });

  const completion = split(await query(ratio(`${REGISTER},status="201"`, REGISTER)), canary);
  results.push({
    name: "registration completion",
    value: `${percent(completion.canary)} (${othersText(completion.others, percent)})`,
    threshold: "> 60 %",
    ...(completion.canary === null
      ? { outcome: "hold", note: `no registration attempt on the canary in ${window}` }
      : { outcome: completion.canary > 0.6 ? "pass" : "hold" }),
  });
  return results;
}

/** 2 when any rollback trigger fired, 1 when anything holds, 0 to promote. */
export function verdictOf(results: CriterionResult[]): { outcome: Outcome; exitCode: 0 | 1 | 2 } {
  if (results.some((result) => result.outcome === "rollback")) return { outcome: "rollback", exitCode: 2 };
  if (results.some((result) => result.outcome === "hold")) return { outcome: "hold", exitCode: 1 };
  return { outcome: "pass", exitCode: 0 };
}

/** The releases Prometheus scrapes for a job, with their instance counts: from `count by (version, revision) (build_info)`. */
export async function scrapedReleases(query: Query, job: string): Promise<{ release: Release; instances: number }[]> {
  const samples = await query(`count by (version, revision) (classmatefinder_build_info{job=${JSON.stringify(job)}})`);
  return samples.map((sample) => ({ release: releaseOf(sample.labels), instances: sample.value }));
}

/**
 * Which scraped release `--canary` names: a revision (or its first 7+ digits) or a version that only
 * one scraped release has. Default: this binary's own release.
 */
export function pickCanary(
  releases: Release[],
  wanted: string | undefined,
  own: Release,
): { release: Release } | { problem: string; exitCode: 1 | 64 } {
  if (wanted === undefined) {
    const match = releases.find((release) => sameRelease(release, own));
    return match
      ? { release: match }
      : { problem: `Prometheus scrapes no instance of ${releaseName(own)}, this binary's release`, exitCode: 1 };
  }
  const byRevision = /^[0-9a-f]{7,}/.test(wanted) ? releases.filter((release) => release.revision?.startsWith(wanted)) : [];
  const matches = byRevision.length > 0 ? byRevision : releases.filter((release) => release.version === wanted);
  if (matches.length === 1 && matches[0]) return { release: matches[0] };
  if (matches.length === 0) return { problem: `Prometheus scrapes no instance of ${wanted}`, exitCode: 1 };
  return {
    problem: `${wanted} names ${matches.length} releases (${matches.map(releaseName).join(", ")}): give --canary a revision`,
    exitCode: 64,
  };
}
