#!/bin/sh
# The arm64 nested test's images, from Debian's arm64 packages, into OUTDIR:
#   Image                Debian's arm64 kernel (linux-image-arm64's current
#                        dependency): the .deb's vmlinuz, an Image
#   kernel.version       e.g. 6.1.0-56-arm64
#   l2-initramfs.cpio.gz the guest (L2): busybox-static:arm64, the kernel's
#                        virtio-pci and virtio-blk modules and an /init
#                        that prints NICVISOR-ARM64-L2-READY and powers off
#                        (reboots with nv.reboot on its command line; with
#                        nv.disk, first reads, writes and reads back
#                        /dev/vda and says NICVISOR-ARM64-L2-DISK=...)
# and, when given the arm64 nicvisor-shim (SHIM), the test host (L1):
#   l1-initramfs.cpio.gz busybox, the shim with its arm64 libraries,
#                        qemu-storage-daemon (qemu-system-common:arm64)
#                        with its libraries, the Image and the L2
#                        initramfs; its /init (l1-init.sh) boots L2 under
#                        the shim (with a vhost-user-blk disk served by
#                        qemu-storage-daemon on nv.disk) and powers off
# OUTDIR/cache keeps the .debs and their extracted trees (delete to refetch).
#
# Usage: build-images.sh OUTDIR [SHIM]
# Exit 77 when the packages cannot be downloaded (no Debian mirror).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build-images.sh OUTDIR [SHIM]}
shim=${2:-}
mkdir -p "$out/cache"
out=$(cd "$out" && pwd)
cache=$out/cache
multiarch=/usr/lib/aarch64-linux-gnu

skip() {
	echo "SKIP: $*" >&2
	exit 77
}

resolve_kernel() {
	apt-cache depends linux-image-arm64:arm64 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[^ :]*\).*$/\1/p' | head -n 1
}

# fetch PKG: the newest cached PKG_*_arm64.deb, downloaded once.
fetch() {
	deb=$(find "$cache" -maxdepth 1 -name "${1}_*_arm64.deb" | sort | tail -n 1)
	if [ -z "$deb" ]; then
		echo "arm64 images: downloading $1:arm64" >&2
		(cd "$cache" && apt-get download -q "$1:arm64") >"$cache/download.log" 2>&1 ||
			{ cat "$cache/download.log" >&2; skip "apt-get download $1:arm64 failed"; }
		deb=$(find "$cache" -maxdepth 1 -name "${1}_*_arm64.deb" | sort | tail -n 1)
	fi
	echo "$deb"
}

# extract DEB: its tree in cache/NAME.root, once.
extract() {
	root=$cache/$(basename "$1" .deb).root
	if [ ! -f "$root/.done" ]; then
		rm -rf "$root"
		mkdir -p "$root"
		dpkg-deb -x "$1" "$root"
		touch "$root/.done"
	fi
	echo "$root"
}

kpkg=$(resolve_kernel)
if [ -z "$kpkg" ]; then
	deb=$(find "$cache" -maxdepth 1 -name 'linux-image-*-arm64_*_arm64.deb' | sort | tail -n 1)
	[ -n "$deb" ] || skip "cannot resolve linux-image-arm64:arm64 (dpkg --add-architecture arm64; apt-get update)"
	kpkg=$(basename "$deb" | sed 's/_.*//')
fi
kroot=$(extract "$(fetch "$kpkg")")
broot=$(extract "$(fetch busybox-static)")
kver=$(basename "$(find "$kroot/boot" -name 'vmlinuz-*' | head -n 1)" | sed 's/^vmlinuz-//')
[ -n "$kver" ] || { echo "arm64 images: no vmlinuz in $kpkg" >&2; exit 1; }

# Debian's arm64 vmlinuz is the Image itself (with its EFI stub); were it
# gzip-compressed, as some distributions ship it, it is unpacked: the
# shim loads only a plain Image.
if [ ! -f "$out/Image" ] || [ "$(cat "$out/Image.from" 2>/dev/null)" != "$kroot" ]; then
	if gzip -t "$kroot/boot/vmlinuz-$kver" 2>/dev/null; then
		gzip -dc "$kroot/boot/vmlinuz-$kver" >"$out/Image.tmp"
	else
		cp "$kroot/boot/vmlinuz-$kver" "$out/Image.tmp"
	fi
	mv "$out/Image.tmp" "$out/Image"
	echo "$kroot" >"$out/Image.from"
fi
echo "$kver" >"$out/kernel.version"

# cpio DIR OUT: a gzip'd newc archive of DIR, owned by root.
cpio_gz() {
	(cd "$1" && find . | sort | cpio -o -H newc -R 0:0 --quiet) | gzip -1 >"$2.tmp"
	mv "$2.tmp" "$2"
}

busybox_tree() {
	mkdir -p "$1/bin" "$1/sbin" "$1/proc" "$1/sys" "$1/dev" "$1/tmp"
	cp "$broot/bin/busybox" "$1/bin/busybox"
	for a in sh mount echo cat poweroff reboot sleep uname ls grep date; do
		ln -sf busybox "$1/bin/$a"
	done
}

# --- L2: prints its marker and the facts a test checks, then powers off ----
# Debian's arm64 kernel has virtio-pci and virtio-blk as modules (=m); the
# PCI host bridge (pci-host-ecam-generic) and the GICv3 ITS are built in.
l2mods="drivers/virtio/virtio_pci_legacy_dev drivers/virtio/virtio_pci_modern_dev
	drivers/virtio/virtio_pci drivers/block/virtio_blk"
