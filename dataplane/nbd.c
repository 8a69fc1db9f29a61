/* SPDX-License-Identifier: MIT */
/*
 * The NBD client (nbd.h). Wire format: NetworkBlockDevice/nbd doc/proto.md
 * ("Fixed newstyle negotiation", "Transmission"). All integers on the wire
 * are big-endian.
 */
#include "nbd.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* proto.md, "Handshake" and "Option haggling". */
#define NBDMAGIC                0x4e42444d41474943ull
#define IHAVEOPT                0x49484156454f5054ull
#define CLISERV_MAGIC           0x00420281861253ull /* oldstyle */
#define OPT_REPLY_MAGIC         0x3e889045565a9ull
#define FLAG_FIXED_NEWSTYLE     (1u << 0)
#define FLAG_NO_ZEROES          (1u << 1)
#define OPT_EXPORT_NAME         1
#define OPT_GO                  7
#define REP_ACK                 1
#define REP_INFO                3
#define REP_FLAG_ERROR          (1u << 31)
#define REP_ERR_UNSUP           (1u | REP_FLAG_ERROR)
#define REP_ERR_POLICY          (2u | REP_FLAG_ERROR)
#define REP_ERR_INVALID         (3u | REP_FLAG_ERROR)
#define REP_ERR_TLS_REQD        (5u | REP_FLAG_ERROR)
#define REP_ERR_UNKNOWN         (6u | REP_FLAG_ERROR)
#define REP_ERR_BLOCK_SIZE_REQD (8u | REP_FLAG_ERROR)
#define INFO_EXPORT             0
#define INFO_BLOCK_SIZE         3
/* Longest option reply we read: an error message or an info is far less. */
#define OPT_REPLY_MAX (NBD_MAX_NAME + 64)

/* proto.md, "Transmission". */
#define REQUEST_MAGIC      0x25609513u
#define SIMPLE_REPLY_MAGIC 0x67446698u
#define CMD_READ           0
#define CMD_WRITE          1
#define CMD_DISC           2
#define CMD_FLUSH          3
#define CMD_TRIM           4
#define CMD_WRITE_ZEROES   6
#define REQ_HDR_LEN        28
#define REPLY_HDR_LEN      16
#define SEND_IOV_MAX       1024 /* IOV_MAX */
#define RXBUF_LEN          (64u << 10)

/* Our own bound on one READ/WRITE, whatever the server allows; proto.md
 * advises 32 MiB when the server says nothing. */
#define PAYLOAD_MAX            (32u << 20)
#define RECONNECT_DELAY_MAX_MS 5000u
/* How often the owner looks whether a reconnect attempt has ended. */
#define ATTEMPT_POLL_MS 10

/* One reconnect attempt (DNS, connect, handshake) on a thread of its own,
 * so that the owner's loop, maybe an lcore, never blocks in it. */
struct attempt {
	const char *uri;
	unsigned int timeout_ms;
	int rc;
	int fd;
	struct nbd_info info;
	char err[256];
};

enum conn_state {
	ST_CONNECTED,
	ST_RECONNECTING,
	ST_DEAD,
};

struct req {
	bool active;
	bool sent; /* all of it is on the wire */
	enum nbd_op op;
	uint32_t gen; /* high half of the wire cookie */
	uint32_t len;
	uint64_t offset;
	uint64_t cookie;          /* the caller's */
	uint64_t seq;             /* submission order, for replay */
	int next;                 /* send queue link */
	uint8_t hdr[REQ_HDR_LEN]; /* built once, sent again on replay */
	int iovcnt;
	struct iovec iov[NBD_IOV_MAX];
};

struct nbd_conn {
	struct nbd_conf conf;
	char *uri;
	struct nbd_info info;
	enum conn_state state;
	int fd;

	struct req *reqs;
	unsigned int nreqs;
	int *free_slots;
	unsigned int nfree;
	int *scratch; /* nreqs slots, for fail_all() and requeue_all() */
	uint64_t next_seq;

	/* Send queue: slots in submission order; the head may be part sent.
	 * One sendmsg() takes as many requests as fit SEND_IOV_MAX. */
	int sq_head, sq_tail;
	size_t send_off;

	/* Receive: replies land in rxbuf (many per recv()); a READ's payload
	 * is copied out, or read straight into its iov when it is large. */
	uint8_t *rxbuf;
	size_t rx_start, rx_end;
	int rx_slot; /* -1: at a reply header */
	size_t rx_payload_got;

	unsigned int attempts;
	unsigned int lost_inflight; /* requeued at the loss: replayed if we get back */
	uint64_t next_try_ms;
	struct attempt *att; /* a reconnect attempt under way */
	pthread_t att_thread;

	uint64_t last_progress_ms; /* bytes moved, or the first request after idling */

	struct nbd_stats stats;
	char errmsg[256];
};

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void __attribute__((format(printf, 3, 4)))
set_err(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (buf == NULL || len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

static void
put_be16(uint8_t *p, uint16_t v)
{
	v = htobe16(v);
	memcpy(p, &v, 2);
}

static void
put_be32(uint8_t *p, uint32_t v)
{
	v = htobe32(v);
	memcpy(p, &v, 4);
}

static void
put_be64(uint8_t *p, uint64_t v)
{
	v = htobe64(v);
	memcpy(p, &v, 8);
}

static uint16_t
get_be16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return be16toh(v);
}

static uint32_t
get_be32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return be32toh(v);
}

static uint64_t
get_be64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return be64toh(v);
}

/* ---- URIs ---- */

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode [s, s + n) into out (size outlen, NUL-terminated). */
static int
pct_decode(const char *s, size_t n, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= n)
				return -EINVAL;
			hi = hexval(s[i + 1]);
			lo = hexval(s[i + 2]);
			if (hi < 0 || lo < 0)
				return -EINVAL;
			c = (char)(hi << 4 | lo);
			i += 2;
		}
		if (c == '\0' || o + 1 >= outlen)
			return -EINVAL;
		out[o++] = c;
	}
	out[o] = '\0';
	return 0;
}

