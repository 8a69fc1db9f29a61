/* SPDX-License-Identifier: MIT */
#define NV_LOG_COMPONENT "nicvisor.dpu.artifact"

#include "artifact.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mbedtls/sha256.h>
#include <mbedtls/version.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nv_log.h"

#if MBEDTLS_VERSION_MAJOR < 3
#define sha256_starts(c)       mbedtls_sha256_starts_ret((c), 0)
#define sha256_update(c, b, n) mbedtls_sha256_update_ret((c), (b), (n))
#define sha256_finish(c, out)  mbedtls_sha256_finish_ret((c), (out))
#else
#define sha256_starts(c)       mbedtls_sha256_starts((c), 0)
#define sha256_update(c, b, n) mbedtls_sha256_update((c), (b), (n))
#define sha256_finish(c, out)  mbedtls_sha256_finish((c), (out))
#endif

#define COPY_CHUNK (1u << 20)

struct dpu_artifact {
	struct dpu_artifacts *store;
	struct dpu_artifact *next;
	unsigned int refs;
	int fd;
	uint64_t size;
	char id[DPU_ARTIFACT_ID_LEN + 1];
	char name[64];
};

struct dpu_artifacts {
	pthread_mutex_t lock;
	struct dpu_artifact *list;
	size_t count;
	uint64_t tmp_seq;
	int dirfd;
	char dir[PATH_MAX];
};

static void
hex(const uint8_t *d, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[d[i] >> 4];
		out[2 * i + 1] = digits[d[i] & 15];
	}
	out[2 * n] = 0;
}

void
dpu_sha256_hex(const void *buf, size_t len, char out[DPU_ARTIFACT_ID_LEN + 1])
{
	mbedtls_sha256_context ctx;
	uint8_t d[32];

	mbedtls_sha256_init(&ctx);
	sha256_starts(&ctx);
	sha256_update(&ctx, buf, len);
	sha256_finish(&ctx, d);
	mbedtls_sha256_free(&ctx);
	hex(d, sizeof(d), out);
}

static void
remove_stale(struct dpu_artifacts *s)
{
	int fd = dup(s->dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;

	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (unlinkat(s->dirfd, e->d_name, 0) < 0)
			nv_warn("cannot remove %s/%s: %s", s->dir, e->d_name, strerror(errno));
	}
	closedir(d);
}

int
dpu_artifacts_open(const char *dir, struct dpu_artifacts **out)
{
	struct dpu_artifacts *s = calloc(1, sizeof(*s));
	int rc;

	if (s == NULL)
		return -ENOMEM;
	snprintf(s->dir, sizeof(s->dir), "%s", dir);
	s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dirfd < 0) {
		rc = -errno;
		nv_err("cannot open the artifact directory %s: %s", dir, strerror(-rc));
		free(s);
		return rc;
	}
	pthread_mutex_init(&s->lock, NULL);
	remove_stale(s);
	*out = s;
	return 0;
}

void
dpu_artifacts_close(struct dpu_artifacts *s)
{
	if (s == NULL)
		return;
	if (s->list != NULL)
		nv_warn("%zu artifacts still referenced at close", s->count);
	while (s->list != NULL) {
		struct dpu_artifact *a = s->list;

		s->list = a->next;
		unlinkat(s->dirfd, a->id, 0);
		close(a->fd);
		free(a);
	}
	close(s->dirfd);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static struct dpu_artifact *
find_locked(struct dpu_artifacts *s, const char *id)
{
	for (struct dpu_artifact *a = s->list; a != NULL; a = a->next)
		if (strcmp(a->id, id) == 0)
			return a;
	return NULL;
}

/* Copy src into the new file dst while hashing it. */
static int
copy_hash(int src, int dst, uint64_t expect, char id[DPU_ARTIFACT_ID_LEN + 1], uint64_t *copied)
{
	mbedtls_sha256_context ctx;
	uint8_t *buf = malloc(COPY_CHUNK);
	uint64_t total = 0;
	uint8_t d[32];
	int rc = 0;

	if (buf == NULL)
		return -ENOMEM;
	mbedtls_sha256_init(&ctx);
	sha256_starts(&ctx);
	for (;;) {
		ssize_t n = read(src, buf, COPY_CHUNK);
		size_t done = 0;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			break;
		}
		if (n == 0)
			break;
		total += (uint64_t)n;
		if (total > expect) {
			rc = -ESTALE; /* grew while we read it */
			break;
		}
		sha256_update(&ctx, buf, (size_t)n);
		while (done < (size_t)n) {
			ssize_t w = write(dst, buf + done, (size_t)n - done);

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				rc = -errno;
				goto out;
			}
			done += (size_t)w;
		}
	}
	if (rc == 0 && total != expect)
		rc = -ESTALE;
out:
	sha256_finish(&ctx, d);
	mbedtls_sha256_free(&ctx);
	free(buf);
	hex(d, sizeof(d), id);
	*copied = total;
	return rc;
}

