/* SPDX-License-Identifier: MIT */
/*
 * Unit tests: vmm/x86/acpi.c. The tables are walked from the RSDP with
 * this file's own decoding, then handed to iasl as an independent one.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "iasl_util.h"
#include "x86/acpi.h"
#include "x86/layout.h"

#define BASE    VMM_X86_ACPI_GPA
#define BUFSIZE VMM_X86_ACPI_SIZE

struct tables {
	uint8_t buf[BUFSIZE];
	uint64_t rsdp;
	size_t used;
};

static uint16_t
g16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t
g32(const uint8_t *p)
{
	return (uint32_t)g16(p) | (uint32_t)g16(p + 2) << 16;
}

static uint64_t
g64(const uint8_t *p)
{
	return (uint64_t)g32(p) | (uint64_t)g32(p + 4) << 32;
}

static uint8_t
sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n-- > 0)
		s = (uint8_t)(s + *p++);
	return s;
}

static struct tables *
build(uint32_t vcpus)
{
	struct tables *t = calloc(1, sizeof(*t));
	struct vmm_x86_acpi_conf conf = { .vcpus = vcpus };

	assert_non_null(t);
	memset(t->buf, 0xee, sizeof(t->buf));
	assert_int_equal(
		vmm_x86_acpi_build(t->buf, sizeof(t->buf), BASE, &conf, &t->rsdp, &t->used), 0);
	assert_true(t->used > 0 && t->used <= sizeof(t->buf));
	return t;
}

/* The table at gpa, checked to lie inside what was built, with its
 * length and checksum verified; sig may be NULL. */
static const uint8_t *
table(const struct tables *t, uint64_t gpa, const char *sig, uint32_t *len)
{
	const uint8_t *p;
	uint32_t l;

	assert_true(gpa >= BASE);
	assert_true(gpa - BASE + 36 <= t->used);
	p = t->buf + (gpa - BASE);
	l = g32(p + 4);
	assert_true(l >= 36);
	assert_true(gpa - BASE + l <= t->used);
	if (sig != NULL)
		assert_memory_equal(p, sig, 4);
	assert_int_equal(sum(p, l), 0);
	assert_memory_equal(p + 10, "NVISOR", 6);
	*len = l;
	return p;
}

static const uint8_t *
xsdt_find(const struct tables *t, const char *sig, uint32_t *len)
{
	const uint8_t *rsdp = t->buf + (t->rsdp - BASE), *xsdt, *p;
	uint32_t xlen, i;

	xsdt = table(t, g64(rsdp + 24), "XSDT", &xlen);
	for (i = 36; i + 8 <= xlen; i += 8) {
		p = table(t, g64(xsdt + i), NULL, len);
		if (memcmp(p, sig, 4) == 0)
			return p;
	}
	fail_msg("no %s in the XSDT", sig);
	return NULL;
}

static void
test_checksum(void **state)
{
	uint8_t b[4] = { 1, 2, 3, 0 };

	(void)state;
	assert_int_equal(vmm_x86_acpi_checksum(b, 3), 0xfa);
	b[3] = vmm_x86_acpi_checksum(b, 3);
	assert_int_equal(sum(b, 4), 0);
	assert_int_equal(vmm_x86_acpi_checksum(b, 0), 0);
}

