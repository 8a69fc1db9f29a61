/* SPDX-License-Identifier: MIT */
/*
 * The southbound session (host.proto): Hello, one Poll always outstanding
 * (the heartbeat, and how commands arrive), and an outbox of reports and
 * console bytes delivered in order whenever the agent is reachable.
 *
 * Threads: the poller (Hello, Poll, applying commands) and the sender (the
 * outbox); download threads call shim_session_read_artifact().
 */
#define NV_LOG_COMPONENT "nicvisor.shim.session"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "nv_log.h"
#include "nv_rpc.h"
#include "nv_wire.h"
#include "shim.h"

#define SESSION_MAX       128
#define COMMANDS_MAX      1024
#define HEARTBEAT_DEFAULT 10000
#define HEARTBEAT_MIN     50
#define HEARTBEAT_MAX     600000

struct shim_session {
	const struct shim_session_ops *ops;
	void *opaque;
	struct nv_rpc_client *cli;
	const Nicvisor__V1__HostCapabilities *caps;
	char *url, *host_id;
	int call_timeout_ms;
	uint64_t start_unix_ms;

	pthread_mutex_t lock;
	pthread_cond_t cond; /* outbox, session or stopping changed */
	bool stopping;
	bool valid;   /* session holds a live session id */
	uint64_t gen; /* Hellos so far: tells sessions apart */
	char session[SESSION_MAX];
	uint32_t heartbeat_ms, dead_after_ms;
	struct shim_cmdseq seq;
	struct shim_outbox ob;
	struct shim_session_stats st;
	struct nv_ratelimit rl;

	pthread_t poller, sender;
};

typedef Nicvisor__V1__HostRequest HostRequest;
typedef Nicvisor__V1__HostResponse HostResponse;

/* Wait up to ms for a change; false once stopping. */
static bool
wait_ms(struct shim_session *s, unsigned int ms)
{
	struct timespec ts;
	bool go;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&s->lock);
	if (!s->stopping)
		pthread_cond_timedwait(&s->cond, &s->lock, &ts);
	go = !s->stopping;
	pthread_mutex_unlock(&s->lock);
	return go;
}

static Nicvisor__V1__Code
code_of(const HostResponse *rep)
{
	return rep->status ? rep->status->code : NICVISOR__V1__CODE__CODE_OK;
}

/* Send req with the session id of generation *gen (filled) and decode the
 * answer. -EPROTO for an answer that does not decode. */
static int
call(struct shim_session *s, HostRequest *req, int timeout_ms, uint64_t *gen, HostResponse **rep)
{
	char sid[SESSION_MAX];
	int rc;

	pthread_mutex_lock(&s->lock);
	snprintf(sid, sizeof(sid), "%s",
		 req->op_case == NICVISOR__V1__HOST_REQUEST__OP_HELLO ? "" : s->session);
	*gen = s->gen;
	pthread_mutex_unlock(&s->lock);
	req->version = NV_PROTOCOL_VERSION;
	req->session = sid;
	rc = nv_rpc_client_call(s->cli, &req->base, &nicvisor__v1__host_response__descriptor,
				timeout_ms, (ProtobufCMessage **)rep);
	if (rc == -EBADMSG || rc == -ENOMEM || rc == -EMSGSIZE) {
		pthread_mutex_lock(&s->lock);
		s->st.bad_replies++;
		pthread_mutex_unlock(&s->lock);
		return -EPROTO;
	}
	return rc;
}

/* The agent does not know session `gen` any more: say Hello again. */
static void
invalidate(struct shim_session *s, uint64_t gen)
{
	pthread_mutex_lock(&s->lock);
	if (s->gen == gen && s->valid) {
		s->valid = false;
		pthread_cond_broadcast(&s->cond);
	}
	pthread_mutex_unlock(&s->lock);
}

