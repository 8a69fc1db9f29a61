#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tools/bench/switch: the switch between two memif ports, driven by
dpdk-testpmd, against OVS-DPDK and testpmd's io forwarding in one run.

Topology (two cores): the generator, one dpdk-testpmd with two net_memif
client ports, on CPU 0; the switch under test on CPU 1 with two net_memif
server ports (the server side exists first and outlives the generator,
which is restarted for every measurement):

  ours     dp_testd (the dataplane, one worker, no idle sleep): two access
           ports on one untagged network; the MACs are learned
  ovs      OVS-DPDK 3.1 (openvswitch-switch-dpdk), one PMD on CPU 1, two
           `dpdk` ports with net_memif devargs on a netdev bridge, the
           NORMAL action (MAC learning)
  ovs-of   the same with explicit OpenFlow rules instead of NORMAL
           (in_port=1,actions=output:2 and back)
  testpmd  dpdk-testpmd io forwarding between two memif ports: the upper
           bound of the path (no switching at all)

OVS gives each dpdk port n_pmd+1 tx queues and transmits on queue 1, so
its memif peers have 2 queue pairs (and OVS n_rxq=2); the others 1.

Scenarios (SCENARIOS below; one row each, a hook for the ones to come):

  l2         closed loop as DPDK's own tests measure max rate: `start
             tx_first` seeds bursts that circulate, the generator in `mac`
             forwarding (source = its port's MAC, destination = the other
             port's), so the switch learns two stations. Once both sides
             see the memif links up, a short txonly burst primes the path
             and is drained (rxonly) before the loop is seeded with
             --seed-bursts bursts per port (64: 4096 frames in flight;
             with 16 the loop settled in a fast or a slow mode, about 20 or
             6 Mpps, by chance, and stayed there); an empty loop is
             seeded again (logged). Frame sizes 64, 512, 1518 B and IMIX
             7:4:1 of 64/570/1518 B (the loop is seeded with 7k bursts of
             64 B, 4k of 570 B and k of 1518 B per port, k = 2 (1 below 32
             seed bursts: more overflow the 1024-slot memif rings and lose
             the large frames, seeded last), through `set txpkts` between
             `stop`s; the window's mean frame size is printed).
  flows1k,   open loop: a closed loop holds only the ~1k frames in flight,
  flows100k  so the generator replays two pcap files (one per direction,
             written here) of 64 B UDP frames, one frame per 5-tuple (1k
             or 100k distinct source IP and port pairs, same two MACs), from
             net_pcap with infinite_rx into the memif ports (io
             forwarding, paired ports); what comes back is counted and
             dropped. The generator (one core) is the limit there, so the
             figure is the switch's own cost: busy cycles per packet over
             the window (ours: the worker's rounds that moved packets; OVS:
             pmd-stats-show; testpmd: --record-core-cycles) as the rate one
             core sustains at that cost (TSC rate / cycles).
  vxlan      open loop as flows1k, on a topology of its own: the switch's
             first port is an access port of an overlay network (VNI 5001),
             its second the uplink with the switch's VTEP; the generator
             behind the uplink is the remote VTEP: its pcap holds the
             other direction's frames VXLAN-encapsulated to the switch's
             VTEP (whose MAC it learns from them), so one direction is
             encapsulated and the other decapsulated. OVS: userspace
             tunnelling (a vxlan port on br0, the underlay port on br-phy
             with the local IP, the remote VTEP's MAC by tnl/neigh/set).
             Inner frames 64 B (114 B on the wire encapsulated).
  acl_ct     open loop as flows1k, 1k connections: the first port's
             stations send to 11.0.0.1:80 from 1k source address and port
             pairs, the second port's stations answer each. Ours: a security
             group on the first (access) port, 100 egress rules (the
             matching one last), default deny both ways, so answers pass as
             tracked connections only. OVS: every IP frame through ct(), 100
             OpenFlow rules admitting new connections from port 1 with
             ct(commit), established ones both ways, the rest dropped.

Rates are both directions together, per switch forwarding core (1): Mpps
per core. Closed loop: nothing is offered beyond what comes back, so that
rate is the zero-loss rate at the loop's load. RFC 2544's zero-loss
binary search needs a generator that paces: testpmd 22.11 cannot on memif
(no per-queue rate limit in net_memif; txonly/flowgen/io send as fast as
they can), so there is no search here, only the closed-loop (and the
open-loop cost) figures.

Every window logs the percent of each CPU's time stolen by the hypervisor
(/proc/stat) and the round trip of a cache line between CPU 0 and CPU 1
(nv_corelat, tools/bench/corelat), probed at its start and after every
second. The host places this VM's two vCPUs near each other (about
60-100 ns) or far apart (about 330 ns) and moves them while we run; far
apart the closed loop runs about 4 times slower whatever the switch. So
the closed loop is sampled every second, and its figure is the median of
the switch's 1 s rates over all rounds whose both ends found the CPUs
near (p90-near lines: their 90th percentile). Before each window the
tool waits (at most --near-wait s) for the CPUs to be near, so that a far
spell of tens of seconds does not leave a switch without a figure.
--per-second samples the open-loop windows' rates too (logged only).

Ends with BENCH lines (ratios per forwarding core) and writes them to
docs/benchmarks.md between the bench:switch markers. Needs root,
dpdk-testpmd, and for the OVS figures ovs-vswitchd-dpdk (a note if
absent). --quick: 1 round, short windows, for trying it out.
"""
import argparse
import os
import re
import shutil
import statistics
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from benchlib import (SRC, CoreLat, OursLoad, OvsBase, TestpmdLoad, cpu_model,  # noqa: E402
                      forget_eal_dirs, gen_cmd, logger, ovs_installed, port_stats,
                      reserve_hugepages, tsc_hz, wait_paths, write_section)

M1, M2 = "02:00:00:00:00:01", "02:00:00:00:00:02"
# VXLAN: the switch's VTEP (LOCAL) on its uplink's MAC (UPLINK), the
# generator's remote VTEP (REMOTE, REMOTE_MAC), the network's VNI.
LOCAL, REMOTE, VNI = "10.99.0.1", "10.99.0.2", 5001
UPLINK, REMOTE_MAC = "02:00:00:00:00:aa", "02:00:00:00:00:bb"
MEM_MB = 1024
log = logger("bench-switch")

# testpmd as a memif server (the io forwarding peer) transmits nothing
# with testpmd's default descriptor counts (every frame TX-dropped): set
# them there. The generator's clients keep the defaults (with these set
# too, the seeded loop died out here).
DESCS = ["--rxd=1024", "--txd=1024"]

# IMIX: 7:4:1 of 64/570/1518 B (the "simple IMIX"), seeded as bursts.
IMIX = ((64, 7), (570, 4), (1518, 1))
IMIX_MEAN = sum(sz * n for sz, n in IMIX) / sum(n for _, n in IMIX)

# The scenario table. loop: closed loop over `sizes`; flows: open loop of
# `flows` 5-tuples at 64 B; needs: not measurable yet (printed as skipped).
SCENARIOS = [
    {"name": "l2", "what": "(a) L2 switching between two ports", "mode": "loop",
     "sizes": [64, 512, 1518, "imix"]},
    {"name": "flows1k", "what": "(b) 1k active flows", "mode": "flows", "flows": 1000,
     "sizes": [64]},
    {"name": "flows100k", "what": "(b) 100k active flows", "mode": "flows", "flows": 100000,
     "sizes": [64]},
    {"name": "vxlan", "what": "(c) VXLAN encap/decap", "mode": "vxlan", "flows": 1000,
     "sizes": [64]},
    {"name": "acl_ct", "what": "(d) 100 security-group rules with connection tracking",
     "mode": "acl_ct", "flows": 1000, "sizes": [64]},
]


def unlink_socks(paths):
    """A memif server's socket file outlives a switch that was killed; the
    next one on the same path must not find it."""
    for p in paths:
        if os.path.exists(p):
            os.unlink(p)


def memif(i, role, sock, mac=None):
    a = f"net_memif{i},role={role},socket={sock},socket-abstract=no"
    return a + (f",mac={mac}" if mac else "")


def testpmd_argv(prefix, cpu, vdevs, mem=MEM_MB):
    argv = ["stdbuf", "-o0", "dpdk-testpmd", "--lcores", f"0@{cpu},1@{cpu}", "--in-memory",
            "-m", str(mem), "--file-prefix", f"{prefix}{os.getpid()}", "--iova-mode=va",
            "--no-pci", "--log-level=lib.eal:warning"]
    for v in vdevs:
        argv += ["--vdev", v]
    return argv


def mac_hex(mac):
    return bytes.fromhex(mac.replace(":", ""))


def ipv4_udp(src_ip, dst_ip, sport, dport, payload):
    """An IPv4 header (checksummed) and a UDP header (no checksum) around payload."""
    iplen = 28 + len(payload)
    ip = bytearray(struct.pack("!BBHHHBBHII", 0x45, 0, iplen, 0, 0, 64, 17, 0, src_ip, dst_ip))
    s = sum(struct.unpack("!10H", bytes(ip)))
    s = (s & 0xffff) + (s >> 16)
    s = (s & 0xffff) + (s >> 16)
    ip[10:12] = struct.pack("!H", ~s & 0xffff)
    return bytes(ip) + struct.pack("!HHHH", sport, dport, iplen - 20, 0) + payload


def ip4(s):
    return struct.unpack("!I", bytes(int(x) for x in s.split(".")))[0]


def pcap_write(path, src, dst, nflows, base_ip, size=64, vxlan=None, reply=False):
    """A pcap of one UDP frame per 5-tuple (source IP and port vary: from
    base_ip + i // 64, port 1024 + i % 64, to 11.0.0.1 port 80); size
    counts as `set txpkts` does (no CRC). reply: the same 5-tuples
    reversed (the answers). vxlan=(outer src MAC, outer dst MAC, outer src
    IP, outer dst IP, VNI): each frame encapsulated (RFC 7348), the outer
    UDP source port varying with the inner flow."""
    eth = mac_hex(dst) + mac_hex(src) + b"\x08\x00"
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        for i in range(nflows):
            ends = ((base_ip + i // 64, 1024 + i % 64), (0x0b000001, 80))
            (sip, sport), (dip, dport) = ends[::-1] if reply else ends
            fr = eth + ipv4_udp(sip, dip, sport, dport, bytes(size - 42))
            if vxlan:
                osrc, odst, oip_s, oip_d, vni = vxlan
                fr = (mac_hex(odst) + mac_hex(osrc) + b"\x08\x00" +
                      ipv4_udp(ip4(oip_s), ip4(oip_d), 49152 + i % 16384, 4789,
                               struct.pack("!II", 0x08000000, vni << 8) + fr))
            f.write(struct.pack("<IIII", 0, 0, len(fr), len(fr)) + fr)


def loop_generator(dptest, sw):
    """testpmd on CPU 0: two memif clients, mac forwarding."""
    q = sw.gen_queues
    g = dptest.Proc("generator", testpmd_argv("nvbgen", 0, [
        memif(0, "client", sw.socks[0], M1), memif(1, "client", sw.socks[1], M2)]) + [
        "--", "-i", "--total-num-mbufs=32768", "--no-flush-rx", "--port-topology=paired",
        f"--rxq={q}", f"--txq={q}", f"--eth-peer=0,{M2}", f"--eth-peer=1,{M1}",
        "--forward-mode=mac"])
    g.wait_for(r"testpmd> ", 90)
    g.nports = 2
    g.memif_ports = (0, 1)
    wait_links(g, sw)
    return g


def flows_generator(dptest, sw, pcaps, nflows):
    """testpmd on CPU 0: pcap(A->B) -> memif A, pcap(B->A) -> memif B, io
    forwarding on paired ports; what the memif ports receive is dropped
    (net_pcap without a tx file)."""
    q = sw.gen_queues

    def pcap(i, f):
        return f"net_pcap{i}," + ",".join([f"rx_pcap={f}"] * q) + ",infinite_rx=1"
    g = dptest.Proc("generator", testpmd_argv("nvbgen", 0, [
        pcap(0, pcaps[0]), memif(1, "client", sw.socks[0]),
        pcap(2, pcaps[1]), memif(3, "client", sw.socks[1])], 2 * MEM_MB) + [
        "--", "-i", f"--total-num-mbufs={2 * q * nflows + 65536}", "--no-flush-rx",
        "--port-topology=paired", f"--rxq={q}", f"--txq={q}", "--forward-mode=io"])
    g.wait_for(r"testpmd> ", 180)
    g.nports = 4
    g.memif_ports = (1, 3)
    wait_links(g, sw)
    return g


def wait_links(g, sw, secs=30):
    """memif links come up after the client's handshake, on each side in
    its own time: seeding the loop before both see it would send into
    nothing."""
    end = time.time() + secs
    while time.time() < end:
        if all(re.search(r"Link status:\s+up", gen_cmd(g, f"show port info {p}"))
               for p in g.memif_ports) and sw.links_up():
            return
        time.sleep(0.2)
    g.stop()
    raise LinkDown()


class LinkDown(Exception):
    """The memif links did not come up (seen once in ~100 connections)."""


def testpmd_links_up(p, ports):
    return all(re.search(r"Link status:\s+up", gen_cmd(p, f"show port info {i}"))
               for i in ports)


def loop_alive(g):
    s0 = port_stats(g)
    time.sleep(0.3)
    s1 = port_stats(g)
    return sum(s1[p]["rx_packets"] - s0[p]["rx_packets"] for p in g.memif_ports) > 0


def cpu_ticks():
    """Per CPU: (steal ticks, all ticks) from /proc/stat."""
    out = {}
    with open("/proc/stat") as f:
        for ln in f:
            m = re.match(r"cpu(\d+) (.*)", ln)
            if m:
                v = [int(x) for x in m.group(2).split()]
                out[int(m.group(1))] = (v[7] if len(v) > 7 else 0, sum(v[:8]))
    return out


def steal_pct(t0, t1):
    """Percent of each CPU's time the hypervisor took (steal) between two
    cpu_ticks() readings: (CPU 0, CPU 1)."""
    return tuple(100.0 * (t1[c][0] - t0[c][0]) / max(1, t1[c][1] - t0[c][1])
                 for c in (0, 1))


def wait_near(lat, secs):
    """Wait (at most secs) until CPU 0 and 1 are near each other: a far
    spell lasts tens of seconds, and a switch whose every window fell in
    one would get no closed-loop figure. The same rule for every switch."""
    t0 = time.monotonic()
    while not CoreLat.near(lat.probe()):
        if time.monotonic() - t0 > secs:
            log(f"CPU 0 and 1 still far apart after {secs:.0f} s: measuring anyway")
            return
        time.sleep(1.0)
    if time.monotonic() - t0 > 0.5:
        log(f"waited {time.monotonic() - t0:.0f} s for CPU 0 and 1 to be near")


def window(g, sw, warm, secs, lat=None, per_second=False, near_wait=120.0):
    """Loop Mpps received at the generator's memif ports over the window,
    the switch's cycles per packet, tx errors, mean frame size, Mpps the
    generator sent, mean frame size received at each memif port, the
    percent of CPU 0 and CPU 1 stolen by the hypervisor meanwhile, the
    loop's Mpps second by second (empty without per_second), and the
    CPU 0 - CPU 1 cache-line round trips (ns, CoreLat; None: no answer)
    probed at the start and after every second (empty without lat): the
    n-th 1 s rate lies between round trips n and n + 1."""
    if lat:
        wait_near(lat, near_wait)
    time.sleep(warm)
    mp = g.memif_ports
    s0 = port_stats(g)
    k0 = cpu_ticks()
    sw.window_start()
    # Per second: each query runs on the generator's main lcore, which
    # shares CPU 0 with its forwarding lcore (the closed loop only).
    t0, prev, rates = time.monotonic(), s0, []
    rtts = [lat.probe()] if lat else []
    t_prev = t0
    while (per_second or lat) and time.monotonic() - t0 < secs - 1.05:
        time.sleep(1.0)
        if lat:
            rtts.append(lat.probe())
        if not per_second:
            continue
        cur = port_stats(g)
        t_cur = time.monotonic()
        # over the time between the two queries, not a nominal second
        rates.append(sum(cur[p]["rx_packets"] - prev[p]["rx_packets"] for p in mp) /
                     (t_cur - t_prev) / 1e6)
        prev, t_prev = cur, t_cur
    time.sleep(max(0.0, secs - (time.monotonic() - t0)))
    cpp = sw.window_end()
    steal = steal_pct(k0, cpu_ticks())
    s1 = port_stats(g)
    pkts = sum(s1[p]["rx_packets"] - s0[p]["rx_packets"] for p in mp)
    byts = sum(s1[p]["rx_bytes"] - s0[p]["rx_bytes"] for p in mp)
    errs = sum(s1[p]["tx_errors"] - s0[p]["tx_errors"] for p in mp)
    sent = sum(s1[p]["tx_packets"] - s0[p]["tx_packets"] for p in mp)
    each = tuple((s1[p]["rx_bytes"] - s0[p]["rx_bytes"]) /
                 max(1, s1[p]["rx_packets"] - s0[p]["rx_packets"]) for p in mp)
    # frame size as `set txpkts` counts it (no CRC), as bench_net does
    return (pkts / secs / 1e6, cpp, errs, byts / max(1, pkts), sent / secs / 1e6, each, steal,
            rates, rtts)


def near_rates(r):
    """The 1 s rates of window r whose both ends found CPU 0 and 1 near."""
    rates, rtts = r[7], r[8]
    return [x for i, x in enumerate(rates)
            if i + 1 < len(rtts) and CoreLat.near(rtts[i]) and CoreLat.near(rtts[i + 1])]


def prime(g):
    """Frames both ways through the switch before the loop is seeded (the
    first ones over a fresh memif connection can be lost), then drained."""
    for cmd in ("set fwd txonly", "set txpkts 64", "start"):
        gen_cmd(g, cmd)
    time.sleep(0.2)
    for cmd in ("stop", "set fwd rxonly", "start"):
        gen_cmd(g, cmd, 60)
    time.sleep(0.5)
    for cmd in ("stop", "set fwd mac", "clear port stats all"):
        gen_cmd(g, cmd, 60)


def seed_loop(g, size, bursts=16, tries=3):
    """Seed the closed loop; seed it again (at most tries times) when
    nothing circulates."""
    prime(g)
    for t in range(tries):
        if t > 0:
            log(f"the loop at {size_label(size)} is empty: seeding it again")
            gen_cmd(g, "stop", 60)
        if size == "imix":
            for i, (sz, n) in enumerate(IMIX):
                gen_cmd(g, f"set txpkts {sz}")
                gen_cmd(g, f"start tx_first {n * (2 if bursts >= 32 else 1)}")
                if i < len(IMIX) - 1:
                    gen_cmd(g, "stop", 60)
        else:
            gen_cmd(g, f"set txpkts {size}")
            gen_cmd(g, f"start tx_first {bursts}")
        if loop_alive(g):
            return
    raise SystemExit(f"the closed loop at {size_label(size)} stays empty")


class Ours(OursLoad):
    name = "ours"
    gen_queues = 1

    @property
    def socks(self):
        import dptest
        return [os.path.join(dptest.TMP, f"ours{i}.sock") for i in (1, 2)]

    def __init__(self, dptest, build):
        self.start(dptest, build, ["net red 0"] + [
            f"access p{i} red {memif(i, 'server', s)}" for i, s in enumerate(self.socks)])

    def start(self, dptest, build, cmds):
        unlink_socks(self.socks)
        self.dp = dptest.Proc("dataplane", [
            os.path.join(build, "tests", "integration", "dataplane", "dp_testd"),
            "--vhost-dir", dptest.TMP, "--prefix", f"nvbdp{os.getpid()}", "--workers", "1",
            "--cpus", "1", "--no-idle-sleep", "--hugepages"])
        self.dp.wait_for(r"^READY$", 60)
        self.run_cmds(cmds)

    def run_cmds(self, cmds):
        for c in cmds:
            m = self.dp.mark()
            self.dp.send(c)
            r = self.dp.wait_for(r"^(OK|ERR).*$", 30, m)
            if r.group(1) != "OK":
                raise SystemExit(f"dp_testd '{c}': {r.group(0)}")

    def links_up(self):
        m = self.dp.mark()
        self.dp.send("stats")
        self.dp.wait_for(r"^OK \d+$", 30, m)
        return len(re.findall(r"^STAT port=p\d .*link=up", self.dp.text(m), re.M)) == 2


class OursAclCt(Ours):
    """The two access ports of (a); p0's stations under a security group:
    egress (what they send) the 100 rules, default deny; ingress default
    deny, so the answers pass only as the connections the rules opened."""

    def __init__(self, dptest, build):
        rules = os.path.join(dptest.TMP, "acl_rules.txt")
        with open(rules, "w") as f:
            for proto, cidr, port in ACL_RULES:
                f.write(f"eg:{PROTO_NUM[proto]}:{port}-{port}:{cidr}\n")
        super().__init__(dptest, build)
        self.run_cmds([f"sg p0 deny deny @{rules}"])

    def window_end(self):
        """As the others, and proof that the group decided: the last rule
        opened connections and the answers passed as their frames."""
        cpp = super().window_end()
        m = self.dp.mark()
        self.dp.send("sgstat p0")
        r = self.dp.wait_for(r"^(OK|ERR).*$", 30, m).group(0)
        st = dict(f.split("=") for f in r.split()[1:])
        if int(st.get("ct_hits", 0)) == 0 or int(st.get("ct_entries", 0)) == 0:
            raise SystemExit(f"ours acl_ct: the security group tracked nothing: {r}")
        return cpp


class OursVxlan(Ours):
    """p0: an access port on overlay network red (VNI), p1: the uplink
    (the underlay) with our VTEP; the generator behind p1 is the remote
    VTEP (its MAC is learned from the frames it sends, like M2 behind it)."""

    def __init__(self, dptest, build):
        self.start(dptest, build, [
            f"vtep {LOCAL}", f"netvx red {VNI} {REMOTE}",
            f"access p0 red {memif(0, 'server', self.socks[0])}",
            f"uplink p1 {memif(1, 'server', self.socks[1], UPLINK)}"])


class TestpmdIo(TestpmdLoad):
    name = "testpmd"
    gen_queues = 1

    def __init__(self, dptest, build):
        self.socks = [os.path.join(dptest.TMP, f"tp{i}.sock") for i in (1, 2)]
        unlink_socks(self.socks)
        self.p = dptest.Proc("testpmd-io", testpmd_argv("nvbtp", 1, [
            memif(i, "server", s) for i, s in enumerate(self.socks)]) + [
            "--", "-i", "--total-num-mbufs=32768", "--no-flush-rx", "--port-topology=paired",
        *DESCS,
            "--forward-mode=io", "--record-core-cycles"])
        self.start_fwd()

    def links_up(self):
        return testpmd_links_up(self.p, (0, 1))


class Ovs(OvsBase):
    name = "ovs"
    gen_queues = 2

    def __init__(self, dptest, build):
        super().__init__(dptest, MEM_MB)
        self.socks = [os.path.join(self.dir, f"m{i}.sock") for i in (1, 2)]
        for i, s in enumerate(self.socks):
            self.vsctl("--timeout=60", "add-port", "br0", f"p{i + 1}", "--", "set",
                       "Interface", f"p{i + 1}", "type=dpdk", f"ofport_request={i + 1}",
                       f"options:dpdk-devargs={memif(i, 'server', s)}", "options:n_rxq=2")
        wait_paths(self.socks)
        self.rules()

    def rules(self):
        pass  # NORMAL, the bridge's default flow

    def links_up(self):
        return all(self.vsctl_out("get", "Interface", f"p{i}", "link_state").strip() == "up"
                   for i in (1, 2))


class OvsOf(Ovs):
    name = "ovs-of"

    def rules(self):
        self.ofctl("del-flows", "br0")
        self.ofctl("add-flow", "br0", "in_port=1,actions=output:2")
        self.ofctl("add-flow", "br0", "in_port=2,actions=output:1")


# Scenario (d): 100 rules for the frames from the first port's stations,
# the one that matches last; the answers pass as established connections.
ACL_RULES = [("udp", f"172.16.{i}.0/24", 2000 + i) for i in range(99)] + \
    [("udp", "11.0.0.0/8", 80)]


PROTO_NUM = {"tcp": 6, "udp": 17}


class OvsAclCt(Ovs):
    """OVS with connection tracking: every IP frame through ct() (table
    0), then in table 1 the 100 rules admit new connections from port 1
    (ct(commit)), established ones pass both ways, the rest is dropped."""

    def rules(self):
        self.ofctl("del-flows", "br0")
        self.ofctl("add-flow", "br0", "table=0,priority=10,ip,actions=ct(table=1)")
        self.ofctl("add-flow", "br0", "table=0,priority=0,actions=NORMAL")
        for i, (proto, cidr, port) in enumerate(ACL_RULES):
            self.ofctl("add-flow", "br0",
                       f"table=1,priority={1000 - i},ct_state=+trk+new,{proto},in_port=1,"
                       f"nw_dst={cidr},tp_dst={port},actions=ct(commit),output:2")
        self.ofctl("add-flow", "br0", "table=1,priority=500,ct_state=+trk+est,in_port=1,"
                   "actions=output:2")
        self.ofctl("add-flow", "br0", "table=1,priority=500,ct_state=+trk+est,in_port=2,"
                   "actions=output:1")
        self.ofctl("add-flow", "br0", "table=1,priority=0,actions=drop")


class OvsVxlan(OvsBase):
    """OVS userspace tunnelling: br0 holds p0 (memif) and vxlan0 (remote
    REMOTE, key VNI), NORMAL; br-phy holds p1 (memif, the underlay) and
    LOCAL on its own internal port; REMOTE's MAC set in OVS's neighbour
    table and a route to it by br-phy."""
    name = "ovs"
    gen_queues = 2
    taps = OvsBase.taps + ("br-phy",)

    def __init__(self, dptest, build):
        super().__init__(dptest, MEM_MB)
        self.socks = [os.path.join(self.dir, f"m{i}.sock") for i in (1, 2)]
        self.vsctl("--timeout=60", "add-br", "br-phy", "--", "set", "bridge", "br-phy",
                   "datapath_type=netdev", f"other_config:hwaddr={UPLINK}")
        for i, (br, s) in enumerate((("br0", self.socks[0]), ("br-phy", self.socks[1]))):
            self.vsctl("--timeout=60", "add-port", br, f"p{i + 1}", "--", "set",
                       "Interface", f"p{i + 1}", "type=dpdk", f"ofport_request={i + 1}",
                       f"options:dpdk-devargs={memif(i, 'server', s)}", "options:n_rxq=2")
        self.vsctl("--timeout=60", "add-port", "br0", "vxlan0", "--", "set", "Interface",
                   "vxlan0", "type=vxlan", f"options:remote_ip={REMOTE}",
                   f"options:local_ip={LOCAL}", f"options:key={VNI}", "ofport_request=3")
        wait_paths(self.socks)
        subprocess.run(["ip", "addr", "replace", f"{LOCAL}/24", "dev", "br-phy"], check=True)
        subprocess.run(["ip", "link", "set", "br-phy", "up"], check=True)
        self.appctl("ovs/route/add", f"{REMOTE}/32", "br-phy")
        self.appctl("tnl/neigh/set", "br-phy", REMOTE, REMOTE_MAC)

    def links_up(self):
        return all(self.vsctl_out("get", "Interface", f"p{i}", "link_state").strip() == "up"
                   for i in (1, 2))


# Scenarios that change a switch's topology: (mode, switch) -> its class
# for them, or None where the comparison does not apply (testpmd io
# forwarding does no VXLAN; OVS's NORMAL action stands for OVS there).
VARIANTS = {("vxlan", "ours"): OursVxlan, ("vxlan", "ovs"): OvsVxlan,
            ("vxlan", "ovs-of"): None, ("vxlan", "testpmd"): None,
            ("acl_ct", "ours"): OursAclCt, ("acl_ct", "ovs"): OvsAclCt,
            ("acl_ct", "ovs-of"): None, ("acl_ct", "testpmd"): None}


def size_label(sz):
    return "imix" if sz == "imix" else f"{sz}b"


def run(args, scenarios):
    import dptest

    reserve_hugepages(dptest, 4 * MEM_MB + 256)
    forget_eal_dirs(dptest, "nvbgen", "nvbtp", "nvbdp", "nvbovs")
    kinds = [Ours, TestpmdIo]
    notes = []
    if ovs_installed():
        kinds[1:1] = [Ovs, OvsOf]
    else:
        notes.append("OVS-DPDK not installed (openvswitch-switch-dpdk): no OVS figures")
    kinds = [k for k in kinds if k.name in args.switches.split(",")]
    pcaps = {}
    for sc in scenarios:
        if sc["mode"] in ("flows", "vxlan", "acl_ct"):
            n = sc["flows"]
            pcaps[sc["name"]] = [os.path.join(dptest.TMP, f"{sc['name']}_{d}.pcap")
                                 for d in ("ab", "ba")]
            # With two generator queues each replays the whole file: the
            # switch still sees n distinct 5-tuples per direction.
            pcap_write(pcaps[sc["name"]][0], M1, M2, n, 0x0a000000)
            if sc["mode"] == "acl_ct":  # the answers of the same connections
                pcap_write(pcaps[sc["name"]][1], M2, M1, n, 0x0a000000, reply=True)
            else:
                pcap_write(pcaps[sc["name"]][1], M2, M1, n, 0x0c000000,
                           vxlan=(REMOTE_MAC, UPLINK, REMOTE, LOCAL, VNI)
                           if sc["mode"] == "vxlan" else None)
    # res[scenario][size][switch] = list of (loop Mpps, cycles/pkt, errs, frame B, sent Mpps)
    res = {sc["name"]: {sz: {k.name: [] for k in kinds} for sz in sc["sizes"]}
           for sc in scenarios}
    lat = CoreLat(dptest, args.build)
    for rnd in range(args.rounds):
        # Rotate the order: a machine whose load changes favours no one.
        for kind in kinds[rnd % len(kinds):] + kinds[:rnd % len(kinds)]:
            sw, cls = None, None
            try:
                for sc in scenarios:
                    # A scenario may need its own topology (VXLAN), or
                    # not apply to this switch (None).
                    want = VARIANTS.get((sc["mode"], kind.name), kind)
                    if want is None:
                        continue
                    if want is not cls:
                        if sw is not None:
                            sw.stop()
                        sw, cls = want(dptest, args.build), want
                    for sz in sc["sizes"]:
                        # A fresh generator each time: frames of the last
                        # measurement would still circulate.
                        for attempt in (1, 2):
                            try:
                                if sc["mode"] == "loop":
                                    g = loop_generator(dptest, sw)
                                    seed_loop(g, sz, args.seed_bursts)
                                else:
                                    g = flows_generator(dptest, sw, pcaps[sc["name"]],
                                                        sc["flows"])
                                    gen_cmd(g, "start")
                                break
                            except LinkDown:
                                if attempt == 2:
                                    raise SystemExit("the memif links between generator and "
                                                     "switch did not come up, twice")
                                note = (f"round {rnd + 1} {kind.name} {sc['name']} "
                                        f"{size_label(sz)}: the memif links did not come up; "
                                        "switch restarted, measured again")
                                notes.append(note)
                                log(note)
                                sw.stop()
                                sw = cls(dptest, args.build)
                        r = window(g, sw, args.warm, args.window, lat,
                                   args.per_second or sc["mode"] == "loop", args.near_wait)
                        gen_cmd(g, "stop", 60)
                        g.stop()
                        if sc["mode"] == "acl_ct" and min(r[5]) == 0:
                            raise SystemExit(f"{kind.name} acl_ct: nothing came back in one "
                                             "direction: the filter drops the connections")
                        if sc["mode"] == "vxlan" and (abs(r[5][0] - sz) > 1 or
                                                      abs(r[5][1] - sz - 50) > 1):
                            raise SystemExit(
                                f"{kind.name} vxlan: frames of {r[5][0]:.0f} B came out of "
                                f"the access side, {r[5][1]:.0f} B out of the underlay: not "
                                f"{sz} B decapsulated and {sz + 50} B encapsulated")
                        res[sc["name"]][sz][kind.name].append(r)
                        if sz == "imix" and abs(r[3] - IMIX_MEAN) > IMIX_MEAN / 10:
                            notes.append(f"round {rnd + 1} {kind.name}: IMIX mean frame "
                                         f"{r[3]:.0f} B, not {IMIX_MEAN:.0f} B: seeded "
                                         "frames were lost")
                        log(f"round {rnd + 1} {kind.name} {sc['name']} {size_label(sz)}: "
                            f"{r[0]:.2f} Mpps back at the generator ({r[4]:.2f} sent), "
                            f"{r[1]:.0f} cycles/packet, {r[3]:.0f} B frames, steal "
                            f"{r[6][0]:.0f}%/{r[6][1]:.0f}% on CPU 0/1; CPU 0-1 round trips "
                            f"{' '.join(str(x) for x in r[8])} ns" +
                            (f"; Mpps per second: {' '.join(f'{x:.1f}' for x in r[7])} "
                             f"({len(near_rates(r))} near)" if r[7] else ""))
            finally:
                if sw is not None:
                    sw.stop()
    lat.stop()
    return res, notes


# Fewer near 1 s rates than this over all rounds: no closed-loop figure.
MIN_NEAR = 5


def summarise(res, scenarios):
    """Per scenario, size and switch, a dict: fig, the figure (Mpps/core);
    p90 (closed loop: the 90th percentile of the near 1 s rates); best,
    the best round's window (see window()); rounds, each round's Mpps/core;
    near and of, how many 1 s rates were near and how many there were;
    steal, the most of a CPU's time stolen in a window (percent).

    Closed loop: fig is the median of the switch's 1 s rates over all
    rounds taken while CPU 0 and 1 were near each other (CoreLat): the
    loop rate over the switch's one core, a mode of the machine set
    aside (far apart every switch, testpmd's io forwarding too, runs about
    4 times slower). None with fewer than MIN_NEAR such rates. Open loop:
    TSC rate / cycles per packet (the generator is the limit there, not
    the switch) of the best round whose every probe found the CPUs near
    (of any round if none did); near and of then count rounds."""
    hz = tsc_hz()
    out = {}
    for sc in scenarios:
        for sz, per in res[sc["name"]].items():
            for k, rs in per.items():
                if not rs:
                    continue
                loop = sc["mode"] == "loop"
                rows = [(r[0] if loop else (hz / r[1] / 1e6 if r[1] else 0), r) for r in rs]
                best_fig, best = max(rows, key=lambda x: x[0])
                near = sorted(x for r in rs for x in near_rates(r))
                v = {"best": best, "best_fig": best_fig, "rounds": [x[0] for x in rows],
                     "near": len(near), "of": sum(len(r[7]) for r in rs),
                     "steal": max(max(r[6]) for r in rs), "p90": None,
                     "counted": "1 s rates" if loop else "rounds"}
                if not loop:
                    # the best window whose every probe found the CPUs near
                    # (any window if none did)
                    nearw = [x for x in rows if x[1][8] and all(map(CoreLat.near, x[1][8]))]
                    v["fig"] = max(x[0] for x in nearw or rows)
                    v["near"], v["of"] = len(nearw), len(rows)
                elif len(near) >= MIN_NEAR:
                    v["fig"] = statistics.median(near)
                    v["p90"] = near[int(0.9 * (len(near) - 1))]
                else:
                    v["fig"] = None
                out[(sc["name"], sz, k)] = v
    return out


def compare(summ, scenarios, tag, key):
    """One line per scenario, size and peer: ours against the peer on
    summary entry key ("fig"; "p90": closed loop only). testpmd is a peer
    of l2 only."""
    lines = []
    for sc in scenarios:
        if key == "p90" and sc["mode"] != "loop":
            continue
        for sz in sc["sizes"]:
            ours = summ.get((sc["name"], sz, "ours"))
            for peer, suffix in (("ovs", "vs_ovs"), ("ovs-of", "vs_ovs_of"),
                                 ("testpmd", "vs_testpmd")):
                p = summ.get((sc["name"], sz, peer))
                if ours is None or p is None or not ours[key] or not p[key]:
                    continue
                if peer == "testpmd" and sc["name"] != "l2":
                    continue
                lines.append(f"{tag} {sc['name']}_{size_label(sz)}_{suffix} "
                             f"ours={ours[key]:.2f} peer={p[key]:.2f} unit=Mpps/core "
                             f"ratio={ours[key] / p[key]:.2f}")
    return lines


def bench_lines(summ, scenarios, skipped):
    return compare(summ, scenarios, "BENCH", "fig") + [
        f"skipped: {sc['name']} {sc['what']}: needs {sc['needs']}" for sc in skipped]


def fmt(x):
    return "-" if x is None else f"{x:.2f}"


def write_doc(summ, scenarios, skipped, lines, notes, args, kinds):
    body = ["## Switching between two memif ports (`tools/bench/switch`)", "",
            f"Measured {time.strftime('%Y-%m-%d')} on {cpu_model()} (2 cores): generator "
            "(dpdk-testpmd, two net_memif client ports) on CPU 0, the switch under test "
            "(two net_memif server ports) on CPU 1, 2 MiB hugepages; "
            f"{args.rounds} round(s) of {args.window:g} s after {args.warm:g} s warm-up, "
            "each starting every switch afresh; Mpps are both directions together, per switch "
            "forwarding core (1). This machine's two vCPUs are placed by its host near each "
            "other (a cache line's round trip between them about 60-100 ns) or far apart "
            "(about 330 ns), and moved while it runs; far apart, the closed loop runs about 4 "
            "times slower whatever the switch, testpmd's io forwarding too. So the round "
            "trip is probed (`nv_corelat`, tools/bench/corelat) at the start of every window "
            f"and after every second, and a closed-loop figure is the median of the switch's "
            f"1 s rates, over all rounds, whose both ends found the CPUs near (at most "
            f"{CoreLat.NEAR_NS} ns; `near` column: how many of how many); the best round is "
            "beside it. An open-loop figure is the best of the rounds whose every probe "
            "found the CPUs near (`near`: how many rounds of how many). Before each window "
            f"the tool waits (at most {args.near_wait:g} s) for the CPUs to be near.", "",
            "- l2: closed loop (`start tx_first " + str(args.seed_bursts) + "`, `mac` "
            "forwarding in the generator; the path primed with a txonly burst, drained, "
            "before seeding); Mpps/core = the loop rate over the switch's one core. IMIX is "
            "7:4:1 of 64/570/1518 B seeded as bursts (`set txpkts`, `start tx_first 7k`, "
            "`stop`, ... `tx_first 4k`, `stop`, ... `tx_first k`, k = 2); the "
            "table's frame size is the "
            "window's mean (354 B when no seeded frame was lost). Frame sizes count as "
            "`set txpkts` does (no CRC).",
            "- flows1k/flows100k: open loop, the generator replays one 64 B frame per "
            "5-tuple from net_pcap (infinite_rx) and is the limit; Mpps/core = TSC rate / "
            "the switch's busy cycles per packet (ours: worker rounds that moved packets; "
            "OVS: `pmd-stats-show`; testpmd: `--record-core-cycles`).",
            "- vxlan: open loop as flows1k on an overlay: the switch's first port is an "
            "access port of VNI 5001, its second the uplink holding its VTEP; the generator "
            "replays plain 64 B frames into the first and the reverse direction's frames "
            "VXLAN-encapsulated to the switch's VTEP (114 B) into the second, so half the "
            "packets are encapsulated and half decapsulated. OVS: userspace tunnelling "
            "(vxlan port on br0 with NORMAL, underlay port and local IP on br-phy, "
            "`tnl/neigh/set` for the remote VTEP).",
            "- acl_ct: open loop as flows1k with 1k connections: the first port's "
            "stations send to 11.0.0.1:80 from 1k source address/port pairs, the second "
            "port's answer each. Ours: a security group on the first port, 100 egress "
            "rules (the matching one last), default deny both ways (answers pass as "
            "tracked connections). OVS: `ct()` for every IP frame, 100 rules in table 1 "
            "admitting new connections from port 1 with `ct(commit)`, `+est` both ways, "
            "the rest dropped.",
            "- No RFC 2544 zero-loss search: testpmd 22.11 cannot pace on memif "
            "(net_memif has no tx rate limit; txonly/flowgen/io send flat out). In the "
            "closed loop nothing is offered beyond what comes back.",
            "- ovs: NORMAL action; ovs-of: `in_port=1,actions=output:2` and back.", "",
            "| scenario | size | switch | Mpps/core | p90 near | near | best round: Mpps/core "
            "| loop Mpps | sent Mpps | cycles/pkt | frame B | rounds |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for sc in scenarios:
        for sz in sc["sizes"]:
            for k in kinds:
                v = summ.get((sc["name"], sz, k))
                if not v:
                    continue
                b = v["best"]
                near = f"{v['near']}/{v['of']}"
                body.append(f"| {sc['name']} | {size_label(sz)} | {k} | {fmt(v['fig'])} | "
                            f"{fmt(v['p90'])} | {near} | {v['best_fig']:.2f} | {b[0]:.2f} | "
                            f"{b[4]:.2f} | {b[1]:.0f} | {b[3]:.0f} | "
                            f"{' '.join(f'{x:.1f}' for x in v['rounds'])} |")
    for sc in skipped:
        body.append(f"| {sc['name']} | - | - | skipped: needs {sc['needs']} | | | | | | | | |")
    body += [""] + [f"- {n}" for n in notes] + ([""] if notes else [])
    body += ["```"] + lines + ["```", "", "Commands (`S1`, `S2`: the switch's memif sockets; "
             "OVS: a private ovsdb-server and ovs-vswitchd-dpdk, one PMD):", "", "```",
             "generator (l2): dpdk-testpmd --lcores 0@0,1@0 --in-memory -m 1024 --iova-mode=va "
             "--no-pci --vdev net_memif0,role=client,socket=S1,socket-abstract=no,mac=" + M1 +
             " --vdev net_memif1,role=client,socket=S2,socket-abstract=no,mac=" + M2 +
             " -- -i --total-num-mbufs=32768 --no-flush-rx --port-topology=paired --rxq=Q "
             "--txq=Q --eth-peer=0," + M2 + " --eth-peer=1," + M1 + " --forward-mode=mac; "
             "then set txpkts SIZE, start tx_first " + str(args.seed_bursts),
             "generator (flows): dpdk-testpmd ... --vdev net_pcap0,rx_pcap=ab.pcap,infinite_rx=1 "
             "--vdev net_memif1,role=client,socket=S1,... --vdev net_pcap2,rx_pcap=ba.pcap,"
             "infinite_rx=1 --vdev net_memif3,role=client,socket=S2,... -- -i "
             "--port-topology=paired --forward-mode=io; start",
             "ours: dp_testd --workers 1 --cpus 1 --no-idle-sleep --hugepages; net red 0; "
             "access p0 red net_memif0,role=server,socket=S1,socket-abstract=no; "
             "access p1 red net_memif1,role=server,socket=S2,socket-abstract=no",
             "ovs: ovs-vsctl set Open_vSwitch . other_config:dpdk-init=true "
             "other_config:dpdk-lcore-mask=0x1 other_config:pmd-cpu-mask=0x2; add-br br0 -- "
             "set bridge br0 datapath_type=netdev; add-port br0 pN -- set Interface pN "
             "type=dpdk ofport_request=N options:dpdk-devargs=net_memifN,role=server,"
             "socket=SN,socket-abstract=no options:n_rxq=2 (Q=2 in the generator)",
             "ovs-of: ovs-ofctl del-flows br0; add-flow br0 in_port=1,actions=output:2; "
             "add-flow br0 in_port=2,actions=output:1",
             "testpmd: dpdk-testpmd --lcores 0@1,1@1 --in-memory -m 1024 --vdev "
             "net_memif0,role=server,socket=S1,socket-abstract=no --vdev net_memif1,...S2 -- -i "
             "--port-topology=paired --rxd=1024 --txd=1024 --forward-mode=io --record-core-cycles",
             "```", "",
             "Reproduce (root; needs dpdk-testpmd, and openvswitch-switch-dpdk for the OVS "
             "figures): `make bench-switch`, or `tools/bench/switch/bench_switch.py --build "
             f"build --rounds {args.rounds}`."]
    write_section("switch", "tools/bench/switch/bench_switch.py", body)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(SRC, "build"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--warm", type=float, default=3.0)
    ap.add_argument("--window", type=float, default=5.0)
    ap.add_argument("--quick", action="store_true", help="1 round, short windows")
    ap.add_argument("--per-second", action="store_true",
                    help="open loop too: log the rate second by second (queries the generator)")
    ap.add_argument("--near-wait", type=float, default=120.0,
                    help="at most this many s before a window for CPU 0 and 1 to be near")
    ap.add_argument("--seed-bursts", type=int, default=64,
                    help="l2: bursts per port that seed the closed loop")
    ap.add_argument("--no-doc", action="store_true")
    ap.add_argument("--switches", default="ours,ovs,ovs-of,testpmd")
    ap.add_argument("--scenarios", default=",".join(s["name"] for s in SCENARIOS))
    ap.add_argument("--sizes", default="", help="only these frame sizes, e.g. 64,imix")
    args = ap.parse_args()
    if args.quick:
        # 5 s of 1 s rates: a closed-loop figure needs MIN_NEAR near ones
        args.rounds, args.warm, args.window = 1, 1.0, 6.5
    if os.geteuid() != 0 or shutil.which("dpdk-testpmd") is None:
        print("SKIP: bench-switch needs root and dpdk-testpmd")
        return 77
    os.environ["NV_BUILD"] = args.build
    want = args.scenarios.split(",")
    chosen = [s for s in SCENARIOS if s["name"] in want]
    scenarios = [s for s in chosen if "needs" not in s]
    if args.sizes:
        keep = args.sizes.split(",")
        scenarios = [dict(s, sizes=[z for z in s["sizes"] if str(z) in keep]) for s in scenarios]
        scenarios = [s for s in scenarios if s["sizes"]]
    skipped = [s for s in chosen if "needs" in s]
    for s in skipped:
        print(f"skipped: {s['name']} {s['what']}: needs {s['needs']}")
    res, notes = run(args, scenarios)
    summ = summarise(res, scenarios)
    lines = bench_lines(summ, scenarios, [])
    for ln in lines:
        print(ln)
    # The closed loop on the 90th percentile of the near 1 s rates too.
    for ln in compare(summ, scenarios, "p90-near", "p90"):
        print(ln)
    for (sc, sz, k), v in sorted(summ.items(), key=str):
        if v["fig"] is None:
            notes.append(f"{sc} {size_label(sz)} {k}: only {v['near']} of {v['of']} 1 s rates "
                         f"found CPU 0 and 1 near (at least {MIN_NEAR} needed): no figure")
    for n in notes:
        log("note:", n)
    for (sc, sz, k), v in sorted(summ.items(), key=str):
        b = v["best"]
        log(f"{sc} {size_label(sz)} {k}: {fmt(v['fig'])} Mpps/core" +
            f" ({v['near']} of {v['of']} {v['counted']} near" +
            (f"; their median, p90 {fmt(v['p90'])}" if v["p90"] is not None else "") + ")" +
            f"; best round {v['best_fig']:.2f} (loop {b[0]:.2f}, {b[1]:.0f} cycles/pkt, "
            f"{b[3]:.0f} B); steal at most {v['steal']:.0f}%")
    if not args.no_doc:
        kinds = [k for k in ("ours", "ovs", "ovs-of", "testpmd")
                 if k in args.switches.split(",")]
        write_doc(summ, scenarios, skipped, lines, notes, args, kinds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
