#!/usr/bin/env bash
# scale.sh times every read path of Promote on a small store and on a large
# one, side by side: it builds both through the registry service
# (cmd/seedscale: models, versions, promotions in every state, rollouts
# with samples, holds, audit events), serves each with `promote serve` on
# SQLite, and times each API GET route, each web UI page, /metrics and
# /readyz with cmd/readtime, then `promote status MODEL`. A path whose time
# grows with the store rather than with its answer is a scale bug. With
# BASE, the large store is also served by promote built at that revision,
# for a before/after of a change: the stores are then seeded at BASE's
# schema, and the current promote upgrades its copy in place. Run by hand,
# not by CI; see BENCHMARKS.md ("Registry", 2026-11-27: scale).
#
#   bash bench/registry/scale.sh
#   BASE=HEAD~1 MODELS=100 VERSIONS=40 N=10 bash bench/registry/scale.sh
#
# Settings (environment):
#   MODELS, VERSIONS, ROLLING, SAMPLES, AUDIT  the large store (default 300
#                 models of 67 versions, 30 canaries in progress, 20 samples
#                 a rollout, 100000 audit events)
#   N             requests per path and store (default 20)
#   BASE          a git revision to compare with (default none)
#   KEEP          a directory to keep (and reuse) the seeded stores in;
#                 a store is left at the newest schema that opened it (with
#                 BASE, BASE's for large, the current one for small), which
#                 an older promote refuses: give a BASE run a KEEP of its
#                 own, and reseed (remove the store) when it is refused
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
MODELS=${MODELS:-300}
VERSIONS=${VERSIONS:-67}
ROLLING=${ROLLING:-30}
SAMPLES=${SAMPLES:-20}
AUDIT=${AUDIT:-100000}
N=${N:-20}
BASE=${BASE:-}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/promote-bench-scale.XXXXXX")
DATA=${KEEP:-$WORK}
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	if [[ -n $BASE ]]; then git -C "$root" worktree remove --force "$WORK/base" 2>/dev/null || true; fi
	rm -rf "$WORK"
}
trap cleanup EXIT
say() { printf '== %s\n' "$*" >&2; }

say "building"
(cd "$root" && go build -o "$WORK/" ./cmd/promote ./bench/registry/cmd/seedscale ./bench/registry/cmd/readtime)
mkdir -p "$WORK/ws" "$DATA"
cp -r "$here/testdata/policies" "$here/testdata/scale.yaml" "$WORK/ws/"
pipeline=$WORK/ws/scale.yaml
seeder=$WORK/seedscale
if [[ -n $BASE ]]; then
	# BASE's promote, and this benchmark's seeder built against BASE's
	# schema, so that BASE's promote can open the stores it seeds.
	say "building promote at $BASE"
	git -C "$root" worktree add -q --detach "$WORK/base" "$BASE"
	rm -rf "$WORK/base/bench/registry"
	cp -r "$here" "$WORK/base/bench/registry"
	mkdir -p "$WORK/base-bin"
	(cd "$WORK/base" && go build -o "$WORK/base-bin/" ./cmd/promote ./bench/registry/cmd/seedscale)
	seeder=$WORK/base-bin/seedscale
fi

seed() { # name models versions rolling audit
	if [[ -f $DATA/$1/promote.db ]]; then
		say "$1: reusing $DATA/$1"
		return
	fi
	say "$1: seeding $2 models of $3 versions"
	"$seeder" -data "$DATA/$1" -models "$2" -versions "$3" -rolling "$4" -samples "$SAMPLES" -audit "$5" >&2
}
seed small 10 12 3 0
seed large "$MODELS" "$VERSIONS" "$ROLLING" "$AUDIT"

serve() { # name store promote: sets the variable name to URL,TOKEN
	local token log=$WORK/serve-$1.log url="" i
	token=$("$3" token create --pipeline "$pipeline" --data "$DATA/$2" --name "bench-$1" --role admin --quiet)
	"$3" serve --pipeline "$pipeline" --data "$DATA/$2" --addr 127.0.0.1:0 >/dev/null 2>"$log" &
	pids+=($!)
	for i in $(seq 1 300); do
		url=$(sed -n 's/^promote serving on \(http:\/\/127\.0\.0\.1:[0-9]*\) .*/\1/p' "$log" | head -n 1)
		[[ -n $url ]] && break
		sleep 0.1
	done
	[[ -n $url ]] || { cat "$log" >&2; exit 1; }
	printf -v "$1" '%s,%s' "$url" "$token"
}
servers=(small large)
if [[ -n $BASE ]]; then
	# The current promote upgrades its own copy of the large store.
	rm -rf "$DATA/large-current"
	cp -r "$DATA/large" "$DATA/large-current"
	rm -f "$DATA/large-current/serve.lock"
	serve large_base large "$WORK/base-bin/promote"
	serve small small "$WORK/promote"
	serve large large-current "$WORK/promote"
	servers=(small large_base large)
else
	serve small small "$WORK/promote"
	serve large large "$WORK/promote"
fi
args=()
for s in "${servers[@]}"; do args+=("$s=${!s}"); done
"$WORK/readtime" -paths "$here/testdata/scale-paths.txt" -n "$N" "${args[@]}"

say "promote status (median of $N)"
for s in "${servers[@]}"; do
	url=${!s%%,*} token=${!s#*,}
	for i in $(seq 1 "$N"); do
		t0=$(date +%s%N)
		PROMOTE_TOKEN=$token "$WORK/promote" status model-00001 --server "$url" >/dev/null
		echo $(( $(date +%s%N) - t0 ))
	done | sort -n | awk -v s="$s" '{a[NR]=$1} END {printf "%-6s promote status model-00001: %.1fms\n", s, a[int((NR+1)/2)]/1e6}'
done
