/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk (virtio 1.2, 5.2) on the virtio-pci transport, its request
 * queues served by a vhost-user-blk backend (vhost_user.h).
 *
 * What runs where: every request queue belongs to the backend (it maps
 * guest RAM from the memfd, is kicked through the queues' kick eventfds,
 * which KVM signals on the guest's notification writes, and interrupts
 * the guest through the call eventfds, which KVM turns into MSIs). No
 * request passes through this process. The shim serves feature
 * negotiation and the device configuration, which it reads from the
 * backend (VHOST_USER_GET_CONFIG: capacity, blk_size, seg_max, ...) and
 * in which it sets num_queues to the queues it hands over.
 *
 * The backend may be absent at boot or go away: there is no link to take
 * down on a disk, so the guest's requests simply wait (a driver's
 * timeout, if it has one, is the only thing that can fire). A thread per
 * disk connects again in the background (every 100 ms at first, backing
 * off to 1 s) and, once the backend is back, sends everything again
 * (features, memory table, rings from the guest's used index), so the
 * backend serves what is in the available ring from there. A backend
 * that offers VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD gets an inflight area
 * at DRIVER_OK; the shim holds it until the guest resets the device and
 * hands it to every new backend, which then completes (or replays) what
 * the old one had taken. Without it, requests the old backend had taken
 * but not completed are served again from the used index: fine for reads
 * and writes in order, but a backend that completed requests out of order
 * before it died can see one replayed that the guest already had back
 * (qemu-storage-daemon offers no INFLIGHT_SHMFD). The capacity is read
 * again at each connection; a change is a configuration interrupt (5.2.4:
 * the driver re-reads capacity).
 *
 * The connection, its thread and the ring hand-over are vhost_dev.h's,
 * shared with virtio-net.
 *
 * Threads: the guest's accesses (vCPU threads) and the disk's thread,
 * both under the transport's lock.
 */
#ifndef VMM_VIRTIO_BLK_H
#define VMM_VIRTIO_BLK_H

#include <stdbool.h>
#include <stdint.h>

#include "guest_mem.h"
#include "msix.h"
#include "pci.h"
#include "vmm.h"

/* Feature bits (5.2.3) */
#define VMM_VIRTIO_BLK_F_SIZE_MAX     1
#define VMM_VIRTIO_BLK_F_SEG_MAX      2
#define VMM_VIRTIO_BLK_F_GEOMETRY     4
#define VMM_VIRTIO_BLK_F_RO           5
#define VMM_VIRTIO_BLK_F_BLK_SIZE     6
#define VMM_VIRTIO_BLK_F_FLUSH        9
#define VMM_VIRTIO_BLK_F_TOPOLOGY     10
#define VMM_VIRTIO_BLK_F_CONFIG_WCE   11
#define VMM_VIRTIO_BLK_F_MQ           12
#define VMM_VIRTIO_BLK_F_DISCARD      13
#define VMM_VIRTIO_BLK_F_WRITE_ZEROES 14

/* struct virtio_blk_config (5.2.4) up to write_zeroes_may_unmap and its
 * padding: what the shim reads from the backend and serves. */
#define VMM_VIRTIO_BLK_CONFIG_SIZE    60
#define VMM_VIRTIO_BLK_CFG_CAPACITY   0
#define VMM_VIRTIO_BLK_CFG_NUM_QUEUES 34
#define VMM_VIRTIO_BLK_QUEUE_SIZE     256

struct vmm_virtio_blk;

struct vmm_virtio_blk_conf {
	const char *socket;  /* the backend's vhost-user socket (copied) */
	uint32_t max_queues; /* 1..VMM_DISK_MAX_QUEUES */
	bool read_only;      /* offer VIRTIO_BLK_F_RO */
	struct vmm_mem *mem; /* guest RAM, shared with the backend */
	const struct vmm_eventfd_ops *efd;
	bool ioeventfd_any_len;
	int connect_timeout_ms; /* per backend request; 0: 2000 */
	const char *name;       /* for logs, e.g. "disk0" */
};

/*
 * Build the device (a PCI function, not yet on a bus), try the backend
 * once (so a backend that is already listening is known before the guest
 * first resets the device) and start the disk's thread. Until a backend
 * has answered, the offer is VERSION_1 (and RO if asked) with a capacity
 * of 0. -EINVAL (conf), -ENOMEM, or what eventfd/pthread_create said.
 */
int vmm_virtio_blk_create(const struct vmm_virtio_blk_conf *conf, struct vmm_virtio_blk **out);
/* The function to put on the bus. */
struct vmm_pci_func *vmm_virtio_blk_func(struct vmm_virtio_blk *b);
/* Stop the thread, close the backend, free. Accepts NULL. */
void vmm_virtio_blk_destroy(struct vmm_virtio_blk *b);
void vmm_virtio_blk_get_stats(struct vmm_virtio_blk *b, struct vmm_disk_stats *st);

/* The features the shim offers for a backend that offers `backend` (or,
 * backend_known false, before any backend said), read_only, and `queues`
 * queues handed over (MQ only when more than one). Exposed for tests. */
uint64_t vmm_virtio_blk_offer(uint64_t backend, bool backend_known, bool read_only,
			      uint32_t queues);

/* Queues to offer: min(max_queues, the backend's GET_QUEUE_NUM when it
 * has PROTOCOL_F_MQ (0: unknown), its config num_queues when it offers
 * VIRTIO_BLK_F_MQ), at least 1. Exposed for tests. */
uint32_t vmm_virtio_blk_queues(uint32_t max_queues, uint32_t backend_queue_num,
			       uint64_t backend_features, const uint8_t *config);

#endif
