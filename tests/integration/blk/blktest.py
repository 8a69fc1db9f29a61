# SPDX-License-Identifier: MIT
"""Helpers for the block backends' integration tests: blk_testd as a child
process (tests/integration/dataplane/dptest.py does the process keeping)."""
import base64
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "dataplane"))
from dptest import BUILD, TMP, Proc, at_cleanup, fail  # noqa: E402

IMAGES = os.environ.get("NV_IMAGES", os.path.join(BUILD, "images"))
# NV_BLK_TESTD: another build of it (e.g. with ASan)
BLK_TESTD = os.environ.get("NV_BLK_TESTD",
                           os.path.join(BUILD, "tests", "integration", "blk", "blk_testd"))
MIB = 1 << 20


class BlkTestd(Proc):
    """blk_testd; several may run one after the other (name tells them apart)."""

    def __init__(self, name="blk_testd"):
        if not os.path.exists(BLK_TESTD):
            fail(f"{BLK_TESTD} is not built")
        self.sockdir = os.path.join(TMP, "vhost")
        os.makedirs(self.sockdir, exist_ok=True)
        prefix = f"nvblk{os.getpid()}{name}"
        at_cleanup(lambda: shutil.rmtree(f"/var/run/dpdk/{prefix}", ignore_errors=True))
        super().__init__(name, [BLK_TESTD, "--vhost-dir", self.sockdir, "--prefix",
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


def tsc_khz():
    with open("/proc/cpuinfo") as f:
        for ln in f:
            if ln.startswith("cpu MHz"):
                return int(float(ln.split(":")[1]) * 1000)
    return 2700000


CMDLINE = ("console=ttyS0 quiet panic=-1 cryptomgr.notests mitigations=off "
           f"initcall_blacklist=cmos_init tsc_early_khz={tsc_khz()}")


def qemu_guest(name, cmd, disks, cpus=1, reconnect=False):
    """A Debian guest under QEMU (software emulation) running cmd, with a
    vhost-user-blk-pci disk per (socket, queues) in disks: vda, vdb, ..."""
    enc = base64.b64encode(cmd.encode()).decode()
    argv = ["qemu-system-x86_64", "-M", "microvm,pcie=on,memory-backend=mem", "-accel", "tcg",
            "-cpu", "max", "-m", "256", "-smp", str(cpus), "-nodefaults", "-no-user-config",
            "-display", "none", "-no-reboot", "-serial", "stdio",
            "-object", "memory-backend-memfd,id=mem,size=256M,share=on",
            "-kernel", os.path.join(IMAGES, "vmlinux"),
            "-initrd", os.path.join(IMAGES, "initramfs.cpio.gz"),
            "-append", f"{CMDLINE} nv.cmd64={enc}"]
    for i, (sock, queues) in enumerate(disks):
        argv += ["-chardev", f"socket,id=c{i},path={sock}" + (",reconnect=1" if reconnect else ""),
                 "-device", f"vhost-user-blk-pci,chardev=c{i},num-queues={queues}"]
    return Proc(name, argv)
