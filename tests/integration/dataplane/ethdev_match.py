#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""dp-ethdev-match: which ethdev port an uplink's devargs designate, with
virtual devices (no mlx5 here; its representor=... devargs go through the
same DPDK device iterator, see docs/deploy-bluefield.md).

- two devices, one port each (net_null0, net_null1): both attach; the
  same devargs again are refused, naming the switch port that has it;
- a device the EAL probed at start (net_null9) is taken as it is;
- devargs designating several ports (net_ring0 with two nodeactions, one
  device) are refused naming both ports; probed here at runtime, the ports
  that probe created are released and the device removed (the same name
  probes again, fresh);
- detaching removes the device of its last port (the devargs attach again);
- DPDK 22.11 crashes on the bus=/class= devargs syntax: refused, the
  dataplane keeps serving."""
from dptest import Dataplane, check, fail, log, require_root

require_root()

EAL = ("--vdev net_null9,no-rx=1 "
       "--vdev net_ring0,nodeaction=nvra:0:CREATE,nodeaction=nvrb:0:CREATE")
dp = Dataplane(extra=("--eal", EAL))


def err(line, errno, *words):
    r = dp.cmd(line, ok=False)
    log(f"{line!r}: {r}")
    if not r.startswith(f"ERR {errno} "):
        fail(f"'{line}' should fail with errno {errno}: {r}")
    for w in words:
        check(w in r, f"'{line}': the error names {w!r}")


# Two devices, one port each.
dp.cmd("uplink n0 net_null0,no-rx=1")
dp.cmd("uplink n1 net_null1,no-rx=1")
st = dp.wait_links(["n0", "n1"])
check(st["n0"]["kind"] == "uplink" and st["n1"]["kind"] == "uplink", "two uplinks attached")
err("uplink dup net_null0,no-rx=1", 17, "net_null0", "switch port n0")

# Probed by the EAL at start: matched as it is.
dp.cmd("uplink pre net_null9,no-rx=1")
dp.wait_links(["pre"])

# One device, two ports: which one is meant?
err("uplink r net_ring0", 22, "2 ethdev ports (nvra, nvrb)")
err("uplink r net_ring1,nodeaction=nvrc:0:CREATE,nodeaction=nvrd:0:CREATE", 22,
    "(nvrc, nvrd)")
# Only if that attempt released nvrc and nvrd and removed net_ring1 does
# the same device name probe again with one port.
dp.cmd("uplink r net_ring1,nodeaction=nvre:0:CREATE")
dp.wait_links(["r"])

# Detach: the device goes with its last port, n1 stays.
dp.cmd("del n0")
st = dp.stats()
check("n0" not in st and st["n1"]["link"] == "up", "n0 detached, n1 still up")
dp.cmd("uplink n0 net_null0,no-rx=1")
dp.wait_links(["n0", "n1", "pre", "r"])
log("net_null0 attached again after its detach")
dp.cmd("del r")
dp.cmd("uplink r net_ring1,nodeaction=nvrf:0:CREATE")

# Devargs DPDK cannot take, and a representor of a device without any.
err("uplink bad class=eth,mac=02:00:00:00:00:01", 22, "device name")
err("uplink bad bus=vdev,name=net_null5", 22, "device name")
err("uplink bad ,iface=x", 22, "device name")
err("uplink bad net_null7,representor=vf0", 1, "cannot attach")
err("uplink bad 0000:03:00.0,representor=pf0vf0", 19, "cannot attach")
st = dp.stats()
check(sorted(st) == ["n0", "n1", "pre", "r"], f"the dataplane still serves: {sorted(st)}")

for p in ("n0", "n1", "pre", "r"):
    dp.cmd(f"del {p}")
dp.quit()
print("dp-ethdev-match: 1 passed, 0 failed")
