/* SPDX-License-Identifier: MIT */
/*
 * The arm64 guest's device tree (fdt.h), with libfdt's sequential writer:
 * a node's properties come before its subnodes, and every call's error is
 * kept in one place (struct writer) so the builder reads top to bottom.
 */
#include <errno.h>
#include <inttypes.h>
#include <libfdt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "arm64/fdt.h"

/* GIC binding, arm,gic.yaml: for GICv2, a PPI's flags carry the mask of
 * the CPUs it goes to in bits 15:8. */
#define GICV2_PPI_CPU_MASK_SHIFT 8

struct writer {
	void *fdt;
	int err; /* the first libfdt error, 0 if none */
};

static void
check(struct writer *w, int rc)
{
	if (rc < 0 && w->err == 0)
		w->err = rc;
}

static void
begin(struct writer *w, const char *name)
{
	if (w->err == 0)
		check(w, fdt_begin_node(w->fdt, name));
}

static void
end(struct writer *w)
{
	if (w->err == 0)
		check(w, fdt_end_node(w->fdt));
}

static void
prop_str(struct writer *w, const char *name, const char *s)
{
	if (w->err == 0)
		check(w, fdt_property_string(w->fdt, name, s));
}

/* A string list: the strings one after the other with their NULs. */
static void
prop_strs(struct writer *w, const char *name, const char *a, const char *b)
{
	char buf[128];
	size_t la = strlen(a) + 1, lb = strlen(b) + 1;

	memcpy(buf, a, la);
	memcpy(buf + la, b, lb);
	if (w->err == 0)
		check(w, fdt_property(w->fdt, name, buf, (int)(la + lb)));
}

static void
prop_u32(struct writer *w, const char *name, uint32_t v)
{
	if (w->err == 0)
		check(w, fdt_property_u32(w->fdt, name, v));
}

static void
prop_u64(struct writer *w, const char *name, uint64_t v)
{
	if (w->err == 0)
		check(w, fdt_property_u64(w->fdt, name, v));
}

static void
prop_empty(struct writer *w, const char *name)
{
	if (w->err == 0)
		check(w, fdt_property(w->fdt, name, NULL, 0));
}

/* Cells in big-endian order, as every multi-cell property. */
static void
prop_cells(struct writer *w, const char *name, const uint32_t *cells, unsigned int n)
{
	fdt32_t be[16];

	for (unsigned int i = 0; i < n; i++)
		be[i] = cpu_to_fdt32(cells[i]);
	if (w->err == 0)
		check(w, fdt_property(w->fdt, name, be, (int)(n * sizeof(be[0]))));
}

/* reg of up to two ranges in the root's 2+2 cells. */
static void
prop_reg(struct writer *w, const uint64_t *ranges, unsigned int nranges)
{
	uint32_t cells[8];

	for (unsigned int i = 0; i < nranges; i++) {
		cells[4 * i + 0] = (uint32_t)(ranges[2 * i] >> 32);
		cells[4 * i + 1] = (uint32_t)ranges[2 * i];
		cells[4 * i + 2] = (uint32_t)(ranges[2 * i + 1] >> 32);
		cells[4 * i + 3] = (uint32_t)ranges[2 * i + 1];
	}
	prop_cells(w, "reg", cells, 4 * nranges);
}

static void
node_name(char *buf, size_t len, const char *name, uint64_t unit)
{
	snprintf(buf, len, "%s@%" PRIx64, name, unit);
}

uint64_t
vmm_arm64_mpidr(uint32_t index)
{
	return (uint64_t)(index & 0xf) | (uint64_t)((index >> 4) & 0xff) << 8 |
	       (uint64_t)((index >> 12) & 0xff) << 16;
}

static bool
in_ram(const struct vmm_arm64_fdt_conf *c, uint64_t start, uint64_t size)
{
	return start >= c->mem_base && size <= c->mem_size &&
	       start - c->mem_base <= c->mem_size - size;
}

static int
check_conf(const struct vmm_arm64_fdt_conf *c)
{
	if (c->vcpus == 0 || c->vcpus > VMM_ARM64_FDT_MAX_VCPUS || c->mem_size == 0 ||
	    c->mem_base + c->mem_size < c->mem_base)
		return -EINVAL;
	if (c->gic != VMM_ARM64_GIC_V2 && c->gic != VMM_ARM64_GIC_V3)
		return -EINVAL;
	/* GICv2 has 8 CPU interfaces. */
	if (c->gic == VMM_ARM64_GIC_V2 && c->vcpus > 8)
		return -EINVAL;
	if (c->nvirtio > VMM_ARM64_FDT_MAX_VIRTIO || (c->nvirtio > 0 && c->virtio == NULL))
		return -EINVAL;
	if (c->bootargs != NULL && strlen(c->bootargs) >= VMM_ARM64_FDT_MAX_BOOTARG)
		return -EINVAL;
	if (c->initrd_size > 0 && !in_ram(c, c->initrd_start, c->initrd_size))
		return -EINVAL;
	if (c->its_size > 0 && c->gic != VMM_ARM64_GIC_V3)
		return -EINVAL;
	if (c->pci_buses > 0 &&
	    (c->its_size == 0 || c->pci_buses > 256 || c->pci_mmio_size == 0 ||
	     c->pci_mmio_base > (1ull << 32) || c->pci_mmio_size > (1ull << 32) - c->pci_mmio_base))
		return -EINVAL;
	return 0;
}

