/* SPDX-License-Identifier: MIT */
/* Unit tests on a small EAL: security groups (sg.c is included, its
 * neighbours stubbed) judging real frames in real mbufs: rule checks,
 * ACL classification, connection tracking and its timeouts, a full
 * table, live replacement while another thread filters. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <rte_eal.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

#include "../../../dataplane/sg.c"

#define POOL_SIZE 2047
/* RTE_IPV4 shifts an int: undefined from 128.0.0.0 on. */
#define IP4(a, b, c, d)                                                                            \
	((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))
#define VM_IP IP4(192, 168, 1, 10)

static struct rte_mempool *pool;
static struct dp_port ports[2] = { { .name = "vm1", .id = 1 }, { .name = "vm2", .id = 2 } };
static struct dp_port uplink = { .name = "up0", .id = 3, .is_uplink = true };
static struct dp the_dp;

/* Stub of dp.c. */
struct dp_port *
dp_port_by_name(struct dp *dp, const char *name)
{
	(void)dp;
	for (unsigned int i = 0; i < 2; i++)
		if (strcmp(name, ports[i].name) == 0)
			return &ports[i];
	return strcmp(name, uplink.name) == 0 ? &uplink : NULL;
}

/* An Ethernet + IPv4 + L4 frame from src to dst (host order addresses). */
static struct rte_mbuf *
ip_frame(uint8_t proto, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
	 uint8_t tcp_flags)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	uint8_t *b;
	uint16_t l4len = proto == IPPROTO_TCP ? 20 : 8, len = 14 + 20 + l4len + 10;

	assert_non_null(m);
	b = (uint8_t *)rte_pktmbuf_append(m, len);
	assert_non_null(b);
	memset(b, 0, len);
	memcpy(b, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00", 14);
	b[14] = 0x45;
	b[16] = (uint8_t)((len - 14) >> 8);
	b[17] = (uint8_t)(len - 14);
	b[22] = 64;
	b[23] = proto;
	src = rte_cpu_to_be_32(src);
	dst = rte_cpu_to_be_32(dst);
	memcpy(b + 26, &src, 4);
	memcpy(b + 30, &dst, 4);
	if (proto == IPPROTO_TCP || proto == IPPROTO_UDP) {
		b[34] = (uint8_t)(sport >> 8);
		b[35] = (uint8_t)sport;
		b[36] = (uint8_t)(dport >> 8);
		b[37] = (uint8_t)dport;
		if (proto == IPPROTO_TCP) {
			b[46] = 0x50;
			b[47] = tcp_flags;
		} else {
			b[38] = 0;
			b[39] = 18;
		}
	} else if (proto == IPPROTO_ICMP) {
		b[34] = (uint8_t)sport;        /* type */
		b[38] = (uint8_t)(dport >> 8); /* identifier */
		b[39] = (uint8_t)dport;
	}
	return m;
}

static struct rte_mbuf *
raw_frame(const void *bytes, uint16_t len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	char *b;

	assert_non_null(m);
	b = rte_pktmbuf_append(m, len);
	assert_non_null(b);
	memcpy(b, bytes, len);
	return m;
}

/* Filter one frame on port p in direction dir: whether it passed. */
static bool
pass(struct dp_port *p, unsigned int dir, struct rte_mbuf *m, struct dp_port_counters *ctr)
{
	struct rte_mbuf *pkts[1] = { m };
	uint16_t k = dp_sg_filter(the_dp.ct, p, dir, 0, pkts, 1, ctr);

	if (k == 1)
		rte_pktmbuf_free(pkts[0]);
	return k == 1;
}

#define EGRESS  DP_QOS_RX
#define INGRESS DP_QOS_TX

static const struct dp_sg_rule any_rule = { .proto = DP_SG_PROTO_ANY,
					    .port_hi = 65535,
					    .src_port_hi = 65535 };

static struct dp_sg_rule
rule(int16_t proto, uint32_t net, uint8_t plen, uint16_t lo, uint16_t hi)
{
	struct dp_sg_rule r = any_rule;

	r.proto = proto;
	r.remote_ip = rte_cpu_to_be_32(net);
	r.prefix_len = plen;
	if (proto == IPPROTO_TCP || proto == IPPROTO_UDP) {
		r.port_lo = lo;
		r.port_hi = hi;
	}
	return r;
}

