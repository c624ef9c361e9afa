import { afterAll } from "bun:test";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const PGBOUNCER = "/usr/sbin/pgbouncer";
const UPSTREAM = new URL(process.env.TEST_POSTGRES_URL ?? "postgres://root@127.0.0.1:5432/test");

/** A TCP port that was free a moment ago (the kernel's pick for port 0). */
export async function freePort(): Promise<number> {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}

async function accepts(port: number): Promise<boolean> {
  try {
    const socket = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
    socket.end();
    return true;
  } catch {
    return false;
  }
}

export interface PgBouncer {
  port: number;
  /** `url` (a database on the upstream PostgreSQL) with PgBouncer in between. */
  through(url: string): string;
  log(): string;
  stop(): Promise<void>;
}

/**
 * Debian's PgBouncer on a free port in its own temporary directory, in front of the test PostgreSQL,
 * with few server connections so that consecutive statements of one client land on different ones.
 * Stopped (and its directory removed) when the calling file ends, whatever happens.
 */
export async function startPgBouncer(
  mode: "transaction" | "session",
  serverConnections = 3,
  settings: Record<string, string | number> = {},
): Promise<PgBouncer> {
  if (!existsSync(PGBOUNCER)) throw new Error(`${PGBOUNCER} is missing: apt-get install -y pgbouncer`);
  const dir = mkdtempSync(join(tmpdir(), "cmf-pgbouncer-"));
  const port = await freePort();
  const user = decodeURIComponent(UPSTREAM.username || "root");
  writeFileSync(join(dir, "userlist.txt"), `"${user}" ""\n`);
  writeFileSync(
    join(dir, "pgbouncer.ini"),
    `[databases]
* = host=${UPSTREAM.hostname} port=${UPSTREAM.port || 5432}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${port}
unix_socket_dir =
auth_type = trust
auth_file = ${join(dir, "userlist.txt")}
pool_mode = ${mode}
default_pool_size = ${serverConnections}
max_client_conn = 500
logfile = ${join(dir, "pgbouncer.log")}
pidfile = ${join(dir, "pgbouncer.pid")}
${Object.entries(settings)
  .map(([name, value]) => `${name} = ${value}`)
  .join("\n")}
`,
  );
  // PgBouncer refuses to run as root; -u drops to an unprivileged user, who must reach the directory.
  const asRoot = process.getuid?.() === 0;
  if (asRoot) chmodSync(dir, 0o777);
  const child = Bun.spawn([PGBOUNCER, ...(asRoot ? ["-u", "nobody"] : []), join(dir, "pgbouncer.ini")], {
    stdout: "ignore",
    stderr: "pipe",
  });
  const log = () => (existsSync(join(dir, "pgbouncer.log")) ? readFileSync(join(dir, "pgbouncer.log"), "utf8") : "");
  let stopped: Promise<void> | null = null;
  const stop = () =>
    (stopped ??= (async () => {
      child.kill("SIGTERM");
      await child.exited;
      rmSync(dir, { recursive: true, force: true });
    })());
  afterAll(stop);
  const deadline = Date.now() + 10_000;
  while (!(await accepts(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      const stderr = await new Response(child.stderr).text();
      const why = `${stderr}${log()}`.trim();
      await stop();
      throw new Error(`pgbouncer did not start: ${why}`);
    }
    await Bun.sleep(50);
  }
  return {
    port,
    through: (url) => {
      const target = new URL(url);
      target.hostname = "127.0.0.1";
      target.port = String(port);
      return target.toString();
    },
    log,
    stop,
  };
}
