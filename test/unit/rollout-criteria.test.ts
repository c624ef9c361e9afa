import { describe, expect, test } from "bun:test";
import { evaluateRollout, pickCanary, type Query, type Release, verdictOf } from "../../src/observability/rollout-criteria";

type Key = "requests" | "failures" | "errorRate" | "p95" | "db" | "registrations" | "verification" | "within5m" | "oldest" | "completion";

const CANARY: Release = { version: "0.1.0", revision: "c0ffee000001" };
const STABLE: Release = { version: "0.1.0" }; // e1e8c63: no revision label

/**
 * Prometheus stand-in: answers each criterion's query from a table (`key` for every release,
 * `key:canary` / `key:others`), per release where the query asks per release; `down` lists targets
 * whose `up` is 0.
 */
function fakePrometheus(values: Partial<Record<Key | `${Key}:${"canary" | "others"}`, number | null>> & { down?: string[] }): Query {
  return async (promql) => {
    if (promql.startsWith("up{")) return (values.down ?? []).map((instance) => ({ labels: { instance }, value: 0 }));
    if (promql.startsWith("max_over_time(up")) return [];
    const key: Key = promql.startsWith("histogram_quantile")
      ? "p95"
      : promql.includes("db_errors_total")
        ? "db"
        : promql.includes("auth_email_verifications_total")
          ? "verification"
          : promql.includes("auth_registrations_total")
            ? "registrations"
            : promql.includes("email_delivery_seconds")
              ? "within5m"
              : promql.includes("email_outbox_oldest")
                ? "oldest"
                : promql.includes('route="/api/auth/register"')
                  ? "completion"
                  : promql.includes(" / ")
                    ? "errorRate"
                    : promql.includes('status=~"5.."')
                      ? "failures"
                      : "requests";
    const value = (who: "canary" | "others") => {
      const specific = values[`${key}:${who}` as keyof typeof values] as number | null | undefined;
      return specific !== undefined ? specific : ((values[key] as number | null | undefined) ?? null);
    };
    const sample = (labels: Record<string, string>, v: number | null) => (v === null ? [] : [{ labels, value: v }]);
    if (!promql.includes("sum by (version, revision")) return sample({}, value("canary"));
    return [...sample({ ...CANARY } as Record<string, string>, value("canary")), ...sample({ version: STABLE.version }, value("others"))];
  };
}

const HEALTHY = {
  requests: 1000,
  failures: 2,
  errorRate: 0.002,
  p95: 0.12,
  db: 0,
  registrations: 40,
  verification: 0.9,
  within5m: 1,
  oldest: 3,
  completion: 0.75,
} as const;

async function judge(overrides: Parameters<typeof fakePrometheus>[0] = {}) {
  const results = await evaluateRollout(fakePrometheus({ ...HEALTHY, ...overrides }), CANARY, "30m", "classmatefinder");
  const outcome = (name: string) => results.find((result) => result.name === name)?.outcome;
  return { results, outcome, verdict: verdictOf(results) };
}

describe("the rollout plan's criteria", () => {
  test("a healthy canary passes every criterion: promote (exit 0)", async () => {
    const { results, verdict } = await judge();
    expect(results.map((result) => result.outcome)).toEqual(["pass", "pass", "pass", "pass", "pass", "pass", "pass"]);
    expect(verdict.exitCode).toBe(0);
  });

  test("error rate: above 5 % rolls back, between 1 % and 5 % holds", async () => {
    expect((await judge({ errorRate: 0.06, failures: 60 })).verdict.exitCode).toBe(2);
    const between = await judge({ errorRate: 0.03, failures: 30 });
    expect(between.outcome("error rate")).toBe("hold");
    expect(between.verdict.exitCode).toBe(1);
  });

  test("too few requests to judge holds; ten failures of a barely used canary still roll it back", async () => {
    const few = await judge({ requests: 4, failures: 2, errorRate: 0.5 });
    expect(few.outcome("error rate")).toBe("hold");
    expect(few.outcome("p95 latency")).toBe("hold");
    expect((await judge({ requests: 20, failures: 12, errorRate: 0.6 })).outcome("error rate")).toBe("rollback");
  });

  test("p95: above 2 s rolls back, above 500 ms holds", async () => {
    expect((await judge({ p95: 3 })).verdict.exitCode).toBe(2);
    expect((await judge({ p95: 0.7 })).outcome("p95 latency")).toBe("hold");
  });

  test("database connection failures of the canary alone roll back; failures of every release only hold", async () => {
    expect((await judge({ "db:canary": 3, "db:others": 0 })).outcome("database connection failures")).toBe("rollback");
    const everywhere = await judge({ "db:canary": 3, "db:others": 7 });
    expect(everywhere.outcome("database connection failures")).toBe("hold");
    expect(everywhere.results.find((result) => result.name === "database connection failures")?.note).toContain("database problem");
  });

  test("email and registration criteria hold below their targets, and without data", async () => {
    expect((await judge({ verification: 0.7 })).outcome("email verification rate")).toBe("hold");
    expect((await judge({ registrations: 0, verification: null })).outcome("email verification rate")).toBe("hold");
    expect((await judge({ within5m: 0.9 })).outcome("verification email within 5 minutes")).toBe("hold");
    expect((await judge({ oldest: 400 })).outcome("verification email within 5 minutes")).toBe("hold");
    expect((await judge({ completion: 0.5 })).outcome("registration completion")).toBe("hold");
    const none = await judge({ completion: null });
    expect(none.outcome("registration completion")).toBe("hold");
    expect(none.verdict.exitCode).toBe(1);
  });

  test("an instance Prometheus cannot scrape holds the rollout, naming it", async () => {
    const { outcome, results, verdict } = await judge({ down: ["app2:5002"] });
    expect(outcome("every instance scraped")).toBe("hold");
    expect(results[0]?.value).toBe("app2:5002 down");
    expect(verdict.exitCode).toBe(1);
  });

  test("each criterion names the other releases it compared the canary with", async () => {
    const { results } = await judge({ "errorRate:others": 0.004 });
    expect(results.find((result) => result.name === "error rate")?.value).toBe(
      "0.20 % of 1000 requests (0.1.0 (no revision label): 0.40 %)",
    );
  });
});

describe("which release --canary names", () => {
  const own = { version: "0.1.0", revision: "c0ffee000001" };
  const both = [own, { version: "0.1.0" }];
  test("a revision or its first digits; a version only when one scraped release has it", () => {
    expect(pickCanary(both, "c0ffee0", own)).toEqual({ release: own });
    expect(pickCanary(both, undefined, own)).toEqual({ release: own });
    expect(pickCanary([{ version: "0.1.0" }], "0.1.0", own)).toEqual({ release: { version: "0.1.0" } });
    expect(pickCanary(both, "0.1.0", own)).toMatchObject({ exitCode: 64, problem: expect.stringContaining("names 2 releases") });
    expect(pickCanary([{ version: "0.1.0" }], undefined, own)).toMatchObject({ exitCode: 1 });
  });
});