static void
test_rule_check(void **state)
{
	struct dp_sg_rule r = rule(IPPROTO_TCP, IP4(10, 0, 0, 0), 8, 22, 22);
	char err[256];

	(void)state;
	assert_int_equal(dp_sg_rule_check(&r, err, sizeof(err)), 0);
	r.port_lo = 23;
	assert_int_equal(dp_sg_rule_check(&r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "port_lo"));
	r = rule(IPPROTO_TCP, IP4(10, 0, 0, 1), 8, 0, 65535);
	assert_int_equal(dp_sg_rule_check(&r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "remote_ip"));
	r.prefix_len = 33;
	assert_int_equal(dp_sg_rule_check(&r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "prefix_len"));
	r = rule(IPPROTO_ICMP, 0, 0, 0, 0);
	assert_int_equal(dp_sg_rule_check(&r, err, sizeof(err)), 0);
	r.port_lo = 80;
	r.port_hi = 80;
	assert_int_equal(dp_sg_rule_check(&r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "only with tcp or udp"));
	r = any_rule;
	r.proto = 256;
	assert_int_equal(dp_sg_rule_check(&r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "proto"));
	r = any_rule;
	r.src_port_lo = 9;
	r.src_port_hi = 8;
	assert_int_equal(dp_sg_rule_check(&r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "src_port_lo"));
}

static void
test_set_errors(void **state)
{
	struct dp_sg_rule rules[DP_SG_MAX_RULES + 1];
	struct dp_sg_policy pol = { .egress = rules, .n_egress = DP_SG_MAX_RULES + 1 };
	char err[256];

	(void)state;
	for (unsigned int i = 0; i <= DP_SG_MAX_RULES; i++)
		rules[i] = any_rule;
	assert_int_equal(dp_port_sg_set(&the_dp, "vm1", &pol, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "egress: 1001 rules"));
	pol.n_egress = 3;
	rules[2].port_lo = 7;
	assert_int_equal(dp_port_sg_set(&the_dp, "vm1", &pol, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "egress rule 2: port_lo"));
	rules[2] = any_rule;
	assert_int_equal(dp_port_sg_set(&the_dp, "vm9", &pol, err, sizeof(err)), -ENOENT);
	assert_int_equal(dp_port_sg_set(&the_dp, "up0", &pol, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "is an uplink"));
	assert_null(atomic_load(&ports[0].sg));
}

/* Default deny, one allow rule, the reply through the connection, other
 * traffic not; ARP passes, IPv6 and broken frames get the default. */
