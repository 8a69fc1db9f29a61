#!/bin/sh
# Runs inside the nested test host (L1) as the payload of blk-nested.sh:
# qemu-storage-daemon exports two image files over vhost-user-blk (vda
# writable with 2 queues, vdb read-only), and `nicvisor-shim run` boots a
# Debian guest with both disks. Linux's virtio_pci and virtio_blk drive
# them (MSI-X); the guest writes 1 MiB of random bytes to /dev/vda with
# fsync, drops its caches, reads them back and compares SHA-256 sums,
# and finds /dev/vdb read-only. Then L1 checks the image file itself.
# Environment: GUEST_CMDLINE, VCPUS.
# Console markers: BLK-L1 ... lines, the guest's console prefixed "G| ",
# the shim's log "G! ". Exit status: 0 when the guest's command reported 0
# and the image holds what the guest wrote.
set -u
t=/tmp/nvblk
mkdir -p "$t"
say() { echo "BLK-L1 $*"; }

dd if=/dev/zero of="$t/a.img" bs=1048576 count=0 seek=16 2>/dev/null
dd if=/dev/zero of="$t/b.img" bs=1048576 count=0 seek=8 2>/dev/null
qemu-storage-daemon \
	--blockdev "file,filename=$t/a.img,node-name=a" \
	--blockdev "file,filename=$t/b.img,node-name=b,read-only=on" \
	--export "type=vhost-user-blk,id=ea,node-name=a,addr.type=unix,addr.path=$t/a.sock,writable=on,num-queues=2" \
	--export "type=vhost-user-blk,id=eb,node-name=b,addr.type=unix,addr.path=$t/b.sock,writable=off,num-queues=1" \
	</dev/null >"$t/qsd.log" 2>&1 &
qsd=$!
i=0
until [ -S "$t/a.sock" ] && [ -S "$t/b.sock" ]; do
	if [ $i -ge 600 ] || ! kill -0 $qsd 2>/dev/null; then
		say "qemu-storage-daemon did not start"
		tail -n 20 "$t/qsd.log"
		exit 3
	fi
	sleep 0.1
	i=$((i + 1))
done
say "qsd listening up=$(cut -d' ' -f1 /proc/uptime)"

cmd='[ -b /dev/vda ] && [ -b /dev/vdb ] || exit 10
echo "BLK-GUEST vda size=$(cat /sys/block/vda/size) ro=$(cat /sys/block/vda/ro) mq=$(ls /sys/block/vda/mq | wc -l)"
echo "BLK-GUEST vdb size=$(cat /sys/block/vdb/size) ro=$(cat /sys/block/vdb/ro)"
grep virtio /proc/interrupts | sed "s/^/BLK-GUEST irq /"
dd if=/dev/urandom of=/tmp/pat bs=65536 count=16 2>/dev/null || exit 11
w=$(sha256sum /tmp/pat | cut -d" " -f1)
dd if=/tmp/pat of=/dev/vda bs=65536 count=16 conv=fsync 2>/dev/null || exit 12
sync
echo 3 > /proc/sys/vm/drop_caches
r=$(dd if=/dev/vda bs=65536 count=16 2>/dev/null | sha256sum | cut -d" " -f1)
echo "BLK-GUEST written=$w read=$r"
[ "$w" = "$r" ] || exit 13
if dd if=/tmp/pat of=/dev/vdb bs=65536 count=1 conv=fsync 2>/dev/null; then exit 14; fi
echo BLK-GUEST-RO-REFUSED
echo BLK-GUEST-OK'
nicvisor-shim run --kernel /payload/vmlinux --initrd /payload/initramfs.cpio.gz \
	--vcpus "$VCPUS" --memory 160 --disk "$t/a.sock,queues=2" --disk "$t/b.sock,ro" \
	--cmdline "$GUEST_CMDLINE nv.cmd64=$(printf '%s' "$cmd" | base64 -w0)" \
	--log-level info --timeout 300 </dev/null >"$t/g.console" 2>"$t/g.err"
say "guest ended rc=$? now=$(cut -d' ' -f1 /proc/uptime)"
sed "s/^/G| /" "$t/g.console"
grep -E "nicvisor.vmm.blk|warn|error" "$t/g.err" | sed "s/^/G! /"
status=$(sed -n 's/.*NICVISOR-CMD-EXIT=\([0-9]*\).*/\1/p' "$t/g.console" | tail -n 1)
say "guest command status=${status:-none}"
kill $qsd 2>/dev/null
wait $qsd
# The guest's bytes are in the file, as it hashed them.
w=$(sed -n 's/.*BLK-GUEST written=\([0-9a-f]*\) .*/\1/p' "$t/g.console" | tail -n 1)
h=$(dd if="$t/a.img" bs=65536 count=16 2>/dev/null | sha256sum | cut -d' ' -f1)
say "image sha256=$h guest-wrote=${w:-none}"
z=$(sha256sum "$t/b.img" | cut -d' ' -f1)
zz=$(dd if=/dev/zero bs=1048576 count=8 2>/dev/null | sha256sum | cut -d' ' -f1)
[ "$z" = "$zz" ] && say "read-only image untouched"
[ "${status:-1}" = 0 ] && [ -n "$w" ] && [ "$h" = "$w" ] && [ "$z" = "$zz" ]
