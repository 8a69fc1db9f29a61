/* SPDX-License-Identifier: MIT */
/*
 * The northbound API (api.proto): one Request in, one Response out. Each
 * request is decoded within nv_wire's bounds, validated field by field and
 * applied under the agent lock; boot files are copied into the artifact
 * store with the lock released.
 */
#define NV_LOG_COMPONENT "nicvisor.dpu.api"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent_priv.h"
#include "nv_log.h"
#include "nv_wire.h"
#include "page_token.h"
#include "pb_util.h"
#include "vm_state.h"

#define CODE(x)              NICVISOR__V1__CODE__CODE_##x
#define STATE(x)             NICVISOR__V1__VM_STATE__VM_STATE_##x

#define LIST_DEFAULT_PAGE    100
#define LIST_MAX_PAGE        1000
#define CONSOLE_DEFAULT_READ 65536
/* A List answer stays well under NV_WIRE_MAX_MSG. */
#define PAGE_MAX_BYTES (NV_WIRE_MAX_MSG / 2)

int
api_found(struct dpu_agent *a, const void *found, const char *what, const char *ref,
	  struct dpu_status *st)
{
	if (found != NULL)
		return 0;
	pthread_mutex_unlock(&a->lock);
	return dpu_fail(st, CODE(NOT_FOUND), what, "%s %s: not found", what, ref);
}

int
api_lock_vm(struct dpu_agent *a, const char *ref, struct dpu_vm **out, struct dpu_status *st)
{
	if (dpu_validate_vm_ref(ref, "vm", st) < 0)
		return -EINVAL;
	pthread_mutex_lock(&a->lock);
	*out = vm_find(a, ref);
	return api_found(a, *out, "vm", ref, st);
}

int
api_save_or_fail(struct dpu_agent *a, struct dpu_status *st)
{
	int rc = agent_save(a);

	if (rc < 0)
		return dpu_fail(st, CODE(INTERNAL), "",
				"the change is in effect but could not be saved (%s); it may "
				"not survive an agent restart",
				strerror(-rc));
	return 0;
}

int
api_lock_vm_for(struct dpu_agent *a, const char *ref, enum dpu_vm_op op, struct dpu_vm **out,
		struct dpu_status *st)
{
	int rc = api_lock_vm(a, ref, out, st);

	if (rc < 0)
		return rc;
	rc = dpu_vm_check_op(op, (*out)->state, false, (*out)->spec->name, st);
	if (rc < 0)
		pthread_mutex_unlock(&a->lock);
	return rc;
}

int
api_vm_index(const struct dpu_vm *vm, const char *what, uint32_t index, size_t n,
	     struct dpu_status *st)
{
	if (index < n)
		return 0;
	if (n == 0)
		return dpu_fail(st, CODE(NOT_FOUND), "index", "vm %s has no %ss", vm->spec->name,
				what);
	return dpu_fail(st, CODE(NOT_FOUND), "index", "vm %s has no %s %u; its %ss are 0..%zu",
			vm->spec->name, what, index, what, n - 1);
}

int
api_vm_set_spec(struct dpu_vm *vm, Nicvisor__V1__VmSpec *spec, struct dpu_status *st)
{
	if (spec == NULL)
		return dpu_fail(st, CODE(INTERNAL), "", "out of memory");
	dpu_pb_free(vm->spec);
	vm->spec = spec;
	return 0;
}

int
api_answer_vm(struct dpu_agent *a, const struct dpu_vm *vm, struct nv_arena *ar,
	      Nicvisor__V1__Response *rep, struct dpu_status *st)
{
	rep->result_case = NICVISOR__V1__RESPONSE__RESULT_VM;
	rep->vm = vm_to_pb(vm, ar);
	return api_save_or_fail(a, st);
}

int
vm_start_on(struct dpu_agent *a, struct dpu_vm *vm, struct dpu_host *h, struct dpu_artifact *kernel,
	    struct dpu_artifact *initrd, struct dpu_status *st)
{
	int rc;

	vm_release_artifacts(vm);
	vm->kernel = kernel;
	vm->initrd = initrd;
	/* Ports normally exist since the NICs do; one the dataplane refused
	 * at agent start is made now, or the start is refused. */
	if (vm_nics_attach(a, vm, st) < 0) {
		vm_release_artifacts(vm);
		return -EINVAL;
	}
	/* Disks exist in the block backend only while the VM is active. */
	if (vm_disks_attach(a, vm, st) < 0) {
		vm_release_artifacts(vm);
		return -EINVAL;
	}
	snprintf(vm->host, sizeof(vm->host), "%s", h->id);
	rc = host_send_launch(a, h, vm);
	if (rc < 0) {
		vm_disks_detach(a, vm);
		vm_release_artifacts(vm);
		return dpu_fail(st, CODE(RESOURCE_EXHAUSTED), "",
				"host %s has too many commands waiting; retry later", h->id);
	}
	vm->started_unix_ms = nv_now_unix_ms();
	vm->stop_deadline_ms = 0;
	vm_set_state(a, vm, STATE(STARTING), "placed on host %s; launching", h->id);
	return 0;
}

