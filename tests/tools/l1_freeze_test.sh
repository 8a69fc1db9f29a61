#!/bin/bash
# run-l1.sh calls an L1 frozen when its heartbeat stops: L1 boots with a
# payload that sleeps, QEMU is stopped (SIGSTOP) as a frozen emulator
# would be, and run-l1 must kill it and exit 123 with "L1 froze" within
# the heartbeat limit (5 s here), long before its own timeout.
set -u
export NV_TEST_NAME=l1-freeze
# shellcheck source-path=SCRIPTDIR source=../integration/lib/nv-test.sh
. "$(dirname "$0")/../integration/lib/nv-test.sh"
nv_require_images

NV_L1_HEARTBEAT_DEAD=5 nv_l1_start l1 -t 120 -- sleep 100
nv_l1_wait_ready l1 90 || nv_die "L1 did not boot"
sleep 3 # a heartbeat or two
qpid=$(cat "$NV_TMP/l1.qemu.pid")
t0=$(date +%s)
kill -STOP "$qpid"
rc=0
nv_wait_exit "$NV_L1_PID" 30 || rc=$?
kill -CONT "$qpid" 2>/dev/null || true
dt=$(($(date +%s) - t0))
cat "$NV_TMP/l1.run-l1.log" >&2
[ "$rc" = 123 ] || nv_die "run-l1 exited $rc, want 123"
grep -q 'L1-KERNEL-FAULT: L1 froze: no heartbeat for 5s' "$NV_TMP/l1.run-l1.log" ||
	nv_die "run-l1 did not say L1 froze"
nv_log "ok: a stopped L1 called frozen after ${dt}s"
