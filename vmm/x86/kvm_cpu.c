/* SPDX-License-Identifier: MIT */
/*
 * x86 KVM glue: what an x86 VM needs before its vCPUs exist (TSS and
 * identity-map pages for VMX real mode, the in-kernel PIC/IOAPIC/LAPIC and
 * PIT), and the reset state of each vCPU (CPUID, MSRs, FPU, LAPIC LINT
 * pins, the boot vCPU's registers). The values come from x86/cpu.h; this
 * file only applies them.
 */
#define NV_LOG_COMPONENT "nicvisor.vmm.x86"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vmm_int.h"
#include "x86/cpu.h"
#include "x86/layout.h"

const struct vmm_kvm_cap vmm_arch_caps[] = {
	{ KVM_CAP_PIT2, "pit2", true },
	{ KVM_CAP_SET_TSS_ADDR, "set-tss-addr", true },
	{ KVM_CAP_SET_IDENTITY_MAP_ADDR, "set-identity-map-addr", true },
	{ KVM_CAP_EXT_CPUID, "ext-cpuid", true },
	{ KVM_CAP_TSC_DEADLINE_TIMER, "tsc-deadline-timer", false },
	{ KVM_CAP_X2APIC_API, "x2apic-api", false },
};
const unsigned int vmm_arch_ncaps = sizeof(vmm_arch_caps) / sizeof(vmm_arch_caps[0]);
const uint64_t vmm_arch_hole_start = VMM_X86_MMIO_HOLE_START;
const uint64_t vmm_arch_hole_end = VMM_X86_MMIO_HOLE_END;
const uint32_t vmm_arch_first_msi_gsi = VMM_X86_IOAPIC_PINS;
const struct vmm_arch_pci vmm_arch_pci = {
	.ecam = VMM_X86_PCI_ECAM_GPA,
	.buses = VMM_X86_PCI_BUSES,
	.window_start = VMM_X86_PCI_MMIO32_START,
	.window_end = VMM_X86_PCI_MMIO32_END,
};

/*
 * What KVM_CREATE_IRQCHIP routes by itself (api.rst, KVM_SET_GSI_ROUTING
 * replaces it whole): GSI 0-23 to the IOAPIC pin of the same number, and
 * GSI 0-15 also to the PIC, 0-7 the master, 8-15 the slave.
 */
unsigned int
vmm_arch_default_routes(struct kvm_irq_routing_entry *e, unsigned int max)
{
	unsigned int n = 0;

	for (uint32_t gsi = 0; gsi < VMM_X86_IOAPIC_PINS; gsi++) {
		if (n < max)
			e[n++] = (struct kvm_irq_routing_entry){
				.gsi = gsi,
				.type = KVM_IRQ_ROUTING_IRQCHIP,
				.u.irqchip = { .irqchip = KVM_IRQCHIP_IOAPIC, .pin = gsi },
			};
		if (gsi < 16 && n < max)
			e[n++] = (struct kvm_irq_routing_entry){
				.gsi = gsi,
				.type = KVM_IRQ_ROUTING_IRQCHIP,
				.u.irqchip = { .irqchip = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER
								  : KVM_IRQCHIP_PIC_SLAVE,
					       .pin = gsi % 8 },
			};
	}
	return n;
}

/* An MSI is a write into the local APICs' window (Intel SDM vol. 3,
 * 11.11.1); anything else would be a DMA write, which no device here
 * makes. */
bool
vmm_arch_msi_valid(uint64_t addr)
{
	return (addr & VMM_X86_MSI_ADDR_MASK) == VMM_X86_MSI_ADDR_BASE;
}

#define MAX_BOOT_MSRS 32

/* LAPIC register offsets and LVT fields (Intel SDM vol. 3, 11.5.1). */
#define APIC_LVT0        0x350
#define APIC_LVT1        0x360
#define APIC_MODE_NMI    (4u << 8)
#define APIC_MODE_EXTINT (7u << 8)
#define APIC_LVT_MASKED  (1u << 16)

