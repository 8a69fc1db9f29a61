#!/bin/bash
# Validate the guest images without our VMM: boot them under QEMU software
# emulation (-M microvm -accel tcg) to NICVISOR-GUEST-READY and check the
# power-off paths. Prints the boot times.
#   1. PVH vmlinux, nv.poweroff
#   2. bzImage, nv.poweroff
#   3. PVH vmlinux, ACPI power button (QMP system_powerdown) -> clean power off
#   4. PVH vmlinux, nv.cmd="..." and nv.cmd64=... -> NICVISOR-CMD-EXIT=<rc>
#   5. PVH vmlinux with virtio-net on virtio-mmio (ACPI), virtio-blk on PCI,
#      nv.ip: the disk is seen and an outer loopback listener reached
#   6. PVH vmlinux, two virtio-blk-pci disks, nv.fstest=vda,vdb: nv-fstest
#      makes an ext2 file system on vda, writes, remounts and verifies it;
#      the image file passes e2fsck -fn and holds the files' bytes
#      (debugfs); vdb is read-only and refused (status 102); a bad device
#      name is a usage error (2), a missing one fails (1)
# Usage: check-guest.sh   (NV_IMAGES: the images directory)
set -eu
export NV_TEST_NAME=guest-tcg
# shellcheck source-path=SCRIPTDIR source=../../tests/integration/lib/nv-test.sh
. "$(dirname "$0")/../../tests/integration/lib/nv-test.sh"
nv_require_images

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# boot NAME KERNEL CMDLINE [QEMU-ARG]...: start a microvm guest, console in
# $NV_TMP/NAME.log; sets T0 and NV_BG_PID.
boot() {
	local name=$1 kernel=$2 cmdline=$3
	shift 3
	T0=$(now)
	nv_bg "$name" qemu-system-x86_64 -M microvm -accel tcg -m 256 -smp 2 \
		-nodefaults -no-user-config -display none -no-reboot \
		-chardev "file,id=con,path=$NV_TMP/$name.console" -serial chardev:con \
		-kernel "$NV_IMAGES/$kernel" -initrd "$NV_IMAGES/initramfs.cpio.gz" \
		-append "$NV_GUEST_CMDLINE tsc_early_khz=$(nv_tsc_khz) $cmdline" "$@"
}

# expect_poweroff NAME REASON: the guest reports ready, then powers off for
# REASON and QEMU exits 0. Prints the times.
expect_poweroff() {
	local name=$1 reason=$2 log=$NV_TMP/$1.console t_ready rc=0
	nv_wait_log "$log" NICVISOR-GUEST-READY 60 "$NV_BG_PID" ||
		nv_die "$name: no NICVISOR-GUEST-READY"
	t_ready=$(now)
	nv_wait_exit "$NV_BG_PID" 30 || rc=$?
	[ "$rc" = 0 ] || nv_die "$name: QEMU status $rc"
	grep -q "NICVISOR-GUEST-POWEROFF reason=$reason" "$log" ||
		nv_die "$name: no power off for $reason"
	printf '%-28s ready %5ss (guest uptime %ss)  off %5ss\n' "$name" \
		"$(secs "$T0" "$t_ready")" "$(nv_log_value "$log" uptime)" \
		"$(secs "$T0" "$(now)")"
}

boot pvh-poweroff vmlinux nv.poweroff
expect_poweroff pvh-poweroff cmdline
grep -q 'NICVISOR-GUEST-INFO kernel=.* cpus=2 ' "$NV_TMP/pvh-poweroff.console" ||
	nv_die "summary line wrong: $(grep INFO "$NV_TMP/pvh-poweroff.console")"

boot bzimage-poweroff bzImage nv.poweroff
expect_poweroff bzimage-poweroff cmdline

boot pvh-power-button vmlinux "" -qmp "unix:$NV_TMP/qmp.sock,server=on,wait=off"
nv_wait_log "$NV_TMP/pvh-power-button.console" NICVISOR-GUEST-INFO 60 "$NV_BG_PID" ||
	nv_die "power-button: no NICVISOR-GUEST-INFO"
nv_qmp "$NV_TMP/qmp.sock" system_powerdown >/dev/null || nv_die "QMP system_powerdown failed"
expect_poweroff pvh-power-button power-button

boot pvh-cmd vmlinux 'nv.cmd="echo hello from nv.cmd; exit 3"'
expect_poweroff pvh-cmd cmd
grep -q '^hello from nv.cmd' "$NV_TMP/pvh-cmd.console" || nv_die "nv.cmd output missing"
[ "$(nv_log_value "$NV_TMP/pvh-cmd.console" NICVISOR-CMD-EXIT)" = 3 ] ||
	nv_die "nv.cmd: want NICVISOR-CMD-EXIT=3"

