/* SPDX-License-Identifier: MIT */
/*
 * The "dpdk" block backend: dpu_blk over dataplane/blk.h. A thin adapter
 * on the same struct dp as the switch (one DPDK EAL per process), reached
 * through the agent's dpu_net: with the lazy default the first disk starts
 * the dataplane. Sockets are <vhost dir>/<disk>.sock, the dataplane's.
 * close() runs dp_blk_shutdown(), so it must come before the net's close
 * (which runs dp_close()). Built only with NV_HAVE_DATAPLANE.
 */
#define NV_LOG_COMPONENT "nicvisor.dpu.blk"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blk.h"
#include "net.h"
/* dataplane/blk.h: named by its directory, dpu/blk.h has the same name. */
#include "../dataplane/blk.h"
#include "nv_log.h"

struct dp_blk_be {
	struct dpu_blk base;
	struct dpu_net *net;
	struct dp *dp; /* once started; shut down at close */
};

static struct dp_blk_be *
be(struct dpu_blk *b)
{
	return (struct dp_blk_be *)b;
}

/* The dataplane, started now if start and it is lazy; NULL (and 0) if it
 * has not started and start is false. */
static int
get_dp(struct dp_blk_be *d, bool start, struct dp **out, char *err, size_t errlen)
{
	int rc;

	if (d->dp != NULL) {
		*out = d->dp;
		return 0;
	}
	rc = dpu_net_dp(d->net, start, out, err, errlen);
	if (rc == 0 && *out != NULL)
		d->dp = *out;
	return rc;
}

static int
check_conf(const struct dpu_blk_disk_conf *c, char *err, size_t errlen)
{
	size_t n = c->name ? strlen(c->name) : 0;

	if (n == 0 || n >= DPU_BLK_NAME_MAX) {
		snprintf(err, errlen, "disk name of %zu characters; 1..%d are allowed", n,
			 DPU_BLK_NAME_MAX - 1);
		return -EINVAL;
	}
	if ((c->path == NULL) == (c->nbd_url == NULL)) {
		snprintf(err, errlen, "disk %s: give a file or an NBD URL, not both or neither",
			 c->name);
		return -EINVAL;
	}
	if (c->queues < 1 || c->queues > DP_BLK_MAX_QUEUES) {
		snprintf(err, errlen, "disk %s: %u queues; the DPDK block backend serves 1..%d",
			 c->name, c->queues, DP_BLK_MAX_QUEUES);
		return -EINVAL;
	}
	if (c->size_bytes == 0 || c->size_bytes % 512 != 0) {
		snprintf(err, errlen, "disk %s: size %llu is not a positive multiple of 512",
			 c->name, (unsigned long long)c->size_bytes);
		return -EINVAL;
	}
	if (c->serial == NULL || strlen(c->serial) > DPU_BLK_SERIAL_MAX) {
		snprintf(err, errlen, "disk %s: serial missing or longer than %d bytes", c->name,
			 DPU_BLK_SERIAL_MAX);
		return -EINVAL;
	}
	if (c->path != NULL && c->path[0] != '/') {
		snprintf(err, errlen, "disk %s: the file path must be absolute", c->name);
		return -EINVAL;
	}
	return 0;
}

static int
dpb_disk_add(struct dpu_blk *b, const struct dpu_blk_disk_conf *c, char *socket_path,
	     size_t path_len, char *err, size_t errlen)
{
	struct dp_blk_conf dc = { 0 };
	struct dp_blk_stats st;
	char why[DPU_BLK_ERR_MAX] = "";
	struct dp *dp;
	int rc;

	rc = check_conf(c, err, errlen);
	if (rc < 0)
		return rc;
	rc = get_dp(be(b), true, &dp, why, sizeof(why));
	if (rc < 0) {
		snprintf(err, errlen, "disk %s cannot be served: %s", c->name, why);
		return rc;
	}
	dc.name = c->name;
	dc.path = c->path != NULL ? c->path : c->nbd_url;
	dc.read_only = c->read_only;
	dc.queues = c->queues;
	dc.serial = c->serial;
	dc.iops_limit = c->max_iops;
	dc.bps_limit = c->max_bps;
	rc = dp_blk_disk_add(dp, &dc, socket_path, path_len, err, errlen);
	if (rc < 0)
		return rc;
	/* The dataplane sizes the disk from its target; the guest is told the
	 * volume's size: they must agree. */
	if (dp_blk_disk_stats(dp, c->name, &st, 1) == 1 && st.size != c->size_bytes) {
		snprintf(err, errlen, "disk %s: %s holds %llu bytes, the volume says %llu", c->name,
			 dc.path, (unsigned long long)st.size, (unsigned long long)c->size_bytes);
		dp_blk_disk_del(dp, c->name, NULL, 0);
		socket_path[0] = 0;
		return -EINVAL;
	}
	nv_info("disk %s: %s%s, %u queue%s, on %s", c->name, dc.path,
		c->read_only ? " (read-only)" : "", c->queues, c->queues == 1 ? "" : "s",
		socket_path);
	return 0;
}

