#!/usr/bin/env bash
# run.sh measures Promote's registry server on this machine, on SQLite and
# on PostgreSQL side by side: authenticated status reads and audited
# promotion requests over HTTP with wrk, at a few concurrency levels for a
# fixed time each; then `promote audit verify --local` over a million audit
# events; then the Go benchmarks of bench_test.go. It is run by hand, not by
# CI; see BENCHMARKS.md for the figures and how to read them.
#
#   bash bench/registry/run.sh
#   DURATION=10s CONNS="16 64" STORES=sqlite bash bench/registry/run.sh
#
# Settings (environment):
#   DURATION      length of each wrk run (default 20s)
#   CONNS         wrk connection counts, one run each (default "8 32 128")
#   THREADS       wrk threads (default 2)
#   MODELS        models seeded (default 1000)
#   VERSIONS      versions seeded per model (default 20); the write runs
#                 walk them, three requests (dev, staging, prod) each
#   STORES        "sqlite postgres" (default) or either one
#   AUDIT_EVENTS  events seeded for audit verify (default 1000000; 0 skips)
#   AUDIT_STORES  stores to seed and verify the audit log in (default STORES)
#   VERIFY_RUNS   timed verifications of each store (default 3)
#   GO_BENCH      1 (default) runs the Go benchmarks, 0 skips them
#   OUT           where the results go (default bench/registry/results/<UTC time>)
#
# Every server listens on 127.0.0.1 only. PostgreSQL is a throwaway server in
# a temporary directory (installed from Debian when missing), started like
# .ci/postgres.sh starts CI's, but durable like the SQLite store: fsync and
# full-page writes on, synchronous_commit off, so that either store may lose
# its last transactions on power loss and neither is corrupted. wrk comes
# from Debian (apt-get install wrk) when it is missing.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
DURATION=${DURATION:-20s}
CONNS=${CONNS:-"8 32 128"}
THREADS=${THREADS:-2}
MODELS=${MODELS:-1000}
VERSIONS=${VERSIONS:-20}
STORES=${STORES:-"sqlite postgres"}
AUDIT_EVENTS=${AUDIT_EVENTS:-1000000}
AUDIT_STORES=${AUDIT_STORES:-$STORES}
VERIFY_RUNS=${VERIFY_RUNS:-3}
GO_BENCH=${GO_BENCH:-1}
OUT=${OUT:-$here/results/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/promote-bench-registry.XXXXXX")

server_pid=""
pg_dir=""
pg_bin=""
cleanup() {
	stop_server
	if [[ -n $pg_dir && -f $pg_dir/data/postmaster.pid ]]; then
		as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" stop -m fast -w >/dev/null 2>&1 || true
	fi
	[[ -n $pg_dir ]] && rm -rf "$pg_dir"
	rm -rf "$WORK"
}
trap cleanup EXIT

say() { printf '\n== %s\n' "$*"; }
die() {
	echo "run.sh: $*" >&2
	exit 1
}

# shellcheck source=../internal/sh/deb.sh
source "$here/../internal/sh/deb.sh"

for tool in go curl; do
	command -v "$tool" >/dev/null || die "$tool is needed"
done
command -v wrk >/dev/null || install_deb wrk

# ---- build

say "build"
(cd "$root" && go build -o "$WORK/promote" ./cmd/promote &&
	go build -o "$WORK/seedapi" ./bench/registry/cmd/seedapi &&
	go build -o "$WORK/seedaudit" ./bench/registry/cmd/seedaudit)

# ---- PostgreSQL

as_pg() {
	if [[ $(id -u) != 0 ]]; then
		(cd / && "$@")
	else
		(cd / && runuser -u postgres -- "$@")
	fi
}

find_pg_bin() {
	if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
		dirname "$(readlink -f "$(command -v initdb)")"
		return
	fi
	ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null && return
	local p
	while :; do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
}

# start_postgres starts the throwaway server and sets PG_DSN (its postgres
# database) and PG_PORT.
start_postgres() {
	pg_bin=$(find_pg_bin)
	if [[ -z $pg_bin || ! -x $pg_bin/initdb ]]; then
		install_deb postgresql
		pg_bin=$(find_pg_bin)
	fi
	pg_dir=$(mktemp -d "${TMPDIR:-/tmp}/promote-bench-pg.XXXXXX")
	chmod 700 "$pg_dir"
	[[ $(id -u) == 0 ]] && chown postgres: "$pg_dir"
	as_pg "$pg_bin/initdb" -D "$pg_dir/data" -U postgres --auth=trust --encoding=UTF8 --locale=C >"$pg_dir/initdb.log" 2>&1 ||
		{ cat "$pg_dir/initdb.log" >&2; die "initdb failed"; }
	local try
	for try in 1 2 3 4 5; do
		PG_PORT=$(free_port)
		if as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -s -w \
			-o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $pg_dir -c synchronous_commit=off -c max_connections=100" start; then
			for _ in $(seq 1 300); do
				if "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres; then
					PG_DSN="postgres://postgres@127.0.0.1:$PG_PORT/postgres?sslmode=disable"
					return
				fi
				sleep 0.1
			done
		fi
		as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" stop -m immediate -w >/dev/null 2>&1 || true
		echo "PostgreSQL did not start on port $PG_PORT (try $try)" >&2
	done
	cat "$pg_dir/server.log" >&2
	die "PostgreSQL did not start"
}

pg_sql() { "$pg_bin/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -At -c "$1"; }

# pg_database creates database $1 and prints its DSN.
pg_database() {
	pg_sql "CREATE DATABASE $1" >/dev/null
	echo "postgres://postgres@127.0.0.1:$PG_PORT/$1?sslmode=disable"
}

# ---- the server

# store_flags prints the flags naming store $1's data (a directory, or a
# database DSN).
store_flags() {
	case $1 in
	sqlite) echo "--data $WORK/sqlite-data" ;;
	postgres) echo "--database $REG_DSN" ;;
	esac
}

