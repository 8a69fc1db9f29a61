/* SPDX-License-Identifier: MIT */
/* Unit: artifact.c (assembly, digest checks, parallel fetch, the cache). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fake_agent.h"
#include "shim.h"

#define SIZE (2 * SHIM_ARTIFACT_CHUNK + 12345) /* three chunks, the last short */

static uint8_t *blob;
static char blob_id[65];

static int
setup(void **state)
{
	unsigned int seed = 7;

	(void)state;
	blob = malloc(SIZE);
	for (size_t i = 0; i < SIZE; i++)
		blob[i] = (uint8_t)rand_r(&seed);
	fa_sha256_hex(blob, SIZE, blob_id);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	free(blob);
	return 0;
}

static size_t
chunk_len(uint64_t off)
{
	return SIZE - off < SHIM_ARTIFACT_CHUNK ? SIZE - off : SHIM_ARTIFACT_CHUNK;
}

static void
good_out_of_order(void **state)
{
	struct shim_artifact a;
	char why[256] = "";
	uint8_t back[16];

	(void)state;
	assert_int_equal(shim_artifact_init(&a, blob_id, SIZE), 0);
	assert_int_equal(a.nchunks, 3);
	for (int i = 2; i >= 0; i--) {
		uint64_t off = (uint64_t)i * SHIM_ARTIFACT_CHUNK;

		assert_int_equal(shim_artifact_put(&a, off, blob + off, chunk_len(off)), 0);
	}
	/* The same chunk twice is harmless. */
	assert_int_equal(shim_artifact_put(&a, 0, blob, SHIM_ARTIFACT_CHUNK), 0);
	assert_int_equal(shim_artifact_finish(&a, why, sizeof(why)), 0);
	assert_int_equal(pread(a.fd, back, sizeof(back), SIZE - sizeof(back)), sizeof(back));
	assert_memory_equal(back, blob + SIZE - sizeof(back), sizeof(back));
	/* Sealed: nobody changes an image a VM boots from. */
	assert_int_equal(pwrite(a.fd, "x", 1, 0), -1);
	assert_int_equal(errno, EPERM);
	assert_true(fcntl(a.fd, F_GETFD) & FD_CLOEXEC);
	shim_artifact_fini(&a);
}

static void
bad_chunks(void **state)
{
	struct shim_artifact a;
	char why[256] = "";

	(void)state;
	assert_int_equal(shim_artifact_init(&a, blob_id, SIZE), 0);
	/* short, oversized, misaligned, past the end */
	assert_int_equal(shim_artifact_put(&a, 0, blob, SHIM_ARTIFACT_CHUNK - 1), -EMSGSIZE);
	assert_int_equal(shim_artifact_put(&a, 2 * SHIM_ARTIFACT_CHUNK, blob, 12346), -EMSGSIZE);
	assert_int_equal(shim_artifact_put(&a, 5, blob, 10), -ERANGE);
	assert_int_equal(shim_artifact_put(&a, 3 * SHIM_ARTIFACT_CHUNK, blob, 1), -ERANGE);
	/* incomplete */
	assert_int_equal(shim_artifact_put(&a, 0, blob, SHIM_ARTIFACT_CHUNK), 0);
	assert_int_equal(shim_artifact_finish(&a, why, sizeof(why)), -EBADMSG);
	assert_non_null(strstr(why, "incomplete"));
	shim_artifact_fini(&a);
}

static void
wrong_digest(void **state)
{
	struct shim_artifact a;
	char id[65], why[256] = "";

	(void)state;
	memcpy(id, blob_id, sizeof(id));
	id[0] = id[0] == '0' ? '1' : '0';
	assert_int_equal(shim_artifact_init(&a, id, SIZE), 0);
	for (uint64_t off = 0; off < SIZE; off += SHIM_ARTIFACT_CHUNK)
		assert_int_equal(shim_artifact_put(&a, off, blob + off, chunk_len(off)), 0);
	assert_int_equal(shim_artifact_finish(&a, why, sizeof(why)), -EBADMSG);
	assert_non_null(strstr(why, "does not match"));
	shim_artifact_fini(&a);
}

static void
bad_init(void **state)
{
	struct shim_artifact a;

	(void)state;
	assert_int_equal(shim_artifact_init(&a, "abc", 10), -EINVAL);
	assert_int_equal(shim_artifact_init(&a, blob_id, 0), -EINVAL);
	assert_int_equal(shim_artifact_init(&a, blob_id, SHIM_ARTIFACT_MAX + 1), -EINVAL);
	shim_artifact_fini(&a); /* harmless after a failed init */
	/* Upper-case hex is the same digest. */
	char up[65];
	for (int i = 0; i < 65; i++)
		up[i] = (char)(blob_id[i] >= 'a' ? blob_id[i] - 32 : blob_id[i]);
	assert_int_equal(shim_artifact_init(&a, up, SIZE), 0);
	assert_string_equal(a.id, blob_id);
	shim_artifact_fini(&a);
}

/* A fetch function over `blob` with a fault. */
struct source {
	const uint8_t *data;
	size_t size;
	enum fa_fault fault;
	int timeouts_left; /* answer -ETIMEDOUT this many times first */
	int calls;
	int max_inflight, inflight;
	pthread_mutex_t lock;
};

