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
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "nv_log.h"
#include "vhost_user.h"
#include "virtio_pci.h"
#include "virtq.h"

#define BIT(n)             (1ull << (n))
#define BACKOFF_MIN_MS     100
#define BACKOFF_MAX_MS     1000
#define IDLE_POLL_MS       1000
#define DEFAULT_TIMEOUT_MS 2000

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
	struct vmm_virtio_pci vp; /* its lock guards everything below */
	char name[16];
	char socket[108];
	uint32_t max_queues;
	bool read_only;
	struct vmm_mem *mem;
	int timeout_ms;

	struct vmm_vhu *vhu; /* the backend, NULL while there is none */
	bool vhu_broken;     /* a request failed; the thread closes it */
	uint64_t backend_features;
	bool backend_known;
	uint32_t backend_queues;                    /* GET_QUEUE_NUM, 0 without PROTOCOL_F_MQ */
	uint8_t config[VMM_VIRTIO_BLK_CONFIG_SIZE]; /* the backend's, num_queues ours */
	uint32_t adv_queues;                        /* num_queues, fixed at each reset */
	bool started;                               /* DRIVER_OK and the rings checked */
	bool backend_running;                       /* the backend has the rings */
	bool q_started[VMM_VIRTIO_MAX_QUEUES];
	uint64_t acked;
	/* The backend's inflight area, held from DRIVER_OK to the guest's
	 * reset, across backends; fd -1 while there is none. */
	struct vmm_vhu_inflight inflight;
	struct vmm_disk_stats st;
	struct nv_ratelimit rl;

	pthread_t thread;
	bool thread_started;
	bool stop;
	int wake_fd;
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

static void
backend_failed(struct vmm_virtio_blk *b, int rc, const char *what)
{
	if (b->vhu_broken)
		return;
	b->vhu_broken = true;
	if (rc == -EPROTO || rc == -EIO)
		b->st.backend_errors++;
	if (nv_ratelimit_ok(&b->rl, 5, 10000))
		nv_warn("%s: backend %s: %s: %s", b->name, b->socket, what,
			b->vhu != NULL && b->vhu->why[0] ? b->vhu->why : strerror(-rc));
	if (write(b->wake_fd, &(uint64_t){ 1 }, sizeof(uint64_t)) < 0)
		return; /* the thread polls anyway */
}

