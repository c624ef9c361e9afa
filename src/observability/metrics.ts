import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { AuthEventSink } from "../auth/events";
import type { CompletedRequest } from "../http/plugin";

/**
 * The service's Prometheus metrics (names fixed by the operations contract). One registry per app, so
 * tests can build several apps in one process.
 */
export function createMetrics(options: {
  pendingEmails: () => Promise<number>;
  passwordHashLoad: () => { running: number; waiting: number };
}) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];

  const httpRequests = new Counter({
    name: "http_requests_total",
    help: "HTTP requests by method, route template and status",
    labelNames: ["method", "route", "status"] as const,
    registers,
  });
  const httpDuration = new Histogram({
    name: "http_request_duration_seconds",
    help: "HTTP request duration by method, route template and status",
    labelNames: ["method", "route", "status"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const registrations = new Counter({ name: "auth_registrations_total", help: "Accounts created", registers });
  const logins = new Counter({
    name: "auth_logins_total",
    help: "Login attempts by result: success, invalid_credentials, unverified, rate_limited",
    labelNames: ["result"] as const,
    registers,
  });
  const verifications = new Counter({ name: "auth_email_verifications_total", help: "Email addresses verified", registers });
  const tokenRejections = new Counter({
    name: "auth_token_rejections_total",
    help: "Bearer tokens refused, by reason",
    labelNames: ["reason"] as const,
    registers,
  });
  const rateLimitRejections = new Counter({
    name: "rate_limit_rejections_total",
    help: "Requests refused with 429, by limit",
    labelNames: ["limit"] as const,
    registers,
  });
  const emailsSent = new Counter({
    name: "emails_sent_total",
    help: "Email delivery attempts by kind and result: sent, retry, failed (given up)",
    labelNames: ["kind", "result"] as const,
    registers,
  });
  new Gauge({
    name: "email_outbox_pending",
    help: "Emails waiting in the outbox to be delivered",
    registers,
    async collect() {
      this.set(await options.pendingEmails().catch(() => Number.NaN));
    },
  });

  new Gauge({
    name: "password_hash_queue",
    help: "Password hashes (argon2id) running and waiting for a slot",
    labelNames: ["state"] as const,
    registers,
    collect() {
      const load = options.passwordHashLoad();
      this.set({ state: "running" }, load.running);
      this.set({ state: "waiting" }, load.waiting);
    },
  });
  const hashRejections = new Counter({
    name: "password_hash_rejections_total",
    help: "Requests answered 503 SERVICE_BUSY because password hashing was at capacity",
    registers,
  });

  const events: AuthEventSink = {
    emit(_context, event) {
      if (event.event === "registration" && event.outcome === "success") registrations.inc();
      else if (event.event === "email_verification" && event.outcome === "success") verifications.inc();
      else if (event.event === "login")
        logins.inc({ result: event.outcome === "success" ? "success" : (event.reason ?? "invalid_credentials") });
      else if (event.event === "token_rejected") tokenRejections.inc({ reason: event.reason ?? "unknown" });
      else if (event.event === "rate_limited" && event.limit) rateLimitRejections.inc({ limit: event.limit });
    },
  };

  return {
    registry,
    events,
    recordRequest(request: CompletedRequest) {
      const labels = { method: request.method, route: request.route, status: String(request.status) };
      httpRequests.inc(labels);
      httpDuration.observe(labels, request.durationMs / 1000);
    },
    recordHashRejection() {
      hashRejections.inc();
    },
    recordEmail(kind: string, result: "sent" | "retry" | "failed") {
      emailsSent.inc({ kind, result });
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
