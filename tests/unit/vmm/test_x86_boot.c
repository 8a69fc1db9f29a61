/* SPDX-License-Identifier: MIT */
/*
 * Unit tests: x86 direct kernel boot (vmm/x86/boot.c, bzimage.c, pvh.c) on
 * synthetic images, and on the real Debian kernel when NV_TEST_IMAGES
 * names a directory holding `bzImage` and `vmlinux`.
 */
#include <asm/bootparam.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "guest_mem.h"
#include "x86/acpi.h"
#include "x86/boot.h"
#include "x86/layout.h"
#include "x86_images.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)

/* hvm_start_info v1 as the PVH ABI lays it out, decoded by offset. */
#define SI_MAGIC          0
#define SI_VERSION        4
#define SI_NR_MODULES     12
#define SI_MODLIST        16
#define SI_CMDLINE        24
#define SI_RSDP           32
#define SI_MEMMAP         40
#define SI_MEMMAP_ENTRIES 48

static struct vmm_mem *
new_mem(uint64_t size)
{
	struct vmm_mem *mem = NULL;

	assert_int_equal(vmm_mem_create(size, VMM_X86_MMIO_HOLE_START, VMM_X86_MMIO_HOLE_END, &mem),
			 0);
	return mem;
}

static int
setup_mem(void **state)
{
	*state = new_mem(64 * MiB);
	return 0;
}

static int
teardown_mem(void **state)
{
	vmm_mem_destroy(*state);
	return 0;
}

static uint64_t
rd64(struct vmm_mem *mem, uint64_t gpa)
{
	uint64_t v;

	assert_int_equal(vmm_mem_read(mem, gpa, &v, sizeof(v)), 0);
	return v;
}

static uint32_t
rd32(struct vmm_mem *mem, uint64_t gpa)
{
	uint32_t v;

	assert_int_equal(vmm_mem_read(mem, gpa, &v, sizeof(v)), 0);
	return v;
}

static uint32_t a_vcpus = 1;

static int
load(struct vmm_mem *mem, const uint8_t *k, size_t ks, const uint8_t *initrd, size_t is,
     const char *cmdline, struct vmm_x86_boot *b, char *err, size_t errlen)
{
	struct vmm_x86_boot_args a = {
		.kernel = k,
		.kernel_size = ks,
		.initrd = initrd,
		.initrd_size = is,
		.cmdline = cmdline,
		.vcpus = a_vcpus,
	};

	return vmm_x86_boot_load(mem, &a, b, err, errlen);
}

static uint8_t *
pattern(size_t n, uint8_t seed)
{
	uint8_t *p = malloc(n);
	size_t i;

	assert_non_null(p);
	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 31 + seed);
	return p;
}

/* ---- e820 ---- */

static void
check_e820(uint64_t ram, const struct vmm_x86_e820 *want, unsigned int nwant)
{
	struct vmm_x86_e820 got[8];
	struct vmm_mem *mem = new_mem(ram);
	unsigned int i, n;

	n = vmm_x86_e820_build(mem, got, 8);
	assert_int_equal(n, nwant);
	for (i = 0; i < n; i++) {
		assert_int_equal(got[i].addr, want[i].addr);
		assert_int_equal(got[i].size, want[i].size);
		assert_int_equal(got[i].type, want[i].type);
	}
	/* Truncated to what the caller has room for. */
	assert_int_equal(vmm_x86_e820_build(mem, got, 2), 2);
	vmm_mem_destroy(mem);
}

static void
test_e820_sizes(void **state)
{
	(void)state;
	const struct vmm_x86_e820 m64[] = {
		{ 0, 0x9fc00, 1 },
		{ 0x9fc00, 0x100000 - 0x9fc00, 2 },
		{ 0x100000, 64 * MiB - 0x100000, 1 },
		{ VMM_X86_PCI_ECAM_GPA, VMM_X86_PCI_ECAM_SIZE, 2 },
	};
	const struct vmm_x86_e820 g3[] = {
		{ 0, 0x9fc00, 1 },
		{ 0x9fc00, 0x100000 - 0x9fc00, 2 },
		{ 0x100000, 3 * GiB - 0x100000, 1 },
		{ VMM_X86_PCI_ECAM_GPA, VMM_X86_PCI_ECAM_SIZE, 2 },
	};
	const struct vmm_x86_e820 g4[] = {
		{ 0, 0x9fc00, 1 },
		{ 0x9fc00, 0x100000 - 0x9fc00, 2 },
		{ 0x100000, 3 * GiB - 0x100000, 1 },
		{ VMM_X86_PCI_ECAM_GPA, VMM_X86_PCI_ECAM_SIZE, 2 },
		{ 4 * GiB, 1 * GiB, 1 },
	};
	const struct vmm_x86_e820 g6[] = {
		{ 0, 0x9fc00, 1 },
		{ 0x9fc00, 0x100000 - 0x9fc00, 2 },
		{ 0x100000, 3 * GiB - 0x100000, 1 },
		{ VMM_X86_PCI_ECAM_GPA, VMM_X86_PCI_ECAM_SIZE, 2 },
		{ 4 * GiB, 3 * GiB, 1 },
	};

	check_e820(64 * MiB, m64, 4);
	check_e820(3 * GiB, g3, 4);
	check_e820(4 * GiB, g4, 5);
	check_e820(6 * GiB, g6, 5);
}

static void
test_e820_tiny(void **state)
{
	struct vmm_x86_e820 got[8];
	struct vmm_mem *mem = new_mem(512 * 1024);

	(void)state;
	/* Less than the EBDA: one RAM entry, nothing reserved but ECAM. */
	assert_int_equal(vmm_x86_e820_build(mem, got, 8), 2);
	assert_int_equal(got[0].addr, 0);
	assert_int_equal(got[0].size, 0x80000);
	assert_int_equal(got[0].type, 1);
	assert_int_equal(got[1].addr, VMM_X86_PCI_ECAM_GPA);
	assert_int_equal(got[1].type, 2);
	assert_int_equal(vmm_x86_e820_build(NULL, got, 8), 0);
	vmm_mem_destroy(mem);
}

