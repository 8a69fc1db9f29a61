/* SPDX-License-Identifier: MIT */
/*
 * The workers: poll their queues, switch each burst, transmit in bursts.
 *
 * Per burst: classify every frame (headers checked by pkt_parse, spoofed
 * source, VLAN to network),
 * look up all unicast destinations of the burst in one bulk hash lookup,
 * and queue each frame on its output port's per-worker buffer; flood
 * frames are shared by reference (refcount) between VM outputs and copied
 * only where they must change (VLAN push, offloads finished in software).
 * Buffers are flushed after every received burst. No locks, logs or
 * allocations except copies the packet itself needs.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_gso.h>
#include <rte_ip.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_net.h>
#include <rte_prefetch.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include "blk.h"
#include "dp_priv.h"
#include "flow_cache.h"
#include "pkt_parse.h"
#include "sg.h"

#define MAC48_MASK   0xffffffffffffull
#define MAX_GSO_SEGS 64
/* Bytes of a segmented frame's headers gathered for the parser; headers
 * past them make the frame L2 only (PKT_F_BEYOND). */
#define PARSE_HDR_MAX 256

struct out_buf {
	uint16_t n;
	bool dirty;
	struct rte_mbuf *pkts[DP_BURST];
};

/* The burst's distinct switching keys (consecutive frames with the same
 * key share one) and their decisions. */
struct burst_keys {
	unsigned int n;
	struct fc_key k[DP_BURST];
	uint32_t hash[DP_BURST];
	struct fc_result res[DP_BURST];
};

struct wstate {
	struct dp *dp;
	unsigned int w;
	struct rte_gso_ctx gso;
	struct dp_mirror_out *mirror; /* copies for mirror sessions (mirror.c) */
	struct flow_cache *fc;        /* NULL: dp_conf.no_flow_cache */
	struct burst_keys bk;
	unsigned int ndirty;
	uint16_t dirty[DP_MAX_PORTS];
	struct out_buf out[DP_MAX_PORTS];
};

static inline void
drop(struct rte_mbuf *m, struct dp_port_counters *ctr, enum dp_drop why)
{
	ctr->drops[why]++;
	rte_pktmbuf_free(m);
}

static const enum dp_drop drop_of_verdict[PKT_VERDICT_N] = {
	[PKT_DROP_TRUNCATED] = DP_DROP_TRUNCATED,   [PKT_DROP_BAD_LENGTH] = DP_DROP_BAD_LENGTH,
	[PKT_DROP_BAD_HEADER] = DP_DROP_BAD_HEADER, [PKT_DROP_BAD_FRAGMENT] = DP_DROP_BAD_FRAGMENT,
	[PKT_DROP_BAD_VXLAN] = DP_DROP_BAD_VXLAN,
};

/*
 * The malformed-packet policy (docs/architecture.md): a frame whose
 * headers contradict themselves is dropped and counted by reason; a valid
 * one that L3/L4 features cannot use is forwarded as L2 and counted
 * (rx_l2_only). Returns whether to forward m. The headers are read in
 * place unless the first segment ends before them; the switch reads the
 * Ethernet header in place, so a first segment shorter than it counts as
 * truncated (the vhost library and PMDs fill a segment before the next).
 */
bool
dp_admit(struct rte_mbuf *m, struct dp_port_counters *ctr, unsigned int flags, struct pkt_info *pi)
{
	uint8_t tmp[PARSE_HDR_MAX];
	const uint8_t *hdr = rte_pktmbuf_mtod(m, const uint8_t *);
	uint32_t len = rte_pktmbuf_data_len(m);
	enum pkt_verdict v;

	if (unlikely(len < RTE_ETHER_HDR_LEN)) {
		drop(m, ctr, DP_DROP_TRUNCATED);
		return false;
	}
	if (unlikely(len < m->pkt_len && len < PARSE_HDR_MAX)) {
		len = RTE_MIN(m->pkt_len, (uint32_t)PARSE_HDR_MAX);
		hdr = rte_pktmbuf_read(m, 0, len, tmp);
		if (hdr == NULL) { /* chain shorter than pkt_len */
			drop(m, ctr, DP_DROP_TRUNCATED);
			return false;
		}
	}
	v = pkt_parse(hdr, RTE_MIN(len, m->pkt_len), m->pkt_len, flags, pi);
	if (likely(v == PKT_OK))
		return true;
	if (v == PKT_L2_ONLY) {
		ctr->rx_l2_only++;
		return true;
	}
	drop(m, ctr, drop_of_verdict[v]);
	return false;
}

