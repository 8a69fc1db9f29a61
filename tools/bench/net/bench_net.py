#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tools/bench/net: the vhost PVP path, our switch against OVS-DPDK and
testpmd's io forwarding, in one run on the same machine.

The DPDK community's method for vhost paths, fitted to two cores: one
dpdk-testpmd with two net_virtio_user ports stands in for two VMs' drivers
(the generator: a closed loop seeded with `start tx_first`, on CPU 0) and
is attached to two vhost-user ports of the switch under test (on CPU 1):

  ours     dp_testd (the dataplane, one worker, no idle sleep), the two
           ports on one network
  ovs      OVS-DPDK 3.1 (openvswitch-switch-dpdk), one PMD, dpdkvhostuser
           ports on a netdev bridge with the NORMAL action
  testpmd  dpdk-testpmd's net_vhost ports with io forwarding: the upper
           bound of this path (no switching at all)

The generator forwards in `mac` mode (each frame leaves with the sending
port's MAC as source and the other VM's as destination), because a
switch that checks source MACs and learns them needs real stations; the
same generator runs for every switch. The rate is the generator's
aggregate receive rate over a window after warm-up (Mpps, both
directions), the median of the rounds, at 64 B and 1518 B. In a closed
loop nothing is offered beyond what comes back, so that rate is also the
zero-loss rate; the generator's own drops are reported.

