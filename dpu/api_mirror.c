/* SPDX-License-Identifier: MIT */
/*
 * The northbound API of NIC rate limits and mirroring (api.proto):
 * SetNicQos, SetNicSecurity, GetNicSecurity, CreateMirror, DeleteMirror,
 * GetMirror, ListMirrors. Like
 * every request: validated field by field, applied under the agent lock,
 * the dataplane programmed before the answer and the change saved.
 */
#define NV_LOG_COMPONENT "nicvisor.dpu.api"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_priv.h"
#include "nv_log.h"
#include "page_token.h"
#include "pb_util.h"

#define CODE(x) NICVISOR__V1__CODE__CODE_##x

/* NIC index of vm named by field: CODE_NOT_FOUND if it has none. */
static int
check_nic_index(const struct dpu_vm *vm, uint32_t index, const char *field, struct dpu_status *st)
{
	size_t n = vm->spec->n_nics;

	if (index < n)
		return 0;
	if (n == 0)
		return dpu_fail(st, CODE(NOT_FOUND), field, "vm %s has no NICs", vm->spec->name);
	return dpu_fail(st, CODE(NOT_FOUND), field, "vm %s has no NIC %u; its NICs are 0..%zu",
			vm->spec->name, index, n - 1);
}

/* Replace NIC i of vm's spec by nic (a shallow copy is fine: the new spec
 * is a deep copy). */
static int
vm_set_nic(struct dpu_vm *vm, size_t i, Nicvisor__V1__NicSpec *nic, struct dpu_status *st)
{
	Nicvisor__V1__NicSpec *nics[DPU_MAX_NICS];
	Nicvisor__V1__VmSpec *spec;

	for (size_t k = 0; k < vm->spec->n_nics; k++)
		nics[k] = vm->spec->nics[k];
	nics[i] = nic;
	spec = spec_with_nics(vm->spec, nics, vm->spec->n_nics);
	if (spec == NULL)
		return dpu_fail(st, CODE(INTERNAL), "", "out of memory");
	dpu_pb_free(vm->spec);
	vm->spec = spec;
	return 0;
}

/* Puts a NIC's changed spec in force: the dataplane takes it now (apply)
 * if the NIC has a port (one without takes it when made), then the VM
 * keeps it, answers with the VM and the state is saved. `what` names the
 * change in the error. Under the VM lock. */
typedef int (*nic_apply_fn)(struct dpu_agent *a, const char *port, const Nicvisor__V1__NicSpec *nic,
			    char *err, size_t errlen);

static int
change_nic(struct dpu_agent *a, struct dpu_vm *vm, uint32_t index, Nicvisor__V1__NicSpec *nic,
	   nic_apply_fn apply, const char *what, struct nv_arena *ar, Nicvisor__V1__Response *rep,
	   struct dpu_status *st)
{
	char err[DPU_NET_ERR_MAX] = "";
	int rc;

	if (vm->ports[index].name[0] != 0 && a->net != NULL) {
		rc = apply(a, vm->ports[index].name, nic, err, sizeof(err));
		if (rc < 0) {
			a->stats.net_errors++;
			return dpu_fail(st, CODE(INTERNAL), "",
					"the dataplane refused the %s of NIC %u of vm %s: %s", what,
					index, vm->spec->name, err[0] ? err : strerror(-rc));
		}
	}
	rc = vm_set_nic(vm, index, nic, st);
	if (rc < 0)
		return rc;
	rep->result_case = NICVISOR__V1__RESPONSE__RESULT_VM;
	rep->vm = vm_to_pb(vm, ar);
	return api_save_or_fail(a, st);
}

static int
apply_qos(struct dpu_agent *a, const char *port, const Nicvisor__V1__NicSpec *nic, char *err,
	  size_t errlen)
{
	struct dp_qos q;

	nic_qos(nic, &q);
	return a->net->ops->port_qos(a->net, port, &q, err, errlen);
}

static int
apply_security(struct dpu_agent *a, const char *port, const Nicvisor__V1__NicSpec *nic, char *err,
	       size_t errlen)
{
	return nic_security_apply(a, port, nic->security, err, errlen);
}

