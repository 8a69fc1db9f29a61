/* SPDX-License-Identifier: MIT */
/*
 * Security groups: a VM port's stateful IPv4 filter (dp.h has the rules'
 * meaning, docs/architecture.md "Security groups" the design).
 *
 * A policy is two DPDK ACL contexts (rte_acl), one per direction, built
 * by the control thread and published whole through the port's pointer;
 * the old one is freed after an RCU grace period (as qos.c's meters).
 * A worker classifies a burst at once: each frame becomes a 12-byte key
 * from the VM's point of view (protocol, remote address, source and
 * destination ports), and the frames no open connection covers go to
 * rte_acl_classify() together.
 *
 * Connections live in one rte_hash for all ports (lock-free readers),
 * keyed by (port, protocol, local address and port, remote address and
 * port): both directions of a connection build the same key. Beside each
 * hash position is an entry with the key, the last time a frame was seen
 * and the state. Workers look up without locks and add under a spinlock
 * (new connections only); housekeeping deletes expired entries and frees
 * their positions after a grace period (rte_rcu_qsbr defer queue), so a
 * worker's position is never reused under it. Expiry is checked on
 * lookup too, so a timeout is exact to the millisecond whatever the aging
 * period.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_acl.h>
#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_malloc.h>
#include <rte_spinlock.h>

#include "dp_priv.h"
#include "pkt_parse.h"
#include "sg.h"

#define SG_IN      0 /* ingress: to the VM (the switch's tx) */
#define SG_EG      1 /* egress: from the VM (the switch's rx) */
#define SG_HDR_MAX 128
#define TCP_FIN    0x01
#define TCP_RST    0x04

/* The classifier's input, from the VM's point of view (network order). */
struct sg_acl_key {
	uint8_t proto;
	uint8_t pad[3];
	uint32_t remote_ip;
	uint16_t src_port, dst_port;
};

enum { F_PROTO, F_REMOTE, F_SRC_PORT, F_DST_PORT, F_N };
RTE_ACL_RULE_DEF(sg_acl_rule, F_N);

static const struct rte_acl_field_def sg_fields[F_N] = {
	{ .type = RTE_ACL_FIELD_TYPE_BITMASK,
	  .size = sizeof(uint8_t),
	  .field_index = F_PROTO,
	  .input_index = 0,
	  .offset = offsetof(struct sg_acl_key, proto) },
	{ .type = RTE_ACL_FIELD_TYPE_MASK,
	  .size = sizeof(uint32_t),
	  .field_index = F_REMOTE,
	  .input_index = 1,
	  .offset = offsetof(struct sg_acl_key, remote_ip) },
	{ .type = RTE_ACL_FIELD_TYPE_RANGE,
	  .size = sizeof(uint16_t),
	  .field_index = F_SRC_PORT,
	  .input_index = 2,
	  .offset = offsetof(struct sg_acl_key, src_port) },
	{ .type = RTE_ACL_FIELD_TYPE_RANGE,
	  .size = sizeof(uint16_t),
	  .field_index = F_DST_PORT,
	  .input_index = 2,
	  .offset = offsetof(struct sg_acl_key, dst_port) },
};

/* One direction of a policy. */
struct sg_dir {
	struct rte_acl_ctx *acx; /* NULL: no rules */
	unsigned int n;
	bool deny; /* the default action */
	struct dp_sg_rule *rules;
	struct dp_sg_rule_stats *rctr; /* [worker * n + rule] */
};

struct sg_wctr {
	uint64_t def_allowed[2], def_denied[2];
	uint64_t ct_hits, ct_created, ct_full;
} __rte_cache_aligned;

struct dp_sg {
	struct sg_dir d[2];
	struct sg_wctr wctr[DP_MAX_WORKERS + 1];
};

/* Connections. */
enum { CT_TCP_SYN, CT_TCP_EST, CT_TCP_CLOSING, CT_OTHER, CT_STATES };

struct ct_key {
	uint32_t local_ip, remote_ip; /* network order */
	uint16_t local_port, remote_port;
	uint16_t port; /* the VM port's id */
	uint8_t proto;
	uint8_t zero;
};

struct ct_entry {
	struct ct_key key;
	_Atomic uint64_t seen; /* ms */
	_Atomic uint8_t state;
	_Atomic uint8_t used;
	uint8_t opened; /* the direction (SG_*) of the first frame */
};