/* dp_admit() for callers that need only the verdict: the common case
 * (pkt_fast_ok) without the full parse. */
static inline bool
admit(struct rte_mbuf *m, struct dp_port_counters *ctr, unsigned int flags)
{
	struct pkt_info pi;

	if (likely(pkt_fast_ok(rte_pktmbuf_mtod(m, const uint8_t *), rte_pktmbuf_data_len(m),
			       m->pkt_len, flags)))
		return true;
	return dp_admit(m, ctr, flags, &pi);
}

static void
flush_port(struct wstate *ws, const struct dp_cfg *cfg, uint16_t pid)
{
	struct out_buf *ob = &ws->out[pid];
	struct dp_port *p = cfg->ports[pid];

	if (ob->n == 0)
		return;
	if (!p->is_uplink)
		ob->n = dp_sg_filter(ws->dp->ct, p, DP_QOS_TX, ws->w, ob->pkts, ob->n,
				     &p->ctr[ws->w]);
	ob->n = dp_qos_police(p, DP_QOS_TX, ob->pkts, ob->n, &p->ctr[ws->w]);
	dp_mirror_copy(ws->mirror, cfg, ws->w, pid, DP_QOS_TX, ob->pkts, ob->n);
	if (ob->n != 0)
		p->ops->tx(p, ws->w, ob->pkts, ob->n, &p->ctr[ws->w]);
	ob->n = 0;
}

static void
flush_all(struct wstate *ws, const struct dp_cfg *cfg)
{
	unsigned int i;

	for (i = 0; i < ws->ndirty; i++) {
		uint16_t pid = ws->dirty[i];

		flush_port(ws, cfg, pid);
		ws->out[pid].dirty = false;
	}
	ws->ndirty = 0;
}

static inline void
put(struct wstate *ws, const struct dp_cfg *cfg, uint16_t pid, struct rte_mbuf *m)
{
	struct out_buf *ob = &ws->out[pid];

	if (!ob->dirty) {
		ob->dirty = true;
		ws->dirty[ws->ndirty++] = pid;
	}
	ob->pkts[ob->n++] = m;
	if (unlikely(ob->n == DP_BURST))
		flush_port(ws, cfg, pid);
}

/* put() for n frames in a row to the same port. */
static inline void
put_run(struct wstate *ws, const struct dp_cfg *cfg, uint16_t pid, struct rte_mbuf **pkts,
	unsigned int n)
{
	struct out_buf *ob = &ws->out[pid];

	if (!ob->dirty) {
		ob->dirty = true;
		ws->dirty[ws->ndirty++] = pid;
	}
	while (n != 0) {
		unsigned int k = RTE_MIN(n, (unsigned int)(DP_BURST - ob->n));

		memcpy(&ob->pkts[ob->n], pkts, k * sizeof(*pkts));
		ob->n = (uint16_t)(ob->n + k);
		pkts += k;
		n -= k;
		if (ob->n == DP_BURST)
			flush_port(ws, cfg, pid);
	}
}

/* An mbuf this output may modify: the same one if nobody else holds it. */
static struct rte_mbuf *
own(struct rte_mbuf *m, struct dp_port_counters *ctr)
{
	struct rte_mbuf *c;

	if (RTE_MBUF_DIRECT(m) && rte_mbuf_refcnt_read(m) == 1)
		return m;
	c = rte_pktmbuf_copy(m, m->pool, 0, UINT32_MAX);
	rte_pktmbuf_free(m);
	if (c == NULL)
		ctr->drops[DP_DROP_NO_BUFFER]++;
	return c;
}

/* Push the network's 802.1Q tag (uplink outputs). */
static struct rte_mbuf *
push_vlan(struct rte_mbuf *m, uint16_t vlan, struct dp_port_counters *ctr)
{
	m = own(m, ctr);
	if (m == NULL)
		return NULL;
	m->vlan_tci = vlan;
	if (rte_vlan_insert(&m) != 0) {
		drop(m, ctr, DP_DROP_NO_BUFFER);
		return NULL;
	}
	return m;
}