/* ---- PVH ---- */

static void
check_memmap(struct vmm_mem *mem, uint64_t gpa, uint32_t n)
{
	struct vmm_x86_e820 e[8];
	uint32_t i;

	assert_int_equal(vmm_x86_e820_build(mem, e, 8), n);
	for (i = 0; i < n; i++) {
		assert_int_equal(rd64(mem, gpa + i * 24), e[i].addr);
		assert_int_equal(rd64(mem, gpa + i * 24 + 8), e[i].size);
		assert_int_equal(rd32(mem, gpa + i * 24 + 16), e[i].type);
		assert_int_equal(rd32(mem, gpa + i * 24 + 20), 0);
	}
}

static void
test_pvh_load(void **state)
{
	struct vmm_mem *mem = *state;
	uint8_t img[TPVH_SIZE];
	const size_t isz = 3 * 4096 + 100;
	uint8_t *initrd = pattern(isz, 9);
	struct vmm_x86_boot b;
	char err[256] = "x";
	uint8_t *p;
	char cmd[64];
	uint64_t mod;
	size_t i;

	tpvh_build(img, 8);
	/* Garbage where the bss goes: the loader must clear it. */
	memset(vmm_mem_ptr(mem, TPVH_DATA_PADDR, TPVH_DATA_MEMSZ), 0xaa, TPVH_DATA_MEMSZ);
	assert_int_equal(load(mem, img, sizeof(img), initrd, isz, "console=ttyS0 quiet", &b, err,
			      sizeof(err)),
			 0);
	assert_string_equal(err, "");
	assert_string_equal(b.format, "pvh-elf");
	assert_int_equal(b.mode, VMM_X86_ENTRY_PVH32);
	assert_int_equal(b.entry, TPVH_ENTRY);
	assert_int_equal(b.boot_info, VMM_X86_PVH_INFO_GPA);
	assert_int_equal(b.cr3, 0);
	assert_int_equal(b.kernel_gpa, TPVH_TEXT_PADDR);
	assert_int_equal(b.kernel_end, TPVH_DATA_PADDR + TPVH_DATA_MEMSZ);

	/* Segments at p_paddr, bss zeroed. */
	p = vmm_mem_ptr(mem, TPVH_TEXT_PADDR, 0x100);
	for (i = 0; i < 0x100; i++)
		assert_int_equal(p[i], tpvh_byte(0x200 + i));
	p = vmm_mem_ptr(mem, TPVH_DATA_PADDR, TPVH_DATA_MEMSZ);
	for (i = 0; i < 0x40; i++)
		assert_int_equal(p[i], tpvh_byte(0x300 + i));
	for (; i < TPVH_DATA_MEMSZ; i++)
		assert_int_equal(p[i], 0);

	/* The initrd: page aligned at the top of RAM, intact. */
	assert_int_equal(b.initrd_size, isz);
	assert_int_equal(b.initrd_gpa % 4096, 0);
	assert_true(b.initrd_gpa + isz <= 64 * MiB);
	assert_true(b.initrd_gpa + isz + 4096 > 64 * MiB);
	assert_memory_equal(vmm_mem_ptr(mem, b.initrd_gpa, isz), initrd, isz);

	/* hvm_start_info v1. */
	assert_int_equal(rd32(mem, VMM_X86_PVH_INFO_GPA + SI_MAGIC), 0x336ec578);
	assert_int_equal(rd32(mem, VMM_X86_PVH_INFO_GPA + SI_VERSION), 1);
	assert_int_equal(rd32(mem, VMM_X86_PVH_INFO_GPA + SI_NR_MODULES), 1);
	mod = rd64(mem, VMM_X86_PVH_INFO_GPA + SI_MODLIST);
	assert_int_equal(rd64(mem, mod), b.initrd_gpa);
	assert_int_equal(rd64(mem, mod + 8), isz);
	assert_int_equal(rd64(mem, mod + 16), 0);
	assert_int_equal(
		vmm_mem_read(mem, rd64(mem, VMM_X86_PVH_INFO_GPA + SI_CMDLINE), cmd, sizeof(cmd)),
		0);
	assert_string_equal(cmd, "console=ttyS0 quiet");
	/* The ACPI tables, RSDP first, in the reserved window below 1 MiB. */
	assert_int_equal(b.rsdp_gpa, VMM_X86_ACPI_GPA);
	assert_memory_equal(vmm_mem_ptr(mem, b.rsdp_gpa, 8), "RSD PTR ", 8);
	assert_int_equal(rd64(mem, VMM_X86_PVH_INFO_GPA + SI_RSDP), VMM_X86_ACPI_GPA);
	assert_int_equal(rd32(mem, VMM_X86_PVH_INFO_GPA + SI_MEMMAP_ENTRIES), 4);
	check_memmap(mem, rd64(mem, VMM_X86_PVH_INFO_GPA + SI_MEMMAP), 4);
	free(initrd);
}

static void
test_pvh_note_desc4_no_initrd(void **state)
{
	struct vmm_mem *mem = *state;
	uint8_t img[TPVH_SIZE];
	struct vmm_x86_boot b;
	char err[256];
	char c;

	tpvh_build(img, 4);
	assert_int_equal(load(mem, img, sizeof(img), NULL, 0, NULL, &b, err, sizeof(err)), 0);
	assert_int_equal(b.entry, TPVH_ENTRY);
	assert_int_equal(b.initrd_size, 0);
	assert_int_equal(b.initrd_gpa, 0);
	assert_int_equal(rd32(mem, VMM_X86_PVH_INFO_GPA + SI_NR_MODULES), 0);
	assert_int_equal(rd64(mem, VMM_X86_PVH_INFO_GPA + SI_MODLIST), 0);
	/* No cmdline: an empty string, still a valid pointer. */
	assert_int_equal(vmm_mem_read(mem, rd64(mem, VMM_X86_PVH_INFO_GPA + SI_CMDLINE), &c, 1), 0);
	assert_int_equal(c, 0);
}

