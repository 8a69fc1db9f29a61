/* SPDX-License-Identifier: MIT */
/* Daemon <-> child messages over a SOCK_SEQPACKET socketpair. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "nv_wire.h"
#include "shim.h"

int
shim_sock_send(int sock, const void *buf, size_t len, const int *fds, unsigned int nfds, int flags)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * SHIM_CHAN_MAX_FDS)];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t w;

	if (nfds > SHIM_CHAN_MAX_FDS)
		return -EINVAL;
	if (nfds > 0) {
		struct cmsghdr *cm;

		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	do {
		w = sendmsg(sock, &mh, flags | MSG_NOSIGNAL);
	} while (w < 0 && errno == EINTR);
	if (w >= 0)
		return 0;
	return errno == ECONNRESET || errno == ENOTCONN ? -EPIPE : -errno;
}

/* Take the fds out of a received message; close what does not fit. */
static unsigned int
take_fds(struct msghdr *mh, int *fds, unsigned int max)
{
	unsigned int got = 0;

	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm != NULL; cm = CMSG_NXTHDR(mh, cm)) {
		size_t n;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (fds != NULL && got < max)
				fds[got++] = fd;
			else
				close(fd);
		}
	}
	return got;
}

ssize_t
shim_sock_recv(int sock, void *buf, size_t cap, int *fds, unsigned int max, unsigned int *nfds,
	       int flags)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * SHIM_CHAN_MAX_FDS)];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = buf, .iov_len = cap };
	struct msghdr mh = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = u.buf,
		.msg_controllen = sizeof(u.buf),
	};
	unsigned int got;
	ssize_t r;

	if (nfds != NULL)
		*nfds = 0;
	do {
		r = recvmsg(sock, &mh, flags | MSG_CMSG_CLOEXEC);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno == ECONNRESET ? -EPIPE : -errno;
	got = take_fds(&mh, fds, max);
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		for (unsigned int i = 0; i < got; i++)
			close(fds[i]);
		return -EMSGSIZE;
	}
	if (nfds != NULL)
		*nfds = got;
	return r;
}

int
shim_chan_send(int sock, const ProtobufCMessage *msg, const int *fds, unsigned int nfds, int flags)
{
	uint8_t *buf;
	size_t len;
	int rc;

	if (nfds > SHIM_CHAN_MAX_FDS)
		return -EINVAL;
	rc = nv_wire_pack_buf(msg, &buf, &len);
	if (rc < 0)
		return rc;
	if (len == 0 || len > SHIM_CHAN_MAX_MSG)
		rc = -EMSGSIZE; /* a zero-length packet reads as end of stream */
	else
		rc = shim_sock_send(sock, buf, len, fds, nfds, flags);
	free(buf);
	return rc;
}

int
shim_chan_recv(int sock, const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out, int *fds,
	       unsigned int *nfds, int flags)
{
	unsigned int got = 0;
	uint8_t *buf;
	ssize_t r;
	int rc;

	*out = NULL;
	if (nfds != NULL)
		*nfds = 0;
	buf = malloc(SHIM_CHAN_MAX_MSG);
	if (buf == NULL)
		return -ENOMEM;
	r = shim_sock_recv(sock, buf, SHIM_CHAN_MAX_MSG, fds, SHIM_CHAN_MAX_FDS, &got, flags);
	if (r < 0)
		rc = (int)r;
	else if (r == 0)
		rc = -EPIPE;
	else
		rc = nv_wire_unpack(desc, buf, (size_t)r, out);
	free(buf);
	if (rc < 0) {
		for (unsigned int i = 0; i < got; i++)
			close(fds[i]);
		return rc;
	}
	if (nfds != NULL)
		*nfds = got;
	return 0;
}

#define BAD(...)                                                                                   \
	do {                                                                                       \
		snprintf(why, n, __VA_ARGS__);                                                     \
		return -EINVAL;                                                                    \
	} while (0)

