#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""kvm_net_dp_*: virtio-net end to end on this machine's /dev/kvm against
our own switch. Two VMs of `nicvisor-shim run --nic`, each with the
purpose-built driver (tests/guests/net.c), have their NICs on two
vhost-user VM ports of one network of the dataplane (dp_testd). One runs
the scenario's driver and sends frames to the peer's MAC; the peer
(net_reflect) sends each back with the addresses swapped. Every frame goes
guest -> switch -> peer guest -> switch -> guest, and the first guest
checks it comes back to its MAC from the peer's, payload intact. No busy
poller: the switch's worker sleeps when idle.

Usage: net-dp.py SCENARIO NICVISOR_SHIM GUEST_DIR
  basic    one queue pair (net_basic): four exchanges, MSIs, masking,
           reset; the switch counted exactly those frames both ways on
           both ports and dropped none; the peer reflected exactly four
  hostile  two queue pairs (net_hostile_dp): garbage on the first pair's
           rings stays 3 s while the second pair sends frames to the peer;
           the switch marks both of the first pair's queues broken
           (queues_broken, bad_descriptor), drops and counts what it
           cannot deliver (queue_full, broken_queue), keeps forwarding for
           the VM's other pair and for the peer, and gives the VM fresh
           queues after its reset: the last exchanges go through

The peer ends when the test removes its port (its link goes down).
Skips (77) without root, /dev/kvm or dp_testd (DPDK). Every wait is
bounded; processes are ended by PID, the temp dir removed (dptest.py).
"""
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration",
                                "dataplane"))
from dptest import (DP_TESTD, TMP, Dataplane, at_cleanup, check, fail, log,  # noqa: E402
                    require_root, skip)

if len(sys.argv) != 4 or sys.argv[1] not in ("basic", "hostile"):
    print(f"usage: {sys.argv[0]} basic|hostile SHIM GUEST_DIR", file=sys.stderr)
    sys.exit(2)
SCENARIO, SHIM, GUESTS = sys.argv[1:]
require_root()
if not (os.access("/dev/kvm", os.R_OK | os.W_OK)):
    skip("no usable /dev/kvm")
if not os.path.exists(DP_TESTD):
    skip("dp_testd is not built (no DPDK)")

MAC, PEER = "52:54:00:12:34:56", "02:00:00:00:00:02"  # net.c sends to PEER
EXIT_OK = 16  # the guest's debug exit 0x10
HEADER_DROPS = ("truncated", "bad_length", "bad_header", "bad_fragment", "bad_vxlan")
DROPS = ("no_buffer", "queue_full", "spoofed_src_mac", "no_network", "bad_descriptor",
         "broken_queue", "link_down", "malformed") + HEADER_DROPS


class Shim:
    """`nicvisor-shim run` with one NIC: console in NAME.log, log in NAME-err.log."""

    def __init__(self, name, guest, vcpus, mac, sock, pairs):
        self.name = name
        self.console = os.path.join(TMP, name + ".log")
        self.logpath = os.path.join(TMP, name + "-err.log")
        with open(self.console, "wb") as out, open(self.logpath, "wb") as err:
            self.p = subprocess.Popen(
                [SHIM, "run", "--kernel", os.path.join(GUESTS, guest + ".elf"), "--debug-exit",
                 "--vcpus", str(vcpus), "--memory", "64", "--nic", f"{mac},{sock},{pairs}",
                 "--timeout", "100", "--log-level", "info"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        at_cleanup(self.stop)

    def text(self):
        with open(self.console, errors="replace") as f:
            return f.read()

    def log(self):
        with open(self.logpath, errors="replace") as f:
            return f.read()

    def wait_console(self, marker, secs):
        end = time.monotonic() + secs
        while time.monotonic() < end:
            if re.search(marker, self.text(), re.M):
                return
            if self.p.poll() is not None:
                self.dump()
                fail(f"{self.name} ended ({self.p.returncode}) before '{marker}'")
            time.sleep(0.05)
        self.dump()
        fail(f"no '{marker}' on {self.name}'s console in {secs} s")

    def wait(self, secs):
        try:
            return self.p.wait(secs)
        except subprocess.TimeoutExpired:
            self.dump()
            fail(f"{self.name} did not end in {secs} s{stuck(self.p.pid)}")

    def dump(self):
        for what, text in (("console", self.text()), ("shim log", self.log())):
            log(f"--- {self.name}'s {what} (last 40 lines) ---")
            for ln in text.splitlines()[-40:]:
                print("   ", ln, file=sys.stderr)

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(15)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)

    def said(self, key):
        """The value of the guest's line 'NET key=0x...'."""
        m = re.search(rf"^NET {re.escape(key)}=(0x[0-9a-f]+)$", self.text(), re.M)
        if m is None:
            self.dump()
            fail(f"{self.name}'s guest did not say {key}")
        return int(m.group(1), 16)


