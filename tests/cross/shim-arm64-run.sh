#!/bin/sh
# An arm64 nicvisor-shim runs guests now (the boot itself is tested in
# tests/integration/arm64/, under qemu-system-aarch64), so `run` must no
# longer refuse arm64 guests up front as earlier builds did. Under
# qemu-user there is no KVM: with binfmt_misc for aarch64 the VM's process
# starts and fails opening the KVM device (status 100, a boot error, the
# device named); without it, its exec fails (status 127, so `run` reports
# a crashed VM process, 103), as for shim-process.
# Usage: shim-arm64-run.sh [EXE_WRAPPER] NICVISOR_SHIM
set -eu
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf 'not a kernel' >"$tmp/kernel"
rc=0
"$@" run --kernel "$tmp/kernel" --kvm "$tmp/no-kvm" >"$tmp/out" 2>&1 || rc=$?
cat "$tmp/out"
if grep -q 'not supported by this build' "$tmp/out"; then
	echo "FAIL: the arm64 shim still refuses arm64 guests" >&2
	exit 1
fi
case $rc in
100)
	grep -q "$tmp/no-kvm: No such file or directory" "$tmp/out" ||
		{ echo "FAIL: status 100 without naming the missing KVM device" >&2; exit 1; }
	echo "ok: nicvisor-shim run got to KVM and failed there with status 100"
	;;
103)
	grep -q 'status 127' "$tmp/out" ||
		{ echo "FAIL: status 103 but not the failed exec of the VM's process" >&2; exit 1; }
	echo "ok: nicvisor-shim run got to starting the VM's process (no binfmt_misc to exec it)"
	;;
*)
	echo "FAIL: exit status $rc, want 100 (KVM missing) or 103 (no binfmt_misc)" >&2
	exit 1
	;;
esac
