/* SPDX-License-Identifier: MIT */
/* Unit tests: the NBD client (dataplane/nbd.c) against a scripted fake
 * server on the other end of a socket pair (or, for reconnects, a unix
 * socket served by a thread): URI parsing, handshake variants and
 * failures, requests on the wire, replies out of order, server errors,
 * broken and truncated replies, replay after a lost connection. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "nbd.h"

#define NBDMAGIC        0x4e42444d41474943ull
#define IHAVEOPT        0x49484156454f5054ull
#define OPT_REPLY_MAGIC 0x3e889045565a9ull
#define REQUEST_MAGIC   0x25609513u
#define REPLY_MAGIC     0x67446698u
#define ALL_FLAGS                                                                                  \
	(NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES)
#define SIZE (1u << 20)

/* ---- wire helpers ---- */

static void
be(uint8_t *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t
get(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static void
xwrite(int fd, const void *buf, size_t len)
{
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
}

/* Read exactly @len (the fd has a receive timeout); false on EOF. */
static bool
xread(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = read(fd, p, len);

		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static void
srv_hello(int fd, uint16_t flags)
{
	uint8_t b[18];

	be(b, NBDMAGIC, 8);
	be(b + 8, IHAVEOPT, 8);
	be(b + 16, flags, 2);
	xwrite(fd, b, sizeof(b));
}

static void
srv_rep(int fd, uint32_t opt, uint32_t type, const void *data, uint32_t len)
{
	uint8_t h[20];

	be(h, OPT_REPLY_MAGIC, 8);
	be(h + 8, opt, 4);
	be(h + 12, type, 4);
	be(h + 16, len, 4);
	xwrite(fd, h, sizeof(h));
	if (len > 0)
		xwrite(fd, data, len);
}

static void
srv_info_export(int fd, uint64_t size, uint16_t flags)
{
	uint8_t d[12];

	be(d, 0, 2);
	be(d + 2, size, 8);
	be(d + 10, flags, 2);
	srv_rep(fd, 7, 3, d, sizeof(d));
}

static void
srv_info_block(int fd, uint32_t min, uint32_t pref, uint32_t max)
{
	uint8_t d[14];

	be(d, 3, 2);
	be(d + 2, min, 4);
	be(d + 6, pref, 4);
	be(d + 10, max, 4);
	srv_rep(fd, 7, 3, d, sizeof(d));
}

/* A whole GO negotiation: greeting, export info, block sizes, ack. */
static void
srv_go(int fd, uint64_t size, uint16_t flags, uint32_t min_block)
{
	srv_hello(fd, 3);
	srv_info_export(fd, size, flags);
	if (min_block != 0)
		srv_info_block(fd, min_block, 4096, 65536);
	srv_rep(fd, 7, 1, NULL, 0);
}

/* Consume the client's side of a GO negotiation, checking it. */
static void
srv_expect_go(int fd, const char *name)
{
	uint8_t b[4 + 16 + 4 + 256 + 4];
	size_t nlen = strlen(name);

	assert_true(xread(fd, b, 4 + 16));
	assert_int_equal(get(b, 4), 3); /* FIXED_NEWSTYLE | NO_ZEROES */
	assert_true(get(b + 4, 8) == IHAVEOPT);
	assert_int_equal(get(b + 12, 4), 7);
	assert_int_equal(get(b + 16, 4), 4 + nlen + 2 + 2);
	assert_true(xread(fd, b, 4 + nlen + 4));
	assert_int_equal(get(b, 4), nlen);
	assert_memory_equal(b + 4, name, nlen);
	assert_int_equal(get(b + 4 + nlen, 2), 1);
	assert_int_equal(get(b + 6 + nlen, 2), 3); /* NBD_INFO_BLOCK_SIZE */
}

struct wire_req {
	uint16_t flags, type;
	uint64_t cookie, offset;
	uint32_t len;
};

static bool
srv_req(int fd, struct wire_req *r)
{
	uint8_t h[28];

	if (!xread(fd, h, sizeof(h)))
		return false;
	assert_int_equal(get(h, 4), REQUEST_MAGIC);
	r->flags = (uint16_t)get(h + 4, 2);
	r->type = (uint16_t)get(h + 6, 2);
	r->cookie = get(h + 8, 8);
	r->offset = get(h + 16, 8);
	r->len = (uint32_t)get(h + 24, 4);
	return true;
}

static void
srv_reply(int fd, uint32_t magic, uint32_t err, uint64_t cookie)
{
	uint8_t h[16];

	be(h, magic, 4);
	be(h + 4, err, 4);
	be(h + 8, cookie, 8);
	xwrite(fd, h, sizeof(h));
}

/* ---- client side ---- */

struct done {
	uint64_t cookie;
	int status;
};
static struct done dones[64];
static unsigned int ndone;

static void
on_complete(void *arg, uint64_t cookie, int status)
{
	(void)arg;
	assert_true(ndone < 64);
	dones[ndone].cookie = cookie;
	dones[ndone].status = status;
	ndone++;
}

static int
pair(int *srv)
{
	int sv[2];
	struct timeval tv = { .tv_sec = 5 };

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	setsockopt(sv[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	*srv = sv[1];
	return sv[0];
}

static struct nbd_conf
conf_of(char *errbuf, size_t len)
{
	struct nbd_conf c = {
		.uri = "nbd+unix:///disk?socket=/nonexistent/nbd.sock",
		.connect_timeout_ms = 2000,
		.max_inflight = 8,
		.complete = on_complete,
		.errbuf = errbuf,
		.errbuf_len = len,
	};
	return c;
}

/* Connected client over a pair, server side ready for transmission. */
static struct nbd_conn *
open_pair(int *srv, uint16_t flags, uint32_t min_block)
{
	struct nbd_conf c = conf_of(NULL, 0);
	struct nbd_conn *conn = NULL;
	int cfd = pair(srv);

	ndone = 0;
	srv_go(*srv, SIZE, flags, min_block);
	assert_int_equal(nbd_connect_fd(cfd, &c, &conn), 0);
	srv_expect_go(*srv, "disk");
	return conn;
}

/* Run nbd_process until @n completions or 3 s pass. */
static void
pump(struct nbd_conn *conn, unsigned int n)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (ndone < n) {
		struct pollfd p = { .fd = nbd_fd(conn), .events = nbd_poll_events(conn) };
		int to = nbd_timeout_ms(conn);

		poll(&p, p.fd >= 0 ? 1 : 0, to >= 0 && to < 50 ? to : 50);
		if (nbd_process(conn) < 0)
			break;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 3)
			break;
	}
}

/* ---- tests ---- */

static void
test_uri(void **state)
{
	struct nbd_uri u;

	(void)state;
	assert_int_equal(nbd_uri_parse("nbd://example.org/vol1", &u), 0);
	assert_false(u.is_unix);
	assert_string_equal(u.host, "example.org");
	assert_int_equal(u.port, 10809);
	assert_string_equal(u.export_name, "vol1");
	assert_int_equal(nbd_uri_parse("nbd://10.0.0.2:4000/a%20b", &u), 0);
	assert_string_equal(u.host, "10.0.0.2");
	assert_int_equal(u.port, 4000);
	assert_string_equal(u.export_name, "a b");
	assert_int_equal(nbd_uri_parse("nbd://[::1]:99/", &u), 0);
	assert_string_equal(u.host, "::1");
	assert_int_equal(u.port, 99);
	assert_string_equal(u.export_name, "");
	assert_int_equal(nbd_uri_parse("nbd://[fe80::1]/x", &u), 0);
	assert_int_equal(u.port, 10809);
	assert_int_equal(nbd_uri_parse("nbd+unix:///e?socket=/run/nbd.sock", &u), 0);
	assert_true(u.is_unix);
	assert_string_equal(u.socket_path, "/run/nbd.sock");
	assert_string_equal(u.export_name, "e");
	assert_int_equal(nbd_uri_parse("nbd+unix:///?socket=s", &u), 0);
	assert_string_equal(u.export_name, "");

	const char *bad[] = {
		"",
		"nbd:",
		"nbd://",
		"nbd://host",
		"http://h/e",
		"nbd://:10/e",
		"nbd://h:/e",
		"nbd://h:0/e",
		"nbd://h:65536/e",
		"nbd://h:1x/e",
		"nbd://h/e?socket=x",
		"nbd://[::1/e",
		"nbd://[::1]x/e",
		"nbd://[]/e",
		"nbd://u@h/e",
		"nbd://h/%4",
		"nbd://h/%zz",
		"nbd://h/a%00b",
		"nbd+unix://host/e?socket=/s",
		"nbd+unix:///e",
		"nbd+unix:///e?sock=/s",
		"nbd+unix:///e?socket=",
		"nbd+unix:///e?socket=/a&b=c",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (nbd_uri_parse(bad[i], &u) != -EINVAL)
			fail_msg("accepted '%s'", bad[i]);
	}
	char longp[300];

	snprintf(longp, sizeof(longp), "nbd+unix:///e?socket=/%0200d", 0);
	assert_int_equal(nbd_uri_parse(longp, &u), -EINVAL);
	assert_int_equal(nbd_uri_parse(NULL, &u), -EINVAL);
}

static void
test_handshake_go(void **state)
{
	int srv;
	struct nbd_conn *conn = open_pair(&srv, ALL_FLAGS, 512);
	const struct nbd_info *in = nbd_get_info(conn);

	(void)state;
	assert_true(in->size == SIZE);
	assert_int_equal(in->flags, ALL_FLAGS);
	assert_int_equal(in->min_block, 512);
	assert_int_equal(in->pref_block, 4096);
	assert_int_equal(in->max_payload, 65536);
	assert_false(in->used_export_name);
	assert_true(nbd_fd(conn) >= 0);
	assert_int_equal(nbd_poll_events(conn), POLLIN);
	assert_int_equal(nbd_timeout_ms(conn), -1);
	nbd_close(conn);
	close(srv);
}

/* GO unknown to the server (NBD_REP_ERR_UNSUP): NBD_OPT_EXPORT_NAME, with
 * the 124 zero bytes since the server did not offer NO_ZEROES. */
static void
test_handshake_export_name_fallback(void **state)
{
	char err[256] = "";
	struct nbd_conf c = conf_of(err, sizeof(err));
	struct nbd_conn *conn = NULL;
	uint8_t rep[134] = { 0 }, b[64];
	int srv, cfd = pair(&srv);

	(void)state;
	srv_hello(srv, 1);
	srv_rep(srv, 7, 1u | 1u << 31, "no GO here", 10);
	be(rep, 12345 * 512, 8);
	be(rep + 8, NBD_FLAG_HAS_FLAGS | NBD_FLAG_READ_ONLY, 2);
	xwrite(srv, rep, sizeof(rep));
	assert_int_equal(nbd_connect_fd(cfd, &c, &conn), 0);
	assert_true(nbd_get_info(conn)->used_export_name);
	assert_true(nbd_get_info(conn)->size == 12345 * 512);
	assert_int_equal(nbd_get_info(conn)->min_block, 1);
	/* Client flags without NO_ZEROES, GO (12 bytes of data), then EXPORT_NAME. */
	assert_true(xread(srv, b, 4 + 16 + 12 + 16));
	assert_int_equal(get(b, 4), 1);
	assert_int_equal(get(b + 32 + 8, 4), 1);
	assert_int_equal(get(b + 32 + 12, 4), 4);
	assert_true(xread(srv, b, 4));
	assert_memory_equal(b, "disk", 4);
	/* Read-only: writes, trims and zeroing are refused before the wire. */
	char buf[512];
	struct iovec iov = { buf, sizeof(buf) };

	assert_int_equal(nbd_submit(conn, NBD_OP_WRITE, 0, 512, &iov, 1, 1), -EROFS);
	assert_int_equal(nbd_submit(conn, NBD_OP_TRIM, 0, 512, NULL, 0, 1), -EROFS);
	assert_int_equal(nbd_submit(conn, NBD_OP_FLUSH, 0, 0, NULL, 0, 1), -ENOTSUP);
	assert_int_equal(nbd_submit(conn, NBD_OP_READ, 0, 512, &iov, 1, 1), 0);
	nbd_close(conn);
	close(srv);
}

/* A newstyle server that is not fixed: EXPORT_NAME straight away. */
static void
test_handshake_not_fixed(void **state)
{
	struct nbd_conf c = conf_of(NULL, 0);
	struct nbd_conn *conn = NULL;
	uint8_t rep[10], b[20];
	int srv, cfd = pair(&srv);

	(void)state;
	srv_hello(srv, 2); /* NO_ZEROES only */
	be(rep, 4096, 8);
	be(rep + 8, NBD_FLAG_HAS_FLAGS, 2);
	xwrite(srv, rep, sizeof(rep));
	assert_int_equal(nbd_connect_fd(cfd, &c, &conn), 0);
	assert_true(nbd_get_info(conn)->used_export_name);
	assert_true(xread(srv, b, 20));
	assert_int_equal(get(b, 4), 2);
	assert_int_equal(get(b + 12, 4), 1);
	nbd_close(conn);
	close(srv);
}

enum script {
	S_OLDSTYLE,
	S_NOT_NBD,
	S_UNKNOWN_EXPORT,
	S_POLICY,
	S_TLS,
	S_BAD_REPLY_MAGIC,
	S_WRONG_OPTION,
	S_OVERSIZED,
	S_ACK_NO_EXPORT,
	S_SHORT_INFO,
	S_BAD_BLOCK_SIZES,
	S_NO_HAS_FLAGS,
	S_TRUNCATED_GREETING,
	S_TRUNCATED_INFO,
	S_EXPORT_NAME_HANGUP,
	S_SILENT,
	S_UNKNOWN_REPLY,
};

static int
run_script(enum script s, char *err, size_t errlen)
{
	struct nbd_conf c = conf_of(err, errlen);
	struct nbd_conn *conn = NULL;
	uint8_t b[64] = { 0 };
	int srv, cfd = pair(&srv), rc;

	c.connect_timeout_ms = 300;
	switch (s) {
	case S_OLDSTYLE:
		be(b, NBDMAGIC, 8);
		be(b + 8, 0x00420281861253ull, 8);
		xwrite(srv, b, 16);
		break;
	case S_NOT_NBD:
		xwrite(srv, "SSH-2.0-OpenSSH\r\n", 17);
		break;
	case S_UNKNOWN_EXPORT:
		srv_hello(srv, 3);
		srv_rep(srv, 7, 6u | 1u << 31, "no such\nexport", 14);
		break;
	case S_POLICY:
		srv_hello(srv, 3);
		srv_rep(srv, 7, 2u | 1u << 31, NULL, 0);
		break;
	case S_TLS:
		srv_hello(srv, 3);
		srv_rep(srv, 7, 5u | 1u << 31, NULL, 0);
		break;
	case S_BAD_REPLY_MAGIC:
		srv_hello(srv, 3);
		be(b, 0x1122334455667788ull, 8);
		be(b + 8, 7, 4);
		be(b + 12, 1, 4);
		xwrite(srv, b, 20);
		break;
	case S_WRONG_OPTION:
		srv_hello(srv, 3);
		srv_rep(srv, 1, 1, NULL, 0);
		break;
	case S_OVERSIZED:
		srv_hello(srv, 3);
		be(b, OPT_REPLY_MAGIC, 8);
		be(b + 8, 7, 4);
		be(b + 12, 3, 4);
		be(b + 16, 0xfffffff0u, 4);
		xwrite(srv, b, 20);
		break;
	case S_ACK_NO_EXPORT:
		srv_hello(srv, 3);
		srv_rep(srv, 7, 1, NULL, 0);
		break;
	case S_SHORT_INFO:
		srv_hello(srv, 3);
		srv_rep(srv, 7, 3, b, 8); /* NBD_INFO_EXPORT of 8 bytes */
		break;
	case S_BAD_BLOCK_SIZES:
		srv_hello(srv, 3);
		srv_info_export(srv, SIZE, ALL_FLAGS);
		srv_info_block(srv, 3, 4096, 65536);
		srv_rep(srv, 7, 1, NULL, 0);
		break;
	case S_NO_HAS_FLAGS:
		srv_hello(srv, 3);
		srv_info_export(srv, SIZE, NBD_FLAG_SEND_FLUSH);
		srv_rep(srv, 7, 1, NULL, 0);
		break;
	case S_TRUNCATED_GREETING:
		be(b, NBDMAGIC, 8);
		xwrite(srv, b, 12);
		shutdown(srv, SHUT_WR);
		break;
	case S_TRUNCATED_INFO:
		srv_hello(srv, 3);
		be(b, OPT_REPLY_MAGIC, 8);
		be(b + 8, 7, 4);
		be(b + 12, 3, 4);
		be(b + 16, 12, 4);
		xwrite(srv, b, 25);
		shutdown(srv, SHUT_WR);
		break;
	case S_EXPORT_NAME_HANGUP:
		srv_hello(srv, 0);
		shutdown(srv, SHUT_WR);
		break;
	case S_SILENT:
		break;
	case S_UNKNOWN_REPLY:
		srv_hello(srv, 3);
		srv_rep(srv, 7, 2, NULL, 0); /* NBD_REP_SERVER to GO */
		break;
	}
	rc = nbd_connect_fd(cfd, &c, &conn);
	assert_null(conn);
	close(srv);
	return rc;
}

static void
test_handshake_failures(void **state)
{
	static const struct {
		enum script s;
		int rc;
		const char *msg;
	} cases[] = {
		{ S_OLDSTYLE, -ENOTSUP, "oldstyle" },
		{ S_NOT_NBD, -EPROTO, "not an NBD server" },
		{ S_UNKNOWN_EXPORT, -ENOENT, "no such?export" },
		{ S_POLICY, -EACCES, "refused" },
		{ S_TLS, -ENOTSUP, "TLS" },
		{ S_BAD_REPLY_MAGIC, -EPROTO, "bad option reply" },
		{ S_WRONG_OPTION, -EPROTO, "option 1" },
		{ S_OVERSIZED, -EPROTO, "too long" },
		{ S_ACK_NO_EXPORT, -EPROTO, "without the export's size" },
		{ S_SHORT_INFO, -EPROTO, "NBD_INFO_EXPORT of 8 bytes" },
		{ S_BAD_BLOCK_SIZES, -EPROTO, "bad block sizes" },
		{ S_NO_HAS_FLAGS, -EPROTO, "HAS_FLAGS" },
		{ S_TRUNCATED_GREETING, -ECONNRESET, "closed the connection" },
		{ S_TRUNCATED_INFO, -ECONNRESET, "closed the connection" },
		{ S_EXPORT_NAME_HANGUP, -ENOENT, "no export 'disk'" },
		{ S_SILENT, -ETIMEDOUT, "timed out" },
		{ S_UNKNOWN_REPLY, -EPROTO, "unexpected reply 2" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char err[256] = "";
		int rc = run_script(cases[i].s, err, sizeof(err));

		if (rc != cases[i].rc || strstr(err, cases[i].msg) == NULL)
			fail_msg("script %d: rc %d (want %d), '%s' lacks '%s'", cases[i].s, rc,
				 cases[i].rc, err, cases[i].msg);
	}
}

static void
test_submit_validation(void **state)
{
	int srv;
	struct nbd_conn *conn = open_pair(&srv, NBD_FLAG_HAS_FLAGS, 512);
	static char buf[1 << 17];
	struct iovec iov = { buf, 4096 }, two[2] = { { buf, 512 }, { buf + 512, 512 } };

	(void)state;
	/* Alignment to the minimum block size, range, payload limit, iov sums. */
	assert_int_equal(nbd_submit(conn, NBD_OP_READ, 100, 4096, &iov, 1, 1), -EINVAL);
	assert_int_equal(nbd_submit(conn, NBD_OP_READ, 0, 4000, &iov, 1, 1), -EINVAL);
	assert_int_equal(nbd_submit(conn, NBD_OP_READ, SIZE - 512, 4096, &iov, 1, 1), -EINVAL);
	assert_int_equal(nbd_submit(conn, NBD_OP_READ, UINT64_MAX - 511, 4096, &iov, 1, 1),
			 -EINVAL);
	assert_int_equal(nbd_submit(conn, NBD_OP_READ, 0, 0, &iov, 1, 1), -EINVAL);
	iov.iov_len = 1 << 17;
	assert_int_equal(nbd_submit(conn, NBD_OP_READ, 0, 1 << 17, &iov, 1, 1), -EINVAL);
	assert_int_equal(nbd_submit(conn, NBD_OP_READ, 0, 4096, two, 2, 1), -EINVAL);
	assert_int_equal(nbd_submit(conn, NBD_OP_READ, 0, 4096, NULL, 0, 1), -EINVAL);
	assert_int_equal(nbd_submit(conn, NBD_OP_READ, 0, 1024, two, NBD_IOV_MAX + 1, 1), -EINVAL);
	assert_int_equal(nbd_submit(conn, (enum nbd_op)42, 0, 1024, two, 2, 1), -EINVAL);
	/* The export offers no flush, trim or zeroing. */
	assert_int_equal(nbd_submit(conn, NBD_OP_FLUSH, 0, 0, NULL, 0, 1), -ENOTSUP);
	assert_int_equal(nbd_submit(conn, NBD_OP_TRIM, 0, 512, NULL, 0, 1), -ENOTSUP);
	assert_int_equal(nbd_submit(conn, NBD_OP_WRITE_ZEROES, 0, 512, NULL, 0, 1), -ENOTSUP);
	/* Bounded queue. */
	for (int i = 0; i < 8; i++)
		assert_int_equal(nbd_submit(conn, NBD_OP_READ, 0, 1024, two, 2, (uint64_t)i), 0);
	assert_int_equal(nbd_submit(conn, NBD_OP_READ, 0, 1024, two, 2, 9), -EBUSY);
	assert_int_equal(nbd_inflight(conn), 8);
	assert_int_equal(nbd_poll_events(conn), POLLIN | POLLOUT);
	/* Closing cancels them all, in order, and says goodbye on the wire. */
	nbd_close(conn);
	assert_int_equal(ndone, 8);
	for (unsigned int i = 0; i < 8; i++) {
		assert_int_equal(dones[i].status, -ECANCELED);
		assert_int_equal(dones[i].cookie, i);
	}
	struct wire_req r;

	assert_true(srv_req(srv, &r));
	assert_int_equal(r.type, 2); /* NBD_CMD_DISC */
	close(srv);
}

/* Every command on the wire; replies in another order than requests; a
 * read's payload in pieces; errors from the server. */
static void
test_transmission(void **state)
{
	int srv;
	struct nbd_conn *conn = open_pair(&srv, ALL_FLAGS, 512);
	static uint8_t a[4096], w1[512], w2[1536], c[1024], got[2048];
	struct iovec ia = { a, sizeof(a) }, iw[2] = { { w1, sizeof(w1) }, { w2, sizeof(w2) } };
	struct iovec ic[2] = { { c, 512 }, { c + 512, 512 } };
	struct wire_req r[7];
	struct nbd_stats st;

	(void)state;
	memset(w1, 0xa1, sizeof(w1));
	memset(w2, 0xb2, sizeof(w2));
	assert_int_equal(nbd_submit(conn, NBD_OP_READ, 0, 4096, &ia, 1, 100), 0);
	assert_int_equal(nbd_submit(conn, NBD_OP_WRITE, 8192, 2048, iw, 2, 101), 0);
	assert_int_equal(nbd_submit(conn, NBD_OP_READ, 512, 1024, ic, 2, 102), 0);
	assert_int_equal(nbd_submit(conn, NBD_OP_FLUSH, 0, 0, NULL, 0, 103), 0);
	assert_int_equal(nbd_submit(conn, NBD_OP_TRIM, 65536, 65536, NULL, 0, 104), 0);
	assert_int_equal(nbd_submit(conn, NBD_OP_WRITE_ZEROES, 0, 512, NULL, 0, 105), 0);
	assert_int_equal(nbd_submit(conn, NBD_OP_WRITE, 0, 512, iw, 1, 106), 0);
	/* Longer than the server's maximum block size: refused here. */
	assert_int_equal(nbd_submit(conn, NBD_OP_TRIM, 0, 131072, NULL, 0, 107), -EINVAL);
	assert_int_equal(nbd_process(conn), 0);
	assert_int_equal(nbd_poll_events(conn), POLLIN);

	static const uint16_t types[] = { 0, 1, 0, 3, 4, 6, 1 };
	static const uint64_t offs[] = { 0, 8192, 512, 0, 65536, 0, 0 };
	static const uint32_t lens[] = { 4096, 2048, 1024, 0, 65536, 512, 512 };

	for (int i = 0; i < 7; i++) {
		assert_true(srv_req(srv, &r[i]));
		assert_int_equal(r[i].type, types[i]);
		assert_int_equal(r[i].flags, 0);
		assert_true(r[i].offset == offs[i]);
		assert_int_equal(r[i].len, lens[i]);
		if (types[i] == 1) {
			assert_true(xread(srv, got, r[i].len));
			assert_memory_equal(got, w1, 512);
			if (r[i].len == 2048)
				assert_memory_equal(got + 512, w2, 1536);
		}
		for (int j = 0; j < i; j++)
			assert_true(r[i].cookie != r[j].cookie);
	}

	/* Replies: the second read, the write with ENOSPC, the trim, then the
	 * first read in two pieces, the flush, zeroing, the last write with EPERM. */
	memset(got, 0x5c, sizeof(got));
	srv_reply(srv, REPLY_MAGIC, 0, r[2].cookie);
	xwrite(srv, got, 1024);
	srv_reply(srv, REPLY_MAGIC, 28, r[1].cookie);
	srv_reply(srv, REPLY_MAGIC, 0, r[4].cookie);
	srv_reply(srv, REPLY_MAGIC, 0, r[0].cookie);
	xwrite(srv, got, 100);
	pump(conn, 3);
	assert_int_equal(ndone, 3);
	memset(got, 0x6d, sizeof(got));
	xwrite(srv, got, 2048);
	xwrite(srv, got, 4096 - 100 - 2048);
	srv_reply(srv, REPLY_MAGIC, 0, r[3].cookie);
	srv_reply(srv, REPLY_MAGIC, 0, r[5].cookie);
	srv_reply(srv, REPLY_MAGIC, 1, r[6].cookie);
	pump(conn, 7);
	assert_int_equal(ndone, 7);

	static const uint64_t order[] = { 102, 101, 104, 100, 103, 105, 106 };
	static const int status[] = { 0, -ENOSPC, 0, 0, 0, 0, -EPERM };

	for (int i = 0; i < 7; i++) {
		assert_int_equal(dones[i].cookie, order[i]);
		assert_int_equal(dones[i].status, status[i]);
	}
	for (int i = 0; i < 1024; i++)
		assert_int_equal(c[i], 0x5c);
	for (int i = 0; i < 4096; i++)
		assert_int_equal(a[i], i < 100 ? 0x5c : 0x6d);
	nbd_get_stats(conn, &st);
	assert_int_equal(st.submitted, 7);
	assert_int_equal(st.completed, 7);
	assert_int_equal(st.errors, 2);
	assert_int_equal(nbd_inflight(conn), 0);

	/* A read that fails carries no payload: the next reply follows at once. */
	assert_int_equal(nbd_submit(conn, NBD_OP_READ, 0, 4096, &ia, 1, 200), 0);
	assert_int_equal(nbd_submit(conn, NBD_OP_READ, 0, 1024, ic, 2, 201), 0);
	assert_int_equal(nbd_process(conn), 0);
	assert_true(srv_req(srv, &r[0]));
	assert_true(srv_req(srv, &r[1]));
	srv_reply(srv, REPLY_MAGIC, 5, r[0].cookie);
	srv_reply(srv, REPLY_MAGIC, 0, r[1].cookie);
	memset(got, 0x77, 1024);
	xwrite(srv, got, 1024);
	pump(conn, 9);
	assert_int_equal(dones[7].cookie, 200);
	assert_int_equal(dones[7].status, -EIO);
	assert_int_equal(dones[8].cookie, 201);
	assert_int_equal(dones[8].status, 0);
	assert_int_equal(c[1023], 0x77);
	nbd_close(conn);
	close(srv);
}

/* More than the socket holds: writes go out in pieces across many
 * nbd_process() calls, reads come back partly through the client's buffer
 * and partly straight into the caller's segments. */
static void
test_large_requests(void **state)
{
	int srv;
	struct nbd_conn *conn = open_pair(&srv, ALL_FLAGS, 512);
	static uint8_t wbuf[8][65536], rbuf[8][65536], got[65536];
	struct iovec iov[8][3];
	struct wire_req r;

	(void)state;
	for (int i = 0; i < 8; i++) {
		memset(wbuf[i], 0x10 + i, sizeof(wbuf[i]));
		iov[i][0] = (struct iovec){ wbuf[i], 512 };
		iov[i][1] = (struct iovec){ wbuf[i] + 512, 3584 };
		iov[i][2] = (struct iovec){ wbuf[i] + 4096, 61440 };
		assert_int_equal(nbd_submit(conn, NBD_OP_WRITE, (uint64_t)i * 65536, 65536, iov[i],
					    3, (uint64_t)i),
				 0);
	}
	for (int i = 0; i < 8; i++) {
		assert_true(nbd_process(conn) >= 0);
		if (!srv_req(srv, &r))
			fail_msg("request %d never came", i);
		assert_int_equal(r.type, 1);
		assert_true(r.offset == (uint64_t)i * 65536);
		for (size_t got_len = 0; got_len < 65536;) {
			ssize_t n;

			assert_true(nbd_process(conn) >= 0);
			n = read(srv, got + got_len, 65536 - got_len);
			assert_true(n > 0);
			got_len += (size_t)n;
		}
		for (int j = 0; j < 65536; j++)
			if (got[j] != 0x10 + i)
				fail_msg("write %d byte %d: %#x", i, j, got[j]);
		srv_reply(srv, REPLY_MAGIC, 0, r.cookie);
	}
	pump(conn, 8);
	assert_int_equal(ndone, 8);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(dones[i].cookie, i);
		assert_int_equal(dones[i].status, 0);
	}

	/* Reads: replies written in odd pieces while the client runs. */
	ndone = 0;
	for (int i = 0; i < 8; i++) {
		iov[i][0] = (struct iovec){ rbuf[i], 100 };
		iov[i][1] = (struct iovec){ rbuf[i] + 100, 65436 };
		assert_int_equal(nbd_submit(conn, NBD_OP_READ, (uint64_t)i * 65536, 65536, iov[i],
					    2, (uint64_t)i),
				 0);
	}
	assert_int_equal(nbd_process(conn), 0);
	uint64_t cookies[8];

	for (int i = 0; i < 8; i++) {
		assert_true(srv_req(srv, &r));
		cookies[i] = r.cookie;
	}
	for (int i = 7; i >= 0; i--) {
		uint8_t h[16];

		be(h, REPLY_MAGIC, 4);
		be(h + 4, 0, 4);
		be(h + 8, cookies[i], 8);
		memset(got, 0x80 + i, sizeof(got));
		/* The header with a few payload bytes, then the rest in two. */
		xwrite(srv, h, sizeof(h));
		xwrite(srv, got, 10);
		assert_true(nbd_process(conn) >= 0);
		xwrite(srv, got + 10, 30000);
		assert_true(nbd_process(conn) >= 0);
		xwrite(srv, got + 30010, 65536 - 30010);
	}
	pump(conn, 8);
	assert_int_equal(ndone, 8);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(dones[i].cookie, 7 - i);
		assert_int_equal(dones[i].status, 0);
		for (int j = 0; j < 65536; j++)
			if (rbuf[i][j] != 0x80 + i)
				fail_msg("read %d byte %d: %#x", i, j, rbuf[i][j]);
	}
	nbd_close(conn);
	close(srv);
}

enum breakage {
	B_BAD_MAGIC,
	B_STRUCTURED,
	B_UNKNOWN_COOKIE,
	B_STALE_COOKIE,
	B_DUPLICATE,
	B_TRUNCATED_HEADER,
	B_TRUNCATED_PAYLOAD,
};

/* A broken reply (or a hang-up with no reconnect configured) fails every
 * request in flight with -EIO and leaves the connection dead. */
static void
test_broken_replies(void **state)
{
	(void)state;
	for (int b = B_BAD_MAGIC; b <= B_TRUNCATED_PAYLOAD; b++) {
		int srv;
		struct nbd_conn *conn = open_pair(&srv, ALL_FLAGS, 0);
		static uint8_t buf[2][4096], junk[4096];
		struct iovec iov[2] = { { buf[0], 4096 }, { buf[1], 4096 } };
		struct wire_req r[2];
		struct nbd_stats st;

		assert_int_equal(nbd_submit(conn, NBD_OP_READ, 0, 4096, &iov[0], 1, 1), 0);
		assert_int_equal(nbd_submit(conn, NBD_OP_READ, 4096, 4096, &iov[1], 1, 2), 0);
		assert_int_equal(nbd_process(conn), 0);
		assert_true(srv_req(srv, &r[0]));
		assert_true(srv_req(srv, &r[1]));
		switch (b) {
		case B_BAD_MAGIC:
			srv_reply(srv, 0xdeadbeef, 0, r[0].cookie);
			break;
		case B_STRUCTURED:
			srv_reply(srv, 0x668e33ef, 0, r[0].cookie);
			break;
		case B_UNKNOWN_COOKIE:
			srv_reply(srv, REPLY_MAGIC, 0, r[0].cookie ^ 0x5555);
			break;
		case B_STALE_COOKIE:
			srv_reply(srv, REPLY_MAGIC, 0, r[0].cookie + (1ull << 32));
			break;
		case B_DUPLICATE: /* the first completes; its second reply is unknown */
			srv_reply(srv, REPLY_MAGIC, 5, r[0].cookie);
			srv_reply(srv, REPLY_MAGIC, 5, r[0].cookie);
			break;
		case B_TRUNCATED_HEADER:
			xwrite(srv, "\x67\x44\x66", 3);
			shutdown(srv, SHUT_WR);
			break;
		case B_TRUNCATED_PAYLOAD:
			srv_reply(srv, REPLY_MAGIC, 0, r[0].cookie);
			xwrite(srv, junk, 1000);
			shutdown(srv, SHUT_WR);
			break;
		}
		pump(conn, 2);
		if (ndone != 2)
			fail_msg("breakage %d: %u completions", b, ndone);
		assert_int_equal(dones[0].cookie, 1);
		assert_int_equal(dones[1].cookie, 2);
		assert_int_equal(dones[0].status, -EIO);
		assert_int_equal(dones[1].status, -EIO);
		assert_int_equal(nbd_process(conn), -ENOTCONN);
		assert_int_equal(nbd_fd(conn), -1);
		assert_int_equal(nbd_submit(conn, NBD_OP_READ, 0, 4096, &iov[0], 1, 3), -ENOTCONN);
		assert_true(strlen(nbd_errmsg(conn)) > 0);
		nbd_get_stats(conn, &st);
		assert_int_equal(st.protocol_errors,
				 b == B_TRUNCATED_HEADER || b == B_TRUNCATED_PAYLOAD ? 0 : 1);
		nbd_close(conn);
		close(srv);
	}
}

/* A server that takes requests and never answers: after the request
 * timeout the connection counts as lost (no reconnect configured here, so
 * the requests fail). Idle time before a request does not count. */
static void
test_request_timeout(void **state)
{
	char err[256] = "";
	struct nbd_conf c = conf_of(err, sizeof(err));
	struct nbd_conn *conn = NULL;
	static uint8_t buf[4096];
	struct iovec iov = { buf, sizeof(buf) };
	struct timespec t0, t1;
	struct wire_req r;
	int srv, cfd = pair(&srv), to;
	long ms;

	(void)state;
	ndone = 0;
	c.request_timeout_ms = 200;
	srv_go(srv, SIZE, ALL_FLAGS, 0);
	assert_int_equal(nbd_connect_fd(cfd, &c, &conn), 0);
	srv_expect_go(srv, "disk");
	assert_int_equal(nbd_timeout_ms(conn), -1);
	usleep(300 * 1000); /* idle longer than the timeout: harmless */
	assert_int_equal(nbd_process(conn), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(nbd_submit(conn, NBD_OP_READ, 0, 4096, &iov, 1, 1), 0);
	assert_int_equal(nbd_process(conn), 0);
	to = nbd_timeout_ms(conn);
	assert_true(to > 100 && to <= 200);
	assert_true(srv_req(srv, &r));
	pump(conn, 1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_int_equal(ndone, 1);
	assert_int_equal(dones[0].status, -EIO);
	/* The client keeps time in whole ms (now_ms() truncates), so it may
	 * give up up to 1 ms of real time early; seen under qemu-user. */
	assert_in_range(ms, 199, 1999);
	assert_non_null(strstr(nbd_errmsg(conn), "no progress from the server in 200 ms"));
	assert_int_equal(nbd_process(conn), -ENOTCONN);
	nbd_close(conn);
	close(srv);
}

/* ---- reconnect: a threaded server on a unix socket ---- */

struct rsrv {
	int lfd;
	char path[108];
	int mode; /* 0: drop once then serve; 1: drop and stop listening;
		   * 2: the export shrinks; 3: like 0 with a slow handshake */
	bool ok;
};

static void
serve_handshake(int fd, uint64_t size)
{
	uint8_t b[64];

	srv_go(fd, size, ALL_FLAGS, 512);
	assert_true(xread(fd, b, 4 + 16 + 4 + 4 + 4)); /* flags, GO, "disk", info req */
}

static void *
rsrv_main(void *arg)
{
	struct rsrv *s = arg;
	struct timeval tv = { .tv_sec = 5 };
	struct wire_req r[3];
	uint8_t data[4096];
	int fd;

	fd = accept(s->lfd, NULL, NULL);
	if (fd < 0)
		return NULL;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	serve_handshake(fd, SIZE);
	/* Take the requests (the write's payload half), answer nothing, drop. */
	if (!srv_req(fd, &r[0]) || !srv_req(fd, &r[1]) || !xread(fd, data, 1000))
		goto out;
	close(fd);
	if (s->mode == 1) {
		close(s->lfd);
		s->lfd = -1;
		unlink(s->path);
		s->ok = true;
		return NULL;
	}
	fd = accept(s->lfd, NULL, NULL);
	if (fd < 0)
		return NULL;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (s->mode == 3)
		usleep(300 * 1000);
	serve_handshake(fd, s->mode == 2 ? SIZE / 2 : SIZE);
	if (s->mode == 2) {
		s->ok = true;
		goto out;
	}
	/* Replayed in submission order: the read, the write, the flush. */
	if (!srv_req(fd, &r[0]) || !srv_req(fd, &r[1]) || r[0].type != 0 || r[1].type != 1 ||
	    r[0].offset != 4096 || r[1].offset != 8192 || !xread(fd, data, 4096) ||
	    data[0] != 0xee || data[4095] != 0xee || !srv_req(fd, &r[2]) || r[2].type != 3)
		goto out;
	memset(data, 0x42, sizeof(data));
	srv_reply(fd, REPLY_MAGIC, 0, r[1].cookie);
	srv_reply(fd, REPLY_MAGIC, 0, r[0].cookie);
	xwrite(fd, data, 4096);
	srv_reply(fd, REPLY_MAGIC, 0, r[2].cookie);
	s->ok = true;
	/* Wait for the client to hang up. */
	(void)!read(fd, data, sizeof(data));
out:
	close(fd);
	return NULL;
}

/* The reconnect tests' socket directory, removed by remove_tmp_dir() even
 * when a test fails half way. */
static char tmp_dir[64];

static int
remove_tmp_dir(void **state)
{
	char path[128];

	(void)state;
	if (tmp_dir[0] != '\0') {
		snprintf(path, sizeof(path), "%s/s", tmp_dir);
		unlink(path);
		rmdir(tmp_dir);
		tmp_dir[0] = '\0';
	}
	return 0;
}

static void
reconnect_case(int mode)
{
	struct rsrv s = { .mode = mode };
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char *dir = tmp_dir, uri[200], err[256] = "";
	struct nbd_conf c = conf_of(err, sizeof(err));
	struct nbd_conn *conn = NULL;
	static uint8_t rd[4096], wr[4096];
	struct iovec ir = { rd, 4096 }, iw = { wr, 4096 };
	struct nbd_stats st;
	pthread_t th;

	snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/nv-nbd-unit-XXXXXX");
	assert_non_null(mkdtemp(tmp_dir));
	snprintf(s.path, sizeof(s.path), "%s/s", dir);
	snprintf(uri, sizeof(uri), "nbd+unix:///disk?socket=%s", s.path);
	memcpy(sun.sun_path, s.path, strlen(s.path));
	s.lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(s.lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(s.lfd, 4), 0);
	assert_int_equal(pthread_create(&th, NULL, rsrv_main, &s), 0);

	ndone = 0;
	c.uri = uri;
	c.max_reconnects = 3;
	c.reconnect_delay_ms = 20;
	c.connect_timeout_ms = 500;
	assert_int_equal(nbd_connect(&c, &conn), 0);
	memset(wr, 0xee, sizeof(wr));
	assert_int_equal(nbd_submit(conn, NBD_OP_READ, 4096, 4096, &ir, 1, 1), 0);
	assert_int_equal(nbd_submit(conn, NBD_OP_WRITE, 8192, 4096, &iw, 1, 2), 0);
	assert_int_equal(nbd_submit(conn, NBD_OP_FLUSH, 0, 0, NULL, 0, 3), 0);
	if (mode == 3) {
		/* The attempt runs on its own thread: the loop never blocks in
		 * it, however slow the server's handshake. */
		bool saw_attempt = false;

		for (int i = 0; i < 200 && ndone < 3; i++) {
			struct timespec a, b;

			clock_gettime(CLOCK_MONOTONIC, &a);
			(void)nbd_process(conn);
			clock_gettime(CLOCK_MONOTONIC, &b);
			assert_true((b.tv_sec - a.tv_sec) * 1000 +
					    (b.tv_nsec - a.tv_nsec) / 1000000 <
				    100);
			if (nbd_fd(conn) < 0 && nbd_timeout_ms(conn) == 10)
				saw_attempt = true;
			usleep(10 * 1000);
		}
		assert_true(saw_attempt);
	}
	pump(conn, 3);
	nbd_get_stats(conn, &st);
	assert_int_equal(ndone, 3);
	if (mode == 0 || mode == 3) {
		assert_int_equal(dones[0].cookie, 2);
		assert_int_equal(dones[1].cookie, 1);
		assert_int_equal(dones[2].cookie, 3);
		for (int i = 0; i < 3; i++)
			assert_int_equal(dones[i].status, 0);
		assert_int_equal(rd[0], 0x42);
		assert_int_equal(rd[4095], 0x42);
		assert_int_equal(st.reconnects, 1);
		assert_int_equal(st.replayed, 3);
		assert_true(nbd_fd(conn) >= 0);
	} else {
		/* Attempts run out: everything fails, in submission order. */
		for (int i = 0; i < 3; i++) {
			assert_int_equal(dones[i].cookie, (uint64_t)i + 1);
			assert_int_equal(dones[i].status, -EIO);
		}
		assert_int_equal(st.reconnects, 0);
		assert_non_null(strstr(nbd_errmsg(conn),
				       mode == 1 ? "reconnect 3/3 failed" : "the export changed"));
		assert_int_equal(nbd_process(conn), -ENOTCONN);
		assert_int_equal(nbd_fd(conn), -1);
	}
	nbd_close(conn);
	pthread_join(th, NULL);
	assert_true(s.ok);
	if (s.lfd >= 0)
		close(s.lfd);
	unlink(s.path);
	rmdir(dir);
	tmp_dir[0] = '\0';
}

static void
test_reconnect_replay(void **state)
{
	(void)state;
	reconnect_case(0);
}

static void
test_reconnect_gives_up(void **state)
{
	(void)state;
	reconnect_case(1);
}

static void
test_reconnect_export_changed(void **state)
{
	(void)state;
	reconnect_case(2);
}

static void
test_reconnect_never_blocks(void **state)
{
	(void)state;
	reconnect_case(3);
}

static void
test_connect_errors(void **state)
{
	char err[256] = "";
	struct nbd_conf c = conf_of(err, sizeof(err));
	struct nbd_conn *conn = NULL;

	(void)state;
	c.uri = "nbd+unix:///x?socket=/nonexistent/dir/sock";
	assert_int_equal(nbd_connect(&c, &conn), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/dir/sock"));
	c.uri = "nbd:/bad";
	assert_int_equal(nbd_connect(&c, &conn), -EINVAL);
	assert_non_null(strstr(err, "bad NBD address"));
	c.uri = "nbd://127.0.0.1:1/x"; /* nothing listens on port 1 */
	assert_int_equal(nbd_connect(&c, &conn), -ECONNREFUSED);
	c.complete = NULL;
	assert_int_equal(nbd_connect(&c, &conn), -EINVAL);
	assert_null(conn);
	nbd_close(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uri),
		cmocka_unit_test(test_handshake_go),
		cmocka_unit_test(test_handshake_export_name_fallback),
		cmocka_unit_test(test_handshake_not_fixed),
		cmocka_unit_test(test_handshake_failures),
		cmocka_unit_test(test_submit_validation),
		cmocka_unit_test(test_transmission),
		cmocka_unit_test(test_large_requests),
		cmocka_unit_test(test_broken_replies),
		cmocka_unit_test(test_request_timeout),
		cmocka_unit_test_teardown(test_reconnect_replay, remove_tmp_dir),
		cmocka_unit_test_teardown(test_reconnect_gives_up, remove_tmp_dir),
		cmocka_unit_test_teardown(test_reconnect_export_changed, remove_tmp_dir),
		cmocka_unit_test_teardown(test_reconnect_never_blocks, remove_tmp_dir),
		cmocka_unit_test(test_connect_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
