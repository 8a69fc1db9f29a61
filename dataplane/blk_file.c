/* SPDX-License-Identifier: MIT */
/*
 * Block backend kind "file": a regular file or a block device, served
 * with one io_uring per worker lcore, shared by the file disks that worker
 * serves, made by the worker itself on its first round with such a disk
 * (IORING_SETUP_SINGLE_ISSUER | DEFER_TASKRUN where the kernel has them,
 * 6.1 and later: completions then wait, flagged in the SQ ring, until the
 * worker enters the kernel for them, and the worker does so only when the
 * flag says there is something, together with its submissions: one
 * system call per busy round, none when idle, no interrupts). The file is
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
#include <sys/uio.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <liburing.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <linux/virtio_blk.h>

#include <rte_common.h>
#include <rte_lcore.h>

#include "blk_priv.h"
#include "dp_priv.h"

#define URING_DEPTH 256

struct blk_file {
	int fd;         /* buffered */
	int fd_direct;  /* O_DIRECT, or -1 */
	bool inline_io; /* in memory: served by system calls in the worker */
};

/* Per worker lcore (blk_lcore.idx); the worker's own, but for the
 * teardown at shutdown (control, after the workers stopped serving). */
struct file_ring {
	struct io_uring ring;
	_Atomic bool up;
	bool failed;              /* io_uring_queue_init refused: requests fail */
	unsigned int outstanding; /* requests in the ring */
	unsigned int idle_polls;  /* polls without a completion while some are */
	/* requests served in place (in-memory files), reported by the next
	 * poll as the ring's completions are */
	unsigned int ndone;
	struct {
		struct blk_io *io;
		int res;
	} done[URING_DEPTH];
};

static struct file_ring rings[BLK_MAX_LCORES];

static bool
in_memory(int fd)
{
	struct statfs sf;

	return fstatfs(fd, &sf) == 0 && (sf.f_type == TMPFS_MAGIC || sf.f_type == RAMFS_MAGIC);
}

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
	/* Some file systems refuse O_DIRECT (EINVAL): buffered then. On
	 * memory (tmpfs, ramfs) there is no cache to bypass, and io_uring
	 * cannot do their I/O without blocking (no FMODE_NOWAIT): it hands
	 * every request to an io-wq thread, a thread switch each way for a
	 * page copy. The worker does those in place instead (file_submit);
	 * they never wait for a device. */
	f->inline_io = in_memory(f->fd);
	f->fd_direct = f->inline_io ? -1 : open(d->path, flags | O_CLOEXEC | O_DIRECT);
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
	unsigned int i;

	for (i = 0; i < BLK_MAX_LCORES; i++) {
		if (atomic_load(&rings[i].up))
			io_uring_queue_exit(&rings[i].ring);
		atomic_store(&rings[i].up, false);
		rings[i].failed = false;
		rings[i].outstanding = rings[i].idle_polls = rings[i].ndone = 0;
	}
}

/* What io_uring cannot do without blocking (some writes, reads of some
 * file systems) runs in io-wq threads, which start with the worker's
 * affinity: on its core they would wait for the spinning worker to be
 * preempted. They go to the main lcore's CPUs (the control core) but the
 * worker's, when there are such. */
static void
iowq_off_worker(struct file_ring *r)
{
	rte_cpuset_t main_set = rte_lcore_cpuset(rte_get_main_lcore());
	rte_cpuset_t mine = rte_lcore_cpuset(rte_lcore_id());
	cpu_set_t set;
	int rc;

	CPU_ZERO(&set);
	for (unsigned int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &main_set) && !CPU_ISSET(c, &mine))
			CPU_SET(c, &set);
	if (CPU_COUNT(&set) == 0)
		return;
	rc = io_uring_register_iowq_aff(&r->ring, sizeof(set), &set);
	if (rc < 0)
		DP_LOG(WARNING, "io_uring io-wq affinity: %s (io-wq stays on the worker's core)\n",
		       strerror(-rc));
}

/* The worker's ring, made on first use (worker thread: SINGLE_ISSUER
 * binds it to the thread that makes it). NULL if the kernel refused. */
static struct file_ring *
ring_of(struct blk_lcore *lc)
{
	static const unsigned int flags[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
		IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
		0,
	};
	struct file_ring *r = &rings[lc->idx];
	unsigned int i;
	int rc = -EINVAL;

	if (atomic_load_explicit(&r->up, memory_order_relaxed))
		return r;
	if (r->failed)
		return NULL;
	for (i = 0; i < RTE_DIM(flags) && rc < 0; i++) {
		struct io_uring_params p = { .flags = flags[i] };

		rc = io_uring_queue_init_params(URING_DEPTH, &r->ring, &p);
	}
	if (rc < 0) {
		DP_LOG(ERR, "worker %u: io_uring_queue_init: %s; file disks on it fail\n", lc->idx,
		       strerror(-rc));
		r->failed = true;
		return NULL;
	}
	iowq_off_worker(r);
	atomic_store_explicit(&r->up, true, memory_order_release);
	return r;
}

