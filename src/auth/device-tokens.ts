import { timingSafeEqual } from "node:crypto";
import type { Keys } from "./keys";

/** How long a device token lets its holder past the per-client failed-login limit. */
const LIFETIME_SECONDS = 365 * 86400;

/**
 * OWASP's "device cookies": a login or verification that succeeded hands the device a token bound to
 * that address. A later login of the same address carrying it is not refused by the per-client
 * failed-login limit, so one person failing logins behind a shared campus address cannot lock the others
 * out; the per-address limit still applies. `<payload>.<mac>`, the payload naming the address only by a
 * keyed hash and when the token expires. Stateless: nothing to store, nothing to clean up.
 */
export function issueDeviceToken(keys: Keys, email: string, now: Date): string {
  const payload = Buffer.from(
    JSON.stringify({
      a: keys.bookkeepingHash(`device-address:${email}`).slice(0, 22),
      e: Math.floor(now.getTime() / 1000) + LIFETIME_SECONDS,
      n: crypto.randomUUID(),
    }),
  ).toString("base64url");
  return `${payload}.${keys.bookkeepingHash(`device-token:${payload}`)}`;
}

/** True when `token` is a device token of this service for `email` that has not expired. */
export function deviceTokenFits(keys: Keys, token: string, email: string, now: Date): boolean {
  const [payload, mac, extra] = token.split(".");
  if (!payload || !mac || extra !== undefined) return false;
  const expected = Buffer.from(keys.bookkeepingHash(`device-token:${payload}`));
  const given = Buffer.from(mac);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return false;
  try {
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as { a?: unknown; e?: unknown };
    return (
      claims.a === keys.bookkeepingHash(`device-address:${email}`).slice(0, 22) &&
      typeof claims.e === "number" &&
      claims.e * 1000 > now.getTime()
    );
  } catch {
    return false;
  }
}
