/* SPDX-License-Identifier: MIT */
/*
 * Volumes and VM disks inside the agent: their records, the sharing rules,
 * and the block backend's disks behind them (dpu/blk.h). Unlike a NIC's
 * port, a disk exists in the backend only while its VM is active: it is
 * added when the VM starts (or is found running after an agent restart)
 * and removed when the VM stops, so a stopped VM holds no file open and
 * its volume can be checked, copied or attached elsewhere.
 *
 * A backend disk is named after its VM and its index ("vm-<16 hex>-disk<N>",
 * at most 32 characters like a NIC's port, so its socket path fits
 * sun_path under the same --vhost-dir): disks change only while the VM is
 * not active, when none is in the backend, so the index of a disk in the
 * backend never changes. The API shows disks as "vm-<id>/disk<index>".
 * The volume id is the disk's serial (20 bytes,
 * virtio-blk's VIRTIO_BLK_ID_BYTES), so a guest finds it in
 * /dev/disk/by-id.
 */
#define NV_LOG_COMPONENT "nicvisor.dpu.blk"

#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_priv.h"
#include "nv_log.h"
#include "pb_util.h"
#include "validate.h"
#include "vm_state.h"

#define CODE(x) NICVISOR__V1__CODE__CODE_##x

struct dpu_volume *
vol_find_name(struct dpu_agent *a, const char *name)
{
	return dpu_record_with((void *const *)a->vols, a->nvols, offsetof(struct dpu_volume, name),
			       name);
}

struct dpu_volume *
vol_find(struct dpu_agent *a, const char *ref)
{
	return dpu_record_find((void *const *)a->vols, a->nvols, offsetof(struct dpu_volume, id),
			       offsetof(struct dpu_volume, name), dpu_is_volume_id(ref), ref);
}

struct dpu_volume *
vol_add(struct dpu_agent *a, const char *name, uint64_t size_bytes, const char *nbd_url,
	const char *id)
{
	struct dpu_volume **vols, *vol;

	vols = realloc(a->vols, (a->nvols + 1) * sizeof(*vols));
	if (vols == NULL)
		return NULL;
	a->vols = vols;
	vol = calloc(1, sizeof(*vol));
	if (vol == NULL)
		return NULL;
	if (id != NULL) {
		snprintf(vol->id, sizeof(vol->id), "%s", id);
	} else {
		dpu_record_new_id(a, vol->id, "vol-", (void *const *)a->vols, a->nvols,
				  offsetof(struct dpu_volume, id));
	}
	snprintf(vol->name, sizeof(vol->name), "%s", name);
	snprintf(vol->nbd_url, sizeof(vol->nbd_url), "%s", nbd_url ? nbd_url : "");
	vol->size_bytes = size_bytes;
	vol->created_unix_ms = nv_now_unix_ms();
	a->vols[a->nvols++] = vol;
	return vol;
}

void
vol_remove(struct dpu_agent *a, struct dpu_volume *vol)
{
	dpu_record_remove((void **)a->vols, &a->nvols, vol);
	free(vol);
}

int
vol_path(struct dpu_agent *a, const struct dpu_volume *vol, char *buf, size_t size)
{
	if (vol->nbd_url[0] != 0 || a->conf.volume_dir == NULL)
		return -EINVAL;
	if (snprintf(buf, size, "%s/%s.img", a->conf.volume_dir, vol->id) >= (int)size)
		return -ENAMETOOLONG;
	return 0;
}

uint64_t
vol_allocated(struct dpu_agent *a, const struct dpu_volume *vol)
{
	char path[DPU_PATH_MAX + 32];
	struct stat sb;

	if (vol_path(a, vol, path, sizeof(path)) < 0 || stat(path, &sb) < 0)
		return 0;
	/* st_blocks counts 512-byte units whatever the file system's block. */
	return (uint64_t)sb.st_blocks * 512;
}

size_t
vol_disk_users(struct dpu_agent *a, const char *name, const struct dpu_vm *except,
	       const struct dpu_vm **vm, size_t *index, bool *rw)
{
	size_t n = 0;

	if (rw != NULL)
		*rw = false;
	for (size_t i = 0; i < a->nvms; i++) {
		const Nicvisor__V1__VmSpec *spec = a->vms[i]->spec;

		if (a->vms[i] == except)
			continue;
		for (size_t j = 0; j < spec->n_disks; j++) {
			if (strcmp(spec->disks[j]->volume, name) != 0)
				continue;
			if (rw != NULL && !spec->disks[j]->read_only)
				*rw = true;
			if (n++ == 0) {
				if (vm != NULL)
					*vm = a->vms[i];
				if (index != NULL)
					*index = j;
			}
		}
	}
	return n;
}

