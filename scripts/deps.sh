#!/usr/bin/env bash
# Installs the Debian 12 packages pam_ion needs to build and test.  Skips
# apt entirely when everything is already there.
set -euo pipefail

packages=(
	build-essential cmake pkg-config clang clang-format
	libpam0g-dev libcurl4-openssl-dev libjansson-dev libqrencode-dev
	libcjose-dev libssl-dev libmicrohttpd-dev libhiredis-dev
	libcmocka-dev valgrind
	python3 mandoc curl procps openssh-server openssh-client zbar-tools
	# The reverse proxy of the relay tests (tests/relay/test_proxy.py), run
	# with its own prefix and config; Debian 12's smallest nginx package.
	nginx
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing+=("$p")
done
# Node.js runs the stand-in provider (tests/provider); Debian's will do.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
	echo "deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
