/* SPDX-License-Identifier: MIT */
/*
 * Unit tests: vmm/x86/aml.c. Encodings are checked against the bytes the
 * ACPI spec gives (chapter 20), PkgLength by an independent decoder, and a
 * DSDT using every helper (the shape of the later PCI host bridge too) by
 * iasl: disassembled, and recompiled to the same bytes.
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
#include "x86/aml.h"

#define ENC(buf, call)                                                                             \
	({                                                                                         \
		struct vmm_aml a_;                                                                 \
		size_t n_ = 0;                                                                     \
		vmm_aml_init(&a_, (buf), sizeof(buf));                                             \
		call;                                                                              \
		assert_int_equal(vmm_aml_finish(&a_, &n_), 0);                                     \
		n_;                                                                                \
	})

static void
expect(const uint8_t *got, size_t n, const char *want, size_t wn)
{
	assert_int_equal(n, wn);
	assert_memory_equal(got, want, wn);
}

#define EXPECT(got, n, lit) expect((got), (n), (lit), sizeof(lit) - 1)

static void
test_integers(void **state)
{
	uint8_t b[16];

	(void)state;
	EXPECT(b, ENC(b, vmm_aml_integer(&a_, 0)), "\x00");
	EXPECT(b, ENC(b, vmm_aml_integer(&a_, 1)), "\x01");
	EXPECT(b, ENC(b, vmm_aml_integer(&a_, 2)), "\x0a\x02");
	EXPECT(b, ENC(b, vmm_aml_integer(&a_, 0xff)), "\x0a\xff");
	EXPECT(b, ENC(b, vmm_aml_integer(&a_, 0x100)), "\x0b\x00\x01");
	EXPECT(b, ENC(b, vmm_aml_integer(&a_, 0x12345678)), "\x0c\x78\x56\x34\x12");
	EXPECT(b, ENC(b, vmm_aml_integer(&a_, 0x100000000ull)),
	       "\x0e\x00\x00\x00\x00\x01\x00\x00\x00");
	EXPECT(b, ENC(b, vmm_aml_integer(&a_, UINT64_MAX)), "\x0e\xff\xff\xff\xff\xff\xff\xff\xff");
	EXPECT(b, ENC(b, vmm_aml_string(&a_, "ab")), "\x0d\x61\x62\x00");
	/* EisaId ("PNP0C0C") is the DWord 0x0c0cd041. */
	EXPECT(b, ENC(b, vmm_aml_eisaid(&a_, "PNP0C0C")), "\x0c\x41\xd0\x0c\x0c");
	EXPECT(b, ENC(b, vmm_aml_eisaid(&a_, "PNP0A08")), "\x0c\x41\xd0\x0a\x08");
}

static void
test_names(void **state)
{
	uint8_t b[64];

	(void)state;
	EXPECT(b, ENC(b, vmm_aml_name_string(&a_, "_S5_")), "_S5_");
	EXPECT(b, ENC(b, vmm_aml_name_string(&a_, "GED")), "GED_");
	EXPECT(b, ENC(b, vmm_aml_name_string(&a_, "\\_SB")), "\\_SB_");
	EXPECT(b, ENC(b, vmm_aml_name_string(&a_, "\\_SB.PWRB")), "\\\x2e_SB_PWRB");
	EXPECT(b, ENC(b, vmm_aml_name_string(&a_, "\\_SB.PCI0.S08")), "\\\x2f\x03_SB_PCI0S08_");
	EXPECT(b, ENC(b, vmm_aml_name_string(&a_, "^^PWRB")), "^^PWRB");
	EXPECT(b, ENC(b, vmm_aml_name_string(&a_, "\\")), "\\\x00");
	EXPECT(b, ENC(b, vmm_aml_name_string(&a_, "")), "\x00");
	EXPECT(b, ENC(b, vmm_aml_name(&a_, "_UID"); vmm_aml_integer(&a_, 0)), "\x08_UID\x00");
}

