/* SPDX-License-Identifier: MIT */
/*
 * The vhost-user plumbing a virtio device whose queues a backend serves
 * shares with every other such device (virtio_net.c, virtio_blk.c): the
 * backend's connection and the thread that makes it, watches it and makes
 * it again (every 100 ms at first, backing off to 1 s), the memory table,
 * and handing rings to the backend and taking them back ("Ring states"
 * of vhost-user.rst). What is particular to a device (its features, its
 * configuration, which queues it hands over and when) stays in it, behind
 * three callbacks.
 *
 * Locking: everything here is guarded by the transport's lock
 * (vmm_virtio_pci_lock()); functions marked "under the lock" must be
 * called with it held. The thread takes the lock itself, and never holds
 * it across a handshake.
 */
#ifndef VMM_VHOST_DEV_H
#define VMM_VHOST_DEV_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guest_mem.h"
#include "nv_log.h"
#include "vhost_user.h"
#include "virtio_pci.h"

/* A device's side. (opt) members may be NULL. */
struct vmm_vhost_dev_ops {
	/* A backend finished its handshake: read what the device needs of
	 * it (blk: GET_CONFIG). The thread, not under the lock. 0, or
	 * -errno with err (the backend is dropped and tried again). (opt) */
	int (*probe)(void *dev, struct vmm_vhu *v, char *err, size_t errlen);
	/* The backend is the device's now (d->vhu); under the lock. */
	void (*attached)(void *dev);
	/* The backend is gone (closed, failed); d->vhu is NULL again and no
	 * ring is started; under the lock. (opt) */
	void (*detached)(void *dev);
};

struct vmm_vhost_dev {
	struct vmm_virtio_pci *vp;
	const struct vmm_vhost_dev_ops *ops;
	void *dev;
	char name[16];
	char socket[108];
	uint64_t protocol; /* protocol features to negotiate when offered */
	int timeout_ms;
	struct vmm_mem *mem;

	struct vmm_vhu *vhu; /* the backend, NULL while there is none */
	bool broken;         /* a request failed; the thread closes it */
	bool q_started[VMM_VIRTIO_MAX_QUEUES];
	uint64_t connects, disconnects, backend_errors;
	struct nv_ratelimit rl;

	pthread_t thread;
	bool thread_started;
	bool stop;
	int wake_fd;
};

struct vmm_vhost_dev_conf {
	const char *name;   /* for logs and the thread's name */
	const char *socket; /* < 108 bytes */
	uint64_t protocol;
	int timeout_ms; /* per backend request; 0: 2000 */
	struct vmm_mem *mem;
};

/* Set d up for the transport vp (no thread yet). -EINVAL, or what
 * eventfd said. */
int vmm_vhost_dev_init(struct vmm_vhost_dev *d, const struct vmm_vhost_dev_conf *conf,
		       struct vmm_virtio_pci *vp, const struct vmm_vhost_dev_ops *ops, void *dev);
/* Try the backend once, now (not under the lock): 0 if one answered and
 * is attached. */
int vmm_vhost_dev_connect_now(struct vmm_vhost_dev *d);
/* Start the thread. 0 or -errno. */
int vmm_vhost_dev_start(struct vmm_vhost_dev *d);
/* Stop the thread (not under the lock), close the backend (its signal
 * that the device is gone), close the eventfd. */
void vmm_vhost_dev_fini(struct vmm_vhost_dev *d);

/* Under the lock: a backend request failed (rc) doing `what`: mark the
 * backend broken (the thread drops it and connects again), count
 * -EPROTO/-EIO as backend errors, log (rate-limited). */
void vmm_vhost_dev_failed(struct vmm_vhost_dev *d, int rc, const char *what);
/* Under the lock: a backend is attached and not broken. */
bool vmm_vhost_dev_usable(const struct vmm_vhost_dev *d);

/* Host addresses of queue q's rings, whole rings inside guest RAM and
 * aligned as 2.7.2 requires (the backend assumes it). */
bool vmm_vhost_dev_ring_hvas(const struct vmm_vhost_dev *d, unsigned int q, uint8_t **desc,
			     uint8_t **avail, uint8_t **used);
/* Under the lock: SET_FEATURES (features, with the protocol bit if the
 * backend offered it) and SET_MEM_TABLE. 0 or -errno (not yet marked
 * failed: the caller says what it was doing). */
int vmm_vhost_dev_set_features_mem(struct vmm_vhost_dev *d, uint64_t features);
/* Under the lock: hand queue q's rings to the backend: NUM, ADDR, BASE
 * (0, or resume: the guest's used index), CALL then KICK (a backend may
 * start on the kick and must have somewhere to complete to). 0 or -errno
 * (-EFAULT: rings outside RAM). */
int vmm_vhost_dev_start_ring(struct vmm_vhost_dev *d, unsigned int q, bool resume);
/* Under the lock: take every started ring back (disabled with protocol
 * features, then GET_VRING_BASE, which stops it). Failures mark the
 * backend failed. */
void vmm_vhost_dev_stop_rings(struct vmm_vhost_dev *d);
/* Under the lock: the backend has VHOST_USER_F_PROTOCOL_FEATURES (rings
 * start disabled and SET_VRING_ENABLE applies). */
bool vmm_vhost_dev_has_protocol(const struct vmm_vhost_dev *d);

#endif
