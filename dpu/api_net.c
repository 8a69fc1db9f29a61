/* SPDX-License-Identifier: MIT */
/*
 * The northbound API of networking (api.proto): CreateNetwork,
 * DeleteNetwork, GetNetwork, ListNetworks, AddNic, RemoveNic and
 * GetPortStats. Validated field by field like every request, applied under
 * the agent lock; the dataplane (dpu/net.h) is programmed before the
 * answer, so a created NIC's socket exists when CreateVm or AddNic returns.
 */
#define NV_LOG_COMPONENT "nicvisor.dpu.api"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_priv.h"
#include "nv_log.h"
#include "nv_wire.h"
#include "page_token.h"
#include "pb_util.h"
#include "vm_state.h"

#define CODE(x) NICVISOR__V1__CODE__CODE_##x

/* Ports an answer of GetPortStats may hold besides every NIC's. */
#define STATS_EXTRA_PORTS 64
/* A GetPortStats answer stays well under NV_WIRE_MAX_MSG. */
#define STATS_MAX_BYTES (NV_WIRE_MAX_MSG / 2)

/* Networks */

static int
lock_network(struct dpu_agent *a, const char *ref, struct dpu_network **out, struct dpu_status *st)
{
	if (dpu_validate_network_ref(ref, "network", st) < 0)
		return -EINVAL;
	pthread_mutex_lock(&a->lock);
	*out = net_find(a, ref);
	return api_found(a, *out, "network", ref, st);
}

/* Answer with net, saved. */
static int
answer_saved(struct dpu_agent *a, const struct dpu_network *net, struct nv_arena *ar,
	     Nicvisor__V1__Response *rep, struct dpu_status *st)
{
	rep->result_case = NICVISOR__V1__RESPONSE__RESULT_NETWORK;
	rep->network = net_to_pb(net, ar);
	return api_save_or_fail(a, st);
}

int
api_create_network(struct dpu_agent *a, const Nicvisor__V1__CreateNetworkRequest *r,
		   struct nv_arena *ar, Nicvisor__V1__Response *rep, struct dpu_status *st)
{
	struct dpu_network *net, *other = NULL;
	int rc = 0;

	uint32_t vteps[DPU_MAX_VTEPS];

	if (dpu_validate_network_name(r->name, "name", st) < 0 ||
	    dpu_validate_vlan(r->vlan, "vlan", st) < 0 ||
	    dpu_validate_overlay(r->vlan, r->vni, r->remote_vteps, r->n_remote_vteps, vteps, st) <
		    0)
		return -EINVAL;
	pthread_mutex_lock(&a->lock);
	if (agent_need_net(a, "", st) < 0) {
		rc = -EINVAL;
		goto out_unlock;
	}
	if (a->nnets >= DPU_MAX_NETWORKS) {
		rc = dpu_fail(st, CODE(RESOURCE_EXHAUSTED), "",
			      "the agent has %d networks already, its limit; delete some first",
			      DPU_MAX_NETWORKS);
		goto out_unlock;
	}
	if ((other = net_find_name(a, r->name)) != NULL) {
		rc = dpu_fail(st, CODE(ALREADY_EXISTS), "name", "a network named %s exists (%s)",
			      r->name, other->id);
		goto out_unlock;
	}
	for (size_t i = 0; i < a->nnets && r->vlan != 0; i++)
		if (a->nets[i]->vlan == r->vlan)
			other = a->nets[i];
	if (other != NULL) {
		rc = dpu_fail(st, CODE(ALREADY_EXISTS), "vlan",
			      "VLAN %u is network %s's; a tag carries one network on the uplinks",
			      r->vlan, other->name);
		goto out_unlock;
	}
	other = net_find_vni(a, r->vni);
	if (other != NULL) {
		rc = dpu_fail(st, CODE(ALREADY_EXISTS), "vni",
			      "VNI %u is network %s's; a VNI carries one network on the overlay",
			      r->vni, other->name);
		goto out_unlock;
	}
	net = net_add(a, r->name, r->vlan, NULL);
	if (net == NULL) {
		rc = dpu_fail(st, CODE(INTERNAL), "", "out of memory");
		goto out_unlock;
	}
	net->vni = r->vni;
	net_set_vteps(net, vteps, r->n_remote_vteps);
	if (net_program(a, net, st) < 0) {
		net_remove(a, net);
		rc = -EINVAL;
		goto out_unlock;
	}
	nv_info("created network %s (%s), vlan %u, vni %u", net->name, net->id, net->vlan,
		net->vni);
	rc = answer_saved(a, net, ar, rep, st);
out_unlock:
	pthread_mutex_unlock(&a->lock);
	return rc;
}

