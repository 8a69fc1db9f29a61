/* SPDX-License-Identifier: MIT */
/*
 * Inside the vmm library: the machine object shared by its parts, and the
 * hooks between the generic KVM code (kvm.c, vcpu.c, machine.c) and the
 * architecture (x86/kvm_cpu.c and x86/platform.c on x86_64;
 * arm64/kvm_cpu.c and arm64/platform.c on arm64). vmm/meson.build picks the
 * folder by the host CPU. Not for the shim; tests use it to add test
 * devices before vmm_start().
 */
#ifndef VMM_INT_H
#define VMM_INT_H

#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "guest_mem.h"
#include "msix.h"
#include "nv_log.h"
#include "pci.h"
#include "serial.h"
#include "vmm.h"

#if defined(__x86_64__)
#include "x86/vm_arch.h"
#elif defined(__aarch64__)
#include "arm64/vm_arch.h"
#else
#error "vmm: no architecture folder for this CPU"
#endif

struct vmm_virtio_net;
struct vmm_virtio_blk;

/* KVM's GSI routing table: the architecture's fixed routes (IOAPIC and
 * PIC pins) and one MSI route per MSI-X vector in use. KVM takes the
 * table only whole, so every change sends it all again. With a GICv3 ITS
 * KVM wants each MSI's requester ID (KVM_CAP_MSI_DEVID on the VM):
 * routes then carry it (KVM_MSI_VALID_DEVID). */
#define VMM_IRQ_FIXED_ROUTES 64
#define VMM_IRQ_MSI_ROUTES   256
struct vmm_irq_routes {
	pthread_mutex_t lock;
	bool ready;
	bool devid; /* KVM_CAP_MSI_DEVID: routes carry KVM_MSI_VALID_DEVID */
	unsigned int nfixed;
	struct kvm_irq_routing_entry fixed[VMM_IRQ_FIXED_ROUTES];
	uint32_t first_msi_gsi;
	struct {
		bool used;
		uint64_t addr;
		uint32_t data;
		uint32_t devid;
	} msi[VMM_IRQ_MSI_ROUTES];
};

/* Interrupts a vCPU thread's KVM_RUN (see vmm.h). */
#define VMM_KICK_SIGNAL (SIGRTMIN + 0)

struct vmm_vcpu {
	struct vmm *vm;
	int index;
	int fd;
	struct kvm_run *run;
	pthread_t thread; /* for pthread_join; control thread only */
	bool joinable;
	/* Under vm->exit_lock: the thread is between its start and its end,
	 * and its id (set by the thread itself) may be signalled. */
	bool in_thread;
	pthread_t self;
	/* Counters: written by the vCPU's thread, read with relaxed atomics. */
	uint64_t exits_io, exits_mmio, exits_other, io_unhandled;
	struct nv_ratelimit unhandled_rl;
};

struct vmm {
	struct vmm_config cfg; /* cmdline not kept */
	struct vmm_events ev;
	uint64_t create_ns; /* nv_mono_ns() when vmm_create() began */
	uint64_t setup_ns;  /* set once, by the first KVM_RUN */

	int kvm_fd;
	int vm_fd;
	size_t run_size;
	uint32_t max_vcpus;
	struct vmm_mem *mem;
	struct vmm_bus pio;
	struct vmm_bus mmio;
	struct vmm_serial *com1;
	struct vmm_irq_routes routes;
	struct vmm_eventfd_ops efd; /* over this VM's KVM */
	struct vmm_pci pci;
	bool pci_ready;
	unsigned int nnics;
	struct vmm_virtio_net *nics[VMM_MAX_NICS];
	unsigned int ndisks;
	struct vmm_virtio_blk *disks[VMM_MAX_DISKS];

	uint32_t nvcpus;
	struct vmm_vcpu *vcpus;
	bool started;

	/* The end of the run: the first vmm_end_run() fills `exit`. */
	pthread_mutex_t exit_lock;
	bool ended; /* also read without the lock (atomic) */
	struct vmm_exit exit;
	int exit_fd; /* eventfd */

