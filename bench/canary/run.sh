#!/usr/bin/env bash
# run.sh runs the canary analysis simulation benchmark: Promote's sequential
# analysis against reference judges with Flagger's and Argo Rollouts'
# defaults and against Wald's SPRT bound, on healthy and bad canaries at
# 10% and 50% weight and 1 to 1,000 requests per second (package
# bench/canary, command bench/canary/cmd/canarysim). It prints the machine
# and the commit, then the Markdown tables that BENCHMARKS.md records, with
# the targets marked holds or missed. It is run by hand, not by CI; CI runs
# a small seeded version (go test ./bench/canary/). After the judges'
# tables come the reference of the analysis's test with stable's rate
# known (analysis.KnownRate) and the Promote+history judge's tables: the
# analysis with stable's past a week long (analysis.Config.History), its
# last 15 minutes also given as History.Recent, simulated per request with
# every request told to the history tests as the splitter answers it
# (Baseline.Canary, .Stable), on the healthy canaries, on healthy canaries
# through a drift both tracks share (errors 0.5% -> 1%, or latency +20%;
# from 5 minutes into the rollout, from 10 minutes before it, or with it;
# 10% and 50% weight, 100 req/s, beside the Promote judge on the same
# traffic), and on the bad
# canaries with a 6-hour horizon (the other judges': 30 minutes): its
# canary requests before rollback against the SPRT bound, within 2x or
# not, bad requests and time to rollback.
#
#   bash bench/canary/run.sh                     # the full grid, about 25 minutes on 2 cores, then Promote+history
#   HISTORY_ONLY=1 bash bench/canary/run.sh      # the Promote+history tables alone, about 30 minutes
#   HEALTHY_RUNS=500 BAD_RUNS=100 bash bench/canary/run.sh
#   ONLY='errors 5%' JSON=/tmp/canary.json bash bench/canary/run.sh
#
# Settings (environment):
#   HEALTHY_RUNS  seeded runs per healthy scenario (default 2000)
#   BAD_RUNS      seeded runs per bad scenario (default 300)
#   HORIZON       simulated time per run (default 30m)
#   WORKERS       goroutines simulating runs (default: the number of CPUs)
#   ONLY          a regular expression: run only the scenarios it matches
#   JSON          also write every figure as JSON to this file
#   HISTORY_WINDOW   stable's history before the canary (default 168h)
#   HISTORY_RECENT   the end of that history also given as History.Recent (default 15m; 0s: none)
#   HISTORY_HORIZON  simulated time per bad run of Promote+history (default 6h)
#   DRIFT_RUNS       seeded runs per shared-drift scenario (default 1000)
#   HISTORY_ONLY     set: run the Promote+history scenarios only
#
# The figures are deterministic (a seeded PCG per run): they depend neither
# on the machine, its load nor WORKERS; only the time taken does.
#
# Targets (from the issue): at most 1% false rollbacks on healthy canaries,
# at low traffic too; for the 5% and 20% error canaries at 10% weight and
# 100 req/s, at least 10x fewer bad requests served before rollback than
# the Flagger-default judge; for every bad canary, mean canary requests
# before rollback within 2x of the SPRT bound. The Promote+history tables
# end with the first and last of these for that judge.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
HEALTHY_RUNS=${HEALTHY_RUNS:-2000}
BAD_RUNS=${BAD_RUNS:-300}
HORIZON=${HORIZON:-30m}
WORKERS=${WORKERS:-$(nproc)}

command -v go >/dev/null || { echo "run.sh: go is needed" >&2; exit 2; }

dirty=""
if [[ -n $(cd "$root" && git status --porcelain -- bench/canary internal/analysis 2>/dev/null) ]]; then
	dirty=" (bench/canary or internal/analysis changed since)"
fi
echo "promote: $(cd "$root" && git rev-parse --short HEAD 2>/dev/null || echo "no commit")$dirty, $(go version)"
echo "machine: $(nproc) cores, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
args=(-healthy-runs "$HEALTHY_RUNS" -bad-runs "$BAD_RUNS" -horizon "$HORIZON" -workers "$WORKERS")
if [[ -n ${ONLY:-} ]]; then args+=(-only "$ONLY"); fi
if [[ -n ${JSON:-} ]]; then args+=(-json "$JSON"); fi
args+=(-history-window "${HISTORY_WINDOW:-168h}" -history-recent "${HISTORY_RECENT:-15m}" -history-horizon "${HISTORY_HORIZON:-6h}" -drift-runs "${DRIFT_RUNS:-1000}")
if [[ -n ${HISTORY_ONLY:-} ]]; then args+=(-history-only); fi
echo "== go run ./bench/canary/cmd/canarysim ${args[*]}"
echo
(cd "$root" && go run ./bench/canary/cmd/canarysim "${args[@]}")
echo
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
