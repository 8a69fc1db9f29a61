#!/bin/sh
# arm64 guests end to end (suite `integration`, test `arm64-boot`): the arm64
# nicvisor-shim boots a Debian arm64 guest (L2) under KVM inside an arm64
# test host (L1): qemu-system-aarch64 -M virt,virtualization=on -cpu max,
# software emulation, Debian's arm64 kernel with KVM built in. Checks that
# L1 has /dev/kvm, that L2's console reaches NICVISOR-ARM64-L2-READY on an
# aarch64 kernel with its 2 vCPUs up (the second by PSCI CPU_ON), that L2
# powers itself off (PSCI SYSTEM_OFF: the shim's status 0), and that an L2
# rebooting itself (PSCI SYSTEM_RESET) ends the shim with status 104. On
# the GICv3 the first L2 has a disk: a vhost-user-blk export of
# qemu-storage-daemon (arm64, running in L1) behind the shim's virtio-pci
# function; L2 reads the image's pattern, writes a line that L1 then finds
# in the image, and its request interrupts arrive as MSIs through the ITS.
# On the GICv2 (no ITS) a VM with a disk is refused with the reason.
# Prints how long each part took.
#
# Usage: boot-arm64.sh BUILD_DIR [GIC]
#   builds BUILD_DIR/arm64 (tools/cross/arm64.sh) and the images in
#   BUILD_DIR/images-arm64 (build-images.sh) when missing or stale.
#   GIC 3 (default): L1 has a GICv3, so L2 gets a vGICv3 with an ITS; the
#   disk and the reboot are checked too. GIC 2: L1 has a GICv2, so the shim
#   falls back to a vGICv2; the boot, the power off and the disk's refusal
#   are checked.
# Environment: NV_ARM64_BOOT_TIMEOUT (seconds QEMU may run, 300).
# Exit 77 when the cross toolchain, qemu-system-aarch64 or Debian's arm64
# packages are not there.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../../.." && pwd)
build=$(cd "${1:?usage: boot-arm64.sh BUILD_DIR [GIC]}" && pwd)
gic=${2:-3}
case $gic in
3) l1extra=" nv.disk" ;;
2) l1extra=" nv.noreboot nv.diskrefused" ;;
*) echo "usage: boot-arm64.sh BUILD_DIR [GIC]: GIC is 2 or 3" >&2; exit 2 ;;
esac
limit=${NV_ARM64_BOOT_TIMEOUT:-300}
out=$build/images-arm64
nice="nice -n 19"

skip() {
	echo "SKIP: $*" >&2
	exit 77
}

command -v qemu-system-aarch64 >/dev/null || skip "qemu-system-aarch64 is missing (tools/deps.sh cross)"
command -v aarch64-linux-gnu-readelf >/dev/null || skip "aarch64-linux-gnu-readelf is missing (tools/deps.sh cross)"

t_start=$(date +%s.%N)
rc=0
"$src/tools/cross/arm64.sh" build "$build/arm64" >"$build/arm64-boot-cross.log" 2>&1 || rc=$?
[ $rc -eq 77 ] && { cat "$build/arm64-boot-cross.log" >&2; exit 77; }
[ $rc -eq 0 ] || { tail -n 30 "$build/arm64-boot-cross.log" >&2; echo "FAIL: cross build" >&2; exit 1; }
rc=0
$nice "$here/build-images.sh" "$out" "$build/arm64/host-shim/nicvisor-shim" || rc=$?
[ $rc -eq 0 ] || exit $rc

