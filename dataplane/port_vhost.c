/* SPDX-License-Identifier: MIT */
/*
 * vhost-user VM ports (rte_vhost). The dataplane is the vhost-user server:
 * it creates <vhost_dir>/<port>.sock; the host's frontend connects,
 * disconnects and reconnects at will. Queue pair q of the guest is
 * virtqueues 2q (guest rx: we enqueue) and 2q+1 (guest tx: we dequeue).
 *
 * Device callbacks run on rte_vhost's event thread and never take
 * dp->lock: rte_vhost_driver_unregister(), called under it, waits for
 * them. Some of them (vring_state_changed) run with every virtqueue's
 * access lock held, which a worker may be spinning on inside an enqueue:
 * they never wait for the workers. Only destroy_device does (RCU), and
 * rte_vhost calls it with no queue lock held.
 *
 * Broken queues. rte_vhost (22.11, lib/vhost/virtio_net.c) never faults
 * on a bad descriptor, but what it does instead depends on the fault:
 *  - a head index >= ring size, an address (or part of one) outside the
 *    guest's memory table, a chain longer than the ring (a loop), a chain
 *    needing more than BUF_VECTOR_MAX (256) mapped pieces, an indirect
 *    table larger than the ring or unmapped: fill_vec_buf_split() fails,
 *    and the descriptor is neither consumed nor skipped. Every later
 *    dequeue (guest tx) or enqueue (guest rx) of that queue stops at the
 *    same head: the queue makes no progress ever again.
 *  - guest tx with a chain no longer than the virtio-net header (zero
 *    lengths): consumed and given back used, length 0, without a packet;
 *    the burst ends there.
 *  - guest rx with zero-length buffers: without mergeable buffers the
 *    packet does not fit and the queue stalls as above; with mergeable
 *    buffers they are used as empty buffers of a merged packet.
 * So a port watches its queues: on guest tx, what the library consumed
 * beyond the packets it returned is counted (bad_descriptor); a queue
 * whose guest has posted buffers that the library refuses, for
 * DP_STALL_POLLS polls and DP_STALL_MS, with mbufs available, is marked
 * broken: no longer polled (guest tx) or fed (guest rx, counted
 * broken_queue), until the frontend reconnects.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_vhost.h>

#include "dp_priv.h"

#define DP_STALL_POLLS 8
#define DP_STALL_MS    100
#define RXQ_NONE       0xffffu
/* A standard frame fits any rx buffer a sane driver posts. */
#define STD_FRAME_MAX 1522

struct txq_watch { /* guest tx queue, written by the worker polling it */
	uint16_t last_avail;
	uint16_t stalled;
	bool starved;
	uint64_t since;
};

struct rxq_watch { /* guest rx queue, written by workers feeding it */
	_Atomic uint32_t refused;
	_Atomic uint64_t since;
};

struct vhost_port {
	struct dp_port *port;
	char path[PATH_MAX];
	uint16_t nqp;
	bool registered;
	struct rte_mempool *pool;
	_Atomic int vid;             /* -1: no device */
	_Atomic uint32_t rx_enabled; /* bit q: guest rx queue of pair q enabled */
	_Atomic uint32_t broken;     /* bit v: virtqueue v marked broken */
	_Atomic uint16_t rxq_of_worker[DP_MAX_WORKERS];
	struct txq_watch txw[DP_MAX_QPAIRS];
	struct rxq_watch rxw[DP_MAX_QPAIRS];
	uint32_t broken_logged;
	_Atomic bool mrg; /* the driver negotiated mergeable rx buffers */
};

/* One dataplane per process (EAL): the callbacks find it here. */
static struct dp *cur_dp;
/* Open ports by socket path, for the callbacks (under dp->vhost_lock). */
static struct vhost_port *vports[DP_MAX_PORTS];

void
dp_vhost_set_current(struct dp *dp)
{
	cur_dp = dp;
}

static uint64_t
ms_to_tsc(unsigned int ms)
{
	return rte_get_tsc_hz() / 1000 * ms;
}

