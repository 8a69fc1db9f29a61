/* SPDX-License-Identifier: MIT */
/*
 * The machine: vmm.h on top of kvm.c, vcpu.c and the architecture hooks.
 * Builds everything in vmm_create() so that vmm_start() only starts
 * threads, and owns the end of the run.
 */
#define NV_LOG_COMPONENT "nicvisor.vmm.machine"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "virtio_blk.h"
#include "virtio_net.h"
#include "vmm_int.h"

#define MIN_MEM_ALIGN 4096ull

static const char *const exit_names[] = {
	[VMM_EXIT_NONE] = "none",
	[VMM_EXIT_POWEROFF] = "poweroff",
	[VMM_EXIT_REBOOT] = "reboot",
	[VMM_EXIT_STOPPED] = "stopped",
	[VMM_EXIT_TRIPLE_FAULT] = "triple-fault",
	[VMM_EXIT_KVM_ERROR] = "kvm-error",
	[VMM_EXIT_DEBUG_EXIT] = "debug-exit",
};

const char *
vmm_exit_kind_name(enum vmm_exit_kind kind)
{
	if ((unsigned int)kind < sizeof(exit_names) / sizeof(exit_names[0]))
		return exit_names[kind];
	return "unknown";
}

bool
vmm_run_ended(const struct vmm *vm)
{
	return __atomic_load_n(&vm->ended, __ATOMIC_ACQUIRE);
}

/* Under exit_lock: every vCPU leaves KVM_RUN now or at its next entry. */
static void
kick_all(struct vmm *vm)
{
	int self = vmm_current_vcpu();

	for (uint32_t i = 0; i < vm->nvcpus; i++) {
		struct vmm_vcpu *vcpu = &vm->vcpus[i];

		if (vcpu->run != NULL)
			__atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_RELEASE);
		if (vcpu->in_thread && vcpu->index != self)
			pthread_kill(vcpu->self, VMM_KICK_SIGNAL);
	}
}

void
vmm_end_run(struct vmm *vm, enum vmm_exit_kind kind, uint32_t code, const char *fmt, ...)
{
	uint64_t one = 1;
	va_list ap;

	pthread_mutex_lock(&vm->exit_lock);
	if (vm->ended) {
		pthread_mutex_unlock(&vm->exit_lock);
		return;
	}
	vm->exit.kind = kind;
	vm->exit.code = code;
	vm->exit.vcpu = vmm_current_vcpu();
	va_start(ap, fmt);
	vsnprintf(vm->exit.reason, sizeof(vm->exit.reason), fmt, ap);
	va_end(ap);
	__atomic_store_n(&vm->ended, true, __ATOMIC_RELEASE);
	kick_all(vm);
	pthread_mutex_unlock(&vm->exit_lock);

	if (kind == VMM_EXIT_KVM_ERROR || kind == VMM_EXIT_TRIPLE_FAULT)
		nv_warn("run ended: %s (vCPU %d): %s", vmm_exit_kind_name(kind), vm->exit.vcpu,
			vm->exit.reason);
	else
		nv_info("run ended: %s (vCPU %d): %s", vmm_exit_kind_name(kind), vm->exit.vcpu,
			vm->exit.reason);
	if (write(vm->exit_fd, &one, sizeof(one)) != sizeof(one))
		nv_err("exit eventfd: %s", strerror(errno));
}

int
vmm_add_device(struct vmm *vm, enum vmm_space space, uint64_t base, uint64_t len,
	       const struct vmm_dev_ops *ops, void *dev)
{
	return vmm_bus_add(space == VMM_SPACE_PIO ? &vm->pio : &vm->mmio, base, len, ops, dev);
}

