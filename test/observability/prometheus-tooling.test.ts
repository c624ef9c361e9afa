import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTestApp } from "../support/app";

/** Debian's promtool (.ci/run installs the prometheus package before the tests): required, never skipped. */
const PROMTOOL = Bun.which("promtool");
const ROOT = join(import.meta.dir, "..", "..");
const RULES = join(ROOT, "deploy", "prometheus");
const DASHBOARD = join(ROOT, "deploy", "grafana", "classmatefinder-rollout.json");
const scratch = mkdtempSync(join(tmpdir(), "cmf-promtool-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function promtool(args: string[], stdin?: string) {
  if (!PROMTOOL) throw new Error("promtool is not installed: apt-get install -y prometheus");
  const run = Bun.spawnSync([PROMTOOL, ...args], { cwd: RULES, stdin: stdin === undefined ? undefined : Buffer.from(stdin) });
  return { code: run.exitCode, output: `${run.stdout.toString()}${run.stderr.toString()}` };
}

describe("the shipped Prometheus rules", () => {
  test("promtool check rules accepts the recording and alerting rules", () => {
    const result = promtool(["check", "rules", "recording.rules.yml", "alerts.rules.yml"]);
    expect(result.output).toContain("SUCCESS");
    expect(result.code).toBe(0);
  });

  test("promtool test rules: every alert has a scenario, and they all pass", () => {
    const alerts = [...readFileSync(join(RULES, "alerts.rules.yml"), "utf8").matchAll(/- alert: (\w+)/g)].map((m) => m[1]);
    const tests = readFileSync(join(RULES, "tests", "rollout.test.yml"), "utf8");
    expect(alerts.length).toBeGreaterThan(5);
    for (const alert of alerts) expect(tests).toContain(`alertname: ${alert}`);
    const result = promtool(["test", "rules", "tests/rollout.test.yml", "tests/idle.test.yml"]);
    expect(result.output).not.toContain("FAILED");
    expect(result.code).toBe(0);
  });
});

describe("the Grafana dashboard", () => {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, "utf8")) as {
    uid: string;
    templating: { list: { name: string; query?: { query: string } }[] };
    panels: { title: string; targets: { expr: string }[] }[];
  };

  test("loads, and every panel query parses (promtool check rules on each as a recording rule, $job filled in)", () => {
    expect(dashboard.uid).toBe("classmatefinder-rollout");
    const queries = dashboard.panels.flatMap((panel) =>
      panel.targets.map((target) => ({ title: panel.title, expr: target.expr.replaceAll("$job", "classmatefinder") })),
    );
    expect(queries.length).toBeGreaterThan(10);
    const rules = queries.map(({ expr }, index) => `      - record: dashboard:query_${index}\n        expr: ${JSON.stringify(expr)}`);
    const file = join(scratch, "dashboard-queries.yml");
    writeFileSync(file, `groups:\n  - name: dashboard\n    rules:\n${rules.join("\n")}\n`);
    const result = promtool(["check", "rules", file]);
    expect(result.output).toContain(`SUCCESS: ${queries.length} rules found`);
    expect(result.code).toBe(0);
  });

  test("has the plan's panels, split by release where the plan compares releases, every query selecting the job chosen", () => {
    const byTitle = (title: string) => dashboard.panels.find((panel) => panel.title.startsWith(title));
    for (const title of ["Error rate", "API latency p95", "Database connection failures", "Registration completion"]) {
      const panel = byTitle(title);
      // Per release: the series' own labels, and the previous release's series joined on its own build_info.
      expect(
        panel?.targets.every((target) => target.expr.includes("sum by (version, revision") && target.expr.includes('revision=""')),
      ).toBe(true);
    }
    expect(dashboard.templating.list.find((variable) => variable.name === "job")?.query?.query).toBe(
      "label_values(classmatefinder_build_info, job)",
    );
    const selectors = dashboard.panels.flatMap((panel) =>
      panel.targets.flatMap((target) => [...target.expr.matchAll(/[a-z_:]+\{[^}]*\}/g)].map((m) => m[0])),
    );
    expect(selectors.length).toBeGreaterThan(40);
    expect(selectors.filter((selector) => !selector.includes('job="$job"'))).toEqual([]);
    for (const title of ["Email verification rate", "Verification emails delivered within 5 minutes", "Database pool", "Table sizes"]) {
      expect(byTitle(title)).toBeDefined();
    }
  });
});

describe("a real scrape", () => {
  test("promtool check metrics finds nothing to complain about in /metrics over HTTP", async () => {
    const app = await createTestApp();
    await app.registerUser();
    await app.call("GET", "/api/auth/me");
    const server = app.app.listen({ port: 0, hostname: "127.0.0.1" });
    try {
      const text = await (await fetch(`http://127.0.0.1:${server.server?.port}/metrics`)).text();
      expect(text).toContain("classmatefinder_build_info");
      const result = promtool(["check", "metrics"], text);
      expect(result.output).toBe("");
      expect(result.code).toBe(0);
    } finally {
      await app.app.stop();
    }
  });
});
