/* SPDX-License-Identifier: MIT */
/*
 * pkt_parse: crafted frames, good and bad, for each case the switch's
 * malformed-packet policy names (docs/architecture.md): truncated headers,
 * bad lengths, bad VXLAN flags, IP options, fragments, IPv6 extension
 * headers, tags. Each frame is built whole, lengths fixed up, then broken
 * where the case needs it. Every frame is also parsed from each of its
 * prefixes, to show the parser never reads past what it is given.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pkt_parse.h"

struct pb {
	uint8_t b[2048];
	size_t n;
};

static void
put(struct pb *p, const void *d, size_t n)
{
	assert_true(p->n + n <= sizeof(p->b));
	memcpy(p->b + p->n, d, n);
	p->n += n;
}

static void
put8(struct pb *p, uint8_t v)
{
	put(p, &v, 1);
}

static void
put16(struct pb *p, uint16_t v)
{
	put8(p, (uint8_t)(v >> 8));
	put8(p, (uint8_t)v);
}

static void
set16(struct pb *p, size_t off, uint16_t v)
{
	p->b[off] = (uint8_t)(v >> 8);
	p->b[off + 1] = (uint8_t)v;
}

static void
zeros(struct pb *p, size_t n)
{
	assert_true(p->n + n <= sizeof(p->b));
	memset(p->b + p->n, 0, n);
	p->n += n;
}

static const uint8_t DST[6] = { 0x02, 0, 0, 0, 0, 0x02 };
static const uint8_t SRC[6] = { 0x02, 0, 0, 0, 0, 0x01 };

static void
eth(struct pb *p, uint16_t type)
{
	put(p, DST, 6);
	put(p, SRC, 6);
	put16(p, type);
}

/* An IPv4 header without options; returns its offset (total length fixed
 * by fix_ipv4 once the payload is there). */
static size_t
ipv4(struct pb *p, uint8_t proto, uint16_t frag)
{
	static const uint8_t s[4] = { 10, 0, 0, 1 }, d[4] = { 10, 0, 0, 2 };
	size_t off = p->n;

	put8(p, 0x45);
	put8(p, 0);
	put16(p, 0);
	put16(p, 0x1234);
	put16(p, frag);
	put8(p, 64);
	put8(p, proto);
	put16(p, 0);
	put(p, s, 4);
	put(p, d, 4);
	return off;
}

static void
fix_ipv4(struct pb *p, size_t off)
{
	set16(p, off + 2, (uint16_t)(p->n - off));
}

static size_t
ipv6(struct pb *p, uint8_t nh)
{
	size_t off = p->n, i;

	put8(p, 0x60);
	zeros(p, 3);
	put16(p, 0);
	put8(p, nh);
	put8(p, 63);
	for (i = 0; i < 32; i++)
		put8(p, (uint8_t)(i < 16 ? 0x20 + i : 0x40 + i));
	return off;
}

static void
fix_ipv6(struct pb *p, size_t off)
{
	set16(p, off + 4, (uint16_t)(p->n - off - 40));
}

/* A generic 8-byte IPv6 extension header. */
static void
ext8(struct pb *p, uint8_t nh)
{
	put8(p, nh);
	put8(p, 0);
	zeros(p, 6);
}

static void
frag6(struct pb *p, uint8_t nh, uint16_t off8, int more)
{
	put8(p, nh);
	put8(p, 0);
	put16(p, (uint16_t)(off8 << 3 | (more ? 1 : 0)));
	put16(p, 0xdead);
	put16(p, 0xbeef);
}

static size_t
udp(struct pb *p, uint16_t sport, uint16_t dport)
{
	size_t off = p->n;

	put16(p, sport);
	put16(p, dport);
	put16(p, 0);
	put16(p, 0);
	return off;
}

static void
fix_udp(struct pb *p, size_t off)
{
	set16(p, off + 4, (uint16_t)(p->n - off));
}

static size_t
tcp(struct pb *p, uint16_t sport, uint16_t dport)
{
	size_t off = p->n;

	put16(p, sport);
	put16(p, dport);
	zeros(p, 8);
	put8(p, 5 << 4);
	put8(p, 0x12); /* SYN ACK */
	zeros(p, 6);
	return off;
}

