/* SPDX-License-Identifier: MIT */
/*
 * Unit tests: vmm/arm64/fdt.c. Each blob is decoded with libfdt and every
 * node the arm64 guest needs is checked property by property. Pure C: runs
 * natively (ASan/UBSan) and in the arm64 build under qemu-aarch64.
 *
 * `test_vmm_arm64_fdt --write FILE [v2]` writes the sample machine's DTB
 * for tests/unit/vmm/arm64-fdt-dtc.sh, which decodes it with dtc.
 */
#include <errno.h>
#include <libfdt.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arm64/fdt.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)

static const struct vmm_arm64_fdt_virtio sample_virtio[] = {
	{ .base = 0x0a000000, .size = 0x200, .spi = 16 },
	{ .base = 0x0a000200, .size = 0x200, .spi = 17 },
};

static struct vmm_arm64_fdt_conf
sample(enum vmm_arm64_gic_version gic, uint32_t vcpus)
{
	return (struct vmm_arm64_fdt_conf){
		.mem_base = 1 * GiB,
		.mem_size = 512 * MiB,
		.vcpus = vcpus,
		.gic = gic,
		.gic_dist_base = 0x08000000,
		.gic_dist_size = 0x10000,
		.gic_redist_base = 0x080a0000,
		.gic_redist_size = 0x20000ull * vcpus,
		.gic_cpuif_base = 0x08010000,
		.gic_cpuif_size = 0x2000,
		.uart_base = 0x09000000,
		.uart_size = 0x1000,
		.uart_spi = 1,
		.uart_clock_hz = 1843200,
		.virtio = sample_virtio,
		.nvirtio = 2,
		.bootargs = "console=ttyS0 earlycon panic=-1",
		.initrd_start = 1 * GiB + 256 * MiB,
		.initrd_size = 3 * MiB + 17,
	};
}

/* The ITS and the PCI host bridge of layout.h. */
static struct vmm_arm64_fdt_conf
with_pci(struct vmm_arm64_fdt_conf c)
{
	c.its_base = 0x08080000;
	c.its_size = 0x20000;
	c.pci_ecam_base = 0x30000000;
	c.pci_buses = 16;
	c.pci_mmio_base = 0x10000000;
	c.pci_mmio_size = 0x20000000;
	return c;
}

/* libfdt wants a blob 8-byte aligned (FDT_ERR_ALIGNMENT on arm64). */
static _Alignas(8) uint8_t blob[64 * 1024];

static void
build(const struct vmm_arm64_fdt_conf *c)
{
	memset(blob, 0xa5, sizeof(blob));
	assert_int_equal(vmm_arm64_fdt_build(c, blob, sizeof(blob)), 0);
	assert_int_equal(fdt_check_header(blob), 0);
	assert_true(fdt_totalsize(blob) <= sizeof(blob));
	/* Every structure offset and string inside the blob (libfdt >= 1.6). */
	assert_int_equal(fdt_check_full(blob, fdt_totalsize(blob)), 0);
}

static int
node(const char *path)
{
	int off = fdt_path_offset(blob, path);

	if (off < 0)
		fail_msg("no node %s: %s", path, fdt_strerror(off));
	return off;
}

static void
assert_str(int off, const char *name, const char *want)
{
	int len;
	const char *v = fdt_getprop(blob, off, name, &len);

	if (v == NULL)
		fail_msg("no property %s", name);
	assert_int_equal(len, (int)strlen(want) + 1);
	assert_string_equal(v, want);
}

static void
assert_cells(int off, const char *name, const uint32_t *want, int n)
{
	int len;
	const fdt32_t *v = fdt_getprop(blob, off, name, &len);

	if (v == NULL)
		fail_msg("no property %s", name);
	assert_int_equal(len, n * 4);
	for (int i = 0; i < n; i++) {
		if (fdt32_to_cpu(v[i]) != want[i])
			fail_msg("%s cell %d: 0x%x, want 0x%x", name, i, fdt32_to_cpu(v[i]),
				 want[i]);
	}
}