static void
test_bad_input(void **state)
{
	const char *bad_names[] = { "1ABC", "ABCDE", "abc", "A..B", "A.", ".A", "A-B", "\\^A" };
	const char *bad_ids[] = { "PNP0C0", "PNP0C0CX", "pnp0c0c", "PNP0C0G", "1NP0C0C" };
	uint8_t b[64], small[3];
	struct vmm_aml a;
	size_t n, i;

	(void)state;
	for (i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		vmm_aml_init(&a, b, sizeof(b));
		vmm_aml_name_string(&a, bad_names[i]);
		if (vmm_aml_finish(&a, &n) != -EINVAL)
			fail_msg("name \"%s\" was accepted", bad_names[i]);
	}
	for (i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
		vmm_aml_init(&a, b, sizeof(b));
		vmm_aml_eisaid(&a, bad_ids[i]);
		if (vmm_aml_finish(&a, &n) != -EINVAL)
			fail_msg("EisaId \"%s\" was accepted", bad_ids[i]);
	}
	vmm_aml_init(&a, b, sizeof(b));
	vmm_aml_string(&a, "caf\xc3\xa9");
	assert_int_equal(vmm_aml_finish(&a, &n), -EINVAL);
	vmm_aml_init(&a, b, sizeof(b));
	vmm_aml_arg(&a, 7);
	assert_int_equal(vmm_aml_finish(&a, &n), -EINVAL);
	vmm_aml_init(&a, b, sizeof(b));
	vmm_aml_local(&a, 8);
	assert_int_equal(vmm_aml_finish(&a, &n), -EINVAL);
	vmm_aml_init(&a, b, sizeof(b));
	vmm_aml_res_irq(&a, 16);
	assert_int_equal(vmm_aml_finish(&a, &n), -EINVAL);
	vmm_aml_init(&a, b, sizeof(b));
	vmm_aml_res_dword_mem(&a, VMM_AML_MEM_CACHEABLE, 10, 9);
	assert_int_equal(vmm_aml_finish(&a, &n), -EINVAL);

	/* Unbalanced scopes. */
	vmm_aml_init(&a, b, sizeof(b));
	vmm_aml_end(&a);
	assert_int_equal(vmm_aml_finish(&a, &n), -EINVAL);
	vmm_aml_init(&a, b, sizeof(b));
	vmm_aml_device(&a, "DEV");
	assert_int_equal(vmm_aml_finish(&a, &n), -EINVAL);
	vmm_aml_init(&a, b, sizeof(b));
	for (i = 0; i <= VMM_AML_MAX_DEPTH; i++)
		vmm_aml_if(&a);
	assert_int_equal(vmm_aml_finish(&a, &n), -EINVAL);

	/* Out of space: sticky, nothing written past the end. */
	memset(small, 0x77, sizeof(small));
	vmm_aml_init(&a, small, 2);
	vmm_aml_integer(&a, 0x1234);
	assert_int_equal(a.err, -ENOSPC);
	n = a.len;
	assert_true(n <= 2);
	vmm_aml_integer(&a, 1);
	assert_int_equal(a.len, n);
	assert_int_equal(vmm_aml_finish(&a, &n), -ENOSPC);
	assert_int_equal(small[2], 0x77);
	/* No room for the PkgLength when the scope closes. */
	vmm_aml_init(&a, small, 2);
	vmm_aml_if(&a);
	vmm_aml_integer(&a, 0);
	vmm_aml_end(&a);
	assert_int_equal(vmm_aml_finish(&a, &n), -ENOSPC);
	assert_int_equal(small[2], 0x77);
}

/* Independent PkgLength decoder (ACPI 6.5, 20.2.4). */
static size_t
pkglen_decode(const uint8_t *p, unsigned int *nbytes)
{
	unsigned int n = p[0] >> 6, i;
	size_t len;

	if (n == 0) {
		*nbytes = 1;
		return p[0] & 0x3f;
	}
	assert_int_equal(p[0] & 0x30, 0); /* reserved bits of a multi-byte lead */
	len = p[0] & 0xf;
	for (i = 0; i < n; i++)
		len |= (size_t)p[1 + i] << (4 + 8 * i);
	*nbytes = n + 1;
	return len;
}

