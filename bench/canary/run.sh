#!/usr/bin/env bash
# run.sh runs the canary analysis simulation benchmark: Promote's sequential
# analysis against reference judges with Flagger's and Argo Rollouts'
# defaults and against Wald's SPRT bound, on healthy and bad canaries at
# 10% and 50% weight and 1 to 1,000 requests per second (package
# bench/canary, command bench/canary/cmd/canarysim). It prints the machine
# and the commit, then the Markdown tables that BENCHMARKS.md records, with
# the targets marked holds or missed. It is run by hand, not by CI; CI runs
# a small seeded version (go test ./bench/canary/). The last table is the
# reference of the analysis's test with stable's rate known (analysis.KnownRate).
#
#   bash bench/canary/run.sh                     # the full grid, about 25 minutes on 2 cores
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
#
# The figures are deterministic (a seeded PCG per run): they depend neither
# on the machine, its load nor WORKERS; only the time taken does.
#
# Targets (from the issue): at most 1% false rollbacks on healthy canaries,
# at low traffic too; for the 5% and 20% error canaries at 10% weight and
# 100 req/s, at least 10x fewer bad requests served before rollback than
# the Flagger-default judge; for every bad canary, mean canary requests
# before rollback within 2x of the SPRT bound.
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
echo "== go run ./bench/canary/cmd/canarysim ${args[*]}"
echo
(cd "$root" && go run ./bench/canary/cmd/canarysim "${args[@]}")
echo
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
