/* SPDX-License-Identifier: MIT */
/*
 * dp internals shared by the dataplane's parts: the port interface, the
 * forwarding snapshot the workers read, counters and the dataplane object.
 *
 * Threads: "control" is any thread inside a dp_* call (serialised by
 * dp->lock); "vhost" is rte_vhost's event thread (device callbacks);
 * "housekeeping" is the dataplane's own thread (learning, aging,
 * reclamation); "worker" is a forwarding lcore. Workers never take a lock
 * other than a shared ethdev tx queue's (per burst, only when an uplink
 * has fewer tx queues than there are workers).
 */
#ifndef DP_PRIV_H
#define DP_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <rte_common.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>
#include <rte_spinlock.h>

#include "dp.h"
#include "l2_table.h"
#include "vxlan.h"

#define DP_MAX_PORTS   256 /* port ids 0..255, also the flood bitmap width */
#define DP_PORT_WORDS  (DP_MAX_PORTS / 64)
#define DP_MAX_NETS    256
#define DP_MAX_UPLINKS 8
#define DP_MAX_WORKERS 16
#define DP_MAX_QPAIRS  8 /* queue pairs of one port */
#define DP_MAX_POLLS   (DP_MAX_PORTS * 2)
#define DP_BURST       32
#define DP_NET_NONE    0xffffu
#define DP_VLAN_COUNT  4096
#define DP_L2_CAPACITY 65536
#define DP_L2_TTL_S    300 /* MAC aging, seconds */

extern int dp_logtype;
#define DP_LOG(level, ...) rte_log(RTE_LOG_##level, dp_logtype, "dp: " __VA_ARGS__)

/* Why a packet was dropped (index into counters and the names below). */
enum dp_drop {
	DP_DROP_NO_BUFFER,       /* no mbuf for a copy, or the pool ran dry */
	DP_DROP_QUEUE_FULL,      /* the output queue took fewer than offered */
	DP_DROP_SPOOFED_SRC_MAC, /* a VM port sent with a MAC not its own */
	DP_DROP_NO_NETWORK,      /* uplink frame on a VLAN no network uses */
	DP_DROP_BAD_DESCRIPTOR,  /* descriptors a guest posted that could not be used */
	DP_DROP_BROKEN_QUEUE,    /* packets for a queue marked broken */
	DP_DROP_LINK_DOWN,       /* output port has no peer (frontend not connected) */
	DP_DROP_MALFORMED,       /* an offload we cannot finish */
	/* Headers that contradict themselves (pkt_parse.h; the policy is in
	 * docs/architecture.md, "Malformed packets"). */
	DP_DROP_TRUNCATED,    /* the frame ends inside a header (runts too) */
	DP_DROP_BAD_LENGTH,   /* a length field below its header or past the frame */
	DP_DROP_BAD_HEADER,   /* IP version, IPv4 options, extension header order */
	DP_DROP_BAD_FRAGMENT, /* a fragment reassembly must reject */
	DP_DROP_BAD_VXLAN,    /* VXLAN flags (uplinks) */
	/* The overlay (vxlan.h, dp_vxlan.c). */
	DP_DROP_UNKNOWN_VNI,     /* VXLAN to our VTEP with a VNI no network has */
	DP_DROP_VTEP_UNRESOLVED, /* the remote VTEP's underlay MAC is unknown (ARP asked) */
	DP_DROP_TOO_BIG,         /* encapsulated, the frame exceeds the uplink's MTU */
	DP_DROP_RATE_LIMITED,    /* over the port's QoS limit (qos.c) */
	DP_DROP_SECURITY_GROUP,  /* denied by the port's security group (sg.c) */
	DP_DROP_N,
};
_Static_assert(DP_DROP_N <= DP_DROP_REASONS, "dp.h has room for every drop reason");
extern const char *const dp_drop_names[DP_DROP_N];

/* Counters of one port as written by one thread (a worker or the
 * control/vhost side): single writer, plain stores, summed by readers. */
struct dp_port_counters {
	uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes;
	uint64_t rx_l2_only;               /* forwarded as L2 only (pkt_parse's PKT_L2_ONLY) */
	uint64_t vxlan_encap, vxlan_decap; /* uplinks */
	uint64_t drops[DP_DROP_N];
} __rte_cache_aligned;

struct dp_port;
struct dp_qos_meter;
struct dp_mirror;
struct dp_sg;
struct dp_sg_ct;

