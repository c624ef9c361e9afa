import { readdirSync, readFileSync } from "node:fs";
import { type ScrapedMetric, scraped } from "./metric-types";

/** Reads a /proc file; null where there is none (not Linux), so the metric is absent rather than made up. */
function proc(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}

const gauge = (name: string, help: string, read: () => number | null) =>
  scraped(name, help, "gauge", () => {
    const value = read();
    return value === null || !Number.isFinite(value) ? [] : [{ labels: {}, value }];
  });

/**
 * The process's own metrics, read when scraped. Written here instead of prom-client's defaults, which on
 * Bun report NaN and 9223372036.85 for event-loop lag (no monitorEventLoopDelay), zeros for V8 heap
 * spaces, gauges named *_total, and CPU counted only from the first scrape.
 */
export function processMetrics(): ScrapedMetric[] {
  const startTime = Math.round(Date.now() / 1000 - process.uptime());
  const cpu = (pick: (usage: NodeJS.CpuUsage) => number) => () => [{ labels: {}, value: pick(process.cpuUsage()) / 1e6 }];
  return [
    scraped(
      "process_cpu_user_seconds_total",
      "User CPU time since the process started",
      "counter",
      cpu((u) => u.user),
    ),
    scraped(
      "process_cpu_system_seconds_total",
      "System CPU time since the process started",
      "counter",
      cpu((u) => u.system),
    ),
    scraped(
      "process_cpu_seconds_total",
      "User and system CPU time since the process started",
      "counter",
      cpu((u) => u.user + u.system),
    ),
    gauge("process_start_time_seconds", "Start time of the process since the Unix epoch", () => startTime),
    gauge("process_resident_memory_bytes", "Resident memory size", () => process.memoryUsage.rss()),
    gauge("process_virtual_memory_bytes", "Virtual memory size", () => {
      const vsize = proc("/proc/self/stat")?.split(") ")[1]?.split(" ")[20];
      return vsize === undefined ? null : Number(vsize);
    }),
    gauge("process_open_fds", "Open file descriptors", () => {
      try {
        return readdirSync("/proc/self/fd").length;
      } catch {
        return null;
      }
    }),
    gauge("process_max_fds", "Limit of open file descriptors", () => {
      const limit = /^Max open files\s+(\d+)/m.exec(proc("/proc/self/limits") ?? "")?.[1];
      return limit === undefined ? null : Number(limit);
    }),
    gauge("nodejs_heap_size_used_bytes", "JavaScript heap in use (JavaScriptCore on Bun)", () => process.memoryUsage().heapUsed),
    gauge("nodejs_external_memory_bytes", "Memory of objects outside the JavaScript heap (buffers)", () => process.memoryUsage().external),
    scraped("nodejs_eventloop_lag_seconds", "How late a callback scheduled at scrape time ran", "gauge", async () => {
      const started = performance.now();
      await new Promise((resolve) => setImmediate(resolve));
      return [{ labels: {}, value: (performance.now() - started) / 1000 }];
    }),
  ];
}