static Nicvisor__V1__Volume *
vol_pb_base(const struct dpu_volume *vol, struct nv_arena *ar)
{
	Nicvisor__V1__Volume *pb = nv_arena_alloc(ar, sizeof(*pb));

	nicvisor__v1__volume__init(pb);
	pb->id = nv_arena_strdup(ar, vol->id);
	pb->name = nv_arena_strdup(ar, vol->name);
	pb->size_bytes = vol->size_bytes;
	pb->created_unix_ms = vol->created_unix_ms;
	if (vol->nbd_url[0] != 0) {
		pb->backend = NICVISOR__V1__VOLUME_BACKEND__VOLUME_BACKEND_NBD;
		pb->nbd_url = nv_arena_strdup(ar, vol->nbd_url);
	} else {
		pb->backend = NICVISOR__V1__VOLUME_BACKEND__VOLUME_BACKEND_FILE;
	}
	return pb;
}

Nicvisor__V1__Volume *
vol_to_state_pb(const struct dpu_volume *vol, struct nv_arena *ar)
{
	return vol_pb_base(vol, ar);
}

Nicvisor__V1__Volume *
vol_to_pb(struct dpu_agent *a, const struct dpu_volume *vol, struct nv_arena *ar)
{
	Nicvisor__V1__Volume *pb = vol_pb_base(vol, ar);
	size_t n = vol_disk_users(a, vol->name, NULL, NULL, NULL, NULL);
	char path[DPU_PATH_MAX + 32];

	if (vol_path(a, vol, path, sizeof(path)) == 0)
		pb->path = nv_arena_strdup(ar, path);
	pb->allocated_bytes = vol_allocated(a, vol);
	pb->attachments = nv_arena_alloc(ar, (n + 1) * sizeof(*pb->attachments));
	for (size_t i = 0; i < a->nvms && pb->n_attachments < n; i++) {
		const struct dpu_vm *vm = a->vms[i];

		for (size_t j = 0; j < vm->spec->n_disks; j++) {
			Nicvisor__V1__VolumeAttachment *at;

			if (strcmp(vm->spec->disks[j]->volume, vol->name) != 0)
				continue;
			at = nv_arena_alloc(ar, sizeof(*at));
			nicvisor__v1__volume_attachment__init(at);
			at->vm = nv_arena_strdup(ar, vm->id);
			at->vm_name = nv_arena_strdup(ar, vm->spec->name);
			at->index = (uint32_t)j;
			at->read_only = vm->spec->disks[j]->read_only;
			pb->attachments[pb->n_attachments++] = at;
		}
	}
	return pb;
}

static const char *
disk_field(char *buf, size_t size, const char *prefix, bool indexed, size_t i, const char *name)
{
	if (indexed)
		snprintf(buf, size, "%s[%zu].%s", prefix, i, name);
	else
		snprintf(buf, size, "%s.%s", prefix, name);
	return buf;
}

