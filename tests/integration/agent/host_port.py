#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""dpu-host-port: nicvisor-dpu --host-port with the DPDK dataplane.

The agent runs with an uplink (net_af_packet on a veth whose other end is
the "wire", in a network namespace) and two host ports on network blue,
VLAN 100 (net_af_packet on veths whose other ends stand in for a host's PF
and VF behind BlueField representors, each in its own namespace), and a
VM's NIC (dpdk-testpmd on its vhost-user socket). Checked: bad
--host-port syntax is refused naming the option; the host ports wait until
blue is created, then are access ports of blue (GetPortStats via
nicvisorctl); a broadcast from the PF leaves the uplink tagged with VLAN
100 and reaches the VF untagged; the PF's MAC is learned, so the VF's and
the wire's unicast to it reach it only; another VLAN does not reach it;
frames pass between the PF and the VM's NIC both ways; a host port that
cannot attach refuses its network's creation with its reason; deleting
blue detaches the ports (nothing forwarded), creating it again attaches
them; a restarted agent attaches them with the saved network; and refuses
to start when a host port cannot join a saved network.
"""
import glob
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "dataplane"))
from dptest import (TMP, Netns, Proc, Testpmd, at_cleanup, check, fail,  # noqa: E402
                    log, require_cmd, require_root)

require_root()
require_cmd("ip", "dpdk-testpmd")
DPU = os.environ.get("NICVISOR_DPU")
CTL = os.environ.get("NICVISORCTL")
if not DPU or not CTL:
    fail("NICVISOR_DPU and NICVISORCTL must name the built programs")

HERE = os.path.dirname(os.path.abspath(__file__))
WIRE_PY = os.path.join(HERE, "..", "dataplane", "wire.py")
HOST_MAC = "02:00:00:00:0c:01"  # the host's PF
VF_MAC = "02:00:00:00:0c:02"  # the host's VF
PEER_MAC = "02:00:00:00:0d:01"  # a station on the wire
VM_MAC = "02:00:00:00:0e:01"  # a VM's NIC on blue
BCAST = "ff:ff:ff:ff:ff:ff"
API = f"ipc://{TMP}/api.sock"
EVENTS = f"ipc://{TMP}/events.sock"
STATE = os.path.join(TMP, "state")

host = Netns("hp")  # outer: the agent's host port; inner: the host's PF
vf = Netns("vf")  # outer: another host port; inner: the host's VF
wire = Netns("wi")  # outer: the agent's uplink; inner: the wire


def eal_prefix(state_dir):
    """The agent's EAL file prefix (dpu/net_open.c, file_prefix)."""
    h = 2166136261
    for b in os.path.realpath(state_dir).encode():
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return f"nvdpu-{h:08x}"


os.makedirs(STATE)
at_cleanup(lambda: shutil.rmtree(f"/var/run/dpdk/{eal_prefix(STATE)}", ignore_errors=True))

UPLINK = f"up0=net_af_packet0,iface={wire.outer}"
HOST_PORT = f"hp0=net_af_packet1,iface={host.outer}@blue"
VF_PORT = f"hp1=net_af_packet2,iface={vf.outer}@blue"
# No such interface: af_packet cannot attach it.
BAD_PORT = "bad0=net_af_packet9,iface=nvnosuch0@green"


def agent_argv(*extra, mode=("--dataplane", "on")):
    """mode (): the default, DPDK started when first needed."""
    return [DPU, "--api", API, "--events", EVENTS, "--southbound", f"ipc://{TMP}/south.sock",
            "--state-dir", STATE, "--vhost-dir", os.path.join(TMP, "vhost"), "--log-level",
            "info", "--dp-no-huge", "--dp-workers", "1", "--dp-idle-sleep"] + list(mode) + \
        list(extra)


def start_agent(name, *extra, mode=("--dataplane", "on")):
    a = Proc(name, agent_argv(*extra, mode=mode))
    a.wait_for(r"nicvisor-dpu \S+ ready", 90)
    return a


def ctl(*args, ok=True):
    r = subprocess.run([CTL, "--api", API, "--events", EVENTS] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=90)
    out = r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")
    if ok and r.returncode != 0:
        fail(f"nicvisorctl {' '.join(args)}: {out}")
    return r.returncode, out


