import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PasswordHasher } from "../../src/hashing/password-hasher";
import { createTestApp, TEST_HASHER, type TestApp } from "../support/app";

/**
 * End to end: a real Prometheus (Debian's, installed by .ci/run before the tests) scrapes, every second,
 * three in-process builds of one version (0.1.0) — stable, a healthy canary and a broken one, told apart
 * by their revision — and a stand-in for the previous release (e1e8c63: no revision, no release labels on
 * its series) as job classmatefinder, and as job "other" an exporter of the same metric names that
 * fails everything and claims the healthy canary's release. The rollout-check command, run as its own
 * process, judges each canary from what Prometheus recorded.
 */
const PROMETHEUS = Bun.which("prometheus");
const ROOT = join(import.meta.dir, "..", "..");
const dir = mkdtempSync(join(tmpdir(), "cmf-rollout-"));
let prometheus: ReturnType<typeof Bun.spawn> | undefined;
let prometheusUrl = "";
const instances: TestApp[] = [];
const IN_MEMORY = { kind: "sqlite", url: "file::memory:", path: ":memory:" } as const;

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function api<T>(path: string): Promise<{ status: string; error?: string; data: T }> {
  return (await fetch(`${prometheusUrl}${path}`)).json() as Promise<{ status: string; error?: string; data: T }>;
}

async function query(promql: string): Promise<{ value: [number, string] }[]> {
  return (await api<{ result: { value: [number, string] }[] }>(`/api/v1/query?query=${encodeURIComponent(promql)}`)).data.result;
}

/** A hasher whose every hash fails (registrations hash with their address's salt): that release's registrations answer 500. */
const broken = async (): Promise<never> => {
  throw new Error("this release's password hashing is broken");
};
const brokenHasher: PasswordHasher = { ...TEST_HASHER, hash: broken, hashWithSalt: broken };

const STABLE = "5ab1e0000000";
const GOOD = "600d00000000";
const BAD = "bad000000000";
const exporters: ReturnType<typeof Bun.serve>[] = [];

async function startInstance(revision: string, hasher?: PasswordHasher): Promise<{ app: TestApp; target: string }> {
  // SQLite in memory whatever TEST_DATABASE says: this is about Prometheus and the criteria, and the
  // shared PostgreSQL of a busy machine can refuse connections (which the check would rightly report).
  const app = await createTestApp({
    version: "0.1.0",
    revision,
    hasher,
    env: { RATE_LIMIT_REGISTER_CLIENT: "1000/1h" },
    databaseConfig: IN_MEMORY,
  });
  instances.push(app);
  const server = app.app.listen({ port: 0, hostname: "127.0.0.1" });
  return { app, target: `127.0.0.1:${server.server?.port}` };
}

/** One round of student traffic: registrations (verified), logins and /me. */
async function healthyTraffic(app: TestApp) {
  for (let i = 0; i < 4; i++) {
    const { email } = await app.registerUser();
    const token = await app.login(email);
    for (let j = 0; j < 4; j++) await app.call("GET", "/api/auth/me", { token });
  }
}

async function brokenTraffic(app: TestApp) {
  for (let i = 0; i < 12; i++) {
    await app.call("POST", "/api/auth/register", {
      body: {
        email: `s${i}${Math.random().toString(36).slice(2, 8)}@ualberta.ca`,
        username: `s_${i}_${Date.now()}`,
        password: "TestPass123",
        firstName: "S",
      },
    });
    await app.call("GET", "/api/auth/me");
  }
}

/**
 * An exporter of fixed series whose counters grow by `perScrape` at every scrape: the previous release
 * (series without release labels) or another job's service with the same metric names.
 */
function startExporter(series: { line: string; perScrape: number }[]): string {
  let scrapes = 0;
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch: () => {
      scrapes++;
      const text = series.map(({ line, perScrape }) => `${line} ${perScrape === 0 ? 1 : perScrape * scrapes}`).join("\n");
      return new Response(`${text}\n`, { headers: { "content-type": "text/plain; version=0.0.4" } });
    },
  });
  exporters.push(server);
  return `127.0.0.1:${server.port}`;
}