int
api_set_nic_qos(struct dpu_agent *a, const Nicvisor__V1__SetNicQosRequest *r, struct nv_arena *ar,
		Nicvisor__V1__Response *rep, struct dpu_status *st)
{
	Nicvisor__V1__NicSpec nic;
	struct dpu_vm *vm;
	int rc;

	if (dpu_validate_vm_ref(r->vm, "vm", st) < 0 ||
	    dpu_validate_nic_qos(r->from_vm_bits_per_second, r->from_vm_burst_bytes,
				 r->to_vm_bits_per_second, r->to_vm_burst_bytes, "", st) < 0)
		return -EINVAL;
	rc = api_lock_vm(a, r->vm, &vm, st);
	if (rc < 0)
		return rc;
	rc = check_nic_index(vm, r->index, "index", st);
	if (rc < 0)
		goto out_unlock;
	nic = *vm->spec->nics[r->index];
	nic.from_vm_bits_per_second = r->from_vm_bits_per_second;
	nic.from_vm_burst_bytes = r->from_vm_burst_bytes;
	nic.to_vm_bits_per_second = r->to_vm_bits_per_second;
	nic.to_vm_burst_bytes = r->to_vm_burst_bytes;
	rc = change_nic(a, vm, r->index, &nic, apply_qos, "limits", ar, rep, st);
	if (rc == 0)
		nv_info("vm %s (%s): NIC %u limits from the VM %llu bit/s (burst %llu B), to the "
			"VM %llu bit/s (burst %llu B)",
			vm->spec->name, vm->id, r->index,
			(unsigned long long)r->from_vm_bits_per_second,
			(unsigned long long)r->from_vm_burst_bytes,
			(unsigned long long)r->to_vm_bits_per_second,
			(unsigned long long)r->to_vm_burst_bytes);
out_unlock:
	pthread_mutex_unlock(&a->lock);
	return rc;
}

int
api_set_nic_security(struct dpu_agent *a, const Nicvisor__V1__SetNicSecurityRequest *r,
		     struct nv_arena *ar, Nicvisor__V1__Response *rep, struct dpu_status *st)
{
	Nicvisor__V1__NicSpec nic;
	struct dp_sg_policy pol;
	struct dpu_vm *vm;
	int rc;

	if (dpu_validate_vm_ref(r->vm, "vm", st) < 0 ||
	    dpu_security_from_pb(r->policy, "policy", NULL, NULL, &pol, st) < 0)
		return -EINVAL;
	rc = api_lock_vm(a, r->vm, &vm, st);
	if (rc < 0)
		return rc;
	rc = check_nic_index(vm, r->index, "index", st);
	if (rc < 0)
		goto out_unlock;
	nic = *vm->spec->nics[r->index];
	nic.security = r->policy;
	rc = change_nic(a, vm, r->index, &nic, apply_security, "security group", ar, rep, st);
	if (rc == 0)
		nv_info("vm %s (%s): NIC %u security group %s (%u ingress, %u egress rules)",
			vm->spec->name, vm->id, r->index, r->policy ? "set" : "removed",
			pol.n_ingress, pol.n_egress);
out_unlock:
	pthread_mutex_unlock(&a->lock);
	return rc;
}

static Nicvisor__V1__RuleCounters **
rule_counters_to_pb(const struct dp_sg_rule_stats *rs, size_t n, struct nv_arena *ar)
{
	Nicvisor__V1__RuleCounters **v = nv_arena_alloc(ar, sizeof(*v) * (n ? n : 1));

	for (size_t i = 0; i < n; i++) {
		v[i] = nv_arena_alloc(ar, sizeof(*v[i]));
		nicvisor__v1__rule_counters__init(v[i]);
		v[i]->packets = rs[i].packets;
		v[i]->bytes = rs[i].bytes;
	}
	return v;
}

int
api_get_nic_security(struct dpu_agent *a, const Nicvisor__V1__GetNicSecurityRequest *r,
		     struct nv_arena *ar, Nicvisor__V1__Response *rep, struct dpu_status *st)
{
	const Nicvisor__V1__SecurityPolicy *pol;
	Nicvisor__V1__NicSecurity *pb;
	struct dp_sg_rule_stats *rs = NULL;
	struct dp_sg_stats sgs;
	struct dpu_vm *vm;
	int rc;

