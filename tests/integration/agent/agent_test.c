/* SPDX-License-Identifier: MIT */
/*
 * nicvisor-dpu as a real process, driven through its API, nicvisorctl and
 * a fake host on the southbound channel. Usage: agent_test [TEST-NAME-GLOB]
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fake_host.h"
#include "harness.h"
#include "nv_log.h"
#include "nv_wire.h"

#define CODE(x)      NICVISOR__V1__CODE__CODE_##x
#define STATE(x)     NICVISOR__V1__VM_STATE__VM_STATE_##x
#define OP(x)        NICVISOR__V1__REQUEST__OP_##x

#define HEARTBEAT_MS 300
#define DEAD_MS      1200
#define KERNEL_SIZE  ((size_t)(2600 << 10)) /* several 256 KiB chunks, > 1 MiB */
#define INITRD_SIZE  ((size_t)(300 << 10))
#define BANNER       "Linux version 6.1.0-fake\nWelcome to the fake guest\nlogin: "

struct fx {
	struct agent_proc ap;
	char kernel[400];
	char initrd[400];
	char ksha[65];
	char isha[65];
	struct fake_host *hosts[4];
	unsigned nhosts;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL || agent_setup(&f->ap, HEARTBEAT_MS, DEAD_MS) < 0) {
		fprintf(stderr, "cannot start nicvisor-dpu\n");
		if (f != NULL)
			agent_teardown(&f->ap);
		free(f);
		return -1;
	}
	snprintf(f->kernel, sizeof(f->kernel), "%s/bzImage", f->ap.dir);
	snprintf(f->initrd, sizeof(f->initrd), "%s/initrd.gz", f->ap.dir);
	if (make_kernel(f->kernel, KERNEL_SIZE, 1, f->ksha) < 0 ||
	    make_initrd(f->initrd, INITRD_SIZE, 2, f->isha) < 0)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	for (unsigned i = 0; i < f->nhosts; i++)
		fake_host_stop(f->hosts[i]);
	agent_teardown(&f->ap);
	free(f);
	return 0;
}

static struct fake_host *
add_host(struct fx *f, const char *id, uint32_t cores, uint32_t kvm_max, uint64_t mem)
{
	struct fake_host_conf conf = {
		.url = f->ap.south,
		.id = id,
		.cores = cores,
		.kvm_max_vcpus = kvm_max,
		.memory_mib = mem,
		.banner = BANNER,
	};
	struct fake_host *fh;

	assert_int_equal(fake_host_start(&conf, &fh), 0);
	assert_true(fake_host_wait_hellos(fh, 1, 5000));
	f->hosts[f->nhosts++] = fh;
	return fh;
}

static const char *
vm_id_of(struct agent_proc *ap, const char *name, char *buf)
{
	Nicvisor__V1__Response *rep;

	assert_int_equal(api_simple(ap, OP(GET_VM), name, false, &rep), CODE(OK));
	snprintf(buf, 32, "%s", rep->vm->id);
	nv_wire_free(&rep->base);
	return buf;
}

static Nicvisor__V1__Vm *
get_vm(struct agent_proc *ap, const char *name, Nicvisor__V1__Response **rep)
{
	assert_int_equal(api_simple(ap, OP(GET_VM), name, false, rep), CODE(OK));
	assert_non_null((*rep)->vm);
	return (*rep)->vm;
}

/* Start a VM on the fake host(s) and wait until it runs. */
static void
run_vm(struct fx *f, const char *name, uint32_t vcpus, uint64_t mem, char *id)
{
	assert_int_equal(api_create(&f->ap, name, f->kernel, f->initrd, vcpus, mem, true, NULL),
			 CODE(OK));
	assert_true(api_wait_state(&f->ap, name, STATE(RUNNING), 10000));
	vm_id_of(&f->ap, name, id);
}

static size_t
dir_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	size_t n = 0;

	if (d == NULL)
		return (size_t)-1;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static void