/* Copy the VM's boot files into the artifact store (agent lock not held). */
static int
ingest(struct dpu_agent *a, const char *kernel_path, const char *initrd_path,
       struct dpu_artifact **kernel, struct dpu_artifact **initrd, struct dpu_status *st)
{
	*kernel = NULL;
	*initrd = NULL;
	if (dpu_artifact_ingest(a->artifacts, kernel_path, DPU_KERNEL_MAX_SIZE, "spec.kernel",
				kernel, st) < 0)
		return -EINVAL;
	if (initrd_path[0] != 0 &&
	    dpu_artifact_ingest(a->artifacts, initrd_path, DPU_INITRD_MAX_SIZE, "spec.initrd",
				initrd, st) < 0) {
		dpu_artifact_put(*kernel);
		*kernel = NULL;
		return -EINVAL;
	}
	return 0;
}

static const char *
preferred_host(struct dpu_agent *a, const struct dpu_vm *vm)
{
	struct dpu_host *h = vm->host[0] ? host_find(a, vm->host) : NULL;

	return h != NULL && h->connected ? h->id : NULL;
}

/* The spec of a new VM as the agent keeps it: its NICs resolved
 * (nics_resolve) and its disks (disks_resolve). NULL and st set if a NIC
 * or a disk is refused. */
static Nicvisor__V1__VmSpec *
spec_for_create(struct dpu_agent *a, const Nicvisor__V1__VmSpec *req, struct nv_arena *ar,
		struct dpu_status *st)
{
	Nicvisor__V1__NicSpec nics[DPU_MAX_NICS], *ptrs[DPU_MAX_NICS];
	Nicvisor__V1__DiskSpec disks[DPU_MAX_DISKS], *dptrs[DPU_MAX_DISKS];
	Nicvisor__V1__VmSpec copy, *spec;

	if (nics_resolve(a, req->nics, req->n_nics, "spec.nics", true, nics, ar, st) < 0)
		return NULL;
	if (disks_resolve(a, NULL, NULL, 0, req->disks, req->n_disks, "spec.disks", true, disks, ar,
			  st) < 0)
		return NULL;
	for (size_t i = 0; i < req->n_nics; i++)
		ptrs[i] = &nics[i];
	for (size_t i = 0; i < req->n_disks; i++)
		dptrs[i] = &disks[i];
	/* A shallow copy with the resolved disks; spec_with_nics() deep-copies. */
	copy = *req;
	copy.disks = dptrs;
	copy.n_disks = req->n_disks;
	spec = spec_with_nics(&copy, ptrs, req->n_nics);
	if (spec == NULL)
		dpu_fail(st, CODE(INTERNAL), "", "out of memory");
	return spec;
}

static int
create_vm(struct dpu_agent *a, const Nicvisor__V1__CreateVmRequest *r, struct nv_arena *ar,
	  Nicvisor__V1__Response *rep, struct dpu_status *st)
{
	struct dpu_artifact *kernel = NULL, *initrd = NULL;
	Nicvisor__V1__VmSpec *spec;
	struct dpu_host *h = NULL;
	struct dpu_vm *vm, *other;
	int rc;

	if (dpu_validate_spec(r->spec, "spec", true, st) < 0)
		return -EINVAL;
	pthread_mutex_lock(&a->lock);
	if (a->nvms >= DPU_MAX_VMS)
		rc = dpu_fail(st, CODE(RESOURCE_EXHAUSTED), "",
			      "the agent manages %d VMs already, its limit; delete some first",
			      DPU_MAX_VMS);
	else if ((other = vm_find_name(a, r->spec->name)) != NULL)
		rc = dpu_fail(st, CODE(ALREADY_EXISTS), "spec.name", "a vm named %s exists (%s)",
			      r->spec->name, other->id);
	else if ((spec = spec_for_create(a, r->spec, ar, st)) == NULL)
		rc = -EINVAL;
	else {
		/* A check only: the spec is made again below. */
		dpu_pb_free(spec);
		rc = r->start ? host_place(a, r->spec, NULL, &h, st) : 0;
	}
	pthread_mutex_unlock(&a->lock);
	if (rc < 0)
		return rc;
	if (r->start && ingest(a, r->spec->kernel, r->spec->initrd, &kernel, &initrd, st) < 0)
		return -EINVAL;

	pthread_mutex_lock(&a->lock);
	/* Things may have changed while the files were copied. */
	if (a->nvms >= DPU_MAX_VMS) {
		rc = dpu_fail(st, CODE(RESOURCE_EXHAUSTED), "", "the agent manages %d VMs already",
			      DPU_MAX_VMS);
		goto out_unlock;
	}
	if ((other = vm_find_name(a, r->spec->name)) != NULL) {
		rc = dpu_fail(st, CODE(ALREADY_EXISTS), "spec.name", "a vm named %s exists (%s)",
			      r->spec->name, other->id);
		goto out_unlock;
	}
	if (r->start && (rc = host_place(a, r->spec, NULL, &h, st)) < 0)
		goto out_unlock;
	spec = spec_for_create(a, r->spec, ar, st);
	if (spec == NULL) {
		rc = -EINVAL;
		goto out_unlock;
	}
	vm = vm_add(a, spec, NULL);
	if (vm == NULL) {
		dpu_pb_free(spec);
		rc = dpu_fail(st, CODE(INTERNAL), "", "out of memory");
		goto out_unlock;
	}
	/* The NICs' ports exist from now on, so a frontend can connect. */
	if (vm_nics_attach(a, vm, st) < 0) {
		vm_remove(a, vm);
		rc = -EINVAL;
		goto out_unlock;
	}
	vm->state = STATE(UNSPECIFIED); /* so the event says it is new */
	vm_set_state(a, vm, STATE(CREATED), "created");
	if (r->start) {
		rc = vm_start_on(a, vm, h, kernel, initrd, st);
		kernel = initrd = NULL;
		if (rc < 0) {
			vm_publish_deleted(a, vm);
			vm_remove(a, vm);
			goto out_unlock;
		}
	}
	nv_info("created vm %s (%s)%s", vm->spec->name, vm->id, r->start ? " and started it" : "");
	rc = api_answer_vm(a, vm, ar, rep, st);
out_unlock:
	pthread_mutex_unlock(&a->lock);
	dpu_artifact_put(kernel);
	dpu_artifact_put(initrd);
	return rc;
}

