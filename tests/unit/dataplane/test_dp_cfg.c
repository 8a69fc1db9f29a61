/* SPDX-License-Identifier: MIT */
/* Unit tests: the forwarding snapshot (dp_cfg.c): VLAN mapping, flooding
 * sets (VM, access and uplink ports), queue assignment. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dp_priv.h"

static struct dp_port ports[DP_MAX_PORTS];

static struct dp_port *
vm(uint16_t id, uint16_t net, uint16_t nrxq)
{
	memset(&ports[id], 0, sizeof(ports[id]));
	ports[id].id = id;
	ports[id].net = net;
	ports[id].n_rxq = nrxq;
	return &ports[id];
}

static struct dp_port *
uplink(uint16_t id)
{
	struct dp_port *p = vm(id, DP_NET_NONE, 1);

	p->is_uplink = true;
	return p;
}

static struct dp_port *
access_port(uint16_t id, uint16_t net)
{
	struct dp_port *p = vm(id, net, 1);

	p->is_access = true;
	return p;
}

static int
has(const uint16_t *v, unsigned int n, uint16_t x)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (v[i] == x)
			return 1;
	return 0;
}

static void
test_vlan_mapping(void **state)
{
	struct dp_cfg *c = dp_cfg_clone(NULL), *d;

	(void)state;
	assert_non_null(c);
	assert_int_equal(c->vlan_net[0], DP_NET_NONE);
	assert_int_equal(dp_cfg_net_set(c, 0, 0), 0);
	assert_int_equal(dp_cfg_net_set(c, 1, 100), 0);
	assert_int_equal(c->vlan_net[0], 0);
	assert_int_equal(c->vlan_net[100], 1);
	assert_int_equal(c->vlan_net[200], DP_NET_NONE);
	/* One network per VLAN; 4095 is reserved. */
	assert_int_equal(dp_cfg_net_set(c, 2, 100), -EEXIST);
	assert_int_equal(dp_cfg_net_set(c, 2, 4095), -EINVAL);
	assert_int_equal(dp_cfg_net_set(c, DP_MAX_NETS, 5), -EINVAL);
	/* A clone is independent of its original. */
	d = dp_cfg_clone(c);
	dp_cfg_net_clear(d, 1);
	assert_int_equal(d->vlan_net[100], DP_NET_NONE);
	assert_false(d->nets[1].used);
	assert_int_equal(c->vlan_net[100], 1);
	/* Changing a network's VLAN frees the old one. */
	assert_int_equal(dp_cfg_net_set(c, 1, 300), 0);
	assert_int_equal(c->vlan_net[100], DP_NET_NONE);
	assert_int_equal(c->vlan_net[300], 1);
	dp_cfg_free(d);
	dp_cfg_free(c);
}

static void
test_flood_sets(void **state)
{
	struct dp_cfg *c = dp_cfg_clone(NULL);
	uint16_t out[DP_MAX_PORTS + DP_MAX_UPLINKS];
	unsigned int n;

	(void)state;
	assert_int_equal(dp_cfg_net_set(c, 0, 0), 0);
	assert_int_equal(dp_cfg_net_set(c, 1, 10), 0);
	assert_int_equal(dp_cfg_port_set(c, vm(0, 0, 1), 1), 0);
	assert_int_equal(dp_cfg_port_set(c, vm(1, 0, 1), 1), 0);
	assert_int_equal(dp_cfg_port_set(c, vm(65, 0, 1), 1), 0); /* second bitmap word */
	assert_int_equal(dp_cfg_port_set(c, vm(2, 1, 1), 1), 0);
	assert_int_equal(dp_cfg_port_set(c, uplink(3), 1), 0);
	assert_int_equal(dp_cfg_port_set(c, uplink(200), 1), 0);
	/* A VM port on a network that does not exist. */
	assert_int_equal(dp_cfg_port_set(c, vm(4, 7, 1), 1), -ENOENT);

	/* From a VM: the other VMs of its network and every uplink. */
	n = dp_cfg_flood_targets(c, 0, 0, out, RTE_DIM(out));
	assert_int_equal(n, 4);
	assert_true(has(out, n, 1) && has(out, n, 65) && has(out, n, 3) && has(out, n, 200));
	assert_false(has(out, n, 0) || has(out, n, 2));
	n = dp_cfg_flood_targets(c, 1, 2, out, RTE_DIM(out));
	assert_int_equal(n, 2);
	assert_true(has(out, n, 3) && has(out, n, 200));
	/* From an uplink: the network's VMs only, never another uplink. */
	n = dp_cfg_flood_targets(c, 0, 3, out, RTE_DIM(out));
	assert_int_equal(n, 3);
	assert_true(has(out, n, 0) && has(out, n, 1) && has(out, n, 65));
	/* A removed port leaves every set. */
	dp_cfg_port_clear(c, 65);
	dp_cfg_port_clear(c, 200);
	n = dp_cfg_flood_targets(c, 0, 0, out, RTE_DIM(out));
	assert_int_equal(n, 2);
	assert_true(has(out, n, 1) && has(out, n, 3));
	/* A network that does not exist floods nowhere. */
	assert_int_equal(dp_cfg_flood_targets(c, 9, 0, out, RTE_DIM(out)), 0);
	dp_cfg_free(c);
}