int
api_delete_network(struct dpu_agent *a, const Nicvisor__V1__DeleteNetworkRequest *r,
		   struct nv_arena *ar, Nicvisor__V1__Response *rep, struct dpu_status *st)
{
	char err[DPU_NET_ERR_MAX] = "";
	const struct dpu_vm *user = NULL;
	struct dpu_network *net;
	size_t users, index = 0;
	int rc;

	rc = lock_network(a, r->network, &net, st);
	if (rc < 0)
		return rc;
	users = net_nic_users(a, net->name, &user, &index);
	if (users > 0) {
		rc = dpu_fail(st, CODE(FAILED_PRECONDITION), "network",
			      "network %s has %zu NIC%s (NIC %zu of vm %s%s); remove them or "
			      "delete their VMs first",
			      net->name, users, users == 1 ? "" : "s", index, user->spec->name,
			      users > 1 ? ", ..." : "");
		goto out_unlock;
	}
	/* Without a dataplane there is nothing to unprogram: the record goes. */
	if (net->programmed && a->net != NULL) {
		rc = a->net->ops->network_del(a->net, net->name, err, sizeof(err));
		if (rc < 0 && rc != -ENOENT) {
			a->stats.net_errors++;
			nv_err("dataplane refused to delete network %s: %s", net->name, err);
			rc = dpu_fail(st, CODE(INTERNAL), "",
				      "the dataplane refused to delete network %s: %s", net->name,
				      err[0] ? err : strerror(-rc));
			goto out_unlock;
		}
	}
	nv_info("deleted network %s (%s)", net->name, net->id);
	rep->result_case = NICVISOR__V1__RESPONSE__RESULT_NETWORK;
	rep->network = net_to_pb(net, ar);
	net_remove(a, net);
	rc = api_save_or_fail(a, st);
out_unlock:
	pthread_mutex_unlock(&a->lock);
	return rc;
}

int
api_update_network(struct dpu_agent *a, const Nicvisor__V1__UpdateNetworkRequest *r,
		   struct nv_arena *ar, Nicvisor__V1__Response *rep, struct dpu_status *st)
{
	char err[DPU_NET_ERR_MAX] = "";
	uint32_t vteps[DPU_MAX_VTEPS];
	struct dpu_network *net;
	int rc;

	/* vni 1: a list is allowed; the network's own VNI is checked below. */
	if (dpu_validate_overlay(0, 1, r->remote_vteps, r->n_remote_vteps, vteps, st) < 0)
		return -EINVAL;
	rc = lock_network(a, r->network, &net, st);
	if (rc < 0)
		return rc;
	if (net->vni == 0) {
		rc = dpu_fail(st, CODE(FAILED_PRECONDITION), "network",
			      "network %s has no VNI: remote VTEPs belong to overlay networks",
			      net->name);
		goto out_unlock;
	}
	if (net->programmed) {
		rc = a->net->ops->network_set_vteps(a->net, net->name, vteps,
						    (unsigned int)r->n_remote_vteps, err,
						    sizeof(err));
		if (rc < 0) {
			a->stats.net_errors++;
			rc = dpu_fail(st, CODE(INTERNAL), "",
				      "the dataplane refused network %s's VTEPs: %s", net->name,
				      err[0] ? err : strerror(-rc));
			goto out_unlock;
		}
	}
	net_set_vteps(net, vteps, r->n_remote_vteps);
	nv_info("network %s: %zu remote VTEPs", net->name, net->nvteps);
	rc = answer_saved(a, net, ar, rep, st);
out_unlock:
	pthread_mutex_unlock(&a->lock);
	return rc;
}

