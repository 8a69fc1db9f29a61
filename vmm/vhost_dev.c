/* SPDX-License-Identifier: MIT */
/*
 * The vhost-user plumbing shared by the devices a backend serves
 * (vhost_dev.h). vhost-user.rst: "Ring states", the front-end message
 * types; virtio 1.2, 2.7.2 for ring alignment.
 */
#define NV_LOG_COMPONENT "nicvisor.vmm.vhost-dev"

#include "vhost_dev.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

/* A backend that went away is most often restarting (an upgrade, a crash
 * its supervisor restarts): looked for every FAST_RETRY_MS for the first
 * FAST_RETRIES attempts (5 s), then less and less often. A refused
 * connect() to a unix socket costs the host next to nothing. */
#define FAST_RETRY_MS      20
#define FAST_RETRIES       250
#define BACKOFF_MIN_MS     100
#define BACKOFF_MAX_MS     1000
#define IDLE_POLL_MS       1000
#define DEFAULT_TIMEOUT_MS 2000

int
vmm_vhost_dev_init(struct vmm_vhost_dev *d, const struct vmm_vhost_dev_conf *conf,
		   struct vmm_virtio_pci *vp, const struct vmm_vhost_dev_ops *ops, void *dev)
{
	if (conf->socket == NULL || strlen(conf->socket) >= sizeof(d->socket) ||
	    conf->mem == NULL || ops == NULL || ops->attached == NULL)
		return -EINVAL;
	memset(d, 0, sizeof(*d));
	d->vp = vp;
	d->ops = ops;
	d->dev = dev;
	snprintf(d->name, sizeof(d->name), "%s", conf->name ? conf->name : "vhost");
	snprintf(d->socket, sizeof(d->socket), "%s", conf->socket);
	d->protocol = conf->protocol;
	d->timeout_ms = conf->timeout_ms > 0 ? conf->timeout_ms : DEFAULT_TIMEOUT_MS;
	d->mem = conf->mem;
	d->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return d->wake_fd < 0 ? -errno : 0;
}

void
vmm_vhost_dev_failed(struct vmm_vhost_dev *d, int rc, const char *what)
{
	if (d->broken)
		return;
	d->broken = true;
	if (rc == -EPROTO || rc == -EIO)
		d->backend_errors++;
	if (nv_ratelimit_ok(&d->rl, 5, 10000))
		nv_warn("%s: backend %s: %s: %s", d->name, d->socket, what,
			d->vhu != NULL && d->vhu->why[0] ? d->vhu->why : strerror(-rc));
	if (write(d->wake_fd, &(uint64_t){ 1 }, sizeof(uint64_t)) < 0)
		return; /* the thread polls anyway */
}

bool
vmm_vhost_dev_usable(const struct vmm_vhost_dev *d)
{
	return d->vhu != NULL && !d->broken;
}

bool
vmm_vhost_dev_has_protocol(const struct vmm_vhost_dev *d)
{
	return d->vhu != NULL && (d->vhu->features & (1ull << VMM_VHU_F_PROTOCOL_FEATURES));
}

bool
vmm_vhost_dev_ring_hvas(const struct vmm_vhost_dev *d, unsigned int q, uint8_t **desc,
			uint8_t **avail, uint8_t **used)
{
	const struct vmm_virtio_queue *vq = &d->vp->q[q];

	*desc = vmm_mem_ptr(d->mem, vq->desc, 16ull * vq->size);
	*avail = vmm_mem_ptr(d->mem, vq->driver, 6 + 2ull * vq->size);
	*used = vmm_mem_ptr(d->mem, vq->device, 6 + 8ull * vq->size);
	return *desc != NULL && *avail != NULL && *used != NULL && (vq->desc & 15) == 0 &&
	       (vq->driver & 1) == 0 && (vq->device & 3) == 0;
}

int
vmm_vhost_dev_set_features_mem(struct vmm_vhost_dev *d, uint64_t features)
{
	struct vmm_vhu_region r[VMM_MEM_MAX_REGIONS];
	int rc;

	if (!vmm_vhost_dev_usable(d))
		return -EPIPE;
	if (vmm_vhost_dev_has_protocol(d))
		features |= 1ull << VMM_VHU_F_PROTOCOL_FEATURES;
	rc = vmm_vhu_set_features(d->vhu, features);
	if (rc < 0)
		return rc;
	for (unsigned int i = 0; i < d->mem->nregions; i++)
		r[i] = (struct vmm_vhu_region){
			.gpa = d->mem->regions[i].gpa,
			.size = d->mem->regions[i].size,
			.uaddr = (uintptr_t)d->mem->regions[i].hva,
			.mmap_offset = d->mem->regions[i].fd_offset,
		};
	return vmm_vhu_set_mem_table(d->vhu, r, d->mem->nregions, d->mem->fd);
}