static int
check_nics(const struct vmm_config *cfg, char *err, size_t errlen)
{
	uint32_t seen = 0;

	if (cfg->nnics > VMM_MAX_NICS || (cfg->nnics > 0 && cfg->nics == NULL)) {
		snprintf(err, errlen, "nics: %u; at most %u", cfg->nnics, VMM_MAX_NICS);
		return -EINVAL;
	}
	for (unsigned int i = 0; i < cfg->nnics; i++) {
		const struct vmm_nic *n = &cfg->nics[i];
		static const uint8_t zero[6];

		if (n->index >= VMM_MAX_NICS || (seen & (1u << n->index))) {
			snprintf(err, errlen, "nic %u: index %u is not unique in 0..%u", i,
				 n->index, VMM_MAX_NICS - 1);
			return -EINVAL;
		}
		seen |= 1u << n->index;
		if ((n->mac[0] & 1) || memcmp(n->mac, zero, 6) == 0) {
			snprintf(err, errlen, "nic %u: mac: not a unicast address", n->index);
			return -EINVAL;
		}
		if (n->vhost_user_socket == NULL || n->vhost_user_socket[0] != '/' ||
		    strlen(n->vhost_user_socket) >= 108) {
			snprintf(err, errlen,
				 "nic %u: vhost_user_socket: not an absolute path under 108 bytes",
				 n->index);
			return -EINVAL;
		}
		if (n->queue_pairs < 1 || n->queue_pairs > VMM_NIC_MAX_QUEUE_PAIRS) {
			snprintf(err, errlen, "nic %u: queue_pairs: %u is not in 1..%u", n->index,
				 n->queue_pairs, VMM_NIC_MAX_QUEUE_PAIRS);
			return -EINVAL;
		}
	}
	return 0;
}

static int
check_disks(const struct vmm_config *cfg, char *err, size_t errlen)
{
	uint32_t seen = 0;

	if (cfg->ndisks > VMM_MAX_DISKS || (cfg->ndisks > 0 && cfg->disks == NULL)) {
		snprintf(err, errlen, "disks: %u; at most %u", cfg->ndisks, VMM_MAX_DISKS);
		return -EINVAL;
	}
	for (unsigned int i = 0; i < cfg->ndisks; i++) {
		const struct vmm_disk *d = &cfg->disks[i];

		if (d->index >= VMM_MAX_DISKS || (seen & (1u << d->index))) {
			snprintf(err, errlen, "disk %u: index %u is not unique in 0..%u", i,
				 d->index, VMM_MAX_DISKS - 1);
			return -EINVAL;
		}
		seen |= 1u << d->index;
		if (d->vhost_user_socket == NULL || d->vhost_user_socket[0] != '/' ||
		    strlen(d->vhost_user_socket) >= 108) {
			snprintf(err, errlen,
				 "disk %u: vhost_user_socket: not an absolute path under 108 bytes",
				 d->index);
			return -EINVAL;
		}
		if (d->queues < 1 || d->queues > VMM_DISK_MAX_QUEUES) {
			snprintf(err, errlen, "disk %u: queues: %u is not in 1..%u", d->index,
				 d->queues, VMM_DISK_MAX_QUEUES);
			return -EINVAL;
		}
	}
	return 0;
}

static int
create_disks(struct vmm *vm, const struct vmm_config *cfg, bool any_len, char *err, size_t errlen)
{
	int rc;

	for (unsigned int i = 0; i < cfg->ndisks; i++) {
		const struct vmm_disk *d = &cfg->disks[i];
		unsigned int slot = VMM_DISK_SLOT0 + d->index;
		char name[16];
		struct vmm_virtio_blk_conf bc = {
			.socket = d->vhost_user_socket,
			.max_queues = d->queues < cfg->vcpus ? d->queues : cfg->vcpus,
			.read_only = d->read_only,
			.mem = vm->mem,
			.efd = &vm->efd,
			.ioeventfd_any_len = any_len,
			.name = name,
		};

		snprintf(name, sizeof(name), "disk%u", d->index);
		rc = vmm_virtio_blk_create(&bc, &vm->disks[i]);
		if (rc < 0) {
			snprintf(err, errlen, "disk %u: %s", d->index, strerror(-rc));
			return rc;
		}
		vm->ndisks = i + 1;
		rc = vmm_pci_add(&vm->pci, slot, vmm_virtio_blk_func(vm->disks[i]));
		if (rc < 0) {
			snprintf(err, errlen, "disk %u: PCI slot %u: %s", d->index, slot,
				 strerror(-rc));
			return rc;
		}
	}
	return 0;
}

