/* SPDX-License-Identifier: MIT */
/* vxlan: VTEP helpers (see vxlan.h). Pure: no EAL, no mbufs. */
#include <errno.h>
#include <string.h>

#include "vxlan.h"

#define ETH_HLEN       14
#define ETH_P_IPV4     0x0800
#define ETH_P_IPV6     0x86dd
#define ETH_P_ARP      0x0806
#define ETH_P_VLAN     0x8100
#define IPPROTO_TCP_   6
#define IPPROTO_UDP_   17
#define IPPROTO_SCTP_  132
#define PORT_DYN_FIRST 49152u

static inline uint16_t
rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void
wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline uint32_t
nbr_hash(uint32_t ip)
{
	uint32_t h = ip * 0x9e3779b1u;

	return (h ^ (h >> 16)) & (VX_NBR_SLOTS - 1);
}

int
vx_nbr_learn(struct vx_nbr_table *t, uint32_t ip, uint64_t mac48, uint16_t port)
{
	uint64_t v = (mac48 & 0xffffffffffffull) | (uint64_t)port << 48;
	uint32_t i, s;

	if (ip == 0)
		return -EINVAL;
	for (i = 0, s = nbr_hash(ip); i < VX_NBR_SLOTS; i++, s = (s + 1) & (VX_NBR_SLOTS - 1)) {
		struct vx_nbr *n = &t->slot[s];
		uint32_t cur = atomic_load_explicit(&n->ip, memory_order_relaxed);

		if (cur == ip) {
			atomic_store_explicit(&n->mac_port, v, memory_order_relaxed);
			return 0;
		}
		if (cur == 0) {
			atomic_store_explicit(&n->mac_port, v, memory_order_relaxed);
			atomic_store_explicit(&n->ip, ip, memory_order_release);
			t->count++;
			return 0;
		}
	}
	return -ENOSPC;
}

bool
vx_nbr_lookup(const struct vx_nbr_table *t, uint32_t ip, uint64_t *mac48, uint16_t *port)
{
	uint32_t i, s;

	if (ip == 0)
		return false;
	for (i = 0, s = nbr_hash(ip); i < VX_NBR_SLOTS; i++, s = (s + 1) & (VX_NBR_SLOTS - 1)) {
		const struct vx_nbr *n = &t->slot[s];
		uint32_t cur = atomic_load_explicit(&n->ip, memory_order_acquire);

		if (cur == ip) {
			uint64_t v = atomic_load_explicit(&n->mac_port, memory_order_relaxed);

			*mac48 = v & 0xffffffffffffull;
			*port = (uint16_t)(v >> 48);
			return true;
		}
		if (cur == 0)
			return false;
	}
	return false;
}

/* RFC 1071 over an even number of bytes. */
static uint16_t
ip_csum(const uint8_t *p, size_t n)
{
	uint32_t sum = 0;
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		sum += rd16(p + i);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

int
vx_encap_hdr(uint8_t *hdr, const struct vx_encap *e, uint32_t inner_len, uint16_t src_port)
{
	uint8_t *ip = hdr + ETH_HLEN, *udp = ip + 20, *vx = udp + 8;
	uint32_t ip_len = inner_len + VX_IP_OVERHEAD;

	if (ip_len > 0xffff)
		return -EMSGSIZE;
	memcpy(hdr, e->dst_mac, 6);
	memcpy(hdr + 6, e->src_mac, 6);
	wr16(hdr + 12, ETH_P_IPV4);
	ip[0] = 0x45; /* version 4, no options */
	ip[1] = 0;
	wr16(ip + 2, (uint16_t)ip_len);
	wr16(ip + 4, 0);      /* identification: atomic datagram */
	wr16(ip + 6, 0x4000); /* DF, offset 0 */
	ip[8] = VX_TTL;
	ip[9] = IPPROTO_UDP_;
	wr16(ip + 10, 0);
	memcpy(ip + 12, &e->src_ip, 4);
	memcpy(ip + 16, &e->dst_ip, 4);
	wr16(ip + 10, ip_csum(ip, 20));
	wr16(udp, src_port);
	wr16(udp + 2, e->dst_port);
	wr16(udp + 4, (uint16_t)(ip_len - 20));
	wr16(udp + 6, 0);
	vx[0] = 0x08;
	vx[1] = vx[2] = vx[3] = 0;
	vx[4] = (uint8_t)(e->vni >> 16);
	vx[5] = (uint8_t)(e->vni >> 8);
	vx[6] = (uint8_t)e->vni;
	vx[7] = 0;
	return 0;
}

/* murmur3's mixing of one word into h */
static inline uint32_t
mix(uint32_t h, uint32_t k)
{
	k *= 0xcc9e2d51u;
	k = (k << 15) | (k >> 17);
	k *= 0x1b873593u;
	h ^= k;
	h = (h << 13) | (h >> 19);
	return h * 5 + 0xe6546b64u;
}

static uint32_t
mix_bytes(uint32_t h, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i + 4 <= n; i += 4)
		h = mix(h, (uint32_t)p[i] << 24 | (uint32_t)p[i + 1] << 16 |
				   (uint32_t)p[i + 2] << 8 | p[i + 3]);
	for (; i < n; i++)
		h = mix(h, p[i]);
	return h;
}

