/* SPDX-License-Identifier: MIT */
/*
 * An asynchronous NBD client for remote volumes (the block backend's
 * remote storage). Protocol: NetworkBlockDevice/nbd doc/proto.md, fixed
 * newstyle negotiation with NBD_OPT_GO (NBD_OPT_EXPORT_NAME when the
 * server does not know GO), simple replies only.
 *
 * Threading: a connection belongs to one thread (an lcore or the control
 * thread); no function here is thread-safe on the same connection.
 *
 * Flow: nbd_connect() blocks (bounded by the connect timeout) until the
 * export is open. Then the owner polls nbd_fd() for nbd_poll_events(),
 * with a timeout of at most nbd_timeout_ms(), and calls nbd_process() on
 * each wakeup. nbd_submit() only queues; nbd_process() sends what the
 * socket takes, reads what has arrived and reports each finished request
 * once through the completion callback, with the caller's cookie.
 *
 * Loss of the connection (EOF, reset, a failed send, or requests waiting
 * while the server moves no byte for conf.request_timeout_ms) starts a
 * reconnect: up to conf.max_reconnects attempts, the first at once, then
 * after reconnect_delay_ms doubling up to 5 s. Each attempt (DNS, connect,
 * handshake, bounded by the connect timeout) runs on a short-lived thread
 * of its own, so nbd_process() never blocks; the new connection must show
 * the same export (size, read-only, block sizes) or the connection dies.
 * Requests in flight are replayed in submission order on the new
 * connection (reads, writes, trims, zeroing and flushes are idempotent);
 * requests submitted meanwhile follow them. A reply that breaks the
 * protocol (bad magic, unknown or stale cookie, a structured reply) drops
 * the connection and fails the requests in flight with -EIO: nothing is
 * replayed against a server that lies, but a reconnect is still tried for
 * later requests. When the attempts run out (or conf.max_reconnects is 0)
 * every queued request fails with -EIO and the connection is dead:
 * nbd_submit() and nbd_process() return -ENOTCONN; nbd_errmsg() says why.
 *
 * nbd_fd() can change after nbd_process() (a new socket after a
 * reconnect) and is -1 while reconnecting: an epoll user re-reads it
 * after each nbd_process().
 */
#ifndef NV_NBD_H
#define NV_NBD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define NBD_DEFAULT_PORT 10809
#define NBD_MAX_NAME     4096 /* proto.md: strings are at most 4096 bytes */
#define NBD_IOV_MAX      128  /* segments per request */
#define NBD_MAX_INFLIGHT 4096

/* Transmission flags (proto.md, "Transmission flags"). */
#define NBD_FLAG_HAS_FLAGS         (1u << 0)
#define NBD_FLAG_READ_ONLY         (1u << 1)
#define NBD_FLAG_SEND_FLUSH        (1u << 2)
#define NBD_FLAG_SEND_FUA          (1u << 3)
#define NBD_FLAG_ROTATIONAL        (1u << 4)
#define NBD_FLAG_SEND_TRIM         (1u << 5)
#define NBD_FLAG_SEND_WRITE_ZEROES (1u << 6)

enum nbd_op {
	NBD_OP_READ,
	NBD_OP_WRITE,
	NBD_OP_FLUSH,
	NBD_OP_TRIM,
	NBD_OP_WRITE_ZEROES,
};

/* A parsed address: nbd://host[:port]/export or
 * nbd+unix:///export?socket=PATH (export percent-decoded). */
struct nbd_uri {
	bool is_unix;
	char host[256];        /* TCP: name or address, without [] */
	uint16_t port;         /* TCP: NBD_DEFAULT_PORT unless given */
	char socket_path[108]; /* unix: fits sockaddr_un.sun_path */
	char export_name[NBD_MAX_NAME + 1];
};

/* What the server told us about the export. */
struct nbd_info {
	uint64_t size;         /* bytes */
	uint16_t flags;        /* NBD_FLAG_* */
	uint32_t min_block;    /* offsets and lengths are multiples */
	uint32_t pref_block;   /* advisory */
	uint32_t max_block;    /* largest length of any request (the server's) */
	uint32_t max_payload;  /* largest READ/WRITE length: max_block, at most 32 MiB */
	bool used_export_name; /* the server did not know NBD_OPT_GO */
};

/* Called once per submitted request from nbd_process() (or from
 * nbd_close() with -ECANCELED). status: 0, or a negative errno: the
 * server's error (-EPERM, -EIO, -ENOSPC, ...), -EIO for a broken or lost
 * connection. The callback may call nbd_submit() but not nbd_close(). */
