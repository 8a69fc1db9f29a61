/* SPDX-License-Identifier: MIT */
/*
 * virtio-net (virtio 1.2, 5.1) on the virtio-pci transport, its queues
 * served by a vhost-user backend (vhost_user.h).
 *
 * What runs where: the receive and transmit queues belong to the backend
 * (it maps guest RAM from the memfd, is kicked through the queues' kick
 * eventfds, which KVM signals on the guest's notification writes, and
 * interrupts the guest through the call eventfds, which KVM turns into
 * MSIs). No packet passes through this process. The shim serves the
 * device configuration (MAC, link status, queue pairs), feature
 * negotiation and, when the device has several queue pairs, the control
 * queue (VIRTIO_NET_CTRL_MQ), which it turns into SET_VRING_ENABLE
 * requests: DPDK's vhost library leaves the control queue to the
 * frontend.
 *
 * The backend may be absent at boot or go away: the link is then down
 * (VIRTIO_NET_S_LINK_UP clear, a configuration interrupt), a thread per
 * NIC connects again in the background (every 100 ms at first, backing
 * off to 1 s) and, once it is back, sends everything again (features,
 * memory table, rings from the guest's used index) and the link comes up.
 *
 * The connection, its thread and the ring hand-over are vhost_dev.h's,
 * shared with virtio-blk.
 *
 * Threads: the guest's accesses (vCPU threads) and the NIC's thread, both
 * under the transport's lock.
 */
#ifndef VMM_VIRTIO_NET_H
#define VMM_VIRTIO_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "guest_mem.h"
#include "msix.h"
#include "pci.h"
#include "vmm.h"

/* Feature bits (5.1.3) */
#define VMM_VIRTIO_NET_F_CSUM               0
#define VMM_VIRTIO_NET_F_GUEST_CSUM         1
#define VMM_VIRTIO_NET_F_MAC                5
#define VMM_VIRTIO_NET_F_GUEST_TSO4         7
#define VMM_VIRTIO_NET_F_GUEST_TSO6         8
#define VMM_VIRTIO_NET_F_GUEST_ECN          9
#define VMM_VIRTIO_NET_F_GUEST_UFO          10
#define VMM_VIRTIO_NET_F_HOST_TSO4          11
#define VMM_VIRTIO_NET_F_HOST_TSO6          12
#define VMM_VIRTIO_NET_F_HOST_ECN           13
#define VMM_VIRTIO_NET_F_HOST_UFO           14
#define VMM_VIRTIO_NET_F_MRG_RXBUF          15
#define VMM_VIRTIO_NET_F_STATUS             16
#define VMM_VIRTIO_NET_F_CTRL_VQ            17
#define VMM_VIRTIO_NET_F_MQ                 22

#define VMM_VIRTIO_NET_S_LINK_UP            1
#define VMM_VIRTIO_NET_CONFIG_SIZE          24
#define VMM_VIRTIO_NET_QUEUE_SIZE           256 /* rx and tx queues */
#define VMM_VIRTIO_NET_CTRL_Q_SIZE          64
#define VMM_VIRTIO_NET_CTRL_MQ              4
#define VMM_VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET 0
#define VMM_VIRTIO_NET_OK                   0
#define VMM_VIRTIO_NET_ERR                  1

struct vmm_virtio_net;

struct vmm_virtio_net_conf {
	uint8_t mac[6];
	const char *socket;  /* the backend's vhost-user socket (copied) */
	uint32_t max_pairs;  /* 1..VMM_NIC_MAX_QUEUE_PAIRS */
	struct vmm_mem *mem; /* guest RAM, shared with the backend */
	const struct vmm_eventfd_ops *efd;
	bool ioeventfd_any_len;
	int connect_timeout_ms; /* per backend request; 0: 2000 */
	const char *name;       /* for logs, e.g. "nic0" */
};

/*
 * Build the device (a PCI function, not yet on a bus) and start the NIC's
 * thread, which connects to the backend. Until a backend has answered,
 * the offer is a baseline every vhost-user net backend serves (VERSION_1,
 * MRG_RXBUF, MAC, STATUS, and MQ with the control queue for several
 * pairs), and the link is down. -EINVAL (conf), -ENOMEM, or what
 * eventfd/pthread_create said.
 */
int vmm_virtio_net_create(const struct vmm_virtio_net_conf *conf, struct vmm_virtio_net **out);
/* The function to put on the bus. */
struct vmm_pci_func *vmm_virtio_net_func(struct vmm_virtio_net *n);
/* Stop the thread, close the backend, free. Accepts NULL. */
void vmm_virtio_net_destroy(struct vmm_virtio_net *n);
void vmm_virtio_net_get_stats(struct vmm_virtio_net *n, struct vmm_nic_stats *st);

/* The features the shim offers when a backend offers `backend` (or,
 * backend_known false, before any backend said), for max_pairs pairs and
 * a backend with queue_num queues (0: unknown or no MQ). Exposed for
 * tests. */
uint64_t vmm_virtio_net_offer(uint64_t backend, bool backend_known, uint32_t max_pairs,
			      uint32_t queue_num);

#endif