def stuck(pid):
    """Why a shim does not end, if the kernel holds its VM process: on this
    machine KVM's SRCU grace periods were seen to wait minutes for a
    kernel worker on a CPU shared with busy pollers."""
    try:
        kids = open(f"/proc/{pid}/task/{pid}/children").read().split()
        for k in kids:
            for t in os.listdir(f"/proc/{k}/task"):
                stack = open(f"/proc/{k}/task/{t}/stack").read()
                if "synchronize_srcu" in stack:
                    top = [ln.split()[-1] for ln in stack.splitlines()[:3]]
                    return f" (its VM process waits in the kernel: {' < '.join(top)})"
    except OSError:
        pass
    return ""


def ended_ok(vm):
    rc = vm.wait(120)
    out = vm.text()
    bad = re.search(r"^NET-FAIL.*$", out, re.M)
    if bad:
        vm.dump()
        fail(bad.group(0))
    if rc != EXIT_OK or not re.search(r"^NET-OK$", out, re.M):
        vm.dump()
        fail(f"{vm.name}'s exit status is {rc}, not {EXIT_OK} (debug exit OK) with NET-OK")
    check(True, f"{vm.name}'s driver ended with NET-OK")


def drops(st):
    return {k: st.get("drop_" + k, 0) for k in DROPS}


def end_peer(peer):
    """Remove the peer's port: its link goes down and it ends."""
    dp.cmd("del peer")
    ended_ok(peer)
    return peer.said("reflected")


t0 = time.monotonic()
pairs = 1 if SCENARIO == "basic" else 2
dp = Dataplane(workers=1, cpus="0-1")
dp.cmd("net red 0")
vm_sock = dp.cmd(f"vhost vm red {MAC} {pairs}").split()[1]
peer_sock = dp.cmd(f"vhost peer red {PEER} 1").split()[1]
peer = Shim("peer", "net_reflect", 1, PEER, peer_sock, 1)
peer.wait_console(r"^NET-REFLECTING$", 60)
before = dp.stats()
check(before["peer"]["link"] == "up" and before["vm"]["link"] == "down",
      "the peer guest is up, the VM's port waits for its frontend")

if SCENARIO == "basic":
    vm = Shim("vm", "net_basic", 1, MAC, vm_sock, 1)
    ended_ok(vm)
    out, shimlog = vm.text(), vm.log()
    check(f"NET mac={MAC}" in out, "the guest read its MAC from the device")
    check(re.search(r"^NET masking=0x1$", out, re.M) is not None, "MSI-X masking checked")
    check(re.search(r"^NET reset-exchange=0x1$", out, re.M) is not None,
          "frames go through again after a device reset")
    exchanged = len(re.findall(r"^NET frame-exchanged=", out, re.M))
    check(exchanged == 4, f"the guest exchanged 4 frames ({exchanged})")
    check(re.search(r"nic 0: link up, .* 0 kicks exited", shimlog) is not None,
          "every kick went through KVM's ioeventfd, none exited to the shim")
    st = dp.stats()
    vmst, pst = st["vm"], st["peer"]
    log("vm:", vmst)
    log("peer:", pst)
    check(vmst["rx_packets"] == 4 and vmst["tx_packets"] == 4,
          "the switch took 4 frames from the VM and gave it 4")
    check(vmst["rx_bytes"] == 4 * 60 and vmst["tx_bytes"] == 4 * 60, "60 bytes each")
    check(pst["tx_packets"] == 4 and pst["rx_packets"] == 4,
          "they went to the peer and came back from it")
    check(not any(drops(vmst).values()) and not any(drops(pst).values()),
          "nothing dropped on either port")
    check(vmst["queues_broken"] == 0, "no queue broken")
    check(vmst["link"] == "down", "the VM's port is down after the guest reset its device")
    r = end_peer(peer)
    check(r == 4, f"the peer reflected 4 frames ({r})")