test_host_registration(void **state)
{
	struct fx *f = *state;
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__ListHostsRequest lh = NICVISOR__V1__LIST_HOSTS_REQUEST__INIT;
	Nicvisor__V1__Response *rep;
	Nicvisor__V1__Event *ev;
	struct fake_host_stats hs;
	char topic[NV_TOPIC_MAX], out[8192];
	struct sub sub;

	assert_int_equal(sub_open(&sub, f->ap.events, "host/"), 0);
	add_host(f, "h1", 2, 2, 2048);
	fake_host_get_stats(f->hosts[0], &hs);
	assert_int_equal(hs.heartbeat_ms, HEARTBEAT_MS);
	assert_int_equal(hs.dead_after_ms, DEAD_MS);

	ev = sub_next(&sub, 3000, topic, sizeof(topic));
	assert_non_null(ev);
	assert_string_equal(topic, "host/h1");
	assert_int_equal(ev->kind_case, NICVISOR__V1__EVENT__KIND_HOST);
	assert_true(ev->host->host->connected);
	nv_wire_free(&ev->base);
	sub_close(&sub);

	req.op_case = OP(LIST_HOSTS);
	req.list_hosts = &lh;
	rep = api_call(&f->ap, &req);
	assert_non_null(rep);
	assert_int_equal(rep->status->code, CODE(OK));
	assert_int_equal(rep->hosts->n_hosts, 1);
	assert_string_equal(rep->hosts->hosts[0]->id, "h1");
	assert_true(rep->hosts->hosts[0]->connected);
	assert_int_equal(rep->hosts->hosts[0]->caps->cores, 2);
	assert_int_equal(rep->hosts->hosts[0]->caps->memory_mib, 2048);
	assert_int_equal(rep->hosts->hosts[0]->caps->n_kvm_caps, 2);
	nv_wire_free(&rep->base);

	assert_int_equal(run_ctl(&f->ap, out, sizeof(out), 10, "--json", "hosts", NULL), 0);
	assert_non_null(strstr(out, "\"id\":\"h1\""));
	assert_non_null(strstr(out, "\"connected\":true"));
	assert_non_null(strstr(out, "\"cores\":2"));
	assert_int_equal(run_ctl(&f->ap, out, sizeof(out), 10, "hosts", NULL), 0);
	assert_non_null(strstr(out, "h1"));
	assert_non_null(strstr(out, "yes"));
}

/* Drain events for one VM; the states seen, in order. */
static size_t
collect_states(struct sub *sub, const char *vm_id, int *states, size_t max, bool *console)
{
	char topic[NV_TOPIC_MAX], want[NV_TOPIC_MAX];
	Nicvisor__V1__Event *ev;
	size_t n = 0;

	snprintf(want, sizeof(want), "vm/%s/", vm_id);
	while ((ev = sub_next(sub, 300, topic, sizeof(topic))) != NULL) {
		if (strncmp(topic, want, strlen(want)) == 0) {
			if (ev->kind_case == NICVISOR__V1__EVENT__KIND_VM_STATE && n < max &&
			    (n == 0 || states[n - 1] != (int)ev->vm_state->state))
				states[n++] = (int)ev->vm_state->state;
			if (ev->kind_case == NICVISOR__V1__EVENT__KIND_CONSOLE)
				*console = true;
		}
		nv_wire_free(&ev->base);
	}
	return n;
}

/* Console output that arrives while nicvisorctl follows. */
struct late_console {
	struct fake_host *h;
	const char *vm_id, *text;
	int delay_ms;
	int code;
};

static void *
late_console_main(void *arg)
{
	struct late_console *lc = arg;

	sleep_ms(lc->delay_ms);
	lc->code = fake_host_console(lc->h, lc->vm_id, lc->text, UINT64_MAX);
	return NULL;
}

