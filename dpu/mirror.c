/* SPDX-License-Identifier: MIT */
/*
 * Mirror sessions as the agent keeps them: in the spec of their source
 * NIC (NicSpec.mirrors), so they are saved with the VM and go with the
 * NIC. The destination is a NIC named by its MAC (MACs are unique among
 * NICs and a NIC keeps its MAC, while NIC indexes move) or an uplink. The
 * dataplane runs a session while both of its ports exist; it drops a
 * session itself when either port goes, and agent_mirrors_sync() puts
 * sessions back when ports come.
 */
#define NV_LOG_COMPONENT "nicvisor.dpu.net"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_priv.h"
#include "nv_log.h"

const Nicvisor__V1__MirrorSpec *
mirror_find(struct dpu_agent *a, const char *name, struct dpu_vm **vm, size_t *nic)
{
	for (size_t v = 0; v < a->nvms; v++)
		for (size_t i = 0; i < a->vms[v]->spec->n_nics; i++) {
			const Nicvisor__V1__NicSpec *n = a->vms[v]->spec->nics[i];

			for (size_t m = 0; m < n->n_mirrors; m++)
				if (strcmp(n->mirrors[m]->name, name) == 0) {
					*vm = a->vms[v];
					*nic = i;
					return n->mirrors[m];
				}
		}
	return NULL;
}

unsigned int
mirror_dir(Nicvisor__V1__MirrorDirection d)
{
	switch (d) {
	case NICVISOR__V1__MIRROR_DIRECTION__MIRROR_DIRECTION_FROM_VM:
		return DP_MIRROR_RX;
	case NICVISOR__V1__MIRROR_DIRECTION__MIRROR_DIRECTION_TO_VM:
		return DP_MIRROR_TX;
	case NICVISOR__V1__MIRROR_DIRECTION__MIRROR_DIRECTION_BOTH:
		return DP_MIRROR_RX | DP_MIRROR_TX;
	default:
		return 0;
	}
}

bool
agent_uplink_exists(struct dpu_agent *a, const char *name)
{
	struct dp_port_stats one;

	return a->net->ops->port_stats(a->net, name, &one, 1) == 1 &&
	       strcmp(one.kind, "uplink") == 0;
}

void
mirror_ports(struct dpu_agent *a, const struct dpu_vm *vm, size_t nic,
	     const Nicvisor__V1__MirrorSpec *ms, char *src, char *dst, size_t size)
{
	snprintf(src, size, "%s", vm->ports[nic].name);
	dst[0] = 0;
	if (ms->to_uplink != NULL && ms->to_uplink[0] != 0) {
		if (a->net != NULL && agent_uplink_exists(a, ms->to_uplink))
			snprintf(dst, size, "%s", ms->to_uplink);
		return;
	}
	if (ms->to_mac == NULL)
		return;
	const struct dpu_vm *owner = mac_owner(a, ms->to_mac, NULL);

	for (size_t j = 0; owner != NULL && j < owner->spec->n_nics; j++)
		if (strcmp(owner->spec->nics[j]->mac, ms->to_mac) == 0)
			snprintf(dst, size, "%s", owner->ports[j].name);
}

/* Whether the dataplane's session `have` is what the specs want. */
static bool
wanted(struct dpu_agent *a, const struct dp_mirror_stats *have)
{
	char src[DPU_PORT_NAME_MAX + 32], dst[DPU_PORT_NAME_MAX + 32];
	const Nicvisor__V1__MirrorSpec *ms;
	struct dpu_vm *vm;
	size_t nic;

	ms = mirror_find(a, have->name, &vm, &nic);
	if (ms == NULL)
		return false;
	mirror_ports(a, vm, nic, ms, src, dst, sizeof(src));
	return src[0] != 0 && dst[0] != 0 && strcmp(src, have->src) == 0 &&
	       strcmp(dst, have->dst) == 0 && mirror_dir(ms->direction) == have->dir;
}

static bool
running(const struct dp_mirror_stats *have, int nhave, const char *name)
{
	for (int k = 0; k < nhave; k++)
		if (strcmp(have[k].name, name) == 0)
			return true;
	return false;
}

void
agent_mirrors_sync(struct dpu_agent *a)
{
	char err[DPU_NET_ERR_MAX], src[DPU_PORT_NAME_MAX + 32], dst[DPU_PORT_NAME_MAX + 32];
	struct dp_mirror_stats *have;
	int nhave, k, kept = 0;

	if (a->net == NULL)
		return;
	have = calloc(DP_MAX_MIRRORS, sizeof(*have));
	if (have == NULL)
		return;
	nhave = a->net->ops->mirror_stats(a->net, NULL, have, DP_MAX_MIRRORS);
	for (k = 0; k < nhave; k++) {
		if (wanted(a, &have[k])) {
			have[kept++] = have[k];
			continue;
		}
		if (a->net->ops->mirror_del(a->net, have[k].name, err, sizeof(err)) < 0)
			a->stats.net_errors++;
	}
	nhave = kept;
	for (size_t v = 0; v < a->nvms; v++) {
		const struct dpu_vm *vm = a->vms[v];

		for (size_t i = 0; i < vm->spec->n_nics; i++) {
			const Nicvisor__V1__NicSpec *n = vm->spec->nics[i];

			for (size_t m = 0; m < n->n_mirrors; m++) {
				const Nicvisor__V1__MirrorSpec *ms = n->mirrors[m];
				int rc;

				if (running(have, nhave, ms->name))
					continue;
				mirror_ports(a, vm, i, ms, src, dst, sizeof(src));
				if (src[0] == 0 || dst[0] == 0)
					continue;
				err[0] = 0;
				rc = a->net->ops->mirror_add(a->net, ms->name, src,
							     mirror_dir(ms->direction), dst, err,
							     sizeof(err));
				if (rc < 0) {
					a->stats.net_errors++;
					nv_err("mirror %s: the dataplane refused it: %s", ms->name,
					       err[0] ? err : strerror(-rc));
				}
			}
		}
	}
	free(have);
}
