/* SPDX-License-Identifier: MIT */
/*
 * The agent in-process (dpu/agent.c, api.c, south.c, network.c,
 * api_net.c): the long poll, command repetition and acknowledgement,
 * reports, console, artifacts, host loss, reconciliation at Hello,
 * adoption, tombstones, stop escalation, reload from the store, networks,
 * NICs and their dataplane ports (on the fake dataplane), volumes and disks
 * (volume.c, api_vol.c, on the fake block backend and real sparse files).
 * Time is a fake clock; replies and events are recorded.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent.h"
#include "artifact.h"
#include "blk.h"
#include "net.h"
#include "nv_wire.h"
#include "pb_util.h"
#include "store.h"
#include "validate.h"

#define CODE(x)   NICVISOR__V1__CODE__CODE_##x
#define STATE(x)  NICVISOR__V1__VM_STATE__VM_STATE_##x
#define OP(x)     NICVISOR__V1__REQUEST__OP_##x
#define HOP(x)    NICVISOR__V1__HOST_REQUEST__OP_##x

#define HB        1000
#define DEAD      3000

#define VHOST_DIR "/run/test/vhost"

static uint64_t clock_now;
static uint64_t rnd;
/* When set, 6-byte requests (MACs) get only two values, 0x11... three
 * times then 0x22..., over and over: MACs collide. */
static bool rnd_stuck;
static unsigned int rnd_stuck_n;

static uint64_t
fake_clock(void)
{
	return clock_now;
}

static void
fake_random(void *buf, size_t len)
{
	uint8_t *b = buf;

	if (rnd_stuck && len == 6) {
		memset(buf, rnd_stuck_n++ % 4 == 3 ? 0x22 : 0x11, len);
		return;
	}
	rnd++;
	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)(i < 8 ? rnd >> (8 * i) : 0x5a);
}

#define MAX_EVENTS 512

struct env {
	struct dpu_agent *a;
	struct dpu_store *store;
	struct dpu_net *net; /* the fake; NULL: networking off */
	struct dpu_blk *blk; /* the fake; NULL: no block backend */
	char dir[64];
	char voldir[128];
	char artifacts[128];
	char kernel[128];
	char initrd[128];
	char ksha[65];
	char topics[MAX_EVENTS][NV_TOPIC_MAX];
	Nicvisor__V1__Event *events[MAX_EVENTS];
	size_t nevents;
	struct nv_arena ar;
};

static void
record_event(void *opaque, const void *msg, size_t len)
{
	struct env *e = opaque;
	const uint8_t *payload;
	const char *topic;
	size_t plen;

	assert_int_equal(nv_wire_event_split(msg, len, &topic, &payload, &plen), 0);
	assert_true(e->nevents < MAX_EVENTS);
	snprintf(e->topics[e->nevents], NV_TOPIC_MAX, "%s", topic);
	assert_int_equal(nv_wire_unpack(&nicvisor__v1__event__descriptor, payload, plen,
					(ProtobufCMessage **)&e->events[e->nevents]),
			 0);
	e->nevents++;
}

struct rec {
	struct dpu_reply base;
	int answered;
	int abandoned;
	Nicvisor__V1__HostResponse *rep;
};

static void
rec_send(struct dpu_reply *r, const Nicvisor__V1__HostResponse *rep)
{
	struct rec *rr = (struct rec *)r;

	rr->answered++;
	dpu_pb_free(rr->rep);
	rr->rep = dpu_pb_dup(&rep->base);
}

static void
rec_abandon(struct dpu_reply *r)
{
	((struct rec *)r)->abandoned++;
}

static void
rec_init(struct rec *r)
{
	memset(r, 0, sizeof(*r));
	r->base.send = rec_send;
	r->base.abandon = rec_abandon;
}

static void
rec_fini(struct rec *r)
{
	dpu_pb_free(r->rep);
	r->rep = NULL;
}

static void
write_file(const char *path, size_t size, uint32_t seed, bool kernel)
{
	uint8_t *b = malloc(size);
	int fd;

	for (size_t i = 0; i < size; i++)
		b[i] = (uint8_t)(i * 31 + seed);
	if (kernel)
		memcpy(b + 0x202, "HdrS", 4);
	else
		memcpy(b, "\x1f\x8b", 2);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, b, size), (ssize_t)size);
	close(fd);
	free(b);
}

static int
open_agent(struct env *e)
{
	struct dpu_agent_conf conf = {
		.store = e->store,
		.artifact_dir = e->artifacts,
		.heartbeat_ms = HB,
		.dead_after_ms = DEAD,
		.events = { record_event, e },
		.clock_ms = fake_clock,
		.random = fake_random,
		.net = e->net,
		.net_off_reason = "unit test without a dataplane",
		.blk = e->blk,
		.volume_dir = e->voldir,
	};

	return dpu_agent_open(&conf, &e->a);
}

static int
setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	snprintf(e->dir, sizeof(e->dir), "/tmp/nv-agent-unit-XXXXXX");
	if (mkdtemp(e->dir) == NULL)
		return -1;
	snprintf(e->artifacts, sizeof(e->artifacts), "%s/artifacts", e->dir);
	snprintf(e->voldir, sizeof(e->voldir), "%s/volumes", e->dir);
	snprintf(e->kernel, sizeof(e->kernel), "%s/bzImage", e->dir);
	snprintf(e->initrd, sizeof(e->initrd), "%s/initrd", e->dir);
	mkdir(e->artifacts, 0700);
	write_file(e->kernel, 10000, 1, true);
	write_file(e->initrd, 3000, 2, false);
	{
		int fd = open(e->kernel, O_RDONLY);
		uint8_t buf[10000];

		assert_int_equal(read(fd, buf, sizeof(buf)), 10000);
		close(fd);
		dpu_sha256_hex(buf, sizeof(buf), e->ksha);
	}
	clock_now = 1000000;
	rnd_stuck = false;
	rnd_stuck_n = 0;
	assert_int_equal(dpu_store_mem_open(&e->store), 0);
	assert_int_equal(dpu_net_fake_open(VHOST_DIR, &e->net), 0);
	assert_int_equal(dpu_blk_fake_open(VHOST_DIR, &e->blk), 0);
	assert_int_equal(open_agent(e), 0);
	*state = e;
	return 0;
}

