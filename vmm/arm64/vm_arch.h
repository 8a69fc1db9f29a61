/* SPDX-License-Identifier: MIT */
/*
 * The arm64 part of struct vmm (vmm_int.h). Nothing yet: this build runs no
 * arm64 guests (arm64/unsupported.c). An implementation keeps its vCPU
 * features, GIC and device tree state here.
 */
#ifndef VMM_ARM64_VM_ARCH_H
#define VMM_ARM64_VM_ARCH_H

struct vmm_arch_vm {
	int unused;
};

#endif
