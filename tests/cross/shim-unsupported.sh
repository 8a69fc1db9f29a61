#!/bin/sh
# An arm64 nicvisor-shim refuses `run` (arm64 guests are not implemented):
# exit status 100 (a boot error, docs/shim.md) and the promised message,
# before it reads the kernel or opens /dev/kvm.
# Usage: shim-unsupported.sh [EXE_WRAPPER] NICVISOR_SHIM
set -eu
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf 'not a kernel' >"$tmp/kernel"
rc=0
"$@" run --kernel "$tmp/kernel" --kvm "$tmp/no-kvm" >"$tmp/out" 2>&1 || rc=$?
cat "$tmp/out"
if [ "$rc" -ne 100 ]; then
	echo "FAIL: exit status $rc, want 100" >&2
	exit 1
fi
if ! grep -q 'arm64 guests are not supported by this build yet' "$tmp/out"; then
	echo "FAIL: the message does not say arm64 guests are unsupported" >&2
	exit 1
fi
echo "ok: nicvisor-shim run refused with status 100"
