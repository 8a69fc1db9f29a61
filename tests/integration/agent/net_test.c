/* SPDX-License-Identifier: MIT */
/*
 * Networks and NICs of nicvisor-dpu as a real process (--dataplane fake),
 * through its API, nicvisorctl and a fake host: every networking call and
 * its errors, LaunchVm.nics, state across an agent restart, the dataplane
 * switched off. Usage: net_test [TEST-NAME-GLOB]
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "dp.h"
#include "fake_host.h"
#include "harness.h"
#include "nv_log.h"
#include "nv_wire.h"

#define CODE(x)      NICVISOR__V1__CODE__CODE_##x
#define STATE(x)     NICVISOR__V1__VM_STATE__VM_STATE_##x
#define OP(x)        NICVISOR__V1__REQUEST__OP_##x

#define HEARTBEAT_MS 300
#define DEAD_MS      1200

struct fx {
	struct agent_proc ap;
	char kernel[400];
	char ksha[65];
	struct fake_host *host;
};

static int
start_fx(void **state, const char *dataplane, const char *const *extra)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL || agent_setup_with(&f->ap, HEARTBEAT_MS, DEAD_MS, dataplane, extra) < 0) {
		fprintf(stderr, "cannot start nicvisor-dpu\n");
		if (f != NULL)
			agent_teardown(&f->ap);
		free(f);
		return -1;
	}
	snprintf(f->kernel, sizeof(f->kernel), "%s/bzImage", f->ap.dir);
	if (make_kernel(f->kernel, 64 << 10, 1, f->ksha) < 0)
		return -1;
	*state = f;
	return 0;
}

static int
setup(void **state)
{
	static const char *const extra[] = { "--uplink", "up0=net_null0", NULL };

	return start_fx(state, "fake", extra);
}

static int
setup_off(void **state)
{
	return start_fx(state, "off", NULL);
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	fake_host_stop(f->host);
	agent_teardown(&f->ap);
	free(f);
	return 0;
}

static void
add_host(struct fx *f, uint32_t cores)
{
	struct fake_host_conf conf = {
		.url = f->ap.south,
		.id = "h1",
		.cores = cores,
		.kvm_max_vcpus = cores,
		.memory_mib = 4096,
	};

	assert_int_equal(fake_host_start(&conf, &f->host), 0);
	assert_true(fake_host_wait_hellos(f->host, 1, 5000));
}

/* API calls; each returns the response (nv_wire_free it). */

static Nicvisor__V1__Response *
call(struct fx *f, Nicvisor__V1__Request *req)
{
	Nicvisor__V1__Response *rep = api_call(&f->ap, req);

	assert_non_null(rep);
	assert_non_null(rep->status);
	assert_int_equal(rep->version, NV_PROTOCOL_VERSION);
	/* An error comes without a result. */
	if (rep->status->code != CODE(OK))
		assert_int_equal(rep->result_case, NICVISOR__V1__RESPONSE__RESULT__NOT_SET);
	return rep;
}

static Nicvisor__V1__Response *
net_create(struct fx *f, const char *name, uint32_t vlan)
{
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__CreateNetworkRequest cn = NICVISOR__V1__CREATE_NETWORK_REQUEST__INIT;

	cn.name = (char *)name;
	cn.vlan = vlan;
	req.op_case = OP(CREATE_NETWORK);
	req.create_network = &cn;
	return call(f, &req);
}

static Nicvisor__V1__Response *
net_ref_op(struct fx *f, int op, const char *ref)
{
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__DeleteNetworkRequest d = NICVISOR__V1__DELETE_NETWORK_REQUEST__INIT;
	Nicvisor__V1__GetNetworkRequest g = NICVISOR__V1__GET_NETWORK_REQUEST__INIT;

	d.network = g.network = (char *)ref;
	req.op_case = (Nicvisor__V1__Request__OpCase)op;
	if (op == OP(DELETE_NETWORK))
		req.delete_network = &d;
	else
		req.get_network = &g;
	return call(f, &req);
}

static Nicvisor__V1__Response *
create_vm(struct fx *f, const char *name, uint32_t vcpus, bool start, const char *const *nets,
	  const char *const *macs, size_t n)
{
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__CreateVmRequest cr = NICVISOR__V1__CREATE_VM_REQUEST__INIT;
	Nicvisor__V1__VmSpec spec = NICVISOR__V1__VM_SPEC__INIT;
	Nicvisor__V1__NicSpec nics[12], *np[12];

	for (size_t i = 0; i < n; i++) {
		nicvisor__v1__nic_spec__init(&nics[i]);
		nics[i].network = (char *)nets[i];
		nics[i].mac = (char *)(macs != NULL && macs[i] != NULL ? macs[i] : "");
		np[i] = &nics[i];
	}
	spec.name = (char *)name;
	spec.vcpus = vcpus;
	spec.memory_mib = 128;
	spec.kernel = f->kernel;
	spec.nics = np;
	spec.n_nics = n;
	cr.spec = &spec;
	cr.start = start;
	req.op_case = OP(CREATE_VM);
	req.create_vm = &cr;
	return call(f, &req);
}

static Nicvisor__V1__Response *
nic_add(struct fx *f, const char *vm, const char *network, const char *mac)
{
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__AddNicRequest an = NICVISOR__V1__ADD_NIC_REQUEST__INIT;
	Nicvisor__V1__NicSpec nic = NICVISOR__V1__NIC_SPEC__INIT;

	nic.network = (char *)network;
	nic.mac = (char *)(mac ? mac : "");
	an.vm = (char *)vm;
	an.nic = &nic;
	req.op_case = OP(ADD_NIC);
	req.add_nic = &an;
	return call(f, &req);
}

static Nicvisor__V1__Response *
nic_remove(struct fx *f, const char *vm, uint32_t index)
{
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__RemoveNicRequest rn = NICVISOR__V1__REMOVE_NIC_REQUEST__INIT;

	rn.vm = (char *)vm;
	rn.index = index;
	req.op_case = OP(REMOVE_NIC);
	req.remove_nic = &rn;
	return call(f, &req);
}

static Nicvisor__V1__Response *
port_stats(struct fx *f, const char *vm)
{
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__GetPortStatsRequest ps = NICVISOR__V1__GET_PORT_STATS_REQUEST__INIT;

	ps.vm = (char *)(vm ? vm : "");
	req.op_case = OP(GET_PORT_STATS);
	req.get_port_stats = &ps;
	return call(f, &req);
}

static Nicvisor__V1__Vm *
get_vm(struct fx *f, const char *name, Nicvisor__V1__Response **rep)
{
	assert_int_equal(api_simple(&f->ap, OP(GET_VM), name, false, rep), CODE(OK));
	return (*rep)->vm;
}

