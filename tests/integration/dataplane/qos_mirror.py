#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""dp-qos-mirror: per-port rate limits (rte_meter) and mirror sessions in
the switch, with dpdk-testpmd's virtio_user ports as the VMs' drivers: one
testpmd generates (vm1, vm4), another drains (vm2, vm3). Two workers, so a
limit is one bucket for the port whichever worker meters it.

QoS: a limit on what vm1 sends, then on what vm2 receives, caps the bytes
the switch delivers near the limit (a generous bound: rate x time + burst)
while the generator offers far more, the rest counted as rate_limited; a
live change of the limit takes effect on the next run; stats show the
limits. Mirroring: copies of vm1's received frames, of vm2's sent frames,
and of both, reach vm3 in the numbers the switch counted, the originals'
counts unchanged; copies are never mirrored again; a destination without a
driver counts its copies as drops; deleting a port deletes its sessions;
copies sent to an af_packet uplink on a veth pair are the frames vm2
received, header for header, without a tag."""
import re
import time

from dptest import Dataplane, Netns, Testpmd, check, log, require_cmd, require_root

require_root()
require_cmd("dpdk-testpmd", "ip")


VM = {"vm1": "02:00:00:00:01:01", "vm2": "02:00:00:00:01:02",
      "vm3": "02:00:00:00:01:03", "vm4": "02:00:00:00:01:04",
      "vm5": "02:00:00:00:01:05"}
FRAME = 1000            # bytes of each generated frame
RATE = 40_000_000       # bits per second
MIN_BURST = 131072      # the default burst at these rates (dp.h)
# 200 ms at RATE: a policer loses the tokens of the time its worker is off
# its CPU beyond what the bucket holds, and this machine is shared.
BURST = 1 << 20
SECS = 1.0

dp = Dataplane(workers=2, cpus="1")
dp.cmd("net red 0")
socks = {n: dp.cmd(f"vhost {n} red {VM[n]} 1").split()[1] for n in VM}

# The switch's workers share CPU 1, the drivers CPU 0: a worker starved
# for longer than its bucket lasts would lose tokens (policing has no queue).
gen = Testpmd("gen", [(socks["vm1"], VM["vm1"]), (socks["vm4"], VM["vm4"])], lcores="0@0,1@0")
rcv = Testpmd("rcv", [(socks["vm2"], VM["vm2"]), (socks["vm3"], VM["vm3"])], lcores="0@0,1@0")
gen.cmd(f"set txpkts {FRAME}")
rcv.cmd(f"set txpkts {FRAME}")


def drain_start():
    rcv.cmd("clear port stats all")
    rcv.cmd("set portlist 0,1")
    rcv.cmd("set fwd rxonly")
    rcv.cmd("start")


def drain_stop():
    """Frames the drainer got on vm2 and vm3 since drain_start()."""
    time.sleep(0.3)  # the last frames of a run
    rcv.cmd("stop")
    out = rcv.cmd("show port stats all")
    got = {int(m.group(1)): int(m.group(2)) for m in re.finditer(
        r"NIC statistics for port (\d+)[^\n]*\n\s*RX-packets:\s*(\d+)", out)}
    return got.get(0, 0), got.get(1, 0)


def send(port, dst, secs=SECS):
    """gen's port sends to dst for about secs."""
    gen.cmd(f"set portlist {port}")
    gen.cmd(f"set eth-peer {port} {dst}")
    gen.cmd("set fwd txonly")
    gen.cmd("start")
    time.sleep(secs)
    gen.cmd("stop")


def send_sampled(port, dst, secs=SECS):
    """Like send(), with the switch's counters read while the generator
    surely runs: the stats at both ends of that window and its length."""
    gen.cmd(f"set portlist {port}")
    gen.cmd(f"set eth-peer {port} {dst}")
    gen.cmd("set fwd txonly")
    gen.cmd("start")
    time.sleep(0.2)
    t0 = time.monotonic()
    a = dp.stats()
    time.sleep(secs)
    b = dp.stats()
    t1 = time.monotonic()
    gen.cmd("stop")
    return a, b, t1 - t0


def delta(a, b, port, key):
    return b[port][key] - a[port][key]


def passed_rx(a, b, port):
    """Bytes of the frames port's rx limit let into the switch."""
    return (delta(a, b, port, "rx_packets") - delta(a, b, port, "drop_rate_limited")) * FRAME


def passed_tx(a, b, port):
    """Bytes of the frames port's tx limit let through to its queue (a
    driver slower than the limit leaves some of them queue_full)."""
    return (delta(a, b, port, "tx_packets") + delta(a, b, port, "drop_queue_full")) * FRAME