static int
start_vm(struct dpu_agent *a, const Nicvisor__V1__StartVmRequest *r, struct nv_arena *ar,
	 Nicvisor__V1__Response *rep, struct dpu_status *st)
{
	struct dpu_artifact *kernel = NULL, *initrd = NULL;
	char id[DPU_VM_ID_LEN + 1], *kpath = NULL, *ipath = NULL;
	struct dpu_host *h;
	struct dpu_vm *vm;
	uint64_t gen;
	int rc;

	rc = api_lock_vm(a, r->vm, &vm, st);
	if (rc < 0)
		return rc;
	rc = dpu_vm_check_op(DPU_VM_OP_START, vm->state, false, vm->spec->name, st);
	if (rc == 0)
		rc = host_place(a, vm->spec, preferred_host(a, vm), &h, st);
	if (rc == 0) {
		snprintf(id, sizeof(id), "%s", vm->id);
		gen = ++vm->start_gen;
		kpath = strdup(vm->spec->kernel);
		ipath = strdup(vm->spec->initrd);
	}
	pthread_mutex_unlock(&a->lock);
	if (rc < 0)
		return rc;
	if (kpath == NULL || ipath == NULL)
		rc = dpu_fail(st, CODE(INTERNAL), "", "out of memory");
	else
		rc = ingest(a, kpath, ipath, &kernel, &initrd, st);
	free(kpath);
	free(ipath);
	if (rc < 0)
		return rc;

	pthread_mutex_lock(&a->lock);
	vm = vm_find_id(a, id);
	if (vm == NULL)
		rc = dpu_fail(st, CODE(NOT_FOUND), "vm", "vm %s was deleted while it was starting",
			      r->vm);
	else if (vm->start_gen != gen)
		rc = dpu_fail(st, CODE(FAILED_PRECONDITION), "vm",
			      "vm %s is being started by another request", r->vm);
	else if ((rc = dpu_vm_check_op(DPU_VM_OP_START, vm->state, false, vm->spec->name, st)) ==
			 0 &&
		 (rc = host_place(a, vm->spec, preferred_host(a, vm), &h, st)) == 0) {
		rc = vm_start_on(a, vm, h, kernel, initrd, st);
		kernel = initrd = NULL;
		if (rc == 0)
			rc = api_answer_vm(a, vm, ar, rep, st);
	}
	pthread_mutex_unlock(&a->lock);
	dpu_artifact_put(kernel);
	dpu_artifact_put(initrd);
	return rc;
}

/* Take back a LaunchVm the host has not seen yet; true if there was one. */
static bool
recall_launch(struct dpu_host *h, const char *vm_id)
{
	struct dpu_cmd *c;

	if (h == NULL)
		return false;
	c = dpu_cmdq_find(&h->cmdq, vm_id, NICVISOR__V1__COMMAND__OP_LAUNCH);
	if (c == NULL || c->sent)
		return false;
	dpu_cmdq_remove(&h->cmdq, c);
	return true;
}

