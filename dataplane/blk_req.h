/* SPDX-License-Identifier: MIT */
/*
 * blk_req: the part of the block backend that reads what a guest posted:
 * a split-ring descriptor chain walked into readable and writable byte
 * ranges of host memory, then decoded as a virtio-blk request (virtio
 * 1.2, 5.2.6). Pure functions of their inputs (unit tested); no DPDK.
 *
 * Guest memory is shared with a guest that may rewrite it at any time:
 * every descriptor and the request header are copied once, then checked.
 */
#ifndef DP_BLK_REQ_H
#define DP_BLK_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <linux/virtio_ring.h>

#include "blk.h"

#define BLK_SECTOR 512u
/* Pieces of one chain, each side: the most descriptors a driver may use
 * (BLK_SEG_MAX data + header + status) with room for pieces split where
 * guest memory regions meet. */
#define BLK_IOV_MAX     160
#define BLK_SEG_MAX     126        /* data descriptors offered to the driver (config seg_max) */
#define BLK_DISCARD_MAX (1u << 22) /* sectors of one discard / write-zeroes segment */

/* Guest physical range -> host address; *len shrinks to what is
 * contiguous there. NULL: not in the guest's memory table. */
typedef void *(*blk_xlate_fn)(void *ctx, uint64_t gpa, uint64_t *len);

struct blk_chain {
	struct iovec r[BLK_IOV_MAX]; /* device-readable, in chain order */
	struct iovec w[BLK_IOV_MAX]; /* device-writable, after every readable one */
	unsigned int nr, nw;
	size_t rlen, wlen;
	unsigned int ndesc;
};

/* Walks the chain at head (no indirect descriptors: not offered).
 * 0, or -EINVAL: head or next beyond the ring, a loop, a readable
 * descriptor after a writable one, an INDIRECT flag, a length overflow;
 * -EFAULT: an address outside guest memory; -E2BIG: too many pieces. */
int blk_chain_walk(const struct vring_desc *desc, uint16_t qsize, uint16_t head, blk_xlate_fn xl,
		   void *ctx, struct blk_chain *c);

struct blk_req {
	uint32_t type;   /* VIRTIO_BLK_T_* */
	uint64_t sector; /* IN/OUT: first sector; DISCARD/WRITE_ZEROES: the segment's */
	uint32_t nsect;  /* DISCARD/WRITE_ZEROES: sectors of the segment */
	bool unmap;      /* WRITE_ZEROES: the driver allows deallocation */
	uint8_t *status; /* where the status byte goes; NULL: nowhere (bad chain) */
	/* IN: c->w less the status byte; OUT: c->r less the header. */
	struct iovec *data;
	unsigned int ndata;
	size_t data_len;
	bool aligned; /* every data piece starts and ends on 512 bytes (O_DIRECT) */
};

/* Decodes the chain (its iovecs are trimmed in place). 0: serve it;
 * -1: refuse it with *why (req->status set when the chain has a writable
 * last byte; the caller writes VIRTIO_BLK_S_UNSUPP for
 * DP_BLK_ERR_UNSUPPORTED, VIRTIO_BLK_S_IOERR otherwise). */
int blk_req_parse(struct blk_chain *c, uint64_t capacity_sectors, bool read_only,
		  struct blk_req *req, enum dp_blk_err *why);

/* Copies len bytes of src into the pieces of iov (GET_ID); returns the
 * count copied. */
size_t blk_iov_fill(const struct iovec *iov, unsigned int n, const void *src, size_t len);

#endif
