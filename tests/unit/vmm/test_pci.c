/* SPDX-License-Identifier: MIT */
/*
 * Unit tests: vmm/pci.c. A function's config space through the masks
 * (read-only ids, writable command bits, write-1-to-clear status, BAR
 * sizing), the capability list, the bus's ECAM decoding (absent
 * functions, accesses that run past a function), BAR placement and the
 * decode that follows the guest's BAR and command writes.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pci.h"

#define ECAM   0xe0000000ull
#define WSTART 0xc0000000ull
#define WEND   0xe0000000ull

struct mapping {
	unsigned int calls;
	unsigned int bar;
	uint64_t old_gpa, new_gpa;
	unsigned int written;
	uint32_t last_off, last_len;
};

static void
hook_written(void *owner, struct vmm_pci_func *f, uint32_t off, uint32_t len)
{
	struct mapping *m = owner;

	(void)f;
	m->written++;
	m->last_off = off;
	m->last_len = len;
}

static void
hook_mapped(void *owner, struct vmm_pci_func *f, unsigned int bar, uint64_t old_gpa,
	    uint64_t new_gpa)
{
	struct mapping *m = owner;

	(void)f;
	m->calls++;
	m->bar = bar;
	m->old_gpa = old_gpa;
	m->new_gpa = new_gpa;
}

static const struct vmm_pci_func_ops hooks = {
	.cfg_written = hook_written,
	.bar_mapped = hook_mapped,
};

struct region {
	uint64_t last_off;
	uint32_t last_len;
	uint64_t last_val;
	unsigned int reads, writes;
};

static void
region_read(void *dev, uint64_t off, uint8_t *data, uint32_t len)
{
	struct region *r = dev;

	r->reads++;
	r->last_off = off;
	vmm_io_put(data, len, 0x1122334455667788ull);
}

static void
region_write(void *dev, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct region *r = dev;

	r->writes++;
	r->last_off = off;
	r->last_len = len;
	r->last_val = vmm_io_get(data, len);
}

static const struct vmm_dev_ops region_ops = {
	.name = "test-region",
	.read = region_read,
	.write = region_write,
};

static uint32_t
cfg_rd(struct vmm_pci *pci, unsigned int dev, uint32_t reg, uint32_t len)
{
	uint8_t b[8] = { 0 };

	vmm_pci_ecam_ops.read(pci, ((uint64_t)dev << 15) | reg, b, len);
	return (uint32_t)vmm_io_get(b, len);
}

static void
cfg_wr(struct vmm_pci *pci, unsigned int dev, uint32_t reg, uint32_t len, uint32_t v)
{
	uint8_t b[8];

	vmm_io_put(b, len, v);
	vmm_pci_ecam_ops.write(pci, ((uint64_t)dev << 15) | reg, b, len);
}

static void
test_header_and_masks(void **state)
{
	struct vmm_pci_func f;
	struct mapping m = { 0 };
	uint8_t b[4];

	(void)state;
	vmm_pci_func_init(&f, 0x1af4, 0x1041, 0x020000, 1, 0x1af4, 0x1100, &hooks, &m);
	vmm_pci_func_cfg_read(&f, 0, b, 4);
	assert_int_equal(vmm_io_get(b, 4), 0x10411af4);
	assert_int_equal(vmm_pci_cfg_get(&f, VMM_PCI_CLASS_PROG, 3), 0x020000);
	assert_int_equal(vmm_pci_cfg_get(&f, VMM_PCI_REVISION, 1), 1);
	assert_int_equal(vmm_pci_cfg_get(&f, VMM_PCI_HEADER_TYPE, 1), 0);
	assert_int_equal(vmm_pci_cfg_get(&f, VMM_PCI_INT_PIN, 1), 0); /* no INTx */

	/* Ids are read-only. */
	vmm_io_put(b, 4, 0xdeadbeef);
	vmm_pci_func_cfg_write(&f, 0, b, 4);
	assert_int_equal(vmm_pci_cfg_get(&f, 0, 4), 0x10411af4);
	/* Command: memory, master, parity, SERR, INTx disable; not I/O space. */
	vmm_io_put(b, 2, 0xffff);
	vmm_pci_func_cfg_write(&f, VMM_PCI_COMMAND, b, 2);
	assert_int_equal(vmm_pci_cfg_get(&f, VMM_PCI_COMMAND, 2), 0x0546);
	/* Status error bits are RW1C: set one by hand, clear it by writing 1. */
	f.cfg[VMM_PCI_STATUS + 1] |= 0x20;
	vmm_io_put(b, 2, 0x0000);
	vmm_pci_func_cfg_write(&f, VMM_PCI_STATUS, b, 2);
	assert_int_equal(f.cfg[VMM_PCI_STATUS + 1] & 0x20, 0x20);
	vmm_io_put(b, 2, 0x2000);
	vmm_pci_func_cfg_write(&f, VMM_PCI_STATUS, b, 2);
	assert_int_equal(f.cfg[VMM_PCI_STATUS + 1] & 0x20, 0);
	/* Interrupt line is scratch; past 256 bytes reads 0, writes vanish. */
	vmm_io_put(b, 1, 0x0b);
	vmm_pci_func_cfg_write(&f, VMM_PCI_INT_LINE, b, 1);
	assert_int_equal(vmm_pci_cfg_get(&f, VMM_PCI_INT_LINE, 1), 0x0b);
	memset(b, 0xaa, 4);
	vmm_pci_func_cfg_read(&f, 254, b, 4);
	assert_int_equal(b[2], 0);
	assert_int_equal(b[3], 0);
	vmm_pci_func_cfg_write(&f, 300, b, 4); /* no crash, nothing changes */
}

