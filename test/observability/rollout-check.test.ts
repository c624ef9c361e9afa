import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PasswordHasher } from "../../src/hashing/password-hasher";
import { createTestApp, TEST_HASHER, type TestApp } from "../support/app";

/**
 * End to end: a real Prometheus (Debian's, installed by .ci/run before the tests) scrapes three
 * in-process instances every second — stable 0.1.0, a healthy canary and a broken one — and the
 * rollout-check command, run as its own process, judges each canary from what Prometheus recorded.
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

/** A hasher whose every call fails: registrations and logins of that release answer 500. */
const brokenHasher: PasswordHasher = {
  ...TEST_HASHER,
  hash: async () => {
    throw new Error("this release's password hashing is broken");
  },
};

async function startInstance(version: string, hasher?: PasswordHasher): Promise<{ app: TestApp; target: string }> {
  // SQLite in memory whatever TEST_DATABASE says: this is about Prometheus and the criteria, and the
  // shared PostgreSQL of a busy machine can refuse connections (which the check would rightly report).
  const app = await createTestApp({ version, hasher, env: { RATE_LIMIT_REGISTER_CLIENT: "1000/1h" }, databaseConfig: IN_MEMORY });
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

function rolloutCheck(canary: string) {
  const run = Bun.spawnSync(
    [process.execPath, "src/main.ts", "rollout-check", "--prometheus", prometheusUrl, "--canary", canary, "--window", "1m"],
    { cwd: ROOT, env: { ...process.env, NODE_ENV: "test" } },
  );
  return { code: run.exitCode, output: run.stdout.toString() + run.stderr.toString() };
}

beforeAll(async () => {
  if (!PROMETHEUS) throw new Error("prometheus is not installed: apt-get install -y prometheus");
  const stable = await startInstance("0.1.0");
  const canary = await startInstance("0.2.0-good");
  const broken = await startInstance("0.2.0-bad", brokenHasher);
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
      `    static_configs: [{ targets: ["${stable.target}", "${canary.target}", "${broken.target}"] }]`,
      "",
    ].join("\n"),
  );
  prometheus = Bun.spawn(
    [PROMETHEUS, `--config.file=${config}`, `--storage.tsdb.path=${join(dir, "data")}`, `--web.listen-address=127.0.0.1:${port}`],
    { stdout: "ignore", stderr: "ignore" },
  );
  // Ready, and every instance scraped at least twice: the series at 0 are in before any traffic.
  for (let attempt = 0; ; attempt++) {
    if (attempt > 300) throw new Error("Prometheus did not scrape the three instances within 30 s");
    const up = await query("count(count_over_time(up[1m]) >= 2 and up == 1)").catch(() => []);
    if (Number(up[0]?.value[1]) === 3) break;
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
  rmSync(dir, { recursive: true, force: true });
});

describe("rollout-check against a real Prometheus", () => {
  test("a canary whose requests fail is rolled back (exit 2), naming the error rate", () => {
    const { code, output } = rolloutCheck("0.2.0-bad");
    expect(output).toMatch(/^error rate: .*FAIL \(roll back\)/m);
    expect(output).toMatch(/^registration completion:\s+0\.00 % .*FAIL \(hold\)/m);
    expect(output).toMatch(/^verdict: roll back — error rate$/m);
    expect(code).toBe(2);
  });

  test("a healthy canary beside a healthy stable release is promoted (exit 0), every criterion passing", () => {
    const { code, output } = rolloutCheck("0.2.0-good");
    for (const criterion of [
      "error rate",
      "p95 latency",
      "database connection failures",
      "email verification rate",
      "verification email within 5 minutes",
      "registration completion",
    ]) {
      expect(output).toMatch(new RegExp(`^${criterion}: .*: pass$`, "m"));
    }
    expect(output).toMatch(/^verdict: promote$/m);
    expect(code).toBe(0);
  });

  test("the shipped rules evaluate cleanly on real scrapes, and the broken canary's error-rate rollback alert is raised", async () => {
    const { data } = await api<{ groups: { rules: { name: string; health: string; lastError?: string }[] }[] }>("/api/v1/rules");
    const rules = data.groups.flatMap((group) => group.rules);
    expect(rules.length).toBeGreaterThan(15);
    expect(rules.filter((rule) => rule.health !== "ok").map((rule) => `${rule.name}: ${rule.health} ${rule.lastError ?? ""}`)).toEqual([]);
    const alerts = (await api<{ alerts: { labels: Record<string, string>; state: string }[] }>("/api/v1/alerts")).data.alerts;
    const raised = alerts.map((alert) => `${alert.labels.alertname} ${alert.labels.version ?? ""}`);
    expect(raised).toContain("ClassmateFinderErrorRateRollback 0.2.0-bad");
    expect(raised.filter((alert) => alert.endsWith("0.2.0-good") || alert.endsWith("0.1.0"))).toEqual([]);
  });

  test("every dashboard panel query runs on real scrapes without error", async () => {
    const dashboard = JSON.parse(readFileSync(join(ROOT, "deploy", "grafana", "classmatefinder-rollout.json"), "utf8")) as {
      panels: { title: string; targets: { expr: string }[] }[];
    };
    const failures: string[] = [];
    for (const panel of dashboard.panels) {
      for (const { expr } of panel.targets) {
        const answer = await api(`/api/v1/query?query=${encodeURIComponent(expr)}`);
        if (answer.status !== "success") failures.push(`${panel.title}: ${answer.error}`);
      }
    }
    expect(failures).toEqual([]);
  });

  test("a release Prometheus does not scrape is held (exit 1), never promoted", () => {
    const { code, output } = rolloutCheck("9.9.9");
    expect(output).toContain("verdict: hold");
    expect(code).toBe(1);
  });
});