/* The port of a device, by its socket path; NULL if gone. */
static struct vhost_port *
vport_of_vid(int vid)
{
	char path[PATH_MAX];
	struct vhost_port *vp = NULL;
	unsigned int i;

	if (cur_dp == NULL || rte_vhost_get_ifname(vid, path, sizeof(path)) != 0)
		return NULL;
	pthread_mutex_lock(&cur_dp->vhost_lock);
	for (i = 0; i < DP_MAX_PORTS; i++)
		if (vports[i] != NULL && strcmp(vports[i]->path, path) == 0) {
			vp = vports[i];
			break;
		}
	pthread_mutex_unlock(&cur_dp->vhost_lock);
	return vp;
}

/* Spread workers over the guest rx queues the driver enabled. */
static void
assign_rx_queues(struct vhost_port *vp)
{
	uint32_t en = atomic_load(&vp->rx_enabled);
	uint16_t list[DP_MAX_QPAIRS];
	unsigned int n = 0, q, w;

	for (q = 0; q < vp->nqp; q++)
		if (en & (1u << q))
			list[n++] = (uint16_t)q;
	for (w = 0; w < DP_MAX_WORKERS; w++)
		atomic_store(&vp->rxq_of_worker[w], n ? list[w % n] : RXQ_NONE);
}

static int
new_device(int vid)
{
	struct vhost_port *vp = vport_of_vid(vid);
	uint64_t features = 0;
	uint32_t txok = 0;
	unsigned int q;

	if (vp == NULL)
		return -1;
	rte_vhost_get_negotiated_features(vid, &features);
	if (features & (1ull << VIRTIO_NET_F_GUEST_CSUM))
		txok |= DP_TXOK_CSUM;
	if ((features & (1ull << VIRTIO_NET_F_GUEST_CSUM)) &&
	    (features & (1ull << VIRTIO_NET_F_GUEST_TSO4)))
		txok |= DP_TXOK_TSO;
	atomic_store(&vp->port->txok, txok);
	atomic_store(&vp->mrg, (features & (1ull << VIRTIO_NET_F_MRG_RXBUF)) != 0);
	for (q = 0; q < vp->nqp; q++) {
		uint16_t la = 0, lu = 0;

		rte_vhost_get_vring_base(vid, (uint16_t)(2 * q + 1), &la, &lu);
		memset(&vp->txw[q], 0, sizeof(vp->txw[q]));
		vp->txw[q].last_avail = la;
		atomic_store(&vp->rxw[q].refused, 0);
	}
	/* We poll: the guest need not kick us. */
	for (q = 0; q < 2u * vp->nqp; q++)
		rte_vhost_enable_guest_notification(vid, (uint16_t)q, 0);
	atomic_store(&vp->broken, 0);
	assign_rx_queues(vp);
	atomic_store_explicit(&vp->vid, vid, memory_order_release);
	DP_LOG(INFO, "port %s: frontend connected (vid %d, features 0x%" PRIx64 ")\n",
	       vp->port->name, vid, features);
	return 0;
}

static void
destroy_device(int vid)
{
	struct vhost_port *vp = vport_of_vid(vid);

	if (vp == NULL || atomic_load(&vp->vid) != vid)
		return;
	atomic_store_explicit(&vp->vid, -1, memory_order_release);
	/* rte_vhost unmaps the rings when we return: wait for the workers. */
	rte_rcu_qsbr_synchronize(cur_dp->qsbr, RTE_QSBR_THRID_INVALID);
	DP_LOG(INFO, "port %s: frontend gone\n", vp->port->name);
}