static int
dpb_disk_del(struct dpu_blk *b, const char *name, char *err, size_t errlen)
{
	struct dp *dp;
	int rc = get_dp(be(b), false, &dp, err, errlen);

	if (rc < 0)
		return rc;
	if (dp == NULL) {
		snprintf(err, errlen, "no disk %s", name);
		return -ENOENT;
	}
	return dp_blk_disk_del(dp, name, err, errlen);
}

static void
stats_of(const struct dp_blk_stats *s, struct dpu_blk_stats *out)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->disk, sizeof(out->disk), "%s", s->name);
	out->connected = s->connected;
	out->read_only = s->read_only;
	out->read_ops = s->reads;
	out->read_bytes = s->read_bytes;
	out->write_ops = s->writes;
	out->write_bytes = s->write_bytes;
	out->flush_ops = s->flushes;
	out->discard_ops = s->discards;
	out->throttled = s->throttled;
	for (unsigned int i = 0; i < DP_BLK_ERR_N && out->nerrors < DPU_BLK_ERROR_KINDS; i++) {
		if (s->errors[i] == 0)
			continue;
		snprintf(out->errors[out->nerrors].reason, sizeof(out->errors[0].reason), "%s",
			 dp_blk_err_names[i]);
		out->errors[out->nerrors].count = s->errors[i];
		out->nerrors++;
	}
}

static int
dpb_disk_stats(struct dpu_blk *b, const char *name, struct dpu_blk_stats *out, unsigned int max)
{
	struct dp_blk_stats *s;
	struct dp *dp;
	char err[DPU_BLK_ERR_MAX];
	int rc, n;

	rc = get_dp(be(b), false, &dp, err, sizeof(err));
	if (rc < 0)
		return rc;
	/* Not started: no disk exists. */
	if (dp == NULL)
		return name != NULL ? -ENOENT : 0;
	if (max == 0)
		return 0;
	if (max > DP_BLK_MAX_DISKS)
		max = DP_BLK_MAX_DISKS;
	s = calloc(max, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	n = dp_blk_disk_stats(dp, name, s, max);
	for (int i = 0; i < n; i++)
		stats_of(&s[i], &out[i]);
	free(s);
	return n;
}

static void
dpb_close(struct dpu_blk *b)
{
	struct dp *dp = NULL;
	char err[DPU_BLK_ERR_MAX];

	/* Every disk goes, and the workers' io_urings, before dp_close():
	 * also when the switch started the dataplane and no disk came. */
	if (get_dp(be(b), false, &dp, err, sizeof(err)) == 0)
		dp_blk_shutdown(dp);
	free(b);
}

static const struct dpu_blk_ops dp_blk_ops = {
	.name = "dpdk",
	.disk_add = dpb_disk_add,
	.disk_del = dpb_disk_del,
	.disk_stats = dpb_disk_stats,
	.close = dpb_close,
};

int
dpu_blk_dp_open(struct dpu_net *net, struct dpu_blk **out)
{
	struct dp_blk_be *d;
	struct dp *dp;
	char err[DPU_BLK_ERR_MAX] = "";
	int rc;

	*out = NULL;
	/* A net that is DPDK (started or lazy): anything else has no dp. */
	rc = dpu_net_dp(net, false, &dp, err, sizeof(err));
	if (rc < 0) {
		nv_err("the DPDK block backend needs the DPDK dataplane: %s", err);
		return rc;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return -ENOMEM;
	d->base.ops = &dp_blk_ops;
	d->net = net;
	d->dp = dp;
	*out = &d->base;
	return 0;
}
