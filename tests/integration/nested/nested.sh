# shellcheck shell=bash
# First-light tests in the nested test host: nicvisor-dpu runs here (this
# machine plays the DPU), nicvisor-shim runs inside L1 (L1 plays the host,
# with a real KVM) and boots the Debian guest. Sourced by the scenario
# scripts next to it, after tests/integration/lib/nv-test.sh.
#
#   fl_start                 agent + L1 with the shim; waits for the host
#   fl_ctl ARGS...           nicvisorctl against that agent
#   fl_create NAME VCPUS [CMDLINE-EXTRA]   create and start a VM
#   fl_ready NAME [SECS]     until the VM's console shows the guest marker
#   fl_field NAME FIELD      a field of `nicvisorctl --json get NAME`
#   fl_wait_state NAME STATE [SECS]
#   fl_l1 COMMAND            one command to L1's control port (l1-host.sh)
#   fl_agent_restart         SIGKILL the agent, start it again on its state

FL_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NV_SHIM=${NV_SHIM:-$NV_BUILD/host-shim/nicvisor-shim}
NV_DPU=${NV_DPU:-$NV_BUILD/dpu/nicvisor-dpu}
NV_CTL=${NV_CTL:-$NV_BUILD/tools/nicvisorctl/nicvisorctl}
# No PCI devices yet: pci=off spares the guest a config-space scan of all
# 256 buses (the AMD GART aperture probe), thousands of exits when nested.
FL_CMDLINE="$NV_GUEST_CMDLINE pci=off"
FL_MARKER=NICVISOR-GUEST-READY

export NICVISOR_API="ipc://$NV_TMP/api.sock"
export NICVISOR_EVENTS="ipc://$NV_TMP/events.sock"

fl_ctl() { "$NV_CTL" "$@"; }

fl_agent_start() {
	nv_bg "${1:-agent}" "$NV_DPU" --api "$NICVISOR_API" --events "$NICVISOR_EVENTS" \
		--southbound "tcp://127.0.0.1:$FL_PORT" --state-dir "$NV_TMP/state"
	FL_AGENT_PID=$NV_BG_PID
	nv_wait_port "$FL_PORT" 10 "$FL_AGENT_PID" || nv_die "the agent did not listen"
}

fl_start() {
	nv_require_images
	nv_require_file "$NV_SHIM" "$NV_DPU" "$NV_CTL"
	FL_PORT=$(nv_free_port)
	FL_CTL_PORT=$(nv_free_port)
	fl_agent_start
	nv_l1_start l1 -a "$NV_SHIM" -s "$FL_DIR/l1-host.sh" -m "${FL_L1_MIB:-1280}" -p 2 \
		-t "${FL_L1_TIMEOUT:-240}" -e "NV_AGENT=tcp://10.0.2.2:$FL_PORT" \
		-f "tcp:127.0.0.1:$FL_CTL_PORT-:7070"
	nv_l1_wait_ready l1 90
	local i
	for i in $(seq 300); do
		fl_ctl hosts 2>/dev/null | grep -Eq '^l1 +yes' && return 0
		nv_alive "$NV_L1_PID" || nv_die "L1 ended before its shim registered"
		sleep 0.2
	done
	nv_die "the shim in L1 did not register with the agent"
}

fl_create() {
	local name=$1 vcpus=$2 extra=${3:-}
	fl_ctl create "$name" --vcpus "$vcpus" --memory "${FL_VM_MIB:-256}" \
		--kernel "$NV_IMAGES/vmlinux" --initrd "$NV_IMAGES/initramfs.cpio.gz" \
		--cmdline "$FL_CMDLINE $extra" --start >/dev/null
}

fl_ready() {
	fl_ctl console "$1" --until "$FL_MARKER" --timeout "${2:-120}" \
		>"$NV_TMP/$1.console" && return 0
	# Say where it stuck: every VM's state and the host as the agent sees them.
	fl_ctl list >&2 || true
	fl_ctl hosts >&2 || true
	nv_die "vm $1 did not reach $FL_MARKER: it is $(fl_field "$1" state) ($(fl_field "$1" reason))"
}

fl_field() {
	fl_ctl --json get "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$2"
}

fl_wait_state() {
	fl_ctl wait "$1" --state "$2" --timeout "${3:-60}" >/dev/null ||
		nv_die "vm $1 is $(fl_field "$1" state) ($(fl_field "$1" reason)), not $2"
}

fl_l1() {
	local i
	for i in $(seq 50); do
		if { echo "$*" >"/dev/tcp/127.0.0.1/$FL_CTL_PORT"; } 2>/dev/null; then
			return 0
		fi
		sleep 0.2
	done
	nv_die "L1's control port did not take '$*'"
}

# fl_l1_ask MARKER SECS CMD...: send CMD to L1's control port until L1
# prints one more MARKER line (an ERE), within SECS. The port forward
# takes a connection even while L1's listener is between two commands,
# and then the command is lost: so it is sent again every 10 s. For
# commands that may run twice (kill-all, sha).
fl_l1_ask() {
	local marker=$1 secs=$2 n0 t=0
	shift 2
	n0=$(grep -ac -- "$marker" "$NV_TMP/l1.log" || true)
	while [ "$t" -lt "$secs" ]; do
		fl_l1 "$@"
		for _ in $(seq 20); do
			[ "$(grep -ac -- "$marker" "$NV_TMP/l1.log" || true)" -gt "$n0" ] && return 0
			sleep 0.5
		done
		t=$((t + 10))
		[ "$t" -lt "$secs" ] && nv_log "L1 did not answer '$*' in 10 s: sending it again"
	done
	return 1
}

fl_agent_restart() {
	kill -KILL "$FL_AGENT_PID"
	nv_wait_exit "$FL_AGENT_PID" 10 >/dev/null || true
	fl_agent_start agent-restarted
}

# The guest's summary line, printed right after the marker: cpus=N online=...
fl_guest_info() {
	fl_ctl console "$1" --until ' uptime=' --timeout 30 | grep -o 'NICVISOR-GUEST-INFO.*' |
		tail -n 1
}