static void
test_launch_console_stop_delete(void **state)
{
	struct fx *f = *state;
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__GetConsoleRequest gc = NICVISOR__V1__GET_CONSOLE_REQUEST__INIT;
	char out[16384], err[4096], id[32], artifacts[400];
	struct fake_host_stats hs;
	Nicvisor__V1__Response *rep;
	struct fake_host *h;
	struct fake_vm fv;
	bool console = false;
	int states[16];
	size_t n;
	struct sub sub;

	h = add_host(f, "h1", 2, 2, 4096);
	assert_int_equal(sub_open(&sub, f->ap.events, "vm/"), 0);
	assert_int_equal(run_ctl(&f->ap, out, sizeof(out), 20, "create", "web1", "--kernel",
				 f->kernel, "--initrd", f->initrd, "--vcpus", "2", "--memory",
				 "512", "--cmdline", "console=ttyS0", "--start", NULL),
			 0);
	assert_non_null(strstr(out, "web1"));
	assert_int_equal(run_ctl(&f->ap, out, sizeof(out), 20, "wait", "web1", "--state", "running",
				 "--timeout", "15", NULL),
			 0);
	vm_id_of(&f->ap, "web1", id);

	/* The host got LaunchVm through its poll and streamed both files. */
	assert_true(fake_host_wait_vm(h, id, STATE(RUNNING), 5000, &fv));
	assert_true(fv.digests_ok);
	assert_int_equal(fv.kernel_bytes, KERNEL_SIZE);
	assert_int_equal(fv.initrd_bytes, INITRD_SIZE);
	assert_string_equal(fv.kernel_id, f->ksha);
	assert_int_equal(fv.vcpus, 2);
	assert_int_equal(fv.memory_mib, 512);
	fake_host_get_stats(h, &hs);
	assert_true(hs.artifact_reads >= (KERNEL_SIZE + INITRD_SIZE) / (256 << 10));
	assert_int_equal(hs.launches, 1);

	/* Console via nicvisorctl: history then live, until the pattern. */
	assert_int_equal(run_ctl(&f->ap, out, sizeof(out), 20, "console", "web1", "--until",
				 "login: ", "--timeout", "10", NULL),
			 0);
	assert_non_null(strstr(out, "Welcome to the fake guest"));

	/* GetConsole offsets. */
	gc.vm = "web1";
	req.op_case = OP(GET_CONSOLE);
	req.get_console = &gc;
	rep = api_call(&f->ap, &req);
	assert_int_equal(rep->status->code, CODE(OK));
	assert_int_equal(rep->console->offset, 0);
	assert_int_equal(rep->console->end_offset, strlen(BANNER));
	assert_memory_equal(rep->console->data.data, BANNER, strlen(BANNER));
	nv_wire_free(&rep->base);
	gc.offset = 6;
	gc.max_bytes = 7;
	rep = api_call(&f->ap, &req);
	assert_int_equal(rep->console->offset, 6);
	assert_int_equal(rep->console->data.len, 7);
	assert_memory_equal(rep->console->data.data, &BANNER[6], 7);
	nv_wire_free(&rep->base);

	/* A resend is recognised by its offset; new bytes are appended. */
	assert_int_equal(fake_host_console(h, id, BANNER, 0), CODE(OK));
	assert_int_equal(fake_host_console(h, id, "root\n", UINT64_MAX), CODE(OK));
	gc.offset = 0;
	gc.max_bytes = 0;
	rep = api_call(&f->ap, &req);
	assert_int_equal(rep->console->end_offset, strlen(BANNER) + 5);
	assert_memory_equal(rep->console->data.data + strlen(BANNER), "root\n", 5);
	nv_wire_free(&rep->base);

	/* A guest reboot: boots + 1, still running. */
	assert_int_equal(fake_host_report(h, id, STATE(RUNNING),
					  NICVISOR__V1__EXIT_KIND__EXIT_KIND_REBOOT, 2, NULL),
			 CODE(OK));
	{
		Nicvisor__V1__Vm *vm = get_vm(&f->ap, "web1", &rep);

		assert_int_equal(vm->boots, 2);
		assert_int_equal(vm->state, STATE(RUNNING));
		assert_int_equal(vm->console_bytes, strlen(BANNER) + 5);
		assert_string_equal(vm->host, "h1");
		nv_wire_free(&rep->base);
	}

	/* Events of the VM: created, starting, running, and console. */
	n = collect_states(&sub, id, states, 16, &console);
	sub_close(&sub);
	assert_true(n >= 3);
	assert_int_equal(states[0], STATE(CREATED));
	assert_int_equal(states[1], STATE(STARTING));
	assert_int_equal(states[n - 1], STATE(RUNNING));
	assert_true(console);

	/* pub/sub may lose events (a late subscription, a full queue), so
	 * console --until must not depend on them: with an events socket
	 * that never publishes, output written after it started is still
	 * found (GetConsole from its offset). */
	{
		struct agent_proc deaf = f->ap;
		struct late_console lc = {
			.h = h,
			.vm_id = id,
			.text = "late-marker\n",
			.delay_ms = 700,
			.code = -1,
		};
		nng_socket pub;
		pthread_t t;

		snprintf(deaf.events, sizeof(deaf.events), "ipc://%s/deaf-events.sock", f->ap.dir);
		assert_int_equal(nng_pub0_open(&pub), 0);
		assert_int_equal(nng_listen(pub, deaf.events, NULL, 0), 0);
		assert_int_equal(pthread_create(&t, NULL, late_console_main, &lc), 0);
		assert_int_equal(run_ctl(&deaf, out, sizeof(out), 20, "console", "web1", "--until",
					 "late-marker", "--timeout", "10", NULL),
				 0);
		pthread_join(t, NULL);
		assert_int_equal(lc.code, CODE(OK));
		assert_non_null(strstr(out, "root\nlate-marker"));
		nng_close(pub);
	}

	/* Stop through the long poll; the host reports STOPPED. */
	assert_int_equal(
		run_ctl(&f->ap, out, sizeof(out), 10, "stop", "web1", "--timeout", "5", NULL), 0);
	assert_true(api_wait_state(&f->ap, "web1", STATE(STOPPED), 5000));
	fake_host_get_stats(h, &hs);
	assert_int_equal(hs.stops, 1);
	{
		Nicvisor__V1__Vm *vm = get_vm(&f->ap, "web1", &rep);

		assert_int_equal(vm->last_exit, NICVISOR__V1__EXIT_KIND__EXIT_KIND_STOPPED);
		nv_wire_free(&rep->base);
	}
	/* A stopped VM holds no boot artifacts. */
	snprintf(artifacts, sizeof(artifacts), "%s/artifacts", f->ap.state);
	assert_int_equal(dir_entries(artifacts), 0);

	assert_int_equal(run_ctl(&f->ap, out, sizeof(out), 10, "delete", "web1", NULL), 0);
	assert_int_equal(api_simple(&f->ap, OP(GET_VM), "web1", false, NULL), CODE(NOT_FOUND));
	{
		char *args[] = { "get", "web1", NULL };

		assert_int_equal(run_ctlv(&f->ap, out, sizeof(out), err, sizeof(err), 10, args), 1);
		assert_non_null(strstr(err, "vm web1: not found"));
	}
}