/* The sparse files the agent made (only <id>.img files are there). */
static void
remove_volume_files(const char *dir)
{
	char path[256];
	DIR *d = opendir(dir);
	struct dirent *de;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

static int
teardown(void **state)
{
	struct env *e = *state;

	dpu_agent_close(e->a);
	dpu_net_close(e->net);
	dpu_blk_close(e->blk);
	dpu_store_close(e->store);
	for (size_t i = 0; i < e->nevents; i++)
		nv_wire_free(&e->events[i]->base);
	nv_arena_free(&e->ar);
	unlink(e->kernel);
	unlink(e->initrd);
	remove_volume_files(e->voldir);
	rmdir(e->artifacts);
	rmdir(e->dir);
	free(e);
	return 0;
}

/* Northbound */

static Nicvisor__V1__Response *
api(struct env *e, Nicvisor__V1__Request *req)
{
	Nicvisor__V1__Response *rep = nv_arena_alloc(&e->ar, sizeof(*rep));
	uint8_t *buf;
	size_t len;

	req->version = NV_PROTOCOL_VERSION;
	assert_int_equal(nv_wire_pack_buf(&req->base, &buf, &len), 0);
	dpu_agent_api(e->a, buf, len, &e->ar, rep);
	free(buf);
	assert_non_null(rep->status);
	return rep;
}

static Nicvisor__V1__Response *
create(struct env *e, const char *name, uint32_t vcpus, uint64_t mem, bool start)
{
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__CreateVmRequest cr = NICVISOR__V1__CREATE_VM_REQUEST__INIT;
	Nicvisor__V1__VmSpec spec = NICVISOR__V1__VM_SPEC__INIT;

	spec.name = (char *)name;
	spec.vcpus = vcpus;
	spec.memory_mib = mem;
	spec.kernel = e->kernel;
	spec.initrd = e->initrd;
	cr.spec = &spec;
	cr.start = start;
	req.op_case = OP(CREATE_VM);
	req.create_vm = &cr;
	return api(e, &req);
}

static Nicvisor__V1__Response *
vm_op(struct env *e, int op, const char *vm, bool force, uint32_t timeout_ms)
{
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__StartVmRequest s = NICVISOR__V1__START_VM_REQUEST__INIT;
	Nicvisor__V1__StopVmRequest t = NICVISOR__V1__STOP_VM_REQUEST__INIT;
	Nicvisor__V1__DeleteVmRequest d = NICVISOR__V1__DELETE_VM_REQUEST__INIT;
	Nicvisor__V1__GetVmRequest g = NICVISOR__V1__GET_VM_REQUEST__INIT;

	req.op_case = (Nicvisor__V1__Request__OpCase)op;
	s.vm = t.vm = d.vm = g.vm = (char *)vm;
	t.force = d.force = force;
	t.timeout_ms = timeout_ms;
	req.start_vm = &s;
	if (op == OP(STOP_VM))
		req.stop_vm = &t;
	else if (op == OP(DELETE_VM))
		req.delete_vm = &d;
	else if (op == OP(GET_VM))
		req.get_vm = &g;
	return api(e, &req);
}

static Nicvisor__V1__Vm *
get(struct env *e, const char *vm)
{
	Nicvisor__V1__Response *rep = vm_op(e, OP(GET_VM), vm, false, 0);

	assert_int_equal(rep->status->code, CODE(OK));
	return rep->vm;
}

/* Southbound */

static void
host_call(struct env *e, Nicvisor__V1__HostRequest *req, const char *session, struct rec *r)
{
	uint8_t *buf;
	size_t len;

	req->version = NV_PROTOCOL_VERSION;
	req->session = (char *)(session ? session : "");
	assert_int_equal(nv_wire_pack_buf(&req->base, &buf, &len), 0);
	dpu_agent_host(e->a, buf, len, &r->base);
	free(buf);
}

static int
code_of(const struct rec *r)
{
	assert_int_equal(r->answered, 1);
	return r->rep->status ? (int)r->rep->status->code : 0;
}

static char *
hello(struct env *e, const char *id, uint32_t cores, uint64_t mem, Nicvisor__V1__VmReport **reports,
      size_t n)
{
	Nicvisor__V1__HostRequest req = NICVISOR__V1__HOST_REQUEST__INIT;
	Nicvisor__V1__Hello h = NICVISOR__V1__HELLO__INIT;
	Nicvisor__V1__HostCapabilities caps = NICVISOR__V1__HOST_CAPABILITIES__INIT;
	struct rec r;
	char *session;

	caps.cores = cores;
	caps.memory_mib = mem;
	caps.memory_available_mib = mem;
	h.host_id = (char *)id;
	h.caps = &caps;
	h.vms = reports;
	h.n_vms = n;
	req.op_case = HOP(HELLO);
	req.hello = &h;
	rec_init(&r);
	host_call(e, &req, NULL, &r);
	assert_int_equal(code_of(&r), CODE(OK));
	assert_int_equal(r.rep->hello->heartbeat_ms, HB);
	assert_int_equal(r.rep->hello->dead_after_ms, DEAD);
	session = nv_arena_strdup(&e->ar, r.rep->hello->session);
	rec_fini(&r);
	return session;
}

static void
poll_host(struct env *e, const char *session, uint64_t ack, struct rec *r)
{
	Nicvisor__V1__HostRequest req = NICVISOR__V1__HOST_REQUEST__INIT;
	Nicvisor__V1__Poll p = NICVISOR__V1__POLL__INIT;

	p.ack_seq = ack;
	req.op_case = HOP(POLL);
	req.poll = &p;
	rec_init(r);
	host_call(e, &req, session, r);
}

static int
report(struct env *e, const char *session, const char *vm_id, int state, int exit, uint32_t boots)
{
	Nicvisor__V1__HostRequest req = NICVISOR__V1__HOST_REQUEST__INIT;
	Nicvisor__V1__VmReport vr = NICVISOR__V1__VM_REPORT__INIT;
	struct rec r;
	int code;

	vr.vm_id = (char *)vm_id;
	vr.state = (Nicvisor__V1__VmState)state;
	vr.exit = (Nicvisor__V1__ExitKind)exit;
	vr.boots = boots;
	req.op_case = HOP(VM_REPORT);
	req.vm_report = &vr;
	rec_init(&r);
	host_call(e, &req, session, &r);
	code = code_of(&r);
	rec_fini(&r);
	return code;
}

static int
console(struct env *e, const char *session, const char *vm_id, uint64_t off, const char *s)
{
	Nicvisor__V1__HostRequest req = NICVISOR__V1__HOST_REQUEST__INIT;
	Nicvisor__V1__ConsoleData cd = NICVISOR__V1__CONSOLE_DATA__INIT;
	struct rec r;
	int code;

	cd.vm_id = (char *)vm_id;
	cd.offset = off;
	cd.data.data = (uint8_t *)s;
	cd.data.len = strlen(s);
	req.op_case = HOP(CONSOLE);
	req.console = &cd;
	rec_init(&r);
	host_call(e, &req, session, &r);
	code = code_of(&r);
	rec_fini(&r);
	return code;
}

static const Nicvisor__V1__Event *
last_event(struct env *e, const char *topic)
{
	for (size_t i = e->nevents; i-- > 0;)
		if (strcmp(e->topics[i], topic) == 0)
			return e->events[i];
	return NULL;
}

static size_t
held_polls(struct env *e)
{
	struct dpu_agent_stats s;

	dpu_agent_get_stats(e->a, &s);
	return s.held_polls;
}

static size_t
artifacts(struct env *e)
{
	struct dpu_agent_stats s;

	dpu_agent_get_stats(e->a, &s);
	return s.artifacts;
}

/* Hello from h1 and a VM web1 running on it; returns the session. */
static char *
running_vm(struct env *e, char *id)
{
	char *session = hello(e, "h1", 4, 8192, NULL, 0);
	Nicvisor__V1__Response *rep = create(e, "web1", 2, 1024, true);

	assert_int_equal(rep->status->code, CODE(OK));
	snprintf(id, 32, "%s", rep->vm->id);
	assert_int_equal(report(e, session, id, STATE(RUNNING), 0, 1), CODE(OK));
	assert_int_equal(get(e, "web1")->state, STATE(RUNNING));
	return session;
}

static void
test_long_poll(void **state)
{
	struct env *e = *state;
	struct rec p1, p2, p3;
	Nicvisor__V1__Response *rep;
	const Nicvisor__V1__Command *c;
	char *s = hello(e, "h1", 4, 8192, NULL, 0);
	uint64_t seq;

	/* Nothing to do: the poll is held. */
	poll_host(e, s, 0, &p1);
	assert_int_equal(p1.answered, 0);
	assert_int_equal(held_polls(e), 1);

	/* A command answers the held poll at once. */
	rep = create(e, "web1", 2, 1024, true);
	assert_int_equal(rep->status->code, CODE(OK));
	assert_int_equal(rep->vm->state, STATE(STARTING));
	assert_string_equal(rep->vm->host, "h1");
	assert_int_equal(code_of(&p1), CODE(OK));
	assert_int_equal(p1.rep->commands->n_commands, 1);
	c = p1.rep->commands->commands[0];
	assert_int_equal(c->op_case, NICVISOR__V1__COMMAND__OP_LAUNCH);
	assert_string_equal(c->launch->vm_id, rep->vm->id);
	assert_string_equal(c->launch->spec->name, "web1");
	assert_string_equal(c->launch->kernel->id, e->ksha);
	assert_int_equal(c->launch->kernel->size, 10000);
	assert_string_equal(c->launch->kernel->name, "bzImage");
	assert_int_equal(c->launch->initrd->size, 3000);
	seq = c->seq;
	assert_true(seq > 0);
	rec_fini(&p1);

	/* Not acknowledged: repeated, at once. */
	poll_host(e, s, 0, &p2);
	assert_int_equal(code_of(&p2), CODE(OK));
	assert_int_equal(p2.rep->commands->n_commands, 1);
	assert_int_equal(p2.rep->commands->commands[0]->seq, seq);
	rec_fini(&p2);

	/* Acknowledged: held again, answered empty after the heartbeat. */
	poll_host(e, s, seq, &p3);
	assert_int_equal(p3.answered, 0);
	clock_now += HB - 1;
	dpu_agent_tick(e->a);
	assert_int_equal(p3.answered, 0);
	clock_now += 1;
	dpu_agent_tick(e->a);
	assert_int_equal(code_of(&p3), CODE(OK));
	assert_int_equal(p3.rep->commands->n_commands, 0);
	rec_fini(&p3);
	assert_int_equal(held_polls(e), 0);

	/* A newer poll answers the older one, empty. */
	poll_host(e, s, seq, &p1);
	poll_host(e, s, seq, &p2);
	assert_int_equal(code_of(&p1), CODE(OK));
	assert_int_equal(p1.rep->commands->n_commands, 0);
	assert_int_equal(p2.answered, 0);
	/* The next command has the next seq. */
	vm_op(e, OP(STOP_VM), "web1", true, 0);
	assert_int_equal(code_of(&p2), CODE(OK));
	assert_int_equal(p2.rep->commands->commands[0]->seq, seq + 1);
	assert_true(p2.rep->commands->commands[0]->stop->force);
	rec_fini(&p1);
	rec_fini(&p2);

	/* Shutdown abandons held polls and answers new ones at once. */
	poll_host(e, s, seq + 1, &p1);
	assert_int_equal(p1.answered, 0);
	dpu_agent_shutdown(e->a);
	assert_int_equal(p1.abandoned, 1);
	assert_int_equal(p1.answered, 0);
	poll_host(e, s, seq + 1, &p2);
	assert_int_equal(code_of(&p2), CODE(OK));
	rec_fini(&p2);
}

static void
test_read_artifact(void **state)
{
	struct env *e = *state;
	Nicvisor__V1__HostRequest req = NICVISOR__V1__HOST_REQUEST__INIT;
	Nicvisor__V1__ReadArtifact ra = NICVISOR__V1__READ_ARTIFACT__INIT;
	char *s1 = hello(e, "h1", 4, 8192, NULL, 0);
	char *s2 = hello(e, "h2", 1, 512, NULL, 0);
	uint8_t file[10000], got[10000];
	uint64_t off = 0;
	struct rec r;
	int fd;

	assert_int_equal(create(e, "web1", 2, 1024, true)->status->code, CODE(OK));
	fd = open(e->kernel, O_RDONLY);
	assert_int_equal(read(fd, file, sizeof(file)), 10000);
	close(fd);
	req.op_case = HOP(READ_ARTIFACT);
	req.read_artifact = &ra;
	ra.artifact_id = e->ksha;
	ra.length = 3000;
	for (int i = 0; i < 10 && off < sizeof(file); i++) {
		ra.offset = off;
		rec_init(&r);
		host_call(e, &req, s1, &r);
		assert_int_equal(code_of(&r), CODE(OK));
		assert_int_equal(r.rep->chunk->offset, off);
		assert_true(r.rep->chunk->data.len <= 3000);
		memcpy(got + off, r.rep->chunk->data.data, r.rep->chunk->data.len);
		off += r.rep->chunk->data.len;
		rec_fini(&r);
	}
	assert_int_equal(off, 10000);
	assert_memory_equal(got, file, sizeof(file));
	/* At the end: an empty chunk. Past it: an error. */
	ra.offset = 10000;
	rec_init(&r);
	host_call(e, &req, s1, &r);
	assert_int_equal(code_of(&r), CODE(OK));
	assert_int_equal(r.rep->chunk->data.len, 0);
	rec_fini(&r);
	ra.offset = 10001;
	rec_init(&r);
	host_call(e, &req, s1, &r);
	assert_int_equal(code_of(&r), CODE(INVALID_ARGUMENT));
	assert_string_equal(r.rep->status->field, "read_artifact.offset");
	rec_fini(&r);
	/* Another host, or no session: refused. */
	ra.offset = 0;
	rec_init(&r);
	host_call(e, &req, s2, &r);
	assert_int_equal(code_of(&r), CODE(NOT_FOUND));
	rec_fini(&r);
	rec_init(&r);
	host_call(e, &req, "bogus", &r);
	assert_int_equal(code_of(&r), CODE(UNAUTHENTICATED));
	rec_fini(&r);
	/* 0 means the largest chunk. */
	ra.length = 0;
	rec_init(&r);
	host_call(e, &req, s1, &r);
	assert_int_equal(r.rep->chunk->data.len, 10000);
	rec_fini(&r);
}

static void
test_reports_console_events(void **state)
{
	struct env *e = *state;
	char id[32], topic[NV_TOPIC_MAX];
	const Nicvisor__V1__Event *ev;
	char *s = running_vm(e, id);
	uint64_t last_seq = 0;

	snprintf(topic, sizeof(topic), "vm/%s/state", id);
	/* The first event of a VM says it is new. */
	for (size_t i = 0; i < e->nevents; i++) {
		if (strcmp(e->topics[i], topic) == 0) {
			assert_int_equal(e->events[i]->vm_state->state, STATE(CREATED));
			assert_int_equal(e->events[i]->vm_state->previous, STATE(UNSPECIFIED));
			break;
		}
	}
	ev = last_event(e, topic);
	assert_non_null(ev);
	assert_int_equal(ev->vm_state->state, STATE(RUNNING));
	assert_int_equal(ev->vm_state->previous, STATE(STARTING));
	assert_string_equal(ev->vm_state->name, "web1");
	assert_string_equal(ev->vm_state->host, "h1");
	assert_int_equal(artifacts(e), 2);

	/* Console: new bytes are published once, resends not at all. */
	assert_int_equal(console(e, s, id, 0, "hello "), CODE(OK));
	assert_int_equal(console(e, s, id, 0, "hello world"), CODE(OK));
	snprintf(topic, sizeof(topic), "vm/%s/console", id);
	ev = last_event(e, topic);
	assert_int_equal(ev->console->offset, 6);
	assert_int_equal(ev->console->data.len, 5);
	assert_memory_equal(ev->console->data.data, "world", 5);
	{
		size_t before = e->nevents;

		assert_int_equal(console(e, s, id, 0, "hello"), CODE(OK));
		assert_int_equal(e->nevents, before);
	}
	assert_int_equal(get(e, "web1")->console_bytes, 11);

	/* A guest reboot: boots + 1. */
	assert_int_equal(report(e, s, id, STATE(RUNNING), 0, 2), CODE(OK));
	assert_int_equal(get(e, "web1")->boots, 2);
	assert_non_null(strstr(get(e, "web1")->reason, "rebooted"));
	/* Powered off by the guest. */
	assert_int_equal(
		report(e, s, id, STATE(STOPPED), NICVISOR__V1__EXIT_KIND__EXIT_KIND_POWEROFF, 2),
		CODE(OK));
	assert_int_equal(get(e, "web1")->state, STATE(STOPPED));
	assert_int_equal(get(e, "web1")->last_exit, NICVISOR__V1__EXIT_KIND__EXIT_KIND_POWEROFF);
	assert_int_equal(artifacts(e), 0);
	/* Event seqs increase. */
	for (size_t i = 0; i < e->nevents; i++) {
		assert_true(e->events[i]->seq > last_seq);
		last_seq = e->events[i]->seq;
	}
	/* Bad reports. */
	assert_int_equal(report(e, s, id, STATE(CREATED), 0, 0), CODE(INVALID_ARGUMENT));
	assert_int_equal(report(e, s, id, STATE(RUNNING), 99, 0), CODE(INVALID_ARGUMENT));
	assert_int_equal(report(e, s, "vm-00000000000000aa", STATE(RUNNING), 0, 0),
			 CODE(NOT_FOUND));
	assert_int_equal(report(e, s, "web1", STATE(RUNNING), 0, 0), CODE(INVALID_ARGUMENT));
	assert_int_equal(console(e, "bogus", id, 0, "x"), CODE(UNAUTHENTICATED));
}

static void
test_host_lost(void **state)
{
	struct env *e = *state;
	char id[32];
	char *s = running_vm(e, id);
	const Nicvisor__V1__Event *ev;
	struct rec p;

	/* A held poll is contact: the host is not lost while one is held. */
	poll_host(e, s, UINT64_MAX, &p);
	clock_now += DEAD + HB;
	dpu_agent_tick(e->a); /* answers the poll (heartbeat) */
	assert_int_equal(code_of(&p), CODE(OK));
	rec_fini(&p);
	assert_true(get(e, "web1")->state == STATE(RUNNING));
	ev = last_event(e, "host/h1");
	assert_true(ev->host->host->connected);

	/* Then silence for dead_after_ms. */
	clock_now += DEAD;
	dpu_agent_tick(e->a);
	assert_true(last_event(e, "host/h1")->host->host->connected);
	clock_now += 1;
	dpu_agent_tick(e->a);
	ev = last_event(e, "host/h1");
	assert_false(ev->host->host->connected);
	assert_int_equal(get(e, "web1")->state, STATE(RUNNING));
	assert_non_null(strstr(get(e, "web1")->reason, "unreachable"));
	/* The old session is gone. */
	poll_host(e, s, 0, &p);
	assert_int_equal(code_of(&p), CODE(UNAUTHENTICATED));
	rec_fini(&p);
	/* Stop while the host is away: the stop goes out at its Hello. */
	assert_int_equal(vm_op(e, OP(STOP_VM), "web1", false, 4000)->status->code, CODE(OK));
	assert_int_equal(get(e, "web1")->state, STATE(STOPPING));
	{
		Nicvisor__V1__VmReport vr = NICVISOR__V1__VM_REPORT__INIT, *vrs[1] = { &vr };

		vr.vm_id = id;
		vr.state = STATE(RUNNING);
		vr.boots = 1;
		s = hello(e, "h1", 4, 8192, vrs, 1);
	}
	assert_int_equal(get(e, "web1")->state, STATE(STOPPING));
	poll_host(e, s, 0, &p);
	assert_int_equal(code_of(&p), CODE(OK));
	assert_int_equal(p.rep->commands->n_commands, 1);
	assert_int_equal(p.rep->commands->commands[0]->op_case, NICVISOR__V1__COMMAND__OP_STOP);
	assert_int_equal(p.rep->commands->commands[0]->stop->timeout_ms, 4000);
	rec_fini(&p);
}

static void
test_reconcile_host_restart(void **state)
{
	struct env *e = *state;
	char id1[32], id2[32];
	char *s = running_vm(e, id1);
	Nicvisor__V1__Response *rep = create(e, "web2", 1, 512, true);
	struct rec p;

	snprintf(id2, sizeof(id2), "%s", rep->vm->id);
	assert_int_equal(report(e, s, id2, STATE(RUNNING), 0, 1), CODE(OK));
	/* A third VM whose LaunchVm was never delivered. */
	assert_int_equal(create(e, "web3", 1, 256, true)->status->code, CODE(OK));
	assert_int_equal(vm_op(e, OP(STOP_VM), "web2", false, 0)->status->code, CODE(OK));
	/* The host restarts and comes back with nothing running. */
	s = hello(e, "h1", 4, 8192, NULL, 0);
	assert_int_equal(get(e, "web1")->state, STATE(FAILED));
	assert_non_null(strstr(get(e, "web1")->reason, "restarted"));
	assert_int_equal(get(e, "web2")->state, STATE(STOPPED));
	/* web3's launch is sent again on the new session. */
	assert_int_equal(get(e, "web3")->state, STATE(STARTING));
	poll_host(e, s, 0, &p);
	assert_int_equal(code_of(&p), CODE(OK));
	assert_int_equal(p.rep->commands->n_commands, 1);
	assert_string_equal(p.rep->commands->commands[0]->launch->spec->name, "web3");
	rec_fini(&p);
	/* Only web3 still holds artifacts (shared kernel + initrd). */
	assert_int_equal(artifacts(e), 2);
}

static void
test_reconcile_adopt(void **state)
{
	struct env *e = *state;
	Nicvisor__V1__VmReport r[4], *rp[4];
	Nicvisor__V1__VmSpec sp[3];
	Nicvisor__V1__Vm *vm;
	char id[32];

	running_vm(e, id);
	for (int i = 0; i < 4; i++) {
		nicvisor__v1__vm_report__init(&r[i]);
		rp[i] = &r[i];
		r[i].state = STATE(RUNNING);
		r[i].boots = 1;
	}
	for (int i = 0; i < 3; i++) {
		nicvisor__v1__vm_spec__init(&sp[i]);
		sp[i].vcpus = 2;
		sp[i].memory_mib = 256;
		sp[i].kernel = "/gone/kernel";
	}
	/* Known VM, with a newer boot count and console. */
	r[0].vm_id = id;
	r[0].boots = 5;
	r[0].console_offset = 100;
	/* Unknown VMs: adopted with their spec, renamed on a clash, or with
	 * what can be salvaged. */
	r[1].vm_id = "vm-1111111111111111";
	sp[0].name = "orphan";
	r[1].spec = &sp[0];
	r[2].vm_id = "vm-2222222222222222";
	sp[1].name = "web1";
	r[2].spec = &sp[1];
	r[3].vm_id = "vm-3333333333333333";
	sp[2].name = "BAD NAME";
	sp[2].vcpus = 0;
	r[3].spec = &sp[2];
	hello(e, "h1", 4, 8192, rp, 4);

	vm = get(e, "web1");
	assert_string_equal(vm->id, id);
	assert_int_equal(vm->boots, 5);
	assert_int_equal(vm->console_bytes, 100);
	vm = get(e, "orphan");
	assert_string_equal(vm->id, "vm-1111111111111111");
	assert_int_equal(vm->state, STATE(RUNNING));
	assert_string_equal(vm->host, "h1");
	assert_non_null(strstr(vm->reason, "adopted"));
	vm = get(e, "vm-2222222222222222");
	assert_string_equal(vm->spec->name, "adopted-2222222222222222");
	assert_int_equal(vm->spec->vcpus, 2);
	vm = get(e, "vm-3333333333333333");
	assert_string_equal(vm->spec->name, "adopted-3333333333333333");
	assert_int_equal(vm->spec->vcpus, 1);
	assert_int_equal(vm->spec->memory_mib, 256);
	/* Adopted VMs count on their host. */
	{
		Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
		Nicvisor__V1__ListHostsRequest lh = NICVISOR__V1__LIST_HOSTS_REQUEST__INIT;
		Nicvisor__V1__Response *rep;

		req.op_case = OP(LIST_HOSTS);
		req.list_hosts = &lh;
		rep = api(e, &req);
		assert_int_equal(rep->hosts->hosts[0]->vms, 4);
		assert_int_equal(rep->hosts->hosts[0]->memory_used_mib, 1024 + 256 * 3);
	}
	/* A duplicate id in one Hello is refused. */
	{
		Nicvisor__V1__HostRequest req = NICVISOR__V1__HOST_REQUEST__INIT;
		Nicvisor__V1__Hello h = NICVISOR__V1__HELLO__INIT;
		Nicvisor__V1__HostCapabilities caps = NICVISOR__V1__HOST_CAPABILITIES__INIT;
		Nicvisor__V1__VmReport *dup[2] = { &r[1], &r[1] };
		struct rec rr;

		caps.cores = 1;
		h.host_id = "h9";
		h.caps = &caps;
		h.vms = dup;
		h.n_vms = 2;
		req.op_case = HOP(HELLO);
		req.hello = &h;
		rec_init(&rr);
		host_call(e, &req, NULL, &rr);
		assert_int_equal(code_of(&rr), CODE(INVALID_ARGUMENT));
		assert_string_equal(rr.rep->status->field, "hello.vms[1]");
		rec_fini(&rr);
	}
}

static void
test_stop_before_delivery(void **state)
{
	struct env *e = *state;
	char *s = hello(e, "h1", 4, 8192, NULL, 0);
	Nicvisor__V1__Response *rep;
	struct rec p;

	/* Never polled for: the launch is taken back. */
	assert_int_equal(create(e, "a", 1, 256, true)->status->code, CODE(OK));
	rep = vm_op(e, OP(STOP_VM), "a", false, 0);
	assert_int_equal(rep->status->code, CODE(OK));
	assert_int_equal(rep->vm->state, STATE(STOPPED));
	assert_int_equal(artifacts(e), 0);
	poll_host(e, s, 0, &p);
	assert_int_equal(p.answered, 0); /* nothing queued: held */
	dpu_agent_shutdown(e->a);
	rec_fini(&p);
}

static void
test_stop_sent_after_launch(void **state)
{
	struct env *e = *state;
	char *s = hello(e, "h1", 4, 8192, NULL, 0);
	Nicvisor__V1__Response *rep;
	struct rec p;

	assert_int_equal(create(e, "a", 1, 256, true)->status->code, CODE(OK));
	poll_host(e, s, 0, &p); /* delivers the launch, not acknowledged */
	assert_int_equal(p.rep->commands->n_commands, 1);
	rec_fini(&p);
	rep = vm_op(e, OP(STOP_VM), "a", false, 0);
	assert_int_equal(rep->vm->state, STATE(STOPPING));
	poll_host(e, s, 0, &p);
	assert_int_equal(p.rep->commands->n_commands, 2);
	assert_int_equal(p.rep->commands->commands[1]->op_case, NICVISOR__V1__COMMAND__OP_STOP);
	assert_int_equal(p.rep->commands->commands[1]->stop->timeout_ms, 30000);
	rec_fini(&p);
	/* Asking again while it stops changes nothing. */
	rep = vm_op(e, OP(STOP_VM), "a", false, 0);
	assert_int_equal(rep->status->code, CODE(OK));
	poll_host(e, s, 0, &p);
	assert_int_equal(p.rep->commands->n_commands, 2);
	rec_fini(&p);
}

static void
test_stop_escalation(void **state)
{
	struct env *e = *state;
	char id[32];
	char *s = running_vm(e, id);
	uint64_t ack;
	struct rec p;

	assert_int_equal(vm_op(e, OP(STOP_VM), "web1", false, 2000)->status->code, CODE(OK));
	poll_host(e, s, 0, &p);
	ack = p.rep->commands->commands[p.rep->commands->n_commands - 1]->seq;
	assert_false(p.rep->commands->commands[p.rep->commands->n_commands - 1]->stop->force);
	rec_fini(&p);
	poll_host(e, s, ack, &p); /* held */
	clock_now += 900;
	dpu_agent_tick(e->a);
	assert_int_equal(p.answered, 0);
	/* The host never reports STOPPED: after the graceful phase and the
	 * grace period, a forced stop goes out. */
	clock_now += 2000 + 5000;
	dpu_agent_tick(e->a);
	assert_int_equal(code_of(&p), CODE(OK));
	rec_fini(&p);
	poll_host(e, s, ack, &p);
	assert_int_equal(p.rep->commands->n_commands, 1);
	assert_true(p.rep->commands->commands[0]->stop->force);
	assert_non_null(strstr(get(e, "web1")->reason, "forcing"));
	rec_fini(&p);
	/* The host then reports it stopped. */
	assert_int_equal(
		report(e, s, id, STATE(STOPPED), NICVISOR__V1__EXIT_KIND__EXIT_KIND_STOPPED, 1),
		CODE(OK));
	assert_int_equal(get(e, "web1")->state, STATE(STOPPED));
}

static void
reopen(struct env *e)
{
	dpu_agent_close(e->a);
	e->a = NULL;
	assert_int_equal(open_agent(e), 0);
}

static void
test_tombstone_survives_restart(void **state)
{
	struct env *e = *state;
	Nicvisor__V1__VmReport vr = NICVISOR__V1__VM_REPORT__INIT, *vrs[1] = { &vr };
	Nicvisor__V1__AgentState *saved;
	Nicvisor__V1__Response *rep;
	char id[32];
	char *s;
	struct rec p;

	running_vm(e, id);
	clock_now += DEAD + 1;
	dpu_agent_tick(e->a); /* h1 lost */
	rep = vm_op(e, OP(DELETE_VM), "web1", false, 0);
	assert_int_equal(rep->status->code, CODE(FAILED_PRECONDITION));
	rep = vm_op(e, OP(DELETE_VM), "web1", true, 0);
	assert_int_equal(rep->status->code, CODE(OK));
	assert_int_equal(vm_op(e, OP(GET_VM), "web1", false, 0)->status->code, CODE(NOT_FOUND));

	/* The agent restarts; then h1 comes back still running the VM. */
	reopen(e);
	vr.vm_id = id;
	vr.state = STATE(RUNNING);
	s = hello(e, "h1", 4, 8192, vrs, 1);
	assert_int_equal(vm_op(e, OP(GET_VM), id, false, 0)->status->code, CODE(NOT_FOUND));
	poll_host(e, s, 0, &p);
	assert_int_equal(p.rep->commands->n_commands, 1);
	assert_string_equal(p.rep->commands->commands[0]->stop->vm_id, id);
	assert_true(p.rep->commands->commands[0]->stop->forget);
	assert_true(p.rep->commands->commands[0]->stop->force);
	/* Reports about it are accepted and ignored. */
	assert_int_equal(report(e, s, id, STATE(STOPPED), 0, 1), CODE(OK));
	{
		uint64_t seq = p.rep->commands->commands[0]->seq;

		rec_fini(&p);
		poll_host(e, s, seq, &p);
	}
	/* Acknowledged: the tombstone is gone from the saved state. */
	assert_int_equal(dpu_store_load(e->store, &saved), 0);
	assert_int_equal(saved->n_deleted, 0);
	assert_int_equal(saved->n_vms, 0);
	dpu_store_free_state(saved);
	dpu_agent_shutdown(e->a);
	rec_fini(&p);
}

static void
test_reload(void **state)
{
	struct env *e = *state;
	char id[32], id2[32];
	Nicvisor__V1__Vm *vm;

	running_vm(e, id);
	snprintf(id2, sizeof(id2), "%s", create(e, "idle", 1, 64, false)->vm->id);
	reopen(e);
	vm = get(e, "web1");
	assert_string_equal(vm->id, id);
	assert_int_equal(vm->state, STATE(RUNNING));
	assert_string_equal(vm->host, "h1");
	assert_non_null(strstr(vm->reason, "waiting for host h1"));
	assert_int_equal(vm->boots, 1);
	vm = get(e, "idle");
	assert_string_equal(vm->id, id2);
	assert_int_equal(vm->state, STATE(CREATED));
	/* The host reattaches. */
	{
		Nicvisor__V1__VmReport vr = NICVISOR__V1__VM_REPORT__INIT, *vrs[1] = { &vr };

		vr.vm_id = id;
		vr.state = STATE(RUNNING);
		vr.boots = 1;
		hello(e, "h1", 4, 8192, vrs, 1);
	}
	vm = get(e, "web1");
	assert_int_equal(vm->state, STATE(RUNNING));
	assert_null(strstr(vm->reason, "waiting"));
}

static void
test_resources_and_sharing(void **state)
{
	struct env *e = *state;
	Nicvisor__V1__Response *rep;
	char *s = hello(e, "h1", 2, 2048, NULL, 0);

	(void)s;
	assert_int_equal(create(e, "a", 2, 1024, true)->status->code, CODE(OK));
	assert_int_equal(create(e, "b", 2, 1024, true)->status->code, CODE(OK));
	/* Same kernel and initrd: shared. */
	assert_int_equal(artifacts(e), 2);
	rep = create(e, "c", 1, 16, true);
	assert_int_equal(rep->status->code, CODE(RESOURCE_EXHAUSTED));
	assert_string_equal(rep->status->field, "spec.memory_mib");
	assert_int_equal(vm_op(e, OP(GET_VM), "c", false, 0)->status->code, CODE(NOT_FOUND));
	rep = create(e, "d", 3, 16, true);
	assert_int_equal(rep->status->code, CODE(RESOURCE_EXHAUSTED));
	assert_string_equal(rep->status->message, "needs 3 vCPUs, largest host has 2");
	/* Wrong-state operations. */
	rep = vm_op(e, OP(START_VM), "a", false, 0);
	assert_int_equal(rep->status->code, CODE(FAILED_PRECONDITION));
	assert_null(rep->vm);
	rep = vm_op(e, OP(DELETE_VM), "a", false, 0);
	assert_int_equal(rep->status->code, CODE(FAILED_PRECONDITION));
	/* A deleted VM gives its room back and publishes its end. */
	{
		char topic[NV_TOPIC_MAX];
		const Nicvisor__V1__Event *ev;

		snprintf(topic, sizeof(topic), "vm/%s/state", get(e, "a")->id);
		assert_int_equal(vm_op(e, OP(DELETE_VM), "a", true, 0)->status->code, CODE(OK));
		ev = last_event(e, topic);
		assert_non_null(ev);
		assert_int_equal(ev->vm_state->state, STATE(UNSPECIFIED));
		assert_int_equal(ev->vm_state->previous, STATE(STARTING));
		assert_string_equal(ev->vm_state->reason, "deleted");
	}
	assert_int_equal(create(e, "c", 1, 16, true)->status->code, CODE(OK));
}

static void
test_decode_errors_keep_serving(void **state)
{
	struct env *e = *state;
	Nicvisor__V1__Response rep;
	struct dpu_agent_stats st;
	uint8_t junk[64];
	struct rec r;

	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(0xff - i);
	dpu_agent_api(e->a, junk, sizeof(junk), &e->ar, &rep);
	assert_int_equal(rep.status->code, CODE(MALFORMED));
	assert_int_equal(rep.version, NV_PROTOCOL_VERSION);
	dpu_agent_api(e->a, NULL, 0, &e->ar, &rep); /* empty: version 0 */
	assert_int_equal(rep.status->code, CODE(VERSION_MISMATCH));
	rec_init(&r);
	dpu_agent_host(e->a, junk, sizeof(junk), &r.base);
	assert_int_equal(code_of(&r), CODE(MALFORMED));
	rec_fini(&r);
	dpu_agent_get_stats(e->a, &st);
	assert_int_equal(st.api_requests, 2);
	assert_int_equal(st.api_errors, 2);
	assert_int_equal(st.host_errors, 1);
	assert_int_equal(create(e, "fine", 1, 64, false)->status->code, CODE(OK));
}

/* Networks and NICs */

static Nicvisor__V1__Response *
net_create(struct env *e, const char *name, uint32_t vlan)
{
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__CreateNetworkRequest cn = NICVISOR__V1__CREATE_NETWORK_REQUEST__INIT;

	cn.name = (char *)name;
	cn.vlan = vlan;
	req.op_case = OP(CREATE_NETWORK);
	req.create_network = &cn;
	return api(e, &req);
}

static Nicvisor__V1__Response *
net_create_vxlan(struct env *e, const char *name, uint32_t vlan, uint32_t vni, char **vteps,
		 size_t nvteps)
{
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__CreateNetworkRequest cn = NICVISOR__V1__CREATE_NETWORK_REQUEST__INIT;

	cn.name = (char *)name;
	cn.vlan = vlan;
	cn.vni = vni;
	cn.remote_vteps = vteps;
	cn.n_remote_vteps = nvteps;
	req.op_case = OP(CREATE_NETWORK);
	req.create_network = &cn;
	return api(e, &req);
}

static Nicvisor__V1__Response *
net_op(struct env *e, int op, const char *ref)
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
	return api(e, &req);
}

