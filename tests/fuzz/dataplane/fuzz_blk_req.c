/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the virtio-blk request decoder (dataplane/blk_req.c),
 * what the DPU reads of a guest's block queue. Input layout:
 *   byte 0      queue size - 1 (1..256 descriptors)
 *   byte 1      head (any value: one beyond the table must be refused)
 *   byte 2      bit 0: the disk is read-only
 *   bytes 3-10  capacity in sectors (little endian)
 *   then        the descriptor table (queue size * 16 bytes)
 *   the rest    guest memory, guest physical 0 onwards, split in two
 *               host buffers at its middle (a descriptor across the
 *               middle becomes two pieces, as across memory regions).
 * Every buffer is allocated at its exact size, so ASan sees any read or
 * write past one. Checked: every piece lies inside guest memory; the
 * lengths add up; a decoded request stays on the disk and the status
 * byte is one of the chain's writable bytes; the status
 * byte and GET_ID fill are written (as the backend does); the same bytes
 * give the same answer.
 */
#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_blk.h>

#include "blk_req.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HDR 11

struct mem {
	uint8_t *half[2];
	uint64_t len[2]; /* half[1] starts at guest physical len[0] */
};

#include <stdio.h>

/* A failed check names its line (a crash file alone does not say which). */
#define check(ok) check_at((ok), __LINE__)

static void
check_at(int ok, int line)
{
	if (!ok) {
		fprintf(stderr, "fuzz_blk_req.c:%d: check failed\n", line);
		abort();
	}
}

static void *
xlate(void *ctx, uint64_t gpa, uint64_t *len)
{
	struct mem *m = ctx;
	int i = gpa >= m->len[0];
	uint64_t off = i ? gpa - m->len[0] : gpa;

	if (off >= m->len[i])
		return NULL;
	if (*len > m->len[i] - off)
		*len = m->len[i] - off;
	return m->half[i] + off;
}

static int
inside(const struct mem *m, const void *p, size_t len)
{
	int i;

	for (i = 0; i < 2; i++) {
		const uint8_t *b = m->half[i];

		if ((const uint8_t *)p >= b && (const uint8_t *)p <= b + m->len[i] &&
		    len <= m->len[i] - (uint64_t)((const uint8_t *)p - b))
			return 1;
	}
	return 0;
}

static size_t
check_iov(const struct mem *m, const struct iovec *iov, unsigned int n)
{
	size_t sum = 0;
	unsigned int i;

	check(n <= BLK_IOV_MAX);
	for (i = 0; i < n; i++) {
		check(iov[i].iov_len > 0);
		check(inside(m, iov[i].iov_base, iov[i].iov_len));
		sum += iov[i].iov_len;
	}
	return sum;
}

/* Is p one of the bytes of iov[0..n)? */
static int
in_iov(const struct iovec *iov, unsigned int n, const void *p)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if ((const uint8_t *)p >= (const uint8_t *)iov[i].iov_base &&
		    (const uint8_t *)p < (const uint8_t *)iov[i].iov_base + iov[i].iov_len)
			return 1;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct blk_chain c, again, orig;
	struct vring_desc *desc;
	struct blk_req req;
	enum dp_blk_err why = DP_BLK_ERR_N;
	uint64_t cap;
	uint16_t qsize, head;
	size_t tlen, mlen;
	bool ro;
	struct mem m;
	int rc, rc2;

	if (size < HDR)
		return 0;
	qsize = (uint16_t)(data[0] + 1);
	head = data[1];
	ro = data[2] & 1;
	memcpy(&cap, data + 3, sizeof(cap));
	cap = le64toh(cap);
	tlen = (size_t)qsize * sizeof(*desc);
	if (size < HDR + tlen)
		return 0;
	desc = malloc(tlen);
	check(desc != NULL);
	memcpy(desc, data + HDR, tlen);
	mlen = size - HDR - tlen;
	m.len[0] = mlen / 2;
	m.len[1] = mlen - m.len[0];
	m.half[0] = malloc(m.len[0] ? m.len[0] : 1);
	m.half[1] = malloc(m.len[1] ? m.len[1] : 1);
	check(m.half[0] != NULL && m.half[1] != NULL);
	memcpy(m.half[0], data + HDR + tlen, m.len[0]);
	memcpy(m.half[1], data + HDR + tlen + m.len[0], m.len[1]);

	rc = blk_chain_walk(desc, qsize, head, xlate, &m, &c);
	check(rc == 0 || rc == -EINVAL || rc == -EFAULT || rc == -E2BIG);
	rc2 = blk_chain_walk(desc, qsize, head, xlate, &m, &again);
	check(rc2 == rc);
	check(c.ndesc <= qsize);
	if (rc != 0)
		goto out;
	/* the same pieces (slots past nr/nw hold an earlier input's) */
	check(c.nr == again.nr && c.nw == again.nw && c.rlen == again.rlen &&
	      c.wlen == again.wlen && c.ndesc == again.ndesc);
	check(memcmp(c.r, again.r, c.nr * sizeof(c.r[0])) == 0);
	check(memcmp(c.w, again.w, c.nw * sizeof(c.w[0])) == 0);
	check(check_iov(&m, c.r, c.nr) == c.rlen);
	check(check_iov(&m, c.w, c.nw) == c.wlen);
	check(c.nr + c.nw >= 1 || c.rlen + c.wlen == 0);
	orig = c;

	rc = blk_req_parse(&c, cap, ro, &req, &why);
	if (rc != 0) {
		check(rc == -1 && why < DP_BLK_ERR_N && why != DP_BLK_ERR_IO_ERROR);
		/* the status byte is the chain's last writable byte */
		if (req.status != NULL) {
			check(in_iov(orig.w, orig.nw, req.status));
			*req.status = VIRTIO_BLK_S_IOERR;
		}
		goto out;
	}
	check(req.status != NULL && in_iov(orig.w, orig.nw, req.status));
	check(check_iov(&m, req.data, req.ndata) >= req.data_len);
	switch (req.type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		check(req.data_len > 0 && req.data_len % BLK_SECTOR == 0);
		check(req.sector <= cap && req.data_len / BLK_SECTOR <= cap - req.sector);
		check(!(ro && req.type == VIRTIO_BLK_T_OUT));
		break;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		check(!ro);
		check(req.nsect > 0 && req.nsect <= BLK_DISCARD_MAX);
		check(req.sector <= cap && req.nsect <= cap - req.sector);
		check(req.type == VIRTIO_BLK_T_WRITE_ZEROES || !req.unmap);
		break;
	case VIRTIO_BLK_T_GET_ID: {
		static const char serial[DP_BLK_SERIAL_LEN] = "fuzz-serial";

		check(req.data_len <= DP_BLK_SERIAL_LEN);
		check(blk_iov_fill(req.data, req.ndata, serial, req.data_len) == req.data_len);
		break;
	}
	case VIRTIO_BLK_T_FLUSH:
		check(req.data_len == 0);
		break;
	default:
		abort(); /* an unknown type must be refused */
	}
	*req.status = VIRTIO_BLK_S_OK;
out:
	free(m.half[0]);
	free(m.half[1]);
	free(desc);
	return 0;
}
