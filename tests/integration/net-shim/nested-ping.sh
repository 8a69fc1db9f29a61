#!/bin/bash
# Debian guests with virtio-net through our shim, nested: in the nested
# test host (L1, a real KVM) dpdk-testpmd serves two vhost-user ports
# forwarded to each other, and `nicvisor-shim run` boots two Debian
# guests with a NIC each; Linux's virtio_pci and virtio_net drive them
# (MSI-X), and guest A pings guest B through the backend. Also reports
# what the guests' boot took with the PCI bus present.
#
# Usage: nested-ping.sh [CMDLINE-EXTRA]   (default: pci=noearly)
# Environment: VCPUS_A (2), VCPUS_B (2), PAIRS (2). testpmd forwards rx queue i
# of one port to tx queue i of the other, so both guests need as many
# queue pairs in use (one per vCPU) for every frame to have a way through.
set -eu
export NV_TEST_NAME=${NV_TEST_NAME:-net-shim-nested-ping}
# shellcheck source-path=SCRIPTDIR source=../lib/nv-test.sh
. "$(dirname "$0")/../lib/nv-test.sh"

nv_require_images
nv_require_cmd dpdk-testpmd ldd
shim=${NV_SHIM:-$NV_BUILD/host-shim/nicvisor-shim}
nv_require_file "$shim"
extra=${1-pci=noearly}

# testpmd loads its drivers from its plugin directory: bring the ones
# this test uses (run-l1.sh brings the libraries they need).
testpmd=$(command -v dpdk-testpmd)
pmds=$(dirname "$(ldd "$testpmd" | awk '/librte_bus_vdev/ { print $3 }')")
[ -d "$pmds" ] || nv_skip "cannot find DPDK's driver directory"
args=(-a "$shim:/payload/bin/nicvisor-shim" -a "$testpmd:/payload/bin/dpdk-testpmd"
	-a "$NV_IMAGES/vmlinux" -a "$NV_IMAGES/initramfs.cpio.gz")
pmd_files=""
for pmd in librte_net_vhost librte_mempool_ring; do
	f=$(ls "$pmds/$pmd".so.* | head -n 1)
	args+=(-a "$f:$f")
	pmd_files="$pmd_files $f"
done

log=$NV_TMP/l1.log
rc=0
nv_l1_run "${args[@]}" -s "$(dirname "$0")/l1-net.sh" -q -l "$log" -t 500 -m 2048 -p 2 \
	-e "GUEST_CMDLINE=$NV_GUEST_CMDLINE $extra" -e "VCPUS_A=${VCPUS_A:-2}" \
	-e "VCPUS_B=${VCPUS_B:-2}" -e "PAIRS=${PAIRS:-2}" -e "PMDS=$pmd_files" || rc=$?
grep -E '^(NET-|A\||B\||A!|B!|T\|)' "$log" | grep -v '^[AB]| *$' | sed 's/\r$//' >"$NV_TMP/summary" || true
grep -E 'NET-L1|NET-GUEST|GUEST-INFO|CMD-EXIT|^[AB]!|^T\|' "$NV_TMP/summary" || true
if [ "$rc" != 0 ]; then
	# The guests' consoles are in the middle of the L1 log: their last
	# lines say how far each got (the test's log tail shows L1's end).
	for g in A B; do
		nv_log "guest $g's console, last lines:"
		grep "^$g| " "$NV_TMP/summary" | tail -n 15 >&2 || true
	done
	nv_die "L1 payload status $rc"
fi

s=$NV_TMP/summary
grep -q 'NET-GUEST-PING-OK' "$s" || nv_die "guest A could not ping guest B"
grep -q 'A| NET-GUEST mac=52:54:00:00:00:0a carrier=1' "$s" || nv_die "guest A's eth0 is not up"
# Linux's virtio-pci uses MSI-X: one vector for config and one per queue
# with a callback (the control queue has none); the function has no MSI
# capability, and sysfs names the mode of each vector.
n=$(grep -c 'NET-GUEST irq .*PCI-MSI.*virtio0-\(input\|output\)' "$s" || true)
[ "$n" -ge 2 ] || nv_die "guest A's NIC has $n MSI-X queue vectors"
grep -q 'NET-GUEST irq .*PCI-MSI.*virtio0-config' "$s" || nv_die "no config vector"
n=$(grep -c 'NET-GUEST msi_irq [0-9]* msix' "$s" || true)
[ "$n" -ge 3 ] || nv_die "sysfs shows $n MSI-X vectors"
# Kicks go to testpmd through KVM's ioeventfds; none exits to the shim.
grep -q 'A! .*nic 0: .* 0 kicks exited' "$s" ||
	nv_die "guest A's kicks exited to the shim: $(grep 'kicks exited' "$s")"
if [ "${VCPUS_A:-2}" -ge 2 ] && [ "${PAIRS:-2}" -ge 2 ]; then
	grep -q 'A! .*the guest uses 2 queue pairs' "$s" ||
		nv_die "guest A (2 vCPUs) did not enable 2 queue pairs"
fi
for g in A B; do
	up=$(sed -n "s/^$g| NICVISOR-GUEST-INFO .*uptime=\([0-9.]*\).*/\1/p" "$s" | head -n 1)
	[ -n "$up" ] || nv_die "guest $g did not report its boot"
	nv_log "guest $g uptime at the ready marker: ${up}s (cmdline extra: '$extra')"
done
nv_log "ok"
