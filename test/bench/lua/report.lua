-- Shared by every scenario script (and used on its own for plain GETs): counts responses by status
-- in each wrk thread and, when wrk is done, prints one line `BENCH_JSON {...}` that bench.ts parses.
-- Latencies are in microseconds, as wrk records them.

local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
  thread:set("id", #threads)
end

statuses = {}
retry_after = 0

function response(status, headers)
  local code = tostring(status)
  statuses[code] = (statuses[code] or 0) + 1
  if status == 503 and (headers["Retry-After"] or headers["retry-after"]) then
    retry_after = retry_after + 1
  end
end

local function status_counts()
  local counts, with_retry_after = {}, 0
  for _, thread in ipairs(threads) do
    for code, n in pairs(thread:get("statuses")) do
      counts[code] = (counts[code] or 0) + n
    end
    with_retry_after = with_retry_after + thread:get("retry_after")
  end
  local parts = {}
  for code, n in pairs(counts) do
    parts[#parts + 1] = string.format('"%s":%d', code, n)
  end
  return "{" .. table.concat(parts, ",") .. "}", with_retry_after
end

function done(summary, latency)
  local counts, with_retry_after = status_counts()
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"durationUs":%d,"p50":%.0f,"p95":%.0f,"p99":%.0f,"max":%.0f,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},"statuses":%s,"retryAfter":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.max, e.connect, e.read, e.write, e.timeout, counts, with_retry_after))
end