/** The command as its own process; asynchronously, so that the instances in this process keep answering scrapes. */
async function rolloutCheck(canary: string) {
  const run = Bun.spawn(
    [process.execPath, "src/main.ts", "rollout-check", "--prometheus", prometheusUrl, "--canary", canary, "--window", "1m"],
    { cwd: ROOT, env: { ...process.env, NODE_ENV: "test" }, stdout: "pipe", stderr: "pipe" },
  );
  const output = (await new Response(run.stdout).text()) + (await new Response(run.stderr).text());
  return { code: await run.exited, output };
}

beforeAll(async () => {
  if (!PROMETHEUS) throw new Error("prometheus is not installed: apt-get install -y prometheus");
  const stable = await startInstance(STABLE);
  const canary = await startInstance(GOOD);
  const broken = await startInstance(BAD, brokenHasher);
  const me = 'method="GET",route="/api/auth/me"';
  const previous = startExporter([
    { line: `classmatefinder_build_info{version="0.1.0",runtime="bun-1.4.5"}`, perScrape: 0 },
    { line: `http_requests_total{${me},status="401"}`, perScrape: 20 },
    { line: `http_requests_total{${me},status="500"}`, perScrape: 0 },
  ]);
  const other = startExporter([
    { line: `classmatefinder_build_info{version="0.1.0",revision="${GOOD}",runtime="bun-1.4.5"}`, perScrape: 0 },
    { line: `http_requests_total{${me},status="500",version="0.1.0",revision="${GOOD}"}`, perScrape: 50 },
    { line: `db_errors_total{kind="connection",version="0.1.0",revision="${GOOD}"}`, perScrape: 5 },
    { line: "email_outbox_oldest_pending_seconds", perScrape: 1000 },
  ]);
  const port = await freePort();
  prometheusUrl = `http://127.0.0.1:${port}`;
  const config = join(dir, "prometheus.yml");
  writeFileSync(
    config,
    [
      "global: { scrape_interval: 1s, evaluation_interval: 1s }",
      "rule_files:",
      `  - ${join(ROOT, "deploy", "prometheus", "recording.rules.yml")}`,
      `  - ${join(ROOT, "deploy", "prometheus", "alerts.rules.yml")}`,
      "scrape_configs:",
      "  - job_name: classmatefinder",
      `    static_configs: [{ targets: ["${stable.target}", "${canary.target}", "${broken.target}", "${previous}"] }]`,
      "  - job_name: other",
      `    static_configs: [{ targets: ["${other}"] }]`,
      "",
    ].join("\n"),
  );
  prometheus = Bun.spawn(
    [PROMETHEUS, `--config.file=${config}`, `--storage.tsdb.path=${join(dir, "data")}`, `--web.listen-address=127.0.0.1:${port}`],
    { stdout: "ignore", stderr: "ignore" },
  );
  // Ready, and every instance scraped at least twice: the series at 0 are in before any traffic.
  for (let attempt = 0; ; attempt++) {
    if (attempt > 300) throw new Error("Prometheus did not scrape the five targets within 30 s");
    const up = await query("count(count_over_time(up[1m]) >= 2 and up == 1)").catch(() => []);
    if (Number(up[0]?.value[1]) === 5) break;
    await sleep(100);
  }
  // Four rounds a second and a half apart, so that Prometheus sees the counters rise.
  for (let round = 0; round < 4; round++) {
    await Promise.all([healthyTraffic(stable.app), healthyTraffic(canary.app), brokenTraffic(broken.app)]);
    await sleep(1500);
  }
  await sleep(1500);
}, 60_000);

afterAll(async () => {
  prometheus?.kill();
  await prometheus?.exited;
  for (const app of instances) await app.app.stop();
  for (const exporter of exporters) await exporter.stop(true);
  rmSync(dir, { recursive: true, force: true });
});