/*
 * A switch port type, registered in dp_port_kinds (dp.c). (opt) members
 * may be NULL. open/close/stats run in control threads; rx/tx on the
 * worker that owns the queue (rx) or on any worker (tx, per worker queue)
 * and never block.
 */
struct dp_port_ops {
	const char *kind; /* "vhost", "uplink" (ethdevs: "access" for access ports) */
	/* Opens the port; fills port->n_rxq and port->txq_of_worker. May fail
	 * (negative errno, reason in err). */
	int (*open)(struct dp_port *port, const void *arg, char *err, size_t errlen);
	/* Called after workers stopped using the port (RCU); never fails. */
	void (*close)(struct dp_port *port);
	/* Receive up to n packets from rx queue q into pkts; returns the count.
	 * Worker `w` owns queue q. */
	uint16_t (*rx)(struct dp_port *port, unsigned int w, uint16_t q, struct rte_mbuf **pkts,
		       uint16_t n);
	/* Send n packets from worker w; takes ownership of all of them: what it
	 * cannot send it frees and counts (drop reason) in ctr. Returns sent. */
	uint16_t (*tx)(struct dp_port *port, unsigned int w, struct rte_mbuf **pkts, uint16_t n,
		       struct dp_port_counters *ctr);
	bool (*link_up)(const struct dp_port *port);
	/* (opt) add kind-specific figures (e.g. ethdev rx_nombuf) */
	void (*stats)(const struct dp_port *port, struct dp_port_stats *st);
	/* (opt) uplinks: a VM port's MAC came (add) or went; an uplink that
	 * filters by MAC (AF_XDP's steering program) updates its filter. May
	 * fail (negative errno): the VM's frames then stay with the kernel. */
	int (*vm_mac)(struct dp_port *port, const uint8_t mac[6], bool add);
	/* (opt) uplinks: the VTEP address moved from old_ip to ip (network
	 * order, 0: none); a filtering uplink lets ARP for it through. May
	 * fail (negative errno): ARP replies to the VTEP stay with the kernel. */
	int (*vtep)(struct dp_port *port, uint32_t old_ip, uint32_t ip);
};

extern const struct dp_port_ops dp_vhost_ops;
extern const struct dp_port_ops dp_ethdev_ops;

/* Offloads a destination can take as they are; others are finished in
 * software before the packet reaches it. */
#define DP_TXOK_CSUM (1u << 0) /* partial L4 checksums */
#define DP_TXOK_TSO  (1u << 1) /* TCP segmentation offload (GSO) */

struct dp_port {
	struct dp *dp;
	const struct dp_port_ops *ops;
	uint16_t id;
	bool is_uplink;
	/* An access port: an ethdev on one network, untagged; its stations'
	 * source MACs are learned (no spoof check). Neither a VM nor an uplink. */
	bool is_access;
	uint16_t net;          /* VM and access ports: network id */
	uint64_t mac48;        /* VM ports: own MAC, as loaded by dp_mac48() */
	uint8_t mac[6];        /* VM ports; uplinks: the device's (outer source of VXLAN) */
	uint16_t mtu;          /* uplinks: the device's MTU (IP datagram bytes) */
	uint16_t n_rxq;        /* rx queues workers poll */
	_Atomic uint32_t txok; /* DP_TXOK_* the peer negotiated */
	char name[64];
	char netname[64];
	/* QoS (qos.c): [DP_QOS_RX], [DP_QOS_TX]; NULL: no limit. Replaced
	 * whole by the control thread, freed after an RCU grace period. */
	struct dp_qos_meter *_Atomic qos[2];
	/* Security group (sg.c) of a VM port; NULL: none. Replaced whole by
	 * the control thread, freed after an RCU grace period. */
	struct dp_sg *_Atomic sg;
	void *priv;                                      /* the kind's state */
	struct dp_port_counters ctr[DP_MAX_WORKERS + 1]; /* [DP_MAX_WORKERS]: other threads */
};

/* A VM NIC (vhost-user): a fixed MAC, the spoof check. */
static inline bool
dp_port_is_vm(const struct dp_port *p)
{
	return !p->is_uplink && !p->is_access;
}

/* One network as the workers see it. */
struct dp_net_fwd {
	bool used;
	uint16_t vlan;
	uint64_t members[DP_PORT_WORDS]; /* VM and access ports on it */
	uint32_t vni;                    /* overlay network: VXLAN on the uplinks; 0: none */
	uint16_t n_vteps;
	uint32_t vteps[DP_NET_MAX_VTEPS]; /* flood list (network byte order) */
};

