/* SPDX-License-Identifier: MIT */
/*
 * dpu_blk: the DPU's block backend as the agent sees it. The agent adds a
 * disk (a vhost-user-blk server socket serving one volume) when a VM with
 * that disk starts, removes it when the VM stops, and reads its counters;
 * it never calls dataplane/blk.h itself.
 *
 * Implementations (an explicit list, chosen with the dataplane by
 * nicvisor-dpu --dataplane):
 *   "fake"  blk_fake.c: disks kept in memory, no sockets and no I/O; it
 *           checks that a file backing exists and can be opened as asked.
 *           For unit tests, the API's integration tests and builds without
 *           DPDK.
 *   "dpdk"  blk_dp.c: dataplane/blk.h on the agent's DPDK dataplane (the
 *           struct dp of its dpu_net; the first disk starts a lazy one).
 *           Built only with NV_HAVE_DATAPLANE.
 *
 * Every member is mandatory and may fail unless noted. The agent calls
 * them from its control threads with its lock held, one call at a time;
 * none is called from a dataplane worker. They may block briefly (adding a
 * disk opens its file or dials its NBD server and listens on a socket) but
 * never wait on a guest. Errors are negative errno values with a reason for
 * a person in err.
 */
#ifndef DPU_BLK_H
#define DPU_BLK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DPU_BLK_ERR_MAX      256
#define DPU_BLK_NAME_MAX     48 /* the agent's: "vm-<16 hex>-disk<N>" */
#define DPU_BLK_SERIAL_MAX   20 /* virtio 1.2, 5.2.6: VIRTIO_BLK_ID_BYTES */
#define DPU_BLK_MAX_QUEUES   16
#define DPU_BLK_ERROR_KINDS  8
#define DPU_BLK_ERROR_REASON 24

struct dpu_blk;

/* One disk as the agent asks for it. Exactly one of path and nbd_url. */
struct dpu_blk_disk_conf {
	const char *name;    /* unique among the backend's disks */
	const char *path;    /* a file backing (the volume's sparse file), or NULL */
	const char *nbd_url; /* "nbd://host:port/export", or NULL */
	uint64_t size_bytes; /* the volume's size, a multiple of 512 */
	bool read_only;      /* offer VIRTIO_BLK_F_RO and refuse writes */
	unsigned int queues; /* 1..DPU_BLK_MAX_QUEUES request queues */
	const char *serial;  /* VIRTIO_BLK_T_GET_ID, at most 20 bytes */
	uint64_t max_iops;   /* requests per second, 0: none */
	uint64_t max_bps;    /* data bytes per second, 0: none */
};

/* Counters of one disk. */
struct dpu_blk_stats {
	char disk[DPU_BLK_NAME_MAX];
	bool connected; /* a vhost-user frontend is connected and running */
	bool read_only;
	uint64_t read_ops, read_bytes;
	uint64_t write_ops, write_bytes;
	uint64_t flush_ops, discard_ops;
	uint64_t throttled; /* polls that left requests waiting for the limits */
	unsigned int nerrors;
	struct {
		char reason[DPU_BLK_ERROR_REASON]; /* "io_error", "unsupported", ... */
		uint64_t count;
	} errors[DPU_BLK_ERROR_KINDS];
};

struct dpu_blk_ops {
	const char *name; /* "fake", "dpdk" */
	/* A disk: a vhost-user-blk server socket whose path goes to
	 * socket_path. The frontend may connect and reconnect at any time
	 * while the disk exists. -EEXIST if a disk of that name exists,
	 * -ENOENT/-EACCES if the file cannot be opened as asked. */
	int (*disk_add)(struct dpu_blk *b, const struct dpu_blk_disk_conf *conf, char *socket_path,
			size_t path_len, char *err, size_t errlen);
	/* Remove a disk once its in-flight requests completed; -ENOENT if
	 * there is none. */
	int (*disk_del)(struct dpu_blk *b, const char *name, char *err, size_t errlen);
	/* Counters of one disk (name != NULL) or of every disk, at most max
	 * of them; the number filled, or a negative errno (-ENOENT: no such
	 * disk). */
	int (*disk_stats)(struct dpu_blk *b, const char *name, struct dpu_blk_stats *out,
			  unsigned int max);
	/* Remove every disk and free b. Never fails. */
	void (*close)(struct dpu_blk *b);
};

struct dpu_blk {
	const struct dpu_blk_ops *ops;
};

void dpu_blk_close(struct dpu_blk *b); /* accepts NULL */

struct dpu_net;
#ifdef NV_HAVE_DATAPLANE
/* The DPDK backend on net's dataplane (net from dpu_net_open() in the
 * default or "on" mode; -ENODEV for any other). Close it before net: its
 * close stops the dataplane's block thread. */
int dpu_blk_dp_open(struct dpu_net *net, struct dpu_blk **out);
#endif

/* The fake. sock_dir only makes the socket paths it reports
 * (<sock_dir>/<name>.sock); nothing is created there. */
int dpu_blk_fake_open(const char *sock_dir, struct dpu_blk **out);

/* Test hooks of the fake (b must be a fake). */
/* A call of op ("disk_add", "disk_del") fails with err (a negative errno):
 * the one after `after` more calls of op succeed. Once. */
void dpu_blk_fake_fail(struct dpu_blk *b, const char *op, unsigned int after, int err);
/* Set the counters the fake reports for an existing disk: -ENOENT if none. */
int dpu_blk_fake_set_counters(struct dpu_blk *b, const char *name, uint64_t read_ops,
			      uint64_t write_ops, const char *error_reason, uint64_t errors);
/* Disks the fake holds. */
size_t dpu_blk_fake_count(struct dpu_blk *b);
/* What a disk was added with (its strings are the fake's, good until the
 * next call into it); false if none. */
bool dpu_blk_fake_disk(struct dpu_blk *b, const char *name, struct dpu_blk_disk_conf *out);

#endif
