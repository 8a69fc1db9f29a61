# SPDX-License-Identifier: MIT
"""Restarting the DPU side under running guests (issue 6), shared by the
test (restart.py) and the benchmark (tools/bench/restart).

Two purpose-built guests (tests/guests/net.c) run under nicvisor-shim with
one NIC each on one network: net_reflect_stay sends every frame back,
net_ping sends a numbered frame every millisecond for 15 s to it and
prints the longest gap between two replies, and what it sent, got back,
got twice and lost. The switch under them is restarted while they run.

Stacks:
  Ours  nicvisor-dpu (agent + DPDK dataplane, as the integration tests run
        it) and the nicvisor-shim daemon, VMs made with nicvisorctl;
        restart = the agent process stopped (SIGTERM or SIGKILL) and
        started again with the same arguments and state directory
  Ovs   (the benchmark's peer) ovs-vswitchd-dpdk with two dpdkvhostuser
        ports on a NORMAL bridge, the same guests under `nicvisor-shim
        run --nic`; restart = ovs-vswitchd stopped the same way and
        started again (its database keeps the bridge and ports)

Every process is a child (dptest.Proc), stopped by PID at exit; every wait
is bounded.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "dataplane"))
import dptest  # noqa: E402
from dptest import BUILD, TMP, Proc, fail, log  # noqa: E402

DPU = os.path.join(BUILD, "dpu", "nicvisor-dpu")
CTL = os.path.join(BUILD, "tools", "nicvisorctl", "nicvisorctl")
SHIM = os.path.join(BUILD, "host-shim", "nicvisor-shim")
GUESTS = os.path.join(BUILD, "tests", "guests")
PING_MAC, REFL_MAC = "52:54:00:12:34:56", "02:00:00:00:00:02"  # net.c sends to REFL_MAC
PING_MS, PING_US = 15000, 1000  # net.c's NET_PING_MS and NET_PING_US
KEYS = ("sent", "received", "dup", "lost", "held", "bad", "gap-us", "gap-lost", "tail-lost",
        "tail-us")


def parse_figures(text, done, prefix, keys):
    """A guest's figures from its console, lines 'PREFIX-KEY=0x..' after
    the marker DONE: {key: int}, or None before it."""
    if done not in text:
        return None
    out = {}
    for k in keys:
        m = re.search(rf"^{prefix}-{k}=(0x[0-9a-f]+)\r?$", text, re.M)
        if m is None:
            return None
        out[k] = int(m.group(1), 16)
    return out


def parse_ping(text):
    """The prober's figures (net_ping), with 'holes': [(ms, frames)]."""
    out = parse_figures(text, "NET-PING-DONE", "NET ping", KEYS)
    if out is not None:
        at = re.findall(r"^NET ping-hole-at-ms=(0x[0-9a-f]+)\r?$", text, re.M)
        n = re.findall(r"^NET ping-hole-frames=(0x[0-9a-f]+)\r?$", text, re.M)
        out["holes"] = [(int(a, 16), int(b, 16)) for a, b in zip(at, n)]
    return out


def lost_allowed(res, restarts):
    """What a restart may lose (net_ping): the 6 frames that may be
    unanswered when the switch goes, and a probe every 20 ms of the gap;
    the first hole of a restart may close a window that overlaps it."""
    return restarts * (6 + 1) + res["gap-us"] * restarts // 20000


def parse_disk(text):
    """The disk streamer's figures (blk_stream)."""
    return parse_figures(text, "BLK-STREAM-DONE", "BLK stream", ("writes", "errors", "stall-us",
                                                                "stall-at-ms"))


def wait_path(path, secs, proc=None):
    end = time.monotonic() + secs
    while time.monotonic() < end:
        if os.path.exists(path):
            return True
        if proc is not None and not proc.alive():
            return False
        time.sleep(0.02)
    return False


