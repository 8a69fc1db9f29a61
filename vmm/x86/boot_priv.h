/* SPDX-License-Identifier: MIT */
/*
 * Internal to the x86 boot code: what the format loaders (bzimage.c,
 * pvh.c) share with boot.c, and the boot GDT that boot.c writes and cpu.c
 * mirrors into the segment registers. Not part of the vmm contract.
 */
#ifndef VMM_X86_BOOT_PRIV_H
#define VMM_X86_BOOT_PRIV_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "x86/boot.h"

/* The boot GDT (layout.h selectors), one descriptor per entry. */
#define BOOT_GDT_ENTRIES 6 /* null, code32, code64, data, TSS (16 bytes) */

/* Segment descriptor from access byte | flags nibble << 12, base, limit. */
static inline uint64_t
gdt_descriptor(uint16_t attr, uint32_t base, uint32_t limit)
{
	return ((uint64_t)(base & 0xff000000u) << 32) | ((uint64_t)(attr & 0xf0ffu) << 40) |
	       ((uint64_t)(limit & 0xf0000u) << 32) | ((uint64_t)(base & 0x00ffffffu) << 16) |
	       (uint64_t)(limit & 0xffffu);
}

/* Fill gdt[BOOT_GDT_ENTRIES]. */
void vmm_x86_boot_gdt(uint64_t gdt[BOOT_GDT_ENTRIES]);

/* What a format loader found and placed. */
struct x86_kernel {
	uint64_t entry;
	uint64_t lowest;        /* first byte the kernel occupies */
	uint64_t end;           /* one past the last byte it may use early */
	uint64_t initrd_max;    /* highest byte the initrd may occupy */
	uint32_t cmdline_limit; /* longest cmdline (no NUL) the kernel takes */
	/* bzImage: the setup header bytes to copy into the zero page. */
	const uint8_t *setup_hdr;
	size_t setup_hdr_len;
};

/* snprintf into err (if any) and return rc. */
int vmm_x86_boot_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Format loaders: probe by content (0 = not mine, 1 = mine), then load. */
int vmm_x86_bzimage_probe(const uint8_t *img, size_t size);
int vmm_x86_bzimage_load(struct vmm_mem *mem, const uint8_t *img, size_t size, struct x86_kernel *k,
			 char *err, size_t errlen);
int vmm_x86_pvh_probe(const uint8_t *img, size_t size);
int vmm_x86_pvh_load(struct vmm_mem *mem, const uint8_t *img, size_t size, struct x86_kernel *k,
		     char *err, size_t errlen);

#endif