static void
test_stateful(void **state)
{
	struct dp_sg_rule eg[2] = { rule(IPPROTO_TCP, IP4(10, 0, 0, 0), 8, 22, 22),
				    rule(IPPROTO_UDP, IP4(10, 9, 9, 9), 32, 53, 53) };
	struct dp_sg_policy pol = {
		.ingress_deny = true, .egress_deny = true, .egress = eg, .n_egress = 2
	};
	static const uint8_t arp[42] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0,
					 1,    0x08, 0x06, 0,    1,    0x08, 0, 6, 4, 0, 1 };
	static const uint8_t ip6[60] = { 2, 0,    0,    0,    0, 2, 2, 0, 0, 0,  0,
					 1, 0x86, 0xdd, 0x60, 0, 0, 0, 0, 0, 59, 64 };
	static const uint8_t runt[20] = { 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0, 0x45 };
	struct dp_sg_rule_stats rs[2];
	struct dp_port_counters ctr;
	struct dp_sg_stats st;
	struct rte_mbuf *m;
	char err[256];

	(void)state;
	memset(&ctr, 0, sizeof(ctr));
	assert_int_equal(dp_port_sg_set(&the_dp, "vm1", &pol, err, sizeof(err)), 0);
	/* Not allowed: another port, another network, nothing in. */
	m = ip_frame(IPPROTO_TCP, VM_IP, IP4(10, 1, 2, 3), 40000, 80, 0x02);
	assert_false(pass(&ports[0], EGRESS, m, &ctr));
	m = ip_frame(IPPROTO_TCP, VM_IP, IP4(11, 1, 2, 3), 40000, 22, 0x02);
	assert_false(pass(&ports[0], EGRESS, m, &ctr));
	m = ip_frame(IPPROTO_TCP, IP4(10, 1, 2, 3), VM_IP, 22, 40000, 0x12);
	assert_false(pass(&ports[0], INGRESS, m, &ctr));
	assert_int_equal(ctr.drops[DP_DROP_SECURITY_GROUP], 3);
	/* Denied egress frames were received all the same. */
	assert_int_equal(ctr.rx_packets, 2);
	/* Allowed: opens the connection; the reply passes, a stranger not. */
	m = ip_frame(IPPROTO_TCP, VM_IP, IP4(10, 1, 2, 3), 40000, 22, 0x02);
	assert_true(pass(&ports[0], EGRESS, m, &ctr));
	m = ip_frame(IPPROTO_TCP, IP4(10, 1, 2, 3), VM_IP, 22, 40000, 0x12);
	assert_true(pass(&ports[0], INGRESS, m, &ctr));
	m = ip_frame(IPPROTO_TCP, IP4(10, 1, 2, 3), VM_IP, 22, 40001, 0x12);
	assert_false(pass(&ports[0], INGRESS, m, &ctr));
	/* The same 5-tuple on the other port is not its connection. */
	m = ip_frame(IPPROTO_TCP, IP4(10, 1, 2, 3), VM_IP, 22, 40000, 0x10);
	assert_true(pass(&ports[1], INGRESS, m, &ctr)); /* vm2: no policy */
	assert_int_equal(dp_port_sg_set(&the_dp, "vm2", &pol, err, sizeof(err)), 0);
	m = ip_frame(IPPROTO_TCP, IP4(10, 1, 2, 3), VM_IP, 22, 40000, 0x10);
	assert_false(pass(&ports[1], INGRESS, m, &ctr));
	/* ARP passes; IPv6 and a cut IPv4 header get the default (deny). */
	assert_true(pass(&ports[0], EGRESS, raw_frame(arp, sizeof(arp)), &ctr));
	assert_false(pass(&ports[0], EGRESS, raw_frame(ip6, sizeof(ip6)), &ctr));
	assert_false(pass(&ports[0], INGRESS, raw_frame(runt, sizeof(runt)), &ctr));

	assert_int_equal(dp_port_sg_stats(&the_dp, "vm1", &st, NULL, 0, rs, 2), 0);
	assert_true(st.enabled);
	assert_true(st.ingress_deny && st.egress_deny);
	assert_int_equal(st.n_egress, 2);
	assert_int_equal(rs[0].packets, 1);
	assert_int_equal(rs[0].bytes, 14 + 20 + 20 + 10);
	assert_int_equal(rs[1].packets, 0);
	assert_int_equal(st.ct_created, 1);
	assert_int_equal(st.ct_hits, 1);
	assert_int_equal(st.ct_entries, 1);
	assert_int_equal(st.default_denied[SG_EG], 3); /* two TCP, the IPv6 one */
	assert_int_equal(st.default_denied[SG_IN], 3);
	assert_int_equal(rte_mempool_avail_count(pool), POOL_SIZE);

	/* Closing: the connection goes with the port's policy kept. */
	assert_int_equal(dp_sg_ct_forget_port(the_dp.ct, ports[0].id), 1);
	m = ip_frame(IPPROTO_TCP, IP4(10, 1, 2, 3), VM_IP, 22, 40000, 0x10);
	assert_false(pass(&ports[0], INGRESS, m, &ctr));
	assert_int_equal(dp_port_sg_set(&the_dp, "vm2", NULL, err, sizeof(err)), 0);
}

