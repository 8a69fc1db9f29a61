/* SPDX-License-Identifier: MIT */
/*
 * pkt_parse: header parsing and validation (pkt_parse.h). Every read is
 * preceded by need(), which checks it against the bytes given and the
 * header's enclosing length; loops are bounded (IPv4 options by 40 bytes,
 * IPv6 extension headers by PKT_IPV6_EXT_MAX).
 */
#include <stdbool.h>
#include <string.h>

#include "pkt_parse.h"

#define ETH_HLEN       14
#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_ARP  0x0806
#define ETHERTYPE_VLAN 0x8100
#define ETHERTYPE_QINQ 0x88a8
#define ETHERTYPE_9100 0x9100 /* pre-802.1ad stacked tags */
#define ETHERTYPE_IPV6 0x86dd
#define ETH_MAX_LEN    1500 /* 802.3 length field: at most this */
#define ETH_TYPE_MIN   0x0600

#define P_HOPOPT       0
#define P_ICMP         1
#define P_TCP          6
#define P_UDP          17
#define P_ROUTING      43
#define P_FRAG         44
#define P_AH           51
#define P_ICMPV6       58
#define P_NONE         59
#define P_DSTOPTS      60
#define P_MOBHDR       135
#define P_HIP          139
#define P_SHIM6        140

#define IP_MAX_LEN     65535

const char *const pkt_verdict_names[PKT_VERDICT_N] = {
	[PKT_OK] = "ok",
	[PKT_L2_ONLY] = "l2_only",
	[PKT_DROP_TRUNCATED] = "truncated",
	[PKT_DROP_BAD_LENGTH] = "bad_length",
	[PKT_DROP_BAD_HEADER] = "bad_header",
	[PKT_DROP_BAD_FRAGMENT] = "bad_fragment",
	[PKT_DROP_BAD_VXLAN] = "bad_vxlan",
};

struct frame {
	const uint8_t *b;
	size_t len;       /* bytes we may read */
	size_t frame_len; /* bytes the frame has */
};

/* Is [off, off + n) readable? Past `end` (the enclosing header's or
 * datagram's end, <= frame_len): truncated. Within it but past the bytes
 * given: we cannot look, the frame goes as L2. */
static inline enum pkt_verdict
need(const struct frame *f, size_t off, size_t n, size_t end, struct pkt_info *pi)
{
	if (off + n > end)
		return PKT_DROP_TRUNCATED;
	if (off + n > f->len) {
		pi->flags |= PKT_F_BEYOND;
		return PKT_L2_ONLY;
	}
	return PKT_OK;
}

/* RFC 6564's uniform format, plus AH (RFC 4302) and the fragment header. */
static bool
is_ipv6_ext(uint8_t nh)
{
	switch (nh) {
	case P_HOPOPT:
	case P_ROUTING:
	case P_FRAG:
	case P_AH:
	case P_DSTOPTS:
	case P_MOBHDR:
	case P_HIP:
	case P_SHIM6:
		return true;
	default:
		return false;
	}
}

/* RFC 7348, 5: flags 0x08 (I) and every reserved bit zero. The RFC lets a
 * receiver ignore reserved bits; we drop, as Linux does, because the
 * extensions that set them (GBP, GPE) change what the payload is. */
static enum pkt_verdict
parse_vxlan(const struct frame *f, size_t off, size_t end, struct pkt_info *pi)
{
	const uint8_t *vx;
	enum pkt_verdict v;

	v = need(f, off, 8, end, pi);
	if (v != PKT_OK)
		return v;
	vx = f->b + off;
	if (vx[0] != 0x08 || vx[1] != 0 || vx[2] != 0 || vx[3] != 0 || vx[7] != 0)
		return PKT_DROP_BAD_VXLAN;
	pi->vni = (uint32_t)vx[4] << 16 | (uint32_t)vx[5] << 8 | vx[6];
	pi->inner_off = (uint32_t)(off + 8);
	pi->flags |= PKT_F_VXLAN;
	return need(f, off + 8, ETH_HLEN, end, pi);
}

/* The upper-layer header at off of a datagram ending at end. `whole`:
 * the datagram is not a fragment (UDP's length covers what we have). */
static enum pkt_verdict
parse_l4(const struct frame *f, size_t off, size_t end, unsigned int flags, bool whole,
	 struct pkt_info *pi)
{
	const uint8_t *l4;
	enum pkt_verdict v;
	size_t n;

