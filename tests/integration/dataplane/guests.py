#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""dp-qemu-guests: Debian guests (Linux virtio-net drivers) under QEMU
software emulation, attached to our vhost-user ports. gA is on red (VLAN
100), gB on blue (VLAN 200), both in 10.77.1.0/24, so only the switch keeps
them apart; a host in a network namespace sits on red behind an af_packet
uplink. gA reaches the host (tagged 100 on the wire, captured); gA cannot
reach gB by broadcast (ARP), unknown unicast or unicast to gB's MAC (gB's
own counters and the switch's stay at zero); gA with another MAC is dropped
and counted."""
import base64
import os
import time

from dptest import (Dataplane, Netns, Proc, check, fail, log, require_cmd, require_root,
                    BUILD)

require_root()
require_cmd("qemu-system-x86_64", "ip")
IMAGES = os.environ.get("NV_IMAGES", os.path.join(BUILD, "images"))
for f in ("vmlinux", "initramfs.cpio.gz"):
    if not os.path.exists(os.path.join(IMAGES, f)):
        fail(f"{IMAGES}/{f} is not built (ninja -C build images)")
HERE = os.path.dirname(os.path.abspath(__file__))

MAC_A, MAC_B, MAC_FAKE = "52:54:00:77:00:0a", "52:54:00:77:00:0b", "52:54:00:77:00:ff"
UNKNOWN = "02:00:00:00:00:99"
HOST_IP, IP_A, IP_B = "10.77.1.100", "10.77.1.1", "10.77.1.2"


def tsc_khz():
    with open("/proc/cpuinfo") as f:
        for ln in f:
            if ln.startswith("cpu MHz"):
                return int(float(ln.split(":")[1]) * 1000)
    return 2700000


CMDLINE = ("console=ttyS0 quiet panic=-1 cryptomgr.notests mitigations=off "
           f"initcall_blacklist=cmos_init tsc_early_khz={tsc_khz()}")


def guest(name, sock, mac, ip, cmd):
    enc = base64.b64encode(cmd.encode()).decode()
    return Proc(name, [
        "qemu-system-x86_64", "-M", "microvm,pcie=on,memory-backend=mem", "-accel", "tcg",
        "-cpu", "max", "-m", "256", "-smp", "1", "-nodefaults", "-no-user-config",
        "-display", "none", "-no-reboot", "-serial", "stdio",
        "-object", "memory-backend-memfd,id=mem,size=256M,share=on",
        "-kernel", os.path.join(IMAGES, "vmlinux"),
        "-initrd", os.path.join(IMAGES, "initramfs.cpio.gz"),
        "-append", f"{CMDLINE} nv.ip={ip}/24 nv.cmd64={enc}",
        "-chardev", f"socket,id=c0,path={sock}",
        "-netdev", "vhost-user,id=n0,chardev=c0",
        # MSI-X with a vhost-user net device crashes QEMU 7.2 (MACHINE-NOTES).
        "-device", f"virtio-net-pci,netdev=n0,mac={mac},vectors=0"])


ns = Netns("g")
HOST_MAC = "02:00:00:00:00:aa"
dp = Dataplane()
dp.cmd("net red 100")
dp.cmd("net blue 200")
sa = dp.cmd(f"vhost gA red {MAC_A} 1").split()[1]
sb = dp.cmd(f"vhost gB blue {MAC_B} 1").split()[1]
dp.cmd(f"uplink up0 net_af_packet0,iface={ns.outer}")

# The host answers ARP and ping on VLAN 100 in userspace (this kernel may
# lack 8021q), and captures every frame on its end of the veth.
cap = ns.popen("host", ["python3", os.path.join(HERE, "wire.py"), "host", ns.inner, HOST_MAC,
                        HOST_IP, "100", "150"])
cap.wait_for(r"^CAPTURING$", 20)

gb = guest("gB", sb, MAC_B, IP_B,
           "sleep 45; echo NV-GB-RX=$(cat /sys/class/net/eth0/statistics/rx_packets)")
ga = guest("gA", sa, MAC_A, IP_A, "; ".join([
    "sleep 3",
    f"ping -c 3 -W 3 {HOST_IP} >/dev/null && echo NV-HOST-OK",
    f"ping -c 2 -W 1 {IP_B} >/dev/null || echo NV-BCAST-ISOLATED",
    f"arp -s 10.77.1.99 {UNKNOWN}; ping -c 2 -W 1 10.77.1.99 >/dev/null; echo NV-UNKNOWN-SENT",
    f"arp -d {IP_B}; arp -s {IP_B} {MAC_B}; ping -c 2 -W 1 {IP_B} >/dev/null || "
    "echo NV-UNICAST-ISOLATED",
    f"ip link set eth0 down; ip link set eth0 address {MAC_FAKE}; ip link set eth0 up; sleep 1",
    f"arp -s {HOST_IP} 00:00:00:00:00:01 2>/dev/null; arp -d {HOST_IP}",
    f"ping -c 3 -W 1 {HOST_IP} >/dev/null || echo NV-SPOOF-DROPPED"]))

ga.wait_for(r"NICVISOR-GUEST-READY", 120)
out = ga.wait_for(r"NICVISOR-CMD-EXIT=\d+", 180).group(0)
text = ga.text()
check("NV-HOST-OK" in text, "gA (red) pings the host behind the uplink")
check("NV-BCAST-ISOLATED" in text, "gA cannot reach gB (other network) by ARP broadcast")
check("NV-UNICAST-ISOLATED" in text, "nor by unicast to gB's MAC")
check("NV-SPOOF-DROPPED" in text, "gA with a MAC not its own reaches nobody")
m = gb.wait_for(r"NV-GB-RX=(\d+)", 120)
log("gB received", m.group(1), "packets")
check(int(m.group(1)) == 0, "gB (blue) saw none of red's frames (its own counters)")

st = dp.stats()
log({k: {kk: v[kk] for kk in ("rx_packets", "tx_packets", "drop_spoofed_src_mac")}
     for k, v in st.items()})
check(st["gB"]["tx_packets"] == 0, "the switch delivered nothing to gB (counted)")
check(st["gA"]["drop_spoofed_src_mac"] > 0, "gA's frames with the other MAC were counted spoofed")

cap.stop()
frames = [dict(f.split("=", 1) for f in ln.split()[1:])
          for ln in cap.text().splitlines() if ln.startswith("FRAME ")]
from_a = [f for f in frames if f["src"] == MAC_A]
check(from_a and all(f["vlan"] == "100" for f in from_a),
      f"gA's {len(from_a)} frames on the wire all carry VLAN 100")
check(any(f["dst"] == UNKNOWN and f["vlan"] == "100" for f in from_a),
      "unknown unicast flooded within red (out the uplink, tagged)")
check(not any(f["src"] == MAC_FAKE for f in frames), "no frame with the fake MAC on the wire")
check(not any(f["src"] == MAC_B and f["vlan"] == "100" for f in frames),
      "nothing of blue's on red's VLAN")
ga.p.wait(30)
gb.p.wait(60)
dp.quit()
print("dp-qemu-guests: 1 passed, 0 failed")