static void
write_cpus(struct writer *w, const struct vmm_arm64_fdt_conf *c)
{
	char name[32];

	begin(w, "cpus");
	prop_u32(w, "#address-cells", 1);
	prop_u32(w, "#size-cells", 0);
	for (uint32_t i = 0; i < c->vcpus; i++) {
		uint64_t mpidr = vmm_arm64_mpidr(i);

		node_name(name, sizeof(name), "cpu", mpidr);
		begin(w, name);
		prop_str(w, "device_type", "cpu");
		prop_str(w, "compatible", "arm,arm-v8");
		prop_str(w, "enable-method", "psci");
		prop_u32(w, "reg", (uint32_t)mpidr);
		end(w);
	}
	end(w);
}

static void
write_gic(struct writer *w, const struct vmm_arm64_fdt_conf *c)
{
	char name[32];

	node_name(name, sizeof(name), "intc", c->gic_dist_base);
	begin(w, name);
	if (c->gic == VMM_ARM64_GIC_V3) {
		const uint64_t reg[] = { c->gic_dist_base, c->gic_dist_size, c->gic_redist_base,
					 c->gic_redist_size };

		prop_str(w, "compatible", "arm,gic-v3");
		prop_reg(w, reg, 2);
		prop_u32(w, "#redistributor-regions", 1);
	} else {
		const uint64_t reg[] = { c->gic_dist_base, c->gic_dist_size, c->gic_cpuif_base,
					 c->gic_cpuif_size };

		prop_str(w, "compatible", "arm,cortex-a15-gic");
		prop_reg(w, reg, 2);
	}
	prop_u32(w, "#interrupt-cells", 3);
	prop_empty(w, "interrupt-controller");
	prop_u32(w, "phandle", VMM_ARM64_FDT_GIC_PHANDLE);
	if (c->its_size == 0) {
		/* No child nodes: an interrupt-map's parent unit address has
		 * no cells. */
		prop_u32(w, "#address-cells", 0);
	} else {
		const uint64_t reg[] = { c->its_base, c->its_size };

		/* The ITS child is addressed as the root is. */
		prop_u32(w, "#address-cells", 2);
		prop_u32(w, "#size-cells", 2);
		prop_empty(w, "ranges");
		node_name(name, sizeof(name), "msi-controller", c->its_base);
		begin(w, name);
		prop_str(w, "compatible", "arm,gic-v3-its");
		prop_reg(w, reg, 1);
		prop_empty(w, "msi-controller");
		/* pci-msi.txt: the ITS takes the DeviceID as its one cell. */
		prop_u32(w, "#msi-cells", 1);
		prop_u32(w, "phandle", VMM_ARM64_FDT_ITS_PHANDLE);
		end(w);
	}
	end(w);
}

static void
write_timer(struct writer *w, const struct vmm_arm64_fdt_conf *c)
{
	static const uint32_t ppis[] = { VMM_ARM64_TIMER_PPI_SEC, VMM_ARM64_TIMER_PPI_PHYS,
					 VMM_ARM64_TIMER_PPI_VIRT, VMM_ARM64_TIMER_PPI_HYP };
	uint32_t flags = VMM_ARM64_FDT_IRQ_LEVEL_LOW, cells[12];

	if (c->gic == VMM_ARM64_GIC_V2)
		flags |= ((1u << c->vcpus) - 1) << GICV2_PPI_CPU_MASK_SHIFT;
	for (unsigned int i = 0; i < 4; i++) {
		cells[3 * i + 0] = VMM_ARM64_FDT_IRQ_PPI;
		cells[3 * i + 1] = ppis[i];
		cells[3 * i + 2] = flags;
	}
	begin(w, "timer");
	prop_str(w, "compatible", "arm,armv8-timer");
	prop_cells(w, "interrupts", cells, 12);
	prop_empty(w, "always-on");
	end(w);
}

static void
write_uart(struct writer *w, const struct vmm_arm64_fdt_conf *c, const char *name)
{
	const uint64_t reg[] = { c->uart_base, c->uart_size };
	const uint32_t irq[] = { VMM_ARM64_FDT_IRQ_SPI, c->uart_spi, VMM_ARM64_FDT_IRQ_LEVEL_HIGH };

	begin(w, name);
	prop_str(w, "compatible", "ns16550a");
	prop_reg(w, reg, 1);
	prop_cells(w, "interrupts", irq, 3);
	prop_u32(w, "clock-frequency", c->uart_clock_hz);
	prop_u32(w, "reg-shift", 0);
	prop_u32(w, "reg-io-width", 1);
	end(w);
}

