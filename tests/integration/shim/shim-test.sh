#!/bin/bash
# Integration tests (shim): nicvisor-shim as a real daemon on this machine's
# /dev/kvm with the purpose-built guests (tests/guests), under the real
# agent (nicvisor-dpu), driven with nicvisorctl. One case per run:
#
#   shim-test.sh CASE    (marker stop-spin killed-child agent-restart
#                         two-vms bad-kernel reset-loop run sandbox
#                         sandbox-off)
#
# Environment (meson sets it): NICVISOR_DPU, NICVISORCTL, NICVISOR_SHIM,
# GUEST_MARKER, GUEST_SPIN, GUEST_RESET, SYS_INJECT. Skips (77) without
# /dev/kvm.
set -eu
. "$(dirname "$0")/../lib/nv-test.sh"

case_name=${1:?usage: shim-test.sh CASE}
NV_TEST_NAME="shim-$case_name"
[ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ] || nv_skip "no usable /dev/kvm"
nv_require_file "$NICVISOR_DPU" "$NICVISORCTL" "$NICVISOR_SHIM" "$GUEST_MARKER" "$GUEST_SPIN"

API="ipc://$NV_TMP/api.sock"
EVENTS="ipc://$NV_TMP/events.sock"
SOUTH="ipc://$NV_TMP/south.sock"
AGENT_PID=""
SHIM_PID=""

ctl() { "$NICVISORCTL" --api "$API" --events "$EVENTS" "$@"; }

start_agent() {
	nv_bg "agent${1:-}" "$NICVISOR_DPU" --api "$API" --events "$EVENTS" --southbound "$SOUTH" \
		--state-dir "$NV_TMP/state" --heartbeat-ms 500 --log-level info
	AGENT_PID=$NV_BG_PID
	nv_wait_socket "$NV_TMP/api.sock" 10 "$AGENT_PID" || nv_die "the agent did not listen"
}

start_shim() { # [OPTION...]
	nv_bg shim "$NICVISOR_SHIM" --agent "$SOUTH" --host-id host-it --debug-exit --log-level info "$@"
	SHIM_PID=$NV_BG_PID
	nv_wait_log "$NV_TMP/shim.log" 'session with' 10 "$SHIM_PID" ||
		nv_die "the shim did not say Hello"
}

# field NAME KEY: one string or number of `nicvisorctl --json get NAME`.
field() {
	ctl --json get "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$2"
}

wait_state() { # NAME STATE [SECS]
	ctl wait "$1" --state "$2" --timeout "${3:-20}" >/dev/null ||
		nv_die "$1 did not reach $2: $(ctl get "$1" | tr '\n' ' ')"
}

expect_field() { # NAME KEY ERE
	local v
	v=$(field "$1" "$2")
	[[ $v =~ $3 ]] || nv_die "$1: $2 is '$v', expected /$3/"
}

# The VM process of the shim (its only child while one VM runs).
vm_pid() {
	local p
	for p in $(ps -o pid= --ppid "$SHIM_PID"); do
		nv_alive "$p" && echo "$p" && return 0
	done
	return 1
}

shim_alive() { nv_alive "$SHIM_PID" || nv_die "the shim died: $(tail -5 "$NV_TMP/shim.log")"; }

case_marker() {
	ctl create m --kernel "$GUEST_MARKER" --memory 32 >/dev/null
	# The console as the agent's events carry it, from before the start.
	nv_bg console "$NICVISORCTL" --api "$API" --events "$EVENTS" console m --follow \
		--until NICVISOR-TINY-READY --timeout 30
	local con=$NV_BG_PID
	sleep 0.3
	ctl start m >/dev/null
	# The printed marker, not nicvisorctl's exit, is the test: its exit
	# has been seen to hang in nng's close.
	nv_wait_log "$NV_TMP/console.log" NICVISOR-TINY-READY 40 ||
		nv_die "no marker on the console: $(cat "$NV_TMP/console.log")"
	nv_stop "$con" 2 || true
	wait_state m stopped
	expect_field m last_exit '^debug_exit$'
	expect_field m reason '^debug exit code 16$'
	expect_field m boots '^1$'
	# Started again: a second boot, counted on from the first.
	ctl start m >/dev/null
	wait_state m stopped
	expect_field m boots '^2$'
	shim_alive
}

case_stop_spin() {
	ctl create s --kernel "$GUEST_SPIN" --memory 64 --start >/dev/null
	wait_state s running
	local t0=$SECONDS
	# The guest ignores the power button: forced after the timeout.
	ctl stop s --timeout 1 >/dev/null
	wait_state s stopped 30
	expect_field s last_exit '^stopped$'
	expect_field s reason 'ignored the power button'
	[ $((SECONDS - t0)) -ge 1 ] || nv_die "stopped before the graceful timeout"
	[ -z "$(ps -o pid= --ppid "$SHIM_PID")" ] || nv_die "a VM process is left"
	shim_alive
}

