/* SPDX-License-Identifier: MIT */
#define NV_LOG_COMPONENT "nicvisor.rpc"

#include "nv_rpc.h"

#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "nv_log.h"
#include "nv_wire.h"

/* A server keeps this many contexts waiting for requests; more are opened
 * while calls are deferred, up to MAX_CALLS in all. */
#define MIN_RECEIVERS 4
#define MAX_CALLS     1024

enum call_state {
	CALL_RECEIVING,
	CALL_HANDLING,
	CALL_SENDING,
};

struct nv_rpc_call {
	struct nv_rpc_server *srv;
	struct nv_rpc_call *next; /* all calls of the server */
	nng_ctx ctx;
	nng_aio *aio;
	nng_msg *msg;
	enum call_state state;
};

struct nv_rpc_server {
	nng_socket sock;
	nng_listener listener;
	nv_rpc_handler_fn fn;
	void *opaque;
	pthread_mutex_t lock;
	struct nv_rpc_call *calls;
	unsigned int ncalls;
	unsigned int receiving;
	bool closing;
	char url[256];
	/* The listener watchdog (listener_watch). */
	char listen_url[256];
	struct nv_tls tls;
	bool has_tls;
	bool watching;
	pthread_t watch;
	pthread_cond_t watch_cond;
	unsigned int pipes_added; /* by pipe_added(), atomic */
};

/* A call in flight, so that shutdown can cancel its aio. */
struct inflight {
	nng_aio *aio;
	struct inflight *next;
};

struct nv_rpc_client {
	nng_socket sock;
	nng_dialer dialer;
	pthread_mutex_t lock;
	bool shutdown;
	struct inflight *calls;
};

int
nv_nng_errno(int rv)
{
	switch (rv) {
	case 0:
		return 0;
	case NNG_ETIMEDOUT:
		return -ETIMEDOUT;
	case NNG_ECONNREFUSED:
		return -ECONNREFUSED;
	case NNG_ECLOSED:
	case NNG_ECANCELED:
		return -ECANCELED;
	case NNG_ENOMEM:
		return -ENOMEM;
	case NNG_EINVAL:
	case NNG_EADDRINVAL:
		return -EINVAL;
	case NNG_EADDRINUSE:
		return -EADDRINUSE;
	case NNG_EMSGSIZE:
		return -EMSGSIZE;
	case NNG_ENOENT:
		return -ENOENT;
	case NNG_EPERM:
		return -EPERM;
	case NNG_ECONNRESET:
	case NNG_ECONNSHUT:
		return -ECONNRESET;
	case NNG_ENOTSUP:
		return -ENOTSUP;
	default:
		return -EIO;
	}
}

static void call_cb(void *arg);

/* Open one more receiving context. Caller holds srv->lock. */
static int
add_receiver(struct nv_rpc_server *srv)
{
	struct nv_rpc_call *call;
	int rv;

	if (srv->ncalls >= MAX_CALLS)
		return -ENOSPC;
	call = calloc(1, sizeof(*call));
	if (call == NULL)
		return -ENOMEM;
	call->srv = srv;
	rv = nng_ctx_open(&call->ctx, srv->sock);
	if (rv != 0)
		goto out_free_call;
	rv = nng_aio_alloc(&call->aio, call_cb, call);
	if (rv != 0)
		goto out_close_ctx;
	call->state = CALL_RECEIVING;
	call->next = srv->calls;
	srv->calls = call;
	srv->ncalls++;
	srv->receiving++;
	nng_ctx_recv(call->ctx, call->aio);
	return 0;

out_close_ctx:
	nng_ctx_close(call->ctx);
out_free_call:
	free(call);
	return nv_nng_errno(rv);
}