	struct vmm_arch_vm arch; /* <arch>/vm_arch.h */
};

enum vmm_space {
	VMM_SPACE_PIO,
	VMM_SPACE_MMIO,
};

/* Add a device before vmm_start(); see vmm_bus_add() for errors. */
int vmm_add_device(struct vmm *vm, enum vmm_space space, uint64_t base, uint64_t len,
		   const struct vmm_dev_ops *ops, void *dev);

/*
 * End the run (any thread). Only the first call counts: it records the
 * exit (the calling vCPU's index, or -1 off vCPU threads), makes every vCPU
 * leave KVM_RUN and makes vmm_exit_fd() readable.
 */
void vmm_end_run(struct vmm *vm, enum vmm_exit_kind kind, uint32_t code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
bool vmm_run_ended(const struct vmm *vm);

/* kvm.c: the GSI routing table, and vmm_eventfd_ops over it. */
int vmm_irq_routes_init(struct vmm *vm);
void vmm_irq_routes_fini(struct vmm *vm);
void vmm_kvm_eventfd_ops(struct vmm *vm, struct vmm_eventfd_ops *ops);
bool vmm_kvm_has(struct vmm *vm, int cap);

/* Set an interrupt line of the in-kernel irqchip. 0 or -errno. */
int vmm_irq_line(struct vmm *vm, uint32_t gsi, int level);

/* kvm.c */
int vmm_kvm_open(struct vmm *vm, char *err, size_t errlen);
int vmm_kvm_add_memory(struct vmm *vm, char *err, size_t errlen);

/* vcpu.c */
int vmm_vcpu_create(struct vmm *vm, struct vmm_vcpu *vcpu, int index, char *err, size_t errlen);
void vmm_vcpu_destroy(struct vmm_vcpu *vcpu);
int vmm_vcpu_start(struct vmm_vcpu *vcpu);
int vmm_current_vcpu(void); /* index of the calling vCPU thread, else -1 */

/* Architecture: <arch>/kvm_cpu.c. */
struct vmm_kvm_cap {
	int cap;
	const char *name;
	bool required;
};
extern const struct vmm_kvm_cap vmm_arch_caps[];
extern const unsigned int vmm_arch_ncaps;
extern const uint64_t vmm_arch_hole_start, vmm_arch_hole_end;
/* The irqchip's routes KVM sets up by default, which a table of our own
 * must keep; returns how many were written (at most max). */
unsigned int vmm_arch_default_routes(struct kvm_irq_routing_entry *e, unsigned int max);
extern const uint32_t vmm_arch_first_msi_gsi;
/* Whether addr is an MSI address of this architecture. */
bool vmm_arch_msi_valid(uint64_t addr);
/* The PCI bus: ECAM window, bus count, BAR window [start, end). */
struct vmm_arch_pci {
	uint64_t ecam, window_start, window_end;
	unsigned int buses;
};
extern const struct vmm_arch_pci vmm_arch_pci;
/* After KVM_CREATE_VM, before guest memory and vCPUs. */
int vmm_arch_vm_init(struct vmm *vm, char *err, size_t errlen);
void vmm_arch_vm_fini(struct vmm *vm);
/* Load the kernel (and initrd, NULL if none) into guest memory. */
int vmm_arch_load(struct vmm *vm, const uint8_t *kernel, size_t kernel_size, const uint8_t *initrd,
		  size_t initrd_size, char *err, size_t errlen);
int vmm_arch_vcpu_init(struct vmm *vm, struct vmm_vcpu *vcpu, char *err, size_t errlen);
/* Human-readable description of a failed entry or internal error. */
void vmm_arch_describe_rip(struct vmm_vcpu *vcpu, char *buf, size_t len);

/* Architecture devices: <arch>/platform.c. */
int vmm_arch_devices_init(struct vmm *vm);
void vmm_arch_devices_fini(struct vmm *vm);
int vmm_arch_power_button(struct vmm *vm);

#endif
