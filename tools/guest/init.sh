#!/bin/sh
# /init of the nicvisor guest (L2) initramfs: busybox and the virtio
# modules of the Debian kernel.
#
# Console protocol (what tests wait for):
#   NICVISOR-GUEST-READY                       userspace is up
#   NICVISOR-GUEST-INFO kernel=... cpus=...    one summary line
#   NICVISOR-CMD-EXIT=<rc>                     after nv.cmd / nv.cmd64
#   NICVISOR-GUEST-POWEROFF reason=...         just before power off
#
# Kernel command line knobs:
#   nv.poweroff           power off right after the summary
#   nv.cmd=<cmd>          run <cmd> with sh -c, report its status, power off;
#                         quote it for spaces: nv.cmd="echo a b"
#   nv.cmd64=<base64>     the same with a base64-encoded command
#   nv.ip=<addr/prefix>[,<gateway>]   configure eth0 statically
#   nv.fstest=<dev>[,<dev>...]   before nv.cmd: nv-fstest on each disk (mkfs,
#                         mount, write, remount, sha256sum -c); a failure
#                         makes the command's status 100 + its index
#   nv.fs                 insert the file system modules (ext4, which also
#                         mounts ext2) at boot; nv.fstest implies it, and
#                         nv-fstest inserts them itself. Off by default:
#                         they cost about 0.5 s of boot under emulation
#   nv.debug              trace this script
export PATH=/bin
umask 022

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /tmp /run
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run

CMDLINE=" $(cat /proc/cmdline) "

# nv_arg NAME: print the value of nv.NAME=VALUE or nv.NAME="VALUE".
nv_arg() {
	case "$CMDLINE" in
	*" nv.$1=\""*)
		v=${CMDLINE#*" nv.$1=\""}
		printf '%s\n' "${v%%\"*}"
		;;
	*" nv.$1="*)
		v=${CMDLINE#*" nv.$1="}
		printf '%s\n' "${v%% *}"
		;;
	*) return 1 ;;
	esac
}

nv_flag() {
	case "$CMDLINE" in
	*" nv.$1 "* | *" nv.$1=1 "*) return 0 ;;
	*) return 1 ;;
	esac
}

nv_poweroff() {
	echo "NICVISOR-GUEST-POWEROFF reason=$1"
	sync
	poweroff -f
	sleep 5
}

nv_flag debug && set -x

# Modules in dependency order, computed at build time.
while read -r ko; do
	insmod "/lib/modules/$ko" 2>/dev/null ||
		echo "nv-init: insmod $ko failed" >&2
done </lib/modules/load.order
# File systems (ext4, also the ext2 driver here), when asked for and the
# image has them.
if [ -f /lib/modules/fs.order ] && { nv_flag fs || nv_arg fstest >/dev/null; }; then
	while read -r ko; do
		insmod "/lib/modules/$ko" 2>/dev/null ||
			echo "nv-init: insmod $ko failed" >&2
	done </lib/modules/fs.order
fi

hostname nv-guest
ip link set lo up
if ip_arg=$(nv_arg ip); then
	ip link set eth0 up
	ip addr add "${ip_arg%%,*}" dev eth0
	case "$ip_arg" in
	*,*) ip route add default via "${ip_arg#*,}" ;;
	esac
fi

# ACPI power button (button + evdev) -> acpid -> /etc/acpi/PWRF/00000080.
# Wait until acpid holds the input device, so a press right after the
# ready marker is not lost.
holds_input() {
	for fd in "/proc/$1/fd/"*; do
		case $(readlink "$fd") in /dev/input/*) return 0 ;; esac
	done
	return 1
}
acpid -f -l /dev/null 2>/dev/null &
acpid_pid=$!
i=0
while [ $i -lt 100 ] && ! holds_input "$acpid_pid"; do
	sleep 0.02
	i=$((i + 1))
done
[ $i -lt 100 ] || echo "nv-init: acpid has no input device" >&2

read -r up _ </proc/uptime
mem=$(sed -n 's/^MemTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo)
echo "NICVISOR-GUEST-READY"
echo "NICVISOR-GUEST-INFO kernel=$(uname -r) cpus=$(nproc)" \
	"online=$(cat /sys/devices/system/cpu/online) mem_kib=$mem uptime=$up"

cmd=""
if c64=$(nv_arg cmd64); then
	cmd=$(printf '%s' "$c64" | base64 -d)
elif c=$(nv_arg cmd); then
	cmd=$c
fi
fs_rc=0
if fs_arg=$(nv_arg fstest); then
	n=0
	for d in $(echo "$fs_arg" | tr , ' '); do
		n=$((n + 1))
		nv-fstest "$d" || { [ $fs_rc != 0 ] || fs_rc=$((100 + n)); }
	done
	[ -n "$cmd" ] || {
		echo "NICVISOR-CMD-EXIT=$fs_rc"
		nv_poweroff cmd
	}
fi
if [ -n "$cmd" ]; then
	sh -c "$cmd"
	rc=$?
	[ $fs_rc = 0 ] || rc=$fs_rc
	echo "NICVISOR-CMD-EXIT=$rc"
	nv_poweroff cmd
fi
nv_flag poweroff && nv_poweroff cmdline

# PID 1 must not exit: give the console a shell, again after each exit.
while :; do
	setsid cttyhack sh -l
	sleep 1
done
