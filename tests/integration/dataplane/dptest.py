# SPDX-License-Identifier: MIT
"""Helpers for the dataplane's integration tests.

Every process is started here as a child and stopped by PID at exit; every
wait is bounded. Environment: NV_BUILD (build dir), NV_KEEP_TMP=1 keeps the
temp dir. A test exits 77 (skip) only when the machine lacks something.
"""
import atexit
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
BUILD = os.environ.get("NV_BUILD", os.path.join(SRC, "build"))
DP_TESTD = os.path.join(BUILD, "tests", "integration", "dataplane", "dp_testd")
NAME = os.path.basename(sys.argv[0])

_procs = []
_cleanups = []
TMP = tempfile.mkdtemp(prefix="nv-dp.")


def log(*a):
    print(f"[{NAME}]", *a, file=sys.stderr, flush=True)


def skip(why):
    print(f"SKIP: {NAME}: {why}", flush=True)
    sys.exit(77)


def fail(why):
    log("FAIL:", why)
    sys.exit(1)


def check(cond, what):
    if not cond:
        fail(what)
    log("ok:", what)


def require_root():
    if os.geteuid() != 0:
        skip("needs root (network namespaces, DPDK)")


def require_cmd(*cmds):
    for c in cmds:
        if shutil.which(c) is None:
            skip(f"{c} is not installed")


def at_cleanup(fn):
    _cleanups.append(fn)


def _cleanup():
    for p in reversed(_procs):
        p.stop()
    for fn in reversed(_cleanups):
        try:
            fn()
        except Exception as e:  # keep cleaning
            log("cleanup:", e)
    if os.environ.get("NV_KEEP_TMP") == "1":
        log("kept", TMP)
    else:
        shutil.rmtree(TMP, ignore_errors=True)


atexit.register(_cleanup)
signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))


class Proc:
    """A child whose output (stdout+stderr) is collected and logged."""

    def __init__(self, name, argv, **kw):
        self.name = name
        self.logpath = os.path.join(TMP, name + ".log")
        self._log = open(self.logpath, "wb")
        self.buf = b""
        self._lock = threading.Lock()
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, **kw)
        _procs.append(self)
        self._t = threading.Thread(target=self._reader, daemon=True)
        self._t.start()

    def _reader(self):
        fd = self.p.stdout.fileno()
        while True:
            try:
                d = os.read(fd, 65536)
            except OSError:
                break
            if not d:
                break
            with self._lock:
                self.buf += d
            self._log.write(d)
            self._log.flush()

    def alive(self):
        return self.p.poll() is None

    def mark(self):
        with self._lock:
            return len(self.buf)

    def text(self, start=0):
        with self._lock:
            return self.buf[start:].decode(errors="replace")

    def wait_for(self, regex, timeout, start=0):
        rx = re.compile(regex, re.M)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            m = rx.search(self.text(start))
            if m:
                return m
            if not self.alive():
                time.sleep(0.2)
                m = rx.search(self.text(start))
                if m:
                    return m
                self.dump()
                fail(f"{self.name} exited ({self.p.returncode}) before /{regex}/")
            time.sleep(0.05)
        self.dump()
        fail(f"{self.name}: no /{regex}/ within {timeout}s")

    def send(self, line):
        self.p.stdin.write((line + "\n").encode())
        self.p.stdin.flush()

    def dump(self, lines=40):
        t = self.text().splitlines()
        log(f"--- last lines of {self.name} ---")
        for ln in t[-lines:]:
            print("   ", ln, file=sys.stderr)

    def stop(self, secs=10):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(secs)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)
        if self in _procs:
            _procs.remove(self)


