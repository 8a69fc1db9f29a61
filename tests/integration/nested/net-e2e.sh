#!/bin/bash
# VM networking through the product, end to end: nicvisorctl here talks to
# nicvisor-dpu in the nested test host (L1) over a forwarded TCP port; the
# agent's DPDK dataplane and nicvisor-shim share L1 (see l1-dpu-host.sh).
# Two Debian guests, one NIC each on one network: guest B serves 20 MB of
# random data over HTTP, guest A (2 vCPUs, so 2 queue pairs) pings B,
# fetches the data and both print its SHA-256, which must match. The port counters must show the traffic
# on both VM ports, and no frame dropped as bad.
#
# Environment: NV_E2E_MIB (20) megabytes to move.
set -eu
export NV_TEST_NAME=${NV_TEST_NAME:-nested-net-e2e}
. "$(dirname "$0")/../lib/nv-test.sh"
. "$(dirname "$0")/nested.sh"

nv_require_images
nv_require_cmd ldd
nv_require_file "$NV_SHIM" "$NV_DPU" "$NV_CTL"
mib=${NV_E2E_MIB:-20}

# The dataplane's EAL loads its mempool driver from DPDK's plugin
# directory: bring that driver (run-l1.sh brings what it links).
pmd=$(nv_dpdk_mempool_driver "$NV_DPU") || nv_skip "cannot find DPDK's mempool_ring driver"

api_port=$(nv_free_port)
ev_port=$(nv_free_port)
export NICVISOR_API="tcp://127.0.0.1:$api_port"
export NICVISOR_EVENTS="tcp://127.0.0.1:$ev_port"
nv_l1_start l1 -a "$NV_SHIM" -a "$NV_DPU" -a "$pmd:$pmd" \
	-a "$NV_IMAGES/vmlinux" -a "$NV_IMAGES/initramfs.cpio.gz" \
	-s "$NV_SRC/tools/nested/l1-dpu-host.sh" -m 1536 -p 2 -t 420 \
	-f "tcp:127.0.0.1:$api_port-:7000" -f "tcp:127.0.0.1:$ev_port-:7001"
nv_l1_wait_ready l1 90
nv_l1_wait_marker l1 '^NV-DPU-HOST-UP' 60 || nv_die "the agent in L1 did not start"
for i in $(seq 600); do
	fl_ctl hosts 2>/dev/null | grep -Eq '^l1 +yes' && break
	nv_alive "$NV_L1_PID" || nv_die "L1 ended before its shim registered"
	[ "$i" -lt 600 ] || nv_die "the shim in L1 did not register with the agent"
	sleep 0.2
done
nv_log "agent and shim up in L1"

fl_ctl network create net0 >/dev/null
# vm NAME VCPUS MAC IP CMD: create and start a VM with one NIC on net0
# (kernel and initrd paths are on the DPU, L1). The NIC gets a queue pair
# per vCPU.
vm() {
	fl_ctl create "$1" --vcpus "$2" --memory 256 --nic "net0,$3" \
		--kernel /payload/vmlinux --initrd /payload/initramfs.cpio.gz \
		--cmdline "$NV_GUEST_CMDLINE pci=noearly nv.ip=$4/24 nv.cmd64=$(printf '%s' "$5" | base64 -w0)" \
		--start >/dev/null
}
console_line() { # NAME PATTERN: the last console line of NAME matching PATTERN
	fl_ctl console "$1" | tr -d '\r' | grep -a -- "$2" | tail -n 1
}

t0=$(date +%s.%N)
vm b 1 52:54:00:0e:2e:0b 10.0.0.2 "mkdir /tmp/www
dd if=/dev/urandom of=/tmp/www/blob bs=1M count=$mib 2>/dev/null || exit 20
echo \"E2E-SERVE \$(sha256sum /tmp/www/blob)\"
exec httpd -f -p 8080 -h /tmp/www"
fl_ctl console b --until 'E2E-SERVE' --timeout 150 >/dev/null ||
	nv_die "guest B did not serve: it is $(fl_field b state) ($(fl_field b reason))"
nv_log "guest B serves $mib MB"

vm a 2 52:54:00:0e:2e:0a 10.0.0.1 "echo E2E-QUEUES \$(ls /sys/class/net/eth0/queues)
ping -c 3 -W 10 10.0.0.2 || exit 10
echo E2E-PING-OK
n=0
until wget -q -O /tmp/blob http://10.0.0.2:8080/blob; do
	n=\$((n + 1)); [ \$n -lt 5 ] || exit 11; sleep 1
done
echo \"E2E-FETCH bytes=\$(wc -c </tmp/blob) \$(sha256sum /tmp/blob)\""
fl_wait_state a stopped 240
t1=$(date +%s.%N)
fl_ctl console a --until 'NICVISOR-CMD-EXIT=' --timeout 10 >"$NV_TMP/a.console" || true
fl_ctl console b >"$NV_TMP/b.console" || true

status=$(console_line a 'NICVISOR-CMD-EXIT=' | sed 's/.*NICVISOR-CMD-EXIT=\([0-9]*\).*/\1/')
[ "$status" = 0 ] || nv_die "guest A's command ended with status '${status:-none}'"
grep -aq E2E-PING-OK "$NV_TMP/a.console" || nv_die "guest A did not ping B"
queues=$(console_line a E2E-QUEUES)
[ "$queues" = "E2E-QUEUES rx-0 rx-1 tx-0 tx-1" ] ||
	nv_die "guest A (2 vCPUs) should drive 2 queue pairs: $queues"
served=$(console_line b E2E-SERVE | awk '{ print $2 }')
fetched=$(console_line a E2E-FETCH | awk '{ print $3 }')
bytes=$(console_line a E2E-FETCH | sed 's/.*bytes=\([0-9]*\).*/\1/')
nv_log "B served sha256 $served; A fetched $bytes bytes, sha256 $fetched"
[ "$bytes" = $((mib * 1048576)) ] || nv_die "A fetched $bytes bytes, not $((mib * 1048576))"
[ -n "$served" ] && [ "$served" = "$fetched" ] || nv_die "the checksums differ"

# The counters: both VM ports carried the data, none dropped a frame.
fl_ctl stats >&2
fl_ctl --json stats >"$NV_TMP/stats.json"
python3 - "$NV_TMP/stats.json" "$mib" <<'PY' || nv_die "the port counters do not show the transfer"
import json, sys
ports = json.load(open(sys.argv[1]))["ports"]
want = int(sys.argv[2]) * 1048576
vm = {p["mac"]: p for p in ports if p["kind"] == "vhost"}
a, b = vm.get("52:54:00:0e:2e:0a"), vm.get("52:54:00:0e:2e:0b")
assert a and b, "no VM ports for both guests: %s" % ports
# The switch receives from B what it sends to A (and the reverse).
assert b["rx_bytes"] >= want and a["tx_bytes"] >= want, (a, b)
assert a["rx_packets"] > 0 and b["tx_packets"] > 0, (a, b)
# Frames flooded to a port whose guest was not up yet count as link_down,
# and a busy port may run out of buffers; nothing may be bad or spoofed.
for p in (a, b):
    bad = {k: v for k, v in p["drops"].items()
           if v and k in ("spoofed_src_mac", "bad_descriptor", "broken_queue", "malformed",
                          "truncated", "bad_length", "bad_header", "bad_fragment")}
    assert not bad, "%s dropped %s" % (p["port"], bad)
PY
nv_log "moved $mib MB between two guests through the DPU in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s (both boots included)"
fl_ctl stop b --force >/dev/null
fl_wait_state b stopped 30
nv_log "net-e2e: ok"
