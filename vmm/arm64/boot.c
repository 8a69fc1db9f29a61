/* SPDX-License-Identifier: MIT */
/*
 * arm64 Image loading (boot.h). The header, booting.rst section 4:
 *
 *   u32 code0, code1; u64 text_offset; u64 image_size; u64 flags;
 *   u64 res2, res3, res4; u32 magic ("ARM\x64"); u32 res5
 *
 * all little-endian. flags bit 0 is the kernel's endianness (1: big).
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "arm64/boot.h"
#include "arm64/fdt.h"

#define OFF_TEXT_OFFSET 8
#define OFF_IMAGE_SIZE  16
#define OFF_FLAGS       24
#define OFF_MAGIC       56
#define FLAG_BE         1ull
#define PAGE            4096ull

/* The header has no alignment guarantee in the caller's buffer. */
static uint64_t
le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

static uint32_t
le32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

static uint64_t
align_down(uint64_t v, uint64_t a)
{
	return v & ~(a - 1);
}

int
vmm_arm64_image_parse(const uint8_t *image, size_t size, struct vmm_arm64_image *out, char *err,
		      size_t errlen)
{
	if (size >= 2 && image[0] == 0x1f && image[1] == 0x8b) {
		snprintf(err, errlen,
			 "kernel: gzip-compressed (a Debian vmlinuz); give the uncompressed Image "
			 "(zcat vmlinuz > Image)");
		return -EINVAL;
	}
	if (size < VMM_ARM64_IMAGE_HEADER_SIZE ||
	    le32(image + OFF_MAGIC) != VMM_ARM64_IMAGE_MAGIC) {
		snprintf(err, errlen, "kernel: no arm64 Image magic (\"ARM\\x64\" at byte %d)",
			 OFF_MAGIC);
		return -EINVAL;
	}
	out->text_offset = le64(image + OFF_TEXT_OFFSET);
	out->image_size = le64(image + OFF_IMAGE_SIZE);
	out->flags = le64(image + OFF_FLAGS);
	out->file_size = size;
	if (out->flags & FLAG_BE) {
		snprintf(err, errlen, "kernel: big-endian Image; only little-endian guests run");
		return -EINVAL;
	}
	if (out->image_size == 0) {
		/* booting.rst: before 3.17, text_offset 0x80000 and no size. */
		out->text_offset = VMM_ARM64_IMAGE_OLD_TEXT_OFFSET;
		out->image_size = size;
	}
	if (out->text_offset % PAGE != 0 || out->text_offset >= VMM_ARM64_KERNEL_ALIGN) {
		snprintf(err, errlen,
			 "kernel: text_offset 0x%llx is not a page-aligned offset below 2 MiB",
			 (unsigned long long)out->text_offset);
		return -EINVAL;
	}
	if (out->image_size < size) {
		snprintf(err, errlen,
			 "kernel: the file (%zu bytes) is larger than the image_size its header "
			 "declares (%llu)",
			 size, (unsigned long long)out->image_size);
		return -EINVAL;
	}
	return 0;
}

int
vmm_arm64_boot_plan(uint64_t mem_base, uint64_t mem_size, const struct vmm_arm64_image *img,
		    uint64_t initrd_size, struct vmm_arm64_boot *boot, char *err, size_t errlen)
{
	uint64_t top = mem_base + mem_size;

	memset(boot, 0, sizeof(*boot));
	if (mem_base % VMM_ARM64_KERNEL_ALIGN != 0 || top < mem_base ||
	    mem_size < 2 * VMM_ARM64_KERNEL_ALIGN) {
		snprintf(err, errlen,
			 "memory: RAM at 0x%llx, %llu bytes: not 2 MiB aligned or "
			 "smaller than 4 MiB",
			 (unsigned long long)mem_base, (unsigned long long)mem_size);
		return -EINVAL;
	}
	boot->entry = mem_base + img->text_offset;
	boot->fdt_max = VMM_ARM64_FDT_MAX_SIZE;
	boot->fdt_gpa = align_down(top, VMM_ARM64_KERNEL_ALIGN) - VMM_ARM64_FDT_MAX_SIZE;
	if (img->image_size > boot->fdt_gpa - boot->entry || boot->fdt_gpa < boot->entry) {
		snprintf(err, errlen,
			 "kernel: %llu MiB at 0x%llx does not fit below the device tree at 0x%llx "
			 "(more memory?)",
			 (unsigned long long)(img->image_size >> 20),
			 (unsigned long long)boot->entry, (unsigned long long)boot->fdt_gpa);
		return -EINVAL;
	}
	boot->kernel_end = boot->entry + img->image_size;
	if (initrd_size == 0)
		return 0;
	if (initrd_size > boot->fdt_gpa - boot->kernel_end ||
	    align_down(boot->fdt_gpa - initrd_size, PAGE) < boot->kernel_end) {
		snprintf(err, errlen,
			 "initrd: %llu MiB does not fit between the kernel's end 0x%llx and the "
			 "device tree at 0x%llx (more memory?)",
			 (unsigned long long)(initrd_size >> 20),
			 (unsigned long long)boot->kernel_end, (unsigned long long)boot->fdt_gpa);
		return -EINVAL;
	}
	boot->initrd_gpa = align_down(boot->fdt_gpa - initrd_size, PAGE);
	boot->initrd_size = initrd_size;
	return 0;
}

int
vmm_arm64_boot_load(struct vmm_mem *mem, const uint8_t *kernel, size_t kernel_size,
		    const uint8_t *initrd, size_t initrd_size, struct vmm_arm64_boot *boot,
		    char *err, size_t errlen)
{
	struct vmm_arm64_image img;
	int rc;

	if (mem->nregions < 1) {
		snprintf(err, errlen, "memory: no RAM");
		return -EINVAL;
	}
	rc = vmm_arm64_image_parse(kernel, kernel_size, &img, err, errlen);
	if (rc < 0)
		return rc;
	rc = vmm_arm64_boot_plan(mem->regions[0].gpa, mem->regions[0].size, &img,
				 initrd != NULL ? initrd_size : 0, boot, err, errlen);
	if (rc < 0)
		return rc;
	/* RAM from a fresh memfd is zero: the kernel's .bss needs nothing. */
	if (vmm_mem_write(mem, boot->entry, kernel, kernel_size) < 0) {
		snprintf(err, errlen, "kernel: cannot copy to 0x%llx",
			 (unsigned long long)boot->entry);
		return -EINVAL;
	}
	if (boot->initrd_size > 0 &&
	    vmm_mem_write(mem, boot->initrd_gpa, initrd, boot->initrd_size) < 0) {
		snprintf(err, errlen, "initrd: cannot copy to 0x%llx",
			 (unsigned long long)boot->initrd_gpa);
		return -EINVAL;
	}
	return 0;
}
