/* SPDX-License-Identifier: MIT */
/* Unit tests on a small EAL: the rate limits of qos.c (the .c is included,
 * its neighbours stubbed) metering real mbufs, and dp_mbuf_share() on
 * chained mbufs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <rte_eal.h>
#include <rte_mbuf.h>

#include "../../../dataplane/qos.c"

#define POOL_SIZE 1023
#define FRAME     8000

static struct rte_mempool *pool;
static struct dp_port port = { .name = "vm1" };
static struct dp the_dp;

/* Stub of dp.c. */
struct dp_port *
dp_port_by_name(struct dp *dp, const char *name)
{
	(void)dp;
	return strcmp(name, port.name) == 0 ? &port : NULL;
}

static void
burst(struct rte_mbuf **pkts, unsigned int n, uint16_t len)
{
	for (unsigned int i = 0; i < n; i++) {
		pkts[i] = rte_pktmbuf_alloc(pool);
		assert_non_null(pkts[i]);
		/* Only the length is metered; the data room need not hold it. */
		pkts[i]->pkt_len = len;
	}
}

static void
test_police(void **state)
{
	struct dp_qos q = { .rx = { 8000000, DP_QOS_MIN_BURST } }, got;
	struct dp_port_counters ctr;
	struct rte_mbuf *pkts[32];
	struct timespec nap = { 0, 50 * 1000 * 1000 };
	char err[256];
	uint16_t k;

	(void)state;
	memset(&ctr, 0, sizeof(ctr));
	assert_int_equal(dp_port_qos_set(&the_dp, "vm1", &q, err, sizeof(err)), 0);
	dp_qos_get(&port, &got);
	assert_int_equal(got.rx.bits_per_second, 8000000);
	assert_int_equal(got.rx.burst_bytes, DP_QOS_MIN_BURST);
	assert_int_equal(got.tx.bits_per_second, 0);

	/* A full bucket of 131072 bytes passes 16 frames of 8000. */
	burst(pkts, 32, FRAME);
	k = dp_qos_police(&port, DP_QOS_RX, pkts, 32, &ctr);
	assert_int_equal(k, DP_QOS_MIN_BURST / FRAME);
	assert_int_equal(ctr.drops[DP_DROP_RATE_LIMITED], 32 - k);
	/* Policed rx frames were received all the same. */
	assert_int_equal(ctr.rx_packets, 32 - k);
	assert_int_equal(ctr.rx_bytes, (uint64_t)(32 - k) * FRAME);
	rte_pktmbuf_free_bulk(pkts, k);
	assert_int_equal(rte_mempool_avail_count(pool), POOL_SIZE);

	/* At least 50 ms at 1 MB/s refill at least 50000 bytes (6 frames
	 * with the 3072 left), and never more than the bucket holds. */
	nanosleep(&nap, NULL);
	burst(pkts, 32, FRAME);
	k = dp_qos_police(&port, DP_QOS_RX, pkts, 32, &ctr);
	assert_in_range(k, 6, DP_QOS_MIN_BURST / FRAME);
	rte_pktmbuf_free_bulk(pkts, k);

	/* The other direction has no limit. */
	burst(pkts, 32, FRAME);
	assert_int_equal(dp_qos_police(&port, DP_QOS_TX, pkts, 32, &ctr), 32);
	rte_pktmbuf_free_bulk(pkts, 32);

	/* Cleared: everything passes. */
	memset(&q, 0, sizeof(q));
	assert_int_equal(dp_port_qos_set(&the_dp, "vm1", &q, err, sizeof(err)), 0);
	assert_null(port.qos[DP_QOS_RX]);
	burst(pkts, 32, FRAME);
	assert_int_equal(dp_qos_police(&port, DP_QOS_RX, pkts, 32, &ctr), 32);
	rte_pktmbuf_free_bulk(pkts, 32);
	assert_int_equal(rte_mempool_avail_count(pool), POOL_SIZE);
}

static void
test_set_errors(void **state)
{
	struct dp_qos q = { .tx = { 1000, 0 } };
	char err[256] = "";

	(void)state;
	assert_int_equal(dp_port_qos_set(&the_dp, "vm1", &q, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "tx bits_per_second"));
	q.tx.bits_per_second = 1000000;
	assert_int_equal(dp_port_qos_set(&the_dp, "vm9", &q, err, sizeof(err)), -ENOENT);
	assert_null(port.qos[DP_QOS_TX]);
	/* Freeing a port's meters leaves none. */
	assert_int_equal(dp_port_qos_set(&the_dp, "vm1", &q, err, sizeof(err)), 0);
	assert_non_null(port.qos[DP_QOS_TX]);
	dp_qos_port_free(&port);
	assert_null(port.qos[DP_QOS_TX]);
}

/* Two holders of a chain each free it once: every segment comes home
 * exactly once. */
static void
test_share_chain(void **state)
{
	struct rte_mbuf *head = rte_pktmbuf_alloc(pool), *tail = rte_pktmbuf_alloc(pool);

	(void)state;
	assert_non_null(head);
	assert_non_null(tail);
	assert_int_equal(rte_pktmbuf_chain(head, tail), 0);
	dp_mbuf_share(head, 2);
	assert_int_equal(rte_mbuf_refcnt_read(tail), 3);
	rte_pktmbuf_free(head);
	rte_pktmbuf_free(head);
	assert_int_equal(rte_mempool_avail_count(pool), POOL_SIZE - 2);
	rte_pktmbuf_free(head);
	assert_int_equal(rte_mempool_avail_count(pool), POOL_SIZE);
}

static int
setup(void **state)
{
	size_t qsz = rte_rcu_qsbr_get_memsize(1);

	(void)state;
	pool = rte_pktmbuf_pool_create("ut_qos", POOL_SIZE, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
				       SOCKET_ID_ANY);
	the_dp.qsbr = rte_zmalloc("ut_qsbr", qsz, RTE_CACHE_LINE_SIZE);
	pthread_mutex_init(&the_dp.lock, NULL);
	if (pool == NULL || the_dp.qsbr == NULL || rte_rcu_qsbr_init(the_dp.qsbr, 1) != 0)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	dp_qos_port_free(&port);
	rte_free(the_dp.qsbr);
	rte_mempool_free(pool);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_police),
		cmocka_unit_test(test_set_errors),
		cmocka_unit_test(test_share_chain),
	};
	char prefix[64];
	char *argv[] = { "test_qos",       "--no-huge",      "-m", "64", "--no-shconf",
			 "--no-pci",       "--iova-mode=va", "-l", "0",  "--log-level=warning",
			 "--no-telemetry", prefix,           NULL };

	snprintf(prefix, sizeof(prefix), "--file-prefix=ut_qos_%d", (int)getpid());
	if (rte_eal_init((int)RTE_DIM(argv) - 1, argv) < 0) {
		fprintf(stderr, "EAL init failed\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, setup, teardown) | rte_eal_cleanup();
}