static void
test_pvh_above_hole(void **state)
{
	struct vmm_mem *mem = new_mem(4 * GiB + 64 * MiB);
	uint8_t img[TPVH_SIZE];
	uint8_t *initrd = pattern(8192, 1);
	struct vmm_x86_boot b;
	char err[256];

	(void)state;
	tpvh_build(img, 8);
	assert_int_equal(load(mem, img, sizeof(img), initrd, 8192, "", &b, err, sizeof(err)), 0);
	/* The initrd stays below the hole, at the top of low RAM. */
	assert_int_equal(b.initrd_gpa, VMM_X86_MMIO_HOLE_START - 8192);
	assert_int_equal(rd32(mem, VMM_X86_PVH_INFO_GPA + SI_MEMMAP_ENTRIES), 5);
	check_memmap(mem, rd64(mem, VMM_X86_PVH_INFO_GPA + SI_MEMMAP), 5);
	free(initrd);
	vmm_mem_destroy(mem);
}

/* ---- bzImage ---- */

static void
test_bzimage_load(void **state)
{
	struct vmm_mem *mem = *state;
	uint8_t img[TBZ_SIZE];
	const size_t isz = 5 * 4096 + 1;
	uint8_t *initrd = pattern(isz, 3);
	struct boot_params *bp;
	struct vmm_x86_boot b;
	char err[256];
	uint8_t *p;
	size_t i;

	tbz_build(img);
	memset(vmm_mem_ptr(mem, VMM_X86_ZERO_PAGE_GPA, 4096), 0x5a, 4096);
	assert_int_equal(
		load(mem, img, sizeof(img), initrd, isz, "root=/dev/vda", &b, err, sizeof(err)), 0);
	assert_string_equal(b.format, "bzImage");
	assert_int_equal(b.mode, VMM_X86_ENTRY_LINUX64);
	assert_int_equal(b.kernel_gpa, 0x100000);
	assert_int_equal(b.entry, 0x100200);
	assert_int_equal(b.boot_info, VMM_X86_ZERO_PAGE_GPA);
	assert_int_equal(b.cr3, VMM_X86_PML4_GPA);
	/* The kernel decompresses into [pref_address, + init_size). */
	assert_int_equal(b.kernel_end, TBZ_PREF_ADDR + TBZ_INIT_SIZE);

	p = vmm_mem_ptr(mem, 0x100000, TBZ_PM_SIZE);
	for (i = 0; i < TBZ_PM_SIZE; i++)
		assert_int_equal(p[i], tbz_byte(i));

	bp = vmm_mem_ptr(mem, VMM_X86_ZERO_PAGE_GPA, sizeof(*bp));
	/* Setup header copied from the image... */
	assert_int_equal(bp->hdr.setup_sects, 1);
	assert_int_equal(bp->hdr.boot_flag, 0xaa55);
	assert_memory_equal(&bp->hdr.header, "HdrS", 4);
	assert_int_equal(bp->hdr.version, 0x020f);
	assert_int_equal(bp->hdr.kernel_alignment, TBZ_ALIGN);
	assert_int_equal(bp->hdr.init_size, TBZ_INIT_SIZE);
	assert_int_equal(bp->hdr.pref_address, TBZ_PREF_ADDR);
	assert_int_equal(bp->hdr.cmdline_size, TBZ_CMDLINE_SIZE);
	assert_int_equal(bp->hdr.xloadflags, XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G);
	/* ...and the loader's fields filled in. */
	assert_int_equal(bp->hdr.type_of_loader, 0xff);
	assert_int_equal(bp->hdr.loadflags, LOADED_HIGH | CAN_USE_HEAP);
	assert_int_equal(bp->hdr.heap_end_ptr, 0xfe00);
	assert_int_equal(bp->hdr.code32_start, 0x100000);
	assert_int_equal(bp->hdr.cmd_line_ptr, VMM_X86_CMDLINE_GPA);
	assert_int_equal(bp->ext_cmd_line_ptr, 0);
	assert_string_equal((char *)vmm_mem_ptr(mem, bp->hdr.cmd_line_ptr, 14), "root=/dev/vda");
	assert_int_equal(bp->hdr.ramdisk_image, b.initrd_gpa);
	assert_int_equal(bp->hdr.ramdisk_size, isz);
	assert_int_equal(bp->ext_ramdisk_image, 0);
	assert_int_equal(bp->ext_ramdisk_size, 0);
	assert_int_equal(bp->acpi_rsdp_addr, VMM_X86_ACPI_GPA);
	assert_memory_equal(vmm_mem_ptr(mem, bp->acpi_rsdp_addr, 8), "RSD PTR ", 8);
	/* The rest of the page was cleaned (the 0x5a fill is gone). */
	assert_int_equal(bp->sentinel, 0);
	assert_int_equal(bp->screen_info.orig_video_isVGA, 0);
	assert_int_equal(bp->hdr.setup_data, 0);

	assert_int_equal(bp->e820_entries, 4);
	assert_int_equal(bp->e820_table[0].addr, 0);
	assert_int_equal(bp->e820_table[0].size, 0x9fc00);
	assert_int_equal(bp->e820_table[0].type, 1);
	assert_int_equal(bp->e820_table[1].addr, 0x9fc00);
	assert_int_equal(bp->e820_table[1].type, 2);
	assert_int_equal(bp->e820_table[2].addr, 0x100000);
	assert_int_equal(bp->e820_table[2].size, 64 * MiB - 0x100000);
	assert_int_equal(bp->e820_table[2].type, 1);

	/* initrd: page aligned, top of RAM, above the kernel's window. */
	assert_int_equal(b.initrd_gpa % 4096, 0);
	assert_true(b.initrd_gpa >= b.kernel_end);
	assert_true(b.initrd_gpa + isz <= 64 * MiB);
	assert_true(b.initrd_gpa + isz + 4096 > 64 * MiB);
	assert_memory_equal(vmm_mem_ptr(mem, b.initrd_gpa, isz), initrd, isz);
	free(initrd);
}