/* Access ports are members of their network like VM ports: they flood to
 * VMs, each other and the uplinks, and get the uplinks' floods. */
static void
test_flood_access_ports(void **state)
{
	struct dp_cfg *c = dp_cfg_clone(NULL);
	uint16_t out[DP_MAX_PORTS + DP_MAX_UPLINKS];
	unsigned int n;

	(void)state;
	assert_int_equal(dp_cfg_net_set(c, 0, 0), 0);
	assert_int_equal(dp_cfg_net_set(c, 1, 20), 0);
	assert_int_equal(dp_cfg_port_set(c, access_port(10, 0), 1), 0);
	assert_int_equal(dp_cfg_port_set(c, access_port(11, 0), 1), 0);
	assert_int_equal(dp_cfg_port_set(c, access_port(12, 1), 1), 0);
	assert_int_equal(dp_cfg_port_set(c, vm(13, 0, 1), 1), 0);
	assert_int_equal(dp_cfg_port_set(c, uplink(14), 1), 0);
	assert_int_equal(dp_cfg_port_set(c, access_port(15, 9), 1), -ENOENT);
	assert_false(dp_port_is_vm(&ports[10]) || dp_port_is_vm(&ports[14]));
	assert_true(dp_port_is_vm(&ports[13]));

	n = dp_cfg_flood_targets(c, 0, 10, out, RTE_DIM(out));
	assert_int_equal(n, 3);
	assert_true(has(out, n, 11) && has(out, n, 13) && has(out, n, 14));
	n = dp_cfg_flood_targets(c, 0, 14, out, RTE_DIM(out));
	assert_int_equal(n, 3);
	assert_true(has(out, n, 10) && has(out, n, 11) && has(out, n, 13));
	n = dp_cfg_flood_targets(c, 1, 14, out, RTE_DIM(out));
	assert_int_equal(n, 1);
	assert_true(has(out, n, 12));
	dp_cfg_free(c);
}

static void
test_queue_assignment(void **state)
{
	struct dp_cfg *c = dp_cfg_clone(NULL);
	unsigned int w, i, total = 0;

	(void)state;
	assert_int_equal(dp_cfg_net_set(c, 0, 0), 0);
	assert_int_equal(dp_cfg_port_set(c, vm(5, 0, 3), 2), 0);
	assert_int_equal(dp_cfg_port_set(c, uplink(6), 2), 0);
	/* Four queues over two workers: two each. */
	assert_int_equal(c->workers[0].n, 2);
	assert_int_equal(c->workers[1].n, 2);
	for (w = 0; w < 2; w++)
		for (i = 0; i < c->workers[w].n; i++)
			total += c->workers[w].polls[i].port == 5;
	assert_int_equal(total, 3);
	assert_int_equal(dp_cfg_port_set(c, vm(5, 0, 1), 2), -EINVAL); /* id taken */
	dp_cfg_port_clear(c, 5);
	assert_int_equal(c->workers[0].n + c->workers[1].n, 1);
	assert_null(c->ports[5]);
	dp_cfg_free(c);
}