static int
vring_state_changed(int vid, uint16_t queue_id, int enable)
{
	struct vhost_port *vp = vport_of_vid(vid);
	uint16_t q = queue_id / 2;

	if (vp == NULL)
		return 0;
	if (q >= vp->nqp) {
		DP_LOG(WARNING, "port %s: queue %u beyond the port's %u pairs is not served\n",
		       vp->port->name, queue_id, vp->nqp);
		return 0;
	}
	if (queue_id % 2 == 0) {
		if (enable)
			atomic_fetch_or(&vp->rx_enabled, 1u << q);
		else
			atomic_fetch_and(&vp->rx_enabled, ~(1u << q));
		assign_rx_queues(vp);
	}
	return 0;
}

static const struct rte_vhost_device_ops vhost_cb = {
	.new_device = new_device,
	.destroy_device = destroy_device,
	.vring_state_changed = vring_state_changed,
};

/* Features we do not serve: packed rings and IOTLB (not watched for bad
 * descriptors yet), UFO/ECN/GSO-any and host TSO over IPv6 (no software
 * fallback for them in 22.11's rte_gso when the output cannot take them). */
#define VHOST_DISABLED_FEATURES                                                                    \
	((1ull << VIRTIO_F_RING_PACKED) | (1ull << VIRTIO_F_IOMMU_PLATFORM) |                      \
	 (1ull << VIRTIO_NET_F_HOST_UFO) | (1ull << VIRTIO_NET_F_GUEST_UFO) |                      \
	 (1ull << VIRTIO_NET_F_HOST_ECN) | (1ull << VIRTIO_NET_F_GUEST_ECN) |                      \
	 (1ull << VIRTIO_NET_F_GSO) | (1ull << VIRTIO_NET_F_HOST_TSO6))

struct dp_vhost_arg {
	const char *path;
	unsigned int qpairs;
	struct rte_mempool *pool;
};

static int
vhost_open(struct dp_port *port, const void *argp, char *err, size_t errlen)
{
	const struct dp_vhost_arg *arg = argp;
	struct vhost_port *vp;
	struct stat st;
	int rc;

	vp = rte_zmalloc("dp_vport", sizeof(*vp), RTE_CACHE_LINE_SIZE);
	if (vp == NULL)
		return -ENOMEM;
	vp->port = port;
	vp->nqp = (uint16_t)arg->qpairs;
	vp->pool = arg->pool;
	atomic_store(&vp->vid, -1);
	snprintf(vp->path, sizeof(vp->path), "%s", arg->path);
	assign_rx_queues(vp);
	/* A socket left by a previous run would make bind() fail. */
	if (lstat(vp->path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "%s exists and is not a socket", vp->path);
			rc = -EEXIST;
			goto out_free;
		}
		unlink(vp->path);
	}
	if (rte_vhost_driver_register(vp->path, 0) != 0) {
		snprintf(err, errlen, "rte_vhost_driver_register(%s) failed", vp->path);
		rc = -EIO;
		goto out_free;
	}
	vp->registered = true;
	if (rte_vhost_driver_disable_features(vp->path, VHOST_DISABLED_FEATURES) != 0 ||
	    rte_vhost_driver_callback_register(vp->path, &vhost_cb) != 0) {
		snprintf(err, errlen, "cannot configure vhost socket %s", vp->path);
		rc = -EIO;
		goto out_unregister;
	}
	port->priv = vp;
	port->n_rxq = vp->nqp;
	pthread_mutex_lock(&port->dp->vhost_lock);
	vports[port->id] = vp;
	pthread_mutex_unlock(&port->dp->vhost_lock);
	if (rte_vhost_driver_start(vp->path) != 0) {
		snprintf(err, errlen, "cannot listen on %s", vp->path);
		rc = -EIO;
		goto out_unlist;
	}
	dp_vhost_wake();
	return 0;

out_unlist:
	pthread_mutex_lock(&port->dp->vhost_lock);
	vports[port->id] = NULL;
	pthread_mutex_unlock(&port->dp->vhost_lock);
	port->priv = NULL;
out_unregister:
	rte_vhost_driver_unregister(vp->path);
out_free:
	rte_free(vp);
	return rc;
}