/* Finish a partial L4 checksum (virtio NEEDS_CSUM) in software. */
static int
finish_csum(struct rte_mbuf *m)
{
	uint64_t l4 = m->ol_flags & RTE_MBUF_F_TX_L4_MASK;
	uint32_t off = m->l2_len + m->l3_len;
	void *l3;

	if (rte_pktmbuf_data_len(m) < off + sizeof(struct rte_udp_hdr))
		return -EINVAL;
	l3 = rte_pktmbuf_mtod_offset(m, void *, m->l2_len);
	if (m->ol_flags & RTE_MBUF_F_TX_IPV4) {
		struct rte_ipv4_hdr *ip = l3;

		ip->hdr_checksum = 0;
		ip->hdr_checksum = rte_ipv4_cksum(ip);
		if (l4 == RTE_MBUF_F_TX_TCP_CKSUM || (m->ol_flags & RTE_MBUF_F_TX_TCP_SEG)) {
			struct rte_tcp_hdr *th = rte_pktmbuf_mtod_offset(m, void *, off);

			th->cksum = 0;
			th->cksum = rte_ipv4_udptcp_cksum_mbuf(m, ip, (uint16_t)off);
		} else if (l4 == RTE_MBUF_F_TX_UDP_CKSUM) {
			struct rte_udp_hdr *uh = rte_pktmbuf_mtod_offset(m, void *, off);

			uh->dgram_cksum = 0;
			uh->dgram_cksum = rte_ipv4_udptcp_cksum_mbuf(m, ip, (uint16_t)off);
		}
	} else if (m->ol_flags & RTE_MBUF_F_TX_IPV6) {
		struct rte_ipv6_hdr *ip = l3;

		if (l4 == RTE_MBUF_F_TX_TCP_CKSUM) {
			struct rte_tcp_hdr *th = rte_pktmbuf_mtod_offset(m, void *, off);

			th->cksum = 0;
			th->cksum = rte_ipv6_udptcp_cksum_mbuf(m, ip, (uint16_t)off);
		} else if (l4 == RTE_MBUF_F_TX_UDP_CKSUM) {
			struct rte_udp_hdr *uh = rte_pktmbuf_mtod_offset(m, void *, off);

			uh->dgram_cksum = 0;
			uh->dgram_cksum = rte_ipv6_udptcp_cksum_mbuf(m, ip, (uint16_t)off);
		}
	} else if (l4 != 0) {
		return -EINVAL;
	}
	m->ol_flags &= ~(RTE_MBUF_F_TX_L4_MASK | RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_UDP_SEG |
			 RTE_MBUF_F_TX_IP_CKSUM);
	return 0;
}

/* m goes to n outputs: one reference each; false (m freed) if n is 0. */
static inline bool
share(struct rte_mbuf *m, unsigned int n)
{
	if (n == 0) {
		rte_pktmbuf_free(m);
		return false;
	}
	if (n > 1)
		dp_mbuf_share(m, (int16_t)(n - 1));
	return true;
}

/* Encapsulate m for one remote VTEP; in a flood (head-end replication)
 * uplink p sends only to the VTEPs learned behind it. */
static void
to_vtep(struct wstate *ws, const struct dp_cfg *cfg, struct dp_port *p, struct rte_mbuf *m,
	const struct dp_net_fwd *nf, uint32_t vtep, bool flooding)
{
	struct dp_port *o;
	uint64_t mac;
	uint16_t out;

	/* Our own VTEP may be in the list: every DPU can get the same one. */
	if (vtep == cfg->vtep_ip) {
		rte_pktmbuf_free(m);
		return;
	}
	if (!vx_nbr_lookup(&ws->dp->nbr, vtep, &mac, &out) || out >= DP_MAX_PORTS ||
	    cfg->ports[out] == NULL || !cfg->ports[out]->is_uplink) {
		struct rte_mbuf *arp = dp_vxlan_arp_request(ws->dp, cfg, p, vtep);

		drop(m, &p->ctr[ws->w], DP_DROP_VTEP_UNRESOLVED);
		if (arp != NULL)
			put(ws, cfg, p->id, arp);
		return;
	}
	if (flooding && out != p->id) {
		rte_pktmbuf_free(m);
		return;
	}
	o = cfg->ports[out];
	m = own(m, &o->ctr[ws->w]);
	if (m != NULL)
		m = dp_vxlan_encap(cfg, o, m, nf, vtep, mac, &o->ctr[ws->w]);
	if (m != NULL)
		put(ws, cfg, out, m);
}

/* A frame of an overlay network to uplink p: to the VTEP its destination
 * was learned behind, or (vtep 0) to each of the network's VTEPs. */
