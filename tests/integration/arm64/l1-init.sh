#!/bin/sh
# /init of the arm64 nested test host (L1, under qemu-system-aarch64 with
# virtualization=on): boot the L2 guest under the arm64 nicvisor-shim and
# report. Kernel command line knobs: nv.timeout=S (the shim's --timeout,
# default 240), nv.l2vcpus=N (default 2: the secondary comes up by PSCI
# CPU_ON), nv.l2quiet (L2's kernel booted with quiet), nv.noreboot (no
# second L2 that reboots itself), nv.disk (the first L2 gets a disk:
# qemu-storage-daemon's vhost-user-blk export of an image whose first
# bytes are a pattern; L2 reads it and writes a line at 1 MiB, which L1
# reads back from the image afterwards), nv.diskrefused (a VM with a disk
# must be refused: the host has no GICv3 ITS).
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
timeout=240
vcpus=2
reboot=1
disk=0
refused=0
l2args="console=ttyS0 panic=-1"
for arg in $(cat /proc/cmdline); do
	case $arg in
	nv.disk) disk=1 ;;
	nv.diskrefused) refused=1 ;;
	nv.timeout=*) timeout=${arg#nv.timeout=} ;;
	nv.l2vcpus=*) vcpus=${arg#nv.l2vcpus=} ;;
	nv.l2quiet) l2args="$l2args quiet" ;;
	nv.noreboot) reboot=0 ;;
	esac
done
echo "NICVISOR-ARM64-L1-UP kernel=$(uname -r) uptime=$(cut -d' ' -f1 /proc/uptime)"
if [ ! -c /dev/kvm ]; then
	echo "NICVISOR-ARM64-L1-NOKVM"
	poweroff -f
fi
mkdir -p /tmp/nv
if [ "$refused" = 1 ]; then
	nicvisor-shim run --kernel /images/Image --initrd /images/l2-initramfs.cpio.gz \
		--cmdline "$l2args" --vcpus 1 --memory 256 --timeout 60 \
		--disk /tmp/nv/none.sock 2>/tmp/nv/refused.err
	rc=$?
	echo "NICVISOR-ARM64-L1-DISK-REFUSED=$rc $(grep -m 1 -o 'disks: arm64 guests.*' /tmp/nv/refused.err)"
fi
diskargs=""
qsd_pid=""
if [ "$disk" = 1 ]; then
	img=/tmp/nv/disk.img
	dd if=/dev/zero of="$img" bs=1M count=8 2>/dev/null
	printf nicvisor-arm64-disk-sector0 | dd of="$img" conv=notrunc 2>/dev/null
	qemu-storage-daemon --blockdev "file,filename=$img,node-name=d,cache.direct=off" \
		--export "type=vhost-user-blk,id=e,node-name=d,addr.type=unix,addr.path=/tmp/nv/blk.sock,writable=on,num-queues=1" \
		</dev/null >/tmp/nv/qsd.log 2>&1 &
	qsd_pid=$!
	# Bounded: 60 s of emulated start-up at most.
	i=0
	while [ ! -S /tmp/nv/blk.sock ] && [ $i -lt 600 ] && kill -0 $qsd_pid 2>/dev/null; do
		sleep 0.1
		i=$((i + 1))
	done
	if [ -S /tmp/nv/blk.sock ]; then
		diskargs="--disk /tmp/nv/blk.sock"
		l2args="$l2args nv.disk"
	else
		echo "NICVISOR-ARM64-L1-QSD-FAILED $(cat /tmp/nv/qsd.log)"
	fi
fi
t0=$(cut -d' ' -f1 /proc/uptime)
# Without --until: status 0 only when L2 powers itself off (PSCI
# SYSTEM_OFF) after its marker; --timeout bounds the wait.
# shellcheck disable=SC2086 # diskargs: two words or none
nicvisor-shim run --kernel /images/Image --initrd /images/l2-initramfs.cpio.gz \
	--cmdline "$l2args" --vcpus "$vcpus" --memory 256 --timeout "$timeout" $diskargs
rc=$?
t1=$(cut -d' ' -f1 /proc/uptime)
echo "NICVISOR-ARM64-L1-SHIM-EXIT=$rc start=$t0 end=$t1"
if [ -n "$qsd_pid" ]; then
	kill $qsd_pid 2>/dev/null
	wait $qsd_pid
	echo "NICVISOR-ARM64-L1-DISK-IMAGE=$(dd if="$img" bs=512 skip=2048 count=1 2>/dev/null | head -c 23)"
	l2args=${l2args% nv.disk}
fi
# PSCI SYSTEM_RESET: the shim ends with status 104 (guest reset).
if [ "$reboot" = 1 ]; then
	nicvisor-shim run --kernel /images/Image --initrd /images/l2-initramfs.cpio.gz \
		--cmdline "$l2args nv.reboot" --vcpus 1 --memory 256 --timeout "$timeout"
	echo "NICVISOR-ARM64-L1-SHIM-REBOOT-EXIT=$?"
fi
poweroff -f
