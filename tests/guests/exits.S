/* SPDX-License-Identifier: MIT */
/*
 * Guests that end their run, or touch devices, in one particular way. One
 * source, built once per variant (meson passes -DEXIT_<NAME>); all stay in
 * 32-bit protected mode. A variant whose action the VMM does not honour
 * falls through to GUEST_EXIT_FAIL, so a test never waits for a timeout.
 *
 *   EXIT_POWEROFF  ACPI sleep control: writes that must be ignored (no
 *                  SLP_EN; SLP_EN with S3), then SLP_EN with S5
 *   EXIT_RESET     ACPI reset register: a wrong value, then the right one
 *   EXIT_I8042     i8042 reset, as Linux does it (status poll, then 0xfe)
 *   EXIT_DEVICES   PIO and MMIO accesses of each width to test devices and
 *                  to unclaimed addresses, CMOS RTC reads; reports what it
 *                  reads, then OK
 *   EXIT_ACPI_POWEROFF, EXIT_ACPI_RESET
 *                  as Linux does: follow hvm_start_info.rsdp_paddr to the
 *                  XSDT and the FADT, and write S5 to the FADT's sleep
 *                  control register, or the reset value to its reset
 *                  register (so the tables and the devices must agree)
 *   EXIT_BIOS_RESET
 *                  Linux's BOOT_BIOS reboot (its default with hardware-
 *                  reduced ACPI and no EFI): back to real mode and a jump
 *                  to the reset vector F000:FFF0
 *   EXIT_TRIPLE    an exception with an empty IDT: triple fault
 *   EXIT_BADJUMP   a jump into guest-physical memory that is neither RAM
 *                  nor a device
 */
#include "guest.inc"

	PVH_NOTE pvh_entry

	.text
	.code32
	.globl pvh_entry
pvh_entry:
	cli
	cld
	mov $stack_top, %esp

#ifdef EXIT_POWEROFF
	mov $ACPI_SLEEP_CTL_PORT, %dx
	mov $(5 << 2), %al /* S5 without SLP_EN */
	out %al, %dx
	mov $((3 << 2) | 0x20), %al /* S3 */
	out %al, %dx
	REPORT 1 /* still running */
	mov $ACPI_SLEEP_CTL_PORT, %dx
	mov $((5 << 2) | 0x20), %al /* S5 */
	out %al, %dx
#endif

#ifdef EXIT_RESET
	mov $ACPI_RESET_PORT, %dx
	mov $0x02, %al
	out %al, %dx
	REPORT 1
	mov $ACPI_RESET_PORT, %dx
	mov $0x01, %al
	out %al, %dx
#endif

#ifdef EXIT_I8042
	/* Linux's kb_wait(): poll the input-buffer-full bit, bounded. */
	mov $16, %ecx
1:	in $I8042_CMD_PORT, %al
	test $0x02, %al
	jz 2f
	loop 1b
	REPORT 0xbad
2:	mov $0xfe, %al
	out %al, $I8042_CMD_PORT
#endif

