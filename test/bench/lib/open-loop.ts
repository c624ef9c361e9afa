/**
 * Open-loop load: requests start at random (Poisson) moments at a fixed mean rate, whatever the
 * service answers — unlike wrk's closed loop, where each connection waits for its answer and a slow
 * service is offered less. Runs in the bench driver (pinned to the load CPU), with fetch.
 *
 * Bun's fetch sends at most BUN_CONFIG_MAX_HTTP_REQUESTS requests at once (256 by default, read at
 * start) and queues the rest in the driver: a flood whose admitted logins wait seconds in the service
 * holds more than 256, and every probe behind them then waited seconds in the driver, not the service.
 * The bench scripts raise the limit (package.json); a run that reaches it anyway fails instead of
 * reporting the driver's queue as the service's latency.
 */
export const FETCH_LIMIT = Number(process.env.BUN_CONFIG_MAX_HTTP_REQUESTS ?? 256);
let inFlight = 0;

export interface TimedAnswer {
  /** which stream of the scenario it belongs to (e.g. "flood", "others", "health") */
  stream: string;
  status: number;
  /** milliseconds from the scenario's start to the request's start, and to its answer */
  startMs: number;
  endMs: number;
  retryAfter: string | null;
}

export interface RequestSpec {
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface Stream {
  name: string;
  /** mean arrivals per second */
  ratePerSecond: number;
  /** the request for the n-th arrival */
  request: (index: number) => RequestSpec;
}

/** Sends one request and times it; a socket error or a timeout is status 0. */
export async function timedRequest(baseUrl: string, stream: string, spec: RequestSpec, origin: number): Promise<TimedAnswer> {
  const startMs = performance.now() - origin;
  if (inFlight >= FETCH_LIMIT) {
    throw new Error(`${FETCH_LIMIT} requests in flight already: fetch would queue this one; raise BUN_CONFIG_MAX_HTTP_REQUESTS`);
  }
  inFlight += 1;
  try {
    const response = await fetch(`${baseUrl}${spec.path}`, {
      method: spec.body === undefined ? "GET" : "POST",
      headers: { ...(spec.body === undefined ? {} : { "content-type": "application/json" }), ...spec.headers },
      body: spec.body === undefined ? undefined : JSON.stringify(spec.body),
      signal: AbortSignal.timeout(30_000),
    });
    await response.arrayBuffer();
    return { stream, status: response.status, startMs, endMs: performance.now() - origin, retryAfter: response.headers.get("retry-after") };
  } catch {
    return { stream, status: 0, startMs, endMs: performance.now() - origin, retryAfter: null };
  } finally {
    inFlight -= 1;
  }
}

/** Exponential inter-arrival times: a Poisson process of `rate` per second. */
function nextGapMs(ratePerSecond: number): number {
  return (-Math.log(1 - Math.random()) / ratePerSecond) * 1000;
}

/**
 * Runs the streams side by side for `durationMs` (arrivals stop then; answers are awaited). An arrival
 * that falls due while the driver was busy starts as soon as it can: the schedule is not stretched.
 */
export async function openLoop(baseUrl: string, streams: Stream[], durationMs: number): Promise<TimedAnswer[]> {
  const origin = performance.now();
  const pending: Promise<TimedAnswer>[] = [];
  const schedule = streams.map((stream) => ({ stream, dueMs: nextGapMs(stream.ratePerSecond), sent: 0 }));
  for (;;) {
    const next = schedule.reduce((soonest, entry) => (entry.dueMs < soonest.dueMs ? entry : soonest));
    if (next.dueMs >= durationMs) break;
    const waitMs = next.dueMs - (performance.now() - origin);
    if (waitMs > 1) await Bun.sleep(waitMs);
    pending.push(timedRequest(baseUrl, next.stream.name, next.stream.request(next.sent), origin));
    next.sent += 1;
    next.dueMs += nextGapMs(next.stream.ratePerSecond);
  }
  return Promise.all(pending);
}

/** Latency percentile (nearest rank) of answers, in ms. */
export function percentile(answers: TimedAnswer[], fraction: number): number {
  if (answers.length === 0) return Number.NaN;
  const sorted = answers.map((answer) => answer.endMs - answer.startMs).sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1))] as number;
}

export function countStatuses(answers: TimedAnswer[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const { status } of answers) counts[String(status)] = (counts[String(status)] ?? 0) + 1;
  return counts;
}