/* Check and free. */
static void
expect(Nicvisor__V1__Response *rep, int code, const char *field, const char *part)
{
	if ((int)rep->status->code != code)
		fail_msg("code %d, wanted %d: %s", rep->status->code, code, rep->status->message);
	if (field != NULL)
		assert_string_equal(rep->status->field, field);
	if (part != NULL && strstr(rep->status->message, part) == NULL)
		fail_msg("message '%s' lacks '%s'", rep->status->message, part);
	nv_wire_free(&rep->base);
}

static void
expect_ok(Nicvisor__V1__Response *rep)
{
	expect(rep, CODE(OK), "", NULL);
}

/* <vhost dir>/<vm id>-<12 hex digits of the MAC>.sock */
static void
socket_of(struct fx *f, const char *vm_id, const char *mac, char *out, size_t size)
{
	snprintf(out, size, "%s/%s-%.2s%.2s%.2s%.2s%.2s%.2s.sock", f->ap.vhost, vm_id, mac, mac + 3,
		 mac + 6, mac + 9, mac + 12, mac + 15);
}

static void
test_networks(void **state)
{
	struct fx *f = *state;
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__ListNetworksRequest ln = NICVISOR__V1__LIST_NETWORKS_REQUEST__INIT;
	const char *names[] = { "e", "b", "d", "a", "c" };
	char out[8192], err[4096], token[256] = "", seen[32] = "", id[32];
	Nicvisor__V1__Response *rep;
	int pages = 0;

	for (int i = 0; i < 5; i++)
		expect_ok(net_create(f, names[i], (uint32_t)(i == 0 ? 0 : 100 + i)));
	rep = net_create(f, "blue", 4094);
	assert_int_equal(rep->status->code, CODE(OK));
	assert_string_equal(rep->network->name, "blue");
	assert_int_equal(rep->network->vlan, 4094);
	snprintf(id, sizeof(id), "%s", rep->network->id);
	nv_wire_free(&rep->base);

	/* Typed errors with the field. */
	expect(net_create(f, "blue", 0), CODE(ALREADY_EXISTS), "name", "exists");
	expect(net_create(f, "navy", 4094), CODE(ALREADY_EXISTS), "vlan", "blue");
	expect(net_create(f, "navy", 4095), CODE(INVALID_ARGUMENT), "vlan", "1..4094");
	expect(net_create(f, "", 0), CODE(INVALID_ARGUMENT), "name", "required");
	expect(net_create(f, "Navy Blue", 0), CODE(INVALID_ARGUMENT), "name", NULL);
	expect(net_create(f, "net-0123456789abcdef", 0), CODE(INVALID_ARGUMENT), "name",
	       "network id");
	expect(net_ref_op(f, OP(GET_NETWORK), "nope"), CODE(NOT_FOUND), "network", "nope");
	expect(net_ref_op(f, OP(DELETE_NETWORK), ""), CODE(INVALID_ARGUMENT), "network", NULL);
	rep = net_ref_op(f, OP(GET_NETWORK), id);
	assert_int_equal(rep->status->code, CODE(OK));
	assert_string_equal(rep->network->name, "blue");
	nv_wire_free(&rep->base);

	/* Pages of 2, ordered by name. */
	req.op_case = OP(LIST_NETWORKS);
	req.list_networks = &ln;
	ln.page_size = 2;
	do {
		ln.page_token = token;
		rep = call(f, &req);
		assert_int_equal(rep->status->code, CODE(OK));
		assert_true(rep->networks->n_networks <= 2);
		for (size_t i = 0; i < rep->networks->n_networks; i++)
			strcat(seen, rep->networks->networks[i]->name);
		snprintf(token, sizeof(token), "%s", rep->networks->next_page_token);
		nv_wire_free(&rep->base);
	} while (token[0] != 0 && ++pages < 10);
	assert_string_equal(seen, "abbluecde");
	assert_int_equal(pages, 2);
	ln.page_size = 2000;
	ln.page_token = "";
	expect(call(f, &req), CODE(INVALID_ARGUMENT), "page_size", NULL);
	ln.page_size = 0;
	ln.page_token = "hosts1.6131";
	expect(call(f, &req), CODE(INVALID_ARGUMENT), "page_token", NULL);

	/* nicvisorctl */
	assert_int_equal(run_ctl(&f->ap, out, sizeof(out), 10, "network", "create", "red", "--vlan",
				 "7", NULL),
			 0);
	assert_non_null(strstr(out, "network red"));
	assert_int_equal(run_ctl(&f->ap, out, sizeof(out), 10, "network", "list", NULL), 0);
	assert_non_null(strstr(out, "VLAN"));
	assert_non_null(strstr(out, "untagged"));
	assert_non_null(strstr(out, "red"));
	assert_int_equal(
		run_ctl(&f->ap, out, sizeof(out), 10, "--json", "network", "get", "red", NULL), 0);
	assert_non_null(strstr(out, "\"name\":\"red\",\"vlan\":7"));
	assert_int_equal(run_ctl(&f->ap, out, sizeof(out), 10, "--json", "network", "list", NULL),
			 0);
	assert_non_null(strstr(out, "{\"networks\":[{\"id\":\"net-"));
	{
		char *dup[] = { "network", "create", "red", NULL };
		char *bad[] = { "network", "create", "x", "--vlan", "abc", NULL };
		char *sub[] = { "network", "frob", NULL };

		assert_int_equal(run_ctlv(&f->ap, out, sizeof(out), err, sizeof(err), 10, dup), 1);
		assert_non_null(strstr(err, "already_exists"));
		assert_non_null(strstr(err, "field name"));
		assert_int_equal(run_ctlv(&f->ap, out, sizeof(out), err, sizeof(err), 10, bad), 2);
		assert_int_equal(run_ctlv(&f->ap, out, sizeof(out), err, sizeof(err), 10, sub), 2);
	}
	assert_int_equal(run_ctl(&f->ap, out, sizeof(out), 10, "network", "delete", "red", NULL),
			 0);
	expect(net_ref_op(f, OP(GET_NETWORK), "red"), CODE(NOT_FOUND), "network", NULL);
	/* Its VLAN is free again. */
	expect_ok(net_create(f, "red2", 7));
	assert_true(agent_alive(&f->ap));
}

