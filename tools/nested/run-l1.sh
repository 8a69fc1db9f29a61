#!/bin/bash
# Boot the nested test host (L1) with a payload and report the payload's
# exit status. L1 is Debian's kernel under QEMU software emulation with
# -cpu max (less PKU and MPX): it has a working /dev/kvm (kvm_amd, nested
# paging) and reaches the outer machine's loopback services at 10.0.2.2
# (QEMU user networking).
#
# Usage: run-l1.sh [OPTION]... [--] [COMMAND [ARG]...]
#   -a, --add SRC[:DEST]  put SRC (file or directory) into L1 at DEST
#                         (default /payload/<name>); executables and shared
#                         objects (*.so, *.so.*, e.g. DPDK drivers) found in
#                         it bring the libraries ldd names, at the same
#                         paths. Repeatable.
#   -s, --script FILE     run FILE inside L1 as the payload (/payload/run)
#   -c, --cmd STRING      run STRING with sh -c inside L1 (default: the
#                         COMMAND after the options; neither: boot only)
#   -e, --env KEY=VALUE   export in L1 before the payload. Repeatable.
#   -t, --timeout SEC     kill L1 after SEC seconds (default 300)
#   -m, --mem MIB         L1 memory (default 1024)
#   -p, --cpus N          L1 vCPUs (default 2)
#   -l, --log FILE        L1 console log (default: a temp file, removed)
#   -q, --quiet           do not copy the console to stdout
#   -f, --hostfwd SPEC    QEMU user-net forward, e.g. tcp:127.0.0.1:5555-:5555
#       --pidfile FILE    write QEMU's PID there once it runs
#       --stall SECS      once L1 is ready, treat a console silent for SECS
#                         as a frozen L1 (status 124, L1 killed), before the
#                         timeout; for payloads that print as they go
#       --append STRING   more L1 kernel command line (e.g. nv.debug)
#       --qemu-arg ARG    one more QEMU argument. Repeatable.
#   -i, --images DIR      images directory (default $NV_IMAGES, else
#                         <source>/build/images)
#                         (NV_L1_QEMU: the qemu-system-x86_64 to run L1
#                         with, default the one on PATH)
#       --keep            keep the temp directory (printed)
#       --interactive     console on this terminal (Ctrl-A X quits), a shell
#                         after the payload, no timeout: for people
#
# Exit status: the payload's, or
#   124  timeout (L1 killed)     125  L1 ended without reporting a status
#   126  usage or setup error    77   QEMU is not installed (skip)
#   123  L1's kernel failed (L1 killed): a soft lockup, a double fault, a
#        panic or another kernel BUG, or L1 froze (its /init's heartbeat
#        stopped for NV_L1_HEARTBEAT_DEAD s, default 30): the emulator's
#        fault when KVM runs nested in TCG (see README.md); the run says
#        nothing about the payload (callers may run it again). run-l1
#        prints what it saw as "run-l1: L1-KERNEL-FAULT: <line>".
#
# Console markers (from L1's /init): NV-L1-READY ..., NV-L1-EXIT=<rc>.
# QEMU stays a child of this script: to stop L1 early, send this script
# SIGTERM (it kills QEMU by PID and cleans up) or kill the PID it reports.
set -eu

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
imgtool=$here/../guest/imgtool.py

usage() {
	sed -n '2,/^set -eu/{/^set -eu/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
	exit 0
}
die() {
	echo "run-l1: $*" >&2
	exit 126
}
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

adds=() envs=() fwds=() qargs=()
script="" cmd="" timeout=300 mem=1024 cpus=2 log="" quiet=0 pidfile="" stall=0
append="" images=${NV_IMAGES:-$here/../../build/images} keep=0 interactive=0
while [ $# -gt 0 ]; do
	case "$1" in
	-a | --add) adds+=("$2"); shift ;;
	-s | --script) script=$2; shift ;;
	-c | --cmd) cmd=$2; shift ;;
	-e | --env) envs+=("$2"); shift ;;
	-t | --timeout) timeout=$2; shift ;;
	-m | --mem) mem=$2; shift ;;
	-p | --cpus) cpus=$2; shift ;;
	-l | --log) log=$2; shift ;;
	-q | --quiet) quiet=1 ;;
	-f | --hostfwd) fwds+=("$2"); shift ;;
	--pidfile) pidfile=$2; shift ;;
	--stall) stall=$2; shift ;;
	--append) append=$2; shift ;;
	--qemu-arg) qargs+=("$2"); shift ;;
	-i | --images) images=$2; shift ;;
	--keep) keep=1 ;;
	--interactive) interactive=1 ;;
	-h | --help) usage ;;
	--) shift; break ;;
	-*) die "unknown option $1 (see --help)" ;;
	*) break ;;
	esac
	shift