struct dp_sg_ct {
	struct rte_hash *h;
	struct ct_entry *e;
	uint32_t capacity;
	rte_spinlock_t wlock; /* the hash's writers (workers add, housekeeping deletes) */
	struct rte_rcu_qsbr *qsbr;
	struct rte_rcu_qsbr_dq *dq;
	uint64_t tsc_per_ms;
	_Atomic uint32_t timeout[CT_STATES]; /* ms */
};

static const uint32_t default_timeout[CT_STATES] = {
	[CT_TCP_SYN] = 30000,
	[CT_TCP_EST] = 7200000,
	[CT_TCP_CLOSING] = 10000,
	[CT_OTHER] = 30000,
};

static inline uint64_t
now_ms(const struct dp_sg_ct *ct)
{
	return rte_get_tsc_cycles() / ct->tsc_per_ms;
}

static inline bool
expired(const struct dp_sg_ct *ct, const struct ct_entry *e, uint64_t now)
{
	uint8_t st = atomic_load_explicit(&e->state, memory_order_relaxed);
	uint64_t seen = atomic_load_explicit(&e->seen, memory_order_relaxed);

	return now > seen &&
	       now - seen > atomic_load_explicit(&ct->timeout[st], memory_order_relaxed);
}

/* Called by the defer queue once no reader can hold these positions. */
static void
release_positions(void *p, void *e, unsigned int n)
{
	struct dp_sg_ct *ct = p;
	const uint32_t *pos = e;
	unsigned int i;

	for (i = 0; i < n; i++)
		rte_hash_free_key_with_position(ct->h, (int32_t)pos[i]);
}

int
dp_sg_ct_create(const char *name, uint32_t capacity, struct rte_rcu_qsbr *qsbr,
		struct dp_sg_ct **out)
{
	struct rte_hash_parameters hp = {
		.name = name,
		.entries = capacity,
		.key_len = sizeof(struct ct_key),
		.hash_func = rte_hash_crc,
		.socket_id = SOCKET_ID_ANY,
		.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF,
	};
	struct rte_rcu_qsbr_dq_parameters dqp = { 0 };
	char dqname[RTE_RCU_QSBR_DQ_NAMESIZE];
	struct dp_sg_ct *ct;
	unsigned int i;
	int rc;

	ct = rte_zmalloc("dp_sg_ct", sizeof(*ct), RTE_CACHE_LINE_SIZE);
	if (ct == NULL)
		return -ENOMEM;
	rte_spinlock_init(&ct->wlock);
	ct->qsbr = qsbr;
	ct->tsc_per_ms = RTE_MAX(rte_get_tsc_hz() / 1000, (uint64_t)1);
	for (i = 0; i < CT_STATES; i++)
		atomic_store(&ct->timeout[i], default_timeout[i]);
	ct->h = rte_hash_create(&hp);
	if (ct->h == NULL) {
		rc = rte_errno ? -rte_errno : -ENOMEM;
		goto out_free_ct;
	}
	ct->capacity = rte_hash_max_key_id(ct->h) + 1;
	ct->e = rte_zmalloc("dp_sg_ct_e", sizeof(*ct->e) * ct->capacity, RTE_CACHE_LINE_SIZE);
	if (ct->e == NULL) {
		rc = -ENOMEM;
		goto out_free_hash;
	}
	snprintf(dqname, sizeof(dqname), "%s", name);
	dqp.name = dqname;
	dqp.flags = RTE_RCU_QSBR_DQ_MT_UNSAFE;
	dqp.size = ct->capacity;
	dqp.esize = sizeof(uint32_t);
	dqp.max_reclaim_size = 64;
	dqp.free_fn = release_positions;
	dqp.p = ct;
	dqp.v = qsbr;
	ct->dq = rte_rcu_qsbr_dq_create(&dqp);
	if (ct->dq == NULL) {
		rc = rte_errno ? -rte_errno : -ENOMEM;
		goto out_free_entries;
	}
	*out = ct;
	return 0;

out_free_entries:
	rte_free(ct->e);
out_free_hash:
	rte_hash_free(ct->h);
out_free_ct:
	rte_free(ct);
	return rc;
}