def capped(delivered, offered, secs, rate, what, burst=BURST):
    """The bytes a limit passed in a window of secs are the rate's, give
    or take the burst and the time a stats command takes."""
    ideal = rate / 8 * secs
    low, high = ideal * 0.5, ideal * 1.2 + burst
    log(f"{what}: offered {offered} B, delivered {delivered} B in {secs:.2f} s "
        f"(limit {ideal:.0f} B, accepted {low:.0f}..{high:.0f})")
    check(offered > 2 * high, f"{what}: the generator offered more than twice the limit")
    check(low <= delivered <= high, f"{what}: delivered bytes are near the limit")

def limited_run():
    """vm1 sends to vm2: the stats at both ends of a window, its length,
    and how many frames vm2's driver got in the whole run."""
    drain_start()
    a, b, secs = send_sampled(0, VM["vm2"])
    got2, _ = drain_stop()
    return a, b, secs, got2

# --- QoS: what vm1 sends ------------------------------------------------
check(dp.cmd("qos vm1 1000 0 0 0", ok=False).startswith("ERR 22"), "a rate below the minimum is refused")
check(dp.cmd("qos vm1 0 200000 0 0", ok=False).startswith("ERR 22"), "a burst without a rate is refused")
check(dp.cmd("qos nosuch 0 0 0 0", ok=False).startswith("ERR 2"), "a limit on no port is refused")
dp.cmd(f"qos vm1 {RATE} 0 0 0")
st = dp.stats()
check(st["vm1"]["rx_limit_bps"] == RATE and st["vm1"]["rx_limit_burst"] == MIN_BURST
      and st["vm1"]["tx_limit_bps"] == 0, "stats show the limit in force, the default burst")
dp.cmd(f"qos vm1 {RATE} {BURST} 0 0")
check(dp.stats()["vm1"]["rx_limit_burst"] == BURST, "a burst given is the burst in force")
a, b, secs, got2 = limited_run()
limited = delta(a, b, "vm1", "drop_rate_limited")
capped(passed_rx(a, b, "vm1"), delta(a, b, "vm1", "rx_bytes"), secs, RATE,
       "vm1 -> vm2, vm1 limited")
passed = delta(a, b, "vm2", "tx_packets") + delta(a, b, "vm2", "drop_queue_full")
# (a burst or two may be on its way through the switch as the window ends)
check(limited > 0 and abs(limited + passed - delta(a, b, "vm1", "rx_packets")) <= 2 * 32,
      f"the rest counted as rate_limited at vm1 ({limited})")
check(got2 >= delta(a, b, "vm2", "tx_packets") > 0, "vm2's driver got what the switch delivered")

# --- QoS: what vm2 receives, changed live --------------------------------
dp.cmd("qos vm1 0 0 0 0")
dp.cmd(f"qos vm2 0 0 {RATE} {BURST}")



a, b, secs, _ = limited_run()
slow = passed_tx(a, b, "vm2") / secs
check(delta(a, b, "vm1", "drop_rate_limited") == 0, "vm1's limit is gone")
check(delta(a, b, "vm2", "drop_rate_limited") > 0, "frames over vm2's limit counted at vm2")
capped(passed_tx(a, b, "vm2"), delta(a, b, "vm1", "rx_bytes"), secs, RATE,
       "vm1 -> vm2, vm2 limited")
dp.cmd(f"qos vm2 0 0 {4 * RATE} {4 * BURST}")
a, b, secs, _ = limited_run()
fast = passed_tx(a, b, "vm2") / secs
capped(passed_tx(a, b, "vm2"), delta(a, b, "vm1", "rx_bytes"), secs, 4 * RATE,
       "vm1 -> vm2, vm2's limit raised live", 4 * BURST)
check(fast > 2 * slow, f"the raised limit delivers more ({fast:.0f} vs {slow:.0f} B/s)")
dp.cmd("qos vm2 0 0 0 0")
check(dp.stats()["vm2"]["tx_limit_bps"] == 0, "a limit can be cleared")

# --- Mirroring ----------------------------------------------------------
# Mirror runs keep the generator near what the drainer takes.
dp.cmd(f"qos vm1 {4 * RATE} 0 0 0")


check(dp.cmd("mirror m0 vm1 rx vm1", ok=False).startswith("ERR 22"), "a port cannot mirror to itself")
check(dp.cmd("mirror m0 vm1 sideways vm3", ok=False).startswith("ERR 22"), "a direction is rx, tx or both")
check(dp.cmd("mirror m0 vm1 rx nosuch", ok=False).startswith("ERR 2"), "a destination must exist")