/* The PCI bus (always there, so the machine is one shape), its NICs and
 * disks. */
static int
create_pci(struct vmm *vm, const struct vmm_config *cfg, char *err, size_t errlen)
{
	bool any_len = vmm_kvm_has(vm, KVM_CAP_IOEVENTFD_ANY_LENGTH);
	int rc;

	rc = vmm_irq_routes_init(vm);
	if (rc < 0)
		return rc;
	vmm_kvm_eventfd_ops(vm, &vm->efd);
	rc = vmm_pci_init(&vm->pci, vmm_arch_pci.ecam, vmm_arch_pci.buses,
			  vmm_arch_pci.window_start, vmm_arch_pci.window_end);
	if (rc < 0)
		return rc;
	vm->pci_ready = true;
	rc = vmm_add_device(vm, VMM_SPACE_MMIO, vmm_arch_pci.ecam, vmm_pci_ecam_size(&vm->pci),
			    &vmm_pci_ecam_ops, &vm->pci);
	if (rc < 0) {
		snprintf(err, errlen, "pci: ECAM window: %s", strerror(-rc));
		return rc;
	}
	for (unsigned int i = 0; i < cfg->nnics; i++) {
		const struct vmm_nic *nic = &cfg->nics[i];
		char name[16];
		struct vmm_virtio_net_conf nc = {
			.socket = nic->vhost_user_socket,
			.max_pairs = nic->queue_pairs < cfg->vcpus ? nic->queue_pairs : cfg->vcpus,
			.mem = vm->mem,
			.efd = &vm->efd,
			.ioeventfd_any_len = any_len,
			.name = name,
		};

		snprintf(name, sizeof(name), "nic%u", nic->index);
		memcpy(nc.mac, nic->mac, 6);
		rc = vmm_virtio_net_create(&nc, &vm->nics[i]);
		if (rc < 0) {
			snprintf(err, errlen, "nic %u: %s", nic->index, strerror(-rc));
			return rc;
		}
		vm->nnics = i + 1;
		rc = vmm_pci_add(&vm->pci, nic->index + 1, vmm_virtio_net_func(vm->nics[i]));
		if (rc < 0) {
			snprintf(err, errlen, "nic %u: PCI slot %u: %s", nic->index, nic->index + 1,
				 strerror(-rc));
			return rc;
		}
	}
	return create_disks(vm, cfg, any_len, err, errlen);
}

static void
destroy_pci(struct vmm *vm)
{
	/* vCPUs are stopped: nothing reaches the functions any more. */
	for (unsigned int i = 0; i < vm->nnics; i++)
		vmm_virtio_net_destroy(vm->nics[i]);
	vm->nnics = 0;
	for (unsigned int i = 0; i < vm->ndisks; i++)
		vmm_virtio_blk_destroy(vm->disks[i]);
	vm->ndisks = 0;
	if (vm->pci_ready)
		vmm_pci_fini(&vm->pci);
	vm->pci_ready = false;
	vmm_irq_routes_fini(vm);
}

