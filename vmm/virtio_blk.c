/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk over vhost-user (virtio_blk.h). virtio 1.2, 5.2: feature
 * bits 5.2.3, device configuration 5.2.4, device initialization 5.2.5.
 * vhost-user: "Ring states", "Multiple queue support", GET_CONFIG and the
 * front-end message types of vhost-user.rst.
 */
#define NV_LOG_COMPONENT "nicvisor.vmm.blk"

#include "virtio_blk.h"

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

#define BIT(n) (1ull << (n))

/* What a backend provides and the shim passes through. CONFIG_WCE is not
 * among them: the shim does not forward configuration writes. */
#define BACKEND_FEATURES                                                                           \
	(BIT(VMM_VIRTIO_BLK_F_SIZE_MAX) | BIT(VMM_VIRTIO_BLK_F_SEG_MAX) |                          \
	 BIT(VMM_VIRTIO_BLK_F_GEOMETRY) | BIT(VMM_VIRTIO_BLK_F_RO) |                               \
	 BIT(VMM_VIRTIO_BLK_F_BLK_SIZE) | BIT(VMM_VIRTIO_BLK_F_FLUSH) |                            \
	 BIT(VMM_VIRTIO_BLK_F_TOPOLOGY) | BIT(VMM_VIRTIO_BLK_F_MQ) |                               \
	 BIT(VMM_VIRTIO_BLK_F_DISCARD) | BIT(VMM_VIRTIO_BLK_F_WRITE_ZEROES) |                      \
	 BIT(VMM_VIRTIO_F_RING_INDIRECT_DESC) | BIT(VMM_VIRTIO_F_RING_EVENT_IDX) |                 \
	 BIT(VMM_VIRTIO_F_VERSION_1))
#define PROTOCOL                                                                                   \
	(BIT(VMM_VHU_PROTOCOL_F_MQ) | BIT(VMM_VHU_PROTOCOL_F_REPLY_ACK) |                          \
	 BIT(VMM_VHU_PROTOCOL_F_CONFIG) | BIT(VMM_VHU_PROTOCOL_F_INFLIGHT))

struct vmm_virtio_blk {
	struct vmm_virtio_pci vp;  /* its lock guards everything below */
	struct vmm_vhost_dev link; /* the backend */
	uint32_t max_queues;
	bool read_only;

	uint64_t backend_features;
	bool backend_known;
	uint32_t backend_queues;                    /* GET_QUEUE_NUM, 0 without PROTOCOL_F_MQ */
	uint8_t config[VMM_VIRTIO_BLK_CONFIG_SIZE]; /* the backend's, num_queues ours */
	uint8_t probed[VMM_VIRTIO_BLK_CONFIG_SIZE]; /* the connecting backend's (the thread) */
	uint32_t adv_queues;                        /* num_queues, fixed at each reset */
	bool started;                               /* DRIVER_OK and the rings checked */
	bool backend_running;                       /* the backend has the rings */
	uint64_t acked;
	/* The backend's inflight area, held from DRIVER_OK to the guest's
	 * reset, across backends; fd -1 while there is none. */
	struct vmm_vhu_inflight inflight;
	struct vmm_disk_stats st;
};

static bool
has(uint64_t f, unsigned int bit)
{
	return f & BIT(bit);
}

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint64_t
get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

uint64_t
vmm_virtio_blk_offer(uint64_t backend, bool backend_known, bool read_only, uint32_t queues)
{
	uint64_t f = backend_known ? backend & BACKEND_FEATURES : BIT(VMM_VIRTIO_F_VERSION_1);

	if (read_only)
		f |= BIT(VMM_VIRTIO_BLK_F_RO);
	/* 5.2.3: num_queues is valid with MQ; one queue needs none. */
	if (queues <= 1)
		f &= ~BIT(VMM_VIRTIO_BLK_F_MQ);
	else if (backend_known)
		f |= BIT(VMM_VIRTIO_BLK_F_MQ);
	return f;
}

uint32_t
vmm_virtio_blk_queues(uint32_t max_queues, uint32_t backend_queue_num, uint64_t backend_features,
		      const uint8_t *config)
{
	uint32_t q = max_queues;

	if (backend_queue_num != 0 && backend_queue_num < q)
		q = backend_queue_num;
	if (!has(backend_features, VMM_VIRTIO_BLK_F_MQ))
		q = 1;
	else if (config != NULL && get16(config + VMM_VIRTIO_BLK_CFG_NUM_QUEUES) != 0 &&
		 get16(config + VMM_VIRTIO_BLK_CFG_NUM_QUEUES) < q)
		q = get16(config + VMM_VIRTIO_BLK_CFG_NUM_QUEUES);
	return q == 0 ? 1 : q;
}