void
dp_sg_ct_free(struct dp_sg_ct *ct)
{
	if (ct == NULL)
		return;
	rte_rcu_qsbr_dq_delete(ct->dq);
	rte_hash_free(ct->h);
	rte_free(ct->e);
	rte_free(ct);
}

static void
forget_position(struct dp_sg_ct *ct, uint32_t pos)
{
	if (rte_rcu_qsbr_dq_enqueue(ct->dq, &pos) != 0) {
		/* Queue full: wait for readers, then reclaim everything. */
		rte_rcu_qsbr_synchronize(ct->qsbr, RTE_QSBR_THRID_INVALID);
		rte_rcu_qsbr_dq_reclaim(ct->dq, UINT32_MAX, NULL, NULL, NULL);
		release_positions(ct, &pos, 1);
	}
}

/* Forget the entries that expired, or (port < DP_MAX_PORTS) of a port. */
static unsigned int
forget_matching(struct dp_sg_ct *ct, uint32_t port)
{
	uint64_t now = now_ms(ct);
	unsigned int n = 0;
	uint32_t i;

	for (i = 0; i < ct->capacity; i++) {
		struct ct_entry *e = &ct->e[i];
		bool gone = false;

		if (!atomic_load_explicit(&e->used, memory_order_acquire))
			continue;
		rte_spinlock_lock(&ct->wlock);
		/* A worker may have opened it again meanwhile. */
		if (atomic_load_explicit(&e->used, memory_order_relaxed) &&
		    (port < DP_MAX_PORTS ? e->key.port == port : expired(ct, e, now)) &&
		    rte_hash_del_key(ct->h, &e->key) >= 0) {
			atomic_store_explicit(&e->used, 0, memory_order_release);
			gone = true;
		}
		rte_spinlock_unlock(&ct->wlock);
		if (gone) {
			forget_position(ct, i);
			n++;
		}
	}
	rte_rcu_qsbr_dq_reclaim(ct->dq, UINT32_MAX, NULL, NULL, NULL);
	return n;
}

unsigned int
dp_sg_ct_age(struct dp_sg_ct *ct)
{
	return ct == NULL ? 0 : forget_matching(ct, UINT32_MAX);
}

unsigned int
dp_sg_ct_forget_port(struct dp_sg_ct *ct, uint16_t port)
{
	return ct == NULL ? 0 : forget_matching(ct, port);
}

static uint64_t
port_entries(const struct dp_sg_ct *ct, uint16_t port)
{
	uint64_t now = now_ms(ct), n = 0;
	uint32_t i;

	for (i = 0; i < ct->capacity; i++) {
		const struct ct_entry *e = &ct->e[i];

		if (atomic_load_explicit(&e->used, memory_order_acquire) && e->key.port == port &&
		    !expired(ct, e, now))
			n++;
	}
	return n;
}

/* ---- the worker's side ---- */

enum sg_class { SG_PASS, SG_DEFAULT, SG_IP };

/* What a frame is to the filter: ARP passes; untagged IPv4 whose
 * transport header is usable (or another protocol than TCP, UDP, ICMP)
 * is judged by connections and rules; everything else gets the default
 * action. Fills the connection key and the classifier's key for SG_IP. */
static enum sg_class
classify_frame(struct rte_mbuf *m, uint16_t port, unsigned int dir, struct ct_key *ck,
	       struct sg_acl_key *ak, uint8_t *tcp_flags)
{
	uint8_t tmp[SG_HDR_MAX];
	const uint8_t *hdr;
	uint32_t len = RTE_MIN(m->pkt_len, (uint32_t)SG_HDR_MAX);
	struct pkt_info pi;
	enum pkt_verdict v;
	uint32_t src, dst;
	uint16_t sport = 0, dport = 0;