int
vmm_vhost_dev_start_ring(struct vmm_vhost_dev *d, unsigned int q, bool resume)
{
	const struct vmm_virtio_queue *vq = &d->vp->q[q];
	struct vmm_vhu *v = d->vhu;
	uint8_t *desc, *avail, *used;
	unsigned int base = 0;
	int rc;

	if (!vmm_vhost_dev_usable(d))
		return -EPIPE;
	if (!vmm_vhost_dev_ring_hvas(d, q, &desc, &avail, &used))
		return -EFAULT;
	if (resume)
		base = __atomic_load_n((uint16_t *)(used + 2), __ATOMIC_ACQUIRE);
	rc = vmm_vhu_set_vring_num(v, q, vq->size);
	if (rc == 0)
		rc = vmm_vhu_set_vring_addr(v, q, (uintptr_t)desc, (uintptr_t)used,
					    (uintptr_t)avail);
	if (rc == 0)
		rc = vmm_vhu_set_vring_base(v, q, base);
	/* The call fd before the kick fd: a backend may start on the kick
	 * and complete what the guest posted while it was away (libvhost-user
	 * does), and it needs somewhere to say so. */
	if (rc == 0)
		rc = vmm_vhu_set_vring_call(v, q, vq->call_fd);
	if (rc == 0)
		rc = vmm_vhu_set_vring_kick(v, q, vq->kick_fd);
	if (rc == 0)
		d->q_started[q] = true;
	return rc;
}

void
vmm_vhost_dev_stop_rings(struct vmm_vhost_dev *d)
{
	int rc = 0;

	for (unsigned int q = 0; q < d->vp->conf.nqueues; q++) {
		unsigned int base;

		if (!d->q_started[q])
			continue;
		d->q_started[q] = false;
		if (rc < 0 || !vmm_vhost_dev_usable(d))
			continue;
		if (vmm_vhost_dev_has_protocol(d))
			rc = vmm_vhu_set_vring_enable(d->vhu, q, false);
		if (rc == 0)
			rc = vmm_vhu_get_vring_base(d->vhu, q, &base);
	}
	if (rc < 0)
		vmm_vhost_dev_failed(d, rc, "stopping the rings");
}

/* Forget the backend (the thread only: it alone closes the socket). */
static void
drop_backend(struct vmm_vhost_dev *d)
{
	if (d->vhu == NULL)
		return;
	vmm_vhu_close(d->vhu);
	d->vhu = NULL;
	d->broken = false;
	for (unsigned int q = 0; q < d->vp->conf.nqueues; q++)
		d->q_started[q] = false;
	d->disconnects++;
	if (d->ops->detached != NULL)
		d->ops->detached(d->dev);
}

