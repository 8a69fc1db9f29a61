/* SPDX-License-Identifier: MIT */
/*
 * dp: the dataplane object, EAL, the control API of dp.h and the
 * housekeeping thread (MAC learning requests, aging, RCU reclamation).
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_random.h>

#include "blk.h"
#include "dp_priv.h"
#include "sg.h"

int dp_logtype = RTE_LOGTYPE_USER1;

const char *const dp_drop_names[DP_DROP_N] = {
	[DP_DROP_NO_BUFFER] = "no_buffer",
	[DP_DROP_QUEUE_FULL] = "queue_full",
	[DP_DROP_SPOOFED_SRC_MAC] = "spoofed_src_mac",
	[DP_DROP_NO_NETWORK] = "no_network",
	[DP_DROP_BAD_DESCRIPTOR] = "bad_descriptor",
	[DP_DROP_BROKEN_QUEUE] = "broken_queue",
	[DP_DROP_LINK_DOWN] = "link_down",
	[DP_DROP_MALFORMED] = "malformed",
	[DP_DROP_TRUNCATED] = "truncated",
	[DP_DROP_BAD_LENGTH] = "bad_length",
	[DP_DROP_BAD_HEADER] = "bad_header",
	[DP_DROP_BAD_FRAGMENT] = "bad_fragment",
	[DP_DROP_BAD_VXLAN] = "bad_vxlan",
	[DP_DROP_UNKNOWN_VNI] = "unknown_vni",
	[DP_DROP_VTEP_UNRESOLVED] = "vtep_unresolved",
	[DP_DROP_TOO_BIG] = "too_big",
	[DP_DROP_RATE_LIMITED] = "rate_limited",
	[DP_DROP_SECURITY_GROUP] = "security_group",
};

/* The EAL initialises once per process. */
static bool eal_used;

#define VHOST_POOL_MBUFS 4095 /* per queue pair */
#define MAX_ARGS         64

struct dead_pool {
	struct rte_mempool *mp;
	unsigned int size;
};
static struct dead_pool dead_pools[DP_MAX_PORTS];

static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static uint32_t
mono_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint32_t)ts.tv_sec;
}

/* "a-b,c" -> CPU numbers (at most max). */
static int
parse_cpus(const char *s, unsigned int *cpus, unsigned int max)
{
	unsigned int n = 0;
	char *end;

	while (*s != '\0') {
		unsigned long a = strtoul(s, &end, 10), b;

		if (end == s)
			return -EINVAL;
		b = a;
		s = end;
		if (*s == '-') {
			b = strtoul(s + 1, &end, 10);
			if (end == s + 1 || b < a)
				return -EINVAL;
			s = end;
		}
		for (; a <= b && n < max; a++)
			cpus[n++] = (unsigned int)a;
		if (*s == ',')
			s++;
		else if (*s != '\0')
			return -EINVAL;
	}
	return n > 0 ? (int)n : -EINVAL;
}

/* EAL lcores 0 (main) .. workers mapped onto the given CPUs, cycling. */
static int
lcore_map(const struct dp_conf *conf, char *out, size_t outlen, char *err, size_t errlen)
{
	unsigned int cpus[256], ncpu = 0, i;
	size_t off = 0;
	cpu_set_t set;

	if (conf->cpus != NULL && conf->cpus[0] != '\0') {
		int n = parse_cpus(conf->cpus, cpus, RTE_DIM(cpus));

		if (n < 0) {
			seterr(err, errlen, "bad cpu list '%s'", conf->cpus);
			return -EINVAL;
		}
		ncpu = (unsigned int)n;
	} else {
		if (sched_getaffinity(0, sizeof(set), &set) != 0)
			return -errno;
		for (i = 0; i < CPU_SETSIZE && ncpu < RTE_DIM(cpus); i++)
			if (CPU_ISSET(i, &set))
				cpus[ncpu++] = i;
	}
	for (i = 0; i <= conf->workers; i++) {
		int k = snprintf(out + off, outlen - off, "%s%u@%u", i ? "," : "", i,
				 cpus[i % ncpu]);

		if (k < 0 || (size_t)k >= outlen - off)
			return -E2BIG;
		off += (size_t)k;
	}
	return 0;
}

