#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""restart-net: nicvisor-dpu (agent and DPDK dataplane) restarted under
running guests (restartlib.py). Two purpose-built guests under the
nicvisor-shim daemon, one NIC each on one network of our switch: the
prober (net_ping) sends a numbered frame every millisecond for 15 s to the
reflector (net_reflect_stay); a third VM writes to its disk all along
(blk_stream), each write checked and read back at the end. The agent is stopped with SIGNAL (TERM or
KILL) and started again once during the stream. The prober must get
replies again after the restart (it finished, got more than it would
have before the restart alone), nothing bad came back, and nothing was
lost beyond the gap: the frames lost are at most those sent during the
longest gap (one a millisecond) plus the 8 the prober may have had in
flight. No write may fail, and one must have waited for the new backend (the
one in flight, completed by the new backend from the inflight area,
or posted during the gap). The gap itself is not asserted (tools/bench/restart reports
it), only that it is the switch's own downtime plus less than 0.5 s.

Usage: restart.py [TERM|KILL]. Skips (77) without root, /dev/kvm or the
DPDK dataplane.
"""
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import restartlib  # noqa: E402
from dptest import check, log, require_root, skip  # noqa: E402

sig = {"TERM": signal.SIGTERM, "KILL": signal.SIGKILL}.get(sys.argv[1] if len(sys.argv) > 1
                                                          else "TERM")
if sig is None:
    print(f"usage: {sys.argv[0]} [TERM|KILL]", file=sys.stderr)
    sys.exit(2)
require_root()
if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    skip("no usable /dev/kvm")
for f in (restartlib.DPU, restartlib.CTL, restartlib.SHIM):
    if not os.path.exists(f):
        skip(f"{f} is not built")

stack = restartlib.Ours()
r = restartlib.stream(stack, 1, sig, disk=True)
gap_ms = r["gap-us"] / 1000
log(f"longest gap {gap_ms:.1f} ms, switch back in {r['down_ms'][0]:.0f} ms; "
    f"sent {r['sent']} received {r['received']} dup {r['dup']} lost {r['lost']} "
    f"held {r['held']}")
check(r["bad"] == 0, "no bad frame came back")
check(r["tail-us"] < 1000000,
      f"replies came back after the restart, until the end ({r['tail-us']} us before it)")
allowed = restartlib.lost_allowed(r, 1)
check(r["lost"] <= allowed,
      f"nothing lost beyond the gap: {r['lost']} lost <= {allowed} (the window and the probes "
      f"sent during it)")
# The guests see the switch's own downtime (its process starting, DPDK,
# the state restored), not more: the shim looks for a backend that went
# away every 20 ms, and a restored socket answers at once (the dataplane
# wakes rte_vhost's event thread); each was worth up to a second more.
d = r["disk"]
log(f"disk: {d['writes']} writes, {d['errors']} errors, slowest {d['stall-us'] / 1000:.1f} ms")
check(d["errors"] == 0, "no write failed across the restart (the one in flight completed)")
check(d["stall-us"] >= r["down_ms"][0] * 1000 * 0.5,
      f"a write waited for the new backend ({d['stall-us'] / 1000:.0f} ms)")
down = r["down_ms"][0]
check(len(r["ready_ms"]) == 1 and r["ready_ms"][0] < down + 5000,
      f"`nicvisorctl ready` said the DPU side is back ({r['ready_ms'][0]:.0f} ms after the stop)")
check(gap_ms < down + 500,
      f"the gap ({gap_ms:.0f} ms) is the switch's downtime ({down:.0f} ms) + < 500 ms")
print(f"restart-net-{signal.Signals(sig).name[3:].lower()}: 1 passed, 0 failed")