class Dataplane(Proc):
    """dp_testd: the switch in its own process, one worker."""

    def __init__(self, workers=1, cpus="1", mem=256, tag="", netns=None, extra=()):
        """tag names a second dataplane of a test; netns runs it in that
        network namespace (its uplinks' interfaces are there); extra: more
        dp_testd options (e.g. --no-flow-cache)."""
        if not os.path.exists(DP_TESTD):
            fail(f"{DP_TESTD} is not built")
        self.sockdir = os.path.join(TMP, "vhost" + tag)
        os.makedirs(self.sockdir, exist_ok=True)
        prefix = f"nvdp{tag}{os.getpid()}"
        # The EAL's runtime directory outlives the process.
        at_cleanup(lambda: shutil.rmtree(f"/var/run/dpdk/{prefix}", ignore_errors=True))
        pre = ["ip", "netns", "exec", netns] if netns else []
        super().__init__("dataplane" + tag, pre + [DP_TESTD, "--vhost-dir", self.sockdir,
                                                   "--prefix", prefix, "--workers",
                                                   str(workers), "--cpus", cpus, "--mem",
                                                   str(mem)] + list(extra))
        self.wait_for(r"^READY$", 60)

    def cmd(self, line, ok=True):
        m = self.mark()
        self.send(line)
        r = self.wait_for(r"^(OK.*|ERR.*)$", 60, m).group(1)
        if ok and not r.startswith("OK"):
            fail(f"dataplane '{line}': {r}")
        return r

    def _records(self, command, tag, key):
        """Lines "TAG k=v ..." a command prints, by their field key."""
        m = self.mark()
        self.send(command)
        self.wait_for(r"^OK \d+$", 30, m)
        out = {}
        for ln in self.text(m).splitlines():
            if ln.startswith(tag + " "):
                kv = dict(f.split("=", 1) for f in ln.split()[1:])
                for k, v in kv.items():
                    if v.isdigit():
                        kv[k] = int(v)
                out[kv[key]] = kv
        return out

    def stats(self):
        return self._records("stats", "STAT", "port")

    def workers(self):
        """Worker counters by lcore: packets, busy/idle cycles, flow_hits..."""
        return self._records("workers", "WORKER", "lcore")

    def wait_links(self, ports, secs=20):
        """Wait until every port named is up; returns the stats then."""
        end = time.monotonic() + secs
        while True:
            st = self.stats()
            if all(st[p]["link"] == "up" for p in ports):
                return st
            if time.monotonic() > end:
                fail(f"links of {sorted(ports)} did not come up: {st}")
            time.sleep(0.2)

    def mirrors(self):
        """Mirror sessions by name: src, dst, dir, packets, bytes, drops."""
        return self._records("mirrors", "MIRROR", "name")

    def quit(self):
        m = self.mark()
        self.send("quit")
        self.wait_for(r"^BYE$", 60, m)
        self.p.wait(30)
        _procs.remove(self)


TESTPMD = "dpdk-testpmd"