static void
vxlan(struct pb *p, uint8_t flags, uint32_t vni)
{
	put8(p, flags);
	zeros(p, 3);
	put8(p, (uint8_t)(vni >> 16));
	put8(p, (uint8_t)(vni >> 8));
	put8(p, (uint8_t)vni);
	put8(p, 0);
}

static struct pkt_info pi;

/* Parse p whole, and from every prefix handed over as the headers of the
 * whole frame (never a drop the whole frame does not have: a prefix can
 * only end in L2_ONLY/BEYOND, or the same verdict). */
static enum pkt_verdict
parse_flags(const struct pb *p, unsigned int flags)
{
	struct pkt_info tmp;
	enum pkt_verdict v;
	size_t n;

	v = pkt_parse(p->b, p->n, p->n, flags, &pi);
	/* the switch's shortcut says OK only where the parser does */
	if (pkt_fast_ok(p->b, p->n, p->n, flags))
		assert_int_equal(v, PKT_OK);
	for (n = 0; n < p->n; n++) {
		/* A heap copy of exactly n bytes: ASan sees any over-read. */
		uint8_t *c = malloc(n ? n : 1);
		enum pkt_verdict pv;

		assert_non_null(c);
		memcpy(c, p->b, n);
		pv = pkt_parse(c, n, p->n, flags, &tmp);
		if (pkt_fast_ok(c, n, p->n, flags))
			assert_int_equal(pv, PKT_OK);
		if (pv != v) {
			assert_int_equal(pv, PKT_L2_ONLY);
			assert_true(tmp.flags & PKT_F_BEYOND);
		}
		/* and as a whole frame of n bytes: never reads past n */
		(void)pkt_parse(c, n, n, flags, &tmp);
		free(c);
	}
	return v;
}

static enum pkt_verdict
parse(const struct pb *p)
{
	return parse_flags(p, 0);
}

#define assert_verdict(p, want) assert_string_equal(pkt_verdict_names[parse(p)], #want)

static void
test_ethernet(void **state)
{
	struct pb p = { 0 };

	(void)state;
	eth(&p, 0x88b5);
	zeros(&p, 46);
	assert_verdict(&p, ok);
	assert_true(pi.flags & PKT_F_NOT_IP);
	assert_int_equal(pi.ethertype, 0x88b5);
	assert_int_equal(pi.l3_off, 14);

	p.n = 13; /* runt */
	assert_verdict(&p, truncated);
	assert_int_equal(pkt_parse(NULL, 0, 0, 0, &pi), PKT_DROP_TRUNCATED);
}

static void
test_llc(void **state)
{
	struct pb p = { 0 };

	(void)state;
	eth(&p, 38); /* 802.3 length */
	zeros(&p, 46);
	assert_verdict(&p, ok);
	assert_true(pi.flags & PKT_F_LLC);
	set16(&p, 12, 47); /* more than the frame holds */
	assert_verdict(&p, bad_length);
	set16(&p, 12, 1510); /* neither a length nor an EtherType */
	assert_verdict(&p, bad_header);
}

static void
test_vlan(void **state)
{
	struct pb p = { 0 };
	size_t ip;

	(void)state;
	eth(&p, 0x8100);
	put16(&p, 0x2064); /* PCP 1, VLAN 100 */
	put16(&p, 0x0800);
	ip = ipv4(&p, 17, 0);
	fix_udp(&p, udp(&p, 1000, 2000));
	fix_ipv4(&p, ip);
	assert_verdict(&p, ok);
	assert_true(pi.flags & PKT_F_VLAN);
	assert_int_equal(pi.vlan_tci, 0x2064);
	assert_int_equal(pi.l3_off, 18);
	assert_int_equal(pi.dst_port, 2000);

	p.n = 16; /* tag cut short */
	assert_verdict(&p, truncated);

	/* QinQ: two 802.1Q tags, and an 802.1ad outer tag */
	p.n = 0;
	eth(&p, 0x8100);
	put16(&p, 100);
	put16(&p, 0x8100);
	put16(&p, 200);
	put16(&p, 0x0800);
	zeros(&p, 40);
	assert_verdict(&p, l2_only);
	assert_true(pi.flags & PKT_F_QINQ);
	set16(&p, 12, 0x88a8);
	assert_verdict(&p, l2_only);
	assert_true(pi.flags & PKT_F_QINQ);
}

