/* SPDX-License-Identifier: MIT */
/*
 * QoS: per-port rate limits in each direction with DPDK's rte_meter
 * (srTCM, colour blind, no excess bucket: one token bucket per port and
 * direction).
 *
 * A port's rx queues may be spread over several workers and any worker
 * may send to a port, so a bucket is shared: a worker takes its spinlock
 * once per burst (not per frame) and meters the whole burst with one TSC
 * reading. Unlimited ports cost one pointer load per burst. A change
 * publishes a new meter and frees the old one after an RCU grace period.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_malloc.h>
#include <rte_meter.h>
#include <rte_spinlock.h>

#include "dp_priv.h"
#include "qos_params.h"

struct dp_qos_meter {
	rte_spinlock_t lock;
	struct rte_meter_srtcm m;
	struct rte_meter_srtcm_profile prof;
	struct dp_qos_limit lim; /* as applied: burst_bytes filled in */
} __rte_cache_aligned;

uint16_t
dp_qos_police(struct dp_port *p, unsigned int dir, struct rte_mbuf **pkts, uint16_t n,
	      struct dp_port_counters *ctr)
{
	struct dp_qos_meter *q = atomic_load_explicit(&p->qos[dir], memory_order_acquire);
	uint64_t now;
	uint16_t i, k = 0;

	if (likely(q == NULL) || n == 0)
		return n;
	now = rte_rdtsc();
	rte_spinlock_lock(&q->lock);
	for (i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];

		if (rte_meter_srtcm_color_blind_check(&q->m, &q->prof, now, m->pkt_len) ==
		    RTE_COLOR_GREEN) {
			pkts[k++] = m;
		} else {
			/* Received all the same: rx counts it, as other drops. */
			if (dir == DP_QOS_RX) {
				ctr->rx_packets++;
				ctr->rx_bytes += m->pkt_len;
			}
			ctr->drops[DP_DROP_RATE_LIMITED]++;
			rte_pktmbuf_free(m);
		}
	}
	rte_spinlock_unlock(&q->lock);
	return k;
}

static int
meter_new(const struct dp_qos_limit *l, struct dp_qos_meter **out, char *err, size_t errlen)
{
	struct rte_meter_srtcm_params prm;
	struct dp_qos_meter *q;
	int rc;

	*out = NULL;
	if (l->bits_per_second == 0)
		return 0;
	if (dp_qos_srtcm_params(l, &prm) < 0)
		return -EINVAL;
	q = rte_zmalloc("dp_qos", sizeof(*q), RTE_CACHE_LINE_SIZE);
	if (q == NULL)
		return -ENOMEM;
	rte_spinlock_init(&q->lock);
	rc = rte_meter_srtcm_profile_config(&q->prof, &prm);
	if (rc == 0)
		rc = rte_meter_srtcm_config(&q->m, &q->prof);
	if (rc != 0) {
		DP_ERR(err, errlen, "rte_meter refused rate %llu B/s burst %llu B",
		       (unsigned long long)prm.cir, (unsigned long long)prm.cbs);
		rte_free(q);
		return rc < 0 ? rc : -EINVAL;
	}
	q->lim.bits_per_second = l->bits_per_second;
	q->lim.burst_bytes = prm.cbs;
	*out = q;
	return 0;
}

static bool
same_limit(const struct dp_qos_meter *q, const struct dp_qos_limit *l)
{
	if (q == NULL)
		return l->bits_per_second == 0;
	return q->lim.bits_per_second == l->bits_per_second &&
	       q->lim.burst_bytes == dp_qos_burst(l);
}

int
dp_port_qos_set(struct dp *dp, const char *port, const struct dp_qos *qos, char *err, size_t errlen)
{
	const struct dp_qos_limit *lim[2] = { &qos->rx, &qos->tx };
	static const char *const dname[2] = { "rx", "tx" };
	struct dp_qos_meter *fresh[2] = { NULL, NULL }, *old[2] = { NULL, NULL };
	struct dp_port *p;
	unsigned int d;
	char why[192];
	int rc = 0;

	for (d = 0; d < 2; d++)
		if (dp_qos_check(lim[d], why, sizeof(why)) < 0) {
			DP_ERR(err, errlen, "%s %s", dname[d], why);
			return -EINVAL;
		}
	pthread_mutex_lock(&dp->lock);
	p = dp_port_by_name(dp, port);
	if (p == NULL) {
		DP_ERR(err, errlen, "no port %s", port ? port : "(null)");
		rc = -ENOENT;
		goto out;
	}
	for (d = 0; d < 2; d++) {
		if (same_limit(atomic_load(&p->qos[d]), lim[d]))
			continue;
		rc = meter_new(lim[d], &fresh[d], err, errlen);
		if (rc < 0)
			goto out_free;
	}
	for (d = 0; d < 2; d++)
		if (!same_limit(atomic_load(&p->qos[d]), lim[d]))
			old[d] = atomic_exchange_explicit(&p->qos[d], fresh[d],
							  memory_order_acq_rel);
	if (old[0] != NULL || old[1] != NULL) {
		rte_rcu_qsbr_synchronize(dp->qsbr, RTE_QSBR_THRID_INVALID);
		rte_free(old[0]);
		rte_free(old[1]);
	}
	goto out;

out_free:
	rte_free(fresh[0]);
	rte_free(fresh[1]);
out:
	pthread_mutex_unlock(&dp->lock);
	return rc;
}

void
dp_qos_port_free(struct dp_port *p)
{
	unsigned int d;

	for (d = 0; d < 2; d++)
		rte_free(atomic_exchange(&p->qos[d], NULL));
}

void
dp_qos_get(const struct dp_port *p, struct dp_qos *out)
{
	const struct dp_qos_meter *rx = atomic_load(&((struct dp_port *)p)->qos[DP_QOS_RX]);
	const struct dp_qos_meter *tx = atomic_load(&((struct dp_port *)p)->qos[DP_QOS_TX]);

	memset(out, 0, sizeof(*out));
	if (rx != NULL)
		out->rx = rx->lim;
	if (tx != NULL)
		out->tx = tx->lim;
}