class Testpmd(Proc):
    """dpdk-testpmd whose net_virtio_user ports stand in for VMs' drivers;
    vdevs (devargs) are more ports after them (e.g. net_memif clients)."""

    def __init__(self, name, ports, cpus="0,1", lcores=None, vdevs=()):
        """cpus: EAL -l (lcore = CPU); lcores: EAL --lcores instead, e.g.
        "0@0,1@0" to keep the forwarding lcore off the dataplane's CPU;
        vdevs: more --vdev arguments (ports after the virtio_user ones)."""
        # testpmd's printf output must not wait in a pipe's stdio buffer.
        where = ["--lcores", lcores] if lcores else ["-l", cpus]
        argv = ["stdbuf", "-o0", TESTPMD] + where + ["--no-huge", "-m", "512", "--no-shconf",
                "--file-prefix", f"{name}{os.getpid()}", "--iova-mode=va",
                "--single-file-segments", "--no-pci", "--log-level=lib.eal:warning"]
        for i, (path, mac) in enumerate(ports):
            argv += ["--vdev", f"net_virtio_user{i},path={path},mac={mac}"]
        for v in vdevs:
            argv += ["--vdev", v]
        argv += ["--", "-i", "--total-num-mbufs=16384", "--no-flush-rx",
                 "--port-topology=loop"]
        self.nports = len(ports) + len(vdevs)
        super().__init__(name, argv)
        self.wait_for(r"testpmd> ", 90)

    def cmd(self, line, timeout=30):
        m = self.mark()
        self.send(line)
        self.wait_for(r"testpmd> ", timeout, m)
        return self.text(m)

    def send_from(self, port, dst, secs=0.5):
        """txonly from one port to dst for secs; the others are not polled."""
        self.cmd(f"set portlist {port}")
        self.cmd(f"set eth-peer {port} {dst}")
        self.cmd("set fwd txonly")
        self.cmd("start")
        time.sleep(secs)
        self.cmd("stop")

    def rx_counts(self, secs=0.5):
        """Poll every port for secs; RX-packets of each since the last clear."""
        self.cmd("set portlist " + ",".join(str(i) for i in range(self.nports)))
        self.cmd("set fwd rxonly")
        self.cmd("start")
        time.sleep(secs)
        self.cmd("stop")
        m = self.mark()
        self.send("show port stats all")
        last = self.nports - 1
        self.wait_for(rf"NIC statistics for port {last}[^#]*#+", 30, m)
        out = self.text(m)
        counts = {}
        for m in re.finditer(r"NIC statistics for port (\d+)[^\n]*\n\s*RX-packets:\s*(\d+)", out):
            counts[int(m.group(1))] = int(m.group(2))
        if len(counts) != self.nports:
            fail(f"cannot read port stats from testpmd: {out!r}")
        self.cmd("clear port stats all")
        return counts

    def quit(self):
        self.send("quit")
        try:
            self.p.wait(30)
        except subprocess.TimeoutExpired:
            pass
        self.stop()


def sh(cmd, check_rc=True):
    r = subprocess.run(cmd, shell=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=60)
    if check_rc and r.returncode != 0:
        fail(f"'{cmd}': {r.stdout.decode(errors='replace')}")
    return r.stdout.decode(errors="replace")


class Netns:
    """A network namespace with a veth pair: `outer` stays here (the
    uplink's side), `inner` is moved into the namespace (the host)."""

    def __init__(self, tag):
        self.name = f"nvdp{tag}{os.getpid() % 100000}"
        self.outer = f"nvu{tag}{os.getpid() % 100000}"[:15]
        self.inner = f"nvh{tag}{os.getpid() % 100000}"[:15]
        sh(f"ip netns add {self.name}")
        at_cleanup(lambda: sh(f"ip netns del {self.name}", False))
        sh(f"ip link add {self.outer} type veth peer name {self.inner}")
        at_cleanup(lambda: sh(f"ip link del {self.outer}", False))
        sh(f"ip link set {self.inner} netns {self.name}")
        # No IPv6 chatter (router solicitations, MLD, DAD) from either end,
        # before they come up: a test counts every frame that reaches a VM.
        sh(f"sysctl -qw net.ipv6.conf.{self.outer}.disable_ipv6=1", False)
        self.run(f"sysctl -qw net.ipv6.conf.{self.inner}.disable_ipv6=1", False)
        sh(f"ip link set {self.outer} up")
        self.run(f"ip link set lo up; ip link set {self.inner} up")

    def run(self, cmd, check_rc=True):
        return sh(f"ip netns exec {self.name} sh -c '{cmd}'", check_rc)

    def popen(self, name, argv):
        return Proc(name, ["ip", "netns", "exec", self.name] + argv)

    def capture(self, action, secs=3.0):
        """Frames seen on the inner end of the veth (wire.py capture: dicts
        of src, dst, vlan, type, len) while action() runs."""
        wire = os.path.join(os.path.dirname(os.path.abspath(__file__)), "wire.py")
        cap = self.popen("capture", ["python3", wire, "capture", self.inner, str(secs)])
        cap.wait_for(r"^CAPTURING$", 20)
        action()
        cap.wait_for(r"^DONE$", secs + 20)
        frames = [dict(f.split("=", 1) for f in ln.split()[1:])
                  for ln in cap.text().splitlines() if ln.startswith("FRAME ")]
        cap.stop()
        return frames


def mac_bytes(s):
    return bytes(int(x, 16) for x in s.split(":"))
