/* SPDX-License-Identifier: MIT */
/*
 * The arm64 part of struct vmm (vmm_int.h): what arm64/kvm_cpu.c and
 * arm64/platform.c keep per VM.
 */
#ifndef VMM_ARM64_VM_ARCH_H
#define VMM_ARM64_VM_ARCH_H

#include <linux/kvm.h>
#include <stdbool.h>

#include "arm64/boot.h"
#include "arm64/fdt.h"

struct vmm_arch_vm {
	bool gic_created; /* gic_fd is open */
	int gic_fd;       /* the in-kernel vGIC (KVM_CREATE_DEVICE) */
	enum vmm_arm64_gic_version gic;
	bool its_created;               /* its_fd is open: MSIs, so the PCI bus is described */
	int its_fd;                     /* the vGICv3's ITS (KVM_DEV_TYPE_ARM_VGIC_ITS) */
	struct kvm_vcpu_init vcpu_init; /* KVM_ARM_PREFERRED_TARGET */
	struct vmm_arm64_boot boot;
};

#endif
