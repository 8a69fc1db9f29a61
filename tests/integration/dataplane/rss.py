#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""dp-rss: two workers share an uplink's load. The uplink (net_af_packet
with two queue pairs over a veth pair; the kernel's fanout hash spreads
flows over the queues, as RSS does on a NIC) gets one rx queue per
worker; frames of 64 UDP flows from the wire reach the VM, every one of
them, and both workers switch some (their packet counters grow); the
workers' busy and idle cycles are counted."""
import os
import time

from dptest import TMP, Dataplane, Netns, Testpmd, check, log, require_cmd, require_root

require_root()
require_cmd("dpdk-testpmd", "ip")

HERE = os.path.dirname(os.path.abspath(__file__))
VM1, HOST = "02:00:00:00:00:01", "02:00:00:00:00:aa"
FLOWS, EACH = 64, 5


def udp_frame(dst, src, sport):
    """An IPv4/UDP frame (checksummed IP header) of 64 bytes."""
    ip = bytearray.fromhex("450000320000000040110000") + bytes([10, 0, 0, 2, 10, 0, 0, 1])
    t = sum(int.from_bytes(ip[i:i + 2], "big") for i in range(0, 20, 2))
    t = (t & 0xffff) + (t >> 16)
    ip[10:12] = (~t & 0xffff).to_bytes(2, "big")
    udp = sport.to_bytes(2, "big") + (80).to_bytes(2, "big") + (30).to_bytes(2, "big") + bytes(2)
    eth = bytes.fromhex(dst.replace(":", "") + src.replace(":", "")) + b"\x08\x00"
    return eth + bytes(ip) + udp + bytes(22)


ns = Netns("r")
dp = Dataplane(workers=2, cpus="1")
dp.cmd("net blue 0")
sock = dp.cmd(f"vhost vm1 blue {VM1} 1").split()[1]
dp.cmd(f"uplink up0 net_af_packet0,iface={ns.outer},qpairs=2")
tp = Testpmd("testpmd", [(sock, VM1)], lcores="0@0,1@0")
tp.rx_counts()

frames = os.path.join(TMP, "flows.hex")
with open(frames, "w") as f:
    for i in range(FLOWS):
        f.write(udp_frame(VM1, HOST, 1024 + i * 7).hex() + "\n")
w0 = dp.workers()
# The VM polls while the wire sends (its ring holds 256 frames).
tp.cmd("set fwd rxonly")
tp.cmd("start")
ns.run(f"python3 {os.path.join(HERE, 'wire.py')} sendhex {ns.inner} {frames} {EACH}")
time.sleep(0.5)
tp.cmd("stop")
rx = tp.rx_counts(0.2)
w1 = dp.workers()
moved = {lc: w1[lc]["packets"] - w0[lc]["packets"] for lc in w1}
log(f"{FLOWS * EACH} frames from the wire: vm1 got {rx[0]}; per worker lcore: {moved}")
check(len(w1) == 2, "two workers")
check(rx[0] >= FLOWS * EACH, "every frame of every flow reaches the VM")
check(all(n > 0 for n in moved.values()),
      "both workers switch frames of the uplink (its queues are spread over them)")
check(sum(moved.values()) >= FLOWS * EACH, "and together all of them")
check(all(w1[lc]["busy_cycles"] > w0[lc]["busy_cycles"] and
          w1[lc]["idle_cycles"] > w0[lc]["idle_cycles"] for lc in w1),
      "each worker counts busy and idle cycles")
tp.quit()
dp.cmd("del vm1")
dp.cmd("del up0")
dp.quit()
print("dp-rss: 1 passed, 0 failed")
