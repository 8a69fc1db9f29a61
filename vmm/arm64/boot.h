/* SPDX-License-Identifier: MIT */
/*
 * arm64 direct kernel boot (Linux's Documentation/arch/arm64/booting.rst):
 * check an Image's 64-byte header, place the kernel, the initrd and the
 * device tree in guest RAM, and copy them there. Pure memory work: no KVM,
 * so it is unit tested on plain buffers on any host.
 *
 * Placement, RAM [base, base + size) with base 2 MiB aligned:
 *  - the kernel at base + text_offset (booting.rst: "a 2MB aligned base
 *    address ... as close as possible to the start of usable memory"),
 *    followed by image_size bytes it owns (its .bss included);
 *  - the DTB in the last 2 MiB-aligned 2 MiB block of RAM (8-byte aligned,
 *    at most 2 MiB, never crossing a 2 MiB boundary, as booting.rst asks);
 *  - the initrd right below the DTB, page aligned.
 * The boot vCPU enters at the kernel's first byte with x0 = the DTB.
 */
#ifndef VMM_ARM64_BOOT_H
#define VMM_ARM64_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "guest_mem.h"

#define VMM_ARM64_IMAGE_MAGIC       0x644d5241u /* "ARM\x64" */
#define VMM_ARM64_IMAGE_HEADER_SIZE 64
/* booting.rst: image_size 0 means a kernel older than 3.17 whose
 * text_offset is 0x80000. */
#define VMM_ARM64_IMAGE_OLD_TEXT_OFFSET 0x80000ull
#define VMM_ARM64_KERNEL_ALIGN          (2ull << 20)

/* What the header says. */
struct vmm_arm64_image {
	uint64_t text_offset;
	uint64_t image_size; /* bytes the kernel owns from its load address */
	uint64_t flags;
	size_t file_size;
};

/*
 * Check the header of an Image of size bytes. 0, or -EINVAL with err
 * saying why ("kernel: no arm64 Image magic ...", "kernel: big-endian
 * Image", "kernel: gzip-compressed ..."). Reads nothing past size.
 */
int vmm_arm64_image_parse(const uint8_t *image, size_t size, struct vmm_arm64_image *out, char *err,
			  size_t errlen);

struct vmm_arm64_boot {
	uint64_t entry;      /* PC of the boot vCPU: the kernel's load address */
	uint64_t kernel_end; /* load address + image_size */
	uint64_t initrd_gpa, initrd_size;
	uint64_t fdt_gpa; /* x0 of the boot vCPU */
	uint64_t fdt_max; /* bytes reserved for the DTB from fdt_gpa */
};

/*
 * Plan the placement for RAM [mem_base, mem_base + mem_size) (one bank,
 * mem_base 2 MiB aligned). 0, or -EINVAL with err saying what does not fit
 * ("initrd: 300 MiB does not fit between the kernel's end 0x... and the
 * device tree at 0x..."). Pure arithmetic, overflow-checked.
 */
int vmm_arm64_boot_plan(uint64_t mem_base, uint64_t mem_size, const struct vmm_arm64_image *img,
			uint64_t initrd_size, struct vmm_arm64_boot *boot, char *err,
			size_t errlen);

/*
 * Parse, plan and copy the kernel and initrd (NULL: none) into mem, whose
 * first region is the RAM bank. The DTB is the caller's to write at
 * boot->fdt_gpa (it needs the initrd's place). 0 or -EINVAL with err.
 */
int vmm_arm64_boot_load(struct vmm_mem *mem, const uint8_t *kernel, size_t kernel_size,
			const uint8_t *initrd, size_t initrd_size, struct vmm_arm64_boot *boot,
			char *err, size_t errlen);

#endif