	if (dpu_validate_vm_ref(r->vm, "vm", st) < 0)
		return -EINVAL;
	rc = api_lock_vm(a, r->vm, &vm, st);
	if (rc < 0)
		return rc;
	rc = check_nic_index(vm, r->index, "index", st);
	if (rc < 0)
		goto out_unlock;
	pol = vm->spec->nics[r->index]->security;
	pb = nv_arena_alloc(ar, sizeof(*pb));
	nicvisor__v1__nic_security__init(pb);
	pb->vm = nv_arena_strdup(ar, vm->id);
	pb->nic = r->index;
	if (pol != NULL)
		pb->policy = dpu_pb_dup_arena(&pol->base, ar);
	rs = calloc(2 * DP_SG_MAX_RULES, sizeof(*rs));
	if (rs == NULL) {
		rc = dpu_fail(st, CODE(INTERNAL), "", "out of memory");
		goto out_unlock;
	}
	memset(&sgs, 0, sizeof(sgs));
	if (vm->ports[r->index].name[0] != 0 && a->net != NULL &&
	    a->net->ops->port_security_stats(a->net, vm->ports[r->index].name, &sgs, rs,
					     DP_SG_MAX_RULES, rs + DP_SG_MAX_RULES,
					     DP_SG_MAX_RULES) == 0 &&
	    sgs.enabled) {
		pb->active = true;
		pb->n_ingress_counters = sgs.n_ingress;
		pb->ingress_counters = rule_counters_to_pb(rs, sgs.n_ingress, ar);
		pb->n_egress_counters = sgs.n_egress;
		pb->egress_counters = rule_counters_to_pb(rs + DP_SG_MAX_RULES, sgs.n_egress, ar);
		pb->ingress_default_allowed = sgs.default_allowed[0];
		pb->ingress_default_denied = sgs.default_denied[0];
		pb->egress_default_allowed = sgs.default_allowed[1];
		pb->egress_default_denied = sgs.default_denied[1];
		pb->connection_hits = sgs.ct_hits;
		pb->connections_opened = sgs.ct_created;
		pb->connections_table_full = sgs.ct_full;
	}
	pb->connections = sgs.ct_entries;
	free(rs);
	rep->result_case = NICVISOR__V1__RESPONSE__RESULT_NIC_SECURITY;
	rep->nic_security = pb;
out_unlock:
	pthread_mutex_unlock(&a->lock);
	return rc;
}

static Nicvisor__V1__Mirror *
mirror_to_pb(struct dpu_agent *a, const struct dpu_vm *vm, size_t nic,
	     const Nicvisor__V1__MirrorSpec *ms, struct nv_arena *ar)
{
	Nicvisor__V1__Mirror *pb = nv_arena_alloc(ar, sizeof(*pb));
	struct dp_mirror_stats one;
	char dst[128];

	nicvisor__v1__mirror__init(pb);
	pb->name = nv_arena_strdup(ar, ms->name);
	pb->vm = nv_arena_strdup(ar, vm->id);
	pb->nic = (uint32_t)nic;
	pb->direction = ms->direction;
	if (ms->to_uplink != NULL && ms->to_uplink[0] != 0) {
		snprintf(dst, sizeof(dst), "uplink:%s", ms->to_uplink);
	} else {
		const struct dpu_vm *owner = mac_owner(a, ms->to_mac, NULL);

		snprintf(dst, sizeof(dst), "mac:%s (no NIC has it)", ms->to_mac);
		for (size_t j = 0; owner != NULL && j < owner->spec->n_nics; j++)
			if (strcmp(owner->spec->nics[j]->mac, ms->to_mac) == 0)
				snprintf(dst, sizeof(dst), "%s/nic%zu", owner->id, j);
	}
	pb->destination = nv_arena_strdup(ar, dst);
	if (a->net != NULL && a->net->ops->mirror_stats(a->net, ms->name, &one, 1) == 1) {
		pb->active = true;
		pb->packets = one.packets;
		pb->bytes = one.bytes;
		pb->drops = one.drops;
		pb->no_buffer = one.no_buffer;
	}
	return pb;
}

static size_t
mirror_count(struct dpu_agent *a)
{
	size_t n = 0;

	for (size_t v = 0; v < a->nvms; v++)
		for (size_t i = 0; i < a->vms[v]->spec->n_nics; i++)
			n += a->vms[v]->spec->nics[i]->n_mirrors;
	return n;
}

/* The destination of r into ms: a NIC (by its MAC, copied into mac:
 * the spec it comes from may be replaced before ms is used) or an uplink. */
