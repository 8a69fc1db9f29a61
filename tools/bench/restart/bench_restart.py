#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tools/bench/restart: the gap a guest sees while the vhost-user switch
under it restarts; ours against OVS-DPDK in one run on the same machine.

The same two purpose-built guests (tests/guests/net.c) under our shim for
both switches (tests/integration/restart/restartlib.py): net_ping sends a
numbered 60-byte frame to net_reflect_stay every millisecond for 15 s and
reports the longest gap between two replies, and the frames it lost.
During that stream the switch is restarted --restarts times (2.5 s apart,
the first 3 s in) with --signal:

  ours  nicvisor-dpu (agent and DPDK dataplane: one worker, no hugepages,
        idle sleep, as the integration tests run it) with the nicvisor-shim
        daemon and VMs made by nicvisorctl; the agent process is stopped
        and started again with the same state directory (it restores the
        network and both NIC ports, the shim reconnects)
  ovs   ovs-vswitchd-dpdk (one PMD) with two dpdkvhostuser (server) ports
        on a NORMAL bridge, the guests under `nicvisor-shim run --nic`;
        ovs-vswitchd is stopped and started again with the same database

Ours also runs a third VM that writes to its disk all along (blk_stream):
its slowest write and I/O errors are reported in the notes (no peer yet,
so no BENCH line).

Figures (the worst of --rounds rounds, since the question is how long a
guest can be cut off):
  restart_gap_ms      the longest gap between two replies (less is better)
  restart_lost_frames frames lost (the prober keeps at most 6 unanswered
                      and probes every 20 ms while none come back, so no
                      ring overflows: a frame is lost only where a switch
                      dropped it; restarts * 7 + gap / 20 ms is checked)