/* A VM with NICs on nets[i] with macs[i] (NULL or "": assigned). */
static Nicvisor__V1__Response *
create_nics(struct env *e, const char *name, uint32_t vcpus, bool start, const char *const *nets,
	    const char *const *macs, size_t n)
{
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__CreateVmRequest cr = NICVISOR__V1__CREATE_VM_REQUEST__INIT;
	Nicvisor__V1__VmSpec spec = NICVISOR__V1__VM_SPEC__INIT;
	Nicvisor__V1__NicSpec nics[16], *np[16];

	for (size_t i = 0; i < n; i++) {
		nicvisor__v1__nic_spec__init(&nics[i]);
		nics[i].network = (char *)nets[i];
		nics[i].mac = (char *)(macs && macs[i] ? macs[i] : "");
		np[i] = &nics[i];
	}
	spec.name = (char *)name;
	spec.vcpus = vcpus;
	spec.memory_mib = 256;
	spec.kernel = e->kernel;
	spec.nics = np;
	spec.n_nics = n;
	cr.spec = &spec;
	cr.start = start;
	req.op_case = OP(CREATE_VM);
	req.create_vm = &cr;
	return api(e, &req);
}

static Nicvisor__V1__Response *
add_nic(struct env *e, const char *vm, const char *network, const char *mac)
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
	return api(e, &req);
}

static Nicvisor__V1__Response *
remove_nic(struct env *e, const char *vm, uint32_t index)
{
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__RemoveNicRequest rn = NICVISOR__V1__REMOVE_NIC_REQUEST__INIT;

	rn.vm = (char *)vm;
	rn.index = index;
	req.op_case = OP(REMOVE_NIC);
	req.remove_nic = &rn;
	return api(e, &req);
}

static Nicvisor__V1__Response *
port_stats(struct env *e, const char *vm)
{
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__GetPortStatsRequest ps = NICVISOR__V1__GET_PORT_STATS_REQUEST__INIT;

	ps.vm = (char *)(vm ? vm : "");
	req.op_case = OP(GET_PORT_STATS);
	req.get_port_stats = &ps;
	return api(e, &req);
}

