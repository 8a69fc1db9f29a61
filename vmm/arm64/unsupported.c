/* SPDX-License-Identifier: MIT */
/*
 * arm64 builds of the vmm library: the architecture hooks of vmm_int.h with
 * no guest behind them yet. The shim compiles and links on arm64 (a
 * BlueField's Arm cores, an arm64 server as host) and every VM is refused
 * up front by vmm_guests_supported(), so nothing below it runs.
 *
 * What an implementation puts here (KVM selftests' aarch64 lib and kvmtool's
 * arm/ are the models): KVM_ARM_PREFERRED_TARGET and KVM_ARM_VCPU_INIT with
 * PSCI 0.2, a GICv3 (KVM_CREATE_DEVICE), the Image loader and a device tree
 * for the kernel, a PL011 UART, PCI ECAM and MSI through a GICv3 ITS.
 */
#include <errno.h>
#include <stdio.h>

#include "vmm_int.h"

#define UNSUPPORTED "arm64 guests are not supported by this build yet"

const struct vmm_kvm_cap vmm_arch_caps[] = {
	{ KVM_CAP_ARM_PSCI_0_2, "arm-psci-0.2", true },
};
const unsigned int vmm_arch_ncaps = sizeof(vmm_arch_caps) / sizeof(vmm_arch_caps[0]);
const uint64_t vmm_arch_hole_start = 0;
const uint64_t vmm_arch_hole_end = 0;
const uint32_t vmm_arch_first_msi_gsi = 0;
const struct vmm_arch_pci vmm_arch_pci = { 0 };

int
vmm_guests_supported(char *err, size_t errlen)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s", UNSUPPORTED);
	return -ENOTSUP;
}

unsigned int
vmm_arch_default_routes(struct kvm_irq_routing_entry *e, unsigned int max)
{
	(void)e;
	(void)max;
	return 0;
}

bool
vmm_arch_msi_valid(uint64_t addr)
{
	(void)addr;
	return false;
}

int
vmm_arch_vm_init(struct vmm *vm, char *err, size_t errlen)
{
	(void)vm;
	return vmm_guests_supported(err, errlen);
}

void
vmm_arch_vm_fini(struct vmm *vm)
{
	(void)vm;
}

int
vmm_arch_load(struct vmm *vm, const uint8_t *kernel, size_t kernel_size, const uint8_t *initrd,
	      size_t initrd_size, char *err, size_t errlen)
{
	(void)vm;
	(void)kernel;
	(void)kernel_size;
	(void)initrd;
	(void)initrd_size;
	return vmm_guests_supported(err, errlen);
}

int
vmm_arch_vcpu_init(struct vmm *vm, struct vmm_vcpu *vcpu, char *err, size_t errlen)
{
	(void)vm;
	(void)vcpu;
	return vmm_guests_supported(err, errlen);
}

void
vmm_arch_describe_rip(struct vmm_vcpu *vcpu, char *buf, size_t len)
{
	(void)vcpu;
	snprintf(buf, len, "pc unknown (%s)", UNSUPPORTED);
}

int
vmm_arch_devices_init(struct vmm *vm)
{
	(void)vm;
	return -ENOTSUP;
}

void
vmm_arch_devices_fini(struct vmm *vm)
{
	vmm_serial_destroy(vm->com1);
	vm->com1 = NULL;
}

int
vmm_arch_power_button(struct vmm *vm)
{
	(void)vm;
	return -ENOTSUP;
}
