/* SPDX-License-Identifier: MIT */
/*
 * Long mode and ring 3. A vCPU that runs this switches to long mode with
 * the guest's own page tables (4 GiB identity map, 2 MiB pages, user
 * accessible), drops to ring 3 with IOPL 3, and does its work there, where
 * KVM runs guest code natively on every host, PVM included.
 *
 * Ring 3 reports over MMIO (GUEST_MMIO_REPORT), not a port: PVM runs guest
 * ring 3 with the real IOPL at 0 whatever the guest asks for (PVM spec,
 * "Underlying RFLAGS"), and delivers no event from ring 3 to an emulated
 * ring 0 (int, syscall and exceptions triple-fault), so ring-3 code here
 * never leaves ring 3. The run ends from ring 0 or by vmm_stop().
 *
 * Built in variants (meson passes the -D):
 *   WORK_CHECKSUM  fill 8 MiB with a 64-bit LCG seeded with cpu id + 1,
 *                  report a rotate-xor checksum of it (low, high word),
 *                  then spin;
 *   WORK_SPIN      spin in ring 3 without exits (for vmm_stop);
 *   SMP            the boot vCPU first starts the others the real way:
 *                  INIT, SIPI, SIPI through its local APIC to a real-mode
 *                  trampoline at 0x10000 that enters protected mode and
 *                  joins the path above. With WORK_CHECKSUM the boot vCPU
 *                  itself stays in ring 0, waits (seconds, by the TSC) for one other
 *                  vCPU to finish, reports 0xa0000000 | finished count
 *                  over the report port, and exits with GUEST_EXIT_OK.
 *
 * Ring-3 reports, per vCPU: 0xc0000000 | cpu id, the CPL (3), then for
 * WORK_CHECKSUM the checksum's low and high words.
 */
#include "guest.inc"

#define SEL_CODE64   0x08
#define SEL_DATA     0x10
#define SEL_CODE32   0x18
#define SEL_DATA3    0x23 /* 0x20 | RPL 3 */
#define SEL_CODE64_3 0x2b /* 0x28 | RPL 3 */

#define TRAMPOLINE   0x10000 /* SIPI vector 0x10 */
#define BUF_BASE     0x2000000
#define BUF_QWORDS   0x100000 /* 8 MiB per vCPU */
#define LCG_MUL      6364136223846793005
#define LCG_ADD      1442695040888963407
#define WAIT_TSC_HI  3 /* wait up to 2-3 x 2^32 TSC ticks: seconds */

	PVH_NOTE pvh_entry

	.text
	.code32
	.globl pvh_entry
pvh_entry:
	cli
	cld
	lgdt gdt_desc
	ljmp $SEL_CODE32, $1f
1:	mov $SEL_DATA, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
#ifdef SMP
	/* Copy the trampoline below 1 MiB, enable the local APIC, and send
	 * INIT then two SIPIs to all but self (Intel SDM vol. 3, 8.4.4.1). */
	mov $ap_trampoline, %esi
	mov $TRAMPOLINE, %edi
	mov $(ap_trampoline_end - ap_trampoline), %ecx
	rep movsb
	movl $0x1ff, LAPIC_BASE + 0xf0       /* SVR: enabled, spurious 0xff */
	movl $0, LAPIC_BASE + 0x310
	movl $0x000c4500, LAPIC_BASE + 0x300 /* INIT, all excluding self */
	movl $(0x000c4600 | (TRAMPOLINE >> 12)), LAPIC_BASE + 0x300 /* SIPI */
	movl $(0x000c4600 | (TRAMPOLINE >> 12)), LAPIC_BASE + 0x300
#ifdef WORK_CHECKSUM
	/* Bounded by the TSC: ring 0 runs natively under VMX/SVM and about
	 * 3000 times slower under PVM, so no loop count fits both. */
	rdtsc
	lea WAIT_TSC_HI(%edx), %esi
1:	cmpl $1, aps_done
	jae 2f
	rdtsc
	cmp %esi, %edx
	jb 1b
2:	mov aps_done, %eax
	or $0xa0000000, %eax
	REPORT_EAX
	cmpl $1, aps_done
	jb 3f
	GUEST_EXIT GUEST_EXIT_OK
3:	GUEST_EXIT GUEST_EXIT_FAIL
#endif
#endif
	jmp common32