static void
assert_u32(int off, const char *name, uint32_t want)
{
	assert_cells(off, name, &want, 1);
}

static void
assert_empty(int off, const char *name)
{
	int len = -1;

	assert_non_null(fdt_getprop(blob, off, name, &len));
	assert_int_equal(len, 0);
}

static void
assert_u64(int off, const char *name, uint64_t want)
{
	int len;
	const void *v = fdt_getprop(blob, off, name, &len);
	fdt64_t be;

	if (v == NULL)
		fail_msg("no property %s", name);
	assert_int_equal(len, 8);
	/* A property is only 4-byte aligned in the blob. */
	memcpy(&be, v, sizeof(be));
	assert_int_equal(fdt64_to_cpu(be), want);
}

/* A reg of 2+2 cells per range. */
static void
assert_reg(int off, const uint64_t *ranges, int nranges)
{
	uint32_t cells[8];

	for (int i = 0; i < nranges; i++) {
		cells[4 * i + 0] = (uint32_t)(ranges[2 * i] >> 32);
		cells[4 * i + 1] = (uint32_t)ranges[2 * i];
		cells[4 * i + 2] = (uint32_t)(ranges[2 * i + 1] >> 32);
		cells[4 * i + 3] = (uint32_t)ranges[2 * i + 1];
	}
	assert_cells(off, "reg", cells, 4 * nranges);
}

static void
test_root_memory(void **state)
{
	struct vmm_arm64_fdt_conf c = sample(VMM_ARM64_GIC_V3, 2);
	int root, mem;

	(void)state;
	build(&c);
	root = node("/");
	assert_str(root, "compatible", "linux,dummy-virt");
	assert_u32(root, "#address-cells", 2);
	assert_u32(root, "#size-cells", 2);
	assert_u32(root, "interrupt-parent", VMM_ARM64_FDT_GIC_PHANDLE);

	mem = node("/memory@40000000");
	assert_str(mem, "device_type", "memory");
	assert_reg(mem, (const uint64_t[]){ 1 * GiB, 512 * MiB }, 1);
	/* No reserved memory: the guest owns all of its RAM. */
	assert_int_equal(fdt_num_mem_rsv(blob), 0);
}

static void
test_cpus(void **state)
{
	struct vmm_arm64_fdt_conf c = sample(VMM_ARM64_GIC_V3, 20);
	char path[64];
	int cpus, n = 0, off;

	(void)state;
	build(&c);
	cpus = node("/cpus");
	assert_u32(cpus, "#address-cells", 1);
	assert_u32(cpus, "#size-cells", 0);
	fdt_for_each_subnode(off, blob, cpus)
	{
		n++;
	}
	assert_int_equal(n, 20);
	/* KVM's MPIDR: vCPU 17 is Aff1 1, Aff0 1. */
	assert_int_equal(vmm_arm64_mpidr(0), 0);
	assert_int_equal(vmm_arm64_mpidr(15), 0xf);
	assert_int_equal(vmm_arm64_mpidr(17), 0x101);
	assert_int_equal(vmm_arm64_mpidr(4096 + 16), 0x10100);
	for (uint32_t i = 0; i < 20; i++) {
		uint64_t mpidr = vmm_arm64_mpidr(i);

		snprintf(path, sizeof(path), "/cpus/cpu@%llx", (unsigned long long)mpidr);
		off = node(path);
		assert_str(off, "device_type", "cpu");
		assert_str(off, "compatible", "arm,arm-v8");
		assert_str(off, "enable-method", "psci");
		assert_u32(off, "reg", (uint32_t)mpidr);
	}
}