static void
vhost_close(struct dp_port *port)
{
	struct vhost_port *vp = port->priv;

	if (vp == NULL)
		return;
	/* Closes the connection (destroy_device runs here) and the socket;
	 * rte_vhost retries while a callback of this socket is running. */
	if (vp->registered)
		rte_vhost_driver_unregister(vp->path);
	unlink(vp->path);
	pthread_mutex_lock(&port->dp->vhost_lock);
	vports[port->id] = NULL;
	pthread_mutex_unlock(&port->dp->vhost_lock);
	rte_free(vp);
	port->priv = NULL;
}

static void
mark_broken(struct vhost_port *vp, uint16_t vq, struct dp_port_counters *ctr)
{
	uint32_t bit = 1u << vq;

	if (!(atomic_fetch_or(&vp->broken, bit) & bit))
		ctr->drops[DP_DROP_BAD_DESCRIPTOR]++;
}

/* The dequeue returned less than a full burst: find out why. */
static void
watch_guest_tx(struct vhost_port *vp, int vid, uint16_t q, uint16_t got,
	       struct dp_port_counters *ctr)
{
	struct txq_watch *tw = &vp->txw[q];
	uint16_t vq = (uint16_t)(2 * q + 1);
	uint16_t la = 0, lu = 0, consumed, pending;
	uint64_t now;

	if (rte_vhost_get_vring_base(vid, vq, &la, &lu) != 0)
		return;
	consumed = (uint16_t)(la - tw->last_avail);
	tw->last_avail = la;
	if (consumed > got) /* used without a packet: too short */
		ctr->drops[DP_DROP_BAD_DESCRIPTOR] += consumed - got;
	if (got != 0 || consumed != 0) {
		tw->stalled = 0;
		tw->starved = false;
		return;
	}
	pending = rte_vhost_avail_entries(vid, vq);
	if (pending == 0) {
		tw->stalled = 0;
		return;
	}
	if (rte_mempool_avail_count(vp->pool) < DP_BURST) {
		if (!tw->starved)
			ctr->drops[DP_DROP_NO_BUFFER]++;
		tw->starved = true;
		tw->stalled = 0;
		return;
	}
	now = rte_get_tsc_cycles();
	if (tw->stalled++ == 0)
		tw->since = now;
	if (tw->stalled >= DP_STALL_POLLS && now - tw->since >= ms_to_tsc(DP_STALL_MS))
		mark_broken(vp, vq, ctr);
}

static uint16_t
vhost_rx(struct dp_port *port, unsigned int w, uint16_t q, struct rte_mbuf **pkts, uint16_t n)
{
	struct vhost_port *vp = port->priv;
	int vid = atomic_load_explicit(&vp->vid, memory_order_acquire);
	uint16_t vq = (uint16_t)(2 * q + 1);
	uint16_t got;

	if (vid < 0 || (atomic_load_explicit(&vp->broken, memory_order_relaxed) & (1u << vq)))
		return 0;
	got = rte_vhost_dequeue_burst(vid, vq, vp->pool, pkts, n);
	if (likely(got == n)) {
		vp->txw[q].last_avail = (uint16_t)(vp->txw[q].last_avail + got);
		return got;
	}
	watch_guest_tx(vp, vid, q, got, &port->ctr[w]);
	return got;
}

/* The guest's rx queue took nothing. */
static void
watch_guest_rx(struct vhost_port *vp, int vid, uint16_t q, const struct rte_mbuf *first,
	       struct dp_port_counters *ctr)
{
	struct rxq_watch *rw = &vp->rxw[q];
	uint16_t vq = (uint16_t)(2 * q);
	uint64_t now;

	/* Linux posts mergeable buffers of at least a standard frame; two
	 * leave a margin. Without mergeable buffers each holds a frame. */
	unsigned int need = atomic_load_explicit(&vp->mrg, memory_order_relaxed) ? 2 : 1;

