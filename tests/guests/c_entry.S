/* SPDX-License-Identifier: MIT */
/*
 * Entry of the purpose-built guests written in C (net.c): from the PVH
 * entry (32-bit protected mode, paging off) to long mode with a 4 GiB
 * identity map in 2 MiB pages, ring 0, interrupts off, then
 * guest_main(hvm_start_info); its return value goes to the debug-exit
 * port. Everything stays in ring 0: under PVM it is emulated (slow but
 * complete for the plain integer instructions a compiler emits with
 * -mgeneral-regs-only), and no interrupt is ever taken (the guest polls
 * its local APIC), so no IRET is needed.
 */
#include "guest.inc"

#define SEL_CODE64 0x08
#define SEL_DATA   0x10

	PVH_NOTE pvh_entry

	.text
	.code32
	.globl pvh_entry
pvh_entry:
	cli
	cld
	mov %ebx, %esi /* hvm_start_info */
	lgdt gdt_desc
	mov $SEL_DATA, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov $stack_top, %esp
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
	mov $stack_top, %rsp
	mov %esi, %edi
	call guest_main
	mov $DEBUG_EXIT_PORT, %dx
	out %al, %dx
1:	hlt
	jmp 1b

	.data
	.balign 8
gdt:
	.quad 0
	.quad 0x00af9a000000ffff /* 0x08 code64 */
	.quad 0x00cf92000000ffff /* 0x10 data */
gdt_end:
gdt_desc:
	.word gdt_end - gdt - 1
	.long gdt

	/* 4 GiB identity map, 2 MiB pages, present | writable. */
	.balign 4096
pml4:
	.quad pdpt + 0x3
	.fill 511, 8, 0
pdpt:
	.quad pd + 0x3
	.quad pd + 0x1000 + 0x3
	.quad pd + 0x2000 + 0x3
	.quad pd + 0x3000 + 0x3
	.fill 508, 8, 0
pd:
	.set page, 0
	.rept 2048
	.quad (page << 21) | 0x83
	.set page, page + 1
	.endr

	.bss
	.balign 16
	.skip 16384
stack_top:
