/* SPDX-License-Identifier: MIT */
/*
 * x86_64 direct kernel boot (boot.h): pick the loader by the image's
 * content, then lay out what every entry path shares below 1 MiB (GDT,
 * identity page tables, command line, ACPI) and the format's own boot
 * information (zero page or hvm_start_info), and place the initrd.
 */
#include <asm/bootparam.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "x86/acpi.h"
#include "x86/boot_priv.h"
#include "x86/layout.h"

#define PAGE_SIZE 4096ull

/* Page table entry bits. */
#define PTE_PRESENT  (1ull << 0)
#define PTE_WRITABLE (1ull << 1)
#define PTE_LARGE    (1ull << 7)

/* hvm_start_info, version 1 (xen/include/public/arch-x86/hvm/start_info.h). */
#define HVM_START_MAGIC 0x336ec578u
struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;
	uint32_t memmap_entries;
	uint32_t reserved;
};
struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};
struct hvm_memmap_table_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};
_Static_assert(sizeof(struct hvm_start_info) == 56, "hvm_start_info ABI");
_Static_assert(sizeof(struct hvm_modlist_entry) == 32, "hvm_modlist_entry ABI");
_Static_assert(sizeof(struct hvm_memmap_table_entry) == 24, "hvm_memmap_table_entry ABI");
_Static_assert(sizeof(struct boot_params) == 4096, "boot_params ABI");

/* Where the pieces of the PVH page go. */
#define PVH_MODLIST_GPA    (VMM_X86_PVH_INFO_GPA + 0x40)
#define PVH_MEMMAP_GPA     (VMM_X86_PVH_INFO_GPA + 0x80)
#define PVH_MEMMAP_MAX     16
#define X86_E820_MAX       16
#define BZ_HEAP_END        0xfe00 /* heap_end_ptr: end of the setup heap - 0x200 */
#define TYPE_OF_LOADER_ANY 0xff

_Static_assert(PVH_MEMMAP_GPA + PVH_MEMMAP_MAX * sizeof(struct hvm_memmap_table_entry) <=
		       VMM_X86_ZERO_PAGE_GPA,
	       "PVH memmap overlaps the zero page");
_Static_assert(VMM_X86_GDT_GPA + BOOT_GDT_ENTRIES * 8 <= VMM_X86_PVH_INFO_GPA,
	       "GDT overlaps the PVH start info");
_Static_assert(VMM_X86_PML4_GPA + VMM_X86_PT_PAGES * PAGE_SIZE <= VMM_X86_CMDLINE_GPA,
	       "page tables overlap the command line");
_Static_assert(VMM_X86_CMDLINE_GPA + VMM_X86_CMDLINE_MAX <= VMM_X86_EBDA_GPA,
	       "command line overlaps the EBDA");

int
vmm_x86_boot_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

void
vmm_x86_boot_gdt(uint64_t gdt[BOOT_GDT_ENTRIES])
{
	/* Access byte | G, D/B, L flags << 12; code/data are "accessed" as VMX requires. */
	gdt[0] = 0;
	gdt[VMM_X86_SEL_CODE32 / 8] = gdt_descriptor(0xc09b, 0, 0xfffff);
	gdt[VMM_X86_SEL_CODE64 / 8] = gdt_descriptor(0xa09b, 0, 0xfffff);
	gdt[VMM_X86_SEL_DATA / 8] = gdt_descriptor(0xc093, 0, 0xfffff);
	/* Busy TSS; in long mode a 16-byte descriptor whose upper half is base[63:32] = 0. */
	gdt[VMM_X86_SEL_TSS / 8] = gdt_descriptor(0x008b, 0, 0x67);
	gdt[VMM_X86_SEL_TSS / 8 + 1] = 0;
}

unsigned int
vmm_x86_e820_build(const struct vmm_mem *mem, struct vmm_x86_e820 *out, unsigned int max)
{
	unsigned int i, n = 0;

#define E820_ADD(a, s, t)                                                                          \
	do {                                                                                       \
		if (n < max)                                                                       \
			out[n++] = (struct vmm_x86_e820){ .addr = (a), .size = (s), .type = (t) }; \
	} while (0)

	if (mem == NULL || out == NULL)
		return 0;
	for (i = 0; i < mem->nregions && i < VMM_MEM_MAX_REGIONS; i++) {
		const struct vmm_mem_region *r = &mem->regions[i];

		if (r->size == 0)
			continue;
		if (r->gpa != 0) {
			E820_ADD(r->gpa, r->size, 1);
			continue;
		}
		E820_ADD(0, r->size < VMM_X86_EBDA_GPA ? r->size : VMM_X86_EBDA_GPA, 1);
		if (r->size > VMM_X86_EBDA_GPA)
			E820_ADD(VMM_X86_EBDA_GPA, VMM_X86_HIMEM_GPA - VMM_X86_EBDA_GPA, 2);
		if (r->size > VMM_X86_HIMEM_GPA)
			E820_ADD(VMM_X86_HIMEM_GPA, r->size - VMM_X86_HIMEM_GPA, 1);
		/* PCI ECAM (layout.h), in address order before RAM above 4 GiB. */
		E820_ADD(VMM_X86_PCI_ECAM_GPA, VMM_X86_PCI_ECAM_SIZE, 2);
	}
#undef E820_ADD
	return n;
}

static void
write_gdt(struct vmm_mem *mem)
{
	uint64_t gdt[BOOT_GDT_ENTRIES];

	vmm_x86_boot_gdt(gdt);
	vmm_mem_write(mem, VMM_X86_GDT_GPA, gdt, sizeof(gdt));
}

/* Identity map of the first 4 GiB in 2 MiB pages: PML4, PDPT, then 4 PDs. */
static void
write_page_tables(struct vmm_mem *mem)
{
	uint64_t *pml4 = vmm_mem_ptr(mem, VMM_X86_PML4_GPA, VMM_X86_PT_PAGES * PAGE_SIZE);
	uint64_t *pdpt = pml4 + 512;
	uint64_t *pd = pdpt + 512;
	uint64_t pdpt_gpa = VMM_X86_PML4_GPA + PAGE_SIZE;
	uint64_t pd_gpa = pdpt_gpa + PAGE_SIZE;
	unsigned int i;

	memset(pml4, 0, VMM_X86_PT_PAGES * PAGE_SIZE);
	pml4[0] = pdpt_gpa | PTE_PRESENT | PTE_WRITABLE;
	for (i = 0; i < 4; i++)
		pdpt[i] = (pd_gpa + i * PAGE_SIZE) | PTE_PRESENT | PTE_WRITABLE;
	for (i = 0; i < 4 * 512; i++)
		pd[i] = ((uint64_t)i << 21) | PTE_PRESENT | PTE_WRITABLE | PTE_LARGE;
}

static int
place_initrd(struct vmm_mem *mem, const struct vmm_x86_boot_args *args, const struct x86_kernel *k,
	     uint64_t *gpa, char *err, size_t errlen)
{
	uint64_t limit = VMM_X86_MMIO_HOLE_START, top, addr;

	/* initrd_addr_max is the highest byte the initrd may occupy. */
	if (k->initrd_max < limit - 1)
		limit = k->initrd_max + 1;
	top = vmm_mem_top_below(mem, limit);
	if (top < k->end || args->initrd_size > top - k->end)
		return vmm_x86_boot_fail(err, errlen, -EINVAL,
					 "initrd: %zu MiB does not fit between the kernel's end"
					 " 0x%" PRIx64 " and 0x%" PRIx64 " (RAM %" PRIu64 " MiB)",
					 (args->initrd_size + (1u << 20) - 1) >> 20, k->end,
					 top > 0 ? top - 1 : 0, mem->size >> 20);
	addr = (top - args->initrd_size) & ~(PAGE_SIZE - 1);
	if (addr < k->end)
		return vmm_x86_boot_fail(err, errlen, -EINVAL,
					 "initrd: %zu bytes page aligned do not fit between the"
					 " kernel's end 0x%" PRIx64 " and 0x%" PRIx64,
					 args->initrd_size, k->end, top - 1);
	vmm_mem_write(mem, addr, args->initrd, args->initrd_size);
	*gpa = addr;
	return 0;
}

static int
write_acpi(struct vmm_mem *mem, uint32_t vcpus, uint64_t *rsdp_gpa, char *err, size_t errlen)
{
	struct vmm_x86_acpi_conf conf = { .vcpus = vcpus };
	uint8_t *buf = vmm_mem_ptr(mem, VMM_X86_ACPI_GPA, VMM_X86_ACPI_SIZE);
	size_t used;
	int rc;

	/* The window is reserved in the e820 map and below 1 MiB, so RAM here. */
	memset(buf, 0, VMM_X86_ACPI_SIZE);
	rc = vmm_x86_acpi_build(buf, VMM_X86_ACPI_SIZE, VMM_X86_ACPI_GPA, &conf, rsdp_gpa, &used);
	if (rc < 0)
		return vmm_x86_boot_fail(err, errlen, rc,
					 "acpi: cannot build the tables for %u vCPUs", vcpus);
	return 0;
}

