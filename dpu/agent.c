/* SPDX-License-Identifier: MIT */
/*
 * The agent's records: VMs, hosts, tombstones; loading and saving them;
 * events. Requests are handled in api.c and south.c.
 */
#define NV_LOG_COMPONENT "nicvisor.dpu.agent"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "agent_priv.h"
#include "nv_log.h"
#include "nv_wire.h"
#include "pb_util.h"
#include "placement.h"
#include "store.h"
#include "vm_state.h"

#define STATE_VERSION 1

static uint64_t
real_clock_ms(void)
{
	return nv_mono_ns() / 1000000;
}

static void
real_random(void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = getrandom((char *)buf + done, len - done, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* No entropy source is a broken machine; ids would repeat. */
			nv_err("getrandom: %s", strerror(errno));
			abort();
		}
		done += (size_t)n;
	}
}

uint64_t
agent_now_ms(struct dpu_agent *a)
{
	return a->conf.clock_ms();
}

void
agent_random_hex(struct dpu_agent *a, char *out, size_t digits)
{
	static const char hexdig[] = "0123456789abcdef";
	uint8_t b[64];

	a->conf.random(b, (digits + 1) / 2);
	for (size_t i = 0; i < digits; i++)
		out[i] = hexdig[(b[i / 2] >> (i % 2 ? 0 : 4)) & 15];
	out[digits] = 0;
}

/* VMs */

struct dpu_vm *
vm_find_id(struct dpu_agent *a, const char *id)
{
	for (size_t i = 0; i < a->nvms; i++)
		if (strcmp(a->vms[i]->id, id) == 0)
			return a->vms[i];
	return NULL;
}

struct dpu_vm *
vm_find_name(struct dpu_agent *a, const char *name)
{
	for (size_t i = 0; i < a->nvms; i++)
		if (strcmp(a->vms[i]->spec->name, name) == 0)
			return a->vms[i];
	return NULL;
}

struct dpu_vm *
vm_find(struct dpu_agent *a, const char *ref)
{
	struct dpu_vm *vm = dpu_is_vm_id(ref) ? vm_find_id(a, ref) : NULL;

	return vm ? vm : vm_find_name(a, ref);
}

struct dpu_vm *
vm_add(struct dpu_agent *a, Nicvisor__V1__VmSpec *spec, const char *id)
{
	struct dpu_vm **vms, *vm;

	vms = realloc(a->vms, (a->nvms + 1) * sizeof(*vms));
	if (vms == NULL)
		return NULL;
	a->vms = vms;
	vm = calloc(1, sizeof(*vm));
	if (vm == NULL)
		return NULL;
	if (id != NULL) {
		snprintf(vm->id, sizeof(vm->id), "%s", id);
	} else {
		do {
			memcpy(vm->id, "vm-", 3);
			agent_random_hex(a, vm->id + 3, 16);
		} while (vm_find_id(a, vm->id) != NULL);
	}
	vm->spec = spec;
	vm->state = NICVISOR__V1__VM_STATE__VM_STATE_CREATED;
	vm->created_unix_ms = nv_now_unix_ms();
	dpu_console_ring_init(&vm->console, 0, 0);
	a->vms[a->nvms++] = vm;
	return vm;
}

void
vm_release_artifacts(struct dpu_vm *vm)
{
	dpu_artifact_put(vm->kernel);
	dpu_artifact_put(vm->initrd);
	vm->kernel = NULL;
	vm->initrd = NULL;
}

static void
vm_free(struct dpu_vm *vm)
{
	vm_release_artifacts(vm);
	dpu_console_ring_fini(&vm->console);
	dpu_pb_free(vm->spec);
	free(vm);
}

void
vm_remove(struct dpu_agent *a, struct dpu_vm *vm)
{
	vm_nics_detach(a, vm);
	vm_disks_detach(a, vm);
	for (size_t i = 0; i < a->nvms; i++) {
		if (a->vms[i] == vm) {
			a->vms[i] = a->vms[--a->nvms];
			break;
		}
	}
	vm_free(vm);
}

