#!/bin/sh
# The arm64 nested test's images, from Debian's arm64 packages, into OUTDIR:
#   Image                Debian's arm64 kernel (linux-image-arm64's current
#                        dependency): the .deb's vmlinuz, an Image
#   kernel.version       e.g. 6.1.0-56-arm64
#   l2-initramfs.cpio.gz the guest (L2): busybox-static:arm64 and an /init
#                        that prints NICVISOR-ARM64-L2-READY and powers off
#                        (reboots with nv.reboot on its command line)
# and, when given the arm64 nicvisor-shim (SHIM), the test host (L1):
#   l1-initramfs.cpio.gz busybox, the shim with its arm64 libraries, the
#                        Image and the L2 initramfs; its /init (l1-init.sh)
#                        boots L2 under the shim and powers off
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
l2=$cache/l2.tree
rm -rf "$l2"
busybox_tree "$l2"
cat >"$l2/init" <<'EOT'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
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

# --- L1: the shim and its arm64 libraries (NEEDED, transitively) -----------
l1=$cache/l1.tree
rm -rf "$l1"
busybox_tree "$l1"
for a in cut mkdir tr; do
	ln -sf busybox "$l1/bin/$a"
done
mkdir -p "$l1/lib/aarch64-linux-gnu" "$l1/images"
cp "$shim" "$l1/bin/nicvisor-shim"
cp "$out/Image" "$out/l2-initramfs.cpio.gz" "$l1/images/"
cp "$here/l1-init.sh" "$l1/init"
chmod +x "$l1/init"
cp -L "$multiarch/ld-linux-aarch64.so.1" "$l1/lib/ld-linux-aarch64.so.1"
todo=$(aarch64-linux-gnu-readelf -d "$shim" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
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
	[ -e "$multiarch/$lib" ] || { echo "arm64 images: $lib (needed by the shim) is not in $multiarch" >&2; exit 1; }
	cp -L "$multiarch/$lib" "$l1/lib/aarch64-linux-gnu/$lib"
	todo="$todo $(aarch64-linux-gnu-readelf -d "$multiarch/$lib" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')"
done
cpio_gz "$l1" "$out/l1-initramfs.cpio.gz"
echo "arm64 images: $kver, L1 initramfs with the shim and$seen"