static void
expect_err(Nicvisor__V1__Response *rep, int code, const char *field, const char *part)
{
	if ((int)rep->status->code != code)
		fail_msg("code %d, wanted %d: %s", rep->status->code, code, rep->status->message);
	assert_string_equal(rep->status->field, field);
	if (part != NULL && strstr(rep->status->message, part) == NULL)
		fail_msg("message '%s' lacks '%s'", rep->status->message, part);
	assert_int_equal(rep->result_case, NICVISOR__V1__RESPONSE__RESULT__NOT_SET);
}

static void
fake_counts(struct env *e, size_t *nets, size_t *ports)
{
	size_t uplinks;

	dpu_net_fake_counts(e->net, nets, ports, &uplinks);
}

/* The dataplane port name of NIC i of a VM: "<id>-<12 hex of the MAC>". */
static void
port_of(const Nicvisor__V1__Vm *vm, size_t i, char *out)
{
	const char *m = vm->spec->nics[i]->mac;

	sprintf(out, "%s-%.2s%.2s%.2s%.2s%.2s%.2s", vm->id, m, m + 3, m + 6, m + 9, m + 12, m + 15);
}

static bool
locally_administered_unicast(const char *mac)
{
	unsigned int b0;

	assert_int_equal(strlen(mac), 17);
	assert_int_equal(sscanf(mac, "%2x", &b0), 1);
	return (b0 & 3) == 2;
}

static Nicvisor__V1__Response *
net_update(struct env *e, const char *ref, char **vteps, size_t nvteps)
{
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__UpdateNetworkRequest un = NICVISOR__V1__UPDATE_NETWORK_REQUEST__INIT;

	un.network = (char *)ref;
	un.remote_vteps = vteps;
	un.n_remote_vteps = nvteps;
	req.op_case = OP(UPDATE_NETWORK);
	req.update_network = &un;
	return api(e, &req);
}

static void restart(struct env *e);

/* Overlay networks: a VNI, unique, not with a VLAN; remote VTEPs. */
static void
test_overlay_networks(void **state)
{
	struct env *e = *state;
	Nicvisor__V1__Response *rep;
	size_t nets, ports;
	char *vteps[2] = { "192.0.2.2", "192.0.2.3" }, *bad[1] = { "192.0.2.300" };

	rep = net_create_vxlan(e, "teal", 0, 5001, vteps, 2);
	assert_int_equal(rep->status->code, CODE(OK));
	assert_int_equal(rep->network->vni, 5001);
	assert_int_equal(rep->network->vlan, 0);
	assert_int_equal(rep->network->n_remote_vteps, 2);
	assert_string_equal(rep->network->remote_vteps[1], "192.0.2.3");
	expect_err(net_create_vxlan(e, "cyan", 0, 5001, NULL, 0), CODE(ALREADY_EXISTS), "vni",
		   "network teal's");
	expect_err(net_create_vxlan(e, "cyan", 100, 5002, NULL, 0), CODE(INVALID_ARGUMENT), "vni",
		   "not both");
	expect_err(net_create_vxlan(e, "cyan", 0, 1 << 24, NULL, 0), CODE(INVALID_ARGUMENT), "vni",
		   "1..16777215");
	expect_err(net_create_vxlan(e, "cyan", 0, 5002, bad, 1), CODE(INVALID_ARGUMENT),
		   "remote_vteps[0]", "unicast");
	expect_err(net_create_vxlan(e, "cyan", 0, 0, vteps, 1), CODE(INVALID_ARGUMENT),
		   "remote_vteps", "give a vni");
	rep = net_op(e, OP(GET_NETWORK), "teal");
	assert_int_equal(rep->status->code, CODE(OK));
	assert_int_equal(rep->network->vni, 5001);
	assert_string_equal(rep->network->remote_vteps[0], "192.0.2.2");
	/* The flood list is replaced; only an overlay network has one. */
	rep = net_update(e, "teal", &vteps[1], 1);
	assert_int_equal(rep->status->code, CODE(OK));
	assert_int_equal(rep->network->n_remote_vteps, 1);
	assert_string_equal(rep->network->remote_vteps[0], "192.0.2.3");
	rep = net_op(e, OP(GET_NETWORK), "teal");
	assert_int_equal(rep->network->n_remote_vteps, 1);
	/* Both survive a restart, and the new dataplane gets the network. */
	restart(e);
	rep = net_op(e, OP(GET_NETWORK), "teal");
	assert_int_equal(rep->status->code, CODE(OK));
	assert_int_equal(rep->network->vni, 5001);
	assert_int_equal(rep->network->n_remote_vteps, 1);
	assert_string_equal(rep->network->remote_vteps[0], "192.0.2.3");
	fake_counts(e, &nets, &ports);
	assert_int_equal(nets, 1);
	expect_err(net_update(e, "teal", bad, 1), CODE(INVALID_ARGUMENT), "remote_vteps[0]",
		   "unicast");
	expect_err(net_update(e, "nothere", NULL, 0), CODE(NOT_FOUND), "network", NULL);
	assert_int_equal(net_create(e, "plain", 0)->status->code, CODE(OK));
	expect_err(net_update(e, "plain", vteps, 1), CODE(FAILED_PRECONDITION), "network",
		   "no VNI");
	assert_int_equal(net_op(e, OP(DELETE_NETWORK), "plain")->status->code, CODE(OK));
	rep = net_update(e, "teal", NULL, 0);
	assert_int_equal(rep->status->code, CODE(OK));
	assert_int_equal(rep->network->n_remote_vteps, 0);
	fake_counts(e, &nets, &ports);
	assert_int_equal(nets, 1);
	assert_int_equal(net_op(e, OP(DELETE_NETWORK), "teal")->status->code, CODE(OK));
	fake_counts(e, &nets, &ports);
	assert_int_equal(nets, 0);
}

static void
test_networks(void **state)
{
	struct env *e = *state;
	Nicvisor__V1__Response *rep;
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__ListNetworksRequest ln = NICVISOR__V1__LIST_NETWORKS_REQUEST__INIT;
	const char *blue[1] = { "blue" };
	char blue_id[32], token[128] = "";
	size_t nets, ports;
	int pages = 0;
	char seen[64] = "";

	rep = net_create(e, "blue", 100);
	assert_int_equal(rep->status->code, CODE(OK));
	assert_string_equal(rep->network->name, "blue");
	assert_int_equal(rep->network->vlan, 100);
	assert_true(strncmp(rep->network->id, "net-", 4) == 0 && strlen(rep->network->id) == 20);
	assert_true(rep->network->created_unix_ms > 0);
	snprintf(blue_id, sizeof(blue_id), "%s", rep->network->id);
	/* Untagged networks may be several; a tag only one. */
	assert_int_equal(net_create(e, "red", 0)->status->code, CODE(OK));
	assert_int_equal(net_create(e, "green", 0)->status->code, CODE(OK));
	expect_err(net_create(e, "blue", 7), CODE(ALREADY_EXISTS), "name", "exists");
	expect_err(net_create(e, "navy", 100), CODE(ALREADY_EXISTS), "vlan", "network blue's");
	expect_err(net_create(e, "navy", 4095), CODE(INVALID_ARGUMENT), "vlan", "1..4094");
	expect_err(net_create(e, "Navy", 5), CODE(INVALID_ARGUMENT), "name", NULL);
	expect_err(net_create(e, "net-0123456789abcdef", 5), CODE(INVALID_ARGUMENT), "name",
		   "network id");
	fake_counts(e, &nets, &ports);
	assert_int_equal(nets, 3);

	/* By id or by name. */
	rep = net_op(e, OP(GET_NETWORK), blue_id);
	assert_int_equal(rep->status->code, CODE(OK));
	assert_string_equal(rep->network->name, "blue");
	rep = net_op(e, OP(GET_NETWORK), "blue");
	assert_string_equal(rep->network->id, blue_id);
	expect_err(net_op(e, OP(GET_NETWORK), "nope"), CODE(NOT_FOUND), "network", "nope");
	expect_err(net_op(e, OP(GET_NETWORK), ""), CODE(INVALID_ARGUMENT), "network", NULL);

	/* Pages of 2, by name. */
	req.op_case = OP(LIST_NETWORKS);
	req.list_networks = &ln;
	ln.page_size = 2;
	do {
		ln.page_token = token;
		rep = api(e, &req);
		assert_int_equal(rep->status->code, CODE(OK));
		for (size_t i = 0; i < rep->networks->n_networks; i++) {
			strcat(seen, rep->networks->networks[i]->name);
			strcat(seen, " ");
		}
		snprintf(token, sizeof(token), "%s", rep->networks->next_page_token);
	} while (token[0] != 0 && ++pages < 5);
	assert_string_equal(seen, "blue green red ");
	assert_int_equal(pages, 1);
	/* A VM list's token is no good here. */
	ln.page_token = "vms1.61";
	expect_err(api(e, &req), CODE(INVALID_ARGUMENT), "page_token", NULL);

	/* In use: not deleted. */
	assert_int_equal(create_nics(e, "web1", 1, false, blue, NULL, 1)->status->code, CODE(OK));
	expect_err(net_op(e, OP(DELETE_NETWORK), "blue"), CODE(FAILED_PRECONDITION), "network",
		   "NIC 0 of vm web1");
	assert_int_equal(vm_op(e, OP(DELETE_VM), "web1", false, 0)->status->code, CODE(OK));
	rep = net_op(e, OP(DELETE_NETWORK), blue_id);
	assert_int_equal(rep->status->code, CODE(OK));
	assert_string_equal(rep->network->name, "blue");
	expect_err(net_op(e, OP(DELETE_NETWORK), "blue"), CODE(NOT_FOUND), "network", NULL);
	fake_counts(e, &nets, &ports);
	assert_int_equal(nets, 2);
	assert_int_equal(ports, 0);
	/* The VLAN is free again. */
	assert_int_equal(net_create(e, "navy", 100)->status->code, CODE(OK));
}

static void
test_nics_at_create(void **state)
{
	struct env *e = *state;
	const char *nets[3] = { "blue", "red", "blue" };
	const char *macs[3] = { "52:54:00:AB:CD:EF", NULL, NULL };
	Nicvisor__V1__Response *rep;
	Nicvisor__V1__Vm *vm;
	char port[64], network[64], red_id[32];
	unsigned int qp;
	size_t nnets, ports;

	assert_int_equal(net_create(e, "blue", 10)->status->code, CODE(OK));
	snprintf(red_id, sizeof(red_id), "%s", net_create(e, "red", 0)->network->id);
	nets[1] = red_id; /* a network may be named by its id */
	rep = create_nics(e, "web1", 3, false, nets, macs, 3);
	assert_int_equal(rep->status->code, CODE(OK));
	vm = rep->vm;
	assert_int_equal(vm->spec->n_nics, 3);
	/* MACs written in lower case; assigned ones locally administered,
	 * unicast and distinct; networks kept by name. */
	assert_string_equal(vm->spec->nics[0]->mac, "52:54:00:ab:cd:ef");
	assert_string_equal(vm->spec->nics[1]->network, "red");
	assert_true(locally_administered_unicast(vm->spec->nics[1]->mac));
	assert_true(locally_administered_unicast(vm->spec->nics[2]->mac));
	assert_string_not_equal(vm->spec->nics[1]->mac, vm->spec->nics[2]->mac);
	/* Every NIC has its port now, with min(vcpus, 8) queue pairs. */
	fake_counts(e, &nnets, &ports);
	assert_int_equal(ports, 3);
	port_of(vm, 1, port);
	assert_true(dpu_net_fake_port(e->net, port, network, sizeof(network), &qp));
	assert_string_equal(network, "red");
	assert_int_equal(qp, 3);
	assert_string_equal(get(e, "web1")->spec->nics[2]->mac, vm->spec->nics[2]->mac);

	/* Refused, and nothing made: */
	nets[1] = "nope";
	expect_err(create_nics(e, "web2", 1, false, nets, NULL, 3), CODE(NOT_FOUND),
		   "spec.nics[1].network", "nope");
	nets[1] = "red";
	macs[0] = "52:54:00:ab:cd:ef"; /* web1's */
	expect_err(create_nics(e, "web2", 1, false, nets, macs, 3), CODE(ALREADY_EXISTS),
		   "spec.nics[0].mac", "vm web1");
	macs[0] = "52:54:00:00:00:01";
	macs[2] = "52:54:00:00:00:01";
	expect_err(create_nics(e, "web2", 1, false, nets, macs, 3), CODE(INVALID_ARGUMENT),
		   "spec.nics[2].mac", "NIC 0");
	macs[2] = "03:00:00:00:00:01";
	expect_err(create_nics(e, "web2", 1, false, nets, macs, 3), CODE(INVALID_ARGUMENT),
		   "spec.nics[2].mac", "multicast");
	{
		const char *nine[9] = { "blue", "blue", "blue", "blue", "blue",
					"blue", "blue", "blue", "blue" };

		expect_err(create_nics(e, "web2", 1, false, nine, NULL, 9), CODE(INVALID_ARGUMENT),
			   "spec.nics", "at most 8");
		/* Eight is fine, and a big VM's NICs get 8 queue pairs. */
		rep = create_nics(e, "web3", 12, false, nine, NULL, 8);
		assert_int_equal(rep->status->code, CODE(OK));
		port_of(rep->vm, 7, port);
		assert_true(dpu_net_fake_port(e->net, port, network, sizeof(network), &qp));
		assert_int_equal(qp, 8);
	}
	assert_int_equal(vm_op(e, OP(GET_VM), "web2", false, 0)->status->code, CODE(NOT_FOUND));
	fake_counts(e, &nnets, &ports);
	assert_int_equal(ports, 3 + 8);
	/* DeleteVm takes its ports away. */
	assert_int_equal(vm_op(e, OP(DELETE_VM), "web3", false, 0)->status->code, CODE(OK));
	fake_counts(e, &nnets, &ports);
	assert_int_equal(ports, 3);
}

static void
test_mac_assignment_unique(void **state)
{
	struct env *e = *state;
	const char *nets[2] = { "blue", "blue" };
	Nicvisor__V1__Response *r1, *r2;

	assert_int_equal(net_create(e, "blue", 0)->status->code, CODE(OK));
	/* The random source repeats itself: the agent must not hand out a
	 * MAC twice, within one VM or across VMs. Made locally administered
	 * and unicast, 0x11 and 0x22 give these two. */
	rnd_stuck = true;
	r1 = create_nics(e, "a", 1, false, nets, NULL, 2);
	assert_int_equal(r1->status->code, CODE(OK));
	assert_string_equal(r1->vm->spec->nics[0]->mac, "12:11:11:11:11:11");
	assert_string_equal(r1->vm->spec->nics[1]->mac, "22:22:22:22:22:22");
	/* Both taken: no free MAC comes out of this source, a clear refusal. */
	expect_err(create_nics(e, "b", 1, false, nets, NULL, 1), CODE(INTERNAL), "", "free MAC");
	r2 = create(e, "b", 1, 64, false);
	assert_int_equal(r2->status->code, CODE(OK));
	expect_err(add_nic(e, "b", "blue", NULL), CODE(INTERNAL), "", "free MAC");
	/* An operator's MAC that an assigned one took is refused. */
	expect_err(add_nic(e, "b", "blue", "12:11:11:11:11:11"), CODE(ALREADY_EXISTS), "nic.mac",
		   "vm a");
	/* One goes, its MAC can be assigned again. */
	assert_int_equal(remove_nic(e, "a", 0)->status->code, CODE(OK));
	r2 = add_nic(e, "b", "blue", NULL);
	assert_int_equal(r2->status->code, CODE(OK));
	assert_string_equal(r2->vm->spec->nics[0]->mac, "12:11:11:11:11:11");
	rnd_stuck = false;
	r2 = add_nic(e, "b", "blue", NULL);
	assert_int_equal(r2->status->code, CODE(OK));
	assert_true(locally_administered_unicast(r2->vm->spec->nics[1]->mac));
	assert_string_not_equal(r2->vm->spec->nics[1]->mac, "22:22:22:22:22:22");
}