static void
test_timeouts(void **state)
{
	struct dp_sg_rule eg[1] = { rule(IPPROTO_UDP, 0, 0, 53, 53) };
	struct dp_sg_policy pol = { .ingress_deny = true, .egress = eg, .n_egress = 1 };
	struct dp_sg_timeouts t = { .other_ms = 100, .tcp_syn_ms = 100 };
	struct timespec nap = { 0, 250 * 1000 * 1000 };
	struct dp_port_counters ctr;
	struct dp_sg_stats st;
	struct rte_mbuf *m;
	char err[256];

	(void)state;
	memset(&ctr, 0, sizeof(ctr));
	t.tcp_closing_ms = 86400001;
	assert_int_equal(dp_sg_timeouts_set(&the_dp, &t, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "tcp_closing_ms"));
	t.tcp_closing_ms = 0;
	assert_int_equal(dp_sg_timeouts_set(&the_dp, &t, err, sizeof(err)), 0);
	assert_int_equal(dp_port_sg_set(&the_dp, "vm1", &pol, err, sizeof(err)), 0);
	m = ip_frame(IPPROTO_UDP, VM_IP, IP4(8, 8, 8, 8), 5555, 53, 0);
	assert_true(pass(&ports[0], EGRESS, m, &ctr));
	m = ip_frame(IPPROTO_UDP, IP4(8, 8, 8, 8), VM_IP, 53, 5555, 0);
	assert_true(pass(&ports[0], INGRESS, m, &ctr));
	nanosleep(&nap, NULL);
	m = ip_frame(IPPROTO_UDP, IP4(8, 8, 8, 8), VM_IP, 53, 5555, 0);
	assert_false(pass(&ports[0], INGRESS, m, &ctr));
	assert_int_equal(dp_port_sg_stats(&the_dp, "vm1", &st, NULL, 0, NULL, 0), 0);
	assert_int_equal(st.ct_entries, 0); /* expired, even before aging */
	assert_int_equal(dp_sg_ct_age(the_dp.ct), 1);
	assert_int_equal(dp_sg_ct_age(the_dp.ct), 0);
	t = (struct dp_sg_timeouts){ 30000, 7200000, 10000, 30000 };
	assert_int_equal(dp_sg_timeouts_set(&the_dp, &t, err, sizeof(err)), 0);
	assert_int_equal(dp_port_sg_set(&the_dp, "vm1", NULL, err, sizeof(err)), 0);
}

static void
test_icmp_and_many_rules(void **state)
{
	struct dp_sg_rule in[100];
	struct dp_sg_policy pol = {
		.ingress_deny = true, .egress_deny = true, .ingress = in, .n_ingress = 100
	};
	struct dp_sg_rule_stats rs[100];
	struct dp_port_counters ctr;
	struct dp_sg_stats st;
	char err[256];

	(void)state;
	memset(&ctr, 0, sizeof(ctr));
	for (unsigned int i = 0; i < 99; i++)
		in[i] = rule(IPPROTO_TCP, IP4(172, 16, i, 0), 24, (uint16_t)(1000 + i),
			     (uint16_t)(1000 + i));
	in[99] = rule(IPPROTO_ICMP, IP4(10, 0, 0, 0), 8, 0, 0);
	assert_int_equal(dp_port_sg_set(&the_dp, "vm1", &pol, err, sizeof(err)), 0);
	/* Rule 57 matches only its network and port. */
	assert_true(pass(&ports[0], INGRESS,
			 ip_frame(IPPROTO_TCP, IP4(172, 16, 57, 9), VM_IP, 999, 1057, 2), &ctr));
	assert_false(pass(&ports[0], INGRESS,
			  ip_frame(IPPROTO_TCP, IP4(172, 16, 57, 9), VM_IP, 999, 1058, 2), &ctr));
	/* An echo request in opens the connection its reply leaves by. */
	assert_true(pass(&ports[0], INGRESS,
			 ip_frame(IPPROTO_ICMP, IP4(10, 3, 3, 3), VM_IP, 8, 77, 0), &ctr));
	assert_true(pass(&ports[0], EGRESS,
			 ip_frame(IPPROTO_ICMP, VM_IP, IP4(10, 3, 3, 3), 0, 77, 0), &ctr));
	assert_false(pass(&ports[0], EGRESS,
			  ip_frame(IPPROTO_ICMP, VM_IP, IP4(10, 3, 3, 3), 0, 78, 0), &ctr));
	assert_int_equal(dp_port_sg_stats(&the_dp, "vm1", &st, rs, 100, NULL, 0), 0);
	assert_int_equal(rs[57].packets, 1);
	assert_int_equal(rs[58].packets, 0);
	assert_int_equal(rs[99].packets, 1);
	assert_int_equal(st.ct_hits, 1);
	assert_int_equal(dp_port_sg_set(&the_dp, "vm1", NULL, err, sizeof(err)), 0);
	dp_sg_ct_forget_port(the_dp.ct, ports[0].id);
}

