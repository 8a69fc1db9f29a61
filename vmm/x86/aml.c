/* SPDX-License-Identifier: MIT */
/*
 * AML encoder (aml.h). Opcodes and encodings from ACPI 6.5, 20.2 (AML
 * grammar); resource descriptors from 6.4.
 */
#include "x86/aml.h"

#include <errno.h>
#include <string.h>

/* 20.2.5 opcodes. */
#define AML_ZERO          0x00
#define AML_ONE           0x01
#define AML_NAME          0x08
#define AML_BYTE_PREFIX   0x0a
#define AML_WORD_PREFIX   0x0b
#define AML_DWORD_PREFIX  0x0c
#define AML_STRING_PREFIX 0x0d
#define AML_QWORD_PREFIX  0x0e
#define AML_SCOPE         0x10
#define AML_BUFFER        0x11
#define AML_PACKAGE       0x12
#define AML_METHOD        0x14
#define AML_DUAL_NAME     0x2e
#define AML_MULTI_NAME    0x2f
#define AML_EXT_PREFIX    0x5b
#define AML_EXT_DEVICE    0x82
#define AML_ROOT_CHAR     0x5c
#define AML_PARENT_CHAR   0x5e
#define AML_LOCAL0        0x60
#define AML_ARG0          0x68
#define AML_STORE         0x70
#define AML_NOTIFY        0x86
#define AML_LAND          0x90
#define AML_LNOT          0x92
#define AML_LEQUAL        0x93
#define AML_IF            0xa0
#define AML_ELSE          0xa1
#define AML_RETURN        0xa4

/* 6.4 resource descriptors. */
#define RES_IRQ_NOFLAGS   0x22 /* small, type 4, length 2 */
#define RES_IO            0x47 /* small, type 8, length 7 */
#define RES_END_TAG       0x79 /* small, type 0xf, length 1 */
#define RES_MEM32_FIXED   0x86
#define RES_DWORD_ADDR    0x87
#define RES_WORD_ADDR     0x88
#define RES_EXT_IRQ       0x89
#define RES_QWORD_ADDR    0x8a
#define RES_TYPE_MEM      0
#define RES_TYPE_IO       1
#define RES_TYPE_BUS      2
#define RES_FLAG_MIF      (1u << 2)
#define RES_FLAG_MAF      (1u << 3)
#define RES_IO_RNG_ENTIRE 3
#define RES_MEM_RW        1

#define PKGLEN_MAX        ((1u << 28) - 1)

static void
fail(struct vmm_aml *a, int err)
{
	if (a->err == 0)
		a->err = err;
}

void
vmm_aml_init(struct vmm_aml *a, uint8_t *buf, size_t cap)
{
	memset(a, 0, sizeof(*a));
	a->buf = buf;
	a->cap = cap;
}

int
vmm_aml_finish(struct vmm_aml *a, size_t *len)
{
	if (a->depth != 0)
		fail(a, -EINVAL);
	if (a->err != 0)
		return a->err;
	*len = a->len;
	return 0;
}

void
vmm_aml_bytes(struct vmm_aml *a, const void *p, size_t n)
{
	if (a->err != 0)
		return;
	if (n > a->cap - a->len) {
		fail(a, -ENOSPC);
		return;
	}
	memcpy(a->buf + a->len, p, n);
	a->len += n;
}

static void
byte(struct vmm_aml *a, uint8_t b)
{
	vmm_aml_bytes(a, &b, 1);
}