int
disks_resolve(struct dpu_agent *a, const struct dpu_vm *vm, Nicvisor__V1__DiskSpec *const *keep,
	      size_t nkeep, Nicvisor__V1__DiskSpec *const *disks, size_t n, const char *prefix,
	      bool indexed, Nicvisor__V1__DiskSpec *out, struct nv_arena *ar, struct dpu_status *st)
{
	char f[96];

	if (nkeep + n > DPU_MAX_DISKS)
		return dpu_fail(st, CODE(INVALID_ARGUMENT), prefix, "at most %d disks",
				DPU_MAX_DISKS);
	for (size_t i = 0; i < n; i++) {
		const struct dpu_volume *vol = vol_find(a, disks[i]->volume);
		const struct dpu_vm *other = NULL;
		size_t users, index = 0;
		bool rw;

		if (vol == NULL)
			return dpu_fail(st, CODE(NOT_FOUND),
					disk_field(f, sizeof(f), prefix, indexed, i, "volume"),
					"volume %s: not found; create it first", disks[i]->volume);
		for (size_t j = 0; j < nkeep + i; j++) {
			const char *name = j < nkeep ? keep[j]->volume : out[j - nkeep].volume;

			if (strcmp(name, vol->name) == 0)
				return dpu_fail(
					st, CODE(INVALID_ARGUMENT),
					disk_field(f, sizeof(f), prefix, indexed, i, "volume"),
					"volume %s is disk %zu of this VM already; a volume is "
					"attached once per VM",
					vol->name, j);
		}
		users = vol_disk_users(a, vol->name, vm, &other, &index, &rw);
		if (users > 0 && (rw || !disks[i]->read_only))
			return dpu_fail(st, CODE(FAILED_PRECONDITION),
					disk_field(f, sizeof(f), prefix, indexed, i, "volume"),
					"volume %s is disk %zu of vm %s (%s)%s; a volume attached "
					"read-write belongs to one VM, and one shared is attached "
					"read-only by all",
					vol->name, index, other->spec->name,
					rw ? "read-write" : "read-only",
					users > 1 ? " and others" : "");
		nicvisor__v1__disk_spec__init(&out[i]);
		out[i].volume = nv_arena_strdup(ar, vol->name);
		out[i].read_only = disks[i]->read_only;
		out[i].max_iops = disks[i]->max_iops;
		out[i].max_bytes_per_second = disks[i]->max_bytes_per_second;
	}
	return 0;
}

Nicvisor__V1__VmSpec *
spec_with_disks(const Nicvisor__V1__VmSpec *spec, Nicvisor__V1__DiskSpec *const *disks, size_t n)
{
	Nicvisor__V1__VmSpec copy = *spec;

	/* A shallow copy pointing at the new disks; packing and unpacking it
	 * gives an owned deep copy. */
	copy.disks = (Nicvisor__V1__DiskSpec **)disks;
	copy.n_disks = n;
	return dpu_pb_dup(&copy.base);
}

uint32_t
vm_disk_queues(const Nicvisor__V1__VmSpec *spec)
{
	if (spec->vcpus == 0)
		return 1;
	return spec->vcpus < DPU_DISK_MAX_QUEUES ? spec->vcpus : DPU_DISK_MAX_QUEUES;
}

int
agent_need_blk(struct dpu_agent *a, const char *field, struct dpu_status *st)
{
	if (a->blk != NULL)
		return 0;
	return dpu_fail(st, CODE(FAILED_PRECONDITION), field,
			"this agent runs without a block backend (%s), so VMs with disks cannot "
			"start; start nicvisor-dpu with a dataplane that serves disks",
			a->conf.net_off_reason ? a->conf.net_off_reason : "no dataplane");
}

static void
disk_name(const char *vm_id, size_t index, char *out, size_t size)
{
	snprintf(out, size, "%s-disk%zu", vm_id, index);
}

int
vm_disks_attach(struct dpu_agent *a, struct dpu_vm *vm, struct dpu_status *st)
{
	char err[DPU_BLK_ERR_MAX], path[DPU_PATH_MAX + 32];

	if (vm->spec->n_disks == 0)
		return 0;
	if (agent_need_blk(a, "", st) < 0)
		return -EINVAL;
	for (size_t i = 0; i < vm->spec->n_disks && i < DPU_MAX_DISKS; i++) {
		const Nicvisor__V1__DiskSpec *d = vm->spec->disks[i];
		struct dpu_disk_port *p = &vm->disks[i];
		const struct dpu_volume *vol = vol_find_name(a, d->volume);
		struct dpu_blk_disk_conf c = { 0 };
		char name[DPU_BLK_NAME_MAX];
		int rc;

		if (p->name[0] != 0)
			continue;
		if (vol == NULL) {
			vm_disks_detach(a, vm);
			return dpu_fail(st, CODE(NOT_FOUND), "",
					"vm %s disk %zu: volume %s is gone", vm->spec->name, i,
					d->volume);
		}
		disk_name(vm->id, i, name, sizeof(name));
		c.name = name;
		if (vol->nbd_url[0] != 0) {
			c.nbd_url = vol->nbd_url;
		} else if (vol_path(a, vol, path, sizeof(path)) == 0) {
			c.path = path;
		} else {
			vm_disks_detach(a, vm);
			return dpu_fail(st, CODE(FAILED_PRECONDITION), "",
					"vm %s disk %zu: volume %s is a file and this agent has no "
					"volume directory",
					vm->spec->name, i, vol->name);
		}
		c.size_bytes = vol->size_bytes;
		c.read_only = d->read_only;
		c.queues = vm_disk_queues(vm->spec);
		c.serial = vol->id;
		c.max_iops = d->max_iops;
		c.max_bps = d->max_bytes_per_second;
		err[0] = 0;
		rc = a->blk->ops->disk_add(a->blk, &c, p->socket, sizeof(p->socket), err,
					   sizeof(err));
		if (rc == -EEXIST) {
			/* Left from before (a failed removal): take it again. */
			a->blk->ops->disk_del(a->blk, name, err, sizeof(err));
			err[0] = 0;
			rc = a->blk->ops->disk_add(a->blk, &c, p->socket, sizeof(p->socket), err,
						   sizeof(err));
		}
		if (rc < 0) {
			a->stats.blk_errors++;
			p->socket[0] = 0;
			nv_err("vm %s (%s) disk %zu: block backend refused volume %s: %s",
			       vm->spec->name, vm->id, i, vol->name, err);
			vm_disks_detach(a, vm);
			return dpu_fail(
				st, CODE(INTERNAL), "",
				"the block backend refused disk %zu (volume %s) of vm %s: %s", i,
				vol->name, vm->spec->name, err[0] ? err : strerror(-rc));
		}
		snprintf(p->name, sizeof(p->name), "%s", name);
	}
	return 0;
}

