/* SPDX-License-Identifier: MIT */
/*
 * The "dpdk" dataplane: dpu_net over dataplane/dp.h. A thin adapter; the
 * switch lives in dataplane/. Built only with NV_HAVE_DATAPLANE.
 */
#include <errno.h>
#include <stdlib.h>

#include "net.h"

struct dp_net {
	struct dpu_net base;
	struct dp *dp;
};

static struct dp *
dp_of(struct dpu_net *n)
{
	return ((struct dp_net *)n)->dp;
}

static int
dpn_network_add(struct dpu_net *n, const char *name, uint16_t vlan, char *err, size_t errlen)
{
	return dp_network_add(dp_of(n), name, vlan, err, errlen);
}

static int
dpn_network_add_vxlan(struct dpu_net *n, const char *name, uint32_t vni, const uint32_t *vteps,
		      unsigned int nvteps, char *err, size_t errlen)
{
	return dp_network_add_vxlan(dp_of(n), name, vni, vteps, nvteps, err, errlen);
}

static int
dpn_network_set_vteps(struct dpu_net *n, const char *name, const uint32_t *vteps,
		      unsigned int nvteps, char *err, size_t errlen)
{
	return dp_network_set_vteps(dp_of(n), name, vteps, nvteps, err, errlen);
}

static int
dpn_network_del(struct dpu_net *n, const char *name, char *err, size_t errlen)
{
	return dp_network_del(dp_of(n), name, err, errlen);
}

static int
dpn_vhost_port_add(struct dpu_net *n, const char *port, const char *network, const uint8_t mac[6],
		   unsigned int queue_pairs, char *socket_path, size_t path_len, char *err,
		   size_t errlen)
{
	return dp_vhost_port_add(dp_of(n), port, network, mac, queue_pairs, socket_path, path_len,
				 err, errlen);
}

static int
dpn_uplink_add(struct dpu_net *n, const char *port, const char *devargs, char *err, size_t errlen)
{
	return dp_uplink_add(dp_of(n), port, devargs, err, errlen);
}

static int
dpn_port_del(struct dpu_net *n, const char *port, char *err, size_t errlen)
{
	return dp_port_del(dp_of(n), port, err, errlen);
}

static int
dpn_port_stats(struct dpu_net *n, const char *port, struct dp_port_stats *out, unsigned int max)
{
	return dp_port_stats(dp_of(n), port, out, max);
}

static int
dpn_port_qos(struct dpu_net *n, const char *port, const struct dp_qos *q, char *err, size_t errlen)
{
	return dp_port_qos_set(dp_of(n), port, q, err, errlen);
}

static int
dpn_port_security(struct dpu_net *n, const char *port, const struct dp_sg_policy *pol, char *err,
		  size_t errlen)
{
	return dp_port_sg_set(dp_of(n), port, pol, err, errlen);
}

static int
dpn_port_security_stats(struct dpu_net *n, const char *port, struct dp_sg_stats *st,
			struct dp_sg_rule_stats *ingress, unsigned int max_in,
			struct dp_sg_rule_stats *egress, unsigned int max_eg)
{
	return dp_port_sg_stats(dp_of(n), port, st, ingress, max_in, egress, max_eg);
}

static int
dpn_mirror_add(struct dpu_net *n, const char *name, const char *src, unsigned int dir,
	       const char *dst, char *err, size_t errlen)
{
	return dp_mirror_add(dp_of(n), name, src, dir, dst, err, errlen);
}

static int
dpn_mirror_del(struct dpu_net *n, const char *name, char *err, size_t errlen)
{
	return dp_mirror_del(dp_of(n), name, err, errlen);
}

static int
dpn_mirror_stats(struct dpu_net *n, const char *name, struct dp_mirror_stats *out, unsigned int max)
{
	return dp_mirror_stats(dp_of(n), name, out, max);
}

static int
dpn_worker_stats(struct dpu_net *n, struct dp_worker_stats *out, unsigned int max)
{
	return dp_worker_stats(dp_of(n), out, max);
}

static void
dpn_close(struct dpu_net *n)
{
	dp_close(dp_of(n));
	free(n);
}

static const struct dpu_net_ops dp_net_ops = {
	.name = "dpdk",
	.network_add = dpn_network_add,
	.network_add_vxlan = dpn_network_add_vxlan,
	.network_set_vteps = dpn_network_set_vteps,
	.network_del = dpn_network_del,
	.vhost_port_add = dpn_vhost_port_add,
	.uplink_add = dpn_uplink_add,
	.port_del = dpn_port_del,
	.port_stats = dpn_port_stats,
	.port_qos = dpn_port_qos,
	.port_security = dpn_port_security,
	.port_security_stats = dpn_port_security_stats,
	.mirror_add = dpn_mirror_add,
	.mirror_del = dpn_mirror_del,
	.mirror_stats = dpn_mirror_stats,
	.worker_stats = dpn_worker_stats,
	.close = dpn_close,
};

struct dp *
dpu_net_dp_of(struct dpu_net *n)
{
	return n != NULL && n->ops == &dp_net_ops ? dp_of(n) : NULL;
}

int
dpu_net_dp_open(const struct dp_conf *conf, struct dpu_net **out, char *err, size_t errlen)
{
	struct dp_net *n = calloc(1, sizeof(*n));
	int rc;

	if (n == NULL)
		return -ENOMEM;
	n->base.ops = &dp_net_ops;
	rc = dp_open(conf, &n->dp, err, errlen);
	if (rc < 0) {
		free(n);
		return rc;
	}
	*out = &n->base;
	return 0;
}
