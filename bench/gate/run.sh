#!/usr/bin/env bash
# run.sh compares whole-process `promote gate` with conftest on the same
# ten-rule policy and data (bench/gate/testdata, bench/gate/policy/gate.rego),
# then runs the gate's Go benchmarks. It is run by hand, not by CI; see
# BENCHMARKS.md for the figures and how to read them.
#
#   bench/gate/run.sh                 # 200 timed runs of each tool
#   RUNS=500 bench/gate/run.sh
#   CONFTEST=/path/to/conftest bench/gate/run.sh
#
# Settings (environment):
#   RUNS         timed runs of each tool (default 200), alternating
#   WARMUP       untimed runs of each first (default 10)
#   BENCH_COUNT  -count of the Go benchmarks (default 5; medians are printed)
#   CONFTEST     a conftest binary to use instead of installing one
#   TOOLS        where conftest is installed (default
#                ~/.cache/promote-bench/conftest-VERSION-release)
#   WORK         where promote and the timer are built (default: a temp dir)
#   DROP_CACHES  1: also time both binaries read back from disk, after
#                dropping the page cache (needs root; see below)
#
# Both tools are built as their projects release them: promote as `make
# build` does (CGO_ENABLED=0, -trimpath, -ldflags "-s -w"), conftest as its
# .goreleaser.yml does (CGO_ENABLED=0, -ldflags "-s -w"). A default `go
# build` on a machine with a C compiler links cgo and the system's dynamic
# loader, which cost promote 14% of its time and conftest 3% here.
#
# Both binaries are copied into WORK just before they are timed, so that
# both are freshly written files: a binary's page-cache state (written by
# the linker or a copy, or read back from disk after eviction) moved
# promote's time by 10 to 25% on the same machine, and conftest's by up to
# 6%, so the two must be in the same state to be compared.
set -euo pipefail

CONFTEST_VERSION=v0.71.1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
RUNS=${RUNS:-200}
WARMUP=${WARMUP:-10}
BENCH_COUNT=${BENCH_COUNT:-5}
TOOLS=${TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/promote-bench/conftest-$CONFTEST_VERSION-release}
if [[ -z ${WORK:-} ]]; then
	WORK=$(mktemp -d)
	trap 'rm -rf "$WORK"' EXIT
fi
mkdir -p "$WORK"

for tool in go jq; do
	command -v "$tool" >/dev/null || { echo "run.sh: $tool is needed" >&2; exit 2; }
done

