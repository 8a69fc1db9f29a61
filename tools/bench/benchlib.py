# SPDX-License-Identifier: MIT
"""Shared parts of the packet benchmarks (tools/bench/net, tools/bench/switch):
the dpdk-testpmd generator's console, the switches' per-window load
(dp_testd's worker cycles, OVS-DPDK's PMD stats, testpmd's core cycles),
an OVS-DPDK instance of our own, hugepages, and docs/benchmarks.md sections.

Every process is a child of the benchmark (tests/integration/dataplane/
dptest.py starts them, stops them by PID at exit, bounds every wait).
"""
import os
import re
import subprocess
import sys
import time

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tests", "integration", "dataplane"))

OVS_VSWITCHD = "/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk"
HUGE = "/proc/sys/vm/nr_hugepages"


def logger(tag):
    def log(*a):
        print(f"[{tag}]", *a, file=sys.stderr, flush=True)
    return log


def gen_cmd(g, line, timeout=30):
    """One testpmd console command; its output."""
    m = g.mark()
    g.send(line)
    g.wait_for(r"testpmd> ", timeout, m)
    return g.text(m)


STAT_KEYS = (("rx_pps", r"Rx-pps:\s+(\d+)"), ("tx_pps", r"Tx-pps:\s+(\d+)"),
             ("rx_packets", r"RX-packets:\s+(\d+)"), ("rx_bytes", r"RX-bytes:\s+(\d+)"),
             ("tx_packets", r"TX-packets:\s+(\d+)"), ("tx_errors", r"TX-errors:\s+(\d+)"))


def port_stats(g, tries=3):
    """testpmd's `show port stats all`: {port: {rx_pps, tx_pps, rx_packets,
    rx_bytes, tx_packets, tx_errors}}; the rates are over the time since
    the previous call. A reply missing a counter is asked for again, at
    most tries times, then an error: a counter is never taken as 0 (as it
    was before, which is the likely cause of a 1 s rate once logged at
    -64 Mpps, then +76, by bench-switch --per-second)."""
    for _ in range(tries):
        m = g.mark()
        g.send("show port stats all")
        # the last port's whole block: its header, counters and closing rule
        g.wait_for(rf"NIC statistics for port {g.nports - 1}\s*#+[^#]*#+", 30, m)
        st = {}
        for blk in re.finditer(r"NIC statistics for port (\d+)\s*#+([^#]*)", g.text(m)):
            found = {k: re.search(rx, blk.group(2)) for k, rx in STAT_KEYS}
            if all(found.values()):
                st[int(blk.group(1))] = {k: int(r.group(1)) for k, r in found.items()}
        if len(st) == g.nports:
            return st
        print(f"benchlib: `show port stats all` gave counters for ports {sorted(st)} of "
              f"{g.nports}; asking again", file=sys.stderr)
    raise RuntimeError(f"`show port stats all` gave incomplete counters {tries} times")


def gen_stats(g, ports=None):
    """(sum of Rx-pps, sum of TX-errors) over ports (all if None)."""
    st = port_stats(g)
    sel = [st[p] for p in (ports if ports is not None else sorted(st))]
    return sum(s["rx_pps"] for s in sel), sum(s["tx_errors"] for s in sel)


def tsc_hz():
    """The TSC rate, as our dataplane reports it (same machine)."""
    with open("/proc/cpuinfo") as f:
        for ln in f:
            if ln.startswith("cpu MHz"):
                return float(ln.split(":")[1]) * 1e6
    return 2.7e9


def cpu_model():
    with open("/proc/cpuinfo") as f:
        for ln in f:
            if ln.startswith("model name"):
                return ln.split(":", 1)[1].strip()
    return "unknown CPU"


def reserve_hugepages(dptest, mb):
    """OVS-DPDK always runs --in-memory, which rules out --no-huge: every
    process of the benchmark uses hugepages (memfd-backed, no mount, no map
    files). The count is restored at exit."""
    orig = int(open(HUGE).read())
    want = orig + mb // 2
    open(HUGE, "w").write(str(want))
    dptest.at_cleanup(lambda: open(HUGE, "w").write(str(orig)))
    got = int(open(HUGE).read())
    if got < want:
        raise SystemExit(f"only {got - orig} of {mb // 2} hugepages could be reserved")