int
nbd_uri_parse(const char *uri, struct nbd_uri *out)
{
	const char *p, *path, *query, *end;
	size_t hostlen;

	if (uri == NULL || out == NULL)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (strncmp(uri, "nbd://", 6) == 0) {
		p = uri + 6;
	} else if (strncmp(uri, "nbd+unix://", 11) == 0) {
		out->is_unix = true;
		p = uri + 11;
	} else {
		return -EINVAL;
	}
	end = p + strlen(p);
	path = strchr(p, '/');
	query = strchr(p, '?');
	if (path == NULL || (query != NULL && query < path))
		return -EINVAL;
	if (query == NULL)
		query = end;

	if (out->is_unix) {
		const char *sock = "socket=";

		if (path != p) /* no host in nbd+unix */
			return -EINVAL;
		if (query == end || strncmp(query + 1, sock, strlen(sock)) != 0)
			return -EINVAL;
		if (pct_decode(query + 1 + strlen(sock), (size_t)(end - query - 1 - strlen(sock)),
			       out->socket_path, sizeof(out->socket_path)) < 0 ||
		    out->socket_path[0] == '\0' || strchr(out->socket_path, '&') != NULL)
			return -EINVAL;
	} else {
		const char *hend = path, *colon = NULL;

		if (query != end) /* nbd:// takes no parameters we know */
			return -EINVAL;
		if (*p == '[') {
			const char *rb = memchr(p, ']', (size_t)(path - p));

			if (rb == NULL)
				return -EINVAL;
			hostlen = (size_t)(rb - p - 1);
			if (hostlen == 0 || hostlen >= sizeof(out->host))
				return -EINVAL;
			memcpy(out->host, p + 1, hostlen);
			if (rb + 1 != path) {
				if (rb[1] != ':')
					return -EINVAL;
				colon = rb + 1;
			}
		} else {
			colon = memchr(p, ':', (size_t)(path - p));
			hend = colon != NULL ? colon : path;
			hostlen = (size_t)(hend - p);
			if (hostlen == 0 || hostlen >= sizeof(out->host))
				return -EINVAL;
			memcpy(out->host, p, hostlen);
			if (memchr(out->host, '@', hostlen) != NULL)
				return -EINVAL;
		}
		out->port = NBD_DEFAULT_PORT;
		if (colon != NULL) {
			unsigned long port = 0;
			const char *d = colon + 1;

			if (d == path)
				return -EINVAL;
			for (; d < path; d++) {
				if (*d < '0' || *d > '9')
					return -EINVAL;
				port = port * 10 + (unsigned long)(*d - '0');
				if (port > 65535)
					return -EINVAL;
			}
			if (port == 0)
				return -EINVAL;
			out->port = (uint16_t)port;
		}
	}
	/* The path minus its leading '/' is the export name ("" = default). */
	if (pct_decode(path + 1, (size_t)(query - path - 1), out->export_name,
		       sizeof(out->export_name)) < 0)
		return -EINVAL;
	return 0;
}

/* ---- Blocking I/O with a deadline (connect and handshake) ---- */

static int
wait_fd(int fd, short events, uint64_t deadline)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = events };
		uint64_t now = now_ms();
		int rc;

		if (now >= deadline)
			return -ETIMEDOUT;
		rc = poll(&pfd, 1, (int)(deadline - now));
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return -errno;
		if (rc > 0)
			return 0;
	}
}

static int
write_all(int fd, const void *buf, size_t len, uint64_t deadline)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0) {
			int rc;

			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				return -errno;
			rc = wait_fd(fd, POLLOUT, deadline);
			if (rc < 0)
				return rc;
			continue;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* -EPIPE on EOF. */
static int
read_all(int fd, void *buf, size_t len, uint64_t deadline)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = recv(fd, p, len, 0);

		if (n == 0)
			return -EPIPE;
		if (n < 0) {
			int rc;

			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				return -errno;
			rc = wait_fd(fd, POLLIN, deadline);
			if (rc < 0)
				return rc;
			continue;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
io_err(int rc, const char *what, char *err, size_t errlen)
{
	if (rc == -EPIPE)
		set_err(err, errlen, "server closed the connection during %s", what);
	else if (rc == -ETIMEDOUT)
		set_err(err, errlen, "timed out during %s", what);
	else
		set_err(err, errlen, "%s: %s", what, strerror(-rc));
	return rc == -EPIPE ? -ECONNRESET : rc;
}

static int
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

static int
connect_one(int family, const struct sockaddr *sa, socklen_t salen, uint64_t deadline, int *out)
{
	int fd, rc, soerr = 0;
	socklen_t l = sizeof(soerr);

	fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, sa, salen) < 0) {
		if (errno != EINPROGRESS && errno != EAGAIN) {
			rc = -errno;
			goto out_close;
		}
		rc = wait_fd(fd, POLLOUT, deadline);
		if (rc < 0)
			goto out_close;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &l) < 0) {
			rc = -errno;
			goto out_close;
		}
		if (soerr != 0) {
			rc = -soerr;
			goto out_close;
		}
	}
	if (family != AF_UNIX) {
		int one = 1;

		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	*out = fd;
	return 0;

out_close:
	close(fd);
	return rc;
}

static int
open_socket(const struct nbd_uri *u, uint64_t deadline, int *out, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	char port[8];
	int rc;

	if (u->is_unix) {
		struct sockaddr_un sun = { .sun_family = AF_UNIX };

		memcpy(sun.sun_path, u->socket_path, strlen(u->socket_path));
		rc = connect_one(AF_UNIX, (struct sockaddr *)&sun, sizeof(sun), deadline, out);
		if (rc < 0)
			set_err(err, errlen, "connect to %s: %s", u->socket_path, strerror(-rc));
		return rc;
	}
	snprintf(port, sizeof(port), "%u", u->port);
	rc = getaddrinfo(u->host, port, &hints, &res);
	if (rc != 0) {
		set_err(err, errlen, "resolve %s: %s", u->host, gai_strerror(rc));
		return -EHOSTUNREACH;
	}
	rc = -EHOSTUNREACH;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		rc = connect_one(ai->ai_family, ai->ai_addr, ai->ai_addrlen, deadline, out);
		if (rc == 0 || rc == -ETIMEDOUT)
			break;
	}
	freeaddrinfo(res);
	if (rc < 0)
		set_err(err, errlen, "connect to %s:%u: %s", u->host, u->port, strerror(-rc));
	return rc;
}

