/* SPDX-License-Identifier: MIT */
/*
 * Networks and VM NICs inside the agent: their records, MAC assignment,
 * and the dataplane ports behind them (dpu/net.h). A NIC's port exists
 * from the moment the NIC does (CreateVm, AddNic) until it goes (DeleteVm,
 * RemoveNic), so a host frontend can connect and reconnect at any time.
 *
 * A port is named after its VM and its MAC ("vm-<16 hex>-<12 hex>"): MACs
 * are unique in the agent, so the name is unique and stays the same while
 * the NIC exists, also when NICs before it are removed and its index
 * changes. The API shows ports as "vm-<id>/nic<index>".
 */
#define NV_LOG_COMPONENT "nicvisor.dpu.net"

#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_priv.h"
#include "nv_log.h"
#include "pb_util.h"

#define CODE(x) NICVISOR__V1__CODE__CODE_##x

/* Tries to find a free random MAC before giving up. */
#define MAC_ASSIGN_TRIES 64

/* Networks */

struct dpu_network *
net_find_vni(struct dpu_agent *a, uint32_t vni)
{
	for (size_t i = 0; i < a->nnets && vni != 0; i++)
		if (a->nets[i]->vni == vni)
			return a->nets[i];
	return NULL;
}

void
net_set_vteps(struct dpu_network *net, const uint32_t *vteps, size_t n)
{
	net->nvteps = n;
	if (n > 0)
		memcpy(net->vteps, vteps, n * sizeof(vteps[0]));
}

struct dpu_network *
net_find_name(struct dpu_agent *a, const char *name)
{
	return dpu_record_with((void *const *)a->nets, a->nnets, offsetof(struct dpu_network, name),
			       name);
}

struct dpu_network *
net_find(struct dpu_agent *a, const char *ref)
{
	return dpu_record_find((void *const *)a->nets, a->nnets, offsetof(struct dpu_network, id),
			       offsetof(struct dpu_network, name), dpu_is_network_id(ref), ref);
}

struct dpu_network *
net_add(struct dpu_agent *a, const char *name, uint32_t vlan, const char *id)
{
	struct dpu_network **nets, *net;

	nets = realloc(a->nets, (a->nnets + 1) * sizeof(*nets));
	if (nets == NULL)
		return NULL;
	a->nets = nets;
	net = calloc(1, sizeof(*net));
	if (net == NULL)
		return NULL;
	if (id != NULL) {
		snprintf(net->id, sizeof(net->id), "%s", id);
	} else {
		dpu_record_new_id(a, net->id, "net-", (void *const *)a->nets, a->nnets,
				  offsetof(struct dpu_network, id));
	}
	snprintf(net->name, sizeof(net->name), "%s", name);
	net->vlan = vlan;
	net->created_unix_ms = nv_now_unix_ms();
	a->nets[a->nnets++] = net;
	return net;
}

void
net_remove(struct dpu_agent *a, struct dpu_network *net)
{
	dpu_record_remove((void **)a->nets, &a->nnets, net);
	free(net);
}

Nicvisor__V1__Network *
net_to_pb(const struct dpu_network *net, struct nv_arena *ar)
{
	Nicvisor__V1__Network *pb = nv_arena_alloc(ar, sizeof(*pb));

	nicvisor__v1__network__init(pb);
	pb->id = nv_arena_strdup(ar, net->id);
	pb->name = nv_arena_strdup(ar, net->name);
	pb->vlan = net->vlan;
	pb->created_unix_ms = net->created_unix_ms;
	pb->vni = net->vni;
	pb->n_remote_vteps = net->nvteps;
	pb->remote_vteps = nv_arena_alloc(ar, (net->nvteps + 1) * sizeof(*pb->remote_vteps));
	for (size_t i = 0; i < net->nvteps; i++) {
		char s[INET_ADDRSTRLEN];
		struct in_addr a = { .s_addr = net->vteps[i] };

		inet_ntop(AF_INET, &a, s, sizeof(s));
		pb->remote_vteps[i] = nv_arena_strdup(ar, s);
	}
	return pb;
}

