# shellcheck shell=sh
# Helpers shared by the guest (L2) and nested host (L1) initramfs builders.
# Sourced; the caller sets IMGTOOL (path of imgtool.py) and runs `set -eu`.
#
#   rootfs_busybox DIR           busybox-static as /bin/busybox, one symlink
#                                per applet, the usual top-level dirs
#   rootfs_modules DIR MODDIR MODULE...
#                                copy MODULEs and their dependencies from
#                                MODDIR (lib/modules/<version>, with
#                                modules.dep) flat into DIR/lib/modules and
#                                write DIR/lib/modules/load.order
#   rootfs_modules_list DIR MODDIR ORDER MODULE...
#                                the same into DIR/lib/modules/ORDER, leaving
#                                out modules already copied
#   rootfs_pack DIR OUT          gzip'd newc cpio of DIR, root-owned, with
#                                /dev/console and /dev/null nodes

rootfs_busybox() {
	_dir=$1
	_bb=""
	for _c in /bin/busybox /usr/bin/busybox; do
		if [ -x "$_c" ] && python3 "$IMGTOOL" is-static "$_c"; then
			_bb=$_c
			break
		fi
	done
	if [ -z "$_bb" ]; then
		echo "rootfs: no static busybox (install busybox-static)" >&2
		return 1
	fi
	mkdir -p "$_dir/bin" "$_dir/dev" "$_dir/proc" "$_dir/sys" "$_dir/tmp" \
		"$_dir/run" "$_dir/root" "$_dir/etc" "$_dir/lib/modules" "$_dir/usr" \
		"$_dir/var/log"
	chmod 1777 "$_dir/tmp"
	cp "$_bb" "$_dir/bin/busybox"
	for _a in $("$_bb" --list); do
		[ "$_a" = busybox ] || ln -sf busybox "$_dir/bin/$_a"
	done
	ln -sfn bin "$_dir/sbin"
	ln -sfn ../bin "$_dir/usr/bin"
	ln -sfn ../bin "$_dir/usr/sbin"
	echo "root:x:0:0:root:/root:/bin/sh" >"$_dir/etc/passwd"
	echo "root:x:0:" >"$_dir/etc/group"
	# ash reads it for login shells (cttyhack sh -l).
	echo 'PS1="\h:\w# "' >"$_dir/etc/profile"
}

rootfs_modules() {
	_dir=$1
	_moddir=$2
	shift 2
	rootfs_modules_list "$_dir" "$_moddir" load.order "$@"
}

rootfs_modules_list() {
	_dir=$1
	_moddir=$2
	_order=$3
	shift 3
	: >"$_dir/lib/modules/$_order"
	for _ko in $(python3 "$IMGTOOL" moddeps "$_moddir" "$@"); do
		_name=${_ko##*/}
		[ ! -e "$_dir/lib/modules/$_name" ] || continue
		cp "$_moddir/$_ko" "$_dir/lib/modules/$_name"
		echo "$_name" >>"$_dir/lib/modules/$_order"
	done
}

rootfs_pack() {
	python3 "$IMGTOOL" cpio "$2" "$1" --gzip \
		--node /dev/console:c:5:1:600 --node /dev/null:c:1:3:666
}
