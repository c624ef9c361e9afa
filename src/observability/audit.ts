import { createHmac } from "node:crypto";
import type { Logger } from "pino";
import type { AuthEventSink } from "../auth/events";

/**
 * The audit trail: one JSON line per security-relevant event, `audit: true`, for a SIEM. The email is
 * replaced by a keyed hash (stable for one DATA_SECRET, which defaults to JWT_SECRET), so events of one
 * account can be correlated without the address appearing in logs.
 */
export function auditLog(logger: Logger, hashKey: string | Buffer): AuthEventSink {
  const hashEmail = (email: string) => createHmac("sha256", hashKey).update(`audit-email:${email}`).digest("hex").slice(0, 32);
  return {
    // registeredAt feeds the metrics only: the audit line already has the time of the verification.
    emit(context, { email, registeredAt: _registeredAt, ...event }) {
      // A request turned away at capacity decided nothing: the metrics count it, the audit trail does not.
      if (event.reason === "service_busy") return;
      logger.info(
        {
          audit: true,
          ...event,
          emailHash: email ? hashEmail(email) : undefined,
          clientAddress: context.clientAddress,
          reqId: context.reqId,
        },
        `audit: ${event.event} ${event.outcome}`,
      );
    },
  };
}