static void *
housekeeping(void *arg)
{
	struct dp *dp = arg;
	uint32_t last_age = 0;
	long nap_us = 1000;

	while (!atomic_load(&dp->stop)) {
		struct dp_learn req[64];
		struct timespec ts;
		unsigned int n, i;
		uint32_t now = mono_seconds();

		n = rte_ring_sc_dequeue_burst_elem(dp->learn_ring, req, sizeof(req[0]),
						   RTE_DIM(req), NULL);
		if (n == 0 && now == last_age) {
			pthread_mutex_lock(&dp->lock);
			l2_table_reclaim(dp->l2);
			pthread_mutex_unlock(&dp->lock);
			/* 1 ms after something to learn, up to 8 ms when there is
			 * nothing: fewer wake-ups on a core a worker may share */
			ts.tv_sec = 0;
			ts.tv_nsec = nap_us * 1000;
			nanosleep(&ts, NULL);
			if (nap_us < 8000)
				nap_us *= 2;
			continue;
		}
		if (n > 0)
			nap_us = 1000;
		pthread_mutex_lock(&dp->lock);
		for (i = 0; i < n; i++) {
			struct dp_port *p =
				req[i].port < DP_MAX_PORTS ? dp->ports[req[i].port] : NULL;

			/* Only uplinks and access ports learn; a request may
			 * outlive its port. */
			if (p == NULL || dp_port_is_vm(p))
				continue;
			if (req[i].net == DP_NET_NONE) {
				/* A full table leaves the VTEP unresolved (counted). */
				vx_nbr_learn(&dp->nbr, req[i].vtep, req[i].mac48, req[i].port);
				continue;
			}
			if (req[i].net >= DP_MAX_NETS || !dp->nets[req[i].net].used)
				continue;
			if (req[i].vtep != 0)
				l2_table_learn_vtep(dp->l2, req[i].net, req[i].mac48, req[i].port,
						    req[i].vtep);
			else
				l2_table_learn(dp->l2, req[i].net, req[i].mac48, req[i].port,
					       false);
		}
		if (now != last_age) {
			last_age = now;
			l2_table_age(dp->l2, now);
			dp_sg_ct_age(dp->ct);
			for (i = 0; i < DP_MAX_PORTS; i++) {
				struct dp_port *p = dp->ports[i];
				uint32_t fresh;

				if (p == NULL || !dp_port_is_vm(p))
					continue;
				fresh = dp_vhost_newly_broken(p);
				if (fresh != 0)
					DP_LOG(WARNING,
					       "port %s: virtqueues 0x%x marked broken "
					       "(bad descriptors); until the frontend reconnects\n",
					       p->name, fresh);
			}
		}
		l2_table_reclaim(dp->l2);
		pthread_mutex_unlock(&dp->lock);
	}
	return NULL;
}

void
dp_cfg_publish(struct dp *dp, struct dp_cfg *c)
{
	struct dp_cfg *old;

	c->gen = atomic_load_explicit(&dp->cfg, memory_order_relaxed)->gen + 1;
	old = atomic_exchange_explicit(&dp->cfg, c, memory_order_acq_rel);

	rte_rcu_qsbr_synchronize(dp->qsbr, RTE_QSBR_THRID_INVALID);
	dp_cfg_free(old);
}

static int
eal_init(const struct dp_conf *conf, char *err, size_t errlen)
{
	char lcores[1024], mem[32], prefix[128], hugedir[512];
	char *extra = NULL, *argv[MAX_ARGS], *tok, *save = NULL;
	int argc = 0, rc;
	cpu_set_t saved;
	bool have_aff;

	rc = lcore_map(conf, lcores, sizeof(lcores), err, errlen);
	if (rc < 0)
		return rc;
	argv[argc++] = "nicvisor-dp";
	argv[argc++] = "--lcores";
	argv[argc++] = lcores;
	argv[argc++] = "--main-lcore=0";
	snprintf(prefix, sizeof(prefix), "--file-prefix=%s", conf->file_prefix);
	argv[argc++] = prefix;
	/* virtio (vhost) needs VA as IOVA when there is no IOMMU. */
	argv[argc++] = "--iova-mode=va";
	if (conf->no_huge) {
		snprintf(mem, sizeof(mem), "%u", conf->mem_mb ? conf->mem_mb : 512);
		argv[argc++] = "--no-huge";
		argv[argc++] = "-m";
		argv[argc++] = mem;
		argv[argc++] = "--no-shconf";
		/* Development machines: uplinks are virtual devices. */
		argv[argc++] = "--no-pci";
	} else if (conf->huge_dir != NULL) {
		snprintf(hugedir, sizeof(hugedir), "--huge-dir=%s", conf->huge_dir);
		argv[argc++] = hugedir;
		/* No map files left behind, even after kill -9. */
		argv[argc++] = "--huge-unlink";
		argv[argc++] = "--single-file-segments";
	} else {
		argv[argc++] = "--in-memory";
		argv[argc++] = "--single-file-segments";
	}
	if (conf->eal_extra != NULL) {
		extra = strdup(conf->eal_extra);
		if (extra == NULL)
			return -ENOMEM;
		for (tok = strtok_r(extra, " \t", &save); tok != NULL;
		     tok = strtok_r(NULL, " \t", &save)) {
			if (argc >= MAX_ARGS - 1) {
				free(extra);
				seterr(err, errlen, "too many EAL arguments");
				return -E2BIG;
			}
			argv[argc++] = tok;
		}
	}
	argv[argc] = NULL;
	/* rte_eal_init pins the calling thread to the main lcore's CPU: the
	 * caller is a control thread of the agent, give it its CPUs back. */
	have_aff = pthread_getaffinity_np(pthread_self(), sizeof(saved), &saved) == 0;
	rc = rte_eal_init(argc, argv);
	if (have_aff)
		pthread_setaffinity_np(pthread_self(), sizeof(saved), &saved);
	free(extra);
	if (rc < 0) {
		seterr(err, errlen, "DPDK EAL init failed: %s", rte_strerror(rte_errno));
		return rte_errno ? -rte_errno : -EINVAL;
	}
	return 0;
}