static void
check_root(uint32_t vcpus)
{
	struct tables *t = build(vcpus);
	const uint8_t *rsdp, *xsdt, *a, *b;
	uint32_t xlen, la, lb, i, j;

	/* RSDP first, 16-byte aligned (the legacy scan), revision 2. */
	assert_int_equal(t->rsdp, BASE);
	rsdp = t->buf;
	assert_memory_equal(rsdp, "RSD PTR ", 8);
	assert_int_equal(sum(rsdp, 20), 0);
	assert_int_equal(sum(rsdp, 36), 0);
	assert_int_equal(rsdp[15], 2);
	assert_int_equal(g32(rsdp + 20), 36);
	assert_int_equal(g32(rsdp + 16), 0); /* no RSDT: XSDT only */

	xsdt = table(t, g64(rsdp + 24), "XSDT", &xlen);
	assert_int_equal(xsdt[8], 1);
	assert_int_equal(xlen, 36 + 3 * 8);
	/* FADT, MADT and MCFG, each whole, none overlapping another or the RSDP. */
	for (i = 36; i < xlen; i += 8) {
		a = table(t, g64(xsdt + i), NULL, &la);
		assert_true(a >= t->buf + 36);
		assert_true(a + la <= xsdt || a >= xsdt + xlen);
		for (j = i + 8; j < xlen; j += 8) {
			b = table(t, g64(xsdt + j), NULL, &lb);
			assert_true(a + la <= b || b + lb <= a);
		}
	}
	assert_memory_equal(table(t, g64(xsdt + 36), NULL, &la), "FACP", 4);
	assert_memory_equal(table(t, g64(xsdt + 44), NULL, &la), "APIC", 4);
	assert_memory_equal(table(t, g64(xsdt + 52), NULL, &la), "MCFG", 4);
	free(t);
}

static void
test_root_pointers(void **state)
{
	(void)state;
	check_root(1);
	check_root(2);
	check_root(8);
	check_root(VMM_X86_ACPI_MAX_VCPUS);
}

static void
check_gas_io8(const uint8_t *g, uint16_t port)
{
	assert_int_equal(g[0], 1); /* SystemIO */
	assert_int_equal(g[1], 8); /* bit width */
	assert_int_equal(g[2], 0); /* bit offset */
	assert_int_equal(g[3], 1); /* byte access */
	assert_int_equal(g64(g + 4), port);
}

static void
test_fadt(void **state)
{
	struct tables *t = build(2);
	const uint8_t *f, *dsdt;
	uint32_t flen, dlen, flags, i;

	(void)state;
	f = xsdt_find(t, "FACP", &flen);
	assert_int_equal(flen, 276);
	assert_int_equal(f[8], 6);
	flags = g32(f + 112);
	assert_true(flags & (1u << 20)); /* HW_REDUCED_ACPI */
	assert_true(flags & (1u << 10)); /* RESET_REG_SUP */
	assert_true(flags & (1u << 4));  /* power button is a device, not fixed */
	/* IAPC_BOOT_ARCH: VGA and CMOS RTC absent, no 8042, no legacy devices. */
	assert_int_equal(g16(f + 109), (1u << 2) | (1u << 5));
	check_gas_io8(f + 116, VMM_X86_ACPI_RESET_PORT);
	assert_int_equal(f[128], VMM_X86_ACPI_RESET_VALUE);
	check_gas_io8(f + 244, VMM_X86_ACPI_SLEEP_CTL_PORT);
	check_gas_io8(f + 256, VMM_X86_ACPI_SLEEP_STS_PORT);
	/* Hardware-reduced: no SCI, SMI, PM blocks, FACS. */
	for (i = 36; i < 109; i++)
		if (i < 40 || i >= 44)
			assert_int_equal(f[i], 0);
	for (i = 148; i < 244; i++)
		assert_int_equal(f[i], 0);
	assert_int_equal(g64(f + 132), 0);
	/* X_DSDT resolves to the DSDT; the 32-bit field agrees. */
	dsdt = table(t, g64(f + 140), "DSDT", &dlen);
	assert_int_equal(g32(f + 40), g64(f + 140));
	assert_int_equal(dsdt[8], 2);
	free(t);
}