	hdr = rte_pktmbuf_read(m, 0, len, tmp);
	if (hdr == NULL)
		return SG_DEFAULT;
	v = pkt_parse(hdr, len, m->pkt_len, 0, &pi);
	if (v == PKT_OK && (pi.flags & PKT_F_ARP) && !(pi.flags & PKT_F_VLAN))
		return SG_PASS;
	if (v != PKT_OK || pi.ip_version != 4 || (pi.flags & (PKT_F_VLAN | PKT_F_LATER_FRAG)))
		return SG_DEFAULT;
	memcpy(&src, pi.src_ip, 4);
	memcpy(&dst, pi.dst_ip, 4);
	if (pi.l4_proto == IPPROTO_TCP || pi.l4_proto == IPPROTO_UDP) {
		sport = pi.src_port;
		dport = pi.dst_port;
	}
	memset(ck, 0, sizeof(*ck));
	ck->port = port;
	ck->proto = pi.l4_proto;
	if (dir == SG_EG) {
		ck->local_ip = src;
		ck->remote_ip = dst;
		ck->local_port = sport;
		ck->remote_port = dport;
	} else {
		ck->local_ip = dst;
		ck->remote_ip = src;
		ck->local_port = dport;
		ck->remote_port = sport;
	}
	if (pi.l4_proto == IPPROTO_ICMP && (pi.flags & PKT_F_L4) &&
	    (pi.icmp_type == 8 || pi.icmp_type == 0) && pi.l4_off + 6 <= len) {
		/* Echo: the identifier tells the conversations apart. */
		uint16_t id = (uint16_t)(hdr[pi.l4_off + 4] << 8 | hdr[pi.l4_off + 5]);

		ck->local_port = id;
	}
	memset(ak, 0, sizeof(*ak));
	ak->proto = pi.l4_proto;
	ak->remote_ip = ck->remote_ip;
	ak->src_port = rte_cpu_to_be_16(sport);
	ak->dst_port = rte_cpu_to_be_16(dport);
	*tcp_flags = pi.l4_proto == IPPROTO_TCP ? pi.tcp_flags : 0;
	return SG_IP;
}

static uint8_t
next_state(uint8_t st, uint8_t proto, uint8_t flags, bool reply)
{
	if (proto != IPPROTO_TCP)
		return CT_OTHER;
	if (flags & (TCP_FIN | TCP_RST))
		return CT_TCP_CLOSING;
	if (st == CT_TCP_SYN && reply)
		return CT_TCP_EST;
	return st;
}

/* The connection of key k if open: refreshed (and its state moved). */
static bool
ct_hit(struct dp_sg_ct *ct, const struct ct_key *k, unsigned int dir, uint8_t flags, uint64_t now)
{
	int32_t pos = rte_hash_lookup(ct->h, k);
	struct ct_entry *e;
	uint8_t st, nst;

	if (pos < 0)
		return false;
	e = &ct->e[pos];
	if (!atomic_load_explicit(&e->used, memory_order_acquire) || expired(ct, e, now))
		return false;
	if (atomic_load_explicit(&e->seen, memory_order_relaxed) != now)
		atomic_store_explicit(&e->seen, now, memory_order_relaxed);
	st = atomic_load_explicit(&e->state, memory_order_relaxed);
	nst = next_state(st, k->proto, flags, dir != e->opened);
	if (nst != st)
		atomic_store_explicit(&e->state, nst, memory_order_relaxed);
	return true;
}

enum ct_open { CT_OPENED, CT_WAS_OPEN, CT_FULL };

/* Open (or reopen, if expired) the connection of key k. An earlier frame
 * of the same burst (classified together) may have opened it already. */
static enum ct_open
ct_open(struct dp_sg_ct *ct, const struct ct_key *k, unsigned int dir, uint8_t flags, uint64_t now)
{
	enum ct_open res = CT_FULL;
	struct ct_entry *e;
	int32_t pos;

	rte_spinlock_lock(&ct->wlock);
	pos = rte_hash_lookup(ct->h, k);
	if (pos >= 0 && atomic_load_explicit(&ct->e[pos].used, memory_order_relaxed) &&
	    !expired(ct, &ct->e[pos], now)) {
		res = CT_WAS_OPEN;
		goto out;
	}
	pos = rte_hash_add_key(ct->h, k);
	if (pos >= 0) {
		e = &ct->e[pos];
		e->key = *k;
		e->opened = (uint8_t)dir;
		atomic_store_explicit(&e->seen, now, memory_order_relaxed);
		atomic_store_explicit(&e->state, next_state(CT_TCP_SYN, k->proto, flags, false),
				      memory_order_relaxed);
		atomic_store_explicit(&e->used, 1, memory_order_release);
		res = CT_OPENED;
	}
out:
	rte_spinlock_unlock(&ct->wlock);
	return res;
}

