#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""dp-uplink-vlan: an uplink on net_af_packet over a veth pair whose other
end is in a network namespace we create (the "host" on the wire). Frames
of a tagged network leave with its 802.1Q tag, of the untagged network
without one (checked by a capture on the veth); frames from the wire reach
the network of their tag only; the switch learns the host's MAC from the
uplink (no more flooding to other VMs); an unknown VLAN is dropped and
counted."""
import os

from dptest import (Dataplane, Netns, Testpmd, check, fail, log, require_cmd,
                    require_root)

require_root()
require_cmd("dpdk-testpmd", "ip")

HERE = os.path.dirname(os.path.abspath(__file__))
VM = {"vm1": "02:00:00:00:00:01", "vm2": "02:00:00:00:00:02", "vm3": "02:00:00:00:00:03"}
HOST = "02:00:00:00:00:aa"
BCAST = "ff:ff:ff:ff:ff:ff"

ns = Netns("u")
dp = Dataplane()
dp.cmd("net red 100")
dp.cmd("net blue 0")
socks = {}
for name, net in (("vm1", "red"), ("vm2", "blue"), ("vm3", "red")):
    socks[name] = dp.cmd(f"vhost {name} {net} {VM[name]} 1").split()[1]
dp.cmd(f"uplink up0 net_af_packet0,iface={ns.outer}")
tp = Testpmd("testpmd", [(socks[n], VM[n]) for n in ("vm1", "vm2", "vm3")])
tp.rx_counts()


def wire_send(src, dst, vlan, count=20):
    ns.run(f"python3 {os.path.join(HERE, 'wire.py')} send {ns.inner} {src} {dst} {vlan} {count}")


frames = ns.capture(lambda: tp.send_from(0, BCAST, 0.3))
mine = [f for f in frames if f["src"] == VM["vm1"]]
log(f"vm1 broadcast: {len(mine)} frames on the wire, vlans {sorted({f['vlan'] for f in mine})}")
check(len(mine) > 0, "a broadcast from red leaves through the uplink")
check(all(f["vlan"] == "100" for f in mine), "tagged with red's VLAN 100")

frames = ns.capture(lambda: tp.send_from(1, BCAST, 0.3))
mine = [f for f in frames if f["src"] == VM["vm2"]]
log(f"vm2 broadcast: {len(mine)} frames, vlans {sorted({f['vlan'] for f in mine})}")
check(len(mine) > 0 and all(f["vlan"] == "none" for f in mine),
      "blue (VLAN 0) leaves untagged")
tp.rx_counts()

wire_send(HOST, VM["vm1"], 100)
rx = tp.rx_counts()
log("host -> vm1 on VLAN 100:", rx)
check(rx[0] >= 20, "a tagged frame from the wire reaches its VM")
check(rx[1] == 0 and rx[2] == 0, "and no other port (tag popped, unicast, right network)")

frames = ns.capture(lambda: tp.send_from(0, HOST, 0.3))
to_host = [f for f in frames if f["dst"] == HOST]
rx = tp.rx_counts()
log(f"vm1 -> host: {len(to_host)} frames on the wire; other VMs {rx}")
check(len(to_host) > 0 and all(f["vlan"] == "100" for f in to_host),
      "unicast to the host leaves tagged")
check(rx[2] == 0, "the host's MAC was learned on the uplink: vm3 gets no flood")

before = dp.stats()["up0"]
wire_send(HOST, BCAST, 200)
rx = tp.rx_counts()
after = dp.stats()["up0"]
dropped = after["drop_no_network"] - before["drop_no_network"]
log("VLAN 200 broadcast:", rx, "no_network drops", dropped)
check(sum(rx.values()) == 0, "a VLAN no network uses reaches nobody")
check(dropped >= 20, "and is counted as no_network")

wire_send(HOST, BCAST, 0)
rx = tp.rx_counts()
log("untagged broadcast from the wire:", rx)
check(rx[1] >= 20 and rx[0] == 0 and rx[2] == 0, "an untagged frame reaches blue only")

tp.quit()
dp.cmd("del up0")
check("up0" not in dp.stats(), "an uplink can be detached")
dp.quit()
print("dp-uplink-vlan: 1 passed, 0 failed")