static uint32_t
mix_ports(uint32_t h, uint8_t proto, const uint8_t *l4, const uint8_t *end)
{
	h = mix(h, proto);
	if ((proto == IPPROTO_TCP_ || proto == IPPROTO_UDP_ || proto == IPPROTO_SCTP_) &&
	    end - l4 >= 4)
		h = mix_bytes(h, l4, 4);
	return h;
}

uint16_t
vx_src_port(const uint8_t *inner, size_t len)
{
	const uint8_t *end = inner + len, *l3;
	uint32_t h = 0x5678;
	uint16_t type;

	if (len < ETH_HLEN)
		return (uint16_t)PORT_DYN_FIRST;
	h = mix_bytes(h, inner, 12);
	type = rd16(inner + 12);
	l3 = inner + ETH_HLEN;
	if (type == ETH_P_VLAN && len >= ETH_HLEN + 4) {
		h = mix(h, rd16(l3) & 0xfff);
		type = rd16(l3 + 2);
		l3 += 4;
	}
	h = mix(h, type);
	if (type == ETH_P_IPV4 && end - l3 >= 20 && (l3[0] >> 4) == 4) {
		size_t ihl = (size_t)(l3[0] & 0xf) * 4;
		bool frag = (rd16(l3 + 6) & 0x3fff) != 0;

		h = mix_bytes(h, l3 + 12, 8);
		if (frag || ihl < 20 || (size_t)(end - l3) < ihl)
			h = mix(h, l3[9]);
		else
			h = mix_ports(h, l3[9], l3 + ihl, end);
	} else if (type == ETH_P_IPV6 && end - l3 >= 40 && (l3[0] >> 4) == 6) {
		/* Extension headers are not walked: their flows hash by
		 * addresses and the first next-header only. */
		h = mix_bytes(h, l3 + 8, 32);
		h = mix_ports(h, l3[6], l3 + 40, end);
	}
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	return (uint16_t)(PORT_DYN_FIRST + (h % (65536u - PORT_DYN_FIRST)));
}

int
vx_hdr_check(const uint8_t *vx, uint32_t *vni)
{
	/* RFC 7348, 5 (as pkt_parse: reserved bits set are dropped). */
	if (vx[0] != 0x08 || vx[1] != 0 || vx[2] != 0 || vx[3] != 0 || vx[7] != 0)
		return -EINVAL;
	*vni = (uint32_t)vx[4] << 16 | (uint32_t)vx[5] << 8 | vx[6];
	return 0;
}

int
vx_arp_parse(const uint8_t *frame, size_t len, struct vx_arp *a)
{
	const uint8_t *arp = frame + ETH_HLEN;

	if (len < VX_ARP_LEN || rd16(frame + 12) != ETH_P_ARP)
		return -EINVAL;
	/* htype Ethernet, ptype IPv4, hlen 6, plen 4 */
	if (rd16(arp) != 1 || rd16(arp + 2) != ETH_P_IPV4 || arp[4] != 6 || arp[5] != 4)
		return -EINVAL;
	a->op = rd16(arp + 6);
	memcpy(a->sha, arp + 8, 6);
	memcpy(&a->spa, arp + 14, 4);
	memcpy(a->tha, arp + 18, 6);
	memcpy(&a->tpa, arp + 24, 4);
	return 0;
}

static void
arp_write(uint8_t *frame, const uint8_t *eth_dst, uint16_t op, const uint8_t sha[6], uint32_t spa,
	  const uint8_t tha[6], uint32_t tpa)
{
	uint8_t *arp = frame + ETH_HLEN;

	memcpy(frame, eth_dst, 6);
	memcpy(frame + 6, sha, 6);
	wr16(frame + 12, ETH_P_ARP);
	wr16(arp, 1);
	wr16(arp + 2, ETH_P_IPV4);
	arp[4] = 6;
	arp[5] = 4;
	wr16(arp + 6, op);
	memcpy(arp + 8, sha, 6);
	memcpy(arp + 14, &spa, 4);
	memcpy(arp + 18, tha, 6);
	memcpy(arp + 24, &tpa, 4);
}

void
vx_arp_request(uint8_t *frame, const uint8_t mac[6], uint32_t ip, uint32_t tpa)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	static const uint8_t zero[6];

	arp_write(frame, bcast, 1, mac, ip, zero, tpa);
}

void
vx_arp_reply(uint8_t *frame, const uint8_t mac[6], uint32_t ip, const struct vx_arp *q)
{
	arp_write(frame, q->sha, 2, mac, ip, q->sha, q->spa);
}

bool
vx_ip_unicast(uint32_t ip)
{
	const uint8_t *b = (const uint8_t *)&ip;

	return b[0] != 0 && b[0] != 127 && b[0] < 224;
}