int
api_get_network(struct dpu_agent *a, const Nicvisor__V1__GetNetworkRequest *r, struct nv_arena *ar,
		Nicvisor__V1__Response *rep, struct dpu_status *st)
{
	struct dpu_network *net;
	int rc;

	rc = lock_network(a, r->network, &net, st);
	if (rc < 0)
		return rc;
	rep->result_case = NICVISOR__V1__RESPONSE__RESULT_NETWORK;
	rep->network = net_to_pb(net, ar);
	pthread_mutex_unlock(&a->lock);
	return 0;
}

static const char *
net_key(const void *p)
{
	return ((const struct dpu_network *)p)->name;
}

static ProtobufCMessage *
net_pb(struct dpu_agent *a, const void *item, struct nv_arena *ar)
{
	(void)a;
	return &net_to_pb(item, ar)->base;
}

int
api_list_networks(struct dpu_agent *a, const Nicvisor__V1__ListNetworksRequest *r,
		  struct nv_arena *ar, Nicvisor__V1__Response *rep, struct dpu_status *st)
{
	static const struct api_list_kind kind = { "networks", NULL, net_key, net_pb };

	return api_list(a, &kind, (void *const *const *)&a->nets, &a->nnets, r->page_size,
			r->page_token, NICVISOR__V1__RESPONSE__RESULT_NETWORKS, ar, rep, st);
}

/* NICs */

int
api_add_nic(struct dpu_agent *a, const Nicvisor__V1__AddNicRequest *r, struct nv_arena *ar,
	    Nicvisor__V1__Response *rep, struct dpu_status *st)
{
	Nicvisor__V1__NicSpec *nics[DPU_MAX_NICS], added, *req_nic = r->nic;
	Nicvisor__V1__VmSpec *old;
	struct dpu_vm *vm;
	size_t n;
	int rc;

	if (dpu_validate_vm_ref(r->vm, "vm", st) < 0 || dpu_validate_nic(r->nic, "nic", st) < 0)
		return -EINVAL;
	rc = api_lock_vm_for(a, r->vm, DPU_VM_OP_EDIT_NICS, &vm, st);
	if (rc < 0)
		return rc;
	n = vm->spec->n_nics;
	if (n >= DPU_MAX_NICS) {
		rc = dpu_fail(st, CODE(RESOURCE_EXHAUSTED), "vm",
			      "vm %s has %d NICs, the most a VM can have; remove one first",
			      vm->spec->name, DPU_MAX_NICS);
		goto out_unlock;
	}
	rc = nics_resolve(a, &req_nic, 1, "nic", false, &added, ar, st);
	if (rc < 0)
		goto out_unlock;
	for (size_t i = 0; i < n; i++)
		nics[i] = vm->spec->nics[i];
	nics[n] = &added;
	old = dpu_pb_dup(&vm->spec->base);
	if (old == NULL) {
		rc = dpu_fail(st, CODE(INTERNAL), "", "out of memory");
		goto out_unlock;
	}
	rc = api_vm_set_spec(vm, spec_with_nics(vm->spec, nics, n + 1), st);
	if (rc == 0 && (rc = vm_nic_attach(a, vm, n, st)) < 0) {
		/* Back to the NICs it had. */
		dpu_pb_free(vm->spec);
		vm->spec = old;
		old = NULL;
	}
	dpu_pb_free(old);
	if (rc < 0)
		goto out_unlock;
	nv_info("vm %s (%s): NIC %zu added on network %s, MAC %s", vm->spec->name, vm->id, n,
		added.network, added.mac);
	rc = api_answer_vm(a, vm, ar, rep, st);
out_unlock:
	pthread_mutex_unlock(&a->lock);
	return rc;
}

