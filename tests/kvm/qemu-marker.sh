#!/bin/sh
# The marker guest under QEMU (-M microvm, TCG): the same file the boot
# benchmark runs under both VMMs must print the same line and exit through
# isa-debug-exit (status (0x10 << 1) | 1 = 33). Skips without QEMU.
set -u
guest=$1
qemu=$(command -v qemu-system-x86_64) || { echo "SKIP: no qemu-system-x86_64"; exit 77; }
out=$(timeout 20 "$qemu" -M microvm -accel tcg -m 64 -nodefaults -nographic \
	-serial stdio -no-reboot -kernel "$guest" \
	-device isa-debug-exit,iobase=0xf4,iosize=4 </dev/null)
rc=$?
if [ "$out" != "NICVISOR-TINY-READY" ] || [ $rc -ne 33 ]; then
	echo "FAIL: output '$out', exit status $rc (want NICVISOR-TINY-READY and 33)"
	exit 1
fi
echo "ok: marker under QEMU microvm"