static void
bad_reply(struct shim_session *s, const char *what, const HostResponse *rep)
{
	bool log;

	pthread_mutex_lock(&s->lock);
	s->st.bad_replies++;
	log = nv_ratelimit_ok(&s->rl, 5, 10000);
	pthread_mutex_unlock(&s->lock);
	if (log)
		nv_warn("%s: agent answered %s%s%s", what,
			rep ? nv_code_name(code_of(rep)) : "garbage",
			rep && rep->status && rep->status->message[0] ? ": " : "",
			rep && rep->status ? rep->status->message : "");
}

static int
hello(struct shim_session *s)
{
	Nicvisor__V1__Hello h = NICVISOR__V1__HELLO__INIT;
	HostRequest req = NICVISOR__V1__HOST_REQUEST__INIT;
	struct nv_arena a = NV_ARENA_INIT;
	HostResponse *rep = NULL;
	const Nicvisor__V1__HelloReply *hr;
	uint64_t gen;
	int rc;

	/* The snapshot below is newer than any report still queued. Dropping
	 * those first means a report queued meanwhile is sent as well. */
	pthread_mutex_lock(&s->lock);
	shim_outbox_drop_reports(&s->ob);
	pthread_mutex_unlock(&s->lock);
	h.host_id = s->host_id;
	h.caps = (Nicvisor__V1__HostCapabilities *)s->caps;
	h.shim_start_unix_ms = s->start_unix_ms;
	s->ops->hello_vms(s->opaque, &a, &h);
	req.op_case = NICVISOR__V1__HOST_REQUEST__OP_HELLO;
	req.hello = &h;
	rc = call(s, &req, s->call_timeout_ms, &gen, &rep);
	if (rc < 0) {
		nv_arena_free(&a);
		return rc;
	}
	hr = rep->hello;
	if (code_of(rep) != NICVISOR__V1__CODE__CODE_OK ||
	    rep->result_case != NICVISOR__V1__HOST_RESPONSE__RESULT_HELLO || hr->session[0] == 0 ||
	    strlen(hr->session) >= SESSION_MAX) {
		bad_reply(s, "hello", rep);
		nv_wire_free(&rep->base);
		nv_arena_free(&a);
		return -EPROTO;
	}
	for (size_t i = 0; i < h.n_vms; i++)
		s->ops->told(s->opaque, h.vms[i]->vm_id, h.vms[i]->state);
	nv_arena_free(&a);
	pthread_mutex_lock(&s->lock);
	snprintf(s->session, sizeof(s->session), "%s", hr->session);
	s->heartbeat_ms = hr->heartbeat_ms ? hr->heartbeat_ms : HEARTBEAT_DEFAULT;
	if (s->heartbeat_ms < HEARTBEAT_MIN)
		s->heartbeat_ms = HEARTBEAT_MIN;
	if (s->heartbeat_ms > HEARTBEAT_MAX)
		s->heartbeat_ms = HEARTBEAT_MAX;
	s->dead_after_ms =
		hr->dead_after_ms > s->heartbeat_ms ? hr->dead_after_ms : 3 * s->heartbeat_ms;
	s->gen++;
	s->valid = true;
	shim_cmdseq_reset(&s->seq);
	s->st.hellos++;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	nv_info("session with %s (heartbeat %u ms)", s->url, s->heartbeat_ms);
	nv_wire_free(&rep->base);
	return 0;
}

static void
apply_commands(struct shim_session *s, const Nicvisor__V1__Commands *cmds, uint64_t gen)
{
	if (cmds->n_commands > COMMANDS_MAX) {
		bad_reply(s, "poll", NULL);
		return;
	}
	for (size_t i = 0; i < cmds->n_commands; i++) {
		const Nicvisor__V1__Command *c = cmds->commands[i];
		bool take;

		pthread_mutex_lock(&s->lock);
		take = !s->stopping && s->gen == gen && shim_cmdseq_take(&s->seq, c->seq);
		if (take)
			s->st.commands++;
		pthread_mutex_unlock(&s->lock);
		if (take)
			s->ops->apply(s->opaque, c);
	}
}

