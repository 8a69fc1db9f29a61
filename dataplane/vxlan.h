/* SPDX-License-Identifier: MIT */
/*
 * vxlan: the switch's VTEP (RFC 7348) on its uplinks.
 *
 * Pure helpers (no EAL, no mbufs; unit tested): the outer headers of an
 * encapsulated frame, the outer UDP source port from the inner flow, ARP
 * for the VTEP's address, and the neighbour table that maps a remote
 * VTEP's IPv4 address to its underlay MAC and the uplink it was seen on.
 *
 * Neighbour table: open addressing on the IPv4 address, one writer (the
 * dataplane's housekeeping thread, or a control thread with it stopped),
 * lock-free readers (workers). A slot's address is written once (release,
 * after its value) and never cleared while the table lives; its value
 * (MAC and port in one 64-bit word) is replaced atomically, so a reader
 * sees a whole old or a whole new value. Remote VTEPs are few (the
 * operator lists them per network): a full table refuses new addresses.
 *
 * Addresses are in network byte order (struct in_addr's s_addr), VNIs and
 * ports in host order.
 */
#ifndef DP_VXLAN_H
#define DP_VXLAN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VX_PORT_DEFAULT 4789 /* RFC 7348, 5: the IANA port */
#define VX_VNI_MAX      0xffffffu
/* Outer Ethernet (14) + IPv4 (20) + UDP (8) + VXLAN (8). */
#define VX_OUTER_LEN 50
/* The outer IP datagram of an inner frame of n bytes (its Ethernet
 * header included) is n + VX_IP_OVERHEAD: 1550 for a 1500-byte inner MTU,
 * which the underlay's MTU must carry (VTEPs do not fragment). */
#define VX_IP_OVERHEAD 36
#define VX_TTL         64
#define VX_NBR_SLOTS   1024
#define VX_ARP_LEN     42 /* Ethernet + ARP for IPv4 over Ethernet */

struct vx_nbr {
	_Atomic uint32_t ip;       /* 0: free */
	_Atomic uint64_t mac_port; /* MAC (48 bits, memory order) | port << 48 */
};

struct vx_nbr_table {
	struct vx_nbr slot[VX_NBR_SLOTS];
	uint32_t count; /* writer's view */
};

/* Writer: insert or update ip -> (mac, port). 0, -EINVAL (ip 0), -ENOSPC. */
int vx_nbr_learn(struct vx_nbr_table *t, uint32_t ip, uint64_t mac48, uint16_t port);
/* Reader: the MAC and port of ip; false if unknown. */
bool vx_nbr_lookup(const struct vx_nbr_table *t, uint32_t ip, uint64_t *mac48, uint16_t *port);

/* What the outer headers carry. */
struct vx_encap {
	uint8_t dst_mac[6]; /* the remote VTEP's underlay MAC */
	uint8_t src_mac[6]; /* the uplink's */
	uint32_t src_ip;    /* our VTEP */
	uint32_t dst_ip;    /* the remote VTEP */
	uint16_t dst_port;  /* UDP port of the VTEPs */
	uint32_t vni;
};

/*
 * Write the VX_OUTER_LEN bytes of outer headers at hdr for an inner frame
 * of inner_len bytes: IPv4 with DF set (RFC 7348, 4.3: VTEPs must not
 * fragment), TTL VX_TTL, identification 0 (RFC 6864: atomic datagrams),
 * header checksum computed; UDP checksum 0 (RFC 7348, 5: allowed over
 * IPv4); VXLAN flags I only. -EMSGSIZE if the outer datagram would exceed
 * 65535 bytes.
 */
int vx_encap_hdr(uint8_t *hdr, const struct vx_encap *e, uint32_t inner_len, uint16_t src_port);

/* RFC 7348, 5: the outer UDP source port is a hash of the inner flow (MACs
 * and EtherType; IPv4/IPv6 addresses and protocol; TCP/UDP/SCTP ports of
 * an unfragmented datagram), in the dynamic range 49152..65535, so that
 * the underlay's ECMP keeps a flow on one path. Reads only inner[0..len). */
uint16_t vx_src_port(const uint8_t *inner, size_t len);

/* The VXLAN header at vx (8 bytes): 0 and the VNI if only the I flag is
 * set and the reserved fields are zero, else -EINVAL (as pkt_parse). */
int vx_hdr_check(const uint8_t *vx, uint32_t *vni);

/* ARP for IPv4 over Ethernet (RFC 826) as the VTEP sees it. */
struct vx_arp {
	uint16_t op; /* 1 request, 2 reply */
	uint8_t sha[6];
	uint32_t spa;
	uint8_t tha[6];
	uint32_t tpa;
};

/* Parse an untagged ARP frame of len bytes; -EINVAL if it is not ARP for
 * IPv4 over Ethernet. */
int vx_arp_parse(const uint8_t *frame, size_t len, struct vx_arp *a);
/* Write a VX_ARP_LEN-byte frame: a broadcast request for tpa from (mac,
 * ip), or (reply) an answer to request q saying ip is at mac. */
void vx_arp_request(uint8_t *frame, const uint8_t mac[6], uint32_t ip, uint32_t tpa);
void vx_arp_reply(uint8_t *frame, const uint8_t mac[6], uint32_t ip, const struct vx_arp *q);

/* An IPv4 address a VTEP may have: not 0.0.0.0/8, loopback, multicast,
 * class E or broadcast. */
bool vx_ip_unicast(uint32_t ip);

#endif
