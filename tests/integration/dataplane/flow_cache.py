#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""dp-flow-cache: the workers' flow caches (dataplane/flow_cache.h) follow
every change of the tables they cache. A VM sends to station A, learned
on access port acc1, until its decision is cached (the worker counts
hits); then A moves to acc3 (a station there sends with A's MAC): the
VM's frames follow A at once; A moves back; acc3 goes away; a network is
added (a new snapshot). After each change the frames go where the MAC
table says, and only there. The same sequence runs on a dataplane without
the cache (--no-flow-cache), which counts no hits and must agree."""
import os

from dptest import TMP, Dataplane, Testpmd, check, log, require_cmd, require_root

require_root()
require_cmd("dpdk-testpmd")

A, B = "02:00:00:00:0a:01", "02:00:00:00:0b:01"
VM1 = "02:00:00:00:00:01"


def flow_counts(dp):
    w = list(dp.workers().values())
    return sum(x["flow_hits"] for x in w), sum(x["flow_misses"] for x in w)


def run(tag, extra, cached):
    dp = Dataplane(tag=tag, extra=extra)
    dp.cmd("net red 0")
    vm_sock = dp.cmd(f"vhost vm1 red {VM1} 1").split()[1]
    memif = {}
    for port in ("acc1", "acc2", "acc3"):
        memif[port] = os.path.join(TMP, f"{tag}{port}.sock")
        dp.cmd(f"access {port} red net_memif_{tag}{port},role=server,socket={memif[port]},"
               "socket-abstract=no")
    # testpmd: port 0 is vm1, 1 (A) on acc1, 2 (B) on acc2, 3 (A too) on acc3.
    tp = Testpmd("testpmd" + tag, [(vm_sock, VM1)], vdevs=[
        f"net_memif{i},role=client,socket={memif[p]},socket-abstract=no,mac={mac}"
        for i, (p, mac) in enumerate((("acc1", A), ("acc2", B), ("acc3", A)))])
    VM, PA, PB, PA3 = 0, 1, 2, 3
    st = dp.wait_links(memif)
    tp.rx_counts()

    def vm_to_a(where, what):
        tp.send_from(VM, A)
        rx = tp.rx_counts()
        log(f"[{tag or 'cache'}] vm1 -> A, {what}:", rx)
        others = [p for p in (PA, PB, PA3) if p != where]
        check(rx[where] > 0 and all(rx[p] == 0 for p in others),
              f"{what}: vm1's frames to A reach {where} only")

    tp.send_from(PA, B)  # A learned on acc1
    tp.rx_counts()
    h0, m0 = flow_counts(dp)
    vm_to_a(PA, "A on acc1")
    h1, m1 = flow_counts(dp)
    log(f"[{tag or 'cache'}] flow cache hits {h1 - h0}, misses {m1 - m0}")
    if cached:
        check(h1 - h0 > 100 * max(1, m1 - m0),
              "a steady stream is switched by the cache (hits far above misses)")
    else:
        check(h1 == 0 and m1 == 0, "without the cache nothing is counted as a hit or miss")

    tp.send_from(PA3, B)  # A moves to acc3
    tp.rx_counts()
    vm_to_a(PA3, "A moved to acc3")
    tp.send_from(PA, B)  # and back
    tp.rx_counts()
    vm_to_a(PA, "A moved back to acc1")
    tp.send_from(PA3, B)
    tp.rx_counts()
    vm_to_a(PA3, "A on acc3 again")

    # acc3's entries go with it: A is unknown, frames to it flood.
    dp.cmd("del acc3")
    tp.send_from(VM, A)
    rx = tp.rx_counts()
    log(f"[{tag or 'cache'}] vm1 -> A, acc3 deleted:", rx)
    check(rx[PA] > 0 and rx[PB] > 0, "A's port is gone: its frames flood the network")

    tp.send_from(PA, B)
    tp.rx_counts()
    dp.cmd("net blue 7")  # a new snapshot
    vm_to_a(PA, "A relearned on acc1, after a new snapshot")

    st = dp.stats()
    check(st["vm1"]["drop_spoofed_src_mac"] == 0, "no frame was dropped as spoofed")
    tp.quit()
    dp.quit()


run("", (), True)
run("nc", ("--no-flow-cache",), False)
print("dp-flow-cache: 1 passed, 0 failed")
