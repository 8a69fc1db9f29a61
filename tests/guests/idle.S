/* SPDX-License-Identifier: MIT */
/*
 * A guest that does nothing, cheaply: interrupts off, then HLT for ever.
 * With the in-kernel LAPIC the vCPU sleeps in KVM, so many of these can
 * run at once on a small machine (the API load test starts 64). It
 * ignores the power button: stop it with force.
 */
#include "guest.inc"

	PVH_NOTE pvh_entry

	.text
	.code32
	.globl pvh_entry
pvh_entry:
	cli
1:	hlt
	jmp 1b