	switch (pi->l4_proto) {
	case P_TCP:
		v = need(f, off, 20, end, pi);
		if (v != PKT_OK)
			return v;
		l4 = f->b + off;
		n = (size_t)(l4[12] >> 4) * 4;
		if (n < 20 || n > end - off)
			return PKT_DROP_BAD_LENGTH;
		pi->src_port = pkt_rd16(l4);
		pi->dst_port = pkt_rd16(l4 + 2);
		pi->tcp_flags = l4[13];
		pi->l4_len = (uint16_t)n;
		break;
	case P_UDP:
		v = need(f, off, 8, end, pi);
		if (v != PKT_OK)
			return v;
		l4 = f->b + off;
		n = pkt_rd16(l4 + 4);
		/* A first fragment's UDP length is the whole datagram's. */
		if (n < 8 || (whole && n > end - off))
			return PKT_DROP_BAD_LENGTH;
		pi->src_port = pkt_rd16(l4);
		pi->dst_port = pkt_rd16(l4 + 2);
		pi->l4_len = 8;
		pi->flags |= PKT_F_L4;
		if (whole && (flags & PKT_PARSE_VXLAN) && pi->dst_port == PKT_VXLAN_PORT)
			return parse_vxlan(f, off + 8, off + n, pi);
		return PKT_OK;
	case P_ICMP:
		if (pi->ip_version != 4)
			return PKT_OK;
		v = need(f, off, 8, end, pi); /* RFC 792: every message has 8 bytes */
		if (v != PKT_OK)
			return v;
		l4 = f->b + off;
		pi->icmp_type = l4[0];
		pi->icmp_code = l4[1];
		pi->l4_len = 8;
		break;
	case P_ICMPV6:
		if (pi->ip_version != 6)
			return PKT_OK;
		v = need(f, off, 4, end, pi); /* RFC 4443, 2.1 */
		if (v != PKT_OK)
			return v;
		l4 = f->b + off;
		pi->icmp_type = l4[0];
		pi->icmp_code = l4[1];
		pi->l4_len = 4;
		break;
	default:
		return PKT_OK; /* an upper layer we do not look into */
	}
	pi->flags |= PKT_F_L4;
	return PKT_OK;
}

/* RFC 791, 3.1: option lists are EOL, NOP or (type, length >= 2, data). */
static enum pkt_verdict
parse_ipv4_options(const uint8_t *o, size_t n)
{
	size_t i = 0;

	while (i < n) {
		if (o[i] == 0) /* end of list: the rest is padding */
			break;
		if (o[i] == 1) {
			i++;
			continue;
		}
		if (n - i < 2 || o[i + 1] < 2 || o[i + 1] > n - i)
			return PKT_DROP_BAD_HEADER;
		i += o[i + 1];
	}
	return PKT_OK;
}

/* A first fragment must hold the upper-layer header (RFC 1858's tiny
 * fragments; RFC 7112 for IPv6): a header cut short by the fragment
 * boundary is a bad fragment. Either way it goes as L2 (later fragments
 * carry no ports, so no L4 feature can treat the datagram as one). */
static enum pkt_verdict
first_fragment(enum pkt_verdict v)
{
	if (v == PKT_DROP_TRUNCATED || v == PKT_DROP_BAD_LENGTH)
		return PKT_DROP_BAD_FRAGMENT;
	return v == PKT_OK ? PKT_L2_ONLY : v;
}