/* Host addresses of queue q's rings, whole rings inside guest RAM. */
static bool
ring_hvas(const struct vmm_virtio_blk *b, unsigned int q, uint8_t **desc, uint8_t **avail,
	  uint8_t **used)
{
	const struct vmm_virtio_queue *vq = &b->vp.q[q];

	*desc = vmm_mem_ptr(b->mem, vq->desc, 16ull * vq->size);
	*avail = vmm_mem_ptr(b->mem, vq->driver, 6 + 2ull * vq->size);
	*used = vmm_mem_ptr(b->mem, vq->device, 6 + 8ull * vq->size);
	/* 2.7.2 alignment, as the backend will assume it. */
	return *desc != NULL && *avail != NULL && *used != NULL && (vq->desc & 15) == 0 &&
	       (vq->driver & 1) == 0 && (vq->device & 3) == 0;
}

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
	struct vmm_vhu_region r[VMM_MEM_MAX_REGIONS];
	struct vmm_vhu *v = b->vhu;
	uint64_t features;
	unsigned int nq = usable_queues(b);
	int rc;

	if (v == NULL || b->vhu_broken)
		return -EPIPE;
	/* "Inflight I/O tracking": the area first, as QEMU sends it; the
	 * same area to every backend until the guest resets the device, so
	 * a new backend completes what the old one had taken. */
	rc = 0;
	if (v->protocol & BIT(VMM_VHU_PROTOCOL_F_INFLIGHT)) {
		if (b->inflight.fd < 0)
			rc = vmm_vhu_get_inflight_fd(v, (uint16_t)b->vp.conf.nqueues,
						     VMM_VIRTIO_BLK_QUEUE_SIZE, &b->inflight);
		if (rc == 0)
			rc = vmm_vhu_set_inflight_fd(v, &b->inflight);
		if (rc == 0 && resume)
			b->st.inflight_handovers++;
		if (rc < 0) {
			backend_failed(b, rc, "inflight area");
			return rc;
		}
	}
	features = b->acked & b->backend_features;
	if (has(b->backend_features, VMM_VHU_F_PROTOCOL_FEATURES))
		features |= BIT(VMM_VHU_F_PROTOCOL_FEATURES);
	rc = vmm_vhu_set_features(v, features);
	for (unsigned int i = 0; rc == 0 && i < b->mem->nregions; i++)
		r[i] = (struct vmm_vhu_region){
			.gpa = b->mem->regions[i].gpa,
			.size = b->mem->regions[i].size,
			.uaddr = (uintptr_t)b->mem->regions[i].hva,
			.mmap_offset = b->mem->regions[i].fd_offset,
		};
	if (rc == 0)
		rc = vmm_vhu_set_mem_table(v, r, b->mem->nregions, b->mem->fd);
	for (unsigned int q = 0; rc == 0 && q < nq; q++) {
		const struct vmm_virtio_queue *vq = &b->vp.q[q];
		uint8_t *desc, *avail, *used;
		unsigned int base = 0;

		if (!vq->enabled)
			continue;
		if (!ring_hvas(b, q, &desc, &avail, &used))
			return -EFAULT; /* checked at DRIVER_OK; cannot change since */
		if (resume)
			base = __atomic_load_n((uint16_t *)(used + 2), __ATOMIC_ACQUIRE);
		rc = vmm_vhu_set_vring_num(v, q, vq->size);
		if (rc == 0)
			rc = vmm_vhu_set_vring_addr(v, q, (uintptr_t)desc, (uintptr_t)used,
						    (uintptr_t)avail);
		if (rc == 0)
			rc = vmm_vhu_set_vring_base(v, q, base);
		/* The call fd before the kick fd: a backend may start on the
		 * kick and complete requests the guest posted while it was
		 * away (libvhost-user does), and it needs somewhere to say so. */
		if (rc == 0)
			rc = vmm_vhu_set_vring_call(v, q, vq->call_fd);
		if (rc == 0)
			rc = vmm_vhu_set_vring_kick(v, q, vq->kick_fd);
		/* Rings start disabled with protocol features; without them
		 * the backend enables all ("Ring states"). */
		if (rc == 0 && has(b->backend_features, VMM_VHU_F_PROTOCOL_FEATURES))
			rc = vmm_vhu_set_vring_enable(v, q, true);
		if (rc == 0)
			b->q_started[q] = true;
	}
	if (rc < 0) {
		backend_failed(b, rc, resume ? "restoring the rings" : "starting the rings");
		return rc;
	}
	b->backend_running = true;
	return 0;
}

/* Stop the rings (GET_VRING_BASE stops a ring, "Ring states"). */
static void
backend_stop(struct vmm_virtio_blk *b)
{
	int rc = 0;

	for (unsigned int q = 0; q < b->vp.conf.nqueues; q++) {
		unsigned int base;

		if (!b->q_started[q])
			continue;
		b->q_started[q] = false;
		if (rc < 0 || b->vhu == NULL || b->vhu_broken)
			continue;
		if (has(b->backend_features, VMM_VHU_F_PROTOCOL_FEATURES))
			rc = vmm_vhu_set_vring_enable(b->vhu, q, false);
		if (rc == 0)
			rc = vmm_vhu_get_vring_base(b->vhu, q, &base);
	}
	if (rc < 0)
		backend_failed(b, rc, "stopping the rings");
	b->backend_running = false;
}