/* Little-endian, n bytes. */
static void
le(struct vmm_aml *a, uint64_t v, unsigned int n)
{
	uint8_t b[8];
	unsigned int i;

	for (i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	vmm_aml_bytes(a, b, n);
}

void
vmm_aml_integer(struct vmm_aml *a, uint64_t v)
{
	if (v == 0) {
		byte(a, AML_ZERO);
	} else if (v == 1) {
		byte(a, AML_ONE);
	} else if (v <= 0xff) {
		byte(a, AML_BYTE_PREFIX);
		le(a, v, 1);
	} else if (v <= 0xffff) {
		byte(a, AML_WORD_PREFIX);
		le(a, v, 2);
	} else if (v <= 0xffffffff) {
		byte(a, AML_DWORD_PREFIX);
		le(a, v, 4);
	} else {
		byte(a, AML_QWORD_PREFIX);
		le(a, v, 8);
	}
}

void
vmm_aml_string(struct vmm_aml *a, const char *s)
{
	size_t i, n = strlen(s);

	/* 20.2.3: AsciiCharList is 0x01-0x7f. */
	for (i = 0; i < n; i++) {
		if ((unsigned char)s[i] > 0x7f) {
			fail(a, -EINVAL);
			return;
		}
	}
	byte(a, AML_STRING_PREFIX);
	vmm_aml_bytes(a, s, n + 1);
}

static bool
name_char(char c, bool lead)
{
	return (c >= 'A' && c <= 'Z') || c == '_' || (!lead && c >= '0' && c <= '9');
}

void
vmm_aml_name_string(struct vmm_aml *a, const char *path)
{
	uint8_t segs[255][4];
	unsigned int nsegs = 0, i;
	const char *p = path;

	if (*p == '\\') {
		byte(a, AML_ROOT_CHAR);
		p++;
	} else {
		while (*p == '^') {
			byte(a, AML_PARENT_CHAR);
			p++;
		}
	}
	while (*p != '\0') {
		if (nsegs == 255) {
			fail(a, -EINVAL);
			return;
		}
		for (i = 0; i < 4 && *p != '\0' && *p != '.'; i++, p++) {
			if (!name_char(*p, i == 0)) {
				fail(a, -EINVAL);
				return;
			}
			segs[nsegs][i] = (uint8_t)*p;
		}
		if (i == 0 || (*p != '\0' && *p != '.')) {
			fail(a, -EINVAL); /* empty or longer than 4 characters */
			return;
		}
		for (; i < 4; i++)
			segs[nsegs][i] = '_';
		nsegs++;
		if (*p == '.') {
			p++;
			if (*p == '\0') {
				fail(a, -EINVAL); /* trailing dot */
				return;
			}
		}
	}
	if (nsegs == 0) {
		byte(a, AML_ZERO); /* NullName */
		return;
	}
	if (nsegs == 2) {
		byte(a, AML_DUAL_NAME);
	} else if (nsegs > 2) {
		byte(a, AML_MULTI_NAME);
		byte(a, (uint8_t)nsegs);
	}
	vmm_aml_bytes(a, segs, (size_t)nsegs * 4);
}

static int
hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void
vmm_aml_eisaid(struct vmm_aml *a, const char *id)
{
	uint32_t v;
	int i;

	/* Three letters of 5 bits each, then four hex digits, big-endian. */
	if (strlen(id) != 7) {
		fail(a, -EINVAL);
		return;
	}
	for (i = 0; i < 3; i++) {
		if (id[i] < 'A' || id[i] > 'Z') {
			fail(a, -EINVAL);
			return;
		}
	}
	for (i = 3; i < 7; i++) {
		if (hex_digit(id[i]) < 0) {
			fail(a, -EINVAL);
			return;
		}
	}
	v = (uint32_t)(id[0] - 0x40) << 26 | (uint32_t)(id[1] - 0x40) << 21 |
	    (uint32_t)(id[2] - 0x40) << 16 | (uint32_t)hex_digit(id[3]) << 12 |
	    (uint32_t)hex_digit(id[4]) << 8 | (uint32_t)hex_digit(id[5]) << 4 |
	    (uint32_t)hex_digit(id[6]);
	vmm_aml_integer(a, __builtin_bswap32(v));
}

void
vmm_aml_name(struct vmm_aml *a, const char *name)
{
	byte(a, AML_NAME);
	vmm_aml_name_string(a, name);
}

static void
open_scope(struct vmm_aml *a, bool buffer)
{
	if (a->err != 0)
		return;
	if (a->depth == VMM_AML_MAX_DEPTH) {
		fail(a, -EINVAL);
		return;
	}
	a->scope[a->depth].start = a->len;
	a->scope[a->depth].buffer = buffer;
	a->depth++;
}

/* 20.2.4: PkgLength counts itself; 1 byte up to 63, else 2-4 bytes. */
static unsigned int
pkglen_size(size_t body)
{
	if (body + 1 < (1u << 6))
		return 1;
	if (body + 2 < (1u << 12))
		return 2;
	if (body + 3 < (1u << 20))
		return 3;
	return 4;
}

static void
pkglen_encode(uint8_t *out, unsigned int n, uint32_t len)
{
	unsigned int i;

	if (n == 1) {
		out[0] = (uint8_t)len;
		return;
	}
	out[0] = (uint8_t)((n - 1) << 6 | (len & 0xf));
	for (i = 1; i < n; i++)
		out[i] = (uint8_t)(len >> (4 + 8 * (i - 1)));
}

void
vmm_aml_end(struct vmm_aml *a)
{
	uint8_t head[4 + 9];
	size_t start, body, hlen = 0;
	unsigned int n;

	if (a->err != 0)
		return;
	if (a->depth == 0) {
		fail(a, -EINVAL);
		return;
	}
	a->depth--;
	start = a->scope[a->depth].start;
	body = a->len - start;
	if (a->scope[a->depth].buffer) {
		/* BufferSize: the byte count as an integer, inside the PkgLength. */
		uint8_t size[9];
		size_t slen;
		struct vmm_aml tmp;

		vmm_aml_init(&tmp, size, sizeof(size));
		vmm_aml_integer(&tmp, body);
		slen = tmp.len;
		n = pkglen_size(body + slen);
		if (body + slen + n > PKGLEN_MAX) {
			fail(a, -EINVAL);
			return;
		}
		pkglen_encode(head, n, (uint32_t)(body + slen + n));
		memcpy(head + n, size, slen);
		hlen = n + slen;
	} else {
		n = pkglen_size(body);
		if (body + n > PKGLEN_MAX) {
			fail(a, -EINVAL);
			return;
		}
		pkglen_encode(head, n, (uint32_t)(body + n));
		hlen = n;
	}
	if (hlen > a->cap - a->len) {
		fail(a, -ENOSPC);
		return;
	}
	memmove(a->buf + start + hlen, a->buf + start, body);
	memcpy(a->buf + start, head, hlen);
	a->len += hlen;
}

void
vmm_aml_scope(struct vmm_aml *a, const char *path)
{
	byte(a, AML_SCOPE);
	open_scope(a, false);
	vmm_aml_name_string(a, path);
}

void
vmm_aml_device(struct vmm_aml *a, const char *path)
{
	byte(a, AML_EXT_PREFIX);
	byte(a, AML_EXT_DEVICE);
	open_scope(a, false);
	vmm_aml_name_string(a, path);
}

void
vmm_aml_method(struct vmm_aml *a, const char *name, unsigned int nargs, bool serialized)
{
	if (nargs > 7) {
		fail(a, -EINVAL);
		return;
	}
	byte(a, AML_METHOD);
	open_scope(a, false);
	vmm_aml_name_string(a, name);
	/* MethodFlags: ArgCount[2:0], SerializeFlag[3], SyncLevel[7:4] = 0. */
	byte(a, (uint8_t)(nargs | (serialized ? 1u << 3 : 0)));
}

void
vmm_aml_package(struct vmm_aml *a, unsigned int nelems)
{
	if (nelems > 255) {
		fail(a, -EINVAL);
		return;
	}
	byte(a, AML_PACKAGE);
	open_scope(a, false);
	byte(a, (uint8_t)nelems);
}

void
vmm_aml_buffer(struct vmm_aml *a)
{
	byte(a, AML_BUFFER);
	open_scope(a, true);
}

void
vmm_aml_if(struct vmm_aml *a)
{
	byte(a, AML_IF);
	open_scope(a, false);
}

void
vmm_aml_else(struct vmm_aml *a)
{
	byte(a, AML_ELSE);
	open_scope(a, false);
}

void
vmm_aml_lequal(struct vmm_aml *a)
{
	byte(a, AML_LEQUAL);
}

void
vmm_aml_land(struct vmm_aml *a)
{
	byte(a, AML_LAND);
}

void
vmm_aml_lnot(struct vmm_aml *a)
{
	byte(a, AML_LNOT);
}

void
vmm_aml_notify(struct vmm_aml *a)
{
	byte(a, AML_NOTIFY);
}

void
vmm_aml_return(struct vmm_aml *a)
{
	byte(a, AML_RETURN);
}

void
vmm_aml_store(struct vmm_aml *a)
{
	byte(a, AML_STORE);
}

void
vmm_aml_arg(struct vmm_aml *a, unsigned int n)
{
	if (n > 6) {
		fail(a, -EINVAL);
		return;
	}
	byte(a, (uint8_t)(AML_ARG0 + n));
}

void
vmm_aml_local(struct vmm_aml *a, unsigned int n)
{
	if (n > 7) {
		fail(a, -EINVAL);
		return;
	}
	byte(a, (uint8_t)(AML_LOCAL0 + n));
}

void
vmm_aml_resources(struct vmm_aml *a)
{
	vmm_aml_buffer(a);
}

void
vmm_aml_resources_end(struct vmm_aml *a)
{
	/* 6.4.2.9: End Tag; a checksum of 0 means "not checked". */
	byte(a, RES_END_TAG);
	byte(a, 0);
	vmm_aml_end(a);
}

void
vmm_aml_res_interrupt(struct vmm_aml *a, bool edge, bool active_low, bool shared,
		      const uint32_t *gsis, unsigned int n)
{
	unsigned int i;

	if (n == 0 || n > 255) {
		fail(a, -EINVAL);
		return;
	}
	byte(a, RES_EXT_IRQ);
	le(a, 2 + 4 * n, 2);
	/* Consumer[0], edge[1], active low[2], shared[3]. */
	byte(a, (uint8_t)(1u | (edge ? 1u << 1 : 0) | (active_low ? 1u << 2 : 0) |
			  (shared ? 1u << 3 : 0)));
	byte(a, (uint8_t)n);
	for (i = 0; i < n; i++)
		le(a, gsis[i], 4);
}

void
vmm_aml_res_irq(struct vmm_aml *a, unsigned int irq)
{
	if (irq > 15) {
		fail(a, -EINVAL);
		return;
	}
	byte(a, RES_IRQ_NOFLAGS);
	le(a, 1u << irq, 2);
}

void
vmm_aml_res_io(struct vmm_aml *a, uint16_t min, uint16_t max, uint8_t align, uint8_t len)
{
	byte(a, RES_IO);
	byte(a, 1); /* decodes 16 address bits */
	le(a, min, 2);
	le(a, max, 2);
	byte(a, align);
	byte(a, len);
}

void
vmm_aml_res_mem32_fixed(struct vmm_aml *a, bool writable, uint32_t base, uint32_t len)
{
	byte(a, RES_MEM32_FIXED);
	le(a, 9, 2);
	byte(a, writable ? 1 : 0);
	le(a, base, 4);
	le(a, len, 4);
}

/* Word (2), DWord (4) or QWord (8) address space descriptor. */
static void
addr_space(struct vmm_aml *a, uint8_t tag, unsigned int width, uint8_t type, uint8_t tflags,
	   uint64_t min, uint64_t max)
{
	if (max < min) {
		fail(a, -EINVAL);
		return;
	}
	byte(a, tag);
	le(a, 3 + 5 * width, 2);
	byte(a, type);
	byte(a, RES_FLAG_MIF | RES_FLAG_MAF); /* producer, positive decode */
	byte(a, tflags);
	le(a, 0, width); /* granularity */
	le(a, min, width);
	le(a, max, width);
	le(a, 0, width); /* translation offset */
	le(a, max - min + 1, width);
}

void
vmm_aml_res_word_bus(struct vmm_aml *a, uint16_t min, uint16_t max)
{
	addr_space(a, RES_WORD_ADDR, 2, RES_TYPE_BUS, 0, min, max);
}

void
vmm_aml_res_word_io(struct vmm_aml *a, uint16_t min, uint16_t max)
{
	addr_space(a, RES_WORD_ADDR, 2, RES_TYPE_IO, RES_IO_RNG_ENTIRE, min, max);
}

void
vmm_aml_res_dword_mem(struct vmm_aml *a, enum vmm_aml_mem_cache cache, uint32_t min, uint32_t max)
{
	addr_space(a, RES_DWORD_ADDR, 4, RES_TYPE_MEM, (uint8_t)(RES_MEM_RW | (cache & 3) << 1),
		   min, max);
}

void
vmm_aml_res_qword_mem(struct vmm_aml *a, enum vmm_aml_mem_cache cache, uint64_t min, uint64_t max)
{
	addr_space(a, RES_QWORD_ADDR, 8, RES_TYPE_MEM, (uint8_t)(RES_MEM_RW | (cache & 3) << 1),
		   min, max);
}
