/* SPDX-License-Identifier: MIT */
/*
 * Unit tests: vmm/vhost_user.c against a scripted backend on the other
 * end of a socket pair (a thread of this test). What the frontend sends
 * (the handshake, payloads and file descriptors), and that every
 * malformed answer is refused: wrong request, no reply flag, another
 * version, the wrong size, file descriptors where none belong, a vring
 * index that is not the one asked for, a refusal through REPLY_ACK, a
 * backend that closes or says nothing. After a refusal the connection is
 * broken and refuses everything.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "vhost_user.h"
#include "vhu_backend.h"

static int
start(struct backend *b, bool protocol, uint64_t queue_num, uint32_t bad_on, enum bad bad)
{
	int sv[2];

	memset(b, 0, sizeof(*b));
	pthread_mutex_init(&b->lock, NULL);
	b->ls = -1;
	b->protocol = protocol;
	b->queue_num = queue_num;
	b->bad_on = bad_on;
	b->bad = bad;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	b->fd = sv[1];
	assert_int_equal(pthread_create(&b->th, NULL, backend_main, b), 0);
	return sv[0];
}

static void
stop(struct backend *b, struct vmm_vhu *v)
{
	vmm_vhu_close(v);
	pthread_join(b->th, NULL);
	close(b->fd);
}

static uint64_t
u64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static void
test_codec(void **state)
{
	uint8_t buf[64], hdr[12];
	uint64_t v = 0x1122334455667788ull;
	char why[128];
	uint32_t x;

	(void)state;
	assert_int_equal(vmm_vhu_encode(buf, sizeof(buf), 2, VMM_VHU_FLAG_NEED_REPLY, &v, 8), 20);
	memcpy(&x, buf, 4);
	assert_int_equal(x, 2);
	memcpy(&x, buf + 4, 4);
	assert_int_equal(x, VMM_VHU_VERSION | VMM_VHU_FLAG_NEED_REPLY);
	memcpy(&x, buf + 8, 4);
	assert_int_equal(x, 8);
	assert_int_equal(u64(buf + 12), v);
	assert_int_equal(vmm_vhu_encode(buf, 19, 2, 0, &v, 8), 0); /* no room */
	assert_int_equal(vmm_vhu_encode(buf, sizeof(buf), 2, 0, &v, VMM_VHU_MAX_PAYLOAD + 1), 0);

#define HDR(req, flags, size)                                                                      \
	do {                                                                                       \
		uint32_t h_[3] = { req, flags, size };                                             \
		memcpy(hdr, h_, 12);                                                               \
	} while (0)
	HDR(1, 5, 8);
	assert_int_equal(vmm_vhu_check_reply(hdr, 1, 8, why, sizeof(why)), 0);
	HDR(1, 1, 8);
	assert_int_equal(vmm_vhu_check_reply(hdr, 1, 8, why, sizeof(why)), -EPROTO);
	assert_non_null(strstr(why, "reply flag"));
	HDR(1, 6, 8);
	assert_int_equal(vmm_vhu_check_reply(hdr, 1, 8, why, sizeof(why)), -EPROTO);
	assert_non_null(strstr(why, "version"));
	HDR(2, 5, 8);
	assert_int_equal(vmm_vhu_check_reply(hdr, 1, 8, why, sizeof(why)), -EPROTO);
	HDR(1, 5, 9);
	assert_int_equal(vmm_vhu_check_reply(hdr, 1, 8, why, sizeof(why)), -EPROTO);
	assert_non_null(strstr(why, "9 bytes"));
#undef HDR
}

/* vmm_vhu_parse_reply: a whole message, header and payload, no socket. */
static void
test_parse_reply(void **state)
{
	struct vmm_vhu_reply r;
	uint8_t msg[32];
	char why[128];

	(void)state;
#define MSG(req, flags, size, a, b)                                                                \
	do {                                                                                       \
		uint32_t m_[5] = { req, flags, size, a, b };                                       \
		memcpy(msg, m_, 20);                                                               \
	} while (0)
	MSG(VMM_VHU_GET_FEATURES, 5, 8, 0x89abcdef, 0x1234567);
	assert_int_equal(
		vmm_vhu_parse_reply(msg, 20, VMM_VHU_GET_FEATURES, false, 0, &r, why, sizeof(why)),
		0);
	assert_true(r.u64 == 0x0123456789abcdefull);
	/* Truncated anywhere: refused, nothing read past len (ASan). */
	for (size_t len = 0; len < 20; len++) {
		uint8_t *cut = malloc(len ? len : 1);

		memcpy(cut, msg, len);
		assert_int_equal(vmm_vhu_parse_reply(cut, len, VMM_VHU_GET_FEATURES, false, 0, &r,
						     why, sizeof(why)),
				 -EPROTO);
		free(cut);
	}
	/* Bytes after the message are not the message's. */
	assert_int_equal(vmm_vhu_parse_reply(msg, sizeof(msg), VMM_VHU_GET_FEATURES, false, 0, &r,
					     why, sizeof(why)),
			 0);

	MSG(VMM_VHU_GET_QUEUE_NUM, 5, 8, VMM_VHU_MAX_QUEUES, 0);
	assert_int_equal(
		vmm_vhu_parse_reply(msg, 20, VMM_VHU_GET_QUEUE_NUM, false, 0, &r, why, sizeof(why)),
		0);
	assert_int_equal(r.u64, VMM_VHU_MAX_QUEUES);
	MSG(VMM_VHU_GET_QUEUE_NUM, 5, 8, VMM_VHU_MAX_QUEUES + 1, 0);
	assert_int_equal(
		vmm_vhu_parse_reply(msg, 20, VMM_VHU_GET_QUEUE_NUM, false, 0, &r, why, sizeof(why)),
		-EPROTO);
	assert_non_null(strstr(why, "257 queues"));
	MSG(VMM_VHU_GET_QUEUE_NUM, 5, 8, 0, 1); /* 2^32: not 0, still too many */
	assert_int_equal(
		vmm_vhu_parse_reply(msg, 20, VMM_VHU_GET_QUEUE_NUM, false, 0, &r, why, sizeof(why)),
		-EPROTO);

	MSG(VMM_VHU_GET_VRING_BASE, 5, 8, 3, 0xffff);
	assert_int_equal(vmm_vhu_parse_reply(msg, 20, VMM_VHU_GET_VRING_BASE, false, 3, &r, why,
					     sizeof(why)),
			 0);
	assert_int_equal(r.index, 3);
	assert_int_equal(r.num, 0xffff);
	assert_int_equal(vmm_vhu_parse_reply(msg, 20, VMM_VHU_GET_VRING_BASE, false, 4, &r, why,
					     sizeof(why)),
			 -EPROTO);
	assert_non_null(strstr(why, "answered for vring 3"));
	MSG(VMM_VHU_GET_VRING_BASE, 5, 8, 3, 0x10000);
	assert_int_equal(vmm_vhu_parse_reply(msg, 20, VMM_VHU_GET_VRING_BASE, false, 3, &r, why,
					     sizeof(why)),
			 -EPROTO);
	assert_non_null(strstr(why, "16-bit"));

	/* REPLY_ACK: 0 is done, anything else a refusal; no ack, no reply. */
	MSG(VMM_VHU_SET_VRING_NUM, 5, 8, 0, 0);
	assert_int_equal(
		vmm_vhu_parse_reply(msg, 20, VMM_VHU_SET_VRING_NUM, true, 0, &r, why, sizeof(why)),
		0);
	MSG(VMM_VHU_SET_VRING_NUM, 5, 8, 0, 1);
	assert_int_equal(
		vmm_vhu_parse_reply(msg, 20, VMM_VHU_SET_VRING_NUM, true, 0, &r, why, sizeof(why)),
		-EIO);
	assert_non_null(strstr(why, "refused request 8"));
	assert_int_equal(
		vmm_vhu_parse_reply(msg, 20, VMM_VHU_SET_VRING_NUM, false, 0, &r, why, sizeof(why)),
		-EPROTO);
	/* An ack where the request has a reply of its own is that reply. */
	assert_int_equal(vmm_vhu_reply_size(VMM_VHU_GET_FEATURES, true), 8);
	assert_int_equal(vmm_vhu_reply_size(VMM_VHU_SET_OWNER, false), 0);
#undef MSG
}

