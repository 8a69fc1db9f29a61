/* SPDX-License-Identifier: MIT */
/*
 * The arm64 architecture hooks of vmm_int.h over KVM (Documentation/virt/
 * kvm/api.rst and devices/arm-vgic-v3.rst, arm-vgic.rst, arm-vgic-its.rst):
 * the in-kernel vGIC (v3 with an ITS, else v2) created with the VM and
 * initialised once every vCPU exists; PCI MSI-X messages written to the
 * ITS's GITS_TRANSLATER, routed with their requester ID as DeviceID
 * (kvm.c, KVM_MSI_VALID_DEVID); vCPUs set up with KVM_ARM_PREFERRED_TARGET
 * and KVM_ARM_VCPU_INIT with PSCI 0.2 (secondaries start powered off; the
 * guest brings them up with PSCI CPU_ON, handled in the kernel); the boot
 * vCPU entering the Image at its load address with x0 = the device tree
 * (booting.rst). The
 * architected timer is KVM's, on its default PPIs, which the device tree
 * names. PSCI SYSTEM_OFF and SYSTEM_RESET reach vcpu.c as
 * KVM_EXIT_SYSTEM_EVENT: power off and reboot, as on x86.
 */
#define NV_LOG_COMPONENT "nicvisor.vmm.arm64"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "arm64/layout.h"
#include "vmm_int.h"

const struct vmm_kvm_cap vmm_arch_caps[] = {
	{ KVM_CAP_ARM_PSCI_0_2, "arm-psci-0.2", true },
	{ KVM_CAP_ONE_REG, "one-reg", true },
	{ KVM_CAP_DEVICE_CTRL, "device-ctrl", true },
};
const unsigned int vmm_arch_ncaps = sizeof(vmm_arch_caps) / sizeof(vmm_arch_caps[0]);
/* Everything below RAM is devices (layout.h). */
const uint64_t vmm_arch_hole_start = 0;
const uint64_t vmm_arch_hole_end = VMM_ARM64_RAM_BASE;
const uint32_t vmm_arch_first_msi_gsi = 0;
const struct vmm_arch_pci vmm_arch_pci = {
	.ecam = VMM_ARM64_PCI_ECAM_BASE,
	.window_start = VMM_ARM64_PCI_WINDOW_START,
	.window_end = VMM_ARM64_PCI_WINDOW_END,
	.buses = VMM_ARM64_PCI_BUSES,
};

#define ARM64_CORE_REG(x)                                                                          \
	(KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | KVM_REG_ARM_CORE_REG(x))

int
vmm_guests_supported(char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	return 0;
}

/* SPIs keep KVM's default routing (GSI n is SPI n): no table of ours. */
unsigned int
vmm_arch_default_routes(struct kvm_irq_routing_entry *e, unsigned int max)
{
	(void)e;
	(void)max;
	return 0;
}

/* The ITS's doorbell is the only MSI address (a machine without an ITS
 * has no PCI functions: vmm_arch_vm_init refuses them). */
bool
vmm_arch_msi_valid(uint64_t addr)
{
	return addr == VMM_ARM64_GIC_ITS_TRANSLATER;
}

static int
gic_attr(int fd, uint32_t group, uint64_t attr, void *addr)
{
	struct kvm_device_attr a = {
		.group = group,
		.attr = attr,
		.addr = (uintptr_t)addr,
	};

	return ioctl(fd, KVM_SET_DEVICE_ATTR, &a) < 0 ? -errno : 0;
}

