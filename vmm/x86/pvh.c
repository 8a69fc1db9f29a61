/* SPDX-License-Identifier: MIT */
/*
 * ELF64 vmlinux with a PVH entry: PT_LOAD segments are copied to their
 * p_paddr, and the 32-bit entry point comes from the ELF note named "Xen"
 * of type XEN_ELFNOTE_PHYS32_ENTRY (xen/include/public/elfnote.h). The
 * image is untrusted: every offset and size is checked against the file
 * and against guest RAM before a byte is copied.
 */
#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "x86/boot_priv.h"
#include "x86/layout.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define PVH_MAX_PHDRS            64

static int
range_in_file(uint64_t off, uint64_t len, size_t size)
{
	return off <= size && len <= size - off;
}

int
vmm_x86_pvh_probe(const uint8_t *img, size_t size)
{
	return size >= SELFMAG && memcmp(img, ELFMAG, SELFMAG) == 0;
}

/* Find the PHYS32 entry in one PT_NOTE segment: 1 found, 0 not, <0 bad. */
static int
find_pvh_note(const uint8_t *img, const Elf64_Phdr *ph, uint64_t *entry, char *err, size_t errlen)
{
	uint64_t align = ph->p_align == 8 ? 8 : 4;
	uint64_t pos = 0, len = ph->p_filesz;
	const uint8_t *seg = img + ph->p_offset;
	unsigned int n;

	/* Each note takes at least 12 bytes, so this bounds the walk. */
	for (n = 0; pos < len && n < len / sizeof(Elf64_Nhdr) + 1; n++) {
		Elf64_Nhdr nh;
		uint64_t name_off, desc_off, next;

		if (len - pos < sizeof(nh))
			return vmm_x86_boot_fail(err, errlen, -EINVAL,
						 "kernel: ELF note at file offset 0x%" PRIx64
						 " is cut off by the end of its PT_NOTE segment",
						 ph->p_offset + pos);
		memcpy(&nh, seg + pos, sizeof(nh));
		name_off = pos + sizeof(nh);
		/* namesz and descsz are 32-bit, so these sums cannot wrap. */
		desc_off = name_off + (((uint64_t)nh.n_namesz + align - 1) & ~(align - 1));
		next = desc_off + (((uint64_t)nh.n_descsz + align - 1) & ~(align - 1));
		if (desc_off + nh.n_descsz > len || name_off + nh.n_namesz > len)
			return vmm_x86_boot_fail(
				err, errlen, -EINVAL,
				"kernel: ELF note at file offset 0x%" PRIx64
				" (namesz %u, descsz %u) overruns its PT_NOTE segment"
				" of %" PRIu64 " bytes",
				ph->p_offset + pos, nh.n_namesz, nh.n_descsz, len);
		if (nh.n_type == XEN_ELFNOTE_PHYS32_ENTRY && nh.n_namesz == 4 &&
		    memcmp(seg + name_off, "Xen", 4) == 0) {
			uint64_t v = 0;

			if (nh.n_descsz == 4) {
				uint32_t v32;

				memcpy(&v32, seg + desc_off, 4);
				v = v32;
			} else if (nh.n_descsz == 8) {
				memcpy(&v, seg + desc_off, 8);
			} else {
				return vmm_x86_boot_fail(
					err, errlen, -EINVAL,
					"kernel: PVH entry note has a %u-byte value;"
					" expected 4 or 8",
					nh.n_descsz);
			}
			*entry = v;
			return 1;
		}
		pos = next;
	}
	return 0;
}