static void
call_cb(void *arg)
{
	struct nv_rpc_call *call = arg;
	struct nv_rpc_server *srv = call->srv;
	int rv = nng_aio_result(call->aio);

	pthread_mutex_lock(&srv->lock);
	if (srv->closing || rv == NNG_ECLOSED) {
		pthread_mutex_unlock(&srv->lock);
		return;
	}
	if (call->state == CALL_SENDING) {
		if (rv != 0)
			nng_msg_free(nng_aio_get_msg(call->aio));
		call->state = CALL_RECEIVING;
		srv->receiving++;
		pthread_mutex_unlock(&srv->lock);
		nng_ctx_recv(call->ctx, call->aio);
		return;
	}
	/* CALL_RECEIVING */
	if (rv != 0) {
		pthread_mutex_unlock(&srv->lock);
		nng_ctx_recv(call->ctx, call->aio);
		return;
	}
	call->msg = nng_aio_get_msg(call->aio);
	nng_aio_set_msg(call->aio, NULL);
	call->state = CALL_HANDLING;
	srv->receiving--;
	if (srv->receiving < MIN_RECEIVERS)
		add_receiver(srv); /* at MAX_CALLS, requests wait in the socket */
	pthread_mutex_unlock(&srv->lock);

	srv->fn(srv->opaque, call, nng_msg_body(call->msg), nng_msg_len(call->msg));
}

/* A PEM file's text (for nng_tls_config_own_cert), or NULL. */
static char *
read_pem(const char *path)
{
	struct stat sb;
	char *buf = NULL;
	FILE *f = fopen(path, "re");

	if (f != NULL && fstat(fileno(f), &sb) == 0 && sb.st_size > 0 && sb.st_size < (1 << 20) &&
	    (buf = calloc(1, (size_t)sb.st_size + 1)) != NULL &&
	    fread(buf, 1, (size_t)sb.st_size, f) != (size_t)sb.st_size) {
		free(buf);
		buf = NULL;
	}
	if (f != NULL)
		fclose(f);
	return buf;
}

/* A mutual-TLS configuration from tls's files; NULL with a logged reason. */
static nng_tls_config *
tls_config(const char *url, const struct nv_tls *tls, bool server)
{
	nng_tls_config *cfg = NULL;
	char *cert = NULL, *key = NULL;
	const char *what = "";
	int rv = 0;

	if (tls == NULL || tls->cert == NULL || tls->key == NULL || tls->ca[0] == NULL) {
		nv_err("%s: TLS needs a certificate, its key and a CA to check peers (the "
		       "--tls-cert, --tls-key and --tls-ca options)",
		       url);
		return NULL;
	}
	if ((cert = read_pem(tls->cert)) == NULL || (key = read_pem(tls->key)) == NULL) {
		nv_err("%s: cannot read %s", url, cert == NULL ? tls->cert : tls->key);
		goto out;
	}
	what = "TLS";
	rv = nng_tls_config_alloc(&cfg, server ? NNG_TLS_MODE_SERVER : NNG_TLS_MODE_CLIENT);
	if (rv == 0) {
		what = tls->cert;
		rv = nng_tls_config_own_cert(cfg, cert, key, NULL);
	}
	for (int i = 0; rv == 0 && i < 3 && tls->ca[i] != NULL; i++) {
		what = tls->ca[i];
		rv = nng_tls_config_ca_file(cfg, tls->ca[i]);
	}
	if (rv == 0) {
		what = "TLS";
		rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED);
	}
	if (rv == 0 && !server) {
		nng_url *u = NULL;

		what = url;
		rv = nng_url_parse(&u, url);
		if (rv == 0)
			rv = nng_tls_config_server_name(cfg, u->u_hostname);
		if (u != NULL)
			nng_url_free(u);
	}
	if (rv != 0) {
		nv_err("%s: %s: %s", url, what, nng_strerror(rv));
		nng_tls_config_free(cfg);
		cfg = NULL;
	}
out:
	free(cert);
	free(key);
	return cfg;
}

int
nv_tls_listener(nng_listener l, const char *url, const struct nv_tls *tls)
{
	nng_tls_config *cfg;
	int rv;

	if (strncmp(url, "ipc://", 6) == 0)
		return nv_nng_errno(nng_listener_set_int(l, NNG_OPT_IPC_PERMISSIONS, 0600));
	if (strncmp(url, "tls+", 4) != 0)
		return 0;
	cfg = tls_config(url, tls, true);
	if (cfg == NULL)
		return -EINVAL;
	rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, cfg);
	nng_tls_config_free(cfg); /* the listener holds its own reference */
	if (rv != 0)
		nv_err("%s: %s", url, nng_strerror(rv));
	return nv_nng_errno(rv);
}

