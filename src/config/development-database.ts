import { existsSync } from "node:fs";
import { join } from "node:path";
import { type Config, ConfigError, DEFAULT_SQLITE_URL } from "./config";

/**
 * The development default (`./data/classmatefinder.db`) is for a checkout. Run as root from anywhere
 * else (a sysadmin trying the installed binary without the service's env file) it would quietly create
 * a database wherever they stand, owned by root; refused instead, as a configuration error.
 */
export function refuseStrayDevelopmentDatabase(config: Config, host: { uid: number | undefined; cwd: string }): void {
  if (config.database.url !== DEFAULT_SQLITE_URL || host.uid !== 0) return;
  if (existsSync(join(host.cwd, "package.json")) && existsSync(join(host.cwd, "src", "main.ts"))) return;
  throw new ConfigError(
    "DATABASE_URL",
    `is not set, and as root outside a checkout the development database would be created in ${host.cwd}/data; ` +
      "run the service's commands as `systemd/install.sh run <command>`, or set NODE_ENV and DATABASE_URL",
  );
}
