/* SPDX-License-Identifier: MIT */
/*
 * virtio-net over vhost-user (virtio_net.h). virtio 1.2, 5.1: feature
 * bits and their requirements 5.1.3 and 5.1.3.1, device configuration
 * 5.1.4, device initialization 5.1.5, multiqueue and the control queue
 * 5.1.6.5 and 5.1.6.5.5. vhost-user: "Ring states", "Multiple queue
 * support" and the front-end message types of vhost-user.rst.
 */
#define NV_LOG_COMPONENT "nicvisor.vmm.net"

#include "virtio_net.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nv_log.h"
#include "vhost_dev.h"
#include "vhost_user.h"
#include "virtio_pci.h"
#include "virtq.h"

#define BIT(n)       (1ull << (n))
#define CTRL_CMD_MAX 64

/* What a backend provides and the shim passes through. */
#define BACKEND_FEATURES                                                                           \
	(BIT(VMM_VIRTIO_NET_F_CSUM) | BIT(VMM_VIRTIO_NET_F_GUEST_CSUM) |                           \
	 BIT(VMM_VIRTIO_NET_F_GUEST_TSO4) | BIT(VMM_VIRTIO_NET_F_GUEST_TSO6) |                     \
	 BIT(VMM_VIRTIO_NET_F_GUEST_ECN) | BIT(VMM_VIRTIO_NET_F_GUEST_UFO) |                       \
	 BIT(VMM_VIRTIO_NET_F_HOST_TSO4) | BIT(VMM_VIRTIO_NET_F_HOST_TSO6) |                       \
	 BIT(VMM_VIRTIO_NET_F_HOST_ECN) | BIT(VMM_VIRTIO_NET_F_HOST_UFO) |                         \
	 BIT(VMM_VIRTIO_NET_F_MRG_RXBUF) | BIT(VMM_VIRTIO_F_RING_INDIRECT_DESC) |                  \
	 BIT(VMM_VIRTIO_F_RING_EVENT_IDX) | BIT(VMM_VIRTIO_F_VERSION_1))
/* What the shim itself provides: the configuration and the control queue. */
#define SHIM_FEATURES                                                                              \
	(BIT(VMM_VIRTIO_NET_F_MAC) | BIT(VMM_VIRTIO_NET_F_STATUS) |                                \
	 BIT(VMM_VIRTIO_NET_F_CTRL_VQ) | BIT(VMM_VIRTIO_NET_F_MQ))
/* Offered before any backend has said what it does: what every vhost-user
 * net backend serves. */
#define BASELINE_FEATURES (BIT(VMM_VIRTIO_F_VERSION_1) | BIT(VMM_VIRTIO_NET_F_MRG_RXBUF))

struct vmm_virtio_net {
	struct vmm_virtio_pci vp;  /* its lock guards everything below */
	struct vmm_vhost_dev link; /* the backend */
	uint8_t mac[6];
	uint32_t max_pairs;
	unsigned int nq; /* data queues + the control queue */
	int ctrl_q;      /* its index, -1 without one */
	struct vmm_mem *mem;

	uint64_t backend_features;
	bool backend_known;
	uint32_t backend_queues;
	uint32_t adv_pairs; /* max_virtqueue_pairs, fixed at each reset */
	bool link_up;
	bool started;         /* DRIVER_OK and the rings checked */
	bool backend_running; /* the backend has the rings */
	uint32_t curr_pairs;
	uint64_t acked;
	struct vmm_virtq ctrl;
	bool ctrl_ready;
	struct vmm_nic_stats st;
	struct nv_ratelimit rl;
};

static bool
has(uint64_t f, unsigned int bit)
{
	return f & BIT(bit);
}