static void
check_madt(uint32_t vcpus)
{
	struct tables *t = build(vcpus);
	const uint8_t *m, *e;
	uint32_t len, off, nlapic = 0, nioapic = 0, niso = 0, nnmi = 0;

	m = xsdt_find(t, "APIC", &len);
	assert_int_equal(m[8], 5);
	assert_int_equal(g32(m + 36), VMM_X86_LAPIC_GPA);
	assert_int_equal(g32(m + 40), 0);
	for (off = 44; off < len; off += e[1]) {
		e = m + off;
		assert_true(off + 2 <= len);
		assert_true(e[1] >= 2 && off + e[1] <= len);
		switch (e[0]) {
		case 0:
			assert_int_equal(e[1], 8);
			assert_int_equal(e[2], nlapic); /* processor UID */
			assert_int_equal(e[3], nlapic); /* APIC id = index */
			assert_int_equal(g32(e + 4), 1);
			nlapic++;
			break;
		case 1:
			assert_int_equal(e[1], 12);
			assert_int_equal(g32(e + 4), VMM_X86_IOAPIC_GPA);
			assert_int_equal(g32(e + 8), 0);
			nioapic++;
			break;
		case 2:
			assert_int_equal(e[1], 10);
			assert_int_equal(e[2], 0);
			assert_int_equal(e[3], 0);
			assert_int_equal(g32(e + 4), 2);
			niso++;
			break;
		case 4:
			assert_int_equal(e[1], 6);
			assert_int_equal(e[2], 0xff);
			assert_int_equal(e[5], 1); /* LINT1 */
			nnmi++;
			break;
		default:
			fail_msg("unexpected MADT entry type %u", e[0]);
		}
	}
	assert_int_equal(off, len); /* entries fill the table exactly */
	assert_int_equal(nlapic, vcpus);
	assert_int_equal(nioapic, 1);
	assert_int_equal(niso, 1);
	assert_int_equal(nnmi, 1);
	free(t);
}

static void
test_madt(void **state)
{
	(void)state;
	check_madt(1);
	check_madt(2);
	check_madt(8);
}

/* PCI Firmware Specification 3.3, 4.1.2: one allocation, ECAM of bus 0. */
static void
test_mcfg(void **state)
{
	struct tables *t = build(2);
	const uint8_t *m;
	uint32_t len, i;

	(void)state;
	m = xsdt_find(t, "MCFG", &len);
	assert_int_equal(len, 36 + 8 + 16);
	assert_int_equal(m[8], 1);
	for (i = 36; i < 44; i++)
		assert_int_equal(m[i], 0);
	assert_int_equal(g64(m + 44), VMM_X86_PCI_ECAM_GPA);
	assert_int_equal(g16(m + 52), 0); /* segment */
	assert_int_equal(m[54], 0);       /* start bus */
	assert_int_equal(m[55], VMM_X86_PCI_BUSES - 1);
	assert_int_equal(g32(m + 56), 0);
	/* The window is in the MMIO hole, clear of the BAR window and the IOAPIC. */
	assert_true(VMM_X86_PCI_ECAM_GPA >= VMM_X86_PCI_MMIO32_END);
	assert_true(VMM_X86_PCI_ECAM_GPA + VMM_X86_PCI_ECAM_SIZE <= VMM_X86_IOAPIC_GPA);
	assert_true(VMM_X86_PCI_MMIO32_START >= VMM_X86_MMIO_HOLE_START);
	free(t);
}

static void
test_errors(void **state)
{
	struct tables *t = build(8);
	struct vmm_x86_acpi_conf conf = { .vcpus = 8 };
	uint8_t *buf = malloc(BUFSIZE);
	uint64_t rsdp;
	size_t used, need = t->used, n;

	(void)state;
	assert_non_null(buf);
	/* Exactly enough space works and gives the same bytes. */
	assert_int_equal(vmm_x86_acpi_build(buf, need, BASE, &conf, &rsdp, &used), 0);
	assert_int_equal(used, need);
	assert_memory_equal(buf, t->buf, need);
	/* Any less does not, and never writes past the end. */
	for (n = 0; n < need; n += (n < 64 || need - n < 64) ? 1 : 37) {
		uint8_t *small = malloc(n + 1);

		assert_non_null(small);
		assert_int_equal(vmm_x86_acpi_build(small, n, BASE, &conf, &rsdp, &used), -ENOSPC);
		free(small);
	}
	conf.vcpus = 0;
	assert_int_equal(vmm_x86_acpi_build(buf, BUFSIZE, BASE, &conf, &rsdp, &used), -EINVAL);
	conf.vcpus = VMM_X86_ACPI_MAX_VCPUS + 1;
	assert_int_equal(vmm_x86_acpi_build(buf, BUFSIZE, BASE, &conf, &rsdp, &used), -EINVAL);
	conf.vcpus = 1;
	assert_int_equal(vmm_x86_acpi_build(buf, BUFSIZE, BASE + 8, &conf, &rsdp, &used), -EINVAL);
	assert_int_equal(vmm_x86_acpi_build(buf, BUFSIZE, UINT64_MAX - 15, &conf, &rsdp, &used),
			 -EINVAL);
	free(buf);
	free(t);
}