static void
test_nics(void **state)
{
	struct fx *f = *state;
	const char *nets[9] = { "blue", "blue", "blue", "blue", "blue",
				"blue", "blue", "blue", "blue" };
	char out[8192], err[4096], id[32];
	Nicvisor__V1__Response *rep;
	Nicvisor__V1__Vm *vm;

	add_host(f, 2);
	expect_ok(net_create(f, "blue", 10));
	expect_ok(net_create(f, "red", 0));

	/* nicvisorctl create --nic, an assigned MAC and a given one. */
	assert_int_equal(run_ctl(&f->ap, out, sizeof(out), 10, "create", "web1", "--kernel",
				 f->kernel, "--nic", "blue", "--nic", "red,52:54:00:AA:BB:01",
				 NULL),
			 0);
	vm = get_vm(f, "web1", &rep);
	snprintf(id, sizeof(id), "%s", vm->id);
	assert_int_equal(vm->spec->n_nics, 2);
	assert_string_equal(vm->spec->nics[0]->network, "blue");
	assert_string_equal(vm->spec->nics[1]->mac, "52:54:00:aa:bb:01");
	assert_int_equal(strlen(vm->spec->nics[0]->mac), 17);
	nv_wire_free(&rep->base);
	assert_int_equal(run_ctl(&f->ap, out, sizeof(out), 10, "get", "web1", NULL), 0);
	assert_non_null(strstr(out, "nic1:       network red, mac 52:54:00:aa:bb:01"));
	assert_int_equal(run_ctl(&f->ap, out, sizeof(out), 10, "--json", "get", "web1", NULL), 0);
	assert_non_null(strstr(out, "{\"network\":\"red\",\"mac\":\"52:54:00:aa:bb:01\"}"));

	/* Refusals at create. */
	expect(create_vm(f, "x", 1, false, nets, NULL, 9), CODE(INVALID_ARGUMENT), "spec.nics",
	       "at most 8");
	{
		const char *n2[2] = { "blue", "green" };
		const char *m2[2] = { "52:54:00:aa:bb:01", NULL };

		expect(create_vm(f, "x", 1, false, n2, NULL, 2), CODE(NOT_FOUND),
		       "spec.nics[1].network", "green");
		expect(create_vm(f, "x", 1, false, n2, m2, 1), CODE(ALREADY_EXISTS),
		       "spec.nics[0].mac", "vm web1");
		m2[0] = "ff:ff:ff:ff:ff:ff";
		expect(create_vm(f, "x", 1, false, n2, m2, 1), CODE(INVALID_ARGUMENT),
		       "spec.nics[0].mac", "multicast");
		m2[0] = "52:54:00:aa:bb";
		expect(create_vm(f, "x", 1, false, n2, m2, 1), CODE(INVALID_ARGUMENT),
		       "spec.nics[0].mac", "6 octets");
		assert_int_equal(api_simple(&f->ap, OP(GET_VM), "x", false, NULL), CODE(NOT_FOUND));
	}

	/* AddNic and RemoveNic while CREATED. */
	assert_int_equal(run_ctl(&f->ap, out, sizeof(out), 10, "nic", "add", "web1", "blue",
				 "--mac", "02:00:00:00:00:07", NULL),
			 0);
	assert_non_null(strstr(out, "nic2 on network blue, mac 02:00:00:00:00:07"));
	expect(nic_add(f, "web1", "nope", NULL), CODE(NOT_FOUND), "nic.network", "nope");
	expect(nic_add(f, "web1", "blue", "02:00:00:00:00:07"), CODE(ALREADY_EXISTS), "nic.mac",
	       NULL);
	expect(nic_add(f, "web1", "blue", "0"), CODE(INVALID_ARGUMENT), "nic.mac", NULL);
	expect(nic_add(f, "web9", "blue", NULL), CODE(NOT_FOUND), "vm", "web9");
	expect(nic_remove(f, "web1", 3), CODE(NOT_FOUND), "index", "0..2");
	assert_int_equal(run_ctl(&f->ap, out, sizeof(out), 10, "nic", "remove", "web1", "0", NULL),
			 0);
	vm = get_vm(f, "web1", &rep);
	assert_int_equal(vm->spec->n_nics, 2);
	assert_string_equal(vm->spec->nics[0]->network, "red");
	assert_string_equal(vm->spec->nics[1]->mac, "02:00:00:00:00:07");
	nv_wire_free(&rep->base);

	/* Running: refused, with what to do. */
	assert_int_equal(api_simple(&f->ap, OP(START_VM), "web1", false, NULL), CODE(OK));
	assert_true(api_wait_state(&f->ap, "web1", STATE(RUNNING), 10000));
	expect(nic_add(f, "web1", "blue", NULL), CODE(FAILED_PRECONDITION), "vm", "stop it first");
	expect(nic_remove(f, id, 0), CODE(FAILED_PRECONDITION), "vm", "running");
	{
		char *args[] = { "nic", "remove", "web1", "0", NULL };
		char *bad[] = { "nic", "remove", "web1", "first", NULL };

		assert_int_equal(run_ctlv(&f->ap, out, sizeof(out), err, sizeof(err), 10, args), 1);
		assert_non_null(strstr(err, "failed_precondition"));
		assert_int_equal(run_ctlv(&f->ap, out, sizeof(out), err, sizeof(err), 10, bad), 2);
	}
	/* A network with NICs on it stays. */
	expect(net_ref_op(f, OP(DELETE_NETWORK), "red"), CODE(FAILED_PRECONDITION), "network",
	       "vm web1");

	/* Stopped: allowed again, up to 8 NICs. */
	assert_int_equal(api_simple(&f->ap, OP(STOP_VM), "web1", false, NULL), CODE(OK));
	assert_true(api_wait_state(&f->ap, "web1", STATE(STOPPED), 5000));
	for (int i = 2; i < 8; i++)
		expect_ok(nic_add(f, "web1", "blue", NULL));
	expect(nic_add(f, "web1", "blue", NULL), CODE(RESOURCE_EXHAUSTED), "vm", "8 NICs");
	/* Deleting the VM frees its networks. */
	assert_int_equal(api_simple(&f->ap, OP(DELETE_VM), "web1", false, NULL), CODE(OK));
	expect_ok(net_ref_op(f, OP(DELETE_NETWORK), "red"));
	expect_ok(net_ref_op(f, OP(DELETE_NETWORK), "blue"));
	assert_true(agent_alive(&f->ap));
}

