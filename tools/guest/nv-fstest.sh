#!/bin/sh
# /bin/nv-fstest in the guest (L2) initramfs: make a file system on a
# block device, mount it, write files, sync, unmount, drop the caches,
# mount it again and read everything back with sha256sum.
#
# Usage: nv-fstest DEV [LABEL]
#   DEV    a block device: vda or /dev/vda (its whole contents are lost)
#   LABEL  the file system's label (default nv-fstest), up to 16 of
#          [A-Za-z0-9_-]
# The file system is ext2 made by busybox's mke2fs, mounted with the ext4
# driver (Debian's kernel has CONFIG_EXT4_USE_FOR_EXT2); the ext4 modules
# are inserted from /lib/modules/fs.order when the kernel lacks ext4.
#
# Console lines (what tests read):
#   NICVISOR-FS-FILE <path> <sha256>       for each file written
#   NICVISOR-FS-OK dev=<dev> fs=<type> files=<n> kib=<n> sums=<sha256>
#   NICVISOR-FS-FAIL dev=<dev> step=<step>  (exit status 1; 2 for usage)
# sums= is the SHA-256 of the "sha256  path" lines, sorted by path.
export PATH=/bin
umask 022

usage() {
	echo "usage: nv-fstest DEV [LABEL]" >&2
	exit 2
}
[ $# -ge 1 ] && [ $# -le 2 ] || usage
dev=${1#/dev/}
label=${2:-nv-fstest}
case $dev in
"" | *[!a-z0-9]*) usage ;;
esac
case $label in
"" | *[!A-Za-z0-9_-]*) usage ;;
esac
[ ${#label} -le 16 ] || usage
[ -b "/dev/$dev" ] || {
	echo "NICVISOR-FS-FAIL dev=$dev step=no-device"
	exit 1
}
mnt=/mnt/nv-fstest
sums=/tmp/nv-fstest.$dev.sums

fail() {
	echo "NICVISOR-FS-FAIL dev=$dev step=$1"
	cd /
	umount "$mnt" 2>/dev/null
	exit 1
}

# The ext4 driver, from the modules the image builder listed.
if ! grep -qw ext4 /proc/filesystems && [ -f /lib/modules/fs.order ]; then
	while read -r ko; do
		grep -q "^${ko%.ko} " /proc/modules ||
			insmod "/lib/modules/$ko" || fail "insmod-$ko"
	done </lib/modules/fs.order
fi
grep -qw ext4 /proc/filesystems || fail no-ext4

[ "$(cat "/sys/block/$dev/ro" 2>/dev/null)" = 0 ] || fail read-only
mkdir -p "$mnt" || fail mkdir
mke2fs -F -q -b 4096 -L "$label" "/dev/$dev" >/tmp/nv-fstest.mkfs 2>&1 || {
	cat /tmp/nv-fstest.mkfs
	fail mkfs
}
mount -t ext4 "/dev/$dev" "$mnt" || fail mount
fs=$(sed -n "s|^/dev/$dev $mnt \([a-z0-9]*\) .*|\1|p" /proc/mounts)

# Files of several sizes: 1 MiB and an odd size of random bytes, a
# directory of small files, an empty file.
cd "$mnt" || fail cd
dd if=/dev/urandom of=big bs=65536 count=16 2>/dev/null || fail write-big
dd if=/dev/urandom of=odd bs=12345 count=1 2>/dev/null || fail write-odd
mkdir -p dir || fail write-dir
i=0
while [ $i -lt 32 ]; do
	echo "nv-fstest file $i $(date +%s) $$" >"dir/f$i" || fail write-small
	i=$((i + 1))
done
: >empty || fail write-empty
find . -type f ! -path ./lost+found/\* | sort | xargs sha256sum >"$sums" ||
	fail sum
cd / || fail cd
sync || fail sync
umount "$mnt" || fail umount
echo 3 >/proc/sys/vm/drop_caches

# Mount again and read everything back from the disk.
mount -t ext4 "/dev/$dev" "$mnt" || fail remount
cd "$mnt" || fail cd
sha256sum -c -s "$sums" || fail verify
n=$(find . -type f ! -path ./lost+found/\* | wc -l)
[ "$n" = "$(wc -l <"$sums")" ] || fail count
[ "$(cat /sys/fs/ext4/"$dev"/errors_count 2>/dev/null || echo 0)" = 0 ] ||
	fail fs-errors
kib=$(du -sk . | cut -f1)
cd / || fail cd
umount "$mnt" || fail umount-2
while read -r s p; do
	echo "NICVISOR-FS-FILE ${p#./} $s"
done <"$sums"
echo "NICVISOR-FS-OK dev=$dev fs=$fs files=$n kib=$kib" \
	"sums=$(sha256sum <"$sums" | cut -d' ' -f1)"