/* ---- Handshake ---- */

static bool
is_pow2(uint32_t v)
{
	return v != 0 && (v & (v - 1)) == 0;
}

static int
send_option(int fd, uint32_t opt, const uint8_t *data, uint32_t len, uint64_t deadline)
{
	uint8_t hdr[16];
	int rc;

	put_be64(hdr, IHAVEOPT);
	put_be32(hdr + 8, opt);
	put_be32(hdr + 12, len);
	rc = write_all(fd, hdr, sizeof(hdr), deadline);
	if (rc == 0 && len > 0)
		rc = write_all(fd, data, len, deadline);
	return rc;
}

/* proto.md, NBD_INFO_BLOCK_SIZE: min a power of 2 up to 64 KiB, preferred a
 * power of 2 no smaller, max a multiple of min (or 0xffffffff). */
static int
parse_block_size(const uint8_t *d, struct nbd_info *info, char *err, size_t errlen)
{
	uint32_t min = get_be32(d), pref = get_be32(d + 4), max = get_be32(d + 8);

	if (!is_pow2(min) || min > 65536 || !is_pow2(pref) || pref < min || max < min ||
	    (max != 0xffffffffu && max % min != 0)) {
		set_err(err, errlen, "server sent bad block sizes (min %u, preferred %u, max %u)",
			min, pref, max);
		return -EPROTO;
	}
	info->min_block = min;
	info->pref_block = pref;
	info->max_block = max;
	info->max_payload = max;
	return 0;
}

/* NBD_OPT_GO. Returns 0, 1 when the server does not know GO, or -errno. */
static int
opt_go(int fd, const char *name, uint64_t deadline, struct nbd_info *info, char *err, size_t errlen)
{
	size_t nlen = strlen(name);
	uint8_t req[4 + NBD_MAX_NAME + 4];
	uint8_t data[OPT_REPLY_MAX + 1];
	bool have_export = false;
	int rc;

	put_be32(req, (uint32_t)nlen);
	memcpy(req + 4, name, nlen);
	put_be16(req + 4 + nlen, 1); /* one info request: we honour block sizes */
	put_be16(req + 6 + nlen, INFO_BLOCK_SIZE);
	rc = send_option(fd, OPT_GO, req, (uint32_t)(nlen + 8), deadline);
	if (rc < 0)
		return io_err(rc, "NBD_OPT_GO", err, errlen);

	for (;;) {
		uint8_t hdr[20];
		uint32_t opt, type, len;

		rc = read_all(fd, hdr, sizeof(hdr), deadline);
		if (rc < 0)
			return io_err(rc, "the reply to NBD_OPT_GO", err, errlen);
		opt = get_be32(hdr + 8);
		type = get_be32(hdr + 12);
		len = get_be32(hdr + 16);
		if (get_be64(hdr) != OPT_REPLY_MAGIC || opt != OPT_GO) {
			set_err(err, errlen, "bad option reply (magic %#llx, option %u)",
				(unsigned long long)get_be64(hdr), opt);
			return -EPROTO;
		}
		if (len > OPT_REPLY_MAX) {
			set_err(err, errlen, "option reply of %u bytes is too long", len);
			return -EPROTO;
		}
		rc = read_all(fd, data, len, deadline);
		if (rc < 0)
			return io_err(rc, "the reply to NBD_OPT_GO", err, errlen);
		data[len] = '\0';

		if (type & REP_FLAG_ERROR) {
			/* The data is a message for a person; keep printable bytes. */
			for (uint32_t i = 0; i < len; i++)
				if (data[i] < 0x20 || data[i] > 0x7e)
					data[i] = '?';
			switch (type) {
			case REP_ERR_UNSUP:
				return 1;
			case REP_ERR_UNKNOWN:
				set_err(err, errlen, "no export '%s' on the server: %s", name,
					data);
				return -ENOENT;
			case REP_ERR_POLICY:
				set_err(err, errlen, "server refused export '%s': %s", name, data);
				return -EACCES;
			case REP_ERR_TLS_REQD:
				set_err(err, errlen, "server requires TLS, which we lack: %s",
					data);
				return -ENOTSUP;
			case REP_ERR_INVALID:
			case REP_ERR_BLOCK_SIZE_REQD:
			default:
				set_err(err, errlen, "server refused NBD_OPT_GO (error %#x): %s",
					type, data);
				return -EPROTO;
			}
		}
		if (type == REP_ACK) {
			if (len != 0 || !have_export) {
				set_err(err, errlen,
					"NBD_OPT_GO acknowledged without the export's size");
				return -EPROTO;
			}
			return 0;
		}
		if (type != REP_INFO || len < 2) {
			set_err(err, errlen, "unexpected reply %u (length %u) to NBD_OPT_GO", type,
				len);
			return -EPROTO;
		}
		switch (get_be16(data)) {
		case INFO_EXPORT:
			if (len != 12) {
				set_err(err, errlen, "NBD_INFO_EXPORT of %u bytes", len);
				return -EPROTO;
			}
			info->size = get_be64(data + 2);
			info->flags = get_be16(data + 10);
			have_export = true;
			break;
		case INFO_BLOCK_SIZE:
			if (len != 14) {
				set_err(err, errlen, "NBD_INFO_BLOCK_SIZE of %u bytes", len);
				return -EPROTO;
			}
			rc = parse_block_size(data + 2, info, err, errlen);
			if (rc < 0)
				return rc;
			break;
		default: /* names, descriptions, later additions */
			break;
		}
	}
}

/* NBD_OPT_EXPORT_NAME: no error reply, the server just hangs up. */
static int
opt_export_name(int fd, const char *name, bool no_zeroes, uint64_t deadline, struct nbd_info *info,
		char *err, size_t errlen)
{
	uint8_t rep[10 + 124];
	int rc;

	rc = send_option(fd, OPT_EXPORT_NAME, (const uint8_t *)name, (uint32_t)strlen(name),
			 deadline);
	if (rc < 0)
		return io_err(rc, "NBD_OPT_EXPORT_NAME", err, errlen);
	rc = read_all(fd, rep, no_zeroes ? 10 : sizeof(rep), deadline);
	if (rc == -EPIPE) {
		set_err(err, errlen, "server closed the connection: no export '%s'?", name);
		return -ENOENT;
	}
	if (rc < 0)
		return io_err(rc, "the reply to NBD_OPT_EXPORT_NAME", err, errlen);
	info->size = get_be64(rep);
	info->flags = get_be16(rep + 8);
	info->used_export_name = true;
	return 0;
}