l2=$cache/l2.tree
rm -rf "$l2"
busybox_tree "$l2"
mkdir -p "$l2/modules"
for m in $l2mods; do
	cp "$kroot/lib/modules/$kver/kernel/$m.ko" "$l2/modules/" ||
		{ echo "arm64 images: no $m.ko in $kpkg" >&2; exit 1; }
done
for a in insmod dd head tr; do
	ln -sf busybox "$l2/bin/$a"
done
cat >"$l2/init" <<'EOT'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
# nv.disk: /dev/vda (a vhost-user-blk disk of the shim over virtio-pci,
# its interrupts MSI-X through the ITS) starts with the L1's pattern; a
# line written at 1 MiB must read back after the page cache is dropped.
if grep -qw nv.disk /proc/cmdline; then
	mount -t devtmpfs dev /dev
	why=""
	for m in virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk; do
		insmod "/modules/$m.ko" || why="${why}insmod-$m "
	done
	i=0
	while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	[ -b /dev/vda ] || why="${why}no-/dev/vda "
	got=$(head -c 27 /dev/vda 2>/dev/null)
	[ "$got" = nicvisor-arm64-disk-sector0 ] || why="${why}read-'$got' "
	line="nicvisor-arm64-l2-wrote-$(cut -d' ' -f1 /proc/uptime)"
	echo "$line" | dd of=/dev/vda bs=512 seek=2048 conv=fsync 2>/dev/null || why="${why}write "
	echo 3 >/proc/sys/vm/drop_caches
	back=$(dd if=/dev/vda bs=512 skip=2048 count=1 2>/dev/null | head -n 1)
	[ "$back" = "$line" ] || why="${why}readback-'$back' "
	# The request queue's MSI-X vector: its chip and how many arrived.
	irq=$(grep -m 1 'virtio0-req' /proc/interrupts)
	msi=0
	# shellcheck disable=SC2086 # the line's fields
	set -- $irq
	[ $# -gt 0 ] && shift
	for f in "$@"; do
		case $f in *[!0-9]*) break ;; esac
		msi=$((msi + f))
	done
	chip=$(echo "$irq" | grep -o 'ITS-[A-Za-z-]*' | head -n 1)
	echo "NICVISOR-ARM64-L2-DISK=${why:-ok} msi=$msi chip=${chip:-none}"
fi
gic=none
if grep -q GICv3 /proc/interrupts; then gic=v3; elif grep -q GIC- /proc/interrupts; then gic=v2; fi
echo "NICVISOR-ARM64-L2-READY kernel=$(uname -r) machine=$(uname -m) cpus=$(grep -c ^processor /proc/cpuinfo) gic=$gic uptime=$(cut -d' ' -f1 /proc/uptime)"
grep -qw nv.reboot /proc/cmdline && reboot -f
poweroff -f
EOT
chmod +x "$l2/init"
ln -sf busybox "$l2/bin/cut"
cpio_gz "$l2" "$out/l2-initramfs.cpio.gz"

[ -n "$shim" ] || exit 0

# --- qemu-storage-daemon:arm64 for L1: the disk's vhost-user backend -------
# qemu-system-common:arm64 holds it; its libraries come from the :arm64
# packages tools/deps.sh installed, else from these, extracted here.
qroot=$(extract "$(fetch qemu-system-common)")
libroots=""
for p in libgnutls30 libglib2.0-0 libfuse3-3 libaio1 libnettle8 libgmp10 libhogweed6 \
	libp11-kit0 libidn2-0 libunistring2 libtasn1-6 libffi8 libpcre2-8-0; do
	libroots="$libroots $(extract "$(fetch "$p")")"
done

# find_lib NAME: the arm64 library NAME, installed or extracted.
find_lib() {
	for d in $multiarch $(for r in $libroots; do echo "$r$multiarch $r/lib/aarch64-linux-gnu"; done); do
		[ -e "$d/$1" ] && { echo "$d/$1"; return 0; }
	done
	return 1
}

# --- L1: the shim and its arm64 libraries (NEEDED, transitively) -----------
l1=$cache/l1.tree
rm -rf "$l1"
busybox_tree "$l1"
for a in cut mkdir tr dd head kill printf rm; do
	ln -sf busybox "$l1/bin/$a"
done
mkdir -p "$l1/lib/aarch64-linux-gnu" "$l1/images"
cp "$shim" "$l1/bin/nicvisor-shim"
cp "$qroot/usr/bin/qemu-storage-daemon" "$l1/bin/qemu-storage-daemon"
cp "$out/Image" "$out/l2-initramfs.cpio.gz" "$l1/images/"
cp "$here/l1-init.sh" "$l1/init"
chmod +x "$l1/init"
cp -L "$multiarch/ld-linux-aarch64.so.1" "$l1/lib/ld-linux-aarch64.so.1"
todo=$(for b in "$shim" "$qroot/usr/bin/qemu-storage-daemon"; do
	aarch64-linux-gnu-readelf -d "$b" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'
done)
seen=""
while [ -n "$todo" ]; do
	# shellcheck disable=SC2086 # a list of names, split on purpose
	set -- $todo
	lib=$1
	shift
	todo=$*
	case " $seen " in *" $lib "*) continue ;; esac
	seen="$seen $lib"
	[ "$lib" = ld-linux-aarch64.so.1 ] && continue
	path=$(find_lib "$lib") || { echo "arm64 images: $lib (needed by the shim or qemu-storage-daemon) is not in $multiarch or the extracted packages" >&2; exit 1; }
	cp -L "$path" "$l1/lib/aarch64-linux-gnu/$lib"
	todo="$todo $(aarch64-linux-gnu-readelf -d "$path" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')"
done
cpio_gz "$l1" "$out/l1-initramfs.cpio.gz"
echo "arm64 images: $kver, L1 initramfs with the shim, qemu-storage-daemon and$seen"