int
nv_tls_dialer(nng_dialer d, const char *url, const struct nv_tls *tls)
{
	nng_tls_config *cfg;
	int rv;

	if (strncmp(url, "tls+", 4) != 0)
		return 0;
	cfg = tls_config(url, tls, false);
	if (cfg == NULL)
		return -EINVAL;
	rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg);
	nng_tls_config_free(cfg);
	if (rv != 0)
		nv_err("%s: %s", url, nng_strerror(rv));
	return nv_nng_errno(rv);
}

/* Create, configure and start srv->listener on srv->listen_url. */
static int
listener_start(struct nv_rpc_server *srv)
{
	int rv, err;

	rv = nng_listener_create(&srv->listener, srv->sock, srv->listen_url);
	if (rv != 0) {
		nv_err("cannot listen on %s: %s", srv->listen_url, nng_strerror(rv));
		return nv_nng_errno(rv);
	}
	err = nv_tls_listener(srv->listener, srv->listen_url, srv->has_tls ? &srv->tls : NULL);
	if (err < 0) {
		nng_listener_close(srv->listener);
		return err;
	}
	rv = nng_listener_start(srv->listener, 0);
	if (rv != 0) {
		nv_err("cannot listen on %s: %s", srv->listen_url, nng_strerror(rv));
		nng_listener_close(srv->listener);
		return nv_nng_errno(rv);
	}
	return 0;
}

/*
 * nng 1.5.2 (Debian 12) can stop accepting on an ipc:// listener for good
 * once a peer hangs up during the SP handshake (nng issue #1518, fixed in
 * 1.6.0): the transport takes the peer's close for the listener's own, and
 * later connections still complete their handshake but are never handed
 * to the socket. Any local process that connects to the API socket and
 * closes it at once (a health check, a port probe) left every later client
 * unanswered. So a thread checks every WATCH_MS that a connection of its
 * own (an SP handshake as a req0 client starts one: an 8-byte header each
 * way) becomes a pipe of the socket within PROBE_MS, and if not, closes
 * the listener and listens again (the connections it had accepted drop;
 * nng clients redial and resend).
 */
#define WATCH_MS 1000
#define PROBE_MS 2000

static void
pipe_added(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct nv_rpc_server *srv = arg;

	(void)p;
	(void)ev;
	__atomic_add_fetch(&srv->pipes_added, 1, __ATOMIC_RELAXED);
}

/* False only if the ipc:// listener of srv took a connection of ours
 * through the handshake and did not add it to the socket in time. */
static bool
ipc_listener_accepts(struct nv_rpc_server *srv)
{
	/* SP header: 0, 'S', 'P', version 0, the peer's protocol (req0: 0x30), 0, 0 */
	static const uint8_t hello[8] = { 0, 'S', 'P', 0, 0, 0x30, 0, 0 };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = srv->listen_url + strlen("ipc://");
	unsigned int before = __atomic_load_n(&srv->pipes_added, __ATOMIC_RELAXED);
	struct pollfd pfd;
	uint8_t reply[8];
	size_t got = 0;
	bool ok = true;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return true;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return true; /* out of fds: no verdict */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    write(fd, hello, sizeof(hello)) != (ssize_t)sizeof(hello))
		goto out;
	pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
	while (got < sizeof(reply) && poll(&pfd, 1, PROBE_MS) > 0) {
		ssize_t n = read(fd, reply + got, sizeof(reply) - got);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got < sizeof(reply))
		goto out; /* no handshake: not this bug, no verdict */
	for (int ms = 0; ms < PROBE_MS; ms += 10) {
		if (__atomic_load_n(&srv->pipes_added, __ATOMIC_RELAXED) != before)
			goto out;
		usleep(10000);
	}
	ok = false;
