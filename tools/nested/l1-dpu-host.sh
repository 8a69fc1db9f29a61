#!/bin/sh
# A payload for the nested test host (run-l1.sh -s) that makes L1 the DPU
# and the host at once: a VM's NIC or disk is a vhost-user socket and its
# guest RAM a memfd, and both need one kernel. nicvisor-dpu serves its API
# and events on TCP ports 7000 and 7001 (forward ports to them) and runs
# its DPDK dataplane without hugepages; nicvisor-shim dials it over ipc://.
# Their logs go to L1's console. Used by tests/integration/nested/net-e2e.sh,
# blk-e2e.sh and make demo; add nicvisor-dpu, nicvisor-shim and DPDK's
# mempool_ring driver (at its own path) with run-l1.sh -a.
# Prints NV-DPU-HOST-UP once both run. Environment: NV_DP_MEM (MB for DPDK,
# default 192).
#
# One-line commands on TCP port 7070 (forward a port to it), answered on
# L1's console:
#   kill-all       SIGKILL the agent, the shim daemon and every VM process
#                  (NV-CTL-KILLED=...)
#   sha FILE BYTES SHA-256 of FILE's first BYTES bytes (NV-CTL-SHA=...)
#   start          start the agent and the shim again (NV-CTL-STARTED)
set -u
d=/tmp/nv
mkdir -p "$d/state" "$d/vhost" /var/run/dpdk

start() {
	nicvisor-dpu --api tcp://0.0.0.0:7000 --events tcp://0.0.0.0:7001 \
		--southbound "ipc://$d/host.sock" --state-dir "$d/state" --vhost-dir "$d/vhost" \
		--dp-no-huge --dp-mem "${NV_DP_MEM:-192}" --dp-idle-sleep &
	agent=$!
	i=0
	until [ -S "$d/host.sock" ]; do
		i=$((i + 1))
		if [ $i -gt 600 ]; then
			echo "NV-DPU-HOST-FAILED the agent did not listen"
			exit 3
		fi
		sleep 0.1
	done
	nicvisor-shim --agent "ipc://$d/host.sock" --host-id l1 &
	shim=$!
}

start
echo "NV-DPU-HOST-UP"
# Until the test stops L1.
while :; do
	line=$(nc -l -p 7070 2>/dev/null) || continue
	# shellcheck disable=SC2086
	set -- $line
	case "${1:-}" in
	kill-all)
		vms=$(ps | awk '/nicvisor-shim vm/ && !/awk/ { printf "%s ", $1 }')
		kill -9 "$agent" "$shim" $vms 2>/dev/null
		wait "$agent" "$shim" 2>/dev/null
		rm -f "$d/host.sock"
		echo "NV-CTL-KILLED=$agent $shim $vms"
		;;
	sha) echo "NV-CTL-SHA=$(head -c "$3" "$2" | sha256sum | cut -d' ' -f1)" ;;
	start)
		start
		echo "NV-CTL-STARTED"
		;;
	esac
done