static int
create_gic(struct vmm *vm, enum vmm_arm64_gic_version version, char *err, size_t errlen)
{
	struct kvm_create_device cd = {
		.type = version == VMM_ARM64_GIC_V3 ? KVM_DEV_TYPE_ARM_VGIC_V3
						    : KVM_DEV_TYPE_ARM_VGIC_V2,
	};
	uint64_t dist = VMM_ARM64_GIC_DIST_BASE, other;
	uint32_t nr_irqs = VMM_ARM64_GIC_NR_IRQS;
	int rc;

	if (ioctl(vm->vm_fd, KVM_CREATE_DEVICE, &cd) < 0)
		return -errno;
	vm->arch.gic_fd = (int)cd.fd;
	vm->arch.gic_created = true;
	vm->arch.gic = version;
	if (version == VMM_ARM64_GIC_V3) {
		other = VMM_ARM64_GIC_REDIST_BASE;
		rc = gic_attr(cd.fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_DIST, &dist);
		if (rc == 0)
			rc = gic_attr(cd.fd, KVM_DEV_ARM_VGIC_GRP_ADDR,
				      KVM_VGIC_V3_ADDR_TYPE_REDIST, &other);
	} else {
		other = VMM_ARM64_GIC_CPUIF_BASE;
		rc = gic_attr(cd.fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V2_ADDR_TYPE_DIST, &dist);
		if (rc == 0)
			rc = gic_attr(cd.fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V2_ADDR_TYPE_CPU,
				      &other);
	}
	if (rc == 0)
		rc = gic_attr(cd.fd, KVM_DEV_ARM_VGIC_GRP_NR_IRQS, 0, &nr_irqs);
	if (rc < 0)
		snprintf(err, errlen, "vGICv%d: KVM_SET_DEVICE_ATTR: %s", version, strerror(-rc));
	return rc;
}

/* arm-vgic-its.rst: an ITS beside a vGICv3, at its base address; it is
 * initialised after the vGIC (vmm_arch_vcpu_init). */
static int
create_its(struct vmm *vm)
{
	struct kvm_create_device cd = {
		.type = KVM_DEV_TYPE_ARM_VGIC_ITS,
	};
	uint64_t base = VMM_ARM64_GIC_ITS_BASE;
	int rc;

	if (ioctl(vm->vm_fd, KVM_CREATE_DEVICE, &cd) < 0)
		return -errno;
	vm->arch.its_fd = (int)cd.fd;
	vm->arch.its_created = true;
	rc = gic_attr(vm->arch.its_fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_ITS_ADDR_TYPE, &base);
	if (rc < 0) {
		close(vm->arch.its_fd);
		vm->arch.its_created = false;
	}
	return rc;
}

static void
close_gic(struct vmm *vm)
{
	if (vm->arch.its_created)
		close(vm->arch.its_fd);
	vm->arch.its_created = false;
	if (vm->arch.gic_created)
		close(vm->arch.gic_fd);
	vm->arch.gic_created = false;
}

int
vmm_arch_vm_init(struct vmm *vm, char *err, size_t errlen)
{
	uint32_t vcpus = vm->cfg.vcpus;
	int rc;

	if (ioctl(vm->vm_fd, KVM_ARM_PREFERRED_TARGET, &vm->arch.vcpu_init) < 0) {
		rc = -errno;
		snprintf(err, errlen, "KVM_ARM_PREFERRED_TARGET: %s", strerror(errno));
		return rc;
	}
	/* A GICv3 if the host has one (its redistributors sized for every
	 * vCPU), else a GICv2 (at most 8 vCPUs). */
	if ((uint64_t)vcpus * VMM_ARM64_GIC_REDIST_SIZE >
	    VMM_ARM64_GIC_REDIST_LIMIT - VMM_ARM64_GIC_REDIST_BASE) {
		snprintf(err, errlen, "vcpus: %u; this machine's GICv3 takes at most %llu", vcpus,
			 (VMM_ARM64_GIC_REDIST_LIMIT - VMM_ARM64_GIC_REDIST_BASE) /
				 VMM_ARM64_GIC_REDIST_SIZE);
		return -EINVAL;
	}
	rc = create_gic(vm, VMM_ARM64_GIC_V3, err, errlen);
	if (rc == -ENODEV || rc == -ENXIO) {
		close_gic(vm);
		if (vcpus > 8) {
			snprintf(err, errlen,
				 "vcpus: %u; no GICv3 here and a GICv2 takes at most 8", vcpus);
			return -EINVAL;
		}
		nv_info("no vGICv3 (%s): a GICv2", strerror(-rc));
		rc = create_gic(vm, VMM_ARM64_GIC_V2, err, errlen);
	}
	if (rc < 0) {
		if (err[0] == '\0')
			snprintf(err, errlen, "KVM_CREATE_DEVICE (vGIC): %s", strerror(-rc));
		return rc;
	}
	/* NICs and disks are virtio-pci functions that interrupt by MSI-X
	 * only, which on arm64 needs an ITS (docs/architecture.md, "The
	 * arm64 machine"). Without one the machine has no PCI bus. */
	if (vm->arch.gic == VMM_ARM64_GIC_V3) {
		rc = create_its(vm);
		if (rc < 0)
			nv_info("no vGICv3 ITS (%s): no PCI bus in the device tree, no NICs or "
				"disks",
				strerror(-rc));
	}
	if (!vm->arch.its_created && (vm->cfg.nnics > 0 || vm->cfg.ndisks > 0)) {
		snprintf(err, errlen,
			 "%s: arm64 guests take NICs and disks only with a GICv3 ITS for their "
			 "MSI-X interrupts, and this host's KVM has %s",
			 vm->cfg.nnics > 0 ? "nics" : "disks",
			 vm->arch.gic == VMM_ARM64_GIC_V3 ? "a GICv3 without an ITS" : "no GICv3");
		return -ENOTSUP;
	}
	return 0;
}