static int
stop_vm(struct dpu_agent *a, const Nicvisor__V1__StopVmRequest *r, struct nv_arena *ar,
	Nicvisor__V1__Response *rep, struct dpu_status *st)
{
	uint32_t timeout = r->force ? 0 : (r->timeout_ms ? r->timeout_ms : DPU_STOP_DEFAULT_MS);
	struct dpu_host *h;
	struct dpu_vm *vm;
	int rc = 0;

	rc = api_lock_vm(a, r->vm, &vm, st);
	if (rc < 0)
		return rc;
	if (dpu_vm_check_op(DPU_VM_OP_STOP, vm->state, r->force, vm->spec->name, st) < 0) {
		rc = -EINVAL;
		goto out_unlock;
	}
	rep->result_case = NICVISOR__V1__RESPONSE__RESULT_VM;
	if (vm->state == STATE(STOPPING) && !r->force) {
		/* Already under way; asking again changes nothing. */
		rep->vm = vm_to_pb(vm, ar);
		goto out_unlock;
	}
	h = host_find(a, vm->host);
	if (vm->state == STATE(STARTING) && recall_launch(h, vm->id)) {
		vm->last_exit = NICVISOR__V1__EXIT_KIND__EXIT_KIND_STOPPED;
		vm_set_state(a, vm, STATE(STOPPED), "stopped before host %s launched it", vm->host);
	} else {
		vm->stop_timeout_ms = timeout;
		vm->stop_force = r->force;
		vm->stop_deadline_ms = r->force ? 0 : agent_now_ms(a) + timeout + DPU_STOP_GRACE_MS;
		if (h != NULL && h->connected) {
			if (host_send_stop(a, h, vm->id, timeout, r->force, false, NULL) < 0) {
				rc = dpu_fail(st, CODE(RESOURCE_EXHAUSTED), "",
					      "host %s has too many commands waiting; retry later",
					      h->id);
				goto out_unlock;
			}
			if (r->force)
				vm_set_state(a, vm, STATE(STOPPING), "forced stop requested");
			else
				vm_set_state(a, vm, STATE(STOPPING),
					     "stop requested: graceful for %u ms, then forced",
					     timeout);
		} else {
			/* The Hello of the host sends the stop (south.c). */
			vm_set_state(a, vm, STATE(STOPPING),
				     "stop requested; host %s is unreachable, the VM stops when "
				     "it reconnects",
				     vm->host);
		}
	}
	rep->vm = vm_to_pb(vm, ar);
	rc = api_save_or_fail(a, st);
out_unlock:
	pthread_mutex_unlock(&a->lock);
	return rc;
}

static int
delete_vm(struct dpu_agent *a, const Nicvisor__V1__DeleteVmRequest *r, struct nv_arena *ar,
	  Nicvisor__V1__Response *rep, struct dpu_status *st)
{
	struct dpu_host *h;
	struct dpu_vm *vm;
	int rc = 0;

	rc = api_lock_vm(a, r->vm, &vm, st);
	if (rc < 0)
		return rc;
	if (dpu_vm_check_op(DPU_VM_OP_DELETE, vm->state, r->force, vm->spec->name, st) < 0) {
		rc = -EINVAL;
		goto out_unlock;
	}
	rep->result_case = NICVISOR__V1__RESPONSE__RESULT_VM;
	rep->vm = vm_to_pb(vm, ar);
	h = host_find(a, vm->host);
	if (dpu_vm_state_active(vm->state) &&
	    !(vm->state == STATE(STARTING) && recall_launch(h, vm->id))) {
		uint64_t seq = 0;

		if (h != NULL && h->connected &&
		    host_send_stop(a, h, vm->id, 0, true, true, &seq) < 0) {
			rc = dpu_fail(st, CODE(RESOURCE_EXHAUSTED), "",
				      "host %s has too many commands waiting; retry later", h->id);
			goto out_unlock;
		}
		if (tomb_add(a, vm->id, vm->host) == 0)
			a->tombs[a->ntombs - 1].stop_seq = seq;
	}
	nv_info("deleted vm %s (%s)", vm->spec->name, vm->id);
	snprintf(vm->reason, sizeof(vm->reason), "deleted");
	vm_publish_deleted(a, vm);
	vm_remove(a, vm);
	rc = api_save_or_fail(a, st);
out_unlock:
	pthread_mutex_unlock(&a->lock);
	return rc;
}

static int
get_vm(struct dpu_agent *a, const Nicvisor__V1__GetVmRequest *r, struct nv_arena *ar,
       Nicvisor__V1__Response *rep, struct dpu_status *st)
{
	struct dpu_vm *vm;
	int rc;

	rc = api_lock_vm(a, r->vm, &vm, st);
	if (rc < 0)
		return rc;
	rep->result_case = NICVISOR__V1__RESPONSE__RESULT_VM;
	rep->vm = vm_to_pb(vm, ar);
	pthread_mutex_unlock(&a->lock);
	return 0;
}

int
api_page_args(const char *kind, uint32_t page_size, const char *token, uint32_t *size, char *after,
	      size_t after_size, struct dpu_status *st)
{
	*size = page_size ? page_size : LIST_DEFAULT_PAGE;
	if (*size > LIST_MAX_PAGE)
		return dpu_fail(st, CODE(INVALID_ARGUMENT), "page_size",
				"page_size %u is too big; at most %d", page_size, LIST_MAX_PAGE);
	after[0] = 0;
	if (token != NULL && token[0] != 0 &&
	    dpu_page_token_decode(kind, token, after, after_size) < 0)
		return dpu_fail(st, CODE(INVALID_ARGUMENT), "page_token",
				"page token is not one this agent gave out for this list; pass "
				"next_page_token of the previous page, or none for the first");
	return 0;
}

/* qsort_r() of item pointers by the key of their kind (arg). */
static int
cmp_key(const void *x, const void *y, void *arg)
{
	const struct api_list_kind *k = arg;

	return strcmp(k->key(*(void *const *)x), k->key(*(void *const *)y));
}