/* An idle connection that is readable is closed or talks out of turn. */
static void
check_idle(struct vmm_vhost_dev *d)
{
	struct pollfd p = { .fd = d->vhu->fd, .events = POLLIN };
	char b;

	if (poll(&p, 1, 0) != 1)
		return;
	if (p.revents & (POLLHUP | POLLERR)) {
		vmm_vhost_dev_failed(d, -EPIPE, "connection");
		return;
	}
	if (recv(d->vhu->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 0) {
		vmm_vhost_dev_failed(d, -EPIPE, "connection closed");
	} else if (p.revents & POLLIN) {
		snprintf(d->vhu->why, sizeof(d->vhu->why), "a message nobody asked for");
		vmm_vhost_dev_failed(d, -EPROTO, "protocol");
	}
}

static void
wait_wake(struct vmm_vhost_dev *d, int fd, int ms, short *fd_revents)
{
	struct pollfd p[2] = {
		{ .fd = d->wake_fd, .events = POLLIN },
		{ .fd = fd, .events = POLLIN },
	};
	uint64_t v;

	*fd_revents = 0;
	if (poll(p, fd >= 0 ? 2 : 1, ms) <= 0)
		return;
	if ((p[0].revents & POLLIN) && read(d->wake_fd, &v, sizeof(v)) < 0)
		v = 0;
	if (fd >= 0)
		*fd_revents = p[1].revents;
}

/* Connect, handshake and probe, not under the lock. */
static int
connect_backend(struct vmm_vhost_dev *d, struct vmm_vhu **out, char *err, size_t errlen)
{
	struct vmm_vhu *v = NULL;
	int rc;

	rc = vmm_vhu_connect_proto(d->socket, d->timeout_ms, d->protocol, &v, err, errlen);
	if (rc < 0)
		return rc;
	if (d->ops->probe != NULL) {
		rc = d->ops->probe(d->dev, v, err, errlen);
		if (rc < 0) {
			vmm_vhu_close(v);
			return rc;
		}
	}
	*out = v;
	return 0;
}

/* Under the lock. */
static void
attach(struct vmm_vhost_dev *d, struct vmm_vhu *v)
{
	d->vhu = v;
	d->broken = false;
	d->connects++;
	d->ops->attached(d->dev);
}

int
vmm_vhost_dev_connect_now(struct vmm_vhost_dev *d)
{
	struct vmm_vhu *v = NULL;
	char err[192];
	int rc;

	rc = connect_backend(d, &v, err, sizeof(err));
	if (rc < 0)
		return rc;
	vmm_virtio_pci_lock(d->vp);
	attach(d, v);
	vmm_virtio_pci_unlock(d->vp);
	return 0;
}

static void *
vhost_dev_thread(void *arg)
{
	struct vmm_vhost_dev *d = arg;
	int backoff = BACKOFF_MIN_MS, fast = FAST_RETRIES;
	bool told = false;
	char tname[16];

	snprintf(tname, sizeof(tname), "nv-%.12s", d->name);
	pthread_setname_np(pthread_self(), tname);
	for (;;) {
		struct vmm_vhu *v = NULL;
		char err[192];
		short rev;
		int fd = -1, rc;

		vmm_virtio_pci_lock(d->vp);
		if (d->stop) {
			vmm_virtio_pci_unlock(d->vp);
			break;
		}
		if (d->vhu != NULL && d->broken)
			drop_backend(d);
		if (d->vhu != NULL)
			fd = d->vhu->fd;
		vmm_virtio_pci_unlock(d->vp);

		if (fd >= 0) {
			wait_wake(d, fd, IDLE_POLL_MS, &rev);
			if (rev != 0) {
				vmm_virtio_pci_lock(d->vp);
				if (d->vhu != NULL && d->vhu->fd == fd && !d->broken)
					check_idle(d);
				vmm_virtio_pci_unlock(d->vp);
			}
			continue;
		}
		/* Not under the lock: the handshake may take a timeout. */
		rc = connect_backend(d, &v, err, sizeof(err));
		if (rc == 0) {
			vmm_virtio_pci_lock(d->vp);
			if (d->stop)
				vmm_vhu_close(v);
			else
				attach(d, v);
			vmm_virtio_pci_unlock(d->vp);
			backoff = BACKOFF_MIN_MS;
			fast = FAST_RETRIES;
			told = false;
			continue;
		}
		if (rc == -EPROTO || rc == -ENOTSUP || rc == -EIO) {
			vmm_virtio_pci_lock(d->vp);
			d->backend_errors++;
			vmm_virtio_pci_unlock(d->vp);
		}
		if (!told)
			nv_info("%s: no backend yet (%s); retrying in the background", d->name,
				err);
		told = true;
		if (fast > 0) {
			fast--;
			wait_wake(d, -1, FAST_RETRY_MS, &rev);
			continue;
		}
		wait_wake(d, -1, backoff, &rev);
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
	}
	return NULL;
}

int
vmm_vhost_dev_start(struct vmm_vhost_dev *d)
{
	int rc = pthread_create(&d->thread, NULL, vhost_dev_thread, d);

	if (rc != 0)
		return -rc;
	d->thread_started = true;
	return 0;
}

void
vmm_vhost_dev_fini(struct vmm_vhost_dev *d)
{
	if (d->thread_started) {
		vmm_virtio_pci_lock(d->vp);
		d->stop = true;
		vmm_virtio_pci_unlock(d->vp);
		if (write(d->wake_fd, &(uint64_t){ 1 }, sizeof(uint64_t)) < 0)
			nv_warn("%s: cannot wake the thread", d->name);
		pthread_join(d->thread, NULL);
		d->thread_started = false;
	}
	/* Closing the socket is the backend's signal that the device is gone. */
	vmm_vhu_close(d->vhu);
	d->vhu = NULL;
	if (d->wake_fd >= 0)
		close(d->wake_fd);
	d->wake_fd = -1;
}