done
if [ $# -gt 0 ]; then
	[ -z "$cmd" ] || die "both --cmd and a COMMAND given"
	# Quote each word for L1's busybox sh.
	for w in "$@"; do
		cmd+="'${w//\'/\'\\\'\'}' "
	done
fi

qemu=${NV_L1_QEMU:-$(command -v qemu-system-x86_64 || true)}
if [ -z "$qemu" ]; then
	echo "run-l1: SKIP: qemu-system-x86_64 not installed (tools/deps.sh)" >&2
	exit 77
fi
for f in vmlinux l1-initramfs.cpio.gz; do
	[ -f "$images/$f" ] || die "$images/$f missing (ninja -C build images)"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/nv-l1.XXXXXX")
qpid="" tpid="" log=${log:-$tmp/console.log}
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "$qpid" ] && kill -0 "$qpid" 2>/dev/null; then
		kill -TERM "$qpid" 2>/dev/null || true
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			kill -0 "$qpid" 2>/dev/null || break
			sleep 0.2
		done
		kill -KILL "$qpid" 2>/dev/null || true
	fi
	[ -z "$qpid" ] || wait "$qpid" 2>/dev/null || true
	if [ -n "$tpid" ]; then
		sleep 0.3 # let tail print the last lines
		kill "$tpid" 2>/dev/null || true
		wait "$tpid" 2>/dev/null || true
	fi
	if [ "$quiet" = 1 ] && { [ "$rc" = 124 ] || [ "$rc" = 125 ]; } && [ -s "$log" ]; then
		echo "run-l1: last console lines ($log):" >&2
		tail -n 40 "$log" | tr -d '\r' >&2
	fi
	if [ "$keep" = 1 ]; then
		echo "run-l1: kept $tmp" >&2
	else
		rm -rf "$tmp"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# --- the payload ------------------------------------------------------------
root=$tmp/root
mkdir -p "$root/payload"

# copy_libs FILE: the shared libraries FILE needs, at their own paths.
copy_libs() {
	local lib
	for lib in $(ldd "$1" 2>/dev/null | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }'); do
		[ -e "$root$lib" ] && continue
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
}

