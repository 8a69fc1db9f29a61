/* SPDX-License-Identifier: MIT */
/*
 * blk_req: descriptor chains and virtio-blk request decoding (blk_req.h).
 */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include <linux/virtio_blk.h>

#include "blk_req.h"

/* A volatile read: the guest may rewrite the table while we walk it. */
static void
desc_copy(const struct vring_desc *d, struct vring_desc *out)
{
	const volatile struct vring_desc *v = d;

	out->addr = v->addr;
	out->len = v->len;
	out->flags = v->flags;
	out->next = v->next;
}

static int
add_pieces(struct iovec *iov, unsigned int *n, uint64_t gpa, uint64_t len, blk_xlate_fn xl,
	   void *ctx)
{
	while (len > 0) {
		uint64_t got = len;
		void *va;

		if (gpa + len < gpa)
			return -EFAULT;
		va = xl(ctx, gpa, &got);
		if (va == NULL || got == 0)
			return -EFAULT;
		if (got > len)
			got = len;
		if (*n == BLK_IOV_MAX)
			return -E2BIG;
		iov[*n].iov_base = va;
		iov[*n].iov_len = got;
		(*n)++;
		gpa += got;
		len -= got;
	}
	return 0;
}

int
blk_chain_walk(const struct vring_desc *desc, uint16_t qsize, uint16_t head, blk_xlate_fn xl,
	       void *ctx, struct blk_chain *c)
{
	struct vring_desc d;
	uint16_t idx = head;
	bool writable = false;
	int rc;

	c->nr = c->nw = 0;
	c->rlen = c->wlen = 0;
	c->ndesc = 0;
	for (;;) {
		if (idx >= qsize || c->ndesc >= qsize)
			return -EINVAL; /* beyond the table, or a loop */
		desc_copy(&desc[idx], &d);
		c->ndesc++;
		if (d.flags & VRING_DESC_F_INDIRECT)
			return -EINVAL; /* VIRTIO_F_INDIRECT_DESC is not offered */
		if (d.flags & VRING_DESC_F_WRITE) {
			writable = true;
			rc = add_pieces(c->w, &c->nw, d.addr, d.len, xl, ctx);
			c->wlen += d.len;
		} else {
			/* virtio 1.2, 2.7.4.2: readable descriptors come first */
			if (writable)
				return -EINVAL;
			rc = add_pieces(c->r, &c->nr, d.addr, d.len, xl, ctx);
			c->rlen += d.len;
		}
		if (rc < 0)
			return rc;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 0;
		idx = d.next;
	}
}

/* Copies len bytes from the start of iov into out; false if shorter. */
static bool
iov_read(const struct iovec *iov, unsigned int n, void *out, size_t len)
{
	uint8_t *o = out;
	unsigned int i;

	for (i = 0; i < n && len > 0; i++) {
		size_t k = iov[i].iov_len < len ? iov[i].iov_len : len;

		memcpy(o, iov[i].iov_base, k);
		o += k;
		len -= k;
	}
	return len == 0;
}

size_t
blk_iov_fill(const struct iovec *iov, unsigned int n, const void *src, size_t len)
{
	const uint8_t *s = src;
	size_t done = 0;
	unsigned int i;

	for (i = 0; i < n && done < len; i++) {
		size_t k = iov[i].iov_len < len - done ? iov[i].iov_len : len - done;

		memcpy(iov[i].iov_base, s + done, k);
		done += k;
	}
	return done;
}

/* Drops the first `skip` bytes of iov (in place); returns the new start. */
static struct iovec *
iov_skip(struct iovec *iov, unsigned int *n, size_t skip)
{
	while (*n > 0 && skip >= iov->iov_len) {
		skip -= iov->iov_len;
		iov++;
		(*n)--;
	}
	if (*n > 0 && skip > 0) {
		iov->iov_base = (uint8_t *)iov->iov_base + skip;
		iov->iov_len -= skip;
	}
	return iov;
}

/* Drops the last byte of iov (n >= 1 pieces, total >= 1); returns it. */
static uint8_t *
iov_pop_last_byte(struct iovec *iov, unsigned int *n)
{
	while (*n > 0 && iov[*n - 1].iov_len == 0)
		(*n)--;
	if (*n == 0)
		return NULL;
	iov[*n - 1].iov_len--;
	uint8_t *last = (uint8_t *)iov[*n - 1].iov_base + iov[*n - 1].iov_len;
	if (iov[*n - 1].iov_len == 0)
		(*n)--;
	return last;
}

