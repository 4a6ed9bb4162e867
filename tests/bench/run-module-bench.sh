#!/bin/bash
# Runs module_bench.py: sign-ins through pam_ion.so and the real libpam
# against the stand-in provider and a relay on loopback, and prints the
# table (see README.md, "pam_ion module benchmark").  Builds nothing.
#
#   tests/bench/run-module-bench.sh [module_bench.py options...]
#
# Environment: BUILD_DIR (default: <source>/build), N (sign-ins per phase,
# default 50), K (sign-ins in fresh processes, default 10), LOGDIR (provider,
# relay and driver logs; default a fresh temporary directory).  Needs root
# and `npm ci` in tests/provider.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=${BUILD_DIR:-$here/../../build}
build=$(cd "$build" && pwd)
module=$build/pam_ion.so
relay=$build/src/relay/pam-ion-relay
driver=$build/tests/bench/module_bench_drive
n=${N:-50}
k=${K:-10}

for f in "$module" "$relay" "$driver"; do
	if [ ! -e "$f" ]; then
		echo "run-module-bench: $f is missing; build first:" >&2
		echo "  cmake -S $here/../.. -B $build && cmake --build $build -j2" >&2
		exit 2
	fi
done
if [ "$(id -u)" -ne 0 ]; then
	echo "run-module-bench: needs root (the module refuses files root does not own)" >&2
	exit 2
fi
if [ ! -d "$here/../provider/node_modules/oidc-provider" ]; then
	echo "run-module-bench: run 'npm ci' in tests/provider first" >&2
	exit 2
fi
logdir=${LOGDIR:-$(mktemp -d /tmp/module-bench.XXXXXX)}
mkdir -p "$logdir"

built() {
	echo "built $(date -u -r "$1" '+%Y-%m-%d %H:%M UTC'), sha256 $(sha256sum "$1" | cut -c1-12)"
}

echo "# pam_ion module benchmark"
echo "date:     $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "module:   $module ($(built "$module"))"
echo "relay:    $relay ($(built "$relay"))"
echo "machine:  $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)"
echo "kernel:   $(uname -sr)"
echo "software: $(node --version 2>/dev/null | sed 's/^/node /'), $(python3 --version), libcurl $(curl-config --version 2>/dev/null | cut -d' ' -f2 || echo '?'), $(dpkg-query -W -f='libpam ${Version}' libpam0g 2>/dev/null || echo 'libpam ?')"
echo "load:     $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min)"
busy=$(ps -eo pcpu=,comm= --sort=-pcpu | awk '$1 >= 20 {printf "%s%s (%s%%)", sep, $2, $1; sep=", "}')
if [ -n "$busy" ]; then
	echo "warning:  busy processes: $busy: the figures will be noisy"
fi
echo "runs:     N=$n sign-ins per phase (cold, warm), K=$k in fresh processes"
echo "logs:     $logdir"
echo

# module_bench.py stops itself after --time-limit and kills what it started;
# timeout(1) is the last resort.
status=0
BUILD_DIR=$build timeout -k 5 420 python3 -B "$here/module_bench.py" \
    --module "$module" --relay "$relay" --driver "$driver" \
    --logins "$n" --fresh "$k" --logdir "$logdir" --time-limit 360 "$@" || status=$?
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min)"
exit $status
