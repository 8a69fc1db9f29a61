/* SPDX-License-Identifier: MIT */
/*
 * The "fake" dataplane: keeps networks and ports as the real one would
 * (the same errors for duplicates, unknown networks and networks in use)
 * but moves no packets and creates no sockets. Counters are zero unless a
 * test sets them. Not thread safe: the agent lock serialises callers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"

#define FAKE_MAX_NETWORKS 4096
#define FAKE_MAX_PORTS    65536

struct fake_network {
	char name[64];
	uint16_t vlan;
};

struct fake_port {
	struct dp_port_stats st;
	unsigned int queue_pairs;
	struct dp_sg_stats sg; /* the policy's shape; counters stay 0 */
};

#define FAKE_MAX_MIRRORS 64

struct fake_net {
	struct dpu_net base;
	struct dp_mirror_stats mirrors[FAKE_MAX_MIRRORS];
	size_t nmirrors;
	char vhost_dir[256];
	struct fake_network *nets;
	size_t nnets;
	struct fake_port *ports;
	size_t nports;
	char fail_op[32];
	unsigned int fail_after;
	int fail_err;
};

static struct fake_net *
fake(struct dpu_net *n)
{
	return (struct fake_net *)n;
}

/* The injected failure for op, once. */
static int
injected(struct fake_net *f, const char *op, char *err, size_t errlen)
{
	int rc;

	if (f->fail_err == 0 || strcmp(f->fail_op, op) != 0)
		return 0;
	if (f->fail_after > 0) {
		f->fail_after--;
		return 0;
	}
	rc = f->fail_err;
	f->fail_err = 0;
	snprintf(err, errlen, "fake dataplane: %s fails as the test asked (%s)", op, strerror(-rc));
	return rc;
}

static struct fake_network *
net_find(struct fake_net *f, const char *name)
{
	for (size_t i = 0; i < f->nnets; i++)
		if (strcmp(f->nets[i].name, name) == 0)
			return &f->nets[i];
	return NULL;
}

static struct fake_port *
port_find(struct fake_net *f, const char *port)
{
	for (size_t i = 0; i < f->nports; i++)
		if (strcmp(f->ports[i].st.port, port) == 0)
			return &f->ports[i];
	return NULL;
}

/* The start of an operation on one port: a failure injected for op, or
 * no such port (-ENOENT with the reason); else 0 and the port in *out. */
static int
port_op(struct fake_net *f, const char *op, const char *port, struct fake_port **out, char *err,
	size_t errlen)
{
	int rc = injected(f, op, err, errlen);

	if (rc < 0)
		return rc;
	*out = port_find(f, port);
	if (*out == NULL) {
		snprintf(err, errlen, "no port %s", port);
		return -ENOENT;
	}
	return 0;
}

static int
fake_network_add(struct dpu_net *n, const char *name, uint16_t vlan, char *err, size_t errlen)
{
	struct fake_net *f = fake(n);
	struct fake_network *nets;
	int rc = injected(f, "network_add", err, errlen);

	if (rc < 0)
		return rc;
	if (strlen(name) >= sizeof(nets->name) || vlan > 4094) {
		snprintf(err, errlen, "bad network name or VLAN");
		return -EINVAL;
	}
	if (net_find(f, name) != NULL) {
		snprintf(err, errlen, "network %s exists", name);
		return -EEXIST;
	}
	if (f->nnets >= FAKE_MAX_NETWORKS) {
		snprintf(err, errlen, "too many networks");
		return -ENOSPC;
	}
	nets = realloc(f->nets, (f->nnets + 1) * sizeof(*nets));
	if (nets == NULL)
		return -ENOMEM;
	f->nets = nets;
	snprintf(nets[f->nnets].name, sizeof(nets->name), "%s", name);
	nets[f->nnets].vlan = vlan;
	f->nnets++;
	return 0;
}

/* The fake keeps an overlay network like any other (no VLAN). */
static int
fake_network_add_vxlan(struct dpu_net *n, const char *name, uint32_t vni, const uint32_t *vteps,
		       unsigned int nvteps, char *err, size_t errlen)
{
	(void)vteps;
	if (vni == 0 || vni > 0xffffff || nvteps > 16) {
		snprintf(err, errlen, "bad VNI or too many VTEPs");
		return -EINVAL;
	}
	return fake_network_add(n, name, 0, err, errlen);
}

