#!/bin/sh
# /init of the arm64 nested test host (L1, under qemu-system-aarch64 with
# virtualization=on): boot the L2 guest under the arm64 nicvisor-shim and
# report. Kernel command line knobs: nv.timeout=S (the shim's --timeout,
# default 240), nv.l2vcpus=N (default 2: the secondary comes up by PSCI
# CPU_ON), nv.l2quiet (L2's kernel booted with quiet), nv.noreboot (no
# second L2 that reboots itself).
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
timeout=240
vcpus=2
reboot=1
l2args="console=ttyS0 panic=-1"
for arg in $(cat /proc/cmdline); do
	case $arg in
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
t0=$(cut -d' ' -f1 /proc/uptime)
# Without --until: status 0 only when L2 powers itself off (PSCI
# SYSTEM_OFF) after its marker; --timeout bounds the wait.
nicvisor-shim run --kernel /images/Image --initrd /images/l2-initramfs.cpio.gz \
	--cmdline "$l2args" --vcpus "$vcpus" --memory 256 --timeout "$timeout"
rc=$?
t1=$(cut -d' ' -f1 /proc/uptime)
echo "NICVISOR-ARM64-L1-SHIM-EXIT=$rc start=$t0 end=$t1"
# PSCI SYSTEM_RESET: the shim ends with status 104 (guest reset).
if [ "$reboot" = 1 ]; then
	nicvisor-shim run --kernel /images/Image --initrd /images/l2-initramfs.cpio.gz \
		--cmdline "$l2args nv.reboot" --vcpus 1 --memory 256 --timeout "$timeout"
	echo "NICVISOR-ARM64-L1-SHIM-REBOOT-EXIT=$?"
fi
poweroff -f
