/* SPDX-License-Identifier: MIT */
/*
 * The device tree an arm64 guest kernel boots with: a pure function from a
 * description of the machine to a flattened device tree blob (DTB), built
 * with libfdt's sequential writer. No KVM here and no aarch64 code: the
 * unit tests run on any host and decode the blob with libfdt and dtc.
 *
 * Bindings followed (Documentation/devicetree/bindings in Linux):
 * memory (device_type "memory"), cpus/cpu (enable-method "psci", reg the
 * MPIDR affinity bits), arm/psci.yaml ("arm,psci-0.2", method "hvc"),
 * interrupt-controller/arm,gic-v3.yaml (with its "arm,gic-v3-its" child)
 * and arm,gic.yaml, timer/arm,arch_timer.yaml, serial/8250.yaml
 * ("ns16550a" on MMIO), virtio/mmio.yaml, pci/host-generic-pci.yaml
 * ("pci-host-ecam-generic") with pci/pci-msi.txt (msi-map), chosen
 * (bootargs, linux,initrd-start/-end, stdout-path).
 */
#ifndef VMM_ARM64_FDT_H
#define VMM_ARM64_FDT_H

#include <stddef.h>
#include <stdint.h>

/* Booting.rst: the DTB must not exceed 2 MiB. */
#define VMM_ARM64_FDT_MAX_SIZE    (2u << 20)
#define VMM_ARM64_FDT_MAX_VCPUS   512
#define VMM_ARM64_FDT_MAX_VIRTIO  32
#define VMM_ARM64_FDT_MAX_BOOTARG 4096 /* COMMAND_LINE_SIZE on arm64 */

enum vmm_arm64_gic_version {
	VMM_ARM64_GIC_V2 = 2,
	VMM_ARM64_GIC_V3 = 3,
};

/* A virtio-mmio transport: its register window and its SPI (0-based, the
 * GIC's INTID is 32 + spi). */
struct vmm_arm64_fdt_virtio {
	uint64_t base, size;
	uint32_t spi;
};

struct vmm_arm64_fdt_conf {
	uint64_t mem_base, mem_size; /* RAM: one bank */
	uint32_t vcpus;              /* cpu@ nodes, 1..VMM_ARM64_FDT_MAX_VCPUS */

	enum vmm_arm64_gic_version gic;
	uint64_t gic_dist_base, gic_dist_size;
	/* GICv3: the redistributor region (all vCPUs); GICv2: the CPU
	 * interface. */
	uint64_t gic_redist_base, gic_redist_size;
	uint64_t gic_cpuif_base, gic_cpuif_size;

	/* A 16550A on MMIO, byte registers; the console (stdout-path). */
	uint64_t uart_base, uart_size;
	uint32_t uart_spi;
	uint32_t uart_clock_hz;

	/* GICv3 only: an ITS, the MSI controller of the PCI bus, as a child
	 * of the GIC node. its_size 0: none. */
	uint64_t its_base, its_size;
	/* A PCI host bridge with ECAM at pci_ecam_base for buses
	 * 0..pci_buses-1 and one 32-bit memory window (below 4 GiB) at the
	 * same address on both sides; every requester ID maps 1:1 to an ITS
	 * DeviceID (msi-map), so it needs the ITS. pci_buses 0: none. */
	uint64_t pci_ecam_base;
	uint32_t pci_buses;
	uint64_t pci_mmio_base, pci_mmio_size;

	const struct vmm_arm64_fdt_virtio *virtio; /* NULL when nvirtio is 0 */
	unsigned int nvirtio;

	const char *bootargs; /* NULL: none */
	/* initrd_size 0: no initrd. */
	uint64_t initrd_start, initrd_size;
};

/*
 * Write the DTB into buf (len bytes). 0, or -EINVAL for a description that
 * makes no machine (no vCPU, no RAM, a GIC version other than 2 or 3, an
 * initrd outside RAM, an ITS without a GICv3, a PCI bus without the ITS or
 * with its window above 4 GiB, ...) or -ENOSPC when buf is too small. On success
 * the blob is fdt_totalsize(buf) bytes, at most len.
 */
int vmm_arm64_fdt_build(const struct vmm_arm64_fdt_conf *conf, void *buf, size_t len);

/* The MPIDR_EL1 affinity KVM gives vCPU `index` (arch/arm64/kvm/
 * sys_regs.c, reset_mpidr): Aff0 the low 4 bits, Aff1 the next 8, Aff2 the
 * next 8. The cpu@ nodes carry it as their reg. */
uint64_t vmm_arm64_mpidr(uint32_t index);

/* Interrupt specifier constants of the GIC binding (the first and third
 * cells of an "interrupts" entry). */
#define VMM_ARM64_FDT_IRQ_SPI        0
#define VMM_ARM64_FDT_IRQ_PPI        1
#define VMM_ARM64_FDT_IRQ_EDGE_RISE  1
#define VMM_ARM64_FDT_IRQ_LEVEL_HIGH 4
#define VMM_ARM64_FDT_IRQ_LEVEL_LOW  8

/* The architected timer's PPIs (arm,arch_timer.yaml order: secure
 * physical, non-secure physical, virtual, hypervisor), as QEMU's virt
 * machine and KVM's defaults have them. */
#define VMM_ARM64_TIMER_PPI_SEC   13
#define VMM_ARM64_TIMER_PPI_PHYS  14
#define VMM_ARM64_TIMER_PPI_VIRT  11
#define VMM_ARM64_TIMER_PPI_HYP   10

#define VMM_ARM64_FDT_GIC_PHANDLE 1
#define VMM_ARM64_FDT_ITS_PHANDLE 2

/* pci-bus.yaml: the first cell of a child address, bits 25:24 the space
 * (2: 32-bit memory). The PCI ids a requester ID can have. */
#define VMM_ARM64_FDT_PCI_SPACE_MEM32 0x02000000u
#define VMM_ARM64_FDT_PCI_RIDS        0x10000u

#endif