/* ---- the backend, all under the lock ---- */

/* Queues the guest may use: num_queues with MQ, else the first. */
static unsigned int
usable_queues(const struct vmm_virtio_blk *b)
{
	return has(b->acked, VMM_VIRTIO_BLK_F_MQ) ? b->adv_queues : 1;
}

/* Hand the rings to the backend; resume: continue from the guest's used
 * index (a new backend after the old one went away). */
static int
backend_start(struct vmm_virtio_blk *b, bool resume)
{
	struct vmm_vhost_dev *d = &b->link;
	unsigned int nq = usable_queues(b);
	int rc = 0;

	if (!vmm_vhost_dev_usable(d))
		return -EPIPE;
	/* "Inflight I/O tracking": the area first, as QEMU sends it; the
	 * same area to every backend until the guest resets the device, so
	 * a new backend completes what the old one had taken. */
	if (d->vhu->protocol & BIT(VMM_VHU_PROTOCOL_F_INFLIGHT)) {
		if (b->inflight.fd < 0)
			rc = vmm_vhu_get_inflight_fd(d->vhu, (uint16_t)b->vp.conf.nqueues,
						     VMM_VIRTIO_BLK_QUEUE_SIZE, &b->inflight);
		if (rc == 0)
			rc = vmm_vhu_set_inflight_fd(d->vhu, &b->inflight);
		if (rc == 0 && resume)
			b->st.inflight_handovers++;
		if (rc < 0) {
			vmm_vhost_dev_failed(d, rc, "inflight area");
			return rc;
		}
	}
	rc = vmm_vhost_dev_set_features_mem(d, b->acked & b->backend_features);
	for (unsigned int q = 0; rc == 0 && q < nq; q++) {
		if (!b->vp.q[q].enabled)
			continue;
		rc = vmm_vhost_dev_start_ring(d, q, resume);
		/* Rings start disabled with protocol features; without them
		 * the backend enables all ("Ring states"). */
		if (rc == 0 && vmm_vhost_dev_has_protocol(d))
			rc = vmm_vhu_set_vring_enable(d->vhu, q, true);
	}
	if (rc < 0) {
		vmm_vhost_dev_failed(d, rc, resume ? "restoring the rings" : "starting the rings");
		return rc;
	}
	b->backend_running = true;
	return 0;
}

static void
backend_stop(struct vmm_virtio_blk *b)
{
	vmm_vhost_dev_stop_rings(&b->link);
	b->backend_running = false;
}

/* The guest's negotiated features and queues against a backend that came
 * back. */
static bool
backend_compatible(const struct vmm_virtio_blk *b, const struct vmm_vhu *v, uint32_t queues)
{
	/* RO may be the shim's own: the backend need not offer it. */
	uint64_t need = b->acked & BACKEND_FEATURES & ~BIT(VMM_VIRTIO_BLK_F_RO);

	if ((need & ~v->features) != 0)
		return false;
	return usable_queues(b) <= queues;
}

/* The thread, not under the lock: the backend's configuration space. */
static int
blk_probe(void *dev, struct vmm_vhu *v, char *err, size_t errlen)
{
	struct vmm_virtio_blk *b = dev;
	int rc;

	memset(b->probed, 0, sizeof(b->probed));
	rc = (v->protocol & BIT(VMM_VHU_PROTOCOL_F_CONFIG))
		     ? vmm_vhu_get_config(v, 0, b->probed, VMM_VIRTIO_BLK_CONFIG_SIZE)
		     : -ENOTSUP;
	if (rc < 0)
		snprintf(err, errlen, "GET_CONFIG: %s",
			 rc == -ENOTSUP ? "the backend has no PROTOCOL_F_CONFIG"
					: (v->why[0] ? v->why : strerror(-rc)));
	return rc;
}