static void
test_bars(void **state)
{
	struct vmm_pci_func f;
	struct region r = { 0 };
	uint8_t b[4];

	(void)state;
	vmm_pci_func_init(&f, 1, 2, 0, 0, 0, 0, NULL, NULL);
	assert_int_equal(vmm_pci_func_add_bar(&f, 0, 0x8000, false, &region_ops, &r), 0);
	assert_int_equal(vmm_pci_func_add_bar(&f, 2, 1ull << 32, true, &region_ops, &r), 0);
	/* Not a power of two, too small, taken, a 64-bit BAR's upper half,
	 * past the last register. */
	assert_int_equal(vmm_pci_func_add_bar(&f, 1, 0x3000, false, &region_ops, &r), -EINVAL);
	assert_int_equal(vmm_pci_func_add_bar(&f, 1, 8, false, &region_ops, &r), -EINVAL);
	assert_int_equal(vmm_pci_func_add_bar(&f, 0, 0x1000, false, &region_ops, &r), -EINVAL);
	assert_int_equal(vmm_pci_func_add_bar(&f, 3, 0x1000, false, &region_ops, &r), -EINVAL);
	assert_int_equal(vmm_pci_func_add_bar(&f, 5, 0x1000, true, &region_ops, &r), -EINVAL);
	assert_int_equal(vmm_pci_func_add_bar(&f, 6, 0x1000, false, &region_ops, &r), -EINVAL);

	/* 6.2.5.1 sizing: all ones reads back ~(size - 1) with the type bits. */
	vmm_io_put(b, 4, 0xffffffff);
	vmm_pci_func_cfg_write(&f, VMM_PCI_BAR0, b, 4);
	assert_int_equal(vmm_pci_cfg_get(&f, VMM_PCI_BAR0, 4), 0xffff8000);
	vmm_pci_func_cfg_write(&f, VMM_PCI_BAR0 + 8, b, 4);
	vmm_pci_func_cfg_write(&f, VMM_PCI_BAR0 + 12, b, 4);
	assert_int_equal(vmm_pci_cfg_get(&f, VMM_PCI_BAR0 + 8, 4), 0x00000004);
	assert_int_equal(vmm_pci_cfg_get(&f, VMM_PCI_BAR0 + 12, 4), 0xffffffff);
	/* Unused BARs stay zero. */
	vmm_pci_func_cfg_write(&f, VMM_PCI_BAR0 + 4, b, 4);
	assert_int_equal(vmm_pci_cfg_get(&f, VMM_PCI_BAR0 + 4, 4), 0);

	/* Decoding needs the memory bit and an address. */
	vmm_io_put(b, 4, 0xc0008000);
	vmm_pci_func_cfg_write(&f, VMM_PCI_BAR0, b, 4);
	assert_int_equal(vmm_pci_func_bar_decode(&f, 0), 0);
	vmm_pci_cfg_set(&f, VMM_PCI_COMMAND, 2, VMM_PCI_CMD_MEMORY);
	assert_int_equal(vmm_pci_func_bar_decode(&f, 0), 0xc0008000);
	vmm_pci_cfg_set(&f, VMM_PCI_BAR0 + 8, 4, 4);
	vmm_pci_cfg_set(&f, VMM_PCI_BAR0 + 12, 4, 0x10);
	assert_int_equal(vmm_pci_func_bar_decode(&f, 2), 0x1000000000ull);
	/* A 64-bit BAR that would wrap does not decode. */
	vmm_pci_cfg_set(&f, VMM_PCI_BAR0 + 12, 4, 0xffffffff);
	assert_int_equal(vmm_pci_func_bar_decode(&f, 2), 0);
	assert_int_equal(vmm_pci_func_bar_decode(&f, 1), 0);
}

