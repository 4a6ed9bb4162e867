#!/usr/bin/env bash
# Builds the RPM packages of pam_ion (packaging/rpm/pam_ion.spec) from this
# checkout and copies them to OUTDIR: pam_ion-*.rpm and pam-ion-relay-*.rpm.
# Usage: packaging/rpm/build.sh OUTDIR
#
# The source tarball is "git archive HEAD" of a clean checkout; when the
# working tree has changes (staged, unstaged or untracked, not ignored), it
# is the working tree's files as "git ls-files" lists them, tracked and
# untracked, so that what is built is what is checked out.  rpmbuild runs
# with a private %_topdir in a temporary directory, removed at the end.
# Installs Debian's rpm package (it has rpmbuild) when rpmbuild is missing.
set -euo pipefail

if [ $# -ne 1 ]; then
	echo "usage: $0 OUTDIR" >&2
	exit 2
fi
mkdir -p "$1"
outdir=$(cd "$1" && pwd)
top=$(cd "$(dirname "$0")/../.." && pwd)

if ! command -v rpmbuild >/dev/null 2>&1; then
	if [ -e /etc/debian_version ] && command -v apt-get >/dev/null 2>&1; then
		echo "rpm: installing rpm (for rpmbuild)"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends rpm >/dev/null
	fi
	if ! command -v rpmbuild >/dev/null 2>&1; then
		echo "rpm: rpmbuild is missing and could not be installed" >&2
		exit 1
	fi
fi

version=$(sed -n 's/^project(pam_ion VERSION \([0-9][0-9.]*\).*/\1/p' \
	"$top/CMakeLists.txt")
if [ -z "$version" ]; then
	echo "rpm: no project(pam_ion VERSION ...) in CMakeLists.txt" >&2
	exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work"/{BUILD,BUILDROOT,RPMS,SOURCES,SPECS,SRPMS}

# The source tarball, with everything under pam_ion-VERSION/.
name=pam_ion-$version
if [ -z "$(git -C "$top" status --porcelain)" ]; then
	echo "rpm: source from git archive HEAD ($(git -C "$top" rev-parse --short HEAD))"
	git -C "$top" archive --format=tar.gz --prefix="$name/" \
		-o "$work/SOURCES/$name.tar.gz" HEAD
else
	echo "rpm: the working tree has changes: source from its files (git ls-files)"
	# Files deleted but not yet committed are still listed: skip them.
	(cd "$top" && git ls-files -z --cached --others --exclude-standard |
		while IFS= read -r -d '' f; do
			if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
		done |
		tar --null -T - --transform "s,^,$name/,rhS" \
			-czf "$work/SOURCES/$name.tar.gz")
fi
cp "$top/packaging/rpm/pam_ion.spec" "$work/SPECS/"

opts=()
# rpmbuild checks BuildRequires against the rpm database, which on Debian
# knows nothing of what dpkg installed (scripts/deps.sh installs the
# Debian names of the same -devel packages): skip that check there only.
if [ -e /etc/debian_version ]; then
	opts+=(--nodeps)
	# Debian's brp-compress starts with #!/bin/sh but needs bash (read
	# -d), so under dash it compresses no man page: run it with bash.
	brp=$(rpm --eval '%{?__brp_compress}')
	if [ -n "$brp" ] && command -v bash >/dev/null 2>&1; then
		opts+=(--define "__brp_compress bash $brp")
	fi
fi
rpmbuild -bb "${opts[@]}" \
	--define "_topdir $work" \
	--define "ion_version $version" \
	"$work/SPECS/pam_ion.spec"

shopt -s nullglob
rpms=("$work"/RPMS/*/*.rpm)
if [ ${#rpms[@]} -eq 0 ]; then
	echo "rpm: rpmbuild made no .rpm files" >&2
	exit 1
fi
cp "${rpms[@]}" "$outdir/"
for f in "${rpms[@]}"; do
	echo "rpm: $outdir/$(basename "$f")"
done
