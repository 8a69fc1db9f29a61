/* SPDX-License-Identifier: MIT */
#define NV_LOG_COMPONENT "nicvisor.dpu.server"

#include "server.h"

#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nv_log.h"
#include "nv_rpc.h"

struct dpu_events {
	nng_socket sock;
};

struct dpu_server {
	struct dpu_agent *agent;
	struct nv_rpc_server *api;
	struct nv_rpc_server *api_ro;
	struct nv_rpc_server *south;
	pthread_t timer;
	bool timer_started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stopping;
};

/* Events */

int
dpu_events_open(const char *url, const struct nv_tls *tls, struct dpu_events **out)
{
	struct dpu_events *ev = calloc(1, sizeof(*ev));
	nng_listener l;
	int rv, rc = 0;

	if (ev == NULL)
		return -ENOMEM;
	rv = nng_pub0_open(&ev->sock);
	if (rv != 0) {
		free(ev);
		return nv_nng_errno(rv);
	}
	rv = nng_listener_create(&l, ev->sock, url);
	if (rv == 0 && (rc = nv_tls_listener(l, url, tls)) == 0)
		rv = nng_listener_start(l, 0);
	if (rv != 0 || rc != 0) {
		if (rv != 0)
			nv_err("cannot publish events on %s: %s", url, nng_strerror(rv));
		nng_close(ev->sock);
		free(ev);
		return rc != 0 ? rc : nv_nng_errno(rv);
	}
	*out = ev;
	return 0;
}

void
dpu_events_close(struct dpu_events *ev)
{
	if (ev == NULL)
		return;
	nng_close(ev->sock);
	free(ev);
}

static void
events_publish(void *opaque, const void *buf, size_t len)
{
	struct dpu_events *ev = opaque;
	nng_msg *msg;

	if (nng_msg_alloc(&msg, len) != 0)
		return;
	memcpy(nng_msg_body(msg), buf, len);
	/* pub0 drops for slow subscribers rather than block. */
	if (nng_sendmsg(ev->sock, msg, NNG_FLAG_NONBLOCK) != 0)
		nng_msg_free(msg);
}

struct dpu_event_sink
dpu_events_sink(struct dpu_events *ev)
{
	struct dpu_event_sink sink = {
		.publish = events_publish,
		.opaque = ev,
	};

	return sink;
}

/* Northbound */

static void
api_call(void *opaque, struct nv_rpc_call *call, const uint8_t *req, size_t len)
{
	struct dpu_server *s = opaque;
	Nicvisor__V1__Response rep;
	struct nv_arena ar = NV_ARENA_INIT;

	dpu_agent_api(s->agent, req, len, &ar, &rep);
	nv_rpc_reply(call, &rep.base);
	nv_arena_free(&ar);
}

/* The read-only endpoint: reads are served, changes refused. */
static void
api_ro_call(void *opaque, struct nv_rpc_call *call, const uint8_t *req, size_t len)
{
	struct dpu_server *s = opaque;
	Nicvisor__V1__Response rep;
	struct nv_arena ar = NV_ARENA_INIT;

	dpu_agent_api_read_only(s->agent, req, len, &ar, &rep);
	nv_rpc_reply(call, &rep.base);
	nv_arena_free(&ar);
}

/* Plain TCP carries no identity: say so once per endpoint. */
static void
warn_plain(const char *what, const char *url)
{
	if (strncmp(url, "tcp://", 6) == 0)
		nv_warn("%s on %s is unauthenticated and unencrypted: anyone who reaches it is "
			"admitted; use tls+tcp:// with --tls-cert, --tls-key and --tls-ca",
			what, url);
}

/* Southbound */

struct rpc_reply {
	struct dpu_reply base;
	struct nv_rpc_call *call;
};

static void
rpc_send(struct dpu_reply *r, const Nicvisor__V1__HostResponse *rep)
{
	struct rpc_reply *rr = (struct rpc_reply *)r;

	nv_rpc_reply(rr->call, &rep->base);
	free(rr);
}

static void
rpc_abandon(struct dpu_reply *r)
{
	/* The call itself goes with the server (nv_rpc_server_close). */
	free(r);
}

static void
south_call(void *opaque, struct nv_rpc_call *call, const uint8_t *req, size_t len)
{
	struct dpu_server *s = opaque;
	struct rpc_reply *rr = malloc(sizeof(*rr));

	if (rr == NULL) {
		nv_rpc_drop(call);
		return;
	}
	rr->base.send = rpc_send;
	rr->base.abandon = rpc_abandon;
	rr->call = call;
	dpu_agent_host(s->agent, req, len, &rr->base);
}

/* Timer */

static void *
timer_main(void *arg)
{
	struct dpu_server *s = arg;

	pthread_mutex_lock(&s->lock);
	while (!s->stopping) {
		uint32_t delay_ms;
		struct timespec ts;

		pthread_mutex_unlock(&s->lock);
		delay_ms = dpu_agent_tick(s->agent);
		pthread_mutex_lock(&s->lock);
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += (long)delay_ms * 1000000;
		ts.tv_sec += ts.tv_nsec / 1000000000;
		ts.tv_nsec %= 1000000000;
		while (!s->stopping && pthread_cond_timedwait(&s->cond, &s->lock, &ts) == 0)
			;
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

int
dpu_server_open(struct dpu_agent *a, const struct dpu_server_conf *conf, struct dpu_server **out)
{
	struct dpu_server *s = calloc(1, sizeof(*s));
	pthread_condattr_t ca;
	int rc;

	if (s == NULL)
		return -ENOMEM;
	s->agent = a;
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cond, &ca);
	pthread_condattr_destroy(&ca);
	rc = nv_rpc_server_open_tls(conf->south_url, &conf->south_tls, south_call, s, &s->south);
	if (rc < 0)
		goto out_close;
	rc = nv_rpc_server_open_tls(conf->api_url, &conf->api_tls, api_call, s, &s->api);
	if (rc < 0)
		goto out_close;
	if (conf->api_ro_url != NULL) {
		rc = nv_rpc_server_open_tls(conf->api_ro_url, &conf->api_ro_tls, api_ro_call, s,
					    &s->api_ro);
		if (rc < 0)
			goto out_close;
		warn_plain("the read-only API", conf->api_ro_url);
		nv_info("serving the read-only API on %s", nv_rpc_server_url(s->api_ro));
	}
	warn_plain("the API", conf->api_url);
	warn_plain("the host channel", conf->south_url);
	rc = -pthread_create(&s->timer, NULL, timer_main, s);
	if (rc < 0)
		goto out_close;
	s->timer_started = true;
	nv_info("serving the API on %s and hosts on %s", nv_rpc_server_url(s->api),
		nv_rpc_server_url(s->south));
	*out = s;
	return 0;

out_close:
	dpu_server_close(s);
	return rc;
}

void
dpu_server_close(struct dpu_server *s)
{
	if (s == NULL)
		return;
	if (s->timer_started) {
		pthread_mutex_lock(&s->lock);
		s->stopping = true;
		pthread_cond_signal(&s->cond);
		pthread_mutex_unlock(&s->lock);
		pthread_join(s->timer, NULL);
	}
	/* No reply may be sent on a call while its server closes. */
	dpu_agent_shutdown(s->agent);
	nv_rpc_server_close(s->south);
	nv_rpc_server_close(s->api);
	nv_rpc_server_close(s->api_ro);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
