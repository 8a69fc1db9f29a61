/* SPDX-License-Identifier: MIT */
/*
 * x86_64 boot vCPU state (cpu.h). Segment registers are decoded from the
 * same GDT that boot.c writes to guest memory, so the hidden descriptor
 * caches and the table agree; everything is what VMX and SVM guest-state
 * checks accept, not only what a permissive KVM (PVM) tolerates.
 */
#include <string.h>

#include "x86/boot_priv.h"
#include "x86/cpu.h"
#include "x86/layout.h"

#define X86_CR0_PE              (1ull << 0)
#define X86_CR0_ET              (1ull << 4)
#define X86_CR0_NE              (1ull << 5)
#define X86_CR0_PG              (1ull << 31)
#define X86_CR4_PAE             (1ull << 5)
#define X86_EFER_LME            (1ull << 8)
#define X86_EFER_LMA            (1ull << 10)
#define X86_RFLAGS_RESERVED     (1ull << 1) /* bit 1 always reads as 1 */

#define CPUID1_ECX_HYPERVISOR   (1u << 31)
#define CPUID1_EDX_HTT          (1u << 28)
#define TOPO_LEVEL_SMT          1
#define TOPO_LEVEL_CORE         2

#define MSR_IA32_SYSENTER_CS    0x174
#define MSR_IA32_SYSENTER_ESP   0x175
#define MSR_IA32_SYSENTER_EIP   0x176
#define MSR_IA32_MISC_ENABLE    0x1a0
#define MSR_MTRR_DEF_TYPE       0x2ff
#define MSR_STAR                0xc0000081
#define MSR_LSTAR               0xc0000082
#define MSR_CSTAR               0xc0000083
#define MSR_SYSCALL_MASK        0xc0000084
#define MSR_KERNEL_GS_BASE      0xc0000102
#define MISC_ENABLE_FAST_STRING (1ull << 0)
#define MTRR_DEF_TYPE_E         (1ull << 11)
#define MTRR_TYPE_WRBACK        6

static void
segment_from_gdt(uint64_t d, uint16_t selector, struct kvm_segment *s)
{
	uint32_t limit = (uint32_t)((d & 0xffff) | ((d >> 32) & 0xf0000));

	memset(s, 0, sizeof(*s));
	s->selector = selector;
	s->base = ((d >> 16) & 0xffffff) | ((d >> 32) & 0xff000000);
	s->type = (d >> 40) & 0xf;
	s->s = (d >> 44) & 1;
	s->dpl = (d >> 45) & 3;
	s->present = (d >> 47) & 1;
	s->avl = (d >> 52) & 1;
	s->l = (d >> 53) & 1;
	s->db = (d >> 54) & 1;
	s->g = (d >> 55) & 1;
	s->limit = s->g ? (limit << 12) | 0xfff : limit;
	s->unusable = !s->present;
}

void
vmm_x86_boot_sregs(const struct vmm_x86_boot *boot, struct kvm_sregs *sregs)
{
	uint64_t gdt[BOOT_GDT_ENTRIES];
	uint16_t code = boot->mode == VMM_X86_ENTRY_PVH32 ? VMM_X86_SEL_CODE32 : VMM_X86_SEL_CODE64;
	struct kvm_segment data;

	vmm_x86_boot_gdt(gdt);
	segment_from_gdt(gdt[code / 8], code, &sregs->cs);
	segment_from_gdt(gdt[VMM_X86_SEL_DATA / 8], VMM_X86_SEL_DATA, &data);
	sregs->ds = data;
	sregs->es = data;
	sregs->fs = data;
	sregs->gs = data;
	sregs->ss = data;
	/* PVH asks for a valid 32-bit TSS; VMX wants a busy TSS in TR in any mode. */
	segment_from_gdt(gdt[VMM_X86_SEL_TSS / 8], VMM_X86_SEL_TSS, &sregs->tr);
	/* No LDT: the reset value (type LDT, present, selector 0). */
	memset(&sregs->ldt, 0, sizeof(sregs->ldt));
	sregs->ldt.type = 2;
	sregs->ldt.present = 1;
	sregs->ldt.limit = 0xffff;

	sregs->gdt.base = VMM_X86_GDT_GPA;
	sregs->gdt.limit = sizeof(gdt) - 1;
	/* An empty IDT: an exception before the kernel loads its own is a triple
	 * fault (KVM_EXIT_SHUTDOWN), not a jump through the real-mode IVT. */
	sregs->idt.base = 0;
	sregs->idt.limit = 0;
	memset(sregs->idt.padding, 0, sizeof(sregs->idt.padding));
	memset(sregs->gdt.padding, 0, sizeof(sregs->gdt.padding));

	sregs->cr2 = 0;
	sregs->cr8 = 0;
	if (boot->mode == VMM_X86_ENTRY_PVH32) {
		/* Xen PVH ABI: CR0.PE and nothing writable, CR4 = 0, paging off. */
		sregs->cr0 = X86_CR0_PE | X86_CR0_ET;
		sregs->cr3 = 0;
		sregs->cr4 = 0;
		sregs->efer = 0;
	} else {
		/* boot.rst 64-bit protocol: long mode, paging on, identity mapped. */
		sregs->cr0 = X86_CR0_PE | X86_CR0_ET | X86_CR0_NE | X86_CR0_PG;
		sregs->cr3 = boot->cr3;
		sregs->cr4 = X86_CR4_PAE;
		sregs->efer = X86_EFER_LME | X86_EFER_LMA;
	}
}