static void
test_launch_nics(void **state)
{
	struct fx *f = *state;
	const char *nets[3] = { "blue", "red", "blue" };
	const char *macs[3] = { "52:54:00:00:00:11", NULL, NULL };
	char id[32], path[400];
	Nicvisor__V1__Response *rep;
	Nicvisor__V1__Vm *vm;
	struct fake_vm fv;

	add_host(f, 4);
	expect_ok(net_create(f, "blue", 0));
	expect_ok(net_create(f, "red", 0));
	rep = create_vm(f, "web1", 3, true, nets, macs, 3);
	assert_int_equal(rep->status->code, CODE(OK));
	snprintf(id, sizeof(id), "%s", rep->vm->id);
	nv_wire_free(&rep->base);
	assert_true(fake_host_wait_vm(f->host, id, STATE(RUNNING), 10000, &fv));
	vm = get_vm(f, "web1", &rep);
	assert_int_equal(fv.nnics, 3);
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(fv.nics[i].index, i);
		assert_string_equal(fv.nics[i].mac, vm->spec->nics[i]->mac);
		assert_string_equal(fv.nics[i].network, nets[i]);
		assert_int_equal(fv.nics[i].queue_pairs, 3); /* min(vcpus, 8) */
		socket_of(f, id, vm->spec->nics[i]->mac, path, sizeof(path));
		assert_string_equal(fv.nics[i].socket, path);
	}
	assert_string_equal(fv.nics[0].mac, "52:54:00:00:00:11");
	nv_wire_free(&rep->base);

	/* Stopped, one NIC removed, started again: the next launch has the
	 * other two at indexes 0 and 1, with the sockets they had. */
	assert_int_equal(api_simple(&f->ap, OP(STOP_VM), "web1", false, NULL), CODE(OK));
	assert_true(api_wait_state(&f->ap, "web1", STATE(STOPPED), 5000));
	{
		char keep[2][128];

		snprintf(keep[0], sizeof(keep[0]), "%s", fv.nics[0].socket);
		snprintf(keep[1], sizeof(keep[1]), "%s", fv.nics[2].socket);
		expect_ok(nic_remove(f, "web1", 1));
		assert_int_equal(api_simple(&f->ap, OP(START_VM), "web1", false, NULL), CODE(OK));
		assert_true(api_wait_state(&f->ap, "web1", STATE(RUNNING), 10000));
		assert_true(fake_host_wait_vm(f->host, id, STATE(RUNNING), 5000, &fv));
		assert_int_equal(fv.nnics, 2);
		assert_int_equal(fv.nics[1].index, 1);
		assert_string_equal(fv.nics[0].socket, keep[0]);
		assert_string_equal(fv.nics[1].socket, keep[1]);
	}
}

static void
test_port_stats(void **state)
{
	struct fx *f = *state;
	const char *nets[2] = { "blue", "red" };
	char out[8192], id[32], want[64];
	Nicvisor__V1__Response *rep;
	const Nicvisor__V1__PortStats *p;

	expect_ok(net_create(f, "blue", 0));
	expect_ok(net_create(f, "red", 0));
	rep = create_vm(f, "web1", 1, false, nets, NULL, 2);
	snprintf(id, sizeof(id), "%s", rep->vm->id);
	nv_wire_free(&rep->base);

	rep = port_stats(f, "web1");
	assert_int_equal(rep->status->code, CODE(OK));
	assert_int_equal(rep->port_stats->n_ports, 2);
	p = rep->port_stats->ports[1];
	snprintf(want, sizeof(want), "%s/nic1", id);
	assert_string_equal(p->port, want);
	assert_string_equal(p->kind, "vhost");
	assert_string_equal(p->network, "red");
	assert_false(p->link_up);
	nv_wire_free(&rep->base);
	/* Every port: the uplink of --uplink up0=... too. */
	rep = port_stats(f, NULL);
	assert_int_equal(rep->status->code, CODE(OK));
	assert_int_equal(rep->port_stats->n_ports, 3);
	assert_string_equal(rep->port_stats->ports[0]->port, "uplink:up0");
	assert_string_equal(rep->port_stats->ports[0]->kind, "uplink");
	nv_wire_free(&rep->base);
	expect(port_stats(f, "web9"), CODE(NOT_FOUND), "vm", NULL);

	assert_int_equal(run_ctl(&f->ap, out, sizeof(out), 10, "stats", NULL), 0);
	assert_non_null(strstr(out, "RX_PACKETS"));
	assert_non_null(strstr(out, "uplink:up0"));
	assert_non_null(strstr(out, want));
	assert_int_equal(run_ctl(&f->ap, out, sizeof(out), 10, "--json", "stats", "web1", NULL), 0);
	assert_non_null(strstr(out, "{\"ports\":[{\"port\":\"vm-"));
	assert_non_null(strstr(out, "\"network\":\"red\""));
	assert_null(strstr(out, "uplink"));
}

static void
test_restart_keeps_networks(void **state)
{
	struct fx *f = *state;
	const char *nets[2] = { "blue", "red" };
	char id[32], macs[2][24], blue_id[32];
	Nicvisor__V1__Response *rep;
	Nicvisor__V1__Vm *vm;
	struct fake_vm fv;

	add_host(f, 2);
	rep = net_create(f, "blue", 42);
	snprintf(blue_id, sizeof(blue_id), "%s", rep->network->id);
	nv_wire_free(&rep->base);
	expect_ok(net_create(f, "red", 0));
	rep = create_vm(f, "web1", 2, true, nets, NULL, 2);
	assert_int_equal(rep->status->code, CODE(OK));
	snprintf(id, sizeof(id), "%s", rep->vm->id);
	snprintf(macs[0], sizeof(macs[0]), "%s", rep->vm->spec->nics[0]->mac);
	snprintf(macs[1], sizeof(macs[1]), "%s", rep->vm->spec->nics[1]->mac);
	nv_wire_free(&rep->base);
	assert_true(fake_host_wait_vm(f->host, id, STATE(RUNNING), 10000, &fv));
	expect_ok(create_vm(f, "idle", 1, false, nets, NULL, 1));

	agent_kill(&f->ap, SIGKILL);
	assert_int_equal(agent_spawn(&f->ap), 0);

	/* Back from the state file before any host speaks. */
	rep = net_ref_op(f, OP(GET_NETWORK), "blue");
	assert_int_equal(rep->status->code, CODE(OK));
	assert_string_equal(rep->network->id, blue_id);
	assert_int_equal(rep->network->vlan, 42);
	nv_wire_free(&rep->base);
	vm = get_vm(f, "web1", &rep);
	assert_string_equal(vm->spec->nics[0]->mac, macs[0]);
	assert_string_equal(vm->spec->nics[1]->mac, macs[1]);
	nv_wire_free(&rep->base);
	/* The ports are there again (the fake dataplane is new). */
	rep = port_stats(f, NULL);
	assert_int_equal(rep->port_stats->n_ports, 3 + 1);
	nv_wire_free(&rep->base);
	/* A NIC name is still taken; the network is still in use. */
	expect(nic_add(f, "idle", "red", macs[1]), CODE(ALREADY_EXISTS), "nic.mac", "web1");
	expect(net_ref_op(f, OP(DELETE_NETWORK), "red"), CODE(FAILED_PRECONDITION), "network",
	       NULL);
	/* The host reattaches; the VM runs on with its NICs. */
	assert_true(fake_host_wait_hellos(f->host, 2, 10000));
	assert_true(api_wait_state(&f->ap, "web1", STATE(RUNNING), 5000));
	vm = get_vm(f, "web1", &rep);
	assert_int_equal(vm->spec->n_nics, 2);
	assert_null(strstr(vm->reason, "waiting"));
	nv_wire_free(&rep->base);
	/* And a clean shutdown exits 0. */
	assert_int_equal(agent_kill(&f->ap, SIGTERM), 0);
}

