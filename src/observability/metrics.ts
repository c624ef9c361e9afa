import type { Registry } from "prom-client";
import type { AuthEventSink } from "../auth/events";
import type { CompletedRequest } from "../http/plugin";

type Labels = Record<string, string>;
interface Sample {
  metricName?: string;
  labels: Labels;
  value: number;
}

/** What prom-client's Registry asks a metric for at scrape time. */
interface ScrapedMetric {
  name: string;
  help: string;
  type: "counter" | "gauge" | "histogram";
  aggregator: "sum";
  get(): Promise<{ name: string; help: string; type: string; aggregator: "sum"; values: Sample[] }>;
}

function scraped(name: string, help: string, type: ScrapedMetric["type"], values: () => Sample[] | Promise<Sample[]>): ScrapedMetric {
  return { name, help, type, aggregator: "sum", get: async () => ({ name, help, type, aggregator: "sum", values: await values() }) };
}

/** A counter family: a plain map from label values to a number. */
class Counter {
  private readonly series = new Map<string, Sample>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly string[] = [],
  ) {
    if (labelNames.length === 0) this.series.set("", { labels: {}, value: 0 });
  }

  inc(labels: Labels = {}): void {
    const key = this.labelNames.map((label) => labels[label]).join("\u0000");
    const sample = this.series.get(key);
    if (sample) sample.value++;
    else this.series.set(key, { labels, value: 1 });
  }

  toMetric(): ScrapedMetric {
    return scraped(this.name, this.help, "counter", () => [...this.series.values()]);
  }
}

const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

interface RequestSeries {
  labels: Labels;
  count: number;
  sum: number;
  /** Requests per bucket (not cumulative); the last slot is beyond the largest bound. */
  perBucket: number[];
}

/**
 * The service's Prometheus metrics (names fixed by the operations contract). Recording is a map update
 * on the request path; prom-client is loaded at the first scrape, where it renders these values and
 * adds the runtime's own (process_*, nodejs_*). One instance per app, so tests can build several.
 */
export function createMetrics(options: {
  pendingEmails: () => Promise<number>;
  passwordHashLoad: () => { running: number; waiting: number; limit: number; overloaded: boolean; hashSeconds: number };
}) {
  const requests = new Map<string, RequestSeries>();
  const registrations = new Counter("auth_registrations_total", "Accounts created");
  const logins = new Counter(
    "auth_logins_total",
    "Login attempts by result: success, invalid_credentials, unverified, rate_limited, service_busy",
    ["result"],
  );
  const verifications = new Counter("auth_email_verifications_total", "Email addresses verified");
  const tokenRejections = new Counter("auth_token_rejections_total", "Bearer tokens refused, by reason", ["reason"]);
  const rateLimitRejections = new Counter("rate_limit_rejections_total", "Requests refused with 429, by limit", ["limit"]);
  const emailsSent = new Counter("emails_sent_total", "Email delivery attempts by kind and result: sent, retry, failed (given up)", [
    "kind",
    "result",
  ]);
  const hashRejections = new Counter(
    "password_hash_rejections_total",
    "Requests answered 503 SERVICE_BUSY because password hashing was overloaded",
  );

  const ours: ScrapedMetric[] = [
    scraped("http_requests_total", "HTTP requests by method, route template and status", "counter", () =>
      [...requests.values()].map(({ labels, count }) => ({ labels, value: count })),
    ),
    scraped("http_request_duration_seconds", "HTTP request duration by method, route template and status", "histogram", () =>
      [...requests.values()].flatMap(histogramSamples("http_request_duration_seconds")),
    ),
    ...[registrations, logins, verifications, tokenRejections, rateLimitRejections, emailsSent, hashRejections].map((counter) =>
      counter.toMetric(),
    ),
    scraped("email_outbox_pending", "Emails waiting in the outbox to be delivered", "gauge", async () => [
      { labels: {}, value: await options.pendingEmails().catch(() => Number.NaN) },
    ]),
    scraped("password_hash_queue", "Password hashes (argon2id) running and waiting for a slot", "gauge", () => {
      const load = options.passwordHashLoad();
      return [
        { labels: { state: "running" }, value: load.running },
        { labels: { state: "waiting" }, value: load.waiting },
      ];
    }),
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

  let registry: Promise<Registry> | undefined;
  const loadRegistry = async () => {
    const { Registry, collectDefaultMetrics } = await import("prom-client");
    const loaded = new Registry();
    collectDefaultMetrics({ register: loaded });
    for (const metric of ours) loaded.registerMetric(metric as unknown as Parameters<Registry["registerMetric"]>[0]);
    return loaded;
  };

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
    events,
    /** The Prometheus text exposition of every metric. */
    async scrape(): Promise<{ contentType: string; text: string }> {
      registry ??= loadRegistry();
      const loaded = await registry;
      return { contentType: loaded.contentType, text: await loaded.metrics() };
    },
    recordRequest(request: CompletedRequest) {
      const key = `${request.method} ${request.route} ${request.status}`;
      let series = requests.get(key);
      if (!series) {
        series = {
          labels: { method: request.method, route: request.route, status: String(request.status) },
          count: 0,
          sum: 0,
          perBucket: new Array(DURATION_BUCKETS.length + 1).fill(0),
        };
        requests.set(key, series);
      }
      const seconds = request.durationMs / 1000;
      let bucket = 0;
      while (bucket < DURATION_BUCKETS.length && seconds > (DURATION_BUCKETS[bucket] as number)) bucket++;
      series.count++;
      series.sum += seconds;
      series.perBucket[bucket] = (series.perBucket[bucket] as number) + 1;
    },
    recordHashRejection() {
      hashRejections.inc();
    },
    recordEmail(kind: string, result: "sent" | "retry" | "failed") {
      emailsSent.inc({ kind, result });
    },
  };
}

/** A series as Prometheus histogram samples: cumulative buckets (le first, as prom-client writes them), sum, count. */
function histogramSamples(name: string) {
  return ({ labels, count, sum, perBucket }: RequestSeries): Sample[] => {
    let cumulative = 0;
    const buckets = DURATION_BUCKETS.map((bound, index) => {
      cumulative += perBucket[index] as number;
      return { metricName: `${name}_bucket`, labels: { le: String(bound), ...labels }, value: cumulative };
    });
    return [
      ...buckets,
      { metricName: `${name}_bucket`, labels: { le: "+Inf", ...labels }, value: count },
      { metricName: `${name}_sum`, labels, value: sum },
      { metricName: `${name}_count`, labels, value: count },
    ];
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
