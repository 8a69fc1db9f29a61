/* SPDX-License-Identifier: MIT */
/*
 * The northbound API of storage (api.proto): CreateVolume, DeleteVolume,
 * GetVolume, ListVolumes, AttachDisk, DetachDisk and GetDiskStats.
 * Validated field by field like every request, applied under the agent
 * lock. A file volume's sparse file is made before CreateVolume answers
 * and removed by DeleteVolume; its blocks are allocated as guests write.
 */
#define NV_LOG_COMPONENT "nicvisor.dpu.api"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_priv.h"
#include "nv_log.h"
#include "nv_wire.h"
#include "page_token.h"
#include "pb_util.h"
#include "vm_state.h"

#define CODE(x) NICVISOR__V1__CODE__CODE_##x

/* A GetDiskStats answer stays well under NV_WIRE_MAX_MSG. */
#define STATS_MAX_BYTES (NV_WIRE_MAX_MSG / 2)

static int
lock_volume(struct dpu_agent *a, const char *ref, struct dpu_volume **out, struct dpu_status *st)
{
	if (dpu_validate_volume_ref(ref, "volume", st) < 0)
		return -EINVAL;
	pthread_mutex_lock(&a->lock);
	*out = vol_find(a, ref);
	return api_found(a, *out, "volume", ref, st);
}

static void
sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

/* The sparse file of a new file volume: size_bytes long, no block
 * allocated. */
static int
vol_file_create(struct dpu_agent *a, const struct dpu_volume *vol, struct dpu_status *st)
{
	char path[DPU_PATH_MAX + 32];
	int fd, e;

	if (a->conf.volume_dir == NULL)
		return dpu_fail(st, CODE(FAILED_PRECONDITION), "nbd_url",
				"this agent has no volume directory, so it keeps no file "
				"volumes; give an NBD URL");
	if (vol_path(a, vol, path, sizeof(path)) < 0)
		return dpu_fail(st, CODE(INTERNAL), "", "volume path too long");
	if (mkdir(a->conf.volume_dir, 0700) < 0 && errno != EEXIST) {
		e = errno;
		return dpu_fail(st, CODE(INTERNAL), "", "cannot create %s: %s", a->conf.volume_dir,
				strerror(e));
	}
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		e = errno;
		return dpu_fail(st, CODE(INTERNAL), "", "cannot create %s: %s", path, strerror(e));
	}
	/* ftruncate() allocates nothing: the file is thin until written. */
	if (ftruncate(fd, (off_t)vol->size_bytes) < 0 || fsync(fd) < 0) {
		e = errno;
		close(fd);
		unlink(path);
		return dpu_fail(
			st, e == EFBIG || e == ENOSPC ? CODE(RESOURCE_EXHAUSTED) : CODE(INTERNAL),
			"size_bytes", "cannot size %s to %llu bytes: %s", path,
			(unsigned long long)vol->size_bytes, strerror(e));
	}
	close(fd);
	sync_dir(a->conf.volume_dir);
	return 0;
}

int
api_create_volume(struct dpu_agent *a, const Nicvisor__V1__CreateVolumeRequest *r,
		  struct nv_arena *ar, Nicvisor__V1__Response *rep, struct dpu_status *st)
{
	bool nbd = r->nbd_url != NULL && r->nbd_url[0] != 0;
	struct dpu_volume *vol, *other;
	struct dpu_nbd_url url;
	int rc = 0;