static void
test_dataplane_off(void **state)
{
	struct fx *f = *state;
	const char *nets[1] = { "blue" };
	char out[4096], err[4096];
	char *args[] = { "network", "create", "blue", NULL };

	expect(net_create(f, "blue", 0), CODE(FAILED_PRECONDITION), "", "--dataplane off");
	expect(create_vm(f, "web1", 1, false, nets, NULL, 1), CODE(FAILED_PRECONDITION),
	       "spec.nics", "without a dataplane");
	expect(port_stats(f, NULL), CODE(FAILED_PRECONDITION), "", NULL);
	assert_int_equal(run_ctlv(&f->ap, out, sizeof(out), err, sizeof(err), 10, args), 1);
	assert_non_null(strstr(err, "--dataplane on"));
	/* VMs without NICs are fine. */
	expect_ok(create_vm(f, "web1", 1, false, nets, NULL, 0));
	assert_true(agent_alive(&f->ap));
}

static void
test_bad_network_requests(void **state)
{
	struct fx *f = *state;
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__AddNicRequest an = NICVISOR__V1__ADD_NIC_REQUEST__INIT;
	uint8_t *buf;
	size_t len, rlen;
	uint8_t *r;

	/* An operation whose request message is missing altogether. */
	req.op_case = OP(ADD_NIC);
	req.add_nic = &an;
	an.vm = "web1";
	expect(call(f, &req), CODE(INVALID_ARGUMENT), "nic", "required");
	/* Truncated bytes of a CreateNetwork. */
	{
		Nicvisor__V1__CreateNetworkRequest cn = NICVISOR__V1__CREATE_NETWORK_REQUEST__INIT;
		Nicvisor__V1__Response *rep = NULL;

		cn.name = "blue";
		cn.vlan = 5;
		req.version = NV_PROTOCOL_VERSION;
		req.op_case = OP(CREATE_NETWORK);
		req.create_network = &cn;
		assert_int_equal(nv_wire_pack_buf(&req.base, &buf, &len), 0);
		r = raw_call(f->ap.api, buf, len - 2, 5000, &rlen);
		free(buf);
		assert_non_null(r);
		assert_int_equal(nv_wire_unpack(&nicvisor__v1__response__descriptor, r, rlen,
						(ProtobufCMessage **)&rep),
				 0);
		free(r);
		expect(rep, CODE(MALFORMED), "", NULL);
	}
	expect(net_ref_op(f, OP(GET_NETWORK), "blue"), CODE(NOT_FOUND), "network", NULL);
	assert_true(agent_alive(&f->ap));
}

static Nicvisor__V1__Response *
set_qos(struct fx *f, const char *vm, uint32_t index, uint64_t from_bps, uint64_t from_burst,
	uint64_t to_bps, uint64_t to_burst)
{
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__SetNicQosRequest q = NICVISOR__V1__SET_NIC_QOS_REQUEST__INIT;

	q.vm = (char *)vm;
	q.index = index;
	q.from_vm_bits_per_second = from_bps;
	q.from_vm_burst_bytes = from_burst;
	q.to_vm_bits_per_second = to_bps;
	q.to_vm_burst_bytes = to_burst;
	req.op_case = OP(SET_NIC_QOS);
	req.set_nic_qos = &q;
	return call(f, &req);
}

/* The limits of NIC 0 of vm as GetPortStats shows them. */
static void
expect_port_limits(struct fx *f, const char *vm, uint64_t rx_bps, uint64_t rx_burst,
		   uint64_t tx_bps, uint64_t tx_burst)
{
	Nicvisor__V1__Response *rep = port_stats(f, vm);
	const Nicvisor__V1__PortStats *p;

	assert_int_equal(rep->status->code, CODE(OK));
	assert_true(rep->port_stats->n_ports >= 1);
	p = rep->port_stats->ports[0];
	assert_int_equal(p->rx_limit_bits_per_second, rx_bps);
	assert_int_equal(p->rx_limit_burst_bytes, rx_burst);
	assert_int_equal(p->tx_limit_bits_per_second, tx_bps);
	assert_int_equal(p->tx_limit_burst_bytes, tx_burst);
	nv_wire_free(&rep->base);
}

/* NIC rate limits: at creation (API and nicvisorctl --nic), validated
 * field by field, changed live, in the stats, kept across a restart. */
static void
test_nic_qos(void **state)
{
	struct fx *f = *state;
	char out[8192], err[4096];
	char *bad_nic[] = { "create",          "web3", "--kernel", f->kernel, "--nic",
			    "blue,to_vm=fast", NULL };
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__AddNicRequest an = NICVISOR__V1__ADD_NIC_REQUEST__INIT;
	Nicvisor__V1__NicSpec nic = NICVISOR__V1__NIC_SPEC__INIT;
	Nicvisor__V1__MirrorSpec ms = NICVISOR__V1__MIRROR_SPEC__INIT, *msp = &ms;
	Nicvisor__V1__Response *rep;
	Nicvisor__V1__Vm *vm;

	expect_ok(net_create(f, "blue", 0));
	assert_int_equal(run_ctl(&f->ap, out, sizeof(out), 10, "create", "web1", "--kernel",
				 f->kernel, "--nic", "blue,from_vm=100M,to_vm=1G,to_vm_burst=1M",
				 NULL),
			 0);
	vm = get_vm(f, "web1", &rep);
	assert_int_equal(vm->spec->nics[0]->from_vm_bits_per_second, 100000000);
	assert_int_equal(vm->spec->nics[0]->from_vm_burst_bytes, 0);
	assert_int_equal(vm->spec->nics[0]->to_vm_bits_per_second, 1000000000);
	assert_int_equal(vm->spec->nics[0]->to_vm_burst_bytes, 1 << 20);
	nv_wire_free(&rep->base);
	/* The port has them (stats: the switch's rx is what the VM sends). */
	expect_port_limits(f, "web1", 100000000, 0, 1000000000, 1 << 20);
	assert_int_equal(run_ctlv(&f->ap, out, sizeof(out), err, sizeof(err), 10, bad_nic), 2);
	assert_non_null(strstr(err, "from_vm=RATE"));

	/* Every field is checked and named. */
	an.vm = "web1";
	an.nic = &nic;
	nic.network = "blue";
	nic.mac = "";
	req.op_case = OP(ADD_NIC);
	req.add_nic = &an;
	nic.from_vm_bits_per_second = DP_QOS_MIN_RATE - 1;
	expect(call(f, &req), CODE(INVALID_ARGUMENT), "nic.from_vm_bits_per_second", "8000");
	nic.from_vm_bits_per_second = 0;
	nic.to_vm_burst_bytes = DP_QOS_MIN_BURST;
	expect(call(f, &req), CODE(INVALID_ARGUMENT), "nic.to_vm_burst_bytes", "without a rate");
	nic.to_vm_bits_per_second = 1000000;
	nic.to_vm_burst_bytes = 4096;
	expect(call(f, &req), CODE(INVALID_ARGUMENT), "nic.to_vm_burst_bytes", "131072");
	nic.to_vm_burst_bytes = 0;
	ms.name = "m";
	ms.direction = NICVISOR__V1__MIRROR_DIRECTION__MIRROR_DIRECTION_FROM_VM;
	ms.to_uplink = "up0";
	nic.mirrors = &msp;
	nic.n_mirrors = 1;
	expect(call(f, &req), CODE(INVALID_ARGUMENT), "nic.mirrors", "CreateMirror");
	expect(set_qos(f, "web1", 0, DP_QOS_MAX_RATE + 1, 0, 0, 0), CODE(INVALID_ARGUMENT),
	       "from_vm_bits_per_second", NULL);
	expect(set_qos(f, "web1", 3, 0, 0, 0, 0), CODE(NOT_FOUND), "index", "0..0");
	expect(set_qos(f, "web9", 0, 0, 0, 0, 0), CODE(NOT_FOUND), "vm", NULL);

	/* Changed on the running port at once; 0 clears a direction. */
	expect_ok(set_qos(f, "web1", 0, 0, 0, 50000000, 262144));
	expect_port_limits(f, "web1", 0, 0, 50000000, 262144);
	assert_int_equal(run_ctl(&f->ap, out, sizeof(out), 10, "nic", "qos", "web1", "0",
				 "--from-vm", "20M", NULL),
			 0);
	assert_non_null(strstr(out, "from the VM at most 20Mbit/s"));
	expect_port_limits(f, "web1", 20000000, 0, 0, 0);
	assert_int_equal(run_ctl(&f->ap, out, sizeof(out), 10, "stats", "web1", NULL), 0);
	assert_non_null(strstr(out, "(rx limit 20Mbit/s)"));
	assert_int_equal(run_ctl(&f->ap, out, sizeof(out), 10, "--json", "get", "web1", NULL), 0);
	assert_non_null(strstr(out, "\"from_vm_bits_per_second\":20000000"));

	/* Saved: a restarted agent programs its ports with them. */
	agent_kill(&f->ap, SIGKILL);
	assert_int_equal(agent_spawn(&f->ap), 0);
	expect_port_limits(f, "web1", 20000000, 0, 0, 0);
}

