/* SPDX-License-Identifier: MIT */
/*
 * Mirroring: sessions that copy a source port's frames (received from its
 * peer, sent to it, or both) to a destination port.
 *
 * Copies share the original's buffer by reference count where the path
 * of the original never writes to a shared buffer (the switch copies a
 * buffer before it changes one somebody else holds: own() in dp_switch.c,
 * and the port kinds' tx only read); frames received from an uplink are
 * copied whole, because the switch strips their VLAN tag in place. Each
 * worker keeps the copies of a session in a buffer of its own and sends
 * them after the burst that made them, straight to the destination's tx:
 * copies never pass the switch's output path again, so they are not
 * mirrored again (no loops) nor limited by the destination's QoS.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_malloc.h>
#include <rte_mbuf.h>

#include "dp_priv.h"

#define OFFLOAD_FLAGS (RTE_MBUF_F_TX_L4_MASK | RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_UDP_SEG)

struct mirror_buf {
	uint16_t n;
	struct dp_mirror *s;
	struct rte_mbuf *pkts[DP_BURST];
};

struct dp_mirror_out {
	uint64_t pending[DP_MAX_MIRRORS / 64]; /* slots with copies waiting */
	struct mirror_buf buf[DP_MAX_MIRRORS];
};

_Static_assert(DP_MAX_MIRRORS % 64 == 0, "the pending bitmap has whole words");

struct dp_mirror_out *
dp_mirror_out_new(void)
{
	return rte_zmalloc("dp_mirror_out", sizeof(struct dp_mirror_out), RTE_CACHE_LINE_SIZE);
}

void
dp_mirror_out_free(struct dp_mirror_out *mo)
{
	rte_free(mo);
}

static void
send_slot(struct dp_mirror_out *mo, const struct dp_cfg *cfg, unsigned int w, unsigned int slot)
{
	struct mirror_buf *b = &mo->buf[slot];
	struct dp_mirror *s = b->s;
	struct dp_port *dst = cfg->ports[s->dst];
	/* The destination's own counters stay those of switched frames. */
	struct dp_port_counters scratch;
	uint16_t sent;

	mo->pending[slot / 64] &= ~(1ull << (slot % 64));
	if (b->n == 0)
		return;
	memset(&scratch, 0, sizeof(scratch));
	sent = dst->ops->tx(dst, w, b->pkts, b->n, &scratch);
	s->ctr[w].packets += sent;
	s->ctr[w].bytes += scratch.tx_bytes;
	s->ctr[w].drops += (uint64_t)(b->n - sent);
	b->n = 0;
}

void
dp_mirror_flush(struct dp_mirror_out *mo, const struct dp_cfg *cfg, unsigned int w)
{
	unsigned int i;

	for (i = 0; i < RTE_DIM(mo->pending); i++)
		while (mo->pending[i] != 0)
			send_slot(mo, cfg, w,
				  i * 64 + (unsigned int)__builtin_ctzll(mo->pending[i]));
}

/* Whether dst can take m's offloads as they are (dp_switch.c finishes
 * them in software for switched frames; copies are not finished). */
static bool
takes_offloads(const struct dp_port *dst, const struct rte_mbuf *m)
{
	uint32_t ok = atomic_load_explicit(&((struct dp_port *)dst)->txok, memory_order_relaxed);

	if (likely(!(m->ol_flags & OFFLOAD_FLAGS)))
		return true;
	if (m->ol_flags & (RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_UDP_SEG))
		return ok & DP_TXOK_TSO;
	return ok & DP_TXOK_CSUM;
}

void
dp_mirror_copy(struct dp_mirror_out *mo, const struct dp_cfg *cfg, unsigned int w, uint16_t port,
	       unsigned int dir, struct rte_mbuf **pkts, uint16_t n)
{
	const struct dp_mirror_set *set = &cfg->mirrors[port][dir];
	const struct dp_port *src = cfg->ports[port];
	unsigned int k;
	uint16_t i;
	bool deep;

	if (likely(set->n == 0))
		return;
	/* The switch strips an uplink frame's tag in place: copy those. */
	deep = dir == DP_QOS_RX && src->is_uplink;

	for (k = 0; k < set->n; k++) {
		struct dp_mirror *s = set->s[k];
		const struct dp_port *dst = cfg->ports[s->dst];
		struct mirror_buf *b = &mo->buf[s->slot];

		if (dst == NULL)
			continue;
		for (i = 0; i < n; i++) {
			struct rte_mbuf *c = pkts[i];

			if (unlikely(!takes_offloads(dst, c))) {
				s->ctr[w].drops++;
				continue;
			}
			if (deep) {
				c = rte_pktmbuf_copy(c, src->dp->direct_pool, 0, UINT32_MAX);
				if (c == NULL) {
					s->ctr[w].no_buffer++;
					continue;
				}
			} else {
				dp_mbuf_share(c, 1);
			}
			if (b->n == 0) {
				b->s = s;
				mo->pending[s->slot / 64] |= 1ull << (s->slot % 64);
			}
			b->pkts[b->n++] = c;
			if (unlikely(b->n == DP_BURST))
				send_slot(mo, cfg, w, s->slot);
		}
	}
}

/* Control side (under dp->lock unless said otherwise). */

static struct dp_mirror *
mirror_by_name(struct dp *dp, const char *name)
{
	unsigned int i;

	for (i = 0; i < DP_MAX_MIRRORS; i++)
		if (dp->mirrors[i] != NULL && strcmp(dp->mirrors[i]->name, name) == 0)
			return dp->mirrors[i];
	return NULL;
}