static int
fail(char *err, size_t errlen, const char *what)
{
	int rc = -errno;

	snprintf(err, errlen, "%s: %s", what, strerror(errno));
	return rc;
}

static int
get_supported_cpuid(int kvm_fd, struct kvm_cpuid2 **out)
{
	/* KVM_MAX_CPUID_ENTRIES is 256 today; grow on E2BIG, bounded. */
	for (uint32_t n = 256; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
		int e;

		if (c == NULL)
			return -ENOMEM;
		c->nent = n;
		if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
			*out = c;
			return 0;
		}
		e = errno;
		free(c);
		if (e != E2BIG)
			return -e;
	}
	return -E2BIG;
}

int
vmm_guests_supported(char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	return 0;
}

int
vmm_arch_vm_init(struct vmm *vm, char *err, size_t errlen)
{
	uint64_t identity = VMM_X86_IDENTITY_MAP_GPA;
	/* The speaker port 0x61 gates and reads PIT channel 2, which Linux's
	 * TSC calibration polls; KVM emulates it only with this flag. */
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	int rc;

	/* Both must precede vCPU creation (api.rst); VMX uses them to run
	 * real-mode code without unrestricted guest. */
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)VMM_X86_TSS_GPA) < 0)
		return fail(err, errlen, "KVM_SET_TSS_ADDR");
	if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &identity) < 0)
		return fail(err, errlen, "KVM_SET_IDENTITY_MAP_ADDR");
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		return fail(err, errlen, "KVM_CREATE_IRQCHIP");
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
		return fail(err, errlen, "KVM_CREATE_PIT2");
	rc = get_supported_cpuid(vm->kvm_fd, &vm->arch.cpuid);
	if (rc < 0) {
		snprintf(err, errlen, "KVM_GET_SUPPORTED_CPUID: %s", strerror(-rc));
		return rc;
	}
	return 0;
}

void
vmm_arch_vm_fini(struct vmm *vm)
{
	free(vm->arch.cpuid);
	vm->arch.cpuid = NULL;
}

int
vmm_arch_load(struct vmm *vm, const uint8_t *kernel, size_t kernel_size, const uint8_t *initrd,
	      size_t initrd_size, char *err, size_t errlen)
{
	const struct vmm_x86_boot_args args = {
		.kernel = kernel,
		.kernel_size = kernel_size,
		.initrd = initrd,
		.initrd_size = initrd_size,
		.cmdline = vm->cfg.cmdline != NULL ? vm->cfg.cmdline : "",
		.vcpus = vm->cfg.vcpus,
	};

	return vmm_x86_boot_load(vm->mem, &args, &vm->arch.boot, err, errlen);
}

static int
set_cpuid(struct vmm *vm, struct vmm_vcpu *vcpu)
{
	size_t size =
		sizeof(*vm->arch.cpuid) + vm->arch.cpuid->nent * sizeof(vm->arch.cpuid->entries[0]);
	struct kvm_cpuid2 *c = malloc(size);
	int rc = 0;

	if (c == NULL)
		return -ENOMEM;
	memcpy(c, vm->arch.cpuid, size);
	vmm_x86_cpuid_fixup(c, (uint32_t)vcpu->index, vm->nvcpus);
	if (ioctl(vcpu->fd, KVM_SET_CPUID2, c) < 0)
		rc = -errno;
	free(c);
	return rc;
}

static int
set_msrs(struct vmm_vcpu *vcpu, char *err, size_t errlen)
{
	struct kvm_msrs *msrs = calloc(1, sizeof(*msrs) + MAX_BOOT_MSRS * sizeof(msrs->entries[0]));
	int n, rc = 0;

	if (msrs == NULL)
		return -ENOMEM;
	msrs->nmsrs = vmm_x86_boot_msrs(msrs->entries, MAX_BOOT_MSRS);
	n = ioctl(vcpu->fd, KVM_SET_MSRS, msrs);
	if (n < 0) {
		rc = fail(err, errlen, "KVM_SET_MSRS");
	} else if ((uint32_t)n < msrs->nmsrs) {
		/* KVM sets MSRs in order and stops at the first it refuses. */
		snprintf(err, errlen, "vCPU %d: KVM refused MSR 0x%x", vcpu->index,
			 msrs->entries[n].index);
		rc = -EINVAL;
	}
	free(msrs);
	return rc;
}