static void
test_placement(void **state)
{
	struct fx *f = *state;
	Nicvisor__V1__Response *rep;
	char id[32];

	add_host(f, "small", 2, 2, 1024);
	add_host(f, "big", 4, 4, 4096);

	run_vm(f, "a", 4, 512, id);
	assert_string_equal(get_vm(&f->ap, "a", &rep)->host, "big");
	nv_wire_free(&rep->base);
	run_vm(f, "b", 1, 3000, id);
	assert_string_equal(get_vm(&f->ap, "b", &rep)->host, "big");
	nv_wire_free(&rep->base);
	/* small has 1024 MiB free, big 584: the most free memory wins. */
	run_vm(f, "c", 1, 1000, id);
	assert_string_equal(get_vm(&f->ap, "c", &rep)->host, "small");
	nv_wire_free(&rep->base);

	assert_int_equal(api_create(&f->ap, "d", f->kernel, NULL, 8, 64, true, &rep),
			 CODE(RESOURCE_EXHAUSTED));
	assert_string_equal(rep->status->field, "spec.vcpus");
	assert_string_equal(rep->status->message, "needs 8 vCPUs, largest host has 4");
	nv_wire_free(&rep->base);
	/* A refused create --start creates nothing. */
	assert_int_equal(api_simple(&f->ap, OP(GET_VM), "d", false, NULL), CODE(NOT_FOUND));

	assert_int_equal(api_create(&f->ap, "e", f->kernel, NULL, 1, 2000, true, &rep),
			 CODE(RESOURCE_EXHAUSTED));
	assert_string_equal(rep->status->field, "spec.memory_mib");
	assert_non_null(strstr(rep->status->message, "2000 MiB"));
	nv_wire_free(&rep->base);

	/* A stopped and restarted VM stays on its host. */
	assert_int_equal(api_simple(&f->ap, OP(STOP_VM), "a", false, NULL), CODE(OK));
	assert_true(api_wait_state(&f->ap, "a", STATE(STOPPED), 5000));
	assert_int_equal(api_simple(&f->ap, OP(START_VM), "a", false, NULL), CODE(OK));
	assert_true(api_wait_state(&f->ap, "a", STATE(RUNNING), 10000));
	assert_string_equal(get_vm(&f->ap, "a", &rep)->host, "big");
	nv_wire_free(&rep->base);
}

static void
test_heartbeat_loss_and_reattach(void **state)
{
	struct fx *f = *state;
	Nicvisor__V1__Response *rep;
	Nicvisor__V1__Event *ev;
	char id[32], topic[NV_TOPIC_MAX];
	struct fake_host *h;
	bool lost = false;
	struct sub sub;
	uint64_t t0;

	h = add_host(f, "h1", 2, 2, 4096);
	run_vm(f, "web1", 1, 256, id);
	assert_int_equal(sub_open(&sub, f->ap.events, "host/"), 0);

	fake_host_set_silent(h, true);
	t0 = now_ms();
	while (!lost && now_ms() - t0 < DEAD_MS + 3000) {
		ev = sub_next(&sub, 500, topic, sizeof(topic));
		if (ev != NULL && ev->kind_case == NICVISOR__V1__EVENT__KIND_HOST &&
		    !ev->host->host->connected)
			lost = true;
		nv_wire_free((ProtobufCMessage *)ev);
	}
	sub_close(&sub);
	assert_true(lost);
	/* Not before dead_after_ms of silence (less the last heartbeat). */
	assert_true(now_ms() - t0 >= DEAD_MS - HEARTBEAT_MS);
	{
		Nicvisor__V1__Vm *vm = get_vm(&f->ap, "web1", &rep);

		assert_int_equal(vm->state, STATE(RUNNING));
		assert_non_null(strstr(vm->reason, "unreachable"));
		nv_wire_free(&rep->base);
	}
	/* While lost, new VMs cannot go there. */
	assert_int_equal(api_create(&f->ap, "web2", f->kernel, NULL, 1, 64, true, NULL),
			 CODE(UNAVAILABLE));

	fake_host_set_silent(h, false);
	assert_true(fake_host_wait_hellos(h, 2, 5000));
	{
		Nicvisor__V1__Vm *vm = get_vm(&f->ap, "web1", &rep);

		assert_int_equal(vm->state, STATE(RUNNING));
		assert_null(strstr(vm->reason, "unreachable"));
		nv_wire_free(&rep->base);
	}
	/* Commands flow again on the new session. */
	assert_int_equal(api_simple(&f->ap, OP(STOP_VM), "web1", false, NULL), CODE(OK));
	assert_true(api_wait_state(&f->ap, "web1", STATE(STOPPED), 5000));
}