static void *
poll_main(void *arg)
{
	struct shim_session *s = arg;
	uint64_t last_answer = nv_mono_ns();
	unsigned int backoff = 100;

	for (;;) {
		Nicvisor__V1__Poll poll = NICVISOR__V1__POLL__INIT;
		HostRequest req = NICVISOR__V1__HOST_REQUEST__INIT;
		HostResponse *rep = NULL;
		uint32_t hb, dead;
		uint64_t gen, t0;
		bool valid;
		int rc;

		pthread_mutex_lock(&s->lock);
		valid = s->valid;
		poll.ack_seq = s->seq.applied;
		hb = s->heartbeat_ms;
		dead = s->dead_after_ms;
		if (s->stopping) {
			pthread_mutex_unlock(&s->lock);
			return NULL;
		}
		pthread_mutex_unlock(&s->lock);
		if (!valid) {
			rc = hello(s);
			if (rc < 0) {
				if (!wait_ms(s, backoff))
					return NULL;
				backoff = backoff < 2000 ? backoff * 2 : 2000;
			} else {
				backoff = 100;
				last_answer = nv_mono_ns();
			}
			continue;
		}
		s->ops->poll_info(s->opaque, &poll);
		req.op_case = NICVISOR__V1__HOST_REQUEST__OP_POLL;
		req.poll = &poll;
		t0 = nv_mono_ns();
		rc = call(s, &req, (int)hb + 2000, &gen, &rep);
		pthread_mutex_lock(&s->lock);
		s->st.polls++;
		pthread_mutex_unlock(&s->lock);
		if (rc < 0) {
			if (nv_mono_ns() - last_answer > (uint64_t)dead * 1000000) {
				nv_warn("agent silent for over %u ms; saying Hello again", dead);
				invalidate(s, gen);
				last_answer = nv_mono_ns();
			}
			if (rc != -ETIMEDOUT && !wait_ms(s, 200))
				return NULL;
			continue;
		}
		last_answer = nv_mono_ns();
		if (code_of(rep) == NICVISOR__V1__CODE__CODE_UNAUTHENTICATED) {
			invalidate(s, gen);
		} else if (code_of(rep) != NICVISOR__V1__CODE__CODE_OK) {
			bad_reply(s, "poll", rep);
			wait_ms(s, 500);
		} else if (rep->result_case == NICVISOR__V1__HOST_RESPONSE__RESULT_COMMANDS &&
			   rep->commands->n_commands > 0) {
			apply_commands(s, rep->commands, gen);
		} else if (nv_mono_ns() - t0 < 20 * 1000000ull) {
			wait_ms(s, 50); /* an agent that does not hold polls (shutting down) */
		}
		nv_wire_free(&rep->base);
	}
}

/* One outbox entry as a request; strings point into e. */
static void
fill_request(HostRequest *req, struct shim_out *e, Nicvisor__V1__VmReport *r,
	     Nicvisor__V1__ConsoleData *cd)
{
	if (e->kind == SHIM_OUT_REPORT) {
		r->vm_id = e->rep.vm_id;
		r->state = e->rep.state;
		r->reason = e->rep.reason;
		r->exit = e->rep.exit;
		r->boots = e->rep.boots;
		r->console_offset = e->rep.console_offset;
		r->pid = e->rep.pid;
		r->boot_ns = e->rep.boot_ns;
		req->op_case = NICVISOR__V1__HOST_REQUEST__OP_VM_REPORT;
		req->vm_report = r;
	} else {
		cd->vm_id = e->rep.vm_id;
		cd->offset = e->offset;
		cd->data.data = e->data;
		cd->data.len = e->len;
		req->op_case = NICVISOR__V1__HOST_REQUEST__OP_CONSOLE;
		req->console = cd;
	}
}

