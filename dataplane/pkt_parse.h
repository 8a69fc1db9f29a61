/* SPDX-License-Identifier: MIT */
/*
 * pkt_parse: what a frame's headers say, and whether they can be trusted.
 *
 * Pure: a byte buffer in, a compact description and a verdict out; no DPDK
 * types, no allocation, no global state, so it is unit tested and fuzzed
 * on its own and safe on any thread (the switch's workers call it per
 * packet). Parses Ethernet, one 802.1Q tag (stacked tags: QinQ), ARP,
 * IPv4 (options, fragments), IPv6 (extension headers up to
 * PKT_IPV6_EXT_MAX, fragment header), TCP, UDP, ICMP, ICMPv6 and, when
 * asked, VXLAN (RFC 7348) up to the inner Ethernet header. Checksums are
 * not verified: the switch rewrites none, the endpoints check them.
 *
 * The verdict (docs/architecture.md, "Malformed packets", is the policy):
 *  - PKT_OK: every header present and consistent; the L3/L4 fields are
 *    usable by L3/L4 features.
 *  - PKT_L2_ONLY: a valid frame that L3/L4 features must not act on (IP
 *    options, fragments, QinQ, more extension headers than we walk,
 *    headers beyond the part of the frame the caller gave us); forward it
 *    as L2. Which one is in `flags`.
 *  - PKT_DROP_*: the frame contradicts itself (a header cut short, a
 *    length field that does not fit, a header field with a value the spec
 *    forbids, a fragment the reassembly rules reject, a bad VXLAN header).
 */
#ifndef PKT_PARSE_H
#define PKT_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum pkt_verdict {
	PKT_OK,
	PKT_L2_ONLY,
	PKT_DROP_TRUNCATED,    /* the frame ends inside a header it announces */
	PKT_DROP_BAD_LENGTH,   /* a length field smaller than its header or past the frame */
	PKT_DROP_BAD_HEADER,   /* a field the spec forbids: IP version, options, ext header order */
	PKT_DROP_BAD_FRAGMENT, /* RFC 791/1858/8200/7112: a fragment reassembly must reject */
	PKT_DROP_BAD_VXLAN,    /* VXLAN I flag clear or reserved bits set */
	PKT_VERDICT_N,
};

/* Verdict names ("ok", "l2_only", "truncated", ...), for logs and tests. */
extern const char *const pkt_verdict_names[PKT_VERDICT_N];

/* pkt_parse() flags */
#define PKT_PARSE_VXLAN (1u << 0) /* UDP to port 4789 is VXLAN (an uplink's overlay) */

/* pkt_info.flags: what the frame has; the L2_ONLY reasons are marked (L2). */
#define PKT_F_VLAN       (1u << 0)  /* one 802.1Q tag (vlan_tci) */
#define PKT_F_QINQ       (1u << 1)  /* (L2) stacked tags or an 802.1ad tag */
#define PKT_F_ARP        (1u << 2)  /* ARP for IPv4 over Ethernet: addresses set */
#define PKT_F_IPV4       (1u << 3)  /* IPv4 header parsed: addresses set */
#define PKT_F_IPV6       (1u << 4)  /* IPv6 header parsed: addresses set */
#define PKT_F_IP_OPTIONS (1u << 5)  /* (L2) IPv4 options (well formed) */
#define PKT_F_FRAGMENT   (1u << 6)  /* (L2) a fragment (IPv4 MF/offset, IPv6 fragment header) */
#define PKT_F_LATER_FRAG (1u << 7)  /* a fragment other than the first: no L4 header */
#define PKT_F_IPV6_EXT   (1u << 8)  /* IPv6 extension headers present */
#define PKT_F_EXT_DEPTH  (1u << 9)  /* (L2) more IPv6 extension headers than we walk */
#define PKT_F_L4         (1u << 10) /* l4_proto's header parsed (ports or ICMP type) */
#define PKT_F_VXLAN      (1u << 11) /* VXLAN: vni and inner_off set */
#define PKT_F_BEYOND     (1u << 12) /* (L2) headers go past the bytes given (len < frame_len) */
#define PKT_F_NOT_IP     (1u << 13) /* not IP or ARP-for-IPv4: no L3 fields (plain L2) */
#define PKT_F_LLC        (1u << 14) /* 802.3 length field instead of an EtherType */
#define PKT_F_ARP_OTHER  (1u << 15) /* ARP for another hardware or protocol */