/* At agent start: the disks of VMs saved as active are served again now,
 * before any host reconnects (a host that reports such a VM stopped has
 * them removed by vm_set_state). Their frontends can reconnect at once,
 * and a lazy DPDK dataplane starts here, not while a host's Hello waits
 * on the agent's lock. */
void
agent_disks_restore(struct dpu_agent *a)
{
	size_t vms = 0, failed = 0;

	for (size_t i = 0; i < a->nvms; i++) {
		struct dpu_vm *vm = a->vms[i];
		struct dpu_status st;

		if (!dpu_vm_state_active(vm->state) || vm->spec->n_disks == 0)
			continue;
		if (vm_disks_attach(a, vm, &st) < 0) {
			failed++;
			nv_err("vm %s (%s) was running; its disks cannot be served: %s",
			       vm->spec->name, vm->id, st.message);
		} else {
			vms++;
		}
	}
	if (vms > 0 || failed > 0)
		nv_info("disks of %zu running VMs restored, %zu VMs failed", vms, failed);
}

void
vm_disks_detach(struct dpu_agent *a, struct dpu_vm *vm)
{
	for (size_t i = 0; i < DPU_MAX_DISKS; i++) {
		struct dpu_disk_port *p = &vm->disks[i];
		char err[DPU_BLK_ERR_MAX] = "";
		int rc;

		if (p->name[0] == 0)
			continue;
		if (a->blk != NULL) {
			rc = a->blk->ops->disk_del(a->blk, p->name, err, sizeof(err));
			if (rc < 0 && rc != -ENOENT) {
				a->stats.blk_errors++;
				nv_err("vm %s (%s): block backend could not remove disk %s: %s",
				       vm->spec->name, vm->id, p->name, err);
			}
		}
		memset(p, 0, sizeof(*p));
	}
}

/* A file volume's file exists before the state names the volume (create)
 * and after it no longer does (delete): a crash between the two leaves a
 * file of the agent's own naming that no volume owns. Remove those. */
void
vol_sweep_orphans(struct dpu_agent *a)
{
	struct dirent *e;
	DIR *d;

	if (a->conf.volume_dir == NULL || (d = opendir(a->conf.volume_dir)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		char id[DPU_VOLUME_ID_LEN + 1];
		size_t n = strlen(e->d_name);

		if (n != DPU_VOLUME_ID_LEN + 4 ||
		    strcmp(e->d_name + DPU_VOLUME_ID_LEN, ".img") != 0)
			continue;
		memcpy(id, e->d_name, DPU_VOLUME_ID_LEN);
		id[DPU_VOLUME_ID_LEN] = 0;
		if (!dpu_is_volume_id(id) || vol_find(a, id) != NULL)
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) == 0)
			nv_info("removed %s/%s: no volume owns it (an agent stopped between "
				"making or removing a volume and saving its state)",
				a->conf.volume_dir, e->d_name);
		else
			nv_warn("cannot remove %s/%s, which no volume owns: %s", a->conf.volume_dir,
				e->d_name, strerror(errno));
	}
	closedir(d);
}
