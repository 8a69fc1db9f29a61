/* SPDX-License-Identifier: MIT */
/* Unit tests: QoS limits (qos_params.c): ranges, the default burst, and
 * the srTCM parameters rte_meter gets. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "qos_params.h"

static void
test_no_limit(void **state)
{
	struct dp_qos_limit l = { 0, 0 };
	struct rte_meter_srtcm_params p;
	char err[256] = "";

	(void)state;
	assert_int_equal(dp_qos_check(&l, err, sizeof(err)), 0);
	assert_int_equal(dp_qos_burst(&l), 0);
	/* No rate, no meter. */
	assert_int_equal(dp_qos_srtcm_params(&l, &p), -EINVAL);
}

static void
test_ranges(void **state)
{
	char err[256];
	struct {
		uint64_t rate, burst;
		int rc;
		const char *field;
	} cases[] = {
		{ DP_QOS_MIN_RATE, 0, 0, NULL },
		{ DP_QOS_MAX_RATE, 0, 0, NULL },
		{ DP_QOS_MIN_RATE - 1, 0, -EINVAL, "bits_per_second" },
		{ DP_QOS_MAX_RATE + 1, 0, -EINVAL, "bits_per_second" },
		{ 1000000, DP_QOS_MIN_BURST, 0, NULL },
		{ 1000000, DP_QOS_MAX_BURST, 0, NULL },
		{ 1000000, DP_QOS_MIN_BURST - 1, -EINVAL, "burst_bytes" },
		{ 1000000, DP_QOS_MAX_BURST + 1, -EINVAL, "burst_bytes" },
		{ 0, DP_QOS_MIN_BURST, -EINVAL, "burst_bytes" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dp_qos_limit l = { cases[i].rate, cases[i].burst };

		err[0] = 0;
		assert_int_equal(dp_qos_check(&l, err, sizeof(err)), cases[i].rc);
		if (cases[i].field != NULL)
			assert_non_null(strstr(err, cases[i].field));
	}
	/* err may be NULL. */
	struct dp_qos_limit bad = { 1, 0 };
	assert_int_equal(dp_qos_check(&bad, NULL, 0), -EINVAL);
}

static void
test_default_burst(void **state)
{
	struct dp_qos_limit slow = { 10000000, 0 };     /* 10 ms: 12500 B */
	struct dp_qos_limit fast = { 100000000000, 0 }; /* 10 ms: 125 MB */
	struct dp_qos_limit given = { 10000000, 1 << 20 };

	(void)state;
	assert_int_equal(dp_qos_burst(&slow), DP_QOS_MIN_BURST);
	assert_int_equal(dp_qos_burst(&fast), 125000000);
	assert_int_equal(dp_qos_burst(&given), 1 << 20);
}

static void
test_srtcm_params(void **state)
{
	struct dp_qos_limit l = { 100000000, 0 }; /* 100 Mbit/s */
	struct rte_meter_srtcm_params p;

	(void)state;
	assert_int_equal(dp_qos_srtcm_params(&l, &p), 0);
	assert_int_equal(p.cir, 12500000); /* bytes per second */
	assert_int_equal(p.cbs, DP_QOS_MIN_BURST);
	/* One bucket: no frame is ever yellow. */
	assert_int_equal(p.ebs, 0);
	l.burst_bytes = 1 << 18;
	assert_int_equal(dp_qos_srtcm_params(&l, &p), 0);
	assert_int_equal(p.cbs, 1 << 18);
	l.burst_bytes = 5;
	assert_int_equal(dp_qos_srtcm_params(&l, &p), -EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_limit),
		cmocka_unit_test(test_ranges),
		cmocka_unit_test(test_default_burst),
		cmocka_unit_test(test_srtcm_params),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
