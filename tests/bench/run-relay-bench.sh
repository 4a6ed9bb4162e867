#!/bin/bash
# Runs relay_bench against a built pam-ion-relay at 1,000, 10,000 and 50,000
# pending logins and prints the table (see README.md).  Builds nothing.
#
#   tests/bench/run-relay-bench.sh [relay_bench options...]
#
# Environment: BUILD_DIR (default: <source>/build), RELAY (the daemon),
# BENCH (the relay_bench binary), SIZES (default 1000,10000,50000),
# LOGDIR (relay stderr logs, default a fresh temporary directory).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=${BUILD_DIR:-$here/../../build}
relay=${RELAY:-$build/src/relay/pam-ion-relay}
bench=${BENCH:-$build/tests/bench/relay_bench}
sizes=${SIZES:-1000,10000,50000}

for f in "$relay" "$bench"; do
	if [ ! -x "$f" ]; then
		echo "run-relay-bench: $f is missing; build first:" >&2
		echo "  cmake -S $here/../.. -B $build && cmake --build $build -j2" >&2
		exit 2
	fi
done
logdir=${LOGDIR:-$(mktemp -d /tmp/relay-bench.XXXXXX)}
mkdir -p "$logdir"

# Every process may hold at most the hard limit of open files (20,000 here);
# the relay inherits the bench's limit.
ulimit -n "$(ulimit -Hn)"

echo "# pam-ion-relay load benchmark"
echo "date:     $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "relay:    $("$relay" --version 2>/dev/null || echo '?') ($relay," \
    "built $(date -u -r "$relay" '+%Y-%m-%d %H:%M UTC'), sha256 $(sha256sum "$relay" | cut -c1-12))"
echo "machine:  $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)"
echo "kernel:   $(uname -sr)"
echo "limits:   open files $(ulimit -n); ephemeral ports $(tr '\t' '-' < /proc/sys/net/ipv4/ip_local_port_range); somaxconn $(cat /proc/sys/net/core/somaxconn)"
echo "load:     $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min)"
busy=$(ps -eo pcpu=,comm= --sort=-pcpu | awk '$1 >= 20 {printf "%s%s (%s%%)", sep, $2, $1; sep=", "}')
if [ -n "$busy" ]; then
	echo "warning:  busy processes: $busy: the figures will be noisy"
fi
others=$(pgrep -c -x pam-ion-relay || true)
if [ "${others:-0}" -gt 0 ]; then
	echo "warning:  $others other pam-ion-relay process(es) running: the" \
	    "machine is shared and the figures will be noisy"
fi
echo "logs:     $logdir"
echo

# relay_bench kills the relay and its own clients when it ends, and after
# --time-limit seconds at the latest; timeout(1) is the last resort.
timeout -k 5 600 "$bench" --relay "$relay" --sizes "$sizes" \
    --logdir "$logdir" --time-limit 540 "$@"