static int
fake_network_set_vteps(struct dpu_net *n, const char *name, const uint32_t *vteps,
		       unsigned int nvteps, char *err, size_t errlen)
{
	struct fake_net *f = fake(n);
	int rc = injected(f, "network_set_vteps", err, errlen);

	(void)vteps;
	if (rc < 0)
		return rc;
	if (net_find(f, name) == NULL || nvteps > 16) {
		snprintf(err, errlen, "no network %s or too many VTEPs", name);
		return -ENOENT;
	}
	return 0;
}

static int
fake_network_del(struct dpu_net *n, const char *name, char *err, size_t errlen)
{
	struct fake_net *f = fake(n);
	struct fake_network *net;
	int rc = injected(f, "network_del", err, errlen);

	if (rc < 0)
		return rc;
	net = net_find(f, name);
	if (net == NULL) {
		snprintf(err, errlen, "no network %s", name);
		return -ENOENT;
	}
	for (size_t i = 0; i < f->nports; i++) {
		if (strcmp(f->ports[i].st.network, name) == 0) {
			snprintf(err, errlen, "port %s is on network %s", f->ports[i].st.port,
				 name);
			return -EBUSY;
		}
	}
	*net = f->nets[--f->nnets];
	return 0;
}

static int
port_add(struct fake_net *f, const char *port, const char *kind, char *err, size_t errlen,
	 struct fake_port **out)
{
	struct fake_port *ports;

	if (strlen(port) == 0 || strlen(port) >= sizeof(ports->st.port)) {
		snprintf(err, errlen, "bad port name");
		return -EINVAL;
	}
	if (port_find(f, port) != NULL) {
		snprintf(err, errlen, "port %s exists", port);
		return -EEXIST;
	}
	if (f->nports >= FAKE_MAX_PORTS) {
		snprintf(err, errlen, "too many ports");
		return -ENOSPC;
	}
	ports = realloc(f->ports, (f->nports + 1) * sizeof(*ports));
	if (ports == NULL)
		return -ENOMEM;
	f->ports = ports;
	*out = &ports[f->nports++];
	memset(*out, 0, sizeof(**out));
	snprintf((*out)->st.port, sizeof((*out)->st.port), "%s", port);
	snprintf((*out)->st.kind, sizeof((*out)->st.kind), "%s", kind);
	return 0;
}

static int
fake_vhost_port_add(struct dpu_net *n, const char *port, const char *network, const uint8_t mac[6],
		    unsigned int queue_pairs, char *socket_path, size_t path_len, char *err,
		    size_t errlen)
{
	struct fake_net *f = fake(n);
	struct fake_port *p;
	int rc = injected(f, "vhost_port_add", err, errlen);

	if (rc < 0)
		return rc;
	if (net_find(f, network) == NULL) {
		snprintf(err, errlen, "no network %s", network);
		return -ENOENT;
	}
	if (queue_pairs < 1 || queue_pairs > 8) {
		snprintf(err, errlen, "%u queue pairs", queue_pairs);
		return -EINVAL;
	}
	if ((size_t)snprintf(socket_path, path_len, "%s/%s.sock", f->vhost_dir, port) >= path_len) {
		snprintf(err, errlen, "socket path too long");
		return -ENAMETOOLONG;
	}
	rc = port_add(f, port, "vhost", err, errlen, &p);
	if (rc < 0)
		return rc;
	snprintf(p->st.network, sizeof(p->st.network), "%s", network);
	memcpy(p->st.mac, mac, 6);
	p->queue_pairs = queue_pairs;
	return 0;
}

static int
fake_uplink_add(struct dpu_net *n, const char *port, const char *devargs, char *err, size_t errlen)
{
	struct fake_net *f = fake(n);
	struct fake_port *p;
	int rc = injected(f, "uplink_add", err, errlen);

	if (rc < 0)
		return rc;
	if (devargs == NULL || devargs[0] == 0) {
		snprintf(err, errlen, "no devargs");
		return -EINVAL;
	}
	rc = port_add(f, port, "uplink", err, errlen, &p);
	if (rc == 0)
		p->st.link_up = true;
	return rc;
}

static int
fake_port_del(struct dpu_net *n, const char *port, char *err, size_t errlen)
{
	struct fake_net *f = fake(n);
	struct fake_port *p;
	int rc = port_op(f, "port_del", port, &p, err, errlen);

	if (rc < 0)
		return rc;
	/* As the real one: the port's mirror sessions go with it. */
	for (size_t i = 0; i < f->nmirrors;) {
		if (strcmp(f->mirrors[i].src, port) == 0 || strcmp(f->mirrors[i].dst, port) == 0)
			f->mirrors[i] = f->mirrors[--f->nmirrors];
		else
			i++;
	}
	*p = f->ports[--f->nports];
	return 0;
}

