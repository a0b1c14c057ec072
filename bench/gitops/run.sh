#!/usr/bin/env bash
# run.sh measures Promote's GitOps path on the repository `promote init`
# writes: rendering its three overlays (dev, staging, prod) in process
# against three runs of the kustomize CLI, side by side; then an approved
# promotion's way to a pushed commit (gitops.Writer: pin, render, commit,
# push to a local bare repository). It is run by hand, not by CI; see
# BENCHMARKS.md for the figures and how to read them.
#
#   bash bench/gitops/run.sh               # 30 timed runs of the CLI in 5 rounds
#   RUNS=100 BENCH_COUNT=10 bash bench/gitops/run.sh
#   KUSTOMIZE=/path/to/kustomize bash bench/gitops/run.sh
#
# Settings (environment):
#   RUNS         timed runs of the three `kustomize build`s (default 30),
#                spread over BENCH_COUNT rounds
#   WARMUP       untimed runs of them at the start of each round (default 3)
#   BENCH_COUNT  rounds of the render comparison, each with one run of the
#                Go benchmark, and -count of the other Go benchmarks
#                (default 5; medians are printed)
#   KUSTOMIZE    a kustomize binary to use instead of installing one
#   TOOLS        where kustomize is installed (default
#                ~/.cache/promote-bench/kustomize-v5.8.2)
#   WORK         where promote and the timer are built and the repository
#                is scaffolded (default: a temp dir)
#
# Targets (from the issue): rendering in process at least 3x faster than
# the CLI; approval to pushed commit, median at most 100 ms.
set -euo pipefail

KUSTOMIZE_VERSION=v5.8.2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
RUNS=${RUNS:-30}
WARMUP=${WARMUP:-3}
BENCH_COUNT=${BENCH_COUNT:-5}
TOOLS=${TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/promote-bench/kustomize-$KUSTOMIZE_VERSION}
if [[ -z ${WORK:-} ]]; then
	WORK=$(mktemp -d)
	trap 'rm -rf "$WORK"' EXIT
fi
mkdir -p "$WORK"

# The benchmarks whose operation ends in a pushed commit, each held to the
# 100 ms target.
PUSH_BENCHES=(BenchmarkWriterPromote BenchmarkApprovalToPush)
PUSH_TARGET_MS=100
RENDER_TARGET_RATIO=3

for tool in go git; do
	command -v "$tool" >/dev/null || { echo "run.sh: $tool is needed" >&2; exit 2; }
done

load() { cut -d' ' -f1-3 /proc/loadavg; }

echo "== build"
(cd "$root" && go build -o "$WORK/promote" ./cmd/promote && go build -o "$WORK/timeseq" ./bench/gitops/cmd/timeseq)
if [[ -z ${KUSTOMIZE:-} ]]; then
	KUSTOMIZE=$TOOLS/kustomize
	if [[ ! -x $KUSTOMIZE ]]; then
		echo "installing kustomize $KUSTOMIZE_VERSION into $TOOLS"
		mkdir -p "$TOOLS"
		GOBIN=$TOOLS go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
	fi
fi
[[ -x $KUSTOMIZE ]] || { echo "run.sh: KUSTOMIZE=$KUSTOMIZE is not an executable" >&2; exit 2; }
KUSTOMIZE=$(cd "$(dirname "$KUSTOMIZE")" && pwd)/$(basename "$KUSTOMIZE")
got_version=$(go version -m "$KUSTOMIZE" | awk '$1 == "mod" && $2 == "sigs.k8s.io/kustomize/kustomize/v5" { print $3 }')
if [[ $got_version != "$KUSTOMIZE_VERSION" ]]; then
	echo "run.sh: warning: $KUSTOMIZE is kustomize ${got_version:-of unknown version}, not $KUSTOMIZE_VERSION" >&2
fi
cli_api=$(go version -m "$KUSTOMIZE" | awk '$1 == "dep" && $2 == "sigs.k8s.io/kustomize/api" { print $3 }')
our_api=$(cd "$root" && go list -m -f '{{.Version}}' sigs.k8s.io/kustomize/api)

echo "promote: $(cd "$root" && git rev-parse --short HEAD 2>/dev/null || echo "no commit") $(go version)"
echo "kustomize: $KUSTOMIZE (${got_version:-?}, kustomize/api ${cli_api:-?}); in process: kustomize/api $our_api"
echo "git: $(git --version)"
echo "machine: $(nproc) cores, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), load $(load)"

echo "== scaffold: promote init"
repo=$WORK/repo
"$WORK/promote" init "$repo" >"$WORK/init.txt"
overlays=$repo/deploy/overlays
for env in dev staging prod; do
	[[ -f $overlays/$env/kustomization.yaml ]] || { echo "run.sh: promote init wrote no $overlays/$env/kustomization.yaml" >&2; exit 1; }
done
echo "$repo: $(find "$repo" -type f | wc -l) files, overlays dev, staging, prod"

# The harness's own checks: the scaffold renders, the writer pushes, and the
# in-process render prints what this kustomize prints, byte for byte.
echo "== same output: go test -run '^(TestHarness|TestRenderMatchesCLI)\$' ./bench/gitops/"
if ! (cd "$root" && BENCH_KUSTOMIZE=$KUSTOMIZE go test -count 1 -v -run '^(TestHarness|TestRenderMatchesCLI)$' ./bench/gitops/) >"$WORK/harness.txt" 2>&1; then
	cat "$WORK/harness.txt" >&2
	echo "run.sh: the harness's tests failed" >&2
	exit 1
fi
grep -E '^ *--- |^ok' "$WORK/harness.txt"