static void
write_virtio(struct writer *w, const struct vmm_arm64_fdt_virtio *v)
{
	const uint64_t reg[] = { v->base, v->size };
	const uint32_t irq[] = { VMM_ARM64_FDT_IRQ_SPI, v->spi, VMM_ARM64_FDT_IRQ_EDGE_RISE };
	char name[32];

	node_name(name, sizeof(name), "virtio_mmio", v->base);
	begin(w, name);
	prop_str(w, "compatible", "virtio,mmio");
	prop_reg(w, reg, 1);
	prop_cells(w, "interrupts", irq, 3);
	prop_empty(w, "dma-coherent");
	end(w);
}

/* host-generic-pci.yaml: ECAM in reg, the buses it decodes, the memory
 * window (identity mapped), and pci-msi.txt's msi-map sending requester
 * IDs 0..0xffff to the ITS as DeviceIDs 0..0xffff. No interrupt-map: the
 * functions have no INTx pin, MSI-X only. dma-coherent: the devices'
 * DMA (the backends' accesses to guest RAM) is cache coherent. */
static void
write_pci(struct writer *w, const struct vmm_arm64_fdt_conf *c)
{
	const uint64_t reg[] = { c->pci_ecam_base, (uint64_t)c->pci_buses << 20 };
	const uint32_t bus_range[] = { 0, c->pci_buses - 1 };
	const uint32_t ranges[] = {
		VMM_ARM64_FDT_PCI_SPACE_MEM32, (uint32_t)(c->pci_mmio_base >> 32),
		(uint32_t)c->pci_mmio_base,    (uint32_t)(c->pci_mmio_base >> 32),
		(uint32_t)c->pci_mmio_base,    (uint32_t)(c->pci_mmio_size >> 32),
		(uint32_t)c->pci_mmio_size,
	};
	const uint32_t msi_map[] = { 0, VMM_ARM64_FDT_ITS_PHANDLE, 0, VMM_ARM64_FDT_PCI_RIDS };
	char name[32];

	node_name(name, sizeof(name), "pcie", c->pci_ecam_base);
	begin(w, name);
	prop_str(w, "compatible", "pci-host-ecam-generic");
	prop_str(w, "device_type", "pci");
	prop_reg(w, reg, 1);
	prop_cells(w, "bus-range", bus_range, 2);
	prop_u32(w, "#address-cells", 3);
	prop_u32(w, "#size-cells", 2);
	prop_cells(w, "ranges", ranges, 7);
	prop_cells(w, "msi-map", msi_map, 4);
	prop_empty(w, "dma-coherent");
	end(w);
}

static void
write_chosen(struct writer *w, const struct vmm_arm64_fdt_conf *c, const char *uart)
{
	char path[48];

	snprintf(path, sizeof(path), "/%s", uart);
	begin(w, "chosen");
	if (c->bootargs != NULL)
		prop_str(w, "bootargs", c->bootargs);
	prop_str(w, "stdout-path", path);
	if (c->initrd_size > 0) {
		prop_u64(w, "linux,initrd-start", c->initrd_start);
		prop_u64(w, "linux,initrd-end", c->initrd_start + c->initrd_size);
	}
	end(w);
}

int
vmm_arm64_fdt_build(const struct vmm_arm64_fdt_conf *c, void *buf, size_t len)
{
	struct writer w = { .fdt = buf };
	const uint64_t mem[] = { c->mem_base, c->mem_size };
	char name[32], uart[32];
	int rc;

	rc = check_conf(c);
	if (rc < 0)
		return rc;
	if (len > VMM_ARM64_FDT_MAX_SIZE)
		len = VMM_ARM64_FDT_MAX_SIZE;
	check(&w, fdt_create(buf, (int)len));
	if (w.err == 0)
		check(&w, fdt_finish_reservemap(buf));
	begin(&w, "");
	prop_str(&w, "compatible", "linux,dummy-virt");
	prop_str(&w, "model", "nicvisor arm64");
	prop_u32(&w, "#address-cells", 2);
	prop_u32(&w, "#size-cells", 2);
	prop_u32(&w, "interrupt-parent", VMM_ARM64_FDT_GIC_PHANDLE);

	node_name(name, sizeof(name), "memory", c->mem_base);
	begin(&w, name);
	prop_str(&w, "device_type", "memory");
	prop_reg(&w, mem, 1);
	end(&w);

	write_cpus(&w, c);

	begin(&w, "psci");
	prop_strs(&w, "compatible", "arm,psci-0.2", "arm,psci");
	prop_str(&w, "method", "hvc");
	end(&w);

	write_gic(&w, c);
	write_timer(&w, c);
	node_name(uart, sizeof(uart), "uart", c->uart_base);
	write_uart(&w, c, uart);
	for (unsigned int i = 0; i < c->nvirtio; i++)
		write_virtio(&w, &c->virtio[i]);
	if (c->pci_buses > 0)
		write_pci(&w, c);
	write_chosen(&w, c, uart);
	end(&w);
	if (w.err == 0)
		check(&w, fdt_finish(buf));
	if (w.err == -FDT_ERR_NOSPACE)
		return -ENOSPC;
	return w.err == 0 ? 0 : -EINVAL;
}
