import type { Logger } from "pino";
import { writeStderr } from "../logger";
import { PROGRAM } from "../version";

/**
 * A line that ends the process: plain on stderr for the person at the terminal (and `systemctl status`),
 * and as JSON on stdout like every other log line, so `journalctl -o cat | jq` recipes see it too.
 */
export function fatal(message: string, fields: Record<string, unknown>, logger: Logger): void {
  writeStderr(logger, "fatal", `${PROGRAM}: ${message}`);
  logger.fatal(fields, message);
}