int
vmm_x86_pvh_load(struct vmm_mem *mem, const uint8_t *img, size_t size, struct x86_kernel *k,
		 char *err, size_t errlen)
{
	Elf64_Phdr ph[PVH_MAX_PHDRS];
	uint64_t entry = 0, lowest = UINT64_MAX, end = 0;
	int found = 0, nload = 0, rc;
	Elf64_Ehdr eh;
	unsigned int i, j;

	if (size < sizeof(eh))
		return vmm_x86_boot_fail(err, errlen, -EINVAL,
					 "kernel: ELF image of %zu bytes is shorter than an ELF64"
					 " header",
					 size);
	memcpy(&eh, img, sizeof(eh));
	if (eh.e_ident[EI_CLASS] != ELFCLASS64)
		return vmm_x86_boot_fail(err, errlen, -EINVAL,
					 "kernel: ELF class %u is not ELFCLASS64; use a 64-bit"
					 " vmlinux",
					 eh.e_ident[EI_CLASS]);
	if (eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_ident[EI_VERSION] != EV_CURRENT ||
	    eh.e_machine != EM_X86_64 || eh.e_type != ET_EXEC)
		return vmm_x86_boot_fail(err, errlen, -EINVAL,
					 "kernel: ELF is not a little-endian x86_64 executable"
					 " (data %u, machine %u, type %u)",
					 eh.e_ident[EI_DATA], eh.e_machine, eh.e_type);
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phnum > PVH_MAX_PHDRS)
		return vmm_x86_boot_fail(err, errlen, -EINVAL,
					 "kernel: ELF has %u program headers of %u bytes; expected"
					 " 1..%u of %zu bytes",
					 eh.e_phnum, eh.e_phentsize, PVH_MAX_PHDRS,
					 sizeof(Elf64_Phdr));
	if (!range_in_file(eh.e_phoff, (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr), size))
		return vmm_x86_boot_fail(err, errlen, -EINVAL,
					 "kernel: ELF program headers at offset 0x%" PRIx64
					 " lie outside the %zu-byte file (truncated image?)",
					 (uint64_t)eh.e_phoff, size);
	memcpy(ph, img + eh.e_phoff, eh.e_phnum * sizeof(Elf64_Phdr));

	for (i = 0; i < eh.e_phnum; i++) {
		const Elf64_Phdr *p = &ph[i];

		if (p->p_type != PT_LOAD && p->p_type != PT_NOTE)
			continue;
		if (!range_in_file(p->p_offset, p->p_filesz, size))
			return vmm_x86_boot_fail(err, errlen, -EINVAL,
						 "kernel: ELF segment %u (file offset 0x%" PRIx64
						 ", %" PRIu64 " bytes) lies outside the %zu-byte"
						 " file (truncated image?)",
						 i, (uint64_t)p->p_offset, (uint64_t)p->p_filesz,
						 size);
		if (p->p_type == PT_NOTE) {
			if (found)
				continue;
			rc = find_pvh_note(img, p, &entry, err, errlen);
			if (rc < 0)
				return rc;
			found = rc;
			continue;
		}
		if (p->p_filesz > p->p_memsz)
			return vmm_x86_boot_fail(err, errlen, -EINVAL,
						 "kernel: ELF segment %u has filesz %" PRIu64
						 " > memsz %" PRIu64,
						 i, (uint64_t)p->p_filesz, (uint64_t)p->p_memsz);
		if (p->p_memsz == 0)
			continue;
		if (p->p_paddr < VMM_X86_HIMEM_GPA)
			return vmm_x86_boot_fail(err, errlen, -EINVAL,
						 "kernel: ELF segment %u at 0x%" PRIx64
						 " is below 1 MiB, where the boot tables live",
						 i, (uint64_t)p->p_paddr);
		if (vmm_mem_ptr(mem, p->p_paddr, p->p_memsz) == NULL)
			return vmm_x86_boot_fail(
				err, errlen, -EINVAL,
				"kernel: ELF segment %u [0x%" PRIx64 ", +0x%" PRIx64
				") is not in guest RAM (%" PRIu64 " MiB)",
				i, (uint64_t)p->p_paddr, (uint64_t)p->p_memsz, mem->size >> 20);
		for (j = 0; j < i; j++) {
			const Elf64_Phdr *q = &ph[j];

			if (q->p_type != PT_LOAD || q->p_memsz == 0)
				continue;
			/* Both ranges are known not to wrap (they are in RAM). */
			if (p->p_paddr < q->p_paddr + q->p_memsz &&
			    q->p_paddr < p->p_paddr + p->p_memsz)
				return vmm_x86_boot_fail(err, errlen, -EINVAL,
							 "kernel: ELF segments %u and %u overlap at"
							 " 0x%" PRIx64,
							 j, i,
							 p->p_paddr > q->p_paddr
								 ? (uint64_t)p->p_paddr
								 : (uint64_t)q->p_paddr);
		}
		nload++;
		if (p->p_paddr < lowest)
			lowest = p->p_paddr;
		if (p->p_paddr + p->p_memsz > end)
			end = p->p_paddr + p->p_memsz;
	}
	if (!found)
		return vmm_x86_boot_fail(err, errlen, -EINVAL,
					 "kernel: ELF has no PVH entry note (Xen, type %d); boot"
					 " the bzImage, or a vmlinux built with CONFIG_PVH",
					 XEN_ELFNOTE_PHYS32_ENTRY);
	if (nload == 0)
		return vmm_x86_boot_fail(err, errlen, -EINVAL,
					 "kernel: ELF has no loadable segment");
	/* The entry runs with paging off: it must be a loaded 32-bit address. */
	for (i = 0; i < eh.e_phnum; i++) {
		if (ph[i].p_type == PT_LOAD && ph[i].p_memsz > 0 && entry >= ph[i].p_paddr &&
		    entry - ph[i].p_paddr < ph[i].p_memsz)
			break;
	}
	if (i == eh.e_phnum || entry > UINT32_MAX)
		return vmm_x86_boot_fail(err, errlen, -EINVAL,
					 "kernel: PVH entry 0x%" PRIx64
					 " is not inside a loaded segment below 4 GiB",
					 entry);

	for (i = 0; i < eh.e_phnum; i++) {
		const Elf64_Phdr *p = &ph[i];
		uint8_t *dst;

		if (p->p_type != PT_LOAD || p->p_memsz == 0)
			continue;
		dst = vmm_mem_ptr(mem, p->p_paddr, p->p_memsz);
		memcpy(dst, img + p->p_offset, p->p_filesz);
		memset(dst + p->p_filesz, 0, p->p_memsz - p->p_filesz);
	}
	k->entry = entry;
	k->lowest = lowest;
	k->end = end;
	k->initrd_max = UINT32_MAX;
	k->cmdline_limit = VMM_X86_CMDLINE_MAX - 1;
	k->setup_hdr = NULL;
	k->setup_hdr_len = 0;
	return 0;
}
