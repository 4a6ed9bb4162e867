#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: installs what is missing,
# builds pam_ion, starts the stand-in provider (oidc-provider, like iON) and
# pam-ion-relay on loopback, and runs one real QR sign-in through PAM.
#
#   bash scripts/demo.sh           you open the link (or scan the QR code)
#                                  and sign in as "alice", then type the code
#   bash scripts/demo.sh --auto    a scripted phone does that part
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-}
bash scripts/deps.sh
(cd tests/provider && npm ci --no-audit --no-fund --loglevel=error)
cmake -S . -B build/demo -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/demo -j"$(nproc)" --target pam_ion pam-ion-relay pamdrive \
	>/dev/null

exec python3 scripts/demo-signin.py build/demo "$mode"