static void
publish(struct dpu_agent *a, const char *topic, Nicvisor__V1__Event *ev)
{
	size_t tlen = strlen(topic), len;
	uint8_t *buf;

	ev->seq = ++a->event_seq;
	ev->unix_ms = nv_now_unix_ms();
	a->stats.events++;
	if (a->conf.events.publish == NULL)
		return;
	len = tlen + 1 + nicvisor__v1__event__get_packed_size(ev);
	buf = malloc(len);
	if (buf == NULL)
		return;
	memcpy(buf, topic, tlen + 1);
	nicvisor__v1__event__pack(ev, buf + tlen + 1);
	a->conf.events.publish(a->conf.events.opaque, buf, len);
	free(buf);
}

static void
publish_vm_state(struct dpu_agent *a, const struct dpu_vm *vm, Nicvisor__V1__VmState state,
		 Nicvisor__V1__VmState prev)
{
	Nicvisor__V1__Event ev = NICVISOR__V1__EVENT__INIT;
	Nicvisor__V1__VmStateChanged ch = NICVISOR__V1__VM_STATE_CHANGED__INIT;
	char topic[NV_TOPIC_MAX];

	ch.vm = (char *)vm->id;
	ch.name = vm->spec->name;
	ch.state = state;
	ch.previous = prev;
	ch.reason = (char *)vm->reason;
	ch.host = (char *)vm->host;
	ch.exit = vm->last_exit;
	ev.kind_case = NICVISOR__V1__EVENT__KIND_VM_STATE;
	ev.vm_state = &ch;
	snprintf(topic, sizeof(topic), "vm/%s/state", vm->id);
	publish(a, topic, &ev);
}

void
vm_publish_state(struct dpu_agent *a, const struct dpu_vm *vm, Nicvisor__V1__VmState prev)
{
	publish_vm_state(a, vm, vm->state, prev);
}

void
vm_publish_deleted(struct dpu_agent *a, const struct dpu_vm *vm)
{
	publish_vm_state(a, vm, NICVISOR__V1__VM_STATE__VM_STATE_UNSPECIFIED, vm->state);
}

void
vm_publish_console(struct dpu_agent *a, const struct dpu_vm *vm, uint64_t off, const uint8_t *data,
		   size_t len)
{
	Nicvisor__V1__Event ev = NICVISOR__V1__EVENT__INIT;
	Nicvisor__V1__ConsoleOutput co = NICVISOR__V1__CONSOLE_OUTPUT__INIT;
	char topic[NV_TOPIC_MAX];

	co.vm = (char *)vm->id;
	co.offset = off;
	co.data.data = (uint8_t *)data;
	co.data.len = len;
	ev.kind_case = NICVISOR__V1__EVENT__KIND_CONSOLE;
	ev.console = &co;
	snprintf(topic, sizeof(topic), "vm/%s/console", vm->id);
	publish(a, topic, &ev);
}

void
vm_set_state(struct dpu_agent *a, struct dpu_vm *vm, Nicvisor__V1__VmState state, const char *fmt,
	     ...)
{
	Nicvisor__V1__VmState prev = vm->state;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(vm->reason, sizeof(vm->reason), fmt, ap);
	va_end(ap);
	vm->state = state;
	if (state == NICVISOR__V1__VM_STATE__VM_STATE_RUNNING &&
	    prev != NICVISOR__V1__VM_STATE__VM_STATE_RUNNING)
		vm->running_unix_ms = nv_now_unix_ms();
	if (!dpu_vm_state_active(state)) {
		/* A VM that does not run holds no disk open in the backend. */
		vm_disks_detach(a, vm);
		vm_release_artifacts(vm);
		vm->host_pid = 0;
		vm->stop_deadline_ms = 0;
	}
	if (prev != state)
		nv_info("vm %s (%s): %s -> %s: %s", vm->spec->name, vm->id, nv_vm_state_name(prev),
			nv_vm_state_name(state), vm->reason);
	vm_publish_state(a, vm, prev);
}

Nicvisor__V1__VmSpec *
spec_to_arena(const Nicvisor__V1__VmSpec *spec, struct nv_arena *ar)
{
	return dpu_pb_dup_arena(&spec->base, ar);
}

