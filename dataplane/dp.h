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
	bool no_flow_cache;      /* every decision from the slow path (comparisons, debugging) */
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

/*
 * Rate limits of a port (QoS), in the switch's terms like the counters:
 * rx is what the port's peer sends into the switch (a VM's transmit), tx
 * what the switch sends out of the port (a VM's receive). Enforced with
 * DPDK's rte_meter: an srTCM, colour blind, committed rate = the limit,
 * committed burst = burst_bytes, excess burst 0 (so one token bucket);
 * frames that are not green are dropped and counted as rate_limited. A
 * frame costs its length as the switch sees it (Ethernet header to the end
 * of the payload, no FCS, no preamble; a TSO frame its whole length before
 * segmentation; an uplink's 802.1Q tag after it is pushed). Each limit is
 * one bucket per port and direction, shared by the port's queues and the
 * workers (docs/architecture.md, "QoS").
 */
#define DP_QOS_MIN_RATE  8000ull          /* bits per second: 1 kB/s */
#define DP_QOS_MAX_RATE  1000000000000ull /* 1 Tbit/s */
#define DP_QOS_MIN_BURST 131072ull        /* two 64 KiB TSO frames */
#define DP_QOS_MAX_BURST (1ull << 32)     /* 4 GiB */
#define DP_QOS_BURST_MS  10               /* default burst: the rate for this long */
struct dp_qos_limit {
	uint64_t bits_per_second; /* 0: none; else DP_QOS_MIN_RATE..DP_QOS_MAX_RATE */
	uint64_t burst_bytes;     /* 0: default (dp_qos_burst()); else MIN..MAX_BURST */
};
struct dp_qos {
	struct dp_qos_limit rx; /* into the switch from the port (a VM sends) */
	struct dp_qos_limit tx; /* out of the switch to the port (a VM receives) */
};

/* Whether l is acceptable: 0, or -EINVAL with what is wrong in err,
 * naming the field "bits_per_second" or "burst_bytes". Pure. */
int dp_qos_check(const struct dp_qos_limit *l, char *err, size_t errlen);
/* The burst l gets: burst_bytes, or with 0 the rate for DP_QOS_BURST_MS
 * and at least DP_QOS_MIN_BURST. Pure. */
uint64_t dp_qos_burst(const struct dp_qos_limit *l);

/* Set (or with zero rates clear) a port's limits, in force for the next
 * burst; other ports and the port's other direction are not disturbed
 * (a changed direction starts with a full bucket). */
int dp_port_qos_set(struct dp *dp, const char *port, const struct dp_qos *q, char *err,
		    size_t errlen);

/*
 * Mirroring: a session copies the frames of a source port to a
 * destination port (another VM port or an uplink), as the source port
 * sees them: DP_MIRROR_RX the frames it receives from its peer (after its
 * rx limit), DP_MIRROR_TX the frames the switch sends out of it (after its
 * tx limit). The original frames are not changed or delayed. Copies go to
 * the destination as they are (no tag pushed, no offload finished: a copy
 * with offloads the destination did not negotiate is dropped and counted),
 * are never mirrored again (no loops) and are not limited by the
 * destination's rate limits; they are counted by their session, not in
 * the destination's port counters. Deleting either port deletes the
 * session. At most DP_MAX_MIRRORS sessions, DP_MIRRORS_PER_PORT per
 * source port.
 */
#define DP_MIRROR_RX        1u
#define DP_MIRROR_TX        2u
#define DP_MAX_MIRRORS      64
#define DP_MIRRORS_PER_PORT 4
int dp_mirror_add(struct dp *dp, const char *name, const char *src, unsigned int dir,
		  const char *dst, char *err, size_t errlen);
int dp_mirror_del(struct dp *dp, const char *name, char *err, size_t errlen);

struct dp_mirror_stats {
	char name[64];
	char src[64];
	char dst[64];
	unsigned int dir; /* DP_MIRROR_* */
	uint64_t packets; /* copies handed to the destination */
	uint64_t bytes;
	uint64_t drops;     /* copies the destination did not take (full, down) */
	uint64_t no_buffer; /* copies that could not be made (pool dry) */
};
/* One session (name != NULL; -ENOENT) or all, up to max; returns how many. */
int dp_mirror_stats(struct dp *dp, const char *name, struct dp_mirror_stats *out, unsigned int max);

/*
 * Security groups (docs/architecture.md, "Security groups"): a VM port's
 * stateful filter (an access port's too, for its stations: "ingress" is
 * what the switch sends them, "egress" what they send; not uplinks). Ingress rules judge what the
 * switch sends to the VM, egress rules what the VM sends; within a direction the first rule that
 * matches decides, and a frame no rule matches gets the direction's
 * default action. A frame that a rule allows opens a connection (5-tuple,
 * both directions, its timeout by protocol and TCP state); later frames
 * of that connection in either direction pass without the rules. IPv4
 * only: ARP always passes; IPv6, tagged, fragmented (later fragments) and
 * other frames get the default action. A denied frame is dropped and
 * counted as security_group. Ports without a policy are not filtered.
 */