static void
test_arp(void **state)
{
	struct pb p = { 0 };
	static const uint8_t spa[4] = { 10, 0, 0, 1 }, tpa[4] = { 10, 0, 0, 2 };

	(void)state;
	eth(&p, 0x0806);
	put16(&p, 1);
	put16(&p, 0x0800);
	put8(&p, 6);
	put8(&p, 4);
	put16(&p, 1);
	put(&p, SRC, 6);
	put(&p, spa, 4);
	zeros(&p, 6);
	put(&p, tpa, 4);
	assert_verdict(&p, ok);
	assert_true(pi.flags & PKT_F_ARP);
	assert_int_equal(pi.arp_op, 1);
	assert_memory_equal(pi.src_ip, spa, 4);
	assert_memory_equal(pi.dst_ip, tpa, 4);

	p.n = 14 + 27;
	assert_verdict(&p, truncated);
	p.n = 14 + 7;
	assert_verdict(&p, truncated);
	p.n = 14 + 28;
	p.b[14 + 4] = 8; /* Ethernet addresses of 8 bytes */
	assert_verdict(&p, truncated);
	zeros(&p, 4);
	assert_verdict(&p, bad_header);
	p.b[14 + 4] = 6;
	set16(&p, 14, 6); /* IEEE 802 hardware: someone else's ARP */
	p.n = 14 + 28;
	assert_verdict(&p, ok);
	assert_true(pi.flags & PKT_F_ARP_OTHER);
}

static void
test_ipv4_udp(void **state)
{
	struct pb p = { 0 };
	size_t ip, u;

	(void)state;
	eth(&p, 0x0800);
	ip = ipv4(&p, 17, 0x4000); /* DF */
	u = udp(&p, 1234, 53);
	zeros(&p, 10);
	fix_udp(&p, u);
	fix_ipv4(&p, ip);
	zeros(&p, 6); /* Ethernet padding after the datagram */
	assert_verdict(&p, ok);
	assert_true(pkt_fast_ok(p.b, p.n, p.n, PKT_PARSE_VXLAN)); /* the common case */
	assert_true(pi.flags & PKT_F_IPV4);
	assert_true(pi.flags & PKT_F_L4);
	assert_false(pi.flags & PKT_F_FRAGMENT);
	assert_int_equal(pi.ip_version, 4);
	assert_int_equal(pi.l4_proto, 17);
	assert_int_equal(pi.l4_off, 34);
	assert_int_equal(pi.ip_len, 38);
	assert_int_equal(pi.src_port, 1234);
	assert_int_equal(pi.dst_port, 53);
	assert_int_equal(pi.ttl, 64);
	assert_int_equal(pi.dst_ip[3], 2);

	set16(&p, u + 4, 7); /* UDP length below its header */
	assert_verdict(&p, bad_length);
	set16(&p, u + 4, 19); /* past the datagram */
	assert_verdict(&p, bad_length);
	set16(&p, u + 4, 18);
	set16(&p, ip + 2, 27); /* datagram too short for the UDP header */
	assert_verdict(&p, truncated);
	set16(&p, ip + 2, 19); /* total length below the header's */
	assert_verdict(&p, bad_length);
	set16(&p, ip + 2, (uint16_t)(p.n - ip + 1)); /* past the frame */
	assert_verdict(&p, bad_length);
	set16(&p, ip + 2, 38);
	p.b[ip] = 0x44; /* IHL 4 */
	assert_verdict(&p, bad_length);
	p.b[ip] = 0x65; /* version 6 in an IPv4 EtherType */
	assert_verdict(&p, bad_header);
	p.b[ip] = 0x45;
	p.n = ip + 19; /* IPv4 header cut short */
	assert_verdict(&p, truncated);
}

