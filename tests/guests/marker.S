/* SPDX-License-Identifier: MIT */
/*
 * The tiny guest the boot benchmark times under every VMM: print
 * "NICVISOR-TINY-READY\n" on COM1 in one string write, then write
 * GUEST_EXIT_OK to the debug-exit port. Nothing else, so that it costs the
 * same under each VMM; keep it that way.
 */
#include "guest.inc"

	PVH_NOTE pvh_entry

	.text
	.code32
	.globl pvh_entry
pvh_entry:
	cld
	mov $marker, %esi
	mov $(marker_end - marker), %ecx
	mov $COM1_PORT, %dx
	rep outsb
	GUEST_EXIT GUEST_EXIT_OK

	.section .rodata
marker:
	.ascii "NICVISOR-TINY-READY\n"
marker_end:
