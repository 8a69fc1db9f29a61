/* SPDX-License-Identifier: MIT */
/*
 * The overlay on a worker (dp_priv.h, "dp_vxlan.c"): decapsulation and ARP
 * for our VTEP on frames from the uplinks, encapsulation of a frame for a
 * remote VTEP, ARP requests for remote VTEPs whose MAC is unknown. The
 * switch (dp_switch.c) decides where frames go; this file only rewrites
 * them. Learning goes through the housekeeping thread like MAC learning.
 */
#include <netinet/in.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "dp_priv.h"
#include "pkt_parse.h"

#define ARP_SENT_SLOTS 64
#define ETH_MIN_FRAME  60 /* without FCS */

static inline uint16_t
rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Tell housekeeping that ip is at mac behind uplink port, unless it knows. */
static void
nbr_note(struct dp *dp, uint32_t ip, const uint8_t *mac, uint16_t port)
{
	uint64_t mac48 = dp_mac48(mac), known;
	uint16_t kport;
	struct dp_learn req = {
		.mac48 = mac48,
		.net = DP_NET_NONE,
		.port = port,
		.vtep = ip,
	};

	if ((mac[0] & 1) || !vx_ip_unicast(ip))
		return;
	if (vx_nbr_lookup(&dp->nbr, ip, &known, &kport) && known == mac48 && kport == port)
		return;
	rte_ring_mp_enqueue_elem(dp->learn_ring, &req, sizeof(req));
}

static enum dp_vx_rx
arp_rx(struct dp *dp, const struct dp_cfg *cfg, struct dp_port *in, struct rte_mbuf *m)
{
	uint8_t *eth = rte_pktmbuf_mtod(m, uint8_t *);
	struct vx_arp a;

	if (vx_arp_parse(eth, rte_pktmbuf_data_len(m), &a) != 0 || a.tpa != cfg->vtep_ip)
		return DP_VX_PASS;
	nbr_note(dp, a.spa, a.sha, in->id);
	if (a.op != 1 || !vx_ip_unicast(a.spa)) {
		rte_pktmbuf_free(m);
		return DP_VX_DONE;
	}
	vx_arp_reply(eth, in->mac, cfg->vtep_ip, &a);
	return DP_VX_REPLY;
}

enum dp_vx_rx
dp_vxlan_rx(struct dp *dp, const struct dp_cfg *cfg, struct dp_port *in, struct rte_mbuf *m,
	    struct dp_port_counters *ctr, uint16_t *net, uint32_t *vtep)
{
	const uint8_t *eth = rte_pktmbuf_mtod(m, const uint8_t *), *ip, *udp;
	uint32_t len = rte_pktmbuf_data_len(m), vni, inner, src_ip;
	struct pkt_info pi;
	uint16_t type = rd16(eth + 12), n;
	size_t ihl;

	if (type == RTE_ETHER_TYPE_ARP)
		return arp_rx(dp, cfg, in, m);
	/* Cheap test first: IPv4/UDP to our address and port. */
	ip = eth + RTE_ETHER_HDR_LEN;
	if (type != RTE_ETHER_TYPE_IPV4 || len < RTE_ETHER_HDR_LEN + 20 || (ip[0] >> 4) != 4 ||
	    ip[9] != IPPROTO_UDP || memcmp(ip + 16, &cfg->vtep_ip, 4) != 0)
		return DP_VX_PASS;
	ihl = (size_t)(ip[0] & 0xf) * 4;
	udp = ip + ihl;
	if (ihl < 20 || len < RTE_ETHER_HDR_LEN + ihl + 8 || rd16(udp + 2) != cfg->vtep_port)
		return DP_VX_PASS;
	/* Ours: the outer headers under the malformed-packet policy. */
	if (!dp_admit(m, ctr, cfg->vtep_port == PKT_VXLAN_PORT ? PKT_PARSE_VXLAN : 0, &pi))
		return DP_VX_DONE;
	if (pi.flags & (PKT_F_FRAGMENT | PKT_F_BEYOND)) {
		/* RFC 7348, 4.3: VTEPs do not fragment; we do not reassemble. */
		rte_pktmbuf_free(m);
		ctr->drops[DP_DROP_BAD_VXLAN]++;
		return DP_VX_DONE;
	}
	if (pi.flags & PKT_F_VXLAN) {
		vni = pi.vni;
		inner = pi.inner_off;
	} else {
		inner = pi.l4_off + 16;
		if (len < inner + RTE_ETHER_HDR_LEN) {
			rte_pktmbuf_free(m);
			ctr->drops[DP_DROP_TRUNCATED]++;
			return DP_VX_DONE;
		}
		if (vx_hdr_check(eth + pi.l4_off + 8, &vni) != 0) {
			rte_pktmbuf_free(m);
			ctr->drops[DP_DROP_BAD_VXLAN]++;
			return DP_VX_DONE;
		}
	}
	n = dp_cfg_vni_net(cfg, vni);
	/* The inner Ethernet header must be in the first segment (we strip
	 * the outer headers from it). */
	if (n == DP_NET_NONE || len < inner + RTE_ETHER_HDR_LEN) {
		rte_pktmbuf_free(m);
		ctr->drops[n == DP_NET_NONE ? DP_DROP_UNKNOWN_VNI : DP_DROP_TRUNCATED]++;
		return DP_VX_DONE;
	}
	/* RFC 7348, 6.1: a decapsulated frame with an inner VLAN tag SHOULD
	 * be discarded (the VNI is the segment; a tag would smuggle another). */
	type = rd16(eth + inner + 12);
	if (type == RTE_ETHER_TYPE_VLAN || type == RTE_ETHER_TYPE_QINQ) {
		rte_pktmbuf_free(m);
		ctr->drops[DP_DROP_BAD_VXLAN]++;
		return DP_VX_DONE;
	}
	memcpy(&src_ip, ip + 12, 4);
	nbr_note(dp, src_ip, eth + 6, in->id);
	rte_pktmbuf_adj(m, (uint16_t)inner);
	ctr->vxlan_decap++;
	*net = n;
	*vtep = src_ip;
	return DP_VX_DECAPPED;
}

struct rte_mbuf *
dp_vxlan_encap(const struct dp_cfg *cfg, struct dp_port *out, struct rte_mbuf *m,
	       const struct dp_net_fwd *nf, uint32_t vtep, uint64_t mac48,
	       struct dp_port_counters *ctr)
{
	struct vx_encap e = {
		.src_ip = cfg->vtep_ip,
		.dst_ip = vtep,
		.dst_port = cfg->vtep_port,
		.vni = nf->vni,
	};
	uint32_t inner_len = m->pkt_len;
	uint8_t *hdr;

	if (inner_len + VX_IP_OVERHEAD > out->mtu) {
		ctr->drops[DP_DROP_TOO_BIG]++;
		rte_pktmbuf_free(m);
		return NULL;
	}
	hdr = (uint8_t *)rte_pktmbuf_prepend(m, VX_OUTER_LEN);
	if (hdr == NULL) {
		ctr->drops[DP_DROP_NO_BUFFER]++;
		rte_pktmbuf_free(m);
		return NULL;
	}
	memcpy(e.dst_mac, &mac48, 6);
	memcpy(e.src_mac, out->mac, 6);
	/* inner_len + 36 <= mtu <= 65535: cannot fail */
	vx_encap_hdr(hdr, &e, inner_len,
		     vx_src_port(hdr + VX_OUTER_LEN, rte_pktmbuf_data_len(m) - VX_OUTER_LEN));
	m->ol_flags &= ~(RTE_MBUF_F_TX_VLAN | RTE_MBUF_F_TX_QINQ);
	ctr->vxlan_encap++;
	return m;
}

struct rte_mbuf *
dp_vxlan_arp_request(struct dp *dp, const struct dp_cfg *cfg, struct dp_port *p, uint32_t vtep)
{
	/* Per thread: when we last asked for a VTEP on a port. */
	static __thread struct {
		uint32_t ip;
		uint16_t port;
		uint64_t tsc;
	} sent[ARP_SENT_SLOTS];
	unsigned int s = (vtep * 0x9e3779b1u >> 20 ^ p->id) & (ARP_SENT_SLOTS - 1);
	uint64_t now = rte_rdtsc();
	struct rte_mbuf *m;
	uint8_t *frame;

	if (cfg->vtep_ip == 0)
		return NULL;
	if (sent[s].ip == vtep && sent[s].port == p->id && now - sent[s].tsc < rte_get_tsc_hz())
		return NULL;
	m = rte_pktmbuf_alloc(dp->direct_pool);
	if (m == NULL)
		return NULL;
	frame = (uint8_t *)rte_pktmbuf_append(m, ETH_MIN_FRAME);
	if (frame == NULL) {
		rte_pktmbuf_free(m);
		return NULL;
	}
	memset(frame, 0, ETH_MIN_FRAME);
	vx_arp_request(frame, p->mac, cfg->vtep_ip, vtep);
	sent[s].ip = vtep;
	sent[s].port = p->id;
	sent[s].tsc = now;
	return m;
}
