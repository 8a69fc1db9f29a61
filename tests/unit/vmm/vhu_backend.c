/* SPDX-License-Identifier: MIT */
/* The scripted vhost-user backend of the unit tests (vhu_backend.h). */
#include "vhu_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

static void
send_reply(struct backend *b, uint32_t req, uint32_t flags, const void *p, uint32_t size, int fd)
{
	uint8_t buf[12 + 16];
	union {
		char c[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = 12 + size };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	memcpy(buf, &req, 4);
	memcpy(buf + 4, &flags, 4);
	memcpy(buf + 8, &size, 4);
	/* Every answer here is at most 8 bytes; a bigger size is a lie and
	 * the rest never comes. */
	memcpy(buf + 12, p, size > 8 ? 8 : size);
	if (size > 8)
		iov.iov_len = 12 + 8;
	if (fd >= 0) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.c;
		mh.msg_controllen = sizeof(ctl.c);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	assert_true(sendmsg(b->fd, &mh, MSG_NOSIGNAL) > 0);
}

/* GET_CONFIG: the same offset and size back, with the bytes. */
static bool
answer_config(struct backend *b, const struct seen *s)
{
	uint8_t buf[12 + 12 + VMM_VHU_CONFIG_MAX] = { 0 };
	uint32_t req = s->request, flags = VMM_VHU_VERSION | VMM_VHU_FLAG_REPLY, off = 0, len = 0;

	if (s->size >= 12) {
		memcpy(&off, s->payload, 4);
		memcpy(&len, s->payload + 4, 4);
	}
	if (s->size != 12 + len || off > VMM_VHU_CONFIG_MAX || len > VMM_VHU_CONFIG_MAX - off)
		return false;
	if (s->request == b->bad_on) {
		if (b->bad == BAD_CLOSE)
			return false;
		if (b->bad == BAD_WRONG_REQUEST)
			req = VMM_VHU_GET_FEATURES;
		if (b->bad == BAD_INDEX)
			off++;
	}
	memcpy(buf, &req, 4);
	memcpy(buf + 4, &flags, 4);
	memcpy(buf + 8, &s->size, 4);
	memcpy(buf + 12, &off, 4);
	memcpy(buf + 16, &len, 4);
	memcpy(buf + 24, b->config + off - (s->request == b->bad_on && b->bad == BAD_INDEX), len);
	if (s->request == b->bad_on && b->bad == BAD_SIZE) {
		len--;
		memcpy(buf + 16, &len, 4);
	}
	return send(b->fd, buf, 12 + s->size, MSG_NOSIGNAL) == (ssize_t)(12 + s->size);
}

/* GET_INFLIGHT_FD: a memfd of 4 KiB per queue (bad: BAD_SIZE no fd,
 * BAD_HUGE_SIZE an area of 2 GiB, BAD_CLOSE as for the others). */
static bool
answer_inflight(struct backend *b, const struct seen *s)
{
	uint8_t buf[12 + VMM_VHU_INFLIGHT_SIZE] = { 0 };
	uint32_t flags = VMM_VHU_VERSION | VMM_VHU_FLAG_REPLY, size = VMM_VHU_INFLIGHT_SIZE;
	uint16_t nq = 0;
	uint64_t mmap_size;
	union {
		char c[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	bool bad = s->request == b->bad_on;
	int fd;
	bool ok;

	if (s->size != VMM_VHU_INFLIGHT_SIZE || (bad && b->bad == BAD_CLOSE))
		return false;
	memcpy(&nq, s->payload + 16, 2);
	mmap_size = bad && b->bad == BAD_HUGE_SIZE ? 2ull << 30 : 4096ull * nq;
	fd = memfd_create("inflight", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)(4096 * nq)), 0);
	memcpy(buf, &s->request, 4);
	memcpy(buf + 4, &flags, 4);
	memcpy(buf + 8, &size, 4);
	memcpy(buf + 12, &mmap_size, 8);
	memcpy(buf + 12 + 16, s->payload + 16, 4);
	if (!(bad && b->bad == BAD_SIZE)) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.c;
		mh.msg_controllen = sizeof(ctl.c);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	ok = sendmsg(b->fd, &mh, MSG_NOSIGNAL) == (ssize_t)sizeof(buf);
	close(fd);
	return ok;
}

/* Answer one request as told; false when the backend should stop. */
static bool
answer(struct backend *b, const struct seen *s)
{
	uint32_t flags = VMM_VHU_VERSION | VMM_VHU_FLAG_REPLY, req = s->request, size = 8;
	uint64_t v = 0;
	uint32_t state[2];
	const void *p = &v;
	bool wants = s->flags & VMM_VHU_FLAG_NEED_REPLY;
	int fd = -1;

	switch (s->request) {
	case VMM_VHU_GET_CONFIG:
		return answer_config(b, s);
	case VMM_VHU_GET_INFLIGHT_FD:
		return answer_inflight(b, s);
	case VMM_VHU_GET_FEATURES:
		v = b->features ? b->features : FEATURES;
		if (!b->protocol)
			v &= ~(1ull << 30);
		wants = true;
		break;
	case VMM_VHU_GET_PROTOCOL_FEATURES:
		v = PROTO_OFFERED;
		wants = true;
		break;
	case VMM_VHU_GET_QUEUE_NUM:
		v = b->queue_num;
		wants = true;
		break;
	case VMM_VHU_GET_VRING_BASE:
		memcpy(state, s->payload, 4);
		state[1] = 42;
		p = state;
		wants = true;
		break;
	default:
		break;
	}
	if (!wants)
		return true;
	if (s->request == b->bad_on) {
		switch (b->bad) {
		case BAD_WRONG_REQUEST:
			req = VMM_VHU_GET_QUEUE_NUM + 100;
			break;
		case BAD_NO_REPLY_FLAG:
			flags = VMM_VHU_VERSION;
			break;
		case BAD_VERSION:
			flags = 2 | VMM_VHU_FLAG_REPLY;
			break;
		case BAD_SIZE:
			size = 4;
			break;
		case BAD_WITH_FD:
			fd = eventfd(0, 0);
			break;
		case BAD_CLOSE:
			return false;
		case BAD_SILENT:
			return true;
		case BAD_ACK:
			v = 1;
			break;
		case BAD_INDEX:
			state[0] = 99;
			break;
		case BAD_HUGE_SIZE:
			size = 1u << 20;
			break;
		case BAD_HALF:
			send_reply(b, req, flags, p, 0, -1);
			return false; /* a header, then nothing */
		default:
			break;
		}
	}
	send_reply(b, req, flags, p, size, fd);
	if (fd >= 0)
		close(fd);
	return true;
}

static bool
read_exact(int fd, void *buf, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = read(fd, (uint8_t *)buf + done, n - done);

		if (r <= 0)
			return false;
		done += (size_t)r;
	}
	return true;
}

