#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""blk-qemu-guest: a Debian guest (Linux virtio-blk driver) under QEMU
software emulation with two vhost-user-blk disks served by our backend
(blk_testd): d0 read-write with 2 queues and 2 vCPUs, d1 read-only.
The guest writes a random pattern to d0 at 0 and 1 MiB, syncs, drops its
caches and reads it back (sha256); reads d0's serial (GET_ID); discards
the first MiB and reads zeros there; reads all of d1 (its checksum
matches the file's) and fails to write it. On the host: the backing file
holds the pattern at 1 MiB and zeros at 0, d1's file is unchanged, and
the backend's counters saw reads, writes, flushes, a discard and GET_ID
with no errors; after the guest powers off the disk shows disconnected
and is deleted.
A third disk d2 carries a file system: the guest's nv-fstest makes ext2
on it (busybox mke2fs), mounts it with the ext4 driver, writes files,
syncs, unmounts, drops its caches, mounts again and checks them with
sha256sum -c; on the host the file passes e2fsck -fn and debugfs reads
the same bytes out of it."""
import hashlib
import os
import re
import shutil
import subprocess

from blktest import BlkTestd, qemu_guest
from dptest import BUILD, TMP, at_cleanup, check, fail, log, require_cmd, require_root

require_root()
require_cmd("qemu-system-x86_64")
IMAGES = os.environ.get("NV_IMAGES", os.path.join(BUILD, "images"))
for f in ("vmlinux", "initramfs.cpio.gz"):
    if not os.path.exists(os.path.join(IMAGES, f)):
        fail(f"{IMAGES}/{f} is not built (ninja -C build images)")
MIB = 1 << 20
SERIAL = "nv-serial-0001"


# The backing files: d0 sparse 64 MiB, d1 8 MiB of random bytes, d2
# sparse 32 MiB for the file system, in memory (tmpfs: the backend serves
# such files with system calls in the worker, not io_uring).
f0 = os.path.join(TMP, "d0.img")
f1 = os.path.join(TMP, "d1.img")
f2 = os.path.join("/dev/shm" if os.path.isdir("/dev/shm") else TMP,
                  f"nv-blk-guest.{os.getpid()}.d2.img")
at_cleanup(lambda: os.path.exists(f2) and os.unlink(f2))
with open(f0, "wb") as f:
    f.truncate(64 * MIB)
with open(f2, "wb") as f:
    f.truncate(32 * MIB)
ro_data = os.urandom(8 * MIB)
with open(f1, "wb") as f:
    f.write(ro_data)
ro_sum = hashlib.sha256(ro_data).hexdigest()
zero_sum = hashlib.sha256(bytes(MIB)).hexdigest()

be = BlkTestd()
s0 = be.cmd(f"disk d0 {f0} 2 serial={SERIAL}").split()[1]
s1 = be.cmd(f"disk d1 {f1} 1 ro").split()[1]
s2 = be.cmd(f"disk d2 {f2} 1").split()[1]
check(be.cmd(f"disk d0 {f0} 1", ok=False).startswith("ERR 17"), "a second d0 is refused")
check(be.cmd(f"disk bad {TMP} 1", ok=False).startswith("ERR"), "a directory is refused")
check(be.cmd("disk ../x /dev/null 1", ok=False).startswith("ERR 22"), "a bad name is refused")
st = be.stats()
check(st["d0"]["size"] == 64 * MIB and st["d1"]["read_only"] == 1, "sizes and modes as given")
log("d0 O_DIRECT:", st["d0"]["direct"])
check(not f2.startswith("/dev/shm") or st["d2"]["direct"] == 0,
      "d2, in memory, is served without O_DIRECT")

cmd = "; ".join([
    "dd if=/dev/urandom of=/tmp/p bs=65536 count=16 2>/dev/null",
    "echo NV-PAT=$(sha256sum </tmp/p | cut -d' ' -f1)",
    "dd if=/tmp/p of=/dev/vda bs=65536 conv=fsync 2>/dev/null && "
    "dd if=/tmp/p of=/dev/vda bs=65536 seek=16 conv=fsync 2>/dev/null && echo NV-WRITE-OK",
    "sync; echo 3 >/proc/sys/vm/drop_caches",
    "echo NV-BACK0=$(dd if=/dev/vda bs=65536 count=16 2>/dev/null | sha256sum | cut -d' ' -f1)",
    "echo NV-BACK1=$(dd if=/dev/vda bs=65536 skip=16 count=16 2>/dev/null | sha256sum | "
    "cut -d' ' -f1)",
    "echo NV-SERIAL=$(cat /sys/block/vda/serial)",
    "echo NV-SIZE=$(blockdev --getsize64 /dev/vda)",
    "echo NV-MQ=$(ls /sys/block/vda/mq | wc -l)",
    "echo NV-RO=$(cat /sys/block/vdb/ro)",
    "echo NV-ROSUM=$(sha256sum </dev/vdb | cut -d' ' -f1)",
    "dd if=/tmp/p of=/dev/vdb bs=4096 count=1 conv=fsync 2>/dev/null && echo NV-RO-WROTE || "
    "echo NV-RO-REFUSED",
    "blkdiscard -o 0 -l 1048576 /dev/vda && echo NV-DISCARD-OK",
    "echo 3 >/proc/sys/vm/drop_caches",
    "echo NV-ZERO=$(dd if=/dev/vda bs=65536 count=16 2>/dev/null | sha256sum | cut -d' ' -f1)",
    "nv-fstest vdc; echo NV-FS-RC=$?",
])
g = qemu_guest("guest", cmd, [(s0, 2), (s1, 1), (s2, 1)], cpus=2)

g.wait_for(r"NICVISOR-GUEST-READY", 120)
g.wait_for(r"NICVISOR-CMD-EXIT=\d+", 240)
text = g.text()


def val(key):
    m = re.search(rf"^{key}=(\S*)", text, re.M)
    return m.group(1) if m else None


pat = val("NV-PAT")
check(pat is not None and len(pat) == 64, "the guest made a pattern")
check("NV-WRITE-OK" in text, "the guest wrote it to d0 at 0 and 1 MiB with fsync")
check(val("NV-BACK0") == pat and val("NV-BACK1") == pat,
      "and read both copies back after dropping its caches")
check(val("NV-SERIAL") == SERIAL, f"d0's serial (GET_ID) is {SERIAL}")
check(val("NV-SIZE") == str(64 * MIB), "d0's capacity is the file's size")
log("guest hardware queues on d0:", val("NV-MQ"))
check(val("NV-MQ") == "2", "the guest drives d0 through 2 queues")
check(val("NV-RO") == "1", "d1 is read-only in the guest")
check(val("NV-ROSUM") == ro_sum, "d1 reads back as its file")
check("NV-RO-REFUSED" in text, "writing d1 fails in the guest")
check("NV-DISCARD-OK" in text, "discarding d0's first MiB succeeds")
check(val("NV-ZERO") == zero_sum, "and it reads back as zeros")

with open(f0, "rb") as f:
    head = f.read(MIB)
    second = f.read(MIB)
check(hashlib.sha256(second).hexdigest() == pat, "d0's file holds the pattern at 1 MiB")
check(head == bytes(MIB), "and zeros where it was discarded")
with open(f1, "rb") as f:
    check(hashlib.sha256(f.read()).hexdigest() == ro_sum, "d1's file is unchanged")

# The file system on d2.
check(val("NV-FS-RC") == "0",
      f"nv-fstest on vdc passed ({re.findall(r'NICVISOR-FS-FAIL.*', text)})")
m = re.search(r"^NICVISOR-FS-OK dev=vdc fs=(\S+) files=(\d+) kib=(\d+)", text, re.M)
check(m is not None and m.group(1) == "ext4" and m.group(2) == "35",
      "the guest made, mounted, wrote, remounted and verified 35 files (ext4 driver)")
files = dict(re.findall(r"^NICVISOR-FS-FILE (\S+) ([0-9a-f]{64})", text, re.M))
check(len(files) == 35 and "big" in files and "odd" in files, "and listed their sums")
sbin = os.pathsep.join([os.environ.get("PATH", ""), "/sbin", "/usr/sbin"])
e2fsck = shutil.which("e2fsck", path=sbin)
debugfs = shutil.which("debugfs", path=sbin)
if e2fsck and debugfs:
    r = subprocess.run([e2fsck, "-fn", f2], capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, f"d2's file passes e2fsck -fn ({r.stdout[-300:]})")
    for name in ("big", "odd", "dir/f0", "dir/f31", "empty"):
        r = subprocess.run([debugfs, "-R", f"cat /{name}", f2], capture_output=True,
                           timeout=60)
        check(r.returncode == 0 and hashlib.sha256(r.stdout).hexdigest() == files[name],
              f"d2's file holds /{name} as the guest wrote it (debugfs)")
else:
    log("no e2fsck/debugfs (e2fsprogs): d2's file system not checked on the host")

st = be.stats()
log(st)
d0, d1, d2 = st["d0"], st["d1"], st["d2"]
check(d0["writes"] > 0 and d0["write_bytes"] >= 2 * MIB, "the backend counted d0's writes")
check(d0["reads"] > 0 and d0["read_bytes"] >= 2 * MIB, "and reads")
check(d0["flushes"] > 0, "and flushes")
check(d0["discards"] >= 1, "and the discard")
check(d0["get_ids"] >= 1, "and GET_ID")
check(d1["reads"] > 0 and d1["writes"] == 0, "d1 served reads only")
check(d2["writes"] > 0 and d2["write_bytes"] >= MIB and d2["flushes"] > 0,
      "d2 saw the file system's writes and flushes")
for d in (d0, d1, d2):
    errs = {k: v for k, v in d.items() if k.startswith("err_") and v}
    check(not errs, f"{d['disk']}: no errors counted ({errs})")
g.p.wait(60)
st = be.stats()
check(st["d0"]["connected"] == 0 and st["d0"]["inflight"] == 0,
      "after the guest powered off, d0 is disconnected with nothing in flight")
be.cmd("del d0")
check(not os.path.exists(s0), "deleting d0 removes its socket")
check(be.cmd("del d0", ok=False).startswith("ERR 2"), "deleting it again: no such disk")
be.quit()
print("blk-qemu-guest: 1 passed, 0 failed")