static void
test_agent_restart(void **state)
{
	struct fx *f = *state;
	Nicvisor__V1__Response *rep;
	struct fake_host *h;
	char id[32];

	h = add_host(f, "h1", 2, 2, 4096);
	run_vm(f, "web1", 1, 256, id);
	assert_int_equal(fake_host_report(h, id, STATE(RUNNING),
					  NICVISOR__V1__EXIT_KIND__EXIT_KIND_REBOOT, 3, NULL),
			 CODE(OK));
	assert_int_equal(api_create(&f->ap, "db1", f->kernel, NULL, 1, 64, false, NULL), CODE(OK));

	agent_kill(&f->ap, SIGKILL);
	assert_int_equal(agent_spawn(&f->ap), 0);

	/* The saved state is back before the host says anything. */
	assert_int_equal(api_vm_state(&f->ap, "db1"), STATE(CREATED));
	/* The host's poll fails its session, it says Hello with its VM. */
	assert_true(fake_host_wait_hellos(h, 2, 10000));
	{
		Nicvisor__V1__Vm *vm = get_vm(&f->ap, "web1", &rep);

		assert_int_equal(vm->state, STATE(RUNNING));
		assert_string_equal(vm->id, id);
		assert_string_equal(vm->host, "h1");
		assert_int_equal(vm->boots, 3);
		assert_null(strstr(vm->reason, "waiting"));
		nv_wire_free(&rep->base);
	}
	/* And the agent drives it: stop reaches the host. */
	assert_int_equal(api_simple(&f->ap, OP(STOP_VM), "web1", false, NULL), CODE(OK));
	assert_true(api_wait_state(&f->ap, "web1", STATE(STOPPED), 5000));
	/* A clean shutdown exits 0. */
	assert_int_equal(agent_kill(&f->ap, SIGTERM), 0);
}

static void
test_host_restart(void **state)
{
	struct fx *f = *state;
	Nicvisor__V1__Response *rep;
	struct fake_host *h;
	char id[32];

	h = add_host(f, "h1", 2, 2, 4096);
	run_vm(f, "web1", 1, 256, id);
	fake_host_restart(h);
	assert_true(fake_host_wait_hellos(h, 2, 5000));
	assert_true(api_wait_state(&f->ap, "web1", STATE(FAILED), 3000));
	assert_non_null(strstr(get_vm(&f->ap, "web1", &rep)->reason, "restarted"));
	nv_wire_free(&rep->base);
	/* It can be started again on the same host. */
	assert_int_equal(api_simple(&f->ap, OP(START_VM), "web1", false, NULL), CODE(OK));
	assert_true(api_wait_state(&f->ap, "web1", STATE(RUNNING), 10000));
}

static Nicvisor__V1__Response *
raw_api(struct fx *f, const void *buf, size_t len)
{
	Nicvisor__V1__Response *rep = NULL;
	size_t rlen;
	uint8_t *b = raw_call(f->ap.api, buf, len, 5000, &rlen);

	assert_non_null(b);
	assert_int_equal(nv_wire_unpack(&nicvisor__v1__response__descriptor, b, rlen,
					(ProtobufCMessage **)&rep),
			 0);
	free(b);
	return rep;
}

static void
expect_status(Nicvisor__V1__Response *rep, int code, const char *field, const char *msg_part)
{
	assert_non_null(rep);
	assert_non_null(rep->status);
	if ((int)rep->status->code != code)
		fail_msg("code %d, wanted %d: %s", rep->status->code, code, rep->status->message);
	if (field != NULL)
		assert_string_equal(rep->status->field, field);
	if (msg_part != NULL && strstr(rep->status->message, msg_part) == NULL)
		fail_msg("message '%s' lacks '%s'", rep->status->message, msg_part);
	assert_int_equal(rep->version, NV_PROTOCOL_VERSION);
	nv_wire_free(&rep->base);
}

