/* SPDX-License-Identifier: MIT */
/*
 * x86_64 vCPU state at reset, as pure functions of the boot plan: the
 * segment, control and general registers for each entry mode, the CPUID a
 * vCPU is given (KVM's supported set with per-vCPU APIC ids and the
 * hypervisor bits), and the MSRs a kernel expects firmware to have set.
 * The KVM ioctls that apply them live with the vCPU code.
 */
#ifndef VMM_X86_CPU_H
#define VMM_X86_CPU_H

#include <linux/kvm.h>
#include <stdint.h>

#include "x86/boot.h"

/*
 * Registers of the boot vCPU for boot->mode. sregs holds what
 * KVM_GET_SREGS returned: every segment, GDT/IDT, CR0/2/3/4/8 and EFER are
 * overwritten (segments match the GDT boot.c writes at VMM_X86_GDT_GPA);
 * apic_base and interrupt_bitmap are left alone. regs is overwritten
 * whole: RIP = entry, RSI or RBX = boot_info, RFLAGS = 0x2, RSP =
 * VMM_X86_BOOT_STACK_GPA.
 */
void vmm_x86_boot_sregs(const struct vmm_x86_boot *boot, struct kvm_sregs *sregs);
void vmm_x86_boot_regs(const struct vmm_x86_boot *boot, struct kvm_regs *regs);

/* Adjust a copy of KVM_GET_SUPPORTED_CPUID for vCPU `index` of `count`:
 * initial and x2APIC ids, logical processor counts, the hypervisor bit.
 * The topology is one package of `count` single-thread cores, APIC id =
 * index. Only entries present are changed (leaves 1, 4, 0xb, 0x1f); none
 * are added. */
void vmm_x86_cpuid_fixup(struct kvm_cpuid2 *cpuid, uint32_t index, uint32_t count);

/* MSRs to set on every vCPU before it runs; returns how many were written
 * (at most max). */
unsigned int vmm_x86_boot_msrs(struct kvm_msr_entry *out, unsigned int max);

#endif
