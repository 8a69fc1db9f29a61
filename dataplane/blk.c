/* SPDX-License-Identifier: MIT */
/*
 * vhost-user-blk disks (blk.h): rte_vhost for the vhost-user protocol and
 * the rings; a backend kind (blk_priv.h: blk_kinds below) for the target:
 * "file" (blk_file.c, io_uring).
 *
 * Where requests are served: on the switch's worker lcores. Every disk
 * belongs to one worker (the one with the fewest disks when it is added);
 * each round of a worker's loop (dp_switch.c) ends with dp_blk_poll(),
 * which serves that worker's disks: it pops chains from the split rings,
 * validates them (blk_req.c), hands them to the disk's backend kind,
 * polls the kinds for what ended (blk_io_done), writes status bytes,
 * fills the used rings and calls the guest (rte_vhost_vring_call). The
 * worker counts the TSC cycles of rounds that did block work apart from
 * the switch's (dp_worker_stats: blk_busy_cycles), the figure for IOPS
 * per core. Per-disk state is written by its worker only.
 *
 * Threads and handover. Control calls take blk_lock. rte_vhost's event
 * thread runs the device callbacks, which never take blk_lock
 * (rte_vhost_driver_unregister, called under it, waits for them); they
 * find the disk by socket path under list_lock. A disk's `state` hands
 * the rings between the callbacks and the poller: new_device prepares the
 * queues and stores RUN; destroy_device stores STOP and waits for the
 * poller to finish what is in flight and store IDLE before rte_vhost
 * unmaps guest memory.
 *
 * Config space: rte_vhost 22.11 has no get_config callback for
 * non-builtin devices; VHOST_USER_GET_CONFIG/SET_CONFIG are answered in a
 * pre-message hook (rte_vhost_extern_callback_register).
 *
 * In-flight tracking (VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD): when the
 * frontend shares the inflight region (QEMU does), every request popped
 * is marked there and cleared as it completes, so a backend that died
 * (kill -9) is replaced by one that resubmits what was in flight: the
 * guest sees its requests completed late, not lost. Reads and writes
 * are idempotent, so serving one twice is harmless.
 *
 * Not yet: indirect descriptors, packed rings, event idx.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/virtio_blk.h>

#include <rte_cycles.h>
#include <rte_vhost.h>

#include "blk.h"
#include "blk_priv.h"
#include "blk_req.h"
#include "dp_priv.h"

#define BLK_BURST 32

/* Backend kinds, the first whose match() takes the target wins. */
static const struct blk_backend_ops *const blk_kinds[] = {
#ifdef DP_BLK_HAVE_NBD
	&blk_nbd_ops,
#endif
	&blk_file_ops,
};

const char *const dp_blk_err_names[DP_BLK_ERR_N] = {
	[DP_BLK_ERR_OUT_OF_RANGE] = "out_of_range",     [DP_BLK_ERR_UNSUPPORTED] = "unsupported",
	[DP_BLK_ERR_BAD_DESCRIPTOR] = "bad_descriptor", [DP_BLK_ERR_IO_ERROR] = "io_error",
	[DP_BLK_ERR_READ_ONLY] = "read_only",
};

enum { DISK_IDLE, DISK_RUN, DISK_STOP };

static pthread_mutex_t blk_lock = PTHREAD_MUTEX_INITIALIZER;  /* control calls */
static pthread_mutex_t list_lock = PTHREAD_MUTEX_INITIALIZER; /* disks[] for callbacks */
static struct blk_disk *_Atomic disks[DP_BLK_MAX_DISKS];
static struct blk_lcore lcores[BLK_MAX_LCORES];

_Static_assert(BLK_MAX_LCORES == DP_MAX_WORKERS, "a blk_lcore per worker");