uint16_t
dp_sg_filter(struct dp_sg_ct *ct, struct dp_port *p, unsigned int dir, unsigned int w,
	     struct rte_mbuf **pkts, uint16_t n, struct dp_port_counters *ctr)
{
	struct dp_sg *sg = atomic_load_explicit(&p->sg, memory_order_acquire);
	unsigned int sd = dir == DP_QOS_RX ? SG_EG : SG_IN;
	struct ct_key ck[DP_BURST];
	struct sg_acl_key ak[DP_BURST];
	const uint8_t *data[DP_BURST];
	uint32_t res[DP_BURST];
	uint8_t flags[DP_BURST];
	uint16_t idx[DP_BURST];
	struct sg_wctr *wc;
	struct sg_dir *d;
	uint16_t base, i, k = 0;
	uint64_t now;

	if (likely(sg == NULL) || n == 0)
		return n;
	d = &sg->d[sd];
	wc = &sg->wctr[w];
	now = now_ms(ct);
	for (base = 0; base < n; base += DP_BURST) {
		uint16_t cnt = RTE_MIN((uint16_t)(n - base), (uint16_t)DP_BURST), nq = 0;

		/* Verdicts: res[i] = 1 pass, 0 drop, 2 to the classifier. */
		for (i = 0; i < cnt; i++) {
			struct rte_mbuf *m = pkts[base + i];

			switch (classify_frame(m, p->id, sd, &ck[i], &ak[nq], &flags[i])) {
			case SG_PASS:
				res[i] = 1;
				break;
			case SG_DEFAULT:
				res[i] = !d->deny;
				if (d->deny)
					wc->def_denied[sd]++;
				else
					wc->def_allowed[sd]++;
				break;
			case SG_IP:
				if (ct_hit(ct, &ck[i], sd, flags[i], now)) {
					wc->ct_hits++;
					res[i] = 1;
				} else {
					res[i] = 2;
					data[nq] = (const uint8_t *)&ak[nq];
					idx[nq++] = i;
				}
				break;
			}
		}
		if (nq != 0) {
			uint32_t rule[DP_BURST];
			uint16_t q;

			if (d->acx == NULL || rte_acl_classify(d->acx, data, rule, nq, 1) != 0)
				memset(rule, 0, sizeof(rule[0]) * nq);
			for (q = 0; q < nq; q++) {
				uint16_t j = idx[q];
				struct rte_mbuf *m = pkts[base + j];

				if (rule[q] == 0) {
					res[j] = !d->deny;
					if (d->deny)
						wc->def_denied[sd]++;
					else
						wc->def_allowed[sd]++;
					continue;
				}
				d->rctr[w * d->n + rule[q] - 1].packets++;
				d->rctr[w * d->n + rule[q] - 1].bytes += m->pkt_len;
				res[j] = !d->rules[rule[q] - 1].deny;
				if (res[j] == 0)
					continue;
				switch (ct_open(ct, &ck[j], sd, flags[j], now)) {
				case CT_OPENED:
					wc->ct_created++;
					break;
				case CT_WAS_OPEN:
					break;
				case CT_FULL:
					wc->ct_full++;
					break;
				}
			}
		}
		for (i = 0; i < cnt; i++) {
			struct rte_mbuf *m = pkts[base + i];

			if (res[i] != 0) {
				pkts[k++] = m;
				continue;
			}
			if (dir == DP_QOS_RX) {
				ctr->rx_packets++;
				ctr->rx_bytes += m->pkt_len;
			}
			ctr->drops[DP_DROP_SECURITY_GROUP]++;
			rte_pktmbuf_free(m);
		}
	}
	return k;
}

/* ---- the control thread's side ---- */