static void
test_ipv4_tcp_icmp(void **state)
{
	struct pb p = { 0 };
	size_t ip, t;

	(void)state;
	eth(&p, 0x0800);
	ip = ipv4(&p, 6, 0);
	t = tcp(&p, 40000, 80);
	fix_ipv4(&p, ip);
	assert_verdict(&p, ok);
	assert_true(pkt_fast_ok(p.b, p.n, p.n, 0));
	assert_int_equal(pi.l4_len, 20);
	assert_int_equal(pi.tcp_flags, 0x12);
	assert_int_equal(pi.dst_port, 80);
	p.b[t + 12] = 4 << 4; /* data offset 4 */
	assert_verdict(&p, bad_length);
	p.b[t + 12] = 6 << 4; /* options past the datagram */
	assert_verdict(&p, bad_length);
	p.b[t + 12] = 5 << 4;
	p.n -= 1;
	fix_ipv4(&p, ip);
	assert_verdict(&p, truncated);

	p.n = 0;
	eth(&p, 0x0800);
	ip = ipv4(&p, 1, 0);
	put8(&p, 8); /* echo request */
	put8(&p, 0);
	zeros(&p, 6);
	fix_ipv4(&p, ip);
	assert_verdict(&p, ok);
	assert_int_equal(pi.icmp_type, 8);
	p.n -= 1;
	fix_ipv4(&p, ip);
	assert_verdict(&p, truncated);

	/* an upper layer we do not look into (GRE): fine, no ports */
	p.n = 0;
	eth(&p, 0x0800);
	ip = ipv4(&p, 47, 0);
	zeros(&p, 4);
	fix_ipv4(&p, ip);
	assert_verdict(&p, ok);
	assert_false(pi.flags & PKT_F_L4);
	assert_int_equal(pi.l4_proto, 47);
}

static void
test_ipv4_options(void **state)
{
	struct pb p = { 0 };
	size_t ip, u;

	(void)state;
	eth(&p, 0x0800);
	ip = ipv4(&p, 17, 0);
	p.b[ip] = 0x47; /* 8 bytes of options: router alert, NOP, EOL, pad */
	put8(&p, 148);
	put8(&p, 4);
	put16(&p, 0);
	put8(&p, 1);
	put8(&p, 0);
	zeros(&p, 2);
	u = udp(&p, 1, 2);
	fix_udp(&p, u);
	fix_ipv4(&p, ip);
	assert_verdict(&p, l2_only);
	assert_true(pi.flags & PKT_F_IP_OPTIONS);
	assert_true(pi.flags & PKT_F_L4);
	assert_int_equal(pi.l4_off, 42);
	assert_int_equal(pi.dst_port, 2);

	p.b[ip + 21] = 1; /* option length 1 */
	assert_verdict(&p, bad_header);
	p.b[ip + 21] = 9; /* past the option space */
	assert_verdict(&p, bad_header);
	p.b[ip + 21] = 4;
	p.b[ip + 24] = 7; /* an option running past the option space */
	p.b[ip + 25] = 7;
	p.b[ip + 26] = 7;
	p.b[ip + 27] = 7;
	assert_verdict(&p, bad_header);
	p.b[ip] = 0x4f; /* 60-byte header in a shorter datagram */
	assert_verdict(&p, bad_length);
}

