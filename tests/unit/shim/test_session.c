/* SPDX-License-Identifier: MIT */
/*
 * Unit: session.c against an agent played in-process (fake_agent.c):
 * Hello, the long poll, seq/ack, a restarted agent, an unreachable one,
 * garbage answers, artifact reads.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fake_agent.h"
#include "nv_log.h"
#include "shim.h"

struct host {
	pthread_mutex_t lock;
	uint64_t applied[64];
	unsigned int napplied;
};

static void
hello_vms(void *opaque, struct nv_arena *a, Nicvisor__V1__Hello *h)
{
	Nicvisor__V1__VmReport *r = nv_arena_alloc(a, sizeof(*r));

	(void)opaque;
	nicvisor__v1__vm_report__init(r);
	r->vm_id = "vm-a";
	r->state = NICVISOR__V1__VM_STATE__VM_STATE_RUNNING;
	r->boots = 3;
	h->vms = nv_arena_alloc(a, sizeof(*h->vms));
	h->vms[0] = r;
	h->n_vms = 1;
}

static void
apply(void *opaque, const Nicvisor__V1__Command *cmd)
{
	struct host *h = opaque;

	pthread_mutex_lock(&h->lock);
	if (h->napplied < 64)
		h->applied[h->napplied++] = cmd->seq;
	pthread_mutex_unlock(&h->lock);
}

static void
poll_info(void *opaque, Nicvisor__V1__Poll *p)
{
	(void)opaque;
	p->vms_running = 1;
}

static void
told(void *opaque, const char *vm_id, Nicvisor__V1__VmState state)
{
	(void)opaque;
	(void)vm_id;
	(void)state;
}

static const struct shim_session_ops ops = {
	.hello_vms = hello_vms,
	.apply = apply,
	.poll_info = poll_info,
	.told = told,
};

struct fixture {
	char dir[64], url[128];
	struct fake_agent fa;
	struct host host;
	struct shim_session *s;
	Nicvisor__V1__HostCapabilities caps;
};

static int
start(void **state, uint32_t dead_after_ms, size_t outbox_bytes)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct shim_session_conf conf = { 0 };

	snprintf(f->dir, sizeof(f->dir), "/tmp/shim-session-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->url, sizeof(f->url), "ipc://%s/agent.sock", f->dir);
	assert_int_equal(fa_start(&f->fa, f->url, 200), 0);
	if (dead_after_ms)
		f->fa.dead_after_ms = dead_after_ms;
	pthread_mutex_init(&f->host.lock, NULL);
	nicvisor__v1__host_capabilities__init(&f->caps);
	f->caps.cores = 2;
	conf.url = f->url;
	conf.host_id = "host-1";
	conf.caps = &f->caps;
	conf.call_timeout_ms = 300;
	conf.outbox_bytes = outbox_bytes;
	assert_int_equal(shim_session_start(&conf, &ops, &f->host, &f->s), 0);
	*state = f;
	return 0;
}

static int
setup(void **state)
{
	return start(state, 0, 0);
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char path[160];

	/* The agent goes first: its end closes every connection, so the
	 * session's socket has none left when it closes (closing a req socket
	 * while its peer holds a connection open could hang in nng 1.5.2). */
	fa_stop(&f->fa);
	shim_session_stop(f->s);
	snprintf(path, sizeof(path), "%s/agent.sock", f->dir);
	unlink(path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static unsigned int
applied_count(struct host *h, uint64_t seq)
{
	unsigned int n = 0;

	pthread_mutex_lock(&h->lock);
	for (unsigned int i = 0; i < h->napplied; i++)
		n += h->applied[i] == seq;
	pthread_mutex_unlock(&h->lock);
	return n;
}

static void
report(struct shim_session *s, const char *vm, int state, uint32_t boots)
{
	struct shim_report r = { .state = state, .boots = boots };

	snprintf(r.vm_id, sizeof(r.vm_id), "%s", vm);
	shim_session_report(s, &r);
}

static void
hello_poll_and_ack(void **state)
{
	struct fixture *f = *state;
	Nicvisor__V1__Command dup = NICVISOR__V1__COMMAND__INIT;
	Nicvisor__V1__StopVm stop = NICVISOR__V1__STOP_VM__INIT;
	struct shim_session_stats st;
	uint64_t s1, s2;

	assert_true(fa_wait_count(&f->fa, &f->fa.hellos, 1, 3000));
	assert_int_equal(f->fa.hello_vms, 1);
	assert_string_equal(f->fa.hello_vm[0].vm_id, "vm-a");
	assert_int_equal(f->fa.hello_vm[0].boots, 3);
	assert_int_equal(f->fa.hello_caps_cores, 2);

	s1 = fa_push_launch(&f->fa, "vm-b", "00", 1, NULL, 0);
	s2 = fa_push_stop(&f->fa, "vm-b", 0, true, false);
	assert_true(fa_wait_acked(&f->fa, s2, 3000));
	assert_int_equal(applied_count(&f->host, s1), 1);
	assert_int_equal(applied_count(&f->host, s2), 1);

	/* The agent sends seq 1 again (say its ack was lost): not applied
	 * twice, and acknowledged again. */
	stop.vm_id = "vm-b";
	dup.seq = s1;
	dup.op_case = NICVISOR__V1__COMMAND__OP_STOP;
	dup.stop = &stop;
	pthread_mutex_lock(&f->fa.lock);
	unsigned int sent = f->fa.commands_sent;
	pthread_mutex_unlock(&f->fa.lock);
	fa_push(&f->fa, &dup);
	assert_true(fa_wait_count(&f->fa, &f->fa.commands_sent, sent + 1, 3000));
	assert_true(fa_wait_count(&f->fa, &f->fa.polls, f->fa.polls + 2, 3000));
	assert_int_equal(f->fa.ncmds, 0);
	assert_int_equal(applied_count(&f->host, s1), 1);
	/* Heartbeats go on while idle: one Poll at a time, never two. */
	unsigned int polls = f->fa.polls;
	usleep(700 * 1000);
	assert_true(f->fa.polls >= polls + 2);
	assert_int_equal(f->fa.overlapping_polls, 0);
	shim_session_get_stats(f->s, &st);
	assert_int_equal(st.applied_seq, s2);
	assert_int_equal(st.hellos, 1);
}

/* The agent restarts: Hello again (queued reports superseded by it),
 * console delivered in order without a gap, and the new agent's seqs,
 * from 1 again, applied. */
static void
agent_restart(void **state)
{
	struct fixture *f = *state;
	struct fa_console con;
	struct shim_session_stats st;
	char line[32];
	uint64_t off = 0;

	assert_true(fa_wait_count(&f->fa, &f->fa.hellos, 1, 3000));
	fa_push_launch(&f->fa, "vm-b", "00", 1, NULL, 0);
	assert_true(fa_wait_acked(&f->fa, 1, 3000));
	fa_away(&f->fa);
	report(f->s, "vm-a", NICVISOR__V1__VM_STATE__VM_STATE_STOPPED, 3);
	for (int i = 0; i < 20; i++) {
		int n = snprintf(line, sizeof(line), "line %02d\n", i);

		shim_session_console(f->s, "vm-a", off, (const uint8_t *)line, (size_t)n);
		off += (uint64_t)n;
		usleep(10 * 1000);
	}
	assert_int_equal(fa_back(&f->fa), 0);
	assert_true(fa_wait_count(&f->fa, &f->fa.hellos, 2, 5000));
	assert_true(fa_wait_console(&f->fa, "vm-a", "line 19\n", 5000));
	assert_true(fa_console_get(&f->fa, "vm-a", &con));
	assert_int_equal(con.first, 0);
	assert_int_equal(con.gaps, 0);
	assert_int_equal(con.len, off);
	assert_memory_equal(con.data, "line 00\nline 01\n", 16);

	uint64_t s1 = fa_push_launch(&f->fa, "vm-c", "00", 1, NULL, 0);
	assert_int_equal(s1, 1);
	assert_true(fa_wait_acked(&f->fa, 1, 3000));
	pthread_mutex_lock(&f->host.lock);
	assert_int_equal(f->host.napplied, 2);
	pthread_mutex_unlock(&f->host.lock);
	shim_session_get_stats(f->s, &st);
	assert_int_equal(st.outbox.superseded, 1);
}

/* Unreachable for a while, same session after: every report and console
 * byte arrives, in the order it happened. */
static void
partition_keeps_order(void **state)
{
	struct fixture *f = *state;
	struct fa_report r;
	unsigned int from = 0;

	assert_true(fa_wait_count(&f->fa, &f->fa.hellos, 1, 3000));
	pthread_mutex_lock(&f->fa.lock);
	f->fa.partitioned = true;
	pthread_mutex_unlock(&f->fa.lock);
	for (uint32_t b = 1; b <= 5; b++) {
		report(f->s, "vm-a", NICVISOR__V1__VM_STATE__VM_STATE_RUNNING, b);
		shim_session_console(f->s, "vm-a", b - 1, (const uint8_t *)"abcde" + b - 1, 1);
	}
	usleep(600 * 1000);
	pthread_mutex_lock(&f->fa.lock);
	f->fa.partitioned = false;
	pthread_mutex_unlock(&f->fa.lock);
	for (uint32_t b = 1; b <= 5; b++) {
		assert_true(fa_wait_report(&f->fa, "vm-a", NICVISOR__V1__VM_STATE__VM_STATE_RUNNING,
					   -1, &from, &r, 5000));
		assert_int_equal(r.boots, b);
	}
	assert_true(fa_wait_console(&f->fa, "vm-a", "abcde", 3000));
	assert_int_equal(f->fa.hellos, 1);
}

static int
setup_long_dead(void **state)
{
	return start(state, 60000, 0);
}

static int
setup_small_outbox(void **state)
{
	return start(state, 0, 2048);
}

/* Away longer than the buffer holds: the oldest console bytes go, are
 * counted, and show as a gap in the offsets; the newest arrive. */
static void
bounded_buffer_counts_drops(void **state)
{
	struct fixture *f = *state;
	struct shim_session_stats st;
	struct fa_console con, con_b;
	uint8_t chunk[100];

	assert_true(fa_wait_count(&f->fa, &f->fa.hellos, 1, 3000));
	fa_away(&f->fa);
	for (int i = 0; i < 100; i++) {
		memset(chunk, 'a' + i % 26, sizeof(chunk));
		/* Two VMs interleaved, so that chunks do not merge. */
		shim_session_console(f->s, i % 2 ? "vm-b" : "vm-a", (uint64_t)(i / 2) * 100, chunk,
				     sizeof(chunk));
	}
	assert_int_equal(fa_back(&f->fa), 0);
	assert_true(fa_wait_count(&f->fa, &f->fa.hellos, 2, 5000));
	usleep(500 * 1000);
	shim_session_get_stats(f->s, &st);
	assert_true(st.outbox.dropped_console_bytes >= 10000 - 2048);
	assert_true(fa_console_get(&f->fa, "vm-a", &con));
	assert_true(fa_console_get(&f->fa, "vm-b", &con_b));
	assert_int_equal(con.next, 5000); /* the newest bytes made it */
	assert_int_equal(con_b.next, 5000);
	/* The oldest did not (a chunk on the wire when the agent left may) */
	assert_true(con.first > 0 || con.gaps > 0);
	assert_int_equal(con.len + con_b.len + st.outbox.dropped_console_bytes, 10000);
}

static void
garbage_answers(void **state)
{
	struct fixture *f = *state;
	struct shim_session_stats st;
	unsigned int from = 0;

	assert_true(fa_wait_count(&f->fa, &f->fa.hellos, 1, 3000));
	pthread_mutex_lock(&f->fa.lock);
	f->fa.garbage_replies = 3;
	pthread_mutex_unlock(&f->fa.lock);
	report(f->s, "vm-a", NICVISOR__V1__VM_STATE__VM_STATE_STOPPED, 1);
	assert_true(fa_wait_report(&f->fa, "vm-a", NICVISOR__V1__VM_STATE__VM_STATE_STOPPED, -1,
				   &from, NULL, 5000));
	shim_session_get_stats(f->s, &st);
	assert_int_equal(st.bad_replies, 3);
}

static void
read_artifacts(void **state)
{
	struct fixture *f = *state;
	struct shim_image_cache c;
	struct shim_image *img = NULL;
	char id[65], other[65], why[256];
	static uint8_t data[SHIM_ARTIFACT_CHUNK + 999];

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	fa_add_blob(&f->fa, data, sizeof(data), id);
	fa_sha256_hex("nothing", 7, other);
	assert_true(fa_wait_count(&f->fa, &f->fa.hellos, 1, 3000));
	shim_image_cache_init(&c, shim_session_read_artifact, f->s);
	assert_int_equal(shim_image_get(&c, id, sizeof(data), &img, why, sizeof(why)), 0);
	shim_image_put(&c, img);
	assert_int_equal(shim_image_get(&c, other, 7, &img, why, sizeof(why)), -ENOENT);
	assert_non_null(strstr(why, "No such file"));
	f->fa.fault = FA_FAULT_CORRUPT;
	assert_int_equal(shim_image_get(&c, id, sizeof(data), &img, why, sizeof(why)), -EBADMSG);
	shim_image_cache_fini(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(hello_poll_and_ack, setup, teardown),
		cmocka_unit_test_setup_teardown(agent_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(partition_keeps_order, setup_long_dead, teardown),
		cmocka_unit_test_setup_teardown(bounded_buffer_counts_drops, setup_small_outbox,
						teardown),
		cmocka_unit_test_setup_teardown(garbage_answers, setup, teardown),
		cmocka_unit_test_setup_teardown(read_artifacts, setup, teardown),
	};

	nv_log_init("test-shim-session", NV_LOG_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
