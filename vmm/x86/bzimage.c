/* SPDX-License-Identifier: MIT */
/*
 * bzImage loader, Linux/x86 boot protocol 2.12+ (Documentation/x86/boot.rst)
 * entered through the 64-bit entry point. Only the protected-mode part is
 * loaded; the real-mode setup code never runs, but its setup header is
 * handed over in the zero page (boot.c).
 *
 * Where the kernel goes. boot.rst, "64-bit boot protocol": the loader loads
 * the protected-mode kernel "in the same way as that of 16-bit boot
 * protocol" and jumps to its start + 0x200 in long mode. The traditional
 * bzImage load address is 1 MiB (code32_start's default), and that is what
 * we use. A relocatable kernel (relocatable_kernel != 0) may be loaded at
 * any address; one "loaded at an alignment incompatible with" kernel_alignment
 * "will be realigned during kernel initialization": startup_64 finds its own
 * address RIP-relative, aligns it up to kernel_alignment (read from the
 * zero page, so it must be a power of two) and raises it to pref_address
 * (LOAD_PHYSICAL_ADDR, 16 MiB on x86_64) before it moves itself and
 * decompresses. So the 64-bit entry needs no alignment from us; what it
 * needs is RAM, identity mapped, for init_size bytes from
 *
 *	runtime_start = max(align_up(load, kernel_alignment), pref_address)
 *
 * (boot.rst, init_size), and nothing of ours (initrd, tables) in there. A
 * kernel that is not relocatable runs at pref_address, so the same window
 * applies with runtime_start = pref_address.
 */
#include <asm/bootparam.h>
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <string.h>

#include "x86/boot_priv.h"
#include "x86/layout.h"

#define SETUP_HDR_OFFSET 0x1f1
#define HDRS_OFFSET      0x202
#define HDRS_MAGIC       "HdrS"
#define BOOT_FLAG_MAGIC  0xaa55
#define MIN_PROTOCOL     0x020c
/* The 64-bit entry point, relative to the protected-mode load address. */
#define ENTRY64_OFFSET 0x200
/* The header must reach init_size (protocol 2.10) for us to place things. */
#define MIN_HDR_END (SETUP_HDR_OFFSET + offsetof(struct setup_header, init_size) + 4)

int
vmm_x86_bzimage_probe(const uint8_t *img, size_t size)
{
	return size >= HDRS_OFFSET + 4 && memcmp(img + HDRS_OFFSET, HDRS_MAGIC, 4) == 0;
}

