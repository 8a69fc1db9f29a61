/* SPDX-License-Identifier: MIT */
/* dpu/console_ring.c: offsets, resends, wrap-around, gaps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "console_ring.h"

static void
append(struct dpu_console_ring *r, uint64_t off, const char *s, long want_new, uint64_t want_off)
{
	uint64_t new_off;

	assert_int_equal(dpu_console_ring_append(r, off, (const uint8_t *)s, strlen(s), &new_off),
			 want_new);
	assert_int_equal(new_off, want_off);
}

static void
expect_read(struct dpu_console_ring *r, uint64_t off, size_t max, const char *want,
	    uint64_t want_off)
{
	uint8_t buf[64];
	uint64_t got_off;
	size_t n =
		dpu_console_ring_read(r, off, buf, max < sizeof(buf) ? max : sizeof(buf), &got_off);

	assert_int_equal(n, strlen(want));
	assert_memory_equal(buf, want, n);
	assert_int_equal(got_off, want_off);
}

static void
test_offsets_and_resends(void **state)
{
	struct dpu_console_ring r;

	(void)state;
	dpu_console_ring_init(&r, 16, 0);
	expect_read(&r, 0, 10, "", 0);
	append(&r, 0, "hello ", 6, 0);
	append(&r, 6, "world", 5, 6);
	expect_read(&r, 0, 64, "hello world", 0);
	expect_read(&r, 6, 64, "world", 6);
	expect_read(&r, 2, 3, "llo", 2);
	expect_read(&r, 11, 64, "", 11);
	/* A resend of old bytes adds nothing; an overlapping one adds the tail. */
	append(&r, 0, "hello ", 0, 11);
	append(&r, 6, "world!", 1, 11);
	expect_read(&r, 0, 64, "hello world!", 0);
	assert_int_equal(r.end, 12);
	dpu_console_ring_fini(&r);
}

static void
test_wrap_and_drop_oldest(void **state)
{
	struct dpu_console_ring r;

	(void)state;
	dpu_console_ring_init(&r, 16, 0);
	append(&r, 0, "0123456789", 10, 0);
	append(&r, 10, "abcdefghij", 10, 10);
	/* 20 bytes through a 16-byte ring: the oldest 4 went. */
	assert_int_equal(r.start, 4);
	assert_int_equal(r.end, 20);
	expect_read(&r, 0, 64, "456789abcdefghij", 4);
	expect_read(&r, 12, 64, "cdefghij", 12);
	/* One write bigger than the ring keeps its tail. */
	append(&r, 20, "ABCDEFGHIJKLMNOPQRSTUV", 22, 20);
	assert_int_equal(r.end, 42);
	expect_read(&r, 0, 64, "GHIJKLMNOPQRSTUV", 26);
	dpu_console_ring_fini(&r);
}

static void
test_gap_and_start_offset(void **state)
{
	struct dpu_console_ring r;

	(void)state;
	/* After an agent restart the ring starts where the stream was. */
	dpu_console_ring_init(&r, 0, 1000);
	assert_int_equal(r.size, DPU_CONSOLE_RING_SIZE);
	expect_read(&r, 0, 64, "", 1000);
	append(&r, 1000, "abc", 3, 1000);
	expect_read(&r, 0, 64, "abc", 1000);
	/* Bytes lost in between: the ring restarts at the new offset. */
	append(&r, 2000, "xyz", 3, 2000);
	assert_int_equal(r.start, 2000);
	expect_read(&r, 1000, 64, "xyz", 2000);
	/* A zero-length append past the end moves the ring (reattach). */
	{
		uint64_t off;

		assert_int_equal(dpu_console_ring_append(&r, 5000, NULL, 0, &off), 0);
		assert_int_equal(r.end, 5000);
	}
	dpu_console_ring_fini(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_offsets_and_resends),
		cmocka_unit_test(test_wrap_and_drop_oldest),
		cmocka_unit_test(test_gap_and_start_offset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
