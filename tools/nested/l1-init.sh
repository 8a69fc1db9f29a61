#!/bin/sh
# /init of the nested test host (L1): Debian's kernel under QEMU software
# emulation with -cpu max, so kvm_amd loads with nested paging and L1 has a
# working /dev/kvm. It brings up eth0 on QEMU user networking (the outer
# machine's loopback is 10.0.2.2), runs the payload that run-l1.sh appended
# as a second cpio, reports its status on the console and powers off.
#
# Console protocol:
#   NV-L1-READY kernel=... cpus=... mem_kib=... kvm=ok|<why> uptime=...
#   NV-L1-EXIT=<rc>      the payload's exit status, just before power off
#
# Payload (all optional), under /payload:
#   run        executable run as the test (cwd /payload); else
#   cmd        a command line run with sh -c
#   env        sourced first (KEY=value lines)
#   bin/ lib   on PATH / found by the loader as injected
# Kernel command line: nv.shell (a console shell instead of power off after
# the payload), nv.debug (trace this script), nv.heartbeat (see below).
export PATH=/payload/bin:/payload:/bin
export HOME=/root
umask 022

# The initramfs root comes world-writable; DPDK's EAL refuses to load its
# drivers from a path with such a directory in it.
chmod 755 /
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /dev/hugepages
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
mount -t hugetlbfs hugetlbfs /dev/hugepages 2>/dev/null || true
CMDLINE=" $(cat /proc/cmdline) "
case "$CMDLINE" in *" nv.debug "*) set -x ;; esac

# Module options from the kernel command line, as modprobe would take
# them: kvm_amd.vgif=0 loads kvm_amd with vgif=0.
mod_opts() {
	local w
	for w in $CMDLINE; do
		case "$w" in "$1".*=*) printf '%s ' "${w#"$1".}" ;; esac
	done
}

while read -r ko; do
	m=$(basename "$ko" .ko | tr - _)
	# shellcheck disable=SC2046 # one word per option
	insmod "/lib/modules/$ko" $(mod_opts "$m") 2>/dev/null ||
		echo "nv-l1: insmod $ko failed" >&2
done </lib/modules/load.order

kvm=ok
if [ ! -c /dev/kvm ]; then
	kvm="no-/dev/kvm"
	grep -qw svm /proc/cpuinfo || kvm="no-svm"
elif ! : 2>/dev/null <>/dev/kvm; then
	kvm="open-failed"
fi

hostname nv-l1
ip link set lo up
if ip link set eth0 up 2>/dev/null; then
	# QEMU user networking: fixed addresses, no DHCP round trip.
	ip addr add 10.0.2.15/24 dev eth0
	ip route add default via 10.0.2.2
	echo "nameserver 10.0.2.3" >/etc/resolv.conf
else
	echo "nv-l1: no eth0" >&2
fi

# nv.heartbeat: L1's uptime on the second serial port every 2 s, so that
# run-l1.sh can tell a frozen L1 from a quiet payload.
case "$CMDLINE" in
*" nv.heartbeat "*)
	(while :; do
		read -r up _ </proc/uptime
		echo "$up"
		sleep 2
	done) >/dev/ttyS1 2>/dev/null &
	;;
esac

read -r up _ </proc/uptime
mem=$(sed -n 's/^MemTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo)
echo "NV-L1-READY kernel=$(uname -r) cpus=$(nproc) mem_kib=$mem kvm=$kvm uptime=$up"

rc=0
cd /payload 2>/dev/null || cd /
# shellcheck disable=SC1091
[ -f /payload/env ] && . /payload/env
export NV_L1=1 NV_L1_KVM=$kvm NV_OUTER=10.0.2.2
if [ -f /payload/run ]; then
	chmod +x /payload/run
	/payload/run
	rc=$?
elif [ -f /payload/cmd ]; then
	sh -c "$(cat /payload/cmd)"
	rc=$?
fi
read -r up _ </proc/uptime
echo "NV-L1-DONE uptime=$up"
echo "NV-L1-EXIT=$rc"

case "$CMDLINE" in
*" nv.shell "*)
	while :; do
		setsid cttyhack sh -l
		sleep 1
	done
	;;
esac
sync
poweroff -f
sleep 5