/* Virtual-wire mode as firmware leaves it: LINT0 takes the PIC's ExtINT
 * (unmasked on the boot vCPU only, as Linux expects), LINT1 is NMI. */
static int
set_lint(struct vmm_vcpu *vcpu)
{
	struct kvm_lapic_state lapic;
	uint32_t lvt0 = APIC_MODE_EXTINT | (vcpu->index == 0 ? 0 : APIC_LVT_MASKED);
	uint32_t lvt1 = APIC_MODE_NMI;

	if (ioctl(vcpu->fd, KVM_GET_LAPIC, &lapic) < 0)
		return -errno;
	memcpy(&lapic.regs[APIC_LVT0], &lvt0, sizeof(lvt0));
	memcpy(&lapic.regs[APIC_LVT1], &lvt1, sizeof(lvt1));
	return ioctl(vcpu->fd, KVM_SET_LAPIC, &lapic) < 0 ? -errno : 0;
}

static int
set_boot_regs(struct vmm *vm, struct vmm_vcpu *vcpu, char *err, size_t errlen)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	if (ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0)
		return fail(err, errlen, "KVM_GET_SREGS");
	vmm_x86_boot_sregs(&vm->arch.boot, &sregs);
	if (ioctl(vcpu->fd, KVM_SET_SREGS, &sregs) < 0)
		return fail(err, errlen, "KVM_SET_SREGS");
	memset(&regs, 0, sizeof(regs));
	vmm_x86_boot_regs(&vm->arch.boot, &regs);
	if (ioctl(vcpu->fd, KVM_SET_REGS, &regs) < 0)
		return fail(err, errlen, "KVM_SET_REGS");
	return 0;
}

int
vmm_arch_vcpu_init(struct vmm *vm, struct vmm_vcpu *vcpu, char *err, size_t errlen)
{
	struct kvm_fpu fpu = {
		.fcw = 0x37f, /* FNINIT state */
		.mxcsr = 0x1f80,
	};
	int rc;

	rc = set_cpuid(vm, vcpu);
	if (rc < 0) {
		snprintf(err, errlen, "vCPU %d: KVM_SET_CPUID2: %s", vcpu->index, strerror(-rc));
		return rc;
	}
	rc = set_msrs(vcpu, err, errlen);
	if (rc < 0)
		return rc;
	if (ioctl(vcpu->fd, KVM_SET_FPU, &fpu) < 0)
		return fail(err, errlen, "KVM_SET_FPU");
	rc = set_lint(vcpu);
	if (rc < 0) {
		snprintf(err, errlen, "vCPU %d: LAPIC LINT setup: %s", vcpu->index, strerror(-rc));
		return rc;
	}
	/* Application processors stay in wait-for-SIPI (the in-kernel LAPIC's
	 * reset state for every vCPU but the boot one); the guest starts them. */
	if (vcpu->index == 0)
		return set_boot_regs(vm, vcpu, err, errlen);
	return 0;
}

void
vmm_arch_describe_rip(struct vmm_vcpu *vcpu, char *buf, size_t len)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	if (ioctl(vcpu->fd, KVM_GET_REGS, &regs) < 0 ||
	    ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0) {
		snprintf(buf, len, "rip unknown (%s)", strerror(errno));
		return;
	}
	/* SVM resets the vCPU before it reports a shutdown: say so rather
	 * than blame the reset vector. */
	snprintf(buf, len, "rip 0x%llx (cs 0x%x, cpl %u, rflags 0x%llx, cr0 0x%llx, efer 0x%llx)%s",
		 (unsigned long long)regs.rip, sregs.cs.selector, sregs.ss.dpl,
		 (unsigned long long)regs.rflags, (unsigned long long)sregs.cr0,
		 (unsigned long long)sregs.efer,
		 regs.rip == 0xfff0 && sregs.cs.base == 0xffff0000 ? " (state after KVM's reset)"
								   : "");
}