Nicvisor__V1__Vm *
vm_to_pb(const struct dpu_vm *vm, struct nv_arena *ar)
{
	Nicvisor__V1__Vm *pb = nv_arena_alloc(ar, sizeof(*pb));

	nicvisor__v1__vm__init(pb);
	pb->id = nv_arena_strdup(ar, vm->id);
	pb->spec = spec_to_arena(vm->spec, ar);
	pb->state = vm->state;
	pb->host = nv_arena_strdup(ar, vm->host);
	pb->reason = nv_arena_strdup(ar, vm->reason);
	pb->last_exit = vm->last_exit;
	pb->created_unix_ms = vm->created_unix_ms;
	pb->started_unix_ms = vm->started_unix_ms;
	pb->running_unix_ms = vm->running_unix_ms;
	pb->boots = vm->boots;
	pb->console_bytes = vm->console.end;
	pb->host_pid = vm->host_pid;
	pb->vmm_setup_ns = vm->vmm_setup_ns;
	return pb;
}

/* Hosts */

struct dpu_host *
host_find(struct dpu_agent *a, const char *id)
{
	for (size_t i = 0; i < a->nhosts; i++)
		if (strcmp(a->hosts[i]->id, id) == 0)
			return a->hosts[i];
	return NULL;
}

struct dpu_host *
host_add(struct dpu_agent *a, const char *id)
{
	struct dpu_host **hosts, *h;

	if (a->nhosts >= DPU_MAX_HOSTS)
		return NULL;
	hosts = realloc(a->hosts, (a->nhosts + 1) * sizeof(*hosts));
	if (hosts == NULL)
		return NULL;
	a->hosts = hosts;
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return NULL;
	snprintf(h->id, sizeof(h->id), "%s", id);
	dpu_cmdq_init(&h->cmdq, a->first_cmd_seq);
	a->hosts[a->nhosts++] = h;
	return h;
}

static void
host_free(struct dpu_host *h)
{
	if (h->held != NULL)
		h->held->abandon(h->held);
	dpu_cmdq_fini(&h->cmdq);
	dpu_pb_free(h->caps);
	free(h);
}

void
host_usage(struct dpu_agent *a, const struct dpu_host *h, uint32_t *vms, uint32_t *vcpus,
	   uint64_t *memory_mib)
{
	*vms = 0;
	*vcpus = 0;
	*memory_mib = 0;
	for (size_t i = 0; i < a->nvms; i++) {
		const struct dpu_vm *vm = a->vms[i];

		if (!dpu_vm_state_active(vm->state) || strcmp(vm->host, h->id) != 0)
			continue;
		(*vms)++;
		*vcpus += vm->spec->vcpus;
		*memory_mib += vm->spec->memory_mib;
	}
}

Nicvisor__V1__Host *
host_to_pb(struct dpu_agent *a, const struct dpu_host *h, struct nv_arena *ar)
{
	Nicvisor__V1__Host *pb = nv_arena_alloc(ar, sizeof(*pb));

	nicvisor__v1__host__init(pb);
	pb->id = nv_arena_strdup(ar, h->id);
	pb->caps = h->caps ? dpu_pb_dup_arena(&h->caps->base, ar) : NULL;
	pb->connected = h->connected;
	pb->last_seen_unix_ms = h->last_seen_unix_ms;
	host_usage(a, h, &pb->vms, &pb->vcpus_used, &pb->memory_used_mib);
	return pb;
}

void
host_publish(struct dpu_agent *a, const struct dpu_host *h)
{
	Nicvisor__V1__Event ev = NICVISOR__V1__EVENT__INIT;
	Nicvisor__V1__HostChanged hc = NICVISOR__V1__HOST_CHANGED__INIT;
	struct nv_arena ar = NV_ARENA_INIT;
	char topic[NV_TOPIC_MAX];

	hc.host = host_to_pb(a, h, &ar);
	ev.kind_case = NICVISOR__V1__EVENT__KIND_HOST;
	ev.host = &hc;
	snprintf(topic, sizeof(topic), "host/%s", h->id);
	publish(a, topic, &ev);
	nv_arena_free(&ar);
}