void
vmm_arch_vm_fini(struct vmm *vm)
{
	close_gic(vm);
}

int
vmm_arch_load(struct vmm *vm, const uint8_t *kernel, size_t kernel_size, const uint8_t *initrd,
	      size_t initrd_size, char *err, size_t errlen)
{
	struct vmm_arm64_boot *b = &vm->arch.boot;
	struct vmm_arm64_fdt_conf fc;
	void *fdt;
	int rc;

	rc = vmm_arm64_boot_load(vm->mem, kernel, kernel_size, initrd, initrd_size, b, err, errlen);
	if (rc < 0)
		return rc;
	fc = (struct vmm_arm64_fdt_conf){
		.mem_base = vm->mem->regions[0].gpa,
		.mem_size = vm->mem->regions[0].size,
		.vcpus = vm->cfg.vcpus,
		.gic = vm->arch.gic,
		.gic_dist_base = VMM_ARM64_GIC_DIST_BASE,
		.gic_dist_size = VMM_ARM64_GIC_DIST_SIZE,
		.gic_redist_base = VMM_ARM64_GIC_REDIST_BASE,
		.gic_redist_size = VMM_ARM64_GIC_REDIST_SIZE * vm->cfg.vcpus,
		.gic_cpuif_base = VMM_ARM64_GIC_CPUIF_BASE,
		.gic_cpuif_size = VMM_ARM64_GIC_CPUIF_SIZE,
		.uart_base = VMM_ARM64_UART_BASE,
		.uart_size = VMM_ARM64_UART_SIZE,
		.uart_spi = VMM_ARM64_UART_SPI,
		.uart_clock_hz = VMM_ARM64_UART_CLOCK_HZ,
		.bootargs = vm->cfg.cmdline,
		.initrd_start = b->initrd_gpa,
		.initrd_size = b->initrd_size,
	};
	if (vm->arch.its_created) {
		fc.its_base = VMM_ARM64_GIC_ITS_BASE;
		fc.its_size = VMM_ARM64_GIC_ITS_SIZE;
		fc.pci_ecam_base = vmm_arch_pci.ecam;
		fc.pci_buses = vmm_arch_pci.buses;
		fc.pci_mmio_base = vmm_arch_pci.window_start;
		fc.pci_mmio_size = vmm_arch_pci.window_end - vmm_arch_pci.window_start;
	}
	/* In place: the 2 MiB block is RAM (boot.h). */
	fdt = vmm_mem_ptr(vm->mem, b->fdt_gpa, b->fdt_max);
	if (fdt == NULL) {
		snprintf(err, errlen, "device tree: 0x%llx is not RAM",
			 (unsigned long long)b->fdt_gpa);
		return -EINVAL;
	}
	rc = vmm_arm64_fdt_build(&fc, fdt, b->fdt_max);
	if (rc < 0) {
		snprintf(err, errlen, "device tree: %s%s", strerror(-rc),
			 fc.bootargs != NULL && strlen(fc.bootargs) >= VMM_ARM64_FDT_MAX_BOOTARG
				 ? " (cmdline too long)"
				 : "");
		return rc;
	}
	nv_debug("kernel at 0x%llx..0x%llx, initrd at 0x%llx (%llu bytes), DTB at 0x%llx",
		 (unsigned long long)b->entry, (unsigned long long)b->kernel_end,
		 (unsigned long long)b->initrd_gpa, (unsigned long long)b->initrd_size,
		 (unsigned long long)b->fdt_gpa);
	return 0;
}

