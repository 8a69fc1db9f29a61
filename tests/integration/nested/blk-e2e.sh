#!/bin/bash
# VM storage through the product, end to end: nicvisorctl here talks to
# nicvisor-dpu in the nested test host (L1) over a forwarded TCP port; the
# agent's block backend and nicvisor-shim share L1 (l1-dpu-host.sh).
#
#  1. A volume, a 2-vCPU Debian guest with it as its disk: the guest makes
#     a file system, writes 35 files, syncs, unmounts, remounts and checks
#     them with sha256sum (nv-fstest).
#  2. Durability: a guest writes 4 MiB to a second volume and flushes it
#     (conv=fsync); then the agent, the shim daemon and the VM's process are
#     SIGKILLed, and the volume's file must hold the data. The agent comes
#     back with the volume.
set -eu
export NV_TEST_NAME=${NV_TEST_NAME:-nested-blk-e2e}
. "$(dirname "$0")/../lib/nv-test.sh"
. "$(dirname "$0")/nested.sh"

nv_require_images
nv_require_cmd ldd
nv_require_file "$NV_SHIM" "$NV_DPU" "$NV_CTL"
pmd=$(nv_dpdk_mempool_driver "$NV_DPU") || nv_skip "cannot find DPDK's mempool_ring driver"

api_port=$(nv_free_port)
ev_port=$(nv_free_port)
FL_CTL_PORT=$(nv_free_port)
export NICVISOR_API="tcp://127.0.0.1:$api_port"
export NICVISOR_EVENTS="tcp://127.0.0.1:$ev_port"
nv_l1_start l1 -a "$NV_SHIM" -a "$NV_DPU" -a "$pmd:$pmd" \
	-a "$NV_IMAGES/vmlinux" -a "$NV_IMAGES/initramfs.cpio.gz" \
	-s "$NV_SRC/tools/nested/l1-dpu-host.sh" -m 1536 -p 2 -t 420 \
	-f "tcp:127.0.0.1:$api_port-:7000" -f "tcp:127.0.0.1:$ev_port-:7001" \
	-f "tcp:127.0.0.1:$FL_CTL_PORT-:7070"
nv_l1_wait_ready l1 90
nv_l1_wait_marker l1 '^NV-DPU-HOST-UP' 60 || nv_die "the agent in L1 did not start"
wait_host() {
	local i
	for i in $(seq 600); do
		fl_ctl hosts 2>/dev/null | grep -Eq '^l1 +yes' && return 0
		nv_alive "$NV_L1_PID" || nv_die "L1 ended before its shim registered"
		sleep 0.2
	done
	nv_die "the shim in L1 did not register with the agent"
}
wait_host
nv_log "agent and shim up in L1"

# vm NAME VCPUS VOLUME CMDLINE-EXTRA: create and start a VM with one disk
# (kernel and initrd paths are on the DPU, L1).
vm() {
	fl_ctl create "$1" --vcpus "$2" --memory 256 --disk "$3" \
		--kernel /payload/vmlinux --initrd /payload/initramfs.cpio.gz \
		--cmdline "$NV_GUEST_CMDLINE pci=noearly $4" --start >/dev/null
}
volume_path() {
	fl_ctl --json volume get "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["path"])'
}

# 1. A file system on the disk.
fl_ctl volume create root --size 64M >/dev/null
vm fs 2 root nv.fstest=vda
fl_wait_state fs stopped 240
fl_ctl console fs | tr -d '\r' >"$NV_TMP/fs.console"
grep -aq 'NICVISOR-FS-OK dev=vda fs=ext4 files=35' "$NV_TMP/fs.console" ||
	nv_die "the guest's file system round failed: $(grep -a 'NICVISOR-FS' "$NV_TMP/fs.console" | tail -n 3)"
[ "$(grep -ac 'NICVISOR-FS-FILE' "$NV_TMP/fs.console")" = 35 ] || nv_die "expected 35 files checked"
nv_log "file system made, written and read back on the DPU's disk"

# 2. Durability across kill -9 of every nicvisor process.
fl_ctl volume create dur --size 16M >/dev/null
path=$(volume_path dur)
vm dur 1 dur "nv.cmd64=$(printf '%s' 'dd if=/dev/urandom of=/tmp/p bs=1M count=4 2>/dev/null
dd if=/tmp/p of=/dev/vda bs=1M conv=fsync 2>/dev/null || exit 20
echo "DUR-SYNCED $(sha256sum </tmp/p | cut -d" " -f1)"
sleep 600' | base64 -w0)"
if ! fl_ctl console dur --until 'DUR-SYNCED' --timeout 150 >/dev/null; then
	nv_log "guest dur's console, last lines:"
	fl_ctl console dur | tr -d '\r' | tail -n 20 >&2 || true
	nv_die "the guest did not write and flush: it is $(fl_field dur state) ($(fl_field dur reason))"
fi
# The marker can reach the console before the rest of its line: wait for
# the whole digest (64 hex digits).
want=""
for _ in $(seq 60); do
	want=$(fl_ctl console dur | tr -d '\r' | grep -a -o -E 'DUR-SYNCED [0-9a-f]{64}' |
		tail -n 1 | cut -d' ' -f2) || true
	[ -n "$want" ] && break
	sleep 0.5
done
[ -n "$want" ] || nv_die "the guest's digest line did not arrive whole"
fl_l1_ask '^NV-CTL-KILLED=' 90 kill-all || nv_die "L1 did not kill the processes"
fl_l1_ask '^NV-CTL-SHA=' 90 sha "$path" 4194304 || nv_die "L1 did not hash the volume"
got=$(nv_log_value "$NV_TMP/l1.log" NV-CTL-SHA | tr -d '\r')
nv_log "guest flushed sha256 $want; the volume file after kill -9 holds $got"
[ -n "$want" ] && [ "$want" = "$got" ] || nv_die "the flushed write did not survive"

fl_l1 start
nv_l1_wait_marker l1 '^NV-CTL-STARTED' 90 || nv_die "L1 did not restart the agent"
wait_host
fl_ctl volume get dur >/dev/null || nv_die "the restarted agent lost the volume"
nv_log "blk-e2e: ok"
