/* SPDX-License-Identifier: MIT */
/*
 * vhost-user frontend (vhost_user.h). Message layout from vhost-user.rst
 * "Message Specification": a header of request, flags and payload size,
 * all 32-bit in native byte order, then the payload; file descriptors in
 * SCM_RIGHTS ancillary data of the same message.
 */
#define NV_LOG_COMPONENT "nicvisor.vmm.vhost-user"

#include "vhost_user.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "nv_log.h"

static uint64_t
now_ms(void)
{
	return nv_mono_ns() / 1000000;
}

static int
ms_left(uint64_t deadline)
{
	uint64_t now = now_ms();

	return now >= deadline ? 0 : (int)(deadline - now);
}

static int fail(struct vmm_vhu *v, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
fail(struct vmm_vhu *v, int rc, const char *fmt, ...)
{
	va_list ap;

	if (!v->broken) {
		va_start(ap, fmt);
		vsnprintf(v->why, sizeof(v->why), fmt, ap);
		va_end(ap);
	}
	v->broken = true;
	return rc;
}

size_t
vmm_vhu_encode(uint8_t *buf, size_t cap, uint32_t request, uint32_t flags, const void *payload,
	       uint32_t size)
{
	uint32_t f = (flags & ~VMM_VHU_VERSION_MASK) | VMM_VHU_VERSION;

	if (size > VMM_VHU_MAX_PAYLOAD || cap < VMM_VHU_HDR_SIZE + (size_t)size)
		return 0;
	memcpy(buf, &request, 4);
	memcpy(buf + 4, &f, 4);
	memcpy(buf + 8, &size, 4);
	if (size > 0)
		memcpy(buf + VMM_VHU_HDR_SIZE, payload, size);
	return VMM_VHU_HDR_SIZE + (size_t)size;
}

int
vmm_vhu_check_reply(const uint8_t hdr[VMM_VHU_HDR_SIZE], uint32_t request, uint32_t want_size,
		    char *why, size_t n)
{
	uint32_t req, flags, size;

	memcpy(&req, hdr, 4);
	memcpy(&flags, hdr + 4, 4);
	memcpy(&size, hdr + 8, 4);
	if ((flags & VMM_VHU_VERSION_MASK) != VMM_VHU_VERSION) {
		snprintf(why, n, "reply to request %u: version %u, not 1", request,
			 flags & VMM_VHU_VERSION_MASK);
		return -EPROTO;
	}
	if (!(flags & VMM_VHU_FLAG_REPLY)) {
		snprintf(why, n, "message %u without the reply flag where a reply to %u was due",
			 req, request);
		return -EPROTO;
	}
	if (req != request) {
		snprintf(why, n, "reply to request %u where a reply to %u was due", req, request);
		return -EPROTO;
	}
	if (size != want_size) {
		snprintf(why, n, "reply to request %u: payload of %u bytes, not %u", request, size,
			 want_size);
		return -EPROTO;
	}
	return 0;
}

uint32_t
vmm_vhu_reply_size(uint32_t request, bool ack)
{
	switch (request) {
	case VMM_VHU_GET_FEATURES:
	case VMM_VHU_GET_PROTOCOL_FEATURES:
	case VMM_VHU_GET_QUEUE_NUM:
		return 8; /* a u64 */
	case VMM_VHU_GET_VRING_BASE:
		return 8; /* struct vhost_vring_state */
	default:
		return ack ? 8 : 0; /* the u64 status of REPLY_ACK */
	}
}

int
vmm_vhu_parse_reply(const uint8_t *msg, size_t len, uint32_t request, bool ack, unsigned int index,
		    struct vmm_vhu_reply *out, char *why, size_t n)
{
	uint32_t want = vmm_vhu_reply_size(request, ack);
	const uint8_t *p;
	int rc;

	memset(out, 0, sizeof(*out));
	if (want == 0) {
		snprintf(why, n, "request %u has no reply", request);
		return -EPROTO;
	}
	if (len < VMM_VHU_HDR_SIZE) {
		snprintf(why, n, "reply to request %u: %zu bytes, no whole header", request, len);
		return -EPROTO;
	}
	rc = vmm_vhu_check_reply(msg, request, want, why, n);
	if (rc < 0)
		return rc;
	if (len - VMM_VHU_HDR_SIZE < want) {
		snprintf(why, n, "reply to request %u: %zu payload bytes, not %u", request,
			 len - VMM_VHU_HDR_SIZE, want);
		return -EPROTO;
	}
	p = msg + VMM_VHU_HDR_SIZE;
	if (request == VMM_VHU_GET_VRING_BASE) {
		memcpy(&out->index, p, 4);
		memcpy(&out->num, p + 4, 4);
		if (out->index != index) {
			snprintf(why, n, "GET_VRING_BASE for vring %u answered for vring %u", index,
				 out->index);
			return -EPROTO;
		}
		if (out->num > 0xffff) {
			snprintf(why, n, "GET_VRING_BASE: base %u is not a 16-bit index", out->num);
			return -EPROTO;
		}
		return 0;
	}
	memcpy(&out->u64, p, 8);
	if (request == VMM_VHU_GET_QUEUE_NUM && (out->u64 == 0 || out->u64 > VMM_VHU_MAX_QUEUES)) {
		snprintf(why, n, "GET_QUEUE_NUM: %llu queues", (unsigned long long)out->u64);
		return -EPROTO;
	}
	if (vmm_vhu_reply_size(request, false) == 0 && out->u64 != 0) {
		snprintf(why, n, "the backend refused request %u (status %llu)", request,
			 (unsigned long long)out->u64);
		return -EIO;
	}
	return 0;
}

/* Wait for the socket until the deadline. */
static int
wait_fd(struct vmm_vhu *v, short events, uint64_t deadline, const char *what)
{
	struct pollfd p = { .fd = v->fd, .events = events };

	for (;;) {
		int rc = poll(&p, 1, ms_left(deadline));

		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return fail(v, -errno, "%s: poll: %s", what, strerror(errno));
		if (rc == 0)
			return fail(v, -ETIMEDOUT, "%s: no answer in %d ms", what, v->timeout_ms);
		if (p.revents & events)
			return 0;
		return fail(v, -EPIPE, "%s: the backend closed the connection", what);
	}
}

static int
send_msg(struct vmm_vhu *v, uint32_t request, uint32_t flags, const void *payload, uint32_t size,
	 const int *fds, unsigned int nfds, uint64_t deadline)
{
	uint8_t buf[VMM_VHU_HDR_SIZE + VMM_VHU_MAX_PAYLOAD];
	union {
		char buf[CMSG_SPACE(sizeof(int) * VMM_VHU_MAX_REGIONS)];
		struct cmsghdr align;
	} ctl;
	size_t len = vmm_vhu_encode(buf, sizeof(buf), request, flags, payload, size), done = 0;

	if (len == 0 || nfds > VMM_VHU_MAX_REGIONS)
		return -EINVAL;
	while (done < len) {
		struct iovec iov = { .iov_base = buf + done, .iov_len = len - done };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t w;
		int rc;

		/* The fds travel with the first byte of the message. */
		if (done == 0 && nfds > 0) {
			struct cmsghdr *c;

			memset(&ctl, 0, sizeof(ctl));
			mh.msg_control = ctl.buf;
			mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
			c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
			memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
		}
		w = sendmsg(v->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			done += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno != EAGAIN)
			return fail(v, errno == EPIPE || errno == ECONNRESET ? -EPIPE : -errno,
				    "request %u: %s", request, strerror(errno));
		rc = wait_fd(v, POLLOUT, deadline, "send");
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Read exactly n bytes; fds that arrive are closed and refused. */
static int
recv_exact(struct vmm_vhu *v, uint8_t *buf, size_t n, uint64_t deadline, uint32_t request)
{
	size_t done = 0;

	while (done < n) {
		union {
			char buf[CMSG_SPACE(sizeof(int) * VMM_VHU_MAX_REGIONS)];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = { .iov_base = buf + done, .iov_len = n - done };
		struct msghdr mh = {
			.msg_iov = &iov,
			.msg_iovlen = 1,
			.msg_control = ctl.buf,
			.msg_controllen = sizeof(ctl.buf),
		};
		bool had_fds = false;
		ssize_t r;
		int rc;

		r = recvmsg(v->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (r >= 0) {
			for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL;
			     c = CMSG_NXTHDR(&mh, c)) {
				if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
					continue;
				for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
				     i++) {
					int fd;

					memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
					close(fd);
				}
				had_fds = true;
			}
			if (had_fds)
				return fail(v, -EPROTO, "reply to request %u came with fds",
					    request);
			if (mh.msg_flags & MSG_CTRUNC)
				return fail(v, -EPROTO, "reply to request %u: truncated fds",
					    request);
			if (r == 0)
				return fail(v, -EPIPE,
					    "the backend closed the connection (request %u)",
					    request);
			done += (size_t)r;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return fail(v, errno == ECONNRESET ? -EPIPE : -errno, "request %u: %s",
				    request, strerror(errno));
		rc = wait_fd(v, POLLIN, deadline, "reply");
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Receive the reply to `request` (ack: its REPLY_ACK), checked. */
static int
recv_reply(struct vmm_vhu *v, uint32_t request, bool ack, unsigned int index,
	   struct vmm_vhu_reply *out, uint64_t deadline)
{
	uint8_t msg[VMM_VHU_HDR_SIZE + 8];
	uint32_t want = vmm_vhu_reply_size(request, ack);
	char why[128];
	int rc;

	rc = recv_exact(v, msg, VMM_VHU_HDR_SIZE, deadline, request);
	if (rc < 0)
		return rc;
	/* The header first: its size says how much to read. */
	rc = vmm_vhu_check_reply(msg, request, want, why, sizeof(why));
	if (rc < 0)
		return fail(v, rc, "%s", why);
	rc = recv_exact(v, msg + VMM_VHU_HDR_SIZE, want, deadline, request);
	if (rc < 0)
		return rc;
	rc = vmm_vhu_parse_reply(msg, VMM_VHU_HDR_SIZE + want, request, ack, index, out, why,
				 sizeof(why));
	if (rc < 0)
		return fail(v, rc, "%s", why);
	return 0;
}

/* One request; with REPLY_ACK (or a request that always answers) waits
 * for the answer, into reply (may be NULL). */
static int
request(struct vmm_vhu *v, uint32_t req, const void *payload, uint32_t size, const int *fds,
	unsigned int nfds, unsigned int index, struct vmm_vhu_reply *reply)
{
	uint64_t deadline = now_ms() + (uint64_t)v->timeout_ms;
	bool answers = vmm_vhu_reply_size(req, false) != 0;
	bool ack = !answers && (v->protocol & (1ull << VMM_VHU_PROTOCOL_F_REPLY_ACK));
	struct vmm_vhu_reply r;
	int rc;

	if (v->broken)
		return -EPIPE;
	rc = send_msg(v, req, ack ? VMM_VHU_FLAG_NEED_REPLY : 0, payload, size, fds, nfds,
		      deadline);
	if (rc < 0 || (!answers && !ack))
		return rc;
	rc = recv_reply(v, req, ack, index, &r, deadline);
	if (rc == 0 && reply != NULL)
		*reply = r;
	return rc;
}

static int
get_u64(struct vmm_vhu *v, uint32_t req, uint64_t *val)
{
	struct vmm_vhu_reply r;
	int rc;

	rc = request(v, req, NULL, 0, NULL, 0, 0, &r);
	if (rc == 0)
		*val = r.u64;
	return rc;
}

static int
set_u64(struct vmm_vhu *v, uint32_t req, uint64_t val, const int *fds, unsigned int nfds)
{
	return request(v, req, &val, sizeof(val), fds, nfds, 0, NULL);
}

static int
set_state(struct vmm_vhu *v, uint32_t req, unsigned int index, unsigned int num)
{
	uint32_t st[2] = { index, num };

	if (index >= VMM_VHU_MAX_QUEUES)
		return -EINVAL;
	return request(v, req, st, sizeof(st), NULL, 0, 0, NULL);
}

static int
handshake(struct vmm_vhu *v, uint64_t want, char *err, size_t errlen)
{
	uint64_t proto = 0, qn = 0;
	int rc;

	rc = get_u64(v, VMM_VHU_GET_FEATURES, &v->features);
	if (rc == 0 && (v->features & (1ull << VMM_VHU_F_PROTOCOL_FEATURES))) {
		rc = get_u64(v, VMM_VHU_GET_PROTOCOL_FEATURES, &proto);
		proto &= want &
			 ((1ull << VMM_VHU_PROTOCOL_F_MQ) | (1ull << VMM_VHU_PROTOCOL_F_REPLY_ACK) |
			  (1ull << VMM_VHU_PROTOCOL_F_CONFIG) |
			  (1ull << VMM_VHU_PROTOCOL_F_INFLIGHT));
		if (rc == 0)
			rc = set_u64(v, VMM_VHU_SET_PROTOCOL_FEATURES, proto, NULL, 0);
		/* From here on requests may ask for acknowledgements. */
		if (rc == 0)
			v->protocol = proto;
		/* The reply is checked: 1..VMM_VHU_MAX_QUEUES. */
		if (rc == 0 && (proto & (1ull << VMM_VHU_PROTOCOL_F_MQ))) {
			rc = get_u64(v, VMM_VHU_GET_QUEUE_NUM, &qn);
			v->queue_num = (uint32_t)qn;
		}
	}
	if (rc == 0)
		rc = request(v, VMM_VHU_SET_OWNER, NULL, 0, NULL, 0, 0, NULL);
	if (rc < 0)
		snprintf(err, errlen, "handshake: %s", v->why);
	return rc;
}

int
vmm_vhu_open(int fd, int timeout_ms, struct vmm_vhu **out, char *err, size_t errlen)
{
	return vmm_vhu_open_proto(fd, timeout_ms, VMM_VHU_PROTOCOL_DEFAULT, out, err, errlen);
}

int
vmm_vhu_open_proto(int fd, int timeout_ms, uint64_t protocol, struct vmm_vhu **out, char *err,
		   size_t errlen)
{
	struct vmm_vhu *v;
	int flags, rc;

	v = calloc(1, sizeof(*v));
	if (v == NULL) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	v->fd = fd;
	v->timeout_ms = timeout_ms > 0 ? timeout_ms : 1000;
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		rc = -errno;
		snprintf(err, errlen, "fcntl: %s", strerror(errno));
		vmm_vhu_close(v);
		return rc;
	}
	rc = handshake(v, protocol, err, errlen);
	if (rc < 0) {
		vmm_vhu_close(v);
		return rc;
	}
	*out = v;
	return 0;
}

int
vmm_vhu_connect(const char *path, int timeout_ms, struct vmm_vhu **out, char *err, size_t errlen)
{
	return vmm_vhu_connect_proto(path, timeout_ms, VMM_VHU_PROTOCOL_DEFAULT, out, err, errlen);
}

static vmm_connect_fn connector;
static void *connector_opaque;

void
vmm_set_connector(vmm_connect_fn fn, void *opaque)
{
	connector = fn;
	connector_opaque = opaque;
}

int
vmm_vhu_connect_proto(const char *path, int timeout_ms, uint64_t protocol, struct vmm_vhu **out,
		      char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, rc;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "%s: path longer than %zu bytes", path,
			 sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	if (connector != NULL) {
		fd = connector(connector_opaque, path, err, errlen);
		return fd < 0 ? fd : vmm_vhu_open_proto(fd, timeout_ms, protocol, out, err, errlen);
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return rc;
	}
	/* A UNIX stream connect completes or fails at once (or EAGAIN when
	 * the backlog is full, which is "try again later" too). */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return rc;
	}
	return vmm_vhu_open_proto(fd, timeout_ms, protocol, out, err, errlen);
}

void
vmm_vhu_close(struct vmm_vhu *v)
{
	if (v == NULL)
		return;
	if (v->fd >= 0)
		close(v->fd);
	free(v);
}

int
vmm_vhu_set_features(struct vmm_vhu *v, uint64_t features)
{
	return set_u64(v, VMM_VHU_SET_FEATURES, features, NULL, 0);
}

int
vmm_vhu_set_mem_table(struct vmm_vhu *v, const struct vmm_vhu_region *r, unsigned int n, int fd)
{
	uint8_t payload[VMM_VHU_MEM_SIZE] = { 0 };
	int fds[VMM_VHU_MAX_REGIONS];
	uint32_t nregions = n;

	if (n == 0 || n > VMM_VHU_MAX_REGIONS || fd < 0)
		return -EINVAL;
	memcpy(payload, &nregions, 4);
	for (unsigned int i = 0; i < n; i++) {
		uint8_t *p = payload + 8 + (size_t)i * VMM_VHU_REGION_SIZE;

		memcpy(p, &r[i].gpa, 8);
		memcpy(p + 8, &r[i].size, 8);
		memcpy(p + 16, &r[i].uaddr, 8);
		memcpy(p + 24, &r[i].mmap_offset, 8);
		fds[i] = fd;
	}
	/* The payload ends after the regions in use, as QEMU sends it. */
	return request(v, VMM_VHU_SET_MEM_TABLE, payload, 8 + n * VMM_VHU_REGION_SIZE, fds, n, 0,
		       NULL);
}

int
vmm_vhu_set_vring_num(struct vmm_vhu *v, unsigned int index, unsigned int num)
{
	return set_state(v, VMM_VHU_SET_VRING_NUM, index, num);
}

int
vmm_vhu_set_vring_addr(struct vmm_vhu *v, unsigned int index, uint64_t desc, uint64_t used,
		       uint64_t avail)
{
	uint8_t p[VMM_VHU_ADDR_SIZE] = { 0 };
	uint32_t idx = index;

	if (index >= VMM_VHU_MAX_QUEUES)
		return -EINVAL;
	/* index, flags (no logging), descriptor, used, available, log. */
	memcpy(p, &idx, 4);
	memcpy(p + 8, &desc, 8);
	memcpy(p + 16, &used, 8);
	memcpy(p + 24, &avail, 8);
	return request(v, VMM_VHU_SET_VRING_ADDR, p, sizeof(p), NULL, 0, 0, NULL);
}

int
vmm_vhu_set_vring_base(struct vmm_vhu *v, unsigned int index, unsigned int base)
{
	return set_state(v, VMM_VHU_SET_VRING_BASE, index, base);
}

int
vmm_vhu_get_vring_base(struct vmm_vhu *v, unsigned int index, unsigned int *base)
{
	uint32_t st[2] = { index, 0 };
	struct vmm_vhu_reply r;
	int rc;

	if (index >= VMM_VHU_MAX_QUEUES)
		return -EINVAL;
	/* The reply is checked: this vring, a 16-bit base. */
	rc = request(v, VMM_VHU_GET_VRING_BASE, st, sizeof(st), NULL, 0, index, &r);
	if (rc < 0)
		return rc;
	*base = r.num;
	return 0;
}

static int
set_vring_fd(struct vmm_vhu *v, uint32_t req, unsigned int index, int fd)
{
	if (index >= VMM_VHU_MAX_QUEUES)
		return -EINVAL;
	if (fd < 0)
		return set_u64(v, req, index | VMM_VHU_VRING_NOFD, NULL, 0);
	return set_u64(v, req, index, &fd, 1);
}

int
vmm_vhu_set_vring_kick(struct vmm_vhu *v, unsigned int index, int fd)
{
	return set_vring_fd(v, VMM_VHU_SET_VRING_KICK, index, fd);
}

int
vmm_vhu_set_vring_call(struct vmm_vhu *v, unsigned int index, int fd)
{
	return set_vring_fd(v, VMM_VHU_SET_VRING_CALL, index, fd);
}

int
vmm_vhu_set_vring_enable(struct vmm_vhu *v, unsigned int index, bool enable)
{
	return set_state(v, VMM_VHU_SET_VRING_ENABLE, index, enable ? 1 : 0);
}

int
vmm_vhu_parse_config_reply(const uint8_t *msg, size_t mlen, uint32_t off, uint32_t len,
			   uint8_t *buf, char *why, size_t n)
{
	uint32_t roff, rsize;
	int rc;

	if (mlen < VMM_VHU_HDR_SIZE) {
		snprintf(why, n, "GET_CONFIG reply: %zu bytes, no whole header", mlen);
		return -EPROTO;
	}
	rc = vmm_vhu_check_reply(msg, VMM_VHU_GET_CONFIG, VMM_VHU_CONFIG_HDR_SIZE + len, why, n);
	if (rc < 0)
		return rc;
	if (mlen - VMM_VHU_HDR_SIZE < VMM_VHU_CONFIG_HDR_SIZE + (size_t)len) {
		snprintf(why, n, "GET_CONFIG reply: %zu payload bytes, not %u",
			 mlen - VMM_VHU_HDR_SIZE, VMM_VHU_CONFIG_HDR_SIZE + len);
		return -EPROTO;
	}
	memcpy(&roff, msg + VMM_VHU_HDR_SIZE, 4);
	memcpy(&rsize, msg + VMM_VHU_HDR_SIZE + 4, 4);
	if (roff != off || rsize != len) {
		snprintf(why, n, "GET_CONFIG of %u bytes at %u answered with %u bytes at %u", len,
			 off, rsize, roff);
		return -EPROTO;
	}
	memcpy(buf, msg + VMM_VHU_HDR_SIZE + VMM_VHU_CONFIG_HDR_SIZE, len);
	return 0;
}

int
vmm_vhu_get_config(struct vmm_vhu *v, uint32_t off, uint8_t *buf, uint32_t len)
{
	uint8_t req[VMM_VHU_CONFIG_HDR_SIZE + VMM_VHU_CONFIG_MAX] = { 0 };
	uint8_t msg[VMM_VHU_HDR_SIZE + VMM_VHU_CONFIG_HDR_SIZE + VMM_VHU_CONFIG_MAX];
	uint32_t size = VMM_VHU_CONFIG_HDR_SIZE + len, want;
	uint64_t deadline;
	char why[128];
	int rc;

	if (len == 0 || len > VMM_VHU_CONFIG_MAX)
		return -EINVAL;
	if (!(v->protocol & (1ull << VMM_VHU_PROTOCOL_F_CONFIG)))
		return -ENOTSUP;
	if (v->broken)
		return -EPIPE;
	deadline = now_ms() + (uint64_t)v->timeout_ms;
	/* offset, size, flags 0 (VHOST_SET_CONFIG_TYPE_FRONTEND), the bytes. */
	memcpy(req, &off, 4);
	memcpy(req + 4, &len, 4);
	rc = send_msg(v, VMM_VHU_GET_CONFIG, 0, req, size, NULL, 0, deadline);
	if (rc < 0)
		return rc;
	rc = recv_exact(v, msg, VMM_VHU_HDR_SIZE, deadline, VMM_VHU_GET_CONFIG);
	if (rc < 0)
		return rc;
	rc = vmm_vhu_check_reply(msg, VMM_VHU_GET_CONFIG, size, why, sizeof(why));
	if (rc < 0)
		return fail(v, rc, "%s", why);
	want = size;
	rc = recv_exact(v, msg + VMM_VHU_HDR_SIZE, want, deadline, VMM_VHU_GET_CONFIG);
	if (rc < 0)
		return rc;
	rc = vmm_vhu_parse_config_reply(msg, VMM_VHU_HDR_SIZE + want, off, len, buf, why,
					sizeof(why));
	if (rc < 0)
		return fail(v, rc, "%s", why);
	return 0;
}

#define INFLIGHT_MAX_SIZE (1ull << 30)

static void
encode_inflight(uint8_t *p, const struct vmm_vhu_inflight *inf)
{
	memset(p, 0, VMM_VHU_INFLIGHT_SIZE);
	memcpy(p, &inf->mmap_size, 8);
	memcpy(p + 8, &inf->mmap_offset, 8);
	memcpy(p + 16, &inf->num_queues, 2);
	memcpy(p + 18, &inf->queue_size, 2);
}

int
vmm_vhu_parse_inflight_reply(const uint8_t *msg, size_t mlen, unsigned int nfds,
			     struct vmm_vhu_inflight *inf, char *why, size_t n)
{
	const uint8_t *p = msg + VMM_VHU_HDR_SIZE;
	int rc;

	if (mlen < VMM_VHU_HDR_SIZE + VMM_VHU_INFLIGHT_SIZE) {
		snprintf(why, n, "GET_INFLIGHT_FD reply: %zu bytes, not %d", mlen,
			 VMM_VHU_HDR_SIZE + VMM_VHU_INFLIGHT_SIZE);
		return -EPROTO;
	}
	rc = vmm_vhu_check_reply(msg, VMM_VHU_GET_INFLIGHT_FD, VMM_VHU_INFLIGHT_SIZE, why, n);
	if (rc < 0)
		return rc;
	if (nfds != 1) {
		snprintf(why, n, "GET_INFLIGHT_FD reply with %u fds, not 1", nfds);
		return -EPROTO;
	}
	memset(inf, 0, sizeof(*inf));
	inf->fd = -1;
	memcpy(&inf->mmap_size, p, 8);
	memcpy(&inf->mmap_offset, p + 8, 8);
	memcpy(&inf->num_queues, p + 16, 2);
	memcpy(&inf->queue_size, p + 18, 2);
	if (inf->mmap_size == 0 || inf->mmap_size > INFLIGHT_MAX_SIZE ||
	    inf->mmap_offset > INFLIGHT_MAX_SIZE) {
		snprintf(why, n, "GET_INFLIGHT_FD: an area of %llu bytes at %llu",
			 (unsigned long long)inf->mmap_size, (unsigned long long)inf->mmap_offset);
		return -EPROTO;
	}
	return 0;
}

int
vmm_vhu_get_inflight_fd(struct vmm_vhu *v, uint16_t num_queues, uint16_t queue_size,
			struct vmm_vhu_inflight *inf)
{
	struct vmm_vhu_inflight q = { .num_queues = num_queues, .queue_size = queue_size };
	uint8_t req[VMM_VHU_INFLIGHT_SIZE], msg[VMM_VHU_HDR_SIZE + VMM_VHU_INFLIGHT_SIZE];
	union {
		char buf[CMSG_SPACE(sizeof(int) * VMM_VHU_MAX_REGIONS)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = msg, .iov_len = VMM_VHU_HDR_SIZE };
	struct msghdr mh = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = ctl.buf,
		.msg_controllen = sizeof(ctl.buf),
	};
	int fds[VMM_VHU_MAX_REGIONS];
	unsigned int nfds = 0;
	uint64_t deadline;
	char why[128];
	ssize_t r;
	int rc;

	if (num_queues == 0 || queue_size == 0)
		return -EINVAL;
	if (!(v->protocol & (1ull << VMM_VHU_PROTOCOL_F_INFLIGHT)))
		return -ENOTSUP;
	if (v->broken)
		return -EPIPE;
	deadline = now_ms() + (uint64_t)v->timeout_ms;
	encode_inflight(req, &q);
	rc = send_msg(v, VMM_VHU_GET_INFLIGHT_FD, 0, req, sizeof(req), NULL, 0, deadline);
	if (rc < 0)
		return rc;
	/* The header comes with the fd (the backend sends it with the first
	 * byte, as we do). */
	rc = wait_fd(v, POLLIN, deadline, "reply");
	if (rc < 0)
		return rc;
	do
		r = recvmsg(v->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_WAITALL);
	while (r < 0 && errno == EINTR);
	if (r <= 0)
		return fail(v, r == 0 ? -EPIPE : -errno, "GET_INFLIGHT_FD: %s",
			    r == 0 ? "the backend closed the connection" : strerror(errno));
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++)
			memcpy(&fds[nfds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
	}
	if (mh.msg_flags & MSG_CTRUNC) {
		rc = fail(v, -EPROTO, "GET_INFLIGHT_FD reply: truncated fds");
		goto out_close;
	}
	if ((size_t)r < VMM_VHU_HDR_SIZE) {
		rc = recv_exact(v, msg + r, VMM_VHU_HDR_SIZE - (size_t)r, deadline,
				VMM_VHU_GET_INFLIGHT_FD);
		if (rc < 0)
			goto out_close;
	}
	rc = vmm_vhu_check_reply(msg, VMM_VHU_GET_INFLIGHT_FD, VMM_VHU_INFLIGHT_SIZE, why,
				 sizeof(why));
	if (rc < 0) {
		rc = fail(v, rc, "%s", why);
		goto out_close;
	}
	rc = recv_exact(v, msg + VMM_VHU_HDR_SIZE, VMM_VHU_INFLIGHT_SIZE, deadline,
			VMM_VHU_GET_INFLIGHT_FD);
	if (rc < 0)
		goto out_close;
	rc = vmm_vhu_parse_inflight_reply(msg, sizeof(msg), nfds, inf, why, sizeof(why));
	if (rc < 0) {
		rc = fail(v, rc, "%s", why);
		goto out_close;
	}
	inf->fd = fds[0];
	return 0;

out_close:
	for (unsigned int i = 0; i < nfds; i++)
		close(fds[i]);
	return rc;
}

int
vmm_vhu_set_inflight_fd(struct vmm_vhu *v, const struct vmm_vhu_inflight *inf)
{
	uint8_t p[VMM_VHU_INFLIGHT_SIZE];

	if (inf->fd < 0)
		return -EINVAL;
	if (!(v->protocol & (1ull << VMM_VHU_PROTOCOL_F_INFLIGHT)))
		return -ENOTSUP;
	encode_inflight(p, inf);
	return request(v, VMM_VHU_SET_INFLIGHT_FD, p, sizeof(p), &inf->fd, 1, 0, NULL);
}
