#!/bin/bash
# nv-test.sh's EXIT trap names an L1 whose kernel failed
# (NV-EMULATOR-FAULT, read by tools/test-failures.py): one that run-l1
# already reported, one reported while the trap waits, one of an L1 run in
# the foreground (nv_l1_run), and none for an L1 that ended without a fault.
set -u
here=$(cd "$(dirname "$0")" && pwd)
lib=$here/../integration/lib/nv-test.sh
fail=0

# case NAME SCRIPT WANT: run SCRIPT (after sourcing the library) in a
# failing test; WANT is an ERE its stderr must match, or ! to match none.
case_() {
	local name=$1 script=$2 want=$3 err
	err=$(NV_TEST_NAME=$name NV_L1_FAULT_WAIT=10 bash -c ". '$lib'; $script; exit 1" 2>&1 >/dev/null)
	if [ "$want" = '!' ]; then
		if grep -q NV-EMULATOR-FAULT <<<"$err"; then
			echo "FAIL $name: an emulator fault was named"; fail=1
			return
		fi
	elif ! grep -Eq "$want" <<<"$err"; then
		echo "FAIL $name: stderr lacks /$want/:"; echo "$err"; fail=1
		return
	fi
	echo "ok $name"
}

line='run-l1: L1-KERNEL-FAULT: [   88.28] watchdog: BUG: soft lockup - CPU#0 stuck for 23s!'
case_ reported "echo '$line' >\"\$NV_TMP/l1.run-l1.log\"" \
	'^NV-EMULATOR-FAULT: L1 l1: \[   88.28\] watchdog: BUG: soft lockup'
# L1 (here a stand-in for run-l1) still runs when the test fails and
# reports the fault 1 s later.
case_ later "(sleep 1; echo '$line' >>\"\$NV_TMP/l2.run-l1.log\"; sleep 30) &
	NV_L1_PID_l2=\$!; NV_PIDS+=(\$!); : >\"\$NV_TMP/l2.run-l1.log\"" \
	'^NV-EMULATOR-FAULT: L1 l2: '
# nv_l1_run: run-l1 in the foreground (a stand-in that fails like it).
case_ foreground "NV_RUN_L1=\$NV_TMP/fake-run-l1; printf '#!/bin/sh\necho \"%s\" >&2\nexit 123\n' '$line' >\$NV_RUN_L1; chmod +x \$NV_RUN_L1; nv_l1_run -q -- true || true" \
	'^NV-EMULATOR-FAULT: L1 run1: \[   88.28\] watchdog'
case_ clean "echo 'run-l1: TIMEOUT after 60s' >\"\$NV_TMP/l1.run-l1.log\"" '!'
exit $fail
