/* SPDX-License-Identifier: MIT */
/*
 * Block backend kind "nbd": a remote volume (nbd://host[:port]/export or
 * nbd+unix:///export?socket=PATH) through the dataplane's asynchronous
 * NBD client (nbd.h), one connection per disk. The control thread
 * connects (bounded) and hands the connection to the poller, which alone
 * uses it until the disk is removed; the client reconnects by itself and
 * replays what was in flight. IN/OUT/FLUSH/DISCARD/WRITE_ZEROES map to
 * READ/WRITE/FLUSH/TRIM/WRITE_ZEROES; DISCARD and WRITE_ZEROES are
 * offered only when the export has TRIM and WRITE_ZEROES.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_blk.h>

#include "blk_priv.h"
#include "nbd.h"

#define NBD_INFLIGHT 256

struct blk_nbd {
	struct nbd_conn *conn;
	struct nbd_info info;
};

static bool
nbd_kind_match(const char *target)
{
	return strncmp(target, "nbd://", 6) == 0 || strncmp(target, "nbd+unix://", 11) == 0;
}

static void
nbd_kind_done(void *arg, uint64_t cookie, int status)
{
	struct blk_io *io = (struct blk_io *)(uintptr_t)cookie;

	(void)arg;
	blk_io_done(io, status < 0 ? status : (int)io->bytes);
}

static int
nbd_kind_open(struct blk_disk *d, char *err, size_t errlen)
{
	struct nbd_conf c = {
		.uri = d->path,
		.connect_timeout_ms = 5000,
		.max_reconnects = 8,
		.reconnect_delay_ms = 100,
		.max_inflight = NBD_INFLIGHT,
		.request_timeout_ms = 5000,
		.complete = nbd_kind_done,
		.complete_arg = d,
		.errbuf = err,
		.errbuf_len = errlen,
	};
	struct blk_nbd *b;
	int rc;

	b = calloc(1, sizeof(*b));
	if (b == NULL)
		return -ENOMEM;
	rc = nbd_connect(&c, &b->conn);
	if (rc < 0)
		goto out_free;
	b->info = *nbd_get_info(b->conn);
	if ((b->info.flags & NBD_FLAG_READ_ONLY) && !d->ro) {
		snprintf(err, errlen, "%s is a read-only export: attach it read-only", d->path);
		rc = -EROFS;
		goto out_close;
	}
	if (b->info.size == 0 || b->info.size % BLK_SECTOR != 0 ||
	    (b->info.min_block > 1 && BLK_SECTOR % b->info.min_block != 0)) {
		snprintf(err, errlen,
			 "%s: size %" PRIu64 " (block %u) does not make a disk of 512-byte sectors",
			 d->path, b->info.size, b->info.min_block);
		rc = -EINVAL;
		goto out_close;
	}
	d->size = b->info.size;
	d->can_discard = (b->info.flags & NBD_FLAG_SEND_TRIM) != 0;
	d->can_write_zeroes = (b->info.flags & NBD_FLAG_SEND_WRITE_ZEROES) != 0;
	if (b->info.max_block / BLK_SECTOR < d->max_discard_sectors)
		d->max_discard_sectors = b->info.max_block / BLK_SECTOR;
	d->be = b;
	return 0;

out_close:
	nbd_close(b->conn);
out_free:
	free(b);
	return rc;
}

static void
nbd_kind_close(struct blk_disk *d)
{
	struct blk_nbd *b = d->be;

	if (b == NULL)
		return;
	nbd_close(b->conn);
	free(b);
	d->be = NULL;
}

static bool
nbd_kind_can_submit(struct blk_disk *d)
{
	struct blk_nbd *b = d->be;

	return nbd_inflight(b->conn) < NBD_INFLIGHT;
}

static int
nbd_kind_submit(struct blk_disk *d, struct blk_io *io, const struct blk_req *req)
{
	struct blk_nbd *b = d->be;
	uint64_t off = req->sector * BLK_SECTOR;
	uint64_t cookie = (uint64_t)(uintptr_t)io;

	switch (req->type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		/* seg_max keeps a sane driver under both */
		if (req->data_len > b->info.max_payload || req->ndata > NBD_IOV_MAX)
			return -EINVAL;
		return nbd_submit(b->conn,
				  req->type == VIRTIO_BLK_T_IN ? NBD_OP_READ : NBD_OP_WRITE, off,
				  (uint32_t)req->data_len, req->data, (int)req->ndata, cookie);
	case VIRTIO_BLK_T_FLUSH:
		return nbd_submit(b->conn, NBD_OP_FLUSH, 0, 0, NULL, 0, cookie);
	case VIRTIO_BLK_T_DISCARD:
		return nbd_submit(b->conn, NBD_OP_TRIM, off, req->nsect * BLK_SECTOR, NULL, 0,
				  cookie);
	case VIRTIO_BLK_T_WRITE_ZEROES:
		return nbd_submit(b->conn, NBD_OP_WRITE_ZEROES, off, req->nsect * BLK_SECTOR, NULL,
				  0, cookie);
	}
	return -EINVAL;
}

static unsigned int
nbd_kind_poll(struct blk_disk *d)
{
	struct blk_nbd *b = d->be;
	int n;

	/* Idle and connected: nothing to send, no reply due. */
	if (nbd_inflight(b->conn) == 0 && nbd_fd(b->conn) >= 0)
		return 0;
	n = nbd_process(b->conn);
	return n > 0 ? (unsigned int)n : 0;
}

const struct blk_backend_ops blk_nbd_ops = {
	.kind = "nbd",
	.match = nbd_kind_match,
	.open = nbd_kind_open,
	.close = nbd_kind_close,
	.can_submit = nbd_kind_can_submit,
	.submit = nbd_kind_submit,
	.poll_disk = nbd_kind_poll,
};
