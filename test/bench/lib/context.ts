/** The report's account of the run: the command, machine, software, wrk, pinning and service settings. */
import { readFileSync } from "node:fs";
import { cpus, release, totalmem, type } from "node:os";
import { resolve } from "node:path";
import { ADMIN_URL, serverVersion } from "./postgres";
import { CORES, LOAD_CPU, PINNED, SERVER_CPU } from "./proc";
import type { BenchContext, DatabaseKind } from "./report";
import { SEED_ACCOUNTS } from "./service";
import { UNLIMITED } from "./service-env";
import { WRK_CONNECTIONS, WRK_THREADS, wrkCommand } from "./wrk";

/** The repository, left out of the wrk command's paths in the report. */
const ROOT = resolve(import.meta.dir, "../../..");

function benchCommand(): string {
  const assignments = Object.entries(process.env)
    .filter(
      ([name]) =>
        name.startsWith("BENCH_") ||
        name.startsWith("PASSWORD_HASH_") ||
        name.startsWith("DATABASE_P") ||
        name === "NAPI_RS_NATIVE_LIBRARY_PATH",
    )
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, value]) => `${name}=${value}`);
  return [...assignments, "bun run bench"].join(" ");
}

function machine(): string {
  const model = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? cpus()[0]?.model ?? "unknown CPU";
  return `${CORES} cores (${model}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ${type()} ${release()}`;
}

export async function context(
  settings: { runs: number; duration: string; databases: DatabaseKind[] },
  pinnedPostgres: number | null,
): Promise<BenchContext> {
  const postgres = settings.databases.includes("postgres") ? `; PostgreSQL ${await serverVersion()} on ${new URL(ADMIN_URL).host}` : "";
  const wrk = wrkCommand({ url: "<url>", script: "<scenario>.lua", args: ["<arguments>"], duration: settings.duration })
    .join(" ")
    .replace(`${ROOT}/`, "");
  const pinning = !PINNED
    ? `none (${CORES} core${CORES === 1 ? "" : "s"}${Bun.which("taskset") ? "" : ", no taskset"})`
    : `server under test and floor on CPU ${SERVER_CPU} (taskset -c ${SERVER_CPU}); ` +
      (pinnedPostgres === null
        ? "PostgreSQL not used; "
        : `PostgreSQL's ${pinnedPostgres} processes on CPU ${SERVER_CPU} (taskset -a -cp ${SERVER_CPU}, restored afterwards); `) +
      `wrk and the bench driver on CPU ${LOAD_CPU}`;
  const hashEnv = Object.keys(process.env).filter((name) => name.startsWith("PASSWORD_HASH_"));
  return {
    command: benchCommand(),
    date: `${new Date().toISOString().replace(/\.\d+Z$/, "Z")} (UTC)`,
    machine: machine(),
    software: `bun ${Bun.version}${postgres}`,
    wrk: `\`${wrk}\` (${WRK_THREADS} thread, ${WRK_CONNECTIONS} connections unless noted, ${settings.duration} per scenario); ${settings.runs} run${settings.runs === 1 ? "" : "s"}${settings.runs > 1 ? ", cells are median (min–max)" : ""}`,
    pinning,
    service: `dist/classmatefinder-backend, NODE_ENV=production, LOG_LEVEL=info with the log written to a file, rate limits ${UNLIMITED}, ${SEED_ACCOUNTS} seeded accounts; PASSWORD_HASH_*: ${hashEnv.length > 0 ? hashEnv.map((name) => `${name}=${process.env[name]}`).join(", ") : "not set (the service's defaults)"}`,
  };
}