/* Forget the backend (the thread only: it alone closes the socket). */
static void
drop_backend(struct vmm_virtio_blk *b)
{
	if (b->vhu == NULL)
		return;
	vmm_vhu_close(b->vhu);
	b->vhu = NULL;
	b->vhu_broken = false;
	b->backend_running = false;
	for (unsigned int q = 0; q < b->vp.conf.nqueues; q++)
		b->q_started[q] = false;
	b->st.disconnects++;
	nv_warn("%s: backend %s gone; requests wait for it to come back", b->name, b->socket);
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

/* Read the backend's configuration space; 0 or -errno (connection). */
static int
read_config(struct vmm_vhu *v, uint8_t *cfg)
{
	memset(cfg, 0, VMM_VIRTIO_BLK_CONFIG_SIZE);
	if (!(v->protocol & BIT(VMM_VHU_PROTOCOL_F_CONFIG)))
		return -ENOTSUP;
	return vmm_vhu_get_config(v, 0, cfg, VMM_VIRTIO_BLK_CONFIG_SIZE);
}

static void
attach_backend(struct vmm_virtio_blk *b, struct vmm_vhu *v, const uint8_t *cfg)
{
	uint64_t old_capacity = get64(b->config + VMM_VIRTIO_BLK_CFG_CAPACITY);
	uint32_t queues;

	b->vhu = v;
	b->vhu_broken = false;
	b->st.connects++;
	queues = vmm_virtio_blk_queues(
		b->max_queues, (v->protocol & BIT(VMM_VHU_PROTOCOL_F_MQ)) ? v->queue_num : 0,
		v->features, cfg);
	nv_info("%s: backend %s connected (features 0x%llx, %llu sectors, %u queues)", b->name,
		b->socket, (unsigned long long)v->features,
		(unsigned long long)get64(cfg + VMM_VIRTIO_BLK_CFG_CAPACITY), queues);
	if (b->started && !backend_compatible(b, v, queues)) {
		nv_warn("%s: the backend lacks features or queues the guest negotiated; the "
			"device needs a reset",
			b->name);
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

/* An idle connection that is readable is closed or talks out of turn. */
static void
check_idle(struct vmm_virtio_blk *b)
{
	struct pollfd p = { .fd = b->vhu->fd, .events = POLLIN };
	char c;

	if (poll(&p, 1, 0) != 1)
		return;
	if (p.revents & (POLLHUP | POLLERR)) {
		backend_failed(b, -EPIPE, "connection");
		return;
	}
	if (recv(b->vhu->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0) {
		backend_failed(b, -EPIPE, "connection closed");
	} else if (p.revents & POLLIN) {
		snprintf(b->vhu->why, sizeof(b->vhu->why), "a message nobody asked for");
		backend_failed(b, -EPROTO, "protocol");
	}
}

static void
wait_wake(struct vmm_virtio_blk *b, int fd, int ms, short *fd_revents)
{
	struct pollfd p[2] = {
		{ .fd = b->wake_fd, .events = POLLIN },
		{ .fd = fd, .events = POLLIN },
	};
	uint64_t v;

	*fd_revents = 0;
	if (poll(p, fd >= 0 ? 2 : 1, ms) <= 0)
		return;
	if ((p[0].revents & POLLIN) && read(b->wake_fd, &v, sizeof(v)) < 0)
		v = 0;
	if (fd >= 0)
		*fd_revents = p[1].revents;
}

/* Connect and read the configuration, not under the lock (the handshake
 * may take a timeout). 0 with *out, or -errno with err. */
static int
connect_backend(struct vmm_virtio_blk *b, struct vmm_vhu **out, uint8_t *cfg, char *err,
		size_t errlen)
{
	struct vmm_vhu *v = NULL;
	int rc;

	rc = vmm_vhu_connect_proto(b->socket, b->timeout_ms, PROTOCOL, &v, err, errlen);
	if (rc < 0)
		return rc;
	rc = read_config(v, cfg);
	if (rc < 0) {
		snprintf(err, errlen, "GET_CONFIG: %s",
			 rc == -ENOTSUP ? "the backend has no PROTOCOL_F_CONFIG"
					: (v->why[0] ? v->why : strerror(-rc)));
		vmm_vhu_close(v);
		return rc;
	}
	*out = v;
	return 0;
}

static void *
blk_thread(void *arg)
{
	struct vmm_virtio_blk *b = arg;
	int backoff = BACKOFF_MIN_MS;
	bool told = false;
	char tname[16];

	snprintf(tname, sizeof(tname), "nv-%.12s", b->name);
	pthread_setname_np(pthread_self(), tname);
	for (;;) {
		uint8_t cfg[VMM_VIRTIO_BLK_CONFIG_SIZE];
		struct vmm_vhu *v = NULL;
		char err[192];
		short rev;
		int fd = -1, rc;

		vmm_virtio_pci_lock(&b->vp);
		if (b->stop) {
			vmm_virtio_pci_unlock(&b->vp);
			break;
		}
		if (b->vhu != NULL && b->vhu_broken)
			drop_backend(b);
		if (b->vhu != NULL)
			fd = b->vhu->fd;
		vmm_virtio_pci_unlock(&b->vp);

		if (fd >= 0) {
			wait_wake(b, fd, IDLE_POLL_MS, &rev);
			if (rev != 0) {
				vmm_virtio_pci_lock(&b->vp);
				if (b->vhu != NULL && b->vhu->fd == fd && !b->vhu_broken)
					check_idle(b);
				vmm_virtio_pci_unlock(&b->vp);
			}
			continue;
		}
		rc = connect_backend(b, &v, cfg, err, sizeof(err));
		if (rc == 0) {
			vmm_virtio_pci_lock(&b->vp);
			if (b->stop)
				vmm_vhu_close(v);
			else
				attach_backend(b, v, cfg);
			vmm_virtio_pci_unlock(&b->vp);
			backoff = BACKOFF_MIN_MS;
			told = false;
			continue;
		}
		if (rc == -EPROTO || rc == -ENOTSUP)
			b->st.backend_errors++;
		if (!told)
			nv_info("%s: no backend yet (%s); retrying in the background", b->name,
				err);
		told = true;
		wait_wake(b, -1, backoff, &rev);
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
	}
	return NULL;
}

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
			nv_warn("%s: queue %u enabled past num_queues %u", b->name, q,
				usable_queues(b));
			b->st.queue_errors++;
			return -EINVAL;
		}
		if (!ring_hvas(b, q, &d, &a, &u)) {
			nv_warn("%s: queue %u: rings outside guest memory or misaligned", b->name,
				q);
			b->st.queue_errors++;
			return -EFAULT;
		}
	}
	b->started = true;
	if (b->vhu != NULL && !b->vhu_broken) {
		if (backend_compatible(b, b->vhu, b->adv_queues))
			backend_start(b, false);
		else
			backend_failed(b, -EPROTO, "the backend changed its features");
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
	uint8_t cfg[VMM_VIRTIO_BLK_CONFIG_SIZE];
	struct vmm_virtio_blk *b;
	struct vmm_vhu *v = NULL;
	char err[192];
	int rc;

	if (conf->max_queues == 0 || conf->max_queues > VMM_DISK_MAX_QUEUES ||
	    conf->socket == NULL || strlen(conf->socket) >= sizeof(b->socket) ||
	    conf->mem == NULL || conf->efd == NULL)
		return -EINVAL;
	b = calloc(1, sizeof(*b));
	if (b == NULL)
		return -ENOMEM;
	snprintf(b->name, sizeof(b->name), "%s", conf->name ? conf->name : "disk");
	snprintf(b->socket, sizeof(b->socket), "%s", conf->socket);
	b->max_queues = conf->max_queues;
	b->read_only = conf->read_only;
	b->mem = conf->mem;
	b->adv_queues = 1;
	b->inflight.fd = -1;
	b->timeout_ms =
		conf->connect_timeout_ms > 0 ? conf->connect_timeout_ms : DEFAULT_TIMEOUT_MS;
	b->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (b->wake_fd < 0) {
		rc = -errno;
		free(b);
		return rc;
	}
	pc.nqueues = b->max_queues;
	pc.msix_vectors = b->max_queues + 1; /* a vector per queue and one for config */
	for (unsigned int q = 0; q < b->max_queues; q++) {
		pc.queue_max[q] = VMM_VIRTIO_BLK_QUEUE_SIZE;
		pc.ioeventfd_mask |= 1u << q;
	}
	rc = vmm_virtio_pci_init(&b->vp, &pc, &blk_ops, b, conf->efd, conf->ioeventfd_any_len);
	if (rc < 0)
		goto out_free;
	/* A disk without its capacity is of little use to a booting guest:
	 * try once now; the thread takes over if nobody answers. */
	if (connect_backend(b, &v, cfg, err, sizeof(err)) == 0) {
		vmm_virtio_pci_lock(&b->vp);
		attach_backend(b, v, cfg);
		vmm_virtio_pci_unlock(&b->vp);
	}
	rc = pthread_create(&b->thread, NULL, blk_thread, b);
	if (rc != 0) {
		rc = -rc;
		vmm_vhu_close(b->vhu);
		vmm_virtio_pci_fini(&b->vp);
		goto out_free;
	}
	b->thread_started = true;
	*out = b;
	return 0;

out_free:
	close(b->wake_fd);
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
		"%llu "
		"kicks exited",
		b->name, st.backend_connected ? "connected" : "no backend", st.queues,
		st.max_queues, (unsigned long long)st.capacity, (unsigned long long)st.features,
		(unsigned long long)st.connects, (unsigned long long)st.disconnects,
		(unsigned long long)st.inflight_handovers, (unsigned long long)st.backend_errors,
		(unsigned long long)st.queue_errors, (unsigned long long)st.kicks_exited);
	if (b->thread_started) {
		vmm_virtio_pci_lock(&b->vp);
		b->stop = true;
		vmm_virtio_pci_unlock(&b->vp);
		if (write(b->wake_fd, &(uint64_t){ 1 }, sizeof(uint64_t)) < 0)
			nv_warn("%s: cannot wake the thread", b->name);
		pthread_join(b->thread, NULL);
	}
	/* Closing the socket is the backend's signal that the device is gone. */
	vmm_vhu_close(b->vhu);
	b->vhu = NULL;
	vmm_virtio_pci_fini(&b->vp);
	if (b->inflight.fd >= 0)
		close(b->inflight.fd);
	close(b->wake_fd);
	free(b);
}

void
vmm_virtio_blk_get_stats(struct vmm_virtio_blk *b, struct vmm_disk_stats *st)
{
	vmm_virtio_pci_lock(&b->vp);
	*st = b->st;
	st->backend_connected = b->vhu != NULL && !b->vhu_broken;
	st->driver_ok = b->started;
	st->backend_running = b->backend_running;
	st->status = b->vp.status;
	st->queues = 0;
	for (unsigned int q = 0; q < b->vp.conf.nqueues; q++)
		st->queues += b->q_started[q] ? 1 : 0;
	st->max_queues = b->adv_queues;
	st->capacity = get64(b->config + VMM_VIRTIO_BLK_CFG_CAPACITY);
	st->offered = b->vp.device_features;
	st->features = b->acked;
	st->backend_features = b->backend_features;
	st->inflight_area = b->inflight.fd >= 0;
	st->kicks_exited = 0;
	for (unsigned int q = 0; q < b->vp.conf.nqueues; q++)
		st->kicks_exited += b->vp.q[q].kicks_here;
	vmm_virtio_pci_unlock(&b->vp);
}