	if (dpu_validate_volume_name(r->name, "name", st) < 0 ||
	    dpu_validate_volume_size(r->size_bytes, "size_bytes", st) < 0 ||
	    (nbd && dpu_nbd_url_parse(r->nbd_url, &url, "nbd_url", st) < 0))
		return -EINVAL;
	pthread_mutex_lock(&a->lock);
	if (a->nvols >= DPU_MAX_VOLUMES) {
		rc = dpu_fail(st, CODE(RESOURCE_EXHAUSTED), "",
			      "the agent has %d volumes already, its limit; delete some first",
			      DPU_MAX_VOLUMES);
		goto out_unlock;
	}
	if ((other = vol_find_name(a, r->name)) != NULL) {
		rc = dpu_fail(st, CODE(ALREADY_EXISTS), "name", "a volume named %s exists (%s)",
			      r->name, other->id);
		goto out_unlock;
	}
	vol = vol_add(a, r->name, r->size_bytes, nbd ? r->nbd_url : NULL, NULL);
	if (vol == NULL) {
		rc = dpu_fail(st, CODE(INTERNAL), "", "out of memory");
		goto out_unlock;
	}
	if (!nbd && (rc = vol_file_create(a, vol, st)) < 0) {
		vol_remove(a, vol);
		goto out_unlock;
	}
	nv_info("created volume %s (%s), %llu bytes, %s%s", vol->name, vol->id,
		(unsigned long long)vol->size_bytes, nbd ? "nbd " : "file",
		nbd ? vol->nbd_url : "");
	rep->result_case = NICVISOR__V1__RESPONSE__RESULT_VOLUME;
	rep->volume = vol_to_pb(a, vol, ar);
	rc = api_save_or_fail(a, st);
out_unlock:
	pthread_mutex_unlock(&a->lock);
	return rc;
}

int
api_delete_volume(struct dpu_agent *a, const Nicvisor__V1__DeleteVolumeRequest *r,
		  struct nv_arena *ar, Nicvisor__V1__Response *rep, struct dpu_status *st)
{
	char path[DPU_PATH_MAX + 32];
	const struct dpu_vm *user = NULL;
	struct dpu_volume *vol;
	size_t users, index = 0;
	bool has_file;
	int rc;

	rc = lock_volume(a, r->volume, &vol, st);
	if (rc < 0)
		return rc;
	users = vol_disk_users(a, vol->name, NULL, &user, &index, NULL);
	if (users > 0) {
		rc = dpu_fail(st, CODE(FAILED_PRECONDITION), "volume",
			      "volume %s is attached to %zu disk%s (disk %zu of vm %s%s); detach "
			      "it or delete those VMs first",
			      vol->name, users, users == 1 ? "" : "s", index, user->spec->name,
			      users > 1 ? ", ..." : "");
		goto out_unlock;
	}
	rep->result_case = NICVISOR__V1__RESPONSE__RESULT_VOLUME;
	rep->volume = vol_to_pb(a, vol, ar);
	/* The state forgets the volume before its file goes: a crash between
	 * the two leaves a file no volume names, which the next start removes
	 * (vol_sweep_orphans), never a volume without its data. A failed save
	 * keeps the file: the saved state still has the volume. */
	has_file = vol_path(a, vol, path, sizeof(path)) == 0;
	nv_info("deleted volume %s (%s)", vol->name, vol->id);
	vol_remove(a, vol);
	rc = api_save_or_fail(a, st);
	if (rc == 0 && has_file && unlink(path) < 0 && errno != ENOENT)
		nv_warn("volume deleted, but its file %s stays: %s; the agent removes it at its "
			"next start",
			path, strerror(errno));
	else if (rc == 0 && has_file)
		sync_dir(a->conf.volume_dir);
out_unlock:
	pthread_mutex_unlock(&a->lock);
	return rc;
}

int
api_get_volume(struct dpu_agent *a, const Nicvisor__V1__GetVolumeRequest *r, struct nv_arena *ar,
	       Nicvisor__V1__Response *rep, struct dpu_status *st)
{
	struct dpu_volume *vol;
	int rc;

	rc = lock_volume(a, r->volume, &vol, st);
	if (rc < 0)
		return rc;
	rep->result_case = NICVISOR__V1__RESPONSE__RESULT_VOLUME;
	rep->volume = vol_to_pb(a, vol, ar);
	pthread_mutex_unlock(&a->lock);
	return 0;
}

static const char *
vol_key(const void *p)
{
	return ((const struct dpu_volume *)p)->name;
}

static ProtobufCMessage *
vol_pb(struct dpu_agent *a, const void *item, struct nv_arena *ar)
{
	return &vol_to_pb(a, item, ar)->base;
}

int
api_list_volumes(struct dpu_agent *a, const Nicvisor__V1__ListVolumesRequest *r,
		 struct nv_arena *ar, Nicvisor__V1__Response *rep, struct dpu_status *st)
{
	static const struct api_list_kind kind = { "volumes", NULL, vol_key, vol_pb };

