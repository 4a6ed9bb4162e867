#!/bin/bash
# Runs relay_bench against a built pam-ion-relay at 1,000, 10,000 and 50,000
# pending logins, each with the memory store, the Redis store (one relay)
# and the Redis store with two relays, and prints one table (see README.md).
# Builds nothing.
#
#   tests/bench/run-relay-bench.sh [relay_bench options...]
#
# Environment: BUILD_DIR (default: <source>/build), RELAY (the daemon),
# BENCH (the relay_bench binary), SIZES (default 1000,10000,50000),
# SETUPS (default memory,redis,redis:2), REDIS_SERVER (default
# /usr/bin/redis-server), LOGDIR (relay and redis-server logs, default a
# fresh temporary directory).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=${BUILD_DIR:-$here/../../build}
relay=${RELAY:-$build/src/relay/pam-ion-relay}
bench=${BENCH:-$build/tests/bench/relay_bench}
sizes=${SIZES:-1000,10000,50000}
setups=${SETUPS:-memory,redis,redis:2}
redis=${REDIS_SERVER:-/usr/bin/redis-server}

for f in "$relay" "$bench"; do
	if [ ! -x "$f" ]; then
		echo "run-relay-bench: $f is missing; build first:" >&2
		echo "  cmake -S $here/../.. -B $build && cmake --build $build -j2" >&2
		exit 2
	fi
done
case $setups in
*redis*)
	if [ ! -x "$redis" ]; then
		echo "run-relay-bench: $redis is missing (apt-get install redis-server)" >&2
		exit 2
	fi
	;;
esac
logdir=${LOGDIR:-$(mktemp -d /tmp/relay-bench.XXXXXX)}
mkdir -p "$logdir"

# Every process may hold at most the hard limit of open files (20,000 here);
# the relay inherits the bench's limit.
ulimit -n "$(ulimit -Hn)"

echo "# pam-ion-relay load benchmark"
echo "date:     $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "relay:    $("$relay" --version 2>/dev/null || echo '?') ($relay," \
    "built $(date -u -r "$relay" '+%Y-%m-%d %H:%M UTC'), sha256 $(sha256sum "$relay" | cut -c1-12))"
case $setups in
*redis*) echo "redis:    $("$redis" --version | cut -d' ' -f1-3,5) ($redis)" ;;
esac
echo "machine:  $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)"
echo "kernel:   $(uname -sr)"
echo "limits:   open files $(ulimit -n); ephemeral ports $(tr '\t' '-' < /proc/sys/net/ipv4/ip_local_port_range); somaxconn $(cat /proc/sys/net/core/somaxconn)"
echo "load:     $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min)"
busy=$(ps -eo pcpu=,comm= --sort=-pcpu | awk '$1 >= 20 {printf "%s%s (%s%%)", sep, $2, $1; sep=", "}')
if [ -n "$busy" ]; then
	echo "warning:  busy processes: $busy: the figures will be noisy"
fi
for p in pam-ion-relay redis-server; do
	others=$(pgrep -c -x "$p" || true)
	if [ "${others:-0}" -gt 0 ]; then
		echo "warning:  $others other $p process(es) running: the" \
		    "machine is shared and the figures will be noisy"
	fi
done
echo "logs:     $logdir"
echo

# relay_bench kills redis-server, the relays and its own clients when it
# ends, and after --time-limit seconds at the latest; timeout(1) is the last
# resort.
timeout -k 5 1260 "$bench" --relay "$relay" --redis-server "$redis" \
    --sizes "$sizes" --setups "$setups" --logdir "$logdir" \
    --time-limit 1200 "$@"
echo
echo "load:     $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) at the end"