int
host_place(struct dpu_agent *a, const Nicvisor__V1__VmSpec *spec, const char *prefer,
	   struct dpu_host **out, struct dpu_status *st)
{
	struct dpu_place_host *ph;
	size_t chosen;
	int rc;

	ph = calloc(a->nhosts ? a->nhosts : 1, sizeof(*ph));
	if (ph == NULL)
		return dpu_fail(st, NICVISOR__V1__CODE__CODE_INTERNAL, "", "out of memory");
	for (size_t i = 0; i < a->nhosts; i++) {
		const struct dpu_host *h = a->hosts[i];
		uint32_t vms, vcpus;

		ph[i].id = h->id;
		ph[i].connected = h->connected && h->caps != NULL;
		ph[i].cores = h->caps ? h->caps->cores : 0;
		ph[i].kvm_max_vcpus = h->caps ? h->caps->kvm_max_vcpus : 0;
		ph[i].memory_capacity_mib = h->memory_capacity_mib;
		host_usage(a, h, &vms, &vcpus, &ph[i].memory_used_mib);
	}
	rc = dpu_place(ph, a->nhosts, spec->vcpus, spec->memory_mib, prefer, &chosen, st);
	free(ph);
	if (rc == 0)
		*out = a->hosts[chosen];
	return rc;
}

/* Tombstones */

struct dpu_tombstone *
tomb_find(struct dpu_agent *a, const char *vm_id)
{
	for (size_t i = 0; i < a->ntombs; i++)
		if (strcmp(a->tombs[i].vm_id, vm_id) == 0)
			return &a->tombs[i];
	return NULL;
}

int
tomb_add(struct dpu_agent *a, const char *vm_id, const char *host)
{
	struct dpu_tombstone *t;

	if (a->ntombs >= DPU_MAX_TOMBSTONES) {
		/* The oldest goes; its host had long enough to come back. */
		nv_warn("forgetting deleted vm %s: too many deleted VMs wait for their hosts",
			a->tombs[0].vm_id);
		memmove(&a->tombs[0], &a->tombs[1], (a->ntombs - 1) * sizeof(*t));
		a->ntombs--;
	}
	t = realloc(a->tombs, (a->ntombs + 1) * sizeof(*t));
	if (t == NULL)
		return -ENOMEM;
	a->tombs = t;
	t = &a->tombs[a->ntombs++];
	memset(t, 0, sizeof(*t));
	snprintf(t->vm_id, sizeof(t->vm_id), "%s", vm_id);
	snprintf(t->host, sizeof(t->host), "%s", host);
	t->deleted_unix_ms = nv_now_unix_ms();
	return 0;
}

void
tomb_remove(struct dpu_agent *a, struct dpu_tombstone *t)
{
	size_t i = (size_t)(t - a->tombs);

	memmove(&a->tombs[i], &a->tombs[i + 1], (a->ntombs - i - 1) * sizeof(*t));
	a->ntombs--;
}

/* Durable state */

int
agent_save(struct dpu_agent *a)
{
	Nicvisor__V1__AgentState st = NICVISOR__V1__AGENT_STATE__INIT;
	struct nv_arena ar = NV_ARENA_INIT;
	int rc;

	st.version = STATE_VERSION;
	st.n_vms = a->nvms;
	st.vms = nv_arena_alloc(&ar, (a->nvms + 1) * sizeof(*st.vms));
	for (size_t i = 0; i < a->nvms; i++)
		st.vms[i] = vm_to_pb(a->vms[i], &ar);
	st.n_deleted = a->ntombs;
	st.deleted = nv_arena_alloc(&ar, (a->ntombs + 1) * sizeof(*st.deleted));
	for (size_t i = 0; i < a->ntombs; i++) {
		Nicvisor__V1__DeletedVm *d = nv_arena_alloc(&ar, sizeof(*d));

		nicvisor__v1__deleted_vm__init(d);
		d->vm_id = a->tombs[i].vm_id;
		d->host = a->tombs[i].host;
		d->deleted_unix_ms = a->tombs[i].deleted_unix_ms;
		st.deleted[i] = d;
	}
	st.n_networks = a->nnets;
	st.networks = nv_arena_alloc(&ar, (a->nnets + 1) * sizeof(*st.networks));
	for (size_t i = 0; i < a->nnets; i++)
		st.networks[i] = net_to_pb(a->nets[i], &ar);
	st.n_volumes = a->nvols;
	st.volumes = nv_arena_alloc(&ar, (a->nvols + 1) * sizeof(*st.volumes));
	for (size_t i = 0; i < a->nvols; i++)
		st.volumes[i] = vol_to_state_pb(a->vols[i], &ar);
	rc = dpu_store_save(a->conf.store, &st);
	nv_arena_free(&ar);
	if (rc < 0)
		a->stats.store_errors++;
	return rc;
}