int
dp_open(const struct dp_conf *conf, struct dp **out, char *err, size_t errlen)
{
	struct dp *dp;
	unsigned int i, lcore;
	struct stat st;
	size_t qsz;
	int rc;

	if (conf == NULL || conf->workers < 1 || conf->workers > DP_MAX_WORKERS) {
		seterr(err, errlen, "workers must be 1..%d", DP_MAX_WORKERS);
		return -EINVAL;
	}
	if (conf->file_prefix == NULL || conf->file_prefix[0] == '\0' ||
	    strlen(conf->file_prefix) >= 64) {
		seterr(err, errlen, "a file prefix (unique per process) is required");
		return -EINVAL;
	}
	if (conf->vhost_dir == NULL || stat(conf->vhost_dir, &st) != 0 || !S_ISDIR(st.st_mode) ||
	    strlen(conf->vhost_dir) >= 200) {
		seterr(err, errlen, "vhost_dir must be an existing directory");
		return -EINVAL;
	}
	if (eal_used) {
		seterr(err, errlen, "the dataplane can be opened once per process");
		return -EALREADY;
	}
	dp = calloc(1, sizeof(*dp));
	if (dp == NULL)
		return -ENOMEM;
	dp->conf = *conf;
	dp->workers = conf->workers;
	snprintf(dp->vhost_dir, sizeof(dp->vhost_dir), "%s", conf->vhost_dir);
	snprintf(dp->file_prefix, sizeof(dp->file_prefix), "%s", conf->file_prefix);
	dp->conf.vhost_dir = dp->vhost_dir;
	dp->conf.file_prefix = dp->file_prefix;
	dp->conf.cpus = NULL;
	dp->conf.huge_dir = NULL;
	dp->conf.eal_extra = NULL;
	pthread_mutex_init(&dp->lock, NULL);
	pthread_mutex_init(&dp->vhost_lock, NULL);
	eal_used = true;
	rc = eal_init(conf, err, errlen);
	if (rc < 0)
		goto out_free;
	dp_logtype = rte_log_register_type_and_pick_level("nicvisor.dp.switch", RTE_LOG_INFO);
	if (dp_logtype < 0)
		dp_logtype = RTE_LOGTYPE_USER1;
	/* rte_vhost logs every vhost-user message at INFO. */
	if (conf->eal_extra == NULL || strstr(conf->eal_extra, "vhost") == NULL)
		rte_log_set_level_pattern("lib.vhost.*", RTE_LOG_NOTICE);
	if (rte_lcore_count() < conf->workers + 1) {
		seterr(err, errlen, "EAL has %u lcores, need %u", rte_lcore_count(),
		       conf->workers + 1);
		rc = -EINVAL;
		goto out_eal;
	}
	qsz = rte_rcu_qsbr_get_memsize(DP_MAX_WORKERS);
	dp->qsbr = rte_zmalloc("dp_qsbr", qsz, RTE_CACHE_LINE_SIZE);
	if (dp->qsbr == NULL || rte_rcu_qsbr_init(dp->qsbr, DP_MAX_WORKERS) != 0) {
		seterr(err, errlen, "no memory for RCU state");
		rc = -ENOMEM;
		goto out_eal;
	}
	rc = l2_table_create("dp_l2", DP_L2_CAPACITY, DP_L2_TTL_S, dp->qsbr, &dp->l2);
	if (rc < 0) {
		seterr(err, errlen, "cannot create the MAC table: %s", strerror(-rc));
		goto out_qsbr;
	}
	atomic_store(&dp->l2->now, mono_seconds());
	rc = dp_sg_ct_create("dp_sg_ct", DP_SG_CT_ENTRIES, dp->qsbr, &dp->ct);
	if (rc < 0) {
		seterr(err, errlen, "cannot create the connection table: %s", strerror(-rc));
		goto out_l2;
	}
	dp->learn_ring = rte_ring_create_elem("dp_learn", sizeof(struct dp_learn), 4096,
					      SOCKET_ID_ANY, RING_F_SC_DEQ);
	dp->direct_pool = rte_pktmbuf_pool_create("dp_direct", 8191, 256, 0,
						  RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	dp->indirect_pool = rte_pktmbuf_pool_create("dp_indirect", 8191, 256, 0, 0, SOCKET_ID_ANY);
	if (dp->learn_ring == NULL || dp->direct_pool == NULL || dp->indirect_pool == NULL) {
		seterr(err, errlen, "no memory for the dataplane's rings and pools (mem_mb?)");
		rc = -ENOMEM;
		goto out_pools;
	}
	dp->cfg = dp_cfg_clone(NULL);
	if (dp->cfg == NULL) {
		rc = -ENOMEM;
		goto out_pools;
	}
	dp_vhost_set_current(dp);
	i = 0;
	RTE_LCORE_FOREACH_WORKER(lcore)
	{
		if (i == dp->workers)
			break;
		dp->worker[i].dp = dp;
		dp->worker[i].idx = i;
		dp->worker[i].lcore = lcore;
		rc = rte_eal_remote_launch(dp_worker_main, &dp->worker[i], lcore);
		if (rc != 0) {
			seterr(err, errlen, "cannot start worker on lcore %u", lcore);
			atomic_store(&dp->stop, true);
			rte_eal_mp_wait_lcore();
			goto out_cfg;
		}
		i++;
	}
	rc = pthread_create(&dp->hk_thread, NULL, housekeeping, dp);
	if (rc != 0) {
		rc = -rc;
		atomic_store(&dp->stop, true);
		rte_eal_mp_wait_lcore();
		goto out_cfg;
	}
	pthread_setname_np(dp->hk_thread, "dp-housekeep");
	dp->hk_started = true;
	DP_LOG(INFO, "dataplane up: %u worker(s), %s\n", dp->workers,
	       conf->no_huge ? "no hugepages" : "hugepages");
	*out = dp;
	return 0;

out_cfg:
	dp_cfg_free(dp->cfg);
out_pools:
	rte_mempool_free(dp->direct_pool);
	rte_mempool_free(dp->indirect_pool);
	rte_ring_free(dp->learn_ring);
	dp_sg_ct_free(dp->ct);
out_l2:
	l2_table_free(dp->l2);
out_qsbr:
	rte_free(dp->qsbr);
out_eal:
	rte_eal_cleanup();
out_free:
	free(dp);
	return rc;
}

static struct dp_port *
port_by_name(struct dp *dp, const char *name)
{
	unsigned int i;

	for (i = 0; i < DP_MAX_PORTS; i++)
		if (dp->ports[i] != NULL && strcmp(dp->ports[i]->name, name) == 0)
			return dp->ports[i];
	return NULL;
}

struct dp_port *
dp_port_by_name(struct dp *dp, const char *name)
{
	return name != NULL ? port_by_name(dp, name) : NULL;
}

static int
net_by_name(struct dp *dp, const char *name)
{
	unsigned int i;

	for (i = 0; i < DP_MAX_NETS; i++)
		if (dp->nets[i].used && strcmp(dp->nets[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* Names become file names (sockets) and log words. */
int
dp_check_name(const char *what, const char *name, char *err, size_t errlen)
{
	size_t i, n = name ? strlen(name) : 0;

	if (n == 0 || n >= 64) {
		seterr(err, errlen, "%s name must be 1..63 characters", what);
		return -EINVAL;
	}
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && strchr("._-", name[i]) == NULL) {
			seterr(err, errlen, "%s name '%s': only letters, digits, '.', '_', '-'",
			       what, name);
			return -EINVAL;
		}
	if (name[0] == '.') {
		seterr(err, errlen, "%s name must not start with '.'", what);
		return -EINVAL;
	}
	return 0;
}

/* Add a VLAN network (vni 0) or an overlay network; arguments checked. */
static int
net_insert(struct dp *dp, const char *name, uint16_t vlan, uint32_t vni, const uint32_t *vteps,
	   unsigned int nvteps, char *err, size_t errlen)
{
	struct dp_cfg *c;
	int rc = 0, id = -1;
	unsigned int i;

	pthread_mutex_lock(&dp->lock);
	if (net_by_name(dp, name) >= 0) {
		seterr(err, errlen, "network %s exists", name);
		rc = -EEXIST;
		goto out;
	}
	for (i = 0; i < DP_MAX_NETS; i++) {
		if (dp->nets[i].used && vni == 0 && dp->nets[i].vni == 0 &&
		    dp->nets[i].vlan == vlan) {
			seterr(err, errlen, "vlan %u is network %s's", vlan, dp->nets[i].name);
			rc = -EEXIST;
			goto out;
		}
		if (dp->nets[i].used && vni != 0 && dp->nets[i].vni == vni) {
			seterr(err, errlen, "vni %u is network %s's", vni, dp->nets[i].name);
			rc = -EEXIST;
			goto out;
		}
		if (!dp->nets[i].used && id < 0)
			id = (int)i;
	}
	if (id < 0) {
		seterr(err, errlen, "at most %d networks", DP_MAX_NETS);
		rc = -ENOSPC;
		goto out;
	}
	c = dp_cfg_clone(dp->cfg);
	if (c == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	if (vni != 0)
		rc = dp_cfg_net_set_vni(c, (uint16_t)id, vni, vteps, nvteps);
	else
		rc = dp_cfg_net_set(c, (uint16_t)id, vlan);
	if (rc < 0) {
		dp_cfg_free(c);
		seterr(err, errlen, "cannot add network: %s", strerror(-rc));
		goto out;
	}
	dp->nets[id].used = true;
	dp->nets[id].vlan = vlan;
	dp->nets[id].vni = vni;
	dp->nets[id].nports = 0;
	snprintf(dp->nets[id].name, sizeof(dp->nets[id].name), "%s", name);
	dp_cfg_publish(dp, c);
out:
	pthread_mutex_unlock(&dp->lock);
	return rc;
}

int
dp_network_add(struct dp *dp, const char *name, uint16_t vlan, char *err, size_t errlen)
{
	int rc;

	rc = dp_check_name("network", name, err, errlen);
	if (rc < 0)
		return rc;
	if (vlan > 4094) {
		seterr(err, errlen, "vlan must be 0 (untagged) or 1..4094");
		return -EINVAL;
	}
	return net_insert(dp, name, vlan, 0, NULL, 0, err, errlen);
}

int
dp_network_del(struct dp *dp, const char *name, char *err, size_t errlen)
{
	struct dp_cfg *c;
	int id, rc = 0;

	pthread_mutex_lock(&dp->lock);
	id = name ? net_by_name(dp, name) : -1;
	if (id < 0) {
		seterr(err, errlen, "no network %s", name ? name : "(null)");
		rc = -ENOENT;
		goto out;
	}
	if (dp->nets[id].nports > 0) {
		seterr(err, errlen, "network %s has %u port(s)", name, dp->nets[id].nports);
		rc = -EBUSY;
		goto out;
	}
	c = dp_cfg_clone(dp->cfg);
	if (c == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	dp_cfg_net_clear(c, (uint16_t)id);
	dp_cfg_publish(dp, c);
	l2_table_forget_net(dp->l2, (uint16_t)id);
	memset(&dp->nets[id], 0, sizeof(dp->nets[id]));
out:
	pthread_mutex_unlock(&dp->lock);
	return rc;
}

/* A flood list: unicast IPv4 addresses, not repeated. */
static int
check_vteps(const uint32_t *vteps, unsigned int n, char *err, size_t errlen)
{
	unsigned int i, j;

	if (n > DP_NET_MAX_VTEPS || (n > 0 && vteps == NULL)) {
		seterr(err, errlen, "at most %d remote VTEPs", DP_NET_MAX_VTEPS);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		if (!vx_ip_unicast(vteps[i])) {
			seterr(err, errlen, "remote VTEP %u is not a unicast IPv4 address", i);
			return -EINVAL;
		}
		for (j = 0; j < i; j++)
			if (vteps[j] == vteps[i]) {
				seterr(err, errlen, "remote VTEP %u repeats %u", i, j);
				return -EINVAL;
			}
	}
	return 0;
}

int
dp_network_add_vxlan(struct dp *dp, const char *name, uint32_t vni, const uint32_t *vteps,
		     unsigned int nvteps, char *err, size_t errlen)
{
	int rc;

	rc = dp_check_name("network", name, err, errlen);
	if (rc < 0)
		return rc;
	if (vni == 0 || vni > VX_VNI_MAX) {
		seterr(err, errlen, "vni must be 1..%u", VX_VNI_MAX);
		return -EINVAL;
	}
	rc = check_vteps(vteps, nvteps, err, errlen);
	if (rc < 0)
		return rc;
	return net_insert(dp, name, 0, vni, vteps, nvteps, err, errlen);
}

int
dp_network_set_vteps(struct dp *dp, const char *name, const uint32_t *vteps, unsigned int nvteps,
		     char *err, size_t errlen)
{
	struct dp_cfg *c;
	int id, rc;

	rc = check_vteps(vteps, nvteps, err, errlen);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&dp->lock);
	id = name ? net_by_name(dp, name) : -1;
	if (id < 0 || dp->nets[id].vni == 0) {
		seterr(err, errlen, "no overlay network %s", name ? name : "(null)");
		rc = -ENOENT;
		goto out;
	}
	c = dp_cfg_clone(dp->cfg);
	if (c == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	rc = dp_cfg_net_set_vni(c, (uint16_t)id, dp->nets[id].vni, vteps, nvteps);
	if (rc < 0) {
		dp_cfg_free(c);
		seterr(err, errlen, "cannot set remote VTEPs: %s", strerror(-rc));
		goto out;
	}
	dp_cfg_publish(dp, c);
out:
	pthread_mutex_unlock(&dp->lock);
	return rc;
}

/* Under dp->lock: tell filtering uplinks the VTEP address moved. */
static void
uplinks_vtep(struct dp *dp, uint32_t old_ip, uint32_t ip)
{
	unsigned int i;

	for (i = 0; i < DP_MAX_PORTS; i++) {
		struct dp_port *p = dp->ports[i];

		if (p != NULL && p->is_uplink && p->ops->vtep != NULL &&
		    p->ops->vtep(p, old_ip, ip) != 0)
			DP_LOG(WARNING, "uplink %s: cannot steer ARP for the VTEP address\n",
			       p->name);
	}
}

int
dp_vtep_set(struct dp *dp, uint32_t ip, uint16_t udp_port, char *err, size_t errlen)
{
	struct dp_cfg *c;

	if (ip != 0 && !vx_ip_unicast(ip)) {
		seterr(err, errlen, "the VTEP address must be a unicast IPv4 address");
		return -EINVAL;
	}
	pthread_mutex_lock(&dp->lock);
	c = dp_cfg_clone(dp->cfg);
	if (c == NULL) {
		pthread_mutex_unlock(&dp->lock);
		return -ENOMEM;
	}
	uplinks_vtep(dp, c->vtep_ip, ip);
	c->vtep_ip = ip;
	c->vtep_port = udp_port != 0 ? udp_port : VX_PORT_DEFAULT;
	dp_cfg_publish(dp, c);
	pthread_mutex_unlock(&dp->lock);
	return 0;
}

static int next_port_id;

/* Port ids go round, so that a learning request of a deleted port is
 * unlikely to meet a new port with its id. */
static int
alloc_port_id(struct dp *dp)
{
	unsigned int i;

	for (i = 0; i < DP_MAX_PORTS; i++) {
		unsigned int id = (unsigned int)(next_port_id + (int)i) % DP_MAX_PORTS;

		if (dp->ports[id] == NULL) {
			next_port_id = (int)(id + 1) % DP_MAX_PORTS;
			return (int)id;
		}
	}
	return -1;
}

static struct rte_mempool *
vhost_pool(unsigned int qpairs, uint16_t id)
{
	unsigned int size = VHOST_POOL_MBUFS * qpairs, i;
	char name[RTE_MEMPOOL_NAMESIZE];

	for (i = 0; i < DP_MAX_PORTS; i++) {
		struct dead_pool *d = &dead_pools[i];

		if (d->mp != NULL && d->size == size && rte_mempool_full(d->mp)) {
			struct rte_mempool *mp = d->mp;

			d->mp = NULL;
			return mp;
		}
	}
	snprintf(name, sizeof(name), "dp_vm%u_%u", id, (unsigned int)rte_rand() & 0xffff);
	return rte_pktmbuf_pool_create(name, size, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
				       SOCKET_ID_ANY);
}

/* Keep a deleted port's pool until its mbufs have all come home. */
static void
bury_pool(struct rte_mempool *mp, unsigned int size)
{
	unsigned int i;

	if (mp == NULL)
		return;
	for (i = 0; i < DP_MAX_PORTS; i++)
		if (dead_pools[i].mp == NULL) {
			dead_pools[i].mp = mp;
			dead_pools[i].size = size;
			return;
		}
	/* No room: this pool stays allocated until the process ends. */
}

struct port_extra {
	struct rte_mempool *pool;
	unsigned int pool_size;
};

static struct dp_port *
port_new(struct dp *dp, int id, const char *name, const struct dp_port_ops *ops)
{
	struct dp_port *p =
		rte_zmalloc("dp_port", sizeof(*p) + sizeof(struct port_extra), RTE_CACHE_LINE_SIZE);

	if (p == NULL)
		return NULL;
	p->dp = dp;
	p->ops = ops;
	p->id = (uint16_t)id;
	snprintf(p->name, sizeof(p->name), "%s", name);
	return p;
}

static struct port_extra *
port_extra(struct dp_port *p)
{
	return (struct port_extra *)(p + 1);
}

/* Add an opened port to the snapshot; on failure it is closed and freed. */
static int
port_publish(struct dp *dp, struct dp_port *p, char *err, size_t errlen)
{
	struct dp_cfg *c = dp_cfg_clone(dp->cfg);
	int rc;

	if (c == NULL)
		return -ENOMEM;
	rc = dp_cfg_port_set(c, p, dp->workers);
	if (rc < 0) {
		dp_cfg_free(c);
		seterr(err, errlen, "cannot add port %s: %s", p->name, strerror(-rc));
		return rc;
	}
	dp->ports[p->id] = p;
	dp_cfg_publish(dp, c);
	return 0;
}

/* Under dp->lock: VM port vm came (add) or goes; tell the uplinks that
 * filter by MAC (AF_XDP), unless another VM port keeps its MAC. */
static void
uplinks_vm_mac(struct dp *dp, const struct dp_port *vm, bool add)
{
	unsigned int i;

	for (i = 0; !add && i < DP_MAX_PORTS; i++) {
		const struct dp_port *o = dp->ports[i];

		if (o != NULL && o != vm && dp_port_is_vm(o) && o->mac48 == vm->mac48)
			return;
	}
	for (i = 0; i < DP_MAX_PORTS; i++) {
		struct dp_port *u = dp->ports[i];

		if (u != NULL && u->is_uplink && u->ops->vm_mac != NULL &&
		    u->ops->vm_mac(u, vm->mac, add) != 0)
			DP_LOG(WARNING, "uplink %s: cannot %s a VM's MAC in its XDP filter\n",
			       u->name, add ? "add" : "remove");
	}
}

int
dp_vhost_port_add(struct dp *dp, const char *port, const char *network, const uint8_t mac[6],
		  unsigned int queue_pairs, char *socket_path, size_t path_len, char *err,
		  size_t errlen)
{
	static const uint8_t zero[6];
	char path[PATH_MAX];
	struct dp_port *p;
	int rc, id, net;

	rc = dp_check_name("port", port, err, errlen);
	if (rc < 0)
		return rc;
	if (mac == NULL || (mac[0] & 1) || memcmp(mac, zero, 6) == 0) {
		seterr(err, errlen, "a VM port needs a unicast MAC");
		return -EINVAL;
	}
	if (queue_pairs < 1 || queue_pairs > DP_MAX_QPAIRS) {
		seterr(err, errlen, "queue_pairs must be 1..%d", DP_MAX_QPAIRS);
		return -EINVAL;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/%s.sock", dp->vhost_dir, port) >= 108) {
		seterr(err, errlen, "socket path %s/%s.sock is too long for a unix socket",
		       dp->vhost_dir, port);
		return -ENAMETOOLONG;
	}
	pthread_mutex_lock(&dp->lock);
	if (port_by_name(dp, port) != NULL) {
		seterr(err, errlen, "port %s exists", port);
		rc = -EEXIST;
		goto out;
	}
	net = network ? net_by_name(dp, network) : -1;
	if (net < 0) {
		seterr(err, errlen, "no network %s", network ? network : "(null)");
		rc = -ENOENT;
		goto out;
	}
	id = alloc_port_id(dp);
	if (id < 0) {
		seterr(err, errlen, "at most %d ports", DP_MAX_PORTS);
		rc = -ENOSPC;
		goto out;
	}
	p = port_new(dp, id, port, &dp_vhost_ops);
	if (p == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	p->net = (uint16_t)net;
	memcpy(p->mac, mac, 6);
	p->mac48 = dp_mac48(mac);
	snprintf(p->netname, sizeof(p->netname), "%s", network);
	port_extra(p)->pool_size = VHOST_POOL_MBUFS * queue_pairs;
	port_extra(p)->pool = vhost_pool(queue_pairs, (uint16_t)id);
	if (port_extra(p)->pool == NULL) {
		seterr(err, errlen, "no memory for %u mbufs (mem_mb?)", port_extra(p)->pool_size);
		rc = -ENOMEM;
		goto out_free;
	}
	rc = dp_vhost_open_arg(p, path, queue_pairs, port_extra(p)->pool, err, errlen);
	if (rc < 0)
		goto out_pool;
	rc = port_publish(dp, p, err, errlen);
	if (rc < 0)
		goto out_close;
	/* The VM's own MAC, for good: frames to it never flood. */
	rc = l2_table_learn(dp->l2, (uint16_t)net, p->mac48, p->id, true);
	if (rc < 0)
		DP_LOG(WARNING, "port %s: MAC not installed (%s); frames to it flood\n", port,
		       strerror(-rc));
	uplinks_vm_mac(dp, p, true);
	rc = 0;
	dp->nets[net].nports++;
	if (socket_path != NULL && path_len > 0)
		snprintf(socket_path, path_len, "%s", path);
	goto out;

out_close:
	p->ops->close(p);
out_pool:
	bury_pool(port_extra(p)->pool, port_extra(p)->pool_size);
out_free:
	rte_free(p);
out:
	pthread_mutex_unlock(&dp->lock);
	return rc;
}

/* An ethdev port: an uplink (network NULL) or an access port of network. */
static int
ethdev_port_add(struct dp *dp, const char *port, const char *network, const char *devargs,
		char *err, size_t errlen)
{
	struct dp_port *p;
	unsigned int i;
	int rc, id, net = DP_NET_NONE;

	rc = dp_check_name("port", port, err, errlen);
	if (rc < 0)
		return rc;
	if (devargs == NULL || devargs[0] == '\0') {
		seterr(err, errlen, "an ethdev port needs devargs");
		return -EINVAL;
	}
	pthread_mutex_lock(&dp->lock);
	if (port_by_name(dp, port) != NULL) {
		seterr(err, errlen, "port %s exists", port);
		rc = -EEXIST;
		goto out;
	}
	if (network != NULL) {
		net = net_by_name(dp, network);
		if (net < 0) {
			seterr(err, errlen, "no network %s", network);
			rc = -ENOENT;
			goto out;
		}
	}
	id = alloc_port_id(dp);
	if (id < 0) {
		seterr(err, errlen, "at most %d ports", DP_MAX_PORTS);
		rc = -ENOSPC;
		goto out;
	}
	p = port_new(dp, id, port, &dp_ethdev_ops);
	if (p == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	p->is_uplink = network == NULL;
	p->is_access = network != NULL;
	p->net = (uint16_t)net;
	if (network != NULL)
		snprintf(p->netname, sizeof(p->netname), "%s", network);
	rc = dp_ethdev_open_arg(p, devargs, dp->workers, &port_extra(p)->pool, err, errlen);
	if (rc < 0) {
		rte_free(p);
		goto out;
	}
	/* An access port takes every frame: no MAC or VTEP filter to set. */
	for (i = 0; p->is_uplink && i < DP_MAX_PORTS; i++) {
		const struct dp_port *vm = dp->ports[i];

		if (vm != NULL && dp_port_is_vm(vm) && p->ops->vm_mac != NULL &&
		    p->ops->vm_mac(p, vm->mac, true) != 0)
			DP_LOG(WARNING, "uplink %s: cannot steer %s's MAC to the dataplane\n", port,
			       vm->name);
	}
	if (p->is_uplink && dp->cfg->vtep_ip != 0 && p->ops->vtep != NULL &&
	    p->ops->vtep(p, 0, dp->cfg->vtep_ip) != 0)
		DP_LOG(WARNING, "uplink %s: cannot steer ARP for the VTEP address\n", port);
	rc = port_publish(dp, p, err, errlen);
	if (rc < 0) {
		struct rte_mempool *mp = port_extra(p)->pool;

		p->ops->close(p);
		rte_mempool_free(mp);
		rte_free(p);
		goto out;
	}
	if (p->is_access)
		dp->nets[net].nports++;
out:
	pthread_mutex_unlock(&dp->lock);
	return rc;
}

int
dp_uplink_add(struct dp *dp, const char *port, const char *devargs, char *err, size_t errlen)
{
	return ethdev_port_add(dp, port, NULL, devargs, err, errlen);
}

int
dp_access_port_add(struct dp *dp, const char *port, const char *network, const char *devargs,
		   char *err, size_t errlen)
{
	if (network == NULL) {
		seterr(err, errlen, "an access port needs a network");
		return -EINVAL;
	}
	return ethdev_port_add(dp, port, network, devargs, err, errlen);
}

/* Under dp->lock. With workers running, they stop seeing the port first. */
static int
port_remove(struct dp *dp, struct dp_port *p, bool workers_running)
{
	struct dp_mirror *gone[DP_MAX_MIRRORS];
	unsigned int ngone;

	if (workers_running) {
		struct dp_cfg *c = dp_cfg_clone(dp->cfg);

		if (c == NULL)
			return -ENOMEM;
		dp_cfg_port_clear(c, p->id);
		/* Its mirror sessions go with it. */
		ngone = dp_mirror_unlink_port(dp, c, p->id, gone, DP_MAX_MIRRORS);
		dp_cfg_publish(dp, c);
	} else {
		ngone = dp_mirror_unlink_port(dp, NULL, p->id, gone, DP_MAX_MIRRORS);
	}
	dp_mirror_reap(dp, gone, ngone);
	l2_table_forget_port(dp->l2, p->id);
	p->ops->close(p);
	dp_qos_port_free(p);
	dp_sg_port_free(p);
	dp_sg_ct_forget_port(dp->ct, p->id);
	if (dp_port_is_vm(p)) {
		uplinks_vm_mac(dp, p, false);
		bury_pool(port_extra(p)->pool, port_extra(p)->pool_size);
	} else {
		rte_mempool_free(port_extra(p)->pool);
	}
	if (!p->is_uplink)
		dp->nets[p->net].nports--;
	dp->ports[p->id] = NULL;
	rte_free(p);
	return 0;
}

int
dp_port_del(struct dp *dp, const char *port, char *err, size_t errlen)
{
	struct dp_port *p;
	int rc = 0;

	pthread_mutex_lock(&dp->lock);
	p = port ? port_by_name(dp, port) : NULL;
	if (p == NULL) {
		seterr(err, errlen, "no port %s", port ? port : "(null)");
		rc = -ENOENT;
	} else {
		rc = port_remove(dp, p, true);
		if (rc < 0)
			seterr(err, errlen, "no memory to remove port %s", port);
	}
	pthread_mutex_unlock(&dp->lock);
	return rc;
}

static void
fill_stats(struct dp_port *p, struct dp_port_stats *st)
{
	unsigned int w, r;

	memset(st, 0, sizeof(*st));
	snprintf(st->port, sizeof(st->port), "%s", p->name);
	snprintf(st->kind, sizeof(st->kind), "%s", p->is_access ? "access" : p->ops->kind);
	if (!p->is_uplink) {
		snprintf(st->network, sizeof(st->network), "%s", p->netname);
		memcpy(st->mac, p->mac, 6);
	}
	st->link_up = p->ops->link_up(p);
	dp_qos_get(p, &st->qos);
	st->ndrops = DP_DROP_N;
	for (r = 0; r < DP_DROP_N; r++)
		snprintf(st->drops[r].reason, sizeof(st->drops[r].reason), "%s", dp_drop_names[r]);
	for (w = 0; w <= DP_MAX_WORKERS; w++) {
		const struct dp_port_counters *c = &p->ctr[w];

		st->rx_packets += c->rx_packets;
		st->rx_bytes += c->rx_bytes;
		st->tx_packets += c->tx_packets;
		st->tx_bytes += c->tx_bytes;
		st->rx_l2_only += c->rx_l2_only;
		st->vxlan_encap += c->vxlan_encap;
		st->vxlan_decap += c->vxlan_decap;
		for (r = 0; r < DP_DROP_N; r++)
			st->drops[r].count += c->drops[r];
	}
	if (p->ops->stats != NULL)
		p->ops->stats(p, st);
}

int
dp_port_stats(struct dp *dp, const char *port, struct dp_port_stats *out, unsigned int max)
{
	unsigned int i, n = 0;

	if (out == NULL || max == 0)
		return -EINVAL;
	pthread_mutex_lock(&dp->lock);
	if (port != NULL) {
		struct dp_port *p = port_by_name(dp, port);

		if (p == NULL) {
			pthread_mutex_unlock(&dp->lock);
			return -ENOENT;
		}
		fill_stats(p, &out[n++]);
	} else {
		for (i = 0; i < DP_MAX_PORTS && n < max; i++)
			if (dp->ports[i] != NULL)
				fill_stats(dp->ports[i], &out[n++]);
	}
	pthread_mutex_unlock(&dp->lock);
	return (int)n;
}

int
dp_worker_stats(struct dp *dp, struct dp_worker_stats *out, unsigned int max)
{
	unsigned int i;

	if (out == NULL)
		return -EINVAL;
	for (i = 0; i < dp->workers && i < max; i++) {
		out[i].lcore = dp->worker[i].lcore;
		out[i].packets = atomic_load(&dp->worker[i].packets);
		out[i].busy_cycles = atomic_load(&dp->worker[i].busy_cycles);
		out[i].idle_cycles = atomic_load(&dp->worker[i].idle_cycles);
		out[i].flow_hits = atomic_load(&dp->worker[i].fc_hits);
		out[i].flow_misses = atomic_load(&dp->worker[i].fc_misses);
		out[i].tsc_hz = rte_get_tsc_hz();
		dp_blk_lcore_stats(i, &out[i].blk_requests, &out[i].blk_busy_cycles);
	}
	return (int)i;
}

void
dp_close(struct dp *dp)
{
	unsigned int i;

	if (dp == NULL)
		return;
	atomic_store(&dp->stop, true);
	rte_eal_mp_wait_lcore();
	if (dp->hk_started)
		pthread_join(dp->hk_thread, NULL);
	pthread_mutex_lock(&dp->lock);
	for (i = 0; i < DP_MAX_PORTS; i++)
		if (dp->ports[i] != NULL)
			port_remove(dp, dp->ports[i], false);
	pthread_mutex_unlock(&dp->lock);
	dp_vhost_set_current(NULL);
	l2_table_reclaim(dp->l2);
	l2_table_free(dp->l2);
	dp_sg_ct_free(dp->ct);
	for (i = 0; i < DP_MAX_PORTS; i++)
		if (dead_pools[i].mp != NULL) {
			rte_mempool_free(dead_pools[i].mp);
			dead_pools[i].mp = NULL;
		}
	rte_mempool_free(dp->direct_pool);
	rte_mempool_free(dp->indirect_pool);
	rte_ring_free(dp->learn_ring);
	dp_cfg_free(dp->cfg);
	rte_free(dp->qsbr);
	rte_eal_cleanup();
	pthread_mutex_destroy(&dp->lock);
	pthread_mutex_destroy(&dp->vhost_lock);
	free(dp);
}