/* 5.1.3.1: a feature the device offers must have its requirements. */
static uint64_t
requirements(uint64_t f)
{
	if (!has(f, VMM_VIRTIO_NET_F_GUEST_CSUM))
		f &= ~(BIT(VMM_VIRTIO_NET_F_GUEST_TSO4) | BIT(VMM_VIRTIO_NET_F_GUEST_TSO6) |
		       BIT(VMM_VIRTIO_NET_F_GUEST_UFO));
	if (!has(f, VMM_VIRTIO_NET_F_GUEST_TSO4) && !has(f, VMM_VIRTIO_NET_F_GUEST_TSO6))
		f &= ~BIT(VMM_VIRTIO_NET_F_GUEST_ECN);
	if (!has(f, VMM_VIRTIO_NET_F_CSUM))
		f &= ~(BIT(VMM_VIRTIO_NET_F_HOST_TSO4) | BIT(VMM_VIRTIO_NET_F_HOST_TSO6) |
		       BIT(VMM_VIRTIO_NET_F_HOST_UFO));
	if (!has(f, VMM_VIRTIO_NET_F_HOST_TSO4) && !has(f, VMM_VIRTIO_NET_F_HOST_TSO6))
		f &= ~BIT(VMM_VIRTIO_NET_F_HOST_ECN);
	if (!has(f, VMM_VIRTIO_NET_F_CTRL_VQ))
		f &= ~BIT(VMM_VIRTIO_NET_F_MQ);
	return f;
}

uint64_t
vmm_virtio_net_offer(uint64_t backend, bool backend_known, uint32_t pairs, uint32_t queue_num)
{
	uint64_t f = BIT(VMM_VIRTIO_NET_F_MAC) | BIT(VMM_VIRTIO_NET_F_STATUS);

	f |= backend_known ? backend & BACKEND_FEATURES : BASELINE_FEATURES;
	/* Several pairs need the backend's MQ (and enough queues), and the
	 * control queue to choose how many are used (5.1.6.5.5). */
	if (pairs > 1 && (!backend_known || queue_num >= 2 * pairs))
		f |= BIT(VMM_VIRTIO_NET_F_CTRL_VQ) | BIT(VMM_VIRTIO_NET_F_MQ);
	return requirements(f);
}

/* max_virtqueue_pairs for what is known of the backend now. */
static uint32_t
advertised_pairs(const struct vmm_virtio_net *n)
{
	uint32_t p = n->max_pairs;

	if (n->backend_known && n->backend_queues / 2 < p)
		p = n->backend_queues / 2;
	return p == 0 ? 1 : p;
}

/* ---- the backend, all under the lock ---- */

static void
update_link(struct vmm_virtio_net *n)
{
	bool up = vmm_vhost_dev_usable(&n->link) && (!n->started || n->backend_running);

	if (up == n->link_up)
		return;
	n->link_up = up;
	nv_info("%s: link %s", n->link.name, up ? "up" : "down");
	vmm_virtio_pci_config_changed(&n->vp);
}

static bool
data_queue(const struct vmm_virtio_net *n, unsigned int q)
{
	return q < 2 * n->max_pairs;
}