def forget_eal_dirs(dptest, *prefixes):
    """The EAL's runtime directories (/var/run/dpdk/<file-prefix>) outlive
    their processes: remove ours at exit."""
    import shutil
    for p in prefixes:
        d = f"/var/run/dpdk/{p}{os.getpid()}"
        dptest.at_cleanup(lambda d=d: shutil.rmtree(d, ignore_errors=True))


def ovs_installed():
    import shutil
    return os.path.exists(OVS_VSWITCHD) and shutil.which("ovsdb-server") is not None


class CoreLat:
    """nv_corelat (tools/bench/corelat): the round trip of a cache line
    between two CPUs, probed on demand. A virtual machine's vCPUs are
    placed near each other (same last-level cache) or far apart by the
    host, which moves them while we run; a closed loop over memif runs
    about 4 times slower far apart, whatever the switch."""

    # Round trips at or under this are "near". Seen on these machines
    # (2026-11-22): 53..120 ns near, 305..390 ns far, nothing between.
    NEAR_NS = 180

    def __init__(self, dptest, build, cpus=(0, 1)):
        exe = os.path.join(build, "tools", "bench", "nv_corelat")
        self.p = dptest.Proc("corelat", [exe, str(cpus[0]), str(cpus[1])])
        self.p.wait_for(r"^ready$", 10)

    def probe(self):
        """The mean round trip in ns; None if the other CPU's thread did
        not answer in time."""
        m = self.p.mark()
        self.p.send("")
        r = self.p.wait_for(r"^rtt_ns=(\d+|timeout)$", 10, m)
        return None if r.group(1) == "timeout" else int(r.group(1))

    @classmethod
    def near(cls, ns):
        return ns is not None and ns <= cls.NEAR_NS

    def stop(self):
        self.p.stop()


class OursLoad:
    """dp_testd's worker: busy cycles per packet over a window."""

    def _load(self):
        m = self.dp.mark()
        self.dp.send("workers")
        self.dp.wait_for(r"^OK \d+", 30, m)
        w = re.search(r"packets=(\d+) busy_cycles=(\d+) .*tsc_hz=(\d+)", self.dp.text(m))
        self.hz = int(w.group(3))
        return int(w.group(1)), int(w.group(2))

    def window_start(self):
        self.w0 = self._load()

    def window_end(self):
        p, c = self._load()
        return (c - self.w0[1]) / max(1, p - self.w0[0])

    def stop(self):
        self.dp.stop()


class TestpmdLoad:
    """testpmd's forwarding core: cycles per packet (--record-core-cycles)."""

    def start_fwd(self):
        self.p.wait_for(r"testpmd> ", 90)
        m = self.p.mark()
        self.p.send("start")
        self.p.wait_for(r"testpmd> ", 30, m)

    def window_start(self):
        m = self.p.mark()
        self.p.send("clear fwd stats all")
        self.p.wait_for(r"testpmd> ", 30, m)

    def window_end(self):
        """Cycles per packet; 0 when nothing was forwarded (testpmd then
        prints no figure)."""
        out = gen_cmd(self.p, "show fwd stats all")
        r = re.search(r"CPU cycles/packet=([0-9.]+)", out)
        return float(r.group(1)) if r else 0.0

    def stop(self):
        self.p.stop()


