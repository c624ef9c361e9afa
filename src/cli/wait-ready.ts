import type { Config } from "../config/config";
import { PROGRAM } from "../version";

const POLL_MS = 100;

/**
 * `wait-ready [SECONDS]`: waits until this configuration's service answers `/health/live`. The unit's
 * ExecStartPost, so that `systemctl start`/`restart` return only once the service answers, and fail
 * when it cannot start (systemd 252 offers no sd_notify to a Bun process: Type=notify would need a
 * native call; `systemd-notify` from a child loses the race with its own exit).
 */
export async function waitReadyCommand(config: Config, seconds = "30"): Promise<number> {
  const limitMs = Number(seconds) * 1000;
  if (!Number.isFinite(limitMs) || limitMs <= 0) {
    process.stderr.write(`${PROGRAM}: wait-ready SECONDS: a positive number (got "${seconds}")\n`);
    return 64;
  }
  const host =
    config.host === "0.0.0.0" ? "127.0.0.1" : config.host === "::" ? "[::1]" : config.host.includes(":") ? `[${config.host}]` : config.host;
  const url = `http://${host}:${config.port}/health/live`;
  const deadline = Date.now() + limitMs;
  while (Date.now() < deadline) {
    const answered = await fetch(url, { signal: AbortSignal.timeout(1000) }).then(
      (response) => response.ok,
      () => false,
    );
    if (answered) return 0;
    await Bun.sleep(POLL_MS);
  }
  process.stderr.write(`${PROGRAM}: ${url} did not answer within ${seconds} s\n`);
  return 1;
}