static void
test_psci(void **state)
{
	struct vmm_arm64_fdt_conf c = sample(VMM_ARM64_GIC_V3, 1);
	const char *v;
	int off, len;

	(void)state;
	build(&c);
	off = node("/psci");
	v = fdt_getprop(blob, off, "compatible", &len);
	assert_non_null(v);
	assert_int_equal(len, (int)sizeof("arm,psci-0.2") + (int)sizeof("arm,psci"));
	assert_memory_equal(v, "arm,psci-0.2\0arm,psci", (size_t)len);
	assert_int_equal(fdt_node_check_compatible(blob, off, "arm,psci-0.2"), 0);
	assert_int_equal(fdt_node_check_compatible(blob, off, "arm,psci"), 0);
	assert_str(off, "method", "hvc");
}

static void
test_gic_v3(void **state)
{
	struct vmm_arm64_fdt_conf c = sample(VMM_ARM64_GIC_V3, 4);
	int off;

	(void)state;
	build(&c);
	off = node("/intc@8000000");
	assert_str(off, "compatible", "arm,gic-v3");
	assert_reg(off, (const uint64_t[]){ 0x08000000, 0x10000, 0x080a0000, 4 * 0x20000 }, 2);
	assert_u32(off, "#redistributor-regions", 1);
	assert_u32(off, "#interrupt-cells", 3);
	assert_u32(off, "#address-cells", 0);
	assert_empty(off, "interrupt-controller");
	assert_u32(off, "phandle", VMM_ARM64_FDT_GIC_PHANDLE);
	assert_int_equal(fdt_node_offset_by_phandle(blob, VMM_ARM64_FDT_GIC_PHANDLE), off);
}

static void
test_gic_v2(void **state)
{
	struct vmm_arm64_fdt_conf c = sample(VMM_ARM64_GIC_V2, 2);
	const uint32_t timer[] = {
		1, 13, 0x308, 1, 14, 0x308, 1, 11, 0x308, 1, 10, 0x308,
	};
	int off;

	(void)state;
	build(&c);
	off = node("/intc@8000000");
	assert_str(off, "compatible", "arm,cortex-a15-gic");
	assert_reg(off, (const uint64_t[]){ 0x08000000, 0x10000, 0x08010000, 0x2000 }, 2);
	assert_u32(off, "#interrupt-cells", 3);
	assert_empty(off, "interrupt-controller");
	assert_int_equal(fdt_getprop(blob, off, "#redistributor-regions", NULL), NULL);
	/* GICv2 PPIs name their CPUs: two vCPUs, mask 0x3 in bits 15:8. */
	assert_cells(node("/timer"), "interrupts", timer, 12);

	/* A GICv2 has eight CPU interfaces. */
	c = sample(VMM_ARM64_GIC_V2, 9);
	assert_int_equal(vmm_arm64_fdt_build(&c, blob, sizeof(blob)), -EINVAL);
}

/* The ITS is a child of the GIC (addressed as the root is) and the PCI
 * host bridge sends every requester ID to it as the same DeviceID. */