static void
test_ipv4_fragments(void **state)
{
	struct pb p = { 0 };
	size_t ip, u;

	(void)state;
	/* first fragment: MF, offset 0, UDP header with the whole length */
	eth(&p, 0x0800);
	ip = ipv4(&p, 17, 0x2000);
	u = udp(&p, 5, 4789);
	zeros(&p, 16);
	set16(&p, u + 4, 1000);
	fix_ipv4(&p, ip);
	assert_string_equal(pkt_verdict_names[parse_flags(&p, PKT_PARSE_VXLAN)], "l2_only");
	assert_true(pi.flags & PKT_F_FRAGMENT);
	assert_false(pi.flags & PKT_F_LATER_FRAG);
	assert_false(pi.flags & PKT_F_VXLAN); /* no decapsulation of a fragment */
	assert_int_equal(pi.dst_port, 4789);

	/* a later fragment: no L4 header */
	set16(&p, ip + 6, 0x2000 | 185);
	assert_verdict(&p, l2_only);
	assert_true(pi.flags & PKT_F_LATER_FRAG);
	assert_int_equal(pi.frag_off, 1480);
	assert_false(pi.flags & PKT_F_L4);

	/* a middle fragment whose payload is not a multiple of 8 */
	p.n -= 1;
	fix_ipv4(&p, ip);
	assert_verdict(&p, bad_fragment);
	/* fine as the last one */
	set16(&p, ip + 6, 185);
	assert_verdict(&p, l2_only);
	/* ending past 65535 */
	set16(&p, ip + 6, 8190);
	assert_verdict(&p, bad_fragment);
	/* RFC 1858: offset 8 of TCP */
	p.b[ip + 9] = 6;
	set16(&p, ip + 6, 1);
	assert_verdict(&p, bad_fragment);
	/* tiny first fragment: TCP header not whole */
	p.n = ip + 20;
	zeros(&p, 16);
	fix_ipv4(&p, ip);
	set16(&p, ip + 6, 0x2000);
	assert_verdict(&p, bad_fragment);
	/* empty fragment with MF */
	p.n = ip + 20;
	fix_ipv4(&p, ip);
	assert_verdict(&p, bad_fragment);
}

static void
test_ipv6(void **state)
{
	struct pb p = { 0 };
	size_t ip, u;

	(void)state;
	eth(&p, 0x86dd);
	ip = ipv6(&p, 17);
	u = udp(&p, 546, 547);
	fix_udp(&p, u);
	fix_ipv6(&p, ip);
	assert_verdict(&p, ok);
	assert_true(pi.flags & PKT_F_IPV6);
	assert_int_equal(pi.ip_version, 6);
	assert_int_equal(pi.l4_off, 54);
	assert_int_equal(pi.ip_len, 48);
	assert_int_equal(pi.dst_port, 547);
	assert_int_equal(pi.ttl, 63);
	assert_int_equal(pi.src_ip[0], 0x20);
	assert_int_equal(pi.dst_ip[15], 0x40 + 31);

	set16(&p, ip + 4, 9); /* payload past the frame */
	assert_verdict(&p, bad_length);
	set16(&p, ip + 4, 0); /* a jumbogram on Ethernet */
	assert_verdict(&p, bad_length);
	set16(&p, ip + 4, 7); /* the UDP header does not fit */
	assert_verdict(&p, truncated);
	fix_ipv6(&p, ip);
	p.b[ip] = 0x40; /* version 4 in an IPv6 EtherType */
	assert_verdict(&p, bad_header);
	p.b[ip] = 0x60;
	p.n = ip + 39;
	assert_verdict(&p, truncated);

	/* nothing follows: payload length 0 is fine */
	p.n = 0;
	eth(&p, 0x86dd);
	ip = ipv6(&p, 59);
	assert_verdict(&p, ok);
	assert_false(pi.flags & PKT_F_L4);

	/* ICMPv6 */
	p.n = 0;
	eth(&p, 0x86dd);
	ip = ipv6(&p, 58);
	put8(&p, 135); /* neighbour solicitation */
	zeros(&p, 3);
	fix_ipv6(&p, ip);
	assert_verdict(&p, ok);
	assert_int_equal(pi.icmp_type, 135);
	p.n -= 1;
	fix_ipv6(&p, ip);
	assert_verdict(&p, truncated);
}

