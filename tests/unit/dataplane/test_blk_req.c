/* SPDX-License-Identifier: MIT */
/*
 * blk_req: descriptor chains and virtio-blk request decoding, against a
 * fake guest memory of two regions (a piece crossing 0x8000 splits).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <linux/virtio_blk.h>

#include "blk_req.h"

#define MEM_SIZE 0x10000
#define SPLIT    0x8000
#define QSIZE    16
#define CAP      2048 /* sectors: 1 MiB */

static uint8_t mem[MEM_SIZE] __attribute__((aligned(4096)));
static struct vring_desc desc[QSIZE];
static struct blk_chain chain;

static void *
xl(void *ctx, uint64_t gpa, uint64_t *len)
{
	uint64_t end;

	(void)ctx;
	if (gpa >= MEM_SIZE)
		return NULL;
	end = gpa < SPLIT ? SPLIT : MEM_SIZE;
	if (*len > end - gpa)
		*len = end - gpa;
	return mem + gpa;
}

static void
set_desc(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	desc[i].addr = addr;
	desc[i].len = len;
	desc[i].flags = flags;
	desc[i].next = next;
}

static void
put_hdr(uint64_t gpa, uint32_t type, uint64_t sector)
{
	struct virtio_blk_outhdr h = { .type = type, .ioprio = 0, .sector = sector };

	memcpy(mem + gpa, &h, sizeof(h));
}

/* header (readable) at 0x100, data at 0x1000, status at 0x3000 */
static void
three(uint32_t type, uint64_t sector, uint32_t dlen, bool data_writable)
{
	put_hdr(0x100, type, sector);
	set_desc(0, 0x100, 16, VRING_DESC_F_NEXT, 1);
	set_desc(1, 0x1000, dlen, VRING_DESC_F_NEXT | (data_writable ? VRING_DESC_F_WRITE : 0), 2);
	set_desc(2, 0x3000, 1, VRING_DESC_F_WRITE, 0);
}

static int
parse(bool ro, struct blk_req *r, enum dp_blk_err *why)
{
	assert_int_equal(blk_chain_walk(desc, QSIZE, 0, xl, NULL, &chain), 0);
	return blk_req_parse(&chain, CAP, ro, r, why);
}

static void
test_read(void **state)
{
	struct blk_req r;
	enum dp_blk_err why;

	(void)state;
	three(VIRTIO_BLK_T_IN, 8, 4096, true);
	assert_int_equal(parse(false, &r, &why), 0);
	assert_int_equal(r.type, VIRTIO_BLK_T_IN);
	assert_int_equal(r.sector, 8);
	assert_int_equal(r.data_len, 4096);
	assert_int_equal(r.ndata, 1);
	assert_ptr_equal(r.data[0].iov_base, mem + 0x1000);
	assert_ptr_equal(r.status, mem + 0x3000);
	assert_true(r.aligned);
}

static void
test_write_split_and_any_layout(void **state)
{
	struct blk_req r;
	enum dp_blk_err why;

	(void)state;
	/* header and data in one descriptor crossing the region split,
	 * status folded into the end of a writable descriptor */
	put_hdr(SPLIT - 16 - 512, VIRTIO_BLK_T_OUT, 2046);
	set_desc(0, SPLIT - 16 - 512, 16 + 1024, VRING_DESC_F_NEXT, 1);
	set_desc(1, 0x3000, 1, VRING_DESC_F_WRITE, 0);
	assert_int_equal(parse(false, &r, &why), 0);
	assert_int_equal(r.type, VIRTIO_BLK_T_OUT);
	assert_int_equal(r.data_len, 1024);
	assert_int_equal(r.ndata, 2);
	assert_ptr_equal(r.data[0].iov_base, mem + SPLIT - 512);
	assert_int_equal(r.data[0].iov_len, 512);
	assert_ptr_equal(r.data[1].iov_base, mem + SPLIT);
	assert_ptr_equal(r.status, mem + 0x3000);
	/* one sector more is beyond the end */
	put_hdr(SPLIT - 16 - 512, VIRTIO_BLK_T_OUT, 2047);
	assert_int_equal(parse(false, &r, &why), -1);
	assert_int_equal(why, DP_BLK_ERR_OUT_OF_RANGE);
	assert_ptr_equal(r.status, mem + 0x3000);
}