static void
test_its_pci(void **state)
{
	struct vmm_arm64_fdt_conf c = with_pci(sample(VMM_ARM64_GIC_V3, 2));
	const uint32_t ranges[] = { 0x02000000, 0, 0x10000000, 0, 0x10000000, 0, 0x20000000 };
	const uint32_t bus_range[] = { 0, 15 };
	const fdt32_t *map;
	int gic, its, pci, len;

	(void)state;
	build(&c);
	gic = node("/intc@8000000");
	assert_u32(gic, "#address-cells", 2);
	assert_u32(gic, "#size-cells", 2);
	assert_empty(gic, "ranges");
	its = node("/intc@8000000/msi-controller@8080000");
	assert_int_equal(fdt_parent_offset(blob, its), gic);
	assert_str(its, "compatible", "arm,gic-v3-its");
	assert_reg(its, (const uint64_t[]){ 0x08080000, 0x20000 }, 1);
	assert_empty(its, "msi-controller");
	assert_u32(its, "#msi-cells", 1);
	assert_u32(its, "phandle", VMM_ARM64_FDT_ITS_PHANDLE);

	pci = node("/pcie@30000000");
	assert_str(pci, "compatible", "pci-host-ecam-generic");
	assert_str(pci, "device_type", "pci");
	assert_reg(pci, (const uint64_t[]){ 0x30000000, 16 << 20 }, 1);
	assert_cells(pci, "bus-range", bus_range, 2);
	assert_u32(pci, "#address-cells", 3);
	assert_u32(pci, "#size-cells", 2);
	assert_cells(pci, "ranges", ranges, 7);
	assert_empty(pci, "dma-coherent");
	/* msi-map: rid-base, the ITS by phandle, msi-base, length. */
	map = fdt_getprop(blob, pci, "msi-map", &len);
	assert_non_null(map);
	assert_int_equal(len, 16);
	assert_int_equal(fdt32_to_cpu(map[0]), 0);
	assert_int_equal(fdt_node_offset_by_phandle(blob, fdt32_to_cpu(map[1])), its);
	assert_int_equal(fdt32_to_cpu(map[2]), 0);
	assert_int_equal(fdt32_to_cpu(map[3]), 0x10000);

	/* Without them: no PCI node, and the GIC has no child cells. */
	c = sample(VMM_ARM64_GIC_V3, 2);
	build(&c);
	assert_true(fdt_path_offset(blob, "/pcie@30000000") < 0);
	assert_true(fdt_path_offset(blob, "/intc@8000000/msi-controller@8080000") < 0);
	assert_u32(node("/intc@8000000"), "#address-cells", 0);
}

static void
test_timer(void **state)
{
	struct vmm_arm64_fdt_conf c = sample(VMM_ARM64_GIC_V3, 2);
	/* Secure, non-secure physical, virtual, hypervisor; level low. */
	const uint32_t want[] = { 1, 13, 8, 1, 14, 8, 1, 11, 8, 1, 10, 8 };
	int off;

	(void)state;
	build(&c);
	off = node("/timer");
	assert_str(off, "compatible", "arm,armv8-timer");
	assert_cells(off, "interrupts", want, 12);
	assert_empty(off, "always-on");
}

static void
test_uart(void **state)
{
	struct vmm_arm64_fdt_conf c = sample(VMM_ARM64_GIC_V3, 1);
	const uint32_t irq[] = { 0, 1, 4 };
	int off;

	(void)state;
	build(&c);
	off = node("/uart@9000000");
	assert_str(off, "compatible", "ns16550a");
	assert_reg(off, (const uint64_t[]){ 0x09000000, 0x1000 }, 1);
	assert_cells(off, "interrupts", irq, 3);
	assert_u32(off, "clock-frequency", 1843200);
	assert_u32(off, "reg-shift", 0);
	assert_u32(off, "reg-io-width", 1);
}

static void
test_virtio_mmio(void **state)
{
	struct vmm_arm64_fdt_conf c = sample(VMM_ARM64_GIC_V3, 1);
	const uint32_t irq0[] = { 0, 16, 1 }, irq1[] = { 0, 17, 1 };
	int off, n = 0;

	(void)state;
	build(&c);
	off = node("/virtio_mmio@a000000");
	assert_str(off, "compatible", "virtio,mmio");
	assert_reg(off, (const uint64_t[]){ 0x0a000000, 0x200 }, 1);
	assert_cells(off, "interrupts", irq0, 3);
	assert_empty(off, "dma-coherent");
	off = node("/virtio_mmio@a000200");
	assert_reg(off, (const uint64_t[]){ 0x0a000200, 0x200 }, 1);
	assert_cells(off, "interrupts", irq1, 3);
	for (off = fdt_node_offset_by_compatible(blob, -1, "virtio,mmio"); off >= 0;
	     off = fdt_node_offset_by_compatible(blob, off, "virtio,mmio"))
		n++;
	assert_int_equal(n, 2);

	/* None. */
	c.nvirtio = 0;
	c.virtio = NULL;
	build(&c);
	assert_int_equal(fdt_node_offset_by_compatible(blob, -1, "virtio,mmio"), -FDT_ERR_NOTFOUND);
}