tmp=$(mktemp -d)
qemu_pid=""
cleanup() {
	if [ -n "$qemu_pid" ] && kill -0 "$qemu_pid" 2>/dev/null; then
		kill "$qemu_pid" 2>/dev/null || true
		wait "$qemu_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# L1: a GICv$gic, two vCPUs (KVM allows a guest as many vCPUs as the host has CPUs,
# KVM_CAP_NR_VCPUS) emulated by one host thread (thread=single: one core
# of this shared machine), KVM at EL2 with VHE; L2 gets 256 MiB of L1's
# 1 GiB.
t_qemu=$(date +%s.%N)
$nice qemu-system-aarch64 -M virt,virtualization=on,gic-version="$gic" -cpu max -accel tcg,thread=single \
	-smp 2 -m 1024 -nographic -no-reboot -monitor none -serial "file:$tmp/console" \
	-kernel "$out/Image" -initrd "$out/l1-initramfs.cpio.gz" \
	-append "console=ttyAMA0 panic=-1 quiet nv.timeout=$((limit - 30)) nv.l2quiet$l1extra" \
	</dev/null >"$tmp/qemu.out" 2>&1 &
qemu_pid=$!

# Bounded: the limit, or QEMU's end (L1 powers off after its report).
deadline=$(($(date +%s) + limit))
while kill -0 "$qemu_pid" 2>/dev/null; do
	if [ "$(date +%s)" -ge "$deadline" ]; then
		echo "FAIL: no end within ${limit}s; L1 console:" >&2
		cat "$tmp/console" >&2
		exit 1
	fi
	sleep 1
done
wait "$qemu_pid" || true
qemu_pid=""
t_end=$(date +%s.%N)

console=$tmp/console
tr -d '\r' <"$console" >"$tmp/console.txt"
fail() {
	echo "FAIL: $*; L1 console:" >&2
	cat "$tmp/console.txt" >&2
	cat "$tmp/qemu.out" >&2
	exit 1
}
grep -q '^NICVISOR-ARM64-L1-UP' "$tmp/console.txt" || fail "L1 did not come up"
grep -q '^NICVISOR-ARM64-L1-NOKVM' "$tmp/console.txt" && fail "L1 has no /dev/kvm"
ready=$(grep '^NICVISOR-ARM64-L2-READY' "$tmp/console.txt" | head -n 1) || true
[ -n "$ready" ] || fail "L2's marker NICVISOR-ARM64-L2-READY never appeared"
case $ready in
*" machine=aarch64 cpus=2 gic=v$gic "*) ;;
*) fail "L2 is not an aarch64 kernel with both vCPUs online on a GICv$gic: $ready" ;;
esac
exitline=$(grep '^NICVISOR-ARM64-L1-SHIM-EXIT=' "$tmp/console.txt" | head -n 1) || true
[ -n "$exitline" ] || fail "L1 did not report the shim's exit"
case $exitline in
NICVISOR-ARM64-L1-SHIM-EXIT=0\ *) ;;
*) fail "the shim did not end with L2's power off (status 0): $exitline" ;;
esac

disk=""
if [ "$gic" = 3 ]; then
	disk=$(grep '^NICVISOR-ARM64-L2-DISK=' "$tmp/console.txt" | head -n 1) || true
	case $disk in
	"NICVISOR-ARM64-L2-DISK=ok msi="[1-9]*" chip=ITS-"*) ;;
	*) fail "L2 did not read, write and read back its disk with MSIs through the ITS: ${disk:-no report}" ;;
	esac
	image=$(grep '^NICVISOR-ARM64-L1-DISK-IMAGE=' "$tmp/console.txt" | head -n 1) || true
	[ "$image" = NICVISOR-ARM64-L1-DISK-IMAGE=nicvisor-arm64-l2-wrote ] ||
		fail "the image does not hold what L2 wrote: ${image:-no report}"
else
	disk=$(grep '^NICVISOR-ARM64-L1-DISK-REFUSED=' "$tmp/console.txt" | head -n 1) || true
	case $disk in
	"NICVISOR-ARM64-L1-DISK-REFUSED="[1-9]*" disks: arm64 guests take NICs and disks only with a GICv3 ITS"*"no GICv3"*) ;;
	*) fail "a VM with a disk on a GICv2 was not refused with the reason: ${disk:-no report}" ;;
	esac
fi

reboot=""
if [ "$gic" = 3 ]; then
	reboot=$(grep '^NICVISOR-ARM64-L1-SHIM-REBOOT-EXIT=' "$tmp/console.txt" | head -n 1) || true
	[ "$reboot" = NICVISOR-ARM64-L1-SHIM-REBOOT-EXIT=104 ] ||
		fail "an L2 reboot did not end the shim with status 104 (guest reset): ${reboot:-no report}"
	[ "$(grep -c '^NICVISOR-ARM64-L2-READY' "$tmp/console.txt")" -eq 2 ] ||
		fail "the rebooting L2 did not print its marker first"
fi

l1_up=$(sed -n 's/^NICVISOR-ARM64-L1-UP .*uptime=\([0-9.]*\).*/\1/p' "$tmp/console.txt" | head -n 1)
l2_start=$(echo "$exitline" | sed -n 's/.* start=\([0-9.]*\) .*/\1/p')
l2_end=$(echo "$exitline" | sed -n 's/.* end=\([0-9.]*\).*/\1/p')
echo "$ready"
echo "$exitline"
echo "$disk"
[ -z "$reboot" ] || echo "$reboot"
awk -v g="$gic" -v r="$reboot" -v a="$t_start" -v q="$t_qemu" -v e="$t_end" -v u="$l1_up" -v s="$l2_start" -v f="$l2_end" 'BEGIN {
	printf "ok: arm64 L2 on a vGICv%s booted to its marker and powered off under the arm64 shim%s%s\n", g, g == 3 ? " with a vhost-user-blk disk (MSI-X through the ITS)" : "; a disk refused (no ITS)", r != "" ? "; a reboot ended it with 104" : ""
	printf "times: builds and images %.1f s; QEMU run %.1f s (L1 kernel to /init %.1f s, L2 under the shim %.1f s)\n", q - a, e - q, u, f - s
}'
