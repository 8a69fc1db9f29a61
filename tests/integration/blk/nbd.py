#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""blk-nbd-guest: a remote volume. nbd-server (Debian's, in the foreground
on a unix socket) exports a file; our backend serves it to a Debian guest
under QEMU as a vhost-user-blk disk of kind "nbd" (nbd+unix:// target).
The guest writes a pattern at 0 and 1 MiB with fsync, drops its caches,
reads both back (sha256) and discards the first MiB; on the host the
exported file holds the pattern at 1 MiB. A read-only export attached
read-write is refused; attached read-only, the guest reads it and cannot
write it. Skips when the dataplane was built without the NBD client."""
import hashlib
import os
import re
import time

from blktest import MIB, BlkTestd, Proc, qemu_guest
from dptest import BUILD, TMP, check, fail, log, require_cmd, require_root, skip

require_root()
require_cmd("qemu-system-x86_64", "nbd-server")
IMAGES = os.environ.get("NV_IMAGES", os.path.join(BUILD, "images"))
for f in ("vmlinux", "initramfs.cpio.gz"):
    if not os.path.exists(os.path.join(IMAGES, f)):
        fail(f"{IMAGES}/{f} is not built (ninja -C build images)")


def nbd_server(name, export, readonly):
    """nbd-server -d serves one client, then exits."""
    sock = os.path.join(TMP, name + ".sock")
    conf = os.path.join(TMP, name + ".conf")
    with open(conf, "w") as f:
        f.write(f"[generic]\n  unixsock = {sock}\n[{name}]\n  exportname = {export}\n"
                f"  flush = true\n  trim = true\n  readonly = {str(readonly).lower()}\n")
    p = Proc("nbd-" + name, ["nbd-server", "-C", conf, "-d"])
    end = time.monotonic() + 10
    while not os.path.exists(sock) and time.monotonic() < end and p.alive():
        time.sleep(0.05)
    check(os.path.exists(sock), f"nbd-server {name} listens")
    return f"nbd+unix:///{name}?socket={sock}"


rw_img = os.path.join(TMP, "rw.img")
with open(rw_img, "wb") as f:
    f.truncate(32 * MIB)
ro_data = os.urandom(4 * MIB)
ro_img = os.path.join(TMP, "ro.img")
with open(ro_img, "wb") as f:
    f.write(ro_data)

be = BlkTestd()
r = be.cmd(f"disk probe {nbd_server('probe', ro_img, True)} 1", ok=False)
if "no backend serves" in r:
    skip("the dataplane was built without the NBD client (dataplane/nbd.c)")
check(r.startswith("ERR 30") and "read-only" in r, "a read-only export attached read-write is "
      f"refused ({r})")
s0 = be.cmd(f"disk n0 {nbd_server('rw', rw_img, False)} 1").split()[1]
s1 = be.cmd(f"disk n1 {nbd_server('ro', ro_img, True)} 1 ro").split()[1]
st = be.stats()
check(st["n0"]["size"] == 32 * MIB and st["n1"]["size"] == 4 * MIB, "sizes from the exports")

cmd = "; ".join([
    "dd if=/dev/urandom of=/tmp/p bs=65536 count=16 2>/dev/null",
    "echo NV-PAT=$(sha256sum </tmp/p | cut -d' ' -f1)",
    "dd if=/tmp/p of=/dev/vda bs=65536 conv=fsync 2>/dev/null && "
    "dd if=/tmp/p of=/dev/vda bs=65536 seek=16 conv=fsync 2>/dev/null && echo NV-WRITE-OK",
    "echo 3 >/proc/sys/vm/drop_caches",
    "echo NV-BACK0=$(dd if=/dev/vda bs=65536 count=16 2>/dev/null | sha256sum | cut -d' ' -f1)",
    "echo NV-BACK1=$(dd if=/dev/vda bs=65536 skip=16 count=16 2>/dev/null | sha256sum | "
    "cut -d' ' -f1)",
    "blkdiscard -o 0 -l 1048576 /dev/vda && echo NV-DISCARD-OK",
    "echo NV-RO=$(cat /sys/block/vdb/ro)",
    "echo NV-ROSUM=$(sha256sum </dev/vdb | cut -d' ' -f1)",
    "dd if=/tmp/p of=/dev/vdb bs=4096 count=1 conv=fsync 2>/dev/null && echo NV-RO-WROTE || "
    "echo NV-RO-REFUSED",
])
g = qemu_guest("guest", cmd, [(s0, 1), (s1, 1)])
g.wait_for(r"NICVISOR-CMD-EXIT=\d+", 240)
text = g.text()


def val(key):
    m = re.search(rf"^{key}=(\S*)", text, re.M)
    return m.group(1) if m else None


pat = val("NV-PAT")
check(pat is not None and "NV-WRITE-OK" in text, "the guest wrote a pattern with fsync")
check(val("NV-BACK0") == pat and val("NV-BACK1") == pat, "and read it back from the server")
check("NV-DISCARD-OK" in text, "discard (NBD trim) succeeds")
with open(rw_img, "rb") as f:
    f.seek(MIB)
    check(hashlib.sha256(f.read(MIB)).hexdigest() == pat, "the exported file holds the pattern")
check(val("NV-RO") == "1" and val("NV-ROSUM") == hashlib.sha256(ro_data).hexdigest(),
      "the read-only export reads back as its file")
check("NV-RO-REFUSED" in text, "and refuses writes in the guest")
st = be.stats()
log(st["n0"])
n0 = st["n0"]
check(n0["writes"] > 0 and n0["reads"] > 0 and n0["flushes"] > 0 and n0["discards"] >= 1,
      "the backend counted writes, reads, flushes and the discard")
check(all(v == 0 for k, v in n0.items() if k.startswith("err_")), "with no errors")
g.p.wait(60)
be.quit()
print("blk-nbd-guest: 1 passed, 0 failed")