def mirror_run(name, what, expect_copies, from_port=0, to=VM["vm2"]):
    drain_start()
    a, ma = dp.stats(), dp.mirrors()
    send(from_port, to, 0.5)
    got2, got3 = drain_stop()
    b, mb = dp.stats(), dp.mirrors()
    copies = mb[name]["packets"] - ma[name]["packets"]
    dropped = mb[name]["drops"] - ma[name]["drops"]
    want = expect_copies(a, b)
    log(f"{what}: {copies} copies (+{dropped} dropped), expected {want}; vm2 got {got2}, "
        f"vm3 got {got3}")
    check(want > 0 and copies + dropped == want, f"{what}: every frame is copied once")
    check(copies == got3 and got3 > 0, f"{what}: the copies reach vm3")
    check(delta(a, b, "vm3", "tx_packets") == 0, f"{what}: copies are not switched frames")
    return a, b, got2


dp.cmd("mirror m1 vm1 rx vm3")
# Copies are never mirrored again: vm3's own sessions do not see them.
dp.cmd("mirror m2 vm3 tx vm4")
a, b, got2 = mirror_run("m1", "vm1's received frames",
                        lambda a, b: delta(a, b, "vm1", "rx_packets")
                        - delta(a, b, "vm1", "drop_rate_limited"))
check(got2 == delta(a, b, "vm2", "tx_packets") and got2 > 0,
      "the originals still reach vm2, all of them")
check(dp.mirrors()["m2"]["packets"] == 0 and dp.mirrors()["m2"]["drops"] == 0,
      "a copy sent to vm3 is not copied again by vm3's session")
dp.cmd("delmirror m1")
dp.cmd("delmirror m2")

dp.cmd("mirror m3 vm2 tx vm3")
mirror_run("m3", "vm2's sent frames",
           lambda a, b: delta(a, b, "vm2", "tx_packets") + delta(a, b, "vm2", "drop_queue_full"))
dp.cmd("delmirror m3")

dp.cmd("mirror m4 vm1 both vm3")
mirror_run("m4", "both ways, vm1 sending",
           lambda a, b: delta(a, b, "vm1", "rx_packets") - delta(a, b, "vm1", "drop_rate_limited"))
mirror_run("m4", "both ways, vm1 receiving",
           lambda a, b: delta(a, b, "vm1", "tx_packets") + delta(a, b, "vm1", "drop_queue_full")
           + delta(a, b, "vm1", "drop_link_down"), from_port=1, to=VM["vm1"])
dp.cmd("delmirror m4")

# A destination without a driver (vm5): its copies are counted as drops.
dp.cmd("mirror m5 vm1 rx vm5")
drain_start()  # vm2's ring stays empty for what follows
a = dp.stats()
send(0, VM["vm2"], 0.3)
drain_stop()
b = dp.stats()
m = dp.mirrors()["m5"]
check(m["packets"] == 0 and m["drops"] == delta(a, b, "vm1", "rx_packets")
      - delta(a, b, "vm1", "drop_rate_limited") and m["drops"] > 0,
      f"copies vm5 cannot take are counted as mirror drops ({m['drops']})")
check(delta(a, b, "vm5", "drop_link_down") == 0, "and not as vm5's own drops")
dp.cmd("del vm5")
check("m5" not in dp.mirrors(), "deleting a port deletes its sessions")

# An uplink as the destination: the copies on the wire are vm2's frames.
ns = Netns("q")
dp.cmd(f"uplink up0 net_af_packet0,iface={ns.outer}")
dp.cmd(f"qos vm1 {RATE // 5} 0 0 0")  # a pace a capture in Python keeps up with
dp.cmd("mirror m6 vm2 tx up0")


drain_start()
a, ma = dp.stats(), dp.mirrors()
frames = ns.capture(lambda: send(0, VM["vm2"], 0.3), 2.0)
got2, _ = drain_stop()
b, mb = dp.stats(), dp.mirrors()
copies = mb["m6"]["packets"] - ma["m6"]["packets"]
dropped = mb["m6"]["drops"] - ma["m6"]["drops"]
mine = [f for f in frames if f["src"] == VM["vm1"]]
log(f"vm2's frames to the uplink: {copies} copies (+{dropped} dropped, "
    f"{mb['m6']['no_buffer'] - ma['m6']['no_buffer']} no buffer), {len(mine)} on the wire, "
    f"vm2 got {got2}; up0 {b['up0']}")
check(copies > 0 and copies + dropped == delta(a, b, "vm2", "tx_packets") == got2,
      "every frame vm2 received is copied to the uplink")
check(len(mine) == copies, "and each copy is on the wire")
check(all(f["dst"] == VM["vm2"] and f["vlan"] == "none" and f["len"] == str(FRAME)
          and f["type"] == mine[0]["type"] for f in mine),
      "as vm2 got it: same addresses, type and length, no tag")
check(delta(a, b, "up0", "tx_packets") == 0, "copies are not counted as the uplink's frames")

gen.quit()
rcv.quit()
dp.quit()
print("dp-qos-mirror: 1 passed, 0 failed")
