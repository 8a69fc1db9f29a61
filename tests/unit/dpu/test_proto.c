/* SPDX-License-Identifier: MIT */
/*
 * Every envelope of the agent's channels (Request/Response, Event,
 * HostRequest/HostResponse with every op and result, AgentState) packs,
 * decodes through nv_wire_unpack and packs again to the same bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nicvisor/v1/api.pb-c.h"
#include "nicvisor/v1/dpu_state.pb-c.h"
#include "nicvisor/v1/host.pb-c.h"
#include "nv_wire.h"

/* Pack, decode, repack; returns the decoded copy (nv_wire_free it). */
static void *
round_trip(const ProtobufCMessage *m)
{
	uint8_t *a, *b;
	size_t la, lb;
	ProtobufCMessage *copy;

	assert_int_equal(nv_wire_pack_buf(m, &a, &la), 0);
	assert_int_equal(nv_wire_unpack(m->descriptor, a, la, &copy), 0);
	assert_int_equal(nv_wire_pack_buf(copy, &b, &lb), 0);
	assert_int_equal(la, lb);
	assert_memory_equal(a, b, la);
	/* Every strict prefix of a non-empty message that ends inside a field
	 * must not crash the decoder (most are refused). */
	for (size_t cut = 0; cut < la; cut++) {
		ProtobufCMessage *p = NULL;

		if (nv_wire_unpack(m->descriptor, a, cut, &p) == 0)
			nv_wire_free(p);
	}
	free(a);
	free(b);
	return copy;
}

static Nicvisor__V1__VmSpec spec = NICVISOR__V1__VM_SPEC__INIT;

static int
setup(void **state)
{
	(void)state;
	spec.name = "web1";
	spec.vcpus = 2;
	spec.memory_mib = 1024;
	spec.kernel = "/boot/vmlinuz";
	spec.initrd = "/boot/initrd.img";
	spec.cmdline = "console=ttyS0";
	return 0;
}

static void
test_requests(void **state)
{
	Nicvisor__V1__Request r = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__CreateVmRequest c = NICVISOR__V1__CREATE_VM_REQUEST__INIT;
	Nicvisor__V1__StartVmRequest s = NICVISOR__V1__START_VM_REQUEST__INIT;
	Nicvisor__V1__StopVmRequest t = NICVISOR__V1__STOP_VM_REQUEST__INIT;
	Nicvisor__V1__DeleteVmRequest d = NICVISOR__V1__DELETE_VM_REQUEST__INIT;
	Nicvisor__V1__GetVmRequest g = NICVISOR__V1__GET_VM_REQUEST__INIT;
	Nicvisor__V1__ListVmsRequest lv = NICVISOR__V1__LIST_VMS_REQUEST__INIT;
	Nicvisor__V1__ListHostsRequest lh = NICVISOR__V1__LIST_HOSTS_REQUEST__INIT;
	Nicvisor__V1__GetConsoleRequest gc = NICVISOR__V1__GET_CONSOLE_REQUEST__INIT;
	Nicvisor__V1__Request *x;

	(void)state;
	r.version = NV_PROTOCOL_VERSION;
	c.spec = &spec;
	c.start = true;
	r.op_case = NICVISOR__V1__REQUEST__OP_CREATE_VM;
	r.create_vm = &c;
	x = round_trip(&r.base);
	assert_int_equal(x->op_case, NICVISOR__V1__REQUEST__OP_CREATE_VM);
	assert_string_equal(x->create_vm->spec->initrd, "/boot/initrd.img");
	assert_true(x->create_vm->start);
	nv_wire_free(&x->base);

	s.vm = "web1";
	r.op_case = NICVISOR__V1__REQUEST__OP_START_VM;
	r.start_vm = &s;
	nv_wire_free(round_trip(&r.base));
	t.vm = "web1";
	t.timeout_ms = 5000;
	t.force = true;
	r.op_case = NICVISOR__V1__REQUEST__OP_STOP_VM;
	r.stop_vm = &t;
	x = round_trip(&r.base);
	assert_int_equal(x->stop_vm->timeout_ms, 5000);
	nv_wire_free(&x->base);
	d.vm = "vm-0123456789abcdef";
	d.force = true;
	r.op_case = NICVISOR__V1__REQUEST__OP_DELETE_VM;
	r.delete_vm = &d;
	nv_wire_free(round_trip(&r.base));
	g.vm = "web1";
	r.op_case = NICVISOR__V1__REQUEST__OP_GET_VM;
	r.get_vm = &g;
	nv_wire_free(round_trip(&r.base));
	lv.page_size = 10;
	lv.page_token = "vms1.61";
	r.op_case = NICVISOR__V1__REQUEST__OP_LIST_VMS;
	r.list_vms = &lv;
	nv_wire_free(round_trip(&r.base));
	lh.page_size = 10;
	r.op_case = NICVISOR__V1__REQUEST__OP_LIST_HOSTS;
	r.list_hosts = &lh;
	nv_wire_free(round_trip(&r.base));
	gc.vm = "web1";
	gc.offset = 1ull << 40;
	gc.max_bytes = 4096;
	r.op_case = NICVISOR__V1__REQUEST__OP_GET_CONSOLE;
	r.get_console = &gc;
	x = round_trip(&r.base);
	assert_int_equal(x->get_console->offset, 1ull << 40);
	nv_wire_free(&x->base);
}

