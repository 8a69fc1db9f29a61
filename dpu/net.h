/* SPDX-License-Identifier: MIT */
/*
 * dpu_net: the DPU switch as the agent sees it. The agent programs logical
 * networks, VM NIC ports (vhost-user) and uplinks through this interface
 * and reads port counters from it; it never calls dataplane/dp.h itself.
 *
 * Implementations (an explicit list, chosen by nicvisor-dpu --dataplane):
 *   "dpdk"  net_dp.c: dataplane/dp.h, DPDK linked into nicvisor-dpu. Built
 *           only when DPDK and the dataplane library are (NV_HAVE_DATAPLANE).
 *   "fake"  net_fake.c: networks and ports kept in memory, no packets and
 *           no sockets; for unit tests, the API's integration tests and
 *           builds without DPDK.
 *
 * Every member is mandatory and may fail unless noted. The agent calls
 * them from its control threads with its lock held, one call at a time;
 * none is called from a dataplane worker. They may block briefly (adding a
 * vhost port creates and listens on a socket) but never wait on a peer.
 * Errors are negative errno values with a reason for a person in err.
 */
#ifndef DPU_NET_H
#define DPU_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dp.h"

#define DPU_NET_ERR_MAX     256
#define DPU_UPLINK_NAME_BUF 32

struct dpu_net;
struct dpu_host_port;

struct dpu_net_ops {
	const char *name; /* "dpdk", "fake" */
	/* A logical L2 network; vlan 0 is untagged on the uplinks, 1..4094
	 * tagged. -EEXIST if a network of that name exists. */
	int (*network_add)(struct dpu_net *n, const char *name, uint16_t vlan, char *err,
			   size_t errlen);
	/* An overlay network: VXLAN vni (1..16777215) on the uplinks, flooded
	 * to remote VTEPs vteps (IPv4, network byte order); dataplane/dp.h's
	 * dp_network_add_vxlan. -EEXIST as network_add. */
	int (*network_add_vxlan)(struct dpu_net *n, const char *name, uint32_t vni,
				 const uint32_t *vteps, unsigned int nvteps, char *err,
				 size_t errlen);
	/* Replace an overlay network's remote VTEPs; -ENOENT if it is not one. */
	int (*network_set_vteps)(struct dpu_net *n, const char *name, const uint32_t *vteps,
				 unsigned int nvteps, char *err, size_t errlen);
	/* -EBUSY while a port is on it, -ENOENT if there is none. */
	int (*network_del)(struct dpu_net *n, const char *name, char *err, size_t errlen);
	/* A VM NIC: a vhost-user server socket on network whose path goes to
	 * socket_path. The frontend may connect and reconnect at any time
	 * while the port exists. */
	int (*vhost_port_add)(struct dpu_net *n, const char *port, const char *network,
			      const uint8_t mac[6], unsigned int queue_pairs, char *socket_path,
			      size_t path_len, char *err, size_t errlen);
	/* An ethdev uplink by DPDK devargs; it carries every network. */
	int (*uplink_add)(struct dpu_net *n, const char *port, const char *devargs, char *err,
			  size_t errlen);
	/* Remove a port of either kind; -ENOENT if there is none. */
	int (*port_del)(struct dpu_net *n, const char *port, char *err, size_t errlen);
	/* Counters of one port (port != NULL) or of every port, at most max
	 * of them; the number filled, or a negative errno (-ENOENT: no such
	 * port). */
	int (*port_stats)(struct dpu_net *n, const char *port, struct dp_port_stats *out,
			  unsigned int max);
	/* A port's rate limits (dp.h, dp_port_qos_set), in force at once; zero
	 * rates clear them. -ENOENT: no such port; -EINVAL: out of range. */
	int (*port_qos)(struct dpu_net *n, const char *port, const struct dp_qos *q, char *err,
			size_t errlen);
	/* A VM port's security group (dp.h, dp_port_sg_set), in force at
	 * once; NULL removes it. -ENOENT: no such port; -EINVAL: refused. */
	int (*port_security)(struct dpu_net *n, const char *port, const struct dp_sg_policy *pol,
			     char *err, size_t errlen);
	/* Its counters (dp.h, dp_port_sg_stats); ingress/egress may be NULL.
	 * -ENOENT: no such port. */
	int (*port_security_stats)(struct dpu_net *n, const char *port, struct dp_sg_stats *st,
				   struct dp_sg_rule_stats *ingress, unsigned int max_in,
				   struct dp_sg_rule_stats *egress, unsigned int max_eg);
	/* A mirror session (dp.h, dp_mirror_add): -EEXIST for its name,
	 * -ENOENT for a port, -ENOSPC at a limit. Removing either port
	 * removes it. */
	int (*mirror_add)(struct dpu_net *n, const char *name, const char *src, unsigned int dir,
			  const char *dst, char *err, size_t errlen);
	/* -ENOENT if there is none. */
	int (*mirror_del)(struct dpu_net *n, const char *name, char *err, size_t errlen);
	/* One session (name != NULL) or all, at most max: the number filled,
	 * or a negative errno (-ENOENT: no such session). */
	int (*mirror_stats)(struct dpu_net *n, const char *name, struct dp_mirror_stats *out,
			    unsigned int max);
	/* (opt, NULL in the fake) Load of each forwarding worker, at most max;
	 * the number filled. */
	int (*worker_stats)(struct dpu_net *n, struct dp_worker_stats *out, unsigned int max);
	/* Remove every port and network and free n. Never fails. */
	void (*close)(struct dpu_net *n);
};

