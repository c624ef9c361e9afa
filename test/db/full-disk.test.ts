import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { closeSync, mkdirSync, mkdtempSync, openSync, rmdirSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TEST_DIALECT } from "../support/database";
import { type ServiceProcess, startServiceProcess } from "../support/service-process";

const PASSWORD = "TestPass123";
const BURST = 20;

/** Writes zeros into `path` until the file system refuses (ENOSPC). */
function fill(path: string): void {
  const fd = openSync(path, "w");
  const block = new Uint8Array(64 * 1024);
  try {
    for (;;) writeSync(fd, block);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOSPC") throw error;
  } finally {
    closeSync(fd);
  }
}

// SQLite only: its database file is on the service's own disk. The disk is a 3 MiB tmpfs (CI runs as root),
// filled up while the service runs (issue 30: 500s while /health said 200, the cause hidden under
// "cannot rollback - no transaction is active").
if (TEST_DIALECT === "sqlite") {
  describe("the SQLite database's disk is full", () => {
    const dir = mkdtempSync(join(tmpdir(), "cmf-full-"));
    const disk = join(dir, "disk");
    let service: ServiceProcess;

    beforeAll(async () => {
      mkdirSync(disk);
      const mount = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", disk], { stderr: "pipe" });
      if (mount.exitCode !== 0) throw new Error(`mount tmpfs (needs root): ${mount.stderr.toString()}`);
      service = await startServiceProcess({
        DATABASE_URL: `file:${join(disk, "app.db")}`,
        JWT_SECRET: "full-disk-secret-0123456789abcdef0123456789ab",
        UNIVERSITY_DOMAINS: ".ualberta.ca",
        RATE_LIMIT_REGISTER_CLIENT: "1000/1h",
      });
    });
    afterAll(async () => {
      service?.kill();
      await service?.child.exited;
      Bun.spawnSync(["umount", disk]);
      rmdirSync(disk);
      rmSync(dir, { recursive: true, force: true });
    });

    const register = (i: number) =>
      service.call("POST", "/api/auth/register", {
        body: { email: `full.${i}@ualberta.ca`, username: `full_disk_${i}`, password: PASSWORD, firstName: "F" },
      });

    test("writes answer 503 with Retry-After and /health 503 while the disk is full; the log names the cause once; all is well once space is back", async () => {
      expect((await register(0)).status).toBe(201);
      expect((await service.call("GET", "/health")).status).toBe(200);

      fill(join(disk, "filler"));
      const answers = await Promise.all(Array.from({ length: BURST }, (_, i) => register(i + 1)));
      expect(answers.map((answer) => answer.status)).toEqual(answers.map(() => 503));
      for (const answer of answers) {
        expect(answer.json.error.code).toBe("SERVICE_UNAVAILABLE");
        expect(Number(answer.headers.get("retry-after"))).toBeGreaterThan(0);
      }
      const health = await service.call("GET", "/health");
      expect({ status: health.status, database: health.json.checks.database }).toEqual({ status: 503, database: "error" });
      expect((await service.call("GET", "/health/live")).status).toBe(200);

      const entries = service.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
      // Each part that met the full disk says so once: the 503s, and the outbox polling meanwhile.
      const naming = entries.filter((entry) => String(entry.reason ?? entry.err ?? "").includes("database or disk is full"));
      expect(naming.filter((entry) => entry.msg === "database unavailable: answered 503")).toHaveLength(1);
      expect(new Set(naming.map((entry) => entry.msg)).size).toBe(naming.length);
      expect(service.lines.filter((line) => line.includes("cannot rollback"))).toEqual([]);
      expect(entries.filter((entry) => entry.msg === "request" && entry.status === 500)).toEqual([]);

      rmSync(join(disk, "filler"));
      expect((await service.call("GET", "/health")).status).toBe(200);
      expect((await register(BURST + 1)).status).toBe(201);
      expect(service.child.exitCode).toBeNull();
    }, 60_000);
  });
}