static int
check_config(const struct vmm_config *cfg, char *err, size_t errlen)
{
	if (cfg->vcpus == 0) {
		snprintf(err, errlen, "vcpus: 0; a machine needs at least one vCPU");
		return -EINVAL;
	}
	if (cfg->mem_bytes < VMM_MIN_MEM_BYTES) {
		snprintf(err, errlen, "memory: %llu bytes is less than the minimum of %llu MiB",
			 (unsigned long long)cfg->mem_bytes, VMM_MIN_MEM_BYTES >> 20);
		return -EINVAL;
	}
	if (cfg->mem_bytes % MIN_MEM_ALIGN != 0) {
		snprintf(err, errlen, "memory: %llu bytes is not a multiple of 4 KiB",
			 (unsigned long long)cfg->mem_bytes);
		return -EINVAL;
	}
	if (cfg->kernel.fd < 0) {
		snprintf(err, errlen, "kernel: no image (fd %d)", cfg->kernel.fd);
		return -EINVAL;
	}
	if (check_nics(cfg, err, errlen) < 0)
		return -EINVAL;
	return check_disks(cfg, err, errlen);
}

/* Map an image read-only; *out stays NULL for an absent initrd. */
static int
map_image(const struct vmm_image *img, const char *what, const uint8_t **out, char *err,
	  size_t errlen)
{
	struct stat st;
	void *p;

	*out = NULL;
	if (img->size == 0) {
		snprintf(err, errlen, "%s: size 0", what);
		return -EINVAL;
	}
	if (fstat(img->fd, &st) < 0) {
		snprintf(err, errlen, "%s: fd %d: %s", what, img->fd, strerror(errno));
		return -EINVAL;
	}
	/* A mapping past the end of the file would SIGBUS on access. */
	if (!S_ISREG(st.st_mode) || img->size > (uint64_t)st.st_size) {
		snprintf(err, errlen, "%s: fd %d is not a file or memfd of at least %llu bytes",
			 what, img->fd, (unsigned long long)img->size);
		return -EINVAL;
	}
	p = mmap(NULL, img->size, PROT_READ, MAP_PRIVATE, img->fd, 0);
	if (p == MAP_FAILED) {
		int rc = -errno;

		snprintf(err, errlen, "%s: mmap %llu bytes: %s", what,
			 (unsigned long long)img->size, strerror(errno));
		return rc;
	}
	*out = p;
	return 0;
}

static int
load_images(struct vmm *vm, char *err, size_t errlen)
{
	const uint8_t *kernel, *initrd = NULL;
	int rc;

	rc = map_image(&vm->cfg.kernel, "kernel", &kernel, err, errlen);
	if (rc < 0)
		return rc;
	if (vm->cfg.initrd.fd >= 0) {
		rc = map_image(&vm->cfg.initrd, "initrd", &initrd, err, errlen);
		if (rc < 0)
			goto out_unmap_kernel;
	}
	rc = vmm_arch_load(vm, kernel, vm->cfg.kernel.size, initrd,
			   initrd != NULL ? vm->cfg.initrd.size : 0, err, errlen);
	if (initrd != NULL)
		munmap((void *)initrd, vm->cfg.initrd.size);
out_unmap_kernel:
	munmap((void *)kernel, vm->cfg.kernel.size);
	return rc;
}

