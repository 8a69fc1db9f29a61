/* SPDX-License-Identifier: MIT */
/*
 * Block backend kind "file": a regular file or a block device, served
 * with one io_uring shared by every file disk (the poller's). The file is
 * opened twice: buffered, and with O_DIRECT when its file system allows
 * it; a request goes through O_DIRECT when all its buffers are 512-byte
 * aligned. FLUSH is fdatasync (covers both descriptors: one inode),
 * DISCARD punches a hole, WRITE_ZEROES zeroes the range (or punches one
 * when the driver allows unmapping).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <liburing.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <linux/virtio_blk.h>

#include "blk_priv.h"

#define URING_DEPTH 256

struct blk_file {
	int fd;        /* buffered */
	int fd_direct; /* O_DIRECT, or -1 */
};

/* Set up with the first file disk (control), torn down at shutdown after
 * the poller stopped; the poller polls it once it is up. */
static struct io_uring uring;
static _Atomic bool uring_up;
/* Poller thread only: requests in the ring, and polls since the last
 * completion while some are. */
static unsigned int uring_outstanding, uring_idle_polls;

static bool
file_match(const char *target)
{
	return strstr(target, "://") == NULL;
}

static int
file_open(struct blk_disk *d, char *err, size_t errlen)
{
	int flags = d->ro ? O_RDONLY : O_RDWR;
	struct blk_file *f;
	struct stat st;
	int rc;

	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -ENOMEM;
	f->fd = open(d->path, flags | O_CLOEXEC);
	if (f->fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot open %s: %s", d->path, strerror(errno));
		goto out_free;
	}
	if (fstat(f->fd, &st) != 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", d->path, strerror(errno));
		goto out_close;
	}
	if (S_ISREG(st.st_mode)) {
		d->size = (uint64_t)st.st_size;
	} else if (S_ISBLK(st.st_mode)) {
		if (ioctl(f->fd, BLKGETSIZE64, &d->size) != 0) {
			rc = -errno;
			snprintf(err, errlen, "%s: %s", d->path, strerror(errno));
			goto out_close;
		}
	} else {
		snprintf(err, errlen, "%s is neither a regular file nor a block device", d->path);
		rc = -EINVAL;
		goto out_close;
	}
	if (d->size == 0 || d->size % BLK_SECTOR != 0) {
		snprintf(err, errlen, "%s: size %" PRIu64 " is not a non-zero multiple of 512",
			 d->path, d->size);
		rc = -EINVAL;
		goto out_close;
	}
	if (!atomic_load(&uring_up)) {
		rc = io_uring_queue_init(URING_DEPTH, &uring, 0);
		if (rc < 0) {
			snprintf(err, errlen, "io_uring_queue_init: %s", strerror(-rc));
			goto out_close;
		}
		atomic_store_explicit(&uring_up, true, memory_order_release);
	}
	/* tmpfs and some others refuse O_DIRECT (EINVAL): buffered then */
	f->fd_direct = open(d->path, flags | O_CLOEXEC | O_DIRECT);
	d->direct = f->fd_direct >= 0;
	d->be = f;
	return 0;

out_close:
	close(f->fd);
out_free:
	free(f);
	return rc;
}

static void
file_close(struct blk_disk *d)
{
	struct blk_file *f = d->be;

	if (f == NULL)
		return;
	close(f->fd);
	if (f->fd_direct >= 0)
		close(f->fd_direct);
	free(f);
	d->be = NULL;
}

static void
file_shutdown(void)
{
	if (atomic_load(&uring_up)) {
		io_uring_queue_exit(&uring);
		atomic_store(&uring_up, false);
		uring_outstanding = uring_idle_polls = 0;
	}
}

static bool
file_can_submit(struct blk_disk *d)
{
	(void)d;
	return io_uring_sq_space_left(&uring) > 0;
}

static int
file_submit(struct blk_disk *d, struct blk_io *io, const struct blk_req *req)
{
	struct blk_file *f = d->be;
	uint64_t off = req->sector * BLK_SECTOR, len = (uint64_t)req->nsect * BLK_SECTOR;
	int fd = f->fd_direct >= 0 && req->aligned ? f->fd_direct : f->fd;
	struct io_uring_sqe *sqe;

	if (req->type != VIRTIO_BLK_T_IN && req->type != VIRTIO_BLK_T_OUT &&
	    req->type != VIRTIO_BLK_T_FLUSH && req->type != VIRTIO_BLK_T_DISCARD &&
	    req->type != VIRTIO_BLK_T_WRITE_ZEROES)
		return -EINVAL;
	sqe = io_uring_get_sqe(&uring);
	if (sqe == NULL)
		return -EAGAIN;
	switch (req->type) {
	case VIRTIO_BLK_T_IN:
		io_uring_prep_readv(sqe, fd, req->data, req->ndata, off);
		break;
	case VIRTIO_BLK_T_OUT:
		io_uring_prep_writev(sqe, fd, req->data, req->ndata, off);
		break;
	case VIRTIO_BLK_T_FLUSH:
		io_uring_prep_fsync(sqe, f->fd, IORING_FSYNC_DATASYNC);
		break;
	case VIRTIO_BLK_T_DISCARD:
		io_uring_prep_fallocate(sqe, f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off,
					len);
		break;
	case VIRTIO_BLK_T_WRITE_ZEROES:
		io_uring_prep_fallocate(sqe, f->fd,
					(req->unmap ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE) |
						FALLOC_FL_KEEP_SIZE,
					off, len);
		break;
	}
	io_uring_sqe_set_data(sqe, io);
	uring_outstanding++;
	return 0;
}

/* Polls without a completion, while requests are out, before the poller
 * enters the kernel to collect completions that wait as task work (an
 * O_DIRECT write's end runs there): a poller that never makes a system
 * call would otherwise see them only seconds later. */
#define URING_ENTER_AFTER 64

static unsigned int
file_poll(void)
{
	struct io_uring_cqe *cqe;
	unsigned int n = 0;

	if (!atomic_load_explicit(&uring_up, memory_order_acquire))
		return 0;
	if (io_uring_sq_ready(&uring) > 0)
		io_uring_submit(&uring);
	while (io_uring_peek_cqe(&uring, &cqe) == 0) {
		struct blk_io *io = io_uring_cqe_get_data(cqe);
		int res = cqe->res;

		io_uring_cqe_seen(&uring, cqe);
		blk_io_done(io, res);
		uring_outstanding--;
		n++;
	}
	if (n > 0 || uring_outstanding == 0) {
		uring_idle_polls = 0;
	} else if (++uring_idle_polls >= URING_ENTER_AFTER) {
		uring_idle_polls = 0;
		io_uring_get_events(&uring);
	}
	return n;
}

const struct blk_backend_ops blk_file_ops = {
	.kind = "file",
	.match = file_match,
	.open = file_open,
	.close = file_close,
	.can_submit = file_can_submit,
	.submit = file_submit,
	.poll_kind = file_poll,
	.shutdown = file_shutdown,
};
