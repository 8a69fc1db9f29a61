/* SPDX-License-Identifier: MIT */
/*
 * /dev/kvm: capability checks, the VM, its memory slots, and vmm_probe().
 * KVM API reference: Documentation/virt/kvm/api.rst.
 */
#define NV_LOG_COMPONENT "nicvisor.vmm.kvm"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
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
	/* MSI-X vectors become GSI routes (KVM_SET_GSI_ROUTING). */
	{ KVM_CAP_IRQ_ROUTING, "irq-routing", true },
	{ KVM_CAP_IOEVENTFD_ANY_LENGTH, "ioeventfd-any-length", false },
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

/* ---- interrupt routing and eventfds (vmm_eventfd_ops over KVM) ---- */

int
vmm_irq_routes_init(struct vmm *vm)
{
	struct vmm_irq_routes *r = &vm->routes;

	pthread_mutex_init(&r->lock, NULL);
	r->nfixed = vmm_arch_default_routes(r->fixed, VMM_IRQ_FIXED_ROUTES);
	r->first_msi_gsi = vmm_arch_first_msi_gsi;
	/* api.rst, KVM_SET_GSI_ROUTING: on the VM, after the irqchip (an
	 * arm64 VM says yes once it has an ITS). */
	r->devid = ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MSI_DEVID) > 0;
	r->ready = true;
	return 0;
}

void
vmm_irq_routes_fini(struct vmm *vm)
{
	if (vm->routes.ready)
		pthread_mutex_destroy(&vm->routes.lock);
	vm->routes.ready = false;
}

/* Under the lock: the whole table to KVM (the ioctl replaces it). */
static int
commit_routes(struct vmm *vm)
{
	struct vmm_irq_routes *r = &vm->routes;
	struct kvm_irq_routing *t;
	unsigned int n = r->nfixed;
	int rc = 0;

	t = calloc(1, sizeof(*t) + (r->nfixed + VMM_IRQ_MSI_ROUTES) * sizeof(t->entries[0]));
	if (t == NULL)
		return -ENOMEM;
	memcpy(t->entries, r->fixed, r->nfixed * sizeof(t->entries[0]));
	for (unsigned int i = 0; i < VMM_IRQ_MSI_ROUTES; i++) {
		if (!r->msi[i].used)
			continue;
		t->entries[n] = (struct kvm_irq_routing_entry){
			.gsi = r->first_msi_gsi + i,
			.type = KVM_IRQ_ROUTING_MSI,
			.flags = r->devid ? KVM_MSI_VALID_DEVID : 0,
			.u.msi = {
				.address_lo = (uint32_t)r->msi[i].addr,
				.address_hi = (uint32_t)(r->msi[i].addr >> 32),
				.data = r->msi[i].data,
				.devid = r->devid ? r->msi[i].devid : 0,
			},
		};
		n++;
	}
	t->nr = n;
	if (ioctl(vm->vm_fd, KVM_SET_GSI_ROUTING, t) < 0)
		rc = -errno;
	free(t);
	return rc;
}

static int
efd_msi_route(void *opaque, int *gsi, uint64_t addr, uint32_t data, uint32_t devid)
{
	struct vmm *vm = opaque;
	struct vmm_irq_routes *r = &vm->routes;
	int i = *gsi < 0 ? -1 : *gsi - (int)r->first_msi_gsi, rc;

	if (!vmm_arch_msi_valid(addr))
		return -EINVAL;
	pthread_mutex_lock(&r->lock);
	if (i < 0) {
		for (i = 0; i < VMM_IRQ_MSI_ROUTES && r->msi[i].used; i++)
			;
		if (i == VMM_IRQ_MSI_ROUTES) {
			pthread_mutex_unlock(&r->lock);
			return -ENOSPC;
		}
	} else if (i >= VMM_IRQ_MSI_ROUTES) {
		pthread_mutex_unlock(&r->lock);
		return -EINVAL;
	}
	r->msi[i].used = true;
	r->msi[i].addr = addr;
	r->msi[i].data = data;
	r->msi[i].devid = devid;
	rc = commit_routes(vm);
	if (rc == 0)
		*gsi = (int)r->first_msi_gsi + i;
	else if (*gsi < 0)
		r->msi[i].used = false;
	pthread_mutex_unlock(&r->lock);
	return rc;
}

static void
efd_msi_route_free(void *opaque, int gsi)
{
	struct vmm *vm = opaque;
	struct vmm_irq_routes *r = &vm->routes;
	int i = gsi - (int)r->first_msi_gsi;

	if (i < 0 || i >= VMM_IRQ_MSI_ROUTES)
		return;
	pthread_mutex_lock(&r->lock);
	r->msi[i].used = false;
	i = commit_routes(vm);
	if (i < 0)
		nv_warn("KVM_SET_GSI_ROUTING (freeing GSI %d): %s", gsi, strerror(-i));
	pthread_mutex_unlock(&r->lock);
}

static int
efd_irqfd(void *opaque, int fd, int gsi, bool assign)
{
	struct vmm *vm = opaque;
	struct kvm_irqfd irqfd = {
		.fd = (uint32_t)fd,
		.gsi = (uint32_t)gsi,
		.flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN,
	};

	return ioctl(vm->vm_fd, KVM_IRQFD, &irqfd) < 0 ? -errno : 0;
}

static int
efd_ioeventfd(void *opaque, uint64_t gpa, uint32_t len, int fd, bool assign)
{
	struct vmm *vm = opaque;
	struct kvm_ioeventfd io = {
		.addr = gpa,
		.len = len,
		.fd = fd,
		.flags = assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN,
	};

	return ioctl(vm->vm_fd, KVM_IOEVENTFD, &io) < 0 ? -errno : 0;
}

void
vmm_kvm_eventfd_ops(struct vmm *vm, struct vmm_eventfd_ops *ops)
{
	*ops = (struct vmm_eventfd_ops){
		.msi_route = efd_msi_route,
		.msi_route_free = efd_msi_route_free,
		.irqfd = efd_irqfd,
		.ioeventfd = efd_ioeventfd,
		.opaque = vm,
	};
}

bool
vmm_kvm_has(struct vmm *vm, int cap)
{
	return ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, cap) > 0;
}