/* The whole negotiation on a connected socket (non-blocking). */
static int
handshake(int fd, const char *name, uint64_t deadline, struct nbd_info *info, char *err,
	  size_t errlen)
{
	uint8_t hello[18], cflags[4];
	uint16_t sflags;
	uint32_t cf = 0;
	int rc;

	memset(info, 0, sizeof(*info));
	info->min_block = 1;
	info->pref_block = 4096;
	info->max_block = 0xffffffffu;
	info->max_payload = PAYLOAD_MAX;

	rc = read_all(fd, hello, 16, deadline);
	if (rc < 0)
		return io_err(rc, "the server's greeting", err, errlen);
	if (get_be64(hello) != NBDMAGIC) {
		set_err(err, errlen, "not an NBD server (magic %#llx)",
			(unsigned long long)get_be64(hello));
		return -EPROTO;
	}
	if (get_be64(hello + 8) == CLISERV_MAGIC) {
		set_err(err, errlen, "oldstyle NBD server: only newstyle is supported");
		return -ENOTSUP;
	}
	if (get_be64(hello + 8) != IHAVEOPT) {
		set_err(err, errlen, "bad NBD greeting (%#llx)",
			(unsigned long long)get_be64(hello + 8));
		return -EPROTO;
	}
	rc = read_all(fd, hello + 16, 2, deadline);
	if (rc < 0)
		return io_err(rc, "the server's greeting", err, errlen);
	sflags = get_be16(hello + 16);
	if (sflags & FLAG_FIXED_NEWSTYLE)
		cf |= FLAG_FIXED_NEWSTYLE;
	if (sflags & FLAG_NO_ZEROES)
		cf |= FLAG_NO_ZEROES;
	put_be32(cflags, cf);
	rc = write_all(fd, cflags, sizeof(cflags), deadline);
	if (rc < 0)
		return io_err(rc, "the client flags", err, errlen);

	/* Only a fixed-newstyle server promises to answer unknown options. */
	rc = 1;
	if (sflags & FLAG_FIXED_NEWSTYLE) {
		rc = opt_go(fd, name, deadline, info, err, errlen);
		if (rc < 0)
			return rc;
	}
	if (rc == 1) {
		rc = opt_export_name(fd, name, (cf & FLAG_NO_ZEROES) != 0, deadline, info, err,
				     errlen);
		if (rc < 0)
			return rc;
	}
	if (!(info->flags & NBD_FLAG_HAS_FLAGS)) {
		set_err(err, errlen, "transmission flags %#x lack NBD_FLAG_HAS_FLAGS", info->flags);
		return -EPROTO;
	}
	if (info->max_payload > PAYLOAD_MAX)
		info->max_payload = PAYLOAD_MAX - PAYLOAD_MAX % info->min_block;
	return 0;
}

/* Connect to @uri and negotiate; *fd is a non-blocking socket. */
static int
open_export(const char *uri, unsigned int timeout_ms, int *fdp, struct nbd_info *info, char *err,
	    size_t errlen)
{
	struct nbd_uri *u;
	uint64_t deadline = now_ms() + timeout_ms;
	int fd, rc;

	u = malloc(sizeof(*u));
	if (u == NULL)
		return -ENOMEM;
	rc = nbd_uri_parse(uri, u);
	if (rc < 0) {
		set_err(err, errlen,
			"bad NBD address '%s' (nbd://host[:port]/export or "
			"nbd+unix:///export?socket=PATH)",
			uri);
		goto out_free;
	}
	rc = open_socket(u, deadline, &fd, err, errlen);
	if (rc < 0)
		goto out_free;
	rc = handshake(fd, u->export_name, deadline, info, err, errlen);
	if (rc < 0) {
		close(fd);
		goto out_free;
	}
	*fdp = fd;
out_free:
	free(u);
	return rc;
}

/* ---- Requests ---- */

static void
complete_req(struct nbd_conn *conn, int slot, int status)
{
	struct req *r = &conn->reqs[slot];
	uint64_t cookie = r->cookie;

	r->active = false;
	r->sent = false;
	conn->free_slots[conn->nfree++] = slot;
	conn->stats.completed++;
	if (status < 0)
		conn->stats.errors++;
	conn->conf.complete(conn->conf.complete_arg, cookie, status);
}

static void
sq_push(struct nbd_conn *conn, int slot)
{
	conn->reqs[slot].next = -1;
	if (conn->sq_tail < 0)
		conn->sq_head = slot;
	else
		conn->reqs[conn->sq_tail].next = slot;
	conn->sq_tail = slot;
}

static int
cmp_seq(const void *a, const void *b, void *arg)
{
	const struct req *reqs = arg;
	uint64_t x = reqs[*(const int *)a].seq, y = reqs[*(const int *)b].seq;

	return x < y ? -1 : x > y;
}

/* The active slots in submission order into @slots; their count. */
static unsigned int
active_in_order(struct nbd_conn *conn, int *slots)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < conn->nreqs; i++)
		if (conn->reqs[i].active)
			slots[n++] = (int)i;
	qsort_r(slots, n, sizeof(*slots), cmp_seq, conn->reqs);
	return n;
}

/* Fail every active request, in submission order, with @status. The
 * callbacks may submit again: the queue is reset before they run. */
static void
fail_all(struct nbd_conn *conn, int status)
{
	unsigned int n;

	conn->sq_head = conn->sq_tail = -1;
	conn->send_off = 0;
	n = active_in_order(conn, conn->scratch);
	for (unsigned int i = 0; i < n; i++)
		complete_req(conn, conn->scratch[i], status);
}