size_t
api_list_page(struct dpu_agent *a, const struct api_list_kind *k, void *const *all, size_t n,
	      const char *after, uint32_t size, struct nv_arena *ar, ProtobufCMessage ***msgs,
	      char **token)
{
	void **items = nv_arena_alloc(ar, (n + 1) * sizeof(*items));
	ProtobufCMessage **out;
	size_t first = 0, count;
	bool more;

	if (n > 0)
		memcpy(items, all, n * sizeof(*items));
	if (k->cmp != NULL)
		qsort(items, n, sizeof(*items), k->cmp);
	else
		qsort_r(items, n, sizeof(*items), cmp_key, (void *)k);
	if (after[0] != 0)
		while (first < n && strcmp(k->key(items[first]), after) <= 0)
			first++;
	count = n - first < size ? n - first : size;
	more = first + count < n;
	out = nv_arena_alloc(ar, (count + 1) * sizeof(*out));
	for (size_t i = 0, bytes = 0; i < count; i++) {
		out[i] = k->to_pb(a, items[first + i], ar);
		bytes += protobuf_c_message_get_packed_size(out[i]) + 8;
		if (bytes > PAGE_MAX_BYTES && i + 1 < count) {
			/* Big records: a shorter page, so the answer fits. */
			count = i + 1;
			more = true;
		}
	}
	*token = NULL;
	if (more) {
		*token = nv_arena_alloc(ar, DPU_PAGE_TOKEN_MAX);
		dpu_page_token_encode(k->name, k->key(items[first + count - 1]), *token,
				      DPU_PAGE_TOKEN_MAX);
	}
	*msgs = out;
	return count;
}

/* Where the field at offset of message m is. */
static void *
field_at(const void *m, unsigned int offset)
{
	return (char *)m + offset;
}

int
api_list(struct dpu_agent *a, const struct api_list_kind *k, void *const *const *all,
	 const size_t *n, uint32_t page_size, const char *page_token,
	 Nicvisor__V1__Response__ResultCase result, struct nv_arena *ar,
	 Nicvisor__V1__Response *rep, struct dpu_status *st)
{
	const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(
		&nicvisor__v1__response__descriptor, result);
	const ProtobufCMessageDescriptor *d = f->descriptor;
	const ProtobufCFieldDescriptor *items = protobuf_c_message_descriptor_get_field(d, 1);
	const ProtobufCFieldDescriptor *next = protobuf_c_message_descriptor_get_field(d, 2);
	char after[DPU_PAGE_KEY_MAX + 1];
	ProtobufCMessage *lr, **msgs;
	uint32_t size;
	char *token;

	if (api_page_args(k->name, page_size, page_token, &size, after, sizeof(after), st) < 0)
		return -EINVAL;
	lr = nv_arena_alloc(ar, d->sizeof_message);
	protobuf_c_message_init(d, lr);
	pthread_mutex_lock(&a->lock);
	*(size_t *)field_at(lr, items->quantifier_offset) =
		api_list_page(a, k, *all, *n, after, size, ar, &msgs, &token);
	pthread_mutex_unlock(&a->lock);
	*(ProtobufCMessage ***)field_at(lr, items->offset) = msgs;
	if (token != NULL)
		*(char **)field_at(lr, next->offset) = token;
	rep->result_case = result;
	*(ProtobufCMessage **)field_at(rep, f->offset) = lr;
	return 0;
}

static const char *
vm_key(const void *p)
{
	return ((const struct dpu_vm *)p)->spec->name;
}

static ProtobufCMessage *
vm_pb(struct dpu_agent *a, const void *item, struct nv_arena *ar)
{
	(void)a;
	return &vm_to_pb(item, ar)->base;
}

static const char *
host_key(const void *p)
{
	return ((const struct dpu_host *)p)->id;
}

static ProtobufCMessage *
host_pb(struct dpu_agent *a, const void *item, struct nv_arena *ar)
{
	return &host_to_pb(a, item, ar)->base;
}

static int
list_vms(struct dpu_agent *a, const Nicvisor__V1__ListVmsRequest *r, struct nv_arena *ar,
	 Nicvisor__V1__Response *rep, struct dpu_status *st)
{
	static const struct api_list_kind kind = { "vms", NULL, vm_key, vm_pb };

	return api_list(a, &kind, (void *const *const *)&a->vms, &a->nvms, r->page_size,
			r->page_token, NICVISOR__V1__RESPONSE__RESULT_VMS, ar, rep, st);
}

static int
list_hosts(struct dpu_agent *a, const Nicvisor__V1__ListHostsRequest *r, struct nv_arena *ar,
	   Nicvisor__V1__Response *rep, struct dpu_status *st)
{
	static const struct api_list_kind kind = { "hosts", NULL, host_key, host_pb };

	return api_list(a, &kind, (void *const *const *)&a->hosts, &a->nhosts, r->page_size,
			r->page_token, NICVISOR__V1__RESPONSE__RESULT_HOSTS, ar, rep, st);
}