out:
	close(fd);
	return ok;
}

static void *
listener_watch(void *arg)
{
	struct nv_rpc_server *srv = arg;
	struct timespec ts;

	pthread_mutex_lock(&srv->lock);
	while (!srv->closing) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += WATCH_MS * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&srv->watch_cond, &srv->lock, &ts);
		if (srv->closing)
			break;
		pthread_mutex_unlock(&srv->lock);
		if (!ipc_listener_accepts(srv)) {
			nv_warn("%s: the listener no longer accepts connections (nng %d.%d.%d, "
				"issue #1518: a peer hung up during a handshake): listening again",
				srv->listen_url, NNG_MAJOR_VERSION, NNG_MINOR_VERSION,
				NNG_PATCH_VERSION);
			nng_listener_close(srv->listener);
			if (listener_start(srv) < 0)
				nv_err("%s: cannot listen again; next try in %d ms",
				       srv->listen_url, WATCH_MS);
		}
		pthread_mutex_lock(&srv->lock);
	}
	pthread_mutex_unlock(&srv->lock);
	return NULL;
}

/* Only the transport whose listener the bug stops and that can be probed
 * here (tls+tcp:// has the same bug in nng 1.5.2, but a probe would need a
 * client certificate of the server's CAs). */
static bool
listener_needs_watch(const char *url)
{
	return strncmp(url, "ipc://", 6) == 0;
}

static int
listener_watch_start(struct nv_rpc_server *srv)
{
	pthread_condattr_t ca;
	int rc;

	if (!listener_needs_watch(srv->listen_url))
		return 0;
	rc = nv_nng_errno(nng_pipe_notify(srv->sock, NNG_PIPE_EV_ADD_POST, pipe_added, srv));
	if (rc < 0)
		return rc;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&srv->watch_cond, &ca);
	pthread_condattr_destroy(&ca);
	rc = -pthread_create(&srv->watch, NULL, listener_watch, srv);
	if (rc < 0) {
		pthread_cond_destroy(&srv->watch_cond);
		return rc;
	}
	srv->watching = true;
	return 0;
}

int
nv_rpc_server_open(const char *url, nv_rpc_handler_fn fn, void *opaque, struct nv_rpc_server **out)
{
	return nv_rpc_server_open_tls(url, NULL, fn, opaque, out);
}

int
nv_rpc_server_open_tls(const char *url, const struct nv_tls *tls, nv_rpc_handler_fn fn,
		       void *opaque, struct nv_rpc_server **out)
{
	struct nv_rpc_server *srv;
	char *bound = NULL;
	int rv, err;

	srv = calloc(1, sizeof(*srv));
	if (srv == NULL)
		return -ENOMEM;
	srv->fn = fn;
	srv->opaque = opaque;
	pthread_mutex_init(&srv->lock, NULL);
	rv = nng_rep0_open(&srv->sock);
	if (rv != 0)
		goto out_free_srv;
	nng_socket_set_size(srv->sock, NNG_OPT_RECVMAXSZ, NV_WIRE_MAX_MSG + 4096);
	if (strlen(url) >= sizeof(srv->listen_url)) {
		nv_err("cannot listen on %s: the URL is too long", url);
		rv = NNG_EADDRINVAL;
		goto out_close_sock;
	}
	snprintf(srv->listen_url, sizeof(srv->listen_url), "%s", url);
	if (tls != NULL) {
		srv->tls = *tls; /* the caller's files outlive the server */
		srv->has_tls = true;
	}
	err = listener_start(srv);
	if (err < 0) {
		nng_close(srv->sock);
		pthread_mutex_destroy(&srv->lock);
		free(srv);
		return err;
	}
	snprintf(srv->url, sizeof(srv->url), "%s", url);
	if (nng_listener_get_string(srv->listener, NNG_OPT_URL, &bound) == 0) {
		snprintf(srv->url, sizeof(srv->url), "%s", bound);
		nng_strfree(bound);
	}
	pthread_mutex_lock(&srv->lock);
	for (int i = 0; i < MIN_RECEIVERS; i++) {
		err = add_receiver(srv);
		if (err < 0) {
			pthread_mutex_unlock(&srv->lock);
			nv_rpc_server_close(srv);
			return err;
		}
	}
	pthread_mutex_unlock(&srv->lock);
	err = listener_watch_start(srv);
	if (err < 0) {
		nv_rpc_server_close(srv);
		return err;
	}
	*out = srv;
	return 0;

out_close_sock:
	nng_close(srv->sock);
out_free_srv:
	pthread_mutex_destroy(&srv->lock);
	free(srv);
	return nv_nng_errno(rv);
}

