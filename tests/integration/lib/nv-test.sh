# shellcheck shell=bash
# nicvisor integration test library. Source it from a bash test:
#
#   #!/bin/bash
#   set -eu
#   . "$(dirname "$0")/../lib/nv-test.sh"
#
# Sourcing creates a temp dir for the test ($NV_TMP) and installs an EXIT
# trap that stops every process started with nv_bg (by PID, TERM then KILL),
# prints the tail of $NV_TMP/*.log and *.console if the test failed, and
# removes $NV_TMP
# (kept if NV_KEEP_TMP=1). Processes stay children of the test: never use
# --detach/daemon modes (orphans become zombies on our machines).
#
# Environment read (meson sets them for its tests):
#   NV_BUILD    build directory (default <source>/build)
#   NV_IMAGES   guest images (default $NV_BUILD/images)
#   NV_KEEP_TMP=1  keep $NV_TMP for a post-mortem
#
# Variables set: NV_SRC (source root), NV_TMP, NV_BG_PID (last nv_bg),
#   NV_L1_PID / NV_L1_LOG (last nv_l1_start), NV_RUN_L1 (run-l1.sh),
#   NV_GUEST_CMDLINE (a fast base command line for the guest images).
#
# Messages and exits
#   nv_log MSG...            "[test-name] MSG" on stderr
#   nv_die MSG...            log, exit 1
#   nv_skip REASON...        loud SKIP line on stdout and stderr, exit 77
#   nv_require_cmd CMD...    skip unless every CMD is on PATH
#   nv_require_file PATH...  skip unless every PATH exists
#   nv_require_images        skip without QEMU; fail if the images are not built
#
# Processes
#   nv_bg NAME CMD [ARG]...  run CMD in the background, stdout+stderr to
#                            $NV_TMP/NAME.log; PID in NV_BG_PID, remembered
#   nv_alive PID             true if PID exists and is not a zombie
#   nv_stop PID [SECS]       TERM, KILL after SECS (default 5), reap; 0 if
#                            it was already gone
#   nv_wait_exit PID SECS    wait for PID (a child) to exit; its status is
#                            the return value; 124 on timeout (left running)
#
# Waiting (SECS may have a fraction; each returns 0 when met, 1 on timeout;
# PID: give up early, status 2, if that process died)
#   nv_wait_log FILE ERE SECS [PID]   until a line of FILE matches ERE
#   nv_wait_file PATH SECS [PID]      until PATH exists
#   nv_wait_socket PATH SECS [PID]    until PATH is a unix socket
#   nv_wait_port PORT SECS [PID]      until 127.0.0.1:PORT accepts TCP
#   nv_log_value FILE KEY             print VALUE of the last KEY=VALUE in FILE
#
# Ports and QEMU
#   nv_free_port             print a TCP port free on 127.0.0.1 now
#   nv_tsc_khz               the host TSC rate in kHz: pass tsc_early_khz=
#                            to every kernel booted under TCG (see below)
#   nv_qmp SOCK CMD [JSON-ARGS]   run one QMP command, print its reply
#   nv_dpdk_mempool_driver EXE    print the path of DPDK's mempool_ring driver
#                            EXE's EAL loads from its plugin directory
#                            (bring it into L1 at that path); 1 if none
#
# The nested test host (tools/nested/run-l1.sh: a Linux L1 with /dev/kvm)
#   nv_l1_start NAME [run-l1 OPTION]... [--] [COMMAND...]
#                            boot L1 with a payload in the background;
#                            console in $NV_TMP/NAME.log (NV_L1_LOG), PID of
#                            run-l1.sh in NV_L1_PID (stopping it stops L1)
#   nv_l1_wait_ready NAME SECS      until L1's NV-L1-READY; fails (and skips
#                                   if L1 has no working /dev/kvm) otherwise
#   nv_l1_wait_marker NAME ERE SECS until the L1 console shows ERE
#   nv_l1_wait NAME SECS     wait for L1 to end; returns the payload's exit
#                            status (124 timeout, 125 L1 failed)
#   nv_l1_run [run-l1 OPTION]... [--] [COMMAND...]
#                            run L1 in the foreground; returns its status
#
# Example:
#   nv_require_images
#   port=$(nv_free_port)
#   nv_bg agent "$NV_BUILD/dpu/nicvisor-dpu" --listen "tcp://127.0.0.1:$port"
#   nv_wait_port "$port" 10 "$NV_BG_PID" || nv_die "agent did not listen"
#   nv_l1_start l1 -a "$NV_BUILD/host-shim/nicvisor-shim" -t 300 -- \
#       nicvisor-shim --dpu "tcp://10.0.2.2:$port"
#   nv_l1_wait_marker l1 'NICVISOR-GUEST-READY' 120 || nv_die "no guest"
#   rc=0; nv_l1_wait l1 300 || rc=$?     # (set -e: never a bare call)

