/* SPDX-License-Identifier: MIT */
/* Unit tests: the VTEP helpers (dataplane/vxlan.c): outer headers, the
 * flow hash of the outer source port, the VXLAN header check, ARP for the
 * VTEP and the neighbour table of remote VTEPs. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pkt_parse.h"
#include "vxlan.h"

static uint32_t
ip4(const char *s)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a.s_addr;
}

/* RFC 1071 over the IPv4 header: 0 when the checksum is right. */
static uint16_t
sum16(const uint8_t *p, size_t n)
{
	uint32_t s = 0;
	size_t i;

	for (i = 0; i < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* An inner IPv4/UDP frame with the given ports and id (the id is not part
 * of the flow). */
static size_t
inner_udp(uint8_t *f, uint16_t sport, uint16_t dport, uint16_t id)
{
	static const uint8_t eth[14] = { 0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00 };
	uint8_t *ip = f + 14, *udp = ip + 20;

	memset(f, 0, 64);
	memcpy(f, eth, 14);
	ip[0] = 0x45;
	ip[3] = 50;
	ip[4] = (uint8_t)(id >> 8);
	ip[5] = (uint8_t)id;
	ip[8] = 64;
	ip[9] = 17;
	memcpy(ip + 12, (uint8_t[]){ 10, 0, 0, 1 }, 4);
	memcpy(ip + 16, (uint8_t[]){ 10, 0, 0, 2 }, 4);
	udp[0] = (uint8_t)(sport >> 8);
	udp[1] = (uint8_t)sport;
	udp[2] = (uint8_t)(dport >> 8);
	udp[3] = (uint8_t)dport;
	return 64;
}

static void
test_encap_headers_parse_back(void **state)
{
	struct vx_encap e = {
		.dst_mac = { 0x02, 0xbb, 0, 0, 0, 2 },
		.src_mac = { 0x02, 0xaa, 0, 0, 0, 1 },
		.src_ip = ip4("192.0.2.1"),
		.dst_ip = ip4("192.0.2.2"),
		.dst_port = VX_PORT_DEFAULT,
		.vni = 0xabcdef,
	};
	uint8_t frame[VX_OUTER_LEN + 64];
	struct pkt_info pi;
	const uint8_t *ip = frame + 14, *udp = frame + 34, *vx = frame + 42;

	(void)state;
	inner_udp(frame + VX_OUTER_LEN, 1000, 2000, 1);
	assert_int_equal(vx_encap_hdr(frame, &e, 64, 50000), 0);
	assert_memory_equal(frame, e.dst_mac, 6);
	assert_memory_equal(frame + 6, e.src_mac, 6);
	assert_int_equal(frame[12] << 8 | frame[13], 0x0800);
	assert_int_equal(ip[0], 0x45);
	assert_int_equal(ip[2] << 8 | ip[3], 64 + VX_IP_OVERHEAD);
	assert_int_equal(ip[6] << 8 | ip[7], 0x4000); /* DF, no fragment */
	assert_int_equal(ip[8], VX_TTL);
	assert_int_equal(ip[9], 17);
	assert_int_equal(sum16(ip, 20), 0);
	assert_memory_equal(ip + 12, &e.src_ip, 4);
	assert_memory_equal(ip + 16, &e.dst_ip, 4);
	assert_int_equal(udp[0] << 8 | udp[1], 50000);
	assert_int_equal(udp[2] << 8 | udp[3], 4789);
	assert_int_equal(udp[4] << 8 | udp[5], 64 + 16);
	assert_int_equal(udp[6] << 8 | udp[7], 0);
	assert_int_equal(vx[0], 0x08);
	/* The switch's own parser accepts what the encapsulation makes. */
	assert_int_equal(pkt_parse(frame, sizeof(frame), sizeof(frame), PKT_PARSE_VXLAN, &pi),
			 PKT_OK);
	assert_true(pi.flags & PKT_F_VXLAN);
	assert_int_equal(pi.vni, 0xabcdef);
	assert_int_equal(pi.inner_off, VX_OUTER_LEN);
	/* An outer datagram past 65535 bytes is refused. */
	assert_int_equal(vx_encap_hdr(frame, &e, 65535 - VX_IP_OVERHEAD + 1, 1), -EMSGSIZE);
	assert_int_equal(vx_encap_hdr(frame, &e, 65535 - VX_IP_OVERHEAD, 1), 0);
}

static void
test_src_port_follows_the_flow(void **state)
{
	uint8_t a[64], b[64];
	uint16_t p1, p2;
	unsigned int i, distinct = 0;
	uint16_t seen[64];

	(void)state;
	inner_udp(a, 1000, 2000, 1);
	inner_udp(b, 1000, 2000, 99); /* same flow, another IP id */
	p1 = vx_src_port(a, sizeof(a));
	p2 = vx_src_port(b, sizeof(b));
	assert_int_equal(p1, p2);
	assert_true(p1 >= 49152);
	/* Other ports: other flows, spread over the range. */
	for (i = 0; i < 64; i++) {
		unsigned int j;

		inner_udp(b, (uint16_t)(1000 + i), 2000, 1);
		seen[i] = vx_src_port(b, sizeof(b));
		assert_true(seen[i] >= 49152);
		for (j = 0; j < i && seen[j] != seen[i]; j++)
			;
		distinct += j == i;
	}
	assert_true(distinct > 48);
	/* A fragment hashes without ports (its later fragments have none). */
	inner_udp(a, 1000, 2000, 1);
	inner_udp(b, 3000, 4000, 1);
	a[14 + 6] = b[14 + 6] = 0x20; /* MF */
	assert_int_equal(vx_src_port(a, sizeof(a)), vx_src_port(b, sizeof(b)));
	/* Short or odd frames never read past their end. */
	assert_true(vx_src_port(a, 10) >= 49152);
	assert_true(vx_src_port(a, 14 + 19) >= 49152);
	assert_true(vx_src_port(a, 14 + 22) >= 49152);
}

static void
test_vxlan_header_check(void **state)
{
	uint8_t vx[8] = { 0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0 };
	uint32_t vni = 0;

	(void)state;
	assert_int_equal(vx_hdr_check(vx, &vni), 0);
	assert_int_equal(vni, 0x123456);
	vx[0] = 0x0c; /* a reserved flag (GPE's) */
	assert_int_equal(vx_hdr_check(vx, &vni), -EINVAL);
	vx[0] = 0x00; /* I clear */
	assert_int_equal(vx_hdr_check(vx, &vni), -EINVAL);
	vx[0] = 0x08;
	vx[7] = 1; /* reserved byte */
	assert_int_equal(vx_hdr_check(vx, &vni), -EINVAL);
	vx[7] = 0;
	vx[2] = 0x80; /* GBP's policy id */
	assert_int_equal(vx_hdr_check(vx, &vni), -EINVAL);
}

static void
test_arp_request_and_reply(void **state)
{
	static const uint8_t me[6] = { 0x02, 0xaa, 0, 0, 0, 1 },
			     peer[6] = { 0x02, 0xbb, 0, 0, 0, 2 };
	uint8_t req[VX_ARP_LEN], rep[VX_ARP_LEN];
	struct vx_arp a, r;

	(void)state;
	vx_arp_request(req, peer, ip4("192.0.2.2"), ip4("192.0.2.1"));
	assert_memory_equal(req, "\xff\xff\xff\xff\xff\xff", 6);
	assert_int_equal(vx_arp_parse(req, sizeof(req), &a), 0);
	assert_int_equal(a.op, 1);
	assert_memory_equal(a.sha, peer, 6);
	assert_int_equal(a.spa, ip4("192.0.2.2"));
	assert_int_equal(a.tpa, ip4("192.0.2.1"));
	vx_arp_reply(rep, me, ip4("192.0.2.1"), &a);
	assert_memory_equal(rep, peer, 6);
	assert_memory_equal(rep + 6, me, 6);
	assert_int_equal(vx_arp_parse(rep, sizeof(rep), &r), 0);
	assert_int_equal(r.op, 2);
	assert_memory_equal(r.sha, me, 6);
	assert_int_equal(r.spa, ip4("192.0.2.1"));
	assert_memory_equal(r.tha, peer, 6);
	assert_int_equal(r.tpa, ip4("192.0.2.2"));
	/* Not ARP for IPv4 over Ethernet, or short: refused. */
	assert_int_equal(vx_arp_parse(req, VX_ARP_LEN - 1, &a), -EINVAL);
	req[14 + 5] = 16; /* plen */
	assert_int_equal(vx_arp_parse(req, sizeof(req), &a), -EINVAL);
	req[14 + 5] = 4;
	req[13] = 0x00; /* EtherType 0x0800 */
	assert_int_equal(vx_arp_parse(req, sizeof(req), &a), -EINVAL);
}

static void
test_neighbour_table(void **state)
{
	static struct vx_nbr_table t;
	uint64_t mac = 0;
	uint16_t port = 0;
	uint32_t i;

	(void)state;
	memset(&t, 0, sizeof(t));
	assert_false(vx_nbr_lookup(&t, ip4("192.0.2.9"), &mac, &port));
	assert_int_equal(vx_nbr_learn(&t, 0, 1, 1), -EINVAL);
	assert_int_equal(vx_nbr_learn(&t, ip4("192.0.2.9"), 0x0000bbbbbbbbbb02ull, 3), 0);
	assert_true(vx_nbr_lookup(&t, ip4("192.0.2.9"), &mac, &port));
	assert_int_equal(mac, 0x0000bbbbbbbbbb02ull);
	assert_int_equal(port, 3);
	/* Moves (another MAC, another uplink) replace the value in place. */
	assert_int_equal(vx_nbr_learn(&t, ip4("192.0.2.9"), 0x0000cccccccccc02ull, 4), 0);
	assert_true(vx_nbr_lookup(&t, ip4("192.0.2.9"), &mac, &port));
	assert_int_equal(mac, 0x0000cccccccccc02ull);
	assert_int_equal(port, 4);
	assert_int_equal(t.count, 1);
	/* Fill it: every address is found, then a new one is refused. */
	for (i = 1; t.count < VX_NBR_SLOTS; i++)
		assert_int_equal(vx_nbr_learn(&t, htonl(0x0a000000u + i), i, (uint16_t)i), 0);
	assert_int_equal(vx_nbr_learn(&t, htonl(0x0b000001u), 1, 1), -ENOSPC);
	for (i = 1; i < VX_NBR_SLOTS; i++) {
		assert_true(vx_nbr_lookup(&t, htonl(0x0a000000u + i), &mac, &port));
		assert_int_equal(mac, i);
	}
	assert_false(vx_nbr_lookup(&t, htonl(0x0b000001u), &mac, &port));
	/* A known address is still updated in a full table. */
	assert_int_equal(vx_nbr_learn(&t, ip4("192.0.2.9"), 7, 7), 0);
}

static void
test_unicast_addresses(void **state)
{
	(void)state;
	assert_true(vx_ip_unicast(ip4("192.0.2.1")));
	assert_true(vx_ip_unicast(ip4("10.0.0.1")));
	assert_false(vx_ip_unicast(ip4("0.0.0.0")));
	assert_false(vx_ip_unicast(ip4("0.1.2.3")));
	assert_false(vx_ip_unicast(ip4("127.0.0.1")));
	assert_false(vx_ip_unicast(ip4("224.0.0.1")));
	assert_false(vx_ip_unicast(ip4("240.0.0.1")));
	assert_false(vx_ip_unicast(ip4("255.255.255.255")));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encap_headers_parse_back),
		cmocka_unit_test(test_src_port_follows_the_flow),
		cmocka_unit_test(test_vxlan_header_check),
		cmocka_unit_test(test_arp_request_and_reply),
		cmocka_unit_test(test_neighbour_table),
		cmocka_unit_test(test_unicast_addresses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
