/* SPDX-License-Identifier: MIT */
/*
 * blk internals shared by the block backend's parts: the disk, its queues
 * and requests, and the backend kinds that serve them.
 *
 * Threads: "control" is a dp_blk_* call (serialised by blk.c); "poller"
 * is the switch worker lcore that serves a disk's rings (blk.c: every
 * disk belongs to one worker, its blk_lcore).
 */
#ifndef DP_BLK_PRIV_H
#define DP_BLK_PRIV_H

#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <rte_vhost.h>

#include "blk.h"
#include "blk_req.h"

struct blk_queue;
struct blk_disk;

/* What one worker lcore does for the disks it serves. */
struct blk_lcore {
	unsigned int idx;             /* the worker's index */
	_Atomic unsigned int ndisks;  /* disks it serves (written by control) */
	_Atomic bool running;         /* the worker polls (set by the worker) */
	_Atomic uint64_t rounds;      /* poll rounds, for quiescing (worker) */
	_Atomic uint64_t requests;    /* requests taken and completed (worker) */
	_Atomic uint64_t busy_cycles; /* TSC cycles of rounds that did block work */
};

/* One request taken from a ring: the slot of its head descriptor. */
struct blk_io {
	struct blk_queue *q;
	uint16_t head;
	bool busy;
	uint32_t gen; /* the disk's connection it came from */
	uint32_t type;
	uint32_t used_len;
	uint8_t *status;
	size_t bytes;
	struct blk_chain chain;
};

struct blk_queue {
	struct blk_disk *disk;
	uint16_t idx;
	bool ready;
	bool need_call;
	uint16_t size;
	uint16_t last_avail;
	uint16_t used_idx;
	bool inflight; /* the frontend shares the inflight region */
	uint16_t nresub, resub_pos;
	uint16_t *resub; /* heads in flight when the last backend stopped */
	struct rte_vhost_vring vr;
	struct blk_io *ios; /* size slots */
};

/* Counters: written by the poller only, read by stats. */
struct blk_counters {
	_Atomic uint64_t reads, writes, flushes, discards, write_zeroes, get_ids;
	_Atomic uint64_t read_bytes, write_bytes, throttled, inflight;
	_Atomic uint64_t errors[DP_BLK_ERR_N];
};

/*
 * A block backend kind, chosen by the disk's target (blk_kinds in blk.c).
 * (opt) members may be NULL. open/close run in the control thread, the
 * others on the poller and never block.
 */
struct blk_backend_ops {
	const char *kind; /* "file", "nbd" */
	/* Does this kind serve target (a path, a URI)? */
	bool (*match)(const char *target);
	/* Opens d->path (read-only if d->ro): sets d->size and d->be, and
	 * may clear d->can_discard, d->can_write_zeroes, lower
	 * d->max_discard_sectors, set d->direct. May fail: negative errno,
	 * reason in err. */
	int (*open)(struct blk_disk *d, char *err, size_t errlen);
	/* After the poller let go of the disk, nothing in flight. Never fails. */
	void (*close)(struct blk_disk *d);
	/* Room for one more request now? */
	bool (*can_submit)(struct blk_disk *d);
	/* Starts req (IN, OUT, FLUSH, DISCARD, WRITE_ZEROES) for io; its end
	 * is reported through blk_io_done() from a later poll. 0, or a
	 * negative errno when it cannot start (the request then fails). */
	int (*submit)(struct blk_disk *d, struct blk_io *io, const struct blk_req *req);
	/* (opt) Once per round of each worker, for the kind's disks that
	 * worker serves: move I/O, report ends. Returns work done (requests
	 * ended, system calls made for them). */
	unsigned int (*poll_kind)(struct blk_lcore *lc);
	/* (opt) Once per poller round for each disk of the kind. */
	unsigned int (*poll_disk)(struct blk_disk *d);
	/* (opt) Control, after the poller stopped and every disk closed. */
	void (*shutdown)(void);
};

struct blk_disk {
	char name[64];
	char path[PATH_MAX]; /* the target: a file or block device, or a URI */
	char sock[PATH_MAX];
	uint8_t serial[DP_BLK_SERIAL_LEN];
	const struct blk_backend_ops *ops;
	void *be;             /* the kind's state */
	struct blk_lcore *lc; /* the worker that serves it (fixed at add) */
	bool direct;
	bool can_discard;             /* offer DISCARD (when not read-only) */
	bool can_write_zeroes;        /* offer WRITE_ZEROES (when not read-only) */
	uint32_t max_discard_sectors; /* per DISCARD / WRITE_ZEROES (config space) */
	bool ro;
	bool registered;
	uint64_t size;
	unsigned int nq;
	uint64_t iops_limit, bps_limit;
	/* token buckets (poller) */
	double tok_ios, tok_bytes;
	uint64_t tok_tsc;
	_Atomic int state;
	_Atomic int vid;
	uint32_t addr_seen; /* vrings the frontend gave addresses (vhost thread) */
	int run_vid;
	uint32_t gen; /* connections so far (new_device) */
	unsigned int nq_run;
	struct rte_vhost_memory *mem;
	struct blk_queue q[DP_BLK_MAX_QUEUES];
	struct blk_counters ctr;
};

#define BLK_MAX_LCORES 16 /* DP_MAX_WORKERS */

/* A request started by submit() ended: res is the bytes moved (IN, OUT)
 * or 0, or a negative errno. Poller. */
void blk_io_done(struct blk_io *io, int res);

extern const struct blk_backend_ops blk_file_ops;
#ifdef DP_BLK_HAVE_NBD
extern const struct blk_backend_ops blk_nbd_ops;
#endif

#endif
