import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { AuthEventSink } from "../auth/events";
import type { Clock } from "../clock";
import type { Database } from "../db/database";
import type { CompletedRequest } from "../http/plugin";
import type { DatabaseMetrics } from "./database-metrics";
import { databaseStats } from "./database-stats";
import { Counter, Histogram, type Labels, type ScrapedMetric, scraped } from "./metric-types";
import { processMetrics } from "./process-metrics";

const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Queued → delivered: the plan's target is 5 minutes (300 s), so that is a bucket bound. */
const EMAIL_DELIVERY_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 21600, 86400];
const VERIFICATION_DELAY_BUCKETS = [60, 300, 900, 1800, 3600, 7200, 21600, 43200, 86400, 259200, 604800];
/** Statuses the service answers when something breaks: their series exist at 0 from the start for every route. */
const FAILURE_STATUSES = ["500", "503"];
const EMAIL_KINDS = ["verify_email", "reset_password"];
const LOGIN_RESULTS = ["success", "invalid_credentials", "unverified", "rate_limited", "service_busy"];
const TOKEN_REJECTIONS = ["missing", "malformed", "algorithm", "signature", "expired", "revoked", "stale", "user_not_found"];
const RATE_LIMITS = ["login_account", "login_client", "register_client", "resend_client", "forgot_client"];

/** Prometheus's scrapes and the API documentation are not traffic the rollout judges: they are not counted. */
export const isUnmeasuredRoute = (route: string) => route === "/metrics" || route.startsWith("/swagger");

const every = <A extends string, B extends string>(name: A, values: string[], other?: { name: B; values: string[] }) =>
  values.flatMap((value) => (other ? other.values.map((v) => ({ [name]: value, [other.name]: v })) : [{ [name]: value }])) as Labels[];

export interface MetricsOptions {
  pendingEmails: () => Promise<number>;
  passwordHashLoad: () => { running: number; waiting: number; limit: number; overloaded: boolean; hashSeconds: number };
  /**
   * The release: `classmatefinder_build_info{version, revision}`, and the same two labels on every counter
   * and histogram, so that what a process served stays charged to its own release after another one
   * replaced it on the same instance (a join on build_info would charge it to the newcomer).
   */
  release: { version: string; revision: string };
  clock: Clock;
  /** For the sampled database statistics (pending migrations, table sizes, oldest pending email). */
  database?: Database;
  logger?: Logger;
  /** The driver hooks' metrics, when the database was opened with their observer. */
  databaseMetrics?: DatabaseMetrics;
}

/**
 * The service's Prometheus metrics (names fixed by the operations contract). Recording is a map update
 * on the request path; prom-client is loaded at the first scrape, where it renders these values. Series
 * a rollout decision reads are created at 0 up front, so rate() and increase() count their first
 * failures. One instance per app, so tests can build several.
 */