class OvsBase:
    """ovsdb-server + ovs-vswitchd-dpdk in a directory of our own, one PMD
    on CPU 1, a netdev bridge br0; subclasses add the ports."""

    count = 0

    def __init__(self, dptest, mem_mb, extra_eal=""):
        OvsBase.count += 1
        d = os.path.join(dptest.TMP, f"ovs{OvsBase.count}")
        os.makedirs(d, exist_ok=True)
        self.dir = d
        self.ctl = os.path.join(d, "vswitchd.ctl")
        self.env = dict(os.environ, OVS_RUNDIR=d, OVS_DBDIR=d, OVS_LOGDIR=d, OVS_SYSCONFDIR=d)
        db = os.path.join(d, "conf.db")
        self.sock = os.path.join(d, "db.sock")
        subprocess.run(["ovsdb-tool", "create", db,
                        "/usr/share/openvswitch/vswitch.ovsschema"], check=True, env=self.env)
        self.db = dptest.Proc("ovsdb", ["ovsdb-server", db, f"--remote=punix:{self.sock}",
                                        "--pidfile=" + os.path.join(d, "ovsdb.pid"),
                                        "--unixctl=" + os.path.join(d, "ovsdb.ctl")],
                              env=self.env)
        end = time.time() + 20
        while not os.path.exists(self.sock) and time.time() < end:
            time.sleep(0.1)
        self.vsctl("--no-wait", "init")
        self.vsctl("--no-wait", "set", "Open_vSwitch", ".",
                   "other_config:dpdk-init=true",
                   "other_config:dpdk-lcore-mask=0x1",
                   "other_config:pmd-cpu-mask=0x2",
                   f"other_config:dpdk-socket-mem={mem_mb}",
                   'other_config:dpdk-extra="--no-pci --iova-mode=va '
                   '--file-prefix nvbovs%d%s"' % (os.getpid(), extra_eal))
        self.sw = dptest.Proc("ovs-vswitchd", [
            OVS_VSWITCHD, f"unix:{self.sock}", "--pidfile=" + os.path.join(d, "vswitchd.pid"),
            "--unixctl=" + self.ctl, "--log-file=" +
            os.path.join(d, "vswitchd.log")], env=self.env)
        self.vsctl("--timeout=60", "add-br", "br0", "--", "set", "bridge", "br0",
                   "datapath_type=netdev")

    def appctl(self, *args):
        return subprocess.run(["ovs-appctl", "-t", self.ctl] + list(args), check=True,
                              env=self.env, timeout=60, stdout=subprocess.PIPE,
                              text=True).stdout

    def ofctl(self, *args):
        subprocess.run(["ovs-ofctl"] + list(args), check=True, env=self.env, timeout=60,
                       stdout=subprocess.DEVNULL)

    def window_start(self):
        self.appctl("dpif-netdev/pmd-stats-clear")

    def window_end(self):
        out = self.appctl("dpif-netdev/pmd-stats-show")
        m = re.search(r"avg processing cycles per packet:\s*([0-9.]+)", out)
        if m is None:
            raise SystemExit(f"cannot read OVS PMD stats: {out}")
        return float(m.group(1))

    def vsctl(self, *args):
        self.vsctl_out(*args)

    def vsctl_out(self, *args):
        return subprocess.run(["ovs-vsctl", f"--db=unix:{self.sock}"] + list(args),
                              check=True, env=self.env, timeout=90, stdout=subprocess.PIPE,
                              text=True).stdout

    # The netdev datapath's internal ports are persistent taps that outlive
    # ovs-vswitchd: the ones of our bridges go when it stops.
    taps = ("ovs-netdev", "br0")

    def stop(self):
        self.sw.stop()
        self.db.stop()
        for t in self.taps:
            if os.path.exists(f"/sys/class/net/{t}"):
                subprocess.run(["ip", "link", "del", t], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)


def wait_paths(paths, secs=30):
    end = time.time() + secs
    while not all(os.path.exists(s) for s in paths) and time.time() < end:
        time.sleep(0.2)


def write_section(name, script, lines):
    """Replace docs/benchmarks.md's bench:NAME section (or append it)."""
    doc = os.path.join(SRC, "docs", "benchmarks.md")
    text = open(doc).read()
    block = "\n".join([f"<!-- bench:{name}:begin (written by {script}) -->"] + lines +
                      [f"<!-- bench:{name}:end -->"])
    rx = re.compile(rf"<!-- bench:{name}:begin.*?<!-- bench:{name}:end -->", re.S)
    text = rx.sub(lambda _: block, text) if rx.search(text) else \
        text.rstrip("\n") + "\n\n" + block + "\n"
    open(doc, "w").write(text)
