/* SPDX-License-Identifier: MIT */
/*
 * The arm64 platform devices of layout.h: the console, a 16550A (serial.h)
 * on MMIO with byte registers, its interrupt a level-triggered SPI of the
 * vGIC. Power off and reset are PSCI calls the kernel handles (kvm_cpu.c);
 * there is no power button yet (no ACPI on this machine: a later change
 * adds a gpio-keys button).
 */
#define NV_LOG_COMPONENT "nicvisor.vmm.platform"

#include <errno.h>

#include "arm64/layout.h"
#include "vmm_int.h"

/* api.rst, KVM_IRQ_LINE on arm64: the type in bits 24-27, the INTID
 * below. */
#define ARM64_IRQ_LINE_SPI(intid) ((KVM_ARM_IRQ_TYPE_SPI << KVM_ARM_IRQ_TYPE_SHIFT) | (intid))

static void
uart_tx(void *opaque, const uint8_t *data, size_t len)
{
	struct vmm *vm = opaque;

	if (vm->ev.console != NULL)
		vm->ev.console(vm->ev.opaque, data, len);
}

static void
uart_irq(void *opaque, int level)
{
	vmm_irq_line(opaque, ARM64_IRQ_LINE_SPI(VMM_ARM64_SPI_INTID(VMM_ARM64_UART_SPI)), level);
}

int
vmm_arch_devices_init(struct vmm *vm)
{
	struct vmm_serial_conf uart = {
		.tx = uart_tx,
		.irq = uart_irq,
		.opaque = vm,
	};
	int rc;

	rc = vmm_serial_create(&uart, &vm->com1);
	if (rc < 0)
		return rc;
	return vmm_add_device(vm, VMM_SPACE_MMIO, VMM_ARM64_UART_BASE, 8, &vmm_serial_ops,
			      vm->com1);
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
