#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""dp-malformed: the frames of the packet parser's seed corpus (every kind
of malformed frame, and good ones; tests/fuzz/dataplane/gen_seeds.py says
what pkt_parse makes of each) through the switch, addressed to vm1:

- from a VM port: evil_frontend's "frames" mode (good descriptors, bad
  headers);
- from an uplink: af_packet on a veth pair, sent from a network namespace.

Each dropped frame is counted under its reason on the port it came in by,
frames forwarded as L2 only are counted (rx_l2_only) and arrive, good ones
arrive, nothing reaches another port; afterwards the worker still forwards
good traffic from a VM and from the wire."""
import os
import sys
import time

from dptest import (BUILD, SRC, TMP, Dataplane, Netns, Proc, Testpmd, check, log, mac_bytes,
                    require_cmd, require_root)

sys.path.insert(0, os.path.join(SRC, "tests", "fuzz", "dataplane"))
import gen_seeds  # noqa: E402

require_root()
require_cmd("dpdk-testpmd", "ip")

HERE = os.path.dirname(os.path.abspath(__file__))
EVIL = os.path.join(BUILD, "tests", "integration", "dataplane", "evil_frontend")
VM1, VM2, EVILMAC, HOST = ("02:00:00:00:00:01", "02:00:00:00:00:02", "02:00:00:00:00:0e",
                           "02:00:00:00:00:aa")
REASONS = ("truncated", "bad_length", "bad_header", "bad_fragment", "bad_vxlan")
WIRE_COUNT = 3


def frames(src, uplink):
    """[(name, frame, verdict)]: the seeds handed over whole, from src to
    vm1. VXLAN is checked on uplinks only. On the wire the kernel will not
    send a runt, and takes a frame's outer tag off before the uplink's PMD
    sees it (the switch pops it too): tagged seeds go from VM ports only.
    DPDK's af_packet PMD joins a PACKET_FANOUT group with
    PACKET_FANOUT_FLAG_DEFRAG, so the kernel reassembles IPv4 fragments
    before it (and keeps incomplete ones): those go from VM ports only."""
    out = []
    for name, (b0, frame) in sorted(gen_seeds.seeds.items()):
        if b0 & gen_seeds.P or (b0 & gen_seeds.V and not uplink):
            continue
        if uplink and (len(frame) < 14 or frame[12:14] in (b"\x81\x00", b"\x88\xa8")):
            continue
        if uplink and frame[12:14] == b"\x08\x00" and int.from_bytes(frame[20:22], "big") & 0x3FFF:
            continue
        frame = mac_bytes(VM1) + mac_bytes(src) + frame[12:]
        out.append((name, frame, gen_seeds.VERDICT[name]))
    return out


def write_hex(path, fr):
    with open(path, "w") as f:
        for _, frame, _ in fr:
            f.write(frame.hex() + "\n")


def expected(fr, times=1):
    want = {r: times * sum(1 for f in fr if f[2] == r) for r in REASONS}
    want["l2_only"] = times * sum(1 for f in fr if f[2] == "l2_only")
    want["forwarded"] = times * sum(1 for f in fr if f[2] in ("ok", "l2_only"))
    return want


def deltas(before, after, port):
    b, a = before[port], after[port]
    d = {r: a["drop_" + r] - b["drop_" + r] for r in REASONS}
    d["l2_only"] = a["rx_l2_only"] - b["rx_l2_only"]
    d["rx"] = a["rx_packets"] - b["rx_packets"]
    return d


def wait_rx(port, n, secs=10.0):
    end = time.monotonic() + secs
    while time.monotonic() < end:
        st = dp.stats()
        if st[port]["rx_packets"] >= n:
            return st
        time.sleep(0.2)
    return dp.stats()


ns = Netns("m")
dp = Dataplane()
dp.cmd("net red 0")
s1 = dp.cmd(f"vhost vm1 red {VM1} 1").split()[1]
s2 = dp.cmd(f"vhost vm2 red {VM2} 1").split()[1]
se = dp.cmd(f"vhost evil red {EVILMAC} 1").split()[1]
dp.cmd(f"uplink up0 net_af_packet0,iface={ns.outer}")
tp = Testpmd("testpmd", [(s1, VM1), (s2, VM2)])
tp.rx_counts()

# From a VM port.
fr = frames(EVILMAC, uplink=False)
want = expected(fr)
path = os.path.join(TMP, "vm-frames.hex")
write_hex(path, fr)
log(f"{len(fr)} frames from a VM port, expected {want}")
before = dp.stats()
evil = Proc("evil", [EVIL, se, "frames", path])
evil.wait_for(r"^READY$", 20)
after = wait_rx("evil", before["evil"]["rx_packets"] + len(fr))
rx = tp.rx_counts()
got = deltas(before, after, "evil")
log("evil port:", got, "vm1/vm2 received:", rx)
check(got["rx"] == len(fr), f"the switch took all {len(fr)} frames from the VM port")
for r in REASONS:
    check(got[r] == want[r], f"VM port: {want[r]} frames dropped as {r}")
check(got["l2_only"] == want["l2_only"], f"VM port: {want['l2_only']} forwarded as L2 only")
check(rx[0] == want["forwarded"], f"vm1 received the {want['forwarded']} forwarded frames")
check(rx[1] == 0, "and nobody else anything")
evil.p.stdin.close()
evil.stop()

# From an uplink.
fr = frames(HOST, uplink=True)
want = expected(fr, WIRE_COUNT)
path = os.path.join(TMP, "wire-frames.hex")
write_hex(path, fr)
log(f"{len(fr)} frames x {WIRE_COUNT} from the wire, expected {want}")
before = dp.stats()
ns.run(f"python3 {os.path.join(HERE, 'wire.py')} sendhex {ns.inner} {path} {WIRE_COUNT}")
after = wait_rx("up0", before["up0"]["rx_packets"] + WIRE_COUNT * len(fr))
rx = tp.rx_counts()
got = deltas(before, after, "up0")
log("uplink:", got, "vm1/vm2 received:", rx)
check(got["rx"] == WIRE_COUNT * len(fr), "the switch took every frame from the wire")
for r in REASONS:
    check(got[r] == want[r], f"uplink: {want[r]} frames dropped as {r}")
check(got["l2_only"] == want["l2_only"], f"uplink: {want['l2_only']} forwarded as L2 only")
check(rx[0] == want["forwarded"], f"vm1 received the {want['forwarded']} forwarded frames")
check(rx[1] == 0, "and nobody else anything")

# The worker goes on.
tp.send_from(0, VM2)
rx = tp.rx_counts()
check(rx[1] > 0, "afterwards vm1 -> vm2 still flows")
ns.run(f"python3 {os.path.join(HERE, 'wire.py')} send {ns.inner} {HOST} {VM1} 0 20")
rx = tp.rx_counts()
check(rx[0] >= 20, "and the wire -> vm1")
st = dp.stats()
check(all(st[p]["drop_" + r] == 0 for p in ("vm1", "vm2") for r in REASONS),
      "no port that sent good frames counted malformed ones")
tp.quit()
dp.quit()
print("dp-malformed: 1 passed, 0 failed")
