/* SPDX-License-Identifier: MIT */
/*
 * The x86_64 part of struct vmm (vmm_int.h): what x86/kvm_cpu.c and
 * x86/platform.c keep per VM.
 */
#ifndef VMM_X86_VM_ARCH_H
#define VMM_X86_VM_ARCH_H

#include <linux/kvm.h>

#include "x86/boot.h"

struct vmm_x86_platform;

struct vmm_arch_vm {
	struct kvm_cpuid2 *cpuid; /* KVM_GET_SUPPORTED_CPUID */
	struct vmm_x86_boot boot;
	struct vmm_x86_platform *platform;
};

#endif
