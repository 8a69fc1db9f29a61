/* SPDX-License-Identifier: MIT */
/*
 * The "dpdk" dataplane: dpu_net over dataplane/dp.h. A thin adapter; the
 * switch lives in dataplane/. Built only with NV_HAVE_DATAPLANE.
 *
 * It also keeps the host ports (net.h, struct dpu_host_port): each joins
 * its network as an access port when the network is added, and leaves
 * before the network is deleted.
 */
#define NV_LOG_COMPONENT "nicvisor.dpu.net"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"
#include "nv_log.h"

struct host_port {
	struct dpu_host_port conf;
	bool attached;
	char err[DPU_NET_ERR_MAX]; /* why the last attach failed; "" if it did not */
};

struct dp_net {
	struct dpu_net base;
	struct dp *dp;
	size_t nhost;
	struct host_port host[DPU_NET_MAX_HOST_PORTS];
};

static struct dp *
dp_of(struct dpu_net *n)
{
	return ((struct dp_net *)n)->dp;
}

/* Detach the host ports on network; how many were attached. */
static size_t
host_ports_detach(struct dp_net *n, const char *network)
{
	size_t count = 0;

	for (size_t i = 0; i < n->nhost; i++) {
		struct host_port *h = &n->host[i];
		char err[DPU_NET_ERR_MAX] = "";
		int rc;

		if (!h->attached || strcmp(h->conf.network, network) != 0)
			continue;
		rc = dp_port_del(n->dp, h->conf.name, err, sizeof(err));
		if (rc < 0 && rc != -ENOENT)
			nv_err("host port %s: cannot detach it from network %s: %s", h->conf.name,
			       network, err);
		h->attached = false;
		count++;
	}
	return count;
}

/* Attach the host ports of network that are not; if one fails, all of
 * network's are detached again (a network has all its host ports or
 * none) and its reason is in err. */
static int
host_ports_attach(struct dp_net *n, const char *network, char *err, size_t errlen)
{
	for (size_t i = 0; i < n->nhost; i++) {
		struct host_port *h = &n->host[i];
		int rc;

		if (h->attached || strcmp(h->conf.network, network) != 0)
			continue;
		h->err[0] = 0;
		rc = dp_access_port_add(n->dp, h->conf.name, network, h->conf.devargs, h->err,
					sizeof(h->err));
		if (rc < 0) {
			char why[DPU_NET_ERR_MAX + 256];

			if (h->err[0] == 0)
				snprintf(h->err, sizeof(h->err), "%s", strerror(-rc));
			snprintf(why, sizeof(why), "host port %s (--host-port %s=%s@%s): %s",
				 h->conf.name, h->conf.name, h->conf.devargs, network, h->err);
			nv_err("%s", why);
			snprintf(err, errlen, "%s", why);
			host_ports_detach(n, network);
			return rc;
		}
		h->attached = true;
		nv_info("host port %s: %s, an access port of network %s", h->conf.name,
			h->conf.devargs, network);
	}
	return 0;
}

/* After dp_network_add*() returned rc for name: its host ports join it. A
 * network added here goes again if one cannot. */
static int
network_added(struct dpu_net *n, const char *name, int rc, char *err, size_t errlen)
{
	int hrc;

	if (rc < 0 && rc != -EEXIST)
		return rc;
	hrc = host_ports_attach((struct dp_net *)n, name, err, errlen);
	if (hrc < 0) {
		if (rc == 0)
			dp_network_del(dp_of(n), name, NULL, 0);
		return hrc;
	}
	return rc;
}

static int
dpn_network_add(struct dpu_net *n, const char *name, uint16_t vlan, char *err, size_t errlen)
{
	return network_added(n, name, dp_network_add(dp_of(n), name, vlan, err, errlen), err,
			     errlen);
}

static int
dpn_network_add_vxlan(struct dpu_net *n, const char *name, uint32_t vni, const uint32_t *vteps,
		      unsigned int nvteps, char *err, size_t errlen)
{
	return network_added(n, name,
			     dp_network_add_vxlan(dp_of(n), name, vni, vteps, nvteps, err, errlen),
			     err, errlen);
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
	struct dp_net *d = (struct dp_net *)n;
	size_t detached = host_ports_detach(d, name);
	int rc = dp_network_del(d->dp, name, err, errlen);

	if (rc < 0 && detached > 0) {
		char ignored[DPU_NET_ERR_MAX];

		/* The network stays: so do its host ports. */
		host_ports_attach(d, name, ignored, sizeof(ignored));
	} else if (detached > 0) {
		nv_info("network %s deleted: its %zu host port%s detached, attached again when a "
			"network %s is created",
			name, detached, detached == 1 ? "" : "s", name);
	}
	return rc;
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

bool
dpu_net_dp_host_port_attached(struct dpu_net *n, const char *name, char *err, size_t errlen)
{
	struct dp_net *d = (struct dp_net *)n;

	snprintf(err, errlen, "%s", "");
	for (size_t i = 0; dpu_net_dp_of(n) != NULL && i < d->nhost; i++) {
		if (strcmp(d->host[i].conf.name, name) == 0) {
			snprintf(err, errlen, "%s", d->host[i].err);
			return d->host[i].attached;
		}
	}
	return false;
}

int
dpu_net_dp_open(const struct dp_conf *conf, const struct dpu_host_port *hp, size_t nhp,
		struct dpu_net **out, char *err, size_t errlen)
{
	struct dp_net *n = calloc(1, sizeof(*n));
	int rc;

	if (n == NULL)
		return -ENOMEM;
	if (nhp > DPU_NET_MAX_HOST_PORTS) {
		free(n);
		snprintf(err, errlen, "at most %d host ports", DPU_NET_MAX_HOST_PORTS);
		return -EINVAL;
	}
	n->base.ops = &dp_net_ops;
	for (size_t i = 0; i < nhp; i++)
		n->host[i].conf = hp[i];
	n->nhost = nhp;
	rc = dp_open(conf, &n->dp, err, errlen);
	if (rc < 0) {
		free(n);
		return rc;
	}
	*out = &n->base;
	return 0;
}