/* A full table: allowed frames pass and are counted, none opens. */
static void
test_table_full(void **state)
{
	struct dp_sg_rule eg[1] = { rule(IPPROTO_UDP, 0, 0, 0, 65535) };
	struct dp_sg_policy pol = { .ingress_deny = true, .egress = eg, .n_egress = 1 };
	struct dp_port_counters ctr;
	struct dp_sg_stats st;
	char err[256];
	unsigned int i;

	(void)state;
	memset(&ctr, 0, sizeof(ctr));
	assert_int_equal(dp_port_sg_set(&the_dp, "vm1", &pol, err, sizeof(err)), 0);
	for (i = 0; i < the_dp.ct->capacity + 10; i++)
		assert_true(pass(&ports[0], EGRESS,
				 ip_frame(IPPROTO_UDP, VM_IP, IP4(9, 9, 9, 9), (uint16_t)i, 53, 0),
				 &ctr));
	assert_int_equal(dp_port_sg_stats(&the_dp, "vm1", &st, NULL, 0, NULL, 0), 0);
	assert_true(st.ct_full >= 10);
	assert_int_equal(st.ct_created + st.ct_full, the_dp.ct->capacity + 10);
	assert_int_equal(st.ct_entries, st.ct_created);
	assert_int_equal(dp_sg_ct_forget_port(the_dp.ct, ports[0].id), st.ct_created);
	/* Freed positions come back after the grace period. */
	assert_true(pass(&ports[0], EGRESS, ip_frame(IPPROTO_UDP, VM_IP, IP4(9, 9, 9, 8), 1, 53, 0),
			 &ctr));
	assert_int_equal(dp_port_sg_stats(&the_dp, "vm1", &st, NULL, 0, NULL, 0), 0);
	assert_int_equal(st.ct_entries, 1);
	assert_int_equal(dp_port_sg_set(&the_dp, "vm1", NULL, err, sizeof(err)), 0);
	dp_sg_ct_forget_port(the_dp.ct, ports[0].id);
	assert_int_equal(rte_mempool_avail_count(pool), POOL_SIZE);
}

/* A worker filters vm1's allowed traffic and an open connection of vm2
 * while the control thread replaces vm2's policy over and over: no frame
 * of either is dropped. */
static _Atomic bool stop_worker;
static _Atomic uint64_t worker_drops, worker_frames;

static void *
worker(void *arg)
{
	struct dp_port_counters ctr;

	(void)arg;
	memset(&ctr, 0, sizeof(ctr));
	rte_rcu_qsbr_thread_register(the_dp.qsbr, 0);
	rte_rcu_qsbr_thread_online(the_dp.qsbr, 0);
	while (!atomic_load(&stop_worker)) {
		struct rte_mbuf *pkts[2] = {
			ip_frame(IPPROTO_TCP, VM_IP, IP4(10, 0, 0, 1), 1234, 443, 0x10),
			ip_frame(IPPROTO_TCP, IP4(10, 0, 0, 2), VM_IP, 22, 5000, 0x10),
		};
		uint16_t k = dp_sg_filter(the_dp.ct, &ports[0], EGRESS, 0, pkts, 1, &ctr);

		k += dp_sg_filter(the_dp.ct, &ports[1], INGRESS, 0, pkts + 1, 1, &ctr);
		rte_pktmbuf_free_bulk(pkts, k);
		atomic_fetch_add(&worker_drops, 2u - k);
		atomic_fetch_add(&worker_frames, 2);
		rte_rcu_qsbr_quiescent(the_dp.qsbr, 0);
	}
	rte_rcu_qsbr_thread_offline(the_dp.qsbr, 0);
	rte_rcu_qsbr_thread_unregister(the_dp.qsbr, 0);
	return NULL;
}