static void
test_bzimage_initrd_addr_max(void **state)
{
	struct vmm_mem *mem = *state;
	uint8_t img[TBZ_SIZE];
	uint8_t *initrd = pattern(10000, 7);
	struct vmm_x86_boot b;
	char err[256];

	tbz_build(img);
	tbz_hdr(img)->initrd_addr_max = 0x1ffffff; /* 32 MiB - 1 */
	assert_int_equal(load(mem, img, sizeof(img), initrd, 10000, "", &b, err, sizeof(err)), 0);
	assert_int_equal(b.initrd_gpa, 0x2000000 - 3 * 4096);
	/* It must not fit when the limit falls inside the kernel's window. */
	tbz_hdr(img)->initrd_addr_max = TBZ_PREF_ADDR + TBZ_INIT_SIZE + 4095;
	assert_int_equal(load(mem, img, sizeof(img), initrd, 10000, "", &b, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "initrd:"));
	assert_non_null(strstr(err, "does not fit"));
	free(initrd);
}

static void
test_initrd_too_big(void **state)
{
	struct vmm_mem *mem = *state;
	uint8_t img[TBZ_SIZE];
	const size_t isz = 40 * MiB; /* RAM 64 MiB, the kernel window ends at 24 MiB */
	uint8_t *initrd = calloc(1, isz);
	struct vmm_x86_boot b;
	char err[256];

	assert_non_null(initrd);
	tbz_build(img);
	assert_int_equal(
		load(mem, img, sizeof(img), initrd, 40 * MiB + 1, "", &b, err, sizeof(err)),
		-EINVAL);
	assert_non_null(strstr(err, "initrd: 41 MiB does not fit"));
	assert_int_equal(load(mem, img, sizeof(img), initrd, isz, "", &b, err, sizeof(err)), 0);
	assert_int_equal(b.initrd_gpa, 24 * MiB);
	/* Fits by bytes, but not once aligned down to a page above the kernel. */
	tbz_hdr(img)->init_size = TBZ_INIT_SIZE + 16;
	assert_int_equal(load(mem, img, sizeof(img), initrd, isz - 20, "", &b, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "initrd: 41943020 bytes page aligned do not fit"));
	free(initrd);
}

static void
test_cmdline_limits(void **state)
{
	struct vmm_mem *mem = *state;
	uint8_t bz[TBZ_SIZE], pvh[TPVH_SIZE];
	char *big = malloc(VMM_X86_CMDLINE_MAX + 1);
	struct vmm_x86_boot b;
	char err[256];

	assert_non_null(big);
	tbz_build(bz);
	tpvh_build(pvh, 8);
	tbz_hdr(bz)->cmdline_size = 10;
	assert_int_equal(load(mem, bz, sizeof(bz), NULL, 0, "0123456789", &b, err, sizeof(err)), 0);
	assert_int_equal(load(mem, bz, sizeof(bz), NULL, 0, "0123456789a", &b, err, sizeof(err)),
			 -E2BIG);
	assert_non_null(strstr(err, "at most 10"));

	memset(big, 'a', VMM_X86_CMDLINE_MAX - 1);
	big[VMM_X86_CMDLINE_MAX - 1] = '\0';
	assert_int_equal(load(mem, pvh, sizeof(pvh), NULL, 0, big, &b, err, sizeof(err)), 0);
	assert_int_equal(strlen(vmm_mem_ptr(mem, VMM_X86_CMDLINE_GPA, VMM_X86_CMDLINE_MAX)),
			 VMM_X86_CMDLINE_MAX - 1);
	big[VMM_X86_CMDLINE_MAX - 1] = 'a';
	big[VMM_X86_CMDLINE_MAX] = '\0';
	assert_int_equal(load(mem, pvh, sizeof(pvh), NULL, 0, big, &b, err, sizeof(err)), -E2BIG);
	assert_non_null(strstr(err, "cmdline"));
	/* Too long for any kernel, whatever its cmdline_size. */
	assert_int_equal(load(mem, bz, sizeof(bz), NULL, 0, big, &b, err, sizeof(err)), -E2BIG);
	free(big);
}

/* ---- GDT and page tables ---- */

static uint64_t
walk(struct vmm_mem *mem, uint64_t cr3, uint64_t va)
{
	uint64_t e;

	e = rd64(mem, cr3 + ((va >> 39) & 511) * 8);
	assert_true(e & 1);
	e = rd64(mem, (e & 0xffffffffff000ull) + ((va >> 30) & 511) * 8);
	assert_true(e & 1);
	assert_false(e & 0x80); /* no 1 GiB pages: CPUs without pdpe1gb */
	e = rd64(mem, (e & 0xffffffffff000ull) + ((va >> 21) & 511) * 8);
	assert_int_equal(e & 0x83, 0x83); /* present, writable, 2 MiB */
	return (e & 0xfffffffe00000ull) | (va & 0x1fffff);
}

