/* SPDX-License-Identifier: MIT */
/*
 * The XDP program of an AF_XDP uplink (port_ethdev.c loads it through the
 * net_af_xdp PMD's xdp_prog, which inserts its sockets into xsks_map).
 * It steers to the dataplane's socket only the dataplane's traffic and
 * passes everything else to the kernel, so the netdev keeps serving the
 * machine's own (management) traffic:
 *
 *   to a VM's MAC (nv_vm_macs, kept by the dataplane)      -> socket
 *   IPv4 UDP to port 4789 (the overlay: VXLAN)             -> socket
 *   ARP for the dataplane's VTEP address (nv_vtep_ip4)     -> socket
 *   broadcast ARP asking for an address of the netdev
 *   (nv_local_ip4, filled by the dataplane at attach)      -> kernel
 *   other broadcast (ARP for the VMs, DHCP, ...)           -> socket
 *   other multicast (IPv6 neighbour discovery, ...)        -> kernel
 *   anything else (unicast to the netdev's own MAC, ...)   -> kernel
 *
 * One 802.1Q tag is looked through. Bounds are checked before every read
 * (the verifier insists).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define VXLAN_PORT   4789
#define ETH_P_8021Q_ 0x8100

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} xsks_map SEC(".maps");

/* Key: the MAC in its first 6 bytes, the last 2 zero. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u8);
} nv_vm_macs SEC(".maps");

/* Key: an IPv4 address of the netdev, network order. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u8);
} nv_local_ip4 SEC(".maps");

/* Key: the dataplane's VTEP address, network order (the kernel does not
 * have it: ARP replies to it, unicast to the netdev's MAC, are ours). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u8);
} nv_vtep_ip4 SEC(".maps");

struct arp_eth_ip4 {
	__be16 htype, ptype;
	__u8 hlen, plen;
	__be16 op;
	__u8 sha[6];
	__u8 spa[4];
	__u8 tha[6];
	__u8 tpa[4];
} __attribute__((packed));

static __always_inline int
to_socket(struct xdp_md *ctx)
{
	return bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS);
}

SEC("xdp")
int
nv_uplink_steer(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	void *l3 = eth + 1;
	__u64 key = 0;
	__be16 proto;

	if ((void *)(eth + 1) > end)
		return XDP_PASS;
	proto = eth->h_proto;
	if (proto == bpf_htons(ETH_P_8021Q_)) {
		__be16 *inner = l3;

		if ((void *)(inner + 2) > end)
			return XDP_PASS;
		proto = inner[1];
		l3 = inner + 2;
	}
	__builtin_memcpy(&key, eth->h_dest, 6);
	if (eth->h_dest[0] & 1) {
		if (key != 0xffffffffffffull)
			return XDP_PASS; /* multicast: the kernel's */
		if (proto == bpf_htons(ETH_P_ARP)) {
			struct arp_eth_ip4 *arp = l3;
			__u32 tpa;

			if ((void *)(arp + 1) > end)
				return XDP_PASS;
			__builtin_memcpy(&tpa, arp->tpa, 4);
			if (bpf_map_lookup_elem(&nv_local_ip4, &tpa) != NULL)
				return XDP_PASS;
		}
		return to_socket(ctx);
	}
	if (bpf_map_lookup_elem(&nv_vm_macs, &key) != NULL)
		return to_socket(ctx);
	if (proto == bpf_htons(ETH_P_ARP)) {
		struct arp_eth_ip4 *arp = l3;
		__u32 tpa;

		if ((void *)(arp + 1) > end)
			return XDP_PASS;
		__builtin_memcpy(&tpa, arp->tpa, 4);
		return bpf_map_lookup_elem(&nv_vtep_ip4, &tpa) != NULL ? to_socket(ctx) : XDP_PASS;
	}
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = l3;
		struct udphdr *udp;

		if ((void *)(ip + 1) > end || ip->protocol != IPPROTO_UDP)
			return XDP_PASS;
		udp = (void *)ip + ip->ihl * 4;
		if ((void *)(udp + 1) > end)
			return XDP_PASS;
		if (udp->dest == bpf_htons(VXLAN_PORT))
			return to_socket(ctx);
	}
	return XDP_PASS;
}

char _license[] SEC("license") = "Dual MIT/GPL";