static void
test_handshake_and_requests(void **state)
{
	struct backend b;
	struct vmm_vhu *v = NULL;
	struct vmm_vhu_region r[2] = {
		{ .gpa = 0, .size = 0xc0000000, .uaddr = 0x7f0000000000, .mmap_offset = 0 },
		{ .gpa = 1ull << 32,
		  .size = 1 << 30,
		  .uaddr = 0x7f00c0000000,
		  .mmap_offset = 0xc0000000 },
	};
	int fd = start(&b, true, 4, 0, BAD_NONE), efd = eventfd(0, EFD_CLOEXEC);
	unsigned int base = 0;
	char err[256];

	(void)state;
	assert_int_equal(vmm_vhu_open(fd, 2000, &v, err, sizeof(err)), 0);
	assert_int_equal(v->features, FEATURES);
	/* Only what we use, of what is offered. */
	assert_int_equal(v->protocol, (1ull << 0) | (1ull << 3));
	assert_int_equal(v->queue_num, 4);

	assert_int_equal(vmm_vhu_set_features(v, (1ull << 32) | (1ull << 30)), 0);
	assert_int_equal(vmm_vhu_set_mem_table(v, r, 2, efd), 0);
	assert_int_equal(vmm_vhu_set_vring_num(v, 1, 256), 0);
	assert_int_equal(vmm_vhu_set_vring_addr(v, 1, 0x1000, 0x3000, 0x2000), 0);
	assert_int_equal(vmm_vhu_set_vring_base(v, 1, 7), 0);
	assert_int_equal(vmm_vhu_set_vring_kick(v, 1, efd), 0);
	assert_int_equal(vmm_vhu_set_vring_call(v, 1, -1), 0);
	assert_int_equal(vmm_vhu_set_vring_enable(v, 1, true), 0);
	assert_int_equal(vmm_vhu_get_vring_base(v, 1, &base), 0);
	assert_int_equal(base, 42);
	/* Arguments out of range never reach the wire, and break nothing. */
	assert_int_equal(vmm_vhu_set_vring_num(v, VMM_VHU_MAX_QUEUES, 1), -EINVAL);
	assert_int_equal(vmm_vhu_set_mem_table(v, r, 0, efd), -EINVAL);
	assert_int_equal(vmm_vhu_set_mem_table(v, r, VMM_VHU_MAX_REGIONS + 1, efd), -EINVAL);
	assert_false(v->broken);
	stop(&b, v);

	/* What went over the wire, in order. */
	{
		static const uint32_t order[] = {
			VMM_VHU_GET_FEATURES,
			VMM_VHU_GET_PROTOCOL_FEATURES,
			VMM_VHU_SET_PROTOCOL_FEATURES,
			VMM_VHU_GET_QUEUE_NUM,
			VMM_VHU_SET_OWNER,
			VMM_VHU_SET_FEATURES,
			VMM_VHU_SET_MEM_TABLE,
			VMM_VHU_SET_VRING_NUM,
			VMM_VHU_SET_VRING_ADDR,
			VMM_VHU_SET_VRING_BASE,
			VMM_VHU_SET_VRING_KICK,
			VMM_VHU_SET_VRING_CALL,
			VMM_VHU_SET_VRING_ENABLE,
			VMM_VHU_GET_VRING_BASE,
		};
		const struct seen *s;
		uint32_t x;

		assert_int_equal(b.nseen, sizeof(order) / sizeof(order[0]));
		for (unsigned int i = 0; i < b.nseen; i++) {
			assert_int_equal(b.seen[i].request, order[i]);
			assert_int_equal(b.seen[i].flags & 3, 1);
			/* REPLY_ACK from SET_PROTOCOL_FEATURES's answer on. */
			if (i > 2 && order[i] != VMM_VHU_GET_QUEUE_NUM &&
			    order[i] != VMM_VHU_GET_VRING_BASE)
				assert_true(b.seen[i].flags & VMM_VHU_FLAG_NEED_REPLY);
		}
		assert_int_equal(u64(b.seen[2].payload), (1ull << 0) | (1ull << 3));
		s = &b.seen[6]; /* SET_MEM_TABLE: 2 regions, an fd each */
		assert_int_equal(s->size, 8 + 2 * 32);
		assert_int_equal(s->nfds, 2);
		assert_true(s->fds_valid);
		memcpy(&x, s->payload, 4);
		assert_int_equal(x, 2);
		assert_int_equal(u64(s->payload + 8 + 32), 1ull << 32);
		assert_int_equal(u64(s->payload + 8 + 32 + 16), 0x7f00c0000000);
		assert_int_equal(u64(s->payload + 8 + 32 + 24), 0xc0000000);
		s = &b.seen[8]; /* SET_VRING_ADDR: index, flags, desc, used, avail, log */
		assert_int_equal(s->size, 40);
		assert_int_equal(u64(s->payload + 8), 0x1000);
		assert_int_equal(u64(s->payload + 16), 0x3000);
		assert_int_equal(u64(s->payload + 24), 0x2000);
		s = &b.seen[10]; /* SET_VRING_KICK with an fd */
		assert_int_equal(u64(s->payload), 1);
		assert_int_equal(s->nfds, 1);
		s = &b.seen[11]; /* SET_VRING_CALL without: the NOFD bit */
		assert_int_equal(u64(s->payload), 1 | VMM_VHU_VRING_NOFD);
		assert_int_equal(s->nfds, 0);
	}
	close(efd);
}

