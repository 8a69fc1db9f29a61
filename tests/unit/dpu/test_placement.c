/* SPDX-License-Identifier: MIT */
/* dpu/placement.c */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "placement.h"

#define CODE(x) NICVISOR__V1__CODE__CODE_##x

static struct dpu_place_host hosts[3];

static int
reset(void **state)
{
	(void)state;
	hosts[0] = (struct dpu_place_host){ "a", true, 2, 2, 2048, 0 };
	hosts[1] = (struct dpu_place_host){ "b", true, 8, 4, 8192, 0 };
	hosts[2] = (struct dpu_place_host){ "c", true, 16, 0, 4096, 0 };
	return 0;
}

static size_t
place(uint32_t vcpus, uint64_t mem, const char *prefer, struct dpu_status *st)
{
	size_t chosen = 99;

	if (dpu_place(hosts, 3, vcpus, mem, prefer, &chosen, st) < 0)
		return 99;
	return chosen;
}

static void
test_most_free_memory_wins(void **state)
{
	struct dpu_status st;

	(void)state;
	assert_int_equal(place(1, 100, NULL, &st), 1);
	hosts[1].memory_used_mib = 6000; /* b: 2192 free, c: 4096 */
	assert_int_equal(place(1, 100, NULL, &st), 2);
	/* Ties go to the smaller id. */
	hosts[0].memory_capacity_mib = 4096;
	hosts[0].cores = 16;
	hosts[0].kvm_max_vcpus = 0;
	assert_int_equal(place(1, 100, NULL, &st), 0);
}

static void
test_limits(void **state)
{
	struct dpu_status st;

	(void)state;
	/* b has 8 cores but KVM allows 4; c has 16 and no reported limit. */
	assert_int_equal(place(4, 100, NULL, &st), 1);
	assert_int_equal(place(5, 100, NULL, &st), 2);
	assert_int_equal(place(16, 4096, NULL, &st), 2);
	assert_int_equal(place(17, 100, NULL, &st), 99);
	assert_int_equal(st.code, CODE(RESOURCE_EXHAUSTED));
	assert_string_equal(st.field, "spec.vcpus");
	assert_string_equal(st.message, "needs 17 vCPUs, largest host has 16");
	/* Memory: capacity minus what is placed. */
	hosts[1].memory_used_mib = 8000;
	assert_int_equal(place(1, 4097, NULL, &st), 99);
	assert_string_equal(st.field, "spec.memory_mib");
	assert_non_null(strstr(st.message, "4097 MiB"));
	assert_non_null(strstr(st.message, "4096 MiB"));
	/* Overcommitted: used above capacity counts as none free. */
	hosts[2].memory_used_mib = 5000;
	hosts[0].memory_used_mib = 2048;
	assert_int_equal(place(1, 1, NULL, &st), 1);
	hosts[1].memory_used_mib = 8192;
	assert_int_equal(place(1, 1, NULL, &st), 99);
	assert_int_equal(st.code, CODE(RESOURCE_EXHAUSTED));
}

static void
test_no_single_host(void **state)
{
	struct dpu_status st;

	(void)state;
	/* c has the cores, b the memory: neither has both. */
	hosts[1].memory_capacity_mib = 16384;
	assert_int_equal(place(8, 8192, NULL, &st), 99);
	assert_string_equal(st.field, "spec");
	assert_non_null(strstr(st.message, "no single host"));
}

static void
test_prefer_and_disconnected(void **state)
{
	struct dpu_status st;

	(void)state;
	assert_int_equal(place(1, 100, "a", &st), 0);
	assert_int_equal(place(1, 100, "c", &st), 2);
	/* The preferred host must still fit. */
	assert_int_equal(place(3, 100, "a", &st), 1);
	/* Disconnected hosts do not count at all. */
	hosts[1].connected = false;
	assert_int_equal(place(1, 100, "b", &st), 2);
	assert_int_equal(place(4, 100, NULL, &st), 2);
	hosts[2].connected = false;
	assert_int_equal(place(4, 100, NULL, &st), 99);
	assert_string_equal(st.message, "needs 4 vCPUs, largest host has 2");
	hosts[0].connected = false;
	assert_int_equal(place(1, 100, NULL, &st), 99);
	assert_int_equal(st.code, CODE(UNAVAILABLE));
	assert_non_null(strstr(st.message, "no host is connected"));
	assert_int_equal(dpu_place(hosts, 0, 1, 1, NULL, &(size_t){ 0 }, &st), -EINVAL);
	assert_int_equal(st.code, CODE(UNAVAILABLE));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_most_free_memory_wins, reset),
		cmocka_unit_test_setup(test_limits, reset),
		cmocka_unit_test_setup(test_no_single_host, reset),
		cmocka_unit_test_setup(test_prefer_and_disconnected, reset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