Ends with BENCH lines and writes them to docs/benchmarks.md (section
bench:restart). Root, /dev/kvm; the peer needs OVS-DPDK and hugepages.
"""
import argparse
import os
import signal
import sys

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tools", "bench"))
sys.path.insert(0, os.path.join(SRC, "tests", "integration", "restart"))


def one(args, which, rl, benchlib, dptest):
    sig = {"TERM": signal.SIGTERM, "KILL": signal.SIGKILL}[args.signal]
    if which == "ours":
        stack = rl.Ours()
    else:
        stack = rl.Ovs(benchlib)
    try:
        return rl.stream(stack, args.restarts, sig, first_s=3.0, every_s=2.5,
                         disk=which == "ours")
    finally:
        stack.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(SRC, "build"))
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--restarts", type=int, default=4)
    ap.add_argument("--signal", choices=("TERM", "KILL"), default="KILL")
    ap.add_argument("--switches", default="ours,ovs")
    ap.add_argument("--no-doc", action="store_true")
    args = ap.parse_args()
    if not (1 <= args.rounds <= 20 and 1 <= args.restarts <= 4):
        ap.error("rounds 1..20, restarts 1..4 (the stream lasts 15 s)")
    if not set(args.switches.split(",")) <= {"ours", "ovs"} or not args.switches:
        ap.error("switches: ours,ovs")
    if os.geteuid() != 0 or not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("SKIP: bench-restart needs root and /dev/kvm")
        return 77
    os.environ["NV_BUILD"] = os.path.abspath(args.build)
    import benchlib
    import dptest
    import restartlib as rl

    switches = args.switches.split(",")
    if "ovs" in switches and not benchlib.ovs_installed():
        print("bench-restart: OVS-DPDK is not installed: no peer figures", file=sys.stderr)
        switches.remove("ovs")
    if "ovs" in switches:
        benchlib.reserve_hugepages(dptest, 1024)
        benchlib.forget_eal_dirs(dptest, "nvbovs")
    res = {s: [] for s in switches}
    for r in range(args.rounds):
        for s in switches:
            res[s].append(one(args, s, rl, benchlib, dptest))
    worst = {}
    for s, rs in res.items():
        for x in rs:
            allowed = rl.lost_allowed(x, args.restarts)
            dptest.check(x["bad"] == 0 and x["tail-us"] < 1000000,
                         f"{s}: the stream resumed after every restart, nothing bad came back")
            dptest.check(x["lost"] <= allowed,
                         f"{s}: {x['lost']} lost <= {allowed} (the gaps' reach)")
        worst[s] = {"gap": max(x["gap-us"] for x in rs) / 1000,
                    "lost": max(x["lost"] for x in rs),
                    "dup": max(x["dup"] for x in rs),
                    "down": max(max(x["down_ms"]) for x in rs)}
    o = worst.get("ours")
    p = worst.get("ovs")
    lines = []
    if o is not None:
        peer = f" peer={p['gap']:.0f}" if p else ""
        ratio = f" ratio={p['gap'] / o['gap']:.2f}" if p else ""
        lines.append(f"BENCH restart_gap_ms ours={o['gap']:.0f}{peer} unit=ms{ratio}")
        peer = f" peer={p['lost']}" if p else ""
        ratio = f" ratio={(p['lost'] + 1) / (o['lost'] + 1):.2f}" if p else ""
        lines.append(f"BENCH restart_lost_frames ours={o['lost']}{peer} unit=frames{ratio}")
    for ln in lines:
        print(ln)
    notes = []
    for s, rs in res.items():
        notes.append(f"{s}: per round (gap ms / lost / duplicated / switch back after ms): " +
                     "; ".join(f"{x['gap-us'] / 1000:.0f} / {x['lost']} / {x['dup']} / " +
                               ",".join(f"{d:.0f}" for d in x["down_ms"]) for x in rs))
    if "ours" in res:
        notes.append("ours, a third VM writing 4 KiB to its disk one request at a time all along "
                     "(blk_stream; no peer measured yet; on this shared machine writes to a file "
                     "in /tmp were seen to take 1.5 s without any restart, so the slowest write "
                     "is not the restart's alone): per round (slowest write ms / "
                     "writes / I/O errors): " + "; ".join(
                         f"{x['disk']['stall-us'] / 1000:.0f} / {x['disk']['writes']} / "
                         f"{x['disk']['errors']}" for x in res["ours"]))
        for x in res["ours"]:
            dptest.check(x["disk"]["errors"] == 0, "ours: no disk write failed")
    notes.append("load average at the end (1, 5, 15 min; the machine may be shared, and the "
                 "switches' start-up is most of the gap): " +
                 ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    for n in notes:
        print(n, file=sys.stderr)
    if not args.no_doc and lines:
        body = [
            "## Restart under running guests (tools/bench/restart)", "",
            f"CPU: {benchlib.cpu_model()}, {os.cpu_count()} CPUs. {args.rounds} round(s) per "
            f"switch, each a 15 s stream of a 60-byte frame a millisecond from one guest to "
            f"another that sends it back, with {args.restarts} restart(s) of the switch by "
            f"SIG{args.signal} 2.5 s apart; the worst round is reported. Ours: nicvisor-dpu "
            "(agent + DPDK dataplane, no hugepages, idle sleep) restarted with its state "
            "directory, guests under the nicvisor-shim daemon. Peer: ovs-vswitchd-dpdk "
            "(dpdkvhostuser ports, NORMAL bridge, one PMD) restarted with its database, the "
            "same guests under `nicvisor-shim run`. Less is better for both figures "
            "(ratio = peer/ours; lost frames ratio on lost + 1).", ""]
        body += [f"- {n}" for n in notes] + [""]
        body += ["```"] + lines + ["```", "",
                 "Reproduce (root, /dev/kvm; OVS-DPDK for the peer): `make bench-restart`, or "
                 f"`tools/bench/restart/bench_restart.py --build build --rounds {args.rounds} "
                 f"--restarts {args.restarts} --signal {args.signal}`."]
        benchlib.write_section("restart", "tools/bench/restart/bench_restart.py", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