int
vmm_create(const struct vmm_config *cfg, const struct vmm_events *ev, struct vmm **out, char *err,
	   size_t errlen)
{
	uint64_t t0 = nv_mono_ns();
	char errbuf[256];
	struct vmm *vm;
	int rc;

	if (err == NULL || errlen == 0) {
		err = errbuf;
		errlen = sizeof(errbuf);
	}
	err[0] = '\0';
	rc = vmm_guests_supported(err, errlen);
	if (rc < 0)
		return rc;
	rc = check_config(cfg, err, errlen);
	if (rc < 0)
		return rc;
	vm = calloc(1, sizeof(*vm));
	if (vm == NULL)
		return -ENOMEM;
	vm->create_ns = t0;
	vm->cfg = *cfg;
	vm->cfg.cmdline = NULL;
	vm->cfg.nics = NULL; /* read below only */
	vm->cfg.disks = NULL;
	if (ev != NULL)
		vm->ev = *ev;
	vm->kvm_fd = vm->vm_fd = -1;
	vm->exit.vcpu = -1;
	pthread_mutex_init(&vm->exit_lock, NULL);
	vm->exit_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->exit_fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		goto out_destroy;
	}

	rc = vmm_kvm_open(vm, err, errlen);
	if (rc < 0)
		goto out_destroy;
	if (cfg->vcpus > vm->max_vcpus) {
		snprintf(err, errlen, "vcpus: %u is more than KVM allows here (%u)", cfg->vcpus,
			 vm->max_vcpus);
		rc = -EINVAL;
		goto out_destroy;
	}
	rc = vmm_arch_vm_init(vm, err, errlen);
	if (rc < 0)
		goto out_destroy;
	rc = vmm_mem_create(cfg->mem_bytes, vmm_arch_hole_start, vmm_arch_hole_end, &vm->mem);
	if (rc < 0) {
		snprintf(err, errlen, "memory: %llu MiB: %s",
			 (unsigned long long)(cfg->mem_bytes >> 20), strerror(-rc));
		goto out_destroy;
	}
	rc = vmm_kvm_add_memory(vm, err, errlen);
	if (rc < 0)
		goto out_destroy;
	vm->cfg.cmdline = cfg->cmdline;
	rc = load_images(vm, err, errlen);
	vm->cfg.cmdline = NULL;
	if (rc < 0)
		goto out_destroy;
	rc = vmm_arch_devices_init(vm);
	if (rc < 0) {
		snprintf(err, errlen, "devices: %s", strerror(-rc));
		goto out_destroy;
	}
	rc = create_pci(vm, cfg, err, errlen);
	if (rc < 0) {
		if (err[0] == '\0')
			snprintf(err, errlen, "pci: %s", strerror(-rc));
		goto out_destroy;
	}

	vm->vcpus = calloc(cfg->vcpus, sizeof(*vm->vcpus));
	if (vm->vcpus == NULL) {
		rc = -ENOMEM;
		goto out_destroy;
	}
	for (uint32_t i = 0; i < cfg->vcpus; i++)
		vm->vcpus[i].fd = -1;
	vm->nvcpus = cfg->vcpus;
	for (uint32_t i = 0; i < cfg->vcpus; i++) {
		rc = vmm_vcpu_create(vm, &vm->vcpus[i], (int)i, err, errlen);
		if (rc < 0)
			goto out_destroy;
	}
	*out = vm;
	return 0;

out_destroy:
	if (rc == -ENOMEM && err[0] == '\0')
		snprintf(err, errlen, "out of memory");
	vmm_destroy(vm);
	return rc;
}

int
vmm_start(struct vmm *vm)
{
	int rc;

	if (vm->started)
		return -EALREADY;
	if (vmm_run_ended(vm))
		return -ESRCH;
	vm->started = true;
	vmm_bus_freeze(&vm->pio);
	vmm_bus_freeze(&vm->mmio);
	for (uint32_t i = 0; i < vm->nvcpus; i++) {
		rc = vmm_vcpu_start(&vm->vcpus[i]);
		if (rc < 0) {
			vmm_end_run(vm, VMM_EXIT_KVM_ERROR, 0, "vCPU %u thread: %s", i,
				    strerror(-rc));
			return rc;
		}
	}
	return 0;
}

int
vmm_exit_fd(const struct vmm *vm)
{
	return vm->exit_fd;
}

int
vmm_wait(struct vmm *vm, struct vmm_exit *exit, int timeout_ms)
{
	uint64_t deadline = nv_mono_ns() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000000;
	struct pollfd pfd = {
		.fd = vm->exit_fd,
		.events = POLLIN,
	};

	/* Bounded by the deadline (or by the end of the run). */
	while (!vmm_run_ended(vm)) {
		int wait_ms = -1, rc;

		if (timeout_ms >= 0) {
			uint64_t now = nv_mono_ns();

			if (now >= deadline)
				return -ETIMEDOUT;
			wait_ms = (int)((deadline - now + 999999) / 1000000);
		}
		rc = poll(&pfd, 1, wait_ms);
		if (rc < 0 && errno != EINTR)
			return -errno;
	}
	pthread_mutex_lock(&vm->exit_lock);
	*exit = vm->exit;
	pthread_mutex_unlock(&vm->exit_lock);
	return 0;
}