else:
    vm = Shim("vm", "net_hostile_dp", 2, MAC, vm_sock, 2)
    vm.wait_console(r"^NET-GARBAGE-POSTED$", 60)
    # The guest holds its garbage for 3 s: both queues of its first pair
    # are found broken while its second pair and the peer keep going.
    end = time.monotonic() + 2.5
    while True:
        st = dp.stats()
        if st["vm"]["queues_broken"] == 2 or time.monotonic() > end:
            break
        time.sleep(0.05)
    log("during the garbage:", st["vm"])
    check(st["vm"]["queues_broken"] == 2,
          "the switch marked the guest's first pair (rx and tx queues) broken")
    seen = st["peer"]["rx_packets"]
    time.sleep(0.3)
    st = dp.stats()
    check(st["peer"]["rx_packets"] > seen,
          "the peer's frames keep coming while the VM's queues are broken")
    check(st["vm"]["drop_broken_queue"] > 0,
          "frames for the broken receive queue are dropped and counted")
    ended_ok(vm)
    out, shimlog = vm.text(), vm.log()
    n = vm.said("window-frames")
    ctrl_broken = len(re.findall(r"control queue broken", shimlog))
    check(ctrl_broken >= 4, f"the shim broke the guest's control queue on garbage ({ctrl_broken})")
    check("the guest uses 2 queue pairs" in shimlog, "MQ applied")
    st = dp.stats()
    vmst, pst = st["vm"], st["peer"]
    log("vm:", vmst)
    log("peer:", pst)
    r = end_peer(peer)
    d, b, pd = drops(vmst), drops(before["vm"]), drops(pst)
    # Exactly once each: the transmit queue stalled on its first head, the
    # receive queue refused every frame.
    check(d["bad_descriptor"] - b["bad_descriptor"] == 2,
          f"two queues marked broken, counted once each ({d['bad_descriptor']})")
    check(vmst["queues_broken"] == 0, "the guest's reset gave it fresh queues")
    check(vmst["rx_packets"] == n + 2,
          f"the switch took the {n} window frames and the 2 last exchanges from the VM")
    check(pst["tx_packets"] + pd["queue_full"] == n + 2 and pst["tx_packets"] == r,
          f"and gave the peer all that its ring had room for, {r} "
          f"(queue_full {pd['queue_full']})")
    check(pst["rx_packets"] == r, "the peer sent each back")
    check(vmst["tx_packets"] == 2, "the VM got only the 2 frames after its reset")
    check(d["queue_full"] + d["broken_queue"] == r - 2,
          f"every frame back for the broken ring is counted "
          f"(queue_full {d['queue_full']} + broken_queue {d['broken_queue']} = {r - 2})")
    check(d["spoofed_src_mac"] == 0 and d["link_down"] == 0 and d["malformed"] == 0 and
          not any(d[k] for k in HEADER_DROPS), "no other drops on the VM's port")
    check(not any(v for k, v in pd.items() if k != "queue_full"), "nor on the peer's")

check(dp.alive(), "the dataplane survived")
dp.quit()
log(f"{SCENARIO}: {time.monotonic() - t0:.1f} s")
for ln in vm.text().splitlines():
    if ln.startswith("NET "):
        log("  ", ln[4:])
print(f"kvm_net_dp_{SCENARIO}: 1 passed, 0 failed")