static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static void
sleep_us(unsigned int us)
{
	struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = (long)(us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
}

static void
count(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

/* ---- the poller ------------------------------------------------------ */

static void *
xlate(void *ctx, uint64_t gpa, uint64_t *len)
{
	struct blk_disk *d = ctx;

	return (void *)(uintptr_t)rte_vhost_va_from_guest_pa(d->mem, gpa, len);
}

static void
push_used(struct blk_queue *q, uint16_t head, uint32_t len)
{
	struct vring_used *used = q->vr.used;
	struct vring_used_elem *e = &used->ring[q->used_idx & (q->size - 1)];
	int vid = q->disk->run_vid;

	/* The inflight region's protocol (vhost-user spec, "Inflight I/O
	 * tracking"): name the request being completed, publish it, then
	 * clear it with the new used index; a backend dying in between is
	 * repaired by the next one (rte_vhost compares the used indices). */
	if (q->inflight)
		rte_vhost_set_last_inflight_io_split(vid, q->idx, head);
	e->id = head;
	e->len = len;
	q->used_idx++;
	count(&q->disk->lc->requests, 1);
	/* virtio 1.2, 2.7.8: the element is visible before the index */
	__atomic_store_n(&used->idx, q->used_idx, __ATOMIC_RELEASE);
	if (q->inflight)
		rte_vhost_clr_inflight_desc_split(vid, q->idx, q->used_idx, head);
	q->need_call = true;
}

static void
refuse(struct blk_disk *d, struct blk_queue *q, uint16_t head, uint8_t *status, enum dp_blk_err why)
{
	count(&d->ctr.errors[why], 1);
	if (status != NULL)
		*status = why == DP_BLK_ERR_UNSUPPORTED ? VIRTIO_BLK_S_UNSUPP : VIRTIO_BLK_S_IOERR;
	push_used(q, head, status != NULL ? 1 : 0);
}

void
blk_io_done(struct blk_io *io, int res)
{
	struct blk_queue *q = io->q;
	struct blk_disk *d = q->disk;
	bool ok;

	/* Too late (the drain at disconnect gave up): the rings are gone. */
	if (atomic_load_explicit(&d->state, memory_order_acquire) == DISK_IDLE ||
	    io->gen != d->gen) {
		count(&d->ctr.errors[DP_BLK_ERR_IO_ERROR], 1);
		count(&d->ctr.inflight, (uint64_t)-1);
		return;
	}

	switch (io->type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		/* Short transfers are not retried: the range was checked
		 * against the target's size, so one means trouble. */
		ok = res >= 0 && (size_t)res == io->bytes;
		break;
	case VIRTIO_BLK_T_DISCARD:
		/* advisory: a target without hole punching still reads
		 * back what it read before */
		ok = res >= 0 || res == -EOPNOTSUPP || res == -ENOTSUP;
		break;
	default:
		ok = res >= 0;
	}
	if (ok) {
		switch (io->type) {
		case VIRTIO_BLK_T_IN:
			count(&d->ctr.reads, 1);
			count(&d->ctr.read_bytes, io->bytes);
			break;
		case VIRTIO_BLK_T_OUT:
			count(&d->ctr.writes, 1);
			count(&d->ctr.write_bytes, io->bytes);
			break;
		case VIRTIO_BLK_T_FLUSH:
			count(&d->ctr.flushes, 1);
			break;
		case VIRTIO_BLK_T_DISCARD:
			count(&d->ctr.discards, 1);
			break;
		case VIRTIO_BLK_T_WRITE_ZEROES:
			count(&d->ctr.write_zeroes, 1);
			break;
		}
		*io->status = VIRTIO_BLK_S_OK;
	} else {
		count(&d->ctr.errors[DP_BLK_ERR_IO_ERROR], 1);
		*io->status = VIRTIO_BLK_S_IOERR;
	}
	io->busy = false;
	push_used(q, io->head, io->used_len);
	count(&d->ctr.inflight, (uint64_t)-1);
}

/* Refill the disk's buckets; false if it must wait. */
static bool
limits_allow(struct blk_disk *d)
{
	uint64_t now, hz;
	double dt;

	if (d->iops_limit == 0 && d->bps_limit == 0)
		return true;
	now = rte_get_tsc_cycles();
	hz = rte_get_tsc_hz();
	dt = (double)(now - d->tok_tsc) / (double)hz;
	d->tok_tsc = now;
	/* Bursts of at most a tenth of a second's worth. */
	if (d->iops_limit) {
		d->tok_ios += dt * (double)d->iops_limit;
		if (d->tok_ios > (double)d->iops_limit / 10 + 1)
			d->tok_ios = (double)d->iops_limit / 10 + 1;
	}
	if (d->bps_limit) {
		d->tok_bytes += dt * (double)d->bps_limit;
		if (d->tok_bytes > (double)d->bps_limit / 10 + 1)
			d->tok_bytes = (double)d->bps_limit / 10 + 1;
	}
	if ((d->iops_limit && d->tok_ios < 1) || (d->bps_limit && d->tok_bytes < 0)) {
		count(&d->ctr.throttled, 1);
		return false;
	}
	return true;
}

static void
take_tokens(struct blk_disk *d, size_t bytes)
{
	if (d->iops_limit)
		d->tok_ios -= 1;
	if (d->bps_limit)
		d->tok_bytes -= (double)bytes; /* may go into debt */
}

/* Serves what the guest posted on one queue; returns requests taken. */
static unsigned int
serve_queue(struct blk_disk *d, struct blk_queue *q)
{
	unsigned int n = 0;

	while (n < BLK_BURST) {
		bool resubmit = q->resub_pos < q->nresub;
		struct blk_req req;
		enum dp_blk_err why;
		struct blk_io *io;
		uint16_t head;
		int rc;

		if (!resubmit &&
		    __atomic_load_n(&q->vr.avail->idx, __ATOMIC_ACQUIRE) == q->last_avail)
			break;
		if (!limits_allow(d) || !d->ops->can_submit(d))
			break;
		if (resubmit) {
			/* popped by the backend before us, never completed */
			head = q->resub[q->resub_pos++];
		} else {
			head = q->vr.avail->ring[q->last_avail & (q->size - 1)];
			q->last_avail++;
		}
		n++;
		if (head >= q->size || q->ios[head].busy) {
			/* a head we cannot name in the used ring without
			 * confusing the driver: drop it, counted */
			count(&d->ctr.errors[DP_BLK_ERR_BAD_DESCRIPTOR], 1);
			continue;
		}
		if (q->inflight && !resubmit)
			rte_vhost_set_inflight_desc_split(d->run_vid, q->idx, head);
		io = &q->ios[head];
		if (blk_chain_walk(q->vr.desc, q->size, head, xlate, d, &io->chain) < 0) {
			refuse(d, q, head, NULL, DP_BLK_ERR_BAD_DESCRIPTOR);
			continue;
		}
		if (blk_req_parse(&io->chain, d->size / BLK_SECTOR, d->ro, &req, &why) < 0) {
			refuse(d, q, head, req.status, why);
			continue;
		}
		io->head = head;
		io->type = req.type;
		io->status = req.status;
		io->bytes = req.data_len;
		io->used_len = 1;
		if (req.type == VIRTIO_BLK_T_GET_ID) {
			blk_iov_fill(req.data, req.ndata, d->serial, req.data_len);
			*req.status = VIRTIO_BLK_S_OK;
			count(&d->ctr.get_ids, 1);
			push_used(q, head, (uint32_t)req.data_len + 1);
			continue;
		}
		take_tokens(d, req.data_len);
		io->gen = d->gen;
		if (req.type == VIRTIO_BLK_T_IN)
			io->used_len = (uint32_t)req.data_len + 1;
		rc = d->ops->submit(d, io, &req);
		if (rc < 0) {
			refuse(d, q, head, req.status, DP_BLK_ERR_IO_ERROR);
			continue;
		}
		io->busy = true;
		count(&d->ctr.inflight, 1);
	}
	return n;
}

static unsigned int
serve_disk(struct blk_disk *d)
{
	int st = atomic_load_explicit(&d->state, memory_order_acquire);
	unsigned int n = 0, i;

	if (st == DISK_IDLE)
		return 0;
	if (st == DISK_RUN)
		for (i = 0; i < d->nq_run; i++)
			if (d->q[i].ready)
				n += serve_queue(d, &d->q[i]);
	return n;
}

static void
call_guest(struct blk_disk *d)
{
	unsigned int j;

	if (atomic_load(&d->state) == DISK_IDLE)
		return;
	for (j = 0; j < d->nq_run; j++)
		if (d->q[j].need_call) {
			d->q[j].need_call = false;
			rte_vhost_vring_call(d->run_vid, (uint16_t)j);
		}
	if (atomic_load(&d->state) == DISK_STOP &&
	    atomic_load_explicit(&d->ctr.inflight, memory_order_relaxed) == 0)
		atomic_store_explicit(&d->state, DISK_IDLE, memory_order_release);
}

unsigned int
dp_blk_poll(unsigned int w)
{
	struct blk_lcore *lc = &lcores[w];
	unsigned int i, n = 0, done;
	uint64_t t0;

	if (!atomic_load_explicit(&lc->running, memory_order_relaxed))
		atomic_store(&lc->running, true);
	atomic_store_explicit(&lc->rounds,
			      atomic_load_explicit(&lc->rounds, memory_order_relaxed) + 1,
			      memory_order_release);
	if (lc->ndisks == 0)
		return 0;
	t0 = rte_rdtsc();
	done = atomic_load_explicit(&lc->requests, memory_order_relaxed);
	for (i = 0; i < DP_BLK_MAX_DISKS; i++) {
		struct blk_disk *d = atomic_load_explicit(&disks[i], memory_order_acquire);

		if (d == NULL || d->lc != lc)
			continue;
		n += serve_disk(d);
		if (d->ops->poll_disk != NULL)
			n += d->ops->poll_disk(d);
	}
	for (i = 0; i < RTE_DIM(blk_kinds); i++)
		if (blk_kinds[i]->poll_kind != NULL)
			n += blk_kinds[i]->poll_kind(lc);
	for (i = 0; i < DP_BLK_MAX_DISKS; i++) {
		struct blk_disk *d = atomic_load_explicit(&disks[i], memory_order_acquire);

		if (d != NULL && d->lc == lc)
			call_guest(d);
	}
	if (n > 0 || atomic_load_explicit(&lc->requests, memory_order_relaxed) != done)
		count(&lc->busy_cycles, rte_rdtsc() - t0);
	return n;
}

void
dp_blk_lcore_stop(unsigned int w)
{
	atomic_store(&lcores[w].running, false);
}

void
dp_blk_lcore_stats(unsigned int w, uint64_t *requests, uint64_t *busy_cycles)
{
	*requests = atomic_load(&lcores[w].requests);
	*busy_cycles = atomic_load(&lcores[w].busy_cycles);
}

/* Waits until every running worker went round twice (it no longer holds
 * a pointer it loaded before). Bounded: workers never block. */
static void
poller_quiesce(void)
{
	uint64_t r0[BLK_MAX_LCORES];
	unsigned int i, w;

	for (w = 0; w < BLK_MAX_LCORES; w++)
		r0[w] = atomic_load(&lcores[w].rounds);
	for (w = 0; w < BLK_MAX_LCORES; w++)
		for (i = 0; i < 20000 && atomic_load(&lcores[w].running) &&
			    atomic_load(&lcores[w].rounds) < r0[w] + 2;
		     i++)
			sleep_us(100);
}

/* ---- rte_vhost callbacks (event thread) -------------------------------- */

static struct blk_disk *
disk_of_vid(int vid)
{
	char path[PATH_MAX];
	struct blk_disk *d = NULL;
	unsigned int i;

	if (rte_vhost_get_ifname(vid, path, sizeof(path)) != 0)
		return NULL;
	pthread_mutex_lock(&list_lock);
	for (i = 0; i < DP_BLK_MAX_DISKS; i++) {
		struct blk_disk *x = atomic_load(&disks[i]);

		if (x != NULL && strcmp(x->sock, path) == 0) {
			d = x;
			break;
		}
	}
	pthread_mutex_unlock(&list_lock);
	return d;
}

static void
fill_config(const struct blk_disk *d, struct virtio_blk_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->capacity = htole64(d->size / BLK_SECTOR);
	cfg->seg_max = htole32(BLK_SEG_MAX);
	cfg->blk_size = htole32(BLK_SECTOR);
	cfg->num_queues = htole16((uint16_t)d->nq);
	cfg->max_discard_sectors = htole32(d->max_discard_sectors);
	cfg->max_discard_seg = htole32(1);
	cfg->discard_sector_alignment = htole32(1);
	cfg->max_write_zeroes_sectors = htole32(d->max_discard_sectors);
	cfg->max_write_zeroes_seg = htole32(1);
	cfg->write_zeroes_may_unmap = 1;
}

/* The vhost-user message as it is on the wire (vhost-user spec:
 * request, flags, size, then the payload; VhostUserConfig here). */
struct vhu_config_msg {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
	uint32_t offset;
	uint32_t cfg_size;
	uint32_t cfg_flags;
	uint8_t region[256];
} __attribute__((packed));

/* SET_VRING_ADDR and SET_VRING_ENABLE begin with the vring's index. */
struct vhu_vring_msg {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
	uint32_t index;
	uint32_t num; /* SET_VRING_ENABLE: 1 to enable */
} __attribute__((packed));

#define VHU_SET_VRING_ADDR   9
#define VHU_SET_VRING_ENABLE 18
#define VHU_GET_CONFIG       24
#define VHU_SET_CONFIG       25
#define VHU_CONFIG_HDR       12

static enum rte_vhost_msg_result
pre_msg(int vid, void *msgp)
{
	struct vhu_config_msg *m = msgp;
	struct virtio_blk_config cfg;
	struct blk_disk *d;

	if (m->request != VHU_GET_CONFIG && m->request != VHU_SET_CONFIG &&
	    m->request != VHU_SET_VRING_ADDR && m->request != VHU_SET_VRING_ENABLE)
		return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
	d = disk_of_vid(vid);
	if (d == NULL)
		return RTE_VHOST_MSG_RESULT_ERR;
	/* rte_vhost 22.11 starts a device of ours only when every vring the
	 * frontend named is ready, but QEMU leaves the queues a guest does
	 * not use unstarted (a guest with fewer vCPUs than num-queues): say
	 * so instead of leaving the guest's I/O hanging in silence. */
	if (m->request == VHU_SET_VRING_ADDR || m->request == VHU_SET_VRING_ENABLE) {
		const struct vhu_vring_msg *v = msgp;
		uint32_t idx = v->index;

		if (v->size < 8 || idx >= 32)
			return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
		if (v->request == VHU_SET_VRING_ADDR)
			d->addr_seen |= 1u << idx;
		else if (v->num != 0 && !(d->addr_seen & (1u << idx)))
			DP_LOG(WARNING,
			       "disk %s: the frontend enabled queue %u without starting it; "
			       "the disk will not start (give the frontend no more queues than "
			       "the guest has vCPUs)\n",
			       d->name, idx);
		return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
	}
	if (m->request == VHU_SET_CONFIG)
		return RTE_VHOST_MSG_RESULT_OK; /* nothing writable (no CONFIG_WCE) */
	if (m->size < VHU_CONFIG_HDR || m->cfg_size > sizeof(m->region) ||
	    m->offset > sizeof(cfg)) {
		m->size = 0;
		return RTE_VHOST_MSG_RESULT_REPLY;
	}
	fill_config(d, &cfg);
	memset(m->region, 0, m->cfg_size);
	memcpy(m->region, (uint8_t *)&cfg + m->offset,
	       RTE_MIN((size_t)m->cfg_size, sizeof(cfg) - m->offset));
	m->size = VHU_CONFIG_HDR + m->cfg_size;
	return RTE_VHOST_MSG_RESULT_REPLY;
}

static const struct rte_vhost_user_extern_ops extern_ops = {
	.pre_msg_handle = pre_msg,
};

static int
new_connection(int vid)
{
	struct blk_disk *d = disk_of_vid(vid);

	if (d != NULL)
		d->addr_seen = 0;
	if (rte_vhost_extern_callback_register(vid, &extern_ops, NULL) != 0)
		return -1;
	return 0;
}

static void
queues_free(struct blk_disk *d)
{
	unsigned int i;

	for (i = 0; i < DP_BLK_MAX_QUEUES; i++) {
		free(d->q[i].ios);
		d->q[i].ios = NULL;
		free(d->q[i].resub);
		d->q[i].resub = NULL;
		d->q[i].ready = false;
	}
	free(d->mem);
	d->mem = NULL;
}

/* The frontend's inflight region, if it shares one, and what was in
 * flight there (oldest first). */
static int
inflight_resubmit(struct blk_disk *d, struct blk_queue *q, int vid)
{
	struct rte_vhost_ring_inflight ri;
	struct rte_vhost_resubmit_info *rs;
	unsigned int k, n;

	memset(&ri, 0, sizeof(ri));
	if (rte_vhost_get_vhost_ring_inflight(vid, q->idx, &ri) != 0 || ri.inflight_split == NULL)
		return 0;
	q->inflight = true;
	rs = ri.resubmit_inflight;
	if (rs == NULL || rs->resubmit_num == 0 || rs->resubmit_list == NULL)
		return 0;
	n = RTE_MIN((unsigned int)rs->resubmit_num, (unsigned int)q->size);
	q->resub = calloc(n, sizeof(*q->resub));
	if (q->resub == NULL)
		return -ENOMEM;
	/* rte_vhost sorts the list newest first */
	for (k = 0; k < n; k++)
		q->resub[k] = rs->resubmit_list[n - 1 - k].index;
	q->nresub = (uint16_t)n;
	DP_LOG(INFO, "disk %s: queue %u: %u request(s) in flight before, resubmitted\n", d->name,
	       q->idx, n);
	return 0;
}

static int
new_device(int vid)
{
	struct blk_disk *d = disk_of_vid(vid);
	uint64_t features = 0;
	unsigned int i, nvr;

	if (d == NULL || atomic_load(&d->state) != DISK_IDLE)
		return -1;
	rte_vhost_get_negotiated_features(vid, &features);
	if (rte_vhost_get_mem_table(vid, &d->mem) != 0)
		return -1;
	nvr = rte_vhost_get_vring_num(vid);
	d->nq_run = RTE_MIN(nvr, d->nq);
	for (i = 0; i < d->nq_run; i++) {
		struct blk_queue *q = &d->q[i];
		uint16_t la = 0, lu = 0;

		memset(q, 0, sizeof(*q));
		q->disk = d;
		q->idx = (uint16_t)i;
		if (rte_vhost_get_vhost_vring(vid, (uint16_t)i, &q->vr) != 0 || q->vr.desc == NULL)
			continue;
		/* 2.7: split ring sizes are powers of two */
		if (q->vr.size == 0 || (q->vr.size & (q->vr.size - 1)) != 0) {
			DP_LOG(ERR, "disk %s: queue %u size %u refused\n", d->name, i, q->vr.size);
			continue;
		}
		q->size = q->vr.size;
		q->ios = calloc(q->size, sizeof(*q->ios));
		if (q->ios == NULL)
			goto out_free;
		/* With the inflight region, rte_vhost has moved la past what
		 * was in flight (resubmitted below). */
		rte_vhost_get_vring_base(vid, (uint16_t)i, &la, &lu);
		q->last_avail = la;
		q->used_idx = lu;
		for (unsigned int k = 0; k < q->size; k++)
			q->ios[k].q = q;
		if (inflight_resubmit(d, q, vid) < 0)
			goto out_free;
		rte_vhost_enable_guest_notification(vid, (uint16_t)i, 0);
		q->ready = true;
	}
	if (nvr > d->nq)
		DP_LOG(WARNING, "disk %s: frontend has %u queues, %u served\n", d->name, nvr,
		       d->nq);
	d->run_vid = vid;
	d->gen++;
	d->tok_tsc = rte_get_tsc_cycles();
	atomic_store(&d->vid, vid);
	atomic_store_explicit(&d->state, DISK_RUN, memory_order_release);
	DP_LOG(INFO, "disk %s: frontend connected (vid %d, %u queue(s), features 0x%" PRIx64 ")\n",
	       d->name, vid, d->nq_run, features);
	return 0;

out_free:
	queues_free(d);
	return -1;
}

static void
destroy_device(int vid)
{
	struct blk_disk *d = disk_of_vid(vid);
	unsigned int i;

	if (d == NULL || atomic_load(&d->vid) != vid)
		return;
	atomic_store_explicit(&d->state, DISK_STOP, memory_order_release);
	/* rte_vhost unmaps guest memory when we return: wait for what is in
	 * flight (io_uring completes every request; bounded anyway). */
	for (i = 0;
	     i < 300000 && atomic_load_explicit(&d->state, memory_order_acquire) != DISK_IDLE; i++)
		sleep_us(100);
	if (atomic_load(&d->state) != DISK_IDLE) {
		/* The backend keeps them (file: io_uring, NBD: the client):
		 * leave their slots allocated, and let their ends, when they
		 * come, find the disk idle or a later connection's
		 * generation and touch nothing. */
		DP_LOG(ERR, "disk %s: requests still in flight 30 s after the disconnect\n",
		       d->name);
		atomic_store_explicit(&d->state, DISK_IDLE, memory_order_release);
		for (i = 0; i < DP_BLK_MAX_QUEUES; i++)
			d->q[i].ios = NULL; /* leaked on purpose */
	}
	poller_quiesce();
	/* The used index survives in the vring base rte_vhost keeps. */
	for (i = 0; i < d->nq_run; i++)
		if (d->q[i].ready)
			rte_vhost_set_vring_base(vid, (uint16_t)i, d->q[i].last_avail,
						 d->q[i].used_idx);
	queues_free(d);
	atomic_store(&d->vid, -1);
	DP_LOG(INFO, "disk %s: frontend gone\n", d->name);
}

static const struct rte_vhost_device_ops blk_cb = {
	.new_device = new_device,
	.destroy_device = destroy_device,
	.new_connection = new_connection,
};

/* ---- control --------------------------------------------------------- */

static int
check_name(const char *name, char *err, size_t errlen)
{
	size_t n = name ? strlen(name) : 0, i;

	if (n == 0 || n > 63 || name[0] == '.')
		goto bad;
	for (i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
		      (name[i] >= '0' && name[i] <= '9') || name[i] == '.' || name[i] == '_' ||
		      name[i] == '-'))
			goto bad;
	return 0;
bad:
	seterr(err, errlen, "bad disk name '%s': 1..63 of [A-Za-z0-9._-], not starting with '.'",
	       name ? name : "");
	return -EINVAL;
}

static int
find_disk(const char *name)
{
	unsigned int i;

	for (i = 0; i < DP_BLK_MAX_DISKS; i++) {
		struct blk_disk *d = atomic_load(&disks[i]);

		if (d != NULL && strcmp(d->name, name) == 0)
			return (int)i;
	}
	return -1;
}

/* The worker with the fewest disks (blk_lock held). */
static struct blk_lcore *
pick_lcore(const struct dp *dp)
{
	unsigned int w, best = 0;

	for (w = 0; w < dp->workers && w < BLK_MAX_LCORES; w++) {
		lcores[w].idx = w;
		if (atomic_load(&lcores[w].ndisks) < atomic_load(&lcores[best].ndisks))
			best = w;
	}
	return &lcores[best];
}

/* GET_CONFIG, and the inflight region for a backend that restarts. */
#define BLK_PROTOCOL_FEATURES                                                                      \
	((1ull << VHOST_USER_PROTOCOL_F_CONFIG) | (1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD))

/* Blk features offered (virtio 1.2, 5.2.3); the frontend may mask some. */
static uint64_t
offered_features(const struct blk_disk *d)
{
	uint64_t f = (1ull << VIRTIO_F_VERSION_1) | (1ull << VHOST_USER_F_PROTOCOL_FEATURES) |
		     (1ull << VIRTIO_BLK_F_SEG_MAX) | (1ull << VIRTIO_BLK_F_BLK_SIZE) |
		     (1ull << VIRTIO_BLK_F_FLUSH) | (1ull << VIRTIO_BLK_F_MQ);

	if (d->ro)
		f |= 1ull << VIRTIO_BLK_F_RO;
	else
		f |= (d->can_discard ? 1ull << VIRTIO_BLK_F_DISCARD : 0) |
		     (d->can_write_zeroes ? 1ull << VIRTIO_BLK_F_WRITE_ZEROES : 0);
	return f;
}

int
dp_blk_disk_add(struct dp *dp, const struct dp_blk_conf *conf, char *socket_path, size_t path_len,
		char *err, size_t errlen)
{
	struct blk_disk *d;
	uint64_t pf = 0;
	struct stat st;
	int rc, slot = -1;
	unsigned int i;

	if (dp == NULL || conf == NULL) {
		seterr(err, errlen, "no dataplane or no configuration");
		return -EINVAL;
	}
	rc = check_name(conf->name, err, errlen);
	if (rc < 0)
		return rc;
	if (conf->path == NULL || conf->path[0] == '\0' || strlen(conf->path) >= PATH_MAX) {
		seterr(err, errlen, "a backing file path is needed");
		return -EINVAL;
	}
	if (conf->queues < 1 || conf->queues > DP_BLK_MAX_QUEUES) {
		seterr(err, errlen, "queues must be 1..%d", DP_BLK_MAX_QUEUES);
		return -EINVAL;
	}
	if (conf->serial != NULL && strlen(conf->serial) > DP_BLK_SERIAL_LEN) {
		seterr(err, errlen, "serial longer than %d bytes", DP_BLK_SERIAL_LEN);
		return -EINVAL;
	}
	pthread_mutex_lock(&blk_lock);
	if (find_disk(conf->name) >= 0) {
		seterr(err, errlen, "disk %s exists", conf->name);
		rc = -EEXIST;
		goto out_unlock;
	}
	for (i = 0; i < DP_BLK_MAX_DISKS && slot < 0; i++)
		if (atomic_load(&disks[i]) == NULL)
			slot = (int)i;
	if (slot < 0) {
		seterr(err, errlen, "at most %d disks", DP_BLK_MAX_DISKS);
		rc = -ENOSPC;
		goto out_unlock;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL) {
		rc = -ENOMEM;
		goto out_unlock;
	}
	snprintf(d->name, sizeof(d->name), "%s", conf->name);
	snprintf(d->path, sizeof(d->path), "%s", conf->path);
	if (snprintf(d->sock, sizeof(d->sock), "%s/%s.sock", dp->vhost_dir, d->name) >=
	    (int)sizeof(d->sock)) {
		seterr(err, errlen, "socket path too long");
		rc = -ENAMETOOLONG;
		goto out_free;
	}
	memcpy(d->serial, conf->serial && conf->serial[0] ? conf->serial : conf->name,
	       strnlen(conf->serial && conf->serial[0] ? conf->serial : conf->name,
		       DP_BLK_SERIAL_LEN));
	d->ro = conf->read_only;
	d->nq = conf->queues;
	d->iops_limit = conf->iops_limit;
	d->bps_limit = conf->bps_limit;
	d->tok_ios = (double)d->iops_limit / 10 + 1;
	d->tok_bytes = (double)d->bps_limit / 10 + 1;
	atomic_store(&d->vid, -1);
	atomic_store(&d->state, DISK_IDLE);
	for (i = 0; i < RTE_DIM(blk_kinds) && d->ops == NULL; i++)
		if (blk_kinds[i]->match(d->path))
			d->ops = blk_kinds[i];
	if (d->ops == NULL) {
		seterr(err, errlen, "no backend serves %s", d->path);
		rc = -EINVAL;
		goto out_free;
	}
	d->can_discard = d->can_write_zeroes = true;
	d->max_discard_sectors = BLK_DISCARD_MAX;
	rc = d->ops->open(d, err, errlen);
	if (rc < 0)
		goto out_free;
	d->lc = pick_lcore(dp);
	if (lstat(d->sock, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			seterr(err, errlen, "%s exists and is not a socket", d->sock);
			rc = -EEXIST;
			goto out_close;
		}
		unlink(d->sock);
	}
	if (rte_vhost_driver_register(d->sock, 0) != 0) {
		seterr(err, errlen, "rte_vhost_driver_register(%s) failed", d->sock);
		rc = -EIO;
		goto out_close;
	}
	d->registered = true;
	/* Setting the features makes rte_vhost treat it as a device of our own. */
	if (rte_vhost_driver_set_features(d->sock, offered_features(d)) != 0 ||
	    rte_vhost_driver_get_protocol_features(d->sock, &pf) != 0 ||
	    rte_vhost_driver_set_protocol_features(d->sock, pf | BLK_PROTOCOL_FEATURES) != 0 ||
	    rte_vhost_driver_callback_register(d->sock, &blk_cb) != 0) {
		seterr(err, errlen, "cannot configure vhost socket %s", d->sock);
		rc = -EIO;
		goto out_unregister;
	}
	atomic_fetch_add(&d->lc->ndisks, 1);
	pthread_mutex_lock(&list_lock);
	atomic_store(&disks[slot], d);
	pthread_mutex_unlock(&list_lock);
	if (rte_vhost_driver_start(d->sock) != 0) {
		seterr(err, errlen, "cannot listen on %s", d->sock);
		rc = -EIO;
		goto out_unlist;
	}
	dp_vhost_wake();
	DP_LOG(INFO, "disk %s: %s %s, %" PRIu64 " bytes, %s%s, %u queue(s)\n", d->name,
	       d->ops->kind, d->path, d->size, d->ro ? "read-only" : "read-write",
	       d->direct ? ", O_DIRECT" : "", d->nq);
	if (socket_path != NULL && path_len > 0)
		snprintf(socket_path, path_len, "%s", d->sock);
	pthread_mutex_unlock(&blk_lock);
	return 0;

out_unlist:
	pthread_mutex_lock(&list_lock);
	atomic_store(&disks[slot], NULL);
	pthread_mutex_unlock(&list_lock);
	poller_quiesce();
	atomic_fetch_sub(&d->lc->ndisks, 1);
out_unregister:
	rte_vhost_driver_unregister(d->sock);
	unlink(d->sock);
out_close:
	d->ops->close(d);
out_free:
	free(d);
out_unlock:
	pthread_mutex_unlock(&blk_lock);
	return rc;
}

static void
disk_remove(int slot)
{
	struct blk_disk *d = atomic_load(&disks[slot]);

	/* Closes the connection (destroy_device drains it) and the socket. */
	if (d->registered)
		rte_vhost_driver_unregister(d->sock);
	unlink(d->sock);
	pthread_mutex_lock(&list_lock);
	atomic_store(&disks[slot], NULL);
	pthread_mutex_unlock(&list_lock);
	poller_quiesce();
	atomic_fetch_sub(&d->lc->ndisks, 1);
	queues_free(d);
	d->ops->close(d);
	free(d);
}

int
dp_blk_disk_del(struct dp *dp, const char *name, char *err, size_t errlen)
{
	int slot;

	if (dp == NULL || name == NULL)
		return -EINVAL;
	pthread_mutex_lock(&blk_lock);
	slot = find_disk(name);
	if (slot < 0) {
		pthread_mutex_unlock(&blk_lock);
		seterr(err, errlen, "no disk %s", name);
		return -ENOENT;
	}
	disk_remove(slot);
	pthread_mutex_unlock(&blk_lock);
	return 0;
}

static void
fill_stats(const struct blk_disk *d, struct dp_blk_stats *st)
{
	unsigned int i;

	memset(st, 0, sizeof(*st));
	snprintf(st->name, sizeof(st->name), "%s", d->name);
	snprintf(st->path, sizeof(st->path), "%s", d->path);
	st->connected = atomic_load(&d->state) == DISK_RUN;
	st->read_only = d->ro;
	st->direct = d->direct;
	st->queues = d->nq;
	st->size = d->size;
	st->reads = atomic_load(&d->ctr.reads);
	st->writes = atomic_load(&d->ctr.writes);
	st->flushes = atomic_load(&d->ctr.flushes);
	st->discards = atomic_load(&d->ctr.discards);
	st->write_zeroes = atomic_load(&d->ctr.write_zeroes);
	st->get_ids = atomic_load(&d->ctr.get_ids);
	st->read_bytes = atomic_load(&d->ctr.read_bytes);
	st->write_bytes = atomic_load(&d->ctr.write_bytes);
	st->throttled = atomic_load(&d->ctr.throttled);
	st->inflight = atomic_load(&d->ctr.inflight);
	for (i = 0; i < DP_BLK_ERR_N; i++)
		st->errors[i] = atomic_load(&d->ctr.errors[i]);
}

int
dp_blk_disk_stats(struct dp *dp, const char *name, struct dp_blk_stats *out, unsigned int max)
{
	unsigned int i, n = 0;

	if (dp == NULL || (out == NULL && max > 0))
		return -EINVAL;
	pthread_mutex_lock(&blk_lock);
	for (i = 0; i < DP_BLK_MAX_DISKS && n < max; i++) {
		struct blk_disk *d = atomic_load(&disks[i]);

		if (d == NULL || (name != NULL && strcmp(d->name, name) != 0))
			continue;
		fill_stats(d, &out[n++]);
	}
	pthread_mutex_unlock(&blk_lock);
	if (name != NULL && n == 0)
		return -ENOENT;
	return (int)n;
}

void
dp_blk_shutdown(struct dp *dp)
{
	unsigned int i;

	if (dp == NULL)
		return;
	pthread_mutex_lock(&blk_lock);
	for (i = 0; i < DP_BLK_MAX_DISKS; i++)
		if (atomic_load(&disks[i]) != NULL)
			disk_remove((int)i);
	/* no worker is inside a kind's poll any more (ndisks is 0) */
	poller_quiesce();
	for (i = 0; i < RTE_DIM(blk_kinds); i++)
		if (blk_kinds[i]->shutdown != NULL)
			blk_kinds[i]->shutdown();
	pthread_mutex_unlock(&blk_lock);
}