static void
test_responses_and_events(void **state)
{
	Nicvisor__V1__Response r = NICVISOR__V1__RESPONSE__INIT;
	Nicvisor__V1__Status st = NICVISOR__V1__STATUS__INIT;
	Nicvisor__V1__Vm vm = NICVISOR__V1__VM__INIT, *vms[2] = { &vm, &vm };
	Nicvisor__V1__ListVmsResponse lv = NICVISOR__V1__LIST_VMS_RESPONSE__INIT;
	Nicvisor__V1__HostCapabilities caps = NICVISOR__V1__HOST_CAPABILITIES__INIT;
	Nicvisor__V1__Host host = NICVISOR__V1__HOST__INIT, *hosts[1] = { &host };
	Nicvisor__V1__ListHostsResponse lh = NICVISOR__V1__LIST_HOSTS_RESPONSE__INIT;
	Nicvisor__V1__ConsoleChunk cc = NICVISOR__V1__CONSOLE_CHUNK__INIT;
	Nicvisor__V1__Event ev = NICVISOR__V1__EVENT__INIT;
	Nicvisor__V1__VmStateChanged sc = NICVISOR__V1__VM_STATE_CHANGED__INIT;
	Nicvisor__V1__ConsoleOutput co = NICVISOR__V1__CONSOLE_OUTPUT__INIT;
	Nicvisor__V1__HostChanged hc = NICVISOR__V1__HOST_CHANGED__INIT;
	char *kc[] = { "KVM_CAP_IRQFD" };
	Nicvisor__V1__Response *x;
	Nicvisor__V1__Event *e;

	(void)state;
	st.code = NICVISOR__V1__CODE__CODE_RESOURCE_EXHAUSTED;
	st.message = "needs 4 vCPUs, largest host has 2";
	st.field = "spec.vcpus";
	r.version = 1;
	r.status = &st;
	x = round_trip(&r.base);
	assert_int_equal(x->status->code, NICVISOR__V1__CODE__CODE_RESOURCE_EXHAUSTED);
	assert_string_equal(x->status->field, "spec.vcpus");
	nv_wire_free(&x->base);

	st.code = NICVISOR__V1__CODE__CODE_OK;
	st.message = st.field = "";
	vm.id = "vm-0123456789abcdef";
	vm.spec = &spec;
	vm.state = NICVISOR__V1__VM_STATE__VM_STATE_RUNNING;
	vm.host = "h1";
	vm.last_exit = NICVISOR__V1__EXIT_KIND__EXIT_KIND_REBOOT;
	vm.boots = 2;
	vm.console_bytes = 77;
	r.result_case = NICVISOR__V1__RESPONSE__RESULT_VM;
	r.vm = &vm;
	nv_wire_free(round_trip(&r.base));
	lv.vms = vms;
	lv.n_vms = 2;
	lv.next_page_token = "vms1.61";
	r.result_case = NICVISOR__V1__RESPONSE__RESULT_VMS;
	r.vms = &lv;
	x = round_trip(&r.base);
	assert_int_equal(x->vms->n_vms, 2);
	nv_wire_free(&x->base);
	caps.arch = "x86_64";
	caps.cores = 2;
	caps.kvm_caps = kc;
	caps.n_kvm_caps = 1;
	caps.kvm_api_version = -1;
	host.id = "h1";
	host.caps = &caps;
	host.connected = true;
	lh.hosts = hosts;
	lh.n_hosts = 1;
	r.result_case = NICVISOR__V1__RESPONSE__RESULT_HOSTS;
	r.hosts = &lh;
	x = round_trip(&r.base);
	assert_int_equal(x->hosts->hosts[0]->caps->kvm_api_version, -1);
	nv_wire_free(&x->base);
	cc.vm = "vm-0123456789abcdef";
	cc.offset = 10;
	cc.data.data = (uint8_t *)"login: \0\xff";
	cc.data.len = 9;
	cc.end_offset = 19;
	r.result_case = NICVISOR__V1__RESPONSE__RESULT_CONSOLE;
	r.console = &cc;
	x = round_trip(&r.base);
	assert_memory_equal(x->console->data.data, "login: \0\xff", 9);
	nv_wire_free(&x->base);

	ev.seq = 5;
	ev.unix_ms = 1700000000000;
	sc.vm = "vm-0123456789abcdef";
	sc.name = "web1";
	sc.state = NICVISOR__V1__VM_STATE__VM_STATE_FAILED;
	sc.previous = NICVISOR__V1__VM_STATE__VM_STATE_RUNNING;
	sc.reason = "triple fault";
	sc.exit = NICVISOR__V1__EXIT_KIND__EXIT_KIND_TRIPLE_FAULT;
	ev.kind_case = NICVISOR__V1__EVENT__KIND_VM_STATE;
	ev.vm_state = &sc;
	e = round_trip(&ev.base);
	assert_int_equal(e->vm_state->exit, NICVISOR__V1__EXIT_KIND__EXIT_KIND_TRIPLE_FAULT);
	nv_wire_free(&e->base);
	co.vm = "vm-0123456789abcdef";
	co.offset = 3;
	co.data.data = (uint8_t *)"abc";
	co.data.len = 3;
	ev.kind_case = NICVISOR__V1__EVENT__KIND_CONSOLE;
	ev.console = &co;
	nv_wire_free(round_trip(&ev.base));
	hc.host = &host;
	ev.kind_case = NICVISOR__V1__EVENT__KIND_HOST;
	ev.host = &hc;
	nv_wire_free(round_trip(&ev.base));
}

