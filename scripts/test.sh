#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what is missing, builds
# warning-free (-Werror), runs every test, then builds again with
# AddressSanitizer + UndefinedBehaviorSanitizer and runs every test again
# but the package tests (label packaging: they build and install the
# release packages, which have no sanitizer in them), and lints the man
# pages and the code's format.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

bash scripts/deps.sh
echo "== the stand-in provider's packages (npm ci)"
(cd tests/provider && npm ci --no-audit --no-fund --loglevel=error)

echo "== lint: man pages"
lint=$(mandoc -Tlint -W warning man/*.[0-9] 2>&1 | grep -v 'outdated mandoc.db' || true)
if [ -n "$lint" ]; then
	echo "$lint"
	exit 1
fi

echo "== lint: clang-format"
bad=$(git ls-files '*.c' '*.h' 2>/dev/null | xargs -r clang-format --dry-run 2>&1 | grep -c 'warning:' || true)
if [ "$bad" != "0" ]; then
	git ls-files '*.c' '*.h' | xargs -r clang-format --dry-run 2>&1 | head -40
	echo "clang-format: $bad places differ from .clang-format"
	exit 1
fi

echo "== build (gcc, -Werror)"
cmake -S . -B build/ci -DION_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/ci -j"$jobs"
echo "== tests"
ctest --test-dir build/ci --output-on-failure -j"$jobs"

echo "== build (clang, ASan + UBSan)"
CC=clang cmake -S . -B build/asan -DION_WERROR=ON -DION_SANITIZE=ON \
	-DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build/asan -j"$jobs"
echo "== tests under ASan + UBSan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	ctest --test-dir build/asan --output-on-failure -j"$jobs" -LE packaging