	return api_list(a, &kind, (void *const *const *)&a->vols, &a->nvols, r->page_size,
			r->page_token, NICVISOR__V1__RESPONSE__RESULT_VOLUMES, ar, rep, st);
}

/* Disks */

int
api_attach_disk(struct dpu_agent *a, const Nicvisor__V1__AttachDiskRequest *r, struct nv_arena *ar,
		Nicvisor__V1__Response *rep, struct dpu_status *st)
{
	Nicvisor__V1__DiskSpec *disks[DPU_MAX_DISKS], added, *req_disk = r->disk;
	struct dpu_vm *vm;
	size_t n;
	int rc;

	if (dpu_validate_vm_ref(r->vm, "vm", st) < 0 || dpu_validate_disk(r->disk, "disk", st) < 0)
		return -EINVAL;
	rc = api_lock_vm_for(a, r->vm, DPU_VM_OP_EDIT_DISKS, &vm, st);
	if (rc < 0)
		return rc;
	n = vm->spec->n_disks;
	if (n >= DPU_MAX_DISKS) {
		rc = dpu_fail(st, CODE(RESOURCE_EXHAUSTED), "vm",
			      "vm %s has %d disks, the most a VM can have; detach one first",
			      vm->spec->name, DPU_MAX_DISKS);
		goto out_unlock;
	}
	rc = disks_resolve(a, vm, vm->spec->disks, n, &req_disk, 1, "disk", false, &added, ar, st);
	if (rc < 0)
		goto out_unlock;
	for (size_t i = 0; i < n; i++)
		disks[i] = vm->spec->disks[i];
	disks[n] = &added;
	rc = api_vm_set_spec(vm, spec_with_disks(vm->spec, disks, n + 1), st);
	if (rc < 0)
		goto out_unlock;
	nv_info("vm %s (%s): disk %zu is volume %s%s", vm->spec->name, vm->id, n, added.volume,
		added.read_only ? ", read-only" : "");
	rc = api_answer_vm(a, vm, ar, rep, st);
out_unlock:
	pthread_mutex_unlock(&a->lock);
	return rc;
}

int
api_detach_disk(struct dpu_agent *a, const Nicvisor__V1__DetachDiskRequest *r, struct nv_arena *ar,
		Nicvisor__V1__Response *rep, struct dpu_status *st)
{
	Nicvisor__V1__DiskSpec *disks[DPU_MAX_DISKS];
	struct dpu_vm *vm;
	size_t n, k = 0;
	int rc;

	rc = api_lock_vm_for(a, r->vm, DPU_VM_OP_EDIT_DISKS, &vm, st);
	if (rc < 0)
		return rc;
	n = vm->spec->n_disks;
	rc = api_vm_index(vm, "disk", r->index, n, st);
	if (rc < 0)
		goto out_unlock;
	for (size_t i = 0; i < n; i++)
		if (i != r->index)
			disks[k++] = vm->spec->disks[i];
	/* A VM that does not run has no backend disks; nothing moves. */
	vm_disks_detach(a, vm);
	rc = api_vm_set_spec(vm, spec_with_disks(vm->spec, disks, k), st);
	if (rc < 0)
		goto out_unlock;
	nv_info("vm %s (%s): disk %u detached", vm->spec->name, vm->id, r->index);
	rc = api_answer_vm(a, vm, ar, rep, st);
out_unlock:
	pthread_mutex_unlock(&a->lock);
	return rc;
}

/* Disk statistics */

