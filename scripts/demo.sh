#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: installs what is missing,
# builds pam_ion, starts the stand-in provider (oidc-provider, like iON) and
# pam-ion-relay on loopback, and runs one real QR sign-in through PAM.
#
#   bash scripts/demo.sh           you open the link (or scan the QR code)
#                                  and sign in as "alice", then type the code
#   bash scripts/demo.sh --auto    a scripted phone does that part
#
# The relay admits only PAM hosts that hold a key: this script makes one
# with `pam-ion-relay --new-client-key`, as an administrator would, and
# gives its hash to the relay (--client-keys) and the key to the module
# (relay_key_file).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-}
bash scripts/deps.sh
(cd tests/provider && npm ci --no-audit --no-fund --loglevel=error)
cmake -S . -B build/demo -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/demo -j"$(nproc)" --target pam_ion pam-ion-relay pamdrive \
	>/dev/null

keys=$(mktemp -d /tmp/pam_ion-demo-keys.XXXXXX)
trap 'rm -rf "$keys"' EXIT
umask 077
# Two lines: "NAME SHA256HEX" for the relay's keys file, then the key.
build/demo/src/relay/pam-ion-relay --new-client-key demo-host >"$keys/new"
head -n 1 "$keys/new" >"$keys/client-keys"
tail -n 1 "$keys/new" >"$keys/relay_key"
rm -f "$keys/new"
echo "relay client key: $(cat "$keys/client-keys")"

python3 scripts/demo-signin.py build/demo "$mode" \
	--client-keys "$keys/client-keys" --relay-key-file "$keys/relay_key"
