#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""dp-vxlan: two dataplanes (two DPUs) in two network namespaces joined by
a veth pair (the underlay), each with an af_packet uplink on its end, a
VTEP address and an overlay network with VNI 5001; a VM port on each,
driven by one testpmd (net_virtio_user). Checked:

- a broadcast from vm1 resolves the remote VTEP by ARP (the other
  dataplane answers for its VTEP address), then crosses the underlay
  encapsulated: outer headers checked on the wire (addresses, UDP port
  4789, source port from the inner flow in 49152..65535, DF, TTL, IPv4
  checksum, UDP checksum 0, VXLAN flags and VNI) and reaches vm2;
- a VTEP that never answers ARP counts vtep_unresolved drops;
- the inner source MAC is learned behind the remote VTEP: replies are
  unicast to it (no new flood to the unresolved VTEP), both ways;
- hand-made VXLAN packets: a known VNI is decapsulated into the network,
  an unknown VNI, bad flags and an inner VLAN tag are counted drops
  (unknown_vni, bad_vxlan);
- a VTEP's own address in its flood list is skipped;
- a frame too big for the underlay's MTU once encapsulated is a counted
  drop (too_big).
"""
import os
import socket
import struct

from dptest import (TMP, Dataplane, Proc, Testpmd, at_cleanup, check, log, require_cmd,
                    require_root, sh)
from wire import csum

require_root()
require_cmd("dpdk-testpmd", "ip")

HERE = os.path.dirname(os.path.abspath(__file__))
VM1, VM2 = "02:00:00:00:0a:01", "02:00:00:00:0b:02"
BCAST = "ff:ff:ff:ff:ff:ff"
IP_A, IP_B = "10.99.0.1", "10.99.0.2"
GHOST_A, GHOST_B = "10.99.0.3", "10.99.0.4"  # listed VTEPs that never answer
VNI = 5001
MTU = 1600

pid = os.getpid() % 100000
NS_A, NS_B = f"nvvxa{pid}", f"nvvxb{pid}"
IF_A, IF_B = f"nvvxa{pid}", f"nvvxb{pid}"
for ns in (NS_A, NS_B):
    sh(f"ip netns add {ns}")
    at_cleanup(lambda ns=ns: sh(f"ip netns del {ns}", False))
sh(f"ip link add {IF_A} type veth peer name {IF_B}")
at_cleanup(lambda: sh(f"ip link del {IF_A}", False))
for ns, iface in ((NS_A, IF_A), (NS_B, IF_B)):
    sh(f"ip link set {iface} netns {ns}")
    # No IPv6 chatter; the kernel has no address here, so it answers no ARP.
    sh(f"ip netns exec {ns} sysctl -qw net.ipv6.conf.{iface}.disable_ipv6=1", False)
    sh(f"ip netns exec {ns} sh -c 'ip link set lo up; ip link set {iface} mtu {MTU} up'")


def ifmac(ns, iface):
    return sh(f"ip netns exec {ns} cat /sys/class/net/{iface}/address").strip()


MAC_A, MAC_B = ifmac(NS_A, IF_A), ifmac(NS_B, IF_B)

dpa = Dataplane(tag="a", netns=NS_A)
dpb = Dataplane(tag="b", netns=NS_B)
dpa.cmd(f"vtep {IP_A}")
dpb.cmd(f"vtep {IP_B}")
# A's list holds A itself: every DPU may be given the same list.
dpa.cmd(f"netvx blue {VNI} {IP_A},{IP_B},{GHOST_A}")
dpb.cmd(f"netvx blue {VNI} {IP_A},{GHOST_B}")
check(dpb.cmd(f"netvx green {VNI}", ok=False).startswith("ERR"), "a VNI belongs to one network")
check(dpb.cmd("netvx green 16777216", ok=False).startswith("ERR"), "a VNI has 24 bits")
check(dpb.cmd("netvx green 7 224.0.0.1", ok=False).startswith("ERR"),
      "a remote VTEP is a unicast address")
sock1 = dpa.cmd(f"vhost vm1 blue {VM1} 1").split()[1]
sock2 = dpb.cmd(f"vhost vm2 blue {VM2} 1").split()[1]
dpa.cmd(f"uplink up0 net_af_packet0,iface={IF_A}")
dpb.cmd(f"uplink up0 net_af_packet0,iface={IF_B}")
tp = Testpmd("testpmd", [(sock1, VM1), (sock2, VM2)])
tp.rx_counts()


def capture(action, secs=3.0):
    """Frames on the underlay while action() runs, as each end receives
    them (a packet socket there does not see the dataplane's own sends)."""
    caps = [Proc("capture" + ns, ["ip", "netns", "exec", ns, "python3",
                                  os.path.join(HERE, "wire.py"), "capture", iface, str(secs),
                                  "hex"])
            for ns, iface in ((NS_A, IF_A), (NS_B, IF_B))]
    for cap in caps:
        cap.wait_for(r"^CAPTURING$", 20)
    action()
    frames = []
    for cap in caps:
        cap.wait_for(r"^DONE$", secs + 20)
        for ln in cap.text().splitlines():
            if ln.startswith("FRAME "):
                f = dict(x.split("=", 1) for x in ln.split()[1:])
                f["raw"] = bytes.fromhex(f["hex"])
                frames.append(f)
        cap.stop()
    return frames


def vxlan_of(f):
    """The outer headers of a captured VXLAN frame as a dict, or None."""
    r = f["raw"]
    if f["type"] != "0x0800" or len(r) < 64 or r[23] != 17:
        return None
    ip = r[14:34]
    udp = r[34:42]
    sport, dport, ulen, ucsum = struct.unpack("!HHHH", udp)
    if dport != 4789:
        return None
    return {
        "ihl": ip[0], "ip_len": struct.unpack("!H", ip[2:4])[0],
        "frag": struct.unpack("!H", ip[6:8])[0], "ttl": ip[8], "ip_csum_ok": csum(ip) == 0,
        "src": socket.inet_ntoa(ip[12:16]), "dst": socket.inet_ntoa(ip[16:20]),
        "sport": sport, "ulen": ulen, "ucsum": ucsum, "flags": r[42],
        "vni": int.from_bytes(r[46:49], "big"), "inner_dst": r[50:56].hex(":"),
        "inner_src": r[56:62].hex(":"), "len": int(f["len"]),
    }


def arp_of(f):
    r = f["raw"]
    if f["type"] != "0x0806" or len(r) < 42:
        return None
    return {"op": struct.unpack("!H", r[20:22])[0], "spa": socket.inet_ntoa(r[28:32]),
            "tpa": socket.inet_ntoa(r[38:42]), "src": f["src"]}


def delta(dp, before, key):
    return dp.stats()["up0"][key] - before[key]


# 1. Flood from vm1: ARP for the VTEPs, then encapsulated to B's VTEP only.
a0, b0 = dpa.stats()["up0"], dpb.stats()["up0"]
frames = capture(lambda: tp.send_from(0, BCAST, 1.5))
rx = tp.rx_counts()
arps = [a for a in map(arp_of, frames) if a]
vx = [v for v in map(vxlan_of, frames) if v]
log(f"vm1 broadcast: {len(vx)} VXLAN frames, ARP {arps[:4]}, vm rx {rx}")
check(any(a["op"] == 1 and a["tpa"] == IP_B and a["spa"] == IP_A and a["src"] == MAC_A
          for a in arps), "A asks by ARP for B's VTEP address")
check(any(a["op"] == 2 and a["spa"] == IP_B and a["tpa"] == IP_A and a["src"] == MAC_B
          for a in arps), "B's dataplane answers for its VTEP address")
check(any(a["op"] == 1 and a["tpa"] == GHOST_A for a in arps),
      "A asks for the listed VTEP that never answers")
check(not any(a["tpa"] == IP_A and a["spa"] == IP_A for a in arps),
      "A skips its own address in its list")
check(len(vx) > 0, "encapsulated frames cross the underlay")
outer = [f for f in frames if vxlan_of(f)]
check(all(f["src"] == MAC_A and f["dst"] == MAC_B and f["vlan"] == "none" for f in outer),
      "outer Ethernet: A's uplink MAC to B's, untagged")
check(all(v["src"] == IP_A and v["dst"] == IP_B for v in vx), "outer IPv4: VTEP A to VTEP B")
check(all(v["ihl"] == 0x45 and v["ttl"] == 64 and v["frag"] == 0x4000 and v["ip_csum_ok"]
          for v in vx), "outer IPv4: no options, TTL 64, DF, header checksum valid")
check(all(v["ip_len"] == v["len"] - 14 and v["ulen"] == v["ip_len"] - 20 and v["ucsum"] == 0
          for v in vx), "outer lengths consistent, UDP checksum 0")
check(all(49152 <= v["sport"] <= 65535 for v in vx) and len({v["sport"] for v in vx}) == 1,
      "UDP source port from the inner flow (one flow, one port, dynamic range)")
check(all(v["flags"] == 0x08 and v["vni"] == VNI for v in vx), "VXLAN flags I, VNI 5001")
check(all(v["inner_src"] == VM1 and v["inner_dst"] == BCAST for v in vx),
      "the inner frame is vm1's broadcast")
check(rx[1] > 0 and rx[0] == 0, "vm2 receives vm1's broadcast across the overlay")
check(delta(dpa, a0, "vxlan_encap") >= len(vx), "A counts the encapsulations")
check(delta(dpb, b0, "vxlan_decap") >= rx[1], "B counts the decapsulations")
check(delta(dpa, a0, "drop_vtep_unresolved") > 0, "frames to the silent VTEP: vtep_unresolved")

# 2. Replies are unicast to the learned VTEP (no flood to B's silent VTEP).
b0 = dpb.stats()["up0"]
frames = capture(lambda: tp.send_from(1, VM1, 0.5), secs=2.0)
rx = tp.rx_counts()
vx = [v for v in map(vxlan_of, frames) if v]
log(f"vm2 -> vm1: {len(vx)} VXLAN frames, vm rx {rx}")
check(rx[0] > 0 and rx[1] == 0, "vm1 receives vm2's unicast")
check(len(vx) > 0 and all(v["src"] == IP_B and v["dst"] == IP_A and v["inner_dst"] == VM1
                          for v in vx), "B sends it to VTEP A, encapsulated")
check(delta(dpb, b0, "drop_vtep_unresolved") == 0,
      "vm1's MAC was learned behind VTEP A: not flooded to the other VTEP")
check(delta(dpb, b0, "vxlan_encap") >= rx[0], "B counts the encapsulations")
a0 = dpa.stats()["up0"]
tp.send_from(0, VM2, 0.5)
rx = tp.rx_counts()
log("vm1 -> vm2:", rx)
check(rx[1] > 0 and rx[0] == 0, "vm2 receives vm1's unicast")
check(delta(dpa, a0, "drop_vtep_unresolved") == 0, "A learned vm2 behind VTEP B too")

# 3. Hand-made VXLAN from the underlay into B.
def vxlan_frame(vni, flags=0x08, inner_dst=BCAST, inner_vlan=None):
    tag = struct.pack("!HH", 0x8100, inner_vlan) if inner_vlan is not None else b""
    inner = (bytes.fromhex(inner_dst.replace(":", "")) + bytes.fromhex("02000000cc01") + tag +
             struct.pack("!H", 0x88B5) + b"nicvisor-vxlan-test".ljust(46, b"."))
    vxh = bytes([flags, 0, 0, 0]) + vni.to_bytes(3, "big") + b"\0"
    udp = struct.pack("!HHHH", 50000, 4789, 8 + len(vxh) + len(inner), 0)
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp) + len(vxh) + len(inner),
                               0, 0x4000, 64, 17, 0, socket.inet_aton(IP_A),
                               socket.inet_aton(IP_B)))
    ip[10:12] = struct.pack("!H", csum(bytes(ip)))
    eth = bytes.fromhex(MAC_B.replace(":", "") + MAC_A.replace(":", "")) + b"\x08\x00"
    return eth + bytes(ip) + udp + vxh + inner