static void *
send_main(void *arg)
{
	struct shim_session *s = arg;
	unsigned int backoff = 100;

	for (;;) {
		HostRequest req = NICVISOR__V1__HOST_REQUEST__INIT;
		Nicvisor__V1__VmReport r = NICVISOR__V1__VM_REPORT__INIT;
		Nicvisor__V1__ConsoleData cd = NICVISOR__V1__CONSOLE_DATA__INIT;
		HostResponse *rep = NULL;
		struct shim_out *head, copy;
		uint64_t gen;
		int rc;

		pthread_mutex_lock(&s->lock);
		while (!s->stopping && (!s->valid || s->ob.head == NULL))
			pthread_cond_wait(&s->cond, &s->lock);
		if (s->stopping) {
			pthread_mutex_unlock(&s->lock);
			return NULL;
		}
		head = shim_outbox_peek(&s->ob);
		copy = *head;
		copy.data = NULL;
		if (head->len > 0) {
			copy.data = malloc(head->len);
			if (copy.data == NULL)
				copy.len = 0;
			else
				memcpy(copy.data, head->data, head->len);
		}
		pthread_mutex_unlock(&s->lock);

		fill_request(&req, &copy, &r, &cd);
		rc = call(s, &req, s->call_timeout_ms, &gen, &rep);
		free(copy.data);
		if (rc == 0 && code_of(rep) == NICVISOR__V1__CODE__CODE_UNAUTHENTICATED) {
			invalidate(s, gen);
			rc = -EAGAIN;
		} else if (rc == 0 && code_of(rep) != NICVISOR__V1__CODE__CODE_OK) {
			/* Refused for good (bad field, unknown VM): sending it
			 * again would block everything behind it. */
			bad_reply(s, copy.kind == SHIM_OUT_REPORT ? "report" : "console", rep);
			pthread_mutex_lock(&s->lock);
			s->st.rejected++;
			pthread_mutex_unlock(&s->lock);
		}
		nv_wire_free(rep ? &rep->base : NULL);
		pthread_mutex_lock(&s->lock);
		shim_outbox_done(&s->ob, copy.id, rc == 0);
		pthread_mutex_unlock(&s->lock);
		if (rc == 0 && copy.kind == SHIM_OUT_REPORT)
			s->ops->told(s->opaque, copy.rep.vm_id, copy.rep.state);
		if (rc == 0) {
			backoff = 100;
		} else {
			if (!wait_ms(s, backoff))
				return NULL;
			backoff = backoff < 1000 ? backoff * 2 : 1000;
		}
	}
}

int
shim_session_read_artifact(void *opaque, const char *id, uint64_t offset, uint32_t len,
			   uint8_t **data, size_t *data_len)
{
	struct shim_session *s = opaque;
	Nicvisor__V1__ReadArtifact ra = NICVISOR__V1__READ_ARTIFACT__INIT;
	HostRequest req = NICVISOR__V1__HOST_REQUEST__INIT;
	HostResponse *rep = NULL;
	const Nicvisor__V1__ArtifactChunk *ch;
	uint64_t gen;
	bool valid, stopping;
	int rc;

	*data = NULL;
	*data_len = 0;
	pthread_mutex_lock(&s->lock);
	valid = s->valid;
	stopping = s->stopping;
	pthread_mutex_unlock(&s->lock);
	if (stopping)
		return -ECANCELED;
	if (!valid)
		return -EAGAIN;
	ra.artifact_id = (char *)id;
	ra.offset = offset;
	ra.length = len;
	req.op_case = NICVISOR__V1__HOST_REQUEST__OP_READ_ARTIFACT;
	req.read_artifact = &ra;
	rc = call(s, &req, s->call_timeout_ms, &gen, &rep);
	if (rc < 0)
		return rc;
	switch (code_of(rep)) {
	case NICVISOR__V1__CODE__CODE_OK:
		ch = rep->chunk;
		if (rep->result_case != NICVISOR__V1__HOST_RESPONSE__RESULT_CHUNK ||
		    strcasecmp(ch->artifact_id, id) != 0 || ch->offset != offset) {
			bad_reply(s, "read artifact", NULL);
			rc = -EPROTO;
			break;
		}
		*data = malloc(ch->data.len ? ch->data.len : 1);
		if (*data == NULL) {
			rc = -ENOMEM;
			break;
		}
		memcpy(*data, ch->data.data, ch->data.len);
		*data_len = ch->data.len;
		break;
	case NICVISOR__V1__CODE__CODE_UNAUTHENTICATED:
		invalidate(s, gen);
		rc = -EAGAIN;
		break;
	case NICVISOR__V1__CODE__CODE_UNAVAILABLE:
		rc = -EAGAIN;
		break;
	case NICVISOR__V1__CODE__CODE_NOT_FOUND:
		rc = -ENOENT;
		break;
	case NICVISOR__V1__CODE__CODE_DATA_LOSS:
		rc = -EBADMSG;
		break;
	default:
		bad_reply(s, "read artifact", rep);
		rc = -EPROTO;
	}
	nv_wire_free(&rep->base);
	return rc;
}