static int
load_vm(struct dpu_agent *a, const Nicvisor__V1__Vm *pb, size_t i)
{
	struct dpu_status st;
	Nicvisor__V1__VmSpec *spec;
	struct dpu_vm *vm;

	if (!dpu_is_vm_id(pb->id) || vm_find_id(a, pb->id) != NULL) {
		nv_err("saved VM #%zu has a bad or duplicate id '%.40s'", i, pb->id);
		return -EBADMSG;
	}
	if (dpu_validate_spec(pb->spec, "spec", false, &st) < 0 ||
	    vm_find_name(a, pb->spec->name) != NULL) {
		nv_err("saved VM %s has a bad spec: %s: %s", pb->id, st.field,
		       pb->spec ? st.message : "missing");
		return -EBADMSG;
	}
	for (size_t j = 0; j < pb->spec->n_nics; j++) {
		const Nicvisor__V1__NicSpec *nic = pb->spec->nics[j];
		uint8_t mac[6];

		if (net_find_name(a, nic->network) == NULL || dpu_mac_parse(nic->mac, mac) < 0 ||
		    mac_owner(a, nic->mac, NULL) != NULL) {
			nv_err("saved VM %s NIC %zu has an unknown network '%.63s' or a missing or "
			       "duplicate MAC '%.20s'",
			       pb->id, j, nic->network, nic->mac);
			return -EBADMSG;
		}
	}
	for (size_t j = 0; j < pb->spec->n_disks; j++) {
		const Nicvisor__V1__DiskSpec *d = pb->spec->disks[j];
		bool rw = false;

		/* The sharing rule held when it was saved; a hand-edited
		 * state that breaks it is refused rather than served. */
		if (vol_find_name(a, d->volume) == NULL ||
		    (vol_disk_users(a, d->volume, NULL, NULL, NULL, &rw) > 0 &&
		     (rw || !d->read_only))) {
			nv_err("saved VM %s disk %zu names an unknown volume '%.63s' or one "
			       "attached read-write elsewhere",
			       pb->id, j, d->volume);
			return -EBADMSG;
		}
	}
	if (!dpu_vm_state_valid(pb->state) ||
	    pb->state == NICVISOR__V1__VM_STATE__VM_STATE_UNSPECIFIED ||
	    !dpu_exit_kind_valid(pb->last_exit) || strlen(pb->host) > DPU_HOST_ID_MAX) {
		nv_err("saved VM %s has a bad state, exit or host", pb->id);
		return -EBADMSG;
	}
	spec = dpu_pb_dup(&pb->spec->base);
	if (spec == NULL)
		return -ENOMEM;
	vm = vm_add(a, spec, pb->id);
	if (vm == NULL) {
		dpu_pb_free(spec);
		return -ENOMEM;
	}
	vm->state = pb->state;
	vm->last_exit = pb->last_exit;
	snprintf(vm->host, sizeof(vm->host), "%s", pb->host);
	snprintf(vm->reason, sizeof(vm->reason), "%s", pb->reason);
	vm->created_unix_ms = pb->created_unix_ms;
	vm->started_unix_ms = pb->started_unix_ms;
	vm->running_unix_ms = pb->running_unix_ms;
	vm->boots = pb->boots;
	dpu_console_ring_init(&vm->console, 0, pb->console_bytes);
	if (dpu_vm_state_active(vm->state))
		snprintf(vm->reason, sizeof(vm->reason),
			 "agent restarted; waiting for host %s to reconnect", vm->host);
	return 0;
}

