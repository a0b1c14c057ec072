-- promote.lua: wrk script for promotion requests, POST /api/v1/promotions,
-- every one a distinct request that the service must gate, record and
-- audit.
--
--   BENCH_MODELS=models.txt BENCH_TOKEN=<submitter token> BENCH_THREADS=2 \
--   BENCH_FROM=1 BENCH_VERSIONS=60 \
--     wrk -t2 -c32 -d20s -s promote.lua http://127.0.0.1:PORT
--
-- Each wrk thread owns the models whose line number is its thread number
-- modulo BENCH_THREADS, and walks them in turn, taking each model one step
-- further on every pass: version BENCH_FROM to dev, to staging, to prod,
-- then the next version to dev, and so on. With the benchmark's pipeline a
-- dev or staging request completes (the version goes live) and a prod
-- request waits for an approval, superseding the model's previous prod
-- request. A model's next step is sent a whole pass after its previous one,
-- so with more models per thread than connections per thread the previous
-- step has been answered by then and every request is valid.
--
-- Only 201 Created counts as a promotion written; the state the answers
-- report is tallied, and so is every other status. It ends with one line
-- for run.sh:
--   RESULT requests=… seconds=… rps=… created=… created_rps=… p50_ms=… p99_ms=…
--          succeeded=… awaiting_approval=… blocked=… other_state=…
--          status_4xx=… status_5xx=… status_other=… socket_errors=…
--          last_version=… exhausted=…
-- (on one line); last_version is the highest version requested, so that the
-- next run can start after it, and exhausted counts requests beyond
-- BENCH_VERSIONS (which the server answers 404).

local envs = { "dev", "staging", "prod" }
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  threads[#threads + 1] = thread
end

local mine = {}
local k = 0
local from, versions

-- Per-thread tallies, read by done() through thread:get.
created, succeeded, awaiting_approval, blocked, other_state = 0, 0, 0, 0, 0
status_4xx, status_5xx, status_other = 0, 0, 0
last_version, exhausted = 0, 0

function init(args)
  local path = assert(os.getenv("BENCH_MODELS"), "BENCH_MODELS is not set")
  local token = assert(os.getenv("BENCH_TOKEN"), "BENCH_TOKEN is not set")
  local nthreads = assert(tonumber(os.getenv("BENCH_THREADS")), "BENCH_THREADS is not set")
  from = tonumber(os.getenv("BENCH_FROM") or "1")
  versions = assert(tonumber(os.getenv("BENCH_VERSIONS")), "BENCH_VERSIONS is not set")
  local i = 0
  for line in assert(io.open(path)):lines() do
    if line ~= "" then
      if i % nthreads == tid then mine[#mine + 1] = line end
      i = i + 1
    end
  end
  assert(#mine > 0, "thread " .. tid .. " has no models")
  -- wrk calls the first thread's request() once after init() to check the
  -- request it builds, and never sends that one: start that thread a step
  -- early so that its first real request is the walk's first.
  if tid == 0 then k = -1 end
  wrk.method = "POST"
  wrk.path = "/api/v1/promotions"
  wrk.headers["Authorization"] = "Bearer " .. token
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Accept"] = "application/json"
end

function request()
  if k < 0 then
    k = 0
    return wrk.format(nil, nil, nil, "{}")
  end
  local n = #mine
  local step = math.floor(k / n)
  local model = mine[k % n + 1]
  k = k + 1
  local v = from + math.floor(step / 3)
  local env = envs[step % 3 + 1]
  if v > last_version then last_version = v end
  if v > versions then exhausted = exhausted + 1 end
  local body = string.format('{"model":"%s","version":"v%d","environment":"%s"}', model, v, env)
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  if status == 201 then
    created = created + 1
    local state = body:match('"state":"([%a_]+)"')
    if state == "succeeded" then
      succeeded = succeeded + 1
    elseif state == "awaiting_approval" then
      awaiting_approval = awaiting_approval + 1
    elseif state == "blocked" then
      blocked = blocked + 1
    else
      other_state = other_state + 1
    end
  elseif status >= 400 and status < 500 then
    status_4xx = status_4xx + 1
  elseif status >= 500 then
    status_5xx = status_5xx + 1
  else
    status_other = status_other + 1
  end
end

local tallies = { "created", "succeeded", "awaiting_approval", "blocked", "other_state",
  "status_4xx", "status_5xx", "status_other", "exhausted" }

function done(summary, latency, requests)
  local sum = {}
  for _, name in ipairs(tallies) do sum[name] = 0 end
  local last = 0
  for _, t in ipairs(threads) do
    for _, name in ipairs(tallies) do sum[name] = sum[name] + t:get(name) end
    last = math.max(last, t:get("last_version"))
  end
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "RESULT requests=%d seconds=%.2f rps=%.1f created=%d created_rps=%.1f p50_ms=%.2f p99_ms=%.2f " ..
    "succeeded=%d awaiting_approval=%d blocked=%d other_state=%d status_4xx=%d status_5xx=%d status_other=%d " ..
    "socket_errors=%d last_version=%d exhausted=%d\n",
    summary.requests, seconds, summary.requests / seconds, sum.created, sum.created / seconds,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    sum.succeeded, sum.awaiting_approval, sum.blocked, sum.other_state,
    sum.status_4xx, sum.status_5xx, sum.status_other,
    e.connect + e.read + e.write + e.timeout, last, sum.exhausted))
end