static enum pkt_verdict
parse_ipv4(const struct frame *f, size_t off, unsigned int flags, struct pkt_info *pi)
{
	const uint8_t *ip = f->b + off;
	size_t hl, tot, end, payload, frag;
	enum pkt_verdict v;
	uint16_t fo;

	v = need(f, off, 20, f->frame_len, pi);
	if (v != PKT_OK)
		return v;
	if (ip[0] >> 4 != 4)
		return PKT_DROP_BAD_HEADER;
	hl = (size_t)(ip[0] & 0xf) * 4;
	tot = pkt_rd16(ip + 2);
	if (hl < 20 || tot < hl || tot > f->frame_len - off)
		return PKT_DROP_BAD_LENGTH;
	pi->flags |= PKT_F_IPV4;
	pi->ip_version = 4;
	pi->ip_len = (uint32_t)tot;
	pi->ttl = ip[8];
	pi->l4_proto = ip[9];
	memcpy(pi->src_ip, ip + 12, 4);
	memcpy(pi->dst_ip, ip + 16, 4);
	end = off + tot;
	v = need(f, off, hl, end, pi);
	if (v != PKT_OK)
		return v;
	if (hl > 20) {
		v = parse_ipv4_options(ip + 20, hl - 20);
		if (v != PKT_OK)
			return v;
		pi->flags |= PKT_F_IP_OPTIONS;
	}
	pi->l4_off = (uint32_t)(off + hl);
	fo = pkt_rd16(ip + 6);
	frag = (size_t)(fo & 0x1fff) * 8;
	payload = tot - hl;
	if ((fo & 0x2000) || frag != 0) {
		pi->flags |= PKT_F_FRAGMENT;
		pi->frag_off = (uint16_t)frag;
		/* RFC 791: all but the last fragment carry multiples of 8 bytes;
		 * nothing may end past 65535 (the "ping of death"). */
		if (frag + payload > IP_MAX_LEN || ((fo & 0x2000) && (payload == 0 || payload % 8)))
			return PKT_DROP_BAD_FRAGMENT;
		if (frag != 0) {
			pi->flags |= PKT_F_LATER_FRAG;
			/* RFC 1858, 4: offset 8 can only overwrite TCP's flags. */
			if (frag == 8 && pi->l4_proto == P_TCP)
				return PKT_DROP_BAD_FRAGMENT;
			return PKT_L2_ONLY;
		}
		return first_fragment(parse_l4(f, off + hl, end, 0, false, pi));
	}
	v = parse_l4(f, off + hl, end, flags, true, pi);
	if (v == PKT_OK && (pi->flags & PKT_F_IP_OPTIONS))
		return PKT_L2_ONLY;
	return v;
}

static enum pkt_verdict
parse_ipv6(const struct frame *f, size_t off, unsigned int flags, struct pkt_info *pi)
{
	const uint8_t *ip = f->b + off;
	size_t plen, end, p, frag, fraglen;
	bool first = false;
	enum pkt_verdict v;
	unsigned int depth;
	uint8_t nh;

	v = need(f, off, 40, f->frame_len, pi);
	if (v != PKT_OK)
		return v;
	if (ip[0] >> 4 != 6)
		return PKT_DROP_BAD_HEADER;
	plen = pkt_rd16(ip + 4);
	nh = ip[6];
	/* A payload length of 0 announces a jumbogram (RFC 2675), which no
	 * Ethernet frame can hold, unless nothing follows. */
	if (40 + plen > f->frame_len - off || (plen == 0 && nh != P_NONE))
		return PKT_DROP_BAD_LENGTH;
	pi->flags |= PKT_F_IPV6;
	pi->ip_version = 6;
	pi->ip_len = (uint32_t)(40 + plen);
	pi->ttl = ip[7];
	memcpy(pi->src_ip, ip + 8, 16);
	memcpy(pi->dst_ip, ip + 24, 16);
	end = off + 40 + plen;
	p = off + 40;
	for (depth = 0; is_ipv6_ext(nh); depth++) {
		const uint8_t *x;
		size_t hl;

		pi->l4_proto = nh;
		pi->l4_off = (uint32_t)p;
		if (depth == PKT_IPV6_EXT_MAX) {
			pi->flags |= PKT_F_EXT_DEPTH;
			return PKT_L2_ONLY;
		}
		pi->flags |= PKT_F_IPV6_EXT;
		/* RFC 8200, 4.3: hop-by-hop options only right after the header. */
		if (nh == P_HOPOPT && depth != 0)
			return PKT_DROP_BAD_HEADER;
		v = need(f, p, 8, end, pi);
		if (v != PKT_OK)
			return first ? first_fragment(v) : v;
		x = f->b + p;
		if (nh == P_FRAG) {
			uint16_t fo = pkt_rd16(x + 2);

			nh = x[0];
			p += 8;
			frag = fo & 0xfff8;
			/* An atomic fragment (RFC 6946) is a whole datagram. */
			if (frag == 0 && !(fo & 1))
				continue;
			if (first || (pi->flags & PKT_F_FRAGMENT))
				return PKT_DROP_BAD_FRAGMENT; /* two fragment headers */
			pi->flags |= PKT_F_FRAGMENT;
			pi->frag_off = (uint16_t)frag;
			fraglen = end - p;
			/* RFC 8200, 4.5: a fragment with M set carries a multiple of 8
			 * bytes; none ends past 65535. */
			if (frag + fraglen > IP_MAX_LEN ||
			    ((fo & 1) && (fraglen == 0 || fraglen % 8)))
				return PKT_DROP_BAD_FRAGMENT;
			if (frag != 0) {
				pi->flags |= PKT_F_LATER_FRAG;
				pi->l4_proto = nh;
				pi->l4_off = (uint32_t)p;
				return PKT_L2_ONLY;
			}
			first = true;
			continue;
		}
		hl = nh == P_AH ? ((size_t)x[1] + 2) * 4 : ((size_t)x[1] + 1) * 8;
		v = need(f, p, hl, end, pi);
		if (v != PKT_OK)
			return first ? first_fragment(v) : v;
		nh = x[0];
		p += hl;
	}
	pi->l4_proto = nh;
	pi->l4_off = (uint32_t)p;
	if (first)
		return first_fragment(parse_l4(f, p, end, 0, false, pi));
	return parse_l4(f, p, end, flags, true, pi);
}