static void
test_vni_mapping(void **state)
{
	struct dp_cfg *c = dp_cfg_clone(NULL);
	uint32_t vteps[DP_NET_MAX_VTEPS + 1] = { 0x0100000a, 0x0200000a };
	unsigned int i;

	(void)state;
	assert_int_equal(dp_cfg_net_set(c, 0, 0), 0); /* untagged VLAN network */
	assert_int_equal(dp_cfg_net_set_vni(c, 1, 5001, vteps, 2), 0);
	assert_int_equal(dp_cfg_vni_net(c, 5001), 1);
	assert_int_equal(dp_cfg_vni_net(c, 5002), DP_NET_NONE);
	assert_int_equal(dp_cfg_vni_net(c, 0), DP_NET_NONE);
	assert_int_equal(c->nets[1].n_vteps, 2);
	assert_int_equal(c->nets[1].vteps[1], 0x0200000a);
	/* An overlay network holds no VLAN: untagged stays network 0's. */
	assert_int_equal(c->vlan_net[0], 0);
	assert_int_equal(c->nets[1].vlan, 0);
	/* One network per VNI; 24 bits; at most DP_NET_MAX_VTEPS. */
	assert_int_equal(dp_cfg_net_set_vni(c, 2, 5001, NULL, 0), -EEXIST);
	assert_int_equal(dp_cfg_net_set_vni(c, 2, VX_VNI_MAX + 1, NULL, 0), -EINVAL);
	assert_int_equal(dp_cfg_net_set_vni(c, 2, 7, vteps, DP_NET_MAX_VTEPS + 1), -EINVAL);
	/* An overlay network does not become a VLAN one. */
	assert_int_equal(dp_cfg_net_set(c, 1, 100), -EINVAL);
	/* Replacing the flood list keeps the VNI. */
	assert_int_equal(dp_cfg_net_set_vni(c, 1, 5001, vteps, 1), 0);
	assert_int_equal(c->nets[1].n_vteps, 1);
	assert_int_equal(dp_cfg_vni_net(c, 5001), 1);
	/* Clearing it frees the VNI and leaves the untagged network alone. */
	dp_cfg_net_clear(c, 1);
	assert_int_equal(dp_cfg_vni_net(c, 5001), DP_NET_NONE);
	assert_int_equal(c->vlan_net[0], 0);
	/* Many VNIs (colliding slots among them) all map back. */
	for (i = 1; i < DP_MAX_NETS; i++)
		assert_int_equal(dp_cfg_net_set_vni(c, (uint16_t)i, i * DP_VNI_SLOTS, NULL, 0), 0);
	for (i = 1; i < DP_MAX_NETS; i++)
		assert_int_equal(dp_cfg_vni_net(c, i * DP_VNI_SLOTS), i);
	dp_cfg_net_clear(c, 3);
	for (i = 1; i < DP_MAX_NETS; i++)
		assert_int_equal(dp_cfg_vni_net(c, i * DP_VNI_SLOTS), i == 3 ? DP_NET_NONE : i);
	dp_cfg_free(c);
}

/* Mirror sessions by source port and direction; a port's removal from
 * the snapshot drops its sets. */
static void
test_mirror_sets(void **state)
{
	struct dp_cfg *c = dp_cfg_clone(NULL);
	struct dp_mirror a = { .name = "a" }, b = { .name = "b" }, x[DP_MIRRORS_PER_PORT];

	(void)state;
	assert_non_null(c);
	assert_int_equal(dp_cfg_mirror_add(c, &a, 3, DP_MIRROR_RX), 0);
	assert_int_equal(dp_cfg_mirror_add(c, &b, 3, DP_MIRROR_RX | DP_MIRROR_TX), 0);
	assert_int_equal(c->mirrors[3][DP_QOS_RX].n, 2);
	assert_int_equal(c->mirrors[3][DP_QOS_TX].n, 1);
	assert_ptr_equal(c->mirrors[3][DP_QOS_TX].s[0], &b);
	dp_cfg_mirror_del(c, &a);
	assert_int_equal(c->mirrors[3][DP_QOS_RX].n, 1);
	assert_ptr_equal(c->mirrors[3][DP_QOS_RX].s[0], &b);
	assert_null(c->mirrors[3][DP_QOS_RX].s[1]);
	/* A full set refuses a session in either direction, changing nothing. */
	for (unsigned int i = 0; i < DP_MIRRORS_PER_PORT - 1; i++)
		assert_int_equal(dp_cfg_mirror_add(c, &x[i], 3, DP_MIRROR_RX), 0);
	assert_int_equal(dp_cfg_mirror_add(c, &a, 3, DP_MIRROR_RX | DP_MIRROR_TX), -ENOSPC);
	assert_int_equal(c->mirrors[3][DP_QOS_TX].n, 1);
	assert_int_equal(dp_cfg_mirror_add(c, &a, DP_MAX_PORTS, DP_MIRROR_RX), -EINVAL);
	assert_int_equal(dp_cfg_port_set(c, vm(3, 0, 1), 1), -ENOENT); /* no network 0 */
	assert_int_equal(dp_cfg_net_set(c, 0, 0), 0);
	assert_int_equal(dp_cfg_port_set(c, vm(3, 0, 1), 1), 0);
	dp_cfg_port_clear(c, 3);
	assert_int_equal(c->mirrors[3][DP_QOS_RX].n, 0);
	assert_int_equal(c->mirrors[3][DP_QOS_TX].n, 0);
	dp_cfg_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vlan_mapping),       cmocka_unit_test(test_flood_sets),
		cmocka_unit_test(test_flood_access_ports), cmocka_unit_test(test_queue_assignment),
		cmocka_unit_test(test_vni_mapping),        cmocka_unit_test(test_mirror_sets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