static int
resolve_destination(struct dpu_agent *a, const Nicvisor__V1__CreateMirrorRequest *r,
		    const struct dpu_vm *src, Nicvisor__V1__MirrorSpec *ms,
		    char mac[DPU_MAC_STR_LEN + 1], struct dpu_status *st)
{
	struct dpu_vm *dvm;

	if (r->to_uplink != NULL && r->to_uplink[0] != 0) {
		if (!agent_uplink_exists(a, r->to_uplink))
			return dpu_fail(st, CODE(NOT_FOUND), "to_uplink",
					"uplink %s: not found (nicvisor-dpu --uplink adds uplinks)",
					r->to_uplink);
		ms->to_uplink = r->to_uplink;
		return 0;
	}
	dvm = vm_find(a, r->to_vm);
	if (dvm == NULL)
		return dpu_fail(st, CODE(NOT_FOUND), "to_vm", "vm %s: not found", r->to_vm);
	if (check_nic_index(dvm, r->to_nic, "to_nic", st) < 0)
		return -EINVAL;
	if (dvm == src && r->to_nic == r->nic)
		return dpu_fail(st, CODE(INVALID_ARGUMENT), "to_nic",
				"NIC %u of vm %s cannot mirror to itself", r->nic, src->spec->name);
	snprintf(mac, DPU_MAC_STR_LEN + 1, "%s", dvm->spec->nics[r->to_nic]->mac);
	ms->to_mac = mac;
	return 0;
}

static int
check_create_mirror(const Nicvisor__V1__CreateMirrorRequest *r, struct dpu_status *st)
{
	bool to_uplink = r->to_uplink != NULL && r->to_uplink[0] != 0;
	bool to_vm = r->to_vm != NULL && r->to_vm[0] != 0;

	if (dpu_validate_name(r->name, "name", st) < 0 || dpu_validate_vm_ref(r->vm, "vm", st) < 0)
		return -EINVAL;
	if (mirror_dir(r->direction) == 0)
		return dpu_fail(st, CODE(INVALID_ARGUMENT), "direction",
				"give a direction: from_vm, to_vm or both");
	if (to_uplink == to_vm)
		return dpu_fail(st, CODE(INVALID_ARGUMENT), to_vm ? "to_uplink" : "to_vm",
				"give one destination: to_vm (with to_nic) or to_uplink");
	if (to_vm)
		return dpu_validate_vm_ref(r->to_vm, "to_vm", st);
	if (r->to_nic != 0)
		return dpu_fail(st, CODE(INVALID_ARGUMENT), "to_nic",
				"to_nic goes with to_vm, not with to_uplink");
	return dpu_validate_uplink_name(r->to_uplink, "to_uplink", st);
}

int
api_create_mirror(struct dpu_agent *a, const Nicvisor__V1__CreateMirrorRequest *r,
		  struct nv_arena *ar, Nicvisor__V1__Response *rep, struct dpu_status *st)
{
	char err[DPU_NET_ERR_MAX] = "", src[DPU_PORT_NAME_MAX + 32], dst[DPU_PORT_NAME_MAX + 32];
	Nicvisor__V1__MirrorSpec ms, *list[DP_MIRRORS_PER_PORT + 1];
	char to_mac[DPU_MAC_STR_LEN + 1];
	const Nicvisor__V1__NicSpec *old;
	Nicvisor__V1__NicSpec nic;
	struct dpu_vm *vm, *other;
	size_t other_nic;
	int rc;

