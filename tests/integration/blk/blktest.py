# SPDX-License-Identifier: MIT
"""Helpers for the block backends' integration tests: blk_testd as a child
process (tests/integration/dataplane/dptest.py does the process keeping)."""
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "dataplane"))
from dptest import BUILD, TMP, Proc, at_cleanup, fail  # noqa: E402

BLK_TESTD = os.path.join(BUILD, "tests", "integration", "blk", "blk_testd")
MIB = 1 << 20


class BlkTestd(Proc):
    def __init__(self):
        if not os.path.exists(BLK_TESTD):
            fail(f"{BLK_TESTD} is not built")
        self.sockdir = os.path.join(TMP, "vhost")
        os.makedirs(self.sockdir, exist_ok=True)
        prefix = f"nvblk{os.getpid()}"
        at_cleanup(lambda: shutil.rmtree(f"/var/run/dpdk/{prefix}", ignore_errors=True))
        super().__init__("blk_testd", [BLK_TESTD, "--vhost-dir", self.sockdir, "--prefix",
                                       prefix, "--cpus", "1", "--mem", "256"])
        self.wait_for(r"^READY$", 60)

    def cmd(self, line, ok=True):
        m = self.mark()
        self.send(line)
        r = self.wait_for(r"^(OK.*|ERR.*)$", 60, m).group(1)
        if ok and not r.startswith("OK"):
            fail(f"blk_testd '{line}': {r}")
        return r

    def stats(self):
        m = self.mark()
        self.send("stats")
        self.wait_for(r"^OK \d+$", 30, m)
        out = {}
        for ln in self.text(m).splitlines():
            if ln.startswith("BLKSTAT "):
                kv = dict(f.split("=", 1) for f in ln.split()[1:])
                out[kv["disk"]] = {k: int(v) if v.isdigit() else v for k, v in kv.items()}
        return out

    def quit(self):
        self.send("quit")
        self.wait_for(r"^BYE$", 30)
        self.p.wait(10)
