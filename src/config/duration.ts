const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** Parses `JWT_EXPIRES_IN`-style durations (`90`, `45s`, `15m`, `12h`, `7d`) into seconds; null when invalid. */
export function parseDurationSeconds(value: string): number | null {
  const match = /^(\d+)([smhd]?)$/.exec(value.trim());
  if (!match) return null;
  const seconds = Number(match[1]) * (UNIT_SECONDS[match[2] ?? ""] ?? 1);
  return Number.isSafeInteger(seconds) && seconds > 0 ? seconds : null;
}

/** `250ms`, `2s`: a duration of up to seconds, in milliseconds; null when invalid. */
export function parseDurationMilliseconds(value: string): number | null {
  const match = /^(\d+)(ms|s)$/.exec(value.trim());
  if (!match) return null;
  const milliseconds = Number(match[1]) * (match[2] === "s" ? 1000 : 1);
  return Number.isSafeInteger(milliseconds) && milliseconds > 0 ? milliseconds : null;
}