case_killed_child() {
	ctl create k --kernel "$GUEST_SPIN" --memory 64 --start >/dev/null
	wait_state k running
	local pid
	pid=$(vm_pid) || nv_die "no VM process"
	kill -KILL "$pid"
	wait_state k failed
	expect_field k last_exit '^crashed$'
	expect_field k reason 'signal 9'
	shim_alive
	# The daemon still serves.
	ctl create n --kernel "$GUEST_MARKER" --memory 32 --start >/dev/null
	wait_state n stopped
	expect_field n last_exit '^debug_exit$'
}

case_agent_restart() {
	ctl create r --kernel "$GUEST_SPIN" --memory 64 --start >/dev/null
	wait_state r running
	local pid
	pid=$(vm_pid) || nv_die "no VM process"
	kill -KILL "$AGENT_PID"
	nv_wait_exit "$AGENT_PID" 5 || true
	sleep 1
	nv_alive "$pid" || nv_die "the VM stopped while the agent was away"
	start_agent 2
	# The agent restores the VM as it last knew it; the shim's Hello is
	# what says it still runs.
	for _ in $(seq 150); do
		ctl hosts | grep -Eq '^host-it +yes .* 1 +1 ' && break
		sleep 0.1
	done
	ctl hosts | grep -Eq '^host-it +yes .* 1 +1 ' ||
		nv_die "host not back with its VM: $(ctl hosts)"
	expect_field r state '^running$'
	[ "$(vm_pid)" = "$pid" ] || nv_die "the VM process changed"
	ctl stop r --force >/dev/null
	wait_state r stopped
}

case_two_vms() {
	ctl create a --kernel "$GUEST_SPIN" --memory 64 --start >/dev/null
	ctl create b --kernel "$GUEST_SPIN" --memory 64 --start >/dev/null
	wait_state a running
	wait_state b running
	[ "$(ps -o pid= --ppid "$SHIM_PID" | wc -l)" -eq 2 ] || nv_die "not two VM processes"
	ctl stop a --force >/dev/null
	wait_state a stopped
	[ "$(field b state)" = running ] || nv_die "b stopped with a"
	ctl delete b --force >/dev/null
	for _ in $(seq 50); do
		[ -z "$(ps -o pid= --ppid "$SHIM_PID")" ] && break
		sleep 0.1
	done
	[ -z "$(ps -o pid= --ppid "$SHIM_PID")" ] || nv_die "b's VM process is left"
	shim_alive
}

case_bad_kernel() {
	# An ELF header (the agent takes it for a kernel) and nothing after it.
	head -c 120 "$GUEST_MARKER" >"$NV_TMP/truncated.elf"
	ctl create g --kernel "$NV_TMP/truncated.elf" --memory 32 --start >/dev/null
	wait_state g failed
	expect_field g last_exit '^boot_error$'
	expect_field g reason '^boot: kernel'
	shim_alive
}

case_reset_loop() {
	nv_require_file "$GUEST_RESET"
	ctl create l --kernel "$GUEST_RESET" --memory 32 --start >/dev/null
	wait_state l failed 60
	expect_field l last_exit '^reboot$'
	expect_field l reason 'not booting it again'
	expect_field l boots '^11$'
}

case_run() {
	local rc=0
	"$NICVISOR_SHIM" run --kernel "$GUEST_MARKER" --debug-exit >"$NV_TMP/run.out" || rc=$?
	[ "$rc" -eq 16 ] || nv_die "run: status $rc, expected 16 (the guest's debug exit)"
	grep -qx NICVISOR-TINY-READY "$NV_TMP/run.out" || nv_die "run: no marker on stdout"
	rc=0
	"$NICVISOR_SHIM" run --kernel "$GUEST_MARKER" --debug-exit --until TINY-READY \
		>/dev/null || rc=$?
	[ "$rc" -eq 0 ] || nv_die "run --until: status $rc"
	rc=0
	"$NICVISOR_SHIM" run --kernel "$GUEST_SPIN" --timeout 0.5 >/dev/null || rc=$?
	[ "$rc" -eq 124 ] || nv_die "run --timeout: status $rc"
}

# proc_field PID KEY: a line's value in /proc/PID/status (tabs squeezed).
proc_field() { awk -v k="$2:" '$1 == k { $1 = ""; print substr($0, 2) }' "/proc/$1/status"; }

