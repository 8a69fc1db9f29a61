#!/bin/bash
# virtio-blk end to end on this machine's /dev/kvm: the purpose-built
# driver (tests/guests/blk.c) in a VM of `nicvisor-shim run --disk`, and
# qemu-storage-daemon's vhost-user-blk export of a raw image file as the
# backend. The image is checked on the host afterwards.
#
# Usage: blk-qsd.sh SCENARIO NICVISOR_SHIM GUEST_DIR
#   rw         one queue: the host's sector read, 4 KiB written, read back,
#              flushed, bad requests refused, reset (blk_rw); the image
#              holds what the guest wrote
#   ro         `--disk SOCKET,ro` on a read-only export: RO offered, the
#              write refused, the image unchanged (blk_ro)
#   mq         `--disk SOCKET,queues=2`, 2 vCPUs, an export with 2 queues:
#              a write and read on each queue, each on its own MSI-X vector
#              (blk_mq); the image holds both queues' sectors
#   durable    the guest writes and flushes, then the VM's process and the
#              backend are killed with SIGKILL: the image holds the write
#              (blk_durable)
#   usage      bad --disk arguments are refused with status 2 and a
#              message naming the problem (no KVM needed)
#   reconnect  the backend is killed (SIGKILL) and started again 3 s later
#              while the guest runs; the requests the guest posted
#              meanwhile wait and complete on the new backend
#              (blk_reconnect)
# Skips (77) without /dev/kvm or qemu-storage-daemon. Every wait is
# bounded; the test ends what it started, by PID, and removes its files.
set -u
scenario=$1
shim=$2
guests=$3
name="blk-$scenario"

skip() {
	echo "SKIP: $name: $*"
	exit 77
}

# usage SHOULD_SAY ARGS...: the shim refuses the arguments (status 2).
usage() {
	local want=$1 out rc=0
	shift
	out=$("$shim" run --kernel /nonexistent/kernel "$@" 2>&1 </dev/null) || rc=$?
	if [ "$rc" != 2 ] || ! grep -q -- "$want" <<<"$out"; then
		echo "FAIL: $name: '$*': status $rc, '$out' (wanted 2 and '$want')"
		exit 1
	fi
}
if [ "$scenario" = usage ]; then
	usage "not an absolute path" --disk relative.sock
	usage "not an absolute path" --disk ""
	usage "not an absolute path" --disk "/$(printf 'x%.0s' $(seq 120)).sock"
	usage "queues: not in 1..8" --disk /a.sock,queues=0
	usage "queues: not in 1..8" --disk /a.sock,queues=9
	usage "queues: not in 1..8" --disk /a.sock,queues=1x
	usage "queues: not in 1..8" --disk /a.sock,queues=
	usage "unknown option \"rw\"" --disk /a.sock,rw
	usage "unknown option" --disk /a.sock,ro,
	usage "disk 1: queues" --disk /a.sock --disk /b.sock,queues=99
	usage "too many disks" $(for i in $(seq 9); do echo --disk /d$i.sock; done)
	usage "too long" --disk "/a.sock$(printf ',ro%.0s' $(seq 90))"
	echo "ok: $name"
	exit 0
fi
[ -r /dev/kvm ] && [ -w /dev/kvm ] || skip "no usable /dev/kvm"
command -v qemu-storage-daemon >/dev/null 2>&1 || skip "qemu-storage-daemon is not installed"
command -v python3 >/dev/null 2>&1 || skip "python3 is not installed"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/nv-blk.XXXXXX")
sock="$tmp/blk.sock"
img="$tmp/disk.img"
pids=()