int
api_remove_nic(struct dpu_agent *a, const Nicvisor__V1__RemoveNicRequest *r, struct nv_arena *ar,
	       Nicvisor__V1__Response *rep, struct dpu_status *st)
{
	Nicvisor__V1__NicSpec *nics[DPU_MAX_NICS];
	struct dpu_nic_port removed;
	struct dpu_vm *vm;
	size_t n, k = 0;
	int rc;

	rc = api_lock_vm_for(a, r->vm, DPU_VM_OP_EDIT_NICS, &vm, st);
	if (rc < 0)
		return rc;
	n = vm->spec->n_nics;
	rc = api_vm_index(vm, "NIC", r->index, n, st);
	if (rc < 0)
		goto out_unlock;
	for (size_t i = 0; i < n; i++)
		if (i != r->index)
			nics[k++] = vm->spec->nics[i];
	removed = vm->ports[r->index];
	rc = api_vm_set_spec(vm, spec_with_nics(vm->spec, nics, k), st);
	if (rc < 0)
		goto out_unlock;
	/* The port goes; the NICs after it move down one index and keep
	 * their ports (named by MAC, not by index). */
	memmove(&vm->ports[r->index], &vm->ports[r->index + 1],
		(n - r->index - 1) * sizeof(vm->ports[0]));
	memset(&vm->ports[n - 1], 0, sizeof(vm->ports[0]));
	if (removed.name[0] != 0 && a->net != NULL) {
		char err[DPU_NET_ERR_MAX] = "";
		int drc = a->net->ops->port_del(a->net, removed.name, err, sizeof(err));

		if (drc < 0 && drc != -ENOENT) {
			a->stats.net_errors++;
			nv_err("vm %s (%s): dataplane could not remove port %s: %s", vm->spec->name,
			       vm->id, removed.name, err);
		}
	}
	nv_info("vm %s (%s): NIC %u removed", vm->spec->name, vm->id, r->index);
	rc = api_answer_vm(a, vm, ar, rep, st);
out_unlock:
	pthread_mutex_unlock(&a->lock);
	return rc;
}

/* Port statistics */

/* The VM and NIC index of a dataplane port, if it is a NIC's. */
static const struct dpu_vm *
port_owner(struct dpu_agent *a, const char *port, size_t *index)
{
	char id[DPU_VM_ID_LEN + 1];
	const struct dpu_vm *vm;

	if (strncmp(port, "vm-", 3) != 0 || strlen(port) < DPU_VM_ID_LEN)
		return NULL;
	snprintf(id, sizeof(id), "%s", port);
	vm = vm_find_id(a, id);
	for (size_t i = 0; vm != NULL && i < vm->spec->n_nics; i++) {
		if (strcmp(vm->ports[i].name, port) == 0) {
			*index = i;
			return vm;
		}
	}
	return NULL;
}