for a in ${adds[@]+"${adds[@]}"}; do
	src=${a%%:*}
	dest=/payload/$(basename "$src")
	[ "$src" = "$a" ] || dest=${a#*:}
	[ -e "$src" ] || die "--add $src: no such file"
	mkdir -p "$root$(dirname "$dest")"
	cp -rL "$src" "$root$dest"
	while IFS= read -r -d '' f; do
		copy_libs "$f"
	done < <(find "$root$dest" -type f \( -perm -u+x -o -name '*.so' -o -name '*.so.*' \) -print0)
done
if [ -n "$script" ]; then
	cp "$script" "$root/payload/run"
	chmod 755 "$root/payload/run"
fi
[ -z "$cmd" ] || printf '%s\n' "$cmd" >"$root/payload/cmd"
for e in ${envs[@]+"${envs[@]}"}; do
	k=${e%%=*} v=${e#*=}
	printf "export %s='%s'\n" "$k" "${v//\'/\'\\\'\'}" >>"$root/payload/env"
done

initrd=$tmp/initrd
cp "$images/l1-initramfs.cpio.gz" "$initrd"
# The kernel reads concatenated archives; an uncompressed one must start
# 4-byte aligned (init/initramfs.c).
pad=$(((4 - $(stat -c %s "$initrd") % 4) % 4))
head -c "$pad" /dev/zero >>"$initrd"
python3 "$imgtool" cpio "$tmp/payload.cpio" "$root"
cat "$tmp/payload.cpio" >>"$initrd"
rm -f "$tmp/payload.cpio"

# --- boot -------------------------------------------------------------------
# Without tsc_early_khz, about 1 boot in 10 hung calibrating against the PIT
# under emulation; TCG's TSC runs at the host's rate.
tsc_khz=${NV_TSC_KHZ:-$(awk -F: '/^cpu MHz/ { printf "%d", $2 * 1000; exit }' /proc/cpuinfo)}
[ -n "$tsc_khz" ] || tsc_khz=2700000
netdev=user,id=n0
for f in ${fwds[@]+"${fwds[@]}"}; do
	netdev+=",hostfwd=$f"
done
# Boot time under emulation: crypto self-tests cost about 0.6 s, Spectre
# mitigations slow every kernel path, and microvm has no PCI to probe.
L1_FAST="cryptomgr.notests mitigations=off pci=off"
# Without protection keys and MPX, L1's KVM swaps less FPU state around
# each world switch: 1 L1 kernel fault in 35 guest boots against 14 in 95
# with all of -cpu max (README.md, "When L1's kernel fails").
L1_CPU=max,pku=off,mpx=off
: >"$log"

if [ "$interactive" = 1 ]; then
	"$qemu" -M microvm -accel tcg -cpu "$L1_CPU" -m "$mem" -smp "$cpus" \
		-nodefaults -no-user-config -display none -no-reboot -serial mon:stdio \
		-netdev "$netdev" -device virtio-net-device,netdev=n0 \
		-kernel "$images/vmlinux" -initrd "$initrd" \
		-append "console=ttyS0 quiet panic=-1 tsc_early_khz=$tsc_khz $L1_FAST nv.shell $append" \
		${qargs[@]+"${qargs[@]}"}
	exit 0
fi

t0=$(now)
hb=$tmp/heartbeat
: >"$hb"
"$qemu" -M microvm -accel tcg -cpu "$L1_CPU" -m "$mem" -smp "$cpus" \
	-nodefaults -no-user-config -display none -no-reboot \
	-chardev "file,id=con,path=$log" -serial chardev:con \
	-chardev "file,id=hb,path=$hb" -device isa-serial,chardev=hb,index=1 \
	-netdev "$netdev" -device virtio-net-device,netdev=n0 \
	-kernel "$images/vmlinux" -initrd "$initrd" \
	-append "console=ttyS0 quiet panic=-1 tsc_early_khz=$tsc_khz $L1_FAST nv.heartbeat $append" \
	${qargs[@]+"${qargs[@]}"} </dev/null &
qpid=$!
echo "run-l1: NV-L1-QEMU-PID=$qpid" >&2
[ -z "$pidfile" ] || echo "$qpid" >"$pidfile"
if [ "$quiet" = 0 ]; then
	tail -n +1 -F --pid="$qpid" "$log" 2>/dev/null &
	tpid=$!
fi

exit_marker() {
	tr -d '\r' <"$log" | sed -n 's/^NV-L1-EXIT=\([0-9]*\)$/\1/p' | head -n 1
}

alive() {
	local st
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
	[ "${st%% *}" != Z ]
}

# L1's kernel failing. A user-space payload that did this would have hit a
# kernel bug; what we have seen are faults of TCG's nested SVM (README.md).
KERNEL_FAULT='\] (BUG: |watchdog: BUG|Kernel panic|traps: PANIC|general protection fault,|Oops: )'
# L1's /init writes its uptime to the second serial port every 2 s: none
# for this long, once it has begun, and L1 has frozen (seen with no kernel
# line at all, both vCPUs stuck).
hb_dead=${NV_L1_HEARTBEAT_DEAD:-30}
kernel_fault() { grep -a -m 1 -E "$KERNEL_FAULT" "$log" | tr -d '\r' || true; }
# l1_failed WHAT HOW: report L1's fault and end with 123 (the EXIT trap
# stops QEMU if it still runs).
l1_failed() {
	echo "run-l1: L1-KERNEL-FAULT: $1" >&2
	echo "run-l1: L1's kernel failed; $2" >&2
	exit 123
}
hb_size=0 hb_since=$(date +%s)
rc="" t_ready="" deadline=$(awk -v t="$t0" -v d="$timeout" 'BEGIN { printf "%d", t + d }')
log_size=0 quiet_since=$(date +%s)
while :; do
	if [ -z "$t_ready" ] && grep -q '^NV-L1-READY' "$log"; then
		t_ready=$(now)
	fi
	if [ "$stall" -gt 0 ]; then
		size=$(stat -c %s "$log" 2>/dev/null || echo 0)
		if [ "$size" != "$log_size" ]; then
			log_size=$size quiet_since=$(date +%s)
		elif [ -n "$t_ready" ] && [ $(($(date +%s) - quiet_since)) -ge "$stall" ]; then
			echo "run-l1: STALL: the console has been silent for ${stall}s, killing L1" \
				"(PID $qpid)" >&2
			exit 124
		fi
	fi
	rc=$(exit_marker)
	[ -z "$rc" ] || break
	if ! alive "$qpid"; then
		wait "$qpid" && qrc=0 || qrc=$?
		qpid=""
		# It may have printed the marker and powered off since we looked.
		rc=$(exit_marker)
		[ -z "$rc" ] || break
		# A panic powers L1 off at once (panic=-1, -no-reboot).
		fault=$(kernel_fault)
		[ -z "$fault" ] || l1_failed "$fault" "L1 ended (QEMU status $qrc)"
		echo "run-l1: L1 ended (QEMU status $qrc) without NV-L1-EXIT" >&2
		exit 125
	fi
	if [ "$(date +%s)" -ge "$deadline" ]; then
		echo "run-l1: TIMEOUT after ${timeout}s, killing L1 (PID $qpid)" >&2
		exit 124
	fi
	fault=$(kernel_fault)
	size=$(stat -c %s "$hb" 2>/dev/null || echo 0)
	if [ "$size" != "$hb_size" ]; then
		hb_size=$size hb_since=$(date +%s)
	elif [ "$size" != 0 ] && [ $(($(date +%s) - hb_since)) -ge "$hb_dead" ]; then
		fault="L1 froze: no heartbeat for ${hb_dead}s (last uptime $(tail -n 1 "$hb" | tr -d '\r'))"
	fi
	if [ -n "$fault" ]; then
		# A moment for the kernel to print the traces behind it.
		sleep 2
		l1_failed "$fault" "killing L1 (PID $qpid)"
	fi
	sleep 0.1
done
t_exit=$(now)
# L1 powers off by itself right after the marker.
for _ in $(seq 50); do
	if [ -z "$qpid" ] || ! alive "$qpid"; then break; fi
	sleep 0.1
done
t_end=$(now)
echo "run-l1: ready $(elapsed "$t0" "${t_ready:-$t_exit}")s," \
	"payload done $(elapsed "$t0" "$t_exit")s, total $(elapsed "$t0" "$t_end")s," \
	"status $rc" >&2
exit "$rc"
