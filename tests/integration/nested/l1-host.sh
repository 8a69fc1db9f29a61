#!/bin/sh
# Runs inside the nested test host (L1) as the payload: L1 is "the host".
# Starts nicvisor-shim dialing the agent outside ($NV_AGENT), then serves
# one-line test commands on TCP port 7070 (the test forwards a port to it):
#   kill PID   SIGKILL a process in L1 (a VM's process, to test crashes)
#   ps         list processes on L1's console
nicvisor-shim --agent "$NV_AGENT" --host-id "${NV_HOST_ID:-l1}" &
shim=$!
echo "NV-SHIM-PID=$shim"
while kill -0 "$shim" 2>/dev/null; do
	line=$(nc -l -p 7070 2>/dev/null) || continue
	# shellcheck disable=SC2086
	set -- $line
	case "${1:-}" in
	kill) kill -9 "$2" && echo "NV-CTL-KILLED=$2" ;;
	ps) ps ;;
	esac
done
wait "$shim"