static bool
iov_aligned(const struct iovec *iov, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (((uintptr_t)iov[i].iov_base | iov[i].iov_len) & (BLK_SECTOR - 1))
			return false;
	return true;
}

static bool
in_range(uint64_t sector, uint64_t nsect, uint64_t capacity)
{
	return sector <= capacity && nsect <= capacity - sector;
}

int
blk_req_parse(struct blk_chain *c, uint64_t capacity, bool read_only, struct blk_req *req,
	      enum dp_blk_err *why)
{
	struct virtio_blk_outhdr hdr;
	struct virtio_blk_discard_write_zeroes seg;
	unsigned int n;

	memset(req, 0, sizeof(*req));
	/* virtio 1.2, 5.2.6: the status byte is the last byte the device may
	 * write; without it nothing can be reported. */
	if (c->wlen == 0) {
		*why = DP_BLK_ERR_BAD_DESCRIPTOR;
		return -1;
	}
	req->status = iov_pop_last_byte(c->w, &c->nw);
	c->wlen--;
	if (c->rlen < sizeof(hdr) || !iov_read(c->r, c->nr, &hdr, sizeof(hdr))) {
		*why = DP_BLK_ERR_BAD_DESCRIPTOR;
		return -1;
	}
	req->type = le32toh(hdr.type);
	req->sector = le64toh(hdr.sector);
	n = c->nr;
	struct iovec *rdata = iov_skip(c->r, &n, sizeof(hdr));
	unsigned int nrdata = n;
	size_t rdata_len = c->rlen - sizeof(hdr);

	switch (req->type) {
	case VIRTIO_BLK_T_IN:
		if (rdata_len != 0 || c->wlen == 0 || c->wlen % BLK_SECTOR != 0)
			goto bad;
		if (!in_range(req->sector, c->wlen / BLK_SECTOR, capacity))
			goto out_of_range;
		req->data = c->w;
		req->ndata = c->nw;
		req->data_len = c->wlen;
		break;
	case VIRTIO_BLK_T_OUT:
		if (c->wlen != 0 || rdata_len == 0 || rdata_len % BLK_SECTOR != 0)
			goto bad;
		if (read_only)
			goto read_only;
		if (!in_range(req->sector, rdata_len / BLK_SECTOR, capacity))
			goto out_of_range;
		req->data = rdata;
		req->ndata = nrdata;
		req->data_len = rdata_len;
		break;
	case VIRTIO_BLK_T_FLUSH:
		if (rdata_len != 0 || c->wlen != 0)
			goto bad;
		break;
	case VIRTIO_BLK_T_GET_ID:
		if (rdata_len != 0 || c->wlen == 0)
			goto bad;
		req->data = c->w;
		req->ndata = c->nw;
		req->data_len = c->wlen < DP_BLK_SERIAL_LEN ? c->wlen : DP_BLK_SERIAL_LEN;
		break;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		/* max_discard_seg = max_write_zeroes_seg = 1 in the config */
		if (c->wlen != 0 || rdata_len != sizeof(seg) ||
		    !iov_read(rdata, nrdata, &seg, sizeof(seg)))
			goto bad;
		if (read_only)
			goto read_only;
		req->sector = le64toh(seg.sector);
		req->nsect = le32toh(seg.num_sectors);
		uint32_t flags = le32toh(seg.flags);
		/* 5.2.6.2: unmap is only meaningful for write zeroes; other
		 * flag bits are reserved. */
		if ((flags & ~VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) != 0 ||
		    (req->type == VIRTIO_BLK_T_DISCARD && flags != 0)) {
			*why = DP_BLK_ERR_UNSUPPORTED;
			return -1;
		}
		req->unmap = flags != 0;
		if (req->nsect == 0 || req->nsect > BLK_DISCARD_MAX)
			goto bad;
		if (!in_range(req->sector, req->nsect, capacity))
			goto out_of_range;
		break;
	default:
		*why = DP_BLK_ERR_UNSUPPORTED;
		return -1;
	}
	req->aligned = iov_aligned(req->data, req->ndata);
	return 0;

bad:
	*why = DP_BLK_ERR_BAD_DESCRIPTOR;
	return -1;
out_of_range:
	*why = DP_BLK_ERR_OUT_OF_RANGE;
	return -1;
read_only:
	*why = DP_BLK_ERR_READ_ONLY;
	return -1;
}
