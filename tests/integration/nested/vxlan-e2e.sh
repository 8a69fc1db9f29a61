#!/bin/bash
# The overlay end to end (issue 4): two DPUs, each an agent and a shim in a
# network namespace of the nested test host (L1), joined by a veth pair as
# the underlay; an overlay network (VXLAN VNI 7001) on both; a Debian guest
# on each; guest A pings guest B across the hosts (l1-vxlan.sh). Then the
# uplinks' counters must show the traffic encapsulated and decapsulated on
# both sides, and no overlay drop but for the first frames' ARP wait.
set -eu
export NV_TEST_NAME=${NV_TEST_NAME:-nested-vxlan-e2e}
. "$(dirname "$0")/../lib/nv-test.sh"

NV_SHIM=${NV_SHIM:-$NV_BUILD/host-shim/nicvisor-shim}
NV_DPU=${NV_DPU:-$NV_BUILD/dpu/nicvisor-dpu}
NV_CTL=${NV_CTL:-$NV_BUILD/tools/nicvisorctl/nicvisorctl}
nv_require_images
nv_require_cmd ldd ip
nv_require_file "$NV_SHIM" "$NV_DPU" "$NV_CTL"

# DPDK's drivers the EAL loads from its plugin directory: the mempool and
# the af_packet uplink (run-l1.sh brings what the programs link).
pmd=$(nv_dpdk_mempool_driver "$NV_DPU") || nv_skip "cannot find DPDK's mempool_ring driver"
afp=$(readlink -f "$(dirname "$pmd")"/librte_net_af_packet.so.*.* 2>/dev/null | head -n 1)
[ -f "$afp" ] || nv_skip "cannot find DPDK's af_packet driver"
veth=$NV_IMAGES/kernel-root/lib/modules/$(cat "$NV_IMAGES/kernel.version")/kernel/drivers/net/veth.ko
[ -f "$veth" ] || nv_skip "no veth module in the guest kernel's tree"
# iproute2 for network namespaces (busybox's ip has none).
iproute=$(readlink -f "$(command -v ip)")

t0=$(date +%s.%N)
nv_l1_start l1 -a "$NV_SHIM" -a "$NV_DPU" -a "$NV_CTL" -a "$pmd:$pmd" -a "$afp:$afp" \
	-a "$veth:/payload/veth.ko" -a "$iproute:/payload/bin/ip" \
	-a "$NV_IMAGES/vmlinux" -a "$NV_IMAGES/initramfs.cpio.gz" \
	-e "GUEST_CMDLINE=$NV_GUEST_CMDLINE pci=noearly" \
	-s "$(dirname "$0")/l1-vxlan.sh" -m 2048 -p 2 -t 300
nv_l1_wait_ready l1 90
rc=0
nv_l1_wait l1 300 || rc=$?
t1=$(date +%s.%N)
grep -a "NV-VX" "$NV_L1_LOG" | grep -v "NV-VX-STATS" >&2 || true
[ "$rc" = 0 ] || nv_die "the L1 payload failed (status $rc; see $NV_L1_LOG)"
grep -aq "NV-VX PING-OK" "$NV_L1_LOG" || nv_die "guest A did not ping guest B"

# The uplinks' counters: each side encapsulated and decapsulated; only the
# first frames may wait for ARP (vtep_unresolved); nothing malformed.
python3 - "$NV_L1_LOG" <<'PY' || nv_die "the uplink counters do not show the overlay"
import json, re, sys
text = open(sys.argv[1], errors="replace").read()
for n in (1, 2):
    m = re.search(r"NV-VX-STATS%d (\{.*\})" % n, text)
    assert m, "no counters of agent %d" % n
    ports = json.loads(m.group(1))["ports"]
    up = [p for p in ports if p["kind"] == "uplink"]
    assert len(up) == 1, ports
    up = up[0]
    print("agent %d uplink: encap %d decap %d drops %s" % (
        n, up["vxlan_encap"], up["vxlan_decap"],
        {k: v for k, v in up["drops"].items() if v}), file=sys.stderr)
    # 3 echo requests or replies each way, and ARP between the guests.
    assert up["vxlan_encap"] >= 4 and up["vxlan_decap"] >= 4, up
    bad = {k: v for k, v in up["drops"].items()
           if v and k in ("bad_vxlan", "unknown_vni", "too_big", "truncated", "bad_length",
                          "bad_header")}
    assert not bad, "agent %d uplink dropped %s" % (n, bad)
PY
nv_log "guests on two DPUs pinged across the VXLAN overlay in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s (L1 and both boots included)"
nv_log "vxlan-e2e: ok"