static int
get_console(struct dpu_agent *a, const Nicvisor__V1__GetConsoleRequest *r, struct nv_arena *ar,
	    Nicvisor__V1__Response *rep, struct dpu_status *st)
{
	uint32_t max = r->max_bytes ? r->max_bytes : CONSOLE_DEFAULT_READ;
	Nicvisor__V1__ConsoleChunk *ch;
	struct dpu_vm *vm;
	int rc = 0;

	if (max > NV_WIRE_MAX_CHUNK)
		return dpu_fail(st, CODE(INVALID_ARGUMENT), "max_bytes",
				"max_bytes %u is too big; at most %u", r->max_bytes,
				NV_WIRE_MAX_CHUNK);
	rc = api_lock_vm(a, r->vm, &vm, st);
	if (rc < 0)
		return rc;
	if (r->offset > vm->console.end) {
		rc = dpu_fail(st, CODE(INVALID_ARGUMENT), "offset",
			      "offset %llu is past the end of the console of vm %s (%llu bytes "
			      "so far)",
			      (unsigned long long)r->offset, vm->spec->name,
			      (unsigned long long)vm->console.end);
	} else {
		ch = nv_arena_alloc(ar, sizeof(*ch));
		nicvisor__v1__console_chunk__init(ch);
		ch->vm = nv_arena_strdup(ar, vm->id);
		ch->data.data = nv_arena_alloc(ar, max);
		ch->data.len = dpu_console_ring_read(&vm->console, r->offset, ch->data.data, max,
						     &ch->offset);
		ch->end_offset = vm->console.end;
		rep->result_case = NICVISOR__V1__RESPONSE__RESULT_CONSOLE;
		rep->console = ch;
	}
	pthread_mutex_unlock(&a->lock);
	return rc;
}

/* 50 us .. 5 s: an API call takes tens of microseconds (a Get) to tens of
 * milliseconds (a change: two fsyncs); copying boot images takes longer. */
const uint64_t dpu_api_bucket_ns[DPU_API_BUCKETS] = {
	50000,    100000,   250000,   500000,    1000000,   2500000,    5000000,
	10000000, 25000000, 50000000, 100000000, 250000000, 1000000000, 5000000000,
};

static void
count_op(struct dpu_api_op_stats *o, uint64_t ns, bool error)
{
	o->count++;
	o->errors += error;
	o->sum_ns += ns;
	for (unsigned int i = 0; i < DPU_API_BUCKETS; i++)
		if (ns <= dpu_api_bucket_ns[i]) {
			o->bucket[i]++;
			break;
		}
}