static void
need_iasl(void)
{
	if (!iasl_available()) {
		fprintf(stderr, "SKIP: iasl not found (Debian: acpica-tools); ACPI tables were not "
				"decoded independently\n");
		skip();
	}
}

static struct iasl_result
disassemble(const uint8_t *p, uint32_t len, bool recompile)
{
	struct iasl_result r;

	assert_int_equal(iasl_run(p, len, recompile, &r), 0);
	if (iasl_complained(&r))
		fail_msg("iasl complained:\n%s\n%s", r.log, r.dsl);
	return r;
}

static void
test_iasl_dsdt(void **state)
{
	struct tables *t;
	const uint8_t *f, *d;
	uint32_t flen, dlen;
	struct iasl_result r;
	uint8_t *bad;

	(void)state;
	need_iasl();
	t = build(2);
	f = xsdt_find(t, "FACP", &flen);
	d = table(t, g64(f + 140), "DSDT", &dlen);
	r = disassemble(d, dlen, true);
	assert_non_null(strstr(r.dsl, "_S5_"));
	assert_non_null(strstr(r.dsl, "Name (_S5, Package (0x04)"));
	assert_non_null(strstr(r.dsl, "0x05, \n        Zero, \n        Zero, \n        Zero"));
	assert_non_null(strstr(r.dsl, "EisaId (\"PNP0C0C\")"));
	assert_non_null(strstr(r.dsl, "Device (PWRB)"));
	assert_non_null(strstr(r.dsl, "Name (_HID, \"ACPI0013\""));
	assert_non_null(strstr(r.dsl, "Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive"));
	assert_non_null(strstr(r.dsl, "0x0000000A,"));
	assert_non_null(strstr(r.dsl, "Method (_EVT, 1, NotSerialized)"));
	assert_non_null(strstr(r.dsl, "If ((Arg0 == 0x0A))"));
	assert_non_null(strstr(r.dsl, "Notify (\\_SB.PWRB, 0x80)"));
	assert_non_null(strstr(r.dsl, "EisaId (\"PNP0501\")"));
	assert_non_null(strstr(r.dsl, "IRQNoFlags ()\n                    {4}"));
	/* The PCI root bridge: bus 0, the BAR window below the ECAM window. */
	assert_non_null(strstr(r.dsl, "Device (PCI0)"));
	assert_non_null(strstr(r.dsl, "Name (_HID, EisaId (\"PNP0A08\")"));
	assert_non_null(strstr(r.dsl, "Name (_CID, EisaId (\"PNP0A03\")"));
	assert_non_null(strstr(r.dsl, "Name (_SEG, Zero)"));
	assert_non_null(strstr(r.dsl, "Name (_BBN, Zero)"));
	assert_non_null(strstr(r.dsl, "WordBusNumber (ResourceProducer, MinFixed, MaxFixed, "
				      "PosDecode,"));
	assert_non_null(strstr(r.dsl, "0x0001,             // Length"));
	assert_non_null(strstr(r.dsl, "DWordMemory (ResourceProducer, PosDecode, MinFixed, "
				      "MaxFixed, NonCacheable, ReadWrite,"));
	assert_non_null(strstr(r.dsl, "0xC0000000,         // Range Minimum"));
	assert_non_null(strstr(r.dsl, "0xDFFFFFFF,         // Range Maximum"));
	assert_non_null(strstr(r.dsl, "0x20000000,         // Length"));
	/* No legacy interrupt routing: MSI-X only. */
	assert_null(strstr(r.dsl, "_PRT"));
	/* ECAM reserved as a motherboard resource. */
	assert_non_null(strstr(r.dsl, "Device (MRES)"));
	assert_non_null(strstr(r.dsl, "Name (_HID, EisaId (\"PNP0C02\")"));
	assert_non_null(strstr(r.dsl, "Memory32Fixed (ReadWrite,\n                    "
				      "0xE0000000,         // Address Base\n                    "
				      "0x00100000,         // Address Length"));
	/* Compiled back without optimisations, iasl writes the same AML. */
	assert_int_equal(r.aml_len, dlen);
	assert_memory_equal(r.aml + 36, d + 36, dlen - 36);
	iasl_result_free(&r);

	/* The complaint check is live: a broken checksum is reported. */
	bad = malloc(dlen);
	assert_non_null(bad);
	memcpy(bad, d, dlen);
	bad[9] ^= 0x55;
	assert_int_equal(iasl_run(bad, dlen, false, &r), 0);
	assert_true(iasl_complained(&r));
	assert_non_null(strstr(r.log, "Incorrect checksum"));
	iasl_result_free(&r);
	free(bad);
	free(t);
}