int
vmm_x86_bzimage_load(struct vmm_mem *mem, const uint8_t *img, size_t size, struct x86_kernel *k,
		     char *err, size_t errlen)
{
	const uint64_t load = VMM_X86_HIMEM_GPA;
	uint64_t setup_size, pm_size, runtime_start, end;
	struct setup_header h;
	size_t hdr_end, hdr_len;
	unsigned int sects;
	uint8_t *dst;

	if (!vmm_x86_bzimage_probe(img, size))
		return vmm_x86_boot_fail(err, errlen, -EINVAL,
					 "kernel: no \"HdrS\" at 0x202: not a bzImage");
	hdr_end = HDRS_OFFSET + img[0x201];
	if (hdr_end < MIN_HDR_END || hdr_end > size)
		return vmm_x86_boot_fail(err, errlen, -EINVAL,
					 "kernel: bzImage setup header ends at 0x%zx; need 0x%zx"
					 " to 0x%zx within the %zu-byte image",
					 hdr_end, (size_t)MIN_HDR_END, SETUP_HDR_OFFSET + sizeof(h),
					 size);
	hdr_len = hdr_end - SETUP_HDR_OFFSET;
	if (hdr_len > sizeof(h))
		hdr_len = sizeof(h);
	memset(&h, 0, sizeof(h));
	memcpy(&h, img + SETUP_HDR_OFFSET, hdr_len);

	if (h.boot_flag != BOOT_FLAG_MAGIC)
		return vmm_x86_boot_fail(err, errlen, -EINVAL,
					 "kernel: bzImage boot_flag is 0x%04x, not 0xaa55",
					 h.boot_flag);
	if (h.version < MIN_PROTOCOL)
		return vmm_x86_boot_fail(err, errlen, -EINVAL,
					 "kernel: bzImage protocol %u.%02u is older than 2.12",
					 h.version >> 8, h.version & 0xff);
	if (!(h.loadflags & LOADED_HIGH))
		return vmm_x86_boot_fail(err, errlen, -EINVAL,
					 "kernel: zImage (not loaded high) is not supported");
	if (!(h.xloadflags & XLF_KERNEL_64))
		return vmm_x86_boot_fail(err, errlen, -EINVAL,
					 "kernel: bzImage has no 64-bit entry point"
					 " (XLF_KERNEL_64 clear): a 32-bit kernel?");

	sects = h.setup_sects == 0 ? 4 : h.setup_sects;
	setup_size = (uint64_t)(sects + 1) * 512;
	if (setup_size >= size)
		return vmm_x86_boot_fail(err, errlen, -EINVAL,
					 "kernel: bzImage of %zu bytes ends inside its %" PRIu64
					 "-byte setup code (truncated image?)",
					 size, setup_size);
	pm_size = size - setup_size;
	if (pm_size <= ENTRY64_OFFSET)
		return vmm_x86_boot_fail(err, errlen, -EINVAL,
					 "kernel: bzImage has %" PRIu64
					 " bytes after its setup code,"
					 " too few to hold the 64-bit entry at +0x%x",
					 pm_size, ENTRY64_OFFSET);
	if ((uint64_t)h.syssize * 16 > pm_size)
		return vmm_x86_boot_fail(err, errlen, -EINVAL,
					 "kernel: bzImage truncated: syssize says %" PRIu64
					 " bytes of kernel, the file has %" PRIu64,
					 (uint64_t)h.syssize * 16, pm_size);
	if (h.init_size == 0)
		return vmm_x86_boot_fail(err, errlen, -EINVAL, "kernel: bzImage init_size is 0");

	if (h.relocatable_kernel) {
		uint64_t a = h.kernel_alignment;

		if (a == 0 || (a & (a - 1)) != 0)
			return vmm_x86_boot_fail(err, errlen, -EINVAL,
						 "kernel: bzImage kernel_alignment 0x%" PRIx64
						 " is not a power of two",
						 a);
		runtime_start = (load + a - 1) & ~(a - 1);
		if (runtime_start < h.pref_address)
			runtime_start = h.pref_address;
	} else {
		runtime_start = h.pref_address;
		if (runtime_start < load)
			return vmm_x86_boot_fail(err, errlen, -EINVAL,
						 "kernel: bzImage is not relocatable and wants to"
						 " run at 0x%" PRIx64 ", below 1 MiB",
						 runtime_start);
	}
	if (runtime_start > UINT64_MAX - h.init_size)
		return vmm_x86_boot_fail(err, errlen, -EINVAL,
					 "kernel: bzImage pref_address 0x%" PRIx64
					 " + init_size overflows",
					 runtime_start);
	end = runtime_start + h.init_size;
	if (load + pm_size > end)
		end = load + pm_size;
	if (vmm_mem_ptr(mem, load, end - load) == NULL)
		return vmm_x86_boot_fail(err, errlen, -EINVAL,
					 "kernel: bzImage needs RAM from 0x%" PRIx64
					 " to 0x%" PRIx64 " (init_size %u at 0x%" PRIx64
					 "); the VM has %" PRIu64 " MiB below the MMIO hole",
					 load, end, h.init_size, runtime_start,
					 vmm_mem_top_below(mem, VMM_X86_MMIO_HOLE_START) >> 20);

	dst = vmm_mem_ptr(mem, load, pm_size);
	memcpy(dst, img + setup_size, pm_size);

	k->entry = load + ENTRY64_OFFSET;
	k->lowest = load;
	k->end = end;
	k->initrd_max = h.initrd_addr_max;
	k->cmdline_limit =
		h.cmdline_size < VMM_X86_CMDLINE_MAX - 1 ? h.cmdline_size : VMM_X86_CMDLINE_MAX - 1;
	k->setup_hdr = img + SETUP_HDR_OFFSET;
	k->setup_hdr_len = hdr_len;
	return 0;
}
