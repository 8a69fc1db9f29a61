/* SPDX-License-Identifier: MIT */
/*
 * Unit tests: vmm/virtq.c, the device side of a split virtqueue over a
 * real guest RAM memfd. Good chains (direct, indirect, zero-length
 * buffers), the used ring and notification suppression (flags and
 * EVENT_IDX), and every kind of garbage a driver can post: each breaks
 * the queue, once, and nothing is read outside guest RAM.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "virtq.h"

#define MiB   (1ull << 20)
#define QSZ   8
#define DESC  0x10000ull
#define AVAIL 0x11000ull
#define USED  0x12000ull
#define BUFS  0x20000ull
#define IND   0x30000ull

static struct vmm_mem *mem;

static int
setup(void **state)
{
	(void)state;
	assert_int_equal(vmm_mem_create(4 * MiB, 0, 0, &mem), 0);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	vmm_mem_destroy(mem);
	return 0;
}

static void
desc(uint64_t table, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t d[16];

	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
	assert_int_equal(vmm_mem_write(mem, table + 16ull * i, d, 16), 0);
}

static uint16_t avail_idx;

static void
avail(uint16_t head)
{
	assert_int_equal(vmm_mem_write(mem, AVAIL + 4 + 2 * (avail_idx % QSZ), &head, 2), 0);
	avail_idx++;
	assert_int_equal(vmm_mem_write(mem, AVAIL + 2, &avail_idx, 2), 0);
}

static void
fresh(struct vmm_virtq *q, uint64_t features)
{
	uint8_t zero[0x3000] = { 0 };

	assert_int_equal(vmm_mem_write(mem, DESC, zero, sizeof(zero)), 0);
	avail_idx = 0;
	assert_int_equal(vmm_virtq_init(q, mem, QSZ, DESC, AVAIL, USED, features), 0);
}

static uint16_t
u16at(uint64_t gpa)
{
	uint16_t v;

	assert_int_equal(vmm_mem_read(mem, gpa, &v, 2), 0);
	return v;
}

static uint32_t
u32at(uint64_t gpa)
{
	uint32_t v;

	assert_int_equal(vmm_mem_read(mem, gpa, &v, 4), 0);
	return v;
}

static void
test_init(void **state)
{
	struct vmm_virtq q;

	(void)state;
	assert_int_equal(vmm_virtq_init(&q, mem, 0, DESC, AVAIL, USED, 0), -EINVAL);
	assert_int_equal(vmm_virtq_init(&q, mem, 12, DESC, AVAIL, USED, 0), -EINVAL);
	/* 2.7.2 alignment: 16, 2, 4. */
	assert_int_equal(vmm_virtq_init(&q, mem, QSZ, DESC + 8, AVAIL, USED, 0), -EFAULT);
	assert_int_equal(vmm_virtq_init(&q, mem, QSZ, DESC, AVAIL + 1, USED, 0), -EFAULT);
	assert_int_equal(vmm_virtq_init(&q, mem, QSZ, DESC, AVAIL, USED + 2, 0), -EFAULT);
	/* Rings that run past RAM. */
	assert_int_equal(vmm_virtq_init(&q, mem, QSZ, 4 * MiB - 64, AVAIL, USED, 0), -EFAULT);
	assert_int_equal(vmm_virtq_init(&q, mem, QSZ, DESC, AVAIL, 4 * MiB - 8, 0), -EFAULT);
	assert_int_equal(vmm_virtq_init(&q, mem, QSZ, DESC, AVAIL, USED, 0), 0);
}