class Ours:
    """The agent with its dataplane, the shim daemon, nicvisorctl."""

    name = "ours"
    count = 0

    def __init__(self):
        Ours.count += 1
        d = os.path.join(TMP, f"ours{Ours.count}")
        os.makedirs(os.path.join(d, "state"), exist_ok=True)
        self.api = f"ipc://{d}/api.sock"
        self.events = f"ipc://{d}/events.sock"
        self.south = f"ipc://{d}/south.sock"
        self.apisock = os.path.join(d, "api.sock")
        self.argv = [DPU, "--api", self.api, "--events", self.events, "--southbound",
                     self.south, "--state-dir", os.path.join(d, "state"), "--vhost-dir",
                     os.path.join(d, "vhost"), "--dataplane", "on", "--dp-no-huge",
                     "--dp-mem", "256", "--dp-idle-sleep", "--heartbeat-ms", "500",
                     "--dp-eal-args", f"--file-prefix=nvrs{os.getpid()}",
                     "--log-level", "info"]
        self.starts = 0
        self.agent = None
        # the EAL's runtime directory outlives the agent
        eal = f"/var/run/dpdk/nvrs{os.getpid()}"
        dptest.at_cleanup(lambda: shutil.rmtree(eal, ignore_errors=True))
        self.start_switch()
        self.shim = Proc(f"shim{Ours.count}", [SHIM, "--agent", self.south, "--host-id", "h1",
                                  "--debug-exit", "--log-level", "info"])
        self.shim.wait_for(r"session with", 20)
        self.ctl("network", "create", "net0")

    def ctl(self, *args, timeout=60, check_rc=True):
        r = subprocess.run([CTL, "--api", self.api, "--events", self.events] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=timeout)
        if check_rc and r.returncode != 0:
            fail(f"nicvisorctl {' '.join(args)}: {r.stdout.strip()}")
        return r.stdout

    def start_switch(self):
        self.starts += 1
        if os.path.exists(self.apisock):
            os.unlink(self.apisock)
        self.agent = Proc(f"agent{Ours.count}-{self.starts}", self.argv)
        if not wait_path(self.apisock, 60, self.agent):
            self.agent.dump()
            fail("the agent did not listen")

    def stop_switch(self, sig):
        self.agent.p.send_signal(sig)
        try:
            self.agent.p.wait(30)
        except subprocess.TimeoutExpired:
            fail(f"the agent did not end on signal {sig}")
        dptest._procs.remove(self.agent)

    def ready(self, *opts):
        """`nicvisorctl ready OPTS`: the time it took to say so (ms)."""
        a = time.monotonic()
        out = self.ctl("ready", "--timeout", "20", *opts)
        if not out.startswith("ready:"):
            fail(f"nicvisorctl ready: {out}")
        return (time.monotonic() - a) * 1000

    def boot(self, name, guest, mac):
        self.ctl("create", name, "--kernel", os.path.join(GUESTS, guest + ".elf"),
                 "--memory", "64", "--nic", f"net0,{mac}", "--start")

    def boot_disk(self, name):
        """A VM with one disk (a 16 MiB file volume) writing all along
        (blk_stream)."""
        self.ctl("volume", "create", name + "-vol", "--size", "16M")
        self.ctl("create", name, "--kernel", os.path.join(GUESTS, "blk_stream.elf"),
                 "--memory", "64", "--disk", name + "-vol", "--start")

    def console(self, name):
        return self.ctl("console", name, check_rc=False)

    def wait_console(self, name, marker, secs):
        end = time.monotonic() + secs
        while time.monotonic() < end:
            if re.search(marker, self.console(name), re.M):
                return
            time.sleep(0.2)
        fail(f"no /{marker}/ on {name}'s console in {secs} s: {self.console(name)[-2000:]}")

    def stop(self):
        self.shim.stop(20)  # its VMs with it
        self.agent.stop(20)


