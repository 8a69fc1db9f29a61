/* SPDX-License-Identifier: MIT */
/*
 * Synthetic x86 kernel images for the boot loader tests and the fuzz seed
 * corpus: the smallest files that are still a valid bzImage (protocol
 * 2.15, 64-bit) or a valid ELF64 vmlinux with a PVH note. Their offsets
 * are fixed so that a test can break one field at a time.
 */
#ifndef TEST_X86_IMAGES_H
#define TEST_X86_IMAGES_H

#include <stddef.h>
#include <stdint.h>

/* bzImage: one setup sector after the boot sector, then the kernel. */
#define TBZ_SETUP_SIZE   1024
#define TBZ_PM_SIZE      0x1000
#define TBZ_SIZE         (TBZ_SETUP_SIZE + TBZ_PM_SIZE)
#define TBZ_INIT_SIZE    0x800000
#define TBZ_PREF_ADDR    0x1000000
#define TBZ_ALIGN        0x200000
#define TBZ_CMDLINE_SIZE 2047
#define TBZ_INITRD_MAX   0x7fffffff

/* Fill buf[TBZ_SIZE]; the kernel body is tbz_byte(i). Returns TBZ_SIZE. */
size_t tbz_build(uint8_t *buf);
uint8_t tbz_byte(size_t i);
/* The setup header of buf, for editing in place (packed, unaligned). */
struct setup_header *tbz_hdr(uint8_t *buf);

/*
 * PVH ELF: three program headers.
 *   [0] PT_LOAD  text: file 0x200..0x300 at TPVH_TEXT_PADDR, memsz 0x100
 *   [1] PT_LOAD  data: file 0x300..0x340 at TPVH_DATA_PADDR, memsz 0x2000 (bss)
 *   [2] PT_NOTE  at file 0x380: a GNU build-id note, then the Xen PHYS32 note
 */
#define TPVH_SIZE         0x400
#define TPVH_TEXT_PADDR   0x100000
#define TPVH_DATA_PADDR   0x200000
#define TPVH_DATA_MEMSZ   0x2000
#define TPVH_ENTRY        0x100040
#define TPVH_NOTE_OFF     0x380
#define TPVH_XEN_NOTE_OFF (TPVH_NOTE_OFF + 12 + 4 + 8) /* after the GNU note */

/* Fill buf[TPVH_SIZE]; desc_size 4 or 8 for the entry note. */
size_t tpvh_build(uint8_t *buf, unsigned int desc_size);
uint8_t tpvh_byte(size_t i);

#endif