void
vmm_x86_boot_regs(const struct vmm_x86_boot *boot, struct kvm_regs *regs)
{
	memset(regs, 0, sizeof(*regs));
	/* IF, TF and VM clear, as both protocols require. */
	regs->rflags = X86_RFLAGS_RESERVED;
	regs->rip = boot->entry;
	regs->rsp = VMM_X86_BOOT_STACK_GPA;
	regs->rbp = VMM_X86_BOOT_STACK_GPA;
	if (boot->mode == VMM_X86_ENTRY_PVH32)
		regs->rbx = boot->boot_info;
	else
		regs->rsi = boot->boot_info;
}

/* Bits needed to number count ids: the APIC id shift of a topology level. */
static uint32_t
id_bits(uint32_t count)
{
	uint32_t bits = 0;

	while (bits < 32 && (1ull << bits) < count)
		bits++;
	return bits;
}

void
vmm_x86_cpuid_fixup(struct kvm_cpuid2 *cpuid, uint32_t index, uint32_t count)
{
	uint32_t logical = count > 255 ? 255 : count;
	uint32_t i;

	if (count == 0)
		count = 1;
	/*
	 * The topology presented: one package of `count` cores, one thread
	 * each, APIC id = vCPU index (the MADT says the same).
	 */
	for (i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];

		switch (e->function) {
		case 1:
			/* EBX[31:24] initial APIC id, [23:16] logical processors. */
			e->ebx = (e->ebx & 0xffff) | (index & 0xff) << 24 | logical << 16;
			if (count > 1)
				e->edx |= CPUID1_EDX_HTT;
			else
				e->edx &= ~CPUID1_EDX_HTT;
			e->ecx |= CPUID1_ECX_HYPERVISOR;
			break;
		case 4:
			/* EAX[31:26] cores per package - 1, for valid cache subleaves. */
			if (e->eax & 0x1f) {
				uint32_t cores = count > 64 ? 64 : count;

				e->eax = (e->eax & 0x03ffffff) | (cores - 1) << 26;
			}
			break;
		case 0xb:
		case 0x1f:
			/* Extended topology: SMT level of 1, core level of count. */
			if (e->index == 0) {
				e->eax = 0;
				e->ebx = 1;
				e->ecx = TOPO_LEVEL_SMT << 8;
			} else if (e->index == 1) {
				e->eax = id_bits(count);
				e->ebx = count;
				e->ecx = TOPO_LEVEL_CORE << 8 | 1;
			} else {
				e->eax = 0;
				e->ebx = 0;
				e->ecx = e->index & 0xff;
			}
			e->edx = index; /* x2APIC id */
			break;
		default:
			/* Everything else, including KVM's 0x4000000x signature
			 * and feature leaves, as KVM reports it. */
			break;
		}
	}
}

unsigned int
vmm_x86_boot_msrs(struct kvm_msr_entry *out, unsigned int max)
{
	static const struct {
		uint32_t index;
		uint64_t data;
	} boot_msrs[] = {
		{ MSR_IA32_SYSENTER_CS, 0 },
		{ MSR_IA32_SYSENTER_ESP, 0 },
		{ MSR_IA32_SYSENTER_EIP, 0 },
		{ MSR_STAR, 0 },
		{ MSR_LSTAR, 0 },
		{ MSR_CSTAR, 0 },
		{ MSR_SYSCALL_MASK, 0 },
		{ MSR_KERNEL_GS_BASE, 0 },
		/* What firmware leaves: fast string operations on. */
		{ MSR_IA32_MISC_ENABLE, MISC_ENABLE_FAST_STRING },
		/* MTRRs enabled, default type write-back (0x806). */
		{ MSR_MTRR_DEF_TYPE, MTRR_DEF_TYPE_E | MTRR_TYPE_WRBACK },
	};
	unsigned int i;

	for (i = 0; i < max && i < sizeof(boot_msrs) / sizeof(boot_msrs[0]); i++) {
		memset(&out[i], 0, sizeof(out[i]));
		out[i].index = boot_msrs[i].index;
		out[i].data = boot_msrs[i].data;
	}
	return i;
}
