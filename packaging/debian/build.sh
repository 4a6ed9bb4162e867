#!/usr/bin/env bash
# Builds the Debian packages of pam_ion from this checkout:
#   bash packaging/debian/build.sh OUTDIR
# copies the files git tracks to a temporary directory, puts
# packaging/debian there as debian/, runs "dpkg-buildpackage -us -uc -b"
# and leaves the .deb files (and the .buildinfo and .changes) in OUTDIR.
# Installs the build dependencies it lacks with apt-get, as scripts/deps.sh
# does (root needed then).
set -euo pipefail

if [ $# -ne 1 ]; then
	echo "usage: $0 OUTDIR" >&2
	exit 2
fi
top=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)

need=(dpkg-dev debhelper fakeroot build-essential cmake pkg-config
	libpam0g-dev libcurl4-openssl-dev libjansson-dev libqrencode-dev
	libcjose-dev libssl-dev libmicrohttpd-dev libhiredis-dev)
missing=()
for p in "${need[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "deb: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
src="$tmp/pam-ion-$(sed -n '1s/.*(\([^)]*\)).*/\1/p' "$top/packaging/debian/changelog")"
mkdir "$src"
# The tracked files only (what a clean clone has), as they are in the work
# tree; no build directory, no node_modules.
(cd "$top" && git ls-files -z | tar --null -T - -cf -) | tar -C "$src" -xf -
rm -rf "$src/debian"
cp -a "$src/packaging/debian" "$src/debian"
rm -f "$src/debian/build.sh"

# The Debian version must be the project's (CMakeLists.txt) version.
ver=$(sed -n 's/^project(pam_ion VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
deb=$(cd "$src" && dpkg-parsechangelog -S Version)
if [ "${deb%%-*}" != "$ver" ]; then
	echo "deb: debian/changelog says $deb, CMakeLists.txt $ver" >&2
	exit 1
fi

(cd "$src" && DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:-parallel=2}" \
	dpkg-buildpackage -us -uc -b)
for f in "$tmp"/*.deb "$tmp"/*.buildinfo "$tmp"/*.changes; do
	[ -e "$f" ] && cp "$f" "$out/"
done
ls -l "$out"/*.deb
