#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""blk-backend-restart: the backend is killed (kill -9) while a Debian
guest under QEMU writes 16 MiB to its disk (limited to 4 MiB/s so the
kill lands mid-write), and a new backend takes the same socket. QEMU
reconnects (chardev reconnect=1) and shares its inflight region; the new
backend resubmits what was in flight (often nothing here: the limit holds
requests in the ring; blk-hostile-frontend covers resubmission exactly)
and goes on from the ring's index; the guest's write completes without an
I/O error, and the pattern reads back in the guest and is on the file."""
import hashlib
import os
import re
import time

from blktest import MIB, BlkTestd, qemu_guest
from dptest import BUILD, TMP, check, fail, log, require_cmd, require_root

require_root()
require_cmd("qemu-system-x86_64")
IMAGES = os.environ.get("NV_IMAGES", os.path.join(BUILD, "images"))
for f in ("vmlinux", "initramfs.cpio.gz"):
    if not os.path.exists(os.path.join(IMAGES, f)):
        fail(f"{IMAGES}/{f} is not built (ninja -C build images)")

img = os.path.join(TMP, "d0.img")
with open(img, "wb") as f:
    f.truncate(64 * MIB)
DISK = f"disk d0 {img} 1 bps={4 * MIB}"

be1 = BlkTestd("blk_testd1")
sock = be1.cmd(DISK).split()[1]
cmd = "; ".join([
    "dd if=/dev/urandom of=/tmp/p bs=1048576 count=16 2>/dev/null",
    "echo NV-PAT=$(sha256sum </tmp/p | cut -d' ' -f1)",
    "dd if=/tmp/p of=/dev/vda bs=65536 conv=fsync 2>/dev/null && echo NV-WRITE-OK || "
    "echo NV-WRITE-FAILED",
    "echo 3 >/proc/sys/vm/drop_caches",
    "echo NV-BACK=$(dd if=/dev/vda bs=1048576 count=16 2>/dev/null | sha256sum | cut -d' ' -f1)",
    "dmesg | grep -ci 'i/o error' | sed 's/^/NV-IOERR=/'",
])
g = qemu_guest("guest", cmd, [(sock, 1)], reconnect=True)
g.wait_for(r"^NV-PAT=", 120)

# Kill the backend once the write is under way (some MiB written).
end = time.monotonic() + 60
while time.monotonic() < end:
    wb = be1.stats()["d0"]["write_bytes"]
    if wb >= 3 * MIB:
        break
    time.sleep(0.1)
check(wb >= 3 * MIB and wb < 16 * MIB, f"the guest is writing ({wb // 1024} KiB so far)")
be1.p.kill()
be1.p.wait(10)
log("backend killed (SIGKILL)")
time.sleep(1.0)
check("NV-WRITE" not in g.text(), "the guest's write is still waiting")

be2 = BlkTestd("blk_testd2")
check(be2.cmd(DISK).split()[1] == sock, "a new backend serves the same socket")
g.wait_for(r"NICVISOR-CMD-EXIT=\d+", 180)
text = g.text()


def val(key):
    m = re.search(rf"^{key}=(\S*)", text, re.M)
    return m.group(1) if m else None


pat = val("NV-PAT")
check("NV-WRITE-OK" in text, "the guest's write completed without an error")
check(val("NV-BACK") == pat, "the pattern reads back in the guest")
check(val("NV-IOERR") == "0", "the guest's kernel logged no I/O error")
with open(img, "rb") as f:
    check(hashlib.sha256(f.read(16 * MIB)).hexdigest() == pat, "the file holds the pattern")
st = be2.stats()["d0"]
log(st)
check(st["err_io_error"] == 0 and st["err_bad_descriptor"] == 0, "the new backend counted no errors")
resub = re.findall(r"(\d+) request\(s\) in flight before, resubmitted", be2.text())
log("resubmitted by the new backend:", resub)
g.p.wait(60)
be2.quit()
print("blk-backend-restart: 1 passed, 0 failed")