static void
test_caps(void **state)
{
	struct vmm_pci_func f;
	int a, b, c;

	(void)state;
	vmm_pci_func_init(&f, 1, 2, 0, 0, 0, 0, NULL, NULL);
	assert_int_equal(vmm_pci_cfg_get(&f, VMM_PCI_STATUS, 2) & VMM_PCI_STATUS_CAP_LIST, 0);
	a = vmm_pci_func_add_cap(&f, 0x11, 12);
	b = vmm_pci_func_add_cap(&f, 0x09, 18); /* rounded up to a dword */
	c = vmm_pci_func_add_cap(&f, 0x09, 16);
	assert_int_equal(a, 0x40);
	assert_int_equal(b, 0x4c);
	assert_int_equal(c, 0x60);
	assert_true(vmm_pci_cfg_get(&f, VMM_PCI_STATUS, 2) & VMM_PCI_STATUS_CAP_LIST);
	/* The chain: 0x34 -> a -> b -> c -> 0. */
	assert_int_equal(f.cfg[VMM_PCI_CAP_PTR], a);
	assert_int_equal(f.cfg[a + 1], b);
	assert_int_equal(f.cfg[b + 1], c);
	assert_int_equal(f.cfg[c + 1], 0);
	assert_int_equal(f.cfg[b], 0x09);
	/* Read-only unless made writable. */
	f.cfg[c + 4] = 0x55;
	vmm_pci_func_cfg_write(&f, c + 4, (const uint8_t[]){ 0xaa }, 1);
	assert_int_equal(f.cfg[c + 4], 0x55);
	vmm_pci_cfg_writable(&f, c + 4, 1, 0x0f);
	vmm_pci_func_cfg_write(&f, c + 4, (const uint8_t[]){ 0xaa }, 1);
	assert_int_equal(f.cfg[c + 4], 0x5a);
	/* No room left: -ENOSPC, the list intact. */
	assert_int_equal(vmm_pci_func_add_cap(&f, 0x09, 200), -ENOSPC);
	assert_int_equal(f.cfg[c + 1], 0);
}

static void
test_ecam(void **state)
{
	struct vmm_pci pci;
	struct vmm_pci_func f;
	struct mapping m = { 0 };
	struct vmm_pci_stats st;
	uint8_t b[8];

	(void)state;
	assert_int_equal(vmm_pci_init(&pci, ECAM, 0, WSTART, WEND), -EINVAL);
	assert_int_equal(vmm_pci_init(&pci, ECAM, 1, WSTART, WEND), 0);
	assert_int_equal(vmm_pci_ecam_size(&pci), 1 << 20);
	vmm_pci_func_init(&f, 0x1af4, 0x1041, 0x020000, 1, 0x1af4, 0x1100, &hooks, &m);
	assert_int_equal(vmm_pci_add(&pci, 3, &f), 0);
	assert_int_equal(vmm_pci_add(&pci, 3, &f), -EEXIST);
	assert_int_equal(vmm_pci_add(&pci, 32, &f), -EINVAL);

	assert_int_equal(cfg_rd(&pci, 3, 0, 4), 0x10411af4);
	assert_int_equal(cfg_rd(&pci, 3, 2, 2), 0x1041);
	assert_int_equal(cfg_rd(&pci, 3, 0xb, 1), 0x02);
	/* Absent devices and functions read all ones. */
	assert_int_equal(cfg_rd(&pci, 4, 0, 4), 0xffffffff);
	assert_int_equal(cfg_rd(&pci, 0, 0, 4), 0xffffffff);
	memset(b, 0, sizeof(b));
	vmm_pci_ecam_ops.read(&pci, (3u << 15) | (1u << 12), b, 4); /* 00:03.1 */
	assert_int_equal(vmm_io_get(b, 4), 0xffffffff);
	/* Extended space of a conventional function reads 0. */
	assert_int_equal(cfg_rd(&pci, 3, 0x100, 4), 0);
	/* An access running into the next function is none. */
	memset(b, 0, sizeof(b));
	vmm_pci_ecam_ops.read(&pci, (3u << 15) | 0xffe, b, 4);
	assert_int_equal(vmm_io_get(b, 4), 0xffffffff);
	/* Writes reach the hooks, with offset and length. */
	cfg_wr(&pci, 3, VMM_PCI_INT_LINE, 1, 5);
	assert_int_equal(m.written, 1);
	assert_int_equal(m.last_off, VMM_PCI_INT_LINE);
	cfg_wr(&pci, 4, VMM_PCI_COMMAND, 2, 2); /* absent: dropped */
	assert_int_equal(m.written, 1);
	vmm_pci_get_stats(&pci, &st);
	assert_int_equal(st.cfg_absent, 5);
	assert_true(st.cfg_reads >= 4);
	vmm_pci_fini(&pci);
}

