/* SPDX-License-Identifier: MIT */
/*
 * common/nv_rpc.c with a real server and client over ipc:// in a temp
 * directory: replies now and deferred, many concurrent calls, dropped
 * calls and timeouts, oversized replies, and a server restart with the
 * client reconnecting by itself.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "nicvisor/v1/types.pb-c.h"
#include "nv_log.h"
#include "nv_rpc.h"
#include "nv_wire.h"

static char dir[] = "/tmp/nv-rpc-XXXXXX";
static char url[256];

/* The test server: decodes a Status and answers by its message:
 * "drop" -> nv_rpc_drop, "defer" -> answered by the deferrer thread,
 * "huge" -> a reply over the size limit, anything else -> "echo:<msg>". */
#define MAX_DEFERRED 64

struct server {
	struct nv_rpc_server *srv;
	pthread_mutex_t lock;
	struct nv_rpc_call *deferred[MAX_DEFERRED];
	char deferred_msg[MAX_DEFERRED][64];
	int ndeferred;
	int calls;
	int reply_rc;
};

static struct server S;

static void
reply_text(struct nv_rpc_call *call, const char *prefix, const char *msg)
{
	Nicvisor__V1__Status rep = NICVISOR__V1__STATUS__INIT;
	char text[128];

	snprintf(text, sizeof(text), "%s%s", prefix, msg);
	rep.message = text;
	nv_rpc_reply(call, &rep.base);
}

static void
handler(void *opaque, struct nv_rpc_call *call, const uint8_t *req, size_t len)
{
	struct server *s = opaque;
	Nicvisor__V1__Status *st;

	pthread_mutex_lock(&s->lock);
	s->calls++;
	pthread_mutex_unlock(&s->lock);
	if (nv_wire_unpack(&nicvisor__v1__status__descriptor, req, len, (ProtobufCMessage **)&st) <
	    0) {
		reply_text(call, "", "malformed");
		return;
	}
	if (strcmp(st->message, "drop") == 0) {
		nv_rpc_drop(call);
	} else if (strncmp(st->message, "defer", 5) == 0) {
		pthread_mutex_lock(&s->lock);
		if (s->ndeferred < MAX_DEFERRED) {
			snprintf(s->deferred_msg[s->ndeferred], 64, "%s", st->message);
			s->deferred[s->ndeferred++] = call;
			call = NULL;
		}
		pthread_mutex_unlock(&s->lock);
		if (call != NULL)
			nv_rpc_drop(call);
	} else if (strcmp(st->message, "huge") == 0) {
		Nicvisor__V1__Status rep = NICVISOR__V1__STATUS__INIT;
		char *big = malloc(NV_WIRE_MAX_MSG + 10);

		memset(big, 'x', NV_WIRE_MAX_MSG + 9);
		big[NV_WIRE_MAX_MSG + 9] = 0;
		rep.message = big;
		pthread_mutex_lock(&s->lock);
		s->reply_rc = nv_rpc_reply(call, &rep.base);
		pthread_mutex_unlock(&s->lock);
		free(big);
	} else {
		reply_text(call, "echo:", st->message);
	}
	nv_wire_free(&st->base);
}

/* Answer every deferred call (from this thread, not an nng one). */
static int
answer_deferred(struct server *s)
{
	int n;

	pthread_mutex_lock(&s->lock);
	n = s->ndeferred;
	for (int i = 0; i < n; i++)
		reply_text(s->deferred[i], "late:", s->deferred_msg[i]);
	s->ndeferred = 0;
	pthread_mutex_unlock(&s->lock);
	return n;
}

static int
server_start(struct server *s)
{
	pthread_mutex_init(&s->lock, NULL);
	s->ndeferred = 0;
	s->calls = 0;
	return nv_rpc_server_open(url, handler, s, &s->srv);
}

static void
server_stop(struct server *s)
{
	/* Deferred calls go with the server; they must not be touched. */
	nv_rpc_server_close(s->srv);
	s->srv = NULL;
	s->ndeferred = 0;
	pthread_mutex_destroy(&s->lock);
}

static int
call(struct nv_rpc_client *c, const char *msg, int timeout_ms, char *out, size_t out_size)
{
	Nicvisor__V1__Status req = NICVISOR__V1__STATUS__INIT, *rep;
	int rc;

	req.message = (char *)msg;
	rc = nv_rpc_client_call(c, &req.base, &nicvisor__v1__status__descriptor, timeout_ms,
				(ProtobufCMessage **)&rep);
	if (rc < 0)
		return rc;
	snprintf(out, out_size, "%s", rep->message);
	nv_wire_free(&rep->base);
	return 0;
}

static uint64_t
ms(void)
{
	return nv_mono_ns() / 1000000;
}

static int
setup(void **state)
{
	(void)state;
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(url, sizeof(url), "ipc://%s/rpc.sock", dir);
	nv_log_init("test_nv_rpc", NV_LOG_ERR);
	return 0;
}

static int
teardown(void **state)
{
	char sock[300];

	(void)state;
	snprintf(sock, sizeof(sock), "%s/rpc.sock", dir);
	unlink(sock);
	rmdir(dir);
	return 0;
}

