#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""dp-uplink-afxdp: an uplink on a veth through AF_XDP (DPDK's net_af_xdp,
loading our steering XDP program, dataplane/xdp/uplink_steer.bpf.c, with
libbpf). The veth keeps an IPv4 address: the peer namespace pings it and
the kernel answers (ARP for it and ICMP stay with the kernel, the switch
sees none of it); frames to a VM's MAC reach the VM through the switch;
overlay UDP (port 4789) goes to the switch; a VM port added after the
uplink is steered too, and no longer once removed; ARP replies to the
dataplane's VTEP address (unicast to the netdev's MAC) go to the switch
while it has that address, and ARP replies to the kernel's stay there."""
import os
import socket

from dptest import (BUILD, TMP, Dataplane, Netns, Testpmd, check, log, mac_bytes, require_cmd,
                    require_root, sh, skip)

require_root()
require_cmd("dpdk-testpmd", "ip", "ping")

HERE = os.path.dirname(os.path.abspath(__file__))
PROG = os.path.join(BUILD, "dataplane", "xdp", "uplink_steer.bpf.o")
VM1, VM2, HOST = "02:00:00:00:00:01", "02:00:00:00:00:02", "02:00:00:00:00:aa"
MINE, PEER = "10.77.0.1", "10.77.0.2"
if not os.path.exists(PROG):
    skip("the steering XDP program is not built (no clang or libbpf)")

ns = Netns("x")
sh(f"ip addr add {MINE}/24 dev {ns.outer}")
ns.run(f"ip addr add {PEER}/24 dev {ns.inner}")
dp = Dataplane()
dp.cmd("net red 0")
s1 = dp.cmd(f"vhost vm1 red {VM1} 1").split()[1]
r = dp.cmd(f"uplink up0 net_af_xdp0,iface={ns.outer},xdp_prog={PROG}", ok=False)
if r.startswith("ERR") and "not installed" in r:
    skip(f"DPDK's net_af_xdp PMD is missing: {r}")
check(r.startswith("OK"), f"an AF_XDP uplink with the steering program attaches ({r})")
check("prog/xdp" in sh(f"ip -d link show {ns.outer}"), "an XDP program is on the veth")
tp = Testpmd("testpmd", [(s1, VM1)])
tp.rx_counts()


def up0_rx():
    return dp.stats()["up0"]["rx_packets"]


def wire_send(dst, count=20):
    ns.run(f"python3 {os.path.join(HERE, 'wire.py')} send {ns.inner} {HOST} {dst} 0 {count}")


before = up0_rx()
out = ns.run(f"ping -c 3 -i 0.2 -W 2 {MINE}")
log(out.strip().splitlines()[-2])
check(" 0% packet loss" in out, "the kernel answers ping to the veth's own address")
check(up0_rx() == before, "and the switch saw none of it (ARP, ICMP stayed with the kernel)")

before = up0_rx()
wire_send(VM1)
rx = tp.rx_counts()
check(rx[0] >= 20, f"frames to a VM's MAC reach the VM ({rx[0]})")
check(up0_rx() - before >= 20, "through the uplink")

before = up0_rx()
sender = os.path.join(TMP, "vxlan_send.py")
with open(sender, "w") as f:
    f.write("import socket, sys\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "for _ in range(5):\n"
            "    s.sendto(bytes([8, 0, 0, 0, 0, 0, 42, 0]) + bytes(64), (sys.argv[1], 4789))\n")
ns.run(f"python3 {sender} {MINE}")
tp.rx_counts()
check(up0_rx() - before >= 5, "overlay UDP to port 4789 goes to the switch")

dp.cmd(f"vhost vm2 red {VM2} 1")
before = up0_rx()
wire_send(VM2, 10)
got = up0_rx() - before
check(got >= 10, f"a VM port added after the uplink is steered too ({got})")
dp.cmd("del vm2")
before = up0_rx()
wire_send(VM2, 10)
check(up0_rx() == before, "and once removed its MAC goes to the kernel again")

# The overlay's VTEP: an address the kernel does not have; ARP replies to
# it are unicast to the netdev's MAC, which the kernel owns otherwise.
VTEP = "10.77.1.1"
outer_mac = sh(f"cat /sys/class/net/{ns.outer}/address").strip()


def arp_reply_to(tpa, count=10):
    """Replies from a remote VTEP (not the peer: the kernel would believe
    them about its neighbour); how many reached the switch."""
    frame = (mac_bytes(outer_mac) + mac_bytes(HOST) + bytes.fromhex("0806") +
             bytes.fromhex("000108000604" "0002") + mac_bytes(HOST) +
             socket.inet_aton("10.77.1.2") + mac_bytes(outer_mac) + socket.inet_aton(tpa))
    path = os.path.join(TMP, "arp.hex")
    with open(path, "w") as f:
        f.write(frame.hex() + "\n")
    before = up0_rx()
    ns.run(f"python3 {os.path.join(HERE, 'wire.py')} sendhex {ns.inner} {path} {count}")
    tp.rx_counts(0.2)
    return up0_rx() - before


check(arp_reply_to(VTEP) == 0, "before the VTEP is set, ARP replies to its address stay "
      "with the kernel")
dp.cmd(f"vtep {VTEP}")
got = arp_reply_to(VTEP)
check(got >= 10, f"with the VTEP set, ARP replies to it go to the switch ({got})")
check(arp_reply_to(MINE) == 0, "ARP replies to the kernel's address stay with the kernel")
dp.cmd("vtep 0.0.0.0")
check(arp_reply_to(VTEP) == 0, "and once the VTEP is off, to the kernel again")

out = ns.run(f"ping -c 2 -i 0.2 -W 2 {MINE}")
check(" 0% packet loss" in out, "the kernel still answers afterwards")
tp.quit()
dp.cmd("del up0")
left = sh(f"ip -d link show {ns.outer}")
log("after detach:", "XDP program still attached" if "prog/xdp" in left else "no XDP program")
dp.quit()
print("dp-uplink-afxdp: 1 passed, 0 failed")