static void
test_no_protocol_features(void **state)
{
	struct backend b;
	struct vmm_vhu *v = NULL;
	int fd = start(&b, false, 0, 0, BAD_NONE);
	char err[256];

	(void)state;
	assert_int_equal(vmm_vhu_open(fd, 2000, &v, err, sizeof(err)), 0);
	assert_int_equal(v->protocol, 0);
	assert_int_equal(v->queue_num, 0);
	assert_int_equal(vmm_vhu_set_vring_num(v, 0, 64), 0); /* no ack asked */
	stop(&b, v);
	assert_int_equal(b.nseen, 3);
	assert_int_equal(b.seen[0].request, VMM_VHU_GET_FEATURES);
	assert_int_equal(b.seen[1].request, VMM_VHU_SET_OWNER);
	assert_int_equal(b.seen[1].flags, VMM_VHU_VERSION);
	assert_int_equal(b.seen[2].flags, VMM_VHU_VERSION);
}

/* A backend that answers `on` badly: the call fails with rc and the
 * connection refuses everything after. */
static void
expect_refused(uint32_t on, enum bad bad, int rc, const char *why)
{
	struct backend b;
	struct vmm_vhu *v = NULL;
	int fd = start(&b, true, on == VMM_VHU_GET_QUEUE_NUM ? 0 : 4, on, bad);
	char err[256] = "";
	unsigned int base;
	int got;

	if (on == VMM_VHU_GET_FEATURES || on == VMM_VHU_GET_QUEUE_NUM) {
		got = vmm_vhu_open(fd, 300, &v, err, sizeof(err));
		assert_int_equal(got, rc);
		assert_null(v);
		if (strstr(err, why) == NULL)
			fail_msg("'%s' does not say '%s'", err, why);
		pthread_join(b.th, NULL);
		close(b.fd);
		return;
	}
	assert_int_equal(vmm_vhu_open(fd, 300, &v, err, sizeof(err)), 0);
	if (on == VMM_VHU_GET_VRING_BASE)
		got = vmm_vhu_get_vring_base(v, 3, &base);
	else
		got = vmm_vhu_set_vring_num(v, 0, 64);
	assert_int_equal(got, rc);
	assert_true(v->broken);
	if (strstr(v->why, why) == NULL)
		fail_msg("'%s' does not say '%s'", v->why, why);
	assert_int_equal(vmm_vhu_set_vring_enable(v, 0, true), -EPIPE);
	stop(&b, v);
}

