/* SPDX-License-Identifier: MIT */
/*
 * Which dataplane nicvisor-dpu runs, from its options: the DPDK switch,
 * the fake, or none; hugepages or not; its uplinks.
 *
 * Host ports (--host-port) join their networks inside the DPDK adapter
 * (net_dp.c) whenever a network is added; here they are parsed and, once
 * the agent has restored its networks, checked.
 *
 * By default the DPDK dataplane starts when it is first needed: a network
 * created, saved networks restored, an uplink given, a disk served (the
 * block backend, blk_dp.c, shares it through dpu_net_dp()). Until then the agent
 * costs no polling core and no DPDK memory, which matters on a machine
 * that runs VMs without NICs. --dataplane on starts it at once, so a
 * machine that cannot run it fails at start.
 */
#define NV_LOG_COMPONENT "nicvisor.dpu.net"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"
#include "nv_log.h"
#include "validate.h"

/* Whether a port named name is given already (--uplink or --host-port). */
static bool
port_name_taken(const struct dpu_net_opts *o, const char *name)
{
	for (size_t i = 0; i < o->nuplinks; i++)
		if (strcmp(o->uplinks[i].name, name) == 0)
			return true;
	for (size_t i = 0; i < o->nhost_ports; i++)
		if (strcmp(o->host_ports[i].name, name) == 0)
			return true;
	return false;
}

/* NAME of NAME=REST into name (DPU_UPLINK_NAME_BUF bytes), checked and
 * not given before; *rest after the '='. */
static int
port_name_parse(const struct dpu_net_opts *o, const char *arg, const char *what,
		const char *example, char *name, const char **rest, char *err, size_t errlen)
{
	const char *eq = strchr(arg, '=');
	struct dpu_status st;
	size_t n;

	if (eq == NULL || eq == arg || eq[1] == 0) {
		snprintf(err, errlen, "'%s' is not %s", arg, example);
		return -EINVAL;
	}
	n = (size_t)(eq - arg);
	if (n >= DPU_UPLINK_NAME_BUF) {
		snprintf(err, errlen, "port name in '%.40s...' is too long", arg);
		return -EINVAL;
	}
	memcpy(name, arg, n);
	name[n] = 0;
	/* Host ports are named like uplinks: one namespace of switch ports. */
	if (dpu_validate_uplink_name(name, what, &st) < 0) {
		snprintf(err, errlen, "%s%s", strcmp(what, "uplink") != 0 ? "host port: " : "",
			 st.message);
		return -EINVAL;
	}
	if (port_name_taken(o, name)) {
		snprintf(err, errlen,
			 "port %s is given twice (--uplink and --host-port share names)", name);
		return -EINVAL;
	}
	*rest = eq + 1;
	return 0;
}

int
dpu_net_opts_add_uplink(struct dpu_net_opts *o, const char *arg, char *err, size_t errlen)
{
	char name[DPU_UPLINK_NAME_BUF];
	const char *devargs;

	if (port_name_parse(o, arg, "uplink", "NAME=DEVARGS (e.g. up0=net_af_packet0,iface=eth1)",
			    name, &devargs, err, errlen) < 0)
		return -EINVAL;
	if (o->nuplinks >= DPU_NET_MAX_UPLINKS) {
		snprintf(err, errlen, "at most %d uplinks", DPU_NET_MAX_UPLINKS);
		return -EINVAL;
	}
	snprintf(o->uplinks[o->nuplinks].name, sizeof(o->uplinks[0].name), "%s", name);
	o->uplinks[o->nuplinks].devargs = devargs;
	o->nuplinks++;
	return 0;
}