	if (first->pkt_len > STD_FRAME_MAX || rte_vhost_avail_entries(vid, vq) < need) {
		atomic_store_explicit(&rw->refused, 0, memory_order_relaxed);
		return;
	}
	now = rte_get_tsc_cycles();
	if (atomic_fetch_add_explicit(&rw->refused, 1, memory_order_relaxed) == 0)
		atomic_store_explicit(&rw->since, now, memory_order_relaxed);
	if (atomic_load_explicit(&rw->refused, memory_order_relaxed) >= DP_STALL_POLLS &&
	    now - atomic_load_explicit(&rw->since, memory_order_relaxed) >= ms_to_tsc(DP_STALL_MS))
		mark_broken(vp, vq, ctr);
}

static void
free_all(struct rte_mbuf **pkts, uint16_t n)
{
	rte_pktmbuf_free_bulk(pkts, n);
}

static uint16_t
vhost_tx(struct dp_port *port, unsigned int w, struct rte_mbuf **pkts, uint16_t n,
	 struct dp_port_counters *ctr)
{
	struct vhost_port *vp = port->priv;
	int vid = atomic_load_explicit(&vp->vid, memory_order_acquire);
	uint16_t q, sent, i;
	uint64_t bytes = 0;

	if (vid < 0) {
		ctr->drops[DP_DROP_LINK_DOWN] += n;
		free_all(pkts, n);
		return 0;
	}
	q = atomic_load_explicit(&vp->rxq_of_worker[w], memory_order_relaxed);
	if (q == RXQ_NONE) {
		ctr->drops[DP_DROP_LINK_DOWN] += n;
		free_all(pkts, n);
		return 0;
	}
	if (atomic_load_explicit(&vp->broken, memory_order_relaxed) & (1u << (2 * q))) {
		ctr->drops[DP_DROP_BROKEN_QUEUE] += n;
		free_all(pkts, n);
		return 0;
	}
	sent = rte_vhost_enqueue_burst(vid, (uint16_t)(2 * q), pkts, n);
	for (i = 0; i < sent; i++)
		bytes += pkts[i]->pkt_len;
	ctr->tx_packets += sent;
	ctr->tx_bytes += bytes;
	if (unlikely(sent < n)) {
		ctr->drops[DP_DROP_QUEUE_FULL] += n - sent;
		if (sent == 0)
			watch_guest_rx(vp, vid, q, pkts[0], ctr);
	} else if (atomic_load_explicit(&vp->rxw[q].refused, memory_order_relaxed) != 0) {
		atomic_store_explicit(&vp->rxw[q].refused, 0, memory_order_relaxed);
	}
	/* rte_vhost copied what it took: every mbuf is ours to free. */
	free_all(pkts, n);
	return sent;
}

static bool
vhost_link_up(const struct dp_port *port)
{
	const struct vhost_port *vp = port->priv;

	return vp != NULL && atomic_load(&vp->vid) >= 0;
}

static void
vhost_stats(const struct dp_port *port, struct dp_port_stats *st)
{
	const struct vhost_port *vp = port->priv;

	if (vp != NULL)
		st->queues_broken = (unsigned int)__builtin_popcount(atomic_load(&vp->broken));
}

uint32_t
dp_vhost_newly_broken(struct dp_port *port)
{
	struct vhost_port *vp = port->priv;
	uint32_t now, fresh;

	if (vp == NULL)
		return 0;
	now = atomic_load(&vp->broken);
	fresh = now & ~vp->broken_logged;
	vp->broken_logged = now;
	return fresh;
}

int
dp_vhost_open_arg(struct dp_port *port, const char *path, unsigned int qpairs,
		  struct rte_mempool *pool, char *err, size_t errlen)
{
	struct dp_vhost_arg arg = { .path = path, .qpairs = qpairs, .pool = pool };

	return vhost_open(port, &arg, err, errlen);
}

const struct dp_port_ops dp_vhost_ops = {
	.kind = "vhost",
	.open = vhost_open,
	.close = vhost_close,
	.rx = vhost_rx,
	.tx = vhost_tx,
	.link_up = vhost_link_up,
	.stats = vhost_stats,
};
