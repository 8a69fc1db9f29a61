#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""dp-switching: our vhost-user ports with dpdk-testpmd's virtio_user ports
as the VMs' drivers. Frames between two ports of one network arrive; known
unicast goes to its port only; nothing crosses between networks (unicast,
broadcast, unknown unicast: captured by the receivers and counted by the
switch); a port sending another MAC is dropped and counted; a frontend that
disconnects and reconnects gets traffic again, the port's counters kept."""
import sys

from dptest import Dataplane, Testpmd, check, log, require_cmd, require_root

require_root()
require_cmd("dpdk-testpmd")

VM = {"vm1": "02:00:00:00:00:01", "vm2": "02:00:00:00:00:02",
      "vm3": "02:00:00:00:00:03", "vm4": "02:00:00:00:00:04"}
SPOOF = "02:00:00:00:00:77"  # what vm4's driver really sends with
BCAST = "ff:ff:ff:ff:ff:ff"
UNKNOWN = "02:00:00:00:00:99"

dp = Dataplane()
dp.cmd("net red 0")
dp.cmd("net blue 100")
check(dp.cmd("net green 100", ok=False).startswith("ERR 17"), "a VLAN belongs to one network")
socks = {}
for name, net in (("vm1", "red"), ("vm2", "blue"), ("vm3", "red"), ("vm4", "red")):
    socks[name] = dp.cmd(f"vhost {name} {net} {VM[name]} 1").split()[1]
check(dp.cmd("delnet red", ok=False).startswith("ERR 16"), "a network with ports is busy")

# testpmd ports 0..3 = vm1 (red), vm2 (blue), vm3 (red), vm4 (red, spoofing)
def start_testpmd():
    return Testpmd("testpmd", [(socks["vm1"], VM["vm1"]), (socks["vm2"], VM["vm2"]),
                               (socks["vm3"], VM["vm3"]), (socks["vm4"], SPOOF)])

tp = start_testpmd()
tp.rx_counts()  # settle, clear

tp.send_from(0, VM["vm3"])
rx = tp.rx_counts()
log("vm1 -> vm3 (known unicast, red):", rx)
check(rx[2] > 0, "unicast between two ports of one network arrives")
check(rx[1] == 0 and rx[3] == 0, "known unicast reaches only its port")

before = dp.stats()
for dst in (BCAST, UNKNOWN, VM["vm2"]):
    tp.send_from(0, dst)
    rx = tp.rx_counts()
    log(f"vm1 -> {dst}:", rx)
    if dst != VM["vm2"]:
        check(rx[2] > 0 and rx[3] > 0, f"{dst} floods within red")
    check(rx[1] == 0, f"{dst} from red does not reach blue")
after = dp.stats()
check(after["vm2"]["tx_packets"] == before["vm2"]["tx_packets"],
      "the switch sent nothing to blue's port (counted)")
check(after["vm1"]["rx_packets"] > before["vm1"]["rx_packets"], "the switch counted red's frames")

tp.send_from(1, BCAST)
rx = tp.rx_counts()
log("vm2 (blue) -> broadcast:", rx)
check(rx[0] == 0 and rx[2] == 0 and rx[3] == 0, "broadcast from blue stays in blue")

before = dp.stats()
tp.send_from(3, VM["vm1"])
tp.send_from(3, BCAST)
rx = tp.rx_counts()
after = dp.stats()
log("vm4 (sending as", SPOOF, "):", rx)
spoofed = after["vm4"]["drop_spoofed_src_mac"] - before["vm4"]["drop_spoofed_src_mac"]
received = after["vm4"]["rx_packets"] - before["vm4"]["rx_packets"]
check(rx[0] == 0 and rx[1] == 0 and rx[2] == 0, "frames with a foreign source MAC go nowhere")
check(spoofed > 0 and spoofed == received, f"and are counted as spoofed_src_mac ({spoofed})")

# The drivers go away and come back: the ports keep their counters.
tp.quit()
st = dp.stats()
check(st["vm1"]["link"] == "down", "a port whose frontend left is down")
tp = start_testpmd()
tp.rx_counts()
tp.send_from(0, VM["vm3"])
rx = tp.rx_counts()
st2 = dp.stats()
check(rx[2] > 0, "after the frontends reconnect, frames flow again")
check(st2["vm1"]["rx_packets"] > st["vm1"]["rx_packets"] and st2["vm1"]["link"] == "up",
      "the port kept its counters across the reconnect")
tp.quit()
dp.cmd("del vm4")
check("vm4" not in dp.stats(), "a port can be removed")
dp.quit()
print("dp-switching: 1 passed, 0 failed")