static Nicvisor__V1__DiskStats *
disk_stats_pb(const struct dpu_vm *vm, size_t i, const struct dpu_blk_stats *s, struct nv_arena *ar)
{
	Nicvisor__V1__DiskStats *pb = nv_arena_alloc(ar, sizeof(*pb));
	char name[64];

	nicvisor__v1__disk_stats__init(pb);
	snprintf(name, sizeof(name), "%s/disk%zu", vm->id, i);
	pb->disk = nv_arena_strdup(ar, name);
	pb->volume = nv_arena_strdup(ar, vm->spec->disks[i]->volume);
	pb->read_only = vm->spec->disks[i]->read_only;
	pb->max_iops = vm->spec->disks[i]->max_iops;
	pb->max_bytes_per_second = vm->spec->disks[i]->max_bytes_per_second;
	if (s == NULL)
		return pb;
	pb->served = true;
	pb->connected = s->connected;
	pb->read_ops = s->read_ops;
	pb->read_bytes = s->read_bytes;
	pb->write_ops = s->write_ops;
	pb->write_bytes = s->write_bytes;
	pb->flush_ops = s->flush_ops;
	pb->discard_ops = s->discard_ops;
	pb->throttled = s->throttled;
	pb->errors = nv_arena_alloc(ar, (DPU_BLK_ERROR_KINDS + 1) * sizeof(*pb->errors));
	for (unsigned int k = 0; k < s->nerrors && k < DPU_BLK_ERROR_KINDS; k++) {
		Nicvisor__V1__DiskStats__ErrorsEntry *e = nv_arena_alloc(ar, sizeof(*e));
		char reason[DPU_BLK_ERROR_REASON + 1];

		nicvisor__v1__disk_stats__errors_entry__init(e);
		/* The backend's string may lack its NUL. */
		snprintf(reason, sizeof(reason), "%.*s", DPU_BLK_ERROR_REASON, s->errors[k].reason);
		e->key = nv_arena_strdup(ar, reason);
		e->value = s->errors[k].count;
		pb->errors[pb->n_errors++] = e;
	}
	return pb;
}

/* Every disk of vm into pr, with the backend's counters where it has the
 * disk. False once the answer would grow too big. */
static bool
vm_disk_stats(struct dpu_agent *a, const struct dpu_vm *vm, Nicvisor__V1__DiskStatsResponse *pr,
	      size_t *bytes, struct nv_arena *ar)
{
	for (size_t i = 0; i < vm->spec->n_disks && i < DPU_MAX_DISKS; i++) {
		struct dpu_blk_stats one;
		Nicvisor__V1__DiskStats *p;
		int got = -ENOENT;

		if (vm->disks[i].name[0] != 0 && a->blk != NULL)
			got = a->blk->ops->disk_stats(a->blk, vm->disks[i].name, &one, 1);
		p = disk_stats_pb(vm, i, got == 1 ? &one : NULL, ar);
		*bytes += protobuf_c_message_get_packed_size(&p->base) + 8;
		if (*bytes > STATS_MAX_BYTES)
			return false;
		pr->disks[pr->n_disks++] = p;
	}
	return true;
}

int
api_get_disk_stats(struct dpu_agent *a, const Nicvisor__V1__GetDiskStatsRequest *r,
		   struct nv_arena *ar, Nicvisor__V1__Response *rep, struct dpu_status *st)
{
	Nicvisor__V1__DiskStatsResponse *pr;
	struct dpu_vm *vm = NULL;
	size_t max = 0, bytes = 0;
	int rc;

	pr = nv_arena_alloc(ar, sizeof(*pr));
	nicvisor__v1__disk_stats_response__init(pr);
	if (r->vm != NULL && r->vm[0] != 0) {
		rc = api_lock_vm(a, r->vm, &vm, st);
		if (rc < 0)
			return rc;
		max = vm->spec->n_disks;
	} else {
		pthread_mutex_lock(&a->lock);
		for (size_t i = 0; i < a->nvms; i++)
			max += a->vms[i]->spec->n_disks;
	}
	pr->disks = nv_arena_alloc(ar, (max + 1) * sizeof(*pr->disks));
	if (vm != NULL) {
		vm_disk_stats(a, vm, pr, &bytes, ar);
	} else {
		for (size_t i = 0; i < a->nvms; i++) {
			if (!vm_disk_stats(a, a->vms[i], pr, &bytes, ar)) {
				nv_warn("GetDiskStats: %zu disks do not fit one answer; %zu shown",
					max, pr->n_disks);
				break;
			}
		}
	}
	rep->result_case = NICVISOR__V1__RESPONSE__RESULT_DISK_STATS;
	rep->disk_stats = pr;
	pthread_mutex_unlock(&a->lock);
	return 0;
}