	if (check_create_mirror(r, st) < 0)
		return -EINVAL;
	rc = api_lock_vm(a, r->vm, &vm, st);
	if (rc < 0)
		return rc;
	if ((rc = agent_need_net(a, "", st)) < 0 ||
	    (rc = check_nic_index(vm, r->nic, "nic", st)) < 0)
		goto out_unlock;
	if (mirror_find(a, r->name, &other, &other_nic) != NULL) {
		rc = dpu_fail(st, CODE(ALREADY_EXISTS), "name",
			      "a mirror session named %s exists (NIC %zu of vm %s)", r->name,
			      other_nic, other->spec->name);
		goto out_unlock;
	}
	old = vm->spec->nics[r->nic];
	if (old->n_mirrors >= DP_MIRRORS_PER_PORT || mirror_count(a) >= DP_MAX_MIRRORS) {
		rc = dpu_fail(
			st, CODE(RESOURCE_EXHAUSTED), "nic",
			"at most %d mirror sessions from a NIC and %d in all; delete one first",
			DP_MIRRORS_PER_PORT, DP_MAX_MIRRORS);
		goto out_unlock;
	}
	nicvisor__v1__mirror_spec__init(&ms);
	ms.name = r->name;
	ms.direction = r->direction;
	rc = resolve_destination(a, r, vm, &ms, to_mac, st);
	if (rc < 0)
		goto out_unlock;
	/* Both ports there: the dataplane runs it before the answer. */
	mirror_ports(a, vm, r->nic, &ms, src, dst, sizeof(src));
	if (src[0] != 0 && dst[0] != 0) {
		rc = a->net->ops->mirror_add(a->net, ms.name, src, mirror_dir(ms.direction), dst,
					     err, sizeof(err));
		if (rc < 0) {
			a->stats.net_errors++;
			rc = dpu_fail(st, rc == -ENOSPC ? CODE(RESOURCE_EXHAUSTED) : CODE(INTERNAL),
				      "", "the dataplane refused mirror session %s: %s", r->name,
				      err[0] ? err : strerror(-rc));
			goto out_unlock;
		}
	}
	for (size_t k = 0; k < old->n_mirrors; k++)
		list[k] = old->mirrors[k];
	list[old->n_mirrors] = &ms;
	nic = *old;
	nic.mirrors = list;
	nic.n_mirrors = old->n_mirrors + 1;
	rc = vm_set_nic(vm, r->nic, &nic, st);
	if (rc < 0) {
		a->net->ops->mirror_del(a->net, r->name, err, sizeof(err));
		goto out_unlock;
	}
	nv_info("mirror %s: NIC %u of vm %s (%s) to %s%s", r->name, r->nic, vm->spec->name, vm->id,
		ms.to_uplink[0] != 0 ? "uplink " : "the NIC with MAC ",
		ms.to_uplink[0] != 0 ? ms.to_uplink : ms.to_mac);
	rep->result_case = NICVISOR__V1__RESPONSE__RESULT_MIRROR;
	rep->mirror =
		mirror_to_pb(a, vm, r->nic, vm->spec->nics[r->nic]->mirrors[nic.n_mirrors - 1], ar);
	rc = api_save_or_fail(a, st);
out_unlock:
	pthread_mutex_unlock(&a->lock);
	return rc;
}

/* Validate a session's name in field and find it: 0 with a->lock held,
 * or a negative errno with st filled and no lock held. */
static int
lock_mirror(struct dpu_agent *a, const char *name, const Nicvisor__V1__MirrorSpec **ms,
	    struct dpu_vm **vm, size_t *nic, struct dpu_status *st)
{
	if (dpu_validate_name(name, "mirror", st) < 0)
		return -EINVAL;
	pthread_mutex_lock(&a->lock);
	*ms = mirror_find(a, name, vm, nic);
	if (*ms == NULL) {
		pthread_mutex_unlock(&a->lock);
		return dpu_fail(st, CODE(NOT_FOUND), "mirror", "mirror session %s: not found",
				name);
	}
	return 0;
}

int
api_delete_mirror(struct dpu_agent *a, const Nicvisor__V1__DeleteMirrorRequest *r,
		  struct nv_arena *ar, Nicvisor__V1__Response *rep, struct dpu_status *st)
{
	Nicvisor__V1__MirrorSpec *list[DP_MIRRORS_PER_PORT + 1];
	const Nicvisor__V1__MirrorSpec *ms;
	const Nicvisor__V1__NicSpec *old;
	char err[DPU_NET_ERR_MAX] = "";
	Nicvisor__V1__NicSpec nic;
	Nicvisor__V1__Mirror *pb;
	struct dpu_vm *vm;
	size_t i, k = 0;
	int rc;