static void
test_chosen(void **state)
{
	struct vmm_arm64_fdt_conf c = sample(VMM_ARM64_GIC_V3, 1);
	int off;

	(void)state;
	build(&c);
	off = node("/chosen");
	assert_str(off, "bootargs", "console=ttyS0 earlycon panic=-1");
	assert_str(off, "stdout-path", "/uart@9000000");
	assert_u64(off, "linux,initrd-start", 1 * GiB + 256 * MiB);
	assert_u64(off, "linux,initrd-end", 1 * GiB + 256 * MiB + 3 * MiB + 17);
	/* stdout-path names a node that exists. */
	assert_int_equal(fdt_path_offset(blob, "/uart@9000000"), node("/uart@9000000"));

	/* No initrd, no bootargs: no such properties. */
	c.initrd_size = 0;
	c.bootargs = NULL;
	build(&c);
	off = node("/chosen");
	assert_null(fdt_getprop(blob, off, "linux,initrd-start", NULL));
	assert_null(fdt_getprop(blob, off, "linux,initrd-end", NULL));
	assert_null(fdt_getprop(blob, off, "bootargs", NULL));
	assert_str(off, "stdout-path", "/uart@9000000");
}

static void
test_refused(void **state)
{
	struct vmm_arm64_fdt_conf c;
	char *big;

	(void)state;
	c = sample(VMM_ARM64_GIC_V3, 0);
	assert_int_equal(vmm_arm64_fdt_build(&c, blob, sizeof(blob)), -EINVAL);
	c = sample(VMM_ARM64_GIC_V3, VMM_ARM64_FDT_MAX_VCPUS + 1);
	assert_int_equal(vmm_arm64_fdt_build(&c, blob, sizeof(blob)), -EINVAL);
	c = sample((enum vmm_arm64_gic_version)4, 1);
	assert_int_equal(vmm_arm64_fdt_build(&c, blob, sizeof(blob)), -EINVAL);
	c = sample(VMM_ARM64_GIC_V3, 1);
	c.mem_size = 0;
	assert_int_equal(vmm_arm64_fdt_build(&c, blob, sizeof(blob)), -EINVAL);
	/* An initrd that ends past RAM, or starts below it. */
	c = sample(VMM_ARM64_GIC_V3, 1);
	c.initrd_start = c.mem_base + c.mem_size - 4096;
	c.initrd_size = 8192;
	assert_int_equal(vmm_arm64_fdt_build(&c, blob, sizeof(blob)), -EINVAL);
	c.initrd_start = c.mem_base - 4096;
	assert_int_equal(vmm_arm64_fdt_build(&c, blob, sizeof(blob)), -EINVAL);
	c.initrd_start = UINT64_MAX - 4095;
	c.initrd_size = 8192;
	assert_int_equal(vmm_arm64_fdt_build(&c, blob, sizeof(blob)), -EINVAL);
	/* Too many virtio devices, or a count without the array. */
	c = sample(VMM_ARM64_GIC_V3, 1);
	c.nvirtio = VMM_ARM64_FDT_MAX_VIRTIO + 1;
	assert_int_equal(vmm_arm64_fdt_build(&c, blob, sizeof(blob)), -EINVAL);
	c.nvirtio = 1;
	c.virtio = NULL;
	assert_int_equal(vmm_arm64_fdt_build(&c, blob, sizeof(blob)), -EINVAL);
	/* An ITS needs a GICv3; a PCI bus needs the ITS (MSI-X only), at
	 * most 256 buses and a 32-bit window. */
	c = with_pci(sample(VMM_ARM64_GIC_V2, 1));
	assert_int_equal(vmm_arm64_fdt_build(&c, blob, sizeof(blob)), -EINVAL);
	c = with_pci(sample(VMM_ARM64_GIC_V3, 1));
	c.its_size = 0;
	assert_int_equal(vmm_arm64_fdt_build(&c, blob, sizeof(blob)), -EINVAL);
	c = with_pci(sample(VMM_ARM64_GIC_V3, 1));
	c.pci_buses = 257;
	assert_int_equal(vmm_arm64_fdt_build(&c, blob, sizeof(blob)), -EINVAL);
	c = with_pci(sample(VMM_ARM64_GIC_V3, 1));
	c.pci_mmio_base = 0xf0000000;
	assert_int_equal(vmm_arm64_fdt_build(&c, blob, sizeof(blob)), -EINVAL);
	c.pci_mmio_size = 0;
	assert_int_equal(vmm_arm64_fdt_build(&c, blob, sizeof(blob)), -EINVAL);
	c.pci_mmio_size = 0x10000000; /* up to 4 GiB exactly */
	build(&c);
	/* A command line longer than the kernel takes. */
	big = malloc(VMM_ARM64_FDT_MAX_BOOTARG + 1);
	assert_non_null(big);
	memset(big, 'x', VMM_ARM64_FDT_MAX_BOOTARG);
	big[VMM_ARM64_FDT_MAX_BOOTARG] = '\0';
	c = sample(VMM_ARM64_GIC_V3, 1);
	c.bootargs = big;
	assert_int_equal(vmm_arm64_fdt_build(&c, blob, sizeof(blob)), -EINVAL);
	big[VMM_ARM64_FDT_MAX_BOOTARG - 1] = '\0';
	build(&c);
	free(big);
}