class Ovs:
    """OVS-DPDK (the peer): a NORMAL bridge with two dpdkvhostuser ports,
    the guests under `nicvisor-shim run`."""

    name = "ovs"

    def __init__(self, benchlib):
        self.benchlib = benchlib
        self.ovs = benchlib.OvsBase(dptest, 512)
        for p in ("vping", "vrefl"):
            self.ovs.vsctl("add-port", "br0", p, "--", "set", "Interface", p,
                           "type=dpdkvhostuser")
        self.socks = {p: os.path.join(self.ovs.dir, p) for p in ("vping", "vrefl")}
        benchlib.wait_paths(self.socks.values(), 30)
        self.vms = {}
        self.starts = 1

    def start_switch(self):
        self.starts += 1
        self.ovs.sw = Proc(f"ovs-vswitchd{self.starts}", self.ovs.sw_argv, env=self.ovs.env)
        self.benchlib.wait_paths(self.socks.values(), 60)

    def stop_switch(self, sig):
        sw = self.ovs.sw
        self.ovs.sw_argv = sw.p.args
        sw.p.send_signal(sig)
        try:
            sw.p.wait(30)
        except subprocess.TimeoutExpired:
            fail(f"ovs-vswitchd did not end on signal {sig}")
        dptest._procs.remove(sw)
        # dpdkvhostuser sockets are left behind by a killed switch
        for s in self.socks.values():
            if os.path.exists(s):
                os.unlink(s)

    def boot(self, name, guest, mac):
        sock = self.socks["vping" if name == "ping" else "vrefl"]
        self.vms[name] = Proc(name, [SHIM, "run", "--kernel",
                                     os.path.join(GUESTS, guest + ".elf"), "--debug-exit",
                                     "--memory", "64", "--nic", f"{mac},{sock}",
                                     "--timeout", "100"])

    def console(self, name):
        return self.vms[name].text()

    def wait_console(self, name, marker, secs):
        self.vms[name].wait_for(marker, secs)

    def stop(self):
        for v in self.vms.values():
            v.stop()
        self.ovs.stop()


def figures(stack, vm, parse, end):
    """The figures VM prints at its end (parse), waiting until END."""
    while time.monotonic() < end:
        res = parse(stack.console(vm))
        if res is not None:
            return res
        time.sleep(0.3)
    fail(f"{stack.name}: {vm} did not finish: {stack.console(vm)[-3000:]}")


def stream(stack, restarts, sig, first_s=3.0, every_s=3.0, disk=False):
    """Boot the reflector and the prober on STACK, restart its switch
    RESTARTS times (signal SIG) during the 15 s stream, the first after
    FIRST_S, then every EVERY_S; the prober's figures, plus 'down_ms':
    each restart's stop-to-listening time, and (ours) 'ready_ms': from the
    stop until `nicvisorctl ready` said every host and NIC is back. With
    DISK (ours), a third VM writes to its disk all along (blk_stream):
    its figures in 'disk'."""
    stack.boot("refl", "net_reflect_stay", REFL_MAC)
    stack.wait_console("refl", r"^NET-REFLECTING", 60)
    if disk:
        stack.boot_disk("disk")
        stack.wait_console("disk", r"^BLK-STREAMING", 60)
    stack.boot("ping", "net_ping", PING_MAC)
    stack.wait_console("ping", r"^NET-PINGING", 60)
    t0 = time.monotonic()
    down, ready = [], []
    if hasattr(stack, "ready"):
        # every VM runs, every NIC is connected: those must come back
        stack.saved = os.path.join(TMP, f"ready-{stack.name}")
        stack.ready("--save", stack.saved)
    for i in range(restarts):
        time.sleep(max(0.0, t0 + first_s + i * every_s - time.monotonic()))
        a = time.monotonic()
        stack.stop_switch(sig)
        stack.start_switch()
        down.append((time.monotonic() - a) * 1000)
        if hasattr(stack, "ready"):
            ready.append(down[-1] + stack.ready("--since", stack.saved))
        log(f"{stack.name}: restart {i + 1} ({signal.Signals(sig).name}): "
            f"switch back in {down[-1]:.0f} ms" +
            (f", `nicvisorctl ready` after {ready[-1]:.0f} ms" if ready else ""))
    end = time.monotonic() + PING_MS / 1000 + 30
    res = figures(stack, "ping", parse_ping, end)
    if disk:
        res["disk"] = figures(stack, "disk", parse_disk, end)
    res["down_ms"] = down
    res["ready_ms"] = ready
    log(f"{stack.name}: {res}")
    return res