def ports():
    """The agent's ports by name (nicvisorctl --json stats: GetPortStats)."""
    _, out = ctl("--json", "stats")
    return {p["port"]: p for p in json.loads(out)["ports"]}


def wire_send(ns, src, dst, vlan, count=20):
    ns.run(f"python3 {WIRE_PY} send {ns.inner} {src} {dst} {vlan} {count}")


def seen(send, src, *nss):
    """Frames from src captured on the inner end of each of nss while
    send() runs: a list of frames per namespace."""
    got = {}

    def capture_from(i):
        if i == len(nss):
            send()
            return
        # Each capture runs around the next one's start and its window.
        frames = nss[i].capture(lambda: capture_from(i + 1), 2.0 + 3.0 * (len(nss) - 1 - i))
        got[i] = [f for f in frames if f["src"] == src]

    capture_from(0)
    return [got[i] for i in range(len(nss))]


def host_to_wire():
    return seen(lambda: wire_send(host, HOST_MAC, BCAST, 0), HOST_MAC, wire)[0]


# Syntax errors name the option and exit 2 before anything starts.
for bad in ("hp0", "hp0=net_null0", "hp0=net_null0@", "hp0=@blue", "HP=net_null0@blue",
            "hp0=net_null0@Blue"):
    r = subprocess.run(agent_argv("--host-port", bad), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=30)
    msg = r.stdout.decode(errors="replace").strip()
    check(r.returncode == 2 and msg.startswith("nicvisor-dpu: --host-port: "),
          f"--host-port {bad} refused: {msg}")