static void
to_overlay(struct wstate *ws, const struct dp_cfg *cfg, struct dp_port *p, struct rte_mbuf *m,
	   const struct dp_net_fwd *nf, uint32_t vtep)
{
	unsigned int i, n = nf->n_vteps;

	if (vtep != 0) {
		to_vtep(ws, cfg, p, m, nf, vtep, false);
		return;
	}
	if (!share(m, n))
		return;
	for (i = 0; i < n; i++)
		to_vtep(ws, cfg, p, m, nf, nf->vteps[i], true);
}

/* Whether port p sends a frame of network net (DP_NET_NONE: from an
 * uplink) unchanged: no VLAN tag to push, no tunnel to enter. */
static inline bool
sends_as_is(const struct dp_cfg *cfg, const struct dp_port *p, uint16_t net)
{
	return !p->is_uplink || net == DP_NET_NONE ||
	       (cfg->nets[net].vni == 0 && cfg->nets[net].vlan == 0);
}

/* To port p a frame of network net (DP_NET_NONE: from an uplink), for
 * remote VTEP vtep when the destination was learned behind one. */
static inline void
emit(struct wstate *ws, const struct dp_cfg *cfg, struct dp_port *p, struct rte_mbuf *m,
     uint16_t net, uint32_t vtep)
{
	if (!sends_as_is(cfg, p, net)) {
		const struct dp_net_fwd *nf = &cfg->nets[net];

		if (nf->vni != 0) {
			to_overlay(ws, cfg, p, m, nf, vtep);
			return;
		}
		m = push_vlan(m, nf->vlan, &p->ctr[ws->w]);
		if (m == NULL)
			return;
	}
	put(ws, cfg, p->id, m);
}

/*
 * The frame carries offloads (from a guest's virtio header) that this
 * output cannot take: segment (TSO, IPv4) and checksum in software.
 */
static void
emit_finished(struct wstate *ws, const struct dp_cfg *cfg, struct dp_port *p, struct rte_mbuf *m,
	      uint16_t net, uint32_t vtep)
{
	struct dp_port_counters *ctr = &p->ctr[ws->w];
	struct rte_mbuf *segs[MAX_GSO_SEGS];
	int n, i;

	m = own(m, ctr);
	if (m == NULL)
		return;
	if (m->ol_flags & (RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_UDP_SEG)) {
		if (!(m->ol_flags & RTE_MBUF_F_TX_IPV4) || !(m->ol_flags & RTE_MBUF_F_TX_TCP_SEG)) {
			drop(m, ctr, DP_DROP_MALFORMED);
			return;
		}
		ws->gso.gso_size = (uint16_t)(m->l2_len + m->l3_len + m->l4_len + m->tso_segsz);
		n = rte_gso_segment(m, &ws->gso, segs, MAX_GSO_SEGS);
		if (n < 0) {
			drop(m, ctr, n == -ENOMEM ? DP_DROP_NO_BUFFER : DP_DROP_MALFORMED);
			return;
		}
		if (n == 0) {
			segs[0] = m;
			n = 1;
		} else {
			/* The segments hold their own references to m's data. */
			rte_pktmbuf_free(m);
		}
		for (i = 0; i < n; i++) {
			segs[i]->ol_flags |= RTE_MBUF_F_TX_TCP_CKSUM;
			if (finish_csum(segs[i]) != 0)
				drop(segs[i], ctr, DP_DROP_MALFORMED);
			else
				emit(ws, cfg, p, segs[i], net, vtep);
		}
		return;
	}
	if (finish_csum(m) != 0) {
		drop(m, ctr, DP_DROP_MALFORMED);
		return;
	}
	emit(ws, cfg, p, m, net, vtep);
}

#define OFFLOAD_FLAGS (RTE_MBUF_F_TX_L4_MASK | RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_UDP_SEG)

/* Send m (one reference) to port pid; net and vtep as emit(). */
static inline void
deliver(struct wstate *ws, const struct dp_cfg *cfg, struct rte_mbuf *m, uint16_t pid, uint16_t net,
	uint32_t vtep)
{
	struct dp_port *p = cfg->ports[pid];

	if (unlikely(m->ol_flags & OFFLOAD_FLAGS)) {
		uint32_t ok = atomic_load_explicit(&p->txok, memory_order_relaxed);
		bool seg = m->ol_flags & (RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_UDP_SEG);

		if ((seg && !(ok & DP_TXOK_TSO)) || (!seg && !(ok & DP_TXOK_CSUM))) {
			emit_finished(ws, cfg, p, m, net, vtep);
			return;
		}
	}
	emit(ws, cfg, p, m, net, vtep);
}

/* Flood within net: every VM port on it but the input, and the uplinks
 * unless the frame came from one. */