static void
test_ipv6_ext(void **state)
{
	struct pb p = { 0 };
	size_t ip;
	int i;

	(void)state;
	/* hop-by-hop, routing, destination options, AH (12 bytes), TCP */
	eth(&p, 0x86dd);
	ip = ipv6(&p, 0);
	ext8(&p, 43);
	ext8(&p, 60);
	ext8(&p, 51);
	put8(&p, 6);
	put8(&p, 1); /* AH: (1 + 2) * 4 bytes */
	zeros(&p, 10);
	tcp(&p, 22, 40000);
	fix_ipv6(&p, ip);
	assert_verdict(&p, ok);
	assert_true(pi.flags & PKT_F_IPV6_EXT);
	assert_int_equal(pi.l4_proto, 6);
	assert_int_equal(pi.l4_off, 54 + 36);
	assert_int_equal(pi.src_port, 22);

	/* hop-by-hop after another extension header */
	p.b[ip + 40] = 0;
	assert_verdict(&p, bad_header);
	p.b[ip + 40] = 60;
	/* an extension header running past the datagram */
	p.b[ip + 41] = 20;
	assert_verdict(&p, truncated);

	/* more extension headers than we walk: L2 */
	p.n = 0;
	eth(&p, 0x86dd);
	ip = ipv6(&p, 60);
	for (i = 0; i < PKT_IPV6_EXT_MAX; i++)
		ext8(&p, 60);
	udp(&p, 1, 2);
	fix_udp(&p, p.n - 8);
	fix_ipv6(&p, ip);
	assert_verdict(&p, l2_only);
	assert_true(pi.flags & PKT_F_EXT_DEPTH);
	/* exactly PKT_IPV6_EXT_MAX of them is fine */
	p.b[ip + 40 + 8 * (PKT_IPV6_EXT_MAX - 1)] = 17;
	assert_verdict(&p, ok);
	assert_int_equal(pi.dst_port, 2);
}

static void
test_ipv6_fragments(void **state)
{
	struct pb p = { 0 };
	size_t ip, fh;

	(void)state;
	/* first fragment, holding the UDP header */
	eth(&p, 0x86dd);
	ip = ipv6(&p, 44);
	fh = p.n;
	frag6(&p, 17, 0, 1);
	udp(&p, 7, 9);
	zeros(&p, 8);
	set16(&p, fh + 8 + 4, 3000);
	fix_ipv6(&p, ip);
	assert_verdict(&p, l2_only);
	assert_true(pi.flags & PKT_F_FRAGMENT);
	assert_true(pi.flags & PKT_F_L4);
	assert_int_equal(pi.dst_port, 9);

	/* later fragment */
	set16(&p, fh + 2, 100 << 3 | 1);
	assert_verdict(&p, l2_only);
	assert_true(pi.flags & PKT_F_LATER_FRAG);
	assert_int_equal(pi.frag_off, 800);
	assert_int_equal(pi.l4_proto, 17);
	/* ending past 65535 */
	set16(&p, fh + 2, 8190 << 3);
	assert_verdict(&p, bad_fragment);
	/* M set, not a multiple of 8 */
	set16(&p, fh + 2, 100 << 3 | 1);
	p.n -= 3;
	fix_ipv6(&p, ip);
	assert_verdict(&p, bad_fragment);
	p.n += 3;
	fix_ipv6(&p, ip);

	/* atomic fragment (offset 0, no M): a whole datagram */
	set16(&p, fh + 2, 0);
	set16(&p, fh + 8 + 4, 16);
	assert_verdict(&p, ok);
	assert_false(pi.flags & PKT_F_FRAGMENT);

	/* first fragment that ends inside the upper-layer header (RFC 7112) */
	p.n = fh;
	frag6(&p, 6, 0, 1);
	zeros(&p, 8); /* 8 of TCP's 20 */
	fix_ipv6(&p, ip);
	assert_verdict(&p, bad_fragment);

	/* two fragment headers */
	p.n = fh;
	frag6(&p, 44, 0, 1);
	frag6(&p, 17, 0, 1);
	udp(&p, 1, 2);
	fix_ipv6(&p, ip);
	assert_verdict(&p, bad_fragment);

	/* fragment header cut short */
	p.n = fh + 4;
	fix_ipv6(&p, ip);
	assert_verdict(&p, truncated);
}

static size_t
vxlan_frame(struct pb *p, uint8_t flags)
{
	size_t ip, u;

	p->n = 0;
	eth(p, 0x0800);
	ip = ipv4(p, 17, 0);
	u = udp(p, 49152, PKT_VXLAN_PORT);
	vxlan(p, flags, 0x123456);
	eth(p, 0x0806);
	zeros(p, 28);
	fix_udp(p, u);
	fix_ipv4(p, ip);
	return u + 8;
}