cleanup() {
	local p i
	for p in "${pids[@]}"; do
		kill -TERM "$p" 2>/dev/null || continue
		for i in $(seq 50); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if [ "${failed:-1}" != 0 ]; then
		for f in "$tmp"/*.log; do
			[ -f "$f" ] || continue
			echo "---- $f (last 40 lines)"
			tail -n 40 "$f"
		done
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() {
	echo "FAIL: $name: $*"
	failed=1
	exit 1
}

# A 4 MiB image, sector 64 full of 0x5a (the guest checks it).
python3 - "$img" <<'PY' || die "cannot make the image"
import sys
with open(sys.argv[1], "wb") as f:
    f.truncate(4 << 20)
    f.seek(64 * 512)
    f.write(b"\x5a" * 512)
PY
sum_before=$(sha256sum "$img" | cut -d' ' -f1)

# qsd TAG WRITABLE QUEUES: the export on $sock; waits for the socket.
qsd() {
	local tag=$1 writable=$2 queues=$3 i
	rm -f "$sock"
	# Not under timeout(1): the reconnect scenario kills this very PID.
	qemu-storage-daemon \
		--blockdev "file,filename=$img,node-name=d,cache.direct=off" \
		--export "type=vhost-user-blk,id=e,node-name=d,addr.type=unix,addr.path=$sock,writable=$writable,num-queues=$queues" \
		</dev/null >"$tmp/qsd-$tag.log" 2>&1 &
	qsd_pid=$!
	pids+=("$qsd_pid")
	for i in $(seq 100); do
		[ -S "$sock" ] && return 0
		kill -0 "$qsd_pid" 2>/dev/null || die "qemu-storage-daemon $tag exited: $(tail -n 3 "$tmp/qsd-$tag.log")"
		sleep 0.1
	done
	die "qemu-storage-daemon $tag did not listen in 10 s"
}

# shim GUEST VCPUS DISKARG: the VM in the background, console in vm.log,
# the shim's log in vm-err.log.
shim() {
	timeout 120 "$shim" run --kernel "$guests/$1.elf" --debug-exit --vcpus "$2" \
		--memory 64 --disk "$3" --timeout 100 --log-level info \
		</dev/null >"$tmp/vm.log" 2>"$tmp/vm-err.log" &
	vm_pid=$!
	pids+=("$vm_pid")
}

wait_console() {
	local i
	for i in $(seq $(($2 * 10))); do
		grep -q -- "$1" "$tmp/vm.log" && return 0
		kill -0 "$vm_pid" 2>/dev/null || die "the VM ended before '$1'"
		sleep 0.1
	done
	die "no '$1' on the console in $2 s"
}

# The VM's end: debug exit 0x10 is status 16, and the console says BLK-OK.
wait_vm() {
	local rc=0
	wait "$vm_pid" || rc=$?
	grep -q '^BLK-FAIL' "$tmp/vm.log" && die "$(grep '^BLK-FAIL' "$tmp/vm.log")"
	[ "$rc" = 16 ] || die "the VM's exit status is $rc, not 16 (debug exit OK)"
	grep -q '^BLK-OK' "$tmp/vm.log" || die "no BLK-OK"
	grep -q '^BLK capacity=0x2000$' "$tmp/vm.log" || die "capacity is not 8192 sectors (4 MiB)"
}

# check_sectors QUEUES: what the guest wrote is in the image file: for each
# queue q, sectors 128 + 8 q .. + 7: the sector number (8 bytes LE), then
# 0xa0 + q; the host's sector 64 untouched; nothing else written.
check_sectors() {
	python3 - "$img" "$1" <<'PY' || die "the image does not hold what the guest wrote"
import struct, sys
data = open(sys.argv[1], "rb").read()
nq = int(sys.argv[2])
want = bytearray(4 << 20)
want[64 * 512:65 * 512] = b"\x5a" * 512
for q in range(nq):
    for s in range(128 + 8 * q, 136 + 8 * q):
        want[s * 512:(s + 1) * 512] = struct.pack("<Q", s) + bytes([0xa0 + q]) * 504
if data != bytes(want):
    bad = next(i for i in range(len(want)) if data[i] != want[i])
    print("first difference at byte %d (sector %d)" % (bad, bad // 512))
    sys.exit(1)
PY
}

# The ioeventfd took every kick to the backend: none exited to the shim.
check_kicks() {
	grep -q "disk0: .* 0 kicks exited" "$tmp/vm-err.log" ||
		die "kicks exited to the shim: $(grep 'kicks exited' "$tmp/vm-err.log")"
}

case $scenario in
rw)
	qsd a on 1
	shim blk_rw 1 "$sock"
	wait_vm
	grep -q '^BLK host-sector=0x40' "$tmp/vm.log" || die "the host's sector was not read"
	grep -q '^BLK bad-requests-refused=0x2' "$tmp/vm.log" || die "bad requests not checked"
	grep -q '^BLK reset-read=0x1' "$tmp/vm.log" || die "no read after reset"
	check_kicks
	kill -0 "$qsd_pid" 2>/dev/null || die "qemu-storage-daemon died"
	check_sectors 1
	;;
ro)
	qsd a off 1
	shim blk_ro 1 "$sock,ro"
	wait_vm
	grep -q '^BLK write-refused=0x1' "$tmp/vm.log" || die "the write was not refused"
	check_kicks
	[ "$(sha256sum "$img" | cut -d' ' -f1)" = "$sum_before" ] || die "the read-only image changed"
	;;
mq)
	qsd a on 2
	shim blk_mq 2 "$sock,queues=2"
	wait_vm
	grep -q '^BLK num-queues=0x2' "$tmp/vm.log" || die "num_queues is not 2"
	grep -q '^BLK queue-msi=0x1' "$tmp/vm.log" || die "no MSI on the second queue"
	grep -q 'disk0: backend .* connected (.*, 2 queues)' "$tmp/vm-err.log" ||
		die "the shim did not offer 2 queues"
	check_kicks
	check_sectors 2
	;;
reconnect)
	qsd a on 1
	shim blk_reconnect 1 "$sock"
	wait_console BLK-WAIT-RESTART 30
	kill -KILL "$qsd_pid"
	wait "$qsd_pid" 2>/dev/null
	# The guest posts its next requests 2 s after its marker: while there
	# is no backend.
	sleep 3
	kill -0 "$vm_pid" 2>/dev/null || die "the VM ended while the backend was away"
	qsd b on 1
	wait_vm
	grep -q '^BLK after-restart=0x1' "$tmp/vm.log" || die "no request after the restart"
	# The requests waited for the new backend (about 1 s), not failed.
	waited=$(sed -n 's/^BLK restart-wait-ms=//p' "$tmp/vm.log")
	[ -n "$waited" ] && [ $((waited)) -ge 300 ] ||
		die "the requests did not wait for the backend (${waited:-?} ms)"
	[ "$(grep -c 'backend .* connected' "$tmp/vm-err.log")" -ge 2 ] ||
		die "the shim did not connect twice"
	grep -q 'requests wait' "$tmp/vm-err.log" || die "the shim did not see the backend go"
	# Exactly one loss and one comeback: the new backend took the rings
	# with the requests already waiting on them at once.
	grep -q 'disk0: .*, 2 connects, 1 disconnects' "$tmp/vm-err.log" ||
		die "not one clean reconnection: $(grep 'connects' "$tmp/vm-err.log")"
	check_sectors 1
	;;
durable)
	qsd a on 1
	shim blk_durable 1 "$sock"
	wait_console BLK-FLUSHED 30
	# The VM's process: the child of `nicvisor-shim run`, itself the
	# child of timeout(1).
	run_pid=$(ps -o pid= --ppid "$vm_pid" | tr -d ' ' | head -n 1)
	child=$(ps -o pid= --ppid "${run_pid:-0}" | tr -d ' ' | head -n 1)
	[ -n "$child" ] || die "cannot find the VM's process"
	kill -KILL "$child"
	kill -KILL "$qsd_pid"
	wait "$qsd_pid" 2>/dev/null
	rc=0
	wait "$vm_pid" || rc=$?
	[ "$rc" = 103 ] || die "nicvisor-shim run ended with $rc, not 103 (the VM's process crashed)"
	check_sectors 1
	;;
*)
	echo "usage: $0 rw|ro|mq|reconnect|durable|usage SHIM GUEST_DIR" >&2
	exit 2
	;;
esac
failed=0
echo "ok: $name"
sed -n 's/^BLK /  /p' "$tmp/vm.log" | head -n 40
