-- status.lua: wrk script for authenticated reads of a model's promotion
-- status, GET /api/v1/models/{model}/status, each for a model drawn at
-- random from the seeded ones.
--
--   BENCH_MODELS=models.txt BENCH_TOKEN=<viewer token> \
--     wrk -t2 -c32 -d20s -s status.lua http://127.0.0.1:PORT
--
-- It ends with one line for run.sh:
--   RESULT requests=… seconds=… rps=… ok=… http_errors=… socket_errors=… p50_ms=… p99_ms=…
-- (http_errors: answers with a status of 400 or more, as wrk counts them)

local models = {}
local token
local threads = {}

local function load_models()
  local path = assert(os.getenv("BENCH_MODELS"), "BENCH_MODELS is not set")
  local list = {}
  for line in assert(io.open(path)):lines() do
    if line ~= "" then list[#list + 1] = line end
  end
  assert(#list > 0, "no models in " .. path)
  return list
end

function setup(thread)
  thread:set("tid", #threads)
  threads[#threads + 1] = thread
end

function init(args)
  models = load_models()
  token = assert(os.getenv("BENCH_TOKEN"), "BENCH_TOKEN is not set")
  math.randomseed(os.time() * 1000 + tid)
  wrk.headers["Authorization"] = "Bearer " .. token
  wrk.headers["Accept"] = "application/json"
end

function request()
  local m = models[math.random(#models)]
  return wrk.format("GET", "/api/v1/models/" .. m .. "/status")
end

function done(summary, latency, requests)
  local e = summary.errors
  local seconds = summary.duration / 1e6
  local ok = summary.requests - e.status
  io.write(string.format(
    "RESULT requests=%d seconds=%.2f rps=%.1f ok=%d http_errors=%d socket_errors=%d p50_ms=%.2f p99_ms=%.2f\n",
    summary.requests, seconds, summary.requests / seconds, ok, e.status,
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