int
shim_session_start(const struct shim_session_conf *conf, const struct shim_session_ops *ops,
		   void *opaque, struct shim_session **out)
{
	struct shim_session *s;
	int rc;

	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->ops = ops;
	s->opaque = opaque;
	s->caps = conf->caps;
	s->url = strdup(conf->url);
	s->host_id = strdup(conf->host_id);
	s->call_timeout_ms = conf->call_timeout_ms ? conf->call_timeout_ms : 5000;
	s->start_unix_ms = nv_now_unix_ms();
	s->heartbeat_ms = HEARTBEAT_DEFAULT;
	s->dead_after_ms = 3 * HEARTBEAT_DEFAULT;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	shim_outbox_init(&s->ob, conf->outbox_bytes ? conf->outbox_bytes : 4u << 20,
			 conf->outbox_entries ? conf->outbox_entries : 4096);
	rc = -ENOMEM;
	if (s->url == NULL || s->host_id == NULL)
		goto out_free;
	rc = nv_rpc_client_open_tls(s->url, &conf->tls, NV_RPC_DIAL_BACKGROUND, &s->cli);
	if (rc < 0)
		goto out_free;
	rc = -pthread_create(&s->poller, NULL, poll_main, s);
	if (rc < 0)
		goto out_close;
	rc = -pthread_create(&s->sender, NULL, send_main, s);
	if (rc < 0)
		goto out_join;
	*out = s;
	return 0;

out_join:
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->poller, NULL);
out_close:
	nv_rpc_client_close(s->cli);
out_free:
	shim_outbox_fini(&s->ob);
	free(s->url);
	free(s->host_id);
	free(s);
	return rc;
}

void
shim_session_cancel(struct shim_session *s)
{
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

void
shim_session_stop(struct shim_session *s)
{
	if (s == NULL)
		return;
	shim_session_cancel(s);
	/* Cancel the held Poll and any send, rather than wait them out. */
	nv_rpc_client_shutdown(s->cli);
	pthread_join(s->poller, NULL);
	pthread_join(s->sender, NULL);
	nv_rpc_client_close(s->cli);
	shim_outbox_fini(&s->ob);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s->url);
	free(s->host_id);
	free(s);
}

void
shim_session_report(struct shim_session *s, const struct shim_report *r)
{
	pthread_mutex_lock(&s->lock);
	shim_outbox_push_report(&s->ob, r);
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

void
shim_session_console(struct shim_session *s, const char *vm_id, uint64_t offset,
		     const uint8_t *data, size_t len)
{
	pthread_mutex_lock(&s->lock);
	shim_outbox_push_console(&s->ob, vm_id, offset, data, len);
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

void
shim_session_forget(struct shim_session *s, const char *vm_id)
{
	pthread_mutex_lock(&s->lock);
	shim_outbox_drop_vm(&s->ob, vm_id);
	pthread_mutex_unlock(&s->lock);
}

void
shim_session_get_stats(struct shim_session *s, struct shim_session_stats *st)
{
	pthread_mutex_lock(&s->lock);
	*st = s->st;
	st->applied_seq = s->seq.applied;
	st->outbox = s->ob.st;
	pthread_mutex_unlock(&s->lock);
}
