/* SPDX-License-Identifier: MIT */
/*
 * virtio over PCI, modern only (virtio 1.2, 4.1): a PCI function whose
 * BAR 0 holds the common configuration, the ISR, the device configuration,
 * the queue notification addresses and the MSI-X table and PBA, each
 * described by a vendor capability (4.1.4), plus the PCI configuration
 * access capability (4.1.4.9).
 *
 *   BAR 0 (32-bit memory, 32 KiB)
 *     0x0000  common configuration (4.1.4.3)
 *     0x1000  ISR status (4.1.4.5)
 *     0x2000  device configuration (4.1.4.6), the device's ops
 *     0x3000  notifications, queue q at 0x3000 + 4 q (4.1.4.4)
 *     0x4000  MSI-X table; 0x6000 MSI-X PBA
 *
 * The transport owns the queues' registers and, per queue, a kick eventfd
 * (wired to the queue's notification address by a KVM ioeventfd, so a
 * kick never leaves the kernel) and a call eventfd (an MSI-X interrupt
 * source, wired by a KVM irqfd to the queue's vector). A vhost-user device
 * hands both to its backend. Queues the device serves itself (a control
 * queue) get no ioeventfd: their notifications come to ops->notify.
 *
 * One lock per function serialises the guest's accesses and the device's
 * own threads (vmm_virtio_pci_lock()); every ops member is called with it
 * held. Lock order: PCI bus, then this lock.
 */
#ifndef VMM_VIRTIO_PCI_H
#define VMM_VIRTIO_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "msix.h"
#include "pci.h"

#define VMM_VIRTIO_PCI_VENDOR      0x1af4
#define VMM_VIRTIO_PCI_DEVICE_BASE 0x1040 /* + virtio device id (4.1.2) */
#define VMM_VIRTIO_MAX_QUEUES      (2 * 8 + 1)
#define VMM_VIRTIO_PCI_BAR_SIZE    0x8000
#define VMM_VIRTIO_PCI_COMMON_OFF  0x0000
#define VMM_VIRTIO_PCI_COMMON_LEN  0x38
#define VMM_VIRTIO_PCI_ISR_OFF     0x1000
#define VMM_VIRTIO_PCI_DEVICE_OFF  0x2000
#define VMM_VIRTIO_PCI_DEVICE_MAX  0x1000
#define VMM_VIRTIO_PCI_NOTIFY_OFF  0x3000
#define VMM_VIRTIO_PCI_NOTIFY_MULT 4
#define VMM_VIRTIO_PCI_MSIX_OFF    0x4000
#define VMM_VIRTIO_PCI_PBA_OFF     0x6000

/* Device status (2.1). */
#define VMM_VIRTIO_S_ACKNOWLEDGE 1
#define VMM_VIRTIO_S_DRIVER      2
#define VMM_VIRTIO_S_DRIVER_OK   4
#define VMM_VIRTIO_S_FEATURES_OK 8
#define VMM_VIRTIO_S_NEEDS_RESET 0x40
#define VMM_VIRTIO_S_FAILED      0x80

#define VMM_VIRTIO_F_VERSION_1   32
#define VMM_VIRTIO_ISR_QUEUE     1
#define VMM_VIRTIO_ISR_CONFIG    2

/*
 * A device on the transport. Every member is called with the function's
 * lock held, on a vCPU thread (or a device thread that holds the lock).
 */
struct vmm_virtio_dev_ops {
	/* Features to offer, sampled at creation and at each reset. */
	uint64_t (*device_features)(void *dev);
	/* The driver asks for FEATURES_OK with these features (a subset of
	 * the offer, VERSION_1 included): 0 accepts, <0 refuses. (opt) */
	int (*features_ok)(void *dev, uint64_t features);
	/* DRIVER_OK: start serving the enabled queues. <0: the device sets
	 * DEVICE_NEEDS_RESET. */
	int (*start)(void *dev);
	/* The driver reset the device (after start or not): stop serving. */
	void (*reset)(void *dev);
	/* A notification for queue q that came to this process. (opt) */
	void (*notify)(void *dev, unsigned int q);
	/* Device configuration bytes [off, off + len), off + len <= size. */
	void (*config_read)(void *dev, uint32_t off, uint8_t *data, uint32_t len);
	void (*config_write)(void *dev, uint32_t off, const uint8_t *data,
			     uint32_t len); /* (opt) */
};

