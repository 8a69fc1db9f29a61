/* SPDX-License-Identifier: MIT */
/*
 * The boot-artifact store: kernels and initrds copied from the DPU's
 * filesystem when a VM starts, named by the SHA-256 of their content, and
 * served to hosts in chunks (ReadArtifact) so that hosts keep no files.
 *
 * An artifact is a private read-only copy in <dir>/<sha256>: it does not
 * change while in use even if the source file does. VMs with the same
 * content share it; it is reference counted and deleted when the last
 * reference goes. The directory is emptied when the store opens (nothing
 * refers to an artifact of a previous run). Thread safe: the store has its
 * own lock and ingest copies files without holding it.
 */
#ifndef DPU_ARTIFACT_H
#define DPU_ARTIFACT_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#define DPU_ARTIFACT_ID_LEN 64

struct dpu_artifacts;
struct dpu_artifact;

/* dir must exist and belong to the store alone. */
int dpu_artifacts_open(const char *dir, struct dpu_artifacts **out);
/* Every artifact must have been put back. Accepts NULL. */
void dpu_artifacts_close(struct dpu_artifacts *s);

/*
 * Copy the file at path (a regular file of at most max_size bytes) into
 * the store and return a reference to it in *out. On failure st says why
 * with `field` (CODE_FAILED_PRECONDITION: the file is missing, unreadable,
 * too big or changed while read; CODE_INTERNAL: the store failed).
 * Blocks on file I/O.
 */
int dpu_artifact_ingest(struct dpu_artifacts *s, const char *path, uint64_t max_size,
			const char *field, struct dpu_artifact **out, struct dpu_status *st);

/* A new reference to the artifact with this id, or NULL. */
struct dpu_artifact *dpu_artifact_get(struct dpu_artifacts *s, const char *id);
/* Another reference to a. */
struct dpu_artifact *dpu_artifact_hold(struct dpu_artifact *a);
/* Drop a reference; the last one deletes the artifact. Accepts NULL. */
void dpu_artifact_put(struct dpu_artifact *a);

const char *dpu_artifact_id(const struct dpu_artifact *a);   /* 64 hex digits */
const char *dpu_artifact_name(const struct dpu_artifact *a); /* source basename */
uint64_t dpu_artifact_size(const struct dpu_artifact *a);

/* Copy up to len bytes at off into buf; the count (0 at the end), or a
 * negative errno. */
long dpu_artifact_read(const struct dpu_artifact *a, uint64_t off, void *buf, size_t len);

/* Number of artifacts stored (for tests and metrics). */
size_t dpu_artifacts_count(struct dpu_artifacts *s);

/* SHA-256 of a buffer as 64 lower-case hex digits plus NUL. */
void dpu_sha256_hex(const void *buf, size_t len, char out[DPU_ARTIFACT_ID_LEN + 1]);

#endif