#define DP_VNI_SLOTS 512 /* open addressing, twice DP_MAX_NETS */

struct dp_poll {
	uint16_t port;
	uint16_t q;
};

/*
 * The forwarding snapshot: immutable once published; replaced as a whole
 * by the control thread (copy, change, publish, synchronize RCU, free).
 */
struct dp_cfg {
	uint32_t gen; /* one more at every publish (flow caches check it) */
	struct dp_port *ports[DP_MAX_PORTS];
	uint16_t n_uplinks;
	uint16_t uplinks[DP_MAX_UPLINKS];
	uint16_t vlan_net[DP_VLAN_COUNT]; /* network of a VLAN, or DP_NET_NONE */
	struct dp_net_fwd nets[DP_MAX_NETS];
	uint32_t vtep_ip;   /* our VTEP (network byte order); 0: no overlay */
	uint16_t vtep_port; /* its UDP port (host order) */
	struct {
		uint32_t vni; /* 0: free */
		uint16_t net;
	} vni_net[DP_VNI_SLOTS];
	struct {
		uint16_t n;
		struct dp_poll polls[DP_MAX_POLLS];
	} workers[DP_MAX_WORKERS];
	/* Mirror sessions by source port and direction (mirror.c). */
	struct dp_mirror_set {
		uint8_t n;
		struct dp_mirror *s[DP_MIRRORS_PER_PORT];
	} mirrors[DP_MAX_PORTS][2]; /* [port][DP_QOS_RX or DP_QOS_TX] */
};

/* Directions inside the dataplane (indexes). */
#define DP_QOS_RX 0
#define DP_QOS_TX 1

/* dp_cfg.c: pure functions on snapshots (unit tested). */
struct dp_cfg *dp_cfg_clone(const struct dp_cfg *old);
void dp_cfg_free(struct dp_cfg *c);
int dp_cfg_net_set(struct dp_cfg *c, uint16_t net, uint16_t vlan);
void dp_cfg_net_clear(struct dp_cfg *c, uint16_t net);
/* Make net an overlay network (no VLAN) with vni and a flood list. */
int dp_cfg_net_set_vni(struct dp_cfg *c, uint16_t net, uint32_t vni, const uint32_t *vteps,
		       unsigned int nvteps);

static inline unsigned int
dp_vni_slot(uint32_t vni)
{
	return (vni * 0x9e3779b1u >> 16) & (DP_VNI_SLOTS - 1);
}

/* The network of a VNI, or DP_NET_NONE. */
static inline uint16_t
dp_cfg_vni_net(const struct dp_cfg *c, uint32_t vni)
{
	unsigned int i, s;

	if (vni == 0)
		return DP_NET_NONE;
	for (i = 0, s = dp_vni_slot(vni); i < DP_VNI_SLOTS; i++, s = (s + 1) & (DP_VNI_SLOTS - 1)) {
		if (c->vni_net[s].vni == vni)
			return c->vni_net[s].net;
		if (c->vni_net[s].vni == 0)
			break;
	}
	return DP_NET_NONE;
}
int dp_cfg_port_set(struct dp_cfg *c, struct dp_port *p, unsigned int workers);
void dp_cfg_port_clear(struct dp_cfg *c, uint16_t port);
/* A mirror session into the source port's sets of the directions it
 * copies: -ENOSPC when one is full (nothing changed). */
int dp_cfg_mirror_add(struct dp_cfg *c, struct dp_mirror *s, uint16_t src, unsigned int dir);
/* A session out of every set it is in. */
void dp_cfg_mirror_del(struct dp_cfg *c, const struct dp_mirror *s);
/* Ports a frame of `net` entering at `in_port` floods to; returns count. */
unsigned int dp_cfg_flood_targets(const struct dp_cfg *c, uint16_t net, uint16_t in_port,
				  uint16_t *out, unsigned int max);

/* A MAC as a 48-bit integer, in memory order (first byte lowest). */
static inline uint64_t
dp_mac48(const uint8_t *mac)
{
	uint64_t v = 0;

	memcpy(&v, mac, 6);
	return v;
}

/* n more holders of m: every segment's reference count goes up, since
 * each holder's rte_pktmbuf_free() drops one from every segment (raising
 * the first one's alone would free the rest under the other holders). */
