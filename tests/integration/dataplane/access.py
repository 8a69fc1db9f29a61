#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""dp-access-port: two access ports (net_memif servers in the switch, the
clients in dpdk-testpmd) and a VM port on one network. Unknown unicast
floods to every other port of the network; the stations' source MACs are
learned on their access ports, after which unicast goes to one port only
(access to access, VM to access); a station cannot take a VM's MAC; the
ports count what they move and show as kind=access on their network; a
network with an access port cannot be deleted; a stale memif socket file
left by a killed switch does not stop a port from being added."""
import os
import socket

from dptest import TMP, Dataplane, Testpmd, check, log, require_cmd, require_root

require_root()
require_cmd("dpdk-testpmd")

A, B = "02:00:00:00:0a:01", "02:00:00:00:0b:01"
VM1 = "02:00:00:00:00:01"

dp = Dataplane()
dp.cmd("net red 0")
r = dp.cmd(f"access accx nosuch net_memif9,role=server,socket={TMP}/x.sock", ok=False)
check(r.startswith("ERR") and "no network nosuch" in r, "an access port needs an existing network")
vm_sock = dp.cmd(f"vhost vm1 red {VM1} 1").split()[1]
memif = {}
for port in ("acc1", "acc2", "acc3"):
    memif[port] = os.path.join(TMP, f"{port}.sock")
# A socket file left by a killed switch (nobody listens on it): the port
# must still come up on that path.
stale = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
stale.bind(memif["acc1"])
stale.close()
for port in ("acc1", "acc2", "acc3"):
    dp.cmd(f"access {port} red net_memif_{port},role=server,socket={memif[port]},"
           "socket-abstract=no")
r = dp.cmd(f"access acc1 red net_memif_z,role=server,socket={TMP}/z.sock", ok=False)
check(r.startswith("ERR") and "exists" in r, "port names stay unique")

# testpmd: port 0 is vm1, port 1 (A) on acc1, port 2 (B) on acc2, port 3
# on acc3 sends with vm1's MAC.
tp = Testpmd("testpmd", [(vm_sock, VM1)], vdevs=[
    f"net_memif{i},role=client,socket={memif[p]},socket-abstract=no,mac={mac}"
    for i, (p, mac) in enumerate((("acc1", A), ("acc2", B), ("acc3", VM1)))])
VM, PA, PB, PC = 0, 1, 2, 3
st = dp.wait_links(memif)
check(st["acc1"]["kind"] == "access" and st["acc1"]["network"] == "red",
      "an access port shows as kind=access on its network")
tp.rx_counts()

tp.send_from(PA, B)
rx = tp.rx_counts()
log("A -> B (unknown):", rx)
check(rx[PB] > 0 and rx[VM] > 0, "unknown unicast from an access port floods the network")

tp.send_from(PB, A)
rx = tp.rx_counts()
log("B -> A:", rx)
check(rx[PA] > 0, "A's MAC was learned on acc1: B reaches it")
check(rx[VM] == 0 and rx[PB] == 0, "and nobody else (no flood)")

tp.send_from(PA, B)
rx = tp.rx_counts()
log("A -> B (learned):", rx)
check(rx[PB] > 0 and rx[VM] == 0 and rx[PA] == 0, "B was learned on acc2: A reaches B only")

tp.send_from(VM, A)
rx = tp.rx_counts()
log("vm1 -> A:", rx)
check(rx[PA] > 0 and rx[PB] == 0, "a VM reaches a learned station on an access port")

tp.send_from(PA, VM1)
rx = tp.rx_counts()
log("A -> vm1:", rx)
check(rx[VM] > 0 and rx[PB] == 0, "a station reaches a VM through the switch")

# A station on acc3 sending with vm1's MAC does not take it from the VM.
tp.send_from(PC, A)
tp.rx_counts()
tp.send_from(PA, VM1)
rx = tp.rx_counts()
log("A -> vm1 after acc3 sent as vm1:", rx)
check(rx[VM] > 0 and rx[PC] == 0 and rx[PB] == 0,
      "a VM's MAC stays the VM's (not learned on an access port)")

st = dp.stats()
for port in ("acc1", "acc2"):
    log(port, {k: v for k, v in st[port].items() if v and k.startswith(("rx", "tx", "drop"))})
    check(st[port]["rx_packets"] > 0 and st[port]["tx_packets"] > 0,
          f"{port} counts what it received and sent")
    check(st[port]["drop_spoofed_src_mac"] == 0, f"{port} has no spoof check")

r = dp.cmd("delnet red", ok=False)
check(r.startswith("ERR") and "port" in r, "a network with access ports cannot be deleted")
tp.quit()
for port in ("acc1", "acc2", "acc3", "vm1"):
    dp.cmd(f"del {port}")
dp.cmd("delnet red")
check(dp.stats() == {}, "access ports detach; then the network can go")
dp.quit()
print("dp-access-port: 1 passed, 0 failed")