const char *
nv_rpc_server_url(const struct nv_rpc_server *srv)
{
	return srv->url;
}

void
nv_rpc_server_close(struct nv_rpc_server *srv)
{
	struct nv_rpc_call *call;

	if (srv == NULL)
		return;
	pthread_mutex_lock(&srv->lock);
	srv->closing = true;
	if (srv->watching)
		pthread_cond_signal(&srv->watch_cond);
	pthread_mutex_unlock(&srv->lock);
	if (srv->watching) {
		pthread_join(srv->watch, NULL);
		pthread_cond_destroy(&srv->watch_cond);
	}
	for (call = srv->calls; call != NULL; call = call->next)
		nng_aio_stop(call->aio);
	nng_close(srv->sock);
	call = srv->calls;
	while (call != NULL) {
		struct nv_rpc_call *next = call->next;

		if (call->state == CALL_SENDING)
			nng_msg_free(nng_aio_get_msg(call->aio));
		nng_msg_free(call->msg);
		nng_aio_free(call->aio);
		free(call);
		call = next;
	}
	pthread_mutex_destroy(&srv->lock);
	free(srv);
}

/* Hand the call back to receiving after it was answered or dropped. */
static void
call_release(struct nv_rpc_call *call, nng_msg *reply)
{
	struct nv_rpc_server *srv = call->srv;

	nng_msg_free(call->msg);
	call->msg = NULL;
	pthread_mutex_lock(&srv->lock);
	if (srv->closing) {
		pthread_mutex_unlock(&srv->lock);
		nng_msg_free(reply);
		return;
	}
	if (reply != NULL) {
		call->state = CALL_SENDING;
		pthread_mutex_unlock(&srv->lock);
		nng_aio_set_msg(call->aio, reply);
		nng_ctx_send(call->ctx, call->aio);
		return;
	}
	call->state = CALL_RECEIVING;
	srv->receiving++;
	pthread_mutex_unlock(&srv->lock);
	nng_ctx_recv(call->ctx, call->aio);
}

int
nv_rpc_reply(struct nv_rpc_call *call, const ProtobufCMessage *rep)
{
	size_t n = protobuf_c_message_get_packed_size(rep);
	nng_msg *msg;

	if (n > NV_WIRE_MAX_MSG || nng_msg_alloc(&msg, n) != 0) {
		nv_err("reply of %zu bytes not sent", n);
		call_release(call, NULL);
		return n > NV_WIRE_MAX_MSG ? -EMSGSIZE : -ENOMEM;
	}
	protobuf_c_message_pack(rep, nng_msg_body(msg));
	call_release(call, msg);
	return 0;
}

void
nv_rpc_drop(struct nv_rpc_call *call)
{
	call_release(call, NULL);
}

uint32_t
nv_rpc_call_pipe(const struct nv_rpc_call *call)
{
	return call->msg ? nng_pipe_id(nng_msg_get_pipe(call->msg)) : 0;
}

int
nv_rpc_client_open(const char *url, enum nv_rpc_dial mode, struct nv_rpc_client **out)
{
	return nv_rpc_client_open_tls(url, NULL, mode, out);
}