static void
test_bar_placement_and_decode(void **state)
{
	struct vmm_pci pci;
	struct vmm_pci_func f, g, big;
	struct mapping m = { 0 }, mg = { 0 };
	struct region r = { 0 }, rg = { 0 };
	uint8_t b[8];

	(void)state;
	assert_int_equal(vmm_pci_init(&pci, ECAM, 1, WSTART, WSTART + 0x20000), 0);
	vmm_pci_func_init(&f, 1, 1, 0, 0, 0, 0, &hooks, &m);
	vmm_pci_func_init(&g, 1, 2, 0, 0, 0, 0, &hooks, &mg);
	vmm_pci_func_init(&big, 1, 3, 0, 0, 0, 0, NULL, NULL);
	assert_int_equal(vmm_pci_func_add_bar(&f, 0, 0x1000, false, &region_ops, &r), 0);
	assert_int_equal(vmm_pci_func_add_bar(&g, 0, 0x8000, false, &region_ops, &rg), 0);
	assert_int_equal(vmm_pci_func_add_bar(&big, 0, 0x20000, false, &region_ops, &r), 0);
	assert_int_equal(vmm_pci_add(&pci, 1, &f), 0);
	assert_int_equal(vmm_pci_add(&pci, 2, &g), 0);
	/* In order, naturally aligned; the window is full for the next one. */
	assert_int_equal(cfg_rd(&pci, 1, VMM_PCI_BAR0, 4), WSTART);
	assert_int_equal(cfg_rd(&pci, 2, VMM_PCI_BAR0, 4), WSTART + 0x8000);
	assert_int_equal(vmm_pci_add(&pci, 3, &big), -ENOSPC);

	/* Nothing decodes until memory space is on. */
	assert_int_equal(vmm_pci_bar_access(&pci, WSTART, b, 4, false), -ENOENT);
	cfg_wr(&pci, 1, VMM_PCI_COMMAND, 2, VMM_PCI_CMD_MEMORY);
	assert_int_equal(m.calls, 1);
	assert_int_equal(m.old_gpa, 0);
	assert_int_equal(m.new_gpa, WSTART);
	assert_int_equal(vmm_pci_bar_access(&pci, WSTART + 0x10, b, 4, false), 0);
	assert_int_equal(r.last_off, 0x10);
	assert_int_equal(vmm_io_get(b, 4), 0x55667788);
	vmm_io_put(b, 2, 0xbeef);
	assert_int_equal(vmm_pci_bar_access(&pci, WSTART + 0xffe, b, 2, true), 0);
	assert_int_equal(r.last_val, 0xbeef);
	assert_int_equal(r.last_len, 2);
	/* Past the BAR's end, or straddling it: not this BAR. */
	assert_int_equal(vmm_pci_bar_access(&pci, WSTART + 0xffe, b, 4, false), -ENOENT);
	assert_int_equal(vmm_pci_bar_access(&pci, WSTART + 0x8000, b, 4, false), -ENOENT);

	/* Sizing with decode on moves the BAR (and tells the owner); writing
	 * the address back moves it again. */
	cfg_wr(&pci, 1, VMM_PCI_BAR0, 4, 0xffffffff);
	assert_int_equal(m.calls, 2);
	assert_int_equal(m.new_gpa, 0xfffff000);
	cfg_wr(&pci, 1, VMM_PCI_BAR0, 4, 0xd0000000);
	assert_int_equal(m.calls, 3);
	assert_int_equal(m.old_gpa, 0xfffff000);
	assert_int_equal(m.new_gpa, 0xd0000000);
	assert_int_equal(vmm_pci_bar_access(&pci, WSTART, b, 4, false), -ENOENT);
	assert_int_equal(vmm_pci_bar_access(&pci, 0xd0000004, b, 4, false), 0);
	/* Decode off: unmapped. A write that changes nothing calls nobody. */
	cfg_wr(&pci, 1, VMM_PCI_COMMAND, 2, 0);
	assert_int_equal(m.calls, 4);
	assert_int_equal(m.new_gpa, 0);
	cfg_wr(&pci, 1, VMM_PCI_COMMAND, 2, 0);
	assert_int_equal(m.calls, 4);
	assert_int_equal(mg.calls, 0);
	vmm_pci_fini(&pci);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_and_masks),
		cmocka_unit_test(test_bars),
		cmocka_unit_test(test_caps),
		cmocka_unit_test(test_ecam),
		cmocka_unit_test(test_bar_placement_and_decode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
