/**
 * The service under test: its database (a SQLite file or a fresh PostgreSQL database), the compiled
 * binary migrated and serving in production mode, and the seeded, verified accounts the scenarios log in as.
 */
import { Database } from "bun:sqlite";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createDatabase, databaseUrl, dropDatabase, psql, serverVersion } from "./postgres";
import { freePort, progress, run, type Server, spawnServer, stopServer, waitForOk } from "./proc";
import type { DatabaseKind } from "./report";
import { benchServiceEnv } from "./service-env";

export const SEED_ACCOUNTS = 20;
export const PASSWORD = "Bench-Pass-2026!";
/** The bench runs a private copy of the binary, so a rebuild of dist/ during the run cannot swap it. */
export const binaryIn = (dir: string) => join(dir, "classmatefinder-backend");

/** Where a step registers how to undo itself (bench.ts's Cleanup). */
export interface Undo {
  add(name: string, task: () => unknown): void;
}

/** The environment of the service: production, everything it needs and nothing inherited by accident. */
export function serviceEnv(databaseUrl: string, port: number): Record<string, string> {
  // Knobs a run may vary (e.g. DATABASE_PREPARED_STATEMENTS=false: the cost of unnamed statements on /me).
  const passedThrough = Object.entries(process.env).filter(
    (entry): entry is [string, string] =>
      (entry[0].startsWith("PASSWORD_HASH_") ||
        entry[0] === "DATABASE_PREPARED_STATEMENTS" ||
        entry[0] === "DATABASE_POOL_SIZE" ||
        entry[0] === "NAPI_RS_NATIVE_LIBRARY_PATH") &&
      entry[1] !== undefined,
  );
  return {
    ...benchServiceEnv(databaseUrl, port),
    // The overload scenarios give each request its client address in X-Forwarded-For.
    TRUST_PROXY: "true",
    ...Object.fromEntries(passedThrough),
  };
}

export interface Service {
  database: DatabaseKind;
  label: string;
  url: string;
  server: Server;
  tokenFile: string;
  storedHashParameters: string;
}

/** SQLite file or fresh PostgreSQL database; returns its DATABASE_URL. */
async function prepareDatabase(database: DatabaseKind, dir: string, cleanup: Undo): Promise<string> {
  if (database === "sqlite") return `file:${join(dir, "bench.db")}`;
  const name = `cmf_bench_${process.pid}`;
  await dropDatabase(name);
  await createDatabase(name);
  cleanup.add(`drop database ${name}`, () => dropDatabase(name));
  return databaseUrl(name);
}

async function sqlOn(url: string, statement: string, parameters: (string | number)[] = []): Promise<string> {
  if (url.startsWith("postgres")) return psql(url, statement);
  const db = new Database(url.slice("file:".length));
  try {
    db.run("PRAGMA busy_timeout = 5000");
    const row = db.prepare(statement).get(...parameters) as Record<string, unknown> | null;
    return row ? String(Object.values(row)[0]) : "";
  } finally {
    db.close();
  }
}

async function postJson(url: string, body: unknown, expected: number): Promise<Record<string, unknown>> {
  const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const text = await response.text();
  if (response.status !== expected) throw new Error(`POST ${url}: expected ${expected}, got ${response.status}: ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
}

/** Marks every unverified account verified, as its link would (the link exists only as a hash). */
export async function verifyPending(url: string): Promise<void> {
  if (url.startsWith("postgres")) await psql(url, "UPDATE users SET email_verified_at = now() WHERE email_verified_at IS NULL");
  else await sqlOn(url, "UPDATE users SET email_verified_at = ? WHERE email_verified_at IS NULL", [Date.now()]);
}

/** Registers the accounts over HTTP, verifies them in the database (the link exists only as a hash), logs them in. */
async function seedAccounts(baseUrl: string, url: string): Promise<string[]> {
  const accounts = Array.from({ length: SEED_ACCOUNTS }, (_, index) => `bench${index + 1}`);
  for (const name of accounts) {
    await postJson(
      `${baseUrl}/api/auth/register`,
      { email: `${name}@mit.edu`, username: name, password: PASSWORD, firstName: "Bench" },
      201,
    );
  }
  await verifyPending(url);
  const tokens: string[] = [];
  for (const name of accounts) {
    const body = await postJson(`${baseUrl}/api/auth/login`, { email: `${name}@mit.edu`, password: PASSWORD }, 200);
    if (typeof body.token !== "string") throw new Error(`login of ${name} returned no token`);
    tokens.push(body.token);
  }
  return tokens;
}

export async function startService(database: DatabaseKind, dir: string, cleanup: Undo): Promise<Service> {
  const url = await prepareDatabase(database, dir, cleanup);
  const port = freePort();
  const env = serviceEnv(url, port);
  progress(`${database}: migrate, serve on port ${port}, seed ${SEED_ACCOUNTS} accounts`);
  await run([binaryIn(dir), "migrate"], env);
  const server = spawnServer({
    name: `service (${database})`,
    command: [binaryIn(dir), "serve"],
    env,
    port,
    stdoutPath: join(dir, `${database}.log`),
    stderrPath: join(dir, `${database}.stderr`),
  });
  cleanup.add(`stop ${server.name}`, () => stopServer(server));
  await waitForOk(`${server.baseUrl}/health`, server, performance.now(), 15_000, 10);
  const tokenFile = join(dir, `${database}.tokens`);
  writeFileSync(tokenFile, `${(await seedAccounts(server.baseUrl, url)).join("\n")}\n`);
  const storedHash = await sqlOn(url, "SELECT password_hash FROM users WHERE username = 'bench1'");
  const storedHashParameters = /\$(m=\d+,t=\d+,p=\d+)\$/.exec(storedHash)?.[1] ?? "(unknown)";
  const label = database === "sqlite" ? "SQLite" : `PostgreSQL ${await serverVersion()}`;
  return { database, label, url, server, tokenFile, storedHashParameters };
}