static void
test_vxlan(void **state)
{
	struct pb p = { 0 };
	size_t vx;

	(void)state;
	vx = vxlan_frame(&p, 0x08);
	assert_int_equal(parse_flags(&p, PKT_PARSE_VXLAN), PKT_OK);
	/* VXLAN on an uplink is the parser's to check, not the shortcut's */
	assert_false(pkt_fast_ok(p.b, p.n, p.n, PKT_PARSE_VXLAN));
	assert_true(pi.flags & PKT_F_VXLAN);
	assert_int_equal(pi.vni, 0x123456);
	assert_int_equal(pi.inner_off, vx + 8);
	/* the inner frame parses on its own */
	assert_int_equal(
		pkt_parse(p.b + pi.inner_off, p.n - pi.inner_off, p.n - pi.inner_off, 0, &pi),
		PKT_OK);
	assert_int_equal(pi.ethertype, 0x0806);

	/* without PKT_PARSE_VXLAN it is just UDP */
	assert_int_equal(parse(&p), PKT_OK);
	assert_false(pi.flags & PKT_F_VXLAN);

	/* I flag clear */
	vxlan_frame(&p, 0x00);
	assert_int_equal(parse_flags(&p, PKT_PARSE_VXLAN), PKT_DROP_BAD_VXLAN);
	assert_false(pi.flags & PKT_F_VXLAN);
	/* a reserved flag (GPE's P bit) */
	vx = vxlan_frame(&p, 0x0c);
	assert_int_equal(parse_flags(&p, PKT_PARSE_VXLAN), PKT_DROP_BAD_VXLAN);
	/* reserved bytes */
	vxlan_frame(&p, 0x08);
	p.b[vx + 2] = 1;
	assert_int_equal(parse_flags(&p, PKT_PARSE_VXLAN), PKT_DROP_BAD_VXLAN);
	p.b[vx + 2] = 0;
	p.b[vx + 7] = 1;
	assert_int_equal(parse_flags(&p, PKT_PARSE_VXLAN), PKT_DROP_BAD_VXLAN);
	p.b[vx + 7] = 0;
	/* VXLAN header cut short by the UDP length */
	set16(&p, vx - 4, 8 + 7);
	assert_int_equal(parse_flags(&p, PKT_PARSE_VXLAN), PKT_DROP_TRUNCATED);
	/* inner Ethernet cut short */
	set16(&p, vx - 4, 8 + 8 + 13);
	assert_int_equal(parse_flags(&p, PKT_PARSE_VXLAN), PKT_DROP_TRUNCATED);
	set16(&p, vx - 4, 8 + 8 + 14);
	assert_int_equal(parse_flags(&p, PKT_PARSE_VXLAN), PKT_OK);
}

/* Headers beyond the bytes handed over (a segmented frame): L2, not a drop. */
static void
test_beyond(void **state)
{
	struct pb p = { 0 };
	size_t ip;

	(void)state;
	eth(&p, 0x0800);
	ip = ipv4(&p, 6, 0);
	tcp(&p, 1, 2);
	zeros(&p, 1000);
	fix_ipv4(&p, ip);
	assert_int_equal(pkt_parse(p.b, 40, p.n, 0, &pi), PKT_L2_ONLY);
	assert_true(pi.flags & PKT_F_BEYOND);
	assert_int_equal(pkt_parse(p.b, 54, p.n, 0, &pi), PKT_OK);
	/* len > frame_len: taken as len */
	assert_int_equal(pkt_parse(p.b, 54, 20, 0, &pi), PKT_DROP_BAD_LENGTH);
	for (int v = 0; v < PKT_VERDICT_N; v++)
		assert_non_null(pkt_verdict_names[v]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ethernet),       cmocka_unit_test(test_llc),
		cmocka_unit_test(test_vlan),           cmocka_unit_test(test_arp),
		cmocka_unit_test(test_ipv4_udp),       cmocka_unit_test(test_ipv4_tcp_icmp),
		cmocka_unit_test(test_ipv4_options),   cmocka_unit_test(test_ipv4_fragments),
		cmocka_unit_test(test_ipv6),           cmocka_unit_test(test_ipv6_ext),
		cmocka_unit_test(test_ipv6_fragments), cmocka_unit_test(test_vxlan),
		cmocka_unit_test(test_beyond),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
