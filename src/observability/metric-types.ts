/**
 * The metric families the service records into: plain maps from label values to numbers, updated on
 * the request path without prom-client; prom-client only renders them at scrape time (see metrics.ts).
 */
export type Labels = Record<string, string>;
export interface Sample {
  metricName?: string;
  labels: Labels;
  value: number;
}

/** What prom-client's Registry asks a metric for at scrape time. */
export interface ScrapedMetric {
  name: string;
  help: string;
  type: "counter" | "gauge" | "histogram";
  aggregator: "sum";
  get(): Promise<{ name: string; help: string; type: string; aggregator: "sum"; values: Sample[] }>;
}

export function scraped(
  name: string,
  help: string,
  type: ScrapedMetric["type"],
  values: () => Sample[] | Promise<Sample[]>,
): ScrapedMetric {
  return { name, help, type, aggregator: "sum", get: async () => ({ name, help, type, aggregator: "sum", values: await values() }) };
}

const keyOf = (labelNames: readonly string[], labels: Labels) => labelNames.map((label) => labels[label]).join("\u0000");

/** A counter family. `known` label sets are exported at 0 from the start, so a rate() sees their first increase. */
export class Counter {
  private readonly series = new Map<string, Sample>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly string[] = [],
    known: readonly Labels[] = [],
  ) {
    if (labelNames.length === 0) this.series.set("", { labels: {}, value: 0 });
    for (const labels of known) this.series.set(keyOf(labelNames, labels), { labels, value: 0 });
  }

  inc(labels: Labels = {}, by = 1): void {
    const key = keyOf(this.labelNames, labels);
    const sample = this.series.get(key);
    if (sample) sample.value += by;
    else this.series.set(key, { labels, value: by });
  }

  toMetric(): ScrapedMetric {
    return scraped(this.name, this.help, "counter", () => [...this.series.values()]);
  }
}

interface HistogramSeries {
  labels: Labels;
  count: number;
  sum: number;
  /** Observations per bucket (not cumulative); the last slot is beyond the largest bound. */
  perBucket: number[];
}

/** A histogram family with fixed buckets; `known` label sets are exported empty from the start. */
export class Histogram {
  private readonly series = new Map<string, HistogramSeries>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly buckets: readonly number[],
    private readonly labelNames: readonly string[] = [],
    known: readonly Labels[] = [],
  ) {
    if (labelNames.length === 0) this.seriesFor({});
    for (const labels of known) this.seriesFor(labels);
  }

  /** The series of these labels, created empty when new (so callers can pre-create or count it). */
  seriesFor(labels: Labels): HistogramSeries {
    const key = keyOf(this.labelNames, labels);
    let series = this.series.get(key);
    if (!series) {
      series = { labels, count: 0, sum: 0, perBucket: new Array(this.buckets.length + 1).fill(0) };
      this.series.set(key, series);
    }
    return series;
  }

  observe(labels: Labels, value: number): void {
    this.record(this.seriesFor(labels), value);
  }

  /**
   * The request path's variant: `key` is the label values joined by U+0000 in label order, so a known
   * series costs one map lookup; `labels` is only called to create a new one.
   */
  observeByKey(key: string, labels: () => Labels, value: number): void {
    const series = this.series.get(key);
    this.record(series ?? this.seriesFor(labels()), value);
  }

  /** Records into a series the caller holds (from `seriesFor`): no label lookup at all. */
  observeSeries(series: HistogramSeries, value: number): void {
    this.record(series, value);
  }

  private record(series: HistogramSeries, value: number): void {
    let bucket = 0;
    while (bucket < this.buckets.length && value > (this.buckets[bucket] as number)) bucket++;
    series.count++;
    series.sum += value;
    series.perBucket[bucket] = (series.perBucket[bucket] as number) + 1;
  }

  /** Every series, for a counter that shares them (http_requests_total and the duration histogram). */
  all(): IterableIterator<HistogramSeries> {
    return this.series.values();
  }

  toMetric(): ScrapedMetric {
    const { name, buckets } = this;
    // Cumulative buckets (le first, as prom-client writes them), then sum and count.
    return scraped(name, this.help, "histogram", () =>
      [...this.series.values()].flatMap(({ labels, count, sum, perBucket }) => {
        let cumulative = 0;
        const samples: Sample[] = buckets.map((bound, index) => {
          cumulative += perBucket[index] as number;
          return { metricName: `${name}_bucket`, labels: { le: String(bound), ...labels }, value: cumulative };
        });
        samples.push(
          { metricName: `${name}_bucket`, labels: { le: "+Inf", ...labels }, value: count },
          { metricName: `${name}_sum`, labels, value: sum },
          { metricName: `${name}_count`, labels, value: count },
        );
        return samples;
      }),
    );
  }
}