static Nicvisor__V1__Response *
set_security(struct fx *f, const char *vm, uint32_t index, Nicvisor__V1__SecurityPolicy *pol)
{
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__SetNicSecurityRequest q = NICVISOR__V1__SET_NIC_SECURITY_REQUEST__INIT;

	q.vm = (char *)vm;
	q.index = index;
	q.policy = pol;
	req.op_case = OP(SET_NIC_SECURITY);
	req.set_nic_security = &q;
	return call(f, &req);
}

static Nicvisor__V1__Response *
get_security(struct fx *f, const char *vm, uint32_t index)
{
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__GetNicSecurityRequest q = NICVISOR__V1__GET_NIC_SECURITY_REQUEST__INIT;

	q.vm = (char *)vm;
	q.index = index;
	req.op_case = OP(GET_NIC_SECURITY);
	req.get_nic_security = &q;
	return call(f, &req);
}

/* GetNicSecurity of NIC 0 of vm: OK, active, with these rule counts. */
static void
expect_security(struct fx *f, const char *vm, bool active, size_t n_in, size_t n_eg, bool in_deny)
{
	Nicvisor__V1__Response *rep = get_security(f, vm, 0);
	const Nicvisor__V1__NicSecurity *s;

	assert_int_equal(rep->status->code, CODE(OK));
	s = rep->nic_security;
	assert_non_null(s);
	assert_int_equal(s->active, active);
	assert_non_null(s->policy);
	assert_int_equal(s->policy->n_ingress, n_in);
	assert_int_equal(s->policy->n_egress, n_eg);
	assert_int_equal(s->policy->ingress_default_deny, in_deny);
	assert_int_equal(s->n_ingress_counters, active ? n_in : 0);
	assert_int_equal(s->n_egress_counters, active ? n_eg : 0);
	nv_wire_free(&rep->base);
}

/* Security groups: set live, validated field by field, 100 rules, shown
 * with counters, kept across a restart, removed. */