int
dpu_net_opts_add_host_port(struct dpu_net_opts *o, const char *arg, char *err, size_t errlen)
{
	static const char example[] =
		"NAME=DEVARGS@NETWORK (e.g. hpf0=0000:03:00.0,representor=[65535]@tenant-a)";
	struct dpu_host_port *h;
	char name[DPU_UPLINK_NAME_BUF];
	const char *devargs, *at;
	struct dpu_status st;

	if (port_name_parse(o, arg, "host port", example, name, &devargs, err, errlen) < 0)
		return -EINVAL;
	/* Network names have no '@'; devargs (a socket path) might. */
	at = strrchr(devargs, '@');
	if (at == NULL || at == devargs || at[1] == 0) {
		snprintf(err, errlen, "'%s' is not %s", arg, example);
		return -EINVAL;
	}
	if (strlen(at + 1) >= DPU_NET_NAME_BUF ||
	    dpu_validate_network_name(at + 1, "network", &st) < 0) {
		snprintf(err, errlen, "the network after '@' in '%.120s': %s", arg,
			 strlen(at + 1) >= DPU_NET_NAME_BUF ? "name too long" : st.message);
		return -EINVAL;
	}
	if (o->nhost_ports >= DPU_NET_MAX_HOST_PORTS) {
		snprintf(err, errlen, "at most %d host ports", DPU_NET_MAX_HOST_PORTS);
		return -EINVAL;
	}
	if ((size_t)(at - devargs) >= sizeof(o->host_ports[0].devargs)) {
		snprintf(err, errlen, "devargs of %s are longer than %zu bytes", name,
			 sizeof(o->host_ports[0].devargs) - 1);
		return -EINVAL;
	}
	h = &o->host_ports[o->nhost_ports];
	snprintf(h->name, sizeof(h->name), "%s", name);
	snprintf(h->network, sizeof(h->network), "%s", at + 1);
	snprintf(h->devargs, sizeof(h->devargs), "%.*s", (int)(at - devargs), devargs);
	o->nhost_ports++;
	return 0;
}

int
dpu_net_opts_set_vtep(struct dpu_net_opts *o, const char *arg, char *err, size_t errlen)
{
	const char *colon = strchr(arg, ':');
	char ip[INET_ADDRSTRLEN];
	size_t n = colon ? (size_t)(colon - arg) : strlen(arg);
	unsigned long port = 0;
	char *end = NULL;

	if (n >= sizeof(ip)) {
		snprintf(err, errlen, "'%.40s' is not IP[:PORT]", arg);
		return -EINVAL;
	}
	memcpy(ip, arg, n);
	ip[n] = 0;
	if (!dpu_vtep_addr_parse(ip, &o->vtep_ip)) {
		snprintf(err, errlen, "'%s' is not a unicast IPv4 address", ip);
		return -EINVAL;
	}
	if (colon != NULL) {
		errno = 0;
		port = strtoul(colon + 1, &end, 10);
		if (errno != 0 || end == colon + 1 || *end != 0 || port == 0 || port > 65535) {
			snprintf(err, errlen, "UDP port '%s' is not 1..65535", colon + 1);
			return -EINVAL;
		}
	}
	o->vtep_port = (uint16_t)port;
	return 0;
}

bool
dpu_net_hugepages_usable(const char *meminfo, const char *mounts)
{
	unsigned long free_pages = 0;
	bool mounted = false;
	char line[512];
	FILE *f;

	f = fopen(meminfo, "re");
	if (f == NULL)
		return false;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "HugePages_Free: %lu", &free_pages) == 1)
			break;
	fclose(f);
	if (free_pages == 0)
		return false;
	f = fopen(mounts, "re");
	if (f == NULL)
		return false;
	while (!mounted && fgets(line, sizeof(line), f) != NULL) {
		char dev[128], dir[256], type[64];

		if (sscanf(line, "%127s %255s %63s", dev, dir, type) == 3 &&
		    strcmp(type, "hugetlbfs") == 0)
			mounted = true;
	}
	fclose(f);
	return mounted;
}

