#!/usr/bin/env bash
# Sets everything up on a fresh Debian 12 machine and runs the main job:
# builds pam_ion, starts pam-ion-relay on loopback and walks one sign-in
# through it the way the PAM module and a phone will.  With --auto the
# "phone" step runs by itself; without it, you open the link in a browser.
set -euo pipefail
cd "$(dirname "$0")/.."

auto=no
[ "${1:-}" = "--auto" ] && auto=yes

bash scripts/deps.sh
cmake -S . -B build/demo -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/demo -j"$(nproc)" --target pam-ion-relay >/dev/null

port=${PAM_ION_DEMO_PORT:-8080}
log=$(mktemp)
build/demo/src/relay/pam-ion-relay --listen "127.0.0.1:$port" \
	--public-url "http://127.0.0.1:$port" \
	--authorize-url-prefix "http://127.0.0.1:$port/demo-idp/authorize" \
	2>"$log" &
relay=$!
trap 'kill $relay 2>/dev/null; wait $relay 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 50); do
	grep -q 'listening on' "$log" && break
	kill -0 $relay 2>/dev/null || { cat "$log"; exit 1; }
	sleep 0.1
done
echo "relay: $(grep 'listening on' "$log")"

python3 scripts/demo-login.py "http://127.0.0.1:$port" "$auto"
echo
echo "relay log:"
sed 's/^/  /' "$log"
