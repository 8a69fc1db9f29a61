/* SPDX-License-Identifier: MIT */
/* dpu/artifact.c: content addressing, sharing, freeing, reads. */
#include <dirent.h>
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

#include "artifact.h"

static char dir[] = "/tmp/nv-artifact-XXXXXX";
static char store_dir[300], f1[300], f2[300], f3[300];

static void
write_file(const char *p, const char *content, size_t n)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, n), (ssize_t)n);
	close(fd);
}

static size_t
entries(const char *p)
{
	DIR *d = opendir(p);
	struct dirent *e;
	size_t n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static int
setup(void **state)
{
	(void)state;
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(store_dir, sizeof(store_dir), "%s/store", dir);
	snprintf(f1, sizeof(f1), "%s/one", dir);
	snprintf(f2, sizeof(f2), "%s/same-as-one", dir);
	snprintf(f3, sizeof(f3), "%s/three", dir);
	mkdir(store_dir, 0700);
	write_file(f1, "abc", 3);
	write_file(f2, "abc", 3);
	write_file(f3, "something else", 14);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unlink(f1);
	unlink(f2);
	unlink(f3);
	rmdir(store_dir);
	rmdir(dir);
	return 0;
}

static void
test_sha256(void **state)
{
	char hex[65];

	(void)state;
	/* FIPS 180-2 test vectors. */
	dpu_sha256_hex("abc", 3, hex);
	assert_string_equal(hex,
			    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	dpu_sha256_hex("", 0, hex);
	assert_string_equal(hex,
			    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void
test_share_and_free(void **state)
{
	struct dpu_artifact *a, *b, *c, *g;
	struct dpu_artifacts *s;
	struct dpu_status st;
	char stale[400], buf[16];

	(void)state;
	/* Files left by an earlier run are removed at open. */
	snprintf(stale, sizeof(stale), "%s/tmp.1", store_dir);
	write_file(stale, "x", 1);
	assert_int_equal(dpu_artifacts_open(store_dir, &s), 0);
	assert_int_equal(entries(store_dir), 0);

	assert_int_equal(dpu_artifact_ingest(s, f1, 1024, "spec.kernel", &a, &st), 0);
	assert_string_equal(dpu_artifact_id(a),
			    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_string_equal(dpu_artifact_name(a), "one");
	assert_int_equal(dpu_artifact_size(a), 3);
	/* Same content, other file: the same artifact. */
	assert_int_equal(dpu_artifact_ingest(s, f2, 1024, "spec.kernel", &b, &st), 0);
	assert_ptr_equal(a, b);
	assert_int_equal(dpu_artifact_ingest(s, f3, 1024, "spec.initrd", &c, &st), 0);
	assert_ptr_not_equal(a, c);
	assert_int_equal(dpu_artifacts_count(s), 2);
	assert_int_equal(entries(store_dir), 2);

	/* The copy is private: changing the source changes nothing. */
	write_file(f1, "XYZ", 3);
	assert_int_equal(dpu_artifact_read(a, 0, buf, sizeof(buf)), 3);
	assert_memory_equal(buf, "abc", 3);
	assert_int_equal(dpu_artifact_read(a, 1, buf, 1), 1);
	assert_memory_equal(buf, "b", 1);
	assert_int_equal(dpu_artifact_read(a, 3, buf, sizeof(buf)), 0);
	assert_int_equal(dpu_artifact_read(a, 99, buf, sizeof(buf)), 0);
	write_file(f1, "abc", 3);

	g = dpu_artifact_get(s, dpu_artifact_id(c));
	assert_ptr_equal(g, c);
	assert_null(dpu_artifact_get(s, "0000"));
	dpu_artifact_put(g);

	/* Freed with the last reference, file and all. */
	dpu_artifact_put(a);
	assert_int_equal(dpu_artifacts_count(s), 2);
	dpu_artifact_put(b);
	assert_int_equal(dpu_artifacts_count(s), 1);
	dpu_artifact_put(c);
	assert_int_equal(dpu_artifacts_count(s), 0);
	assert_int_equal(entries(store_dir), 0);
	dpu_artifact_put(NULL);
	dpu_artifacts_close(s);
}

static void
test_refused(void **state)
{
	struct dpu_artifacts *s;
	struct dpu_artifact *a = NULL;
	struct dpu_status st;

	(void)state;
	assert_int_equal(dpu_artifacts_open(store_dir, &s), 0);
	assert_int_equal(dpu_artifact_ingest(s, "/nonexistent", 1024, "spec.kernel", &a, &st),
			 -EINVAL);
	assert_int_equal(st.code, NICVISOR__V1__CODE__CODE_FAILED_PRECONDITION);
	assert_string_equal(st.field, "spec.kernel");
	assert_non_null(strstr(st.message, "/nonexistent"));
	assert_int_equal(dpu_artifact_ingest(s, f3, 10, "spec.initrd", &a, &st), -EINVAL);
	assert_string_equal(st.field, "spec.initrd");
	assert_non_null(strstr(st.message, "at most"));
	assert_int_equal(dpu_artifact_ingest(s, dir, 1024, "spec.kernel", &a, &st), -EINVAL);
	assert_null(a);
	assert_int_equal(dpu_artifacts_count(s), 0);
	assert_int_equal(entries(store_dir), 0);
	dpu_artifacts_close(s);
	assert_true(dpu_artifacts_open("/nonexistent-dir", &s) < 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha256),
		cmocka_unit_test(test_share_and_free),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
