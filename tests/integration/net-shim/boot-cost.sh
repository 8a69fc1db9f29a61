#!/bin/bash
# What the PCI bus costs the Debian guest's boot, nested (a measurement,
# not a test: the figures come from software emulation and only compare
# command lines with each other). In one nested test host (L1) the guest
# boots under `nicvisor-shim run` and powers off, once per case:
#
#   off       no NIC, pci=off (first light's command line)
#   bus       no NIC, PCI on: the root bridge is there, no device on it
#   nic       a NIC (no backend: link down), PCI on
#   noearly   a NIC, pci=noearly (no early port-I/O config scans)
#
# and prints the guest's uptime at its ready marker, the VM's wall time
# and its exits. Usage: boot-cost.sh [ROUNDS] (default 2).
set -eu
export NV_TEST_NAME=net-shim-boot-cost
# shellcheck source-path=SCRIPTDIR source=../lib/nv-test.sh
. "$(dirname "$0")/../lib/nv-test.sh"
nv_require_images
shim=${NV_SHIM:-$NV_BUILD/host-shim/nicvisor-shim}
nv_require_file "$shim"

cat >"$NV_TMP/payload.sh" <<'PAYLOAD'
#!/bin/sh
set -u
up() { cut -d' ' -f1 /proc/uptime; }
r=0
while [ $r -lt "$ROUNDS" ]; do
	for c in off bus nic noearly; do
		nic="" extra=""
		case $c in
		off) extra="pci=off" ;;
		nic) nic="--nic 52:54:00:00:00:0a,/tmp/none.sock" ;;
		noearly) nic="--nic 52:54:00:00:00:0a,/tmp/none.sock" extra="pci=noearly" ;;
		esac
		t0=$(up)
		# shellcheck disable=SC2086
		nicvisor-shim run --kernel /payload/vmlinux --initrd /payload/initramfs.cpio.gz \
			--memory 160 --cmdline "$GUEST_CMDLINE $extra nv.poweroff" --timeout 120 \
			--log-level info $nic </dev/null >/tmp/console 2>/tmp/err
		rc=$?
		t1=$(up)
		ready=$(sed -n 's/.*NICVISOR-GUEST-INFO .*uptime=\([0-9.]*\).*/\1/p' /tmp/console)
		exits=$(sed -n 's/.*exits: \(.*\); \([0-9]*\) accesses.*/\1, \2 unclaimed/p' /tmp/err)
		echo "NET-COST case=$c rc=$rc ready_uptime=${ready:-none} wall=$t0..$t1 exits: $exits"
	done
	r=$((r + 1))
done
PAYLOAD
out=$NV_TMP/l1.log
nv_l1_run -a "$shim:/payload/bin/nicvisor-shim" -a "$NV_IMAGES/vmlinux" \
	-a "$NV_IMAGES/initramfs.cpio.gz" -s "$NV_TMP/payload.sh" -q -l "$out" -t 900 -m 1024 \
	-p 2 -e "GUEST_CMDLINE=$NV_GUEST_CMDLINE" -e "ROUNDS=${1:-2}" || nv_die "L1 failed"
grep '^NET-COST' "$out" | sed 's/\r$//'
