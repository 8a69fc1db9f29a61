/* SPDX-License-Identifier: MIT */
/*
 * dp_blk: vhost-user-blk disks served by the dataplane (rte_vhost) from
 * files and block devices (io_uring) or remote NBD exports (the NBD
 * client, nbd.h, when the dataplane is built with it). Each disk is a vhost-user server socket
 * <vhost_dir>/<name>.sock; the host's virtio-blk frontend (our shim, or
 * QEMU's vhost-user-blk-pci) connects, disconnects and reconnects at will;
 * the disk keeps its counters across connections.
 *
 * Requests (virtio 1.2, 5.2.6): IN, OUT, FLUSH, GET_ID, DISCARD,
 * WRITE_ZEROES, on split rings. Every descriptor chain is validated
 * (header readable and first, status byte writable and last, data lengths
 * multiples of 512, sector range inside the disk, addresses inside the
 * guest's memory table): a bad request is completed with
 * VIRTIO_BLK_S_IOERR (or S_UNSUPP for an unknown type) and counted, never
 * a crash; a chain whose status byte itself cannot be located is
 * completed with used length 0 and counted (bad_descriptor).
 *
 * Threads: every function here but the dp_blk_poll/lcore ones is called
 * from control threads (serialised internally) after dp_open() and never
 * from a worker. Requests are served by the switch's worker lcores: each
 * disk belongs to one worker, whose loop calls dp_blk_poll().
 * Errors are negative errno values with a reason in err (if not NULL).
 */
#ifndef DP_BLK_H
#define DP_BLK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dp;

#define DP_BLK_MAX_DISKS  64
#define DP_BLK_MAX_QUEUES 8
#define DP_BLK_SERIAL_LEN 20 /* virtio-blk GET_ID: 20 bytes, NUL-padded, not terminated */

struct dp_blk_conf {
	const char *name; /* 1..63 of [A-Za-z0-9._-], not starting with '.'; the socket's name */
	/* The target, whose size is the disk's: a regular file or block
	 * device path, or nbd://host[:port]/export or
	 * nbd+unix:///export?socket=PATH (at most PATH_MAX - 1 bytes). */
	const char *path;
	bool read_only;      /* offered as VIRTIO_BLK_F_RO; OUT/DISCARD/WRITE_ZEROES refused */
	unsigned int queues; /* 1..DP_BLK_MAX_QUEUES: the most the frontend may use */
	uint64_t iops_limit; /* requests per second, 0: none */
	uint64_t bps_limit;  /* data bytes per second, 0: none */
	const char *serial;  /* GET_ID answer, at most 20 bytes; NULL or "": the name */
};

/* Creates the disk and its socket; its path goes to socket_path. A file
 * is opened with O_DIRECT when its file system allows it (requests whose
 * buffers are not 512-byte aligned then go through a buffered descriptor
 * of the same file). An NBD export is connected here (blocking, at most
 * 5 s; the client reconnects by itself later); a read-only export needs
 * read_only (-EROFS). The size must be a multiple of 512 and not 0.
 * -EEXIST: a disk (or a socket file that is not a socket) by that name;
 * -EINVAL with "no backend serves": an nbd:// target without the client. */
int dp_blk_disk_add(struct dp *dp, const struct dp_blk_conf *conf, char *socket_path,
		    size_t path_len, char *err, size_t errlen);

/* Disconnects the frontend (in-flight requests are completed first),
 * removes the socket and closes the file. -ENOENT: no such disk. */
int dp_blk_disk_del(struct dp *dp, const char *name, char *err, size_t errlen);

/* Why a request was refused (index into dp_blk_stats.errors). */
enum dp_blk_err {
	DP_BLK_ERR_OUT_OF_RANGE,   /* sectors beyond the disk's end */
	DP_BLK_ERR_UNSUPPORTED,    /* unknown request type (S_UNSUPP) */
	DP_BLK_ERR_BAD_DESCRIPTOR, /* layout, lengths, alignment, addresses */
	DP_BLK_ERR_IO_ERROR,       /* the file's read/write/sync failed */
	DP_BLK_ERR_READ_ONLY,      /* a write to a read-only disk */
	DP_BLK_ERR_N,
};
extern const char *const dp_blk_err_names[DP_BLK_ERR_N]; /* "out_of_range", ... */

struct dp_blk_stats {
	char name[64];
	char path[256];
	bool connected; /* a frontend is attached and running */
	bool read_only;
	bool direct;         /* the file is open with O_DIRECT */
	unsigned int queues; /* configured */
	uint64_t size;       /* bytes */
	uint64_t reads, writes, flushes, discards, write_zeroes, get_ids;
	uint64_t read_bytes, write_bytes;
	uint64_t throttled; /* polls that left requests waiting for the limits */
	uint64_t errors[DP_BLK_ERR_N];
	uint64_t inflight; /* requests taken from the rings, not yet completed */
};

/* Stats of one disk (name != NULL) or of all, up to max; returns how many
 * (-ENOENT: no such disk). */
int dp_blk_disk_stats(struct dp *dp, const char *name, struct dp_blk_stats *out, unsigned int max);

/* Deletes every disk and tears down the workers' io_urings: call before
 * dp_close(). Accepts NULL. */
void dp_blk_shutdown(struct dp *dp);

/* Worker w (0..15) serves its disks, once per round of its loop. Returns
 * the work done (requests taken and ended, system calls for them): 0
 * when idle. Counts the round's TSC cycles when it did block work. */
unsigned int dp_blk_poll(unsigned int w);

/* Worker w stops polling (its loop ends): quiescing skips it. */
void dp_blk_lcore_stop(unsigned int w);

/* Requests worker w completed, and TSC cycles of its rounds that did
 * block work. */
void dp_blk_lcore_stats(unsigned int w, uint64_t *requests, uint64_t *busy_cycles);

#endif
