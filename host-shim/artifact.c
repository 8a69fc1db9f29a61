/* SPDX-License-Identifier: MIT */
/* Boot images: chunks into a memfd, checked against their SHA-256, shared. */
#define NV_LOG_COMPONENT "nicvisor.shim.artifact"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <mbedtls/sha256.h>
#include <mbedtls/version.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include "nv_log.h"
#include "shim.h"

#if MBEDTLS_VERSION_NUMBER < 0x03000000
#define mbedtls_sha256_starts mbedtls_sha256_starts_ret
#define mbedtls_sha256_update mbedtls_sha256_update_ret
#define mbedtls_sha256_finish mbedtls_sha256_finish_ret
#endif

int
shim_artifact_init(struct shim_artifact *a, const char *id, uint64_t size)
{
	memset(a, 0, sizeof(*a));
	a->fd = -1;
	if (!shim_digest_ok(id) || size == 0 || size > SHIM_ARTIFACT_MAX)
		return -EINVAL;
	for (int i = 0; i < 64; i++)
		a->id[i] = (char)tolower((unsigned char)id[i]);
	a->size = size;
	a->nchunks = (uint32_t)((size + SHIM_ARTIFACT_CHUNK - 1) / SHIM_ARTIFACT_CHUNK);
	a->have = calloc(a->nchunks, 1);
	if (a->have == NULL)
		return -ENOMEM;
	a->fd = memfd_create("nicvisor-image", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (a->fd < 0 || ftruncate(a->fd, (off_t)size) < 0) {
		int rc = -errno;

		shim_artifact_fini(a);
		return rc;
	}
	return 0;
}

void
shim_artifact_fini(struct shim_artifact *a)
{
	if (a->fd >= 0)
		close(a->fd);
	a->fd = -1;
	free(a->have);
	a->have = NULL;
}

int
shim_artifact_put(struct shim_artifact *a, uint64_t offset, const void *data, size_t len)
{
	uint64_t expect;
	uint32_t idx;
	size_t done = 0;

	if (offset % SHIM_ARTIFACT_CHUNK != 0 || offset >= a->size)
		return -ERANGE;
	idx = (uint32_t)(offset / SHIM_ARTIFACT_CHUNK);
	expect = a->size - offset < SHIM_ARTIFACT_CHUNK ? a->size - offset : SHIM_ARTIFACT_CHUNK;
	if (len != expect)
		return -EMSGSIZE;
	if (a->have[idx])
		return 0;
	while (done < len) {
		ssize_t w = pwrite(a->fd, (const uint8_t *)data + done, len - done,
				   (off_t)(offset + done));

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -EIO;
		done += (size_t)w;
	}
	a->have[idx] = 1;
	a->nhave++;
	return 0;
}

static int
sha256_fd(int fd, uint64_t size, char hex[65])
{
	mbedtls_sha256_context ctx;
	unsigned char sum[32];
	void *p;

	/* Private: a shared mapping of a writable memfd counts as writable
	 * (a child forked meanwhile holds a copy until its exec), and
	 * F_SEAL_WRITE then fails with EBUSY. */
	p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	mbedtls_sha256_init(&ctx);
	mbedtls_sha256_starts(&ctx, 0);
	mbedtls_sha256_update(&ctx, p, size);
	mbedtls_sha256_finish(&ctx, sum);
	mbedtls_sha256_free(&ctx);
	munmap(p, size);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", sum[i]);
	return 0;
}

int
shim_artifact_finish(struct shim_artifact *a, char *why, size_t n)
{
	char hex[65];
	int rc;

	if (a->nhave != a->nchunks) {
		snprintf(why, n, "incomplete: %u of %u chunks", a->nhave, a->nchunks);
		return -EBADMSG;
	}
	rc = sha256_fd(a->fd, a->size, hex);
	if (rc < 0) {
		snprintf(why, n, "cannot hash: %s", strerror(-rc));
		return rc;
	}
	if (strcmp(hex, a->id) != 0) {
		snprintf(why, n, "sha256 %.16s... does not match its id %.16s...", hex, a->id);
		return -EBADMSG;
	}
	if (fcntl(a->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) <
	    0) {
		snprintf(why, n, "cannot seal: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

/* One download: workers take the next chunk until all are in or one fails. */
struct fetch {
	pthread_mutex_t lock;
	struct shim_artifact *a;
	shim_fetch_fn fn;
	void *opaque;
	uint32_t next;
	uint64_t deadline_ns;
	int err;
	char why[SHIM_REASON_MAX];
};

static void
fetch_fail(struct fetch *f, int rc, const char *why)
{
	pthread_mutex_lock(&f->lock);
	if (f->err == 0) {
		f->err = rc;
		snprintf(f->why, sizeof(f->why), "%s", why);
	}
	pthread_mutex_unlock(&f->lock);
}

static void *
fetch_worker(void *arg)
{
	struct fetch *f = arg;
	struct shim_artifact *a = f->a;

	for (;;) {
		char msg[SHIM_REASON_MAX];
		uint8_t *data = NULL;
		size_t dlen = 0;
		uint64_t off;
		uint32_t len;
		int rc;

		pthread_mutex_lock(&f->lock);
		if (f->err != 0 || f->next >= a->nchunks) {
			pthread_mutex_unlock(&f->lock);
			return NULL;
		}
		off = (uint64_t)f->next++ * SHIM_ARTIFACT_CHUNK;
		pthread_mutex_unlock(&f->lock);
		len = (uint32_t)(a->size - off < SHIM_ARTIFACT_CHUNK ? a->size - off
								     : SHIM_ARTIFACT_CHUNK);
		for (;;) {
			rc = f->fn(f->opaque, a->id, off, len, &data, &dlen);
			if (rc != -ETIMEDOUT && rc != -EAGAIN)
				break;
			if (nv_mono_ns() > f->deadline_ns ||
			    __atomic_load_n(&f->err, __ATOMIC_RELAXED))
				break;
			usleep(100 * 1000);
		}
		if (rc < 0) {
			snprintf(msg, sizeof(msg), "chunk at offset %llu: %s",
				 (unsigned long long)off, strerror(-rc));
			fetch_fail(f, rc, msg);
			return NULL;
		}
		pthread_mutex_lock(&f->lock);
		rc = shim_artifact_put(a, off, data, dlen);
		pthread_mutex_unlock(&f->lock);
		free(data);
		if (rc < 0) {
			snprintf(msg, sizeof(msg), "chunk at offset %llu: %zu bytes, expected %u",
				 (unsigned long long)off, dlen, len);
			fetch_fail(f, -EBADMSG, msg);
			return NULL;
		}
	}
}

int
shim_artifact_fetch(struct shim_artifact *a, shim_fetch_fn fn, void *opaque, unsigned int inflight,
		    int deadline_ms, char *why, size_t n)
{
	struct fetch f = {
		.a = a,
		.fn = fn,
		.opaque = opaque,
		.deadline_ns = nv_mono_ns() + (uint64_t)deadline_ms * 1000000,
	};
	pthread_t tid[8];
	unsigned int started = 0;

	pthread_mutex_init(&f.lock, NULL);
	if (inflight < 1)
		inflight = 1;
	if (inflight > 8)
		inflight = 8;
	if (inflight > a->nchunks)
		inflight = a->nchunks;
	for (unsigned int i = 1; i < inflight; i++) {
		if (pthread_create(&tid[started], NULL, fetch_worker, &f) == 0)
			started++;
	}
	fetch_worker(&f);
	for (unsigned int i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
	pthread_mutex_destroy(&f.lock);
	if (f.err != 0) {
		snprintf(why, n, "%s", f.why);
		return f.err;
	}
	return shim_artifact_finish(a, why, n);
}

/* How many chunk requests one download keeps in flight, and how long it
 * may take before the VM fails. */
#define FETCH_INFLIGHT    4
#define FETCH_DEADLINE_MS (120 * 1000)

void
shim_image_cache_init(struct shim_image_cache *c, shim_fetch_fn fn, void *opaque)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->changed, NULL);
	c->fetch = fn;
	c->opaque = opaque;
}

void
shim_image_cache_fini(struct shim_image_cache *c)
{
	while (c->images != NULL) {
		struct shim_image *img = c->images;

		c->images = img->next;
		shim_artifact_fini(&img->art);
		free(img);
	}
	pthread_cond_destroy(&c->changed);
	pthread_mutex_destroy(&c->lock);
}

static void
unlink_image(struct shim_image_cache *c, struct shim_image *img)
{
	for (struct shim_image **p = &c->images; *p != NULL; p = &(*p)->next) {
		if (*p == img) {
			*p = img->next;
			return;
		}
	}
}

/* Caller holds c->lock. */
static void
unref(struct shim_image_cache *c, struct shim_image *img)
{
	if (--img->refs > 0)
		return;
	unlink_image(c, img);
	shim_artifact_fini(&img->art);
	free(img);
}

int
shim_image_get(struct shim_image_cache *c, const char *id, uint64_t size, struct shim_image **out,
	       char *why, size_t n)
{
	struct shim_image *img;
	int rc;

	*out = NULL;
	pthread_mutex_lock(&c->lock);
	for (img = c->images; img != NULL; img = img->next) {
		if (strcasecmp(img->art.id, id) == 0 && img->art.size == size)
			break;
	}
	if (img != NULL) {
		img->refs++;
		while (!img->ready && !img->failed)
			pthread_cond_wait(&c->changed, &c->lock);
		if (img->failed) {
			snprintf(why, n, "%s", img->why);
			rc = img->err;
			unref(c, img);
			pthread_mutex_unlock(&c->lock);
			return rc;
		}
		pthread_mutex_unlock(&c->lock);
		*out = img;
		return 0;
	}
	img = calloc(1, sizeof(*img));
	if (img == NULL) {
		pthread_mutex_unlock(&c->lock);
		snprintf(why, n, "out of memory");
		return -ENOMEM;
	}
	rc = shim_artifact_init(&img->art, id, size);
	if (rc < 0) {
		pthread_mutex_unlock(&c->lock);
		snprintf(why, n, "cannot hold %llu bytes: %s", (unsigned long long)size,
			 strerror(-rc));
		free(img);
		return rc;
	}
	img->refs = 1;
	img->next = c->images;
	c->images = img;
	pthread_mutex_unlock(&c->lock);

	rc = shim_artifact_fetch(&img->art, c->fetch, c->opaque, FETCH_INFLIGHT, FETCH_DEADLINE_MS,
				 img->why, sizeof(img->why));

	pthread_mutex_lock(&c->lock);
	if (rc == 0) {
		img->ready = true;
		*out = img;
	} else {
		img->failed = true;
		img->err = rc;
		unlink_image(c, img); /* the next user downloads again */
		img->next = NULL;
		snprintf(why, n, "%s", img->why);
		nv_warn("artifact %.16s...: %s", id, img->why);
	}
	pthread_cond_broadcast(&c->changed);
	if (rc < 0)
		unref(c, img);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

void
shim_image_put(struct shim_image_cache *c, struct shim_image *img)
{
	if (img == NULL)
		return;
	pthread_mutex_lock(&c->lock);
	unref(c, img);
	pthread_mutex_unlock(&c->lock);
}

unsigned int
shim_image_count(struct shim_image_cache *c)
{
	unsigned int n = 0;

	pthread_mutex_lock(&c->lock);
	for (struct shim_image *img = c->images; img != NULL; img = img->next)
		n++;
	pthread_mutex_unlock(&c->lock);
	return n;
}