static void
test_nic_state_machine(void **state)
{
	struct env *e = *state;
	const char *nets[3] = { "blue", "red", "blue" };
	char *s = hello(e, "h1", 4, 8192, NULL, 0);
	char id[32], port2[64], p[64];
	Nicvisor__V1__Response *rep;
	Nicvisor__V1__Vm *vm;
	size_t nnets, ports;
	struct rec pr;

	assert_int_equal(net_create(e, "blue", 0)->status->code, CODE(OK));
	assert_int_equal(net_create(e, "red", 20)->status->code, CODE(OK));
	rep = create_nics(e, "web1", 2, false, nets, NULL, 1);
	assert_int_equal(rep->status->code, CODE(OK));
	snprintf(id, sizeof(id), "%s", rep->vm->id);

	/* CREATED: NICs may change. */
	rep = add_nic(e, "web1", "red", "52:54:00:00:00:02");
	assert_int_equal(rep->status->code, CODE(OK));
	assert_int_equal(rep->vm->spec->n_nics, 2);
	assert_string_equal(rep->vm->spec->nics[1]->network, "red");
	assert_string_equal(rep->vm->spec->nics[1]->mac, "52:54:00:00:00:02");
	rep = add_nic(e, id, "blue", NULL);
	assert_int_equal(rep->status->code, CODE(OK));
	port_of(rep->vm, 2, port2);
	expect_err(add_nic(e, "web1", "nope", NULL), CODE(NOT_FOUND), "nic.network", "nope");
	expect_err(add_nic(e, "web1", "blue", "zz"), CODE(INVALID_ARGUMENT), "nic.mac", NULL);
	expect_err(add_nic(e, "web9", "blue", NULL), CODE(NOT_FOUND), "vm", "web9");
	expect_err(add_nic(e, "", "blue", NULL), CODE(INVALID_ARGUMENT), "vm", NULL);
	fake_counts(e, &nnets, &ports);
	assert_int_equal(ports, 3);

	/* STARTING and RUNNING: refused, nothing changes. */
	assert_int_equal(vm_op(e, OP(START_VM), "web1", false, 0)->status->code, CODE(OK));
	expect_err(add_nic(e, "web1", "blue", NULL), CODE(FAILED_PRECONDITION), "vm", "starting");
	expect_err(remove_nic(e, "web1", 0), CODE(FAILED_PRECONDITION), "vm", "stop it first");
	assert_int_equal(report(e, s, id, STATE(RUNNING), 0, 1), CODE(OK));
	expect_err(add_nic(e, "web1", "blue", NULL), CODE(FAILED_PRECONDITION), "vm", "running");
	expect_err(remove_nic(e, "web1", 1), CODE(FAILED_PRECONDITION), "vm", "running");
	/* The launch carried the three NICs. */
	poll_host(e, s, 0, &pr);
	assert_int_equal(pr.rep->commands->commands[0]->launch->n_nics, 3);
	rec_fini(&pr);
	/* STOPPING: still refused. */
	assert_int_equal(vm_op(e, OP(STOP_VM), "web1", false, 0)->status->code, CODE(OK));
	expect_err(add_nic(e, "web1", "blue", NULL), CODE(FAILED_PRECONDITION), "vm", "stopping");
	assert_int_equal(
		report(e, s, id, STATE(STOPPED), NICVISOR__V1__EXIT_KIND__EXIT_KIND_STOPPED, 1),
		CODE(OK));

	/* STOPPED: remove the middle NIC; the last moves to index 1 and
	 * keeps its port. */
	rep = remove_nic(e, "web1", 1);
	assert_int_equal(rep->status->code, CODE(OK));
	vm = rep->vm;
	assert_int_equal(vm->spec->n_nics, 2);
	assert_string_equal(vm->spec->nics[1]->network, "blue");
	port_of(vm, 1, p);
	assert_string_equal(p, port2);
	fake_counts(e, &nnets, &ports);
	assert_int_equal(ports, 2);
	expect_err(remove_nic(e, "web1", 2), CODE(NOT_FOUND), "index", "0..1");
	/* red has no NIC any more: it can go. */
	assert_int_equal(net_op(e, OP(DELETE_NETWORK), "red")->status->code, CODE(OK));

	/* FAILED: allowed. Up to 8 NICs. */
	assert_int_equal(vm_op(e, OP(START_VM), "web1", false, 0)->status->code, CODE(OK));
	assert_int_equal(
		report(e, s, id, STATE(FAILED), NICVISOR__V1__EXIT_KIND__EXIT_KIND_CRASHED, 1),
		CODE(OK));
	for (int i = 2; i < 8; i++)
		assert_int_equal(add_nic(e, "web1", "blue", NULL)->status->code, CODE(OK));
	expect_err(add_nic(e, "web1", "blue", NULL), CODE(RESOURCE_EXHAUSTED), "vm", "8 NICs");
	for (int i = 7; i >= 0; i--)
		assert_int_equal(remove_nic(e, "web1", (uint32_t)i)->status->code, CODE(OK));
	expect_err(remove_nic(e, "web1", 0), CODE(NOT_FOUND), "index", "no NICs");
	fake_counts(e, &nnets, &ports);
	assert_int_equal(ports, 0);
}

static void
test_launch_nics(void **state)
{
	struct env *e = *state;
	const char *nets[2] = { "blue", "blue" };
	const char *macs[2] = { "52:54:00:12:34:56", NULL };
	char *s = hello(e, "h1", 16, 8192, NULL, 0);
	const Nicvisor__V1__LaunchVm *l;
	Nicvisor__V1__Response *rep;
	char port[64], path[200];
	struct rec p;

	assert_int_equal(net_create(e, "blue", 0)->status->code, CODE(OK));
	rep = create_nics(e, "big", 12, true, nets, macs, 2);
	assert_int_equal(rep->status->code, CODE(OK));
	poll_host(e, s, 0, &p);
	assert_int_equal(code_of(&p), CODE(OK));
	l = p.rep->commands->commands[0]->launch;
	assert_int_equal(l->n_nics, 2);
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(l->nics[i]->index, i);
		assert_string_equal(l->nics[i]->mac, rep->vm->spec->nics[i]->mac);
		assert_int_equal(l->nics[i]->queue_pairs, 8);
		port_of(rep->vm, i, port);
		snprintf(path, sizeof(path), "%s/%s.sock", VHOST_DIR, port);
		assert_string_equal(l->nics[i]->vhost_user_socket, path);
	}
	assert_string_equal(l->nics[0]->mac, "52:54:00:12:34:56");
	assert_int_equal(l->spec->n_nics, 2);
	rec_fini(&p);
}

static void
test_port_stats(void **state)
{
	struct env *e = *state;
	const char *nets[2] = { "blue", "red" };
	Nicvisor__V1__Response *rep;
	const Nicvisor__V1__PortStats *ps;
	char err[128], port[64], want[64];
	char id[32];

	assert_int_equal(net_create(e, "blue", 0)->status->code, CODE(OK));
	assert_int_equal(net_create(e, "red", 0)->status->code, CODE(OK));
	rep = create_nics(e, "web1", 1, false, nets, NULL, 2);
	snprintf(id, sizeof(id), "%s", rep->vm->id);
	port_of(rep->vm, 1, port);
	assert_int_equal(dpu_net_fake_set_counters(e->net, port, 10, 20, "spoofed_src_mac", 3), 0);
	assert_int_equal(e->net->ops->uplink_add(e->net, "up0", "net_null0", err, sizeof(err)), 0);

	rep = port_stats(e, "web1");
	assert_int_equal(rep->status->code, CODE(OK));
	assert_int_equal(rep->port_stats->n_ports, 2);
	ps = rep->port_stats->ports[1];
	snprintf(want, sizeof(want), "%s/nic1", id);
	assert_string_equal(ps->port, want);
	assert_string_equal(ps->kind, "vhost");
	assert_string_equal(ps->network, "red");
	assert_string_equal(ps->mac, get(e, "web1")->spec->nics[1]->mac);
	assert_int_equal(ps->rx_packets, 10);
	assert_int_equal(ps->rx_bytes, 640);
	assert_int_equal(ps->tx_packets, 20);
	assert_int_equal(ps->rx_l2_only, 1);
	assert_int_equal(ps->n_drops, 1);
	assert_string_equal(ps->drops[0]->key, "spoofed_src_mac");
	assert_int_equal(ps->drops[0]->value, 3);
	assert_int_equal(rep->port_stats->ports[0]->rx_packets, 0);

	/* Every port, uplinks too, ordered by name. */
	rep = port_stats(e, NULL);
	assert_int_equal(rep->status->code, CODE(OK));
	assert_int_equal(rep->port_stats->n_ports, 3);
	assert_string_equal(rep->port_stats->ports[0]->port, "uplink:up0");
	assert_string_equal(rep->port_stats->ports[0]->kind, "uplink");
	assert_true(rep->port_stats->ports[0]->link_up);
	assert_string_equal(rep->port_stats->ports[2]->port, want);
	expect_err(port_stats(e, "web9"), CODE(NOT_FOUND), "vm", NULL);
}

/* The agent process restarts: a new dataplane, the same store. */
static void
restart(struct env *e)
{
	dpu_agent_close(e->a);
	e->a = NULL;
	dpu_net_close(e->net);
	assert_int_equal(dpu_net_fake_open(VHOST_DIR, &e->net), 0);
	assert_int_equal(open_agent(e), 0);
}

static void
test_net_restart(void **state)
{
	struct env *e = *state;
	const char *nets[2] = { "blue", "red" };
	Nicvisor__V1__AgentState *saved;
	Nicvisor__V1__Response *rep;
	char *s = hello(e, "h1", 4, 8192, NULL, 0);
	char blue_id[32], macs[2][32], port[64], network[64];
	size_t nnets, ports;
	unsigned int qp;
	struct rec p;

	snprintf(blue_id, sizeof(blue_id), "%s", net_create(e, "blue", 5)->network->id);
	assert_int_equal(net_create(e, "red", 0)->status->code, CODE(OK));
	assert_int_equal(net_create(e, "spare", 0)->status->code, CODE(OK));
	rep = create_nics(e, "web1", 2, false, nets, NULL, 2);
	assert_int_equal(rep->status->code, CODE(OK));
	snprintf(macs[0], sizeof(macs[0]), "%s", rep->vm->spec->nics[0]->mac);
	snprintf(macs[1], sizeof(macs[1]), "%s", rep->vm->spec->nics[1]->mac);
	port_of(rep->vm, 1, port);
	(void)s;

	/* Saved: the networks, and the NICs with their assigned MACs. */
	assert_int_equal(dpu_store_load(e->store, &saved), 0);
	assert_int_equal(saved->n_networks, 3);
	assert_int_equal(saved->vms[0]->spec->n_nics, 2);
	assert_string_equal(saved->vms[0]->spec->nics[1]->mac, macs[1]);
	dpu_store_free_state(saved);

	/* The port of NIC 1 is refused when the agent comes back... */
	dpu_agent_close(e->a);
	e->a = NULL;
	dpu_net_close(e->net);
	assert_int_equal(dpu_net_fake_open(VHOST_DIR, &e->net), 0);
	dpu_net_fake_fail(e->net, "vhost_port_add", 1, -ENOMEM);
	assert_int_equal(open_agent(e), 0);
	rep = net_op(e, OP(GET_NETWORK), "blue");
	assert_string_equal(rep->network->id, blue_id);
	assert_int_equal(rep->network->vlan, 5);
	assert_string_equal(get(e, "web1")->spec->nics[0]->mac, macs[0]);
	assert_string_equal(get(e, "web1")->spec->nics[1]->mac, macs[1]);
	fake_counts(e, &nnets, &ports);
	assert_int_equal(nnets, 3);
	assert_int_equal(ports, 1);
	/* ...its stats say so... */
	rep = port_stats(e, "web1");
	assert_int_equal(rep->port_stats->n_ports, 2);
	assert_false(rep->port_stats->ports[0]->link_up);
	/* ...and StartVm makes it. */
	s = hello(e, "h1", 4, 8192, NULL, 0);
	assert_int_equal(vm_op(e, OP(START_VM), "web1", false, 0)->status->code, CODE(OK));
	fake_counts(e, &nnets, &ports);
	assert_int_equal(ports, 2);
	assert_true(dpu_net_fake_port(e->net, port, network, sizeof(network), &qp));
	assert_string_equal(network, "red");
	poll_host(e, s, 0, &p);
	assert_int_equal(p.rep->commands->commands[0]->launch->n_nics, 2);
	assert_non_null(
		strstr(p.rep->commands->commands[0]->launch->nics[1]->vhost_user_socket, port));
	rec_fini(&p);

	/* A clean restart brings back everything. */
	restart(e);
	fake_counts(e, &nnets, &ports);
	assert_int_equal(nnets, 3);
	assert_int_equal(ports, 2);
}

static void
test_dataplane_refusals(void **state)
{
	struct env *e = *state;
	const char *nets[2] = { "blue", "blue" };
	size_t nnets, ports;

	dpu_net_fake_fail(e->net, "network_add", 0, -EIO);
	expect_err(net_create(e, "blue", 0), CODE(INTERNAL), "", "refused network blue");
	expect_err(net_op(e, OP(GET_NETWORK), "blue"), CODE(NOT_FOUND), "network", NULL);
	assert_int_equal(net_create(e, "blue", 0)->status->code, CODE(OK));
	/* The second port fails: no VM, and the first port is gone too. */
	dpu_net_fake_fail(e->net, "vhost_port_add", 1, -ENOSPC);
	expect_err(create_nics(e, "web1", 1, false, nets, NULL, 2), CODE(INTERNAL), "",
		   "refused the port of NIC 1");
	expect_err(vm_op(e, OP(GET_VM), "web1", false, 0), CODE(NOT_FOUND), "vm", NULL);
	fake_counts(e, &nnets, &ports);
	assert_int_equal(ports, 0);
	/* AddNic refused by the dataplane: the VM keeps the NICs it had. */
	assert_int_equal(create_nics(e, "web1", 1, false, nets, NULL, 1)->status->code, CODE(OK));
	dpu_net_fake_fail(e->net, "vhost_port_add", 0, -EIO);
	expect_err(add_nic(e, "web1", "blue", NULL), CODE(INTERNAL), "", NULL);
	assert_int_equal(get(e, "web1")->spec->n_nics, 1);
	fake_counts(e, &nnets, &ports);
	assert_int_equal(ports, 1);
	/* The network delete the dataplane refuses stays. */
	assert_int_equal(net_create(e, "red", 0)->status->code, CODE(OK));
	dpu_net_fake_fail(e->net, "network_del", 0, -EIO);
	expect_err(net_op(e, OP(DELETE_NETWORK), "red"), CODE(INTERNAL), "", "red");
	assert_int_equal(net_op(e, OP(GET_NETWORK), "red")->status->code, CODE(OK));
}