static void
test_nic_security(void **state)
{
	struct fx *f = *state;
	char out[8192];
	Nicvisor__V1__SecurityPolicy pol = NICVISOR__V1__SECURITY_POLICY__INIT;
	Nicvisor__V1__SecurityRule rules[101], *rp[DP_SG_MAX_RULES + 1];
	Nicvisor__V1__Response *rep;
	Nicvisor__V1__Vm *vm;
	char cidr[101][32];

	expect_ok(net_create(f, "blue", 0));
	assert_int_equal(run_ctl(&f->ap, out, sizeof(out), 10, "create", "web1", "--kernel",
				 f->kernel, "--nic", "blue", NULL),
			 0);
	for (int i = 0; i < 101; i++) {
		nicvisor__v1__security_rule__init(&rules[i]);
		snprintf(cidr[i], sizeof(cidr[i]), "10.%d.0.0/16", i);
		rules[i].protocol = "tcp";
		rules[i].remote_cidr = cidr[i];
		rules[i].port_lo = rules[i].port_hi = (uint32_t)(1000 + i);
	}
	for (int i = 0; i <= DP_SG_MAX_RULES; i++)
		rp[i] = &rules[i % 101];
	pol.egress = rp;
	pol.n_egress = 1;
	pol.ingress_default_deny = true;
	expect_ok(set_security(f, "web1", 0, &pol));
	vm = get_vm(f, "web1", &rep);
	assert_non_null(vm->spec->nics[0]->security);
	assert_int_equal(vm->spec->nics[0]->security->n_egress, 1);
	assert_string_equal(vm->spec->nics[0]->security->egress[0]->remote_cidr, "10.0.0.0/16");
	nv_wire_free(&rep->base);
	expect_security(f, "web1", true, 0, 1, true);

	/* Every field is checked and named. */
	rules[0].remote_cidr = "10.0.0.1/16";
	expect(set_security(f, "web1", 0, &pol), CODE(INVALID_ARGUMENT),
	       "policy.egress[0].remote_cidr", "host bits");
	rules[0].remote_cidr = "10.0.0/8";
	expect(set_security(f, "web1", 0, &pol), CODE(INVALID_ARGUMENT),
	       "policy.egress[0].remote_cidr", NULL);
	rules[0].remote_cidr = cidr[0];
	rules[0].port_lo = 2000;
	expect(set_security(f, "web1", 0, &pol), CODE(INVALID_ARGUMENT), "policy.egress[0].port_lo",
	       NULL);
	rules[0].port_lo = 1000;
	rules[0].src_port_hi = 70000;
	expect(set_security(f, "web1", 0, &pol), CODE(INVALID_ARGUMENT),
	       "policy.egress[0].src_port_hi", "65535");
	rules[0].src_port_hi = 0;
	rules[0].protocol = "sctp";
	expect(set_security(f, "web1", 0, &pol), CODE(INVALID_ARGUMENT),
	       "policy.egress[0].protocol", NULL);
	rules[0].protocol = "icmp";
	expect(set_security(f, "web1", 0, &pol), CODE(INVALID_ARGUMENT),
	       "policy.egress[0].protocol", "tcp or udp");
	rules[0].protocol = "tcp";
	pol.ingress = rp;
	pol.n_ingress = 1001;
	expect(set_security(f, "web1", 0, &pol), CODE(INVALID_ARGUMENT), "policy.ingress", "1000");
	pol.n_ingress = 0;
	expect(set_security(f, "web1", 1, &pol), CODE(NOT_FOUND), "index", NULL);
	expect(set_security(f, "web9", 0, &pol), CODE(NOT_FOUND), "vm", NULL);
	expect(get_security(f, "web1", 2), CODE(NOT_FOUND), "index", NULL);
	/* Refused requests changed nothing. */
	expect_security(f, "web1", true, 0, 1, true);

	/* A hundred rules each way, live. */
	pol.n_ingress = pol.n_egress = 100;
	pol.ingress_default_deny = false;
	expect_ok(set_security(f, "web1", 0, &pol));
	expect_security(f, "web1", true, 100, 100, false);

	/* Saved: a restarted agent programs the port with it. */
	agent_kill(&f->ap, SIGKILL);
	assert_int_equal(agent_spawn(&f->ap), 0);
	expect_security(f, "web1", true, 100, 100, false);

	/* At creation too (NicSpec.security). */
	{
		Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
		Nicvisor__V1__AddNicRequest an = NICVISOR__V1__ADD_NIC_REQUEST__INIT;
		Nicvisor__V1__NicSpec nic = NICVISOR__V1__NIC_SPEC__INIT;

		an.vm = "web1";
		an.nic = &nic;
		nic.network = "blue";
		nic.mac = "";
		nic.security = &pol;
		rules[3].port_hi = 1;
		req.op_case = OP(ADD_NIC);
		req.add_nic = &an;
		expect(call(f, &req), CODE(INVALID_ARGUMENT), "nic.security.ingress[3].port_lo",
		       NULL);
		rules[3].port_hi = rules[3].port_lo;
		expect_ok(call(f, &req));
		rep = get_security(f, "web1", 1);
		assert_int_equal(rep->status->code, CODE(OK));
		assert_true(rep->nic_security->active);
		assert_int_equal(rep->nic_security->policy->n_egress, 100);
		nv_wire_free(&rep->base);
	}

	/* nicvisorctl: set, shown with its counters; a bad rule is refused. */
	assert_int_equal(run_ctl(&f->ap, out, sizeof(out), 10, "nic", "security", "web1", "0",
				 "--egress", "tcp:22:10.0.0.0/8", "--egress", "deny:udp:53-54",
				 "--ingress", "icmp::192.0.2.0/24", "--default-deny", NULL),
			 0);
	assert_non_null(strstr(out, "1 ingress and 2 egress rules"));
	expect_security(f, "web1", true, 1, 2, true);
	assert_int_equal(
		run_ctl(&f->ap, out, sizeof(out), 10, "nic", "security-show", "web1", "0", NULL),
		0);
	assert_non_null(strstr(out, "active; default ingress deny, egress deny"));
	assert_non_null(strstr(out, "22-22"));
	assert_non_null(strstr(out, "192.0.2.0/24"));
	assert_non_null(strstr(out, "deny  udp   53-54"));
	assert_non_null(strstr(out, "0 pkts 0 bytes"));
	assert_int_equal(run_ctl(&f->ap, out, sizeof(out), 10, "nic", "security", "web1", "0",
				 "--egress", "tcp:22:10.0.0.1/8", NULL),
			 1);
	assert_int_equal(run_ctl(&f->ap, out, sizeof(out), 10, "nic", "security", "web1", "0",
				 "--egress", "tcp:x", NULL),
			 2);
	expect_security(f, "web1", true, 1, 2, true);

	/* Removed: no policy, not filtered. */
	expect_ok(set_security(f, "web1", 0, NULL));
	rep = get_security(f, "web1", 0);
	assert_int_equal(rep->status->code, CODE(OK));
	assert_null(rep->nic_security->policy);
	assert_false(rep->nic_security->active);
	nv_wire_free(&rep->base);
}

static Nicvisor__V1__Response *
mirror_create(struct fx *f, const char *name, const char *vm, uint32_t nic, int dir,
	      const char *to_vm, uint32_t to_nic, const char *to_uplink)
{
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__CreateMirrorRequest cm = NICVISOR__V1__CREATE_MIRROR_REQUEST__INIT;

	cm.name = (char *)name;
	cm.vm = (char *)vm;
	cm.nic = nic;
	cm.direction = (Nicvisor__V1__MirrorDirection)dir;
	cm.to_vm = (char *)(to_vm ? to_vm : "");
	cm.to_nic = to_nic;
	cm.to_uplink = (char *)(to_uplink ? to_uplink : "");
	req.op_case = OP(CREATE_MIRROR);
	req.create_mirror = &cm;
	return call(f, &req);
}

static Nicvisor__V1__Response *
mirror_named(struct fx *f, int op, const char *name)
{
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__DeleteMirrorRequest dm = NICVISOR__V1__DELETE_MIRROR_REQUEST__INIT;
	Nicvisor__V1__GetMirrorRequest gm = NICVISOR__V1__GET_MIRROR_REQUEST__INIT;

	dm.mirror = gm.mirror = (char *)name;
	req.op_case = (Nicvisor__V1__Request__OpCase)op;
	if (op == OP(DELETE_MIRROR))
		req.delete_mirror = &dm;
	else
		req.get_mirror = &gm;
	return call(f, &req);
}

static size_t
mirror_list_count(struct fx *f, uint32_t page_size)
{
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__ListMirrorsRequest lm = NICVISOR__V1__LIST_MIRRORS_REQUEST__INIT;
	char token[256] = "";
	size_t n = 0;

	do {
		Nicvisor__V1__Response *rep;

		lm.page_size = page_size;
		lm.page_token = token;
		req.op_case = OP(LIST_MIRRORS);
		req.list_mirrors = &lm;
		rep = call(f, &req);
		assert_int_equal(rep->status->code, CODE(OK));
		assert_true(page_size == 0 || rep->mirrors->n_mirrors <= page_size);
		n += rep->mirrors->n_mirrors;
		snprintf(token, sizeof(token), "%s", rep->mirrors->next_page_token);
		nv_wire_free(&rep->base);
	} while (token[0] != 0);
	return n;
}