static void
test_live_change(void **state)
{
	struct dp_sg_rule r1[1] = { rule(IPPROTO_TCP, IP4(10, 0, 0, 0), 8, 443, 443) };
	struct dp_sg_rule r2[2] = { rule(IPPROTO_TCP, IP4(10, 0, 0, 2), 32, 5000, 5000),
				    rule(IPPROTO_UDP, 0, 0, 0, 0) };
	struct dp_sg_policy p1 = {
		.ingress_deny = true, .egress_deny = true, .egress = r1, .n_egress = 1
	};
	struct dp_sg_policy p2 = { .ingress_deny = true, .egress_deny = true };
	struct dp_port_counters ctr;
	struct timespec nap = { 0, 1000 * 1000 };
	pthread_t th;
	char err[256];

	(void)state;
	memset(&ctr, 0, sizeof(ctr));
	assert_int_equal(dp_port_sg_set(&the_dp, "vm1", &p1, err, sizeof(err)), 0);
	/* vm2's connection is opened by an allowed frame in. */
	p2.ingress = r2;
	p2.n_ingress = 1;
	assert_int_equal(dp_port_sg_set(&the_dp, "vm2", &p2, err, sizeof(err)), 0);
	assert_true(pass(&ports[1], INGRESS,
			 ip_frame(IPPROTO_TCP, IP4(10, 0, 0, 2), VM_IP, 22, 5000, 0x02), &ctr));
	atomic_store(&stop_worker, false);
	assert_int_equal(pthread_create(&th, NULL, worker, NULL), 0);
	for (unsigned int i = 0; i < 40; i++) {
		/* Every other policy has no rule for the connection: it stays. */
		p2.n_ingress = i % 2 ? 2 : 0;
		assert_int_equal(dp_port_sg_set(&the_dp, "vm2", &p2, err, sizeof(err)), 0);
		nanosleep(&nap, NULL);
	}
	atomic_store(&stop_worker, true);
	pthread_join(th, NULL);
	assert_true(atomic_load(&worker_frames) > 0);
	assert_int_equal(atomic_load(&worker_drops), 0);
	assert_int_equal(dp_port_sg_set(&the_dp, "vm1", NULL, err, sizeof(err)), 0);
	assert_int_equal(dp_port_sg_set(&the_dp, "vm2", NULL, err, sizeof(err)), 0);
	dp_sg_ct_forget_port(the_dp.ct, ports[0].id);
	dp_sg_ct_forget_port(the_dp.ct, ports[1].id);
	assert_int_equal(rte_mempool_avail_count(pool), POOL_SIZE);
}

static int
setup(void **state)
{
	size_t qsz = rte_rcu_qsbr_get_memsize(1);

	(void)state;
	pool = rte_pktmbuf_pool_create("ut_sg", POOL_SIZE, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
				       SOCKET_ID_ANY);
	the_dp.qsbr = rte_zmalloc("ut_qsbr", qsz, RTE_CACHE_LINE_SIZE);
	pthread_mutex_init(&the_dp.lock, NULL);
	if (pool == NULL || the_dp.qsbr == NULL || rte_rcu_qsbr_init(the_dp.qsbr, 1) != 0)
		return -1;
	/* A small table, to fill it. */
	return dp_sg_ct_create("ut_sg_ct", 256, the_dp.qsbr, &the_dp.ct);
}

static int
teardown(void **state)
{
	(void)state;
	dp_sg_port_free(&ports[0]);
	dp_sg_port_free(&ports[1]);
	dp_sg_ct_free(the_dp.ct);
	rte_free(the_dp.qsbr);
	rte_mempool_free(pool);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rule_check),
		cmocka_unit_test(test_set_errors),
		cmocka_unit_test(test_stateful),
		cmocka_unit_test(test_timeouts),
		cmocka_unit_test(test_icmp_and_many_rules),
		cmocka_unit_test(test_table_full),
		cmocka_unit_test(test_live_change),
	};
	char prefix[64];
	char *argv[] = { "test_sg",        "--no-huge",      "-m", "128", "--no-shconf",
			 "--no-pci",       "--iova-mode=va", "-l", "0",   "--log-level=warning",
			 "--no-telemetry", prefix,           NULL };

	snprintf(prefix, sizeof(prefix), "--file-prefix=ut_sg_%d", (int)getpid());
	if (rte_eal_init((int)RTE_DIM(argv) - 1, argv) < 0) {
		fprintf(stderr, "EAL init failed\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, setup, teardown) | rte_eal_cleanup();
}
