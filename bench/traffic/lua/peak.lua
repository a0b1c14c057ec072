-- peak.lua: wrk script for the router benchmark's peak throughput, GET of
-- the URL's path as fast as the connections go.
--
--   wrk -t2 -c64 -d15s --latency -s peak.lua http://127.0.0.1:PORT/predict
--
-- It ends with one line for run.sh:
--   RESULT requests=… seconds=… rps=… ok=… http_errors=… socket_errors=… p50_ms=… p99_ms=…
-- (http_errors: answers with a status of 400 or more, as wrk counts them)

function done(summary, latency, requests)
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "RESULT requests=%d seconds=%.2f rps=%.1f ok=%d http_errors=%d socket_errors=%d p50_ms=%.3f p99_ms=%.3f\n",
    summary.requests, seconds, summary.requests / seconds, summary.requests - e.status, e.status,
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