static void
test_small_buffer(void **state)
{
	struct vmm_arm64_fdt_conf c = sample(VMM_ARM64_GIC_V3, 2);
	uint32_t size;

	(void)state;
	build(&c);
	size = fdt_totalsize(blob);
	/* Exactly enough works; one byte less is -ENOSPC, never an overrun
	 * (ASan watches the heap copy). */
	for (uint32_t len = size - 1; len <= size; len++) {
		uint8_t *b = malloc(len);

		assert_non_null(b);
		assert_int_equal(vmm_arm64_fdt_build(&c, b, len), len == size ? 0 : -ENOSPC);
		free(b);
	}
	assert_int_equal(vmm_arm64_fdt_build(&c, blob, 64), -ENOSPC);
}

static int
write_sample(const char *path, const char *gic)
{
	bool v2 = gic != NULL && strcmp(gic, "v2") == 0;
	struct vmm_arm64_fdt_conf c = sample(v2 ? VMM_ARM64_GIC_V2 : VMM_ARM64_GIC_V3, 2);
	FILE *f;
	size_t n;

	/* The GICv3 machine with its ITS and PCI bus, as the shim builds it. */
	if (!v2)
		c = with_pci(c);
	if (vmm_arm64_fdt_build(&c, blob, sizeof(blob)) < 0)
		return 1;
	f = fopen(path, "wb");
	if (f == NULL)
		return 1;
	n = fwrite(blob, 1, fdt_totalsize(blob), f);
	return fclose(f) == 0 && n == fdt_totalsize(blob) ? 0 : 1;
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_root_memory),  cmocka_unit_test(test_cpus),
		cmocka_unit_test(test_psci),         cmocka_unit_test(test_gic_v3),
		cmocka_unit_test(test_gic_v2),       cmocka_unit_test(test_timer),
		cmocka_unit_test(test_uart),         cmocka_unit_test(test_virtio_mmio),
		cmocka_unit_test(test_chosen),       cmocka_unit_test(test_refused),
		cmocka_unit_test(test_small_buffer), cmocka_unit_test(test_its_pci),
	};

	if (argc >= 3 && strcmp(argv[1], "--write") == 0)
		return write_sample(argv[2], argc >= 4 ? argv[3] : NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