/* Put every active request back on the send queue in submission order. */
static void
requeue_all(struct nbd_conn *conn)
{
	unsigned int n;

	conn->sq_head = conn->sq_tail = -1;
	conn->send_off = 0;
	n = active_in_order(conn, conn->scratch);
	for (unsigned int i = 0; i < n; i++) {
		conn->reqs[conn->scratch[i]].sent = false;
		sq_push(conn, conn->scratch[i]);
	}
	conn->lost_inflight = n;
}

static void
go_dead(struct nbd_conn *conn)
{
	conn->state = ST_DEAD;
	fail_all(conn, -EIO);
}

/* The socket is gone: @protocol says the server broke the protocol (its
 * requests are not replayed) rather than the connection being lost. */
static void
conn_lost(struct nbd_conn *conn, bool protocol, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(conn->errmsg, sizeof(conn->errmsg), fmt, ap);
	va_end(ap);
	if (conn->fd >= 0)
		close(conn->fd);
	conn->fd = -1;
	conn->rx_start = conn->rx_end = 0;
	conn->rx_slot = -1;
	conn->rx_payload_got = 0;
	if (protocol)
		conn->stats.protocol_errors++;
	if (conn->uri == NULL || conn->conf.max_reconnects == 0) {
		go_dead(conn);
		return;
	}
	conn->state = ST_RECONNECTING;
	conn->attempts = 0;
	conn->next_try_ms = now_ms();
	if (protocol)
		fail_all(conn, -EIO);
	else
		requeue_all(conn);
}

static void *
attempt_main(void *arg)
{
	struct attempt *a = arg;

	a->rc = open_export(a->uri, a->timeout_ms, &a->fd, &a->info, a->err, sizeof(a->err));
	return NULL;
}

/* The attempt ended: take the new socket, or schedule the next attempt,
 * or give up. */
static void
attempt_done(struct nbd_conn *conn)
{
	struct attempt *a = conn->att;
	const struct nbd_info *in = &a->info;
	unsigned int delay;
	int rc = a->rc;

	conn->att = NULL;
	/* Replaying onto a different disk would be worse than failing. */
	if (rc == 0 &&
	    (in->size != conn->info.size ||
	     (in->flags & NBD_FLAG_READ_ONLY) > (conn->info.flags & NBD_FLAG_READ_ONLY) ||
	     in->min_block > conn->info.min_block || in->max_payload < conn->info.max_payload ||
	     in->max_block < conn->info.max_block)) {
		close(a->fd);
		snprintf(a->err, sizeof(a->err),
			 "the export changed across a reconnect (size %llu, flags %#x)",
			 (unsigned long long)in->size, in->flags);
		conn->attempts = conn->conf.max_reconnects - 1;
		rc = -EIO;
	}
	if (rc < 0) {
		snprintf(conn->errmsg, sizeof(conn->errmsg), "reconnect %u/%u failed: %s",
			 conn->attempts + 1, conn->conf.max_reconnects, a->err);
		free(a);
		if (++conn->attempts >= conn->conf.max_reconnects) {
			go_dead(conn);
			return;
		}
		delay = conn->conf.reconnect_delay_ms;
		for (unsigned int i = 1; i < conn->attempts && delay < RECONNECT_DELAY_MAX_MS; i++)
			delay *= 2;
		if (delay > RECONNECT_DELAY_MAX_MS)
			delay = RECONNECT_DELAY_MAX_MS;
		conn->next_try_ms = now_ms() + delay;
		return;
	}
	conn->fd = a->fd;
	free(a);
	conn->state = ST_CONNECTED;
	conn->last_progress_ms = now_ms();
	conn->stats.reconnects++;
	conn->stats.replayed += conn->lost_inflight;
	conn->lost_inflight = 0;
}

static void
attempt_start(struct nbd_conn *conn)
{
	struct attempt *a = calloc(1, sizeof(*a));

	if (a == NULL) {
		conn->next_try_ms = now_ms() + conn->conf.reconnect_delay_ms;
		return;
	}
	a->uri = conn->uri;
	a->timeout_ms = conn->conf.connect_timeout_ms;
	a->fd = -1;
	conn->att = a;
	if (pthread_create(&conn->att_thread, NULL, attempt_main, a) != 0) {
		/* No thread to be had: block this once rather than never retry. */
		attempt_main(a);
		attempt_done(conn);
	}
}

/* Reconnecting: collect an attempt that ended, start one that is due. */
static void
reconnect_step(struct nbd_conn *conn)
{
	if (conn->att != NULL) {
		if (pthread_tryjoin_np(conn->att_thread, NULL) != 0)
			return;
		attempt_done(conn);
	}
	if (conn->state == ST_RECONNECTING && conn->att == NULL && now_ms() >= conn->next_try_ms)
		attempt_start(conn);
}

static int
new_conn(int fd, const struct nbd_conf *conf, const struct nbd_info *info, struct nbd_conn **out)
{
	struct nbd_conn *conn;

	conn = calloc(1, sizeof(*conn));
	if (conn == NULL)
		return -ENOMEM;
	conn->conf = *conf;
	conn->conf.errbuf = NULL;
	conn->conf.errbuf_len = 0;
	if (conn->conf.request_timeout_ms == 0)
		conn->conf.request_timeout_ms = 30000;
	if (conn->conf.connect_timeout_ms == 0)
		conn->conf.connect_timeout_ms = 5000;
	if (conn->conf.reconnect_delay_ms == 0)
		conn->conf.reconnect_delay_ms = 100;
	conn->nreqs = conf->max_inflight != 0 ? conf->max_inflight : 128;
	conn->reqs = calloc(conn->nreqs, sizeof(*conn->reqs));
	conn->free_slots = calloc(conn->nreqs, sizeof(*conn->free_slots));
	conn->scratch = calloc(conn->nreqs, sizeof(*conn->scratch));
	conn->rxbuf = malloc(RXBUF_LEN);
	if (conf->uri != NULL)
		conn->uri = strdup(conf->uri);
	if (conn->reqs == NULL || conn->free_slots == NULL || conn->scratch == NULL ||
	    conn->rxbuf == NULL || (conf->uri != NULL && conn->uri == NULL)) {
		free(conn->uri);
		free(conn->rxbuf);
		free(conn->scratch);
		free(conn->free_slots);
		free(conn->reqs);
		free(conn);
		return -ENOMEM;
	}
	/* Pop slot 0 first: nicer cookies in traces. */
	for (unsigned int i = 0; i < conn->nreqs; i++)
		conn->free_slots[i] = (int)(conn->nreqs - 1 - i);
	conn->nfree = conn->nreqs;
	conn->info = *info;
	conn->fd = fd;
	conn->state = ST_CONNECTED;
	conn->sq_head = conn->sq_tail = -1;
	conn->rx_slot = -1;
	*out = conn;
	return 0;
}