static void
test_call_and_url(void **state)
{
	struct nv_rpc_client *c;
	char out[128];

	(void)state;
	assert_int_equal(server_start(&S), 0);
	assert_string_equal(nv_rpc_server_url(S.srv), url);
	assert_int_equal(nv_rpc_client_open(url, NV_RPC_DIAL_WAIT, &c), 0);
	assert_int_equal(call(c, "hi", 2000, out, sizeof(out)), 0);
	assert_string_equal(out, "echo:hi");
	/* Bytes that are not a Status reach the handler too. */
	{
		uint8_t *rep;
		size_t len;

		assert_int_equal(nv_rpc_client_call_raw(c, "\xff\xff", 2, 2000, &rep, &len), 0);
		assert_true(len > 0);
		free(rep);
	}
	nv_rpc_client_close(c);
	nv_rpc_client_close(NULL);
	server_stop(&S);
	/* Nobody listening: a tool's dial fails now. */
	assert_true(nv_rpc_client_open(url, NV_RPC_DIAL_WAIT, &c) < 0);
	/* tcp port 0 is resolved to the bound port. */
	{
		struct nv_rpc_server *t;

		assert_int_equal(nv_rpc_server_open("tcp://127.0.0.1:0", handler, &S, &t), 0);
		assert_int_equal(strncmp(nv_rpc_server_url(t), "tcp://127.0.0.1:", 16), 0);
		assert_string_not_equal(nv_rpc_server_url(t), "tcp://127.0.0.1:0");
		nv_rpc_server_close(t);
	}
	assert_true(nv_rpc_server_open("bogus://x", handler, &S, &S.srv) < 0);
	nv_rpc_server_close(NULL);
}

struct deferred_arg {
	struct nv_rpc_client *c;
	char out[128];
	int rc;
	uint64_t took;
};

static void *
deferred_caller(void *p)
{
	struct deferred_arg *d = p;
	uint64_t t0 = ms();

	d->rc = call(d->c, "defer-1", 5000, d->out, sizeof(d->out));
	d->took = ms() - t0;
	return NULL;
}

static void
test_deferred_reply(void **state)
{
	struct deferred_arg d = { 0 };
	struct nv_rpc_client *c;
	char out[128];
	pthread_t t;
	int held = 0;

	(void)state;
	assert_int_equal(server_start(&S), 0);
	assert_int_equal(nv_rpc_client_open(url, NV_RPC_DIAL_WAIT, &c), 0);
	d.c = c;
	pthread_create(&t, NULL, deferred_caller, &d);
	for (int i = 0; i < 200 && held == 0; i++) {
		usleep(5000);
		pthread_mutex_lock(&S.lock);
		held = S.ndeferred;
		pthread_mutex_unlock(&S.lock);
	}
	assert_int_equal(held, 1);
	/* While one call is held, others are served. */
	for (int i = 0; i < 5; i++) {
		assert_int_equal(call(c, "other", 2000, out, sizeof(out)), 0);
		assert_string_equal(out, "echo:other");
	}
	usleep(200000);
	assert_int_equal(answer_deferred(&S), 1);
	pthread_join(t, NULL);
	assert_int_equal(d.rc, 0);
	assert_string_equal(d.out, "late:defer-1");
	assert_true(d.took >= 200);
	nv_rpc_client_close(c);
	server_stop(&S);
}

/* Shutdown ends a call the server holds, at once, and refuses later
 * calls; the client stays valid until it is closed. */
static void
test_client_shutdown(void **state)
{
	struct deferred_arg d = { 0 };
	struct nv_rpc_client *c;
	char out[128];
	pthread_t t;
	uint64_t t0;
	int held = 0;

	(void)state;
	assert_int_equal(server_start(&S), 0);
	assert_int_equal(nv_rpc_client_open(url, NV_RPC_DIAL_WAIT, &c), 0);
	d.c = c;
	pthread_create(&t, NULL, deferred_caller, &d);
	for (int i = 0; i < 200 && held == 0; i++) {
		usleep(5000);
		pthread_mutex_lock(&S.lock);
		held = S.ndeferred;
		pthread_mutex_unlock(&S.lock);
	}
	assert_int_equal(held, 1);
	t0 = ms();
	nv_rpc_client_shutdown(c);
	pthread_join(t, NULL);
	assert_int_equal(d.rc, -ECANCELED);
	assert_true(ms() - t0 < 1000); /* not the call's 5 s timeout */
	t0 = ms();
	assert_int_equal(call(c, "after", 2000, out, sizeof(out)), -ECANCELED);
	assert_true(ms() - t0 < 1000);
	nv_rpc_client_shutdown(c); /* twice is fine */
	nv_rpc_client_close(c);
	server_stop(&S);
}

#define THREADS 8
#define CALLS   40

struct worker {
	struct nv_rpc_client *c;
	int id;
	int ok;
};

