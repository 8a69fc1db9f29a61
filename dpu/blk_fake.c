/* SPDX-License-Identifier: MIT */
/*
 * The "fake" block backend: keeps disks as the real one would (the same
 * errors for duplicates, bad configurations and files it cannot open) but
 * serves no requests and creates no sockets. Counters are zero unless a
 * test sets them. Not thread safe: the agent lock serialises callers.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blk.h"
#include "validate.h"

#define FAKE_MAX_DISKS 65536

struct fake_disk {
	struct dpu_blk_stats st;
	char path[DPU_PATH_MAX + 1];
	char nbd_url[DPU_NBD_URL_MAX + 1];
	char serial[DPU_BLK_SERIAL_MAX + 1];
	uint64_t size_bytes;
	unsigned int queues;
	uint64_t max_iops, max_bps;
};

struct fake_blk {
	struct dpu_blk base;
	char sock_dir[256];
	struct fake_disk *disks;
	size_t ndisks;
	char fail_op[32];
	unsigned int fail_after;
	int fail_err;
};

static struct fake_blk *
fake(struct dpu_blk *b)
{
	return (struct fake_blk *)b;
}

static int
injected(struct fake_blk *f, const char *op, char *err, size_t errlen)
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
	snprintf(err, errlen, "fake block backend: %s fails as the test asked (%s)", op,
		 strerror(-rc));
	return rc;
}

static struct fake_disk *
disk_find(struct fake_blk *f, const char *name)
{
	for (size_t i = 0; i < f->ndisks; i++)
		if (strcmp(f->disks[i].st.disk, name) == 0)
			return &f->disks[i];
	return NULL;
}

static int
check_conf(const struct dpu_blk_disk_conf *c, char *err, size_t errlen)
{
	struct dpu_nbd_url url;
	struct dpu_status st;
	size_t n = c->name ? strlen(c->name) : 0;
	int fd;

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
	if (c->queues < 1 || c->queues > DPU_BLK_MAX_QUEUES) {
		snprintf(err, errlen, "disk %s: %u queues; 1..%d are supported", c->name, c->queues,
			 DPU_BLK_MAX_QUEUES);
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
	if (c->nbd_url != NULL) {
		if (dpu_nbd_url_parse(c->nbd_url, &url, "nbd_url", &st) < 0) {
			snprintf(err, errlen, "disk %s: %s", c->name, st.message);
			return -EINVAL;
		}
		return 0;
	}
	if (strlen(c->path) > DPU_PATH_MAX || c->path[0] != '/') {
		snprintf(err, errlen, "disk %s: the file path must be absolute and shorter",
			 c->name);
		return -EINVAL;
	}
	/* As the real backend would: the file opens as the disk is offered. */
	fd = open(c->path, (c->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		int e = errno;

		snprintf(err, errlen, "disk %s: cannot open %s: %s", c->name, c->path, strerror(e));
		return -e;
	}
	close(fd);
	return 0;
}

