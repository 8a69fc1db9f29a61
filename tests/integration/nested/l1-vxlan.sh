#!/bin/sh
# Runs inside the nested test host (L1) as the payload of vxlan-e2e.sh:
# two "machines" in two network namespaces joined by a veth pair (the
# underlay), each with its own nicvisor-dpu (DPDK dataplane, an af_packet
# uplink on its end of the veth, VTEP 10.98.0.N) and nicvisor-shim. An
# overlay network (VNI 7001) on both, listing the other as remote VTEP; a
# Debian guest on each, guest A pings guest B across the overlay.
#
# Environment: GUEST_CMDLINE (the guests' kernel command line).
# Console markers: "NV-VX ..." lines; "NV-VX PING-OK", NV-VX-STATS<N> (the
# agent's port counters, JSON), "NV-VX DONE". Exit status: 0 when A pinged B.
set -u
t=/tmp/nvvx
mkdir -p "$t" /var/run/dpdk /run/netns
# iproute2 (for namespaces), by its path: busybox's sh runs its own ip.
ip=/payload/bin/ip
say() { echo "NV-VX $*"; }
fail() {
	say "FAIL $*"
	for f in "$t"/*.log "$t"/*.console; do
		[ -e "$f" ] || continue
		echo "--- $f"
		tail -n 30 "$f"
	done
	exit 1
}
ctl() { # N ARGS...: nicvisorctl against agent N
	n=$1
	shift
	NICVISOR_API="ipc://$t/$n/api.sock" NICVISOR_EVENTS="ipc://$t/$n/events.sock" \
		nicvisorctl "$@"
}

insmod /payload/veth.ko 2>/dev/null || [ -d /sys/module/veth ] || fail "no veth module"
"$ip" link add vxa type veth peer name vxb || fail "cannot make a veth pair"
for n in 1 2; do
	ns=h$n
	dev=vxa
	[ "$n" = 1 ] || dev=vxb
	d=$t/$n
	mkdir -p "$d/state" "$d/vhost"
	"$ip" netns add "$ns" || fail "ip netns add $ns"
	"$ip" link set "$dev" netns "$ns"
	"$ip" netns exec "$ns" "$ip" link set lo up
	# 1500-byte guest frames plus 50 bytes of VXLAN, IPv4, UDP, Ethernet.
	"$ip" netns exec "$ns" "$ip" link set "$dev" mtu 1600 up
	"$ip" netns exec "$ns" nicvisor-dpu --api "ipc://$d/api.sock" \
		--events "ipc://$d/events.sock" --southbound "ipc://$d/host.sock" \
		--state-dir "$d/state" --vhost-dir "$d/vhost" --dataplane on --dp-no-huge \
		--dp-mem 128 --dp-idle-sleep --uplink "up0=net_af_packet0,iface=$dev" \
		--vtep "10.98.0.$n" >"$t/agent$n.log" 2>&1 &
	i=0
	until [ -S "$d/host.sock" ]; do
		i=$((i + 1))
		[ $i -le 600 ] || fail "agent $n did not listen"
		sleep 0.1
	done
	"$ip" netns exec "$ns" nicvisor-shim --agent "ipc://$d/host.sock" --host-id "$ns" \
		>"$t/shim$n.log" 2>&1 &
done
for n in 1 2; do
	i=0
	until ctl $n hosts 2>/dev/null | grep -Eq "^h$n +yes"; do
		i=$((i + 1))
		[ $i -le 600 ] || fail "shim $n did not register"
		sleep 0.1
	done
done
say "two agents and shims up uptime=$(cut -d' ' -f1 /proc/uptime)"

ctl 1 network create ov --vni 7001 --remote-vtep 10.98.0.2 >/dev/null || fail "network on 1"
ctl 2 network create ov --vni 7001 --remote-vtep 10.98.0.1 >/dev/null || fail "network on 2"
vm() { # N NAME MAC IP CMD
	ctl "$1" create "$2" --vcpus 1 --memory 256 --nic "ov,$3" \
		--kernel /payload/vmlinux --initrd /payload/initramfs.cpio.gz \
		--cmdline "$GUEST_CMDLINE nv.ip=$4/24 nv.cmd64=$(printf '%s' "$5" | base64 -w0)" \
		--start >/dev/null || fail "cannot start vm $2"
}
vm 2 b 52:54:00:7e:00:0b 10.0.0.2 "echo VX-B-UP; exec sleep 600"
ctl 2 console b --until VX-B-UP --timeout 150 >"$t/b.console" || fail "guest B did not come up"
say "guest B up uptime=$(cut -d' ' -f1 /proc/uptime)"
vm 1 a 52:54:00:7e:00:0a 10.0.0.1 "ping -c 3 -W 10 10.0.0.2 || exit 10
echo VX-PING-OK"
ctl 1 wait a --state stopped --timeout 200 >/dev/null || fail "guest A did not finish"
ctl 1 console a >"$t/a.console"
grep -a "VX-PING\|bytes from\|packet loss" "$t/a.console" | sed 's/^/NV-VX A| /'
grep -aq VX-PING-OK "$t/a.console" || fail "guest A did not ping B"
say "PING-OK uptime=$(cut -d' ' -f1 /proc/uptime)"
for n in 1 2; do
	echo "NV-VX-STATS$n $(ctl $n --json stats | tr -d '\n')"
done
ctl 2 stop b --force >/dev/null 2>&1
say "DONE"
exit 0