/*
 * The real-mode reset vector F000:FFF0. There is no firmware, but Linux
 * jumps there to reboot: with hardware-reduced ACPI and no EFI its default
 * reboot method is BOOT_EFI, which falls through to BOOT_BIOS
 * (arch/x86/kernel/reboot.c: reboot_init(), efi_reboot_required(),
 * machine_real_restart()) and never returns. What firmware does there, a
 * reset, is what this stub does: the ACPI reset register.
 */
static void
write_reset_stub(struct vmm_mem *mem)
{
	/* mov $port, %dx; mov $value, %al; out %al, %dx; 1: hlt; jmp 1b */
	static const uint8_t stub[] = {
		0xba,
		VMM_X86_ACPI_RESET_PORT & 0xff,
		VMM_X86_ACPI_RESET_PORT >> 8,
		0xb0,
		VMM_X86_ACPI_RESET_VALUE,
		0xee,
		0xf4,
		0xeb,
		0xfd,
	};

	vmm_mem_write(mem, VMM_X86_RESET_VECTOR_GPA, stub, sizeof(stub));
}

static void
write_zero_page(struct vmm_mem *mem, const struct x86_kernel *k, const struct vmm_x86_boot *boot,
		const struct vmm_x86_e820 *e820, unsigned int ne820)
{
	struct boot_params *bp = vmm_mem_ptr(mem, VMM_X86_ZERO_PAGE_GPA, sizeof(*bp));
	unsigned int i;

	/* boot.rst: a clean zero page with only the image's setup header in it. */
	memset(bp, 0, sizeof(*bp));
	memcpy(&bp->hdr, k->setup_hdr, k->setup_hdr_len);
	bp->hdr.type_of_loader = TYPE_OF_LOADER_ANY;
	bp->hdr.loadflags |= CAN_USE_HEAP;
	bp->hdr.heap_end_ptr = BZ_HEAP_END;
	bp->hdr.code32_start = (uint32_t)boot->kernel_gpa;
	bp->hdr.cmd_line_ptr = (uint32_t)VMM_X86_CMDLINE_GPA;
	bp->ext_cmd_line_ptr = (uint32_t)(VMM_X86_CMDLINE_GPA >> 32);
	bp->hdr.ramdisk_image = (uint32_t)boot->initrd_gpa;
	bp->ext_ramdisk_image = (uint32_t)(boot->initrd_gpa >> 32);
	bp->hdr.ramdisk_size = (uint32_t)boot->initrd_size;
	bp->ext_ramdisk_size = (uint32_t)(boot->initrd_size >> 32);
	bp->acpi_rsdp_addr = boot->rsdp_gpa;
	for (i = 0; i < ne820 && i < E820_MAX_ENTRIES_ZEROPAGE; i++) {
		bp->e820_table[i].addr = e820[i].addr;
		bp->e820_table[i].size = e820[i].size;
		bp->e820_table[i].type = e820[i].type;
	}
	bp->e820_entries = (uint8_t)i;
}

static void
write_pvh_start_info(struct vmm_mem *mem, const struct vmm_x86_boot *boot,
		     const struct vmm_x86_e820 *e820, unsigned int ne820)
{
	struct hvm_start_info si = {
		.magic = HVM_START_MAGIC,
		.version = 1,
		.cmdline_paddr = VMM_X86_CMDLINE_GPA,
		.rsdp_paddr = boot->rsdp_gpa,
		.memmap_paddr = PVH_MEMMAP_GPA,
	};
	struct hvm_memmap_table_entry mm[PVH_MEMMAP_MAX];
	unsigned int i;

	memset(vmm_mem_ptr(mem, VMM_X86_PVH_INFO_GPA, PAGE_SIZE), 0, PAGE_SIZE);
	if (boot->initrd_size > 0) {
		struct hvm_modlist_entry mod = {
			.paddr = boot->initrd_gpa,
			.size = boot->initrd_size,
		};

		vmm_mem_write(mem, PVH_MODLIST_GPA, &mod, sizeof(mod));
		si.nr_modules = 1;
		si.modlist_paddr = PVH_MODLIST_GPA;
	}
	memset(mm, 0, sizeof(mm));
	for (i = 0; i < ne820 && i < PVH_MEMMAP_MAX; i++) {
		mm[i].addr = e820[i].addr;
		mm[i].size = e820[i].size;
		mm[i].type = e820[i].type;
	}
	si.memmap_entries = i;
	vmm_mem_write(mem, PVH_MEMMAP_GPA, mm, i * sizeof(mm[0]));
	vmm_mem_write(mem, VMM_X86_PVH_INFO_GPA, &si, sizeof(si));
}