int
agent_need_net(struct dpu_agent *a, const char *field, struct dpu_status *st)
{
	if (a->net != NULL)
		return 0;
	return dpu_fail(st, CODE(FAILED_PRECONDITION), field,
			"this agent runs without a dataplane (%s), so it cannot serve networks "
			"or NICs; start nicvisor-dpu with --dataplane on",
			a->conf.net_off_reason ? a->conf.net_off_reason : "networking is off");
}

int
net_program(struct dpu_agent *a, struct dpu_network *net, struct dpu_status *st)
{
	char err[DPU_NET_ERR_MAX] = "";
	int rc;

	if (net->programmed)
		return 0;
	if (agent_need_net(a, "", st) < 0)
		return -EINVAL;
	if (net->vni != 0)
		rc = a->net->ops->network_add_vxlan(a->net, net->name, net->vni, net->vteps,
						    (unsigned int)net->nvteps, err, sizeof(err));
	else
		rc = a->net->ops->network_add(a->net, net->name, (uint16_t)net->vlan, err,
					      sizeof(err));
	if (rc < 0 && rc != -EEXIST) {
		a->stats.net_errors++;
		nv_err("dataplane refused network %s (vlan %u, vni %u): %s", net->name, net->vlan,
		       net->vni, err);
		return dpu_fail(st, CODE(INTERNAL), "", "the dataplane refused network %s: %s",
				net->name, err[0] ? err : strerror(-rc));
	}
	net->programmed = true;
	return 0;
}