# shellcheck disable=SC2016 # expanded inside the guest
c64=$(printf '%s' 'test "$(echo a b)" = "a b" && exit 7' | base64 -w0)
boot pvh-cmd64 vmlinux "nv.cmd64=$c64"
expect_poweroff pvh-cmd64 cmd
[ "$(nv_log_value "$NV_TMP/pvh-cmd64.console" NICVISOR-CMD-EXIT)" = 7 ] ||
	nv_die "nv.cmd64: want NICVISOR-CMD-EXIT=7"

# Devices the VMM may give: virtio-mmio (ACPI) net, virtio-pci blk; nv.ip.
port=$(nv_free_port)
nv_bg listener python3 -c '
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(1)
c, _ = s.accept()
print("got: " + c.recv(100).decode().strip(), flush=True)' "$port"
truncate -s 8M "$NV_TMP/disk.img"
boot pvh-devices vmlinux "nv.ip=10.0.2.15/24,10.0.2.2 nv.cmd=\"cat /sys/block/vda/size; echo hello-from-guest | nc -w 5 10.0.2.2 $port\"" \
	-M microvm,pcie=on -netdev user,id=n0 -device virtio-net-device,netdev=n0 \
	-drive "file=$NV_TMP/disk.img,if=none,id=d0,format=raw" -device virtio-blk-pci,drive=d0
expect_poweroff pvh-devices cmd
grep -q '^16384' "$NV_TMP/pvh-devices.console" || nv_die "virtio-blk-pci: no /dev/vda of 16384 sectors"
[ "$(nv_log_value "$NV_TMP/pvh-devices.console" NICVISOR-CMD-EXIT)" = 0 ] ||
	nv_die "virtio-net (mmio): could not reach the outer listener"
nv_wait_log "$NV_TMP/listener.log" '^got: hello-from-guest' 5 || nv_die "listener got nothing"

# File systems: mkfs, mount, write, remount, sha256sum -c (nv-fstest).
truncate -s 16M "$NV_TMP/fs.img"
truncate -s 8M "$NV_TMP/ro.img"
boot pvh-fs vmlinux "nv.fstest=vda,vdb nv.cmd=\"nv-fstest vd/a; echo NV-USAGE-RC=\$?; nv-fstest vdz; echo NV-NODEV-RC=\$?\"" -M microvm,pcie=on \
	-drive "file=$NV_TMP/fs.img,if=none,id=d0,format=raw" -device virtio-blk-pci,drive=d0 \
	-drive "file=$NV_TMP/ro.img,if=none,id=d1,format=raw,read-only=on" -device virtio-blk-pci,drive=d1
expect_poweroff pvh-fs cmd
log=$NV_TMP/pvh-fs.console
grep -q '^NICVISOR-FS-OK dev=vda fs=ext4 files=35 ' "$log" ||
	nv_die "nv-fstest vda: $(grep -a 'NICVISOR-FS-' "$log" | grep -v FILE)"
grep -q '^NICVISOR-FS-FAIL dev=vdb step=read-only' "$log" ||
	nv_die "nv-fstest vdb: not refused as read-only"
[ "$(nv_log_value "$log" NICVISOR-CMD-EXIT)" = 102 ] ||
	nv_die "nv.fstest: want NICVISOR-CMD-EXIT=102 (the second disk failed)"
[ "$(nv_log_value "$log" NV-USAGE-RC)" = 2 ] || nv_die "nv-fstest vd/a: want status 2 (usage)"
[ "$(nv_log_value "$log" NV-NODEV-RC)" = 1 ] &&
	grep -q '^NICVISOR-FS-FAIL dev=vdz step=no-device' "$log" ||
	nv_die "nv-fstest vdz: want status 1, no-device"
[ "$(stat -c %s "$NV_TMP/ro.img")" = 8388608 ] || nv_die "the read-only image changed size"
[ -z "$(tr -d '\0' <"$NV_TMP/ro.img" | head -c 1)" ] || nv_die "the read-only image was written"
e2fsck=$(PATH=$PATH:/sbin:/usr/sbin command -v e2fsck || true)
debugfs=$(PATH=$PATH:/sbin:/usr/sbin command -v debugfs || true)
if [ -n "$e2fsck" ] && [ -n "$debugfs" ]; then
	"$e2fsck" -fn "$NV_TMP/fs.img" >"$NV_TMP/e2fsck.log" 2>&1 ||
		nv_die "e2fsck -fn on the guest's file system: $(cat "$NV_TMP/e2fsck.log")"
	for f in big odd dir/f7 empty; do
		want=$(sed -n "s|^NICVISOR-FS-FILE $f \([0-9a-f]*\).*|\1|p" "$log")
		got=$("$debugfs" -R "cat /$f" "$NV_TMP/fs.img" 2>/dev/null | sha256sum | cut -d' ' -f1)
		[ -n "$want" ] && [ "$want" = "$got" ] ||
			nv_die "/$f in the image: sha256 $got, the guest wrote ${want:-nothing}"
	done
	echo "pvh-fs: e2fsck -fn clean, 4 files read back from the image with debugfs"
else
	echo "pvh-fs: no e2fsck/debugfs (e2fsprogs): image not checked on the host"
fi

echo "guest-tcg: all checks passed"