static bool
file_can_submit(struct blk_disk *d)
{
	struct file_ring *r = ring_of(d->lc);

	/* a worker without a ring still takes requests, to fail them */
	return r == NULL || (io_uring_sq_space_left(&r->ring) > 0 && r->ndone < URING_DEPTH);
}

/* An in-memory file's request, done now with the same calls io_uring
 * would make; its end is reported by the next poll. */
static void
submit_inline(struct file_ring *r, struct blk_file *f, struct blk_io *io, const struct blk_req *req)
{
	off_t off = (off_t)(req->sector * BLK_SECTOR), len = (off_t)req->nsect * BLK_SECTOR;
	ssize_t res = 0;

	switch (req->type) {
	case VIRTIO_BLK_T_IN:
		res = preadv(f->fd, req->data, (int)req->ndata, off);
		break;
	case VIRTIO_BLK_T_OUT:
		res = pwritev(f->fd, req->data, (int)req->ndata, off);
		break;
	case VIRTIO_BLK_T_FLUSH:
		res = fdatasync(f->fd);
		break;
	case VIRTIO_BLK_T_DISCARD:
		res = fallocate(f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len);
		break;
	case VIRTIO_BLK_T_WRITE_ZEROES:
		res = fallocate(f->fd,
				(req->unmap ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE) |
					FALLOC_FL_KEEP_SIZE,
				off, len);
		break;
	}
	r->done[r->ndone].io = io;
	r->done[r->ndone].res = res < 0 ? -errno : (int)res;
	r->ndone++;
}

static int
file_submit(struct blk_disk *d, struct blk_io *io, const struct blk_req *req)
{
	struct blk_file *f = d->be;
	uint64_t off = req->sector * BLK_SECTOR, len = (uint64_t)req->nsect * BLK_SECTOR;
	int fd = f->fd_direct >= 0 && req->aligned ? f->fd_direct : f->fd;
	struct file_ring *r = ring_of(d->lc);
	struct io_uring_sqe *sqe;

	if (r == NULL)
		return -EIO;
	if (req->type != VIRTIO_BLK_T_IN && req->type != VIRTIO_BLK_T_OUT &&
	    req->type != VIRTIO_BLK_T_FLUSH && req->type != VIRTIO_BLK_T_DISCARD &&
	    req->type != VIRTIO_BLK_T_WRITE_ZEROES)
		return -EINVAL;
	if (f->inline_io) {
		submit_inline(r, f, io, req);
		return 0;
	}
	sqe = io_uring_get_sqe(&r->ring);
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
	r->outstanding++;
	return 0;
}

/* Polls without a completion, while requests are out, before the worker
 * enters the kernel anyway: an O_DIRECT write's end can wait as task
 * work the SQ ring's flag does not announce (seen on 6.18 with the worker
 * spinning: writes then ended only seconds later). */
#define URING_ENTER_AFTER 64

static unsigned int
file_poll(struct blk_lcore *lc)
{
	struct file_ring *r = &rings[lc->idx];
	struct io_uring_cqe *cqe;
	unsigned int n = 0;

	if (!atomic_load_explicit(&r->up, memory_order_relaxed))
		return 0;
	for (unsigned int i = 0; i < r->ndone; i++)
		blk_io_done(r->done[i].io, r->done[i].res);
	n = r->ndone;
	r->ndone = 0;
	/* One system call submits what the round queued and runs the ends
	 * waiting as task work (flagged in the SQ ring). */
	if (io_uring_sq_ready(&r->ring) > 0 ||
	    (r->outstanding > 0 && ((IO_URING_READ_ONCE(*r->ring.sq.kflags) & IORING_SQ_TASKRUN) ||
				    ++r->idle_polls >= URING_ENTER_AFTER))) {
		io_uring_submit_and_get_events(&r->ring);
		r->idle_polls = 0;
	}
	while (io_uring_peek_cqe(&r->ring, &cqe) == 0) {
		struct blk_io *io = io_uring_cqe_get_data(cqe);
		int res = cqe->res;

		io_uring_cqe_seen(&r->ring, cqe);
		blk_io_done(io, res);
		r->outstanding--;
		n++;
	}
	if (n > 0)
		r->idle_polls = 0;
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