int
dp_mirror_add(struct dp *dp, const char *name, const char *src, unsigned int dir, const char *dst,
	      char *err, size_t errlen)
{
	struct dp_port *sp, *dpt;
	struct dp_mirror *s = NULL;
	struct dp_cfg *c;
	int rc, slot = -1;
	unsigned int i;

	rc = dp_check_name("mirror", name, err, errlen);
	if (rc < 0)
		return rc;
	if (dir == 0 || (dir & ~(DP_MIRROR_RX | DP_MIRROR_TX)) != 0) {
		DP_ERR(err, errlen, "mirror direction must be rx, tx or both");
		return -EINVAL;
	}
	pthread_mutex_lock(&dp->lock);
	if (mirror_by_name(dp, name) != NULL) {
		DP_ERR(err, errlen, "mirror %s exists", name);
		rc = -EEXIST;
		goto out;
	}
	sp = dp_port_by_name(dp, src);
	dpt = dp_port_by_name(dp, dst);
	if (sp == NULL || dpt == NULL) {
		DP_ERR(err, errlen, "no port %s",
		       sp == NULL ? (src ? src : "(null)") : (dst ? dst : "(null)"));
		rc = -ENOENT;
		goto out;
	}
	if (sp == dpt) {
		DP_ERR(err, errlen, "port %s cannot mirror to itself", src);
		rc = -EINVAL;
		goto out;
	}
	for (i = 0; i < DP_MAX_MIRRORS && slot < 0; i++)
		if (dp->mirrors[i] == NULL)
			slot = (int)i;
	if (slot < 0) {
		DP_ERR(err, errlen, "at most %d mirror sessions", DP_MAX_MIRRORS);
		rc = -ENOSPC;
		goto out;
	}
	s = rte_zmalloc("dp_mirror", sizeof(*s), RTE_CACHE_LINE_SIZE);
	c = s != NULL ? dp_cfg_clone(dp->cfg) : NULL;
	if (c == NULL) {
		rte_free(s);
		rc = -ENOMEM;
		goto out;
	}
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->src = sp->id;
	s->dst = dpt->id;
	s->dir = dir;
	s->slot = (uint16_t)slot;
	rc = dp_cfg_mirror_add(c, s, sp->id, dir);
	if (rc < 0) {
		DP_ERR(err, errlen, "port %s is the source of %d mirror sessions already", src,
		       DP_MIRRORS_PER_PORT);
		dp_cfg_free(c);
		rte_free(s);
		goto out;
	}
	dp->mirrors[slot] = s;
	dp_cfg_publish(dp, c);
out:
	pthread_mutex_unlock(&dp->lock);
	return rc;
}

void
dp_mirror_reap(struct dp *dp, struct dp_mirror **gone, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		dp->mirrors[gone[i]->slot] = NULL;
		rte_free(gone[i]);
	}
}

int
dp_mirror_del(struct dp *dp, const char *name, char *err, size_t errlen)
{
	struct dp_mirror *s;
	struct dp_cfg *c;
	int rc = 0;

	pthread_mutex_lock(&dp->lock);
	s = name != NULL ? mirror_by_name(dp, name) : NULL;
	if (s == NULL) {
		DP_ERR(err, errlen, "no mirror %s", name ? name : "(null)");
		rc = -ENOENT;
		goto out;
	}
	c = dp_cfg_clone(dp->cfg);
	if (c == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	dp_cfg_mirror_del(c, s);
	/* After the grace period no worker holds a copy for s. */
	dp_cfg_publish(dp, c);
	dp_mirror_reap(dp, &s, 1);
out:
	pthread_mutex_unlock(&dp->lock);
	return rc;
}

unsigned int
dp_mirror_unlink_port(struct dp *dp, struct dp_cfg *c, uint16_t port, struct dp_mirror **gone,
		      unsigned int max)
{
	unsigned int i, n = 0;

	for (i = 0; i < DP_MAX_MIRRORS && n < max; i++) {
		struct dp_mirror *s = dp->mirrors[i];

		if (s != NULL && (s->src == port || s->dst == port)) {
			if (c != NULL)
				dp_cfg_mirror_del(c, s);
			gone[n++] = s;
		}
	}
	return n;
}

static void
fill_mirror(struct dp *dp, const struct dp_mirror *s, struct dp_mirror_stats *st)
{
	unsigned int w;

	memset(st, 0, sizeof(*st));
	snprintf(st->name, sizeof(st->name), "%s", s->name);
	snprintf(st->src, sizeof(st->src), "%s", dp->ports[s->src] ? dp->ports[s->src]->name : "");
	snprintf(st->dst, sizeof(st->dst), "%s", dp->ports[s->dst] ? dp->ports[s->dst]->name : "");
	st->dir = s->dir;
	for (w = 0; w < DP_MAX_WORKERS; w++) {
		st->packets += s->ctr[w].packets;
		st->bytes += s->ctr[w].bytes;
		st->drops += s->ctr[w].drops;
		st->no_buffer += s->ctr[w].no_buffer;
	}
}

int
dp_mirror_stats(struct dp *dp, const char *name, struct dp_mirror_stats *out, unsigned int max)
{
	unsigned int i, n = 0;
	int rc;

	if (out == NULL || max == 0)
		return -EINVAL;
	pthread_mutex_lock(&dp->lock);
	for (i = 0; i < DP_MAX_MIRRORS && n < max; i++) {
		const struct dp_mirror *s = dp->mirrors[i];

		if (s != NULL && (name == NULL || strcmp(s->name, name) == 0))
			fill_mirror(dp, s, &out[n++]);
	}
	rc = name != NULL && n == 0 ? -ENOENT : (int)n;
	pthread_mutex_unlock(&dp->lock);
	return rc;
}