static int
check_conf(const struct nbd_conf *conf)
{
	if (conf == NULL || conf->complete == NULL || conf->max_inflight > NBD_MAX_INFLIGHT)
		return -EINVAL;
	return 0;
}

int
nbd_connect_fd(int fd, const struct nbd_conf *conf, struct nbd_conn **out)
{
	struct nbd_uri *u = NULL;
	struct nbd_info info;
	unsigned int timeout;
	int rc;

	rc = check_conf(conf);
	if (rc < 0 || fd < 0 || out == NULL) {
		if (conf != NULL)
			set_err(conf->errbuf, conf->errbuf_len, "bad NBD configuration");
		rc = -EINVAL;
		goto out_close;
	}
	u = calloc(1, sizeof(*u));
	if (u == NULL) {
		rc = -ENOMEM;
		goto out_close;
	}
	if (conf->uri != NULL && nbd_uri_parse(conf->uri, u) < 0) {
		set_err(conf->errbuf, conf->errbuf_len, "bad NBD address '%s'", conf->uri);
		rc = -EINVAL;
		goto out_close;
	}
	rc = set_nonblock(fd);
	if (rc < 0)
		goto out_close;
	timeout = conf->connect_timeout_ms != 0 ? conf->connect_timeout_ms : 5000;
	rc = handshake(fd, u->export_name, now_ms() + timeout, &info, conf->errbuf,
		       conf->errbuf_len);
	if (rc < 0)
		goto out_close;
	rc = new_conn(fd, conf, &info, out);
	if (rc < 0)
		goto out_close;
	free(u);
	return 0;

out_close:
	free(u);
	close(fd);
	return rc;
}

int
nbd_connect(const struct nbd_conf *conf, struct nbd_conn **out)
{
	struct nbd_info info;
	unsigned int timeout;
	int fd, rc;

	rc = check_conf(conf);
	if (rc < 0 || conf->uri == NULL || out == NULL) {
		if (conf != NULL)
			set_err(conf->errbuf, conf->errbuf_len, "bad NBD configuration");
		return -EINVAL;
	}
	timeout = conf->connect_timeout_ms != 0 ? conf->connect_timeout_ms : 5000;
	rc = open_export(conf->uri, timeout, &fd, &info, conf->errbuf, conf->errbuf_len);
	if (rc < 0)
		return rc;
	rc = new_conn(fd, conf, &info, out);
	if (rc < 0)
		close(fd);
	return rc;
}

void
nbd_close(struct nbd_conn *conn)
{
	if (conn == NULL)
		return;
	if (conn->att != NULL) {
		pthread_join(conn->att_thread, NULL);
		if (conn->att->rc == 0)
			close(conn->att->fd);
		free(conn->att);
		conn->att = NULL;
	}
	if (conn->fd >= 0) {
		/* NBD_CMD_DISC only between requests on the wire. */
		if (conn->state == ST_CONNECTED && conn->send_off == 0) {
			uint8_t h[REQ_HDR_LEN] = { 0 };

			put_be32(h, REQUEST_MAGIC);
			put_be16(h + 6, CMD_DISC);
			(void)!send(conn->fd, h, sizeof(h), MSG_NOSIGNAL | MSG_DONTWAIT);
		}
		close(conn->fd);
		conn->fd = -1;
	}
	conn->state = ST_DEAD;
	fail_all(conn, -ECANCELED);
	free(conn->uri);
	free(conn->rxbuf);
	free(conn->scratch);
	free(conn->free_slots);
	free(conn->reqs);
	free(conn);
}

const struct nbd_info *
nbd_get_info(const struct nbd_conn *conn)
{
	return &conn->info;
}

static int
check_iov(const struct iovec *iov, int iovcnt, uint32_t len)
{
	uint64_t total = 0;

	if (iov == NULL || iovcnt <= 0 || iovcnt > NBD_IOV_MAX)
		return -EINVAL;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_base == NULL && iov[i].iov_len != 0)
			return -EINVAL;
		total += iov[i].iov_len;
		if (total > len)
			return -EINVAL;
	}
	return total == len ? 0 : -EINVAL;
}

static const uint16_t cmd_of_op[] = {
	[NBD_OP_READ] = CMD_READ,
	[NBD_OP_WRITE] = CMD_WRITE,
	[NBD_OP_FLUSH] = CMD_FLUSH,
	[NBD_OP_TRIM] = CMD_TRIM,
	[NBD_OP_WRITE_ZEROES] = CMD_WRITE_ZEROES,
};

static uint64_t
wire_cookie(const struct nbd_conn *conn, int slot)
{
	return (uint64_t)conn->reqs[slot].gen << 32 | (uint32_t)slot;
}

