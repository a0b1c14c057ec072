#!/usr/bin/env bash
# run.sh measures how API read throughput scales with replicas of
# `promote serve` sharing one PostgreSQL database: authenticated status
# reads (GET /api/v1/models/{model}/status, random models) with wrk against
# one replica, then the same total connections spread over three replicas
# (one wrk per replica, run at once), side by side. It is run by hand, not
# by CI; see BENCHMARKS.md ("Replicas") for the figures and how to read them.
#
#   PROMOTE_BENCH_POSTGRES_DSN=postgres://… bash bench/replicas/run.sh
#   DURATION=10s CONNS="30" bash bench/replicas/run.sh
#
# Settings (environment):
#   PROMOTE_BENCH_POSTGRES_DSN  an existing PostgreSQL server to use
#                 (default: $PROMOTE_TEST_POSTGRES_DSN); the script works in
#                 a schema of its own, dropped at the end
#   DURATION      length of each wrk run (default 20s)
#   CONNS         total connection counts, one run each per layout; each a
#                 multiple of 3 (default "30 96")
#   MODELS        models seeded (default 500), VERSIONS per model (default 3)
#   OUT           where the results go (default bench/replicas/results/<UTC time>)
#
# Every server listens on 127.0.0.1 only. wrk comes from Debian (apt-get
# install wrk) when it is missing. The status.lua script is the registry
# benchmark's (bench/registry/lua/status.lua).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
DSN=${PROMOTE_BENCH_POSTGRES_DSN:-${PROMOTE_TEST_POSTGRES_DSN:-}}
DURATION=${DURATION:-20s}
CONNS=${CONNS:-"30 96"}
MODELS=${MODELS:-500}
VERSIONS=${VERSIONS:-3}
OUT=${OUT:-$here/results/$(date -u +%Y%m%dT%H%M%SZ)}
if [[ -z $DSN ]]; then
	echo "run.sh: set PROMOTE_BENCH_POSTGRES_DSN (or PROMOTE_TEST_POSTGRES_DSN) to a PostgreSQL server" >&2
	exit 2
fi
for c in $CONNS; do
	if ((c % 3 != 0 || c < 3)); then
		echo "run.sh: CONNS $c is not a positive multiple of 3" >&2
		exit 2
	fi
done
command -v wrk >/dev/null || { sudo apt-get install -y wrk >/dev/null 2>&1 || apt-get install -y wrk >/dev/null; }
command -v psql >/dev/null || { echo "run.sh: psql is needed to create the benchmark's schema" >&2; exit 2; }
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/promote-bench-replicas.XXXXXX")
schema=promote_bench_replicas_$$
pids=()

say() { printf '== %s\n' "$*" | tee -a "$OUT/summary.txt" >&2; }

cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	psql -q "$DSN" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT

# with_schema adds search_path=$schema to the DSN.
case $DSN in
*\?*) SDSN="$DSN&search_path=$schema" ;;
*) SDSN="$DSN?search_path=$schema" ;;
esac

say "build"
(cd "$root" && go build -o "$WORK/promote" ./cmd/promote && go build -o "$WORK/seedapi" ./bench/registry/cmd/seedapi)
mkdir -p "$WORK/ws"
cp -r "$root/bench/registry/testdata/." "$WORK/ws/"
psql -q "$DSN" -c "CREATE SCHEMA $schema" >/dev/null

# Three replicas, each on a port of its own.
urls=()
for i in 1 2 3; do
	log="$WORK/replica$i.log"
	"$WORK/promote" serve --pipeline "$WORK/ws/promote.yaml" --database "$SDSN" --data "$WORK/data$i" \
		--addr 127.0.0.1:0 --log-level warn 2>"$log" &
	pids+=($!)
	for _ in $(seq 200); do
		url=$(sed -n 's|^promote serving on \(http://[^ ]*\) .*|\1|p' "$log")
		[[ -n $url ]] && break
		sleep 0.05
	done
	[[ -n $url ]] || { cat "$log" >&2; exit 1; }
	urls+=("$url")
done
say "replicas: ${urls[*]}"

submit=$("$WORK/promote" token create --pipeline "$WORK/ws/promote.yaml" --database "$SDSN" --name seed --role submitter --quiet)
view=$("$WORK/promote" token create --pipeline "$WORK/ws/promote.yaml" --database "$SDSN" --name bench --role viewer --quiet)
say "seed: $MODELS models × $VERSIONS versions"
"$WORK/seedapi" -url "${urls[0]}" -token "$submit" -models "$MODELS" -versions "$VERSIONS" -out "$WORK/models.txt" >"$OUT/seed.txt"

# rps_of prints the rps= and p99_ms= figures of a wrk RESULT line.
field() { sed -n "s/^RESULT .*$1=\([0-9.]*\).*/\1/p" "$2"; }

lua="$root/bench/registry/lua/status.lua"
printf '%-8s %-22s %12s %10s %10s\n' conns layout "requests/s" "p99 ms" errors | tee -a "$OUT/summary.txt"
for c in $CONNS; do
	# One replica takes every connection (the other two idle).
	BENCH_MODELS=$WORK/models.txt BENCH_TOKEN=$view wrk -t2 -c"$c" -d"$DURATION" --timeout 30s -s "$lua" "${urls[0]}" >"$OUT/one-$c.txt"
	printf '%-8s %-22s %12s %10s %10s\n' "$c" "1 replica" "$(field rps "$OUT/one-$c.txt")" "$(field p99_ms "$OUT/one-$c.txt")" \
		"$(($(field http_errors "$OUT/one-$c.txt") + $(field socket_errors "$OUT/one-$c.txt")))" | tee -a "$OUT/summary.txt"
	# Three replicas, a third of the connections each, at once.
	wrks=()
	for i in 0 1 2; do
		BENCH_MODELS=$WORK/models.txt BENCH_TOKEN=$view wrk -t1 -c"$((c / 3))" -d"$DURATION" --timeout 30s -s "$lua" "${urls[$i]}" >"$OUT/three-$c-$i.txt" &
		wrks+=($!)
	done
	wait "${wrks[@]}"
	total=0 p99=0 errs=0
	for i in 0 1 2; do
		f="$OUT/three-$c-$i.txt"
		total=$(awk -v a="$total" -v b="$(field rps "$f")" 'BEGIN { printf "%.1f", a + b }')
		p99=$(awk -v a="$p99" -v b="$(field p99_ms "$f")" 'BEGIN { print (b > a ? b : a) }')
		errs=$((errs + $(field http_errors "$f") + $(field socket_errors "$f")))
	done
	printf '%-8s %-22s %12s %10s %10s\n' "$c" "3 replicas (sum, max)" "$total" "$p99" "$errs" | tee -a "$OUT/summary.txt"
done
say "results in $OUT"