int
nv_rpc_client_open_tls(const char *url, const struct nv_tls *tls, enum nv_rpc_dial mode,
		       struct nv_rpc_client **out)
{
	struct nv_rpc_client *c;
	int rv;

	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	rv = nng_req0_open(&c->sock);
	if (rv != 0)
		goto out_free;
	nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, NV_WIRE_MAX_MSG + 4096);
	nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, 50);
	nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, 1000);
	rv = nng_dialer_create(&c->dialer, c->sock, url);
	if (rv != 0)
		goto out_close;
	rv = nv_tls_dialer(c->dialer, url, tls);
	if (rv < 0) {
		nng_close(c->sock);
		pthread_mutex_destroy(&c->lock);
		free(c);
		return rv;
	}
	rv = nng_dialer_start(c->dialer, mode == NV_RPC_DIAL_WAIT ? 0 : NNG_FLAG_NONBLOCK);
	if (rv != 0)
		goto out_close;
	*out = c;
	return 0;

out_close:
	nng_close(c->sock);
out_free:
	pthread_mutex_destroy(&c->lock);
	free(c);
	return nv_nng_errno(rv);
}

void
nv_rpc_client_shutdown(struct nv_rpc_client *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->lock);
	c->shutdown = true;
	for (struct inflight *i = c->calls; i != NULL; i = i->next)
		nng_aio_cancel(i->aio);
	pthread_mutex_unlock(&c->lock);
}

/* nng_close() on a thread of its own, so that a caller can stop waiting
 * for it: the last of the two to let go frees this. */
struct closer {
	nng_socket sock;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	int refs;
};

static void
closer_put(struct closer *k)
{
	bool last;

	pthread_mutex_lock(&k->lock);
	last = --k->refs == 0;
	pthread_mutex_unlock(&k->lock);
	if (last) {
		pthread_cond_destroy(&k->cond);
		pthread_mutex_destroy(&k->lock);
		free(k);
	}
}

static void *
closer_main(void *arg)
{
	struct closer *k = arg;

	nng_close(k->sock);
	pthread_mutex_lock(&k->lock);
	k->done = true;
	pthread_cond_signal(&k->cond);
	pthread_mutex_unlock(&k->lock);
	closer_put(k);
	return NULL;
}

/*
 * Closing a req socket can deadlock inside Debian 12's nng 1.5.2 (see
 * nv_rpc_exit_watchdog(); seen about once in ten closes right after the
 * peer stopped answering): wait at most CLOSE_WAIT_MS for it, then leave
 * that socket to its thread (its memory stays; nothing else of the
 * process waits on it) rather than hang the caller.
 */
#define CLOSE_WAIT_MS 3000

static void
close_bounded(nng_socket sock)
{
	struct closer *k = calloc(1, sizeof(*k));
	struct timespec until;
	pthread_condattr_t ca;
	pthread_t t;
	int rc = 0;

	if (k == NULL) {
		nng_close(sock);
		return;
	}
	k->sock = sock;
	k->refs = 2;
	pthread_mutex_init(&k->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&k->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&t, NULL, closer_main, k) != 0) {
		k->refs = 1;
		closer_main(k); /* refs 0: freed there */
		return;
	}
	pthread_detach(t);
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += CLOSE_WAIT_MS / 1000;
	pthread_mutex_lock(&k->lock);
	while (!k->done && rc == 0)
		rc = pthread_cond_timedwait(&k->cond, &k->lock, &until);
	if (!k->done)
		nv_warn("closing an nng socket did not finish in %d ms (nng 1.5.2's close "
			"deadlock); left to its thread",
			CLOSE_WAIT_MS);
	pthread_mutex_unlock(&k->lock);
	closer_put(k);
}