static enum pkt_verdict
parse_arp(const struct frame *f, size_t off, struct pkt_info *pi)
{
	const uint8_t *a = f->b + off;
	enum pkt_verdict v;
	uint16_t htype, ptype;

	v = need(f, off, 8, f->frame_len, pi);
	if (v != PKT_OK)
		return v;
	htype = pkt_rd16(a);
	ptype = pkt_rd16(a + 2);
	v = need(f, off, 8 + 2 * ((size_t)a[4] + a[5]), f->frame_len, pi);
	if (v != PKT_OK)
		return v;
	if (htype != 1 || ptype != ETHERTYPE_IPV4) {
		pi->flags |= PKT_F_ARP_OTHER;
		return PKT_OK;
	}
	/* RFC 826 over Ethernet for IPv4: 6-byte and 4-byte addresses. */
	if (a[4] != 6 || a[5] != 4)
		return PKT_DROP_BAD_HEADER;
	pi->flags |= PKT_F_ARP;
	pi->arp_op = pkt_rd16(a + 6);
	memcpy(pi->src_ip, a + 14, 4);
	memcpy(pi->dst_ip, a + 24, 4);
	return PKT_OK;
}

enum pkt_verdict
pkt_parse(const uint8_t *buf, size_t len, size_t frame_len, unsigned int flags, struct pkt_info *pi)
{
	struct frame f = { .b = buf, .len = len, .frame_len = frame_len };
	enum pkt_verdict v;
	uint16_t et;
	size_t off = ETH_HLEN;

	memset(pi, 0, sizeof(*pi));
	if (buf == NULL)
		f.len = 0;
	if (f.len > f.frame_len) /* the contract says len <= frame_len */
		f.frame_len = f.len;
	v = need(&f, 0, ETH_HLEN, f.frame_len, pi);
	if (v != PKT_OK)
		return v;
	et = pkt_rd16(buf + 12);
	if (et == ETHERTYPE_VLAN) {
		v = need(&f, off, 4, f.frame_len, pi);
		if (v != PKT_OK)
			return v;
		pi->flags |= PKT_F_VLAN;
		pi->vlan_tci = pkt_rd16(buf + 14);
		et = pkt_rd16(buf + 16);
		off += 4;
	}
	pi->ethertype = et;
	pi->l3_off = (uint32_t)off;
	switch (et) {
	case ETHERTYPE_IPV4:
		return parse_ipv4(&f, off, flags, pi);
	case ETHERTYPE_IPV6:
		return parse_ipv6(&f, off, flags, pi);
	case ETHERTYPE_ARP:
		return parse_arp(&f, off, pi);
	case ETHERTYPE_VLAN:
	case ETHERTYPE_QINQ:
	case ETHERTYPE_9100:
		/* Stacked tags: the switch maps one tag to a network. */
		pi->flags |= PKT_F_QINQ;
		return PKT_L2_ONLY;
	default:
		break;
	}
	if (et < ETH_TYPE_MIN) {
		/* IEEE 802.3, 3.2.6: a length (<= 1500); 1501..1535 mean nothing. */
		pi->flags |= PKT_F_LLC;
		if (et > ETH_MAX_LEN)
			return PKT_DROP_BAD_HEADER;
		if (et > f.frame_len - off)
			return PKT_DROP_BAD_LENGTH;
		return PKT_OK;
	}
	pi->flags |= PKT_F_NOT_IP;
	return PKT_OK;
}