#define DIR(x) NICVISOR__V1__MIRROR_DIRECTION__MIRROR_DIRECTION_##x

/* Mirror sessions: made, validated, shown, inactive while the destination
 * NIC is gone and active again when it is back, kept across a restart,
 * deleted with their source. */
static void
test_mirrors(void **state)
{
	struct fx *f = *state;
	const char *nets[2] = { "blue", "blue" };
	char out[8192], web2_id[32], web2_mac[24], want[64];
	Nicvisor__V1__Response *rep;
	Nicvisor__V1__Vm *vm;

	expect_ok(net_create(f, "blue", 0));
	expect_ok(create_vm(f, "web1", 1, false, nets, NULL, 2));
	rep = create_vm(f, "web2", 1, false, nets, NULL, 1);
	snprintf(web2_id, sizeof(web2_id), "%s", rep->vm->id);
	snprintf(web2_mac, sizeof(web2_mac), "%s", rep->vm->spec->nics[0]->mac);
	nv_wire_free(&rep->base);

	rep = mirror_create(f, "tap1", "web1", 0, DIR(BOTH), "web2", 0, NULL);
	assert_int_equal(rep->status->code, CODE(OK));
	assert_string_equal(rep->mirror->name, "tap1");
	assert_int_equal(rep->mirror->nic, 0);
	assert_int_equal(rep->mirror->direction, DIR(BOTH));
	snprintf(want, sizeof(want), "%s/nic0", web2_id);
	assert_string_equal(rep->mirror->destination, want);
	assert_true(rep->mirror->active);
	nv_wire_free(&rep->base);
	rep = mirror_create(f, "tap2", "web1", 1, DIR(FROM_VM), NULL, 0, "up0");
	assert_int_equal(rep->status->code, CODE(OK));
	assert_string_equal(rep->mirror->destination, "uplink:up0");
	assert_true(rep->mirror->active);
	nv_wire_free(&rep->base);

	/* Each field checked and named. */
	expect(mirror_create(f, "tap1", "web1", 1, DIR(TO_VM), "web2", 0, NULL),
	       CODE(ALREADY_EXISTS), "name", "web1");
	expect(mirror_create(f, "Bad Name", "web1", 0, DIR(TO_VM), "web2", 0, NULL),
	       CODE(INVALID_ARGUMENT), "name", NULL);
	expect(mirror_create(f, "t3", "web1", 0, 0, "web2", 0, NULL), CODE(INVALID_ARGUMENT),
	       "direction", NULL);
	expect(mirror_create(f, "t3", "web1", 0, DIR(TO_VM), NULL, 0, NULL), CODE(INVALID_ARGUMENT),
	       "to_vm", "one destination");
	expect(mirror_create(f, "t3", "web1", 0, DIR(TO_VM), "web2", 0, "up0"),
	       CODE(INVALID_ARGUMENT), "to_uplink", "one destination");
	expect(mirror_create(f, "t3", "web1", 0, DIR(TO_VM), "web1", 0, NULL),
	       CODE(INVALID_ARGUMENT), "to_nic", "itself");
	expect(mirror_create(f, "t3", "web1", 5, DIR(TO_VM), "web2", 0, NULL), CODE(NOT_FOUND),
	       "nic", NULL);
	expect(mirror_create(f, "t3", "web1", 0, DIR(TO_VM), "web2", 4, NULL), CODE(NOT_FOUND),
	       "to_nic", NULL);
	expect(mirror_create(f, "t3", "web1", 0, DIR(TO_VM), "web9", 0, NULL), CODE(NOT_FOUND),
	       "to_vm", NULL);
	expect(mirror_create(f, "t3", "web1", 0, DIR(TO_VM), NULL, 0, "up9"), CODE(NOT_FOUND),
	       "to_uplink", NULL);
	expect(mirror_named(f, OP(GET_MIRROR), "nosuch"), CODE(NOT_FOUND), "mirror", NULL);
	assert_int_equal(mirror_list_count(f, 1), 2);

	/* Kept with the source NIC. */
	vm = get_vm(f, "web1", &rep);
	assert_int_equal(vm->spec->nics[0]->n_mirrors, 1);
	assert_string_equal(vm->spec->nics[0]->mirrors[0]->to_mac, web2_mac);
	nv_wire_free(&rep->base);

	/* The destination NIC goes: inactive; back (same MAC): active. */
	expect_ok(nic_remove(f, "web2", 0));
	rep = mirror_named(f, OP(GET_MIRROR), "tap1");
	assert_false(rep->mirror->active);
	assert_non_null(strstr(rep->mirror->destination, "no NIC has it"));
	nv_wire_free(&rep->base);
	expect_ok(nic_add(f, "web2", "blue", web2_mac));
	rep = mirror_named(f, OP(GET_MIRROR), "tap1");
	assert_true(rep->mirror->active);
	nv_wire_free(&rep->base);

	/* Saved with the VM; the restarted agent runs them again. */
	agent_kill(&f->ap, SIGKILL);
	assert_int_equal(agent_spawn(&f->ap), 0);
	assert_int_equal(run_ctl(&f->ap, out, sizeof(out), 10, "mirror", "list", NULL), 0);
	assert_non_null(strstr(out, "DESTINATION"));
	assert_non_null(strstr(out, "uplink:up0"));
	rep = mirror_named(f, OP(GET_MIRROR), "tap1");
	assert_true(rep->mirror->active);
	nv_wire_free(&rep->base);

	/* nicvisorctl, then deletion. */
	assert_int_equal(run_ctl(&f->ap, out, sizeof(out), 10, "mirror", "create", "tap3", "web2",
				 "0", "to_vm", "--to", "web1:1", NULL),
			 0);
	assert_non_null(strstr(out, "created (active)"));
	assert_int_equal(
		run_ctl(&f->ap, out, sizeof(out), 10, "--json", "mirror", "get", "tap3", NULL), 0);
	assert_non_null(strstr(out, "\"direction\":\"to_vm\""));
	expect_ok(mirror_named(f, OP(DELETE_MIRROR), "tap3"));
	expect(mirror_named(f, OP(DELETE_MIRROR), "tap3"), CODE(NOT_FOUND), "mirror", NULL);
	/* A deleted VM takes its sessions along. */
	assert_int_equal(api_simple(&f->ap, OP(DELETE_VM), "web1", false, &rep), CODE(OK));
	nv_wire_free(&rep->base);
	assert_int_equal(mirror_list_count(f, 0), 0);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_networks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nics, setup, teardown),
		cmocka_unit_test_setup_teardown(test_launch_nics, setup, teardown),
		cmocka_unit_test_setup_teardown(test_port_stats, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_keeps_networks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dataplane_off, setup_off, teardown),
		cmocka_unit_test_setup_teardown(test_bad_network_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nic_qos, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mirrors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nic_security, setup, teardown),
	};

	nv_log_init("net_test", NV_LOG_WARN);
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