static void
test_networking_off(void **state)
{
	struct env *e = *state;
	const char *nets[1] = { "blue" };
	size_t nnets, ports;

	/* Saved with a dataplane... */
	assert_int_equal(net_create(e, "blue", 0)->status->code, CODE(OK));
	assert_int_equal(create_nics(e, "web1", 1, false, nets, NULL, 1)->status->code, CODE(OK));
	/* ...loaded without one. */
	dpu_agent_close(e->a);
	dpu_net_close(e->net);
	e->net = NULL;
	assert_int_equal(open_agent(e), 0);
	hello(e, "h1", 4, 8192, NULL, 0);
	expect_err(net_create(e, "red", 0), CODE(FAILED_PRECONDITION), "", "--dataplane on");
	expect_err(create_nics(e, "web2", 1, false, nets, NULL, 1), CODE(FAILED_PRECONDITION),
		   "spec.nics", "unit test without a dataplane");
	expect_err(add_nic(e, "web1", "blue", NULL), CODE(FAILED_PRECONDITION), "nic", NULL);
	expect_err(port_stats(e, NULL), CODE(FAILED_PRECONDITION), "", NULL);
	expect_err(vm_op(e, OP(START_VM), "web1", false, 0), CODE(FAILED_PRECONDITION), "",
		   "without a dataplane");
	assert_int_equal(get(e, "web1")->state, STATE(CREATED));
	/* What removes things still works, and reads. */
	assert_int_equal(net_op(e, OP(GET_NETWORK), "blue")->status->code, CODE(OK));
	assert_int_equal(remove_nic(e, "web1", 0)->status->code, CODE(OK));
	assert_int_equal(net_op(e, OP(DELETE_NETWORK), "blue")->status->code, CODE(OK));
	assert_int_equal(create(e, "plain", 1, 64, true)->status->code, CODE(OK));
	assert_int_equal(vm_op(e, OP(START_VM), "web1", false, 0)->status->code, CODE(OK));
	/* And with a dataplane again: nothing left behind. */
	assert_int_equal(dpu_net_fake_open(VHOST_DIR, &e->net), 0);
	dpu_agent_close(e->a);
	assert_int_equal(open_agent(e), 0);
	fake_counts(e, &nnets, &ports);
	assert_int_equal(nnets + ports, 0);
}

static void
test_adopt_nics(void **state)
{
	struct env *e = *state;
	Nicvisor__V1__NicSpec n[3], *np[3];
	Nicvisor__V1__VmSpec spec = NICVISOR__V1__VM_SPEC__INIT;
	Nicvisor__V1__VmReport vr = NICVISOR__V1__VM_REPORT__INIT, *vrs[1] = { &vr };
	const char *nets[1] = { "blue" };
	const char *macs[1] = { "52:54:00:00:00:09" };
	Nicvisor__V1__Vm *vm;
	size_t nnets, ports;

	assert_int_equal(net_create(e, "blue", 0)->status->code, CODE(OK));
	assert_int_equal(create_nics(e, "other", 1, false, nets, macs, 1)->status->code, CODE(OK));
	for (int i = 0; i < 3; i++) {
		nicvisor__v1__nic_spec__init(&n[i]);
		np[i] = &n[i];
	}
	n[0].network = "blue";
	n[0].mac = "52:54:00:00:00:01";
	n[1].network = "gone"; /* unknown network */
	n[1].mac = "52:54:00:00:00:02";
	n[2].network = "blue";
	n[2].mac = "52:54:00:00:00:09"; /* other's MAC */
	spec.name = "orphan";
	spec.vcpus = 1;
	spec.memory_mib = 64;
	spec.kernel = "/gone";
	spec.nics = np;
	spec.n_nics = 3;
	vr.vm_id = "vm-1111111111111111";
	vr.state = STATE(RUNNING);
	vr.spec = &spec;
	hello(e, "h1", 4, 8192, vrs, 1);
	vm = get(e, "orphan");
	assert_int_equal(vm->spec->n_nics, 1);
	assert_string_equal(vm->spec->nics[0]->mac, "52:54:00:00:00:01");
	fake_counts(e, &nnets, &ports);
	assert_int_equal(ports, 2);
}

static void
test_bad_saved_networks(void **state)
{
	struct env *e = *state;
	Nicvisor__V1__AgentState st = NICVISOR__V1__AGENT_STATE__INIT;
	Nicvisor__V1__Network n1 = NICVISOR__V1__NETWORK__INIT, n2 = NICVISOR__V1__NETWORK__INIT;
	Nicvisor__V1__Network *nets[2] = { &n1, &n2 };
	Nicvisor__V1__Vm vm = NICVISOR__V1__VM__INIT, *vms[1] = { &vm };
	Nicvisor__V1__VmSpec spec = NICVISOR__V1__VM_SPEC__INIT;
	Nicvisor__V1__NicSpec nic = NICVISOR__V1__NIC_SPEC__INIT, *nics[1] = { &nic };
	struct dpu_agent *a2;
	struct dpu_agent_conf conf = {
		.store = e->store,
		.artifact_dir = e->artifacts,
		.net = e->net,
	};

	st.version = 1;
	n1.id = "net-0000000000000001";
	n1.name = "blue";
	n2.id = "net-0000000000000002";
	n2.name = "red";
	n2.vlan = 7;
	st.networks = nets;
	st.n_networks = 2;
	spec.name = "web1";
	spec.vcpus = 1;
	spec.memory_mib = 64;
	spec.kernel = "/k";
	nic.network = "blue";
	nic.mac = "52:54:00:00:00:01";
	spec.nics = nics;
	spec.n_nics = 1;
	vm.id = "vm-0000000000000001";
	vm.spec = &spec;
	vm.state = STATE(STOPPED);
	st.vms = vms;
	st.n_vms = 1;
	dpu_agent_close(e->a);
	e->a = NULL;
	/* Good as it is. */
	assert_int_equal(dpu_store_save(e->store, &st), 0);
	assert_int_equal(dpu_agent_open(&conf, &a2), 0);
	dpu_agent_close(a2);
	dpu_net_close(e->net);
	assert_int_equal(dpu_net_fake_open(VHOST_DIR, &e->net), 0);
	conf.net = e->net;
	/* Each corruption stops the agent rather than lose a NIC. */
	n2.vlan = 5000;
	assert_int_equal(dpu_store_save(e->store, &st), 0);
	assert_int_equal(dpu_agent_open(&conf, &a2), -EBADMSG);
	n2.vlan = 7;
	n2.vni = 9; /* and a VNI */
	assert_int_equal(dpu_store_save(e->store, &st), 0);
	assert_int_equal(dpu_agent_open(&conf, &a2), -EBADMSG);
	n2.vni = 0;
	n2.name = "blue";
	assert_int_equal(dpu_store_save(e->store, &st), 0);
	assert_int_equal(dpu_agent_open(&conf, &a2), -EBADMSG);
	n2.name = "red";
	n2.id = "net-0000000000000001";
	assert_int_equal(dpu_store_save(e->store, &st), 0);
	assert_int_equal(dpu_agent_open(&conf, &a2), -EBADMSG);
	n2.id = "net-0000000000000002";
	nic.network = "green";
	assert_int_equal(dpu_store_save(e->store, &st), 0);
	assert_int_equal(dpu_agent_open(&conf, &a2), -EBADMSG);
	nic.network = "blue";
	nic.mac = "";
	assert_int_equal(dpu_store_save(e->store, &st), 0);
	assert_int_equal(dpu_agent_open(&conf, &a2), -EBADMSG);
	nic.mac = "52:54:00:00:00:01";
	assert_int_equal(dpu_store_save(e->store, &st), 0);
	assert_int_equal(open_agent(e), 0);
}

/* Volumes and disks */

#define MIB (1ull << 20)

static Nicvisor__V1__Response *
vol_create(struct env *e, const char *name, uint64_t size, const char *nbd)
{
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__CreateVolumeRequest cv = NICVISOR__V1__CREATE_VOLUME_REQUEST__INIT;

	cv.name = (char *)name;
	cv.size_bytes = size;
	cv.nbd_url = (char *)(nbd ? nbd : "");
	req.op_case = OP(CREATE_VOLUME);
	req.create_volume = &cv;
	return api(e, &req);
}

static Nicvisor__V1__Response *
vol_op(struct env *e, int op, const char *vol)
{
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__DeleteVolumeRequest dv = NICVISOR__V1__DELETE_VOLUME_REQUEST__INIT;
	Nicvisor__V1__GetVolumeRequest gv = NICVISOR__V1__GET_VOLUME_REQUEST__INIT;

	req.op_case = (Nicvisor__V1__Request__OpCase)op;
	dv.volume = gv.volume = (char *)vol;
	if (op == OP(DELETE_VOLUME))
		req.delete_volume = &dv;
	else
		req.get_volume = &gv;
	return api(e, &req);
}

static Nicvisor__V1__Response *
vol_list(struct env *e, uint32_t page_size, const char *token)
{
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__ListVolumesRequest lv = NICVISOR__V1__LIST_VOLUMES_REQUEST__INIT;

	lv.page_size = page_size;
	lv.page_token = (char *)(token ? token : "");
	req.op_case = OP(LIST_VOLUMES);
	req.list_volumes = &lv;
	return api(e, &req);
}

/* A VM with disks: vols[i] with ro[i]. */
static Nicvisor__V1__Response *
create_disks(struct env *e, const char *name, uint32_t vcpus, bool start, const char *const *vols,
	     const bool *ro, size_t n)
{
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__CreateVmRequest cr = NICVISOR__V1__CREATE_VM_REQUEST__INIT;
	Nicvisor__V1__VmSpec spec = NICVISOR__V1__VM_SPEC__INIT;
	Nicvisor__V1__DiskSpec d[20], *dp[20];

	assert_true(n <= 20);
	for (size_t i = 0; i < n; i++) {
		nicvisor__v1__disk_spec__init(&d[i]);
		d[i].volume = (char *)vols[i];
		d[i].read_only = ro[i];
		dp[i] = &d[i];
	}
	spec.name = (char *)name;
	spec.vcpus = vcpus;
	spec.memory_mib = 64;
	spec.kernel = e->kernel;
	spec.disks = dp;
	spec.n_disks = n;
	cr.spec = &spec;
	cr.start = start;
	req.op_case = OP(CREATE_VM);
	req.create_vm = &cr;
	return api(e, &req);
}

static Nicvisor__V1__Response *
disk_attach(struct env *e, const char *vm, const char *vol, bool ro)
{
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__AttachDiskRequest ad = NICVISOR__V1__ATTACH_DISK_REQUEST__INIT;
	Nicvisor__V1__DiskSpec d = NICVISOR__V1__DISK_SPEC__INIT;

	d.volume = (char *)vol;
	d.read_only = ro;
	ad.vm = (char *)vm;
	ad.disk = &d;
	req.op_case = OP(ATTACH_DISK);
	req.attach_disk = &ad;
	return api(e, &req);
}

static Nicvisor__V1__Response *
disk_detach(struct env *e, const char *vm, uint32_t index)
{
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__DetachDiskRequest dd = NICVISOR__V1__DETACH_DISK_REQUEST__INIT;

	dd.vm = (char *)vm;
	dd.index = index;
	req.op_case = OP(DETACH_DISK);
	req.detach_disk = &dd;
	return api(e, &req);
}

static void
assert_fails(const Nicvisor__V1__Response *rep, int code, const char *field, const char *text)
{
	assert_int_equal(rep->status->code, code);
	assert_string_equal(rep->status->field, field);
	if (text != NULL && strstr(rep->status->message, text) == NULL)
		fail_msg("'%s' not in '%s'", text, rep->status->message);
	assert_int_equal(rep->result_case, NICVISOR__V1__RESPONSE__RESULT__NOT_SET);
}

static size_t
blk_disks(struct env *e)
{
	return dpu_blk_fake_count(e->blk);
}