static void
test_host_channel(void **state)
{
	Nicvisor__V1__HostRequest r = NICVISOR__V1__HOST_REQUEST__INIT;
	Nicvisor__V1__Hello h = NICVISOR__V1__HELLO__INIT;
	Nicvisor__V1__HostCapabilities caps = NICVISOR__V1__HOST_CAPABILITIES__INIT;
	Nicvisor__V1__VmReport vr = NICVISOR__V1__VM_REPORT__INIT, *vrs[1] = { &vr };
	Nicvisor__V1__Poll p = NICVISOR__V1__POLL__INIT;
	Nicvisor__V1__ReadArtifact ra = NICVISOR__V1__READ_ARTIFACT__INIT;
	Nicvisor__V1__ConsoleData cd = NICVISOR__V1__CONSOLE_DATA__INIT;
	Nicvisor__V1__HostResponse rep = NICVISOR__V1__HOST_RESPONSE__INIT;
	Nicvisor__V1__Status st = NICVISOR__V1__STATUS__INIT;
	Nicvisor__V1__HelloReply hr = NICVISOR__V1__HELLO_REPLY__INIT;
	Nicvisor__V1__Commands cmds = NICVISOR__V1__COMMANDS__INIT;
	Nicvisor__V1__Command launch = NICVISOR__V1__COMMAND__INIT;
	Nicvisor__V1__Command stop = NICVISOR__V1__COMMAND__INIT, *cl[2] = { &launch, &stop };
	Nicvisor__V1__LaunchVm lv = NICVISOR__V1__LAUNCH_VM__INIT;
	Nicvisor__V1__StopVm sv = NICVISOR__V1__STOP_VM__INIT;
	Nicvisor__V1__Artifact k = NICVISOR__V1__ARTIFACT__INIT;
	Nicvisor__V1__ArtifactChunk ch = NICVISOR__V1__ARTIFACT_CHUNK__INIT;
	Nicvisor__V1__HostRequest *x;
	Nicvisor__V1__HostResponse *y;

	(void)state;
	r.version = 1;
	caps.cores = 2;
	caps.memory_mib = 4096;
	h.host_id = "h1";
	h.caps = &caps;
	vr.vm_id = "vm-0123456789abcdef";
	vr.state = NICVISOR__V1__VM_STATE__VM_STATE_RUNNING;
	vr.spec = &spec;
	vr.boots = 3;
	vr.console_offset = 99;
	vr.pid = 1234;
	vr.boot_ns = 5000000;
	h.vms = vrs;
	h.n_vms = 1;
	r.op_case = NICVISOR__V1__HOST_REQUEST__OP_HELLO;
	r.hello = &h;
	x = round_trip(&r.base);
	assert_int_equal(x->hello->vms[0]->boot_ns, 5000000);
	nv_wire_free(&x->base);
	r.session = "0123456789abcdef0123456789abcdef";
	p.ack_seq = 1795242432561000ull;
	p.vms_running = 1;
	r.op_case = NICVISOR__V1__HOST_REQUEST__OP_POLL;
	r.poll = &p;
	x = round_trip(&r.base);
	assert_int_equal(x->poll->ack_seq, 1795242432561000ull);
	nv_wire_free(&x->base);
	ra.artifact_id = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
	ra.offset = 1 << 20;
	ra.length = 1 << 20;
	r.op_case = NICVISOR__V1__HOST_REQUEST__OP_READ_ARTIFACT;
	r.read_artifact = &ra;
	nv_wire_free(round_trip(&r.base));
	r.op_case = NICVISOR__V1__HOST_REQUEST__OP_VM_REPORT;
	r.vm_report = &vr;
	nv_wire_free(round_trip(&r.base));
	cd.vm_id = "vm-0123456789abcdef";
	cd.data.data = (uint8_t *)"x";
	cd.data.len = 1;
	r.op_case = NICVISOR__V1__HOST_REQUEST__OP_CONSOLE;
	r.console = &cd;
	nv_wire_free(round_trip(&r.base));

	rep.version = 1;
	rep.status = &st;
	hr.session = "0123456789abcdef0123456789abcdef";
	hr.heartbeat_ms = 1000;
	hr.dead_after_ms = 4000;
	rep.result_case = NICVISOR__V1__HOST_RESPONSE__RESULT_HELLO;
	rep.hello = &hr;
	nv_wire_free(round_trip(&rep.base));
	k.id = ra.artifact_id;
	k.name = "bzImage";
	k.size = 3;
	lv.vm_id = "vm-0123456789abcdef";
	lv.spec = &spec;
	lv.kernel = &k;
	lv.console_offset = 5;
	launch.seq = 7;
	launch.op_case = NICVISOR__V1__COMMAND__OP_LAUNCH;
	launch.launch = &lv;
	sv.vm_id = "vm-0123456789abcdef";
	sv.forget = true;
	stop.seq = 8;
	stop.op_case = NICVISOR__V1__COMMAND__OP_STOP;
	stop.stop = &sv;
	cmds.commands = cl;
	cmds.n_commands = 2;
	rep.result_case = NICVISOR__V1__HOST_RESPONSE__RESULT_COMMANDS;
	rep.commands = &cmds;
	y = round_trip(&rep.base);
	assert_int_equal(y->commands->n_commands, 2);
	assert_null(y->commands->commands[0]->launch->initrd);
	assert_true(y->commands->commands[1]->stop->forget);
	nv_wire_free(&y->base);
	ch.artifact_id = k.id;
	ch.data.data = (uint8_t *)"abc";
	ch.data.len = 3;
	rep.result_case = NICVISOR__V1__HOST_RESPONSE__RESULT_CHUNK;
	rep.chunk = &ch;
	nv_wire_free(round_trip(&rep.base));
}