static void
test_out_of_range(void **state)
{
	struct blk_req r;
	enum dp_blk_err why;

	(void)state;
	three(VIRTIO_BLK_T_IN, CAP - 7, 4096, true);
	assert_int_equal(parse(false, &r, &why), -1);
	assert_int_equal(why, DP_BLK_ERR_OUT_OF_RANGE);
	/* sector + length wrapping 64 bits */
	three(VIRTIO_BLK_T_IN, UINT64_MAX - 1, 4096, true);
	assert_int_equal(parse(false, &r, &why), -1);
	assert_int_equal(why, DP_BLK_ERR_OUT_OF_RANGE);
	three(VIRTIO_BLK_T_IN, CAP - 8, 4096, true);
	assert_int_equal(parse(false, &r, &why), 0);
}

static void
test_bad_layouts(void **state)
{
	struct blk_req r;
	enum dp_blk_err why;

	(void)state;
	/* data not a multiple of 512 */
	three(VIRTIO_BLK_T_IN, 0, 1000, true);
	assert_int_equal(parse(false, &r, &why), -1);
	assert_int_equal(why, DP_BLK_ERR_BAD_DESCRIPTOR);
	assert_ptr_equal(r.status, mem + 0x3000);
	/* read whose data is device-readable */
	three(VIRTIO_BLK_T_IN, 0, 512, false);
	assert_int_equal(parse(false, &r, &why), -1);
	assert_int_equal(why, DP_BLK_ERR_BAD_DESCRIPTOR);
	/* write whose data is device-writable */
	three(VIRTIO_BLK_T_OUT, 0, 512, true);
	assert_int_equal(parse(false, &r, &why), -1);
	assert_int_equal(why, DP_BLK_ERR_BAD_DESCRIPTOR);
	/* header shorter than 16 bytes */
	three(VIRTIO_BLK_T_IN, 0, 512, true);
	desc[0].len = 8;
	assert_int_equal(parse(false, &r, &why), -1);
	assert_int_equal(why, DP_BLK_ERR_BAD_DESCRIPTOR);
	/* no writable byte at all: nowhere to put a status */
	set_desc(0, 0x100, 16, 0, 0);
	assert_int_equal(parse(false, &r, &why), -1);
	assert_null(r.status);
	assert_int_equal(why, DP_BLK_ERR_BAD_DESCRIPTOR);
	/* zero-length read */
	three(VIRTIO_BLK_T_IN, 0, 0, true);
	assert_int_equal(parse(false, &r, &why), -1);
	assert_int_equal(why, DP_BLK_ERR_BAD_DESCRIPTOR);
}