# The vCPU thread of VM process PID.
vcpu_tid() {
	local t
	for t in /proc/"$1"/task/*; do
		[ "$(cat "$t/comm")" = vcpu0 ] && basename "$t" && return 0
	done
	return 1
}

case_sandbox() {
	nv_require_file "$SYS_INJECT"
	nv_wait_log "$NV_TMP/shim.log" 'seccomp sandbox \(enforced\), uid 65534' 1 "$SHIM_PID" ||
		nv_die "the shim did not say its sandbox: $(grep 'VM processes' "$NV_TMP/shim.log")"
	ctl create a --kernel "$GUEST_SPIN" --memory 64 --start >/dev/null
	ctl create b --kernel "$GUEST_SPIN" --memory 64 --start >/dev/null
	wait_state a running
	wait_state b running
	local pa pb conn fds f tid out
	pa=$(field a host_pid)
	pb=$(field b host_pid)
	# Each VM process: filtered, no new privileges, nobody, its own fds.
	for p in "$pa" "$pb"; do
		[ "$(proc_field "$p" Seccomp)" = 2 ] || nv_die "VM process $p: no seccomp filter"
		[ "$(proc_field "$p" NoNewPrivs)" = 1 ] || nv_die "VM process $p: no no_new_privs"
		[ "$(proc_field "$p" Uid)" = "65534 65534 65534 65534" ] ||
			nv_die "VM process $p: uids $(proc_field "$p" Uid)"
		[ "$(proc_field "$p" Gid)" = "65534 65534 65534 65534" ] ||
			nv_die "VM process $p: gids $(proc_field "$p" Gid)"
		[ "$(proc_field "$p" Groups)" = "" ] ||
			nv_die "VM process $p: groups $(proc_field "$p" Groups)"
		fds=$(for f in /proc/"$p"/fd/*; do readlink "$f"; done)
		while read -r f; do
			case $f in
			/dev/null | /dev/kvm | anon_inode:kvm-vm | anon_inode:kvm-vcpu:* | \
				anon_inode:\[eventfd\] | socket:* | /proc/"$p"/status | \
				"/memfd:nicvisor-guest-ram (deleted)" | \
				"/memfd:nicvisor-image (deleted)" | "$NV_TMP"/shim.log) ;;
			*) nv_die "VM process $p holds $f (all: $(echo $fds))" ;;
			esac
		done <<<"$fds"
		[ "$(grep -c '^socket:' <<<"$fds")" -le 2 ] ||
			nv_die "VM process $p: more sockets than its control and connector: $(echo $fds)"
		# Its connector: root, but filtered and without new privileges.
		conn=$(ps -o pid= --ppid "$p" | tr -d ' ')
		[ -n "$conn" ] || nv_die "VM process $p has no connector"
		[ "$(cat /proc/"$conn"/comm)" = nv-vm-connect ] || nv_die "connector $conn: $(cat /proc/"$conn"/comm)"
		[ "$(proc_field "$conn" Seccomp)" = 2 ] || nv_die "connector $conn: no seccomp filter"
		[ "$(proc_field "$conn" NoNewPrivs)" = 1 ] || nv_die "connector $conn: no no_new_privs"
	done
	# A call outside the list from a's vCPU thread: a dies of SIGSYS,
	# and only a.
	tid=$(vcpu_tid "$pa") || nv_die "no vCPU thread in $pa"
	out=$("$SYS_INJECT" "$tid") || nv_die "sys_inject failed: $out"
	[ "$out" = "killed by signal 31" ] || nv_die "a's vCPU thread: $out, expected SIGSYS"
	wait_state a failed
	expect_field a last_exit '^crashed$'
	expect_field a reason 'signal 31'
	sleep 0.5
	expect_field b state '^running$'
	[ "$(field b host_pid)" = "$pb" ] || nv_die "b's process changed"
	nv_alive "$pb" || nv_die "b's process is gone"
	shim_alive
	# The host goes on: a starts again, in a new, sandboxed process.
	ctl start a >/dev/null
	wait_state a running
	[ "$(proc_field "$(field a host_pid)" Seccomp)" = 2 ] || nv_die "a restarted unfiltered"
}

# The same call without the sandbox runs and harms nothing: what kills a
# in case_sandbox is the filter, not the injection.
case_sandbox_off() {
	nv_require_file "$SYS_INJECT"
	nv_wait_log "$NV_TMP/shim.log" 'no sandbox' 1 "$SHIM_PID" ||
		nv_die "the shim did not warn that its VM processes run unsandboxed"
	ctl create a --kernel "$GUEST_SPIN" --memory 64 --start >/dev/null
	wait_state a running
	local pa tid out
	pa=$(field a host_pid)
	[ "$(proc_field "$pa" Seccomp)" = 0 ] || nv_die "filtered with --vm-sandbox off"
	[ "$(proc_field "$pa" Uid)" = "0 0 0 0" ] || nv_die "uids $(proc_field "$pa" Uid)"
	tid=$(vcpu_tid "$pa") || nv_die "no vCPU thread in $pa"
	out=$("$SYS_INJECT" "$tid") || nv_die "sys_inject failed: $out"
	[[ $out =~ ^returned\ [0-9]+$ ]] || nv_die "a's vCPU thread: $out, expected an fd"
	sleep 0.5
	expect_field a state '^running$'
	[ "$(field a host_pid)" = "$pa" ] || nv_die "a's process changed"
	ctl stop a --force >/dev/null
	wait_state a stopped
}

case "$case_name" in
run) ;;
sandbox-off)
	start_agent
	start_shim --vm-sandbox off
	;;
*)
	start_agent
	start_shim
	;;
esac
"case_${case_name//-/_}"
nv_log "ok"
