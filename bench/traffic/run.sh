#!/usr/bin/env bash
# run.sh measures Promote's traffic splitter as a router, on loopback, along
# three paths to the same model backend: direct, through the splitter
# (bench/traffic/cmd/splitter: internal/traffic's Splitter with its default
# configuration behind a traffic.Server, whose fast path serves the plain
# requests as promote serve's agent does, 10% to a canary backend, metrics in a Prometheus registry,
# GOGC as cmd/promote sets it with cli.TuneGC), and through nginx splitting
# 10%/90% with split_clients (Debian's package, configured by
# bench/traffic/nginx.conf.tmpl). For each path it measures
#   - the latency at a fixed rate (RATE, 1,000 requests/s): p50 and p99 from
#     bench/traffic/cmd/load, an open-loop generator, since wrk cannot send
#     at a fixed rate (it counts a stalled server's held-back requests from
#     when they were due, and not its own timer lateness: see traffic.Load);
#     the added latency of a router is its figure minus the direct path's;
#   - the peak throughput: wrk with THREADS threads and CONNECTIONS
#     connections, and the CPU time the router spends per request.
# Every measurement is run RUNS times, the paths taking turns in a rotating
# order; the summary shows medians. It is run by hand, not by CI; see
# BENCHMARKS.md for the figures and how to read them.
#
#   bash bench/traffic/run.sh
#   DURATION=10s RUNS=5 bash bench/traffic/run.sh
#
# Settings (environment):
#   DURATION       length of each measured run, both kinds (default 15s)
#   RUNS           runs of each measurement on each path (default 3)
#   RATE           requests/s of the latency runs (default 1000)
#   CONNECTIONS    wrk connections of the peak runs (default 64)
#   THREADS        wrk threads (default 2)
#   LOAD_CONNS     connections the latency runs spread their requests over
#                  (default 16)
#   WARMUP         untimed load before each latency run, and before the
#                  first peak run of each path (default 2s)
#   BACKEND_DELAY  the backends' time to answer (default 0: at once)
#   PROFILE        1 has the splitter write a CPU profile of the whole
#                  benchmark to OUT/splitter.cpu.pprof (default 0)
#   OUT            where the raw results go (default
#                  bench/traffic/results/<UTC time>)
#
# Everything listens on 127.0.0.1 only. wrk and nginx come from Debian
# (apt-get install) when missing; nginx's own service is never started: the
# nginx here runs in the foreground with a configuration, pid file and logs
# in a temporary directory. The backends, the splitter and nginx (with as
# many workers as cores) share the machine's cores with wrk and the load
# generator; nothing is pinned to a core.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
DURATION=${DURATION:-15s}
RUNS=${RUNS:-3}
RATE=${RATE:-1000}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
LOAD_CONNS=${LOAD_CONNS:-16}
WARMUP=${WARMUP:-2s}
BACKEND_DELAY=${BACKEND_DELAY:-0s}
PROFILE=${PROFILE:-0}
OUT=${OUT:-$here/results/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/promote-bench-traffic.XXXXXX")

pids=()
cleanup() {
	local pid
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
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

# find_nginx prints nginx's path: it is in /usr/sbin, which a user's PATH
# may lack.
find_nginx() {
	command -v nginx 2>/dev/null && return
	[[ -x /usr/sbin/nginx ]] && echo /usr/sbin/nginx
	return 0
}

for tool in go curl; do
	command -v "$tool" >/dev/null || die "$tool is needed"
done
command -v wrk >/dev/null || install_deb wrk
nginx=$(find_nginx)
if [[ -z $nginx ]]; then
	install_deb nginx
	nginx=$(find_nginx)
	[[ -n $nginx ]] || die "nginx is not installed after apt-get install nginx"
fi

# ---- build

say "build"
(cd "$root" && go build -o "$WORK/bin/" ./bench/traffic/cmd/...)

# ---- the servers

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

# wait_ready polls URL $1 until it answers 200, while process $2 ($3 names
# it, its log is $4) runs.
wait_ready() {
	local i
	for i in $(seq 1 300); do
		curl -fsS -o /dev/null "$1" 2>/dev/null && return
		kill -0 "$2" 2>/dev/null || {
			cat "$4" >&2
			die "$3 exited"
		}
		sleep 0.1
	done
	cat "$4" >&2
	die "$3 did not answer $1 within 30 s"
}

# start_go starts program $2 of bench/traffic/cmd with the arguments after
# it, as $1, and sets URL to the address it reports (it listens on a port
# of its choosing, so none is raced for).
start_go() {
	local name=$1 prog=$2 log=$OUT/$1.log pid i
	shift 2
	"$WORK/bin/$prog" -addr 127.0.0.1:0 "$@" >"$log" 2>&1 &
	pid=$!
	pids+=("$pid")
	URL=""
	for i in $(seq 1 300); do
		URL=$(sed -n 's/^listening on \(http:\/\/127\.0\.0\.1:[0-9]*\)$/\1/p' "$log" | head -n 1)
		[[ -n $URL ]] && break
		kill -0 "$pid" 2>/dev/null || {
			cat "$log" >&2
			die "$name exited"
		}
		sleep 0.1
	done
	[[ -n $URL ]] || die "$name did not report its address"
	wait_ready "$URL/predict" "$pid" "$name" "$log"
	PID=$pid
}

# start_nginx starts nginx on a free port, retrying when another process
# took the port first, and sets URL and PID (the master's).
start_nginx() {
	local dir=$WORK/nginx try port pid
	mkdir -p "$dir"
	chmod 755 "$WORK" "$dir" # as root, nginx's workers run as nobody
	for try in 1 2 3 4 5; do
		port=$(free_port)
		"$WORK/bin/nginxconf" -dir "$dir" -listen "127.0.0.1:$port" -stable "${stable_url#http://}" -canary "${canary_url#http://}" \
			-canary-percent 10 -workers "$(nproc)" >"$dir/nginx.conf"
		cp "$dir/nginx.conf" "$OUT/nginx.conf"
		"$nginx" -t -q -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf" || die "nginx -t rejects $OUT/nginx.conf"
		: >"$dir/error.log"
		"$nginx" -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf" >"$OUT/nginx.log" 2>&1 &
		pid=$!
		URL=http://127.0.0.1:$port
		for _ in $(seq 1 300); do
			if curl -fsS -o /dev/null "$URL/predict" 2>/dev/null; then
				pids+=("$pid")
				PID=$pid
				return
			fi
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		echo "nginx did not start on port $port (try $try):" >&2
		cat "$dir/error.log" >&2
	done
	die "nginx did not start"
}

# ---- measurements

# cpu_ticks prints the CPU time (user + system, in clock ticks) that the
# processes $@ and their live children (nginx's workers) have used.
cpu_ticks() {
	local all=() pid
	for pid in "$@"; do
		all+=("$pid")
		while read -r child; do all+=("$child"); done < <(pgrep -P "$pid" || true)
	done
	(cd /proc && cat $(printf '%s/stat ' "${all[@]}") 2>/dev/null || true) | awk '{ t += $14 + $15 } END { print t + 0 }'
}
ticks_per_second=$(getconf CLK_TCK)

# busy_ticks prints the CPU time the whole machine has spent busy.
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }

# children_seconds prints the CPU time of the children this shell has
# reaped (so, across a run, the load generator's or wrk's) from the output
# of times in $1.
children_seconds() {
	awk 'NR == 2 { split($1, u, "m"); split($2, s, "m"); print u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$1"
}

# measure runs the command $2... with its output in file $1, and sets OTHER
# to the share of the machine's CPU (percent) that went to work other than
# the benchmark's own processes (backends, routers and the command) during
# the run: other sessions' tests, which the figures had to share the
# machine with.
measure() {
	local res=$1 b0 b1 o0 o1
	shift
	b0=$(busy_ticks)
	o0=$(cpu_ticks "${server_pids[@]}")
	local start rc=0
	start=$(date +%s%N)
	times >"$WORK/times0"
	"$@" >"$res" || rc=$?
	times >"$WORK/times1"
	o1=$(cpu_ticks "${server_pids[@]}")
	b1=$(busy_ticks)
	local secs
	secs=$(awk -v ns=$(($(date +%s%N) - start)) 'BEGIN { print ns / 1e9 }')
	OTHER=$(awk -v busy=$((b1 - b0)) -v ours=$((o1 - o0)) -v hz="$ticks_per_second" -v cores="$(nproc)" -v secs="$secs" \
		-v c0="$(children_seconds "$WORK/times0")" -v c1="$(children_seconds "$WORK/times1")" \
		'BEGIN { o = (busy - ours) / hz - (c1 - c0); if (o < 0) o = 0; printf "%.0f", secs ? 100 * o / (cores * secs) : 0 }')
	return "$rc"
}

requests() { curl -fsS "$1$REQUESTS_PATH"; }
REQUESTS_PATH=/-/requests

# field prints the value of key $2 in the RESULT line of file $1.
field() {
	awk -v k="$2" '/^RESULT / { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) v = kv[2] } } END { print v }' "$1"
}

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# latency runs the fixed-rate load against path $1 (run $2).
latency() {
	local path=$1 run=$2 res=$OUT/latency-$1-$2.txt
	measure "$res" "$WORK/bin/load" -url "${url[$path]}/predict" -rate "$RATE" -duration "$DURATION" -conns "$LOAD_CONNS" -warmup "$WARMUP" ||
		die "load against $path failed: $(cat "$res")"
	printf '%-8s run %s: %s other_pct=%s (load %s)\n' "$path" "$run" "$(grep '^RESULT' "$res" | cut -d' ' -f2-)" "$OTHER" "$(loadavg)"
	echo "$path latency run=$run $(grep '^RESULT' "$res" | cut -d' ' -f2-) other_pct=$OTHER" >>"$summary"
}

# peak runs wrk against path $1 (run $2), and notes the CPU its router
# used per request and the share of requests the canary backend answered.
peak() {
	local path=$1 run=$2 res=$OUT/peak-$1-$2.txt s0 c0 s1 c1 t0 t1
	s0=$(requests "$stable_url")
	c0=$(requests "$canary_url")
	t0=$(cpu_ticks ${router_pid[$path]:-})
	measure "$res" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --timeout 10s --latency -s "$here/lua/peak.lua" "${url[$path]}/predict"
	t1=$(cpu_ticks ${router_pid[$path]:-})
	s1=$(requests "$stable_url")
	c1=$(requests "$canary_url")
	local n cpu share
	n=$(field "$res" requests)
	cpu=$(awk -v t=$((t1 - t0)) -v hz="$ticks_per_second" -v n="$n" -v r="${router_pid[$path]:-}" \
		'BEGIN { if (r == "" || !n) print "-"; else printf "%.1f", t / hz * 1e6 / n }')
	share=$(awk -v s=$((s1 - s0)) -v c=$((c1 - c0)) 'BEGIN { printf "%.2f", s + c ? 100 * c / (s + c) : 0 }')
	printf '%-8s run %s: %s cpu_us=%s canary_pct=%s other_pct=%s (load %s)\n' "$path" "$run" "$(grep '^RESULT' "$res" | cut -d' ' -f2-)" \
		"$cpu" "$share" "$OTHER" "$(loadavg)"
	if [[ $(field "$res" http_errors) != 0 || $(field "$res" socket_errors) != 0 ]]; then
		echo "run.sh: warning: $path run $run had errors (see $res)" >&2
	fi
	echo "$path peak run=$run $(grep '^RESULT' "$res" | cut -d' ' -f2-) cpu_us=$cpu canary_pct=$share other_pct=$OTHER" >>"$summary"
}

echo "promote: $(cd "$root" && git rev-parse --short HEAD 2>/dev/null || echo "no commit") ($(go version | cut -d' ' -f3-))"
echo "machine: $(nproc) cores, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(free -g | awk '/^Mem:/ { print $2 }') GB, load $(loadavg)"
echo "wrk: $(wrk --version 2>&1 | head -n 1 | cut -d' ' -f1-2); nginx: $("$nginx" -v 2>&1 | sed 's/^nginx version: //')"
echo "runs: $RUNS of each measurement per path, $DURATION each; latency at $RATE requests/s over $LOAD_CONNS connections" \
	"($WARMUP warm-up); peak: wrk $THREADS threads, $CONNECTIONS connections; backend delay $BACKEND_DELAY"
echo "splitter GOGC: ${GOGC:-400 (cli.TuneGC)}; nothing is pinned: wrk, the load generator, the router and the backends share $(nproc) cores"
echo "results in $OUT"

say "servers"
start_go stable backend -delay "$BACKEND_DELAY"
stable_url=$URL
start_go canary backend -delay "$BACKEND_DELAY"
canary_url=$URL
profile=()
[[ $PROFILE == 1 ]] && profile=(-cpuprofile "$OUT/splitter.cpu.pprof")
start_go splitter splitter -stable "$stable_url" -canary "$canary_url" -weight 0.1 "${profile[@]}"
splitter_url=$URL splitter_pid=$PID
start_nginx
nginx_url=$URL nginx_pid=$PID
echo "backends $stable_url (stable) and $canary_url (canary); splitter $splitter_url; nginx $nginx_url (workers: $(pgrep -P "$nginx_pid" | wc -l))"

server_pids=("${pids[@]}") # the backends, the splitter and nginx's master (its workers are its children)
declare -A url=([direct]=$stable_url [splitter]=$splitter_url [nginx]=$nginx_url)
declare -A router_pid=([splitter]=$splitter_pid [nginx]=$nginx_pid)
paths=(direct splitter nginx)
summary=$OUT/summary.txt
: >"$summary"

say "warm-up: wrk ${WARMUP} on each path"
for path in "${paths[@]}"; do
	wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" "${url[$path]}/predict" >/dev/null
done

for run in $(seq 1 "$RUNS"); do
	# The paths take turns, starting one further each run.
	order=()
	for k in 0 1 2; do order+=("${paths[$(((run - 1 + k) % 3))]}"); done
	say "run $run of $RUNS: latency at $RATE requests/s (${order[*]})"
	for path in "${order[@]}"; do latency "$path" "$run"; done
	say "run $run of $RUNS: peak throughput (${order[*]})"
	for path in "${order[@]}"; do peak "$path" "$run"; done
done

# The splitter's own count of what it routed, from its registry.
say "the splitter's metrics ($splitter_url/-/metrics)"
curl -fsS "$splitter_url/-/metrics" | grep '^promote_traffic_requests_total' | grep -v ' 0$' || true

# ---- summary

# median prints the median of the values of key $3 for path $1, kind $2.
median() {
	awk -v p="$1" -v kind="$2" -v k="$3" '$1 == p && $2 == kind {
			for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k && kv[2] != "-") v[n++] = kv[2] + 0 }
		}
		END {
			if (!n) { print "-"; exit }
			for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
			printf "%g\n", (n % 2) ? v[(n - 1) / 2] : (v[n / 2 - 1] + v[n / 2]) / 2
		}' "$summary"
}
# sum prints the total of key $3 for path $1, kind $2.
sum() {
	awk -v p="$1" -v kind="$2" -v k="$3" '$1 == p && $2 == kind {
			for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) t += kv[2] }
		} END { print t + 0 }' "$summary"
}
ms() { awk -v us="$1" 'BEGIN { if (us == "-") print "-"; else printf "%.3f", us / 1000 }'; }