static void
flood(struct wstate *ws, const struct dp_cfg *cfg, struct rte_mbuf *m, uint16_t net,
      const struct dp_port *in)
{
	uint16_t targets[DP_MAX_PORTS + DP_MAX_UPLINKS];
	unsigned int n, i;

	n = dp_cfg_flood_targets(cfg, net, in->id, targets, RTE_DIM(targets));
	if (!share(m, n))
		return;
	for (i = 0; i < n; i++)
		deliver(ws, cfg, m, targets[i], net, 0);
}

static inline uint64_t
load48(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v & MAC48_MASK;
}

static void request_learn(struct wstate *ws, uint16_t net, uint64_t mac48, uint16_t port,
			  uint32_t vtep);

/* A burst's keys as they are added to bk: the count and the last key
 * kept apart from bk, in the caller's registers. */
struct key_adder {
	unsigned int n;
	struct fc_key last;
};

/* The index of (dst, source MAC, input port, remote VTEP) in bk: a new
 * key unless it is the previous frame's. The caller sets bk->n = ka->n
 * once the burst's keys are in. */
static inline uint8_t
add_key(struct burst_keys *bk, struct key_adder *ka, uint64_t dst, uint64_t src48, uint16_t in,
	uint32_t vtep)
{
	struct fc_key k = { .dst = dst, .src = (src48 << 16) | in, .vtep_in = vtep };

	if (ka->n == 0 || !fc_key_eq(&ka->last, &k)) {
		bk->k[ka->n++] = k;
		ka->last = k;
	}
	return (uint8_t)(ka->n - 1);
}

/* The slow path for key k whose destination the MAC table has at dport
 * (position dpos) and, if check_src, whose source it has at sport/spos. */
static void
decide(struct wstate *ws, const struct dp_cfg *cfg, const struct dp_port *in,
       const struct fc_key *k, uint16_t dport, int32_t dpos, bool check_src, uint16_t sport,
       int32_t spos, struct fc_result *r)
{
	uint64_t src48 = k->src >> 16;

	memset(r, 0, sizeof(*r));
	r->action = FC_FLOOD;
	r->src_pos = -1;
	if (!((k->dst >> 16) & 1) && dport != L2_PORT_NONE && dport < DP_MAX_PORTS &&
	    cfg->ports[dport] != NULL) {
		if (dport == in->id || (in->is_uplink && cfg->ports[dport]->is_uplink)) {
			/* to itself (a VM's own MAC, a station behind the same
			 * access port) or known to be on the wire side */
			r->action = FC_DISCARD;
		} else {
			r->action = FC_FORWARD;
			r->out = dport;
			r->vtep = in->is_uplink ? 0 : l2_table_vtep(ws->dp->l2, dpos);
		}
	}
	/* Sources are learned (group addresses never are) at uplinks and
	 * access ports; a VM port's own MAC is static. */
	if (!check_src || (src48 & 1))
		return;
	if (sport == in->id && l2_table_vtep(ws->dp->l2, spos) == k->vtep_in)
		r->src_pos = spos;
	else
		r->learn = true;
}

/*
 * Decisions for every key of bk: from the worker's flow cache, the others
 * from the MAC table in one bulk lookup (destinations, and sources if
 * check_src), then cached. Sources are refreshed or asked to be learned
 * once per key and burst.
 */
static void
resolve(struct wstate *ws, const struct dp_cfg *cfg, const struct dp_port *in,
	struct burst_keys *bk, bool check_src)
{
	struct l2_table *l2 = ws->dp->l2;
	uint64_t gen = fc_gen(cfg->gen, l2_table_gen(l2)); /* before any lookup */
	uint64_t dkeys[DP_BURST], skeys[DP_BURST];
	uint16_t dports[DP_BURST], sports[DP_BURST];
	int32_t dpos[DP_BURST], spos[DP_BURST];
	uint8_t miss[DP_BURST];
	unsigned int i, nmiss = 0;

