/* SPDX-License-Identifier: MIT */
/*
 * dp: the DPU virtual switch (DPDK), programmed by the agent.
 *
 * Ports are VM NICs (vhost-user: the dataplane listens on a socket, the
 * host's virtio-net frontend connects) and uplinks (ethdevs by devargs:
 * net_af_packet, net_tap, net_memif here; mlx5 on BlueField) and access
 * ports (ethdevs by devargs on one network, untagged: a segment of
 * stations, e.g. a packet generator's links or a local appliance).
 * Networks are logical L2 domains: MAC learning and aging, broadcast and
 * unknown unicast flooded within the network only, an 802.1Q tag on
 * uplinks, or for overlay networks VXLAN between this DPU's VTEP and
 * others'. A VM port only sends with its own MAC (others are dropped and
 * counted); uplinks and access ports learn their stations' MACs.
 *
 * Threads: every function here is called from control threads (any, one
 * at a time or concurrently: the dataplane serialises them) and never
 * from a worker. Workers are DPDK lcores that poll their ports, read the
 * tables without locks, and see updates through RCU (rte_rcu_qsbr).
 * Errors are negative errno values with a reason in err (if not NULL).
 * Names (networks, ports) are 1..63 of [A-Za-z0-9._-], not starting with
 * '.': a port's name is its socket's file name.
 */
#ifndef DP_H
#define DP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dp;

struct dp_conf {
	unsigned int workers; /* forwarding lcores, 1..16 */
	/* CPUs for the main lcore and the workers, in that order, e.g. "0-1";
	 * reused round robin when fewer than workers + 1. NULL: the process's
	 * own CPUs. */
	const char *cpus;
	bool no_huge;            /* development: no hugepages (--no-huge, --no-pci) */
	unsigned int mem_mb;     /* with no_huge: memory for mbufs etc.; 0: 512 */
	const char *huge_dir;    /* hugetlbfs mount; NULL: memfd hugepages (--in-memory) */
	const char *file_prefix; /* EAL --file-prefix; unique per process on a machine */
	const char *vhost_dir;   /* existing directory where vhost-user sockets are created */
	const char *eal_extra;   /* more EAL arguments, space separated (may be NULL) */
	bool idle_sleep;         /* workers sleep (10 us .. 1 ms) when idle (development, tests) */
};

/* Once per process (DPDK's EAL cannot be initialised twice): a second call
 * fails with -EALREADY, also after dp_close(). The caller's CPU affinity is
 * kept. */
int dp_open(const struct dp_conf *conf, struct dp **out, char *err, size_t errlen);
void dp_close(struct dp *dp); /* accepts NULL; removes its sockets */

/* Networks. vlan 0: untagged on uplinks; 1..4094: tagged. A VLAN belongs
 * to one network (-EEXIST otherwise); at most 256 networks. */
int dp_network_add(struct dp *dp, const char *name, uint16_t vlan, char *err, size_t errlen);
int dp_network_del(struct dp *dp, const char *name, char *err, size_t errlen); /* -EBUSY if used */

/*
 * Overlay networks (VXLAN, RFC 7348; docs/architecture.md, "Overlay").
 * A network with a VNI (1..16777215, one network per VNI) has no VLAN: its
 * frames leave the uplinks encapsulated in IPv4/UDP to the remote VTEP
 * that learned the destination MAC, and are flooded (broadcast, unknown
 * unicast) to each of its remote VTEPs (head-end replication), at most
 * DP_NET_MAX_VTEPS. Addresses are IPv4 in network byte order (s_addr),
 * unicast, not repeated; our own VTEP's is skipped. set_vteps replaces a
 * VNI network's list.
 */
#define DP_NET_MAX_VTEPS 16
int dp_network_add_vxlan(struct dp *dp, const char *name, uint32_t vni, const uint32_t *vteps,
			 unsigned int nvteps, char *err, size_t errlen);
int dp_network_set_vteps(struct dp *dp, const char *name, const uint32_t *vteps,
			 unsigned int nvteps, char *err, size_t errlen);