static Nicvisor__V1__PortStats *
stats_to_pb(struct dpu_agent *a, const struct dp_port_stats *s, struct nv_arena *ar)
{
	Nicvisor__V1__PortStats *pb = nv_arena_alloc(ar, sizeof(*pb));
	char name[96], mac[DPU_MAC_STR_LEN + 1];
	const struct dpu_vm *vm;
	size_t index = 0;

	nicvisor__v1__port_stats__init(pb);
	vm = port_owner(a, s->port, &index);
	if (vm != NULL)
		snprintf(name, sizeof(name), "%s/nic%zu", vm->id, index);
	else if (strcmp(s->kind, "uplink") == 0)
		snprintf(name, sizeof(name), "uplink:%.63s", s->port);
	else
		snprintf(name, sizeof(name), "%.63s", s->port);
	pb->port = nv_arena_strdup(ar, name);
	pb->kind = nv_arena_strdup(ar, s->kind);
	pb->network = nv_arena_strdup(ar, s->network);
	if (strcmp(s->kind, "uplink") != 0) {
		dpu_mac_format(s->mac, mac);
		pb->mac = nv_arena_strdup(ar, mac);
	}
	pb->link_up = s->link_up;
	pb->rx_packets = s->rx_packets;
	pb->rx_bytes = s->rx_bytes;
	pb->tx_packets = s->tx_packets;
	pb->tx_bytes = s->tx_bytes;
	pb->rx_l2_only = s->rx_l2_only;
	pb->vxlan_encap = s->vxlan_encap;
	pb->vxlan_decap = s->vxlan_decap;
	pb->rx_limit_bits_per_second = s->qos.rx.bits_per_second;
	pb->rx_limit_burst_bytes = s->qos.rx.burst_bytes;
	pb->tx_limit_bits_per_second = s->qos.tx.bits_per_second;
	pb->tx_limit_burst_bytes = s->qos.tx.burst_bytes;
	pb->drops = nv_arena_alloc(ar, (DP_DROP_REASONS + 1) * sizeof(*pb->drops));
	for (unsigned int i = 0; i < s->ndrops && i < DP_DROP_REASONS; i++) {
		Nicvisor__V1__PortStats__DropsEntry *d = nv_arena_alloc(ar, sizeof(*d));

		nicvisor__v1__port_stats__drops_entry__init(d);
		d->key = nv_arena_strdup(ar, s->drops[i].reason);
		d->value = s->drops[i].count;
		pb->drops[pb->n_drops++] = d;
	}
	return pb;
}

/* A NIC whose port the dataplane does not have: shown, with no counters. */
static Nicvisor__V1__PortStats *
missing_port_pb(const struct dpu_vm *vm, size_t i, struct nv_arena *ar)
{
	Nicvisor__V1__PortStats *pb = nv_arena_alloc(ar, sizeof(*pb));
	char name[64];

	nicvisor__v1__port_stats__init(pb);
	snprintf(name, sizeof(name), "%s/nic%zu", vm->id, i);
	pb->port = nv_arena_strdup(ar, name);
	pb->kind = "vhost";
	pb->network = nv_arena_strdup(ar, vm->spec->nics[i]->network);
	pb->mac = nv_arena_strdup(ar, vm->spec->nics[i]->mac);
	return pb;
}

static int
cmp_port_pb(const void *x, const void *y)
{
	const Nicvisor__V1__PortStats *a = *(const Nicvisor__V1__PortStats *const *)x;
	const Nicvisor__V1__PortStats *b = *(const Nicvisor__V1__PortStats *const *)y;

	return strcmp(a->port, b->port);
}

int
api_get_port_stats(struct dpu_agent *a, const Nicvisor__V1__GetPortStatsRequest *r,
		   struct nv_arena *ar, Nicvisor__V1__Response *rep, struct dpu_status *st)
{
	Nicvisor__V1__PortStatsResponse *pr;
	struct dp_port_stats *buf = NULL;
	struct dpu_vm *vm = NULL;
	size_t max = STATS_EXTRA_PORTS, bytes = 0;
	int rc = 0, got;