	if (ws->fc != NULL) {
		for (i = 0; i < bk->n; i++) {
			bk->hash[i] = fc_hash(&bk->k[i]);
			fc_prefetch(ws->fc, bk->hash[i]);
		}
	}
	for (i = 0; i < bk->n; i++) {
		const struct fc_result *r =
			ws->fc != NULL ? fc_lookup(ws->fc, &bk->k[i], bk->hash[i], gen) : NULL;

		if (r != NULL) {
			bk->res[i] = *r;
			continue;
		}
		dkeys[nmiss] = bk->k[i].dst;
		if (check_src)
			skeys[nmiss] = l2_key((uint16_t)bk->k[i].dst, bk->k[i].src >> 16);
		miss[nmiss++] = (uint8_t)i;
	}
	if (nmiss != 0) {
		l2_table_lookup_bulk(l2, dkeys, nmiss, dports, dpos);
		if (check_src)
			l2_table_lookup_bulk(l2, skeys, nmiss, sports, spos);
		for (i = 0; i < nmiss; i++) {
			unsigned int j = miss[i];

			decide(ws, cfg, in, &bk->k[j], dports[i], dpos[i], check_src,
			       check_src ? sports[i] : L2_PORT_NONE, check_src ? spos[i] : -1,
			       &bk->res[j]);
			if (ws->fc != NULL)
				fc_insert(ws->fc, &bk->k[j], bk->hash[j], gen, &bk->res[j]);
		}
	}
	for (i = 0; i < bk->n; i++) {
		const struct fc_result *r = &bk->res[i];

		if (r->learn)
			request_learn(ws, (uint16_t)bk->k[i].dst, bk->k[i].src >> 16, in->id,
				      bk->k[i].vtep_in);
		else if (r->src_pos >= 0)
			l2_table_touch(l2, r->src_pos);
	}
}

/* Carry out decision r for frame m of network net from port in. */
static inline void
act(struct wstate *ws, const struct dp_cfg *cfg, const struct dp_port *in, struct rte_mbuf *m,
    const struct fc_result *r, uint16_t net)
{
	if (likely(r->action == FC_FORWARD))
		deliver(ws, cfg, m, r->out, in->is_uplink ? DP_NET_NONE : net, r->vtep);
	else if (r->action == FC_FLOOD)
		flood(ws, cfg, m, net, in);
	else
		rte_pktmbuf_free(m);
}

/*
 * act() for frames pkts[0..n) whose decisions are bk->res[key_of[i]] (net:
 * the network of all, or DP_NET_NONE when each has its key's): a run of
 * frames with the same key forwarded to a port that sends them as they are
 * (no tag to push, no tunnel, no offload to finish) is queued in one go.
 */
static inline void
act_runs(struct wstate *ws, const struct dp_cfg *cfg, const struct dp_port *in,
	 struct rte_mbuf **pkts, unsigned int n, const uint8_t *key_of, uint16_t net)
{
	const struct burst_keys *bk = &ws->bk;
	unsigned int i, j, k;

	for (i = 0; i < n; i = j) {
		const struct fc_result *r = &bk->res[key_of[i]];
		uint16_t knet = net != DP_NET_NONE ? net : (uint16_t)bk->k[key_of[i]].dst;
		uint64_t ol = pkts[i]->ol_flags;

		for (j = i + 1; j < n && key_of[j] == key_of[i]; j++)
			ol |= pkts[j]->ol_flags;
		/* as act() then deliver() would, frame by frame */
		if (likely(r->action == FC_FORWARD) && !(ol & OFFLOAD_FLAGS) &&
		    sends_as_is(cfg, cfg->ports[r->out], in->is_uplink ? DP_NET_NONE : knet)) {
			put_run(ws, cfg, r->out, &pkts[i], j - i);
			continue;
		}
		for (k = i; k < j; k++)
			act(ws, cfg, in, pkts[k], r, knet);
	}
}

/* Frames from a VM port (source must be the port's MAC) or an access port
 * (sources learned); the network is the port's. */
static void
from_vm(struct wstate *ws, const struct dp_cfg *cfg, struct dp_port *in, struct rte_mbuf **pkts,
	uint16_t n)
{
	struct dp_port_counters *ctr = &in->ctr[ws->w];
	struct burst_keys *bk = &ws->bk;
	struct rte_mbuf *uni[DP_BURST];
	uint8_t key_of[DP_BURST];
	unsigned int i, nuni = 0;
	struct key_adder ka = { 0 };
	uint64_t bytes = 0;

	for (i = 0; i < n; i++)
		rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void *));
	for (i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		const uint8_t *eth = rte_pktmbuf_mtod(m, const uint8_t *);
		uint64_t dst, src;

		bytes += m->pkt_len;
		if (unlikely(!admit(m, ctr, 0)))
			continue;
		src = load48(eth + 6);
		if (!in->is_access && unlikely(src != in->mac48)) {
			drop(m, ctr, DP_DROP_SPOOFED_SRC_MAC);
			continue;
		}
		dst = load48(eth);
		if ((dst & 1) && !in->is_access) { /* group bit: broadcast, multicast */
			flood(ws, cfg, m, in->net, in);
			continue;
		}
		key_of[nuni] = add_key(bk, &ka, l2_key(in->net, dst), src, in->id, 0);
		uni[nuni++] = m;
	}
	bk->n = ka.n;
	ctr->rx_packets += n;
	ctr->rx_bytes += bytes;
	if (nuni == 0)
		return;
	resolve(ws, cfg, in, bk, in->is_access);
	act_runs(ws, cfg, in, uni, nuni, key_of, in->net);
}