static void
test_agent_state(void **state)
{
	Nicvisor__V1__AgentState s = NICVISOR__V1__AGENT_STATE__INIT;
	Nicvisor__V1__Vm vm = NICVISOR__V1__VM__INIT, *vms[1] = { &vm };
	Nicvisor__V1__DeletedVm d = NICVISOR__V1__DELETED_VM__INIT, *ds[1] = { &d };
	Nicvisor__V1__AgentState *x;

	(void)state;
	s.version = 1;
	vm.id = "vm-0123456789abcdef";
	vm.spec = &spec;
	s.vms = vms;
	s.n_vms = 1;
	d.vm_id = "vm-00000000000000ff";
	d.host = "h2";
	d.deleted_unix_ms = 1;
	s.deleted = ds;
	s.n_deleted = 1;
	x = round_trip(&s.base);
	assert_string_equal(x->deleted[0]->host, "h2");
	nv_wire_free(&x->base);
}

static unsigned
field_id(const ProtobufCMessageDescriptor *d, const char *name)
{
	const ProtobufCFieldDescriptor *f =
		protobuf_c_message_descriptor_get_field_by_name(d, name);

	assert_non_null(f);
	return f->id;
}

/* Volumes and disks: round trips, and the field numbers pinned (a
 * renumbering breaks every peer and every saved state). */