export function createMetrics(options: MetricsOptions) {
  const requests = new Histogram(
    "http_request_duration_seconds",
    "HTTP request duration by method, route template and status",
    DURATION_BUCKETS,
    ["method", "route", "status"],
  );
  const registrations = new Counter("auth_registrations_total", "Accounts created");
  const logins = new Counter(
    "auth_logins_total",
    "Login attempts by result: success, invalid_credentials, unverified, rate_limited, service_busy",
    ["result"],
    every("result", LOGIN_RESULTS),
  );
  const verifications = new Counter("auth_email_verifications_total", "Email addresses verified");
  const tokenRejections = new Counter(
    "auth_token_rejections_total",
    "Bearer tokens refused, by reason",
    ["reason"],
    every("reason", TOKEN_REJECTIONS),
  );
  const rateLimitRejections = new Counter(
    "rate_limit_rejections_total",
    "Requests refused with 429, by limit",
    ["limit"],
    every("limit", RATE_LIMITS),
  );
  const emailsSent = new Counter(
    "emails_sent_total",
    "Email delivery attempts by kind and result: sent, retry, failed (given up)",
    ["kind", "result"],
    every("kind", EMAIL_KINDS, { name: "result", values: ["sent", "retry", "failed"] }),
  );
  const hashRejections = new Counter(
    "password_hash_rejections_total",
    "Requests answered 503 SERVICE_BUSY because password hashing was overloaded",
  );
  const emailDelivery = new Histogram(
    "email_delivery_seconds",
    "Time from queueing an email to its delivery to the mail server, by kind",
    EMAIL_DELIVERY_BUCKETS,
    ["kind"],
    every("kind", EMAIL_KINDS),
  );
  const verificationDelay = new Histogram(
    "auth_verification_delay_seconds",
    "Time from registration to email verification",
    VERIFICATION_DELAY_BUCKETS,
  );

  const ours: ScrapedMetric[] = [
    scraped("classmatefinder_build_info", "The running release (value 1): its version and the commit it was built from", "gauge", () => [
      { labels: { ...options.release, runtime: `bun-${Bun.version}` }, value: 1 },
    ]),
    scraped("http_requests_total", "HTTP requests by method, route template and status (not /metrics or /swagger)", "counter", () =>
      [...requests.all()].map(({ labels, count }) => ({ labels, value: count })),
    ),
    requests.toMetric(),
    ...[registrations, logins, verifications, tokenRejections, rateLimitRejections, emailsSent, hashRejections].map((counter) =>
      counter.toMetric(),
    ),
    emailDelivery.toMetric(),
    verificationDelay.toMetric(),
    scraped("email_outbox_pending", "Emails waiting in the outbox to be delivered", "gauge", async () => {
      // A database that cannot answer leaves the gauge absent, never NaN.
      const pending = await options.pendingEmails().catch(() => null);
      return pending === null ? [] : [{ labels: {}, value: pending }];
    }),
    scraped("password_hash_queue", "Password hashes (argon2id) running and waiting for a slot", "gauge", () => {
      const load = options.passwordHashLoad();
      return [
        { labels: { state: "running" }, value: load.running },
        { labels: { state: "waiting" }, value: load.waiting },
      ];
    }),
    ...(options.databaseMetrics?.metrics ?? []),
    ...(options.database && options.logger ? databaseStats(options.database, options.clock, options.logger) : []),
    ...processMetrics(),
    scraped(
      "password_hash_queue_limit",
      "Requests that may wait for a hashing slot now (measured hash rate × allowed wait)",
      "gauge",
      () => [{ labels: {}, value: options.passwordHashLoad().limit }],
    ),
    scraped("password_hash_overloaded", "1 while sustained overload is being shed (the queue has been standing), else 0", "gauge", () => [
      { labels: {}, value: options.passwordHashLoad().overloaded ? 1 : 0 },
    ]),
    scraped("password_hash_duration_estimate_seconds", "Measured time one password hash holds its slot (moving average)", "gauge", () => [
      { labels: {}, value: options.passwordHashLoad().hashSeconds },
    ]),
  ];

  // Counters and histograms count what this process served: they carry its release. Gauges are a state
  // now, which belongs to whatever runs there now: a join on build_info splits them.
  const withRelease = (metric: ScrapedMetric): ScrapedMetric =>
    metric.type === "gauge"
      ? metric
      : scraped(metric.name, metric.help, metric.type, async () =>
          (await metric.get()).values.map((sample) => ({ ...sample, labels: { ...sample.labels, ...options.release } })),
        );

  let registry: Promise<Registry> | undefined;
  const loadRegistry = async () => {
    const { Registry } = await import("prom-client");
    const loaded = new Registry();
    for (const metric of ours.map(withRelease)) loaded.registerMetric(metric as unknown as Parameters<Registry["registerMetric"]>[0]);
    return loaded;
  };

  const events: AuthEventSink = {
    emit(_context, event) {
      if (event.event === "registration" && event.outcome === "success") registrations.inc();
      else if (event.event === "email_verification" && event.outcome === "success") {
        verifications.inc();
        if (event.registeredAt) {
          const seconds = (options.clock.now().getTime() - new Date(event.registeredAt).getTime()) / 1000;
          verificationDelay.observe({}, Math.max(0, seconds));
        }
      } else if (event.event === "login")
        logins.inc({ result: event.outcome === "success" ? "success" : (event.reason ?? "invalid_credentials") });
      else if (event.event === "token_rejected") tokenRejections.inc({ reason: event.reason ?? "unknown" });
      else if (event.event === "rate_limited" && event.limit) rateLimitRejections.inc({ limit: event.limit });
    },
  };

  return {
    events,
    /** The Prometheus text exposition of every metric. */
    async scrape(): Promise<{ contentType: string; text: string }> {
      registry ??= loadRegistry();
      const loaded = await registry;
      return { contentType: loaded.contentType, text: await loaded.metrics() };
    },
    /** Creates the failure series (500, 503) of every route at 0, so the first 5xx after a start is counted by rate(). */
    expectRoutes(routes: { method: string; path: string }[]) {
      for (const { method, path } of routes) {
        if (isUnmeasuredRoute(path) || path.includes("*")) continue;
        for (const status of FAILURE_STATUSES) requests.seriesFor({ method, route: path, status });
      }
    },
    recordRequest(request: CompletedRequest) {
      if (isUnmeasuredRoute(request.route)) return;
      const { method, route, status } = request;
      requests.observeByKey(
        `${method}\u0000${route}\u0000${status}`,
        () => ({ method, route, status: String(status) }),
        request.durationMs / 1000,
      );
    },
    recordHashRejection() {
      hashRejections.inc();
    },
    recordEmail(kind: string, result: "sent" | "retry" | "failed", queuedAt?: Date) {
      emailsSent.inc({ kind, result });
      if (result === "sent" && queuedAt) {
        emailDelivery.observe({ kind }, Math.max(0, (options.clock.now().getTime() - queuedAt.getTime()) / 1000));
      }
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
