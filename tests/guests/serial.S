/* SPDX-License-Identifier: MIT */
/*
 * Drives COM1 as Linux's 8250 driver does, with interrupts through the
 * 8259 PIC (so through the boot vCPU's LINT0 in ExtINT mode), and listens
 * for the ACPI power button (GED, GSI 10). 32-bit protected mode.
 *
 *  1. loopback: MCR = LOOP|RTS|DTR; reports MSR, then writes 0x5a to THR
 *     and reports LSR and RBR;
 *  2. 115200 8n1, FIFOs on, MCR = DTR|RTS|OUT2; enables the THRE
 *     interrupt and waits for it; its handler reports IIR and switches
 *     IER to received-data interrupts;
 *  3. prints "serial-ready\n" (polling LSR.THRE before each byte);
 *  4. from then on, each receive interrupt reports IIR and echoes every
 *     byte while LSR.DR; the power-button interrupt reports 0x9b and
 *     writes S5 to the ACPI sleep control register.
 *
 * Handlers never IRET: KVM's instruction emulator, which runs all ring-0
 * code under PVM, has no protected-mode IRET. Interrupts arrive only in
 * the `sti; hlt` of a wait loop, so a handler resets the stack and
 * resumes at that loop's head (`resume`), which re-checks its condition.
 */
#include "guest.inc"

#define PIC1 0x20
#define PIC2 0xa0

	PVH_NOTE pvh_entry

	.text
	.code32
	.globl pvh_entry
pvh_entry:
	cli
	cld
	mov $stack_top, %esp

	/* 1. loopback */
	mov $(COM1_PORT + 4), %dx
	mov $0x13, %al
	out %al, %dx
	mov $(COM1_PORT + 6), %dx
	in %dx, %al
	movzbl %al, %eax
	REPORT_EAX
	mov $COM1_PORT, %dx
	mov $0x5a, %al
	out %al, %dx
	mov $(COM1_PORT + 5), %dx
	in %dx, %al
	movzbl %al, %eax
	REPORT_EAX
	mov $COM1_PORT, %dx
	in %dx, %al
	movzbl %al, %eax
	REPORT_EAX

	/* 2. line setup */
	mov $(COM1_PORT + 3), %dx
	mov $0x80, %al /* DLAB */
	out %al, %dx
	mov $COM1_PORT, %dx
	mov $1, %al /* divisor 1: 115200 */
	out %al, %dx
	mov $(COM1_PORT + 1), %dx
	mov $0, %al
	out %al, %dx
	mov $(COM1_PORT + 3), %dx
	mov $0x03, %al /* 8n1 */
	out %al, %dx
	mov $(COM1_PORT + 2), %dx
	mov $0x07, %al /* FIFO on, both cleared */
	out %al, %dx
	mov $(COM1_PORT + 4), %dx
	mov $0x0b, %al /* DTR | RTS | OUT2 */
	out %al, %dx

	/* IDT: vectors 0x20..0x2f for the two PICs. */
	mov $0x20, %ecx
1:	mov $spurious1, %eax
	cmp $0x28, %ecx
	jb 2f
	mov $spurious2, %eax
2:	call set_gate
	inc %ecx
	cmp $0x30, %ecx
	jb 1b
	mov $0x24, %ecx
	mov $irq4, %eax
	call set_gate
	mov $0x2a, %ecx
	mov $irq10, %eax
	call set_gate
	lidt idt_desc

	/* 8259s: edge triggered, vectors 0x20 and 0x28, cascade on IRQ 2;
	 * unmask IRQ 2, 4 and 10. */
	mov $0x11, %al
	out %al, $PIC1
	out %al, $PIC2
	mov $0x20, %al
	out %al, $(PIC1 + 1)
	mov $0x28, %al
	out %al, $(PIC2 + 1)
	mov $0x04, %al
	out %al, $(PIC1 + 1)
	mov $0x02, %al
	out %al, $(PIC2 + 1)
	mov $0x01, %al
	out %al, $(PIC1 + 1)
	out %al, $(PIC2 + 1)
	mov $0xeb, %al
	out %al, $(PIC1 + 1)
	mov $0xfb, %al
	out %al, $(PIC2 + 1)

	movl $wait_thre, resume
	mov $(COM1_PORT + 1), %dx
	mov $0x02, %al /* IER = THRI */
	out %al, %dx
wait_thre:
	cli
	cmpl $0, thre_seen
	jne 3f
	sti
	hlt
	jmp wait_thre

	/* 3. */
3:	mov $ready, %esi
4:	lodsb
	test %al, %al
	jz 5f
	call putc
	jmp 4b

	/* 4. */
5:	movl $idle, resume
idle:
	sti
	hlt
	jmp idle

/* End of every interrupt handler (after its EOI). */
irq_done:
	mov $stack_top, %esp
	jmp *resume

/* IDT entry %ecx -> handler %eax, 32-bit interrupt gate in this CS. */
set_gate:
	mov %ax, idt(, %ecx, 8)
	mov %cs, %dx
	mov %dx, idt + 2(, %ecx, 8)
	movw $0x8e00, idt + 4(, %ecx, 8)
	shr $16, %eax
	mov %ax, idt + 6(, %ecx, 8)
	ret

/* Transmit %al once THR is empty (bounded poll). */
putc:
	push %ecx
	mov %al, %ah
	mov $1000, %ecx
	mov $(COM1_PORT + 5), %dx
1:	in %dx, %al
	test $0x20, %al
	jnz 2f
	loop 1b
2:	mov %ah, %al
	mov $COM1_PORT, %dx
	out %al, %dx
	pop %ecx
	ret

irq4:
	mov $(COM1_PORT + 2), %dx
	in %dx, %al
	movzbl %al, %eax
	mov %eax, %ebx
	REPORT_EAX
	and $0x0f, %ebx
	cmp $0x02, %ebx /* THRE */
	jne 1f
	mov $(COM1_PORT + 1), %dx
	mov $0x01, %al /* IER = RDI */
	out %al, %dx
	movl $1, thre_seen
	jmp 3f
1:	cmp $0x04, %ebx /* received data */
	jne 3f
2:	mov $(COM1_PORT + 5), %dx
	in %dx, %al
	test $0x01, %al
	jz 3f
	mov $COM1_PORT, %dx
	in %dx, %al
	call putc
	jmp 2b
3:	mov $0x20, %al
	out %al, $PIC1
	jmp irq_done

irq10:
	REPORT 0x9b
	mov $0x20, %al
	out %al, $PIC2
	out %al, $PIC1
	mov $ACPI_SLEEP_CTL_PORT, %dx
	mov $((5 << 2) | 0x20), %al
	out %al, %dx
	jmp irq_done

spurious2:
	mov $0x20, %al
	out %al, $PIC2
spurious1:
	mov $0x20, %al
	out %al, $PIC1
	jmp irq_done

	.section .rodata
ready:
	.asciz "serial-ready\n"

	.data
	.balign 8
idt_desc:
	.word 0x30 * 8 - 1
	.long idt
thre_seen:
	.long 0
resume:
	.long 0
	.balign 8
idt:
	.fill 0x30, 8, 0

	.bss
	.balign 16
	.skip 4096
stack_top:
