#!/bin/sh
# Build the guest images from Debian packages into OUTDIR:
#   bzImage            the Debian kernel (linux-image-amd64's dependency)
#   vmlinux            its uncompressed ELF, with the PVH entry note
#   kernel.version     e.g. 6.1.0-56-amd64
#   initramfs.cpio.gz  the guest (L2) initramfs: busybox, virtio and ext4
#                      modules, /init, /bin/nv-fstest
# and keeps OUTDIR/cache/ (the .deb, its extracted tree) and
# OUTDIR/kernel-root -> the extracted tree (the nested host takes its
# modules from there).
#
# Usage: build-images.sh OUTDIR [STAMP]
#   STAMP      touched on success (the meson target's output)
# Environment:
#   NV_KERNEL_PKG  a linux-image-* package to use instead of resolving
#                  linux-image-amd64's current dependency
set -eu

here=$(cd "$(dirname "$0")" && pwd)
IMGTOOL=$here/imgtool.py
# shellcheck source=rootfs-lib.sh
. "$here/rootfs-lib.sh"

[ $# -ge 1 ] || {
	echo "usage: $0 OUTDIR [STAMP]" >&2
	exit 2
}
out=$1
stamp=${2:-}
cache=$out/cache
mkdir -p "$cache"
out=$(cd "$out" && pwd)
cache=$out/cache

# Modules the guest needs that the Debian kernel builds as modules.
GUEST_MODULES="virtio_ring virtio virtio_pci virtio_mmio virtio_net virtio_blk
	button evdev"
# File systems, in their own list (lib/modules/fs.order): ext4 (also the
# ext2 driver here), its dependencies and crc32c for metadata checksums.
GUEST_FS_MODULES="ext4 crc32c_generic"

# --- the kernel package: resolve, download once, extract once ----------------
resolve_pkg() {
	apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[^ ]*\)$/\1/p' | head -n 1
}

download_pkg() {
	(cd "$cache" && apt-get download -q "$pkg") >"$cache/download.log" 2>&1
}

pkg=${NV_KERNEL_PKG:-$(resolve_pkg)}
if [ -z "$pkg" ] && [ "$(id -u)" -eq 0 ]; then
	apt-get update -qq && pkg=$(resolve_pkg)
fi
if [ -z "$pkg" ]; then
	# No apt lists (apt-get update never ran): fall back to a cached .deb.
	deb=$(find "$cache" -maxdepth 1 -name 'linux-image-*.deb' | sort | tail -n 1)
	[ -n "$deb" ] || {
		echo "images: cannot resolve linux-image-amd64 (run apt-get update)" >&2
		exit 1
	}
	pkg=$(basename "$deb" | sed 's/_.*//')
fi
deb=$(find "$cache" -maxdepth 1 -name "${pkg}_*.deb" | sort | tail -n 1)
if [ -z "$deb" ]; then
	echo "images: downloading $pkg"
	if ! download_pkg && [ "$(id -u)" -eq 0 ]; then
		# Stale lists name a version the mirror no longer has.
		apt-get update -qq
		download_pkg || true
	fi
	deb=$(find "$cache" -maxdepth 1 -name "${pkg}_*.deb" | sort | tail -n 1)
	[ -n "$deb" ] || {
		cat "$cache/download.log" >&2
		echo "images: apt-get download $pkg failed (try: apt-get update)" >&2
		exit 1
	}
fi
kroot=$cache/${pkg}.root
if [ ! -f "$kroot/.extracted" ]; then
	rm -rf "$kroot"
	mkdir -p "$kroot"
	dpkg-deb -x "$deb" "$kroot"
	kver=$(ls "$kroot/lib/modules")
	# The .deb ships no modules.dep: depmod makes it at install time.
	depmod=$(command -v depmod || echo /usr/sbin/depmod)
	"$depmod" -b "$kroot" "$kver"
	echo "$kver" >"$kroot/.extracted"
fi
kver=$(cat "$kroot/.extracted")
ln -sfn "cache/${pkg}.root" "$out/kernel-root"

# --- kernel images --------------------------------------------------------
cp "$kroot/boot/vmlinuz-$kver" "$out/bzImage.tmp"
mv "$out/bzImage.tmp" "$out/bzImage"
python3 "$IMGTOOL" vmlinux "$out/bzImage" "$out/vmlinux"
echo "$kver" >"$out/kernel.version"

# --- the guest initramfs --------------------------------------------------
stage=$(mktemp -d "$out/.guest-rootfs.XXXXXX")
trap 'rm -rf "$stage"' EXIT INT TERM
rootfs_busybox "$stage"
# shellcheck disable=SC2086
rootfs_modules "$stage" "$kroot/lib/modules/$kver" $GUEST_MODULES
# shellcheck disable=SC2086
rootfs_modules_list "$stage" "$kroot/lib/modules/$kver" fs.order $GUEST_FS_MODULES
cp "$here/init.sh" "$stage/init"
chmod 755 "$stage/init"
cp "$here/nv-fstest.sh" "$stage/bin/nv-fstest"
chmod 755 "$stage/bin/nv-fstest"
mkdir -p "$stage/mnt"
# busybox acpid: an input event KEY_POWER is "PWRF", whose action is the
# program <confdir>/PWRF/00000080.
mkdir -p "$stage/etc/acpi/PWRF"
cat >"$stage/etc/acpi/PWRF/00000080" <<'EOF'
#!/bin/sh
printf '\nNICVISOR-GUEST-POWEROFF reason=power-button\n' >/dev/console
sync
poweroff -f
EOF
chmod 755 "$stage/etc/acpi/PWRF/00000080"
rootfs_pack "$stage" "$out/initramfs.cpio.gz"

echo "images: kernel $kver; $(du -h "$out/initramfs.cpio.gz" | cut -f1) initramfs in $out"
[ -z "$stamp" ] || touch "$stamp"