static void
request_learn(struct wstate *ws, uint16_t net, uint64_t mac48, uint16_t port, uint32_t vtep)
{
	struct dp_learn req = { .mac48 = mac48, .net = net, .port = port, .vtep = vtep };

	/* A full ring only delays learning: the frame floods meanwhile. */
	rte_ring_mp_enqueue_elem(ws->dp->learn_ring, &req, sizeof(req));
}

/* Frames from an uplink: the VLAN tag picks the network and is popped,
 * or (VXLAN to our VTEP) the VNI and the outer headers are stripped;
 * sources are learned (behind the remote VTEP); outputs are VM ports only. */
static void
from_uplink(struct wstate *ws, const struct dp_cfg *cfg, struct dp_port *in, struct rte_mbuf **pkts,
	    uint16_t n)
{
	struct dp_port_counters *ctr = &in->ctr[ws->w];
	struct burst_keys *bk = &ws->bk;
	struct rte_mbuf *ok[DP_BURST];
	uint8_t key_of[DP_BURST];
	unsigned int i, nok = 0;
	struct key_adder ka = { 0 };
	uint64_t bytes = 0;

	for (i = 0; i < n; i++)
		rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void *));
	for (i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		const struct rte_ether_hdr *eth;
		uint16_t vlan = 0, net = DP_NET_NONE;
		enum dp_vx_rx vx = DP_VX_PASS;
		uint32_t vtep = 0;

		bytes += m->pkt_len;
		if (unlikely(rte_pktmbuf_data_len(m) < RTE_ETHER_HDR_LEN)) {
			drop(m, ctr, DP_DROP_TRUNCATED);
			continue;
		}
		eth = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
		if (m->ol_flags & RTE_MBUF_F_RX_VLAN_STRIPPED) {
			vlan = m->vlan_tci & 0xfff;
		} else if (eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_VLAN)) {
			if (rte_vlan_strip(m) != 0) {
				drop(m, ctr, DP_DROP_TRUNCATED);
				continue;
			}
			vlan = m->vlan_tci & 0xfff;
		}
		m->ol_flags &= ~(RTE_MBUF_F_RX_VLAN | RTE_MBUF_F_RX_VLAN_STRIPPED);
		/* The underlay of the overlay is untagged. */
		if (vlan == 0 && cfg->vtep_ip != 0)
			vx = dp_vxlan_rx(ws->dp, cfg, in, m, ctr, &net, &vtep);
		if (vx == DP_VX_DONE)
			continue;
		if (vx == DP_VX_REPLY) {
			put(ws, cfg, in->id, m);
			continue;
		}
		if (vx == DP_VX_PASS) {
			net = cfg->vlan_net[vlan];
			if (unlikely(net == DP_NET_NONE)) {
				drop(m, ctr, DP_DROP_NO_NETWORK);
				continue;
			}
			/* UDP to 4789 on the wire is the overlay's: VXLAN is checked. */
			if (unlikely(!admit(m, ctr, PKT_PARSE_VXLAN)))
				continue;
		} else if (unlikely(!admit(m, ctr, 0))) { /* the inner frame */
			continue;
		}
		eth = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
		key_of[nok] = add_key(bk, &ka, l2_key(net, load48(eth->dst_addr.addr_bytes)),
				      load48(eth->src_addr.addr_bytes), in->id, vtep);
		ok[nok++] = m;
	}
	bk->n = ka.n;
	ctr->rx_packets += n;
	ctr->rx_bytes += bytes;
	if (nok == 0)
		return;
	resolve(ws, cfg, in, bk, true);
	act_runs(ws, cfg, in, ok, nok, key_of, DP_NET_NONE);
}