typedef void (*nbd_complete_fn)(void *arg, uint64_t cookie, int status);

struct nbd_conf {
	const char *uri;                 /* needed by nbd_connect() and to reconnect */
	unsigned int connect_timeout_ms; /* 0: 5000; bounds one connect + handshake */
	unsigned int max_reconnects;     /* attempts after a loss; 0: never reconnect */
	unsigned int reconnect_delay_ms; /* before the 2nd attempt, doubles; 0: 100 */
	unsigned int max_inflight;       /* 0: 128; at most NBD_MAX_INFLIGHT */
	unsigned int request_timeout_ms; /* 0: 30000; see nbd_timeout_ms() */
	nbd_complete_fn complete;        /* required */
	void *complete_arg;
	char *errbuf; /* (opt) why nbd_connect() failed, for a person */
	size_t errbuf_len;
};

struct nbd_conn;

/* Parse @uri into @out. 0, or -EINVAL with nothing else said. */
int nbd_uri_parse(const char *uri, struct nbd_uri *out);

/* Connect to conf->uri and open its export, blocking at most
 * conf->connect_timeout_ms. 0 or -errno: -EINVAL (bad uri or conf),
 * -ETIMEDOUT, -EHOSTUNREACH (name not resolved), connect()'s errors
 * (-ECONNREFUSED, -ENOENT for a missing unix socket, ...), -ECONNRESET
 * (the server hung up during the handshake), -ENOENT (no such export),
 * -EACCES (refused by policy), -EPROTO (the server breaks the protocol),
 * -ENOTSUP (oldstyle server, TLS required). conf->errbuf says which. */
int nbd_connect(const struct nbd_conf *conf, struct nbd_conn **out);

/* The same over an already connected stream socket @fd, which the
 * connection owns from then on (closed on failure too). conf->uri may be
 * NULL: then a lost connection is not re-established. */
int nbd_connect_fd(int fd, const struct nbd_conf *conf, struct nbd_conn **out);

/* Send NBD_CMD_DISC when the socket is idle, close it, complete what is
 * still queued with -ECANCELED, free. Waits for a reconnect attempt under
 * way (at most the connect timeout). Accepts NULL. */
void nbd_close(struct nbd_conn *conn);

const struct nbd_info *nbd_get_info(const struct nbd_conn *conn);

/* Queue a request. @iov/@iovcnt: the buffers READ fills or WRITE sends
 * (their total must equal @len; they must stay valid until completion);
 * NULL/0 for the others. FLUSH takes offset 0 and len 0. Returns 0, or
 * -EINVAL (bad alignment, range, length, iov), -EROFS (write to a
 * read-only export), -ENOTSUP (the export lacks flush/trim/write-zeroes),
 * -EBUSY (max_inflight requests queued), -ENOTCONN (dead). */
int nbd_submit(struct nbd_conn *conn, enum nbd_op op, uint64_t offset, uint32_t len,
	       const struct iovec *iov, int iovcnt, uint64_t cookie);

/* Do the I/O that is ready, without blocking, and report completions;
 * start or collect a reconnect attempt when one is due. Returns the number
 * of requests completed by this call (those failed as the connection died
 * included), or -ENOTCONN when it completed none and the connection is
 * dead. READ and WRITE lengths are at most info.max_payload: the caller
 * splits larger requests. */
int nbd_process(struct nbd_conn *conn);

/* The socket to poll (-1 while reconnecting or dead). */
int nbd_fd(const struct nbd_conn *conn);
/* POLLIN, plus POLLOUT while requests wait to be sent. */
short nbd_poll_events(const struct nbd_conn *conn);
/* Milliseconds until nbd_process() must be called even if the socket says
 * nothing: with requests waiting, when the request timeout would expire;
 * while reconnecting, when the next attempt is due (10 ms while one runs).
 * -1: only the socket matters. */
int nbd_timeout_ms(const struct nbd_conn *conn);

/* Requests submitted and not yet completed. */
unsigned int nbd_inflight(const struct nbd_conn *conn);

/* Counters, never reset. */
struct nbd_stats {
	uint64_t submitted;
	uint64_t completed;
	uint64_t errors;          /* completed with status < 0 */
	uint64_t reconnects;      /* successful */
	uint64_t replayed;        /* requests sent again after a reconnect */
	uint64_t protocol_errors; /* replies that broke the protocol */
};
void nbd_get_stats(const struct nbd_conn *conn, struct nbd_stats *st);

/* The last error, for a person (empty string if none). */
const char *nbd_errmsg(const struct nbd_conn *conn);

#endif