static void
test_malformed_replies(void **state)
{
	(void)state;
	expect_refused(VMM_VHU_GET_FEATURES, BAD_WRONG_REQUEST, -EPROTO, "reply to request 117");
	expect_refused(VMM_VHU_GET_FEATURES, BAD_NO_REPLY_FLAG, -EPROTO, "reply flag");
	expect_refused(VMM_VHU_GET_FEATURES, BAD_VERSION, -EPROTO, "version 2");
	expect_refused(VMM_VHU_GET_FEATURES, BAD_SIZE, -EPROTO, "4 bytes, not 8");
	expect_refused(VMM_VHU_GET_FEATURES, BAD_HUGE_SIZE, -EPROTO, "1048576 bytes");
	expect_refused(VMM_VHU_GET_FEATURES, BAD_WITH_FD, -EPROTO, "with fds");
	expect_refused(VMM_VHU_GET_FEATURES, BAD_CLOSE, -EPIPE, "closed");
	expect_refused(VMM_VHU_GET_FEATURES, BAD_SILENT, -ETIMEDOUT, "no answer");
	expect_refused(VMM_VHU_GET_FEATURES, BAD_HALF, -EPROTO, "0 bytes, not 8");
	expect_refused(VMM_VHU_GET_QUEUE_NUM, BAD_NONE, -EPROTO, "GET_QUEUE_NUM"); /* 0 */
	expect_refused(VMM_VHU_GET_VRING_BASE, BAD_INDEX, -EPROTO, "answered for vring 99");
	expect_refused(VMM_VHU_GET_VRING_BASE, BAD_WITH_FD, -EPROTO, "with fds");
	expect_refused(VMM_VHU_SET_VRING_NUM, BAD_ACK, -EIO, "refused request 8");
	expect_refused(VMM_VHU_SET_VRING_NUM, BAD_SIZE, -EPROTO, "4 bytes, not 8");
	expect_refused(VMM_VHU_SET_VRING_NUM, BAD_CLOSE, -EPIPE, "closed");
}

static void
test_queue_num_bounds(void **state)
{
	struct backend b;
	struct vmm_vhu *v = NULL;
	char err[256];
	int fd = start(&b, true, VMM_VHU_MAX_QUEUES + 1, 0, BAD_NONE);

	(void)state;
	assert_int_equal(vmm_vhu_open(fd, 300, &v, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "257 queues"));
	pthread_join(b.th, NULL);
	close(b.fd);
}

static void
test_connect(void **state)
{
	struct vmm_vhu *v = NULL;
	char dir[] = "/tmp/nv-vhu-test.XXXXXX", path[256], err[256], longp[200];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct backend b;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sock", dir);
	assert_int_equal(vmm_vhu_connect(path, 300, &v, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, path));
	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = 0;
	assert_int_equal(vmm_vhu_connect(longp, 300, &v, err, sizeof(err)), -ENAMETOOLONG);
	/* A socket file nobody listens on. */
	memset(&b, 0, sizeof(b));
	pthread_mutex_init(&b.lock, NULL);
	b.ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_int_equal(bind(b.ls, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(vmm_vhu_connect(path, 300, &v, err, sizeof(err)), -ECONNREFUSED);
	/* Listening, a backend on the accepted connection. */
	assert_int_equal(listen(b.ls, 1), 0);
	b.fd = -1;
	b.protocol = true;
	b.queue_num = 2;
	assert_int_equal(pthread_create(&b.th, NULL, backend_main, &b), 0);
	assert_int_equal(vmm_vhu_connect(path, 2000, &v, err, sizeof(err)), 0);
	assert_int_equal(v->queue_num, 2);
	vmm_vhu_close(v);
	shutdown(b.ls, SHUT_RDWR);
	pthread_join(b.th, NULL);
	close(b.ls);
	unlink(path);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_codec),
		cmocka_unit_test(test_parse_reply),
		cmocka_unit_test(test_handshake_and_requests),
		cmocka_unit_test(test_no_protocol_features),
		cmocka_unit_test(test_malformed_replies),
		cmocka_unit_test(test_queue_num_bounds),
		cmocka_unit_test(test_connect),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