static void
blk_attached(void *dev)
{
	struct vmm_virtio_blk *b = dev;
	struct vmm_vhu *v = b->link.vhu;
	uint64_t old_capacity = get64(b->config + VMM_VIRTIO_BLK_CFG_CAPACITY);
	const uint8_t *cfg = b->probed;
	uint32_t queues;

	queues = vmm_virtio_blk_queues(
		b->max_queues, (v->protocol & BIT(VMM_VHU_PROTOCOL_F_MQ)) ? v->queue_num : 0,
		v->features, cfg);
	nv_info("%s: backend %s connected (features 0x%llx, %llu sectors, %u queues)", b->link.name,
		b->link.socket, (unsigned long long)v->features,
		(unsigned long long)get64(cfg + VMM_VIRTIO_BLK_CFG_CAPACITY), queues);
	if (b->started && !backend_compatible(b, v, queues)) {
		nv_warn("%s: the backend lacks features or queues the guest negotiated; the "
			"device needs a reset",
			b->link.name);
		b->st.queue_errors++;
		vmm_virtio_pci_needs_reset(&b->vp);
	}
	/* What the next reset offers and the configuration the guest reads
	 * from now on are the new backend's. */
	b->backend_features = v->features;
	b->backend_known = true;
	b->backend_queues = (v->protocol & BIT(VMM_VHU_PROTOCOL_F_MQ)) ? v->queue_num : 0;
	memcpy(b->config, cfg, VMM_VIRTIO_BLK_CONFIG_SIZE);
	if (b->vp.status & VMM_VIRTIO_S_NEEDS_RESET)
		return;
	if (b->started)
		backend_start(b, true);
	/* 5.2.4: a new capacity is a configuration change (for a driver
	 * that has started reading it). */
	if (get64(cfg + VMM_VIRTIO_BLK_CFG_CAPACITY) != old_capacity && b->vp.status != 0)
		vmm_virtio_pci_config_changed(&b->vp);
}

static void
blk_detached(void *dev)
{
	struct vmm_virtio_blk *b = dev;

	b->backend_running = false;
	nv_warn("%s: backend %s gone; requests wait for it to come back", b->link.name,
		b->link.socket);
}

static const struct vmm_vhost_dev_ops blk_link_ops = {
	.probe = blk_probe,
	.attached = blk_attached,
	.detached = blk_detached,
};

/* ---- the device, called by the transport under its lock ---- */

static uint64_t
blk_device_features(void *dev)
{
	struct vmm_virtio_blk *b = dev;

	b->adv_queues = b->backend_known ? vmm_virtio_blk_queues(b->max_queues, b->backend_queues,
								 b->backend_features, b->config)
					 : 1;
	return vmm_virtio_blk_offer(b->backend_features, b->backend_known, b->read_only,
				    b->adv_queues);
}

static int
blk_start(void *dev)
{
	struct vmm_virtio_blk *b = dev;
	uint8_t *d, *a, *u;

	b->acked = b->vp.driver_features;
	for (unsigned int q = 0; q < b->vp.conf.nqueues; q++) {
		if (!b->vp.q[q].enabled)
			continue;
		if (q >= usable_queues(b)) {
			nv_warn("%s: queue %u enabled past num_queues %u", b->link.name, q,
				usable_queues(b));
			b->st.queue_errors++;
			return -EINVAL;
		}
		if (!vmm_vhost_dev_ring_hvas(&b->link, q, &d, &a, &u)) {
			nv_warn("%s: queue %u: rings outside guest memory or misaligned",
				b->link.name, q);
			b->st.queue_errors++;
			return -EFAULT;
		}
	}
	b->started = true;
	if (vmm_vhost_dev_usable(&b->link)) {
		if (backend_compatible(b, b->link.vhu, b->adv_queues))
			backend_start(b, false);
		else
			vmm_vhost_dev_failed(&b->link, -EPROTO, "the backend changed its features");
	}
	return 0;
}

static void
blk_reset(void *dev)
{
	struct vmm_virtio_blk *b = dev;

	if (b->started)
		backend_stop(b);
	b->started = false;
	b->acked = 0;
	/* 2.4: nothing is in flight after a reset; a fresh area next time. */
	if (b->inflight.fd >= 0)
		close(b->inflight.fd);
	b->inflight.fd = -1;
}

static void
blk_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	struct vmm_virtio_blk *b = dev;
	uint8_t img[VMM_VIRTIO_BLK_CONFIG_SIZE];

	/* 5.2.4: the backend's, with the queues this device hands over. */
	memcpy(img, b->config, sizeof(img));
	img[VMM_VIRTIO_BLK_CFG_NUM_QUEUES] = (uint8_t)b->adv_queues;
	img[VMM_VIRTIO_BLK_CFG_NUM_QUEUES + 1] = (uint8_t)(b->adv_queues >> 8);
	for (uint32_t i = 0; i < len; i++)
		data[i] = off + i < sizeof(img) ? img[off + i] : 0;
}

static const struct vmm_virtio_dev_ops blk_ops = {
	.device_features = blk_device_features,
	.start = blk_start,
	.reset = blk_reset,
	.config_read = blk_config_read,
};