Ends with BENCH lines and writes them to docs/benchmarks.md between the
bench:net markers. Needs root, dpdk-testpmd, and for the OVS figures
ovs-vswitchd-dpdk (skipped with a note if absent).
"""
import argparse
import os
import shutil
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from benchlib import (SRC, OursLoad, OvsBase, TestpmdLoad, forget_eal_dirs,  # noqa: E402
                      gen_cmd, gen_stats, logger, ovs_installed, reserve_hugepages, tsc_hz,
                      wait_paths, write_section)

M1, M2 = "02:00:00:00:00:01", "02:00:00:00:00:02"
MEM_MB = 1024
log = logger("bench-net")


def generator(dptest, sock1, sock2, size):
    """testpmd with two virtio_user ports on CPU 0, mac forwarding."""
    argv = ["stdbuf", "-o0", "dpdk-testpmd", "--lcores", "0@0,1@0", "--in-memory", "-m",
            str(MEM_MB), "--file-prefix", f"nvbgen{os.getpid()}",
            "--iova-mode=va", "--single-file-segments", "--no-pci",
            "--log-level=lib.eal:warning",
            "--vdev", f"net_virtio_user0,path={sock1},mac={M1},queue_size=1024",
            "--vdev", f"net_virtio_user1,path={sock2},mac={M2},queue_size=1024",
            "--", "-i", "--total-num-mbufs=32768", "--no-flush-rx",
            "--port-topology=paired", "--rxd=1024", "--txd=1024",
            f"--eth-peer=0,{M2}", f"--eth-peer=1,{M1}", "--forward-mode=mac"]
    g = dptest.Proc("generator", argv)
    g.wait_for(r"testpmd> ", 90)
    g.nports = 2
    return g


def measure(g, sw, size, warm, window):
    """(closed-loop Mpps at the generator, switch cycles per packet, drops)."""
    gen_cmd(g, f"set txpkts {size}")
    gen_cmd(g, "start tx_first 16")
    time.sleep(warm)
    gen_stats(g)  # start of the window
    sw.window_start()
    time.sleep(window)
    cpp = sw.window_end()
    pps, drops = gen_stats(g)
    gen_cmd(g, "stop", 60)
    return pps / 1e6, cpp, drops


class Ours(OursLoad):
    name = "ours"

    def __init__(self, dptest, build):
        self.dp = dptest.Proc("dataplane", [
            os.path.join(build, "tests", "integration", "dataplane", "dp_testd"),
            "--vhost-dir", dptest.TMP, "--prefix", f"nvbdp{os.getpid()}", "--workers", "1",
            "--cpus", "1", "--no-idle-sleep", "--hugepages"])
        self.dp.wait_for(r"^READY$", 60)
        self.socks = []
        for port, mac in (("vm1", M1), ("vm2", M2)):
            m = self.dp.mark()
            if port == "vm1":
                self.dp.send("net red 0")
                self.dp.wait_for(r"^OK", 30, m)
                m = self.dp.mark()
            self.dp.send(f"vhost {port} red {mac} 1")
            self.socks.append(self.dp.wait_for(r"^OK (\S+)", 30, m).group(1))


class TestpmdIo(TestpmdLoad):
    name = "testpmd"

    def __init__(self, dptest, build):
        self.socks = [os.path.join(dptest.TMP, f"tp{i}.sock") for i in (1, 2)]
        for s in self.socks:
            if os.path.exists(s):
                os.unlink(s)
        self.p = dptest.Proc("testpmd-io", [
            "stdbuf", "-o0", "dpdk-testpmd", "--lcores", "0@1,1@1", "--in-memory", "-m",
            str(MEM_MB), "--file-prefix", f"nvbtp{os.getpid()}",
            "--iova-mode=va", "--no-pci", "--log-level=lib.eal:warning",
            "--vdev", f"net_vhost0,iface={self.socks[0]},queues=1",
            "--vdev", f"net_vhost1,iface={self.socks[1]},queues=1",
            "--", "-i", "--total-num-mbufs=32768", "--no-flush-rx",
            "--port-topology=paired", "--forward-mode=io", "--record-core-cycles"])
        self.start_fwd()


class Ovs(OvsBase):
    name = "ovs"

    def __init__(self, dptest, build):
        super().__init__(dptest, MEM_MB)
        self.socks = []
        for port in ("vm1", "vm2"):
            self.vsctl("--timeout=60", "add-port", "br0", port, "--", "set", "Interface", port,
                       "type=dpdkvhostuser")
            self.socks.append(os.path.join(self.dir, port))
        wait_paths(self.socks)


def run(args):
    import dptest

    reserve_hugepages(dptest, 3 * MEM_MB + 256)
    forget_eal_dirs(dptest, "nvbgen", "nvbtp", "nvbdp", "nvbovs")

    kinds = [Ours, TestpmdIo]
    notes = []
    if ovs_installed():
        kinds.insert(1, Ovs)
    else:
        notes.append("OVS-DPDK not installed (openvswitch-switch-dpdk): no OVS figures")
    kinds = [k for k in kinds if k.name in args.switches.split(",")]
    res = {k.name: {64: [], 1518: []} for k in kinds}
    cpp = {k.name: {64: [], 1518: []} for k in kinds}
    drops = {k.name: 0 for k in kinds}
    for rnd in range(args.rounds):
        # Rotate the order: a machine whose load changes favours no one.
        for kind in kinds[rnd % len(kinds):] + kinds[:rnd % len(kinds)]:
            sw = kind(dptest, args.build)
            try:
                for size in (64, 1518):
                    # A fresh loop per size: frames of the last size would
                    # still circulate.
                    g = generator(dptest, sw.socks[0], sw.socks[1], size)
                    mpps, c, d = measure(g, sw, size, args.warm, args.window)
                    res[kind.name][size].append(mpps)
                    cpp[kind.name][size].append(c)
                    drops[kind.name] += d
                    log(f"round {rnd + 1} {kind.name} {size} B: {mpps:.2f} Mpps closed loop, "
                        f"{c:.0f} cycles/packet")
                    g.stop()
            finally:
                sw.stop()
    med = {k: {s: statistics.median(v) for s, v in d.items() if v} for k, d in res.items()}
    mcpp = {k: {s: statistics.median(v) for s, v in d.items() if v} for k, d in cpp.items()}
    spread = [f"{k} {sz} B: " + " / ".join(f"{c:.0f}" for c in v[sz])
              for k, v in cpp.items() for sz in (64, 1518) if v[sz]]
    notes.append("cycles/packet of each round (the machine is shared, hence the spread): " +
                 "; ".join(spread))
    notes.append("closed loop: nothing is offered beyond what comes back, so the loop rate "
                 "is also the zero-loss rate; generator tx errors: " +
                 ", ".join(f"{k} {d}" for k, d in drops.items()))
    return med, mcpp, res, drops, notes


def write_doc(lines, table, notes, args):
    body = ["## Network: the vhost PVP path (`tools/bench/net`)", "",
            f"Measured {time.strftime('%Y-%m-%d')}: generator (dpdk-testpmd, two "
            "net_virtio_user ports, `mac` forwarding, closed loop seeded with `start "
            "tx_first 16`) on CPU 0, the switch under test on CPU 1, 2 MiB hugepages; "
            f"{args.rounds} round(s), median; Mpps are both directions together, per switch "
            "core. Shared 2-core development machine: compare ratios, not absolutes.", "",
            "The generator (one core) limits the closed loop here, so the figures that",
            "compare switches are per switch core: the switch's own busy cycles per",
            "packet over the window (ours: the worker's rounds that moved packets; OVS:",
            "`pmd-stats-show` processing cycles; testpmd: `--record-core-cycles`), and",
            "the rate one core would sustain at that cost (TSC rate / cycles).", "",
            "| switch | 64 B loop Mpps | 64 B cycles/pkt | 64 B Mpps/core "
            "| 1518 B loop Mpps | 1518 B cycles/pkt | 1518 B Mpps/core |",
            "| --- | --- | --- | --- | --- | --- | --- |"] + table + [""]
    body += [f"- {n}" for n in notes] + ([""] if notes else [])
    body += ["```"] + lines + ["```", "",
             "Reproduce (root; needs dpdk-testpmd, and openvswitch-switch-dpdk for the OVS "
             "figures): `make bench-net`, or `tools/bench/net/bench_net.py --build build "
             f"--rounds {args.rounds}`."]
    write_section("net", "tools/bench/net/bench_net.py", body)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(SRC, "build"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--warm", type=float, default=3.0)
    ap.add_argument("--window", type=float, default=5.0)
    ap.add_argument("--no-doc", action="store_true")
    ap.add_argument("--switches", default="ours,ovs,testpmd")
    args = ap.parse_args()
    if os.geteuid() != 0 or shutil.which("dpdk-testpmd") is None:
        print("SKIP: bench-net needs root and dpdk-testpmd")
        return 77
    os.environ["NV_BUILD"] = args.build
    med, cpp, res, drops, notes = run(args)
    hz = tsc_hz()
    cap = {k: {sz: hz / c / 1e6 for sz, c in v.items() if c > 0} for k, v in cpp.items()}
    lines, table = [], []
    for k in med:
        table.append(f"| {k} | " + " | ".join(
            f"{med[k].get(sz, 0):.2f} | {cpp[k].get(sz, 0):.0f} | {cap[k].get(sz, 0):.2f}"
            for sz in (64, 1518)) + " |")
    ours = cap.get("ours", {})
    for peer, fmt in (("ovs", "pvp_{}b"), ("testpmd", "pvp_{}b_vs_testpmd")):
        for sz in (64, 1518):
            if peer in cap and sz in cap[peer] and sz in ours:
                lines.append(f"BENCH {fmt.format(sz)} ours={ours[sz]:.2f} "
                             f"peer={cap[peer][sz]:.2f} unit=Mpps/core "
                             f"ratio={ours[sz] / cap[peer][sz]:.2f}")
    for ln in lines:
        print(ln)
    log("all rounds:", res, "generator tx errors:", drops)
    if not args.no_doc:
        write_doc(lines, table, notes, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