int
dp_sg_rule_check(const struct dp_sg_rule *r, char *err, size_t errlen)
{
	bool ports = r->proto == IPPROTO_TCP || r->proto == IPPROTO_UDP;
	uint32_t host = rte_be_to_cpu_32(r->remote_ip);

	if (r->proto < DP_SG_PROTO_ANY || r->proto > 255) {
		DP_ERR(err, errlen, "proto %d: not -1 (any) or 0..255", r->proto);
		return -EINVAL;
	}
	if (r->prefix_len > 32) {
		DP_ERR(err, errlen, "prefix_len %u: more than 32", r->prefix_len);
		return -EINVAL;
	}
	if (r->prefix_len < 32 && (host & (UINT32_MAX >> r->prefix_len)) != 0) {
		DP_ERR(err, errlen, "remote_ip: host bits set for prefix length %u", r->prefix_len);
		return -EINVAL;
	}
	if (r->port_lo > r->port_hi) {
		DP_ERR(err, errlen, "port_lo %u above port_hi %u", r->port_lo, r->port_hi);
		return -EINVAL;
	}
	if (r->src_port_lo > r->src_port_hi) {
		DP_ERR(err, errlen, "src_port_lo %u above src_port_hi %u", r->src_port_lo,
		       r->src_port_hi);
		return -EINVAL;
	}
	if (!ports && (r->port_lo != 0 || r->port_hi != UINT16_MAX)) {
		DP_ERR(err, errlen, "port_lo, port_hi: ports only with tcp or udp");
		return -EINVAL;
	}
	if (!ports && (r->src_port_lo != 0 || r->src_port_hi != UINT16_MAX)) {
		DP_ERR(err, errlen, "src_port_lo, src_port_hi: ports only with tcp or udp");
		return -EINVAL;
	}
	return 0;
}

static void
dir_free(struct sg_dir *d)
{
	rte_acl_free(d->acx);
	free(d->rules);
	rte_free(d->rctr);
}

static void
sg_free(struct dp_sg *sg)
{
	if (sg == NULL)
		return;
	dir_free(&sg->d[SG_IN]);
	dir_free(&sg->d[SG_EG]);
	rte_free(sg);
}

static int
dir_build(struct sg_dir *d, const struct dp_sg_rule *rules, unsigned int n, bool deny,
	  const char *what, char *err, size_t errlen)
{
	static _Atomic unsigned int serial;
	struct rte_acl_param prm = { 0 };
	struct rte_acl_config cfg = { 0 };
	char name[RTE_ACL_NAMESIZE];
	unsigned int i;
	int rc;

	d->deny = deny;
	d->n = n;
	if (n == 0)
		return 0;
	d->rules = malloc(sizeof(*rules) * n);
	d->rctr = rte_zmalloc("dp_sg_ctr", sizeof(*d->rctr) * n * (DP_MAX_WORKERS + 1),
			      RTE_CACHE_LINE_SIZE);
	if (d->rules == NULL || d->rctr == NULL)
		return -ENOMEM;
	memcpy(d->rules, rules, sizeof(*rules) * n);
	snprintf(name, sizeof(name), "dp_sg%u", atomic_fetch_add(&serial, 1));
	prm.name = name;
	prm.socket_id = SOCKET_ID_ANY;
	prm.rule_size = RTE_ACL_RULE_SZ(F_N);
	prm.max_rule_num = n;
	d->acx = rte_acl_create(&prm);
	if (d->acx == NULL) {
		DP_ERR(err, errlen, "%s: cannot create an ACL context", what);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		const struct dp_sg_rule *r = &rules[i];
		struct sg_acl_rule ar;

		memset(&ar, 0, sizeof(ar));
		ar.data.category_mask = 1;
		ar.data.priority = RTE_ACL_MAX_PRIORITY - (int32_t)i;
		ar.data.userdata = i + 1;
		ar.field[F_PROTO].value.u8 = r->proto < 0 ? 0 : (uint8_t)r->proto;
		ar.field[F_PROTO].mask_range.u8 = r->proto < 0 ? 0 : 0xff;
		ar.field[F_REMOTE].value.u32 = rte_be_to_cpu_32(r->remote_ip);
		ar.field[F_REMOTE].mask_range.u32 = r->prefix_len;
		ar.field[F_SRC_PORT].value.u16 = r->src_port_lo;
		ar.field[F_SRC_PORT].mask_range.u16 = r->src_port_hi;
		ar.field[F_DST_PORT].value.u16 = r->port_lo;
		ar.field[F_DST_PORT].mask_range.u16 = r->port_hi;
		rc = rte_acl_add_rules(d->acx, (const struct rte_acl_rule *)&ar, 1);
		if (rc != 0) {
			DP_ERR(err, errlen, "%s rule %u: the ACL refused it (%d)", what, i, rc);
			return rc < 0 ? rc : -EINVAL;
		}
	}
	cfg.num_categories = 1;
	cfg.num_fields = F_N;
	memcpy(cfg.defs, sg_fields, sizeof(sg_fields));
	rc = rte_acl_build(d->acx, &cfg);
	if (rc != 0) {
		DP_ERR(err, errlen, "%s: cannot build the ACL (%d)", what, rc);
		return rc < 0 ? rc : -ENOMEM;
	}
	return 0;
}