static int
fake_port_stats(struct dpu_net *n, const char *port, struct dp_port_stats *out, unsigned int max)
{
	struct fake_net *f = fake(n);
	unsigned int k = 0;

	if (port != NULL) {
		struct fake_port *p = port_find(f, port);

		if (p == NULL)
			return -ENOENT;
		if (max > 0)
			out[k++] = p->st;
		return (int)k;
	}
	for (size_t i = 0; i < f->nports && k < max; i++)
		out[k++] = f->ports[i].st;
	return (int)k;
}

static int
fake_port_qos(struct dpu_net *n, const char *port, const struct dp_qos *q, char *err, size_t errlen)
{
	struct fake_net *f = fake(n);
	struct fake_port *p;
	int rc = port_op(f, "port_qos", port, &p, err, errlen);

	if (rc < 0)
		return rc;
	p->st.qos = *q;
	return 0;
}

static int
fake_port_security(struct dpu_net *n, const char *port, const struct dp_sg_policy *pol, char *err,
		   size_t errlen)
{
	struct fake_net *f = fake(n);
	struct fake_port *p;
	int rc = port_op(f, "port_security", port, &p, err, errlen);

	if (rc < 0)
		return rc;
	memset(&p->sg, 0, sizeof(p->sg));
	if (pol != NULL) {
		p->sg.enabled = true;
		p->sg.ingress_deny = pol->ingress_deny;
		p->sg.egress_deny = pol->egress_deny;
		p->sg.n_ingress = pol->n_ingress;
		p->sg.n_egress = pol->n_egress;
	}
	return 0;
}

static int
fake_port_security_stats(struct dpu_net *n, const char *port, struct dp_sg_stats *st,
			 struct dp_sg_rule_stats *ingress, unsigned int max_in,
			 struct dp_sg_rule_stats *egress, unsigned int max_eg)
{
	struct fake_port *p = port_find(fake(n), port);

	if (p == NULL)
		return -ENOENT;
	*st = p->sg;
	if (ingress != NULL)
		memset(ingress, 0,
		       sizeof(*ingress) * (max_in < p->sg.n_ingress ? max_in : p->sg.n_ingress));
	if (egress != NULL)
		memset(egress, 0,
		       sizeof(*egress) * (max_eg < p->sg.n_egress ? max_eg : p->sg.n_egress));
	return 0;
}

static struct dp_mirror_stats *
mirror_find(struct fake_net *f, const char *name)
{
	for (size_t i = 0; i < f->nmirrors; i++)
		if (strcmp(f->mirrors[i].name, name) == 0)
			return &f->mirrors[i];
	return NULL;
}

static int
fake_mirror_add(struct dpu_net *n, const char *name, const char *src, unsigned int dir,
		const char *dst, char *err, size_t errlen)
{
	struct fake_net *f = fake(n);
	struct dp_mirror_stats *m;
	int rc = injected(f, "mirror_add", err, errlen);

	if (rc < 0)
		return rc;
	if (mirror_find(f, name) != NULL) {
		snprintf(err, errlen, "mirror %s exists", name);
		return -EEXIST;
	}
	if (port_find(f, src) == NULL || port_find(f, dst) == NULL) {
		snprintf(err, errlen, "no port %s", port_find(f, src) == NULL ? src : dst);
		return -ENOENT;
	}
	if (strcmp(src, dst) == 0 || dir == 0 || dir > (DP_MIRROR_RX | DP_MIRROR_TX)) {
		snprintf(err, errlen, "bad mirror session");
		return -EINVAL;
	}
	if (f->nmirrors >= FAKE_MAX_MIRRORS) {
		snprintf(err, errlen, "at most %d mirror sessions", FAKE_MAX_MIRRORS);
		return -ENOSPC;
	}
	m = &f->mirrors[f->nmirrors++];
	memset(m, 0, sizeof(*m));
	snprintf(m->name, sizeof(m->name), "%s", name);
	snprintf(m->src, sizeof(m->src), "%s", src);
	snprintf(m->dst, sizeof(m->dst), "%s", dst);
	m->dir = dir;
	return 0;
}