static int
dispatch(struct dpu_agent *a, const Nicvisor__V1__Request *rq, struct nv_arena *ar,
	 Nicvisor__V1__Response *rep, struct dpu_status *st)
{
	/* A present-but-empty sub-message decodes as NULL in no case, but
	 * guard anyway: the oneof case and the pointer come from the wire. */
#define NEED(p, name)                                                                              \
	do {                                                                                       \
		if ((p) == NULL)                                                                   \
			return dpu_fail(st, CODE(INVALID_ARGUMENT), name, "%s is missing", name);  \
	} while (0)

	switch (rq->op_case) {
	case NICVISOR__V1__REQUEST__OP_CREATE_VM:
		NEED(rq->create_vm, "create_vm");
		return create_vm(a, rq->create_vm, ar, rep, st);
	case NICVISOR__V1__REQUEST__OP_START_VM:
		NEED(rq->start_vm, "start_vm");
		return start_vm(a, rq->start_vm, ar, rep, st);
	case NICVISOR__V1__REQUEST__OP_STOP_VM:
		NEED(rq->stop_vm, "stop_vm");
		return stop_vm(a, rq->stop_vm, ar, rep, st);
	case NICVISOR__V1__REQUEST__OP_DELETE_VM:
		NEED(rq->delete_vm, "delete_vm");
		return delete_vm(a, rq->delete_vm, ar, rep, st);
	case NICVISOR__V1__REQUEST__OP_GET_VM:
		NEED(rq->get_vm, "get_vm");
		return get_vm(a, rq->get_vm, ar, rep, st);
	case NICVISOR__V1__REQUEST__OP_LIST_VMS:
		NEED(rq->list_vms, "list_vms");
		return list_vms(a, rq->list_vms, ar, rep, st);
	case NICVISOR__V1__REQUEST__OP_LIST_HOSTS:
		NEED(rq->list_hosts, "list_hosts");
		return list_hosts(a, rq->list_hosts, ar, rep, st);
	case NICVISOR__V1__REQUEST__OP_GET_CONSOLE:
		NEED(rq->get_console, "get_console");
		return get_console(a, rq->get_console, ar, rep, st);
	case NICVISOR__V1__REQUEST__OP_CREATE_NETWORK:
		NEED(rq->create_network, "create_network");
		return api_create_network(a, rq->create_network, ar, rep, st);
	case NICVISOR__V1__REQUEST__OP_DELETE_NETWORK:
		NEED(rq->delete_network, "delete_network");
		return api_delete_network(a, rq->delete_network, ar, rep, st);
	case NICVISOR__V1__REQUEST__OP_GET_NETWORK:
		NEED(rq->get_network, "get_network");
		return api_get_network(a, rq->get_network, ar, rep, st);
	case NICVISOR__V1__REQUEST__OP_UPDATE_NETWORK:
		NEED(rq->update_network, "update_network");
		return api_update_network(a, rq->update_network, ar, rep, st);
	case NICVISOR__V1__REQUEST__OP_LIST_NETWORKS:
		NEED(rq->list_networks, "list_networks");
		return api_list_networks(a, rq->list_networks, ar, rep, st);
	case NICVISOR__V1__REQUEST__OP_ADD_NIC:
		NEED(rq->add_nic, "add_nic");
		return api_add_nic(a, rq->add_nic, ar, rep, st);
	case NICVISOR__V1__REQUEST__OP_REMOVE_NIC:
		NEED(rq->remove_nic, "remove_nic");
		return api_remove_nic(a, rq->remove_nic, ar, rep, st);
	case NICVISOR__V1__REQUEST__OP_GET_PORT_STATS:
		NEED(rq->get_port_stats, "get_port_stats");
		return api_get_port_stats(a, rq->get_port_stats, ar, rep, st);
	case NICVISOR__V1__REQUEST__OP_GET_WORKER_STATS:
		NEED(rq->get_worker_stats, "get_worker_stats");
		return api_get_worker_stats(a, rq->get_worker_stats, ar, rep, st);
	case NICVISOR__V1__REQUEST__OP_CREATE_VOLUME:
		NEED(rq->create_volume, "create_volume");
		return api_create_volume(a, rq->create_volume, ar, rep, st);
	case NICVISOR__V1__REQUEST__OP_DELETE_VOLUME:
		NEED(rq->delete_volume, "delete_volume");
		return api_delete_volume(a, rq->delete_volume, ar, rep, st);
	case NICVISOR__V1__REQUEST__OP_GET_VOLUME:
		NEED(rq->get_volume, "get_volume");
		return api_get_volume(a, rq->get_volume, ar, rep, st);
	case NICVISOR__V1__REQUEST__OP_LIST_VOLUMES:
		NEED(rq->list_volumes, "list_volumes");
		return api_list_volumes(a, rq->list_volumes, ar, rep, st);
	case NICVISOR__V1__REQUEST__OP_ATTACH_DISK:
		NEED(rq->attach_disk, "attach_disk");
		return api_attach_disk(a, rq->attach_disk, ar, rep, st);
	case NICVISOR__V1__REQUEST__OP_DETACH_DISK:
		NEED(rq->detach_disk, "detach_disk");
		return api_detach_disk(a, rq->detach_disk, ar, rep, st);
	case NICVISOR__V1__REQUEST__OP_GET_DISK_STATS:
		NEED(rq->get_disk_stats, "get_disk_stats");
		return api_get_disk_stats(a, rq->get_disk_stats, ar, rep, st);
	case NICVISOR__V1__REQUEST__OP_SET_NIC_QOS:
		NEED(rq->set_nic_qos, "set_nic_qos");
		return api_set_nic_qos(a, rq->set_nic_qos, ar, rep, st);
	case NICVISOR__V1__REQUEST__OP_SET_NIC_SECURITY:
		NEED(rq->set_nic_security, "set_nic_security");
		return api_set_nic_security(a, rq->set_nic_security, ar, rep, st);
	case NICVISOR__V1__REQUEST__OP_GET_NIC_SECURITY:
		NEED(rq->get_nic_security, "get_nic_security");
		return api_get_nic_security(a, rq->get_nic_security, ar, rep, st);
	case NICVISOR__V1__REQUEST__OP_CREATE_MIRROR:
		NEED(rq->create_mirror, "create_mirror");
		return api_create_mirror(a, rq->create_mirror, ar, rep, st);
	case NICVISOR__V1__REQUEST__OP_DELETE_MIRROR:
		NEED(rq->delete_mirror, "delete_mirror");
		return api_delete_mirror(a, rq->delete_mirror, ar, rep, st);
	case NICVISOR__V1__REQUEST__OP_GET_MIRROR:
		NEED(rq->get_mirror, "get_mirror");
		return api_get_mirror(a, rq->get_mirror, ar, rep, st);
	case NICVISOR__V1__REQUEST__OP_LIST_MIRRORS:
		NEED(rq->list_mirrors, "list_mirrors");
		return api_list_mirrors(a, rq->list_mirrors, ar, rep, st);
	default:
		return dpu_fail(st, CODE(UNIMPLEMENTED), "op",
				"the request names no operation this agent knows (protocol "
				"version %u)",
				NV_PROTOCOL_VERSION);
	}
#undef NEED
}

/* Why nv_wire refused a message, for a person. */
int
dpu_decode_error(int rc, size_t len, const char *what, struct dpu_status *st)
{
	if (rc == -EMSGSIZE)
		return dpu_fail(st, CODE(MALFORMED), "",
				"%s of %zu bytes is larger than the limit of %u bytes", what, len,
				NV_WIRE_MAX_MSG);
	if (rc == -ENOMEM)
		return dpu_fail(st, CODE(MALFORMED), "",
				"%s of %zu bytes needs more memory to decode than a message of "
				"its size may",
				what, len);
	return dpu_fail(st, CODE(MALFORMED), "",
			"%zu bytes do not decode as a nicvisor.v1 %s (truncated or not protobuf)",
			len, what);
}

