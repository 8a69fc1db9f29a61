#!/bin/sh
# Build the nested test host's (L1) initramfs into OUTDIR/l1-initramfs.cpio.gz
# from the kernel tree tools/guest/build-images.sh left in OUTDIR
# (kernel-root, kernel.version): busybox, kvm + kvm_amd, virtio-mmio
# networking and l1-init.sh as /init. Payloads are appended by run-l1.sh.
#
# Usage: build-l1.sh OUTDIR [STAMP]
set -eu

here=$(cd "$(dirname "$0")" && pwd)
IMGTOOL=$here/../guest/imgtool.py
# shellcheck source=../guest/rootfs-lib.sh
. "$here/../guest/rootfs-lib.sh"

[ $# -ge 1 ] || {
	echo "usage: $0 OUTDIR [STAMP]" >&2
	exit 2
}
out=$(cd "$1" && pwd)
stamp=${2:-}
if [ ! -f "$out/kernel.version" ] || [ ! -d "$out/kernel-root" ]; then
	echo "l1: no kernel in $out (build the guest images first)" >&2
	exit 1
fi
kver=$(cat "$out/kernel.version")

# kvm_amd pulls in kvm, irqbypass and ccp; tun for tests that want taps.
L1_MODULES="virtio_ring virtio virtio_mmio virtio_net virtio_blk kvm kvm_amd tun"

stage=$(mktemp -d "$out/.l1-rootfs.XXXXXX")
trap 'rm -rf "$stage"' EXIT INT TERM
rootfs_busybox "$stage"
# shellcheck disable=SC2086
rootfs_modules "$stage" "$out/kernel-root/lib/modules/$kver" $L1_MODULES
cp "$here/l1-init.sh" "$stage/init"
chmod 755 "$stage/init"
mkdir -p "$stage/payload"
rootfs_pack "$stage" "$out/l1-initramfs.cpio.gz"
echo "l1: $(du -h "$out/l1-initramfs.cpio.gz" | cut -f1) initramfs in $out"
[ -z "$stamp" ] || touch "$stamp"