static void
test_gdt_and_page_tables(void **state)
{
	struct vmm_mem *mem = *state;
	uint8_t img[TBZ_SIZE];
	struct vmm_x86_boot b;
	const uint64_t probes[] = { 0,          0x7000,     0x100200,  0x1234567,
				    0xbfffffff, 0xfee00000, 0xffffffff };
	char err[256];
	size_t i;

	tbz_build(img);
	assert_int_equal(load(mem, img, sizeof(img), NULL, 0, "", &b, err, sizeof(err)), 0);
	/* Flat 4 GiB descriptors, by their architectural encoding. */
	assert_int_equal(rd64(mem, VMM_X86_GDT_GPA + 0x00), 0);
	assert_int_equal(rd64(mem, VMM_X86_GDT_GPA + 0x08), 0x00cf9b000000ffffull); /* code32 */
	assert_int_equal(rd64(mem, VMM_X86_GDT_GPA + 0x10), 0x00af9b000000ffffull); /* __BOOT_CS */
	assert_int_equal(rd64(mem, VMM_X86_GDT_GPA + 0x18), 0x00cf93000000ffffull); /* __BOOT_DS */
	assert_int_equal(rd64(mem, VMM_X86_GDT_GPA + 0x20), 0x00008b0000000067ull); /* TSS */
	assert_int_equal(rd64(mem, VMM_X86_GDT_GPA + 0x28), 0);

	for (i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
		assert_int_equal(walk(mem, b.cr3, probes[i]), probes[i]);
	/* Only the first 4 GiB are mapped. */
	assert_int_equal(rd64(mem, b.cr3 + 8), 0);
	assert_int_equal(rd64(mem, b.cr3 + 4096 + 4 * 8), 0);
}

/* The reset vector holds a stub that writes the ACPI reset register, read
 * back as instructions: mov $port,%dx; mov $value,%al; out %al,%dx; hlt;
 * jmp back to the hlt. It lies outside the ACPI window. */
static void
test_reset_vector(void **state)
{
	struct vmm_mem *mem = *state;
	uint8_t img[TBZ_SIZE];
	struct vmm_x86_boot b;
	char err[256];
	const uint8_t *p;

	tbz_build(img);
	assert_int_equal(load(mem, img, sizeof(img), NULL, 0, "", &b, err, sizeof(err)), 0);
	p = vmm_mem_ptr(mem, VMM_X86_RESET_VECTOR_GPA, 16);
	assert_non_null(p);
	assert_int_equal(p[0], 0xba);
	assert_int_equal(p[1] | p[2] << 8, VMM_X86_ACPI_RESET_PORT);
	assert_int_equal(p[3], 0xb0);
	assert_int_equal(p[4], VMM_X86_ACPI_RESET_VALUE);
	assert_int_equal(p[5], 0xee);
	assert_int_equal(p[6], 0xf4);
	assert_int_equal(p[7], 0xeb);
	assert_int_equal((int8_t)p[8], -3); /* back to the hlt */
	/* Within the 16 bytes below 1 MiB, and not inside the ACPI tables. */
	assert_true(VMM_X86_RESET_VECTOR_GPA + 9 <= VMM_X86_HIMEM_GPA);
	assert_true(VMM_X86_ACPI_GPA + VMM_X86_ACPI_SIZE <= (VMM_X86_RESET_VECTOR_GPA & ~0xfffull));
}

/* ---- bad images ---- */

enum img_kind { BZ, PVH };

struct bad_case {
	const char *name;
	enum img_kind kind;
	void (*mutate)(uint8_t *img, size_t *size);
	int rc;
	const char *msg;
};

static Elf64_Ehdr *
eh(uint8_t *img)
{
	return (Elf64_Ehdr *)img;
}

static Elf64_Phdr *
ph(uint8_t *img, int i)
{
	return (Elf64_Phdr *)(img + sizeof(Elf64_Ehdr)) + i;
}

static Elf64_Nhdr *
xen_note(uint8_t *img)
{
	return (Elf64_Nhdr *)(img + TPVH_XEN_NOTE_OFF);
}

#define MUT(n, body)                                                                               \
	static void n(uint8_t *img, size_t *size)                                                  \
	{                                                                                          \
		(void)img;                                                                         \
		(void)size;                                                                        \
		body;                                                                              \
	}

MUT(m_short_ehdr, *size = 40)
MUT(m_class32, img[EI_CLASS] = ELFCLASS32)
MUT(m_bigendian, img[EI_DATA] = ELFDATA2MSB)
MUT(m_machine, eh(img)->e_machine = EM_386)
MUT(m_dyn, eh(img)->e_type = ET_DYN)
MUT(m_phnum0, eh(img)->e_phnum = 0)
MUT(m_phnum_big, eh(img)->e_phnum = 1000)
MUT(m_phentsize, eh(img)->e_phentsize = 32)
MUT(m_phoff_huge, eh(img)->e_phoff = UINT64_MAX - 8)
MUT(m_phoff_past, eh(img)->e_phoff = TPVH_SIZE - 100)
MUT(m_seg_off_wrap, ph(img, 0)->p_offset = UINT64_MAX - 0x10)
MUT(m_seg_filesz_big, ph(img, 0)->p_filesz = ph(img, 0)->p_memsz = 0x10000)
MUT(m_truncated, *size = 0x330)
MUT(m_filesz_gt_memsz, ph(img, 1)->p_memsz = 0x10)
MUT(m_below_1m, ph(img, 0)->p_paddr = 0x8000)
MUT(m_past_ram, ph(img, 1)->p_paddr = 64 * MiB - 0x1000)
MUT(m_paddr_wrap, ph(img, 1)->p_paddr = UINT64_MAX - 0xfff)
MUT(m_memsz_huge, ph(img, 1)->p_memsz = UINT64_MAX)
MUT(m_in_hole, ph(img, 1)->p_paddr = VMM_X86_MMIO_HOLE_START)
MUT(m_overlap, ph(img, 1)->p_paddr = TPVH_TEXT_PADDR + 0xf0)
MUT(m_overlap_contained, (ph(img, 1)->p_paddr = TPVH_TEXT_PADDR + 0x20,
			  ph(img, 1)->p_filesz = ph(img, 1)->p_memsz = 0x10))
MUT(m_note_type, xen_note(img)->n_type = 17)
MUT(m_note_name, memcpy(img + TPVH_XEN_NOTE_OFF + 12, "Xem", 4))
MUT(m_note_descsz, xen_note(img)->n_descsz = 0x1000)
MUT(m_note_namesz, xen_note(img)->n_namesz = 0xffffffff)
MUT(m_note_first_namesz, ((Elf64_Nhdr *)(img + TPVH_NOTE_OFF))->n_namesz = 0xfffffff0)
MUT(m_note_cut, ph(img, 2)->p_filesz = 24 + 6)
MUT(m_note_desc3, xen_note(img)->n_descsz = 3)
MUT(m_note_past_file, ph(img, 2)->p_offset = TPVH_SIZE - 8)
MUT(m_entry_outside, memcpy(img + TPVH_XEN_NOTE_OFF + 16, "\x00\x00\x30\x00\x00\x00\x00\x00", 8))
MUT(m_entry_bss_end, memcpy(img + TPVH_XEN_NOTE_OFF + 16, "\x00\x20\x20\x00\x00\x00\x00\x00", 8))
MUT(m_no_load, (ph(img, 0)->p_type = PT_NULL, ph(img, 1)->p_type = PT_NULL))

MUT(b_short_file, *size = 0x210)
MUT(b_short_hdr, img[0x201] = 0x20)
MUT(b_hdr_past_file, (img[0x201] = 0xff, *size = 0x280))
MUT(b_boot_flag, img[0x1fe] = 0)
MUT(b_version, tbz_hdr(img)->version = 0x0206)
MUT(b_not_high, tbz_hdr(img)->loadflags = 0)
MUT(b_not_64, tbz_hdr(img)->xloadflags = 0)
MUT(b_setup_sects, tbz_hdr(img)->setup_sects = 64)
MUT(b_syssize, tbz_hdr(img)->syssize = TBZ_PM_SIZE / 16 + 1)
MUT(b_truncated, *size = TBZ_SIZE - 16)
MUT(b_no_entry, (tbz_hdr(img)->syssize = 0, *size = TBZ_SETUP_SIZE + 0x200))
MUT(b_init_size0, tbz_hdr(img)->init_size = 0)
MUT(b_align, tbz_hdr(img)->kernel_alignment = 0x300000)
MUT(b_align0, tbz_hdr(img)->kernel_alignment = 0)
MUT(b_fixed_low, (tbz_hdr(img)->relocatable_kernel = 0, tbz_hdr(img)->pref_address = 0))
MUT(b_init_huge, tbz_hdr(img)->init_size = 0xffffffff)
MUT(b_pref_wrap, tbz_hdr(img)->pref_address = UINT64_MAX - 0x1000)
MUT(b_pref_past_ram, tbz_hdr(img)->pref_address = 60 * MiB)
MUT(b_pref_hole, tbz_hdr(img)->pref_address = VMM_X86_MMIO_HOLE_START)

static const struct bad_case bad_cases[] = {
	{ "short ELF header", PVH, m_short_ehdr, -EINVAL, "shorter than an ELF64 header" },
	{ "ELF32", PVH, m_class32, -EINVAL, "ELFCLASS64" },
	{ "big endian", PVH, m_bigendian, -EINVAL, "little-endian x86_64" },
	{ "i386", PVH, m_machine, -EINVAL, "x86_64 executable" },
	{ "ET_DYN", PVH, m_dyn, -EINVAL, "executable" },
	{ "no phdrs", PVH, m_phnum0, -EINVAL, "program headers" },
	{ "1000 phdrs", PVH, m_phnum_big, -EINVAL, "program headers" },
	{ "phentsize", PVH, m_phentsize, -EINVAL, "program headers" },
	{ "phoff wraps", PVH, m_phoff_huge, -EINVAL, "outside the 1024-byte file" },
	{ "phoff past end", PVH, m_phoff_past, -EINVAL, "outside the 1024-byte file" },
	{ "p_offset wraps", PVH, m_seg_off_wrap, -EINVAL, "segment 0 (file offset" },
	{ "p_filesz past end", PVH, m_seg_filesz_big, -EINVAL, "lies outside" },
	{ "truncated ELF", PVH, m_truncated, -EINVAL, "truncated image" },
	{ "filesz > memsz", PVH, m_filesz_gt_memsz, -EINVAL, "filesz 64 > memsz 16" },
	{ "below 1 MiB", PVH, m_below_1m, -EINVAL, "below 1 MiB" },
	{ "past RAM", PVH, m_past_ram, -EINVAL, "not in guest RAM" },
	{ "paddr wraps", PVH, m_paddr_wrap, -EINVAL, "not in guest RAM" },
	{ "memsz huge", PVH, m_memsz_huge, -EINVAL, "not in guest RAM" },
	{ "in MMIO hole", PVH, m_in_hole, -EINVAL, "not in guest RAM" },
	{ "overlap", PVH, m_overlap, -EINVAL, "segments 0 and 1 overlap at 0x1000f0" },
	{ "overlap containing", PVH, m_overlap_contained, -EINVAL, "overlap at 0x100020" },
	{ "no Xen note", PVH, m_note_type, -EINVAL, "no PVH entry note" },
	{ "note name", PVH, m_note_name, -EINVAL, "no PVH entry note" },
	{ "note descsz", PVH, m_note_descsz, -EINVAL, "overruns its PT_NOTE" },
	{ "note namesz", PVH, m_note_namesz, -EINVAL, "overruns its PT_NOTE" },
	{ "first note namesz", PVH, m_note_first_namesz, -EINVAL, "overruns its PT_NOTE" },
	{ "note cut off", PVH, m_note_cut, -EINVAL, "cut off" },
	{ "note 3 bytes", PVH, m_note_desc3, -EINVAL, "3-byte value" },
	{ "note past file", PVH, m_note_past_file, -EINVAL, "segment 2" },
	{ "entry outside", PVH, m_entry_outside, -EINVAL, "PVH entry 0x300000" },
	{ "entry at bss end", PVH, m_entry_bss_end, -EINVAL, "not inside a loaded segment" },
	{ "no PT_LOAD", PVH, m_no_load, -EINVAL, "no loadable segment" },

	{ "short bzImage", BZ, b_short_file, -EINVAL, "setup header ends" },
	{ "short header", BZ, b_short_hdr, -EINVAL, "setup header ends at 0x222" },
	{ "header past file", BZ, b_hdr_past_file, -EINVAL, "setup header ends at 0x301" },
	{ "boot_flag", BZ, b_boot_flag, -EINVAL, "boot_flag" },
	{ "protocol 2.06", BZ, b_version, -EINVAL, "protocol 2.06 is older than 2.12" },
	{ "zImage", BZ, b_not_high, -EINVAL, "zImage" },
	{ "32-bit", BZ, b_not_64, -EINVAL, "XLF_KERNEL_64" },
	{ "setup_sects", BZ, b_setup_sects, -EINVAL, "inside its 33280-byte setup code" },
	{ "syssize", BZ, b_syssize, -EINVAL, "truncated: syssize" },
	{ "truncated bzImage", BZ, b_truncated, -EINVAL, "truncated: syssize" },
	{ "no 64-bit entry", BZ, b_no_entry, -EINVAL, "512 bytes after its setup code" },
	{ "init_size 0", BZ, b_init_size0, -EINVAL, "init_size is 0" },
	{ "alignment", BZ, b_align, -EINVAL, "not a power of two" },
	{ "alignment 0", BZ, b_align0, -EINVAL, "not a power of two" },
	{ "fixed below 1M", BZ, b_fixed_low, -EINVAL, "below 1 MiB" },
	{ "init_size huge", BZ, b_init_huge, -EINVAL, "needs RAM" },
	{ "pref_address wraps", BZ, b_pref_wrap, -EINVAL, "overflows" },
	{ "pref past RAM", BZ, b_pref_past_ram, -EINVAL, "needs RAM from 0x100000 to 0x4400000" },
	{ "pref in hole", BZ, b_pref_hole, -EINVAL, "needs RAM" },
};

static void
test_bad_images(void **state)
{
	struct vmm_mem *mem = *state;
	uint8_t img[TBZ_SIZE > TPVH_SIZE ? TBZ_SIZE : TPVH_SIZE];
	struct vmm_x86_boot b;
	char err[256];
	size_t i, size;

	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		int rc;

		size = c->kind == BZ ? tbz_build(img) : tpvh_build(img, 8);
		c->mutate(img, &size);
		err[0] = '\0';
		rc = load(mem, img, size, NULL, 0, "", &b, err, sizeof(err));
		if (rc != c->rc || strstr(err, c->msg) == NULL || strncmp(err, "kernel: ", 8) != 0)
			fail_msg("%s: rc %d (want %d), err \"%s\" (want \"%s\")", c->name, rc,
				 c->rc, err, c->msg);
	}
}

