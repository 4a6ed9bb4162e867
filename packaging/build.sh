#!/usr/bin/env bash
# Builds pam_ion's packages from this checkout:
#   bash packaging/build.sh OUTDIR
# the Debian ones (packaging/debian/build.sh) and, when the RPM packaging
# is there, the RPM ones (packaging/rpm/build.sh); each installs the build
# dependencies it lacks.  Lists what it left in OUTDIR.
set -euo pipefail

if [ $# -ne 1 ]; then
	echo "usage: $0 OUTDIR" >&2
	exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$1"

echo "== Debian packages"
bash "$here/debian/build.sh" "$1"
if [ -f "$here/rpm/build.sh" ]; then
	echo "== RPM packages"
	bash "$here/rpm/build.sh" "$1"
else
	echo "== RPM packages: skipped (no packaging/rpm/build.sh)"
fi
echo "== in $1:"
ls -l "$1"