size_t
net_nic_users(struct dpu_agent *a, const char *name, const struct dpu_vm **vm, size_t *index)
{
	size_t n = 0;

	for (size_t i = 0; i < a->nvms; i++) {
		const Nicvisor__V1__VmSpec *spec = a->vms[i]->spec;

		for (size_t j = 0; j < spec->n_nics; j++) {
			if (strcmp(spec->nics[j]->network, name) != 0)
				continue;
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

/* MACs */

struct dpu_vm *
mac_owner(struct dpu_agent *a, const char *mac, const struct dpu_vm *except)
{
	for (size_t i = 0; i < a->nvms; i++) {
		const Nicvisor__V1__VmSpec *spec = a->vms[i]->spec;

		if (a->vms[i] == except)
			continue;
		for (size_t j = 0; j < spec->n_nics; j++)
			if (strcmp(spec->nics[j]->mac, mac) == 0)
				return a->vms[i];
	}
	return NULL;
}

static bool
in_list(const char *mac, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (list[i] != NULL && strcmp(list[i], mac) == 0)
			return true;
	return false;
}

/* A random locally administered unicast MAC no NIC has. */
static int
mac_assign(struct dpu_agent *a, const char *const *taken, size_t ntaken, char *out)
{
	for (int t = 0; t < MAC_ASSIGN_TRIES; t++) {
		uint8_t mac[6];

		a->conf.random(mac, sizeof(mac));
		/* IEEE 802-2014, 8.2: U/L bit set (locally administered),
		 * I/G bit clear (individual). */
		mac[0] = (uint8_t)((mac[0] & 0xfc) | 0x02);
		dpu_mac_format(mac, out);
		if (mac_owner(a, out, NULL) == NULL && !in_list(out, taken, ntaken))
			return 0;
	}
	return -EAGAIN;
}

static const char *
nic_field(char *buf, size_t size, const char *prefix, bool indexed, size_t i, const char *name)
{
	if (indexed)
		snprintf(buf, size, "%s[%zu].%s", prefix, i, name);
	else
		snprintf(buf, size, "%s.%s", prefix, name);
	return buf;
}

int
nics_resolve(struct dpu_agent *a, Nicvisor__V1__NicSpec *const *nics, size_t n, const char *prefix,
	     bool indexed, Nicvisor__V1__NicSpec *out, struct nv_arena *ar, struct dpu_status *st)
{
	const char *mine[DPU_MAX_NICS];
	size_t nmine = 0;
	char f[96];

	if (n > DPU_MAX_NICS)
		return dpu_fail(st, CODE(INVALID_ARGUMENT), prefix, "at most %d NICs",
				DPU_MAX_NICS);
	if (n > 0 && agent_need_net(a, prefix, st) < 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		const struct dpu_network *net = net_find(a, nics[i]->network);
		char *mac = nv_arena_alloc(ar, DPU_MAC_STR_LEN + 1);
		struct dpu_vm *owner;
		uint8_t b[6];

		if (nics[i]->n_mirrors > 0)
			return dpu_fail(st, CODE(INVALID_ARGUMENT),
					nic_field(f, sizeof(f), prefix, indexed, i, "mirrors"),
					"mirror sessions are made by CreateMirror, once the NIC "
					"exists");
		if (net == NULL)
			return dpu_fail(st, CODE(NOT_FOUND),
					nic_field(f, sizeof(f), prefix, indexed, i, "network"),
					"network %s: not found; create it first", nics[i]->network);
		if (nics[i]->mac == NULL || nics[i]->mac[0] == 0) {
			if (mac_assign(a, mine, nmine, mac) < 0)
				return dpu_fail(st, CODE(INTERNAL), "",
						"could not find a free MAC address");
		} else {
			if (dpu_mac_parse(nics[i]->mac, b) < 0)
				return dpu_fail(st, CODE(INVALID_ARGUMENT),
						nic_field(f, sizeof(f), prefix, indexed, i, "mac"),
						"MAC '%.40s' is malformed", nics[i]->mac);
			dpu_mac_format(b, mac);
			owner = mac_owner(a, mac, NULL);
			if (owner != NULL)
				return dpu_fail(st, CODE(ALREADY_EXISTS),
						nic_field(f, sizeof(f), prefix, indexed, i, "mac"),
						"MAC %s belongs to a NIC of vm %s; give another or "
						"leave it empty to have one assigned",
						mac, owner->spec->name);
			if (in_list(mac, mine, nmine))
				return dpu_fail(st, CODE(INVALID_ARGUMENT),
						nic_field(f, sizeof(f), prefix, indexed, i, "mac"),
						"MAC %s is given to another NIC of this VM", mac);
		}
		nicvisor__v1__nic_spec__init(&out[i]);
		out[i].network = nv_arena_strdup(ar, net->name);
		out[i].mac = mac;
		out[i].from_vm_bits_per_second = nics[i]->from_vm_bits_per_second;
		out[i].from_vm_burst_bytes = nics[i]->from_vm_burst_bytes;
		out[i].to_vm_bits_per_second = nics[i]->to_vm_bits_per_second;
		out[i].to_vm_burst_bytes = nics[i]->to_vm_burst_bytes;
		out[i].security = nics[i]->security; /* deep-copied with the spec */
		mine[nmine++] = mac;
	}
	return 0;
}

Nicvisor__V1__VmSpec *
spec_with_nics(const Nicvisor__V1__VmSpec *spec, Nicvisor__V1__NicSpec *const *nics, size_t n)
{
	Nicvisor__V1__VmSpec copy = *spec;

	/* A shallow copy pointing at the new NICs; packing and unpacking it
	 * gives an owned deep copy. */
	copy.nics = (Nicvisor__V1__NicSpec **)nics;
	copy.n_nics = n;
	return dpu_pb_dup(&copy.base);
}

/* Ports */

uint32_t
vm_nic_queue_pairs(const Nicvisor__V1__VmSpec *spec)
{
	return spec->vcpus < DPU_NIC_MAX_QUEUE_PAIRS ? spec->vcpus : DPU_NIC_MAX_QUEUE_PAIRS;
}

static void
port_name(const char *vm_id, const uint8_t mac[6], char *out, size_t size)
{
	snprintf(out, size, "%s-%02x%02x%02x%02x%02x%02x", vm_id, mac[0], mac[1], mac[2], mac[3],
		 mac[4], mac[5]);
}

void
nic_qos(const Nicvisor__V1__NicSpec *nic, struct dp_qos *q)
{
	memset(q, 0, sizeof(*q));
	q->rx.bits_per_second = nic->from_vm_bits_per_second;
	q->rx.burst_bytes = nic->from_vm_burst_bytes;
	q->tx.bits_per_second = nic->to_vm_bits_per_second;
	q->tx.burst_bytes = nic->to_vm_burst_bytes;
}

int
nic_security_apply(struct dpu_agent *a, const char *port, const Nicvisor__V1__SecurityPolicy *pb,
		   char *err, size_t errlen)
{
	struct dp_sg_rule *rules;
	struct dp_sg_policy pol;
	struct dpu_status st;
	int rc;

	if (pb == NULL)
		return a->net->ops->port_security(a->net, port, NULL, err, errlen);
	rules = calloc(2 * DP_SG_MAX_RULES, sizeof(*rules));
	if (rules == NULL)
		return -ENOMEM;
	memset(&st, 0, sizeof(st));
	/* Validated when it was accepted: a failure here is a bug. */
	rc = dpu_security_from_pb(pb, "security", rules, rules + DP_SG_MAX_RULES, &pol, &st);
	if (rc < 0)
		snprintf(err, errlen, "%s: %s", st.field, st.message);
	else
		rc = a->net->ops->port_security(a->net, port, &pol, err, errlen);
	free(rules);
	return rc;
}

int
vm_nic_attach(struct dpu_agent *a, struct dpu_vm *vm, size_t i, struct dpu_status *st)
{
	const Nicvisor__V1__NicSpec *nic = vm->spec->nics[i];
	struct dpu_nic_port *p = &vm->ports[i];
	char err[DPU_NET_ERR_MAX] = "", name[DPU_PORT_NAME_MAX];
	struct dpu_network *net;
	struct dp_qos qos;
	uint8_t mac[6];
	int rc;

	if (p->name[0] != 0)
		return 0;
	if (agent_need_net(a, "", st) < 0)
		return -EINVAL;
	net = net_find_name(a, nic->network);
	if (net == NULL || dpu_mac_parse(nic->mac, mac) < 0)
		return dpu_fail(st, CODE(INTERNAL), "", "vm %s NIC %zu names network %s, unknown",
				vm->spec->name, i, nic->network);
	if (net_program(a, net, st) < 0)
		return -EINVAL;
	port_name(vm->id, mac, name, sizeof(name));
	rc = a->net->ops->vhost_port_add(a->net, name, net->name, mac, vm_nic_queue_pairs(vm->spec),
					 p->socket, sizeof(p->socket), err, sizeof(err));
	if (rc == -EEXIST) {
		/* Left from before (a failed removal): take it again. */
		a->net->ops->port_del(a->net, name, err, sizeof(err));
		rc = a->net->ops->vhost_port_add(a->net, name, net->name, mac,
						 vm_nic_queue_pairs(vm->spec), p->socket,
						 sizeof(p->socket), err, sizeof(err));
	}
	if (rc < 0) {
		a->stats.net_errors++;
		p->socket[0] = 0;
		nv_err("vm %s (%s) NIC %zu: dataplane refused port %s: %s", vm->spec->name, vm->id,
		       i, name, err);
		return dpu_fail(st, CODE(INTERNAL), "",
				"the dataplane refused the port of NIC %zu of vm %s: %s", i,
				vm->spec->name, err[0] ? err : strerror(-rc));
	}
	nic_qos(nic, &qos);
	if (qos.rx.bits_per_second != 0 || qos.tx.bits_per_second != 0) {
		rc = a->net->ops->port_qos(a->net, name, &qos, err, sizeof(err));
		if (rc < 0) {
			char ignored[DPU_NET_ERR_MAX];

			a->stats.net_errors++;
			a->net->ops->port_del(a->net, name, ignored, sizeof(ignored));
			p->socket[0] = 0;
			nv_err("vm %s (%s) NIC %zu: dataplane refused its rate limits: %s",
			       vm->spec->name, vm->id, i, err);
			return dpu_fail(
				st, CODE(INTERNAL), "",
				"the dataplane refused the rate limits of NIC %zu of vm %s: %s", i,
				vm->spec->name, err[0] ? err : strerror(-rc));
		}
	}
	if (nic->security != NULL) {
		rc = nic_security_apply(a, name, nic->security, err, sizeof(err));
		if (rc < 0) {
			char ignored[DPU_NET_ERR_MAX];

			a->stats.net_errors++;
			a->net->ops->port_del(a->net, name, ignored, sizeof(ignored));
			p->socket[0] = 0;
			nv_err("vm %s (%s) NIC %zu: dataplane refused its security group: %s",
			       vm->spec->name, vm->id, i, err);
			return dpu_fail(
				st, CODE(INTERNAL), "",
				"the dataplane refused the security group of NIC %zu of vm %s: %s",
				i, vm->spec->name, err[0] ? err : strerror(-rc));
		}
	}
	snprintf(p->name, sizeof(p->name), "%s", name);
	/* Sessions from or to this NIC can run now. */
	if (a->mirror_sync_held == 0)
		agent_mirrors_sync(a);
	return 0;
}

int
vm_nics_attach(struct dpu_agent *a, struct dpu_vm *vm, struct dpu_status *st)
{
	int rc = 0;

	a->mirror_sync_held++;
	for (size_t i = 0; i < vm->spec->n_nics && rc == 0; i++)
		if (vm_nic_attach(a, vm, i, st) < 0)
			rc = -EINVAL;
	if (--a->mirror_sync_held == 0)
		agent_mirrors_sync(a);
	return rc;
}

void
vm_nic_detach(struct dpu_agent *a, struct dpu_vm *vm, size_t i)
{
	struct dpu_nic_port *p = &vm->ports[i];
	char err[DPU_NET_ERR_MAX] = "";
	int rc;

	if (p->name[0] == 0 || a->net == NULL)
		return;
	rc = a->net->ops->port_del(a->net, p->name, err, sizeof(err));
	if (rc < 0 && rc != -ENOENT) {
		a->stats.net_errors++;
		nv_err("vm %s (%s): dataplane could not remove port %s: %s", vm->spec->name, vm->id,
		       p->name, err);
	}
	memset(p, 0, sizeof(*p));
}

void
vm_nics_detach(struct dpu_agent *a, struct dpu_vm *vm)
{
	for (size_t i = 0; i < vm->spec->n_nics && i < DPU_MAX_NICS; i++)
		vm_nic_detach(a, vm, i);
}

void
agent_net_restore(struct dpu_agent *a)
{
	struct dpu_status st;
	size_t ports = 0, failed = 0;

	if (a->net == NULL) {
		size_t nics = 0;

		for (size_t i = 0; i < a->nvms; i++)
			nics += a->vms[i]->spec->n_nics;
		if (a->nnets > 0 || nics > 0)
			nv_warn("%zu networks and %zu NICs are saved, but this agent runs without "
				"a dataplane (%s): VMs with NICs cannot start",
				a->nnets, nics,
				a->conf.net_off_reason ? a->conf.net_off_reason : "networking off");
		return;
	}
	for (size_t i = 0; i < a->nnets; i++)
		if (net_program(a, a->nets[i], &st) < 0)
			failed++;
	a->mirror_sync_held++;
	for (size_t i = 0; i < a->nvms; i++) {
		for (size_t j = 0; j < a->vms[i]->spec->n_nics; j++) {
			if (vm_nic_attach(a, a->vms[i], j, &st) < 0)
				failed++;
			else
				ports++;
		}
	}
	if (--a->mirror_sync_held == 0)
		agent_mirrors_sync(a);
	if (a->nnets > 0 || ports > 0 || failed > 0)
		nv_info("dataplane %s: %zu networks and %zu NIC ports restored, %zu failed",
			a->net->ops->name, a->nnets, ports, failed);
}