static void
test_bad_other(void **state)
{
	struct vmm_mem *mem = *state, *tiny;
	uint8_t img[TPVH_SIZE];
	struct vmm_x86_boot b;
	char err[256];

	struct vmm_x86_boot_args args = { .kernel = img, .kernel_size = sizeof(img), .vcpus = 1 };

	assert_int_equal(vmm_x86_boot_load(NULL, &args, &b, err, sizeof(err)), -EINVAL);
	assert_int_equal(vmm_x86_boot_load(mem, NULL, &b, err, sizeof(err)), -EINVAL);
	assert_int_equal(vmm_x86_boot_load(mem, &args, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "missing argument"));
	memset(img, 0x90, sizeof(img));
	assert_int_equal(load(mem, img, sizeof(img), NULL, 0, "", &b, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "kernel: neither a bzImage"));
	assert_int_equal(load(mem, img, 0, NULL, 0, "", &b, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "kernel: empty image"));
	tpvh_build(img, 8);
	assert_int_equal(load(mem, img, sizeof(img), NULL, 5, "", &b, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "initrd:"));
	a_vcpus = 0;
	assert_int_equal(load(mem, img, sizeof(img), NULL, 0, "", &b, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "vcpus: 0"));
	a_vcpus = VMM_X86_ACPI_MAX_VCPUS + 1;
	assert_int_equal(load(mem, img, sizeof(img), NULL, 0, "", &b, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "vcpus: 255"));
	a_vcpus = 1;
	/* Works with no err buffer at all. */
	assert_int_equal(load(mem, img, 10, NULL, 0, "", &b, NULL, 0), -EINVAL);
	/* A truncated err buffer still gets a terminated prefix. */
	assert_int_equal(load(mem, img, 10, NULL, 0, "", &b, err, 8), -EINVAL);
	assert_string_equal(err, "kernel:");

	tiny = new_mem(512 * 1024);
	assert_int_equal(load(tiny, img, sizeof(img), NULL, 0, "", &b, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "memory:"));
	vmm_mem_destroy(tiny);
}

