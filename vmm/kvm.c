/* SPDX-License-Identifier: MIT */
/*
 * /dev/kvm: capability checks, the VM, its memory slots, and vmm_probe().
 * KVM API reference: Documentation/virt/kvm/api.rst.
 */
#define NV_LOG_COMPONENT "nicvisor.vmm.kvm"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "vmm_int.h"

static const struct vmm_kvm_cap generic_caps[] = {
	{ KVM_CAP_USER_MEMORY, "user-memory", true },
	{ KVM_CAP_IRQCHIP, "irqchip", true },
	{ KVM_CAP_IMMEDIATE_EXIT, "immediate-exit", true },
	/* The shim's fast path (queue kicks and completions) needs these. */
	{ KVM_CAP_IOEVENTFD, "ioeventfd", true },
	{ KVM_CAP_IRQFD, "irqfd", true },
	{ KVM_CAP_MP_STATE, "mp-state", false },
};

static int
open_kvm(const char *path)
{
	int fd = open(path != NULL ? path : "/dev/kvm", O_RDWR | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

static void
append(char *buf, size_t len, const char *word)
{
	size_t used = strlen(buf);

	snprintf(buf + used, len - used, "%s%s", used ? " " : "", word);
}

static int
check_table(int kvm_fd, const struct vmm_kvm_cap *caps, unsigned int n, char *missing, size_t mlen,
	    char *present, size_t plen)
{
	int nmissing = 0;

	for (unsigned int i = 0; i < n; i++) {
		if (ioctl(kvm_fd, KVM_CHECK_EXTENSION, caps[i].cap) > 0) {
			if (present != NULL)
				append(present, plen, caps[i].name);
		} else if (caps[i].required) {
			append(missing, mlen, caps[i].name);
			nmissing++;
		}
	}
	return nmissing;
}

/* Space-separated names of the required caps that are missing, and of
 * all caps present. Returns the number of required caps missing. */
static int
check_caps(int kvm_fd, char *missing, size_t mlen, char *present, size_t plen)
{
	missing[0] = '\0';
	if (present != NULL)
		present[0] = '\0';
	return check_table(kvm_fd, generic_caps, sizeof(generic_caps) / sizeof(generic_caps[0]),
			   missing, mlen, present, plen) +
	       check_table(kvm_fd, vmm_arch_caps, vmm_arch_ncaps, missing, mlen, present, plen);
}

static uint32_t
kvm_max_vcpus(int kvm_fd)
{
	int n = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);

	/* api.rst: if KVM_CAP_NR_VCPUS is absent, assume 4. */
	return n > 0 ? (uint32_t)n : 4;
}

/* The hardware behind /dev/kvm. PVM can run on a host with VMX, so its
 * module is checked before the CPU flags. */
static void
detect_virt(char *out, size_t len)
{
	char line[4096];
	FILE *f;

	snprintf(out, len, "none");
	if (access("/sys/module/kvm_pvm", F_OK) == 0 &&
	    access("/sys/module/kvm_intel", F_OK) != 0 &&
	    access("/sys/module/kvm_amd", F_OK) != 0) {
		snprintf(out, len, "pvm");
		return;
	}
	f = fopen("/proc/cpuinfo", "re");
	if (f == NULL)
		return;
	/* Bounded by the file: the first "flags" line decides. */
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "flags", 5) != 0)
			continue;
		if (strstr(line, " vmx") != NULL)
			snprintf(out, len, "vmx");
		else if (strstr(line, " svm") != NULL)
			snprintf(out, len, "svm");
		else if (access("/sys/module/kvm_pvm", F_OK) == 0)
			snprintf(out, len, "pvm");
		break;
	}
	fclose(f);
}

int
vmm_probe(const char *kvm_path, struct vmm_host_info *info)
{
	int fd = open_kvm(kvm_path);

	memset(info, 0, sizeof(*info));
	if (fd < 0)
		return fd;
	info->kvm_api_version = ioctl(fd, KVM_GET_API_VERSION, 0);
	if (info->kvm_api_version < 0) {
		close(fd);
		return -ENODEV; /* opened, but not KVM */
	}
	info->max_vcpus = kvm_max_vcpus(fd);
	check_caps(fd, info->missing_caps, sizeof(info->missing_caps), info->caps,
		   sizeof(info->caps));
	detect_virt(info->virt, sizeof(info->virt));
	close(fd);
	return 0;
}

int
vmm_kvm_open(struct vmm *vm, char *err, size_t errlen)
{
	const char *path = vm->cfg.kvm_path != NULL ? vm->cfg.kvm_path : "/dev/kvm";
	char missing[128];
	int rc, run_size;

	vm->kvm_fd = open_kvm(path);
	if (vm->kvm_fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(-vm->kvm_fd));
		return vm->kvm_fd;
	}
	rc = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (rc != KVM_API_VERSION) {
		snprintf(err, errlen, "%s: KVM API version %d, need %d", path, rc, KVM_API_VERSION);
		return -ENODEV;
	}
	if (check_caps(vm->kvm_fd, missing, sizeof(missing), NULL, 0) > 0) {
		snprintf(err, errlen, "%s: KVM lacks required capabilities: %s", path, missing);
		return -ENODEV;
	}
	vm->max_vcpus = kvm_max_vcpus(vm->kvm_fd);
	run_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (run_size < (int)sizeof(struct kvm_run)) {
		snprintf(err, errlen, "KVM_GET_VCPU_MMAP_SIZE: %d", run_size);
		return -ENODEV;
	}
	vm->run_size = (size_t)run_size;
	/* api.rst: KVM_CREATE_VM may fail with EINTR; bounded retry. */
	for (int i = 0; i < 8; i++) {
		vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
		if (vm->vm_fd >= 0 || errno != EINTR)
			break;
	}
	if (vm->vm_fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "KVM_CREATE_VM: %s", strerror(errno));
		return rc;
	}
	return 0;
}

int
vmm_kvm_add_memory(struct vmm *vm, char *err, size_t errlen)
{
	for (unsigned int i = 0; i < vm->mem->nregions; i++) {
		const struct vmm_mem_region *r = &vm->mem->regions[i];
		struct kvm_userspace_memory_region slot = {
			.slot = i,
			.guest_phys_addr = r->gpa,
			.memory_size = r->size,
			.userspace_addr = (uintptr_t)r->hva,
		};

		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0) {
			int rc = -errno;

			snprintf(err, errlen,
				 "KVM_SET_USER_MEMORY_REGION gpa 0x%llx size 0x%llx: %s",
				 (unsigned long long)r->gpa, (unsigned long long)r->size,
				 strerror(errno));
			return rc;
		}
	}
	return 0;
}

int
vmm_irq_line(struct vmm *vm, uint32_t gsi, int level)
{
	struct kvm_irq_level irq = {
		.irq = gsi,
		.level = (uint32_t)level,
	};

	return ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq) < 0 ? -errno : 0;
}