#ifdef SMP
ap_entry32:
	mov $SEL_DATA, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	jmp common32
#endif

/* Both kinds of vCPU: %edi = local APIC id, ring-0 stack, long mode. */
common32:
	mov LAPIC_BASE + 0x20, %edi
	shr $24, %edi
	lea 1(%edi), %esp
	shl $12, %esp
	add $stack0, %esp
	mov %cr4, %eax
	or $0x20, %eax /* PAE */
	mov %eax, %cr4
	mov $pml4, %eax
	mov %eax, %cr3
	mov $0xc0000080, %ecx /* EFER */
	rdmsr
	or $0x100, %eax /* LME */
	wrmsr
	mov %cr0, %eax
	or $0x80000001, %eax /* PG | PE */
	mov %eax, %cr0
	ljmp $SEL_CODE64, $long_mode

	.code64
long_mode:
	mov $SEL_DATA, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	lea 1(%rdi), %rax
	shl $12, %rax
	add $stack3, %rax
	push $SEL_DATA3
	push %rax
	push $0x3002 /* IOPL 3 (ignored by PVM), IF clear */
	push $SEL_CODE64_3
	push $user_main
	iretq

/* Ring 3 from here on; %rdi = cpu id, %r12 = the MMIO report register. */
user_main:
	mov $GUEST_MMIO_REPORT, %r12d
	mov %edi, %eax
	or $0xc0000000, %eax
	mov %eax, (%r12)
	mov %cs, %eax
	and $3, %eax
	mov %eax, (%r12)
#ifdef WORK_CHECKSUM
	mov %rdi, %rsi
	shl $23, %rsi
	add $BUF_BASE, %rsi
	lea 1(%rdi), %rax
	movabs $LCG_MUL, %r8
	movabs $LCG_ADD, %r9
	mov $BUF_QWORDS, %ecx
	mov %rsi, %rbx
1:	imul %r8, %rax
	add %r9, %rax
	mov %rax, (%rbx)
	add $8, %rbx
	dec %ecx
	jnz 1b
	xor %r10d, %r10d
	mov $BUF_QWORDS, %ecx
	mov %rsi, %rbx
2:	rol $7, %r10
	xor (%rbx), %r10
	add $8, %rbx
	dec %ecx
	jnz 2b
	mov %r10d, (%r12)
	shr $32, %r10
	mov %r10d, (%r12)
	lock incl aps_done(%rip)
#endif
3:	jmp 3b

#ifdef SMP
/* Copied to TRAMPOLINE; starts in real mode at CS = TRAMPOLINE >> 4, IP 0. */
	.code16
ap_trampoline:
	cli
	mov %cs, %ax
	mov %ax, %ds
	lgdtl ap_gdt_desc - ap_trampoline
	mov %cr0, %eax
	or $1, %eax
	mov %eax, %cr0
	ljmpl $SEL_CODE32, $ap_entry32
	.balign 8
ap_gdt_desc:
	.word gdt_end - gdt - 1
	.long gdt
ap_trampoline_end:
#endif

	.data
	.balign 8
gdt:
	.quad 0
	.quad 0x00af9a000000ffff /* 0x08 code64, DPL 0 */
	.quad 0x00cf92000000ffff /* 0x10 data, DPL 0 */
	.quad 0x00cf9a000000ffff /* 0x18 code32, DPL 0 */
	.quad 0x00cff2000000ffff /* 0x20 data, DPL 3 */
	.quad 0x00affa000000ffff /* 0x28 code64, DPL 3 */
gdt_end:
gdt_desc:
	.word gdt_end - gdt - 1
	.long gdt
aps_done:
	.long 0

	/* 4 GiB identity map, 2 MiB pages, present | writable | user. */
	.balign 4096
pml4:
	.quad pdpt + 0x7
	.fill 511, 8, 0
pdpt:
	.quad pd + 0x7
	.quad pd + 0x1000 + 0x7
	.quad pd + 0x2000 + 0x7
	.quad pd + 0x3000 + 0x7
	.fill 508, 8, 0
pd:
	.set page, 0
	.rept 2048
	.quad (page << 21) | 0x87
	.set page, page + 1
	.endr

	.bss
	.balign 4096
stack0:
	.skip 4096 * 2
stack3:
	.skip 4096 * 2
