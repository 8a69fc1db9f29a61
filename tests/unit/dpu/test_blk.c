/* SPDX-License-Identifier: MIT */
/*
 * dpu/blk_fake.c: the fake block backend keeps the contract of dpu/blk.h
 * (duplicates, bad configurations, files it cannot open as asked,
 * counters, injected failures), so the agent's tests on it mean something.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "blk.h"

struct env {
	char dir[64];
	char file[128];
	struct dpu_blk *b;
};

static int
setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	int fd;

	snprintf(e->dir, sizeof(e->dir), "/tmp/nv-blk-unit-XXXXXX");
	if (mkdtemp(e->dir) == NULL)
		return -1;
	snprintf(e->file, sizeof(e->file), "%s/vol.img", e->dir);
	fd = open(e->file, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || ftruncate(fd, 1 << 20) < 0)
		return -1;
	close(fd);
	if (dpu_blk_fake_open("/run/x/vhost", &e->b) < 0)
		return -1;
	*state = e;
	return 0;
}

static int
teardown(void **state)
{
	struct env *e = *state;

	dpu_blk_close(e->b);
	chmod(e->file, 0600);
	unlink(e->file);
	rmdir(e->dir);
	free(e);
	return 0;
}

static struct dpu_blk_disk_conf
file_conf(const struct env *e, const char *name)
{
	struct dpu_blk_disk_conf c = {
		.name = name,
		.path = e->file,
		.size_bytes = 1 << 20,
		.queues = 2,
		.serial = "vol-0123456789abcdef",
	};

	return c;
}

static void
test_fake_contract(void **state)
{
	struct env *e = *state;
	struct dpu_blk *b = e->b;
	struct dpu_blk_disk_conf c = file_conf(e, "d0"), got;
	struct dpu_blk_stats st[4];
	char err[DPU_BLK_ERR_MAX], path[128];

	assert_string_equal(b->ops->name, "fake");
	assert_int_equal(b->ops->disk_add(b, &c, path, sizeof(path), err, sizeof(err)), 0);
	assert_string_equal(path, "/run/x/vhost/d0.sock");
	assert_int_equal(b->ops->disk_add(b, &c, path, sizeof(path), err, sizeof(err)), -EEXIST);
	assert_int_equal(dpu_blk_fake_count(b), 1);
	assert_true(dpu_blk_fake_disk(b, "d0", &got));
	assert_string_equal(got.path, e->file);
	assert_null(got.nbd_url);
	assert_int_equal(got.queues, 2);
	assert_string_equal(got.serial, "vol-0123456789abcdef");
	assert_false(dpu_blk_fake_disk(b, "nope", &got));

	/* An NBD disk: the URL is checked, nothing is dialled. */
	c = file_conf(e, "d1");
	c.path = NULL;
	c.nbd_url = "nbd://h:10809/e";
	c.read_only = true;
	assert_int_equal(b->ops->disk_add(b, &c, path, sizeof(path), err, sizeof(err)), 0);
	c.name = "d2";
	c.nbd_url = "nbd://h:10809";
	assert_int_equal(b->ops->disk_add(b, &c, path, sizeof(path), err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "export"));

	/* Bad configurations. */
	c = file_conf(e, "d2");
	c.nbd_url = "nbd://h/e";
	assert_int_equal(b->ops->disk_add(b, &c, path, sizeof(path), err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not both"));
	c = file_conf(e, "d2");
	c.queues = 0;
	assert_int_equal(b->ops->disk_add(b, &c, path, sizeof(path), err, sizeof(err)), -EINVAL);
	c.queues = DPU_BLK_MAX_QUEUES + 1;
	assert_int_equal(b->ops->disk_add(b, &c, path, sizeof(path), err, sizeof(err)), -EINVAL);
	c = file_conf(e, "d2");
	c.size_bytes = 1000;
	assert_int_equal(b->ops->disk_add(b, &c, path, sizeof(path), err, sizeof(err)), -EINVAL);
	c = file_conf(e, "d2");
	c.serial = "012345678901234567890";
	assert_int_equal(b->ops->disk_add(b, &c, path, sizeof(path), err, sizeof(err)), -EINVAL);
	c = file_conf(e, "");
	assert_int_equal(b->ops->disk_add(b, &c, path, sizeof(path), err, sizeof(err)), -EINVAL);
	c = file_conf(e, "d2");
	c.path = "relative.img";
	assert_int_equal(b->ops->disk_add(b, &c, path, sizeof(path), err, sizeof(err)), -EINVAL);
	c.path = "/nonexistent/x.img";
	assert_int_equal(b->ops->disk_add(b, &c, path, sizeof(path), err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/x.img"));
	/* A path that does not fit is an error, not a truncation. */
	c = file_conf(e, "d2");
	assert_int_equal(b->ops->disk_add(b, &c, path, 10, err, sizeof(err)), -ENAMETOOLONG);
	/* Read-only disks open read-only: a file without write permission
	 * serves read-only but not read-write (root may write anyway). */
	if (geteuid() != 0) {
		assert_int_equal(chmod(e->file, 0400), 0);
		assert_int_equal(b->ops->disk_add(b, &c, path, sizeof(path), err, sizeof(err)),
				 -EACCES);
		c.read_only = true;
		assert_int_equal(b->ops->disk_add(b, &c, path, sizeof(path), err, sizeof(err)), 0);
		assert_int_equal(b->ops->disk_del(b, "d2", err, sizeof(err)), 0);
		assert_int_equal(chmod(e->file, 0600), 0);
	}
	assert_int_equal(dpu_blk_fake_count(b), 2);

	/* Counters. */
	assert_int_equal(dpu_blk_fake_set_counters(b, "d0", 5, 6, "io_error", 7), 0);
	assert_int_equal(dpu_blk_fake_set_counters(b, "nope", 5, 6, NULL, 0), -ENOENT);
	assert_int_equal(b->ops->disk_stats(b, "d0", st, 1), 1);
	assert_string_equal(st[0].disk, "d0");
	assert_true(st[0].connected);
	assert_int_equal(st[0].read_ops, 5);
	assert_int_equal(st[0].write_ops, 6);
	assert_int_equal(st[0].nerrors, 1);
	assert_string_equal(st[0].errors[0].reason, "io_error");
	assert_int_equal(st[0].errors[0].count, 7);
	assert_int_equal(b->ops->disk_stats(b, "d1", st, 1), 1);
	assert_true(st[0].read_only);
	assert_false(st[0].connected);
	assert_int_equal(b->ops->disk_stats(b, NULL, st, 4), 2);
	assert_int_equal(b->ops->disk_stats(b, NULL, st, 1), 1);
	assert_int_equal(b->ops->disk_stats(b, "nope", st, 1), -ENOENT);

	/* Injected failures: once, after the given number of calls. */
	dpu_blk_fake_fail(b, "disk_del", 1, -EIO);
	assert_int_equal(b->ops->disk_del(b, "d1", err, sizeof(err)), 0);
	assert_int_equal(b->ops->disk_del(b, "d0", err, sizeof(err)), -EIO);
	assert_non_null(strstr(err, "test asked"));
	assert_int_equal(b->ops->disk_del(b, "d0", err, sizeof(err)), 0);
	assert_int_equal(b->ops->disk_del(b, "d0", err, sizeof(err)), -ENOENT);
	assert_int_equal(dpu_blk_fake_count(b), 0);
	dpu_blk_fake_fail(b, "disk_add", 0, -ENOSPC);
	c = file_conf(e, "d3");
	assert_int_equal(b->ops->disk_add(b, &c, path, sizeof(path), err, sizeof(err)), -ENOSPC);
	assert_int_equal(b->ops->disk_add(b, &c, path, sizeof(path), err, sizeof(err)), 0);
	dpu_blk_close(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fake_contract, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