static void
test_volumes_wire(void **state)
{
	Nicvisor__V1__Request r = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__CreateVmRequest c = NICVISOR__V1__CREATE_VM_REQUEST__INIT;
	Nicvisor__V1__CreateVolumeRequest cv = NICVISOR__V1__CREATE_VOLUME_REQUEST__INIT;
	Nicvisor__V1__AttachDiskRequest ad = NICVISOR__V1__ATTACH_DISK_REQUEST__INIT;
	Nicvisor__V1__VmSpec sp = spec;
	Nicvisor__V1__DiskSpec d1 = NICVISOR__V1__DISK_SPEC__INIT,
			       d2 = NICVISOR__V1__DISK_SPEC__INIT;
	Nicvisor__V1__DiskSpec *ds[2] = { &d1, &d2 };
	Nicvisor__V1__LaunchVm l = NICVISOR__V1__LAUNCH_VM__INIT;
	Nicvisor__V1__DiskAttachment da = NICVISOR__V1__DISK_ATTACHMENT__INIT, *das[1] = { &da };
	Nicvisor__V1__AgentState as = NICVISOR__V1__AGENT_STATE__INIT;
	Nicvisor__V1__Volume v = NICVISOR__V1__VOLUME__INIT, *vs[1] = { &v };
	Nicvisor__V1__Request *x;
	Nicvisor__V1__LaunchVm *lx;
	Nicvisor__V1__AgentState *ax;

	(void)state;
	r.version = NV_PROTOCOL_VERSION;
	d1.volume = "root";
	d2.volume = "vol-0123456789abcdef";
	d2.read_only = true;
	sp.disks = ds;
	sp.n_disks = 2;
	c.spec = &sp;
	r.op_case = NICVISOR__V1__REQUEST__OP_CREATE_VM;
	r.create_vm = &c;
	x = round_trip(&r.base);
	assert_int_equal(x->create_vm->spec->n_disks, 2);
	assert_true(x->create_vm->spec->disks[1]->read_only);
	nv_wire_free(&x->base);
	cv.name = "data";
	cv.size_bytes = 1ull << 40;
	cv.nbd_url = "nbd://h:10809/e";
	r.op_case = NICVISOR__V1__REQUEST__OP_CREATE_VOLUME;
	r.create_volume = &cv;
	x = round_trip(&r.base);
	assert_int_equal(x->create_volume->size_bytes, 1ull << 40);
	nv_wire_free(&x->base);
	ad.vm = "web1";
	ad.disk = &d2;
	r.op_case = NICVISOR__V1__REQUEST__OP_ATTACH_DISK;
	r.attach_disk = &ad;
	nv_wire_free(round_trip(&r.base));

	da.index = 1;
	da.vhost_user_socket = "/run/nicvisor/vhost/vm-0123456789abcdef-disk1.sock";
	da.read_only = true;
	da.queues = 4;
	da.serial = "vol-0123456789abcdef";
	da.size_bytes = 1 << 30;
	l.vm_id = "vm-0123456789abcdef";
	l.spec = &sp;
	l.disks = das;
	l.n_disks = 1;
	lx = round_trip(&l.base);
	assert_int_equal(lx->n_disks, 1);
	assert_string_equal(lx->disks[0]->serial, "vol-0123456789abcdef");
	assert_int_equal(lx->disks[0]->queues, 4);
	nv_wire_free(&lx->base);

	as.version = 1;
	v.id = "vol-0123456789abcdef";
	v.name = "data";
	v.size_bytes = 1 << 20;
	v.backend = NICVISOR__V1__VOLUME_BACKEND__VOLUME_BACKEND_FILE;
	as.volumes = vs;
	as.n_volumes = 1;
	ax = round_trip(&as.base);
	assert_string_equal(ax->volumes[0]->name, "data");
	nv_wire_free(&ax->base);

	assert_int_equal(field_id(&nicvisor__v1__vm_spec__descriptor, "nics"), 10);
	assert_int_equal(field_id(&nicvisor__v1__vm_spec__descriptor, "disks"), 20);
	assert_int_equal(field_id(&nicvisor__v1__request__descriptor, "create_volume"), 50);
	assert_int_equal(field_id(&nicvisor__v1__request__descriptor, "delete_volume"), 51);
	assert_int_equal(field_id(&nicvisor__v1__request__descriptor, "get_volume"), 52);
	assert_int_equal(field_id(&nicvisor__v1__request__descriptor, "list_volumes"), 53);
	assert_int_equal(field_id(&nicvisor__v1__request__descriptor, "attach_disk"), 54);
	assert_int_equal(field_id(&nicvisor__v1__request__descriptor, "detach_disk"), 55);
	assert_int_equal(field_id(&nicvisor__v1__request__descriptor, "get_disk_stats"), 56);
	assert_int_equal(field_id(&nicvisor__v1__response__descriptor, "volume"), 17);
	assert_int_equal(field_id(&nicvisor__v1__response__descriptor, "volumes"), 18);
	assert_int_equal(field_id(&nicvisor__v1__response__descriptor, "disk_stats"), 19);
	assert_int_equal(field_id(&nicvisor__v1__launch_vm__descriptor, "nics"), 7);
	assert_int_equal(field_id(&nicvisor__v1__launch_vm__descriptor, "disks"), 8);
	assert_int_equal(field_id(&nicvisor__v1__agent_state__descriptor, "networks"), 4);
	assert_int_equal(field_id(&nicvisor__v1__agent_state__descriptor, "volumes"), 5);
	assert_int_equal(field_id(&nicvisor__v1__disk_attachment__descriptor, "serial"), 5);
	assert_int_equal(field_id(&nicvisor__v1__volume__descriptor, "attachments"), 9);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_requests),     cmocka_unit_test(test_responses_and_events),
		cmocka_unit_test(test_host_channel), cmocka_unit_test(test_agent_state),
		cmocka_unit_test(test_volumes_wire),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