static int
load_network(struct dpu_agent *a, const Nicvisor__V1__Network *pb, size_t i)
{
	uint32_t vteps[DPU_MAX_VTEPS];
	struct dpu_status st;
	struct dpu_network *net;

	if (!dpu_is_network_id(pb->id) || net_find(a, pb->id) != NULL ||
	    dpu_validate_network_name(pb->name, "name", &st) < 0 ||
	    net_find_name(a, pb->name) != NULL || dpu_validate_vlan(pb->vlan, "vlan", &st) < 0 ||
	    dpu_validate_overlay(pb->vlan, pb->vni, pb->remote_vteps, pb->n_remote_vteps, vteps,
				 &st) < 0 ||
	    (pb->vni != 0 && net_find_vni(a, pb->vni) != NULL)) {
		nv_err("saved network #%zu ('%.63s', %.24s) has a bad or duplicate id, name, "
		       "VLAN or VNI",
		       i, pb->name, pb->id);
		return -EBADMSG;
	}
	net = net_add(a, pb->name, pb->vlan, pb->id);
	if (net == NULL)
		return -ENOMEM;
	net->created_unix_ms = pb->created_unix_ms;
	net->vni = pb->vni;
	net_set_vteps(net, vteps, pb->n_remote_vteps);
	return 0;
}

static int
load_volume(struct dpu_agent *a, const Nicvisor__V1__Volume *pb, size_t i)
{
	bool nbd = pb->nbd_url != NULL && pb->nbd_url[0] != 0;
	struct dpu_nbd_url url;
	struct dpu_status st;
	struct dpu_volume *vol;

	if (!dpu_is_volume_id(pb->id) || vol_find(a, pb->id) != NULL ||
	    dpu_validate_volume_name(pb->name, "name", &st) < 0 ||
	    vol_find_name(a, pb->name) != NULL ||
	    dpu_validate_volume_size(pb->size_bytes, "size_bytes", &st) < 0 ||
	    (nbd && dpu_nbd_url_parse(pb->nbd_url, &url, "nbd_url", &st) < 0)) {
		nv_err("saved volume #%zu ('%.63s', %.24s) has a bad or duplicate id, name, size "
		       "or NBD URL",
		       i, pb->name, pb->id);
		return -EBADMSG;
	}
	vol = vol_add(a, pb->name, pb->size_bytes, nbd ? pb->nbd_url : NULL, pb->id);
	if (vol == NULL)
		return -ENOMEM;
	vol->created_unix_ms = pb->created_unix_ms;
	return 0;
}