start_server() {
	local store=$1 log=$OUT/serve-$1.log
	# shellcheck disable=SC2046
	"$WORK/promote" serve --pipeline "$WORK/ws/promote.yaml" --addr 127.0.0.1:0 $(store_flags "$store") 2>"$log" &
	server_pid=$!
	# The port is the one the server reports; then /readyz must answer.
	local url="" i
	for i in $(seq 1 300); do
		url=$(sed -n 's/^promote serving on \(http:\/\/127\.0\.0\.1:[0-9]*\) .*/\1/p' "$log" | head -n 1)
		[[ -n $url ]] && break
		kill -0 "$server_pid" 2>/dev/null || { cat "$log" >&2; die "promote serve exited"; }
		sleep 0.1
	done
	[[ -n $url ]] || die "promote serve did not report its address"
	for i in $(seq 1 300); do
		if curl -fsS -o /dev/null "$url/readyz" 2>/dev/null; then
			SERVER_URL=$url
			return
		fi
		kill -0 "$server_pid" 2>/dev/null || { cat "$log" >&2; die "promote serve exited"; }
		sleep 0.1
	done
	die "$url/readyz did not answer 200"
}

stop_server() {
	if [[ -n $server_pid ]]; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
		server_pid=""
	fi
}

token() { # store name role
	# shellcheck disable=SC2046
	"$WORK/promote" token create --pipeline "$WORK/ws/promote.yaml" $(store_flags "$1") --name "$2" --role "$3" --quiet
}

# cpu_ticks prints the CPU time (user + system, in clock ticks) that the
# server has used, and PostgreSQL's processes when it is the store: the
# postmaster with the backends it has reaped, and its live children.
cpu_ticks() {
	local pids=$server_pid pm=""
	if [[ $1 == postgres ]]; then
		pm=$(head -n 1 "$pg_dir/data/postmaster.pid")
		pids="$pids $(pgrep -P "$pm" | tr '\n' ' ')"
	fi
	# A process may exit between pgrep and cat: its time then moves to
	# the postmaster's reaped children, read last.
	# shellcheck disable=SC2086
	{
		(cd /proc && cat $(printf '%s/stat ' $pids) 2>/dev/null || true) | awk '{ t += $14 + $15 } END { print t + 0 }'
		if [[ -n $pm ]]; then
			awk '{ print $14 + $15 + $16 + $17 }' "/proc/$pm/stat"
		fi
	} | awk '{ t += $1 } END { print t + 0 }'
}
ticks_per_second=$(getconf CLK_TCK)

# busy_ticks prints the CPU time the whole machine has spent busy.
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }

# children_seconds prints the CPU time of the children this shell has
# reaped (so, across a wrk run, wrk's own) from the output of times in $1.
children_seconds() {
	awk 'NR == 2 { split($1, u, "m"); split($2, s, "m"); print u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$1"
}

# measure runs wrk ($1: store, $2: kind, $3: connections, $4: script) and
# appends its RESULT line to the summary with the CPU the server (and the
# database) used per request, and the share of the machine's CPU that
# neither they nor wrk used during the run (other work on the machine,
# which the figures then had to share it with).
measure() {
	local store=$1 kind=$2 c=$3 script=$4 res=$OUT/$2-$1-c$3.txt before after busy0 busy1
	before=$(cpu_ticks "$store")
	busy0=$(busy_ticks)
	times >"$WORK/times0"
	wrk -t"$THREADS" -c"$c" -d"$DURATION" --timeout 30s --latency -s "$here/lua/$script" "$SERVER_URL" >"$res"
	times >"$WORK/times1"
	busy1=$(busy_ticks)
	after=$(cpu_ticks "$store")
	grep -E '^(RESULT|  Latency|Requests/sec)' "$res"
	local cpu other
	cpu=$(awk -v t=$((after - before)) -v hz="$ticks_per_second" -v n="$(field "$res" requests)" 'BEGIN { printf "%.3f", n ? t / hz * 1000 / n : 0 }')
	other=$(awk -v busy=$((busy1 - busy0)) -v server=$((after - before)) -v hz="$ticks_per_second" -v cores="$(nproc)" \
		-v wrk0="$(children_seconds "$WORK/times0")" -v wrk1="$(children_seconds "$WORK/times1")" -v secs="$(field "$res" seconds)" \
		'BEGIN { o = (busy - server) / hz - (wrk1 - wrk0); if (o < 0) o = 0; printf "%.0f", 100 * o / (cores * secs) }')
	echo "CPU per request: $cpu ms (server$([[ $store == postgres ]] && echo " and PostgreSQL")); other work on the machine: $other% of its CPU"
	echo "$store $kind c=$c $(grep '^RESULT' "$res" | cut -d' ' -f2-) cpu_ms=$cpu other_pct=$other" >>"$summary"
}

# field prints the value of key $2 in the RESULT line of file $1.
field() {
	awk -v k="$2" '/^RESULT / { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) v = kv[2] } } END { print v }' "$1"
}

# ---- measurements

echo "promote: $(cd "$root" && git rev-parse --short HEAD 2>/dev/null || echo "no commit") ($(go version | cut -d' ' -f3-))"
sqlite_version=$(grep -h -m1 -o 'SQLITE_VERSION = "[0-9.]*"' "$(cd "$root" && go list -m -f '{{.Dir}}' modernc.org/sqlite)"/lib/sqlite.go 2>/dev/null | grep -o '[0-9.]*' || echo "?")
sqlite_module=$(cd "$root" && go list -m -f '{{.Version}}' modernc.org/sqlite)
echo "machine: $(nproc) cores, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(free -g | awk '/^Mem:/ { print $2 }') GB, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "SQLite $sqlite_version (modernc.org/sqlite $sqlite_module); wrk: $(wrk --version 2>&1 | head -n 1 | cut -d' ' -f1-2)"
echo "duration $DURATION per run; connections $CONNS; $THREADS wrk threads; $MODELS models x $VERSIONS versions"
echo "results in $OUT"

mkdir -p "$WORK/ws"
cp -r "$here/testdata/." "$WORK/ws/"

if [[ " $STORES $AUDIT_STORES " == *" postgres "* ]]; then
	say "PostgreSQL"
	start_postgres
	pg_version=$("$pg_bin/postgres" --version | awk '{ print $3 }')
	echo "PostgreSQL $pg_version on 127.0.0.1:$PG_PORT (synchronous_commit=off, fsync on)"
fi

summary=$OUT/summary.txt
: >"$summary"

