#!/bin/bash
# A Debian guest with virtio-blk through our shim, nested: in the nested
# test host (L1, a real KVM) qemu-storage-daemon exports two image files
# over vhost-user-blk and `nicvisor-shim run --disk` boots a Debian guest
# with both (l1-blk.sh). Linux's virtio_blk writes 1 MiB of random bytes
# to /dev/vda, reads it back with the same SHA-256, finds /dev/vdb
# read-only; L1 finds the same bytes in the image file. Before that
# (nv.fstest=vda) the guest's nv-fstest makes an ext2 file system on vda,
# mounts it with the ext4 driver, writes 35 files, syncs, unmounts, drops
# its caches, mounts again and checks them with sha256sum -c.
#
# Environment: VCPUS (2).
set -eu
export NV_TEST_NAME=${NV_TEST_NAME:-kvm-blk-nested}
# shellcheck source-path=SCRIPTDIR source=../integration/lib/nv-test.sh
. "$(dirname "$0")/../integration/lib/nv-test.sh"

nv_require_images
nv_require_cmd qemu-storage-daemon
shim=${NV_SHIM:-$NV_BUILD/host-shim/nicvisor-shim}
nv_require_file "$shim"

log=$NV_TMP/l1.log
rc=0
nv_l1_run -a "$shim:/payload/bin/nicvisor-shim" \
	-a "$(command -v qemu-storage-daemon):/payload/bin/qemu-storage-daemon" \
	-a "$NV_IMAGES/vmlinux" -a "$NV_IMAGES/initramfs.cpio.gz" \
	-s "$(dirname "$0")/l1-blk.sh" -q -l "$log" -t 500 -m 2048 -p 2 \
	-e "GUEST_CMDLINE=$NV_GUEST_CMDLINE pci=noearly nv.fstest=vda" -e "VCPUS=${VCPUS:-2}" || rc=$?
grep -E '^(BLK-|G\||G!)' "$log" | grep -v '^G| *$' | sed 's/\r$//' >"$NV_TMP/summary" || true
grep -E 'BLK-L1|BLK-GUEST|NICVISOR-FS-(OK|FAIL)|CMD-EXIT|^G!' "$NV_TMP/summary" || true
[ "$rc" = 0 ] || nv_die "L1 payload status $rc"

s=$NV_TMP/summary
grep -q 'G| NICVISOR-FS-OK dev=vda fs=ext4 files=35 ' "$s" ||
	nv_die "no file system on vda: $(grep -a 'NICVISOR-FS-FAIL' "$s")"
n=$(grep -c 'G| NICVISOR-FS-FILE [^ ]* [0-9a-f]\{64\}' "$s" || true)
[ "$n" = 35 ] || nv_die "$n file sums listed, want 35"
grep -q 'G| BLK-GUEST-OK' "$s" || nv_die "the guest's disk check did not pass"
grep -q 'G| BLK-GUEST vda size=32768 ro=0' "$s" || nv_die "vda is not 16 MiB read-write"
grep -q 'G| BLK-GUEST vdb size=16384 ro=1' "$s" || nv_die "vdb is not 8 MiB read-only"
grep -q 'G| BLK-GUEST-RO-REFUSED' "$s" || nv_die "a write to vdb was not refused"
grep -q 'BLK-L1 read-only image untouched' "$s" || nv_die "the read-only image changed"
if [ "${VCPUS:-2}" -ge 2 ]; then
	grep -q 'G| BLK-GUEST vda .* mq=2' "$s" || nv_die "vda does not have 2 queues"
fi
# Linux's virtio-pci uses MSI-X: a vector per request queue.
n=$(grep -c 'BLK-GUEST irq .*PCI-MSI.*virtio[0-9]-req' "$s" || true)
[ "$n" -ge 2 ] || nv_die "$n MSI-X request queue vectors"
# Kicks go to the backend through KVM's ioeventfds; none exits to the shim.
grep -q 'G! .*disk0: .* 0 kicks exited' "$s" ||
	nv_die "kicks exited to the shim: $(grep 'kicks exited' "$s")"
nv_log "ok"
