#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""dp-security-group: security groups in the switch with real frames, with
dpdk-testpmd's virtio_user ports as the VMs' drivers: one testpmd
generates UDP 198.18.0.1:9 -> 198.18.0.2:9 (txonly) from vm1 and vm4,
another drains vm2 and vm3.

Default deny on vm2's ingress drops everything (counted security_group
and as default denials); an allow rule lets the flow through: the rule
decides the first burst, the connection the rest; the policy replaced
twenty times while the flow runs (with and without the rule) drops none of
its frames, nor any of vm4 -> vm3 (no policy); with a short timeout the
connection expires once the flow stops, and then the same frames are
denied again."""
import re
import time

from dptest import Dataplane, Testpmd, check, log, require_cmd, require_root

require_root()
require_cmd("dpdk-testpmd")

VM = {"vm1": "02:00:00:00:02:01", "vm2": "02:00:00:00:02:02",
      "vm3": "02:00:00:00:02:03", "vm4": "02:00:00:00:02:04"}
ALLOW = "in:17:9-9:198.18.0.0/24"

dp = Dataplane(workers=1, cpus="1")
dp.cmd("net red 0")
socks = {n: dp.cmd(f"vhost {n} red {VM[n]} 1").split()[1] for n in VM}
gen = Testpmd("gen", [(socks["vm1"], VM["vm1"]), (socks["vm4"], VM["vm4"])], lcores="0@0,1@0")
rcv = Testpmd("rcv", [(socks["vm2"], VM["vm2"]), (socks["vm3"], VM["vm3"])], lcores="0@0,1@0")
gen.cmd("set txpkts 200")


def drain_start():
    """Count from now: frames left in the receivers' rings by an earlier
    step are taken first and not counted."""
    rcv.cmd("set portlist 0,1")
    rcv.cmd("set fwd rxonly")
    rcv.cmd("start")
    time.sleep(0.2)
    rcv.cmd("stop")
    rcv.cmd("clear port stats all")
    rcv.cmd("start")


def drain_stop():
    time.sleep(0.3)
    rcv.cmd("stop")
    out = rcv.cmd("show port stats all")
    got = {int(m.group(1)): int(m.group(2)) for m in re.finditer(
        r"NIC statistics for port (\d+)[^\n]*\n\s*RX-packets:\s*(\d+)", out)}
    return got.get(0, 0), got.get(1, 0)


def gen_start(ports):
    gen.cmd("set portlist " + ",".join(str(p) for p in ports))
    gen.cmd(f"set eth-peer 0 {VM['vm2']}")
    gen.cmd(f"set eth-peer 1 {VM['vm3']}")
    gen.cmd("set fwd txonly")
    gen.cmd("start")


def sgstat(port):
    r = dp.cmd(f"sgstat {port}")
    return {k: int(v) for k, v in (f.split("=") for f in r.split()[1:])}


def sg_drops(port):
    return dp.stats()[port].get("drop_security_group", 0)


# --- default deny --------------------------------------------------------
check(dp.cmd("sg vm2 deny allow in:17:9-1:198.18.0.0/24", ok=False).startswith("ERR 22"),
      "a port range lo > hi is refused")
check(dp.cmd("sg up9 deny allow", ok=False).startswith("ERR 2"), "no such port")
dp.cmd("sg vm2 deny allow")
drain_start()
gen_start([0])
time.sleep(0.5)
gen.cmd("stop")
got2, _ = drain_stop()
st = sgstat("vm2")
log(f"default deny: vm2 got {got2}, {sg_drops('vm2')} dropped, {st}")
check(got2 == 0, "default deny: nothing reaches vm2")
check(sg_drops("vm2") > 0 and st["in_denied"] == sg_drops("vm2"),
      "the drops are counted as security_group and as default denials")

# --- an allow rule: the first frame by the rule, the rest by connection -----
dp.cmd(f"sg vm2 deny allow {ALLOW}")
drain_start()
gen_start([0])
time.sleep(0.5)
gen.cmd("stop")
got2, _ = drain_stop()
st = sgstat("vm2")
log(f"allowed: vm2 got {got2}, {st}")
check(got2 > 100, "the allowed flow reaches vm2")
# The frames of the first burst are classified together, before the
# connection exists: the rule decides them, the connection the rest.
check(1 <= st["in0"] <= 32 and st["ct_created"] == 1, "the rule decided the first burst only")
check(st["in0"] + st["ct_hits"] >= got2, "the connection passed the rest")
check(st["ct_entries"] == 1, "one open connection")

# --- live replacement: the open flow and another NIC's go on -------------
before2 = sg_drops("vm2")
before3 = sg_drops("vm3")
drain_start()
gen_start([0, 1])
time.sleep(0.2)
for i in range(20):
    dp.cmd(f"sg vm2 deny allow {ALLOW}" if i % 2 else "sg vm2 deny allow")
    time.sleep(0.02)
gen.cmd("stop")
got2, got3 = drain_stop()
log(f"live changes: vm2 got {got2}, vm3 got {got3}")
check(got2 > 100 and got3 > 100, "both flows kept flowing")
check(sg_drops("vm2") == before2, "no frame of the open connection was dropped")
check(sg_drops("vm3") == before3 == 0, "the other NIC was not filtered")

# --- the connection expires ----------------------------------------------
dp.cmd("sg vm2 deny allow")  # no rule: only the connection lets frames in
dp.cmd("sgtimeout 200")
time.sleep(0.5)
check(sgstat("vm2")["ct_entries"] == 0, "the connection expired 200 ms after its last frame")
drain_start()
gen_start([0])
time.sleep(0.3)
gen.cmd("stop")
got2, _ = drain_stop()
check(got2 == 0, "after expiry the same frames are denied")
dp.cmd("sg vm2 none")
check(dp.cmd("sgstat vm2").startswith("OK ct_hits=0"), "no policy: no counters")
gen.quit()
rcv.quit()
dp.quit()
log("PASS")