static int
add_uplinks(const struct dpu_net_opts *o, struct dpu_net *net)
{
	for (size_t i = 0; i < o->nuplinks; i++) {
		char err[DPU_NET_ERR_MAX] = "";
		int rc = net->ops->uplink_add(net, o->uplinks[i].name, o->uplinks[i].devargs, err,
					      sizeof(err));

		if (rc < 0) {
			nv_err("uplink %s (%s): %s", o->uplinks[i].name, o->uplinks[i].devargs,
			       err[0] ? err : strerror(-rc));
			return rc;
		}
		nv_info("uplink %s: %s", o->uplinks[i].name, o->uplinks[i].devargs);
	}
	return 0;
}

#ifdef NV_HAVE_DATAPLANE
/* FNV-1a of the state directory's real path: one EAL file prefix per
 * agent, the same across its restarts (so it finds its own files again). */
static void
file_prefix(const char *state_dir, char *out, size_t size)
{
	char real[PATH_MAX];
	const char *p = realpath(state_dir, real) ? real : state_dir;
	uint32_t h = 2166136261u;

	for (; *p != 0; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	snprintf(out, size, "nvdpu-%08x", h);
}

static int
open_dpdk(const struct dpu_net_opts *o, struct dpu_net **out)
{
	char err[DPU_NET_ERR_MAX] = "", prefix[32];
	struct dp_conf conf = {
		.workers = o->workers ? o->workers : 1,
		.cpus = o->cpus,
		.mem_mb = o->mem_mb,
		.huge_dir = o->huge_dir,
		.vhost_dir = o->vhost_dir,
		.eal_extra = o->eal_extra,
		.idle_sleep = o->idle_sleep,
	};
	int rc;

	if (o->hugepages < 0) {
		conf.no_huge = !dpu_net_hugepages_usable("/proc/meminfo", "/proc/mounts");
		if (conf.no_huge)
			nv_info("no free hugepages (or no hugetlbfs mounted): the dataplane runs "
				"without hugepages, with %u MB of ordinary memory; reserve "
				"hugepages for production, or pass --dp-no-huge to say so",
				o->mem_mb ? o->mem_mb : 512);
	} else {
		conf.no_huge = o->hugepages == 0;
	}
	file_prefix(o->state_dir, prefix, sizeof(prefix));
	conf.file_prefix = prefix;
	rc = dpu_net_dp_open(&conf, o->host_ports, o->nhost_ports, out, err, sizeof(err));
	if (rc < 0) {
		nv_err("cannot start the dataplane: %s; nicvisor-dpu --dataplane off runs "
		       "without networking",
		       err[0] ? err : strerror(-rc));
		return rc;
	}
	if (o->vtep_ip != 0) {
		rc = dp_vtep_set(dpu_net_dp_of(*out), o->vtep_ip, o->vtep_port, err, sizeof(err));
		if (rc < 0) {
			nv_err("--vtep: %s", err);
			dpu_net_close(*out);
			*out = NULL;
			return rc;
		}
		char ip[INET_ADDRSTRLEN];

		nv_info("VXLAN VTEP %s, UDP port %u",
			inet_ntop(AF_INET, &o->vtep_ip, ip, sizeof(ip)),
			o->vtep_port ? o->vtep_port : 4789);
	}
	nv_info("dataplane: DPDK, %u worker%s%s%s, %s, vhost-user sockets in %s", conf.workers,
		conf.workers == 1 ? "" : "s", conf.cpus ? " on cores " : "",
		conf.cpus ? conf.cpus : "", conf.no_huge ? "no hugepages" : "hugepages",
		conf.vhost_dir);
	return 0;
}

/* The DPDK switch, opened by the first call that needs it. */
struct lazy_net {
	struct dpu_net base;
	struct dpu_net_opts opts;
	struct dpu_net *real;
	int open_rc; /* 0 until tried; then the result */
	char reason[DPU_NET_ERR_MAX];
};

static int
lazy_real(struct dpu_net *n, char *err, size_t errlen)
{
	struct lazy_net *l = (struct lazy_net *)n;

	if (l->open_rc == 0 && l->real == NULL) {
		nv_info("starting the dataplane: it is needed now");
		l->open_rc = open_dpdk(&l->opts, &l->real);
		if (l->open_rc < 0)
			snprintf(l->reason, sizeof(l->reason),
				 "the DPDK dataplane did not start (%s); see the agent's log",
				 strerror(-l->open_rc));
	}
	if (l->real == NULL) {
		/* DPDK's EAL starts once per process: restart the agent. */
		snprintf(err, errlen, "%s", l->reason);
		return -ENODEV;
	}
	return 0;
}

static int
lazy_network_add(struct dpu_net *n, const char *name, uint16_t vlan, char *err, size_t errlen)
{
	int rc = lazy_real(n, err, errlen);
	struct dpu_net *r = ((struct lazy_net *)n)->real;

	return rc < 0 ? rc : r->ops->network_add(r, name, vlan, err, errlen);
}

static int
lazy_network_add_vxlan(struct dpu_net *n, const char *name, uint32_t vni, const uint32_t *vteps,
		       unsigned int nvteps, char *err, size_t errlen)
{
	int rc = lazy_real(n, err, errlen);
	struct dpu_net *r = ((struct lazy_net *)n)->real;

	return rc < 0 ? rc : r->ops->network_add_vxlan(r, name, vni, vteps, nvteps, err, errlen);
}

static int
lazy_network_set_vteps(struct dpu_net *n, const char *name, const uint32_t *vteps,
		       unsigned int nvteps, char *err, size_t errlen)
{
	struct dpu_net *r = ((struct lazy_net *)n)->real;

	if (r == NULL) {
		snprintf(err, errlen, "no network %s", name);
		return -ENOENT;
	}
	return r->ops->network_set_vteps(r, name, vteps, nvteps, err, errlen);
}

static int
lazy_network_del(struct dpu_net *n, const char *name, char *err, size_t errlen)
{
	struct dpu_net *r = ((struct lazy_net *)n)->real;

	if (r == NULL) {
		snprintf(err, errlen, "no network %s", name);
		return -ENOENT;
	}
	return r->ops->network_del(r, name, err, errlen);
}

static int
lazy_vhost_port_add(struct dpu_net *n, const char *port, const char *network, const uint8_t mac[6],
		    unsigned int queue_pairs, char *socket_path, size_t path_len, char *err,
		    size_t errlen)
{
	int rc = lazy_real(n, err, errlen);
	struct dpu_net *r = ((struct lazy_net *)n)->real;

	return rc < 0 ? rc
		      : r->ops->vhost_port_add(r, port, network, mac, queue_pairs, socket_path,
					       path_len, err, errlen);
}

static int
lazy_uplink_add(struct dpu_net *n, const char *port, const char *devargs, char *err, size_t errlen)
{
	int rc = lazy_real(n, err, errlen);
	struct dpu_net *r = ((struct lazy_net *)n)->real;

	return rc < 0 ? rc : r->ops->uplink_add(r, port, devargs, err, errlen);
}

static int
lazy_port_del(struct dpu_net *n, const char *port, char *err, size_t errlen)
{
	struct dpu_net *r = ((struct lazy_net *)n)->real;

	if (r == NULL) {
		snprintf(err, errlen, "no port %s", port);
		return -ENOENT;
	}
	return r->ops->port_del(r, port, err, errlen);
}

static int
lazy_port_stats(struct dpu_net *n, const char *port, struct dp_port_stats *out, unsigned int max)
{
	struct dpu_net *r = ((struct lazy_net *)n)->real;

	/* Not started: no port exists. */
	if (r == NULL)
		return port != NULL ? -ENOENT : 0;
	return r->ops->port_stats(r, port, out, max);
}

/* Before the dataplane starts no port exists: nothing to limit or mirror. */
static struct dpu_net *
lazy_started(struct dpu_net *n, const char *what, char *err, size_t errlen)
{
	struct dpu_net *r = ((struct lazy_net *)n)->real;

	if (r == NULL && err != NULL)
		snprintf(err, errlen, "no %s (the dataplane has not started)", what);
	return r;
}

static int
lazy_port_qos(struct dpu_net *n, const char *port, const struct dp_qos *q, char *err, size_t errlen)
{
	struct dpu_net *r = lazy_started(n, "port", err, errlen);

	return r == NULL ? -ENOENT : r->ops->port_qos(r, port, q, err, errlen);
}

static int
lazy_port_security(struct dpu_net *n, const char *port, const struct dp_sg_policy *pol, char *err,
		   size_t errlen)
{
	struct dpu_net *r = lazy_started(n, "port", err, errlen);

	return r == NULL ? -ENOENT : r->ops->port_security(r, port, pol, err, errlen);
}

static int
lazy_port_security_stats(struct dpu_net *n, const char *port, struct dp_sg_stats *st,
			 struct dp_sg_rule_stats *ingress, unsigned int max_in,
			 struct dp_sg_rule_stats *egress, unsigned int max_eg)
{
	struct dpu_net *r = lazy_started(n, "port", NULL, 0);

	return r == NULL
		       ? -ENOENT
		       : r->ops->port_security_stats(r, port, st, ingress, max_in, egress, max_eg);
}

static int
lazy_mirror_add(struct dpu_net *n, const char *name, const char *src, unsigned int dir,
		const char *dst, char *err, size_t errlen)
{
	struct dpu_net *r = lazy_started(n, "port", err, errlen);

	return r == NULL ? -ENOENT : r->ops->mirror_add(r, name, src, dir, dst, err, errlen);
}

static int
lazy_mirror_del(struct dpu_net *n, const char *name, char *err, size_t errlen)
{
	struct dpu_net *r = lazy_started(n, "mirror session", err, errlen);

	return r == NULL ? -ENOENT : r->ops->mirror_del(r, name, err, errlen);
}

static int
lazy_mirror_stats(struct dpu_net *n, const char *name, struct dp_mirror_stats *out,
		  unsigned int max)
{
	struct dpu_net *r = lazy_started(n, "mirror session", NULL, 0);

	if (r == NULL)
		return name != NULL ? -ENOENT : 0;
	return r->ops->mirror_stats(r, name, out, max);
}

static int
lazy_worker_stats(struct dpu_net *n, struct dp_worker_stats *out, unsigned int max)
{
	struct dpu_net *r = ((struct lazy_net *)n)->real;

	/* Not started: no worker runs. */
	return r == NULL ? 0 : r->ops->worker_stats(r, out, max);
}

static void
lazy_close(struct dpu_net *n)
{
	struct lazy_net *l = (struct lazy_net *)n;

	dpu_net_close(l->real);
	free(l);
}

static const struct dpu_net_ops lazy_ops = {
	.name = "dpdk",
	.network_add = lazy_network_add,
	.network_add_vxlan = lazy_network_add_vxlan,
	.network_set_vteps = lazy_network_set_vteps,
	.network_del = lazy_network_del,
	.vhost_port_add = lazy_vhost_port_add,
	.uplink_add = lazy_uplink_add,
	.port_del = lazy_port_del,
	.port_stats = lazy_port_stats,
	.port_qos = lazy_port_qos,
	.port_security = lazy_port_security,
	.port_security_stats = lazy_port_security_stats,
	.mirror_add = lazy_mirror_add,
	.mirror_del = lazy_mirror_del,
	.mirror_stats = lazy_mirror_stats,
	.worker_stats = lazy_worker_stats,
	.close = lazy_close,
};

int
dpu_net_dp(struct dpu_net *n, bool start, struct dp **out, char *err, size_t errlen)
{
	*out = NULL;
	if (n != NULL && n->ops == &lazy_ops) {
		struct lazy_net *l = (struct lazy_net *)n;
		int rc;

		if (l->real == NULL && !start)
			return 0;
		rc = lazy_real(n, err, errlen);
		if (rc < 0)
			return rc;
		n = l->real;
	}
	*out = dpu_net_dp_of(n);
	if (*out == NULL) {
		snprintf(err, errlen, "the dataplane is %s, not DPDK",
			 n != NULL ? n->ops->name : "off");
		return -ENODEV;
	}
	return 0;
}

static int
open_lazy(const struct dpu_net_opts *o, struct dpu_net **out)
{
	struct lazy_net *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return -ENOMEM;
	l->base.ops = &lazy_ops;
	/* The strings stay valid: they are main()'s arguments. */
	l->opts = *o;
	*out = &l->base;
	nv_info("dataplane: DPDK, started when first needed (a network, a saved network, an "
		"uplink or a disk); --dataplane on starts it now");
	return 0;
}
#endif

int
dpu_net_open(const struct dpu_net_opts *o, struct dpu_net **out, const char **off_reason)
{
	enum dpu_dataplane_mode mode = o->mode;
	int rc;

	*out = NULL;
	*off_reason = NULL;
	if (mode == DPU_DATAPLANE_DEFAULT) {
#ifdef NV_HAVE_DATAPLANE
		rc = open_lazy(o, out);
		if (rc < 0)
			return rc;
		rc = add_uplinks(o, *out);
		if (rc < 0) {
			dpu_net_close(*out);
			*out = NULL;
		}
		return rc;
#else
		mode = DPU_DATAPLANE_OFF;
		*off_reason = "this nicvisor-dpu was built without DPDK";
#endif
	}
	switch (mode) {
	case DPU_DATAPLANE_OFF:
		if (*off_reason == NULL)
			*off_reason = "started with --dataplane off";
		if (o->nuplinks > 0)
			nv_warn("--uplink ignored: the dataplane is off");
		if (o->nhost_ports > 0)
			nv_warn("--host-port ignored: the dataplane is off");
		nv_info("dataplane off: %s; networks and NICs are refused", *off_reason);
		return 0;
	case DPU_DATAPLANE_FAKE:
		rc = dpu_net_fake_open(o->vhost_dir, out);
		if (rc < 0)
			return rc;
		nv_warn("dataplane: fake (--dataplane fake): networks and ports are kept, no "
			"packet moves");
		if (o->nhost_ports > 0)
			nv_warn("--host-port ignored: the fake dataplane has no access ports");
		break;
	case DPU_DATAPLANE_ON:
#ifdef NV_HAVE_DATAPLANE
		rc = open_dpdk(o, out);
		if (rc < 0)
			return rc;
		break;
#else
		nv_err("--dataplane on: this nicvisor-dpu was built without DPDK; use "
		       "--dataplane off (or fake for tests)");
		return -ENOTSUP;
#endif
	default:
		return -EINVAL;
	}
	rc = add_uplinks(o, *out);
	if (rc < 0) {
		dpu_net_close(*out);
		*out = NULL;
	}
	return rc;
}

int
dpu_net_host_ports_check(struct dpu_net *n, const struct dpu_net_opts *o)
{
	int rc = 0;

#ifdef NV_HAVE_DATAPLANE
	struct dpu_net *real = n;

	if (n != NULL && n->ops == &lazy_ops)
		real = ((struct lazy_net *)n)->real;
	if (n == NULL || (real != NULL && dpu_net_dp_of(real) == NULL))
		return 0; /* off or fake: said at open */
	for (size_t i = 0; i < o->nhost_ports; i++) {
		const struct dpu_host_port *h = &o->host_ports[i];
		char err[DPU_NET_ERR_MAX] = "";

		if (real != NULL && dpu_net_dp_host_port_attached(real, h->name, err, sizeof(err)))
			continue;
		if (err[0] != 0) {
			nv_err("host port %s could not join network %s (%s); fix "
			       "--host-port %s=%s@%s and restart",
			       h->name, h->network, err, h->name, h->devargs, h->network);
			rc = -EIO;
		} else {
			nv_info("host port %s (%s) waits for network %s: it is attached when the "
				"network is created",
				h->name, h->devargs, h->network);
		}
	}
#else
	(void)n;
	(void)o;
#endif
	return rc;
}