static int
source_fetch(void *opaque, const char *id, uint64_t off, uint32_t len, uint8_t **data, size_t *dlen)
{
	struct source *s = opaque;
	size_t n;
	bool timeout;

	(void)id;
	pthread_mutex_lock(&s->lock);
	s->calls++;
	s->inflight++;
	if (s->inflight > s->max_inflight)
		s->max_inflight = s->inflight;
	timeout = s->timeouts_left > 0 && s->timeouts_left-- > 0;
	pthread_mutex_unlock(&s->lock);
	usleep(20000); /* let the requests overlap */
	pthread_mutex_lock(&s->lock);
	s->inflight--;
	pthread_mutex_unlock(&s->lock);
	if (timeout)
		return -ETIMEDOUT;
	if (off >= s->size)
		return -EINVAL;
	n = s->size - off < len ? s->size - off : len;
	*data = malloc(n + 1);
	memcpy(*data, s->data + off, n);
	if (s->fault == FA_FAULT_CORRUPT)
		(*data)[0] ^= 1;
	if (s->fault == FA_FAULT_SHORT)
		n--;
	if (s->fault == FA_FAULT_LONG)
		(*data)[n++] = 0;
	*dlen = n;
	return 0;
}

static int
fetch_with(struct source *s, const char *id, uint64_t size, char *why, size_t n)
{
	struct shim_artifact a;
	int rc;

	pthread_mutex_init(&s->lock, NULL);
	if (shim_artifact_init(&a, id, size) < 0)
		return -EINVAL;
	rc = shim_artifact_fetch(&a, source_fetch, s, 4, 3000, why, n);
	shim_artifact_fini(&a);
	return rc;
}

static void
fetch_parallel_and_faults(void **state)
{
	struct source s = { .data = blob, .size = SIZE };
	char why[256] = "";

	(void)state;
	assert_int_equal(fetch_with(&s, blob_id, SIZE, why, sizeof(why)), 0);
	assert_int_equal(s.calls, 3);
	assert_true(s.max_inflight > 1);

	s = (struct source){ .data = blob, .size = SIZE, .timeouts_left = 2 };
	assert_int_equal(fetch_with(&s, blob_id, SIZE, why, sizeof(why)), 0);

	s = (struct source){ .data = blob, .size = SIZE, .fault = FA_FAULT_CORRUPT };
	assert_int_equal(fetch_with(&s, blob_id, SIZE, why, sizeof(why)), -EBADMSG);
	assert_non_null(strstr(why, "does not match"));

	s = (struct source){ .data = blob, .size = SIZE, .fault = FA_FAULT_SHORT };
	assert_int_equal(fetch_with(&s, blob_id, SIZE, why, sizeof(why)), -EBADMSG);
	assert_non_null(strstr(why, "expected"));

	s = (struct source){ .data = blob, .size = SIZE, .fault = FA_FAULT_LONG };
	assert_int_equal(fetch_with(&s, blob_id, SIZE, why, sizeof(why)), -EBADMSG);

	/* The agent's file is shorter than the size it announced. */
	s = (struct source){ .data = blob, .size = SIZE - 100 };
	assert_int_equal(fetch_with(&s, blob_id, SIZE, why, sizeof(why)), -EBADMSG);

	/* Never answers: gives up at the deadline. */
	s = (struct source){ .data = blob, .size = SIZE, .timeouts_left = 1000000 };
	assert_int_equal(fetch_with(&s, blob_id, SIZE, why, sizeof(why)), -ETIMEDOUT);
}

struct getter {
	struct shim_image_cache *c;
	struct shim_image *img;
	int rc;
};

static void *
get_main(void *arg)
{
	struct getter *g = arg;
	char why[256];

	g->rc = shim_image_get(g->c, blob_id, SIZE, &g->img, why, sizeof(why));
	return NULL;
}

static void
cache_shares_and_forgets(void **state)
{
	struct source s = { .data = blob, .size = SIZE };
	struct shim_image_cache c;
	struct getter g[3];
	pthread_t t[3];
	char why[256];

	(void)state;
	pthread_mutex_init(&s.lock, NULL);
	shim_image_cache_init(&c, source_fetch, &s);
	for (int i = 0; i < 3; i++) {
		g[i] = (struct getter){ .c = &c };
		pthread_create(&t[i], NULL, get_main, &g[i]);
	}
	for (int i = 0; i < 3; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(g[i].rc, 0);
		assert_ptr_equal(g[i].img, g[0].img);
	}
	assert_int_equal(s.calls, 3); /* downloaded once */
	assert_int_equal(shim_image_count(&c), 1);
	for (int i = 0; i < 3; i++)
		shim_image_put(&c, g[i].img);
	assert_int_equal(shim_image_count(&c), 0);

	/* A failed download is not cached: the next user tries again. */
	s.fault = FA_FAULT_CORRUPT;
	assert_int_equal(shim_image_get(&c, blob_id, SIZE, &g[0].img, why, sizeof(why)), -EBADMSG);
	assert_int_equal(shim_image_count(&c), 0);
	s.fault = FA_FAULT_NONE;
	assert_int_equal(shim_image_get(&c, blob_id, SIZE, &g[0].img, why, sizeof(why)), 0);
	shim_image_put(&c, g[0].img);
	shim_image_put(&c, NULL);
	shim_image_cache_fini(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(good_out_of_order),
		cmocka_unit_test(bad_chunks),
		cmocka_unit_test(wrong_digest),
		cmocka_unit_test(bad_init),
		cmocka_unit_test(fetch_parallel_and_faults),
		cmocka_unit_test(cache_shares_and_forgets),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