static void
test_bad_api_input(void **state)
{
	struct fx *f = *state;
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__CreateVmRequest cr = NICVISOR__V1__CREATE_VM_REQUEST__INIT;
	Nicvisor__V1__VmSpec spec = NICVISOR__V1__VM_SPEC__INIT;
	Nicvisor__V1__ListVmsRequest lv = NICVISOR__V1__LIST_VMS_REQUEST__INIT;
	Nicvisor__V1__Response *rep;
	char path[400], sha[65], out[4096], err[4096];
	char cmdline[3000];
	uint8_t *buf;
	size_t len;

	/* Bytes that are not a Request. */
	expect_status(raw_api(f, "\xff\xff\xff\xff", 4), CODE(MALFORMED), "", "do not decode");
	assert_true(agent_alive(&f->ap));

	/* A truncated Request. */
	spec.name = "trunc";
	spec.kernel = f->kernel;
	spec.vcpus = 1;
	spec.memory_mib = 64;
	cr.spec = &spec;
	req.version = NV_PROTOCOL_VERSION;
	req.op_case = OP(CREATE_VM);
	req.create_vm = &cr;
	assert_int_equal(nv_wire_pack_buf(&req.base, &buf, &len), 0);
	expect_status(raw_api(f, buf, len - 5), CODE(MALFORMED), "", NULL);
	free(buf);
	assert_true(agent_alive(&f->ap));

	/* Oversized: refused with a typed error up to nng's limit... */
	buf = calloc(1, NV_WIRE_MAX_MSG + 1);
	expect_status(raw_api(f, buf, NV_WIRE_MAX_MSG + 1), CODE(MALFORMED), "", "larger than");
	free(buf);
	/* ...and beyond it nng drops the connection: no answer, no harm. */
	assert_true(raw_ipc_unanswered(f->ap.api, 2 * NV_WIRE_MAX_MSG, 5000));
	assert_true(agent_alive(&f->ap));

	/* Envelope. */
	req.version = 7;
	expect_status(api_call(&f->ap, &req), CODE(VERSION_MISMATCH), "version", "version 7");
	req.version = NV_PROTOCOL_VERSION;
	req.op_case = NICVISOR__V1__REQUEST__OP__NOT_SET;
	expect_status(api_call(&f->ap, &req), CODE(UNIMPLEMENTED), "op", NULL);
	req.op_case = OP(CREATE_VM);

	/* Field rules: each with its field and a message to act on. */
	spec.name = "Web 1";
	expect_status(api_call(&f->ap, &req), CODE(INVALID_ARGUMENT), "spec.name", "'Web 1'");
	spec.name = "vm-0123456789abcdef";
	expect_status(api_call(&f->ap, &req), CODE(INVALID_ARGUMENT), "spec.name", "looks like");
	spec.name = "ok";
	spec.vcpus = 0;
	expect_status(api_call(&f->ap, &req), CODE(INVALID_ARGUMENT), "spec.vcpus", NULL);
	spec.vcpus = 1;
	spec.memory_mib = 8;
	expect_status(api_call(&f->ap, &req), CODE(INVALID_ARGUMENT), "spec.memory_mib",
		      "at least 16");
	spec.memory_mib = 64;
	spec.kernel = "bzImage";
	expect_status(api_call(&f->ap, &req), CODE(INVALID_ARGUMENT), "spec.kernel", "relative");
	snprintf(path, sizeof(path), "%s/missing", f->ap.dir);
	spec.kernel = path;
	expect_status(api_call(&f->ap, &req), CODE(INVALID_ARGUMENT), "spec.kernel",
		      "No such file");
	/* A corrupt kernel: right size, no magic. */
	snprintf(path, sizeof(path), "%s/corrupt", f->ap.dir);
	assert_int_equal(make_initrd(path, 8192, 3, sha), 0);
	expect_status(api_call(&f->ap, &req), CODE(INVALID_ARGUMENT), "spec.kernel",
		      "not a kernel image");
	spec.kernel = f->kernel;
	spec.initrd = f->kernel; /* a kernel is not an initrd */
	expect_status(api_call(&f->ap, &req), CODE(INVALID_ARGUMENT), "spec.initrd",
		      "not an initrd");
	spec.initrd = "";
	memset(cmdline, 'x', sizeof(cmdline) - 1);
	cmdline[sizeof(cmdline) - 1] = 0;
	spec.cmdline = cmdline;
	expect_status(api_call(&f->ap, &req), CODE(INVALID_ARGUMENT), "spec.cmdline", "2048");
	spec.cmdline = "";

	/* Names are unique. */
	expect_status(api_call(&f->ap, &req), CODE(OK), "", NULL);
	expect_status(api_call(&f->ap, &req), CODE(ALREADY_EXISTS), "spec.name", "ok");
	/* Unknown ids and names. */
	assert_int_equal(api_simple(&f->ap, OP(START_VM), "vm-0000000000000000", false, &rep),
			 CODE(NOT_FOUND));
	expect_status(rep, CODE(NOT_FOUND), "vm", "not found");
	/* No host at all. */
	assert_int_equal(api_simple(&f->ap, OP(START_VM), "ok", false, &rep), CODE(UNAVAILABLE));
	expect_status(rep, CODE(UNAVAILABLE), "", "no host");
	/* Wrong state. */
	assert_int_equal(api_simple(&f->ap, OP(STOP_VM), "ok", false, &rep),
			 CODE(FAILED_PRECONDITION));
	expect_status(rep, CODE(FAILED_PRECONDITION), "vm", "not running");

	/* Lists. */
	req.op_case = OP(LIST_VMS);
	req.list_vms = &lv;
	lv.page_size = 5000;
	expect_status(api_call(&f->ap, &req), CODE(INVALID_ARGUMENT), "page_size", NULL);
	lv.page_size = 0;
	lv.page_token = "garbage";
	expect_status(api_call(&f->ap, &req), CODE(INVALID_ARGUMENT), "page_token", NULL);

	/* A kernel that vanished between create and start. */
	add_host(f, "h1", 2, 2, 4096);
	snprintf(path, sizeof(path), "%s/vanishing", f->ap.dir);
	assert_int_equal(make_kernel(path, 8192, 4, sha), 0);
	assert_int_equal(api_create(&f->ap, "gone", path, NULL, 1, 64, false, NULL), CODE(OK));
	unlink(path);
	assert_int_equal(api_simple(&f->ap, OP(START_VM), "gone", false, &rep),
			 CODE(FAILED_PRECONDITION));
	expect_status(rep, CODE(FAILED_PRECONDITION), "spec.kernel", "cannot open");
	assert_int_equal(api_vm_state(&f->ap, "gone"), STATE(CREATED));
	/* More than the host has. */
	assert_int_equal(api_create(&f->ap, "huge", f->kernel, NULL, 1, 100000, true, &rep),
			 CODE(RESOURCE_EXHAUSTED));
	expect_status(rep, CODE(RESOURCE_EXHAUSTED), "spec.memory_mib", "100000 MiB");

	/* nicvisorctl: usage errors exit 2, refused requests 1. */
	{
		char *a1[] = { "create", "x", NULL };
		char *a2[] = { "frobnicate", NULL };
		char *a3[] = { "create", "dup", "--kernel", "relative", NULL };

		assert_int_equal(run_ctlv(&f->ap, out, sizeof(out), err, sizeof(err), 10, a1), 2);
		assert_non_null(strstr(err, "--kernel"));
		assert_int_equal(run_ctlv(&f->ap, out, sizeof(out), err, sizeof(err), 10, a2), 2);
		assert_int_equal(run_ctlv(&f->ap, out, sizeof(out), err, sizeof(err), 10, a3), 1);
		assert_non_null(strstr(err, "spec.kernel"));
	}
	assert_true(agent_alive(&f->ap));
}

