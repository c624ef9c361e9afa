import { accessSync, constants, existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { Config } from "../config/config";

/** One thing that will certainly make `serve` fail, found without creating or changing anything. */
export interface StartProblem {
  variable: string;
  problem: string;
}

/**
 * What `check` can find out before a start: the port can be bound by this user (a privileged port
 * without CAP_NET_BIND_SERVICE fails; in use is fine: it is usually the running service being
 * replaced), and the SQLite file and its directory are writable (SQLite writes its -wal file beside it).
 */
export async function startProblems(config: Config): Promise<StartProblem[]> {
  const problems: StartProblem[] = [];
  const bind = await tryBind(config.host, config.port);
  if (bind === "EACCES") {
    problems.push({
      variable: "PORT",
      problem: `${config.host}:${config.port} is a privileged port this user may not bind (needs CAP_NET_BIND_SERVICE); use a port from 1024 or a reverse proxy`,
    });
  } else if (bind === "EADDRNOTAVAIL") {
    problems.push({ variable: "HOST", problem: `${config.host} is not an address of this host` });
  }
  if (config.database.kind === "sqlite" && config.database.path !== ":memory:") {
    const file = resolve(config.database.path);
    const unwritable = existsSync(file) ? [file, dirname(file)].find((path) => !writable(path)) : nearestExisting(dirname(file));
    if (unwritable && !writable(unwritable)) {
      problems.push({ variable: "DATABASE_URL", problem: `${unwritable} is not writable for this user (uid ${process.getuid?.()})` });
    }
  }
  return problems;
}

function writable(path: string): boolean {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** The directory that creating `path` (mkdir -p) would write into. */
function nearestExisting(path: string): string {
  let current = path;
  while (!existsSync(current) && dirname(current) !== current) current = dirname(current);
  return current;
}

/** Binds and releases the address at once; resolves the error code, or null when it could be bound. */
async function tryBind(hostname: string, port: number): Promise<string | null> {
  try {
    const listener = Bun.listen({ hostname, port, socket: { data() {} } });
    listener.stop(true);
    return null;
  } catch (error) {
    return String((error as { code?: unknown }).code ?? "EUNKNOWN");
  }
}
