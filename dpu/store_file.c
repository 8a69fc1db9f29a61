/* SPDX-License-Identifier: MIT */
/*
 * The "file" store: <dir>/state.pb holds one packed AgentState. A save
 * writes <dir>/state.pb.tmp, fsyncs it, renames it over state.pb and
 * fsyncs the directory, so state.pb is always either the old or the new
 * state, never a torn one; a leftover state.pb.tmp is never read.
 */
#define NV_LOG_COMPONENT "nicvisor.dpu.store"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nv_log.h"
#include "store.h"

#define STATE_FILE     "state.pb"
#define STATE_TMP_FILE "state.pb.tmp"
#define STATE_MAX_SIZE (64u << 20)

struct file_store {
	struct dpu_store base;
	int dirfd;
	char dir[PATH_MAX];
};

/* Unit tests make a step fail ("write", "fsync", "rename", "dirsync") to
 * stand for a crash at that point. */
static int (*test_fault)(const char *step);

static int
fault(const char *step)
{
	return test_fault != NULL && test_fault(step) != 0;
}

static int
sync_fd(int fd, const char *step)
{
	if (fault(step))
		return -EIO;
	return fsync(fd) < 0 ? -errno : 0;
}

static int
read_all(int fd, uint8_t **buf, size_t *len)
{
	struct stat sb;
	size_t got = 0;
	uint8_t *b;

	if (fstat(fd, &sb) < 0)
		return -errno;
	if ((uint64_t)sb.st_size > STATE_MAX_SIZE)
		return -EFBIG;
	b = malloc((size_t)sb.st_size + 1);
	if (b == NULL)
		return -ENOMEM;
	while (got < (size_t)sb.st_size) {
		ssize_t n = read(fd, b + got, (size_t)sb.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int err = n < 0 ? -errno : -EIO;

			free(b);
			return err;
		}
		got += (size_t)n;
	}
	*buf = b;
	*len = got;
	return 0;
}

static int
file_load(struct dpu_store *s, Nicvisor__V1__AgentState **out)
{
	struct file_store *fs = (struct file_store *)s;
	uint8_t *buf;
	size_t len;
	int fd, rc;

	*out = NULL;
	/* A temp file is what a save left when it did not finish. */
	if (unlinkat(fs->dirfd, STATE_TMP_FILE, 0) == 0)
		nv_warn("removed %s/%s left by an unfinished save", fs->dir, STATE_TMP_FILE);
	fd = openat(fs->dirfd, STATE_FILE, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		rc = -errno;
		nv_err("cannot open %s/%s: %s", fs->dir, STATE_FILE, strerror(-rc));
		return rc;
	}
	rc = read_all(fd, &buf, &len);
	close(fd);
	if (rc < 0) {
		nv_err("cannot read %s/%s: %s", fs->dir, STATE_FILE, strerror(-rc));
		return rc;
	}
	*out = nicvisor__v1__agent_state__unpack(NULL, len, buf);
	free(buf);
	if (*out == NULL) {
		nv_err("%s/%s is corrupt (%zu bytes do not decode as an AgentState); move it "
		       "away to start with no VMs",
		       fs->dir, STATE_FILE, len);
		return -EBADMSG;
	}
	return 0;
}

static int
write_all(int fd, const uint8_t *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(fd, buf + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		done += (size_t)n;
	}
	return 0;
}

static int
file_save(struct dpu_store *s, const Nicvisor__V1__AgentState *st)
{
	struct file_store *fs = (struct file_store *)s;
	size_t len = nicvisor__v1__agent_state__get_packed_size(st);
	uint8_t *buf;
	int fd, rc;

	if (len > STATE_MAX_SIZE)
		return -EFBIG;
	buf = malloc(len ? len : 1);
	if (buf == NULL)
		return -ENOMEM;
	nicvisor__v1__agent_state__pack(st, buf);
	fd = openat(fs->dirfd, STATE_TMP_FILE, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		goto out_free;
	}
	rc = fault("write") ? -EIO : write_all(fd, buf, len);
	if (rc == 0)
		rc = sync_fd(fd, "fsync");
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc < 0)
		goto out_free;
	if (fault("rename"))
		rc = -EIO;
	else if (renameat(fs->dirfd, STATE_TMP_FILE, fs->dirfd, STATE_FILE) < 0)
		rc = -errno;
	if (rc < 0)
		goto out_free;
	/* The rename itself is durable once the directory is. */
	rc = sync_fd(fs->dirfd, "dirsync");
out_free:
	free(buf);
	if (rc < 0)
		nv_err("cannot save the agent state in %s: %s", fs->dir, strerror(-rc));
	return rc;
}

static void
file_close(struct dpu_store *s)
{
	struct file_store *fs = (struct file_store *)s;

	close(fs->dirfd);
	free(fs);
}

static const struct dpu_store_ops file_store_ops = {
	.name = "file",
	.load = file_load,
	.save = file_save,
	.close = file_close,
};

int
dpu_store_file_open(const char *dir, struct dpu_store **out)
{
	struct file_store *fs;
	int rc;

	fs = calloc(1, sizeof(*fs));
	if (fs == NULL)
		return -ENOMEM;
	fs->base.ops = &file_store_ops;
	snprintf(fs->dir, sizeof(fs->dir), "%s", dir);
	fs->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fs->dirfd < 0) {
		rc = -errno;
		nv_err("cannot open the state directory %s: %s", dir, strerror(-rc));
		free(fs);
		return rc;
	}
	*out = &fs->base;
	return 0;
}

void
dpu_store_free_state(Nicvisor__V1__AgentState *st)
{
	if (st != NULL)
		nicvisor__v1__agent_state__free_unpacked(st, NULL);
}