static int
fake_mirror_del(struct dpu_net *n, const char *name, char *err, size_t errlen)
{
	struct fake_net *f = fake(n);
	struct dp_mirror_stats *m = mirror_find(f, name);

	if (m == NULL) {
		snprintf(err, errlen, "no mirror %s", name);
		return -ENOENT;
	}
	*m = f->mirrors[--f->nmirrors];
	return 0;
}

static int
fake_mirror_stats(struct dpu_net *n, const char *name, struct dp_mirror_stats *out,
		  unsigned int max)
{
	struct fake_net *f = fake(n);
	unsigned int k = 0;

	for (size_t i = 0; i < f->nmirrors && k < max; i++)
		if (name == NULL || strcmp(f->mirrors[i].name, name) == 0)
			out[k++] = f->mirrors[i];
	return name != NULL && k == 0 ? -ENOENT : (int)k;
}

static void
fake_close(struct dpu_net *n)
{
	struct fake_net *f = fake(n);

	free(f->nets);
	free(f->ports);
	free(f);
}

static const struct dpu_net_ops fake_ops = {
	.name = "fake",
	.network_add = fake_network_add,
	.network_add_vxlan = fake_network_add_vxlan,
	.network_set_vteps = fake_network_set_vteps,
	.network_del = fake_network_del,
	.vhost_port_add = fake_vhost_port_add,
	.uplink_add = fake_uplink_add,
	.port_del = fake_port_del,
	.port_stats = fake_port_stats,
	.port_qos = fake_port_qos,
	.port_security = fake_port_security,
	.port_security_stats = fake_port_security_stats,
	.mirror_add = fake_mirror_add,
	.mirror_del = fake_mirror_del,
	.mirror_stats = fake_mirror_stats,
	.close = fake_close,
};

int
dpu_net_fake_open(const char *vhost_dir, struct dpu_net **out)
{
	struct fake_net *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -ENOMEM;
	f->base.ops = &fake_ops;
	snprintf(f->vhost_dir, sizeof(f->vhost_dir), "%s", vhost_dir ? vhost_dir : "");
	*out = &f->base;
	return 0;
}

void
dpu_net_close(struct dpu_net *n)
{
	if (n != NULL)
		n->ops->close(n);
}

void
dpu_net_fake_fail(struct dpu_net *n, const char *op, unsigned int after, int err)
{
	struct fake_net *f = fake(n);

	snprintf(f->fail_op, sizeof(f->fail_op), "%s", op);
	f->fail_after = after;
	f->fail_err = err;
}

int
dpu_net_fake_set_counters(struct dpu_net *n, const char *port, uint64_t rx_packets,
			  uint64_t tx_packets, const char *drop_reason, uint64_t drops)
{
	struct fake_port *p = port_find(fake(n), port);

	if (p == NULL)
		return -ENOENT;
	p->st.rx_packets = rx_packets;
	p->st.rx_bytes = rx_packets * 64;
	p->st.tx_packets = tx_packets;
	p->st.tx_bytes = tx_packets * 64;
	p->st.rx_l2_only = rx_packets / 10;
	p->st.ndrops = 0;
	if (drop_reason != NULL) {
		snprintf(p->st.drops[0].reason, sizeof(p->st.drops[0].reason), "%s", drop_reason);
		p->st.drops[0].count = drops;
		p->st.ndrops = 1;
	}
	return 0;
}

int
dpu_net_fake_set_mirror_counters(struct dpu_net *n, const char *name, uint64_t packets,
				 uint64_t drops)
{
	struct dp_mirror_stats *m = mirror_find(fake(n), name);

	if (m == NULL)
		return -ENOENT;
	m->packets = packets;
	m->bytes = packets * 64;
	m->drops = drops;
	return 0;
}

void
dpu_net_fake_counts(struct dpu_net *n, size_t *networks, size_t *vhost_ports, size_t *uplinks)
{
	struct fake_net *f = fake(n);

	*networks = f->nnets;
	*vhost_ports = 0;
	*uplinks = 0;
	for (size_t i = 0; i < f->nports; i++) {
		if (strcmp(f->ports[i].st.kind, "vhost") == 0)
			(*vhost_ports)++;
		else
			(*uplinks)++;
	}
}

bool
dpu_net_fake_port(struct dpu_net *n, const char *port, char *network, size_t network_len,
		  unsigned int *queue_pairs)
{
	struct fake_port *p = port_find(fake(n), port);

	if (p == NULL)
		return false;
	snprintf(network, network_len, "%s", p->st.network);
	*queue_pairs = p->queue_pairs;
	return true;
}
