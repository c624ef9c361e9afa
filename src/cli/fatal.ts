import type { Logger } from "pino";
import { PROGRAM, REVISION, VERSION } from "../version";

/**
 * A line that ends the process: plain on stderr for the person at the terminal (and `systemctl status`),
 * and as JSON on stdout like every other log line, so `journalctl -o cat | jq` recipes see it too.
 */
export function fatal(message: string, fields: Record<string, unknown> = {}, logger?: Logger): void {
  process.stderr.write(`${PROGRAM}: ${message}\n`);
  if (logger) {
    logger.fatal(fields, message);
    return;
  }
  const line = {
    level: "fatal",
    time: new Date().toISOString(),
    service: PROGRAM,
    version: VERSION,
    revision: REVISION,
    ...fields,
    msg: message,
  };
  process.stdout.write(`${JSON.stringify(line)}\n`);
}