d50=$(median direct latency p50_us)
d99=$(median direct latency p99_us)
say "summary: medians of $RUNS runs (also in $summary); load $(loadavg)"
printf '%-9s %11s %9s %9s %10s %10s %12s %8s %6s %11s\n' PATH "PEAK REQ/S" "P50 MS" "P99 MS" "+P50 MS" "+P99 MS" "CPU US/REQ" CANARY HELD "OTHER LAT/PK"
for path in "${paths[@]}"; do
	p50=$(median "$path" latency p50_us)
	p99=$(median "$path" latency p99_us)
	if [[ $path == direct ]]; then
		a50=- a99=- canary=-
	else
		a50=$(awk -v a="$p50" -v b="$d50" 'BEGIN { printf "%.3f", (a - b) / 1000 }')
		a99=$(awk -v a="$p99" -v b="$d99" 'BEGIN { printf "%.3f", (a - b) / 1000 }')
		canary=$(awk -v c="$(median "$path" peak canary_pct)" 'BEGIN { printf "%.1f%%", c }')
	fi
	printf '%-9s %11.0f %9s %9s %10s %10s %12s %8s %6s %11s\n' "$path" "$(median "$path" peak rps)" "$(ms "$p50")" "$(ms "$p99")" \
		"$a50" "$a99" "$(median "$path" peak cpu_us)" "$canary" "$(sum "$path" latency held)" \
		"$(median "$path" latency other_pct)%/$(median "$path" peak other_pct)%"
done
echo "P50/P99: latency at $RATE requests/s; +P50/+P99: added to the direct path's; CPU: the router's (nginx: its workers)"
echo "per request at peak; CANARY: the canary backend's share of the requests at peak; HELD: latency-run requests that"
echo "waited for their connection's previous answer (counted from when they were due), over all runs; OTHER: the share of"
echo "the machine's CPU that went to other work than the benchmark's during the latency and the peak runs"

added99=$(awk -v a="$(median splitter latency p99_us)" -v b="$d99" 'BEGIN { printf "%.3f", (a - b) / 1000 }')
ratio=$(awk -v a="$(median splitter peak rps)" -v b="$(median nginx peak rps)" 'BEGIN { printf "%.2f", b ? a / b : 0 }')
verdict() { awk -v ok="$1" 'BEGIN { print (ok ? "holds" : "missed") }'; }
echo
echo "target: the splitter adds at most 1 ms at p99 at 1,000 requests/s: $added99 ms at $RATE requests/s" \
	"— $(verdict "$(awk -v a="$added99" 'BEGIN { print (a <= 1) }')")$([[ $RATE != 1000 ]] && echo " (RATE is not 1000)")"
echo "target: the splitter's peak throughput is at least 80% of nginx's: $ratio" \
	"— $(verdict "$(awk -v r="$ratio" 'BEGIN { print (r >= 0.8) }')")"
