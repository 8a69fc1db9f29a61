/* SPDX-License-Identifier: MIT */
/*
 * nv_rpc: request/reply over nng (req0/rep0), the shape of both nicvisor
 * control channels.
 *
 * Server: a rep0 socket listening on a URL (ipc://, tcp://). Each request is
 * handed to the handler as a struct nv_rpc_call, which must be answered
 * exactly once with nv_rpc_reply() or given up with nv_rpc_drop(), right
 * away or later from any thread. Deferred answers are how the agent holds a
 * host's long poll (host.proto) without holding a thread; other requests
 * keep being served meanwhile, each on its own nng context.
 *
 * Client: a req0 socket that dials a URL and redials when the peer goes
 * away; nng resends a request whose connection dropped. Calls are
 * synchronous, thread safe, and bounded by a timeout.
 */
#ifndef NV_RPC_H
#define NV_RPC_H

#include <nng/nng.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

struct nv_rpc_server;
struct nv_rpc_call;
struct nv_rpc_client;

/*
 * Called on an nng thread, concurrently with other calls. `req` is the
 * undecoded request, valid until the call is answered or dropped.
 */
typedef void (*nv_rpc_handler_fn)(void *opaque, struct nv_rpc_call *call, const uint8_t *req,
				  size_t len);

/*
 * Transport security, by URL scheme. tls+tcp:// is mutual TLS: each side
 * presents its certificate and refuses a peer whose certificate no CA of
 * its list signed (nng's TLS, on mbedTLS). ipc:// sockets are made
 * mode 0600: for local root use only. tcp:// is plain (logged once as
 * unauthenticated by servers).
 */
struct nv_tls {
	const char *cert;  /* this side's certificate (PEM file) */
	const char *key;   /* its private key (PEM file, not encrypted) */
	const char *ca[3]; /* CA certificates (PEM files) a peer's may chain
			    * to; NULL-terminated unless all three are set */
};

/* Apply tls (NULL: none) and the scheme's rules to an endpoint before it
 * starts. 0, or a negative errno with a logged reason (-EINVAL: a
 * tls+tcp:// URL without a certificate, key and CA). */
int nv_tls_listener(nng_listener l, const char *url, const struct nv_tls *tls);
int nv_tls_dialer(nng_dialer d, const char *url, const struct nv_tls *tls);

/* Listen on url. 0, or a negative errno with a logged reason. */
int nv_rpc_server_open(const char *url, nv_rpc_handler_fn fn, void *opaque,
		       struct nv_rpc_server **out);
/* The same with TLS files for a tls+tcp:// url (the strings must outlive
 * the server: it reads the files again if it has to listen again). */
int nv_rpc_server_open_tls(const char *url, const struct nv_tls *tls, nv_rpc_handler_fn fn,
			   void *opaque, struct nv_rpc_server **out);
/* Stop serving and free every call, answered or not: the owner must not
 * touch a deferred call after this. Accepts NULL. */
void nv_rpc_server_close(struct nv_rpc_server *srv);
/* The URL actually bound (tcp port 0 resolved). */
const char *nv_rpc_server_url(const struct nv_rpc_server *srv);

/* Answer and release call. -EMSGSIZE if rep is too big to send (the call
 * is still released; the peer times out). */
int nv_rpc_reply(struct nv_rpc_call *call, const ProtobufCMessage *rep);
/* Release call without answering it; the peer times out or resends. */
void nv_rpc_drop(struct nv_rpc_call *call);
/* nng pipe id of the connection the call arrived on (for logs). */
uint32_t nv_rpc_call_pipe(const struct nv_rpc_call *call);

enum nv_rpc_dial {
	NV_RPC_DIAL_WAIT,       /* fail now if nobody listens (tools) */
	NV_RPC_DIAL_BACKGROUND, /* connect and reconnect in the background (daemons) */
};

int nv_rpc_client_open(const char *url, enum nv_rpc_dial mode, struct nv_rpc_client **out);
/* The same with TLS files for a tls+tcp:// url. */
int nv_rpc_client_open_tls(const char *url, const struct nv_tls *tls, enum nv_rpc_dial mode,
			   struct nv_rpc_client **out);
/* Make every call in flight return -ECANCELED now and every later one at
 * once; the client stays valid. Any thread, any time; call it before
 * joining threads that may be inside nv_rpc_client_call(). */
void nv_rpc_client_shutdown(struct nv_rpc_client *c);
/* Free the client; no call may be in flight (shut down and join first).
 * Accepts NULL. */
void nv_rpc_client_close(struct nv_rpc_client *c);

/*
 * Send req, wait up to timeout_ms for the answer and decode it as rep_desc
 * (free it with nv_wire_free()). 0, -ETIMEDOUT (no answer in time,
 * including while disconnected), -EBADMSG/-ENOMEM/-EMSGSIZE (answer
 * refused by the decoder), -ECANCELED (client closed), or another
 * negative errno.
 */
int nv_rpc_client_call(struct nv_rpc_client *c, const ProtobufCMessage *req,
		       const ProtobufCMessageDescriptor *rep_desc, int timeout_ms,
		       ProtobufCMessage **rep);

/* Raw form, for tests that send bytes no encoder would produce. */
int nv_rpc_client_call_raw(struct nv_rpc_client *c, const void *req, size_t len, int timeout_ms,
			   uint8_t **rep, size_t *rep_len);

/* nng error -> negative errno, for callers that use nng directly. */
int nv_nng_errno(int nng_rv);

/*
 * Closing an nng socket can deadlock in the nng of Debian 12 (1.5.2; nng
 * issues #1543 and #1813, fixed in later releases). A daemon calls this as
 * it starts shutting down: if it is still alive `seconds` later, it logs
 * that and exits with status 3. Safe because nicvisor daemons make their
 * state durable as it changes, never at exit.
 */
void nv_rpc_exit_watchdog(unsigned int seconds);

#endif