int
dpu_artifact_ingest(struct dpu_artifacts *s, const char *path, uint64_t max_size, const char *field,
		    struct dpu_artifact **out, struct dpu_status *st)
{
	const Nicvisor__V1__Code pre = NICVISOR__V1__CODE__CODE_FAILED_PRECONDITION;
	char id[DPU_ARTIFACT_ID_LEN + 1], tmp[64];
	struct dpu_artifact *a;
	const char *base;
	struct stat sb;
	uint64_t copied;
	int src, dst, rc;

	src = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (src < 0)
		return dpu_fail(st, pre, field, "cannot open %s on the DPU: %s", path,
				strerror(errno));
	if (fstat(src, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size == 0 ||
	    (uint64_t)sb.st_size > max_size) {
		close(src);
		return dpu_fail(st, pre, field,
				"%s is no longer a non-empty regular file of at most %llu MiB",
				path, (unsigned long long)(max_size >> 20));
	}
	pthread_mutex_lock(&s->lock);
	snprintf(tmp, sizeof(tmp), "tmp.%llu", (unsigned long long)++s->tmp_seq);
	pthread_mutex_unlock(&s->lock);
	dst = openat(s->dirfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0400);
	if (dst < 0) {
		rc = errno;
		close(src);
		return dpu_fail(st, NICVISOR__V1__CODE__CODE_INTERNAL, field,
				"cannot create a file in the artifact store %s: %s", s->dir,
				strerror(rc));
	}
	rc = copy_hash(src, dst, (uint64_t)sb.st_size, id, &copied);
	close(src);
	if (rc < 0) {
		unlinkat(s->dirfd, tmp, 0);
		close(dst);
		if (rc == -ESTALE)
			return dpu_fail(st, pre, field,
					"%s changed while it was read (%llu bytes expected, %llu "
					"read); retry",
					path, (unsigned long long)sb.st_size,
					(unsigned long long)copied);
		return dpu_fail(st, NICVISOR__V1__CODE__CODE_INTERNAL, field,
				"cannot copy %s into the artifact store: %s", path, strerror(-rc));
	}

	pthread_mutex_lock(&s->lock);
	a = find_locked(s, id);
	if (a != NULL) {
		a->refs++;
		pthread_mutex_unlock(&s->lock);
		unlinkat(s->dirfd, tmp, 0);
		close(dst);
		*out = a;
		return 0;
	}
	a = calloc(1, sizeof(*a));
	if (a == NULL || renameat(s->dirfd, tmp, s->dirfd, id) < 0) {
		rc = a ? errno : ENOMEM;
		pthread_mutex_unlock(&s->lock);
		free(a);
		unlinkat(s->dirfd, tmp, 0);
		close(dst);
		return dpu_fail(st, NICVISOR__V1__CODE__CODE_INTERNAL, field,
				"cannot add %s to the artifact store: %s", path, strerror(rc));
	}
	a->store = s;
	a->refs = 1;
	a->fd = dst;
	a->size = copied;
	memcpy(a->id, id, sizeof(a->id));
	base = strrchr(path, '/');
	snprintf(a->name, sizeof(a->name), "%s", base ? base + 1 : path);
	a->next = s->list;
	s->list = a;
	s->count++;
	pthread_mutex_unlock(&s->lock);
	nv_debug("stored %s as %s (%llu bytes)", path, id, (unsigned long long)copied);
	*out = a;
	return 0;
}

struct dpu_artifact *
dpu_artifact_get(struct dpu_artifacts *s, const char *id)
{
	struct dpu_artifact *a;

	pthread_mutex_lock(&s->lock);
	a = find_locked(s, id);
	if (a != NULL)
		a->refs++;
	pthread_mutex_unlock(&s->lock);
	return a;
}

struct dpu_artifact *
dpu_artifact_hold(struct dpu_artifact *a)
{
	pthread_mutex_lock(&a->store->lock);
	a->refs++;
	pthread_mutex_unlock(&a->store->lock);
	return a;
}

void
dpu_artifact_put(struct dpu_artifact *a)
{
	struct dpu_artifacts *s;
	struct dpu_artifact **pp;

	if (a == NULL)
		return;
	s = a->store;
	pthread_mutex_lock(&s->lock);
	if (--a->refs > 0) {
		pthread_mutex_unlock(&s->lock);
		return;
	}
	for (pp = &s->list; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == a) {
			*pp = a->next;
			break;
		}
	}
	s->count--;
	unlinkat(s->dirfd, a->id, 0);
	pthread_mutex_unlock(&s->lock);
	close(a->fd);
	free(a);
}

const char *
dpu_artifact_id(const struct dpu_artifact *a)
{
	return a->id;
}

const char *
dpu_artifact_name(const struct dpu_artifact *a)
{
	return a->name;
}

uint64_t
dpu_artifact_size(const struct dpu_artifact *a)
{
	return a->size;
}

long
dpu_artifact_read(const struct dpu_artifact *a, uint64_t off, void *buf, size_t len)
{
	size_t done = 0;

	if (off >= a->size)
		return 0;
	if (len > a->size - off)
		len = (size_t)(a->size - off);
	while (done < len) {
		ssize_t n = pread(a->fd, (char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (long)done;
}

size_t
dpu_artifacts_count(struct dpu_artifacts *s)
{
	size_t n;

	pthread_mutex_lock(&s->lock);
	n = s->count;
	pthread_mutex_unlock(&s->lock);
	return n;
}