static void
test_iasl_fadt_madt_xsdt(void **state)
{
	struct tables *t;
	const uint8_t *p;
	uint32_t len;
	struct iasl_result r;

	(void)state;
	need_iasl();
	t = build(8);
	p = xsdt_find(t, "FACP", &len);
	r = disassemble(p, len, false);
	assert_non_null(strstr(r.dsl, "Revision : 06"));
	assert_non_null(strstr(r.dsl, "Hardware Reduced (V5) : 1"));
	assert_non_null(strstr(r.dsl, "Reset Register Supported (V2) : 1"));
	assert_non_null(strstr(r.dsl, "CMOS RTC Not Present (V5) : 1"));
	assert_non_null(strstr(r.dsl, "VGA Not Present (V4) : 1"));
	assert_non_null(strstr(r.dsl, "8042 Present on ports 60/64 (V2) : 0"));
	assert_non_null(strstr(r.dsl, "Address : 0000000000000602"));
	assert_non_null(strstr(r.dsl, "Value to cause reset : 01"));
	assert_non_null(strstr(r.dsl, "Sleep Control Register : [Generic Address Structure]"));
	assert_non_null(strstr(r.dsl, "Address : 0000000000000600"));
	assert_non_null(strstr(r.dsl, "Address : 0000000000000601"));
	iasl_result_free(&r);

	p = xsdt_find(t, "APIC", &len);
	r = disassemble(p, len, false);
	assert_int_equal(count_substr(r.dsl, "[Processor Local APIC]"), 8);
	assert_int_equal(count_substr(r.dsl, "[I/O APIC]"), 1);
	assert_int_equal(count_substr(r.dsl, "[Interrupt Source Override]"), 1);
	assert_int_equal(count_substr(r.dsl, "[Local APIC NMI]"), 1);
	assert_non_null(strstr(r.dsl, "Local Apic ID : 07"));
	assert_non_null(strstr(r.dsl, "Address : FEC00000"));
	iasl_result_free(&r);

	p = table(t, g64(t->buf + 24), "XSDT", &len);
	r = disassemble(p, len, false);
	assert_int_equal(count_substr(r.dsl, "ACPI Table Address"), 3);
	iasl_result_free(&r);

	p = xsdt_find(t, "MCFG", &len);
	r = disassemble(p, len, false);
	assert_non_null(strstr(r.dsl, "Signature : \"MCFG\""));
	assert_non_null(strstr(r.dsl, "Base Address : 00000000E0000000"));
	assert_non_null(strstr(r.dsl, "Segment Group Number : 0000"));
	assert_non_null(strstr(r.dsl, "Start Bus Number : 00"));
	assert_non_null(strstr(r.dsl, "End Bus Number : 00"));
	iasl_result_free(&r);
	free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_checksum),  cmocka_unit_test(test_root_pointers),
		cmocka_unit_test(test_fadt),      cmocka_unit_test(test_madt),
		cmocka_unit_test(test_mcfg),      cmocka_unit_test(test_errors),
		cmocka_unit_test(test_iasl_dsdt), cmocka_unit_test(test_iasl_fadt_madt_xsdt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