describe("rollout-check against a real Prometheus", () => {
  test("a canary whose requests fail is rolled back (exit 2), naming the error rate and the releases compared", async () => {
    const { code, output } = await rolloutCheck(BAD);
    expect(output).toMatch(
      /^rollout-check: canary 0\.1\.0 \(bad000000000\) on 1 instance\(s\) against .*0\.1\.0 \(5ab1e0000000\) on 1 instance\(s\)/m,
    );
    expect(output).toContain("0.1.0 (no revision label) on 1 instance(s)");
    expect(output).toMatch(/^error rate: .*FAIL \(roll back\)/m);
    expect(output).toMatch(/^registration completion:\s+0\.00 % .*FAIL \(hold\)/m);
    expect(output).toMatch(/^verdict: roll back — error rate$/m);
    expect(code).toBe(2);
  });

  test("a healthy build of the same version is promoted (exit 0), every criterion passing, another job's failures ignored", async () => {
    const { code, output } = await rolloutCheck(GOOD.slice(0, 7));
    for (const criterion of [
      "every instance scraped",
      "error rate",
      "p95 latency",
      "database connection failures",
      "email verification rate",
      "verification email within 5 minutes",
      "registration completion",
    ]) {
      expect(output).toMatch(new RegExp(`^${criterion}: .*: pass$`, "m"));
    }
    // The previous release (series without release labels) is judged beside it, from its own build_info.
    expect(output).toMatch(/^error rate: +0\.00 % of \d+ requests \(.*0\.1\.0 \(no revision label\): 0\.00 %/m);
    expect(output).toMatch(/^verdict: promote$/m);
    expect(code).toBe(0);
  });

  test("a version that several scraped builds share is refused (exit 64): the canary is named by its revision", async () => {
    const { code, output } = await rolloutCheck("0.1.0");
    expect(output).toContain("names 4 releases");
    expect(code).toBe(64);
  });

  test("the shipped rules evaluate cleanly on real scrapes; only the broken canary's error-rate rollback is raised, none for the other job", async () => {
    const { data } = await api<{ groups: { rules: { name: string; health: string; lastError?: string }[] }[] }>("/api/v1/rules");
    const rules = data.groups.flatMap((group) => group.rules);
    expect(rules.length).toBeGreaterThan(20);
    expect(rules.filter((rule) => rule.health !== "ok").map((rule) => `${rule.name}: ${rule.health} ${rule.lastError ?? ""}`)).toEqual([]);
    const alerts = (await api<{ alerts: { labels: Record<string, string>; state: string }[] }>("/api/v1/alerts")).data.alerts;
    const raised = alerts.map((alert) => `${alert.labels.alertname} ${alert.labels.revision ?? alert.labels.instance ?? ""}`);
    expect(raised).toContain(`ClassmateFinderErrorRateRollback ${BAD}`);
    // The other job's 5xx, database failures and email backlog carry the healthy canary's labels: not one alert.
    expect(raised.filter((alert) => !alert.endsWith(BAD) && !alert.startsWith("ClassmateFinderRegistrationCompletionLow"))).toEqual([]);
    const previous = await query("release:http_requests:rate5m{revision=''}");
    expect(previous.length).toBe(1);
  });

  test("every dashboard panel query runs on real scrapes without error, and shows only the chosen job", async () => {
    const dashboard = JSON.parse(readFileSync(join(ROOT, "deploy", "grafana", "classmatefinder-rollout.json"), "utf8")) as {
      panels: { title: string; targets: { expr: string }[] }[];
    };
    const failures: string[] = [];
    for (const panel of dashboard.panels) {
      for (const { expr } of panel.targets) {
        const answer = await api(`/api/v1/query?query=${encodeURIComponent(expr.replaceAll("$job", "classmatefinder"))}`);
        if (answer.status !== "success") failures.push(`${panel.title}: ${answer.error}`);
      }
    }
    expect(failures).toEqual([]);
    const errorRate = dashboard.panels.find((panel) => panel.title.startsWith("Error rate"))?.targets[0]?.expr ?? "";
    const series = async (job: string) =>
      (
        await api<{ result: { metric: Record<string, string>; value: [number, string] }[] }>(
          `/api/v1/query?query=${encodeURIComponent(errorRate.replaceAll("$job", job))}`,
        )
      ).data.result;
    const good = (await series("classmatefinder")).find((s) => s.metric.revision === GOOD);
    expect(Number(good?.value[1])).toBe(0);
    expect(Number((await series("other"))[0]?.value[1])).toBe(1);
  });

  test("a release Prometheus does not scrape is held (exit 1), never promoted", async () => {
    const { code, output } = await rolloutCheck("9.9.9");
    expect(output).toContain("verdict: hold");
    expect(code).toBe(1);
  });
});
