#!/bin/sh
# Runs inside the nested test host (L1) as the payload of nested-ping.sh:
# dpdk-testpmd with two net_vhost ports forwarded to each other (io
# forwarding: a virtual wire), and two Debian guests under nicvisor-shim
# run, one NIC each on the two ports. Guest B configures 10.0.0.2 and
# waits; guest A configures 10.0.0.1, reports its NIC and pings B.
# Environment: GUEST_CMDLINE, VCPUS_A, VCPUS_B, PAIRS, PMDS (the driver
# files testpmd loads with -d).
# Console markers: NET-L1 ... lines, the guests' consoles prefixed "A| "
# and "B| ". Exit status: 0 when A's command reported 0.
set -u
t=/tmp/nvnet
mkdir -p "$t"
say() { echo "NET-L1 $*"; }

# wait_for FILE PATTERN SECS [PID]
wait_for() {
	i=0
	while [ $i -lt $(($3 * 10)) ]; do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		[ -z "${4:-}" ] || kill -0 "$4" 2>/dev/null || return 2
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

mkdir -p /var/run/dpdk
pmd_args=""
for f in $PMDS; do
	pmd_args="$pmd_args -d $f"
done
# shellcheck disable=SC2086
dpdk-testpmd $pmd_args --no-huge -m 256 --no-shconf --no-pci --iova-mode=va --file-prefix l1net \
	-l 0-1 --vdev "net_vhost0,iface=$t/a.sock,queues=$PAIRS" \
	--vdev "net_vhost1,iface=$t/b.sock,queues=$PAIRS" -- \
	--forward-mode=io --auto-start --disable-link-check --nb-cores=1 --rxq="$PAIRS" --txq="$PAIRS" \
	--total-num-mbufs=8192 --stats-period 3600 </dev/null >"$t/testpmd.log" 2>&1 &
tp=$!
# Its stdout is a file (buffered, and its timers are off under emulation):
# wait for the sockets instead; the shim connects whenever they listen.
i=0
until [ -S "$t/a.sock" ] && [ -S "$t/b.sock" ]; do
	if [ $i -ge 1200 ] || ! kill -0 $tp 2>/dev/null; then
		say "testpmd did not start"
		tail -n 20 "$t/testpmd.log"
		exit 3
	fi
	sleep 0.1
	i=$((i + 1))
done
say "testpmd listening up=$(cut -d' ' -f1 /proc/uptime)"

guest() { # NAME VCPUS MAC SOCKET CMDLINE [RUN-ARGS...]
	n=$1 v=$2 m=$3 s=$4 c=$5
	shift 5
	nicvisor-shim run --kernel /payload/vmlinux --initrd /payload/initramfs.cpio.gz \
		--vcpus "$v" --memory 160 --nic "$m,$s,$PAIRS" --cmdline "$c" --log-level info "$@" \
		</dev/null >"$t/$n.console" 2>"$t/$n.err"
}

t0=$(cut -d' ' -f1 /proc/uptime)
guest b "$VCPUS_B" 52:54:00:00:00:0b "$t/b.sock" "$GUEST_CMDLINE nv.ip=10.0.0.2/24" \
	--timeout 400 &
b=$!
wait_for "$t/b.console" NICVISOR-GUEST-INFO 240 $b
say "guest B ready rc=$? started=$t0 now=$(cut -d' ' -f1 /proc/uptime)"

# Guest A: what its driver made of the NIC, then the ping.
cmd='cat /sys/class/net/eth0/address > /dev/null || exit 10
echo "NET-GUEST mac=$(cat /sys/class/net/eth0/address) carrier=$(cat /sys/class/net/eth0/carrier) mtu=$(cat /sys/class/net/eth0/mtu)"
echo "NET-GUEST queues=$(ls /sys/class/net/eth0/queues | tr "\n" " ")"
echo "NET-GUEST features=$(cat /sys/bus/virtio/devices/virtio0/features)"
grep virtio /proc/interrupts | sed "s/^/NET-GUEST irq /"
ls /sys/bus/pci/devices | sed "s/^/NET-GUEST pci /"
for f in /sys/bus/pci/devices/0000:00:01.0/msi_irqs/*; do echo "NET-GUEST msi_irq $(basename $f) $(cat $f)"; done
ping -c 3 -W 10 10.0.0.2 || exit 11
echo NET-GUEST-PING-OK'
t1=$(cut -d' ' -f1 /proc/uptime)
guest a "$VCPUS_A" 52:54:00:00:00:0a "$t/a.sock" \
	"$GUEST_CMDLINE nv.ip=10.0.0.1/24 nv.cmd64=$(printf '%s' "$cmd" | base64 -w0)" \
	--timeout 300
rc_a=$?
say "guest A ended rc=$rc_a started=$t1 now=$(cut -d' ' -f1 /proc/uptime)"

kill "$b" 2>/dev/null
wait "$b"
for n in a b; do
	sed "s/^/$(echo $n | tr ab AB)| /" "$t/$n.console"
	grep -E "nicvisor.vmm.net|warn|error" "$t/$n.err" | sed "s/^/$(echo $n | tr ab AB)! /"
done
kill "$tp" 2>/dev/null
wait "$tp"
grep -E "RX-packets|TX-packets" "$t/testpmd.log" | tail -n 6 | sed 's/^/T| /'
status=$(sed -n 's/.*NICVISOR-CMD-EXIT=\([0-9]*\).*/\1/p' "$t/a.console" | tail -n 1)
say "guest A command status=${status:-none}"
[ "${status:-1}" = 0 ]
