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
	# The relay's Redis store (tests/relay relay.redis.*, test_instances,
	# test_store_faults): each test starts its own redis-server in a
	# temporary directory on a loopback port or a unix socket, so the
	# system's service is neither needed nor started here (see below);
	# redis-tools has redis-cli.
	redis-server redis-tools
	# The packages (packaging/build.sh, tests/packaging): dpkg-buildpackage
	# with debhelper, lintian on the .debs, and rpmbuild (Debian's rpm).
	dpkg-dev debhelper fakeroot lintian rpm
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
	# A package's postinst starts its service unless policy-rc.d says no
	# (101): the tests run redis-server and nginx themselves.  Only when
	# the machine has no policy of its own, and only for this install.
	policy=/usr/sbin/policy-rc.d
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod 755 "$policy"
		trap 'rm -f "$policy"' EXIT
	fi
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