struct vmm_virtio_pci_conf {
	uint16_t device_id;                        /* virtio device id: 1 network */
	uint32_t pci_class;                        /* e.g. 0x020000 Ethernet */
	unsigned int nqueues;                      /* 1..VMM_VIRTIO_MAX_QUEUES */
	uint16_t queue_max[VMM_VIRTIO_MAX_QUEUES]; /* largest size per queue, a power of two */
	uint32_t ioeventfd_mask;                   /* queues whose kicks go to their kick eventfd */
	uint32_t config_size;                      /* bytes of device configuration */
	unsigned int msix_vectors;
};

struct vmm_virtio_queue {
	uint16_t size;
	uint16_t vector;
	bool enabled;
	uint64_t desc, driver, device; /* guest-physical */
	int kick_fd, call_fd;          /* eventfds, for the device's backend */
	int call_src;                  /* its MSI-X source */
	uint64_t kicks_here;           /* kicks that reached this process */
};

struct vmm_virtio_pci_stats {
	uint64_t resets, starts, start_failures, refused_features;
	uint64_t config_changes;
	uint64_t ioeventfd_errors;
};

struct vmm_virtio_pci {
	pthread_mutex_t lock;
	struct vmm_pci_func func;
	struct vmm_msix msix;
	const struct vmm_eventfd_ops *efd;
	const struct vmm_virtio_dev_ops *ops;
	void *dev;
	struct vmm_virtio_pci_conf conf;
	uint32_t ioeventfd_len; /* 0 (any length) or 2 */
	uint64_t notify_gpa;    /* where the notify region decodes; 0: nowhere */

	uint8_t status;
	uint8_t config_generation;
	uint8_t isr;
	uint32_t dfselect, gfselect;
	uint64_t device_features, driver_features;
	uint16_t config_vector;
	uint16_t queue_select;
	struct vmm_virtio_queue q[VMM_VIRTIO_MAX_QUEUES];
	int config_fd; /* config-change interrupt source */
	int config_src;
	struct vmm_virtio_pci_stats st;
};

/*
 * Set up the function (not yet on a bus): capabilities, BAR, eventfds.
 * ioeventfd_any_len says whether KVM takes ioeventfds of any length
 * (KVM_CAP_IOEVENTFD_ANY_LENGTH). 0 or -errno.
 */
int vmm_virtio_pci_init(struct vmm_virtio_pci *vp, const struct vmm_virtio_pci_conf *conf,
			const struct vmm_virtio_dev_ops *ops, void *dev,
			const struct vmm_eventfd_ops *efd, bool ioeventfd_any_len);
/* Undo init (ioeventfds, irqfds, eventfds). The function must be off
 * every bus that vCPUs use (they are stopped). */
void vmm_virtio_pci_fini(struct vmm_virtio_pci *vp);

void vmm_virtio_pci_lock(struct vmm_virtio_pci *vp);
void vmm_virtio_pci_unlock(struct vmm_virtio_pci *vp);

/* With the lock held: the device configuration changed; bump the
 * generation and interrupt on the config vector (4.1.4.3, 4.1.5.3). */
void vmm_virtio_pci_config_changed(struct vmm_virtio_pci *vp);
/* With the lock held: set DEVICE_NEEDS_RESET and tell the driver. */
void vmm_virtio_pci_needs_reset(struct vmm_virtio_pci *vp);
/* With the lock held: interrupt the driver for queue q (its vector). */
void vmm_virtio_pci_notify_queue(struct vmm_virtio_pci *vp, unsigned int q);

/* BAR 0 accesses, for tests; the bus reaches them through the BAR. */
extern const struct vmm_dev_ops vmm_virtio_pci_bar_ops;

#endif
