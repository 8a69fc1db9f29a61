#!/bin/bash
# First light, end to end: nicvisorctl -> nicvisor-dpu (here) -> southbound
# over TCP -> nicvisor-shim in the nested test host (L1) -> the Debian guest
# under L1's KVM. One scenario per run: first-light.sh SCENARIO.
set -eu
. "$(dirname "$0")/../lib/nv-test.sh"
. "$(dirname "$0")/nested.sh"

scenario=${1:?usage: first-light.sh SCENARIO}

case $scenario in
boot-1vcpu-stop)
	# Boot with 1 vCPU; StopVm presses the ACPI power button and the
	# guest powers itself off well before the forced stop would.
	fl_start
	fl_create vm1 1
	fl_ready vm1
	fl_guest_info vm1 | grep -q ' cpus=1 ' || nv_die "expected 1 CPU: $(fl_guest_info vm1)"
	[ "$(fl_field vm1 state)" = running ] || nv_die "vm1 is not running"
	t0=$(date +%s)
	fl_ctl stop vm1 --timeout 60 >/dev/null
	fl_wait_state vm1 stopped 70
	[ $(($(date +%s) - t0)) -lt 30 ] || nv_die "graceful stop took the forced path"
	[ "$(fl_field vm1 last_exit)" = poweroff ] || nv_die "vm1 ended by $(fl_field vm1 last_exit)"
	fl_ctl console vm1 | grep -q 'NICVISOR-GUEST-POWEROFF reason=power-button' ||
		nv_die "the guest did not see the power button"
	;;
boot-2vcpu-poweroff)
	# Boot with 2 vCPUs (both online); the guest powers itself off.
	fl_start
	fl_create vm2 2 nv.poweroff
	fl_ready vm2
	info=$(fl_guest_info vm2)
	echo "$info" | grep -q ' cpus=2 online=0-1 ' || nv_die "expected 2 CPUs online: $info"
	fl_wait_state vm2 stopped 60
	[ "$(fl_field vm2 last_exit)" = poweroff ] || nv_die "vm2 ended by $(fl_field vm2 last_exit)"
	;;
two-vms)
	# Two VMs at once on the same host, each with its own process.
	FL_VM_MIB=192
	fl_start
	fl_create a 1
	fl_create b 1
	fl_ready a
	fl_ready b
	[ "$(fl_field a state)" = running ] && [ "$(fl_field b state)" = running ] ||
		nv_die "both VMs should run at once"
	pa=$(fl_field a host_pid)
	pb=$(fl_field b host_pid)
	[ "$pa" != 0 ] && [ "$pb" != 0 ] && [ "$pa" != "$pb" ] ||
		nv_die "expected two VM processes, got $pa and $pb"
	fl_ctl stop a --force >/dev/null
	fl_ctl stop b --force >/dev/null
	fl_wait_state a stopped 30
	fl_wait_state b stopped 30
	;;
child-killed)
	# SIGKILL a VM's process on the host: the VM is reported failed, the
	# shim daemon survives and boots the next VM.
	fl_start
	fl_create vm1 1
	fl_ready vm1
	pid=$(fl_field vm1 host_pid)
	[ "$pid" -gt 1 ] || nv_die "no host pid for vm1"
	fl_l1 kill "$pid"
	fl_wait_state vm1 failed 30
	[ "$(fl_field vm1 last_exit)" = crashed ] || nv_die "vm1 ended by $(fl_field vm1 last_exit)"
	fl_field vm1 reason | grep -qi 'signal 9\|SIGKILL\|killed' ||
		nv_die "reason does not name the signal: $(fl_field vm1 reason)"
	fl_create vm2 1
	fl_ready vm2
	;;
agent-restart)
	# Kill the agent while a guest runs: the guest keeps running, the
	# shim reattaches, the VM shows as running again and its console
	# keeps flowing.
	fl_start
	fl_create vm1 1 'nv.cmd="while :; do echo tick-$((n=n+1)); sleep 0.2; done"'
	fl_ready vm1
	fl_ctl console vm1 --until 'tick-3' --timeout 30 >/dev/null || nv_die "no ticks"
	fl_agent_restart
	fl_wait_state vm1 running 30
	# The restarted agent lost the console text, not the offset: a tick
	# it shows was printed after the restart (--until is a substring).
	fl_ctl console vm1 --until 'tick-' --timeout 30 >"$NV_TMP/after.console" ||
		nv_die "no console output after the agent restart"
	[ "$(fl_field vm1 host_pid)" != 0 ] || nv_die "vm1 lost its process"
	;;
*)
	nv_die "unknown scenario $scenario"
	;;
esac
nv_log "$scenario: ok"