int
vmm_request_poweroff(struct vmm *vm)
{
	if (!vm->started || vmm_run_ended(vm))
		return -EINVAL;
	return vmm_arch_power_button(vm);
}

void
vmm_stop(struct vmm *vm)
{
	vmm_end_run(vm, VMM_EXIT_STOPPED, 0, "stopped by the VMM");
	for (uint32_t i = 0; i < vm->nvcpus; i++) {
		if (vm->vcpus[i].joinable) {
			pthread_join(vm->vcpus[i].thread, NULL);
			vm->vcpus[i].joinable = false;
		}
	}
}

void
vmm_destroy(struct vmm *vm)
{
	if (vm == NULL)
		return;
	if (vm->started)
		vmm_stop(vm);
	for (uint32_t i = 0; i < vm->nvcpus; i++)
		vmm_vcpu_destroy(&vm->vcpus[i]);
	free(vm->vcpus);
	destroy_pci(vm);
	vmm_arch_devices_fini(vm);
	vmm_arch_vm_fini(vm);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	vmm_mem_destroy(vm->mem);
	vmm_bus_free(&vm->pio);
	vmm_bus_free(&vm->mmio);
	if (vm->exit_fd >= 0)
		close(vm->exit_fd);
	pthread_mutex_destroy(&vm->exit_lock);
	free(vm);
}

size_t
vmm_console_input(struct vmm *vm, const uint8_t *data, size_t len)
{
	return vm->com1 != NULL ? vmm_serial_input(vm->com1, data, len) : 0;
}

uint64_t
vmm_guest_resident_bytes(const struct vmm *vm)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t pages;
	unsigned char *vec;
	uint64_t n = 0;

	if (vm == NULL || vm->mem == NULL || page <= 0)
		return 0;
	pages = (vm->mem->size + (uint64_t)page - 1) / (uint64_t)page;
	vec = malloc(pages);
	if (vec == NULL)
		return 0;
	if (mincore(vm->mem->base, vm->mem->size, vec) == 0) {
		for (size_t i = 0; i < pages; i++)
			n += vec[i] & 1;
	}
	free(vec);
	return n * (uint64_t)page;
}

int
vmm_get_nic_stats(struct vmm *vm, unsigned int i, struct vmm_nic_stats *st)
{
	if (vm == NULL || i >= vm->nnics)
		return -ENOENT;
	vmm_virtio_net_get_stats(vm->nics[i], st);
	return 0;
}

void
vmm_get_stats(const struct vmm *vm, struct vmm_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->setup_ns = __atomic_load_n(&vm->setup_ns, __ATOMIC_RELAXED);
	for (uint32_t i = 0; i < vm->nvcpus; i++) {
		const struct vmm_vcpu *v = &vm->vcpus[i];

		st->exits_io += __atomic_load_n(&v->exits_io, __ATOMIC_RELAXED);
		st->exits_mmio += __atomic_load_n(&v->exits_mmio, __ATOMIC_RELAXED);
		st->exits_other += __atomic_load_n(&v->exits_other, __ATOMIC_RELAXED);
		st->io_unhandled += __atomic_load_n(&v->io_unhandled, __ATOMIC_RELAXED);
	}
}

int
vmm_get_disk_stats(struct vmm *vm, unsigned int i, struct vmm_disk_stats *st)
{
	if (vm == NULL || i >= vm->ndisks)
		return -ENOENT;
	vmm_virtio_blk_get_stats(vm->disks[i], st);
	return 0;
}
