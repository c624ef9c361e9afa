import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freshDatabaseConfig, TEST_DIALECT } from "../support/database";
import { type ServiceProcess, startServiceProcess } from "../support/service-process";

const ROUNDS = 3;
const CONCURRENT = 60;

/** Sets the (soft) open-files limit of a running process, as `ulimit -n` does (util-linux's prlimit). */
function limitOpenFiles(pid: number, limit: number): void {
  const result = Bun.spawnSync(["prlimit", `--pid=${pid}`, `--nofile=${limit}:`], { stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`prlimit: ${result.stderr.toString()}`);
}

// Issue 30: under `ulimit -n 32`, PostgreSQL mode ended with exit 1 (EMFILE, reported by Bun as ECONNREFUSED).
describe(`a low open-files limit (${TEST_DIALECT})`, () => {
  const dir = mkdtempSync(join(tmpdir(), "cmf-fds-"));
  let service: ServiceProcess;
  afterAll(() => {
    service?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  test(`${ROUNDS} rounds of ${CONCURRENT} requests at once under 32 open files: the process stays up, answers 400 or 503, and recovers`, async () => {
    const url = TEST_DIALECT === "sqlite" ? `file:${join(dir, "app.db")}` : (await freshDatabaseConfig()).url;
    service = await startServiceProcess({
      DATABASE_URL: url,
      JWT_SECRET: "fd-limit-secret-0123456789abcdef0123456789abcd",
      UNIVERSITY_DOMAINS: ".ualberta.ca",
    });
    expect((await service.call("GET", "/health")).status).toBe(200);
    limitOpenFiles(service.child.pid, 32);
    const statuses = new Set<number>();
    for (let round = 0; round < ROUNDS; round++) {
      const answers = await Promise.all(
        Array.from(
          { length: CONCURRENT },
          () =>
            fetch(`http://127.0.0.1:${service.port}/api/auth/verify-email`, {
              method: "POST",
              headers: { "content-type": "application/json" },
              body: JSON.stringify({ token: crypto.randomUUID().replace(/-/g, "").repeat(2), password: "TestPass123" }),
              signal: AbortSignal.timeout(3000),
            })
              .then((answer) => answer.status)
              .catch(() => null), // a connection the server had no descriptor to accept: no answer at all
        ),
      );
      for (const status of answers) if (status !== null) statuses.add(status);
      expect(service.child.exitCode).toBeNull();
    }
    expect([...statuses].filter((status) => status !== 400 && status !== 503)).toEqual([]);
    limitOpenFiles(service.child.pid, 1024);
    const deadline = Date.now() + 10_000;
    let health = 0;
    while (Date.now() < deadline && health !== 200) {
      health = await service
        .call("GET", "/health")
        .then((answer) => answer.status)
        .catch(() => 0);
      if (health !== 200) await Bun.sleep(100);
    }
    expect(health).toBe(200);
    const entries = service.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(entries.filter((entry) => entry.level === "fatal")).toEqual([]);
  }, 60_000);
});