# gobench runs Go benchmark $1 with -count BENCH_COUNT into $WORK/$1.txt.
gobench() {
	echo "go test -run '^\$' -bench '^$1\$' -benchmem -count $BENCH_COUNT ./bench/gitops/ (load $(load))"
	(cd "$root" && go test -run '^$' -bench "^$1\$" -benchmem -count "$BENCH_COUNT" ./bench/gitops/) | tee "$WORK/$1.txt"
}

# medians prints, for benchmark $1 in $WORK/$1.txt, the median over the
# -count runs of: median-ns/op (each run's median operation), p90-ns/op
# and ns/op (each run's mean), in milliseconds.
medians() {
	awk -v name="$1" '
		$1 ~ "^" name "(-[0-9]+)?$" {
			for (i = 3; i < NF; i += 2) v[$(i + 1)] = v[$(i + 1)] " " $i
		}
		function med(s,   n, a, i, j, t) {
			n = split(substr(s, 2), a, " ")
			if (n == 0) return -1
			for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
			return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
		}
		END { printf "%.3f %.3f %.3f\n", med(v["median-ns/op"]) / 1e6, med(v["p90-ns/op"]) / 1e6, med(v["ns/op"]) / 1e6 }
	' "$WORK/$1.txt"
}

# The CLI and the in-process render are measured in BENCH_COUNT rounds,
# each of RUNS/BENCH_COUNT runs of the three builds and one -count 1 run of
# the Go benchmark, alternating which goes first, so that both see the same
# machine when other work comes and goes.
rounds=$BENCH_COUNT
per_round=$(((RUNS + rounds - 1) / rounds))
render=BenchmarkRenderThreeOverlays
: >"$WORK/cli-raw.txt"
: >"$WORK/$render.txt"
cli_round() {
	"$WORK/timeseq" -n "$per_round" -warmup "$WARMUP" -raw "$WORK/cli-raw.txt" \
		-c "$KUSTOMIZE build $overlays/dev" \
		-c "$KUSTOMIZE build $overlays/staging" \
		-c "$KUSTOMIZE build $overlays/prod" | tee "$WORK/cli-$1.txt"
}
inproc_round() {
	(cd "$root" && go test -run '^$' -bench "^$render\$" -benchmem -count 1 ./bench/gitops/) | grep '^Benchmark' | tee -a "$WORK/$render.txt"
}
echo "== render the three overlays: three \`kustomize build\`s against overlay.RenderAll in process"
echo "$rounds rounds, each $per_round runs of the CLI's three builds ($WARMUP warm-up) and go test -run '^\$' -bench '^$render\$' -benchmem -count 1 ./bench/gitops/"
(cd "$root" && go test -c -o /dev/null ./bench/gitops/) # compile once, outside the rounds
round_rows=()
for r in $(seq 1 "$rounds"); do
	echo "-- round $r of $rounds (load $(load))"
	if ((r % 2 == 1)); then
		cli_round "$r"
		inproc_round
	else
		inproc_round
		cli_round "$r"
	fi
	c=$(awk '/^RESULT / { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "median_ms") print kv[2] } }' "$WORK/cli-$r.txt")
	i=$(tail -n 1 "$WORK/$render.txt" | awk '{ for (i = 3; i < NF; i += 2) if ($(i + 1) == "median-ns/op") printf "%.3f", $i / 1e6 }')
	round_rows+=("$r $c $i $(load | cut -d' ' -f1)")
done
cli_n=$(wc -l <"$WORK/cli-raw.txt")
read -r cli_ms cli_p90 <<<"$(sort -n "$WORK/cli-raw.txt" | awk '{ v[NR] = $1 } END {
	med = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
	r = int(0.9 * NR); if (r < 0.9 * NR) r++; if (r < 1) r = 1
	printf "%.3f %.3f\n", med, v[r]
}')"
read -r inproc_ms inproc_p90 inproc_mean <<<"$(medians "$render")"

echo "== approval to pushed commit"
for b in "${PUSH_BENCHES[@]}"; do
	gobench "$b"
done

echo
echo "== summary (load $(load))"
echo "render dev, staging and prod, by round (median ms):"
printf '  %5s %12s %12s %7s %6s\n' round "CLI x3" "in process" ratio load
for row in "${round_rows[@]}"; do
	read -r r c i l <<<"$row"
	awk -v r="$r" -v c="$c" -v i="$i" -v l="$l" 'BEGIN { printf "  %5s %12.3f %12.3f %6.2fx %6s\n", r, c, i, c / i, l }'
done
printf '%-50s %9s  %s\n' "render dev, staging and prod" "median" ""
printf '%-50s %9s ms  %s\n' "kustomize build x3 (CLI $got_version, $cli_n runs)" "$cli_ms" "(p90 $cli_p90 ms)"
printf '%-50s %9s ms  %s\n' "in process, overlay.RenderAll (median of $rounds)" "$inproc_ms" "(p90 $inproc_p90 ms, mean $inproc_mean ms)"
awk -v cli="$cli_ms" -v in_ms="$inproc_ms" -v target="$RENDER_TARGET_RATIO" 'BEGIN {
	r = cli / in_ms
	printf "%-50s %9.2fx     target >= %sx: %s\n", "ratio CLI / in process", r, target, (r >= target) ? "holds" : "missed"
}'
echo
printf '%-50s %9s  %s\n' "approval to pushed commit (local bare remote)" "median" ""
for b in "${PUSH_BENCHES[@]}"; do
	read -r med p90 mean <<<"$(medians "$b")"
	awk -v name="$b (median of $BENCH_COUNT)" -v med="$med" -v p90="$p90" -v mean="$mean" -v target="$PUSH_TARGET_MS" 'BEGIN {
		printf "%-50s %9.3f ms  (p90 %.3f ms, mean %.3f ms)  target <= %s ms: %s\n", name, med, p90, mean, target, (med <= target) ? "holds" : "missed"
	}'
done