static void
test_walk_faults(void **state)
{
	(void)state;
	/* readable after writable */
	set_desc(0, 0x100, 16, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
	set_desc(1, 0x200, 16, 0, 0);
	assert_int_equal(blk_chain_walk(desc, QSIZE, 0, xl, NULL, &chain), -EINVAL);
	/* a loop */
	set_desc(0, 0x100, 16, VRING_DESC_F_NEXT, 1);
	set_desc(1, 0x200, 16, VRING_DESC_F_NEXT, 0);
	assert_int_equal(blk_chain_walk(desc, QSIZE, 0, xl, NULL, &chain), -EINVAL);
	/* next beyond the table, head beyond the table */
	set_desc(0, 0x100, 16, VRING_DESC_F_NEXT, QSIZE);
	assert_int_equal(blk_chain_walk(desc, QSIZE, 0, xl, NULL, &chain), -EINVAL);
	assert_int_equal(blk_chain_walk(desc, QSIZE, QSIZE, xl, NULL, &chain), -EINVAL);
	/* outside guest memory, and crossing its end */
	set_desc(0, MEM_SIZE + 4096, 16, 0, 0);
	assert_int_equal(blk_chain_walk(desc, QSIZE, 0, xl, NULL, &chain), -EFAULT);
	set_desc(0, MEM_SIZE - 8, 16, 0, 0);
	assert_int_equal(blk_chain_walk(desc, QSIZE, 0, xl, NULL, &chain), -EFAULT);
	set_desc(0, UINT64_MAX - 4, 16, 0, 0);
	assert_int_equal(blk_chain_walk(desc, QSIZE, 0, xl, NULL, &chain), -EFAULT);
	/* indirect (not offered) */
	set_desc(0, 0x100, 16, VRING_DESC_F_INDIRECT, 0);
	assert_int_equal(blk_chain_walk(desc, QSIZE, 0, xl, NULL, &chain), -EINVAL);
}

static void
test_types(void **state)
{
	struct virtio_blk_discard_write_zeroes seg = { .sector = 16, .num_sectors = 8 };
	struct blk_req r;
	enum dp_blk_err why;

	(void)state;
	/* unknown type: UNSUPP with a status */
	three(99, 0, 512, true);
	assert_int_equal(parse(false, &r, &why), -1);
	assert_int_equal(why, DP_BLK_ERR_UNSUPPORTED);
	assert_ptr_equal(r.status, mem + 0x3000);
	/* writes to a read-only disk */
	three(VIRTIO_BLK_T_OUT, 0, 512, false);
	assert_int_equal(parse(true, &r, &why), -1);
	assert_int_equal(why, DP_BLK_ERR_READ_ONLY);
	/* flush: header and status only */
	put_hdr(0x100, VIRTIO_BLK_T_FLUSH, 0);
	set_desc(0, 0x100, 16, VRING_DESC_F_NEXT, 2);
	set_desc(2, 0x3000, 1, VRING_DESC_F_WRITE, 0);
	assert_int_equal(parse(false, &r, &why), 0);
	assert_int_equal(r.type, VIRTIO_BLK_T_FLUSH);
	assert_int_equal(parse(true, &r, &why), 0);
	/* get id: 20 bytes of answer */
	three(VIRTIO_BLK_T_GET_ID, 0, 20, true);
	assert_int_equal(parse(true, &r, &why), 0);
	assert_int_equal(r.data_len, 20);
	assert_int_equal(blk_iov_fill(r.data, r.ndata, "0123456789abcdefghij", 20), 20);
	assert_memory_equal(mem + 0x1000, "0123456789abcdefghij", 20);
	/* discard: one segment */
	three(VIRTIO_BLK_T_DISCARD, 0, sizeof(seg), false);
	memcpy(mem + 0x1000, &seg, sizeof(seg));
	assert_int_equal(parse(false, &r, &why), 0);
	assert_int_equal(r.sector, 16);
	assert_int_equal(r.nsect, 8);
	assert_int_equal(parse(true, &r, &why), -1);
	assert_int_equal(why, DP_BLK_ERR_READ_ONLY);
	/* discard with the unmap flag: unsupported (5.2.6.2) */
	seg.flags = VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP;
	memcpy(mem + 0x1000, &seg, sizeof(seg));
	assert_int_equal(parse(false, &r, &why), -1);
	assert_int_equal(why, DP_BLK_ERR_UNSUPPORTED);
	/* write zeroes with unmap, and beyond the end */
	three(VIRTIO_BLK_T_WRITE_ZEROES, 0, sizeof(seg), false);
	assert_int_equal(parse(false, &r, &why), 0);
	assert_true(r.unmap);
	seg.sector = CAP - 4;
	memcpy(mem + 0x1000, &seg, sizeof(seg));
	assert_int_equal(parse(false, &r, &why), -1);
	assert_int_equal(why, DP_BLK_ERR_OUT_OF_RANGE);
	/* two segments (max_discard_seg is 1) */
	three(VIRTIO_BLK_T_DISCARD, 0, 2 * sizeof(seg), false);
	assert_int_equal(parse(false, &r, &why), -1);
	assert_int_equal(why, DP_BLK_ERR_BAD_DESCRIPTOR);
}

static void
test_unaligned_data(void **state)
{
	struct blk_req r;
	enum dp_blk_err why;

	(void)state;
	three(VIRTIO_BLK_T_IN, 0, 1024, true);
	desc[1].addr = 0x1004;
	assert_int_equal(parse(false, &r, &why), 0);
	assert_false(r.aligned);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read),
		cmocka_unit_test(test_write_split_and_any_layout),
		cmocka_unit_test(test_out_of_range),
		cmocka_unit_test(test_bad_layouts),
		cmocka_unit_test(test_walk_faults),
		cmocka_unit_test(test_types),
		cmocka_unit_test(test_unaligned_data),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
