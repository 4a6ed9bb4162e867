#!/bin/sh
# pam_ion.so must export pam_sm_authenticate, pam_sm_setcred and
# pam_sm_acct_mgmt and nothing
# else (src/module/pam_ion.map), as pam-u2f's dlsym_check does: anything
# more is a symbol of ours that could take the place of the application's
# or another module's (libpam loads modules into one namespace).
# Usage: exports.sh PATH-TO-pam_ion.so
set -eu

module=$1
# "ADDRESS TYPE NAME" per defined dynamic symbol; fails if nm does.
syms=$(nm -D --defined-only "$module")
status=0
for want in pam_sm_authenticate pam_sm_setcred pam_sm_acct_mgmt; do
	if ! printf '%s\n' "$syms" | awk '{ print $NF }' | grep -qx "$want"; then
		echo "$module: does not export $want" >&2
		status=1
	fi
done
others=$(printf '%s\n' "$syms" | awk 'NF > 0 && $NF !~ /^pam_sm_[a-z_]+$/')
if [ -n "$others" ]; then
	echo "$module: exports more than pam_sm_*:" >&2
	printf '%s\n' "$others" >&2
	status=1
fi
exit $status