static Nicvisor__V1__HostResponse *
raw_south(struct fx *f, const void *buf, size_t len)
{
	Nicvisor__V1__HostResponse *rep = NULL;
	size_t rlen;
	uint8_t *b = raw_call(f->ap.south, buf, len, 5000, &rlen);

	assert_non_null(b);
	assert_int_equal(nv_wire_unpack(&nicvisor__v1__host_response__descriptor, b, rlen,
					(ProtobufCMessage **)&rep),
			 0);
	free(b);
	return rep;
}

static void
expect_host_status(Nicvisor__V1__HostResponse *rep, int code, const char *field)
{
	assert_non_null(rep);
	assert_non_null(rep->status);
	if ((int)rep->status->code != code)
		fail_msg("code %d, wanted %d: %s", rep->status->code, code, rep->status->message);
	if (field != NULL)
		assert_string_equal(rep->status->field, field);
	nv_wire_free(&rep->base);
}

static void
test_bad_southbound_input(void **state)
{
	struct fx *f = *state;
	Nicvisor__V1__HostRequest req = NICVISOR__V1__HOST_REQUEST__INIT;
	Nicvisor__V1__Hello hello = NICVISOR__V1__HELLO__INIT;
	Nicvisor__V1__HostCapabilities caps = NICVISOR__V1__HOST_CAPABILITIES__INIT;
	Nicvisor__V1__Poll poll = NICVISOR__V1__POLL__INIT;
	Nicvisor__V1__VmReport vr = NICVISOR__V1__VM_REPORT__INIT;
	Nicvisor__V1__ReadArtifact ra = NICVISOR__V1__READ_ARTIFACT__INIT;
	Nicvisor__V1__ConsoleData cd = NICVISOR__V1__CONSOLE_DATA__INIT;
	struct fake_host *h1, *h2;
	uint8_t *buf;
	size_t len;
	char id[32];

	expect_host_status(raw_south(f, "\x0a\xff\xff\xff\xff\x0f", 6), CODE(MALFORMED), "");
	caps.cores = 2;
	caps.memory_mib = 1024;
	hello.host_id = "raw";
	hello.caps = &caps;
	req.version = NV_PROTOCOL_VERSION;
	req.op_case = NICVISOR__V1__HOST_REQUEST__OP_HELLO;
	req.hello = &hello;
	assert_int_equal(nv_wire_pack_buf(&req.base, &buf, &len), 0);
	expect_host_status(raw_south(f, buf, len - 3), CODE(MALFORMED), "");
	free(buf);
	buf = calloc(1, NV_WIRE_MAX_MSG + 100);
	expect_host_status(raw_south(f, buf, NV_WIRE_MAX_MSG + 100), CODE(MALFORMED), "");
	free(buf);

	hello.host_id = "bad host";
	assert_int_equal(nv_wire_pack_buf(&req.base, &buf, &len), 0);
	expect_host_status(raw_south(f, buf, len), CODE(INVALID_ARGUMENT), "hello.host_id");
	free(buf);
	hello.host_id = "raw";
	hello.caps = NULL;
	assert_int_equal(nv_wire_pack_buf(&req.base, &buf, &len), 0);
	expect_host_status(raw_south(f, buf, len), CODE(INVALID_ARGUMENT), "hello.caps");
	free(buf);
	req.version = 9;
	hello.caps = &caps;
	assert_int_equal(nv_wire_pack_buf(&req.base, &buf, &len), 0);
	expect_host_status(raw_south(f, buf, len), CODE(VERSION_MISMATCH), "version");
	free(buf);
	req.version = NV_PROTOCOL_VERSION;
	req.session = "not-a-session";
	req.op_case = NICVISOR__V1__HOST_REQUEST__OP_POLL;
	req.poll = &poll;
	assert_int_equal(nv_wire_pack_buf(&req.base, &buf, &len), 0);
	expect_host_status(raw_south(f, buf, len), CODE(UNAUTHENTICATED), "session");
	free(buf);

	/* With a real session. */
	h1 = add_host(f, "h1", 2, 2, 4096);
	h2 = add_host(f, "h2", 1, 1, 512);
	run_vm(f, "web1", 2, 1024, id); /* only h1 fits */
	req.session = NULL;
	req.op_case = NICVISOR__V1__HOST_REQUEST__OP_VM_REPORT;
	req.vm_report = &vr;
	vr.vm_id = "vm-00000000000000aa";
	vr.state = STATE(RUNNING);
	assert_int_equal(fake_host_call(h1, &req, NULL), CODE(NOT_FOUND));
	vr.vm_id = id;
	vr.state = STATE(CREATED);
	assert_int_equal(fake_host_call(h1, &req, NULL), CODE(INVALID_ARGUMENT));
	vr.state = 42;
	assert_int_equal(fake_host_call(h1, &req, NULL), CODE(INVALID_ARGUMENT));
	vr.state = STATE(STOPPED);
	/* h2 does not run web1. */
	assert_int_equal(fake_host_call(h2, &req, NULL), CODE(FAILED_PRECONDITION));
	assert_int_equal(api_vm_state(&f->ap, "web1"), STATE(RUNNING));

	req.op_case = NICVISOR__V1__HOST_REQUEST__OP_READ_ARTIFACT;
	req.read_artifact = &ra;
	ra.artifact_id = "abc";
	assert_int_equal(fake_host_call(h1, &req, NULL), CODE(INVALID_ARGUMENT));
	ra.artifact_id = "0000000000000000000000000000000000000000000000000000000000000000";
	assert_int_equal(fake_host_call(h1, &req, NULL), CODE(NOT_FOUND));
	ra.artifact_id = f->ksha;
	ra.length = 2u << 20;
	assert_int_equal(fake_host_call(h1, &req, NULL), CODE(INVALID_ARGUMENT));
	ra.length = 16;
	ra.offset = KERNEL_SIZE + 1;
	assert_int_equal(fake_host_call(h1, &req, NULL), CODE(INVALID_ARGUMENT));
	ra.offset = 0x200;
	{
		Nicvisor__V1__HostResponse *rep;

		assert_int_equal(fake_host_call(h1, &req, &rep), CODE(OK));
		assert_int_equal(rep->chunk->data.len, 16);
		assert_memory_equal(rep->chunk->data.data + 2, "HdrS", 4);
		nv_wire_free(&rep->base);
	}
	/* h2 may not read h1's boot files. */
	assert_int_equal(fake_host_call(h2, &req, NULL), CODE(NOT_FOUND));

	req.op_case = NICVISOR__V1__HOST_REQUEST__OP_CONSOLE;
	req.console = &cd;
	cd.vm_id = id;
	cd.data.data = (uint8_t *)"x";
	cd.data.len = 1;
	assert_int_equal(fake_host_call(h2, &req, NULL), CODE(FAILED_PRECONDITION));
	req.op_case = NICVISOR__V1__HOST_REQUEST__OP__NOT_SET;
	assert_int_equal(fake_host_call(h1, &req, NULL), CODE(UNIMPLEMENTED));

	/* Both channels still serve. */
	assert_true(agent_alive(&f->ap));
	assert_int_equal(api_simple(&f->ap, OP(STOP_VM), "web1", false, NULL), CODE(OK));
	assert_true(api_wait_state(&f->ap, "web1", STATE(STOPPED), 5000));
}