struct dpu_net {
	const struct dpu_net_ops *ops;
};

void dpu_net_close(struct dpu_net *n); /* accepts NULL */

/* The fake. vhost_dir only makes the socket paths it reports
 * (<vhost_dir>/<port>.sock); nothing is created there. */
int dpu_net_fake_open(const char *vhost_dir, struct dpu_net **out);

/* Test hooks of the fake (n must be a fake). */
/* A call of op ("network_add", "vhost_port_add", ...) fails with err (a
 * negative errno): the one after `after` more calls of op succeed. Once. */
void dpu_net_fake_fail(struct dpu_net *n, const char *op, unsigned int after, int err);
/* Set the counters the fake reports for an existing port (bytes: 64 a
 * packet; rx_l2_only: a tenth of rx_packets): -ENOENT if none. */
int dpu_net_fake_set_counters(struct dpu_net *n, const char *port, uint64_t rx_packets,
			      uint64_t tx_packets, const char *drop_reason, uint64_t drops);
/* Set the counters the fake reports for a mirror session (bytes: 64 a
 * packet): -ENOENT if none. */
int dpu_net_fake_set_mirror_counters(struct dpu_net *n, const char *name, uint64_t packets,
				     uint64_t drops);
/* What the fake holds: networks, vhost ports, uplinks. */
void dpu_net_fake_counts(struct dpu_net *n, size_t *networks, size_t *vhost_ports, size_t *uplinks);
/* The queue pairs and network a vhost port was added with; false if none. */
bool dpu_net_fake_port(struct dpu_net *n, const char *port, char *network, size_t network_len,
		       unsigned int *queue_pairs);

#ifdef NV_HAVE_DATAPLANE
/* The real switch: dp_open(conf), with host ports hp[0..nhp) (copied)
 * joining their networks as these are added. */
int dpu_net_dp_open(const struct dp_conf *conf, const struct dpu_host_port *hp, size_t nhp,
		    struct dpu_net **out, char *err, size_t errlen);
/* Whether host port name is attached now (n from dpu_net_dp_open); if
 * not, the reason its last attach failed (or "" if none was tried) in
 * err. */
bool dpu_net_dp_host_port_attached(struct dpu_net *n, const char *name, char *err, size_t errlen);
/* The struct dp of a net from dpu_net_dp_open(); NULL for any other. */
struct dp *dpu_net_dp_of(struct dpu_net *n);

/* The struct dp behind n, for the other users of the same dataplane (the
 * block backend: one DPDK EAL per process). With the lazy default, start
 * says whether to start it now if it is not running: if not, *out = NULL
 * and 0. -ENODEV with a reason in err when n is not DPDK or DPDK did not
 * start. */