/* Every prefix of a valid image fails cleanly until the image is whole. */
static void
test_every_truncation(void **state)
{
	struct vmm_mem *mem = *state;
	uint8_t bz[TBZ_SIZE], pvh[TPVH_SIZE];
	struct vmm_x86_boot b;
	const size_t pvh_needed = TPVH_XEN_NOTE_OFF + 24;
	char err[256];
	size_t n;

	tbz_build(bz);
	tpvh_build(pvh, 8);
	for (n = 0; n < TBZ_SIZE; n++)
		assert_int_equal(load(mem, bz, n, NULL, 0, "", &b, err, sizeof(err)), -EINVAL);
	assert_int_equal(load(mem, bz, TBZ_SIZE, NULL, 0, "", &b, err, sizeof(err)), 0);
	for (n = 0; n < pvh_needed; n++)
		assert_int_equal(load(mem, pvh, n, NULL, 0, "", &b, err, sizeof(err)), -EINVAL);
	for (; n <= TPVH_SIZE; n++)
		assert_int_equal(load(mem, pvh, n, NULL, 0, "", &b, err, sizeof(err)), 0);
}

/* ---- the real Debian kernel ---- */

static uint8_t *
slurp(const char *dir, const char *name, size_t *size)
{
	char path[4096];
	struct stat st;
	uint8_t *buf;
	ssize_t n;
	size_t got = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fail_msg("NV_TEST_IMAGES: cannot open %s", path);
	assert_int_equal(fstat(fd, &st), 0);
	buf = malloc(st.st_size);
	assert_non_null(buf);
	while (got < (size_t)st.st_size) {
		n = read(fd, buf + got, st.st_size - got);
		assert_true(n > 0);
		got += n;
	}
	close(fd);
	*size = got;
	return buf;
}