static void
test_pkglength(void **state)
{
	const size_t sizes[] = { 0,    1,    58,      59,      60,      61,     62,
				 63,   64,   4085,    4086,    4087,    4090,   4093,
				 4094, 4095, 1048560, 1048565, 1048570, 1500000 };
	const size_t cap = 1600000;
	uint8_t *buf = malloc(cap), *raw = malloc(cap);
	struct vmm_aml a;
	unsigned int nb;
	size_t i, n, pl, off;

	(void)state;
	assert_non_null(buf);
	assert_non_null(raw);
	memset(raw, 0x5a, cap);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		/* If (Zero) { <raw bytes> }: PkgLength covers itself and the body. */
		vmm_aml_init(&a, buf, cap);
		vmm_aml_if(&a);
		vmm_aml_bytes(&a, raw, sizes[i]);
		vmm_aml_end(&a);
		assert_int_equal(vmm_aml_finish(&a, &n), 0);
		assert_int_equal(buf[0], 0xa0);
		pl = pkglen_decode(buf + 1, &nb);
		assert_int_equal(pl, n - 1);
		assert_int_equal(pl, sizes[i] + nb);
		/* The shortest encoding. */
		assert_int_equal(nb, pl < 64 ? 1 : pl < 4096 ? 2 : pl < (1u << 20) ? 3 : 4);
		assert_memory_equal(buf + 1 + nb, raw, sizes[i]);

		/* Buffer: PkgLength, then BufferSize as an integer, then the bytes. */
		vmm_aml_init(&a, buf, cap);
		vmm_aml_buffer(&a);
		vmm_aml_bytes(&a, raw, sizes[i]);
		vmm_aml_end(&a);
		assert_int_equal(vmm_aml_finish(&a, &n), 0);
		assert_int_equal(buf[0], 0x11);
		pl = pkglen_decode(buf + 1, &nb);
		assert_int_equal(pl, n - 1);
		off = 1 + nb;
		switch (buf[off]) {
		case 0x00:
			assert_int_equal(sizes[i], 0);
			off += 1;
			break;
		case 0x01:
			assert_int_equal(sizes[i], 1);
			off += 1;
			break;
		case 0x0a:
			assert_int_equal(buf[off + 1], sizes[i]);
			off += 2;
			break;
		case 0x0b:
			assert_int_equal(buf[off + 1] | buf[off + 2] << 8, sizes[i]);
			off += 3;
			break;
		case 0x0c:
			assert_int_equal(buf[off + 1] | buf[off + 2] << 8 | buf[off + 3] << 16,
					 sizes[i]);
			off += 5;
			break;
		default:
			fail_msg("bad BufferSize prefix 0x%x", buf[off]);
		}
		assert_int_equal(n - off, sizes[i]);
		assert_memory_equal(buf + off, raw, sizes[i]);
	}
	free(buf);
	free(raw);
}

static void
test_nested_scopes(void **state)
{
	uint8_t b[128];
	size_t n;

	(void)state;
	/* Name (PKG0, Package () { One, Package () { "x" } }) */
	n = ENC(b, vmm_aml_name(&a_, "PKG0"); vmm_aml_package(&a_, 2); vmm_aml_integer(&a_, 1);
		vmm_aml_package(&a_, 1); vmm_aml_string(&a_, "x"); vmm_aml_end(&a_);
		vmm_aml_end(&a_));
	EXPECT(b, n, "\x08PKG0\x12\x09\x02\x01\x12\x05\x01\x0dx\x00");
	/* Method (_STA, 0, Serialized) { Return (0x0f) } */
	n = ENC(b, vmm_aml_method(&a_, "_STA", 0, true); vmm_aml_return(&a_);
		vmm_aml_integer(&a_, 0xf); vmm_aml_end(&a_));
	EXPECT(b, n, "\x14\x09_STA\x08\xa4\x0a\x0f");
	/* Device (\_SB.DEV0) {} */
	n = ENC(b, vmm_aml_device(&a_, "\\_SB.DEV0"); vmm_aml_end(&a_));
	EXPECT(b, n, "\x5b\x82\x0b\\\x2e_SB_DEV0");
	/* ResourceTemplate () { IRQNoFlags () {4} } */
	n = ENC(b, vmm_aml_resources(&a_); vmm_aml_res_irq(&a_, 4); vmm_aml_resources_end(&a_));
	EXPECT(b, n, "\x11\x08\x0a\x05\x22\x10\x00\x79\x00");
	/* ResourceTemplate () { Memory32Fixed (ReadWrite, 0xe0000000, 0x100000) } */
	n = ENC(b, vmm_aml_resources(&a_); vmm_aml_res_mem32_fixed(&a_, true, 0xe0000000, 0x100000);
		vmm_aml_resources_end(&a_));
	EXPECT(b, n, "\x11\x11\x0a\x0e\x86\x09\x00\x01\x00\x00\x00\xe0\x00\x00\x10\x00\x79\x00");
}

