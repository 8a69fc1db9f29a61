#!/bin/bash
# virtio-net end to end on this machine's /dev/kvm: the purpose-built
# driver (tests/guests/net.c) in a VM of `nicvisor-shim run --nic`, and
# dpdk-testpmd's net_vhost as the vhost-user backend, forwarding in
# macswap mode so every frame comes back to the guest.
#
# Usage: net-testpmd.sh SCENARIO NICVISOR_SHIM GUEST_DIR
#   basic    one queue pair: exchange, MSIs, masking, reset (net_basic)
#   relink   the backend comes after boot, goes away, comes back (net_relink)
#   hostile  two queue pairs, MQ commands, garbage rings (net_hostile);
#            testpmd and the shim must both survive
# Skips (77) without /dev/kvm or dpdk-testpmd. Every wait is bounded; the
# test ends what it started, by PID, and removes its files.
set -u
scenario=$1
shim=$2
guests=$3
name="net-$scenario"

skip() {
	echo "SKIP: $name: $*"
	exit 77
}
[ -r /dev/kvm ] && [ -w /dev/kvm ] || skip "no usable /dev/kvm"
command -v dpdk-testpmd >/dev/null 2>&1 || skip "dpdk-testpmd is not installed"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/nv-net.XXXXXX")
prefix="nvshim$$"
sock="$tmp/vhost.sock"
mac=52:54:00:12:34:56
pids=()

cleanup() {
	local p i
	for p in "${pids[@]}"; do
		kill -TERM "$p" 2>/dev/null || continue
		for i in $(seq 50); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if [ "${failed:-1}" != 0 ]; then
		for f in "$tmp"/*.log; do
			[ -f "$f" ] || continue
			echo "---- $f (last 40 lines)"
			tail -n 40 "$f"
		done
	fi
	rm -rf "$tmp" "/var/run/dpdk/$prefix"-*
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() {
	echo "FAIL: $name: $*"
	failed=1
	exit 1
}

# testpmd TAG QUEUES: a net_vhost server on $sock; waits until it forwards.
testpmd() {
	local tag=$1 queues=$2 i
	rm -f "$sock"
	timeout 180 dpdk-testpmd --no-huge -m 512 --no-shconf --no-pci --iova-mode=va \
		--file-prefix "$prefix-$tag" -l 0-1 \
		--vdev "net_vhost0,iface=$sock,client=0,queues=$queues" -- \
		--forward-mode=macswap --auto-start --nb-cores=1 --rxq="$queues" \
		--txq="$queues" --total-num-mbufs=16384 --stats-period 3600 \
		</dev/null >"$tmp/testpmd-$tag.log" 2>&1 &
	tp_pid=$!
	pids+=("$tp_pid")
	for i in $(seq 300); do
		grep -q "forwards packets" "$tmp/testpmd-$tag.log" && [ -S "$sock" ] && return 0
		kill -0 "$tp_pid" 2>/dev/null || die "testpmd $tag exited: $(tail -n 3 "$tmp/testpmd-$tag.log")"
		sleep 0.1
	done
	die "testpmd $tag did not start forwarding in 30 s"
}

stop_testpmd() {
	kill -TERM "$tp_pid" 2>/dev/null
	wait "$tp_pid" 2>/dev/null
	rm -f "$sock"
}

# shim GUEST VCPUS QUEUES: the VM in the background, console in vm.log,
# the shim's log in vm-err.log.
shim() {
	timeout 120 "$shim" run --kernel "$guests/$1.elf" --debug-exit --vcpus "$2" \
		--memory 64 --nic "$mac,$sock,$3" --timeout 100 --log-level info \
		</dev/null >"$tmp/vm.log" 2>"$tmp/vm-err.log" &
	vm_pid=$!
	pids+=("$vm_pid")
}

wait_console() {
	local i
	for i in $(seq $(($2 * 10))); do
		grep -q -- "$1" "$tmp/vm.log" && return 0
		kill -0 "$vm_pid" 2>/dev/null || die "the VM ended before '$1'"
		sleep 0.1
	done
	die "no '$1' on the console in $2 s"
}

# The VM's end: debug exit 0x10 is status 16, and the console says NET-OK.
wait_vm() {
	local rc=0
	wait "$vm_pid" || rc=$?
	grep -q '^NET-FAIL' "$tmp/vm.log" && die "$(grep '^NET-FAIL' "$tmp/vm.log")"
	[ "$rc" = 16 ] || die "the VM's exit status is $rc, not 16 (debug exit OK)"
	grep -q '^NET-OK' "$tmp/vm.log" || die "no NET-OK"
	grep -q "^NET mac=$mac" "$tmp/vm.log" ||
		grep -q "^NET offered=" "$tmp/vm.log" || die "the guest did not report its device"
}

alive() {
	kill -0 "$1" 2>/dev/null || die "$2 died"
}

case $scenario in
basic)
	testpmd a 1
	shim net_basic 1 1
	wait_vm
	grep -q "^NET mac=$mac" "$tmp/vm.log" || die "the guest saw another MAC"
	grep -q '^NET masking=0x1' "$tmp/vm.log" || die "masking not checked"
	grep -q '^NET reset-exchange=0x1' "$tmp/vm.log" || die "no exchange after reset"
	# The guest kicked its queues for every frame: KVM's ioeventfd took
	# each kick straight to testpmd, none exited to the shim.
	grep -q 'nic 0: link up, .* 0 kicks exited' "$tmp/vm-err.log" ||
		die "kicks exited to the shim: $(grep 'kicks exited' "$tmp/vm-err.log")"
	alive "$tp_pid" testpmd
	;;
relink)
	rm -f "$sock"
	shim net_relink 1 1
	wait_console NET-WAIT-UP 20
	grep -q "no backend yet" "$tmp/vm-err.log" || die "the shim did not say the backend is missing"
	testpmd a 1
	wait_console NET-WAIT-DOWN 30
	stop_testpmd
	wait_console NET-WAIT-UP-AGAIN 30
	testpmd b 1
	wait_vm
	[ "$(grep -c 'backend .* connected' "$tmp/vm-err.log")" -ge 2 ] ||
		die "the shim did not connect twice"
	grep -q 'link down' "$tmp/vm-err.log" || die "no link down"
	;;
hostile)
	testpmd a 2
	shim net_hostile 2 2
	wait_vm
	[ "$(grep -c 'control queue broken' "$tmp/vm-err.log")" -ge 4 ] ||
		die "the shim did not report its broken control queues"
	grep -q 'the guest uses 2 queue pairs' "$tmp/vm-err.log" || die "MQ not applied"
	alive "$tp_pid" "testpmd (fed garbage)"
	;;
*)
	echo "usage: $0 basic|relink|hostile SHIM GUEST_DIR" >&2
	exit 2
	;;
esac
failed=0
echo "ok: $name"
sed -n 's/^NET /  /p' "$tmp/vm.log" | head -n 40