echo "== build"
# As `make build` builds it (the Makefile's build target).
(cd "$root" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$WORK/promote" ./cmd/promote && go build -o "$WORK/timeit" ./bench/gate/cmd/timeit)
if [[ -z ${CONFTEST:-} ]]; then
	CONFTEST=$TOOLS/conftest
	if [[ ! -x $CONFTEST ]]; then
		echo "installing conftest $CONFTEST_VERSION into $TOOLS, built as its releases are"
		mkdir -p "$TOOLS"
		CGO_ENABLED=0 GOBIN=$TOOLS go install -trimpath -ldflags "-s -w" "github.com/open-policy-agent/conftest@$CONFTEST_VERSION"
	fi
fi
[[ -x $CONFTEST ]] || { echo "run.sh: CONFTEST=$CONFTEST is not an executable" >&2; exit 2; }
got_version=$(go version -m "$CONFTEST" | awk '$1 == "mod" && $2 == "github.com/open-policy-agent/conftest" { print $3 }')
if [[ $got_version != "$CONFTEST_VERSION" ]]; then
	echo "run.sh: warning: $CONFTEST is conftest ${got_version:-of unknown version}, not $CONFTEST_VERSION" >&2
fi

# Fresh copies of both binaries, in the same page-cache state.
cp "$WORK/promote" "$WORK/promote.fresh" && mv "$WORK/promote.fresh" "$WORK/promote"
cp "$CONFTEST" "$WORK/conftest"
CONFTEST_INSTALLED=$CONFTEST
CONFTEST=$WORK/conftest

echo "promote: $(cd "$root" && git rev-parse --short HEAD 2>/dev/null || echo "no commit") $(go version)"
echo "conftest: $CONFTEST_INSTALLED ($got_version, $("$CONFTEST" --version | tr '\n' ' ')), copied to $CONFTEST"
build_settings() { go version -m "$1" | awk '$1 == "build" && ($2 ~ /^CGO_ENABLED=/ || $2 ~ /^-ldflags=/ || $2 ~ /^-trimpath=/) { printf "%s ", $2 }'; }
echo "build settings: promote $(build_settings "$WORK/promote")| conftest $(build_settings "$CONFTEST")"
echo "machine: $(nproc) cores, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), load $(cut -d' ' -f1-3 /proc/loadavg)"

td=$here/testdata
# The two command lines that are compared, for the allowed case and the
# blocked one; the approvals match those inside conftest-input*.json.
promote_cmd() { echo "$WORK/promote gate --policy $td/policy.yaml --candidate $td/$1 --baseline $td/baseline.json --approved-by alice:ml-lead --requested-by bob"; }
conftest_cmd() { echo "$CONFTEST test --no-color --policy $here/policy $td/$1"; }

# verdict runs a command line and prints its exit code; its output (JSON)
# goes to the file $2.
verdict() {
	local code=0
	$1 >"$2" 2>&1 || code=$?
	echo "$code"
}

echo "== same verdict"
for c in "allowed candidate.json conftest-input.json 0" "blocked candidate-blocked.json conftest-input-blocked.json 1"; do
	read -r name cand input want <<<"$c"
	p_code=$(verdict "$(promote_cmd "$cand") --output json" "$WORK/promote-$name.json")
	c_code=$(verdict "$(conftest_cmd "$input") --output json" "$WORK/conftest-$name.json")
	# The rules each tool blocks on and warns about, by name.
	p_fail=$(jq -c '[.results[] | select(.status == "fail" or .status == "error") | .rule] | sort' "$WORK/promote-$name.json")
	c_fail=$(jq -c '[.[].failures[]?.msg | split(":")[0]] | unique' "$WORK/conftest-$name.json")
	p_warn=$(jq -c '[.results[] | select(.status == "warn") | .rule] | sort' "$WORK/promote-$name.json")
	c_warn=$(jq -c '[.[].warnings[]?.msg | split(":")[0]] | unique' "$WORK/conftest-$name.json")
	printf '%-8s promote exit %s fail %s warn %s\n' "$name" "$p_code" "$p_fail" "$p_warn"
	printf '%-8s conftest exit %s fail %s warn %s\n' "" "$c_code" "$c_fail" "$c_warn"
	if [[ $p_code != "$want" || $c_code != "$want" || $p_fail != "$c_fail" || $p_warn != "$c_warn" ]]; then
		echo "run.sh: the tools disagree on the $name case (want exit $want from both, the same rules)" >&2
		exit 1
	fi
done

whole_process() {
	echo "== whole process, allowed case, $1: $RUNS runs each, alternating ($WARMUP warm-up)"
	echo "promote:  $(promote_cmd candidate.json)"
	echo "conftest: $(conftest_cmd conftest-input.json)"
	"$WORK/timeit" -n "$RUNS" -warmup "$WARMUP" \
		-a "$(promote_cmd candidate.json)" -a-name promote \
		-b "$(conftest_cmd conftest-input.json)" -b-name conftest
}
whole_process "both binaries freshly written"
if [[ ${DROP_CACHES:-0} == 1 ]]; then
	sync
	if echo 1 >/proc/sys/vm/drop_caches 2>/dev/null; then
		whole_process "both binaries read back from disk"
	else
		echo "run.sh: DROP_CACHES=1 needs root (writing /proc/sys/vm/drop_caches); skipped" >&2
	fi
fi

echo "== in process: go test -run '^\$' -bench . -benchmem -count $BENCH_COUNT ./bench/gate/"
(cd "$root" && go test -run '^$' -bench . -benchmem -count "$BENCH_COUNT" ./bench/gate/) | tee "$WORK/bench.txt"
echo "-- medians of $BENCH_COUNT"
awk '/^Benchmark/ { name = $1; ns[name] = ns[name] " " $3; allocs[name] = $(NF-1) }
	END {
		for (name in ns) {
			n = split(substr(ns[name], 2), v, " ")
			for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
			med = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
			printf "%-32s %12.0f ns/op %8s allocs/op\n", name, med, allocs[name]
		}
	}' "$WORK/bench.txt" | sort
