#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""dp-hostile-frontend: a vhost-user frontend whose "guest" posts garbage
descriptors (evil_frontend) on a port of the switch, while two testpmd
virtio_user ports on the same network keep exchanging frames. For each
kind of garbage the hostile port's queues are marked broken and counted,
the other ports keep forwarding, and the dataplane keeps serving; a
reconnecting frontend gets fresh queues."""
import os
import time

from dptest import BUILD, Dataplane, Proc, Testpmd, check, log, require_cmd, require_root

require_root()
require_cmd("dpdk-testpmd")

EVIL = os.path.join(BUILD, "tests", "integration", "dataplane", "evil_frontend")
VM1, VM2, EVILMAC = "02:00:00:00:00:01", "02:00:00:00:00:02", "02:00:00:00:00:0e"
BCAST = "ff:ff:ff:ff:ff:ff"

dp = Dataplane()
dp.cmd("net red 0")
s1 = dp.cmd(f"vhost vm1 red {VM1} 1").split()[1]
s2 = dp.cmd(f"vhost vm2 red {VM2} 1").split()[1]
se = dp.cmd(f"vhost evil red {EVILMAC} 1").split()[1]
tp = Testpmd("testpmd", [(s1, VM1), (s2, VM2)])
tp.rx_counts()


def wait_stat(port, key, pred, secs=10.0):
    end = time.monotonic() + secs
    while True:
        st = dp.stats()[port]
        if pred(st[key]) or time.monotonic() > end:
            return st
        # Broadcasts from vm1 keep offering frames to the evil port's rx queue.
        tp.send_from(0, BCAST, 0.2)


for mode in ("outside", "badhead", "loop", "long", "indirect", "zero"):
    before = dp.stats()["evil"]
    evil = Proc(f"evil-{mode}", [EVIL, se, mode])
    evil.wait_for(r"^READY$", 20)
    # Zero-length tx buffers are consumed without a packet (counted); the
    # same on the rx queue (no mergeable buffers) stalls it.
    want = 1 if mode == "zero" else 2
    st = wait_stat("evil", "queues_broken", lambda n: n >= want)
    log(f"{mode}: queues_broken={st['queues_broken']} "
        f"bad_descriptor={st['drop_bad_descriptor']} broken_queue={st['drop_broken_queue']}")
    check(st["queues_broken"] == want, f"{mode}: {want} queue(s) of the hostile port marked broken")
    counted = st["drop_bad_descriptor"] - before["drop_bad_descriptor"]
    if mode == "zero":
        check(counted >= 16 + 1, f"{mode}: 16 empty buffers and the broken queue counted ({counted})")
    else:
        check(counted == 2, f"{mode}: each broken queue counted once ({counted})")
    tp.send_from(0, BCAST, 0.2)
    later = dp.stats()["evil"]
    check(later["drop_broken_queue"] > st["drop_broken_queue"],
          f"{mode}: frames for the broken queue are dropped and counted")
    tp.send_from(0, VM2, 0.3)
    rx = tp.rx_counts()
    check(rx[1] > 0, f"{mode}: the other ports keep forwarding ({rx[1]} frames)")
    evil.send("")
    evil.p.stdin.close()
    evil.p.wait(10)
    evil.stop()
    st = wait_stat("evil", "link", lambda v: v == "down", 5)
    check(st["link"] == "down", f"{mode}: the hostile frontend is gone")

check(dp.alive(), "the dataplane survived every kind of garbage")
tp.quit()
dp.quit()
print("dp-hostile-frontend: 1 passed, 0 failed")