static int
set_core_reg(struct vmm_vcpu *vcpu, uint64_t id, uint64_t v)
{
	struct kvm_one_reg reg = {
		.id = id,
		.addr = (uintptr_t)&v,
	};

	return ioctl(vcpu->fd, KVM_SET_ONE_REG, &reg) < 0 ? -errno : 0;
}

int
vmm_arch_vcpu_init(struct vmm *vm, struct vmm_vcpu *vcpu, char *err, size_t errlen)
{
	struct kvm_vcpu_init init = vm->arch.vcpu_init;
	int rc;

	memset(init.features, 0, sizeof(init.features));
	init.features[0] |= 1u << KVM_ARM_VCPU_PSCI_0_2;
	/* Secondaries wait for PSCI CPU_ON. */
	if (vcpu->index > 0)
		init.features[0] |= 1u << KVM_ARM_VCPU_POWER_OFF;
	if (ioctl(vcpu->fd, KVM_ARM_VCPU_INIT, &init) < 0) {
		rc = -errno;
		snprintf(err, errlen, "vCPU %d: KVM_ARM_VCPU_INIT (target %u): %s", vcpu->index,
			 init.target, strerror(errno));
		return rc;
	}
	if (vcpu->index == 0) {
		/* booting.rst: x0 the DTB, x1-x3 zero (they are after
		 * reset), MMU off, at EL1 with DAIF masked (KVM's reset). */
		rc = set_core_reg(vcpu, ARM64_CORE_REG(regs.pc), vm->arch.boot.entry);
		if (rc == 0)
			rc = set_core_reg(vcpu, ARM64_CORE_REG(regs.regs[0]),
					  vm->arch.boot.fdt_gpa);
		if (rc < 0) {
			snprintf(err, errlen, "vCPU 0: KVM_SET_ONE_REG: %s", strerror(-rc));
			return rc;
		}
	}
	/* arm-vgic-v3.rst: KVM_DEV_ARM_VGIC_CTRL_INIT once all vCPUs exist. */
	if ((uint32_t)vcpu->index == vm->nvcpus - 1) {
		rc = gic_attr(vm->arch.gic_fd, KVM_DEV_ARM_VGIC_GRP_CTRL,
			      KVM_DEV_ARM_VGIC_CTRL_INIT, NULL);
		if (rc < 0) {
			snprintf(err, errlen, "vGICv%d: KVM_DEV_ARM_VGIC_CTRL_INIT: %s",
				 vm->arch.gic, strerror(-rc));
			return rc;
		}
		if (vm->arch.its_created) {
			rc = gic_attr(vm->arch.its_fd, KVM_DEV_ARM_VGIC_GRP_CTRL,
				      KVM_DEV_ARM_VGIC_CTRL_INIT, NULL);
			if (rc < 0) {
				snprintf(err, errlen, "vGICv3 ITS: KVM_DEV_ARM_VGIC_CTRL_INIT: %s",
					 strerror(-rc));
				return rc;
			}
		}
	}
	return 0;
}

void
vmm_arch_describe_rip(struct vmm_vcpu *vcpu, char *buf, size_t len)
{
	uint64_t pc = 0, pstate = 0;
	struct kvm_one_reg reg = {
		.id = ARM64_CORE_REG(regs.pc),
		.addr = (uintptr_t)&pc,
	};

	if (ioctl(vcpu->fd, KVM_GET_ONE_REG, &reg) < 0) {
		snprintf(buf, len, "pc unknown (KVM_GET_ONE_REG: %s)", strerror(errno));
		return;
	}
	reg.id = ARM64_CORE_REG(regs.pstate);
	reg.addr = (uintptr_t)&pstate;
	if (ioctl(vcpu->fd, KVM_GET_ONE_REG, &reg) < 0)
		pstate = ~0ull;
	snprintf(buf, len, "pc 0x%llx pstate 0x%llx", (unsigned long long)pc,
		 (unsigned long long)pstate);
}
