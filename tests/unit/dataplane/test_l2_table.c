/* SPDX-License-Identifier: MIT */
/* Unit tests: the MAC table (l2_table.c) on a small EAL without
 * hugepages: learning, per-network keys, static entries, aging, and RCU
 * reclamation of deleted positions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>
#include <rte_eal.h>
#include <rte_malloc.h>

#include "l2_table.h"

static struct rte_rcu_qsbr *qsbr;
static struct l2_table *t;

#define MAC_A 0x010000ee0002ull /* 02:00:ee:00:00:01 as dp_mac48() loads it */
#define MAC_B 0x020000ee0002ull
#define MAC_C 0x030000ee0002ull

static uint16_t
port_of(uint16_t net, uint64_t mac, int32_t *posp)
{
	uint64_t k = l2_key(net, mac);
	uint16_t port;
	int32_t pos;

	l2_table_lookup_bulk(t, &k, 1, &port, &pos);
	if (posp != NULL)
		*posp = pos;
	return port;
}

static int
setup(void **state)
{
	(void)state;
	/* A reader (thread id 0) stands in for a worker. */
	qsbr = rte_zmalloc(NULL, rte_rcu_qsbr_get_memsize(1), RTE_CACHE_LINE_SIZE);
	assert_non_null(qsbr);
	assert_int_equal(rte_rcu_qsbr_init(qsbr, 1), 0);
	assert_int_equal(rte_rcu_qsbr_thread_register(qsbr, 0), 0);
	rte_rcu_qsbr_thread_online(qsbr, 0);
	assert_int_equal(l2_table_create("ut_l2", 1024, 10, qsbr, &t), 0);
	l2_table_age(t, 100);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	rte_rcu_qsbr_thread_offline(qsbr, 0);
	l2_table_free(t);
	rte_free(qsbr);
	return 0;
}

static void
test_learn_per_network(void **state)
{
	(void)state;
	assert_int_equal(l2_table_learn(t, 1, MAC_A, 3, false), 0);
	assert_int_equal(port_of(1, MAC_A, NULL), 3);
	/* The same MAC on another network is another key. */
	assert_int_equal(port_of(2, MAC_A, NULL), L2_PORT_NONE);
	assert_int_equal(l2_table_learn(t, 2, MAC_A, 9, false), 0);
	assert_int_equal(port_of(2, MAC_A, NULL), 9);
	assert_int_equal(port_of(1, MAC_A, NULL), 3);
	/* A station that moved. */
	assert_int_equal(l2_table_learn(t, 1, MAC_A, 4, false), 0);
	assert_int_equal(port_of(1, MAC_A, NULL), 4);
	/* A VM's own MAC is static: a frame from the wire does not move it. */
	assert_int_equal(l2_table_learn(t, 1, MAC_B, 5, true), 0);
	assert_int_equal(l2_table_learn(t, 1, MAC_B, 6, false), -EPERM);
	assert_int_equal(port_of(1, MAC_B, NULL), 5);
	assert_int_equal(t->count, 3);
	assert_int_equal(l2_table_forget_net(t, 2), 1);
	assert_int_equal(l2_table_forget_port(t, 5), 1);
	assert_int_equal(port_of(1, MAC_B, NULL), L2_PORT_NONE);
	assert_int_equal(l2_table_forget(t, 1, MAC_A), 0);
	assert_int_equal(l2_table_forget(t, 1, MAC_A), -ENOENT);
	assert_int_equal(t->count, 0);
	rte_rcu_qsbr_quiescent(qsbr, 0);
	l2_table_reclaim(t);
}

/* Overlay entries carry the remote VTEP behind the uplink. */
static void
test_learn_behind_vtep(void **state)
{
	int32_t pos;

	(void)state;
	assert_int_equal(l2_table_learn_vtep(t, 7, MAC_C, 2, 0x0100000a), 0);
	assert_int_equal(port_of(7, MAC_C, &pos), 2);
	assert_int_equal(l2_table_vtep(t, pos), 0x0100000a);
	/* The station moved behind another VTEP. */
	assert_int_equal(l2_table_learn_vtep(t, 7, MAC_C, 2, 0x0200000a), 0);
	assert_int_equal(port_of(7, MAC_C, &pos), 2);
	assert_int_equal(l2_table_vtep(t, pos), 0x0200000a);
	/* Learned without one (a VLAN network's uplink): no VTEP. */
	assert_int_equal(l2_table_learn(t, 7, MAC_C, 3, false), 0);
	assert_int_equal(port_of(7, MAC_C, &pos), 3);
	assert_int_equal(l2_table_vtep(t, pos), 0);
	assert_int_equal(l2_table_vtep(t, -1), 0);
	/* A VM's static MAC is not taken over from behind a VTEP. */
	assert_int_equal(l2_table_learn(t, 7, MAC_A, 5, true), 0);
	assert_int_equal(l2_table_learn_vtep(t, 7, MAC_A, 2, 0x0100000a), -EPERM);
	assert_int_equal(port_of(7, MAC_A, &pos), 5);
	assert_int_equal(l2_table_vtep(t, pos), 0);
	l2_table_forget_net(t, 7);
}