r = subprocess.run(agent_argv("--uplink", "p0=net_null0", "--host-port", "p0=net_null1@blue"),
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
check(r.returncode == 2 and b"given twice" in r.stdout,
      "a host port cannot take an uplink's name")

agent = start_agent("agent", "--uplink", UPLINK, "--host-port", HOST_PORT, "--host-port",
                    VF_PORT, "--host-port", BAD_PORT)
check(agent.wait_for(r"host port hp0 \(.*\) waits for network blue", 1),
      "a host port of a network not created yet waits for it")
check("hp0" not in ports(), "and is not a switch port yet")

m = agent.mark()
ctl("network", "create", "blue", "--vlan", "100")
for port in ("hp0", "hp1"):
    agent.wait_for(rf"host port {port}: net_af_packet\d,iface=\S+, an access port of network blue",
                   10, m)
    p = ports().get(port)
    check(p is not None and p["kind"] == "access" and p["network"] == "blue",
          f"creating blue attaches {port} as its access port: {p}")

rc, out = ctl("network", "create", "green", ok=False)
check(rc != 0 and "bad0" in out and "nvnosuch0" in out,
      f"a host port that cannot attach refuses its network, with its reason: {out.strip()}")
_, out = ctl("network", "list")
check("green" not in out and "blue" in out, "green was not created")

to_wire, to_vf = seen(lambda: wire_send(host, HOST_MAC, BCAST, 0), HOST_MAC, wire, vf)
log(f"PF broadcast: {len(to_wire)} frames on the wire, vlans "
    f"{sorted({f['vlan'] for f in to_wire})}; {len(to_vf)} at the VF")
check(len(to_wire) >= 20 and all(f["vlan"] == "100" for f in to_wire),
      "untagged frames from the host port leave the uplink tagged with blue's VLAN 100")
check(len(to_vf) >= 20 and all(f["vlan"] == "none" for f in to_vf),
      "and reach the other host port untagged (one representor to another)")

to_pf, to_wire = seen(lambda: wire_send(vf, VF_MAC, HOST_MAC, 0), VF_MAC, host, wire)
log(f"VF -> PF: {len(to_pf)} frames at the PF, {len(to_wire)} on the wire")
check(len(to_pf) >= 20 and all(f["vlan"] == "none" for f in to_pf),
      "unicast from the VF reaches the PF")
check(len(to_wire) == 0, "and not the wire: the PF's MAC was learned on its host port")

to_pf, to_vf = seen(lambda: wire_send(wire, PEER_MAC, HOST_MAC, 100), PEER_MAC, host, vf)
log(f"wire -> PF on VLAN 100: {len(to_pf)} frames at the PF, {len(to_vf)} at the VF")
check(len(to_pf) >= 20 and all(f["vlan"] == "none" for f in to_pf),
      "frames of VLAN 100 from the wire reach the PF untagged")
check(len(to_vf) == 0, "and not the VF")

to_pf, = seen(lambda: wire_send(wire, PEER_MAC, BCAST, 200), PEER_MAC, host)
check(len(to_pf) == 0, f"VLAN 200 does not reach blue's host port ({len(to_pf)} frames)")

# A VM NIC on blue, driven by dpdk-testpmd on its vhost-user socket (the
# VM is created, not started: its port exists from CreateVm on).
kernel = os.path.join(TMP, "bzImage")
with open(kernel, "wb") as f:
    img = bytearray(os.urandom(65536))
    img[0x202:0x206] = b"HdrS"
    f.write(img)
ctl("create", "vm1", "--kernel", kernel, "--memory", "64", "--nic", f"blue,{VM_MAC}")
socks = glob.glob(os.path.join(TMP, "vhost", "vm-*.sock"))
check(len(socks) == 1, f"vm1's NIC has its vhost-user socket: {socks}")
at_cleanup(lambda: shutil.rmtree(f"/var/run/dpdk/testpmd{os.getpid()}", ignore_errors=True))
tp = Testpmd("testpmd", [(socks[0], VM_MAC)])
tp.rx_counts()
to_pf, to_vf = seen(lambda: tp.send_from(0, HOST_MAC), VM_MAC, host, vf)
log(f"VM -> PF: {len(to_pf)} frames at the PF, {len(to_vf)} at the VF")
check(len(to_pf) > 0 and all(f["vlan"] == "none" for f in to_pf) and len(to_vf) == 0,
      "a VM NIC's frames to the PF reach its host port only")
wire_send(host, HOST_MAC, VM_MAC, 0)
rx = tp.rx_counts()
log("PF -> VM:", rx)
check(rx[0] >= 20, "the PF's frames to the VM's MAC reach its NIC")
tp.quit()
ctl("delete", "vm1")

_, out = ctl("stats")
row = [ln.split() for ln in out.splitlines() if ln.startswith("hp0 ")]
check(len(row) == 1 and row[0][1:3] == ["access", "blue"] and row[0][4] == "up",
      f"nicvisorctl stats shows hp0, access on blue, link up: {row}")
p = ports()["hp0"]
check(p["rx_packets"] >= 40 and p["tx_packets"] >= 41,
      f"hp0 counts what it took in and sent out: rx {p['rx_packets']} tx {p['tx_packets']}")

m = agent.mark()
ctl("network", "delete", "blue")
agent.wait_for(r"network blue deleted: its 2 host ports detached", 10, m)
check("hp0" not in ports() and "hp1" not in ports(), "deleting blue detaches its host ports")
frames = host_to_wire()
check(len(frames) == 0, f"and nothing from the host reaches the wire ({len(frames)} frames)")

ctl("network", "create", "blue", "--vlan", "100")
check(ports().get("hp0", {}).get("network") == "blue" and len(host_to_wire()) >= 20,
      "creating blue again attaches it again, and it forwards")

agent.stop()
check(agent.p.returncode == 0, "the agent stops cleanly with its host port")

# The default mode this time: the saved network starts DPDK (dpu/net_open.c's lazy_net).
agent = start_agent("agent2", "--host-port", HOST_PORT, "--uplink", UPLINK, mode=())
agent.wait_for(r"starting the dataplane", 1)
agent.wait_for(r"host port hp0: net_af_packet1,iface=\S+, an access port of network blue", 1)
frames = host_to_wire()
check(ports().get("hp0", {}).get("kind") == "access" and len(frames) >= 20 and
      all(f["vlan"] == "100" for f in frames),
      "a restarted agent (DPDK started when needed) attaches the host port with the saved "
      "network, and it forwards")
agent.stop()

bad = Proc("agent3", agent_argv("--host-port", "bad1=net_af_packet3,iface=nvnosuch1@blue"))
bad.wait_for(r"host port bad1 could not join network blue", 90)
bad.p.wait(60)
check(bad.p.returncode == 1,
      "an agent whose host port cannot join a saved network refuses to start")
bad.stop()
print("dpu-host-port: 1 passed, 0 failed")