int
vmm_virtio_blk_create(const struct vmm_virtio_blk_conf *conf, struct vmm_virtio_blk **out)
{
	struct vmm_virtio_pci_conf pc = {
		.device_id = 2,
		.pci_class = 0x018000, /* mass storage, other */
		.config_size = VMM_VIRTIO_BLK_CONFIG_SIZE,
	};
	struct vmm_vhost_dev_conf lc = {
		.name = conf->name ? conf->name : "disk",
		.socket = conf->socket,
		.protocol = PROTOCOL,
		.timeout_ms = conf->connect_timeout_ms,
		.mem = conf->mem,
	};
	struct vmm_virtio_blk *b;
	int rc;

	if (conf->max_queues == 0 || conf->max_queues > VMM_DISK_MAX_QUEUES ||
	    conf->socket == NULL || conf->mem == NULL || conf->efd == NULL)
		return -EINVAL;
	b = calloc(1, sizeof(*b));
	if (b == NULL)
		return -ENOMEM;
	b->max_queues = conf->max_queues;
	b->read_only = conf->read_only;
	b->adv_queues = 1;
	b->inflight.fd = -1;
	rc = vmm_vhost_dev_init(&b->link, &lc, &b->vp, &blk_link_ops, b);
	if (rc < 0)
		goto out_free;
	pc.nqueues = b->max_queues;
	pc.msix_vectors = b->max_queues + 1; /* a vector per queue and one for config */
	for (unsigned int q = 0; q < b->max_queues; q++) {
		pc.queue_max[q] = VMM_VIRTIO_BLK_QUEUE_SIZE;
		pc.ioeventfd_mask |= 1u << q;
	}
	rc = vmm_virtio_pci_init(&b->vp, &pc, &blk_ops, b, conf->efd, conf->ioeventfd_any_len);
	if (rc < 0)
		goto out_link;
	/* A disk without its capacity is of little use to a booting guest:
	 * try once now; the thread takes over if nobody answers. */
	vmm_vhost_dev_connect_now(&b->link);
	rc = vmm_vhost_dev_start(&b->link);
	if (rc < 0) {
		vmm_vhost_dev_fini(&b->link);
		vmm_virtio_pci_fini(&b->vp);
		goto out_free;
	}
	*out = b;
	return 0;

out_link:
	vmm_vhost_dev_fini(&b->link);
out_free:
	free(b);
	return rc;
}

struct vmm_pci_func *
vmm_virtio_blk_func(struct vmm_virtio_blk *b)
{
	return &b->vp.func;
}

void
vmm_virtio_blk_destroy(struct vmm_virtio_blk *b)
{
	struct vmm_disk_stats st;

	if (b == NULL)
		return;
	vmm_virtio_blk_get_stats(b, &st);
	nv_info("%s: %s, %u of %u queues, %llu sectors, features 0x%llx, %llu connects, %llu "
		"disconnects, %llu inflight handovers, %llu backend errors, %llu queue errors, "
		"%llu kicks exited",
		b->link.name, st.backend_connected ? "connected" : "no backend", st.queues,
		st.max_queues, (unsigned long long)st.capacity, (unsigned long long)st.features,
		(unsigned long long)st.connects, (unsigned long long)st.disconnects,
		(unsigned long long)st.inflight_handovers, (unsigned long long)st.backend_errors,
		(unsigned long long)st.queue_errors, (unsigned long long)st.kicks_exited);
	vmm_vhost_dev_fini(&b->link);
	vmm_virtio_pci_fini(&b->vp);
	if (b->inflight.fd >= 0)
		close(b->inflight.fd);
	free(b);
}

void
vmm_virtio_blk_get_stats(struct vmm_virtio_blk *b, struct vmm_disk_stats *st)
{
	vmm_virtio_pci_lock(&b->vp);
	*st = b->st;
	st->backend_connected = vmm_vhost_dev_usable(&b->link);
	st->driver_ok = b->started;
	st->backend_running = b->backend_running;
	st->status = b->vp.status;
	st->queues = 0;
	for (unsigned int q = 0; q < b->vp.conf.nqueues; q++)
		st->queues += b->link.q_started[q] ? 1 : 0;
	st->max_queues = b->adv_queues;
	st->capacity = get64(b->config + VMM_VIRTIO_BLK_CFG_CAPACITY);
	st->offered = b->vp.device_features;
	st->features = b->acked;
	st->backend_features = b->backend_features;
	st->inflight_area = b->inflight.fd >= 0;
	st->connects = b->link.connects;
	st->disconnects = b->link.disconnects;
	st->backend_errors = b->link.backend_errors;
	st->kicks_exited = 0;
	for (unsigned int q = 0; q < b->vp.conf.nqueues; q++)
		st->kicks_exited += b->vp.q[q].kicks_here;
	vmm_virtio_pci_unlock(&b->vp);
}