#define PKT_IPV6_EXT_MAX 8    /* extension headers walked before giving up (L2_ONLY) */
#define PKT_VXLAN_PORT   4789 /* RFC 7348 */

/* What pkt_parse() found. Offsets are from the start of the buffer;
 * numbers are in host byte order; addresses in network order. Only the
 * fields its flags announce are set (the rest are 0). */
struct pkt_info {
	uint32_t flags;     /* PKT_F_* */
	uint16_t ethertype; /* after the tags (an 802.3 length with PKT_F_LLC) */
	uint16_t vlan_tci;  /* PKT_F_VLAN: the (outer) tag's TCI */
	uint16_t l4_len;    /* L4 header length (TCP with options) */
	uint16_t frag_off;  /* PKT_F_FRAGMENT: offset in bytes */
	uint32_t l3_off;    /* after Ethernet and tags */
	uint32_t l4_off;    /* after the IP header, options and extension headers */
	uint32_t inner_off; /* PKT_F_VXLAN: the inner Ethernet header */
	uint32_t ip_len;    /* IP datagram length (header + payload) as the header says */
	uint8_t ip_version; /* 4, 6, or 0 */
	uint8_t l4_proto;   /* IPPROTO_* of the upper-layer header (IPv6: after ext headers) */
	uint8_t ttl;        /* TTL or hop limit */
	uint8_t tcp_flags;  /* TCP: FIN..CWR */
	uint8_t icmp_type;  /* ICMP/ICMPv6 */
	uint8_t icmp_code;
	uint16_t arp_op; /* PKT_F_ARP */
	uint16_t src_port, dst_port;
	uint32_t vni;       /* PKT_F_VXLAN */
	uint8_t src_ip[16]; /* IPv4 (and ARP sender/target): the first 4 bytes */
	uint8_t dst_ip[16];
};

/*
 * Parse the first `len` bytes of a frame of `frame_len` bytes (len <=
 * frame_len; less when the caller hands over only the headers of a large
 * or segmented frame). Length fields are checked against frame_len;
 * headers must lie within len (a header that lies beyond len but within
 * frame_len gives PKT_L2_ONLY with PKT_F_BEYOND, not a drop). Never reads
 * outside buf[0..len). `flags` is PKT_PARSE_*. Always fills *pi (zeroed
 * first) with what it found before the verdict.
 */
enum pkt_verdict pkt_parse(const uint8_t *buf, size_t len, size_t frame_len, unsigned int flags,
			   struct pkt_info *pi);

static inline uint16_t
pkt_rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/*
 * The common case in a few comparisons, for callers that need only the
 * verdict: true means pkt_parse() with the same arguments returns PKT_OK
 * (an untagged IPv4 datagram without options, not a fragment, with a
 * whole TCP or UDP header, not VXLAN to parse). false means nothing:
 * ask pkt_parse(). The fuzz target and the unit test hold it to that.
 */
static inline bool
pkt_fast_ok(const uint8_t *buf, size_t len, size_t frame_len, unsigned int flags)
{
	const uint8_t *ip = buf + 14, *l4 = buf + 34;
	size_t tot, n;

	if (len < 54 || len > frame_len || pkt_rd16(buf + 12) != 0x0800 || ip[0] != 0x45 ||
	    (pkt_rd16(ip + 6) & 0x3fff) != 0)
		return false;
	tot = pkt_rd16(ip + 2);
	if (tot > frame_len - 14)
		return false;
	if (ip[9] == 17) { /* UDP: length within the datagram */
		n = pkt_rd16(l4 + 4);
		return tot >= 28 && n >= 8 && n <= tot - 20 &&
		       !((flags & PKT_PARSE_VXLAN) && pkt_rd16(l4 + 2) == PKT_VXLAN_PORT);
	}
	if (ip[9] == 6) { /* TCP: the header (its options) within the datagram */
		n = (size_t)(l4[12] >> 4) * 4;
		return tot >= 40 && n >= 20 && n <= tot - 20;
	}
	return false;
}

#endif
