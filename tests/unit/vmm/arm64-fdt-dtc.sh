#!/bin/sh
# The arm64 guest's device tree (vmm/arm64/fdt.c) read back by dtc, the
# reference decoder: test_vmm_arm64_fdt writes its sample machine's DTB
# (GICv3 with its ITS and PCI host bridge, then GICv2 without) and dtc must decode it without a warning and show
# every node the guest needs.
# Usage: arm64-fdt-dtc.sh [EXE_WRAPPER] TEST_VMM_ARM64_FDT
set -eu
command -v dtc >/dev/null || { echo "SKIP: dtc is missing (tools/deps.sh cross installs device-tree-compiler)" >&2; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

want() {
	grep -qF -- "$1" "$tmp/$2.dts" || { echo "FAIL: $2: no '$1' in the decoded tree" >&2; cat "$tmp/$2.dts" >&2; exit 1; }
}

for gic in v3 v2; do
	"$@" --write "$tmp/$gic.dtb" "$gic"
	# -W no-unit_address_vs_reg etc. stay on: dtc's checks are the point.
	dtc -q -I dtb -O dts -o "$tmp/$gic.dts" "$tmp/$gic.dtb" 2>"$tmp/$gic.err" || { cat "$tmp/$gic.err" >&2; exit 1; }
	dtc -I dtb -O dts -o /dev/null "$tmp/$gic.dtb" 2>"$tmp/$gic.warn"
	if [ -s "$tmp/$gic.warn" ]; then
		echo "FAIL: $gic: dtc warns:" >&2
		cat "$tmp/$gic.warn" >&2
		exit 1
	fi
	want 'compatible = "linux,dummy-virt";' "$gic"
	want 'memory@40000000 {' "$gic"
	want 'device_type = "memory";' "$gic"
	want 'reg = <0x00 0x40000000 0x00 0x20000000>;' "$gic"
	want 'cpu@0 {' "$gic"
	want 'cpu@1 {' "$gic"
	want 'enable-method = "psci";' "$gic"
	want 'compatible = "arm,psci-0.2\0arm,psci";' "$gic"
	want 'method = "hvc";' "$gic"
	want 'compatible = "arm,armv8-timer";' "$gic"
	want 'compatible = "ns16550a";' "$gic"
	want 'compatible = "virtio,mmio";' "$gic"
	want 'virtio_mmio@a000200 {' "$gic"
	want 'bootargs = "console=ttyS0 earlycon panic=-1";' "$gic"
	want 'stdout-path = "/uart@9000000";' "$gic"
	want 'linux,initrd-start = <0x00 0x50000000>;' "$gic"
	want 'linux,initrd-end = <0x00 0x50300011>;' "$gic"
	want 'interrupt-controller;' "$gic"
done
want 'compatible = "arm,gic-v3";' v3
want 'interrupts = <0x01 0x0d 0x08 0x01 0x0e 0x08 0x01 0x0b 0x08 0x01 0x0a 0x08>;' v3
want 'msi-controller@8080000 {' v3
want 'compatible = "arm,gic-v3-its";' v3
want '#msi-cells = <0x01>;' v3
want 'pcie@30000000 {' v3
want 'compatible = "pci-host-ecam-generic";' v3
want 'device_type = "pci";' v3
want 'bus-range = <0x00 0x0f>;' v3
want 'ranges = <0x2000000 0x00 0x10000000 0x00 0x10000000 0x00 0x20000000>;' v3
want 'msi-map = <0x00 0x02 0x00 0x10000>;' v3
grep -q 'pcie@' "$tmp/v2.dts" && { echo "FAIL: v2: a PCI bus without an ITS" >&2; exit 1; }
want 'compatible = "arm,cortex-a15-gic";' v2
want 'interrupts = <0x01 0x0d 0x308 0x01 0x0e 0x308 0x01 0x0b 0x308 0x01 0x0a 0x308>;' v2
echo "ok: dtc decodes the GICv3 and GICv2 trees without warnings"