static int
policy_check(const struct dp_sg_policy *pol, char *err, size_t errlen)
{
	const struct dp_sg_rule *rules[2] = { pol->ingress, pol->egress };
	const unsigned int n[2] = { pol->n_ingress, pol->n_egress };
	static const char *const what[2] = { "ingress", "egress" };
	char why[192];
	unsigned int d, i;

	for (d = 0; d < 2; d++) {
		if (n[d] > DP_SG_MAX_RULES) {
			DP_ERR(err, errlen, "%s: %u rules, at most %u", what[d], n[d],
			       DP_SG_MAX_RULES);
			return -EINVAL;
		}
		if (n[d] > 0 && rules[d] == NULL) {
			DP_ERR(err, errlen, "%s: no rules given", what[d]);
			return -EINVAL;
		}
		for (i = 0; i < n[d]; i++)
			if (dp_sg_rule_check(&rules[d][i], why, sizeof(why)) < 0) {
				DP_ERR(err, errlen, "%s rule %u: %s", what[d], i, why);
				return -EINVAL;
			}
	}
	return 0;
}

static int
sg_new(const struct dp_sg_policy *pol, struct dp_sg **out, char *err, size_t errlen)
{
	struct dp_sg *sg;
	int rc;

	sg = rte_zmalloc("dp_sg", sizeof(*sg), RTE_CACHE_LINE_SIZE);
	if (sg == NULL)
		return -ENOMEM;
	rc = dir_build(&sg->d[SG_IN], pol->ingress, pol->n_ingress, pol->ingress_deny, "ingress",
		       err, errlen);
	if (rc == 0)
		rc = dir_build(&sg->d[SG_EG], pol->egress, pol->n_egress, pol->egress_deny,
			       "egress", err, errlen);
	if (rc < 0) {
		sg_free(sg);
		return rc;
	}
	*out = sg;
	return 0;
}

/* Under dp->lock: the VM or access port of that name, or NULL with the
 * reason. Uplinks carry every network's traffic: no policy there. */
static struct dp_port *
vm_port(struct dp *dp, const char *port, int *rc, char *err, size_t errlen)
{
	struct dp_port *p = dp_port_by_name(dp, port);

	if (p == NULL) {
		DP_ERR(err, errlen, "no port %s", port ? port : "(null)");
		*rc = -ENOENT;
	} else if (p->is_uplink) {
		DP_ERR(err, errlen,
		       "port %s is an uplink: security groups are for VM and access ports", port);
		*rc = -EINVAL;
		p = NULL;
	}
	return p;
}

int
dp_port_sg_set(struct dp *dp, const char *port, const struct dp_sg_policy *pol, char *err,
	       size_t errlen)
{
	struct dp_sg *fresh = NULL, *old;
	struct dp_port *p;
	int rc = 0;

	if (pol != NULL) {
		rc = policy_check(pol, err, errlen);
		if (rc < 0)
			return rc;
	}
	pthread_mutex_lock(&dp->lock);
	p = vm_port(dp, port, &rc, err, errlen);
	if (p == NULL)
		goto out;
	if (pol != NULL) {
		rc = sg_new(pol, &fresh, err, errlen);
		if (rc < 0)
			goto out;
	}
	old = atomic_exchange_explicit(&p->sg, fresh, memory_order_acq_rel);
	if (old != NULL) {
		rte_rcu_qsbr_synchronize(dp->qsbr, RTE_QSBR_THRID_INVALID);
		sg_free(old);
	}
out:
	pthread_mutex_unlock(&dp->lock);
	return rc;
}

