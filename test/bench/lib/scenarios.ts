/**
 * The wrk scenarios against each service (/health, /me, login, mixed, registration, the login flood)
 * and the floor beside them: a bare Bun.serve (test/bench/floor.ts), loaded the same way.
 */
import { join } from "node:path";
import {
  freePort,
  mainThreadCpuMs,
  memoryBytes,
  progress,
  resetPeakMemory,
  type Server,
  spawnServer,
  stopServer,
  waitForOk,
  waitUntilIdle,
} from "./proc";
import type { Samples } from "./report";
import { PASSWORD, SEED_ACCOUNTS, type Service, type Undo } from "./service";
import { runWrk } from "./wrk";

interface Scenario {
  key: string;
  path: string;
  script: string;
  args: (service: Service) => string[];
}

const SCENARIOS: Scenario[] = [
  { key: "health", path: "/health", script: "report.lua", args: () => [] },
  { key: "me", path: "/api/auth/me", script: "me.lua", args: (service) => [service.tokenFile] },
  { key: "login", path: "/api/auth/login", script: "login.lua", args: () => [String(SEED_ACCOUNTS), PASSWORD] },
  { key: "mixed", path: "/", script: "mixed.lua", args: (service) => [service.tokenFile, String(SEED_ACCOUNTS), PASSWORD] },
  { key: "register", path: "/api/auth/register", script: "register.lua", args: () => [randomPrefix(), PASSWORD] },
];

/** A few random letters, so the accounts one registration run creates never collide with another's. */
function randomPrefix(): string {
  return `r${crypto.randomUUID().replaceAll("-", "").slice(0, 8)}`;
}

function record(samples: Samples, key: string, value: Samples[string][number]): void {
  samples[key] ??= [];
  samples[key].push(value);
}

export async function warmUp(baseUrl: string, paths: { path: string; script: string; args: string[] }[]): Promise<void> {
  for (const { path, script, args } of paths) await runWrk({ url: `${baseUrl}${path}`, script, args, duration: "2s" });
}

/**
 * Logins from 50 connections and, at the same time, /health from 2 more: does the service keep
 * answering cheap requests while password hashing saturates it? Peak RSS is the VmHWM of the flood alone.
 */
async function loginFlood(service: Service, duration: string, samples: Samples): Promise<number> {
  const { baseUrl, pid } = service.server;
  resetPeakMemory(pid);
  const [login, health] = await Promise.all([
    runWrk({ url: `${baseUrl}/api/auth/login`, script: "login.lua", args: [String(SEED_ACCOUNTS), PASSWORD], duration }),
    runWrk({ url: `${baseUrl}/health`, script: "report.lua", connections: 2, duration }),
  ]);
  record(samples, "floodLogin", login);
  record(samples, "floodHealth", health);
  return memoryBytes(pid, "VmHWM");
}

/** Before each scenario: every server idle, so work one left queued (hashes of abandoned logins) bills no other. */
export async function settle(servers: Server[]): Promise<void> {
  await Promise.all(servers.map((server) => waitUntilIdle(server.pid)));
}

export async function runServiceScenarios(
  service: Service,
  duration: string,
  samples: Samples,
  peaks: number[],
  servers: Server[],
  adjacentHashRates: { measure: () => Promise<number>; rates: number[] },
  loginMainThreadMs: number[],
): Promise<void> {
  for (const scenario of SCENARIOS) {
    await settle(servers);
    if (scenario.key === "login") {
      // The login target is a ratio to the hash rate; this machine's speed drifts from minute to
      // minute, so the reference is measured right before each login run, on the same core.
      progress(`${service.database}: isolated hash rate, before login`);
      adjacentHashRates.rates.push(await adjacentHashRates.measure());
    }
    progress(`${service.database}: ${scenario.key}`);
    const url = `${service.server.baseUrl}${scenario.path}`;
    const cpuBefore = mainThreadCpuMs(service.server.pid);
    const result = await runWrk({ url, script: scenario.script, args: scenario.args(service), duration });
    record(samples, scenario.key, result);
    // What a login costs the thread that answers every request (the hash itself runs on a pool thread).
    if (scenario.key === "login")
      loginMainThreadMs.push((mainThreadCpuMs(service.server.pid) - cpuBefore) / (result.requests - result.non2xx));
  }
  await settle(servers);
  progress(`${service.database}: login flood`);
  peaks.push(await loginFlood(service, duration, samples));
}

// ---- the floor ----

export async function startFloor(dir: string, postgresUrl: string | null, cleanup: Undo): Promise<Server> {
  const port = freePort();
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    PORT: String(port),
    FLOOR_SQLITE_PATH: join(dir, "floor.db"),
    ...(postgresUrl ? { FLOOR_POSTGRES_URL: postgresUrl } : {}),
  };
  const server = spawnServer({
    name: "floor",
    command: [process.execPath, join(import.meta.dir, "..", "floor.ts")],
    env,
    port,
    stdoutPath: join(dir, "floor.log"),
    stderrPath: join(dir, "floor.stderr"),
  });
  cleanup.add("stop floor", () => stopServer(server));
  await waitForOk(`${server.baseUrl}/`, server, performance.now(), 15_000, 10);
  return server;
}

function floorPaths(withPostgres: boolean): { key: string; path: string }[] {
  return [{ key: "raw", path: "/" }, ...(withPostgres ? [{ key: "pg", path: "/pg" }] : []), { key: "sqlite", path: "/sqlite" }];
}

export async function runFloor(floor: Server, withPostgres: boolean, duration: string, samples: Samples, servers: Server[]): Promise<void> {
  for (const { key, path } of floorPaths(withPostgres)) {
    await settle(servers);
    progress(`floor: ${path}`);
    record(samples, key, await runWrk({ url: `${floor.baseUrl}${path}`, script: "report.lua", duration }));
  }
}