static void
serve(struct backend *b)
{
	for (;;) {
		struct seen one = { 0 }, *s = &one;
		union {
			char c[CMSG_SPACE(sizeof(int) * 8)];
			struct cmsghdr align;
		} ctl;
		uint8_t hdr[12];
		struct iovec iov = { .iov_base = hdr, .iov_len = 12 };
		struct msghdr mh = {
			.msg_iov = &iov,
			.msg_iovlen = 1,
			.msg_control = ctl.c,
			.msg_controllen = sizeof(ctl.c),
		};
		ssize_t r = recvmsg(b->fd, &mh, MSG_WAITALL);

		if (r != 12)
			break;
		memcpy(&s->request, hdr, 4);
		memcpy(&s->flags, hdr + 4, 4);
		memcpy(&s->size, hdr + 8, 4);
		s->fds_valid = true;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			unsigned int n = (unsigned int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));

			for (unsigned int i = 0; i < n; i++) {
				int fd;

				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				s->fds_valid &= fcntl(fd, F_GETFD) >= 0;
				close(fd);
			}
			s->nfds += n;
		}
		if (s->size > VMM_VHU_MAX_PAYLOAD || !read_exact(b->fd, s->payload, s->size))
			break;
		pthread_mutex_lock(&b->lock);
		s->conn = b->conns;
		if (b->nseen < MAX_SEEN)
			b->seen[b->nseen++] = *s;
		pthread_mutex_unlock(&b->lock);
		if (!answer(b, s))
			break;
	}
	shutdown(b->fd, SHUT_RDWR);
}

void *
backend_main(void *arg)
{
	struct backend *b = arg;

	if (b->ls < 0) {
		pthread_mutex_lock(&b->lock);
		b->conns = 1;
		pthread_mutex_unlock(&b->lock);
		serve(b);
		return NULL;
	}
	for (;;) {
		int fd = accept(b->ls, NULL, NULL);

		if (fd < 0)
			return NULL; /* the test shut the listening socket down */
		pthread_mutex_lock(&b->lock);
		b->conns++;
		b->fd = fd;
		pthread_mutex_unlock(&b->lock);
		serve(b);
		close(fd);
	}
}

unsigned int
backend_seen(struct backend *b, struct seen *out, unsigned int max)
{
	unsigned int n;

	pthread_mutex_lock(&b->lock);
	n = b->nseen < max ? b->nseen : max;
	memcpy(out, b->seen, n * sizeof(*out));
	pthread_mutex_unlock(&b->lock);
	return n;
}