static void
test_real_images(void **state)
{
	const char *dir = getenv("NV_TEST_IMAGES");
	struct vmm_mem *mem;
	uint8_t *bz, *elf, initrd[4096];
	size_t bzsz, elfsz, setup;
	struct boot_params *bp;
	struct vmm_x86_boot b;
	char err[256];

	(void)state;
	if (dir == NULL || dir[0] == '\0') {
		fprintf(stderr, "SKIP: NV_TEST_IMAGES is not set; real kernel images not tested\n");
		skip();
	}
	memset(initrd, 0x42, sizeof(initrd));
	mem = new_mem(512 * MiB);

	bz = slurp(dir, "bzImage", &bzsz);
	if (load(mem, bz, bzsz, initrd, sizeof(initrd), "console=ttyS0", &b, err, sizeof(err)) != 0)
		fail_msg("bzImage: %s", err);
	assert_string_equal(b.format, "bzImage");
	assert_int_equal(b.entry, 0x100200);
	bp = vmm_mem_ptr(mem, VMM_X86_ZERO_PAGE_GPA, sizeof(*bp));
	assert_true(bp->hdr.version >= 0x020c);
	assert_true(bp->hdr.xloadflags & XLF_KERNEL_64);
	assert_true(bp->hdr.relocatable_kernel);
	setup = ((bz[0x1f1] ? bz[0x1f1] : 4) + 1) * 512;
	assert_memory_equal(vmm_mem_ptr(mem, 0x100000, bzsz - setup), bz + setup, bzsz - setup);
	assert_true(b.kernel_end >= bp->hdr.pref_address + bp->hdr.init_size);
	assert_true(b.initrd_gpa >= b.kernel_end);
	assert_true(b.initrd_gpa + sizeof(initrd) <= 512 * MiB);
	assert_true(b.initrd_gpa + sizeof(initrd) <= (uint64_t)bp->hdr.initrd_addr_max + 1);
	assert_int_equal(bp->hdr.ramdisk_image, b.initrd_gpa);
	free(bz);
	vmm_mem_destroy(mem);

	mem = new_mem(512 * MiB);
	elf = slurp(dir, "vmlinux", &elfsz);
	if (load(mem, elf, elfsz, initrd, sizeof(initrd), "console=ttyS0", &b, err, sizeof(err)) !=
	    0)
		fail_msg("vmlinux: %s", err);
	assert_string_equal(b.format, "pvh-elf");
	assert_true(b.entry >= b.kernel_gpa && b.entry < b.kernel_end);
	assert_true(b.kernel_gpa >= 16 * MiB);
	assert_int_equal(rd32(mem, VMM_X86_PVH_INFO_GPA + SI_MAGIC), 0x336ec578);
	assert_int_equal(rd32(mem, VMM_X86_PVH_INFO_GPA + SI_NR_MODULES), 1);
	assert_true(b.initrd_gpa >= b.kernel_end);
	free(elf);
	vmm_mem_destroy(mem);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_e820_sizes),
		cmocka_unit_test(test_e820_tiny),
		cmocka_unit_test_setup_teardown(test_pvh_load, setup_mem, teardown_mem),
		cmocka_unit_test_setup_teardown(test_pvh_note_desc4_no_initrd, setup_mem,
						teardown_mem),
		cmocka_unit_test(test_pvh_above_hole),
		cmocka_unit_test_setup_teardown(test_bzimage_load, setup_mem, teardown_mem),
		cmocka_unit_test_setup_teardown(test_bzimage_initrd_addr_max, setup_mem,
						teardown_mem),
		cmocka_unit_test_setup_teardown(test_initrd_too_big, setup_mem, teardown_mem),
		cmocka_unit_test_setup_teardown(test_cmdline_limits, setup_mem, teardown_mem),
		cmocka_unit_test_setup_teardown(test_gdt_and_page_tables, setup_mem, teardown_mem),
		cmocka_unit_test_setup_teardown(test_reset_vector, setup_mem, teardown_mem),
		cmocka_unit_test_setup_teardown(test_bad_images, setup_mem, teardown_mem),
		cmocka_unit_test_setup_teardown(test_bad_other, setup_mem, teardown_mem),
		cmocka_unit_test_setup_teardown(test_every_truncation, setup_mem, teardown_mem),
		cmocka_unit_test(test_real_images),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