#define DP_SG_MAX_RULES  1000 /* per direction */
#define DP_SG_PROTO_ANY  (-1)
#define DP_SG_CT_ENTRIES 65536 /* connections, all ports together */
struct dp_sg_rule {
	bool deny;            /* false: allow (and open a connection) */
	int16_t proto;        /* DP_SG_PROTO_ANY or an IP protocol 0..255 */
	uint32_t remote_ip;   /* network order, host bits zero */
	uint8_t prefix_len;   /* 0..32 (0: any address) */
	uint16_t port_lo;     /* destination ports (TCP, UDP): 0..65535 */
	uint16_t port_hi;     /* lo <= hi; 0-65535 is any */
	uint16_t src_port_lo; /* source ports, as the destination ones */
	uint16_t src_port_hi;
};
struct dp_sg_policy {
	bool ingress_deny; /* default action to the VM: drop (else allow) */
	bool egress_deny;  /* default action from the VM */
	unsigned int n_ingress, n_egress;
	const struct dp_sg_rule *ingress;
	const struct dp_sg_rule *egress;
};
/* Whether r is acceptable: 0, or -EINVAL with what is wrong in err,
 * naming the field (proto, remote_ip, prefix_len, port_lo, port_hi,
 * src_port_lo, src_port_hi). Ports only with TCP or UDP. Pure. */
int dp_sg_rule_check(const struct dp_sg_rule *r, char *err, size_t errlen);
/* Replace a VM port's policy (NULL: none), in force for the next burst;
 * other ports are not disturbed and connections stay open (the new rules
 * judge new connections). Rule counters start again at 0. */
int dp_port_sg_set(struct dp *dp, const char *port, const struct dp_sg_policy *pol, char *err,
		   size_t errlen);
/* Connection timeouts in milliseconds (each 1..86400000; 0 keeps one). */
struct dp_sg_timeouts {
	uint32_t tcp_syn_ms;         /* opened, no reply yet (default 30 s) */
	uint32_t tcp_established_ms; /* replied (default 2 h) */
	uint32_t tcp_closing_ms;     /* FIN or RST seen (default 10 s) */
	uint32_t other_ms;           /* UDP, ICMP, other protocols (default 30 s) */
};
int dp_sg_timeouts_set(struct dp *dp, const struct dp_sg_timeouts *t, char *err, size_t errlen);
struct dp_sg_rule_stats {
	uint64_t packets, bytes; /* frames the rule decided */
};
struct dp_sg_stats {
	bool enabled; /* the port has a policy */
	bool ingress_deny, egress_deny;
	unsigned int n_ingress, n_egress;
	/* [0] ingress, [1] egress: frames no rule matched, by default action */
	uint64_t default_allowed[2], default_denied[2];
	uint64_t ct_hits;    /* frames passed as part of an open connection */
	uint64_t ct_created; /* connections this port opened */
	uint64_t ct_full;    /* allowed frames that found the table full (passed, none opened) */
	uint64_t ct_entries; /* open connections of the port now */
};
/* A VM port's policy counters; rules' counters into ingress[0..max_in)
 * and egress[0..max_eg) (either may be NULL). -ENOENT without the port,
 * -EINVAL if it is an uplink. */
int dp_port_sg_stats(struct dp *dp, const char *port, struct dp_sg_stats *st,
		     struct dp_sg_rule_stats *ingress, unsigned int max_in,
		     struct dp_sg_rule_stats *egress, unsigned int max_eg);
/* The rules in force (copied into in[0..max_in), eg[0..max_eg)); returns
 * 0 with *pol filled (its arrays point to in and eg), -ENOENT. */
int dp_port_sg_get(struct dp *dp, const char *port, struct dp_sg_policy *pol, struct dp_sg_rule *in,
		   unsigned int max_in, struct dp_sg_rule *eg, unsigned int max_eg);

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
	struct dp_qos qos; /* the limits in force (burst: as applied) */
	unsigned int ndrops;
	struct {
		/* no_buffer, queue_full, spoofed_src_mac, no_network,
		 * bad_descriptor, broken_queue, link_down, malformed (an offload
		 * we cannot finish), and for headers that contradict themselves:
		 * truncated, bad_length, bad_header, bad_fragment, bad_vxlan;
		 * overlay: unknown_vni (no network has it), vtep_unresolved
		 * (the remote VTEP's MAC is not known yet: ARP asked),
		 * too_big (the encapsulated frame exceeds the uplink's MTU);
		 * rate_limited (over a QoS limit); security_group (a
		 * security group denied it) */
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
	uint64_t idle_cycles;     /* TSC cycles of rounds that found none (not sleeping) */
	uint64_t flow_hits;       /* frames switched by its flow cache's decision */
	uint64_t flow_misses;     /* decisions it had to look up (then cached) */
	uint64_t blk_requests;    /* block requests it completed (blk.h) */
	uint64_t blk_busy_cycles; /* TSC cycles of its rounds that did block work */
	uint64_t tsc_hz;
};

/* Stats of every worker, up to max; returns how many. */
int dp_worker_stats(struct dp *dp, struct dp_worker_stats *out, unsigned int max);

#endif
