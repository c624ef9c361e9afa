import { Database as SqliteClient } from "bun:sqlite";
import { existsSync, readdirSync, rmSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import postgres from "postgres";
import type { Config } from "../config/config";
import { describeError } from "../db/errors";
import { openSqliteReadOnly } from "../db/inspect";
import { PROGRAM } from "../version";

const print = (line: string) => process.stdout.write(`${line}\n`);
const fail = (line: string) => {
  process.stderr.write(`${PROGRAM}: ${line}\n`);
  return 1;
};

/**
 * `backup PATH`. SQLite: an online, consistent copy (VACUUM INTO, a snapshot of one read transaction)
 * while the service keeps running, read-only (it changes nothing, also when run as root), checked with
 * `PRAGMA integrity_check`. PostgreSQL: `pg_dump --format=custom`, the procedure docs/operations.md documents.
 */
export async function backupCommand(config: Config, target: string | undefined): Promise<number> {
  if (!target) return fail("usage: backup PATH (a new file)");
  if (existsSync(target)) return fail(`${target} exists already: choose a new file name`);
  if (config.database.kind === "postgres") return pgDump(config.database.url, target);
  const source = config.database.path;
  if (source === ":memory:") return fail("an in-memory database has nothing to back up");
  if (!existsSync(source)) return fail(`no database at ${source}`);
  const client = openSqliteReadOnly(source);
  try {
    client.query("VACUUM INTO ?").run(resolve(target));
  } catch (error) {
    return fail(`backup failed: ${(error as Error).message}`);
  } finally {
    client.close();
  }
  const copy = new SqliteClient(target, { readonly: true });
  try {
    const integrity = copy.query("PRAGMA integrity_check").get() as { integrity_check: string };
    if (integrity.integrity_check !== "ok") return fail(`the copy at ${target} failed its integrity check`);
    const users = copy.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'users'").get()
      ? (copy.query("SELECT count(*) AS n FROM users").get() as { n: number }).n
      : 0;
    print(`backup written: ${target} (${users} account(s), integrity ok)`);
    return 0;
  } finally {
    copy.close();
  }
}

/**
 * The URL pg_dump must dial: PostgreSQL itself. Through a pooler in transaction mode, pg_dump's session
 * settings made outside its transaction (search_path = '' first) would stay on pooled server
 * connections, and the service's next queries there would no longer find its tables. The server says
 * where it answered (inet_server_addr/port); when that is not where the URL dials, a pooler is between.
 */
async function serverUrl(url: string): Promise<{ url: string; note?: string }> {
  const parsed = new URL(url);
  const client = postgres(url, { max: 1, prepare: false, fetch_types: false, connect_timeout: 10, onnotice: () => {} });
  try {
    const [server] = await client<
      { addr: string | null; port: number | null }[]
    >`SELECT host(inet_server_addr()) AS addr, inet_server_port() AS port`;
    const dialledAddress = parsed.hostname.replace(/^\[|\]$/g, "");
    const sameAddress = !/^[\d.]+$|:/.test(dialledAddress) || dialledAddress === server?.addr;
    if (!server?.addr || !server.port || (sameAddress && String(server.port) === (parsed.port || "5432"))) return { url };
    parsed.hostname = server.addr.includes(":") ? `[${server.addr}]` : server.addr;
    parsed.port = String(server.port);
    return { url: parsed.toString(), note: `through a pooler: pg_dump connects to PostgreSQL itself at ${server.addr}:${server.port}` };
  } finally {
    await client.end({ timeout: 1 });
  }
}

/** pg_dump with the password in its environment, not on its command line (visible in `ps`). */
async function pgDump(url: string, target: string): Promise<number> {
  if (!Bun.which("pg_dump")) {
    return fail("pg_dump is not installed (Debian: apt-get install postgresql-client); see docs/operations.md, Backups and restore");
  }
  let direct: Awaited<ReturnType<typeof serverUrl>>;
  try {
    direct = await serverUrl(url);
  } catch (error) {
    return fail(`cannot reach the database: ${describeError(error)}`);
  }
  if (direct.note) print(direct.note);
  const parsed = new URL(direct.url);
  const password = decodeURIComponent(parsed.password);
  parsed.password = "";
  const dump = Bun.spawn(["pg_dump", "--format=custom", "--no-owner", "--file", target, parsed.toString()], {
    env: password ? { ...process.env, PGPASSWORD: password } : process.env,
    stdout: "inherit",
    stderr: "inherit",
  });
  if ((await dump.exited) !== 0) return fail("pg_dump failed (its message is above)");
  print(`backup written: ${target} (pg_dump custom format; restore with pg_restore)`);
  return 0;
}

/** After `migrate` wrote a new automatic copy: removes all but the newest `keep` of them. */
export function pruneMigrateBackups(databasePath: string, keep: number): string[] {
  const directory = dirname(databasePath);
  const prefix = `${basename(databasePath)}.backup-`;
  // The names end in an ISO timestamp: sorting by name is sorting by age.
  const copies = readdirSync(directory)
    .filter((name) => name.startsWith(prefix))
    .sort();
  const removed = copies.slice(0, Math.max(0, copies.length - keep)).map((name) => join(directory, name));
  for (const path of removed) rmSync(path, { force: true });
  return removed;
}