static void
test_pagination(void **state)
{
	struct fx *f = *state;
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__ListVmsRequest lv = NICVISOR__V1__LIST_VMS_REQUEST__INIT;
	const char *names[] = { "g", "c", "a", "f", "b", "e", "d" };
	char seen[64] = "", out[16384], token[256] = "";
	int pages = 0;

	for (size_t i = 0; i < 7; i++)
		assert_int_equal(api_create(&f->ap, names[i], f->kernel, NULL, 1, 64, false, NULL),
				 CODE(OK));
	req.op_case = OP(LIST_VMS);
	req.list_vms = &lv;
	lv.page_size = 3;
	do {
		Nicvisor__V1__Response *rep;

		lv.page_token = token;
		rep = api_call(&f->ap, &req);
		assert_int_equal(rep->status->code, CODE(OK));
		assert_true(rep->vms->n_vms <= 3);
		for (size_t i = 0; i < rep->vms->n_vms; i++)
			strcat(seen, rep->vms->vms[i]->spec->name);
		snprintf(token, sizeof(token), "%s", rep->vms->next_page_token);
		nv_wire_free(&rep->base);
		pages++;
	} while (token[0] != 0 && pages < 10);
	assert_int_equal(pages, 3);
	assert_string_equal(seen, "abcdefg");
	assert_int_equal(run_ctl(&f->ap, out, sizeof(out), 10, "list", NULL), 0);
	for (size_t i = 0; i < 7; i++)
		assert_non_null(strstr(out, names[i]));
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_host_registration, setup, teardown),
		cmocka_unit_test_setup_teardown(test_launch_console_stop_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_placement, setup, teardown),
		cmocka_unit_test_setup_teardown(test_heartbeat_loss_and_reattach, setup, teardown),
		cmocka_unit_test_setup_teardown(test_agent_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_api_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_southbound_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pagination, setup, teardown),
	};

	nv_log_init("agent_test", NV_LOG_WARN);
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