/* A DSDT using every helper, including the PCI host bridge shape. */
static size_t
build_test_dsdt(uint8_t *buf, size_t cap)
{
	const uint32_t gsis[] = { 16, 17 };
	struct vmm_aml a;
	size_t n;

	memset(buf, 0, 36);
	vmm_aml_init(&a, buf + 36, cap - 36);
	vmm_aml_scope(&a, "\\_SB");
	vmm_aml_device(&a, "PCI0");
	vmm_aml_name(&a, "_HID");
	vmm_aml_eisaid(&a, "PNP0A08");
	vmm_aml_name(&a, "_CID");
	vmm_aml_eisaid(&a, "PNP0A03");
	vmm_aml_name(&a, "_SEG");
	vmm_aml_integer(&a, 0);
	vmm_aml_name(&a, "_CRS");
	vmm_aml_resources(&a);
	vmm_aml_res_word_bus(&a, 0, 0xff);
	vmm_aml_res_io(&a, 0xcf8, 0xcf8, 1, 8);
	vmm_aml_res_word_io(&a, 0x1000, 0xffff);
	vmm_aml_res_dword_mem(&a, VMM_AML_MEM_NONCACHEABLE, 0xc0000000, 0xfebfffff);
	vmm_aml_res_qword_mem(&a, VMM_AML_MEM_PREFETCHABLE, 0x8000000000ull, 0xffffffffffull);
	vmm_aml_res_interrupt(&a, false, true, true, gsis, 2);
	vmm_aml_res_mem32_fixed(&a, false, 0xfed00000, 0x400);
	vmm_aml_resources_end(&a);
	vmm_aml_method(&a, "TEST", 2, true);
	vmm_aml_if(&a);
	vmm_aml_land(&a);
	vmm_aml_lequal(&a);
	vmm_aml_arg(&a, 0);
	vmm_aml_integer(&a, 0x12345678);
	vmm_aml_lnot(&a);
	vmm_aml_arg(&a, 1);
	vmm_aml_store(&a);
	vmm_aml_integer(&a, 0x100000000ull);
	vmm_aml_local(&a, 0);
	vmm_aml_return(&a);
	vmm_aml_local(&a, 0);
	vmm_aml_end(&a);
	vmm_aml_else(&a);
	vmm_aml_return(&a);
	vmm_aml_string(&a, "no");
	vmm_aml_end(&a);
	vmm_aml_end(&a); /* TEST */
	vmm_aml_end(&a); /* PCI0 */
	vmm_aml_end(&a); /* \_SB */
	assert_int_equal(vmm_aml_finish(&a, &n), 0);
	n += 36;
	memcpy(buf, "DSDT", 4);
	buf[4] = (uint8_t)n;
	buf[5] = (uint8_t)(n >> 8);
	buf[8] = 2;
	memcpy(buf + 10, "NVTEST", 6);
	buf[9] = vmm_x86_acpi_checksum(buf, n);
	return n;
}

static void
test_iasl_roundtrip(void **state)
{
	uint8_t buf[1024];
	struct iasl_result r;
	size_t n;

	(void)state;
	if (!iasl_available()) {
		fprintf(stderr, "SKIP: iasl not found (Debian: acpica-tools); AML not decoded "
				"independently\n");
		skip();
	}
	n = build_test_dsdt(buf, sizeof(buf));
	assert_int_equal(iasl_run(buf, n, true, &r), 0);
	if (iasl_complained(&r))
		fail_msg("iasl complained:\n%s\n%s", r.log, r.dsl);
	assert_non_null(strstr(r.dsl, "EisaId (\"PNP0A08\")"));
	assert_non_null(strstr(r.dsl, "WordBusNumber (ResourceProducer, MinFixed, MaxFixed, "
				      "PosDecode,"));
	assert_non_null(strstr(r.dsl, "0x00FF,             // Range Maximum"));
	assert_non_null(strstr(r.dsl, "0x0CF8,             // Range Minimum"));
	assert_non_null(strstr(r.dsl, "WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, "
				      "EntireRange,"));
	assert_non_null(strstr(r.dsl, "DWordMemory (ResourceProducer, PosDecode, MinFixed, "
				      "MaxFixed, NonCacheable, ReadWrite,"));
	assert_non_null(strstr(r.dsl, "0x3EC00000,         // Length"));
	assert_non_null(strstr(r.dsl, "QWordMemory (ResourceProducer, PosDecode, MinFixed, "
				      "MaxFixed, Prefetchable, ReadWrite,"));
	assert_non_null(strstr(r.dsl, "0x000000FFFFFFFFFF, // Range Maximum"));
	assert_non_null(strstr(r.dsl, "Interrupt (ResourceConsumer, Level, ActiveLow, Shared"));
	assert_non_null(strstr(r.dsl, "Memory32Fixed (ReadOnly,\n                    "
				      "0xFED00000,         // Address Base\n                    "
				      "0x00000400,         // Address Length"));
	assert_non_null(strstr(r.dsl, "0x00000011,"));
	assert_non_null(strstr(r.dsl, "Method (TEST, 2, Serialized)"));
	assert_non_null(strstr(r.dsl, "If (((Arg0 == 0x12345678) && !Arg1))"));
	assert_non_null(strstr(r.dsl, "Local0 = 0x0000000100000000"));
	assert_non_null(strstr(r.dsl, "Return (\"no\")"));
	/* Compiled back without optimisations, iasl writes the same AML. */
	assert_int_equal(r.aml_len, n);
	assert_memory_equal(r.aml + 36, buf + 36, n - 36);
	iasl_result_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_integers),      cmocka_unit_test(test_names),
		cmocka_unit_test(test_bad_input),     cmocka_unit_test(test_pkglength),
		cmocka_unit_test(test_nested_scopes), cmocka_unit_test(test_iasl_roundtrip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