static int
load_state(struct dpu_agent *a)
{
	Nicvisor__V1__AgentState *st;
	int rc;

	rc = dpu_store_load(a->conf.store, &st);
	if (rc < 0)
		return rc;
	if (st == NULL)
		return 0;
	if (st->version != STATE_VERSION) {
		nv_err("saved state has version %u; this agent reads version %d", st->version,
		       STATE_VERSION);
		rc = -EBADMSG;
		goto out;
	}
	if (st->n_networks > DPU_MAX_NETWORKS) {
		nv_err("saved state has %zu networks; at most %d are supported", st->n_networks,
		       DPU_MAX_NETWORKS);
		rc = -EBADMSG;
		goto out;
	}
	for (size_t i = 0; i < st->n_networks && rc == 0; i++)
		rc = load_network(a, st->networks[i], i);
	if (st->n_volumes > DPU_MAX_VOLUMES) {
		nv_err("saved state has %zu volumes; at most %d are supported", st->n_volumes,
		       DPU_MAX_VOLUMES);
		rc = -EBADMSG;
		goto out;
	}
	for (size_t i = 0; i < st->n_volumes && rc == 0; i++)
		rc = load_volume(a, st->volumes[i], i);
	if (st->n_vms > DPU_MAX_VMS) {
		nv_err("saved state has %zu VMs; at most %d are supported", st->n_vms, DPU_MAX_VMS);
		rc = -EBADMSG;
		goto out;
	}
	for (size_t i = 0; i < st->n_vms && rc == 0; i++)
		rc = load_vm(a, st->vms[i], i);
	for (size_t i = 0; i < st->n_deleted && rc == 0; i++) {
		const Nicvisor__V1__DeletedVm *d = st->deleted[i];

		if (!dpu_is_vm_id(d->vm_id) || strlen(d->host) > DPU_HOST_ID_MAX) {
			nv_err("saved deleted VM #%zu is malformed", i);
			rc = -EBADMSG;
			break;
		}
		rc = tomb_add(a, d->vm_id, d->host);
		if (rc == 0)
			a->tombs[a->ntombs - 1].deleted_unix_ms = d->deleted_unix_ms;
	}
	if (rc == 0)
		nv_info("loaded %zu VMs, %zu deleted VMs, %zu networks and %zu volumes", a->nvms,
			a->ntombs, a->nnets, a->nvols);
out:
	dpu_store_free_state(st);
	return rc;
}

int
dpu_agent_open(const struct dpu_agent_conf *conf, struct dpu_agent **out)
{
	struct dpu_agent *a;
	int rc;

	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return -ENOMEM;
	a->conf = *conf;
	if (a->conf.heartbeat_ms == 0)
		a->conf.heartbeat_ms = 1000;
	if (a->conf.dead_after_ms == 0)
		a->conf.dead_after_ms = 3 * a->conf.heartbeat_ms + 1000;
	if (a->conf.clock_ms == NULL)
		a->conf.clock_ms = real_clock_ms;
	if (a->conf.random == NULL)
		a->conf.random = real_random;
	/* Above every seq of an earlier run (see cmdq.h). */
	a->first_cmd_seq = nv_now_unix_ms() * 1000;
	a->net = conf->net;
	a->blk = conf->blk;
	pthread_mutex_init(&a->lock, NULL);
	rc = dpu_artifacts_open(conf->artifact_dir, &a->artifacts);
	if (rc < 0)
		goto out_free;
	rc = load_state(a);
	if (rc < 0)
		goto out_free;
	vol_sweep_orphans(a);
	agent_net_restore(a);
	agent_disks_restore(a);
	*out = a;
	return 0;

out_free:
	dpu_agent_close(a);
	return rc;
}

void
dpu_agent_close(struct dpu_agent *a)
{
	if (a == NULL)
		return;
	for (size_t i = 0; i < a->nhosts; i++)
		host_free(a->hosts[i]);
	free(a->hosts);
	for (size_t i = 0; i < a->nvms; i++)
		vm_free(a->vms[i]);
	free(a->vms);
	free(a->tombs);
	for (size_t i = 0; i < a->nnets; i++)
		free(a->nets[i]);
	free(a->nets);
	for (size_t i = 0; i < a->nvols; i++)
		free(a->vols[i]);
	free(a->vols);
	dpu_artifacts_close(a->artifacts);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

void
dpu_agent_get_stats(struct dpu_agent *a, struct dpu_agent_stats *out)
{
	pthread_mutex_lock(&a->lock);
	*out = a->stats;
	out->vms = a->nvms;
	out->networks = a->nnets;
	out->nics = 0;
	out->volumes = a->nvols;
	out->disks = 0;
	for (size_t i = 0; i < a->nvms; i++) {
		out->nics += a->vms[i]->spec->n_nics;
		out->disks += a->vms[i]->spec->n_disks;
	}
	out->hosts_connected = 0;
	out->held_polls = 0;
	for (size_t i = 0; i < a->nhosts; i++) {
		out->hosts_connected += a->hosts[i]->connected;
		out->held_polls += a->hosts[i]->held != NULL;
	}
	pthread_mutex_unlock(&a->lock);
	out->artifacts = a->artifacts ? dpu_artifacts_count(a->artifacts) : 0;
}