NV_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
NV_BUILD=${NV_BUILD:-$NV_SRC/build}
NV_IMAGES=${NV_IMAGES:-$NV_BUILD/images}
NV_RUN_L1=$NV_SRC/tools/nested/run-l1.sh
NV_TEST_NAME=${NV_TEST_NAME:-$(basename "$0")}
export NV_SRC NV_BUILD NV_IMAGES

# A kernel command line for the guest images that boots fast under
# emulation or nested KVM; add pci=off initcall_blacklist=cmos_init when
# the machine has no PCI and no CMOS RTC worth probing.
export NV_GUEST_CMDLINE="console=ttyS0 quiet panic=-1 cryptomgr.notests mitigations=off"

NV_TMP=$(mktemp -d "${TMPDIR:-/tmp}/nv-test.XXXXXX")
NV_PIDS=()
NV_BG_PID=""
NV_L1_PID=""
NV_L1_LOG=""

nv_log() { echo "[$NV_TEST_NAME] $*" >&2; }
nv_die() {
	nv_log "FAIL: $*"
	exit 1
}
nv_skip() {
	echo "SKIP: $NV_TEST_NAME: $*"
	echo "SKIP: $NV_TEST_NAME: $*" >&2
	exit 77
}

nv_require_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || nv_skip "$c is not installed"
	done
}
nv_require_file() {
	local f
	for f in "$@"; do
		[ -e "$f" ] || nv_skip "$f does not exist"
	done
}
nv_require_images() {
	nv_require_cmd qemu-system-x86_64 python3
	local f
	for f in vmlinux bzImage initramfs.cpio.gz l1-initramfs.cpio.gz; do
		# A build problem, not a missing capability: fail.
		[ -f "$NV_IMAGES/$f" ] ||
			nv_die "$NV_IMAGES/$f missing (ninja -C build images)"
	done
}

nv_alive() {
	local st
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
	[ "${st%% *}" != Z ]
}

nv_bg() {
	local name=$1
	shift
	"$@" >"$NV_TMP/$name.log" 2>&1 </dev/null &
	NV_BG_PID=$!
	NV_PIDS+=("$NV_BG_PID")
	nv_log "started $name (PID $NV_BG_PID): $*"
}

nv_stop() {
	local pid=$1 secs=${2:-5} n i
	if nv_alive "$pid"; then
		kill -TERM "$pid" 2>/dev/null || true
		n=$(nv__tenths "$secs")
		for ((i = 0; i < n; i++)); do
			nv_alive "$pid" || break
			sleep 0.1
		done
		if nv_alive "$pid"; then
			nv_log "PID $pid ignored SIGTERM for ${secs}s: SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	wait "$pid" 2>/dev/null || true
	return 0
}