static unsigned int
poll_queue(struct wstate *ws, const struct dp_cfg *cfg, const struct dp_poll *pl)
{
	struct dp_port *p = cfg->ports[pl->port];
	struct rte_mbuf *pkts[DP_BURST];
	uint16_t n, ok;

	n = p->ops->rx(p, ws->w, pl->q, pkts, DP_BURST);
	if (n == 0)
		return 0;
	ok = dp_qos_police(p, DP_QOS_RX, pkts, n, &p->ctr[ws->w]);
	if (!p->is_uplink)
		ok = dp_sg_filter(ws->dp->ct, p, DP_QOS_RX, ws->w, pkts, ok, &p->ctr[ws->w]);
	dp_mirror_copy(ws->mirror, cfg, ws->w, p->id, DP_QOS_RX, pkts, ok);
	if (p->is_uplink)
		from_uplink(ws, cfg, p, pkts, ok);
	else
		from_vm(ws, cfg, p, pkts, ok);
	flush_all(ws, cfg);
	dp_mirror_flush(ws->mirror, cfg, ws->w);
	return n;
}

static void
idle_sleep(struct dp *dp, unsigned int w, unsigned int *backoff_us)
{
	struct timespec ts;

	if (*backoff_us < 1000)
		*backoff_us = *backoff_us ? *backoff_us * 2 : 10;
	ts.tv_sec = 0;
	ts.tv_nsec = (long)*backoff_us * 1000;
	rte_rcu_qsbr_thread_offline(dp->qsbr, w);
	nanosleep(&ts, NULL);
	rte_rcu_qsbr_thread_online(dp->qsbr, w);
}

/* A counter only this worker writes (readers load it atomically). */
static inline void
add_counter(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

int
dp_worker_main(void *arg)
{
	struct dp_worker *wk = arg;
	struct dp *dp = wk->dp;
	unsigned int backoff = 0, idle = 0;
	struct wstate *ws;

	ws = rte_zmalloc("dp_wstate", sizeof(*ws), RTE_CACHE_LINE_SIZE);
	if (ws == NULL)
		return -ENOMEM;
	ws->dp = dp;
	ws->w = wk->idx;
	ws->gso.direct_pool = dp->direct_pool;
	ws->gso.indirect_pool = dp->indirect_pool;
	ws->gso.gso_types = RTE_ETH_TX_OFFLOAD_TCP_TSO;
	ws->gso.flag = 0;
	ws->mirror = dp_mirror_out_new();
	if (!dp->conf.no_flow_cache)
		ws->fc = rte_zmalloc("dp_flow_cache", sizeof(*ws->fc), RTE_CACHE_LINE_SIZE);
	if (ws->mirror == NULL || (!dp->conf.no_flow_cache && ws->fc == NULL)) {
		dp_mirror_out_free(ws->mirror);
		rte_free(ws);
		return -ENOMEM;
	}
	rte_rcu_qsbr_thread_register(dp->qsbr, wk->idx);
	rte_rcu_qsbr_thread_online(dp->qsbr, wk->idx);
	while (!atomic_load_explicit(&dp->stop, memory_order_relaxed)) {
		const struct dp_cfg *cfg = atomic_load_explicit(&dp->cfg, memory_order_acquire);
		unsigned int i, got = 0, blk;
		uint64_t t0 = rte_rdtsc();

		for (i = 0; i < cfg->workers[ws->w].n; i++)
			got += poll_queue(ws, cfg, &cfg->workers[ws->w].polls[i]);
		if (got != 0) {
			add_counter(&wk->busy_cycles, rte_rdtsc() - t0);
			add_counter(&wk->packets, got);
			if (ws->fc != NULL) {
				atomic_store_explicit(&wk->fc_hits, ws->fc->hits,
						      memory_order_relaxed);
				atomic_store_explicit(&wk->fc_misses, ws->fc->misses,
						      memory_order_relaxed);
			}
		}
		/* the disks this worker serves (blk.c counts its own cycles) */
		blk = dp_blk_poll(wk->idx);
		rte_rcu_qsbr_quiescent(dp->qsbr, wk->idx);
		if (got != 0 || blk != 0) {
			idle = 0;
			backoff = 0;
			continue;
		}
		add_counter(&wk->idle_cycles, rte_rdtsc() - t0);
		if (dp->conf.idle_sleep && ++idle >= 64)
			idle_sleep(dp, wk->idx, &backoff);
	}
	dp_blk_lcore_stop(wk->idx);
	rte_rcu_qsbr_thread_offline(dp->qsbr, wk->idx);
	rte_rcu_qsbr_thread_unregister(dp->qsbr, wk->idx);
	dp_mirror_out_free(ws->mirror);
	rte_free(ws->fc);
	rte_free(ws);
	return 0;
}