int
nbd_submit(struct nbd_conn *conn, enum nbd_op op, uint64_t offset, uint32_t len,
	   const struct iovec *iov, int iovcnt, uint64_t cookie)
{
	const struct nbd_info *in = &conn->info;
	bool data = op == NBD_OP_READ || op == NBD_OP_WRITE;
	struct req *r;
	int slot;

	if (conn->state == ST_DEAD)
		return -ENOTCONN;
	switch (op) {
	case NBD_OP_READ:
		break;
	case NBD_OP_WRITE:
		if (in->flags & NBD_FLAG_READ_ONLY)
			return -EROFS;
		break;
	case NBD_OP_FLUSH:
		if (!(in->flags & NBD_FLAG_SEND_FLUSH))
			return -ENOTSUP;
		if (offset != 0 || len != 0 || iov != NULL || iovcnt != 0)
			return -EINVAL;
		break;
	case NBD_OP_TRIM:
	case NBD_OP_WRITE_ZEROES:
		if (in->flags & NBD_FLAG_READ_ONLY)
			return -EROFS;
		if (!(in->flags &
		      (op == NBD_OP_TRIM ? NBD_FLAG_SEND_TRIM : NBD_FLAG_SEND_WRITE_ZEROES)))
			return -ENOTSUP;
		break;
	default:
		return -EINVAL;
	}
	if (op != NBD_OP_FLUSH) {
		if (len == 0 || offset % in->min_block != 0 || len % in->min_block != 0 ||
		    offset > in->size || len > in->size - offset || len > in->max_block)
			return -EINVAL;
		if (data) {
			if (len > in->max_payload || check_iov(iov, iovcnt, len) < 0)
				return -EINVAL;
		} else if (iov != NULL || iovcnt != 0) {
			return -EINVAL;
		}
	}
	if (conn->nfree == 0)
		return -EBUSY;

	slot = conn->free_slots[--conn->nfree];
	r = &conn->reqs[slot];
	r->active = true;
	r->sent = false;
	r->op = op;
	r->gen++;
	r->offset = offset;
	r->len = len;
	r->cookie = cookie;
	r->seq = conn->next_seq++;
	if (conn->nfree == conn->nreqs - 1) /* the watchdog starts from now */
		conn->last_progress_ms = now_ms();
	r->iovcnt = data ? iovcnt : 0;
	if (data)
		memcpy(r->iov, iov, (size_t)iovcnt * sizeof(*iov));
	/* proto.md, "Request message". */
	put_be32(r->hdr, REQUEST_MAGIC);
	put_be16(r->hdr + 4, 0);
	put_be16(r->hdr + 6, cmd_of_op[op]);
	put_be64(r->hdr + 8, wire_cookie(conn, slot));
	put_be64(r->hdr + 16, offset);
	put_be32(r->hdr + 24, len);
	sq_push(conn, slot);
	conn->stats.submitted++;
	return 0;
}

/* Fill @out with the part of @iov from byte @skip on. */
static int
iov_tail(const struct iovec *iov, int iovcnt, size_t skip, struct iovec *out)
{
	int n = 0;

	for (int i = 0; i < iovcnt; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		out[n].iov_base = (uint8_t *)iov[i].iov_base + skip;
		out[n].iov_len = iov[i].iov_len - skip;
		skip = 0;
		n++;
	}
	return n;
}

static size_t
req_wire_len(const struct req *r)
{
	return REQ_HDR_LEN + (r->op == NBD_OP_WRITE ? r->len : 0);
}

/* Send what the socket takes, as many requests per sendmsg() as fit. 0, or
 * -1 when the connection was lost. */
static int
do_send(struct nbd_conn *conn)
{
	struct iovec v[SEND_IOV_MAX];

	while (conn->sq_head >= 0) {
		struct msghdr msg = { .msg_iov = v };
		size_t skip = conn->send_off, want = 0, left;
		ssize_t n;
		int cnt = 0;

		for (int s = conn->sq_head; s >= 0; s = conn->reqs[s].next) {
			const struct req *r = &conn->reqs[s];

			if (cnt + 1 + r->iovcnt > SEND_IOV_MAX)
				break;
			if (skip < REQ_HDR_LEN) {
				v[cnt].iov_base = (uint8_t *)r->hdr + skip;
				v[cnt].iov_len = REQ_HDR_LEN - skip;
				cnt++;
			}
			if (r->op == NBD_OP_WRITE)
				cnt += iov_tail(r->iov, r->iovcnt,
						skip > REQ_HDR_LEN ? skip - REQ_HDR_LEN : 0,
						v + cnt);
			want += req_wire_len(r) - skip;
			skip = 0;
		}
		msg.msg_iovlen = (size_t)cnt;
		n = sendmsg(conn->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			conn_lost(conn, false, "send: %s", strerror(errno));
			return -1;
		}
		conn->last_progress_ms = now_ms();
		for (left = (size_t)n; conn->sq_head >= 0;) {
			struct req *r = &conn->reqs[conn->sq_head];
			size_t rest = req_wire_len(r) - conn->send_off;

			if (left < rest) {
				conn->send_off += left;
				break;
			}
			left -= rest;
			conn->send_off = 0;
			r->sent = true;
			conn->sq_head = r->next;
			if (conn->sq_head < 0)
				conn->sq_tail = -1;
		}
		if ((size_t)n < want)
			return 0; /* the socket is full */
	}
	return 0;
}

static int
errno_of_nbd(uint32_t e)
{
	switch (e) {
	case 1:
		return -EPERM;
	case 5:
		return -EIO;
	case 12:
		return -ENOMEM;
	case 22:
		return -EINVAL;
	case 28:
		return -ENOSPC;
	case 75:
		return -EOVERFLOW;
	case 95:
		return -ENOTSUP;
	case 108:
		return -ESHUTDOWN;
	default:
		return -EIO;
	}
}

/* Copy @len bytes from @src into @iov from byte @skip on. */
static void
iov_copy_in(const struct iovec *iov, int iovcnt, size_t skip, const uint8_t *src, size_t len)
{
	for (int i = 0; i < iovcnt && len > 0; i++) {
		size_t k;

		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		k = iov[i].iov_len - skip;
		if (k > len)
			k = len;
		memcpy((uint8_t *)iov[i].iov_base + skip, src, k);
		src += k;
		len -= k;
		skip = 0;
	}
}

/* Handle the result of a recv()/readv(): 1 data, 0 nothing yet, -1 lost. */
static int
rx_result(struct nbd_conn *conn, ssize_t n)
{
	if (n > 0) {
		conn->last_progress_ms = now_ms();
		return 1;
	}
	if (n == 0) {
		conn_lost(conn, false, "server closed the connection");
		return -1;
	}
	if (errno == EAGAIN || errno == EINTR)
		return 0;
	conn_lost(conn, false, "recv: %s", strerror(errno));
	return -1;
}