#ifdef EXIT_DEVICES
	/* PIO: the report port takes each width. */
	mov $GUEST_REPORT_PORT, %dx
	mov $0x11, %al
	out %al, %dx
	mov $0x2222, %ax
	out %ax, %dx
	mov $0x33333333, %eax
	out %eax, %dx
	/* MMIO writes of each width, then a read of each width. */
	movb $0xa5, GUEST_TEST_MMIO + 0x1
	movw $0xbeef, GUEST_TEST_MMIO + 0x2
	movl $0xcafef00d, GUEST_TEST_MMIO + 0x4
	movzbl GUEST_TEST_MMIO + 0x8, %eax
	REPORT_EAX
	movzwl GUEST_TEST_MMIO + 0x8, %eax
	REPORT_EAX
	mov GUEST_TEST_MMIO + 0x8, %eax
	REPORT_EAX
	/* Unclaimed: reads are all ones, writes vanish. */
	mov $GUEST_UNCLAIMED_PORT, %dx
	in %dx, %eax
	REPORT_EAX
	mov $GUEST_UNCLAIMED_PORT, %dx
	out %al, %dx
	mov GUEST_UNCLAIMED_MMIO, %eax
	REPORT_EAX
	movl $0, GUEST_UNCLAIMED_MMIO
	/* CMOS RTC: register A (UIP clear), D (valid), the year (BCD). */
	mov $0x0a, %al
	out %al, $0x70
	in $0x71, %al
	movzbl %al, %eax
	REPORT_EAX
	mov $0x0d, %al
	out %al, $0x70
	in $0x71, %al
	movzbl %al, %eax
	REPORT_EAX
	mov $0x09, %al
	out %al, $0x70
	in $0x71, %al
	movzbl %al, %eax
	REPORT_EAX
	/* Port 0x61 (PIT channel 2 gate, speaker) is KVM's, never ours. */
	in $0x61, %al
	/* String I/O: 4 bytes to the report port. */
	mov $pattern, %esi
	mov $4, %ecx
	mov $GUEST_REPORT_PORT, %dx
	rep outsb
	GUEST_EXIT GUEST_EXIT_OK
#endif

#if defined(EXIT_ACPI_POWEROFF) || defined(EXIT_ACPI_RESET)
	mov 0x20(%ebx), %esi /* hvm_start_info.rsdp_paddr */
	test %esi, %esi
	jz 3f
	mov 24(%esi), %esi /* RSDP.XsdtAddress */
	mov 4(%esi), %ecx  /* XSDT length */
	add %esi, %ecx
	lea 36(%esi), %edi /* first entry */
1:	cmp %ecx, %edi
	jae 3f
	mov (%edi), %ebp
	cmpl $0x50434146, (%ebp) /* "FACP" */
	je 2f
	add $8, %edi
	jmp 1b
#ifdef EXIT_ACPI_POWEROFF
2:	mov 248(%ebp), %edx /* SLEEP_CONTROL_REG.Address */
	mov $((5 << 2) | 0x20), %al
#else
2:	mov 120(%ebp), %edx /* RESET_REG.Address */
	mov 128(%ebp), %al  /* RESET_VALUE */
#endif
	out %al, %dx
3:	REPORT 0xbad
#endif

#ifdef EXIT_BIOS_RESET
	/* As arch/x86/realmode/rm/reboot.S: 16-bit segments, PE off, far
	 * jump. The 16-bit part is copied below 64 KiB to run with base 0. */
	mov $rm_reset, %esi
	mov $0x8000, %edi
	mov $(rm_reset_end - rm_reset), %ecx
	rep movsb
	lgdt gdt16_desc
	ljmp $0x08, $0x8000
	.code16
rm_reset:
	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov %cr0, %eax
	and $~1, %eax
	mov %eax, %cr0
	ljmp $0xf000, $0xfff0
rm_reset_end:
	.code32
#endif

#ifdef EXIT_TRIPLE
	/* The boot IDT is empty: #UD cannot be delivered, nor #GP, nor #DF. */
	lidt null_idt
	ud2
#endif

#ifdef EXIT_BADJUMP
	mov $0xd8000000, %eax /* in the MMIO hole, no device there */
	jmp *%eax
#endif

	GUEST_EXIT GUEST_EXIT_FAIL

	.section .rodata
	.balign 8
null_idt:
	.word 0
	.long 0
pattern:
	.byte 0x41, 0x42, 0x43, 0x44
	.balign 8
gdt16:
	.quad 0
	.quad 0x00009a000000ffff /* 0x08 16-bit code, base 0, limit 64 KiB */
	.quad 0x000092000000ffff /* 0x10 16-bit data */
gdt16_desc:
	.word 3 * 8 - 1
	.long gdt16

	.bss
	.balign 16
	.skip 4096
stack_top:
