#!/usr/bin/env bash
# floor.sh splits the splitter's peak-throughput gap to nginx between Go
# and the libraries the splitter is built on. It measures, with wrk on
# loopback, the peak throughput of six paths to the same two backends
# (10% to the canary): direct to a backend, the splitter
# (bench/traffic/cmd/splitter, as run.sh runs it: behind traffic.Server's
# fast path), the same splitter served by net/http alone (-nethttp: an
# http.Server and httputil.ReverseProxy, as before the fast path), bareproxy scanning
# (traffic.Bare: a Go proxy without net/http's server, transport or
# ReverseProxy), bareproxy with net/http's parsers (-parse), and nginx with
# split_clients (as run.sh configures it). bareproxy is a measuring stick,
# not a router: see traffic.Bare. Each path ROUNDS times, in turn; the
# summary gives each path's median and its share of nginx's.
#
#   bash bench/traffic/floor.sh            # ROUNDS=3 DURATION=10s CONNECTIONS=64 THREADS=2
#   PATHS="splitter nethttp nginx" bash bench/traffic/floor.sh   # some of the paths
#
# wrk and nginx come from Debian (apt-get) when missing. Everything listens
# on 127.0.0.1; nothing is pinned to a core.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/promote-bench-floor.XXXXXX")
pids=()
cleanup() {
	local pid
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT
die() {
	echo "floor.sh: $*" >&2
	exit 1
}

# shellcheck source=../internal/sh/deb.sh
source "$here/../internal/sh/deb.sh"
command -v wrk >/dev/null || install_deb wrk
nginx=$(command -v nginx || { [[ -x /usr/sbin/nginx ]] && echo /usr/sbin/nginx; } || true)
if [[ -z $nginx ]]; then
	install_deb nginx
	nginx=/usr/sbin/nginx
fi

(cd "$root" && go build -o "$WORK/bin/" ./bench/traffic/cmd/...)

# start NAME PROGRAM ARGS... starts a program of bench/traffic/cmd that
# listens on a port of its choosing and sets URL to it.
start() {
	local name=$1 prog=$2 log=$WORK/$1.log i
	shift 2
	"$WORK/bin/$prog" -addr 127.0.0.1:0 "$@" >"$log" 2>&1 &
	pids+=($!)
	URL=""
	for i in $(seq 1 300); do
		URL=$(sed -n 's/^listening on \(http:\/\/127\.0\.0\.1:[0-9]*\)$/\1/p' "$log" | head -n 1)
		[[ -n $URL ]] && return
		kill -0 "${pids[-1]}" 2>/dev/null || { cat "$log" >&2; die "$name exited"; }
		sleep 0.1
	done
	die "$name did not report its address"
}

start stable backend
stable=$URL
start canary backend
canary=$URL
start splitter splitter -stable "$stable" -canary "$canary"
splitter=$URL
start nethttp splitter -nethttp -stable "$stable" -canary "$canary"
nethttp=$URL
start bare bareproxy -stable "${stable#http://}" -canary "${canary#http://}"
bare=$URL
start parsed bareproxy -parse -stable "${stable#http://}" -canary "${canary#http://}"
parsed=$URL
mkdir -p "$WORK/nginx"
chmod 755 "$WORK" "$WORK/nginx" # as root, nginx's workers run as nobody
for try in 1 2 3 4 5; do
	port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	"$WORK/bin/nginxconf" -dir "$WORK/nginx" -listen "127.0.0.1:$port" -stable "${stable#http://}" -canary "${canary#http://}" \
		-canary-percent 10 -workers "$(nproc)" >"$WORK/nginx/nginx.conf"
	"$nginx" -e "$WORK/nginx/error.log" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" >"$WORK/nginx.log" 2>&1 &
	pids+=($!)
	nginx_url=http://127.0.0.1:$port
	for _ in $(seq 1 50); do
		curl -fsS -o /dev/null "$nginx_url/predict" 2>/dev/null && break 2
		sleep 0.1
	done
done
curl -fsS -o /dev/null "$nginx_url/predict" || die "nginx did not start: $(cat "$WORK/nginx/error.log")"

paths=(${PATHS:-direct splitter nethttp bare parsed nginx})
declare -A url=([direct]=$stable [splitter]=$splitter [nethttp]=$nethttp [bare]=$bare [parsed]=$parsed [nginx]=$nginx_url)
for p in "${paths[@]}"; do
	curl -fsS -o /dev/null "${url[$p]}/predict" || die "$p does not answer"
	wrk -t"$THREADS" -c"$CONNECTIONS" -d2s "${url[$p]}/predict" >/dev/null # warm-up
done
echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A got
for r in $(seq 1 "$ROUNDS"); do
	for p in "${paths[@]}"; do
		out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" "${url[$p]}/predict")
		rps=$(awk '/^Requests\/sec/ { print $2 }' <<<"$out")
		grep -q "Non-2xx\|Socket errors" <<<"$out" && echo "$p round $r: errors: $(grep -E 'Non-2xx|Socket errors' <<<"$out")"
		echo "round $r $p $rps req/s"
		got[$p]+="$rps "
	done
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
nginx_median=$(median "${got[nginx]}")
printf '\n| path | req/s (rounds) | median | of nginx |\n|---|---|---:|---:|\n'
for p in "${paths[@]}"; do
	m=$(median "${got[$p]}")
	printf '| %s | %s | %.0f | %.0f%% |\n' "$p" "$(sed 's/ $//; s/ /, /g' <<<"${got[$p]}")" "$m" "$(awk -v a="$m" -v b="$nginx_median" 'BEGIN { print 100 * a / b }')"
done
