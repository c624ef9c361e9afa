/** PostgreSQL for the bench: a database of its own, and the server's processes pinned to CPU 0 for the run. */
import { $ } from "bun";
import { SERVER_CPU } from "./proc";

/** Where the bench connects to create its database (the database in the URL must exist). */
export const ADMIN_URL = process.env.BENCH_POSTGRES_URL ?? "postgres://root@127.0.0.1:5432/test";

export function databaseUrl(name: string): string {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function psql(url: string, sql: string): Promise<string> {
  return (await $`psql -X -q -tA -v ON_ERROR_STOP=1 ${url} -c ${sql}`.quiet()).text().trim();
}

export async function createDatabase(name: string): Promise<void> {
  await psql(ADMIN_URL, `CREATE DATABASE ${name}`);
}

export async function dropDatabase(name: string): Promise<void> {
  await psql(ADMIN_URL, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
}

export async function serverVersion(): Promise<string> {
  return psql(ADMIN_URL, "SHOW server_version");
}

async function postgresPids(): Promise<number[]> {
  const result = await $`pgrep -x postgres`.quiet().nothrow();
  return result
    .text()
    .split("\n")
    .filter(Boolean)
    .map(Number)
    .sort((a, b) => a - b);
}

async function affinityMask(pid: number): Promise<string | null> {
  const result = await $`taskset -p ${pid}`.quiet().nothrow();
  return /affinity mask:\s*([0-9a-f]+)/i.exec(result.text())?.[1] ?? null;
}

/**
 * Pins every postgres process to CPU 0 (backends started later fork from the postmaster and inherit it)
 * and puts the original affinity back on restore(): processes that did not exist at pin() time get the
 * postmaster's (the oldest process's) original mask.
 */
export class PostgresPinning {
  private readonly original = new Map<number, string>();
  private fallbackMask: string | null = null;

  /** Returns how many processes were pinned; throws when none could be. */
  async pin(): Promise<number> {
    const pids = await postgresPids();
    for (const pid of pids) {
      const mask = await affinityMask(pid);
      if (mask === null) continue;
      this.original.set(pid, mask);
      this.fallbackMask ??= mask;
      await $`taskset -a -cp ${SERVER_CPU} ${pid}`.quiet().nothrow();
    }
    if (this.original.size === 0) throw new Error("no postgres process found (pgrep -x postgres) or taskset -p failed");
    return this.original.size;
  }

  async restore(): Promise<void> {
    if (this.fallbackMask === null) return;
    for (const pid of await postgresPids()) {
      const mask = this.original.get(pid) ?? this.fallbackMask;
      await $`taskset -a -p ${mask} ${pid}`.quiet().nothrow();
    }
    this.original.clear();
    this.fallbackMask = null;
  }
}
