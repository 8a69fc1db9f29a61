#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""blk-hostile-frontend: a userspace vhost-user-blk frontend (blk_driver)
posts good and bad requests to disk h: out-of-range and wrapping sectors
and lengths not in 512-byte units get IOERR, unknown types and a discard
with the unmap flag UNSUPP, chains without a status byte, outside guest
memory or looping complete with used length 0, a head beyond the ring is
dropped; each is counted by reason, and the queue keeps serving (a read
after each, GET_ID, WRITE_ZEROES reading back zeros, DISCARD, FLUSH). Another disk serves throughout, h serves a
reconnecting frontend, and disks limited to 200 IOPS or 800 KiB/s take
at least 0.35 s for 100 reads of 4 KiB that an unlimited disk serves at
once. A frontend whose previous backend died with a request in flight
(marked in the shared inflight region, another completed out of order)
gets exactly the lost one served, and not the completed one again. A disk
deleted under a busy frontend cuts it off; the others keep serving."""
import os
import re
import time

from blktest import MIB, BlkTestd, Proc
from dptest import BUILD, TMP, check, log, require_root

require_root()
DRIVER = os.path.join(BUILD, "tests", "integration", "blk", "blk_driver")
SERIAL = "hostile-serial"

files = {}
for name in ("h", "ok", "lim", "blim", "rs"):
    files[name] = os.path.join(TMP, name + ".img")
    with open(files[name], "wb") as f:
        f.truncate(8 * MIB)

be = BlkTestd()
sock = {n: be.cmd(f"disk {n} {files[n]} 1" + (f" serial={SERIAL}" if n == "h" else "") +
                  (" iops=200" if n == "lim" else "") +
                  (" bps=819200" if n == "blim" else "")).split()[1] for n in files}


def driver(name, *args, timeout=60):
    p = Proc(name, [DRIVER, *args])
    p.p.wait(timeout)
    return p.text(), p.p.returncode


out, rc = driver("hostile", sock["h"], "hostile", str(8 * MIB // 512), SERIAL)
cases = dict(re.findall(r"^CASE (\S+) .* ok=(\d)$", out, re.M))
log(out)
check(rc == 0 and "DONE failures=0" in out, "blk_driver's run completed")
for c in ("write", "read", "readback", "out_of_range", "sector_wrap", "unaligned_len",
          "unknown_type", "discard_unmap_flag", "no_status", "outside_memory", "loop",
          "after_bad_head", "get_id", "serial", "write_zeroes", "read_zeroes",
          "zeroes_read_back", "discard", "flush", "final_read", "no_stray_used"):
    check(cases.get(c) == "1", f"case {c}: answered as virtio-blk wants")

st = be.stats()
h = st["h"]
log(h)
check(h["err_out_of_range"] == 2, "2 out-of-range requests counted (past the end, wrapping)")
check(h["err_unsupported"] == 2, "2 unsupported (unknown type, discard with unmap)")
check(h["err_bad_descriptor"] == 5,
      "5 bad descriptors (length, no status, outside memory, loop, head beyond the ring)")
check(h["err_io_error"] == 0 and h["inflight"] == 0, "no I/O errors, nothing left in flight")
check(h["writes"] == 1 and h["reads"] == 4 and h["flushes"] == 1 and h["get_ids"] == 1 and
      h["write_zeroes"] == 1 and h["discards"] == 1, "the good requests were served and counted")

out, rc = driver("ok-rate", sock["ok"], "rate", "200")
check(rc == 0 and "RATE n=200" in out, "another disk serves 200 reads")
out, rc = driver("h-again", sock["h"], "rate", "100")
check(rc == 0 and "RATE n=100" in out, "h serves a reconnecting frontend")

out, rc = driver("free-rate", sock["ok"], "rate", "100")
free_ms = float(re.search(r"ms=(\d+)", out).group(1))
out, rc = driver("lim-rate", sock["lim"], "rate", "100")
check(rc == 0, "the limited disk serves its 100 reads")
lim_ms = float(re.search(r"ms=(\d+)", out).group(1))
log(f"100 reads: unlimited {free_ms:.0f} ms, iops=200 {lim_ms:.0f} ms")
# 100 requests at 200/s less a burst of 21: at least 0.39 s
check(lim_ms >= 350, "the IOPS limit holds the disk near 200 requests/s")
check(be.stats()["lim"]["throttled"] > 0, "and counts the polls it held requests back")
out, rc = driver("blim-rate", sock["blim"], "rate", "100")
check(rc == 0, "the bandwidth-limited disk serves its 100 reads")
blim_ms = float(re.search(r"ms=(\d+)", out).group(1))
log(f"100 reads of 4 KiB at 800 KiB/s: {blim_ms:.0f} ms")
# 400 KiB at 800 KiB/s less a burst of 80 KiB: at least 0.4 s
check(blim_ms >= 350, "the bandwidth limit holds the disk near 800 KiB/s")

out, rc = driver("resubmit", sock["rs"], "resubmit")
log(out)
check(rc == 0 and "RESUBMIT ok=1" in out,
      "a request left in flight by a dead backend (inflight region) is served once, and a "
      "completed one is not served again")

# Deleting a disk under a frontend in the middle of its I/O.
busy = Proc("busy", [DRIVER, sock["ok"], "rate", "100000000"])
end = time.monotonic() + 20
while be.stats()["ok"]["reads"] < 5000 and time.monotonic() < end:
    time.sleep(0.05)
check(be.stats()["ok"]["reads"] >= 5000, "a frontend keeps disk ok busy")
be.cmd("del ok")
busy.p.wait(20)
check("RATE n=" not in busy.text(), "deleting ok cut its frontend off mid-run")
check(not os.path.exists(sock["ok"]) and "ok" not in be.stats(), "disk ok is gone")
out, rc = driver("h-after-del", sock["h"], "rate", "50")
check(rc == 0 and "RATE n=50" in out, "the other disks keep serving")
be.quit()
print("blk-hostile-frontend: 1 passed, 0 failed")