static int
enable_pairs(struct vmm_virtio_net *n)
{
	for (unsigned int q = 0; q < 2 * n->max_pairs; q++) {
		int rc;

		if (!n->link.q_started[q])
			continue;
		rc = vmm_vhu_set_vring_enable(n->link.vhu, q, q / 2 < n->curr_pairs);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Hand the rings to the backend; resume: continue from the guest's used
 * index (a new backend after the old one went away). */
static int
backend_start(struct vmm_virtio_net *n, bool resume)
{
	int rc;

	if (!vmm_vhost_dev_usable(&n->link))
		return -EPIPE;
	rc = vmm_vhost_dev_set_features_mem(&n->link, n->acked & n->backend_features);
	for (unsigned int q = 0; rc == 0 && q < n->nq; q++) {
		if (data_queue(n, q) && n->vp.q[q].enabled)
			rc = vmm_vhost_dev_start_ring(&n->link, q, resume);
	}
	/* Rings start disabled with protocol features; without them the
	 * backend enables all (vhost-user.rst, "Ring states"). */
	if (rc == 0 && vmm_vhost_dev_has_protocol(&n->link))
		rc = enable_pairs(n);
	if (rc < 0) {
		vmm_vhost_dev_failed(&n->link, rc,
				     resume ? "restoring the rings" : "starting the rings");
		return rc;
	}
	n->backend_running = true;
	return 0;
}

static void
backend_stop(struct vmm_virtio_net *n)
{
	vmm_vhost_dev_stop_rings(&n->link);
	n->backend_running = false;
}

/* The guest's negotiated features against a backend that came back. */
static bool
backend_compatible(const struct vmm_virtio_net *n, const struct vmm_vhu *v)
{
	uint64_t need = n->acked & BACKEND_FEATURES;

	if ((need & ~v->features) != 0)
		return false;
	if (has(n->acked, VMM_VIRTIO_NET_F_MQ) &&
	    (!(v->protocol & BIT(VMM_VHU_PROTOCOL_F_MQ)) || v->queue_num < 2 * n->adv_pairs))
		return false;
	return true;
}

static void
net_attached(void *dev)
{
	struct vmm_virtio_net *n = dev;
	struct vmm_vhu *v = n->link.vhu;

	n->backend_features = v->features;
	n->backend_known = true;
	n->backend_queues = (v->protocol & BIT(VMM_VHU_PROTOCOL_F_MQ)) ? v->queue_num : 0;
	nv_info("%s: backend %s connected (features 0x%llx, %u queues)", n->link.name,
		n->link.socket, (unsigned long long)v->features, n->backend_queues);
	if (n->started) {
		if (!backend_compatible(n, v)) {
			nv_warn("%s: the backend lacks features the guest negotiated; the device "
				"needs a reset",
				n->link.name);
			n->st.queue_errors++;
			vmm_virtio_pci_needs_reset(&n->vp);
		} else {
			backend_start(n, true);
		}
	}
	update_link(n);
}

static void
net_detached(void *dev)
{
	struct vmm_virtio_net *n = dev;

	n->backend_running = false;
	update_link(n);
}

static const struct vmm_vhost_dev_ops net_link_ops = {
	.attached = net_attached,
	.detached = net_detached,
};

/* ---- the device, called by the transport under its lock ---- */

static uint64_t
net_device_features(void *dev)
{
	struct vmm_virtio_net *n = dev;

	n->adv_pairs = advertised_pairs(n);
	return vmm_virtio_net_offer(n->backend_features, n->backend_known, n->adv_pairs,
				    n->backend_known ? n->backend_queues : 0);
}

static int
net_start(void *dev)
{
	struct vmm_virtio_net *n = dev;
	uint8_t *d, *a, *u;

	n->acked = n->vp.driver_features;
	for (unsigned int q = 0; q < n->nq; q++) {
		if (n->vp.q[q].enabled && data_queue(n, q) &&
		    !vmm_vhost_dev_ring_hvas(&n->link, q, &d, &a, &u)) {
			nv_warn("%s: queue %u: rings outside guest memory or misaligned",
				n->link.name, q);
			n->st.queue_errors++;
			return -EFAULT;
		}
	}
	n->ctrl_ready = false;
	if (n->ctrl_q >= 0 && has(n->acked, VMM_VIRTIO_NET_F_CTRL_VQ) &&
	    n->vp.q[n->ctrl_q].enabled) {
		const struct vmm_virtio_queue *vq = &n->vp.q[n->ctrl_q];

		if (vmm_virtq_init(&n->ctrl, n->mem, vq->size, vq->desc, vq->driver, vq->device,
				   n->acked) < 0) {
			nv_warn("%s: control queue: rings outside guest memory or misaligned",
				n->link.name);
			n->st.queue_errors++;
			return -EFAULT;
		}
		n->ctrl_ready = true;
	}
	/* 5.1.6.5.5: only the first pair until the driver asks for more. */
	n->curr_pairs = 1;
	n->started = true;
	if (vmm_vhost_dev_usable(&n->link)) {
		if (backend_compatible(n, n->link.vhu))
			backend_start(n, false);
		else
			vmm_vhost_dev_failed(&n->link, -EPROTO, "the backend changed its features");
	}
	update_link(n);
	return 0;
}

static void
net_reset(void *dev)
{
	struct vmm_virtio_net *n = dev;

	if (n->started)
		backend_stop(n);
	n->started = false;
	n->ctrl_ready = false;
	n->curr_pairs = 0;
	n->acked = 0;
	update_link(n);
}

/* 5.1.6.5: one command; returns the ack. */
static uint8_t
ctrl_command(struct vmm_virtio_net *n, const uint8_t *cmd, uint32_t len)
{
	uint16_t pairs;

	if (len < 2)
		return VMM_VIRTIO_NET_ERR;
	if (cmd[0] == VMM_VIRTIO_NET_CTRL_MQ && cmd[1] == VMM_VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET &&
	    len >= 4 && has(n->acked, VMM_VIRTIO_NET_F_MQ)) {
		pairs = (uint16_t)(cmd[2] | cmd[3] << 8);
		/* 5.1.6.5.5.2: 1..max_virtqueue_pairs. */
		if (pairs < 1 || pairs > n->adv_pairs)
			return VMM_VIRTIO_NET_ERR;
		n->curr_pairs = pairs;
		if (n->backend_running && vmm_vhost_dev_usable(&n->link) &&
		    has(n->backend_features, VMM_VHU_F_PROTOCOL_FEATURES)) {
			int rc = enable_pairs(n);

			if (rc < 0)
				vmm_vhost_dev_failed(&n->link, rc, "enabling queue pairs");
		}
		nv_info("%s: the guest uses %u queue pairs", n->link.name, pairs);
		return VMM_VIRTIO_NET_OK;
	}
	return VMM_VIRTIO_NET_ERR;
}

static void
net_notify(void *dev, unsigned int q)
{
	struct vmm_virtio_net *n = dev;
	struct vmm_virtq_chain c;
	int rc = 0;

	if ((int)q != n->ctrl_q || !n->ctrl_ready)
		return;
	/* Bounded: at most a queue's worth per notification. */
	for (unsigned int i = 0; i < n->ctrl.size; i++) {
		uint8_t cmd[CTRL_CMD_MAX], ack;
		uint32_t len;

		rc = vmm_virtq_pop(&n->ctrl, &c);
		if (rc <= 0)
			break;
		len = vmm_virtq_read(&c, cmd, sizeof(cmd));
		ack = vmm_virtq_writable(&c) >= 1 ? ctrl_command(n, cmd, len) : VMM_VIRTIO_NET_ERR;
		n->st.ctrl_commands++;
		if (ack != VMM_VIRTIO_NET_OK)
			n->st.ctrl_errors++;
		vmm_virtq_push(&n->ctrl, c.head, vmm_virtq_write(&c, &ack, 1));
	}
	if (rc < 0) {
		n->st.queue_errors++;
		n->ctrl_ready = false;
		if (nv_ratelimit_ok(&n->rl, 5, 10000))
			nv_warn("%s: control queue broken (%s); the device needs a reset",
				n->link.name, n->ctrl.why);
		vmm_virtio_pci_needs_reset(&n->vp);
	}
	if (vmm_virtq_need_notify(&n->ctrl))
		vmm_virtio_pci_notify_queue(&n->vp, q);
}

static void
net_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	struct vmm_virtio_net *n = dev;
	uint8_t img[VMM_VIRTIO_NET_CONFIG_SIZE] = { 0 };
	uint16_t status = n->link_up ? VMM_VIRTIO_NET_S_LINK_UP : 0;

	/* 5.1.4: mac, status, max_virtqueue_pairs; the rest reads 0. */
	memcpy(img, n->mac, 6);
	img[6] = (uint8_t)status;
	img[7] = (uint8_t)(status >> 8);
	img[8] = (uint8_t)n->adv_pairs;
	img[9] = (uint8_t)(n->adv_pairs >> 8);
	for (uint32_t i = 0; i < len; i++)
		data[i] = off + i < sizeof(img) ? img[off + i] : 0;
}

static const struct vmm_virtio_dev_ops net_ops = {
	.device_features = net_device_features,
	.start = net_start,
	.reset = net_reset,
	.notify = net_notify,
	.config_read = net_config_read,
};

int
vmm_virtio_net_create(const struct vmm_virtio_net_conf *conf, struct vmm_virtio_net **out)
{
	struct vmm_virtio_pci_conf pc = {
		.device_id = 1,
		.pci_class = 0x020000,
		.config_size = VMM_VIRTIO_NET_CONFIG_SIZE,
	};
	struct vmm_vhost_dev_conf lc = {
		.name = conf->name ? conf->name : "nic",
		.socket = conf->socket,
		.protocol = VMM_VHU_PROTOCOL_DEFAULT,
		.timeout_ms = conf->connect_timeout_ms,
		.mem = conf->mem,
	};
	struct vmm_virtio_net *n;
	int rc;

	if (conf->max_pairs == 0 || conf->max_pairs > VMM_NIC_MAX_QUEUE_PAIRS ||
	    conf->socket == NULL || conf->mem == NULL || conf->efd == NULL)
		return -EINVAL;
	n = calloc(1, sizeof(*n));
	if (n == NULL)
		return -ENOMEM;
	memcpy(n->mac, conf->mac, 6);
	n->max_pairs = conf->max_pairs;
	n->nq = 2 * n->max_pairs + (n->max_pairs > 1 ? 1 : 0);
	n->ctrl_q = n->max_pairs > 1 ? (int)(2 * n->max_pairs) : -1;
	n->mem = conf->mem;
	rc = vmm_vhost_dev_init(&n->link, &lc, &n->vp, &net_link_ops, n);
	if (rc < 0)
		goto out_free;
	pc.nqueues = n->nq;
	pc.msix_vectors = n->nq + 1; /* a vector per queue and one for config */
	for (unsigned int q = 0; q < n->nq; q++) {
		pc.queue_max[q] =
			data_queue(n, q) ? VMM_VIRTIO_NET_QUEUE_SIZE : VMM_VIRTIO_NET_CTRL_Q_SIZE;
		if (data_queue(n, q))
			pc.ioeventfd_mask |= 1u << q;
	}
	/* The backend is the thread's business from the start: a VM boots
	 * without waiting for it (a backend's handshake can take a second),
	 * and what is offered at a reset is what is known by then. */
	rc = vmm_virtio_pci_init(&n->vp, &pc, &net_ops, n, conf->efd, conf->ioeventfd_any_len);
	if (rc < 0)
		goto out_link;
	rc = vmm_vhost_dev_start(&n->link);
	if (rc < 0) {
		vmm_vhost_dev_fini(&n->link);
		vmm_virtio_pci_fini(&n->vp);
		goto out_free;
	}
	*out = n;
	return 0;

out_link:
	vmm_vhost_dev_fini(&n->link);
out_free:
	free(n);
	return rc;
}

struct vmm_pci_func *
vmm_virtio_net_func(struct vmm_virtio_net *n)
{
	return &n->vp.func;
}

void
vmm_virtio_net_destroy(struct vmm_virtio_net *n)
{
	if (n == NULL)
		return;
	vmm_vhost_dev_fini(&n->link);
	vmm_virtio_pci_fini(&n->vp);
	free(n);
}

void
vmm_virtio_net_get_stats(struct vmm_virtio_net *n, struct vmm_nic_stats *st)
{
	vmm_virtio_pci_lock(&n->vp);
	*st = n->st;
	st->link_up = n->link_up;
	st->backend_connected = vmm_vhost_dev_usable(&n->link);
	st->connects = n->link.connects;
	st->disconnects = n->link.disconnects;
	st->backend_errors = n->link.backend_errors;
	st->driver_ok = n->started;
	st->queue_pairs = n->started ? n->curr_pairs : 0;
	st->max_queue_pairs = n->adv_pairs;
	st->features = n->acked;
	st->offered = n->vp.device_features;
	st->backend_features = n->backend_features;
	st->status = n->vp.status;
	st->kicks_exited = 0;
	for (unsigned int q = 0; q < 2 * n->max_pairs; q++)
		st->kicks_exited += n->vp.q[q].kicks_here;
	vmm_virtio_pci_unlock(&n->vp);
}