/* More bytes into rxbuf, after what is left of a header. */
static int
rx_fill(struct nbd_conn *conn)
{
	size_t avail = conn->rx_end - conn->rx_start;
	ssize_t n;
	int rc;

	if (conn->rx_start > 0) {
		memmove(conn->rxbuf, conn->rxbuf + conn->rx_start, avail);
		conn->rx_start = 0;
		conn->rx_end = avail;
	}
	do {
		n = recv(conn->fd, conn->rxbuf + conn->rx_end, RXBUF_LEN - conn->rx_end,
			 MSG_DONTWAIT);
		rc = rx_result(conn, n);
	} while (rc == 0 && n < 0 && errno == EINTR);
	if (rc > 0)
		conn->rx_end += (size_t)n;
	return rc;
}

/* The reply header at rx_start. 0, or -1 when it broke the protocol. */
static int
rx_header(struct nbd_conn *conn, int *done)
{
	const uint8_t *h = conn->rxbuf + conn->rx_start;
	uint32_t magic = get_be32(h), err = get_be32(h + 4);
	uint64_t wc = get_be64(h + 8);
	uint32_t slot = (uint32_t)wc;

	conn->rx_start += REPLY_HDR_LEN;
	if (magic != SIMPLE_REPLY_MAGIC) {
		conn_lost(conn, true, "bad reply magic %#x", magic);
		return -1;
	}
	if (slot >= conn->nreqs || !conn->reqs[slot].active || !conn->reqs[slot].sent ||
	    wire_cookie(conn, (int)slot) != wc) {
		conn_lost(conn, true, "reply with unknown cookie %#llx", (unsigned long long)wc);
		return -1;
	}
	/* proto.md: a failed READ carries no payload in a simple reply. */
	if (conn->reqs[slot].op == NBD_OP_READ && err == 0) {
		conn->rx_slot = (int)slot;
		conn->rx_payload_got = 0;
		return 0;
	}
	complete_req(conn, (int)slot, err == 0 ? 0 : errno_of_nbd(err));
	(*done)++;
	return 0;
}

/* Read what has arrived. Returns completions, or -1 when the connection was
 * dropped. */
static int
do_recv(struct nbd_conn *conn)
{
	struct iovec v[NBD_IOV_MAX];
	int done = 0, rc;

	for (;;) {
		size_t avail = conn->rx_end - conn->rx_start;

		if (conn->rx_slot < 0) {
			if (avail >= REPLY_HDR_LEN) {
				if (rx_header(conn, &done) < 0)
					return -1;
				continue;
			}
			rc = rx_fill(conn);
			if (rc <= 0)
				return rc < 0 ? -1 : done;
			continue;
		}

		struct req *r = &conn->reqs[conn->rx_slot];
		size_t need = r->len - conn->rx_payload_got;

		if (avail > 0) {
			size_t k = avail < need ? avail : need;

			iov_copy_in(r->iov, r->iovcnt, conn->rx_payload_got,
				    conn->rxbuf + conn->rx_start, k);
			conn->rx_start += k;
			conn->rx_payload_got += k;
			need -= k;
		}
		if (need == 0) {
			int slot = conn->rx_slot;

			conn->rx_slot = -1;
			complete_req(conn, slot, 0);
			done++;
			continue;
		}
		/* rxbuf is empty here: a large rest goes straight to the caller. */
		if (need >= RXBUF_LEN / 2) {
			ssize_t n = readv(conn->fd, v,
					  iov_tail(r->iov, r->iovcnt, conn->rx_payload_got, v));

			rc = rx_result(conn, n);
			if (rc <= 0) {
				if (rc == 0 && n < 0 && errno == EINTR)
					continue;
				return rc < 0 ? -1 : done;
			}
			conn->rx_payload_got += (size_t)n;
			continue;
		}
		rc = rx_fill(conn);
		if (rc <= 0)
			return rc < 0 ? -1 : done;
	}
}

/* Requests are waiting and the server has moved no byte for the request
 * timeout: treat the connection as lost (a peer gone without a reset). */
static void
watchdog(struct nbd_conn *conn)
{
	if (conn->nfree == conn->nreqs ||
	    now_ms() - conn->last_progress_ms < conn->conf.request_timeout_ms)
		return;
	conn_lost(conn, false, "no progress from the server in %u ms",
		  conn->conf.request_timeout_ms);
}

int
nbd_process(struct nbd_conn *conn)
{
	uint64_t before = conn->stats.completed;

	if (conn->state == ST_RECONNECTING)
		reconnect_step(conn);
	if (conn->state == ST_CONNECTED && do_send(conn) == 0)
		(void)do_recv(conn);
	/* Completion callbacks may have submitted more. */
	if (conn->state == ST_CONNECTED)
		(void)do_send(conn);
	if (conn->state == ST_CONNECTED)
		watchdog(conn);
	/* A loss just now: the first attempt starts at once. */
	if (conn->state == ST_RECONNECTING)
		reconnect_step(conn);
	if (conn->state == ST_DEAD && conn->stats.completed == before)
		return -ENOTCONN;
	return (int)(conn->stats.completed - before);
}

int
nbd_fd(const struct nbd_conn *conn)
{
	return conn->state == ST_CONNECTED ? conn->fd : -1;
}

short
nbd_poll_events(const struct nbd_conn *conn)
{
	if (conn->state != ST_CONNECTED)
		return 0;
	return (short)(POLLIN | (conn->sq_head >= 0 ? POLLOUT : 0));
}

int
nbd_timeout_ms(const struct nbd_conn *conn)
{
	uint64_t now;

	now = now_ms();
	if (conn->state == ST_CONNECTED) {
		uint64_t due = conn->last_progress_ms + conn->conf.request_timeout_ms;

		if (conn->nfree == conn->nreqs)
			return -1;
		return due <= now ? 0 : (int)(due - now);
	}
	if (conn->state != ST_RECONNECTING)
		return -1;
	if (conn->att != NULL)
		return ATTEMPT_POLL_MS;
	return conn->next_try_ms <= now ? 0 : (int)(conn->next_try_ms - now);
}

unsigned int
nbd_inflight(const struct nbd_conn *conn)
{
	return conn->nreqs - conn->nfree;
}

void
nbd_get_stats(const struct nbd_conn *conn, struct nbd_stats *st)
{
	*st = conn->stats;
}

const char *
nbd_errmsg(const struct nbd_conn *conn)
{
	return conn->errmsg;
}