static void
test_volumes(void **state)
{
	struct env *e = *state;
	Nicvisor__V1__Response *rep;
	const Nicvisor__V1__Volume *v;
	char path[256], id[32], *token;
	struct stat sb;
	uint8_t buf[65536];
	int fd;

	rep = vol_create(e, "data", 64 * MIB, NULL);
	assert_int_equal(rep->status->code, CODE(OK));
	v = rep->volume;
	assert_int_equal(strlen(v->id), 20);
	assert_memory_equal(v->id, "vol-", 4);
	snprintf(id, sizeof(id), "%s", v->id);
	assert_string_equal(v->name, "data");
	assert_int_equal(v->size_bytes, 64 * MIB);
	assert_int_equal(v->backend, NICVISOR__V1__VOLUME_BACKEND__VOLUME_BACKEND_FILE);
	snprintf(path, sizeof(path), "%s/%s.img", e->voldir, id);
	assert_string_equal(v->path, path);
	assert_int_equal(v->n_attachments, 0);
	/* Thin: the whole size, (almost) nothing allocated. */
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_size, 64 * MIB);
	assert_true(v->allocated_bytes < 64 * 1024);
	assert_int_equal(v->allocated_bytes, (uint64_t)sb.st_blocks * 512);

	/* Writing the file allocates; GetVolume says so. */
	/* Incompressible, so a compressing file system allocates it all. */
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)((i * 2654435761u) >> 13);
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, buf, sizeof(buf), 8 * MIB), (ssize_t)sizeof(buf));
	assert_int_equal(fsync(fd), 0);
	close(fd);
	rep = vol_op(e, OP(GET_VOLUME), "data");
	assert_int_equal(rep->status->code, CODE(OK));
	assert_true(rep->volume->allocated_bytes >= sizeof(buf));
	assert_true(rep->volume->allocated_bytes < 64 * MIB);
	/* By id too. */
	assert_int_equal(vol_op(e, OP(GET_VOLUME), id)->status->code, CODE(OK));

	/* Refusals, each naming its field. */
	assert_fails(vol_create(e, "data", 64 * MIB, NULL), CODE(ALREADY_EXISTS), "name", id);
	assert_fails(vol_create(e, "", MIB, NULL), CODE(INVALID_ARGUMENT), "name", NULL);
	assert_fails(vol_create(e, "Big", MIB, NULL), CODE(INVALID_ARGUMENT), "name", NULL);
	assert_fails(vol_create(e, "vol-0123456789abcdef", MIB, NULL), CODE(INVALID_ARGUMENT),
		     "name", "volume id");
	assert_fails(vol_create(e, "x", 0, NULL), CODE(INVALID_ARGUMENT), "size_bytes", NULL);
	assert_fails(vol_create(e, "x", MIB + 100, NULL), CODE(INVALID_ARGUMENT), "size_bytes",
		     "512");
	assert_fails(vol_create(e, "x", 65ull << 40, NULL), CODE(INVALID_ARGUMENT), "size_bytes",
		     "range");
	assert_fails(vol_create(e, "x", MIB, "http://h/e"), CODE(INVALID_ARGUMENT), "nbd_url",
		     NULL);
	assert_fails(vol_create(e, "x", MIB, "nbd://h:0/e"), CODE(INVALID_ARGUMENT), "nbd_url",
		     "port");
	assert_fails(vol_create(e, "x", MIB, "nbd://h:99999/e"), CODE(INVALID_ARGUMENT), "nbd_url",
		     "port");
	assert_fails(vol_create(e, "x", MIB, "nbd://h:10809"), CODE(INVALID_ARGUMENT), "nbd_url",
		     "export");
	assert_fails(vol_create(e, "x", MIB, "nbd://h:10809/a b"), CODE(INVALID_ARGUMENT),
		     "nbd_url", "0x20");
	assert_fails(vol_create(e, "x", MIB, "nbd://[::1/e"), CODE(INVALID_ARGUMENT), "nbd_url",
		     "]");
	assert_fails(vol_op(e, OP(GET_VOLUME), "nope"), CODE(NOT_FOUND), "volume", NULL);
	assert_fails(vol_op(e, OP(DELETE_VOLUME), ""), CODE(INVALID_ARGUMENT), "volume", NULL);

	/* NBD volumes: no file, no allocation figure. */
	rep = vol_create(e, "remote", 8 * MIB, "nbd://10.0.0.7:10809/disk1");
	assert_int_equal(rep->status->code, CODE(OK));
	assert_int_equal(rep->volume->backend, NICVISOR__V1__VOLUME_BACKEND__VOLUME_BACKEND_NBD);
	assert_string_equal(rep->volume->nbd_url, "nbd://10.0.0.7:10809/disk1");
	assert_string_equal(rep->volume->path, "");
	assert_int_equal(rep->volume->allocated_bytes, 0);
	assert_int_equal(vol_create(e, "v6", MIB, "nbd://[fd00::1]/e")->status->code, CODE(OK));

	/* Pages, by name. */
	rep = vol_list(e, 2, NULL);
	assert_int_equal(rep->status->code, CODE(OK));
	assert_int_equal(rep->volumes->n_volumes, 2);
	assert_string_equal(rep->volumes->volumes[0]->name, "data");
	assert_string_equal(rep->volumes->volumes[1]->name, "remote");
	assert_true(rep->volumes->volumes[0]->allocated_bytes >= sizeof(buf));
	token = nv_arena_strdup(&e->ar, rep->volumes->next_page_token);
	assert_true(token[0] != 0);
	rep = vol_list(e, 2, token);
	assert_int_equal(rep->volumes->n_volumes, 1);
	assert_string_equal(rep->volumes->volumes[0]->name, "v6");
	assert_string_equal(rep->volumes->next_page_token, "");
	assert_fails(vol_list(e, 2, "garbage"), CODE(INVALID_ARGUMENT), "page_token", NULL);

	/* Delete removes the file. */
	rep = vol_op(e, OP(DELETE_VOLUME), "data");
	assert_int_equal(rep->status->code, CODE(OK));
	assert_string_equal(rep->volume->id, id);
	assert_int_equal(stat(path, &sb), -1);
	assert_int_equal(errno, ENOENT);
	assert_fails(vol_op(e, OP(DELETE_VOLUME), "data"), CODE(NOT_FOUND), "volume", NULL);
	assert_int_equal(vol_op(e, OP(DELETE_VOLUME), "remote")->status->code, CODE(OK));
}

static void
test_disk_rules(void **state)
{
	struct env *e = *state;
	const char *v1[1] = { "a" }, *v2[2] = { "a", "b" }, *vdup[2] = { "b", "b" };
	const bool rw[2] = { false, false }, ro[2] = { true, true };
	Nicvisor__V1__Response *rep;
	char *s;

	assert_int_equal(vol_create(e, "a", MIB, NULL)->status->code, CODE(OK));
	assert_int_equal(vol_create(e, "b", MIB, NULL)->status->code, CODE(OK));

	/* Unknown volume, same volume twice: refused at create. */
	assert_fails(create_disks(e, "one", 1, false, (const char *[]){ "zz" }, rw, 1),
		     CODE(NOT_FOUND), "spec.disks[0].volume", "zz");
	assert_fails(create_disks(e, "one", 1, false, vdup, ro, 2), CODE(INVALID_ARGUMENT),
		     "spec.disks[1].volume", "disk 0");
	assert_fails(create_disks(e, "one", 1, false, (const char *[]){ "" }, rw, 1),
		     CODE(INVALID_ARGUMENT), "spec.disks[0].volume", NULL);

	/* one: a read-write. */
	rep = create_disks(e, "one", 1, false, v1, rw, 1);
	assert_int_equal(rep->status->code, CODE(OK));
	assert_int_equal(rep->vm->spec->n_disks, 1);
	assert_string_equal(rep->vm->spec->disks[0]->volume, "a");
	assert_false(rep->vm->spec->disks[0]->read_only);
	/* Nothing in the backend until the VM starts. */
	assert_int_equal(blk_disks(e), 0);

	/* a is one's: neither read-write nor read-only elsewhere. */
	assert_fails(create_disks(e, "two", 1, false, v1, rw, 1), CODE(FAILED_PRECONDITION),
		     "spec.disks[0].volume", "vm one");
	assert_fails(create_disks(e, "two", 1, false, v1, ro, 1), CODE(FAILED_PRECONDITION),
		     "spec.disks[0].volume", "read-write");
	/* b read-only to two VMs is fine, by id as well as name. */
	rep = create_disks(e, "two", 1, false, (const char *[]){ "b" }, ro, 1);
	assert_int_equal(rep->status->code, CODE(OK));
	rep = disk_attach(e, "one", vol_op(e, OP(GET_VOLUME), "b")->volume->id, true);
	assert_int_equal(rep->status->code, CODE(OK));
	assert_int_equal(rep->vm->spec->n_disks, 2);
	assert_string_equal(rep->vm->spec->disks[1]->volume, "b");
	assert_true(rep->vm->spec->disks[1]->read_only);
	/* ...but not read-write while others have it. */
	assert_int_equal(disk_detach(e, "one", 1)->status->code, CODE(OK));
	assert_fails(disk_attach(e, "one", "b", false), CODE(FAILED_PRECONDITION), "disk.volume",
		     "vm two");
	/* A volume is attached once per VM. */
	assert_fails(disk_attach(e, "one", "a", true), CODE(INVALID_ARGUMENT), "disk.volume",
		     "once per VM");
	assert_fails(disk_attach(e, "one", "nope", true), CODE(NOT_FOUND), "disk.volume", NULL);
	assert_fails(disk_attach(e, "nope", "b", true), CODE(NOT_FOUND), "vm", NULL);
	assert_fails(disk_attach(e, "one", "", true), CODE(INVALID_ARGUMENT), "disk.volume", NULL);
	assert_fails(disk_detach(e, "one", 1), CODE(NOT_FOUND), "index", "0..0");
	assert_fails(disk_detach(e, "two", 5), CODE(NOT_FOUND), "index", NULL);

	/* GetVolume names the VMs. */
	rep = vol_op(e, OP(GET_VOLUME), "b");
	assert_int_equal(rep->volume->n_attachments, 1);
	assert_string_equal(rep->volume->attachments[0]->vm_name, "two");
	assert_true(rep->volume->attachments[0]->read_only);

	/* A volume with disks stays. */
	assert_fails(vol_op(e, OP(DELETE_VOLUME), "a"), CODE(FAILED_PRECONDITION), "volume",
		     "vm one");

	/* Disks change only while the VM does not run. */
	s = hello(e, "h1", 4, 8192, NULL, 0);
	assert_int_equal(vm_op(e, OP(START_VM), "one", false, 0)->status->code, CODE(OK));
	assert_fails(disk_attach(e, "one", "b", true), CODE(FAILED_PRECONDITION), "vm", "stop");
	assert_fails(disk_detach(e, "one", 0), CODE(FAILED_PRECONDITION), "vm", "stop");
	assert_int_equal(vm_op(e, OP(STOP_VM), "one", true, 0)->status->code, CODE(OK));
	assert_int_equal(report(e, s, get(e, "one")->id, STATE(STOPPED), 0, 0), CODE(OK));

	/* Deleting the VM frees its volumes. */
	assert_int_equal(vm_op(e, OP(DELETE_VM), "one", false, 0)->status->code, CODE(OK));
	assert_int_equal(vol_op(e, OP(GET_VOLUME), "a")->volume->n_attachments, 0);
	assert_int_equal(vol_op(e, OP(DELETE_VOLUME), "a")->status->code, CODE(OK));
	/* At most DPU_MAX_DISKS (8). */
	{
		const char *many[9];
		bool mro[9];
		char names[9][8];

		for (int i = 0; i < 9; i++) {
			snprintf(names[i], sizeof(names[i]), "m%d", i);
			many[i] = names[i];
			mro[i] = true;
		}
		assert_fails(create_disks(e, "many", 1, false, many, mro, 9),
			     CODE(INVALID_ARGUMENT), "spec.disks", "8");
	}
	(void)v2;
}

/* Per-disk limits: from the spec (CreateVm, AttachDisk) to the backend's
 * disk and GetDiskStats; refused out of range with the field named. */
static void
test_disk_limits(void **state)
{
	struct env *e = *state;
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__CreateVmRequest cr = NICVISOR__V1__CREATE_VM_REQUEST__INIT;
	Nicvisor__V1__VmSpec spec = NICVISOR__V1__VM_SPEC__INIT;
	Nicvisor__V1__DiskSpec d = NICVISOR__V1__DISK_SPEC__INIT, *dp[1] = { &d };
	Nicvisor__V1__AttachDiskRequest ad = NICVISOR__V1__ATTACH_DISK_REQUEST__INIT;
	Nicvisor__V1__GetDiskStatsRequest ds = NICVISOR__V1__GET_DISK_STATS_REQUEST__INIT;
	Nicvisor__V1__Response *rep;
	struct dpu_blk_disk_conf dc;
	char name[64], vm_id[32];

	(void)hello(e, "h1", 16, 8192, NULL, 0);
	vol_create(e, "fast", 16 * MIB, NULL);
	vol_create(e, "slow", 16 * MIB, NULL);
	d.volume = "fast";
	d.max_iops = 5000;
	d.max_bytes_per_second = 64 * MIB;
	spec.name = "lim";
	spec.vcpus = 1;
	spec.memory_mib = 64;
	spec.kernel = e->kernel;
	spec.disks = dp;
	spec.n_disks = 1;
	cr.spec = &spec;
	req.op_case = OP(CREATE_VM);
	req.create_vm = &cr;

	/* out of range: refused, nothing created */
	d.max_iops = DPU_DISK_MAX_IOPS + 1;
	assert_fails(api(e, &req), CODE(INVALID_ARGUMENT), "spec.disks[0].max_iops", "at most");
	d.max_iops = 5000;
	d.max_bytes_per_second = 100;
	assert_fails(api(e, &req), CODE(INVALID_ARGUMENT), "spec.disks[0].max_bytes_per_second",
		     "4096");
	d.max_bytes_per_second = 64 * MIB;

	rep = api(e, &req);
	assert_int_equal(rep->status->code, CODE(OK));
	snprintf(vm_id, sizeof(vm_id), "%s", rep->vm->id);
	assert_int_equal(rep->vm->spec->disks[0]->max_iops, 5000);
	assert_int_equal(rep->vm->spec->disks[0]->max_bytes_per_second, 64 * MIB);

	/* a second disk by AttachDisk, IOPS only */
	d.volume = "slow";
	d.max_iops = 200;
	d.max_bytes_per_second = 0;
	ad.vm = "lim";
	ad.disk = &d;
	req.op_case = OP(ATTACH_DISK);
	req.attach_disk = &ad;
	d.max_bytes_per_second = DPU_DISK_MAX_BPS + 1;
	assert_fails(api(e, &req), CODE(INVALID_ARGUMENT), "disk.max_bytes_per_second", "4096");
	d.max_bytes_per_second = 0;
	rep = api(e, &req);
	assert_int_equal(rep->status->code, CODE(OK));
	assert_int_equal(rep->vm->spec->n_disks, 2);
	assert_int_equal(rep->vm->spec->disks[1]->max_iops, 200);

	/* started: the backend serves both with their limits */
	rep = vm_op(e, OP(START_VM), "lim", false, 0);
	assert_int_equal(rep->status->code, CODE(OK));
	snprintf(name, sizeof(name), "%s-disk0", vm_id);
	assert_true(dpu_blk_fake_disk(e->blk, name, &dc));
	assert_int_equal(dc.max_iops, 5000);
	assert_int_equal(dc.max_bps, 64 * MIB);
	snprintf(name, sizeof(name), "%s-disk1", vm_id);
	assert_true(dpu_blk_fake_disk(e->blk, name, &dc));
	assert_int_equal(dc.max_iops, 200);
	assert_int_equal(dc.max_bps, 0);

	/* GetDiskStats says which limits are in force */
	ds.vm = "lim";
	req.op_case = OP(GET_DISK_STATS);
	req.get_disk_stats = &ds;
	rep = api(e, &req);
	assert_int_equal(rep->status->code, CODE(OK));
	assert_int_equal(rep->disk_stats->n_disks, 2);
	assert_int_equal(rep->disk_stats->disks[0]->max_iops, 5000);
	assert_int_equal(rep->disk_stats->disks[0]->max_bytes_per_second, 64 * MIB);
	assert_int_equal(rep->disk_stats->disks[1]->max_iops, 200);
}