static void *
worker_main(void *p)
{
	struct worker *w = p;

	for (int i = 0; i < CALLS; i++) {
		char msg[32], want[40], out[128];

		snprintf(msg, sizeof(msg), "w%d-%d", w->id, i);
		snprintf(want, sizeof(want), "echo:%s", msg);
		if (call(w->c, msg, 5000, out, sizeof(out)) == 0 && strcmp(out, want) == 0)
			w->ok++;
	}
	return NULL;
}

static void
test_concurrent_calls(void **state)
{
	struct worker w[THREADS];
	pthread_t t[THREADS];
	struct nv_rpc_client *shared, *own[THREADS / 2];

	(void)state;
	assert_int_equal(server_start(&S), 0);
	/* Half the threads share one client (it is thread safe), half have
	 * their own connection. */
	assert_int_equal(nv_rpc_client_open(url, NV_RPC_DIAL_WAIT, &shared), 0);
	for (int i = 0; i < THREADS; i++) {
		w[i].id = i;
		w[i].ok = 0;
		if (i % 2) {
			assert_int_equal(nv_rpc_client_open(url, NV_RPC_DIAL_WAIT, &own[i / 2]), 0);
			w[i].c = own[i / 2];
		} else {
			w[i].c = shared;
		}
		pthread_create(&t[i], NULL, worker_main, &w[i]);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].ok, CALLS);
	}
	assert_int_equal(S.calls, THREADS * CALLS);
	for (int i = 0; i < THREADS / 2; i++)
		nv_rpc_client_close(own[i]);
	nv_rpc_client_close(shared);
	server_stop(&S);
}

static void
test_timeouts(void **state)
{
	struct nv_rpc_client *c;
	char out[128];
	uint64_t t0;

	(void)state;
	assert_int_equal(server_start(&S), 0);
	assert_int_equal(nv_rpc_client_open(url, NV_RPC_DIAL_WAIT, &c), 0);
	/* A dropped call is never answered: the caller times out on time. */
	t0 = ms();
	assert_int_equal(call(c, "drop", 300, out, sizeof(out)), -ETIMEDOUT);
	assert_true(ms() - t0 >= 290);
	assert_true(ms() - t0 < 2000);
	/* A reply over the limit is not sent; the call is still released. */
	assert_int_equal(call(c, "huge", 300, out, sizeof(out)), -ETIMEDOUT);
	assert_int_equal(S.reply_rc, -EMSGSIZE);
	/* The server keeps serving. */
	assert_int_equal(call(c, "after", 2000, out, sizeof(out)), 0);
	assert_string_equal(out, "echo:after");
	/* Closing with deferred calls outstanding frees them (ASan checks). */
	assert_int_equal(call(c, "defer-x", 200, out, sizeof(out)), -ETIMEDOUT);
	assert_int_equal(call(c, "defer-y", 200, out, sizeof(out)), -ETIMEDOUT);
	nv_rpc_client_close(c);
	server_stop(&S);
}

static void
test_server_restart(void **state)
{
	struct nv_rpc_client *c;
	char out[128];
	int rc = -1;

	(void)state;
	assert_int_equal(server_start(&S), 0);
	assert_int_equal(nv_rpc_client_open(url, NV_RPC_DIAL_BACKGROUND, &c), 0);
	assert_int_equal(call(c, "before", 2000, out, sizeof(out)), 0);
	server_stop(&S);
	/* Nobody there: a call times out, it does not fail oddly. */
	assert_int_equal(call(c, "during", 200, out, sizeof(out)), -ETIMEDOUT);
	assert_int_equal(server_start(&S), 0);
	/* The client redials by itself (backoff at most 1 s). */
	for (int i = 0; i < 10 && rc != 0; i++)
		rc = call(c, "after", 1000, out, sizeof(out));
	assert_int_equal(rc, 0);
	assert_string_equal(out, "echo:after");
	/* A call in flight across a restart is resent on the new connection. */
	{
		struct deferred_arg d = { .c = c };
		pthread_t t;
		int held = 0;

		pthread_create(&t, NULL, deferred_caller, &d);
		for (int i = 0; i < 200 && held == 0; i++) {
			usleep(5000);
			pthread_mutex_lock(&S.lock);
			held = S.ndeferred;
			pthread_mutex_unlock(&S.lock);
		}
		assert_int_equal(held, 1);
		server_stop(&S);
		assert_int_equal(server_start(&S), 0);
		for (int i = 0; i < 400 && held != 0; i++) {
			usleep(5000);
			pthread_mutex_lock(&S.lock);
			held = S.ndeferred == 1 ? 0 : 1;
			pthread_mutex_unlock(&S.lock);
		}
		assert_int_equal(held, 0);
		assert_int_equal(answer_deferred(&S), 1);
		pthread_join(t, NULL);
		assert_int_equal(d.rc, 0);
		assert_string_equal(d.out, "late:defer-1");
	}
	nv_rpc_client_close(c);
	server_stop(&S);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_call_and_url),     cmocka_unit_test(test_deferred_reply),
		cmocka_unit_test(test_concurrent_calls), cmocka_unit_test(test_timeouts),
		cmocka_unit_test(test_server_restart),   cmocka_unit_test(test_client_shutdown),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