static inline void
dp_mbuf_share(struct rte_mbuf *m, int16_t n)
{
	for (; m != NULL; m = m->next)
		rte_mbuf_refcnt_update(m, n);
}

/* A learning request from a worker to the housekeeping thread. */
struct dp_learn {
	uint64_t mac48;
	uint16_t net; /* DP_NET_NONE: a remote VTEP's underlay MAC (vxlan.h neighbour) */
	uint16_t port;
	uint32_t vtep; /* the remote VTEP behind mac48 (overlay), or 0 */
};

struct dp_worker {
	struct dp *dp;
	unsigned int idx;
	unsigned int lcore;
	/* Written by the worker only, read by dp_worker_stats(). */
	_Atomic uint64_t packets;
	_Atomic uint64_t busy_cycles; /* rounds that received packets */
	_Atomic uint64_t idle_cycles; /* rounds that found nothing (sleeps excluded) */
	_Atomic uint64_t fc_hits, fc_misses;
};

struct dp {
	pthread_mutex_t lock; /* control calls */
	struct dp_conf conf;
	char vhost_dir[256];
	char file_prefix[64];
	unsigned int workers;
	struct dp_worker worker[DP_MAX_WORKERS];
	struct dp_cfg *_Atomic cfg;
	struct rte_rcu_qsbr *qsbr;
	struct l2_table *l2;
	struct dp_sg_ct *ct;     /* security groups' connections (sg.c) */
	struct vx_nbr_table nbr; /* remote VTEPs' underlay MACs */
	struct rte_ring *learn_ring;
	struct rte_mempool *direct_pool;   /* copies, GSO headers */
	struct rte_mempool *indirect_pool; /* GSO payload segments */
	_Atomic bool stop;
	pthread_t hk_thread;
	bool hk_started;
	/* Control-side state (under lock). */
	struct {
		bool used;
		char name[64];
		uint16_t vlan;
		uint32_t vni;
		unsigned int nports;
	} nets[DP_MAX_NETS];
	struct dp_port *ports[DP_MAX_PORTS];
	struct dp_mirror *mirrors[DP_MAX_MIRRORS];
	/* vhost: socket path and vid -> port, for the vhost callbacks, which
	 * must not take dp->lock (unregister waits for them). */
	pthread_mutex_t vhost_lock;
};

/* A reason for a person into err, if err is not NULL (dp.h's convention). */
#define DP_ERR(err, errlen, ...)                                                                   \
	do {                                                                                       \
		if ((err) != NULL && (errlen) > 0)                                                 \
			snprintf((err), (errlen), __VA_ARGS__);                                    \
	} while (0)
/* A name of a network, port or mirror session (dp.h's rule): 0 or
 * -EINVAL with the reason, which names `what`, in err. */
int dp_check_name(const char *what, const char *name, char *err, size_t errlen);
/* Under dp->lock: the port of that name, or NULL. */
struct dp_port *dp_port_by_name(struct dp *dp, const char *name);
/* Publish a new snapshot and free the old one after a grace period. */
void dp_cfg_publish(struct dp *dp, struct dp_cfg *c);
/* qos.c: police a burst of port p in direction dir (DP_QOS_*): frames
 * over the limit are freed and counted (rate_limited) in ctr; the rest
 * are packed to the front (rx: counted as received too). Returns how
 * many remain. Worker. */
uint16_t dp_qos_police(struct dp_port *p, unsigned int dir, struct rte_mbuf **pkts, uint16_t n,
		       struct dp_port_counters *ctr);
/* Free a port's meters (the port is out of every snapshot). */
void dp_qos_port_free(struct dp_port *p);
/* The limits in force on p, for its stats. */
void dp_qos_get(const struct dp_port *p, struct dp_qos *out);

/* mirror.c. A session, made and freed by the control thread. */
struct dp_mirror {
	char name[64];
	uint16_t src, dst; /* port ids */
	unsigned int dir;  /* DP_MIRROR_* */
	uint16_t slot;     /* index in dp->mirrors */
	struct {
		uint64_t packets, bytes, drops, no_buffer;
	} __rte_cache_aligned ctr[DP_MAX_WORKERS];
};
/* A worker's copies waiting for their destinations. */
struct dp_mirror_out;
struct dp_mirror_out *dp_mirror_out_new(void);
void dp_mirror_out_free(struct dp_mirror_out *mo);
/* Copy the frames of port `port` in direction dir (DP_QOS_*) to the
 * sessions that want them. pkts stay the caller's, unchanged. Worker. */