int dpu_net_dp(struct dpu_net *n, bool start, struct dp **out, char *err, size_t errlen);
#endif

/*
 * Opening the dataplane nicvisor-dpu's options ask for (net_open.c).
 */
#define DPU_NET_MAX_UPLINKS    16
#define DPU_NET_MAX_HOST_PORTS 16
#define DPU_NET_NAME_BUF       64
#define DPU_NET_DEVARGS_BUF    512

/*
 * A host port (nicvisor-dpu --host-port NAME=DEVARGS@NETWORK): an ethdev
 * attached as an access port of one network (dp.h, dp_access_port_add:
 * untagged, switched like a VM's port), e.g. the representor of a host's
 * PF or VF on a BlueField. It is attached whenever its network is added
 * to the dataplane (created, or restored at start) and detached when the
 * network is deleted; a network it cannot join is refused with the port's
 * reason. Only the DPDK dataplane has them.
 */
struct dpu_host_port {
	char name[DPU_UPLINK_NAME_BUF];
	char network[DPU_NET_NAME_BUF];
	char devargs[DPU_NET_DEVARGS_BUF];
};

enum dpu_dataplane_mode {
	DPU_DATAPLANE_DEFAULT, /* "dpdk" when built with it, else off */
	DPU_DATAPLANE_OFF,
	DPU_DATAPLANE_ON,
	DPU_DATAPLANE_FAKE,
};

struct dpu_net_opts {
	enum dpu_dataplane_mode mode;
	unsigned int workers;  /* 0 = 1 */
	const char *cpus;      /* (opt) EAL core list */
	int hugepages;         /* 1 yes, 0 no, -1 if the machine has some free */
	unsigned int mem_mb;   /* without hugepages; 0 = 512 */
	const char *huge_dir;  /* (opt) */
	const char *eal_extra; /* (opt) */
	bool idle_sleep;
	const char *vhost_dir; /* required for every mode but off */
	const char *state_dir; /* names the EAL file prefix (unique per agent) */
	uint32_t vtep_ip;      /* this DPU's VTEP (network byte order); 0: no overlay */
	uint16_t vtep_port;    /* its UDP port; 0: 4789 */
	size_t nuplinks;
	struct {
		char name[DPU_UPLINK_NAME_BUF];
		const char *devargs;
	} uplinks[DPU_NET_MAX_UPLINKS];
	size_t nhost_ports;
	struct dpu_host_port host_ports[DPU_NET_MAX_HOST_PORTS];
};

/* Parse NAME=DEVARGS of --uplink into o (a name rule violation, a
 * duplicate or too many: -EINVAL and a reason in err). */
int dpu_net_opts_add_uplink(struct dpu_net_opts *o, const char *arg, char *err, size_t errlen);

/* Parse NAME=DEVARGS@NETWORK of --host-port into o: NAME as an uplink's
 * and unique among uplinks and host ports, NETWORK a network's name (it
 * need not exist yet), DEVARGS up to the last '@'. -EINVAL and a reason in
 * err. */
int dpu_net_opts_add_host_port(struct dpu_net_opts *o, const char *arg, char *err, size_t errlen);

/* Parse IP[:PORT] of --vtep into o (-EINVAL and a reason in err). */
int dpu_net_opts_set_vtep(struct dpu_net_opts *o, const char *arg, char *err, size_t errlen);

/* True if meminfo (/proc/meminfo) shows free hugepages and mounts
 * (/proc/mounts) a hugetlbfs. */
bool dpu_net_hugepages_usable(const char *meminfo, const char *mounts);

/* Open the dataplane o asks for and add its uplinks. *out = NULL when
 * networking is off; *off_reason then says why. Errors are logged and
 * returned (negative errno). */
int dpu_net_open(const struct dpu_net_opts *o, struct dpu_net **out, const char **off_reason);

/* After the agent restored its networks: log each host port of o that
 * waits for its network (not created yet). -EIO if one could not join a
 * network that exists (logged), 0 otherwise, also without a dataplane. */
int dpu_net_host_ports_check(struct dpu_net *n, const struct dpu_net_opts *o);

#endif
