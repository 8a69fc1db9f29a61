/* SPDX-License-Identifier: MIT */
/*
 * x86_64 direct kernel boot: put a kernel, an initrd, a command line and
 * the boot tables the kernel reads (e820, ACPI, boot_params or PVH
 * hvm_start_info, page tables, GDT) into guest RAM, and say how the boot
 * vCPU must enter it. Pure memory work: no KVM here, so all of it is unit
 * tested on plain buffers.
 *
 * Two kernel formats:
 *  - bzImage: Linux boot protocol 2.12+ (Documentation/x86/boot.rst), the
 *    64-bit entry at the protected-mode load address + 0x200, RSI = zero
 *    page, identity-mapped page tables.
 *  - ELF vmlinux with a PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY): loaded by
 *    its PT_LOAD segments, entered in 32-bit protected mode with paging off,
 *    EBX = hvm_start_info (xen/include/public/arch-x86/hvm/start_info.h).
 */
#ifndef VMM_X86_BOOT_H
#define VMM_X86_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "guest_mem.h"

enum vmm_x86_entry_mode {
	VMM_X86_ENTRY_LINUX64, /* long mode, paging on, RSI = zero page */
	VMM_X86_ENTRY_PVH32,   /* protected mode, paging off, EBX = start info */
};

/* How the boot vCPU enters the guest. */
struct vmm_x86_boot {
	enum vmm_x86_entry_mode mode;
	const char *format; /* "bzImage" or "pvh-elf" */
	uint64_t entry;     /* RIP */
	uint64_t boot_info; /* zero page (RSI) or hvm_start_info (RBX) */
	uint64_t cr3;       /* LINUX64: root of the identity page tables */
	uint64_t kernel_gpa, kernel_end;
	uint64_t initrd_gpa, initrd_size;
	uint64_t rsdp_gpa;
};

struct vmm_x86_boot_args {
	const uint8_t *kernel;
	size_t kernel_size;
	const uint8_t *initrd; /* NULL: none */
	size_t initrd_size;
	const char *cmdline; /* at most VMM_X86_CMDLINE_MAX - 1 bytes */
	uint32_t vcpus;      /* for the MADT */
};

/*
 * Load everything into mem and fill *boot. 0, or -EINVAL with err saying
 * what is wrong with which image ("kernel: bzImage protocol 2.06 is older
 * than 2.12", "initrd: 900 MiB does not fit below 0x37ffffff"), or -E2BIG
 * when the cmdline is too long. Never reads outside the given images.
 * Everything is validated before the kernel is copied; after an error the
 * contents of mem are unspecified. mem needs RAM for the first MiB.
 */
int vmm_x86_boot_load(struct vmm_mem *mem, const struct vmm_x86_boot_args *args,
		      struct vmm_x86_boot *boot, char *err, size_t errlen);

/* The e820 map of mem: RAM below the EBDA, reserved EBDA..1 MiB, RAM from
 * 1 MiB, the PCI ECAM window reserved, RAM above 4 GiB. Returns the number of entries written (at
 * most max). */
struct vmm_x86_e820 {
	uint64_t addr;
	uint64_t size;
	uint32_t type; /* 1 RAM, 2 reserved */
};
unsigned int vmm_x86_e820_build(const struct vmm_mem *mem, struct vmm_x86_e820 *out,
				unsigned int max);

#endif
