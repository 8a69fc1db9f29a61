/* SPDX-License-Identifier: MIT */
#include "x86_images.h"

#include <asm/bootparam.h>
#include <elf.h>
#include <string.h>

uint8_t
tbz_byte(size_t i)
{
	return (uint8_t)(i * 7 + 3);
}

struct setup_header *
tbz_hdr(uint8_t *buf)
{
	return (struct setup_header *)(buf + 0x1f1);
}

size_t
tbz_build(uint8_t *buf)
{
	struct setup_header h;
	size_t i;

	memset(buf, 0, TBZ_SIZE);
	memset(&h, 0, sizeof(h));
	h.setup_sects = 1;
	h.syssize = TBZ_PM_SIZE / 16;
	h.vid_mode = 0xffff;
	h.boot_flag = 0xaa55;
	/* A short jump over the header: its end is 0x202 + this byte. */
	h.jump = (uint16_t)(0xeb | (0x1f1 + sizeof(h) - 0x202) << 8);
	memcpy(&h.header, "HdrS", 4);
	h.version = 0x020f;
	h.loadflags = LOADED_HIGH;
	h.code32_start = 0x100000;
	h.initrd_addr_max = TBZ_INITRD_MAX;
	h.kernel_alignment = TBZ_ALIGN;
	h.relocatable_kernel = 1;
	h.min_alignment = 21;
	h.xloadflags = XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G;
	h.cmdline_size = TBZ_CMDLINE_SIZE;
	h.pref_address = TBZ_PREF_ADDR;
	h.init_size = TBZ_INIT_SIZE;
	memcpy(buf + 0x1f1, &h, sizeof(h));
	buf[0x1fe] = 0x55; /* boot_flag, again for clarity */
	buf[0x1ff] = 0xaa;
	for (i = 0; i < TBZ_PM_SIZE; i++)
		buf[TBZ_SETUP_SIZE + i] = tbz_byte(i);
	return TBZ_SIZE;
}

uint8_t
tpvh_byte(size_t i)
{
	return (uint8_t)(i * 13 + 5);
}

size_t
tpvh_build(uint8_t *buf, unsigned int desc_size)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph[3];
	Elf64_Nhdr nh;
	uint64_t entry = TPVH_ENTRY;
	size_t i, off;

	memset(buf, 0, TPVH_SIZE);
	memset(&eh, 0, sizeof(eh));
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = ET_EXEC;
	eh.e_machine = EM_X86_64;
	eh.e_version = EV_CURRENT;
	eh.e_entry = 0xffffffff81000000ull; /* the virtual entry, which PVH ignores */
	eh.e_phoff = sizeof(eh);
	eh.e_ehsize = sizeof(eh);
	eh.e_phentsize = sizeof(Elf64_Phdr);
	eh.e_phnum = 3;
	memcpy(buf, &eh, sizeof(eh));

	memset(ph, 0, sizeof(ph));
	ph[0] = (Elf64_Phdr){ .p_type = PT_LOAD,
			      .p_flags = PF_R | PF_X,
			      .p_offset = 0x200,
			      .p_vaddr = 0xffffffff81000000ull,
			      .p_paddr = TPVH_TEXT_PADDR,
			      .p_filesz = 0x100,
			      .p_memsz = 0x100,
			      .p_align = 0x1000 };
	ph[1] = (Elf64_Phdr){ .p_type = PT_LOAD,
			      .p_flags = PF_R | PF_W,
			      .p_offset = 0x300,
			      .p_vaddr = 0xffffffff81100000ull,
			      .p_paddr = TPVH_DATA_PADDR,
			      .p_filesz = 0x40,
			      .p_memsz = TPVH_DATA_MEMSZ,
			      .p_align = 0x1000 };
	ph[2] = (Elf64_Phdr){ .p_type = PT_NOTE,
			      .p_offset = TPVH_NOTE_OFF,
			      .p_filesz = 12 + 4 + 8 + 12 + 4 + desc_size,
			      .p_align = 4 };
	memcpy(buf + sizeof(eh), ph, sizeof(ph));
	for (i = 0x200; i < 0x340; i++)
		buf[i] = tpvh_byte(i);

	off = TPVH_NOTE_OFF;
	nh = (Elf64_Nhdr){ .n_namesz = 4, .n_descsz = 8, .n_type = NT_GNU_BUILD_ID };
	memcpy(buf + off, &nh, sizeof(nh));
	memcpy(buf + off + 12, "GNU", 4);
	memcpy(buf + off + 16, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	off += 24;
	nh = (Elf64_Nhdr){ .n_namesz = 4, .n_descsz = desc_size, .n_type = 18 };
	memcpy(buf + off, &nh, sizeof(nh));
	memcpy(buf + off + 12, "Xen", 4);
	memcpy(buf + off + 16, &entry, desc_size);
	return TPVH_SIZE;
}