static int
fake_disk_add(struct dpu_blk *b, const struct dpu_blk_disk_conf *c, char *socket_path,
	      size_t path_len, char *err, size_t errlen)
{
	struct fake_blk *f = fake(b);
	struct fake_disk *d, *disks;
	int rc;

	rc = injected(f, "disk_add", err, errlen);
	if (rc < 0)
		return rc;
	rc = check_conf(c, err, errlen);
	if (rc < 0)
		return rc;
	if (disk_find(f, c->name) != NULL) {
		snprintf(err, errlen, "disk %s exists", c->name);
		return -EEXIST;
	}
	if (f->ndisks >= FAKE_MAX_DISKS) {
		snprintf(err, errlen, "too many disks");
		return -ENOSPC;
	}
	if (snprintf(socket_path, path_len, "%s/%s.sock", f->sock_dir, c->name) >= (int)path_len) {
		snprintf(err, errlen, "socket path of disk %s is too long", c->name);
		return -ENAMETOOLONG;
	}
	disks = realloc(f->disks, (f->ndisks + 1) * sizeof(*disks));
	if (disks == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	f->disks = disks;
	d = &f->disks[f->ndisks++];
	memset(d, 0, sizeof(*d));
	snprintf(d->st.disk, sizeof(d->st.disk), "%s", c->name);
	d->st.read_only = c->read_only;
	snprintf(d->path, sizeof(d->path), "%s", c->path ? c->path : "");
	snprintf(d->nbd_url, sizeof(d->nbd_url), "%s", c->nbd_url ? c->nbd_url : "");
	snprintf(d->serial, sizeof(d->serial), "%s", c->serial);
	d->size_bytes = c->size_bytes;
	d->queues = c->queues;
	d->max_iops = c->max_iops;
	d->max_bps = c->max_bps;
	return 0;
}

static int
fake_disk_del(struct dpu_blk *b, const char *name, char *err, size_t errlen)
{
	struct fake_blk *f = fake(b);
	struct fake_disk *d;
	int rc;

	rc = injected(f, "disk_del", err, errlen);
	if (rc < 0)
		return rc;
	d = disk_find(f, name);
	if (d == NULL) {
		snprintf(err, errlen, "no disk %s", name);
		return -ENOENT;
	}
	*d = f->disks[--f->ndisks];
	return 0;
}

static int
fake_disk_stats(struct dpu_blk *b, const char *name, struct dpu_blk_stats *out, unsigned int max)
{
	struct fake_blk *f = fake(b);
	unsigned int n = 0;

	if (name != NULL) {
		struct fake_disk *d = disk_find(f, name);

		if (d == NULL)
			return -ENOENT;
		if (max == 0)
			return 0;
		out[0] = d->st;
		return 1;
	}
	for (size_t i = 0; i < f->ndisks && n < max; i++)
		out[n++] = f->disks[i].st;
	return (int)n;
}

static void
fake_close(struct dpu_blk *b)
{
	struct fake_blk *f = fake(b);

	free(f->disks);
	free(f);
}

static const struct dpu_blk_ops fake_ops = {
	.name = "fake",
	.disk_add = fake_disk_add,
	.disk_del = fake_disk_del,
	.disk_stats = fake_disk_stats,
	.close = fake_close,
};

int
dpu_blk_fake_open(const char *sock_dir, struct dpu_blk **out)
{
	struct fake_blk *f;

	if (sock_dir == NULL || strlen(sock_dir) >= sizeof(f->sock_dir))
		return -EINVAL;
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -ENOMEM;
	f->base.ops = &fake_ops;
	snprintf(f->sock_dir, sizeof(f->sock_dir), "%s", sock_dir);
	*out = &f->base;
	return 0;
}

void
dpu_blk_close(struct dpu_blk *b)
{
	if (b != NULL)
		b->ops->close(b);
}

void
dpu_blk_fake_fail(struct dpu_blk *b, const char *op, unsigned int after, int err)
{
	struct fake_blk *f = fake(b);

	snprintf(f->fail_op, sizeof(f->fail_op), "%s", op);
	f->fail_after = after;
	f->fail_err = err;
}

int
dpu_blk_fake_set_counters(struct dpu_blk *b, const char *name, uint64_t read_ops,
			  uint64_t write_ops, const char *error_reason, uint64_t errors)
{
	struct fake_disk *d = disk_find(fake(b), name);

	if (d == NULL)
		return -ENOENT;
	d->st.connected = true;
	d->st.read_ops = read_ops;
	d->st.read_bytes = read_ops * 4096;
	d->st.write_ops = write_ops;
	d->st.write_bytes = write_ops * 4096;
	d->st.nerrors = 0;
	if (error_reason != NULL) {
		snprintf(d->st.errors[0].reason, sizeof(d->st.errors[0].reason), "%s",
			 error_reason);
		d->st.errors[0].count = errors;
		d->st.nerrors = 1;
	}
	return 0;
}

size_t
dpu_blk_fake_count(struct dpu_blk *b)
{
	return fake(b)->ndisks;
}

bool
dpu_blk_fake_disk(struct dpu_blk *b, const char *name, struct dpu_blk_disk_conf *out)
{
	struct fake_disk *d = disk_find(fake(b), name);

	if (d == NULL)
		return false;
	memset(out, 0, sizeof(*out));
	out->name = d->st.disk;
	out->path = d->path[0] ? d->path : NULL;
	out->nbd_url = d->nbd_url[0] ? d->nbd_url : NULL;
	out->size_bytes = d->size_bytes;
	out->read_only = d->st.read_only;
	out->queues = d->queues;
	out->serial = d->serial;
	out->max_iops = d->max_iops;
	out->max_bps = d->max_bps;
	return true;
}