void
nv_rpc_client_close(struct nv_rpc_client *c)
{
	if (c == NULL)
		return;
	close_bounded(c->sock);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static void
exit_watchdog(int sig)
{
	static const char msg[] =
		"nicvisor: shutdown did not finish in time (nng close); exiting\n";
	ssize_t n;

	(void)sig;
	n = write(2, msg, sizeof(msg) - 1);
	(void)n;
	_exit(3);
}

void
nv_rpc_exit_watchdog(unsigned int seconds)
{
	struct sigaction sa = { .sa_handler = exit_watchdog };
	sigset_t set;

	sigaction(SIGALRM, &sa, NULL);
	sigemptyset(&set);
	sigaddset(&set, SIGALRM);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	alarm(seconds);
}

/* Register (or refuse, after shutdown) a call's aio. */
static int
inflight_add(struct nv_rpc_client *c, struct inflight *i)
{
	pthread_mutex_lock(&c->lock);
	if (c->shutdown) {
		pthread_mutex_unlock(&c->lock);
		return -ECANCELED;
	}
	i->next = c->calls;
	c->calls = i;
	pthread_mutex_unlock(&c->lock);
	return 0;
}

static void
inflight_remove(struct nv_rpc_client *c, struct inflight *i)
{
	pthread_mutex_lock(&c->lock);
	for (struct inflight **p = &c->calls; *p != NULL; p = &(*p)->next) {
		if (*p == i) {
			*p = i->next;
			break;
		}
	}
	pthread_mutex_unlock(&c->lock);
}

int
nv_rpc_client_call_raw(struct nv_rpc_client *c, const void *req, size_t len, int timeout_ms,
		       uint8_t **rep, size_t *rep_len)
{
	nng_ctx ctx;
	nng_aio *aio = NULL;
	nng_msg *msg = NULL;
	struct inflight self;
	uint64_t deadline = nv_mono_ns() + (uint64_t)timeout_ms * 1000000;
	int rv;

	*rep = NULL;
	*rep_len = 0;
	rv = nng_ctx_open(&ctx, c->sock);
	if (rv != 0)
		return nv_nng_errno(rv);
	rv = nng_aio_alloc(&aio, NULL, NULL);
	if (rv != 0)
		goto out_close_ctx;
	self.aio = aio;
	if (inflight_add(c, &self) < 0) {
		rv = NNG_ECANCELED;
		goto out_free_aio;
	}
	rv = nng_msg_alloc(&msg, len);
	if (rv != 0)
		goto out_remove;
	memcpy(nng_msg_body(msg), req, len);

	nng_aio_set_timeout(aio, timeout_ms);
	nng_aio_set_msg(aio, msg);
	nng_ctx_send(ctx, aio);
	nng_aio_wait(aio);
	rv = nng_aio_result(aio);
	if (rv != 0) {
		nng_msg_free(msg);
		goto out_remove;
	}
	{
		uint64_t now = nv_mono_ns();
		int left = now >= deadline ? 1 : (int)((deadline - now) / 1000000) + 1;

		nng_aio_set_timeout(aio, left);
	}
	pthread_mutex_lock(&c->lock);
	if (c->shutdown) /* a cancel between the two operations */
		rv = NNG_ECANCELED;
	else
		nng_ctx_recv(ctx, aio);
	pthread_mutex_unlock(&c->lock);
	if (rv == 0) {
		nng_aio_wait(aio);
		rv = nng_aio_result(aio);
	}
	if (rv != 0)
		goto out_remove;
	msg = nng_aio_get_msg(aio);
	*rep_len = nng_msg_len(msg);
	*rep = malloc(*rep_len ? *rep_len : 1);
	if (*rep == NULL)
		rv = NNG_ENOMEM;
	else
		memcpy(*rep, nng_msg_body(msg), *rep_len);
	nng_msg_free(msg);

out_remove:
	inflight_remove(c, &self);
out_free_aio:
	nng_aio_free(aio);
out_close_ctx:
	nng_ctx_close(ctx);
	return nv_nng_errno(rv);
}

int
nv_rpc_client_call(struct nv_rpc_client *c, const ProtobufCMessage *req,
		   const ProtobufCMessageDescriptor *rep_desc, int timeout_ms,
		   ProtobufCMessage **rep)
{
	uint8_t *buf, *reply;
	size_t len, reply_len;
	int rc;

	*rep = NULL;
	rc = nv_wire_pack_buf(req, &buf, &len);
	if (rc < 0)
		return rc;
	rc = nv_rpc_client_call_raw(c, buf, len, timeout_ms, &reply, &reply_len);
	free(buf);
	if (rc < 0)
		return rc;
	rc = nv_wire_unpack(rep_desc, reply, reply_len, rep);
	free(reply);
	return rc;
}
