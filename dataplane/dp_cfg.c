/* SPDX-License-Identifier: MIT */
/*
 * The forwarding snapshot (struct dp_cfg): building a new one from the
 * old, and the questions workers ask of it. Pure functions, no EAL.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dp_priv.h"

struct dp_cfg *
dp_cfg_clone(const struct dp_cfg *old)
{
	struct dp_cfg *c = malloc(sizeof(*c));
	unsigned int i;

	if (c == NULL)
		return NULL;
	if (old != NULL) {
		memcpy(c, old, sizeof(*c));
		return c;
	}
	memset(c, 0, sizeof(*c));
	for (i = 0; i < DP_VLAN_COUNT; i++)
		c->vlan_net[i] = DP_NET_NONE;
	return c;
}

void
dp_cfg_free(struct dp_cfg *c)
{
	free(c);
}

int
dp_cfg_net_set(struct dp_cfg *c, uint16_t net, uint16_t vlan)
{
	if (net >= DP_MAX_NETS || vlan >= DP_VLAN_COUNT - 1)
		return -EINVAL;
	if (c->vlan_net[vlan] != DP_NET_NONE && c->vlan_net[vlan] != net)
		return -EEXIST;
	if (c->nets[net].vni != 0)
		return -EINVAL; /* an overlay network stays one */
	if (c->nets[net].used && c->vlan_net[c->nets[net].vlan] == net)
		c->vlan_net[c->nets[net].vlan] = DP_NET_NONE;
	c->nets[net].used = true;
	c->nets[net].vlan = vlan;
	c->vlan_net[vlan] = net;
	return 0;
}

/* The VNI map from the networks (few, changed by the control thread). */
static void
vni_map_build(struct dp_cfg *c)
{
	unsigned int n, i, s;

	memset(c->vni_net, 0, sizeof(c->vni_net));
	for (n = 0; n < DP_MAX_NETS; n++) {
		uint32_t vni = c->nets[n].vni;

		if (!c->nets[n].used || vni == 0)
			continue;
		for (i = 0, s = dp_vni_slot(vni); i < DP_VNI_SLOTS && c->vni_net[s].vni != 0;
		     i++, s = (s + 1) & (DP_VNI_SLOTS - 1))
			;
		c->vni_net[s].vni = vni;
		c->vni_net[s].net = (uint16_t)n;
	}
}

void
dp_cfg_net_clear(struct dp_cfg *c, uint16_t net)
{
	bool vni;

	if (net >= DP_MAX_NETS || !c->nets[net].used)
		return;
	/* An overlay network holds no VLAN. */
	if (c->vlan_net[c->nets[net].vlan] == net)
		c->vlan_net[c->nets[net].vlan] = DP_NET_NONE;
	vni = c->nets[net].vni != 0;
	memset(&c->nets[net], 0, sizeof(c->nets[net]));
	if (vni)
		vni_map_build(c);
}

int
dp_cfg_net_set_vni(struct dp_cfg *c, uint16_t net, uint32_t vni, const uint32_t *vteps,
		   unsigned int nvteps)
{
	uint16_t other;

	if (net >= DP_MAX_NETS || vni == 0 || vni > VX_VNI_MAX || nvteps > DP_NET_MAX_VTEPS ||
	    (nvteps > 0 && vteps == NULL))
		return -EINVAL;
	other = dp_cfg_vni_net(c, vni);
	if (other != DP_NET_NONE && other != net)
		return -EEXIST;
	if (c->nets[net].used && c->vlan_net[c->nets[net].vlan] == net)
		c->vlan_net[c->nets[net].vlan] = DP_NET_NONE;
	c->nets[net].used = true;
	c->nets[net].vlan = 0;
	c->nets[net].vni = vni;
	c->nets[net].n_vteps = (uint16_t)nvteps;
	memset(c->nets[net].vteps, 0, sizeof(c->nets[net].vteps));
	if (nvteps > 0)
		memcpy(c->nets[net].vteps, vteps, nvteps * sizeof(*vteps));
	vni_map_build(c);
	return 0;
}

/* The worker with the fewest polls gets the next queue. */
static unsigned int
least_loaded(const struct dp_cfg *c, unsigned int workers)
{
	unsigned int w, best = 0;

	for (w = 1; w < workers; w++)
		if (c->workers[w].n < c->workers[best].n)
			best = w;
	return best;
}

int
dp_cfg_port_set(struct dp_cfg *c, struct dp_port *p, unsigned int workers)
{
	unsigned int q;

	if (p->id >= DP_MAX_PORTS || c->ports[p->id] != NULL)
		return -EINVAL;
	if (workers == 0 || workers > DP_MAX_WORKERS)
		return -EINVAL;
	if (p->is_uplink) {
		if (c->n_uplinks >= DP_MAX_UPLINKS)
			return -ENOSPC;
	} else if (p->net >= DP_MAX_NETS || !c->nets[p->net].used) {
		return -ENOENT;
	}
	for (q = 0; q < p->n_rxq; q++) {
		unsigned int w = least_loaded(c, workers);

		if (c->workers[w].n >= DP_MAX_POLLS)
			return -ENOSPC;
	}
	for (q = 0; q < p->n_rxq; q++) {
		unsigned int w = least_loaded(c, workers);

		c->workers[w].polls[c->workers[w].n].port = p->id;
		c->workers[w].polls[c->workers[w].n].q = (uint16_t)q;
		c->workers[w].n++;
	}
	if (p->is_uplink)
		c->uplinks[c->n_uplinks++] = p->id;
	else
		c->nets[p->net].members[p->id / 64] |= 1ull << (p->id % 64);
	c->ports[p->id] = p;
	return 0;
}

void
dp_cfg_port_clear(struct dp_cfg *c, uint16_t port)
{
	unsigned int w, i, j;

	if (port >= DP_MAX_PORTS || c->ports[port] == NULL)
		return;
	for (w = 0; w < DP_MAX_WORKERS; w++) {
		for (i = 0, j = 0; i < c->workers[w].n; i++)
			if (c->workers[w].polls[i].port != port)
				c->workers[w].polls[j++] = c->workers[w].polls[i];
		c->workers[w].n = (uint16_t)j;
	}
	for (i = 0, j = 0; i < c->n_uplinks; i++)
		if (c->uplinks[i] != port)
			c->uplinks[j++] = c->uplinks[i];
	c->n_uplinks = (uint16_t)j;
	for (i = 0; i < DP_MAX_NETS; i++)
		c->nets[i].members[port / 64] &= ~(1ull << (port % 64));
	c->ports[port] = NULL;
}

unsigned int
dp_cfg_flood_targets(const struct dp_cfg *c, uint16_t net, uint16_t in_port, uint16_t *out,
		     unsigned int max)
{
	const struct dp_port *in = in_port < DP_MAX_PORTS ? c->ports[in_port] : NULL;
	unsigned int n = 0, i;

	if (net >= DP_MAX_NETS || !c->nets[net].used)
		return 0;
	for (i = 0; i < DP_PORT_WORDS; i++) {
		uint64_t m = c->nets[net].members[i];

		if (in_port / 64 == i)
			m &= ~(1ull << (in_port % 64));
		while (m != 0 && n < max) {
			out[n++] = (uint16_t)(i * 64 + (unsigned int)__builtin_ctzll(m));
			m &= m - 1;
		}
	}
	/* Uplinks never forward to each other: each is an edge of the
	 * physical network, which does its own switching. */
	if (in != NULL && in->is_uplink)
		return n;
	for (i = 0; i < c->n_uplinks && n < max; i++)
		out[n++] = c->uplinks[i];
	return n;
}