def inject(frame, count=20):
    path = os.path.join(TMP, "inject.hex")
    with open(path, "w") as f:
        f.write(frame.hex() + "\n")
    sh(f"ip netns exec {NS_A} python3 {os.path.join(HERE, 'wire.py')} sendhex {IF_A} {path} "
       f"{count}")


b0 = dpb.stats()["up0"]
inject(vxlan_frame(VNI))
rx = tp.rx_counts()
log("hand-made VXLAN, VNI 5001, inner broadcast:", rx, "decap", delta(dpb, b0, "vxlan_decap"))
check(rx[1] >= 20 and rx[0] == 0, "a VXLAN packet of a known VNI reaches its network")
b0 = dpb.stats()["up0"]
inject(vxlan_frame(777))
inject(vxlan_frame(VNI, flags=0x0C))
inject(vxlan_frame(VNI, inner_vlan=5))
rx = tp.rx_counts()
unknown, bad = delta(dpb, b0, "drop_unknown_vni"), delta(dpb, b0, "drop_bad_vxlan")
log(f"VNI 777, flags 0x0c, inner tag: vm rx {rx}, unknown_vni {unknown}, bad_vxlan {bad}")
check(sum(rx.values()) == 0, "an unknown VNI, bad flags and an inner tag reach nobody")
check(unknown == 20, "an unknown VNI is counted (unknown_vni)")
check(bad == 40, "bad VXLAN flags and inner VLAN tags (RFC 7348 6.1) are counted (bad_vxlan)")

# 4. Inner frames that do not fit the underlay's MTU once encapsulated.
a0 = dpa.stats()["up0"]
tp.cmd(f"set txpkts {MTU - 36 + 4}")
tp.send_from(0, VM2, 0.3)
tp.cmd("set txpkts 64")
rx = tp.rx_counts()
big = delta(dpa, a0, "drop_too_big")
log(f"{MTU - 36 + 4}-byte inner frames: vm rx {rx}, too_big {big}")
check(big > 0 and rx[1] == 0, "a frame too big for the underlay once encapsulated: too_big")

tp.quit()
dpa.quit()
dpb.quit()
print("dp-vxlan: 1 passed, 0 failed")
