/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the split virtqueue walker (vmm/virtq.c) over a
 * fuzzed guest memory image, ring addresses, queue size, features and a
 * script of what the device and the guest do next.
 *
 * Input: a 16-byte header, nops 4-byte operations, then the memory image.
 *   0      queue size, log2 (mod 16)
 *   1      features: bit 0 INDIRECT_DESC, bit 1 EVENT_IDX
 *   2      share of the image in region 0, /256 (the rest is region 1)
 *   3      nops
 *   4..15  descriptor table, available ring, used ring: gpa, 32-bit each
 *   ops    {op, a, b, c}: op % 4 = 0 pop, 1 push the last chain (length
 *          a | b << 8), 2 need_notify, 3 the guest writes byte c at image
 *          offset a | b << 8 (the rings change between two pops)
 * Guest RAM is two regions, each its own allocation of exactly its size
 * (region 0 at gpa 0, region 1 at gpa 1 MiB), so that ASan catches a read
 * or write of one byte outside guest memory. Beyond that, every chain
 * popped must lie in RAM, hold 1..VMM_VIRTQ_MAX_SEGS buffers, readable
 * ones first, its head within the queue; a broken queue stays broken.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guest_mem.h"
#include "virtq.h"

#define HDR_SIZE    16
#define REGION1_GPA (1ull << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int ok)
{
	if (!ok)
		abort();
}

static uint32_t
le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* [p, p + len) inside one region of mem. */
static int
in_ram(const struct vmm_mem *mem, const uint8_t *p, uint32_t len)
{
	for (unsigned int i = 0; i < mem->nregions; i++) {
		const struct vmm_mem_region *r = &mem->regions[i];

		if (p >= r->hva && p <= r->hva + r->size && len <= r->hva + r->size - p)
			return 1;
	}
	return 0;
}

static void
check_chain(const struct vmm_virtq *q, const struct vmm_mem *mem, const struct vmm_virtq_chain *c)
{
	uint8_t buf[256];

	check(c->head < q->size);
	check(c->nout + c->nin >= 1 && c->nout + c->nin <= VMM_VIRTQ_MAX_SEGS);
	for (unsigned int i = 0; i < c->nout + c->nin; i++)
		check(c->iov[i].len == 0 ? c->iov[i].base == NULL
					 : in_ram(mem, c->iov[i].base, c->iov[i].len));
	/* What a device does with it: read the request, write an answer. */
	check(vmm_virtq_read(c, buf, sizeof(buf)) <= sizeof(buf));
	memset(buf, 0x5a, sizeof(buf));
	check(vmm_virtq_write(c, buf, sizeof(buf)) <= vmm_virtq_writable(c));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vmm_mem mem = { .fd = -1, .nregions = 2 };
	struct vmm_virtq q;
	struct vmm_virtq_chain c;
	const uint8_t *ops, *image;
	size_t nops, image_len, len0;
	bool have_chain = false, broken = false;
	uint16_t qsize;
	uint64_t features;
	int rc;

	if (size < HDR_SIZE)
		return 0;
	nops = data[3];
	if (size < HDR_SIZE + 4 * nops)
		return 0;
	ops = data + HDR_SIZE;
	image = ops + 4 * nops;
	image_len = size - HDR_SIZE - 4 * nops;
	len0 = image_len * data[2] / 256;
	qsize = (uint16_t)(1u << (data[0] % 16));
	features = ((data[1] & 1) ? 1ull << VMM_VIRTIO_F_RING_INDIRECT_DESC : 0) |
		   ((data[1] & 2) ? 1ull << VMM_VIRTIO_F_RING_EVENT_IDX : 0);

	/* Exactly sized, never empty allocations (malloc(0) may alias). */
	mem.regions[0] = (struct vmm_mem_region){ .gpa = 0, .size = len0 };
	mem.regions[1] = (struct vmm_mem_region){ .gpa = REGION1_GPA, .size = image_len - len0 };
	mem.regions[0].hva = malloc(len0 ? len0 : 1);
	mem.regions[1].hva = malloc(image_len - len0 ? image_len - len0 : 1);
	check(mem.regions[0].hva != NULL && mem.regions[1].hva != NULL);
	memcpy(mem.regions[0].hva, image, len0);
	memcpy(mem.regions[1].hva, image + len0, image_len - len0);
	mem.size = image_len;

	rc = vmm_virtq_init(&q, &mem, qsize, le32(data + 4), le32(data + 8), le32(data + 12),
			    features);
	if (rc != 0) {
		check(rc == -EINVAL || rc == -EFAULT);
		goto out;
	}
	for (size_t i = 0; i < nops; i++) {
		const uint8_t *op = ops + 4 * i;
		size_t at = (size_t)op[1] | (size_t)op[2] << 8;

		switch (op[0] % 4) {
		case 0:
			rc = vmm_virtq_pop(&q, &c);
			check(rc == 0 || rc == 1 || rc == -EBADMSG);
			check(!broken || rc == -EBADMSG);
			if (rc == -EBADMSG) {
				check(q.broken && q.why != NULL);
				broken = true;
			}
			if (rc == 1) {
				check_chain(&q, &mem, &c);
				have_chain = true;
			}
			break;
		case 1:
			if (have_chain)
				vmm_virtq_push(&q, c.head, (uint32_t)at);
			break;
		case 2:
			vmm_virtq_need_notify(&q);
			break;
		default:
			if (at < len0)
				mem.regions[0].hva[at] = op[3];
			else if (at < image_len)
				mem.regions[1].hva[at - len0] = op[3];
			break;
		}
	}
out:
	free(mem.regions[0].hva);
	free(mem.regions[1].hva);
	return 0;
}