static void
test_aging(void **state)
{
	int32_t pos;

	(void)state;
	l2_table_age(t, 100);
	assert_int_equal(l2_table_learn(t, 1, MAC_A, 1, false), 0);
	assert_int_equal(l2_table_learn(t, 1, MAC_B, 2, false), 0);
	assert_int_equal(l2_table_learn(t, 1, MAC_C, 3, true), 0);
	assert_int_equal(l2_table_age(t, 105), 0);
	/* A worker sees B again at 105. */
	assert_int_equal(port_of(1, MAC_B, &pos), 2);
	l2_table_touch(t, pos);
	/* At 111 A is 11 s old (ttl 10), B 6 s. */
	assert_int_equal(l2_table_age(t, 111), 1);
	assert_int_equal(port_of(1, MAC_A, NULL), L2_PORT_NONE);
	assert_int_equal(port_of(1, MAC_B, NULL), 2);
	assert_int_equal(l2_table_age(t, 116), 1);
	/* Static entries never age. */
	assert_int_equal(l2_table_age(t, 100000), 0);
	assert_int_equal(port_of(1, MAC_C, NULL), 3);
	l2_table_forget(t, 1, MAC_C);
	rte_rcu_qsbr_quiescent(qsbr, 0);
	l2_table_reclaim(t);
}

static void
test_rcu_reclaim(void **state)
{
	uint64_t before;
	int32_t pos;

	(void)state;
	assert_int_equal(l2_table_learn(t, 1, MAC_A, 7, false), 0);
	/* A reader found the entry... */
	assert_int_equal(port_of(1, MAC_A, &pos), 7);
	before = t->reclaimed;
	assert_int_equal(l2_table_forget(t, 1, MAC_A), 0);
	assert_int_equal(port_of(1, MAC_A, NULL), L2_PORT_NONE);
	/* ... and, not yet quiescent, may still read its position. */
	assert_int_equal(l2_table_reclaim(t), 0);
	assert_int_equal(atomic_load(&t->e[pos].port), 7);
	assert_int_equal(t->reclaimed, before);
	/* Once it passes a quiescent state the position is given back. */
	rte_rcu_qsbr_quiescent(qsbr, 0);
	assert_int_equal(l2_table_reclaim(t), 1);
	assert_int_equal(t->reclaimed, before + 1);
	assert_int_equal(atomic_load(&t->e[pos].port), L2_PORT_NONE);
	/* The key can be learned again (the position is reusable). */
	assert_int_equal(l2_table_learn(t, 1, MAC_A, 8, false), 0);
	assert_int_equal(port_of(1, MAC_A, NULL), 8);
	l2_table_forget(t, 1, MAC_A);
	rte_rcu_qsbr_quiescent(qsbr, 0);
	l2_table_reclaim(t);
}

static void
test_full_table(void **state)
{
	unsigned int i, learned = 0;

	(void)state;
	/* Far more keys than room: the table refuses, it never fails. */
	for (i = 0; i < 4 * t->capacity; i++) {
		int rc = l2_table_learn(t, 3, 0x100000000002ull + ((uint64_t)i << 16), 1, false);

		assert_true(rc == 0 || rc == -ENOSPC);
		learned += rc == 0;
	}
	assert_true(learned >= 1024 && learned <= t->capacity);
	assert_int_equal(l2_table_forget_net(t, 3), learned);
	rte_rcu_qsbr_quiescent(qsbr, 0);
	assert_int_equal(l2_table_reclaim(t), learned);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_learn_per_network),
		cmocka_unit_test(test_learn_behind_vtep),
		cmocka_unit_test(test_aging),
		cmocka_unit_test(test_rcu_reclaim),
		cmocka_unit_test(test_full_table),
	};
	char prefix[64];
	char *argv[] = { "test_l2_table",  "--no-huge",      "-m", "64", "--no-shconf",
			 "--no-pci",       "--iova-mode=va", "-l", "0",  "--log-level=warning",
			 "--no-telemetry", prefix,           NULL };

	snprintf(prefix, sizeof(prefix), "--file-prefix=ut_l2_%d", (int)getpid());
	if (rte_eal_init((int)RTE_DIM(argv) - 1, argv) < 0) {
		fprintf(stderr, "EAL init failed\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, setup, teardown) | rte_eal_cleanup();
}