static void
test_launch_disks(void **state)
{
	struct env *e = *state;
	const char *vols[2] = { "root", "remote" };
	const bool ro[2] = { false, true };
	struct dpu_blk_disk_conf dc;
	const Nicvisor__V1__LaunchVm *l;
	Nicvisor__V1__Response *rep;
	char *s = hello(e, "h1", 16, 8192, NULL, 0);
	char name[64], path[200], root_id[32], remote_id[32], vm_id[32], file[256];
	struct rec p;

	rep = vol_create(e, "root", 16 * MIB, NULL);
	snprintf(root_id, sizeof(root_id), "%s", rep->volume->id);
	rep = vol_create(e, "remote", 32 * MIB, "nbd://storage:10809/exp");
	snprintf(remote_id, sizeof(remote_id), "%s", rep->volume->id);
	rep = create_disks(e, "db", 12, true, vols, ro, 2);
	assert_int_equal(rep->status->code, CODE(OK));
	snprintf(vm_id, sizeof(vm_id), "%s", rep->vm->id);

	/* The backend has both disks, as the volumes say. */
	assert_int_equal(blk_disks(e), 2);
	snprintf(name, sizeof(name), "%s-disk0", vm_id);
	assert_true(dpu_blk_fake_disk(e->blk, name, &dc));
	snprintf(file, sizeof(file), "%s/%s.img", e->voldir, root_id);
	assert_string_equal(dc.path, file);
	assert_null(dc.nbd_url);
	assert_false(dc.read_only);
	assert_int_equal(dc.queues, 8);
	assert_string_equal(dc.serial, root_id);
	assert_int_equal(dc.size_bytes, 16 * MIB);
	snprintf(name, sizeof(name), "%s-disk1", vm_id);
	assert_true(dpu_blk_fake_disk(e->blk, name, &dc));
	assert_null(dc.path);
	assert_string_equal(dc.nbd_url, "nbd://storage:10809/exp");
	assert_true(dc.read_only);

	/* LaunchVm carries them. */
	poll_host(e, s, 0, &p);
	assert_int_equal(code_of(&p), CODE(OK));
	l = p.rep->commands->commands[0]->launch;
	assert_int_equal(l->n_disks, 2);
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(l->disks[i]->index, i);
		snprintf(path, sizeof(path), "%s/%s-disk%zu.sock", VHOST_DIR, vm_id, i);
		assert_string_equal(l->disks[i]->vhost_user_socket, path);
		assert_int_equal(l->disks[i]->queues, 8);
		assert_int_equal(l->disks[i]->read_only, ro[i]);
	}
	assert_string_equal(l->disks[0]->serial, root_id);
	assert_string_equal(l->disks[1]->serial, remote_id);
	assert_int_equal(l->disks[0]->size_bytes, 16 * MIB);
	assert_int_equal(l->disks[1]->size_bytes, 32 * MIB);
	assert_int_equal(l->spec->n_disks, 2);
	rec_fini(&p);

	/* Counters of the backend reach GetDiskStats. */
	snprintf(name, sizeof(name), "%s-disk0", vm_id);
	assert_int_equal(dpu_blk_fake_set_counters(e->blk, name, 10, 20, "io_error", 3), 0);
	{
		Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
		Nicvisor__V1__GetDiskStatsRequest ds = NICVISOR__V1__GET_DISK_STATS_REQUEST__INIT;
		const Nicvisor__V1__DiskStatsResponse *r;

		ds.vm = "db";
		req.op_case = OP(GET_DISK_STATS);
		req.get_disk_stats = &ds;
		rep = api(e, &req);
		assert_int_equal(rep->status->code, CODE(OK));
		r = rep->disk_stats;
		assert_int_equal(r->n_disks, 2);
		snprintf(path, sizeof(path), "%s/disk0", vm_id);
		assert_string_equal(r->disks[0]->disk, path);
		assert_string_equal(r->disks[0]->volume, "root");
		assert_true(r->disks[0]->served);
		assert_true(r->disks[0]->connected);
		assert_int_equal(r->disks[0]->read_ops, 10);
		assert_int_equal(r->disks[0]->write_ops, 20);
		assert_int_equal(r->disks[0]->n_errors, 1);
		assert_string_equal(r->disks[0]->errors[0]->key, "io_error");
		assert_int_equal(r->disks[0]->errors[0]->value, 3);
		assert_true(r->disks[1]->served);
		assert_false(r->disks[1]->connected);
		assert_true(r->disks[1]->read_only);
		/* Every VM's. */
		ds.vm = "";
		rep = api(e, &req);
		assert_int_equal(rep->disk_stats->n_disks, 2);
		ds.vm = "nope";
		assert_fails(api(e, &req), CODE(NOT_FOUND), "vm", NULL);
	}

	/* Stopped: the backend lets go of them. */
	assert_int_equal(report(e, s, vm_id, STATE(RUNNING), 0, 1), CODE(OK));
	assert_int_equal(blk_disks(e), 2);
	assert_int_equal(report(e, s, vm_id, STATE(STOPPED), 0, 1), CODE(OK));
	assert_int_equal(blk_disks(e), 0);

	/* A backend refusal fails the start and leaves nothing behind. */
	dpu_blk_fake_fail(e->blk, "disk_add", 1, -EIO);
	rep = vm_op(e, OP(START_VM), "db", false, 0);
	assert_int_equal(rep->status->code, CODE(INTERNAL));
	assert_non_null(strstr(rep->status->message, "disk 1"));
	assert_int_equal(blk_disks(e), 0);
	assert_int_equal(get(e, "db")->state, STATE(STOPPED));
	/* A file gone from under the agent: the backend cannot open it. */
	snprintf(file, sizeof(file), "%s/%s.img", e->voldir, root_id);
	assert_int_equal(unlink(file), 0);
	rep = vm_op(e, OP(START_VM), "db", false, 0);
	assert_int_equal(rep->status->code, CODE(INTERNAL));
	assert_non_null(strstr(rep->status->message, "No such file"));
	assert_int_equal(blk_disks(e), 0);
	/* Deleting the VM while running removes its disks too. */
	assert_int_equal(disk_detach(e, "db", 0)->status->code, CODE(OK));
	rep = vm_op(e, OP(START_VM), "db", false, 0);
	assert_int_equal(rep->status->code, CODE(OK));
	assert_int_equal(blk_disks(e), 1);
	assert_int_equal(vm_op(e, OP(DELETE_VM), "db", true, 0)->status->code, CODE(OK));
	assert_int_equal(blk_disks(e), 0);
}

static void
test_no_block_backend(void **state)
{
	struct env *e = *state;
	const char *vols[1] = { "a" };
	const bool ro[1] = { false };
	Nicvisor__V1__Response *rep;

	dpu_agent_close(e->a);
	e->a = NULL;
	dpu_blk_close(e->blk);
	e->blk = NULL;
	assert_int_equal(open_agent(e), 0);
	hello(e, "h1", 4, 8192, NULL, 0);
	/* Volumes and disks are records: fine. Starting needs a backend. */
	assert_int_equal(vol_create(e, "a", MIB, NULL)->status->code, CODE(OK));
	assert_int_equal(create_disks(e, "one", 1, false, vols, ro, 1)->status->code, CODE(OK));
	rep = vm_op(e, OP(START_VM), "one", false, 0);
	assert_int_equal(rep->status->code, CODE(FAILED_PRECONDITION));
	assert_non_null(strstr(rep->status->message, "block backend"));
	/* It says why: the dataplane's off reason. */
	assert_non_null(strstr(rep->status->message, "(unit test without a dataplane)"));
	assert_int_equal(get(e, "one")->state, STATE(CREATED));
	/* A VM without disks still starts. */
	assert_int_equal(create(e, "plain", 1, 64, true)->status->code, CODE(OK));
}

static void
test_volume_reload(void **state)
{
	struct env *e = *state;
	const char *vols[2] = { "root", "shared" };
	const bool ro[2] = { false, true };
	Nicvisor__V1__VmReport vr = NICVISOR__V1__VM_REPORT__INIT, *vrs[1] = { &vr };
	Nicvisor__V1__Response *rep;
	char vm_id[32], root_id[32], name[64];
	char *s = hello(e, "h1", 4, 8192, NULL, 0);

	rep = vol_create(e, "root", 4 * MIB, NULL);
	snprintf(root_id, sizeof(root_id), "%s", rep->volume->id);
	assert_int_equal(vol_create(e, "shared", MIB, "nbd://s/e")->status->code, CODE(OK));
	rep = create_disks(e, "db", 2, true, vols, ro, 2);
	assert_int_equal(rep->status->code, CODE(OK));
	snprintf(vm_id, sizeof(vm_id), "%s", rep->vm->id);
	assert_int_equal(report(e, s, vm_id, STATE(RUNNING), 0, 1), CODE(OK));

	/* The agent restarts with a fresh backend (the real one is in its
	 * process). */
	dpu_agent_close(e->a);
	e->a = NULL;
	dpu_blk_close(e->blk);
	assert_int_equal(dpu_blk_fake_open(VHOST_DIR, &e->blk), 0);
	assert_int_equal(open_agent(e), 0);
	rep = vol_op(e, OP(GET_VOLUME), "root");
	assert_int_equal(rep->status->code, CODE(OK));
	assert_string_equal(rep->volume->id, root_id);
	assert_int_equal(rep->volume->size_bytes, 4 * MIB);
	assert_int_equal(rep->volume->n_attachments, 1);
	rep = vol_op(e, OP(GET_VOLUME), "shared");
	assert_string_equal(rep->volume->nbd_url, "nbd://s/e");
	assert_int_equal(get(e, "db")->spec->n_disks, 2);
	assert_true(get(e, "db")->spec->disks[1]->read_only);
	/* The rules hold on the reloaded state. */
	assert_fails(vol_op(e, OP(DELETE_VOLUME), "root"), CODE(FAILED_PRECONDITION), "volume",
		     NULL);
	/* The VM was saved running: its disks are served again at agent
	 * start, before the host reconnects; the reconnect with the VM
	 * running keeps them, on the same sockets. */
	assert_int_equal(blk_disks(e), 2);
	vr.vm_id = vm_id;
	vr.state = STATE(RUNNING);
	vr.boots = 1;
	hello(e, "h1", 4, 8192, vrs, 1);
	assert_int_equal(blk_disks(e), 2);
	snprintf(name, sizeof(name), "%s-disk0", vm_id);
	assert_true(dpu_blk_fake_disk(e->blk, name, &(struct dpu_blk_disk_conf){ 0 }));
	/* Same again with the disks still in the backend (-EEXIST): taken over. */
	hello(e, "h1", 4, 8192, vrs, 1);
	assert_int_equal(blk_disks(e), 2);
}

static void
test_adopt_disks(void **state)
{
	struct env *e = *state;
	Nicvisor__V1__VmReport vr = NICVISOR__V1__VM_REPORT__INIT, *vrs[1] = { &vr };
	Nicvisor__V1__VmSpec spec = NICVISOR__V1__VM_SPEC__INIT;
	Nicvisor__V1__DiskSpec d1 = NICVISOR__V1__DISK_SPEC__INIT,
			       d2 = NICVISOR__V1__DISK_SPEC__INIT;
	Nicvisor__V1__DiskSpec *ds[2] = { &d1, &d2 };
	Nicvisor__V1__Vm *vm;

	assert_int_equal(vol_create(e, "known", MIB, NULL)->status->code, CODE(OK));
	d1.volume = "known";
	d2.volume = "unknown";
	spec.name = "lost";
	spec.vcpus = 1;
	spec.memory_mib = 64;
	spec.kernel = "/k";
	spec.disks = ds;
	spec.n_disks = 2;
	vr.vm_id = "vm-00000000000000aa";
	vr.state = STATE(RUNNING);
	vr.spec = &spec;
	hello(e, "h1", 4, 8192, vrs, 1);
	vm = get(e, "lost");
	/* The disk of an unknown volume is dropped; the other is served. */
	assert_int_equal(vm->spec->n_disks, 1);
	assert_string_equal(vm->spec->disks[0]->volume, "known");
	assert_int_equal(blk_disks(e), 1);
}

static void
test_bad_saved_volumes(void **state)
{
	struct env *e = *state;
	Nicvisor__V1__AgentState st = NICVISOR__V1__AGENT_STATE__INIT;
	Nicvisor__V1__Volume v1 = NICVISOR__V1__VOLUME__INIT, v2 = NICVISOR__V1__VOLUME__INIT;
	Nicvisor__V1__Volume *vols[2] = { &v1, &v2 };
	Nicvisor__V1__Vm vm = NICVISOR__V1__VM__INIT, vm2 = NICVISOR__V1__VM__INIT;
	Nicvisor__V1__Vm *vms[2] = { &vm, &vm2 };
	Nicvisor__V1__VmSpec spec = NICVISOR__V1__VM_SPEC__INIT, spec2;
	Nicvisor__V1__DiskSpec d = NICVISOR__V1__DISK_SPEC__INIT, *ds[1] = { &d };
	struct dpu_agent *a2;
	struct dpu_agent_conf conf = {
		.store = e->store,
		.artifact_dir = e->artifacts,
		.blk = e->blk,
		.volume_dir = e->voldir,
	};

	st.version = 1;
	v1.id = "vol-0000000000000001";
	v1.name = "root";
	v1.size_bytes = MIB;
	v2.id = "vol-0000000000000002";
	v2.name = "remote";
	v2.size_bytes = MIB;
	v2.nbd_url = "nbd://h:1/e";
	st.volumes = vols;
	st.n_volumes = 2;
	spec.name = "web1";
	spec.vcpus = 1;
	spec.memory_mib = 64;
	spec.kernel = "/k";
	d.volume = "root";
	spec.disks = ds;
	spec.n_disks = 1;
	spec2 = spec;
	spec2.name = "web2";
	vm.id = "vm-0000000000000001";
	vm.spec = &spec;
	vm.state = STATE(STOPPED);
	vm2 = vm;
	vm2.id = "vm-0000000000000002";
	vm2.spec = &spec2;
	st.vms = vms;
	st.n_vms = 1;
	dpu_agent_close(e->a);
	e->a = NULL;
	/* Good as it is. */
	assert_int_equal(dpu_store_save(e->store, &st), 0);
	assert_int_equal(dpu_agent_open(&conf, &a2), 0);
	dpu_agent_close(a2);
	/* Each corruption stops the agent rather than serve a volume twice. */
	v2.size_bytes = 1000;
	assert_int_equal(dpu_store_save(e->store, &st), 0);
	assert_int_equal(dpu_agent_open(&conf, &a2), -EBADMSG);
	v2.size_bytes = MIB;
	v2.nbd_url = "nbd://";
	assert_int_equal(dpu_store_save(e->store, &st), 0);
	assert_int_equal(dpu_agent_open(&conf, &a2), -EBADMSG);
	v2.nbd_url = "nbd://h:1/e";
	v2.name = "root";
	assert_int_equal(dpu_store_save(e->store, &st), 0);
	assert_int_equal(dpu_agent_open(&conf, &a2), -EBADMSG);
	v2.name = "remote";
	v2.id = "vol-0000000000000001";
	assert_int_equal(dpu_store_save(e->store, &st), 0);
	assert_int_equal(dpu_agent_open(&conf, &a2), -EBADMSG);
	v2.id = "vol-0000000000000002";
	d.volume = "gone";
	assert_int_equal(dpu_store_save(e->store, &st), 0);
	assert_int_equal(dpu_agent_open(&conf, &a2), -EBADMSG);
	/* root read-write to two VMs. */
	d.volume = "root";
	st.n_vms = 2;
	assert_int_equal(dpu_store_save(e->store, &st), 0);
	assert_int_equal(dpu_agent_open(&conf, &a2), -EBADMSG);
	/* Read-only to both: fine. */
	d.read_only = true;
	assert_int_equal(dpu_store_save(e->store, &st), 0);
	assert_int_equal(open_agent(e), 0);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_long_poll),
		T(test_read_artifact),
		T(test_reports_console_events),
		T(test_host_lost),
		T(test_reconcile_host_restart),
		T(test_reconcile_adopt),
		T(test_stop_before_delivery),
		T(test_stop_sent_after_launch),
		T(test_stop_escalation),
		T(test_tombstone_survives_restart),
		T(test_reload),
		T(test_resources_and_sharing),
		T(test_decode_errors_keep_serving),
		T(test_networks),
		T(test_overlay_networks),
		T(test_nics_at_create),
		T(test_mac_assignment_unique),
		T(test_nic_state_machine),
		T(test_launch_nics),
		T(test_port_stats),
		T(test_net_restart),
		T(test_dataplane_refusals),
		T(test_networking_off),
		T(test_adopt_nics),
		T(test_bad_saved_networks),
		T(test_volumes),
		T(test_disk_rules),
		T(test_launch_disks),
		T(test_disk_limits),
		T(test_no_block_backend),
		T(test_volume_reload),
		T(test_adopt_disks),
		T(test_bad_saved_volumes),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