# nv__tenths SECS: SECS (e.g. 2 or 0.5) in tenths of a second.
nv__tenths() {
	local s=$1 f=0
	[[ $s == *.* ]] && f=${s#*.} && f=${f:0:1}
	echo $((10 * ${s%%.*} + ${f:-0}))
}

nv_wait_exit() {
	local pid=$1 n i
	n=$(nv__tenths "$2")
	for ((i = 0; i < n; i++)); do
		nv_alive "$pid" || break
		sleep 0.1
	done
	nv_alive "$pid" && return 124
	local rc=0
	wait "$pid" || rc=$?
	return "$rc"
}

# nv__until SECS PID CMD...: poll CMD every 0.1 s.
nv__until() {
	local n pid=$2 i
	n=$(nv__tenths "$1")
	shift 2
	for ((i = 0; i < n; i++)); do
		"$@" && return 0
		if [ -n "$pid" ] && ! nv_alive "$pid"; then
			"$@" && return 0
			return 2
		fi
		sleep 0.1
	done
	"$@"
}

nv_wait_log() {
	nv__until "$3" "${4:-}" grep -qE -- "$2" "$1" 2>/dev/null
}
nv_wait_file() { nv__until "$2" "${3:-}" test -e "$1"; }
nv_wait_socket() { nv__until "$2" "${3:-}" test -S "$1"; }
nv__port_open() { (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
nv_wait_port() { nv__until "$2" "${3:-}" nv__port_open "$1"; }

nv_log_value() {
	tr -d '\r' <"$1" | sed -n "s/^.*$2=\\([^ ]*\\).*\$/\\1/p" | tail -n 1
}

# Software-emulated (TCG) x86 guests: without tsc_early_khz= about 1 boot
# in 5 hangs at "tsc: Unable to calibrate against PIT" on a loaded machine.
# TCG's TSC runs at the host's rate.
nv_tsc_khz() {
	local khz=${NV_TSC_KHZ:-}
	[ -n "$khz" ] || khz=$(awk -F: '/^cpu MHz/ { printf "%d", $2 * 1000; exit }' /proc/cpuinfo)
	echo "${khz:-2700000}"
}

nv_free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

nv_qmp() {
	python3 - "$@" <<'EOF'
import json, socket, sys
sock, cmd = sys.argv[1], sys.argv[2]
args = json.loads(sys.argv[3]) if len(sys.argv) > 3 else None
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sock)
f = s.makefile("rw")
f.readline()
def call(c, a=None):
    req = {"execute": c}
    if a is not None:
        req["arguments"] = a
    f.write(json.dumps(req) + "\n")
    f.flush()
    while True:
        r = json.loads(f.readline())
        if "event" not in r:
            return r
call("qmp_capabilities")
r = call(cmd, args)
print(json.dumps(r))
sys.exit(1 if "error" in r else 0)
EOF
}

nv_l1_start() {
	local name=$1
	shift
	NV_L1_LOG=$NV_TMP/$name.log
	"$NV_RUN_L1" -i "$NV_IMAGES" -q -l "$NV_L1_LOG" --pidfile "$NV_TMP/$name.qemu.pid" \
		"$@" >"$NV_TMP/$name.run-l1.log" 2>&1 </dev/null &
	NV_L1_PID=$!
	NV_PIDS+=("$NV_L1_PID")
	eval "NV_L1_PID_${name//[^A-Za-z0-9_]/_}=$NV_L1_PID"
	nv_log "started L1 $name (run-l1 PID $NV_L1_PID)"
}

nv_dpdk_mempool_driver() {
	local eal f
	eal=$(ldd "$1" 2>/dev/null | awk '/librte_eal/ { print $3 }')
	[ -n "$eal" ] || return 1
	# The file itself: the EAL loads only names ending in .so or in the
	# ABI version (.so.23.0) from its plugin directory.
	for f in "$(dirname "$eal")"/dpdk/pmds-*/librte_mempool_ring.so; do
		[ -e "$f" ] && readlink -f "$f" && return 0
	done
	return 1
}

nv__l1_pid() {
	local v="NV_L1_PID_${1//[^A-Za-z0-9_]/_}"
	echo "${!v:-}"
}

nv_l1_wait_marker() {
	local rc=0
	nv_wait_log "$NV_TMP/$1.log" "$2" "$3" "$(nv__l1_pid "$1")" || rc=$?
	return "$rc"
}

nv_l1_wait_ready() {
	local rc=0 kvm
	nv_l1_wait_marker "$1" '^NV-L1-READY' "$2" || rc=$?
	if [ "$rc" != 0 ]; then
		nv_log "L1 $1 not ready (status $rc); run-l1 said:"
		tail -n 5 "$NV_TMP/$1.run-l1.log" >&2 || true
		return 1
	fi
	kvm=$(nv_log_value "$NV_TMP/$1.log" kvm)
	[ "$kvm" = ok ] || nv_skip "L1 has no working /dev/kvm ($kvm)"
	return 0
}

nv_l1_wait() {
	local pid rc=0
	pid=$(nv__l1_pid "$1")
	nv_wait_exit "$pid" "$2" || rc=$?
	if [ "$rc" = 124 ]; then
		nv_log "L1 $1 still running after $2 s: stopping it"
		nv_stop "$pid"
	fi
	grep '^run-l1:' "$NV_TMP/$1.run-l1.log" >&2 || true
	return "$rc"
}

nv_l1_run() {
	local rc=0 err
	# run-l1's messages also in a file, where the EXIT trap finds a fault
	NV_L1_RUNS=$((${NV_L1_RUNS:-0} + 1))
	err=$NV_TMP/run$NV_L1_RUNS.run-l1.log
	"$NV_RUN_L1" -i "$NV_IMAGES" "$@" </dev/null 2>"$err" || rc=$?
	cat "$err" >&2
	return "$rc"
}

# shellcheck disable=SC2317 # run by the EXIT trap
# nv__l1_faults: after a failure, say whether an L1 of this test had its
# kernel fail (run-l1 exit 123). Such a fault surfaces in the test first as
# a timeout; L1's watchdog reports it only after 20 s or more, so wait up
# to NV_L1_FAULT_WAIT seconds (default 30) for an L1 still running. Prints
# "NV-EMULATOR-FAULT: ..." for each, which tools/test-failures.py reads.
nv__l1_faults() {
	local f name pid line t=0 wait=${NV_L1_FAULT_WAIT:-30}
	for f in "$NV_TMP"/*.run-l1.log; do
		[ -e "$f" ] || continue
		name=$(basename "$f" .run-l1.log)
		pid=$(nv__l1_pid "$name")
		while :; do
			line=$(grep -a -m 1 'L1-KERNEL-FAULT' "$f" 2>/dev/null) || true
			[ -z "$line" ] || break
			if [ -z "$pid" ] || ! nv_alive "$pid" || [ "$t" -ge $((wait * 5)) ]; then
				break
			fi
			sleep 0.2
			t=$((t + 1))
		done
		[ -z "$line" ] || echo "NV-EMULATOR-FAULT: L1 $name: ${line#*L1-KERNEL-FAULT: }" >&2
	done
}

nv__cleanup() {
	local rc=$? i f
	trap - EXIT INT TERM
	if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
		nv__l1_faults
	fi
	for ((i = ${#NV_PIDS[@]} - 1; i >= 0; i--)); do
		nv_stop "${NV_PIDS[i]}"
	done
	if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
		for f in "$NV_TMP"/*.log "$NV_TMP"/*.console; do
			[ -s "$f" ] || continue
			echo "---- last lines of ${f##*/} ----" >&2
			tail -n 30 "$f" | tr -d '\r' >&2
		done
	fi
	if [ "${NV_KEEP_TMP:-0}" = 1 ]; then
		nv_log "kept $NV_TMP"
	else
		rm -rf "$NV_TMP"
	fi
	exit "$rc"
}
trap nv__cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