for store in $STORES; do
	say "$store: tokens, server, seeding"
	if [[ $store == postgres ]]; then
		REG_DSN=$(pg_database promote_registry)
	fi
	submit_token=$(token "$store" ci submitter)
	view_token=$(token "$store" dashboard viewer)
	start_server "$store"
	echo "serving at $SERVER_URL"
	"$WORK/seedapi" -url "$SERVER_URL" -token "$submit_token" -models "$MODELS" -versions "$VERSIONS" -out "$WORK/models.txt" | tee "$OUT/seed-$store.txt"

	# Writes first, each run starting at the version after the last one the
	# run before it requested; then reads, of the statuses the writes left.
	from=1
	for c in $CONNS; do
		say "$store: promotion requests, $c connections, $DURATION"
		BENCH_MODELS=$WORK/models.txt BENCH_TOKEN=$submit_token BENCH_THREADS=$THREADS BENCH_FROM=$from BENCH_VERSIONS=$VERSIONS \
			measure "$store" write "$c" promote.lua
		res=$OUT/write-$store-c$c.txt
		if [[ $(field "$res" exhausted) != 0 ]]; then
			echo "run.sh: warning: the run asked for versions past $VERSIONS (raise VERSIONS): those requests were 404s" >&2
		fi
		from=$(($(field "$res" last_version) + 1))
	done
	for c in $CONNS; do
		say "$store: status reads, $c connections, $DURATION"
		BENCH_MODELS=$WORK/models.txt BENCH_TOKEN=$view_token measure "$store" read "$c" status.lua
	done
	stop_server
done

# ---- audit verify

if [[ $AUDIT_EVENTS -gt 0 ]]; then
	for store in $AUDIT_STORES; do
		say "$store: audit verify over $AUDIT_EVENTS events"
		if [[ $store == postgres ]]; then
			dsn=$(pg_database promote_audit)
			flags=(--database "$dsn")
			seed_flags=(-database "$dsn")
		else
			flags=(--data "$WORK/audit-data")
			seed_flags=(-data "$WORK/audit-data")
		fi
		"$WORK/seedaudit" "${seed_flags[@]}" -events "$AUDIT_EVENTS" | tee "$OUT/seedaudit-$store.txt"
		times=()
		for i in $(seq 1 "$VERIFY_RUNS"); do
			start=$(date +%s.%N)
			"$WORK/promote" audit verify --local "${flags[@]}" >"$OUT/verify-$store.txt"
			end=$(date +%s.%N)
			times+=("$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')")
		done
		cat "$OUT/verify-$store.txt"
		echo "verify seconds: ${times[*]}"
		echo "$store verify events=$AUDIT_EVENTS seconds=$(printf '%s\n' "${times[@]}" | sort -n | paste -sd, -)" >>"$summary"
		if [[ $store == sqlite ]]; then
			echo "SQLite file: $(du -sh "$WORK/audit-data" | cut -f1)"
			rm -rf "$WORK/audit-data"
		fi
	done
fi

# ---- Go benchmarks

if [[ $GO_BENCH == 1 ]]; then
	say "Go benchmarks (bench_test.go)"
	(cd "$root" && go test -run '^$' -bench . -benchmem -count 1 ./bench/registry/) | tee "$OUT/gobench.txt"
fi

# ---- summary

say "summary (also in $summary)"
printf '%-9s %-6s %5s %9s %9s %8s %8s %7s %6s  %s\n' STORE KIND CONNS "REQ/S" "OK/S" "P50 MS" "P99 MS" "CPU MS" "OTHER" "NOTES"
while read -r store kind c rest; do
	[[ $kind == verify ]] && continue
	declare -A f=()
	for kv in $rest; do f[${kv%%=*}]=${kv#*=}; done
	if [[ $kind == write ]]; then
		ok=${f[created_rps]}
		notes="201: ${f[created]} (succeeded ${f[succeeded]}, awaiting ${f[awaiting_approval]}, blocked ${f[blocked]}, other ${f[other_state]}); 4xx ${f[status_4xx]}, 5xx ${f[status_5xx]}, socket errors ${f[socket_errors]}"
	else
		ok=$(awk -v r="${f[rps]}" -v ok="${f[ok]}" -v n="${f[requests]}" 'BEGIN { printf "%.1f", n ? r * ok / n : 0 }')
		notes="http errors ${f[http_errors]}, socket errors ${f[socket_errors]}"
	fi
	printf '%-9s %-6s %5s %9s %9s %8s %8s %7s %6s  %s\n' "$store" "$kind" "${c#c=}" "${f[rps]}" "$ok" "${f[p50_ms]}" "${f[p99_ms]}" "${f[cpu_ms]}" "${f[other_pct]}%" "$notes"
	unset f
done <"$summary"
grep ' verify ' "$summary" | sed 's/^/audit: /' || true
