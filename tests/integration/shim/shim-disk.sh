#!/bin/bash
# Integration test (shim): disks through the shim daemon. The real
# nicvisor-shim daemon on this machine's /dev/kvm gets a LaunchVm with one
# DiskAttachment from an agent played by shim_disk_agent (the real agent
# serves its volumes from a block backend whose socket is not a real
# vhost-user-blk one in tests); qemu-storage-daemon exports an image file
# on that socket, and the purpose-built virtio-blk driver (tests/guests/blk.c)
# runs in the VM. The image is checked afterwards.
#
#   shim-disk.sh CASE
#     rw   1 vCPU, the agent names 1 queue: the host's sector read, 4 KiB
#          written, read back, flushed (blk_rw); the image holds the write
#     mq   2 vCPUs, the agent names 8 queues, the export has 2: the daemon
#          lowers the disk to 2 queues (the backend waits for every queue
#          named), one write and read per queue (blk_mq)
#     ro   a read-only disk: the write refused, the image unchanged (blk_ro)
# Each case first has the daemon refuse a disk of 0 queues (FAILED, the
# field named, no VM process).
#
# Environment (meson sets it): NICVISOR_SHIM, SHIM_DISK_AGENT, GUESTS (the
# tests/guests build directory). Skips (77) without /dev/kvm or
# qemu-storage-daemon.
set -eu
. "$(dirname "$0")/../lib/nv-test.sh"

case_name=${1:?usage: shim-disk.sh rw|mq|ro}
NV_TEST_NAME="shim-disk-$case_name"
case $case_name in
rw) guest=blk_rw vcpus=1 queues=1 export_queues=1 mode=rw writable=on ;;
mq) guest=blk_mq vcpus=2 queues=8 export_queues=2 mode=rw writable=on ;;
ro) guest=blk_ro vcpus=1 queues=1 export_queues=1 mode=ro writable=off ;;
*) nv_die "unknown case $case_name" ;;
esac
[ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ] || nv_skip "no usable /dev/kvm"
nv_require_cmd qemu-storage-daemon python3
nv_require_file "$NICVISOR_SHIM" "$SHIM_DISK_AGENT" "$GUESTS/$guest.elf"

SOUTH="ipc://$NV_TMP/south.sock"
SOCK="$NV_TMP/blk.sock"
IMG="$NV_TMP/disk.img"

# A 4 MiB image, sector 64 full of 0x5a (the guest checks it).
python3 - "$IMG" <<'PY' || nv_die "cannot make the image"
import sys
with open(sys.argv[1], "wb") as f:
    f.truncate(4 << 20)
    f.seek(64 * 512)
    f.write(b"\x5a" * 512)
PY
sum_before=$(sha256sum "$IMG" | cut -d' ' -f1)

nv_bg qsd qemu-storage-daemon \
	--blockdev "file,filename=$IMG,node-name=d,cache.direct=off" \
	--export "type=vhost-user-blk,id=e,node-name=d,addr.type=unix,addr.path=$SOCK,writable=$writable,num-queues=$export_queues"
QSD_PID=$NV_BG_PID
nv_wait_socket "$SOCK" 10 "$QSD_PID" || nv_die "qemu-storage-daemon did not listen"

nv_bg agent "$SHIM_DISK_AGENT" "$SOUTH" "$GUESTS/$guest.elf" "$vcpus" "$SOCK" "$queues" "$mode" \
	"$NV_TMP/vm.console"
AGENT_PID=$NV_BG_PID
nv_wait_socket "$NV_TMP/south.sock" 10 "$AGENT_PID" || nv_die "the agent did not listen"

nv_bg shim "$NICVISOR_SHIM" --agent "$SOUTH" --host-id host-disk --debug-exit --log-level info
SHIM_PID=$NV_BG_PID

rc=0
nv_wait_exit "$AGENT_PID" 150 || rc=$?
nv_alive "$SHIM_PID" || nv_die "the shim died: $(tail -5 "$NV_TMP/shim.log")"
grep -q '^bad launch: FAILED: launch refused: launch.disks\[0\].queues' "$NV_TMP/agent.log" ||
	nv_die "the disk of 0 queues was not refused by name"
[ "$rc" = 0 ] || nv_die "the VM did not end with its OK (agent status $rc)"
con="$NV_TMP/vm.console"
grep -q '^BLK-FAIL' "$con" && nv_die "$(grep '^BLK-FAIL' "$con")"
grep -q '^BLK-OK' "$con" || nv_die "no BLK-OK on the console"
grep -q '^BLK capacity=0x2000$' "$con" || nv_die "capacity is not 8192 sectors (4 MiB)"
nv_alive "$QSD_PID" || nv_die "qemu-storage-daemon died"

# check_sectors QUEUES: for each queue q, sectors 128 + 8 q .. + 7 hold the
# sector number (8 bytes LE), then 0xa0 + q; sector 64 untouched; nothing
# else written.
check_sectors() {
	python3 - "$IMG" "$1" <<'PY' || nv_die "the image does not hold what the guest wrote"
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

case $case_name in
rw)
	grep -q '^BLK host-sector=0x40' "$con" || nv_die "the host's sector was not read"
	check_sectors 1
	;;
mq)
	grep -q '^BLK num-queues=0x2' "$con" || nv_die "num_queues is not 2"
	grep -q 'disk0: backend .* connected (.*, 2 queues)' "$NV_TMP/shim.log" ||
		nv_die "the shim did not offer 2 queues"
	check_sectors 2
	;;
ro)
	grep -q '^BLK write-refused=0x1' "$con" || nv_die "the write was not refused"
	[ "$(sha256sum "$IMG" | cut -d' ' -f1)" = "$sum_before" ] || nv_die "the read-only image changed"
	;;
esac
nv_log "ok"
