import type { Logger } from "pino";
import { type MailTransport, PermanentMailError } from "./types";

/** After the primary failed, it is skipped for this long (each email then goes to the fallback at once). */
const PRIMARY_PAUSE_MS = 60_000;

/**
 * SMTP_FALLBACK_URL: each email goes to the primary provider; when the primary refuses or cannot be
 * reached, the same attempt hands it to the fallback, so a provider outage does not hold verification
 * emails back for the outbox's retry delays. While the primary is paused, emails go to the fallback
 * first. One provider takes each message: a message is offered to the fallback only after the primary
 * failed to take it (a primary that loses the connection after accepting the data but before saying
 * so is the one case where, as with any retry, an email may arrive twice).
 */
export function failoverTransport(primary: MailTransport, fallback: MailTransport, logger: Logger): MailTransport {
  let primaryPausedUntil = 0;
  return {
    name: "smtp",
    send: async (message, options) => {
      // A pause measured on the monotonic clock: a step of the host's clock neither ends nor prolongs it.
      const order = performance.now() < primaryPausedUntil ? [fallback, primary] : [primary, fallback];
      const reasons: string[] = [];
      let permanent = true;
      for (const transport of order) {
        if (options?.signal?.aborted) break;
        try {
          const outcome = await transport.send(message, options);
          if (transport === primary) primaryPausedUntil = 0;
          return outcome;
        } catch (error) {
          const reason = error instanceof Error ? error.message : String(error);
          reasons.push(reason);
          permanent &&= error instanceof PermanentMailError;
          if (transport === primary) {
            primaryPausedUntil = performance.now() + PRIMARY_PAUSE_MS;
            logger.warn({ kind: message.kind, reason }, "primary SMTP provider failed: using the fallback provider");
          }
        }
      }
      // Final only when every provider refused the message itself.
      const reason = `every SMTP provider failed: ${reasons.join("; ")}`;
      throw permanent && reasons.length === order.length ? new PermanentMailError(reason) : new Error(reason);
    },
    close: async () => {
      await Promise.all([primary.close?.(), fallback.close?.()]);
    },
  };
}
