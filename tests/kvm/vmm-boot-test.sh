#!/bin/sh
# vmm-boot end to end: console on stdout, exit kind on stderr, exit status
# by exit kind. Usage: vmm-boot-test.sh VMM_BOOT GUEST_DIR. Skips without
# /dev/kvm.
set -u
vmm_boot=$1
guests=$2
[ -r /dev/kvm ] && [ -w /dev/kvm ] || { echo "SKIP: no usable /dev/kvm"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

# expect NAME STATUS STDOUT STDERR-SUBSTRING ARGS...
expect() {
	name=$1 status=$2 out=$3 err=$4
	shift 4
	timeout 30 "$vmm_boot" "$@" </dev/null >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ $rc -ne "$status" ] || [ "$(cat "$tmp/out")" != "$out" ] ||
		! grep -q -- "$err" "$tmp/err"; then
		echo "FAIL $name: status $rc (want $status), stdout '$(cat "$tmp/out")'"
		sed 's/^/  stderr: /' "$tmp/err"
		fail=1
	else
		echo "ok $name"
	fi
}

expect marker 7 NICVISOR-TINY-READY "exit debug-exit code 0x10" \
	--kernel "$guests/marker.elf" --debug-exit --memory 64
expect poweroff 0 "" "exit poweroff" --kernel "$guests/poweroff.elf" --debug-exit
expect reboot 3 "" "exit reboot" --kernel "$guests/reset.elf" --memory 32
expect triple-fault 4 "" "exit triple-fault" --kernel "$guests/triple.elf"
expect kvm-error 5 "" "KVM_EXIT_INTERNAL_ERROR" --kernel "$guests/badjump.elf"
expect timeout 6 "" "timeout after 1 s" --kernel "$guests/spin.elf" --timeout 1 --memory 64
expect two-vcpus 7 "" "code 0x10" --kernel "$guests/smp_checksum.elf" --vcpus 2 \
	--memory 64 --debug-exit
expect power-button 0 serial-ready "pressing the power button" \
	--kernel "$guests/serial.elf" --power-button-on serial-ready --timeout 20
expect usage 1 "" "usage" --memory 64
expect bad-kernel 1 "" "kernel" --kernel "$vmm_boot"
expect tiny-memory 1 "" "memory" --kernel "$guests/marker.elf" --memory 1
exit $fail