static void
test_chains(void **state)
{
	struct vmm_virtq q;
	struct vmm_virtq_chain c;
	uint8_t cmd[8], ack = 0;

	(void)state;
	fresh(&q, 0);
	assert_int_equal(vmm_virtq_pop(&q, &c), 0); /* empty */
	/* out "abcd" (two buffers, one of them empty), then a writable byte */
	assert_int_equal(vmm_mem_write(mem, BUFS, "abcd", 4), 0);
	desc(DESC, 3, BUFS, 2, VMM_VIRTQ_DESC_F_NEXT, 5);
	desc(DESC, 5, BUFS + 2, 0, VMM_VIRTQ_DESC_F_NEXT, 6);
	desc(DESC, 6, BUFS + 2, 2, VMM_VIRTQ_DESC_F_NEXT, 0);
	desc(DESC, 0, BUFS + 0x100, 1, VMM_VIRTQ_DESC_F_WRITE, 0);
	avail(3);
	assert_int_equal(vmm_virtq_pop(&q, &c), 1);
	assert_int_equal(c.head, 3);
	assert_int_equal(c.nout, 3);
	assert_int_equal(c.nin, 1);
	assert_int_equal(vmm_virtq_read(&c, cmd, sizeof(cmd)), 4);
	assert_memory_equal(cmd, "abcd", 4);
	assert_int_equal(vmm_virtq_writable(&c), 1);
	ack = 0x5a;
	assert_int_equal(vmm_virtq_write(&c, &ack, 1), 1);
	vmm_virtq_push(&q, c.head, 1);
	assert_int_equal(u16at(USED + 2), 1);
	assert_int_equal(u32at(USED + 4), 3);
	assert_int_equal(u32at(USED + 8), 1);
	assert_int_equal(vmm_virtq_pop(&q, &c), 0);
	/* No EVENT_IDX: notify unless the driver said NO_INTERRUPT. */
	assert_true(vmm_virtq_need_notify(&q));
	assert_false(vmm_virtq_need_notify(&q)); /* nothing new */
	assert_int_equal(vmm_mem_write(mem, AVAIL, &(uint16_t){ 1 }, 2), 0);
	desc(DESC, 1, BUFS, 4, 0, 0);
	avail(1);
	assert_int_equal(vmm_virtq_pop(&q, &c), 1);
	vmm_virtq_push(&q, c.head, 0);
	assert_false(vmm_virtq_need_notify(&q));
	assert_int_equal(q.st.chains, 2);
	assert_false(q.broken);
}

static void
test_indirect_and_event_idx(void **state)
{
	struct vmm_virtq q;
	struct vmm_virtq_chain c;

	(void)state;
	fresh(&q,
	      (1ull << VMM_VIRTIO_F_RING_INDIRECT_DESC) | (1ull << VMM_VIRTIO_F_RING_EVENT_IDX));
	/* An indirect table of three, chained out of order. */
	desc(IND, 0, BUFS, 2, VMM_VIRTQ_DESC_F_NEXT, 2);
	desc(IND, 2, BUFS + 2, 2, VMM_VIRTQ_DESC_F_NEXT, 1);
	desc(IND, 1, BUFS + 0x100, 1, VMM_VIRTQ_DESC_F_WRITE, 0);
	desc(DESC, 4, IND, 3 * 16, VMM_VIRTQ_DESC_F_INDIRECT, 0);
	avail(4);
	assert_int_equal(vmm_virtq_pop(&q, &c), 1);
	assert_int_equal(c.head, 4);
	assert_int_equal(c.nout, 2);
	assert_int_equal(c.nin, 1);
	/* 2.7.10: the device publishes avail_event after the used ring. */
	assert_int_equal(u16at(USED + 4 + 8 * QSZ), 1);
	vmm_virtq_push(&q, 4, 1);
	/* used_event (after the avail ring) 0: notify for the first one. */
	assert_true(vmm_virtq_need_notify(&q));
	/* used_event 5: the driver wants to hear when the entry at used
	 * index 5 is used, i.e. when used idx goes from 5 to 6. */
	assert_int_equal(vmm_mem_write(mem, AVAIL + 4 + 2 * QSZ, &(uint16_t){ 5 }, 2), 0);
	for (uint16_t i = 0; i < 5; i++) {
		desc(DESC, i, BUFS, 4, 0, 0);
		avail(i);
		assert_int_equal(vmm_virtq_pop(&q, &c), 1);
		vmm_virtq_push(&q, c.head, 0);
		/* used idx 2..6 */
		assert_int_equal(vmm_virtq_need_notify(&q), i == 4);
	}
	assert_false(q.broken);
}

/* Each of these breaks a fresh queue. */
static void
expect_broken(uint64_t features, void (*post)(void), const char *what)
{
	struct vmm_virtq q;
	struct vmm_virtq_chain c;

	fresh(&q, features);
	post();
	assert_int_equal(vmm_virtq_pop(&q, &c), -EBADMSG);
	assert_true(q.broken);
	assert_non_null(q.why);
	if (strstr(q.why, what) == NULL)
		fail_msg("broken for '%s', expected '%s'", q.why, what);
	/* Broken stays broken, counted once. */
	desc(DESC, 7, BUFS, 1, 0, 0);
	avail(7);
	assert_int_equal(vmm_virtq_pop(&q, &c), -EBADMSG);
	assert_int_equal(q.st.broken, 1);
}

static void
post_head_out_of_range(void)
{
	avail(QSZ);
}

static void
post_next_out_of_range(void)
{
	desc(DESC, 0, BUFS, 1, VMM_VIRTQ_DESC_F_NEXT, QSZ + 3);
	avail(0);
}

static void
post_loop(void)
{
	desc(DESC, 0, BUFS, 1, VMM_VIRTQ_DESC_F_NEXT, 1);
	desc(DESC, 1, BUFS, 1, VMM_VIRTQ_DESC_F_NEXT, 0);
	avail(0);
}