void dp_mirror_copy(struct dp_mirror_out *mo, const struct dp_cfg *cfg, unsigned int w,
		    uint16_t port, unsigned int dir, struct rte_mbuf **pkts, uint16_t n);
/* Send every waiting copy. Worker, before its quiescent state. */
void dp_mirror_flush(struct dp_mirror_out *mo, const struct dp_cfg *cfg, unsigned int w);
/* Under dp->lock: delete the sessions that name port (source or
 * destination) from c (the caller publishes it), then free them with
 * dp_mirror_reap() after publishing. */
unsigned int dp_mirror_unlink_port(struct dp *dp, struct dp_cfg *c, uint16_t port,
				   struct dp_mirror **gone, unsigned int max);
void dp_mirror_reap(struct dp *dp, struct dp_mirror **gone, unsigned int n);

/* Worker entry (dp_switch.c). */
int dp_worker_main(void *arg);
struct pkt_info;
/* The malformed-packet policy on m's headers (dp_switch.c): false if m
 * was dropped and counted; pi gets what pkt_parse found. */
bool dp_admit(struct rte_mbuf *m, struct dp_port_counters *ctr, unsigned int flags,
	      struct pkt_info *pi);

/* dp_vxlan.c: the overlay on a worker. */
enum dp_vx_rx {
	DP_VX_PASS,    /* not the VTEP's: switch it as before */
	DP_VX_DONE,    /* consumed (dropped and counted, or an ARP reply learned) */
	DP_VX_REPLY,   /* m became an ARP reply: send it out of the input uplink */
	DP_VX_DECAPPED /* m is now the inner frame of *net, from VTEP *vtep */
};
/* An untagged frame from uplink in. */
enum dp_vx_rx dp_vxlan_rx(struct dp *dp, const struct dp_cfg *cfg, struct dp_port *in,
			  struct rte_mbuf *m, struct dp_port_counters *ctr, uint16_t *net,
			  uint32_t *vtep);
/* Encapsulate m (one reference, taken) of overlay network nf for remote
 * VTEP vtep whose underlay MAC is mac48, to leave by uplink out: the frame
 * to queue on out, or NULL (dropped and counted on out). */
struct rte_mbuf *dp_vxlan_encap(const struct dp_cfg *cfg, struct dp_port *out, struct rte_mbuf *m,
				const struct dp_net_fwd *nf, uint32_t vtep, uint64_t mac48,
				struct dp_port_counters *ctr);
/* An ARP request for vtep to send out of uplink p, at most one per VTEP
 * and thread a second; NULL when it is too soon or no mbuf. */
struct rte_mbuf *dp_vxlan_arp_request(struct dp *dp, const struct dp_cfg *cfg, struct dp_port *p,
				      uint32_t vtep);

/* Port kinds' constructors' arguments and helpers. */
void dp_vhost_set_current(struct dp *dp);
int dp_vhost_open_arg(struct dp_port *port, const char *path, unsigned int qpairs,
		      struct rte_mempool *pool, char *err, size_t errlen);
int dp_ethdev_open_arg(struct dp_port *port, const char *devargs, unsigned int workers,
		       struct rte_mempool **pool, char *err, size_t errlen);
/* After a vhost-user server socket starts: make rte_vhost's event thread
 * poll it now rather than after its 1 s poll timeout (vhost_wake.c). */
void dp_vhost_wake(void);
/* xdp_steer.c: the maps of an AF_XDP uplink's steering program
 * (xdp/uplink_steer.bpf.c) on netdev iface. *out is NULL (and 0 returned)
 * when the attached program is another one (it takes all traffic). */
struct dp_xdp_steer;
int dp_xdp_steer_open(const char *iface, struct dp_xdp_steer **out, char *err, size_t errlen);
void dp_xdp_steer_close(struct dp_xdp_steer *s); /* accepts NULL */
int dp_xdp_steer_mac(struct dp_xdp_steer *s, const uint8_t mac[6], bool add);
/* The VTEP address moved from old_ip to ip (either may be 0: none). */
int dp_xdp_steer_vtep(struct dp_xdp_steer *s, uint32_t old_ip, uint32_t ip);
/* Queues of a VM port broken since the last call (housekeeping logs them). */
uint32_t dp_vhost_newly_broken(struct dp_port *port);

#endif