int
shim_child_control_check(const Nicvisor__V1__ChildControl *c, unsigned int nfds, char *why,
			 size_t n)
{
	const Nicvisor__V1__ChildBoot *b;

	switch (c->op_case) {
	case NICVISOR__V1__CHILD_CONTROL__OP_BOOT:
		b = c->boot;
		if (!shim_vm_id_ok(b->vm_id))
			BAD("boot.vm_id: not a vm id");
		if (b->spec == NULL)
			BAD("boot.spec: missing");
		if (b->spec->vcpus < 1 || b->spec->vcpus > SHIM_VCPUS_MAX)
			BAD("boot.spec.vcpus: %u is out of range", b->spec->vcpus);
		if (b->spec->memory_mib < 1 || b->spec->memory_mib > (1u << 24))
			BAD("boot.spec.memory_mib: out of range");
		if (strlen(b->spec->cmdline) > SHIM_CMDLINE_MAX)
			BAD("boot.spec.cmdline: too long");
		if (strlen(b->stop_on_console) > 256)
			BAD("boot.stop_on_console: too long");
		if (nfds != (b->has_initrd ? 2u : 1u))
			BAD("boot: %u image fds, expected %u", nfds, b->has_initrd ? 2u : 1u);
		if ((unsigned int)b->sandbox > NICVISOR__V1__SANDBOX_MODE__SANDBOX_MODE_OFF)
			BAD("boot.sandbox: unknown mode %d", (int)b->sandbox);
		if (b->sandbox != NICVISOR__V1__SANDBOX_MODE__SANDBOX_MODE_OFF &&
		    (b->vm_uid == 0 || b->vm_gid == 0))
			BAD("boot.vm_uid, vm_gid: %u:%u is root, a sandbox needs an unprivileged "
			    "user",
			    b->vm_uid, b->vm_gid);
		if (shim_nics_check(b->nics, b->n_nics, "boot.nics", NULL, why, n) < 0)
			return -EINVAL;
		/* The sender lowered the queues to the vCPUs already. */
		return shim_disks_check(b->disks, b->n_disks, "boot.disks",
					b->spec->vcpus < SHIM_DISK_QUEUES_MAX
						? b->spec->vcpus
						: SHIM_DISK_QUEUES_MAX,
					0, NULL, why, n);
	case NICVISOR__V1__CHILD_CONTROL__OP_STOP:
		if (nfds != 0)
			BAD("stop: unexpected fds");
		return 0;
	default:
		BAD("op: unknown (%d)", (int)c->op_case);
	}
}

int
shim_child_event_check(const Nicvisor__V1__ChildEvent *ev, char *why, size_t n)
{
	const Nicvisor__V1__ChildState *st;

	switch (ev->kind_case) {
	case NICVISOR__V1__CHILD_EVENT__KIND_STATE:
		st = ev->state;
		if (st->state != NICVISOR__V1__VM_STATE__VM_STATE_RUNNING &&
		    st->state != NICVISOR__V1__VM_STATE__VM_STATE_STOPPED &&
		    st->state != NICVISOR__V1__VM_STATE__VM_STATE_FAILED)
			BAD("state.state: %d is not one a child reports", (int)st->state);
		if ((unsigned int)st->exit > NICVISOR__V1__EXIT_KIND__EXIT_KIND_DEBUG_EXIT)
			BAD("state.exit: unknown exit kind %d", (int)st->exit);
		if ((st->state == NICVISOR__V1__VM_STATE__VM_STATE_RUNNING) !=
		    (st->exit == NICVISOR__V1__EXIT_KIND__EXIT_KIND_NONE))
			BAD("state.exit: %d does not go with state %d", (int)st->exit,
			    (int)st->state);
		if (strlen(st->reason) >= 1024)
			BAD("state.reason: too long");
		return 0;
	case NICVISOR__V1__CHILD_EVENT__KIND_CONSOLE:
		if (ev->console->data.len == 0 || ev->console->data.len > SHIM_CONSOLE_CHUNK)
			BAD("console.data: %zu bytes", ev->console->data.len);
		return 0;
	default:
		BAD("kind: unknown (%d)", (int)ev->kind_case);
	}
}

int
shim_child_spawn(pid_t *pid_out, int *sock)
{
	static char *const argv[] = { "nicvisor-shim", "vm", "--control-fd", "3", NULL };
	sigset_t none;
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	sigemptyset(&none);
	pid = fork();
	if (pid < 0) {
		int rc = -errno;

		close(sv[0]);
		close(sv[1]);
		return rc;
	}
	if (pid == 0) {
		/* Only async-signal-safe calls until exec. */
		int null = open("/dev/null", O_RDONLY);

		if (null >= 0 && null != 0) {
			dup2(null, 0);
		}
		if (sv[1] == SHIM_CHILD_CONTROL_FD)
			fcntl(sv[1], F_SETFD, 0);
		else if (dup2(sv[1], SHIM_CHILD_CONTROL_FD) < 0)
			_exit(127);
		close_range(SHIM_CHILD_CONTROL_FD + 1, ~0u, 0);
		/* Its own process group: a terminal's ^C goes to the daemon,
		 * which stops its VMs in order. */
		setpgid(0, 0);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	close(sv[1]);
	*pid_out = pid;
	*sock = sv[0];
	return 0;
}