	rc = lock_mirror(a, r->mirror, &ms, &vm, &i, st);
	if (rc < 0)
		return rc;
	/* Its last counters, as it goes. */
	pb = mirror_to_pb(a, vm, i, ms, ar);
	if (a->net != NULL) {
		rc = a->net->ops->mirror_del(a->net, ms->name, err, sizeof(err));
		if (rc < 0 && rc != -ENOENT) {
			a->stats.net_errors++;
			rc = dpu_fail(st, CODE(INTERNAL), "",
				      "the dataplane refused to delete mirror session %s: %s",
				      ms->name, err[0] ? err : strerror(-rc));
			goto out_unlock;
		}
	}
	old = vm->spec->nics[i];
	for (size_t m = 0; m < old->n_mirrors && k < sizeof(list) / sizeof(list[0]); m++)
		if (old->mirrors[m] != ms)
			list[k++] = old->mirrors[m];
	nic = *old;
	nic.mirrors = list;
	nic.n_mirrors = k;
	pb->active = false;
	nv_info("mirror %s deleted", pb->name);
	rc = vm_set_nic(vm, i, &nic, st);
	if (rc < 0)
		goto out_unlock;
	rep->result_case = NICVISOR__V1__RESPONSE__RESULT_MIRROR;
	rep->mirror = pb;
	rc = api_save_or_fail(a, st);
out_unlock:
	pthread_mutex_unlock(&a->lock);
	return rc;
}

int
api_get_mirror(struct dpu_agent *a, const Nicvisor__V1__GetMirrorRequest *r, struct nv_arena *ar,
	       Nicvisor__V1__Response *rep, struct dpu_status *st)
{
	const Nicvisor__V1__MirrorSpec *ms;
	struct dpu_vm *vm;
	size_t i;
	int rc;

	rc = lock_mirror(a, r->mirror, &ms, &vm, &i, st);
	if (rc < 0)
		return rc;
	rep->result_case = NICVISOR__V1__RESPONSE__RESULT_MIRROR;
	rep->mirror = mirror_to_pb(a, vm, i, ms, ar);
	pthread_mutex_unlock(&a->lock);
	return 0;
}

/* A session in a list: where it is kept. */
struct mirror_item {
	const Nicvisor__V1__MirrorSpec *ms;
	const struct dpu_vm *vm;
	size_t nic;
};

static int
cmp_mirror_name(const void *x, const void *y)
{
	const struct mirror_item *a = *(const struct mirror_item *const *)x;
	const struct mirror_item *b = *(const struct mirror_item *const *)y;

	return strcmp(a->ms->name, b->ms->name);
}

static const char *
mirror_key(const void *p)
{
	return ((const struct mirror_item *)p)->ms->name;
}

static ProtobufCMessage *
mirror_pb(struct dpu_agent *a, const void *item, struct nv_arena *ar)
{
	const struct mirror_item *it = item;

	return &mirror_to_pb(a, it->vm, it->nic, it->ms, ar)->base;
}

int
api_list_mirrors(struct dpu_agent *a, const Nicvisor__V1__ListMirrorsRequest *r,
		 struct nv_arena *ar, Nicvisor__V1__Response *rep, struct dpu_status *st)
{
	static const struct api_list_kind kind = { "mirrors", cmp_mirror_name, mirror_key,
						   mirror_pb };
	Nicvisor__V1__ListMirrorsResponse *lr;
	char after[DPU_PAGE_KEY_MAX + 1];
	struct mirror_item *items;
	ProtobufCMessage **msgs;
	void **ptrs;
	uint32_t size;
	size_t n = 0;
	char *token;

	if (api_page_args(kind.name, r->page_size, r->page_token, &size, after, sizeof(after), st) <
	    0)
		return -EINVAL;
	lr = nv_arena_alloc(ar, sizeof(*lr));
	nicvisor__v1__list_mirrors_response__init(lr);
	pthread_mutex_lock(&a->lock);
	items = nv_arena_alloc(ar, (mirror_count(a) + 1) * sizeof(*items));
	ptrs = nv_arena_alloc(ar, (mirror_count(a) + 1) * sizeof(*ptrs));
	for (size_t v = 0; v < a->nvms; v++)
		for (size_t i = 0; i < a->vms[v]->spec->n_nics; i++)
			for (size_t m = 0; m < a->vms[v]->spec->nics[i]->n_mirrors; m++) {
				items[n] =
					(struct mirror_item){ a->vms[v]->spec->nics[i]->mirrors[m],
							      a->vms[v], i };
				ptrs[n] = &items[n];
				n++;
			}
	lr->n_mirrors = api_list_page(a, &kind, ptrs, n, after, size, ar, &msgs, &token);
	pthread_mutex_unlock(&a->lock);
	lr->mirrors = (Nicvisor__V1__Mirror **)msgs;
	if (token != NULL)
		lr->next_page_token = token;
	rep->result_case = NICVISOR__V1__RESPONSE__RESULT_MIRRORS;
	rep->mirrors = lr;
	return 0;
}