int
vmm_x86_boot_load(struct vmm_mem *mem, const struct vmm_x86_boot_args *args,
		  struct vmm_x86_boot *boot, char *err, size_t errlen)
{
	struct vmm_x86_e820 e820[X86_E820_MAX];
	struct x86_kernel k;
	unsigned int ne820;
	size_t cmdline_len = 0;
	int pvh, rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (mem == NULL || args == NULL || boot == NULL)
		return vmm_x86_boot_fail(err, errlen, -EINVAL, "boot: missing argument");
	if (args->kernel == NULL || args->kernel_size == 0)
		return vmm_x86_boot_fail(err, errlen, -EINVAL, "kernel: empty image");
	if (args->vcpus == 0 || args->vcpus > VMM_X86_ACPI_MAX_VCPUS)
		return vmm_x86_boot_fail(err, errlen, -EINVAL, "vcpus: %u is not in 1..%u",
					 args->vcpus, VMM_X86_ACPI_MAX_VCPUS);
	if (args->initrd == NULL && args->initrd_size > 0)
		return vmm_x86_boot_fail(err, errlen, -EINVAL, "initrd: size without data");
	if (vmm_mem_ptr(mem, 0, VMM_X86_HIMEM_GPA) == NULL)
		return vmm_x86_boot_fail(err, errlen, -EINVAL,
					 "memory: %" PRIu64 " bytes of RAM; the boot tables alone"
					 " need the first MiB",
					 mem->size);
	if (args->cmdline != NULL) {
		cmdline_len = strnlen(args->cmdline, VMM_X86_CMDLINE_MAX);
		if (cmdline_len >= VMM_X86_CMDLINE_MAX)
			return vmm_x86_boot_fail(err, errlen, -E2BIG,
						 "cmdline: longer than %u bytes",
						 VMM_X86_CMDLINE_MAX - 1);
	}

	memset(boot, 0, sizeof(*boot));
	if (vmm_x86_bzimage_probe(args->kernel, args->kernel_size)) {
		pvh = 0;
		rc = vmm_x86_bzimage_load(mem, args->kernel, args->kernel_size, &k, err, errlen);
	} else if (vmm_x86_pvh_probe(args->kernel, args->kernel_size)) {
		pvh = 1;
		rc = vmm_x86_pvh_load(mem, args->kernel, args->kernel_size, &k, err, errlen);
	} else {
		return vmm_x86_boot_fail(err, errlen, -EINVAL,
					 "kernel: neither a bzImage (no \"HdrS\" at 0x202) nor an"
					 " ELF vmlinux (no \\x7fELF magic)");
	}
	if (rc < 0)
		return rc;
	if (cmdline_len > k.cmdline_limit)
		return vmm_x86_boot_fail(err, errlen, -E2BIG,
					 "cmdline: %zu bytes; this kernel takes at most %u",
					 cmdline_len, k.cmdline_limit);

	boot->format = pvh ? "pvh-elf" : "bzImage";
	boot->mode = pvh ? VMM_X86_ENTRY_PVH32 : VMM_X86_ENTRY_LINUX64;
	boot->entry = k.entry;
	boot->kernel_gpa = k.lowest;
	boot->kernel_end = k.end;

	if (args->initrd_size > 0) {
		rc = place_initrd(mem, args, &k, &boot->initrd_gpa, err, errlen);
		if (rc < 0)
			return rc;
		boot->initrd_size = args->initrd_size;
	}

	/* Below 1 MiB: checked to be RAM above, and the loaders keep out of it. */
	vmm_mem_write(mem, VMM_X86_CMDLINE_GPA, args->cmdline != NULL ? args->cmdline : "",
		      cmdline_len);
	*(char *)vmm_mem_ptr(mem, VMM_X86_CMDLINE_GPA + cmdline_len, 1) = '\0';
	write_gdt(mem);
	write_page_tables(mem);
	write_reset_stub(mem);
	ne820 = vmm_x86_e820_build(mem, e820, X86_E820_MAX);
	rc = write_acpi(mem, args->vcpus, &boot->rsdp_gpa, err, errlen);
	if (rc < 0)
		return rc;

	if (pvh) {
		boot->boot_info = VMM_X86_PVH_INFO_GPA;
		write_pvh_start_info(mem, boot, e820, ne820);
	} else {
		boot->boot_info = VMM_X86_ZERO_PAGE_GPA;
		boot->cr3 = VMM_X86_PML4_GPA;
		write_zero_page(mem, &k, boot, e820, ne820);
	}
	return 0;
}