static void
post_self_loop(void)
{
	desc(DESC, 2, BUFS, 1, VMM_VIRTQ_DESC_F_NEXT, 2);
	avail(2);
}

static void
post_outside_ram(void)
{
	desc(DESC, 0, 4 * MiB - 2, 4, 0, 0);
	avail(0);
}

static void
post_huge_length(void)
{
	desc(DESC, 0, BUFS, 0xffffffff, VMM_VIRTQ_DESC_F_WRITE, 0);
	avail(0);
}

static void
post_wrapping_address(void)
{
	desc(DESC, 0, UINT64_MAX - 1, 16, 0, 0);
	avail(0);
}

static void
post_read_after_write(void)
{
	desc(DESC, 0, BUFS, 1, VMM_VIRTQ_DESC_F_WRITE | VMM_VIRTQ_DESC_F_NEXT, 1);
	desc(DESC, 1, BUFS, 1, 0, 0);
	avail(0);
}

static void
post_avail_jump(void)
{
	uint16_t idx = QSZ + 1;

	assert_int_equal(vmm_mem_write(mem, AVAIL + 2, &idx, 2), 0);
	avail_idx = idx;
}

static void
post_indirect_unnegotiated(void)
{
	desc(IND, 0, BUFS, 1, 0, 0);
	desc(DESC, 0, IND, 16, VMM_VIRTQ_DESC_F_INDIRECT, 0);
	avail(0);
}

static void
post_indirect_nested(void)
{
	desc(IND, 0, IND, 16, VMM_VIRTQ_DESC_F_INDIRECT, 0);
	desc(DESC, 0, IND, 16, VMM_VIRTQ_DESC_F_INDIRECT, 0);
	avail(0);
}

static void
post_indirect_bad_length(void)
{
	desc(DESC, 0, IND, 24, VMM_VIRTQ_DESC_F_INDIRECT, 0);
	avail(0);
}

static void
post_indirect_with_next(void)
{
	desc(IND, 0, BUFS, 1, 0, 0);
	desc(DESC, 0, IND, 16, VMM_VIRTQ_DESC_F_INDIRECT | VMM_VIRTQ_DESC_F_NEXT, 1);
	avail(0);
}

static void
post_indirect_too_long(void)
{
	/* 16 entries, each chained to the next: longer than the queue (8). */
	for (uint16_t i = 0; i < 16; i++)
		desc(IND, i, BUFS, 1, i < 15 ? VMM_VIRTQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	desc(DESC, 0, IND, 16 * 16, VMM_VIRTQ_DESC_F_INDIRECT, 0);
	avail(0);
}

static void
post_indirect_loop(void)
{
	desc(IND, 0, BUFS, 1, VMM_VIRTQ_DESC_F_NEXT, 1);
	desc(IND, 1, BUFS, 1, VMM_VIRTQ_DESC_F_NEXT, 0);
	desc(DESC, 0, IND, 2 * 16, VMM_VIRTQ_DESC_F_INDIRECT, 0);
	avail(0);
}

static void
post_indirect_outside(void)
{
	desc(DESC, 0, 4 * MiB - 16, 32, VMM_VIRTQ_DESC_F_INDIRECT, 0);
	avail(0);
}

static void
test_garbage(void **state)
{
	const uint64_t ind = 1ull << VMM_VIRTIO_F_RING_INDIRECT_DESC;

	(void)state;
	expect_broken(0, post_head_out_of_range, "head index");
	expect_broken(0, post_next_out_of_range, "next index");
	expect_broken(0, post_loop, "longer than the queue");
	expect_broken(0, post_self_loop, "longer than the queue");
	expect_broken(0, post_outside_ram, "outside guest memory");
	expect_broken(0, post_huge_length, "outside guest memory");
	expect_broken(0, post_wrapping_address, "outside guest memory");
	expect_broken(0, post_read_after_write, "readable buffer after a writable");
	expect_broken(0, post_avail_jump, "more than the queue size");
	expect_broken(0, post_indirect_unnegotiated, "without");
	expect_broken(ind, post_indirect_nested, "inside an indirect table");
	expect_broken(ind, post_indirect_bad_length, "bad length");
	expect_broken(ind, post_indirect_with_next, "with NEXT");
	expect_broken(ind, post_indirect_too_long, "longer than the queue");
	expect_broken(ind, post_indirect_loop, "longer than the queue");
	expect_broken(ind, post_indirect_outside, "outside guest memory");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init),
		cmocka_unit_test(test_chains),
		cmocka_unit_test(test_indirect_and_event_idx),
		cmocka_unit_test(test_garbage),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
