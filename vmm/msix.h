/* SPDX-License-Identifier: MIT */
/*
 * MSI-X for a PCI function (PCI Local Bus 3.0, 6.8.2): the capability, the
 * vector table and the pending bit array, and what they mean to KVM.
 *
 * Interrupt sources are eventfds (a vhost-user backend's call fds, the
 * device's own config-change fd). A source bound to a vector is connected
 * to the vector's KVM GSI by an irqfd (KVM_IRQFD) while the vector is
 * unmasked, so an event becomes an MSI in the guest without this process
 * running. The GSI routes the vector's address and data as an MSI
 * (KVM_SET_GSI_ROUTING). While the vector is masked (its entry's mask bit,
 * the function mask, or MSI-X disabled) the irqfd is disconnected: events
 * stay in the eventfd, the PBA reports them pending (the eventfd is
 * readable), and the irqfd delivers them when it is connected again on
 * unmask (KVM injects at KVM_IRQFD if the eventfd is already signalled).
 *
 * Not thread safe: the owner serialises every call (the virtio-pci
 * function's lock).
 */
#ifndef VMM_MSIX_H
#define VMM_MSIX_H

#include <stdbool.h>
#include <stdint.h>

#include "pci.h"

#define VMM_MSIX_MAX_VECTORS 64
#define VMM_MSIX_MAX_SOURCES 64
#define VMM_MSIX_ENTRY_SIZE  16
#define VMM_MSIX_NO_VECTOR   0xffff

/* Message control (capability offset 2). */
#define VMM_MSIX_CTRL_ENABLE 0x8000
#define VMM_MSIX_CTRL_MASK   0x4000
/* Vector control (entry offset 12). */
#define VMM_MSIX_ENTRY_MASKED 0x1

/*
 * KVM's interrupt and notification plumbing, so the device models can be
 * tested without KVM. Each may fail with -errno; callers count failures.
 */
struct vmm_eventfd_ops {
	/* Route GSI *gsi as an MSI with this address and data from the
	 * function whose PCI requester ID is devid (bus << 8 | device << 3 |
	 * function: an ITS translates by it, x86 ignores it); *gsi < 0
	 * allocates a GSI first. -EINVAL: not an MSI address of this
	 * architecture. */
	int (*msi_route)(void *opaque, int *gsi, uint64_t addr, uint32_t data, uint32_t devid);
	void (*msi_route_free)(void *opaque, int gsi);
	/* Connect (assign) or disconnect an eventfd and a GSI (KVM_IRQFD). */
	int (*irqfd)(void *opaque, int fd, int gsi, bool assign);
	/* Signal fd on guest writes to [gpa, gpa + len) (KVM_IOEVENTFD, MMIO;
	 * len 0: writes of any size at gpa). */
	int (*ioeventfd)(void *opaque, uint64_t gpa, uint32_t len, int fd, bool assign);
	void *opaque;
};

struct vmm_msix_vector {
	uint32_t entry[4]; /* address low, address high, data, vector control */
	int gsi;           /* -1 until first routed */
	bool routed;       /* the GSI routes route_addr/route_data */
	uint64_t route_addr;
	uint32_t route_data;
};

struct vmm_msix_source {
	int fd;
	uint16_t vector; /* VMM_MSIX_NO_VECTOR: unbound */
	int gsi;         /* the irqfd is connected to this GSI; -1: not connected */
};

struct vmm_msix_stats {
	uint64_t route_updates; /* KVM_SET_GSI_ROUTING calls */
	uint64_t irqfd_changes; /* connects and disconnects */
	uint64_t errors;        /* refused routes (bad address) and failed ioctls */
};

struct vmm_msix {
	const struct vmm_eventfd_ops *ops;
	unsigned int nvec;
	bool enabled;                    /* message control: MSI-X Enable */
	bool fmask;                      /* message control: Function Mask */
	int cap;                         /* capability offset in config space, 0 if none */
	const struct vmm_pci_func *func; /* its requester ID tags the MSIs */
	struct vmm_msix_vector vec[VMM_MSIX_MAX_VECTORS];
	unsigned int nsrc;
	struct vmm_msix_source src[VMM_MSIX_MAX_SOURCES];
	struct vmm_msix_stats st;
};

/* nvec vectors (1..VMM_MSIX_MAX_VECTORS), all masked, MSI-X disabled. */
int vmm_msix_init(struct vmm_msix *m, unsigned int nvec, const struct vmm_eventfd_ops *ops);
/* Disconnect every irqfd and free every route. */
void vmm_msix_fini(struct vmm_msix *m);

/* Add the capability to f: table at table_off and PBA at pba_off of BAR
 * `bar` (both 8-byte aligned). Returns the capability offset or -errno. */
int vmm_msix_add_cap(struct vmm_msix *m, struct vmm_pci_func *f, unsigned int bar,
		     uint32_t table_off, uint32_t pba_off);
/* After a config write to f: picks up Enable and Function Mask. */
void vmm_msix_cfg_written(struct vmm_msix *m, const struct vmm_pci_func *f, uint32_t off,
			  uint32_t len);

/* Table and PBA regions (offsets from their start); accesses of 1..8
 * bytes. The PBA is read-only. */
void vmm_msix_table_read(struct vmm_msix *m, uint64_t off, uint8_t *data, uint32_t len);
void vmm_msix_table_write(struct vmm_msix *m, uint64_t off, const uint8_t *data, uint32_t len);
void vmm_msix_pba_read(struct vmm_msix *m, uint64_t off, uint8_t *data, uint32_t len);
uint64_t vmm_msix_table_size(const struct vmm_msix *m);
uint64_t vmm_msix_pba_size(const struct vmm_msix *m);

/* A new source for eventfd fd (owned by the caller), unbound. Returns
 * its id or -ENOSPC. */
int vmm_msix_add_source(struct vmm_msix *m, int fd);
/* Bind source id to a vector (VMM_MSIX_NO_VECTOR: unbind). Returns
 * false (and unbinds) for a vector the table does not have. */
bool vmm_msix_bind(struct vmm_msix *m, int id, uint16_t vector);

/* Whether the vector delivers now (valid, enabled, unmasked). */
bool vmm_msix_vector_live(const struct vmm_msix *m, unsigned int v);

#endif