	pr = nv_arena_alloc(ar, sizeof(*pr));
	nicvisor__v1__port_stats_response__init(pr);
	if (r->vm != NULL && r->vm[0] != 0) {
		rc = api_lock_vm(a, r->vm, &vm, st);
		if (rc < 0)
			return rc;
	} else {
		pthread_mutex_lock(&a->lock);
	}
	if (agent_need_net(a, "", st) < 0) {
		rc = -EINVAL;
		goto out_unlock;
	}
	if (vm != NULL) {
		pr->ports = nv_arena_alloc(ar, (vm->spec->n_nics + 1) * sizeof(*pr->ports));
		for (size_t i = 0; i < vm->spec->n_nics; i++) {
			struct dp_port_stats one;

			got = vm->ports[i].name[0] != 0
				      ? a->net->ops->port_stats(a->net, vm->ports[i].name, &one, 1)
				      : -ENOENT;
			pr->ports[pr->n_ports++] =
				got == 1 ? stats_to_pb(a, &one, ar) : missing_port_pb(vm, i, ar);
		}
		goto out_answer;
	}
	for (size_t i = 0; i < a->nvms; i++)
		max += a->vms[i]->spec->n_nics;
	buf = calloc(max, sizeof(*buf));
	if (buf == NULL) {
		rc = dpu_fail(st, CODE(INTERNAL), "", "out of memory");
		goto out_unlock;
	}
	got = a->net->ops->port_stats(a->net, NULL, buf, (unsigned int)max);
	if (got < 0) {
		a->stats.net_errors++;
		rc = dpu_fail(st, CODE(INTERNAL), "", "the dataplane gave no port counters: %s",
			      strerror(-got));
		goto out_unlock;
	}
	pr->ports = nv_arena_alloc(ar, ((size_t)got + 1) * sizeof(*pr->ports));
	for (int i = 0; i < got; i++) {
		Nicvisor__V1__PortStats *p = stats_to_pb(a, &buf[i], ar);

		bytes += protobuf_c_message_get_packed_size(&p->base) + 8;
		if (bytes > STATS_MAX_BYTES) {
			nv_warn("GetPortStats: %d ports do not fit one answer; %zu shown", got,
				pr->n_ports);
			break;
		}
		pr->ports[pr->n_ports++] = p;
	}
	qsort(pr->ports, pr->n_ports, sizeof(*pr->ports), cmp_port_pb);
out_answer:
	rep->result_case = NICVISOR__V1__RESPONSE__RESULT_PORT_STATS;
	rep->port_stats = pr;
out_unlock:
	pthread_mutex_unlock(&a->lock);
	free(buf);
	return rc;
}

#define MAX_WORKERS 64

int
api_get_worker_stats(struct dpu_agent *a, const Nicvisor__V1__GetWorkerStatsRequest *r,
		     struct nv_arena *ar, Nicvisor__V1__Response *rep, struct dpu_status *st)
{
	Nicvisor__V1__WorkerStatsResponse *wr = nv_arena_alloc(ar, sizeof(*wr));
	struct dp_worker_stats w[MAX_WORKERS];
	int n = 0;

	(void)r;
	nicvisor__v1__worker_stats_response__init(wr);
	pthread_mutex_lock(&a->lock);
	if (a->net != NULL && a->net->ops->worker_stats != NULL)
		n = a->net->ops->worker_stats(a->net, w, MAX_WORKERS);
	pthread_mutex_unlock(&a->lock);
	if (n < 0)
		return dpu_fail(st, CODE(INTERNAL), "", "the dataplane's worker stats: %s",
				strerror(-n));
	wr->running = n > 0;
	wr->workers = nv_arena_alloc(ar, ((size_t)n + 1) * sizeof(*wr->workers));
	for (int i = 0; i < n; i++) {
		Nicvisor__V1__WorkerStats *ws = nv_arena_alloc(ar, sizeof(*ws));

		nicvisor__v1__worker_stats__init(ws);
		ws->worker = (uint32_t)i;
		ws->lcore = w[i].lcore;
		ws->packets = w[i].packets;
		ws->blk_requests = w[i].blk_requests;
		ws->flow_hits = w[i].flow_hits;
		ws->flow_misses = w[i].flow_misses;
		if (w[i].tsc_hz != 0) {
			ws->idle_seconds = (double)w[i].idle_cycles / (double)w[i].tsc_hz;
			ws->busy_seconds = (double)w[i].busy_cycles / (double)w[i].tsc_hz;
			ws->blk_busy_seconds = (double)w[i].blk_busy_cycles / (double)w[i].tsc_hz;
		}
		wr->workers[wr->n_workers++] = ws;
	}
	rep->result_case = NICVISOR__V1__RESPONSE__RESULT_WORKER_STATS;
	rep->worker_stats = wr;
	return 0;
}