/* This DPU's VTEP: its underlay IPv4 address on the uplinks (network byte
 * order; 0 turns the overlay off) and UDP port (0: 4789). The dataplane
 * answers ARP for the address on the uplinks and resolves remote VTEPs'
 * MACs by ARP; the underlay is one L2 segment (no IP routing). */
int dp_vtep_set(struct dp *dp, uint32_t ip, uint16_t udp_port, char *err, size_t errlen);

/*
 * A VM NIC on `network`: creates the vhost-user server socket
 * <vhost_dir>/<port>.sock and returns its path. The frontend may connect,
 * disconnect and reconnect at any time; the port keeps its counters.
 * queue_pairs: 1..8, the most the frontend may enable. The MAC must be
 * unicast; frames from the port with another source MAC are dropped.
 * Offered: mergeable rx buffers, checksum offload both ways, host TSO4,
 * guest TSO4/6, multiqueue, event idx, indirect descriptors (split rings).
 */
int dp_vhost_port_add(struct dp *dp, const char *port, const char *network, const uint8_t mac[6],
		      unsigned int queue_pairs, char *socket_path, size_t path_len, char *err,
		      size_t errlen);

/* An uplink ethdev by devargs (e.g. "net_af_packet0,iface=veth0"),
 * attached at runtime (rte_dev_probe); it carries every network, tagged
 * by its VLAN. Uplinks do not forward to each other. At most 8. */
int dp_uplink_add(struct dp *dp, const char *port, const char *devargs, char *err, size_t errlen);

/* An access port: an ethdev by devargs (e.g. "net_memif0,role=server,
 * socket=/run/x.sock") on one network, untagged. Source MACs are learned
 * (a VM port's MAC stays the VM's); frames go to any port of the network
 * (VM ports, other access ports, the uplinks tagged with its VLAN). */
int dp_access_port_add(struct dp *dp, const char *port, const char *network, const char *devargs,
		       char *err, size_t errlen);

int dp_port_del(struct dp *dp, const char *port, char *err, size_t errlen);

#define DP_DROP_REASONS 24
struct dp_port_stats {
	char port[64];
	char kind[8];     /* "vhost", "uplink", "access" */
	char network[64]; /* vhost and access ports */
	uint8_t mac[6];
	bool link_up;
	unsigned int queues_broken; /* vhost: virtqueues marked broken (bad descriptors) */
	uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes;
	/* Received frames forwarded as L2 only: valid, but not for L3/L4
	 * features (IP options, fragments, QinQ, deep IPv6 extension headers) */
	uint64_t rx_l2_only;
	/* uplinks: frames sent encapsulated (VXLAN), received decapsulated */
	uint64_t vxlan_encap, vxlan_decap;
	unsigned int ndrops;
	struct {
		/* no_buffer, queue_full, spoofed_src_mac, no_network,
		 * bad_descriptor, broken_queue, link_down, malformed (an offload
		 * we cannot finish), and for headers that contradict themselves:
		 * truncated, bad_length, bad_header, bad_fragment, bad_vxlan;
		 * overlay: unknown_vni (no network has it), vtep_unresolved
		 * (the remote VTEP's MAC is not known yet: ARP asked),
		 * too_big (the encapsulated frame exceeds the uplink's MTU) */
		char reason[32];
		uint64_t count;
	} drops[DP_DROP_REASONS];
};

/* Stats of one port (port != NULL) or of all, up to max; returns how many. */
int dp_port_stats(struct dp *dp, const char *port, struct dp_port_stats *out, unsigned int max);

/* Worker load: cycles spent in rounds that moved packets, for per-core
 * figures (benchmarks) and for the operator. */
struct dp_worker_stats {
	unsigned int lcore;
	uint64_t packets;         /* received and switched */
	uint64_t busy_cycles;     /* TSC cycles of polling rounds that received packets */
	uint64_t blk_requests;    /* block requests it completed (blk.h) */
	uint64_t blk_busy_cycles; /* TSC cycles of its rounds that did block work */
	uint64_t tsc_hz;
};

/* Stats of every worker, up to max; returns how many. */
int dp_worker_stats(struct dp *dp, struct dp_worker_stats *out, unsigned int max);

#endif