int
dp_sg_timeouts_set(struct dp *dp, const struct dp_sg_timeouts *t, char *err, size_t errlen)
{
	const uint32_t v[CT_STATES] = {
		[CT_TCP_SYN] = t->tcp_syn_ms,
		[CT_TCP_EST] = t->tcp_established_ms,
		[CT_TCP_CLOSING] = t->tcp_closing_ms,
		[CT_OTHER] = t->other_ms,
	};
	static const char *const name[CT_STATES] = { "tcp_syn_ms", "tcp_established_ms",
						     "tcp_closing_ms", "other_ms" };
	unsigned int i;

	for (i = 0; i < CT_STATES; i++)
		if (v[i] > 86400000u) {
			DP_ERR(err, errlen, "%s %u: more than a day", name[i], v[i]);
			return -EINVAL;
		}
	for (i = 0; i < CT_STATES; i++)
		if (v[i] != 0)
			atomic_store(&dp->ct->timeout[i], v[i]);
	return 0;
}

static void
sum_rules(const struct sg_dir *d, struct dp_sg_rule_stats *out, unsigned int max)
{
	unsigned int i, w;

	for (i = 0; i < d->n && i < max; i++) {
		out[i].packets = out[i].bytes = 0;
		for (w = 0; w <= DP_MAX_WORKERS; w++) {
			out[i].packets += d->rctr[w * d->n + i].packets;
			out[i].bytes += d->rctr[w * d->n + i].bytes;
		}
	}
}

int
dp_port_sg_stats(struct dp *dp, const char *port, struct dp_sg_stats *st,
		 struct dp_sg_rule_stats *ingress, unsigned int max_in,
		 struct dp_sg_rule_stats *egress, unsigned int max_eg)
{
	const struct dp_sg *sg;
	struct dp_port *p;
	unsigned int w, k;
	int rc = 0;

	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&dp->lock);
	p = vm_port(dp, port, &rc, NULL, 0);
	if (p == NULL)
		goto out;
	sg = atomic_load(&p->sg);
	st->ct_entries = port_entries(dp->ct, p->id);
	if (sg == NULL)
		goto out;
	st->enabled = true;
	st->ingress_deny = sg->d[SG_IN].deny;
	st->egress_deny = sg->d[SG_EG].deny;
	st->n_ingress = sg->d[SG_IN].n;
	st->n_egress = sg->d[SG_EG].n;
	for (w = 0; w <= DP_MAX_WORKERS; w++) {
		const struct sg_wctr *c = &sg->wctr[w];

		for (k = 0; k < 2; k++) {
			st->default_allowed[k] += c->def_allowed[k];
			st->default_denied[k] += c->def_denied[k];
		}
		st->ct_hits += c->ct_hits;
		st->ct_created += c->ct_created;
		st->ct_full += c->ct_full;
	}
	if (ingress != NULL)
		sum_rules(&sg->d[SG_IN], ingress, max_in);
	if (egress != NULL)
		sum_rules(&sg->d[SG_EG], egress, max_eg);
out:
	pthread_mutex_unlock(&dp->lock);
	return rc;
}

int
dp_port_sg_get(struct dp *dp, const char *port, struct dp_sg_policy *pol, struct dp_sg_rule *in,
	       unsigned int max_in, struct dp_sg_rule *eg, unsigned int max_eg)
{
	const struct dp_sg *sg;
	struct dp_port *p;
	int rc = 0;

	memset(pol, 0, sizeof(*pol));
	pthread_mutex_lock(&dp->lock);
	p = vm_port(dp, port, &rc, NULL, 0);
	if (p == NULL)
		goto out;
	sg = atomic_load(&p->sg);
	if (sg == NULL)
		goto out;
	pol->ingress_deny = sg->d[SG_IN].deny;
	pol->egress_deny = sg->d[SG_EG].deny;
	pol->n_ingress = RTE_MIN(sg->d[SG_IN].n, max_in);
	pol->n_egress = RTE_MIN(sg->d[SG_EG].n, max_eg);
	if (pol->n_ingress > 0)
		memcpy(in, sg->d[SG_IN].rules, sizeof(*in) * pol->n_ingress);
	if (pol->n_egress > 0)
		memcpy(eg, sg->d[SG_EG].rules, sizeof(*eg) * pol->n_egress);
	pol->ingress = in;
	pol->egress = eg;
out:
	pthread_mutex_unlock(&dp->lock);
	return rc;
}

void
dp_sg_port_free(struct dp_port *p)
{
	sg_free(atomic_exchange(&p->sg, NULL));
}