/* What a read-only caller may do: read, never change. New operations are
 * refused to it until listed here. */
static bool
op_reads(Nicvisor__V1__Request__OpCase op)
{
	switch (op) {
	case NICVISOR__V1__REQUEST__OP_GET_VM:
	case NICVISOR__V1__REQUEST__OP_LIST_VMS:
	case NICVISOR__V1__REQUEST__OP_LIST_HOSTS:
	case NICVISOR__V1__REQUEST__OP_GET_CONSOLE:
	case NICVISOR__V1__REQUEST__OP_GET_NETWORK:
	case NICVISOR__V1__REQUEST__OP_LIST_NETWORKS:
	case NICVISOR__V1__REQUEST__OP_GET_PORT_STATS:
	case NICVISOR__V1__REQUEST__OP_GET_VOLUME:
	case NICVISOR__V1__REQUEST__OP_LIST_VOLUMES:
	case NICVISOR__V1__REQUEST__OP_GET_DISK_STATS:
	case NICVISOR__V1__REQUEST__OP_GET_WORKER_STATS:
	case NICVISOR__V1__REQUEST__OP_GET_MIRROR:
	case NICVISOR__V1__REQUEST__OP_LIST_MIRRORS:
		return true;
	default:
		return false;
	}
}

static void api_serve(struct dpu_agent *a, const uint8_t *req, size_t len, struct nv_arena *ar,
		      Nicvisor__V1__Response *rep, bool read_only);

void
dpu_agent_api(struct dpu_agent *a, const uint8_t *req, size_t len, struct nv_arena *ar,
	      Nicvisor__V1__Response *rep)
{
	api_serve(a, req, len, ar, rep, false);
}

void
dpu_agent_api_read_only(struct dpu_agent *a, const uint8_t *req, size_t len, struct nv_arena *ar,
			Nicvisor__V1__Response *rep)
{
	api_serve(a, req, len, ar, rep, true);
}

static void
api_serve(struct dpu_agent *a, const uint8_t *req, size_t len, struct nv_arena *ar,
	  Nicvisor__V1__Response *rep, bool read_only)
{
	Nicvisor__V1__Request *rq = NULL;
	struct dpu_status st;
	struct timespec t0, t1;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	dpu_status_clear(&st);
	nicvisor__v1__response__init(rep);
	rep->version = NV_PROTOCOL_VERSION;
	rc = nv_wire_unpack(&nicvisor__v1__request__descriptor, req, len, (ProtobufCMessage **)&rq);
	if (rc < 0)
		dpu_decode_error(rc, len, "Request", &st);
	else if (rq->version != NV_PROTOCOL_VERSION)
		dpu_fail(&st, CODE(VERSION_MISMATCH), "version",
			 "request has protocol version %u; this agent speaks version %u",
			 rq->version, NV_PROTOCOL_VERSION);
	else if (read_only && !op_reads(rq->op_case))
		dpu_fail(&st, CODE(PERMISSION_DENIED), "",
			 "this endpoint is read-only: it serves Get and List requests; changes "
			 "go to the agent's --api endpoint with an admin certificate");
	else
		dispatch(a, rq, ar, rep, &st);
	if (st.code != CODE(OK)) {
		/* A failed request returns no result. */
		rep->result_case = NICVISOR__V1__RESPONSE__RESULT__NOT_SET;
		rep->vm = NULL;
	}
	rep->status = dpu_status_to_pb(&st, ar);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	pthread_mutex_lock(&a->lock);
	a->stats.api_requests++;
	a->stats.api_errors += st.code != CODE(OK);
	count_op(&a->api_ops[rq != NULL && (unsigned int)rq->op_case < DPU_API_OPS ? rq->op_case
										   : 0],
		 (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000000ll + (t1.tv_nsec - t0.tv_nsec)),
		 st.code != CODE(OK));
	pthread_mutex_unlock(&a->lock);
	nv_wire_free((ProtobufCMessage *)rq);
}

void
dpu_agent_query(struct dpu_agent *a, const Nicvisor__V1__Request *rq, struct nv_arena *ar,
		Nicvisor__V1__Response *rep)
{
	struct dpu_status st;

	dpu_status_clear(&st);
	nicvisor__v1__response__init(rep);
	rep->version = NV_PROTOCOL_VERSION;
	dispatch(a, rq, ar, rep, &st);
	if (st.code != CODE(OK)) {
		rep->result_case = NICVISOR__V1__RESPONSE__RESULT__NOT_SET;
		rep->vm = NULL;
	}
	rep->status = dpu_status_to_pb(&st, ar);
}

void
dpu_agent_api_stats(struct dpu_agent *a, struct dpu_api_op_stats *out)
{
	pthread_mutex_lock(&a->lock);
	memcpy(out, a->api_ops, sizeof(a->api_ops));
	pthread_mutex_unlock(&a->lock);
}
