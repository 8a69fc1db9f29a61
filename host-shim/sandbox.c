/* SPDX-License-Identifier: MIT */
/*
 * The VM process's sandbox (docs/shim.md "Sandbox"). Once the VM is built
 * (guest memory, vCPUs, device backends connected) and before its vCPUs
 * run guest code, the process:
 *  - keeps only its own descriptors (child.c closes the rest at start);
 *  - sets no_new_privs, drops its supplementary groups and becomes an
 *    unprivileged uid and gid;
 *  - installs a seccomp allow-list on every thread (libseccomp, TSYNC):
 *    any other system call kills the whole process with SIGSYS, which is
 *    this VM and nothing else.
 * A backend that restarts must be connected to again, which needs
 * socket() and a path the VM's uid may not reach. That is the connector:
 * a small process forked before the drop, still root, that connects only
 * to the sockets this VM was given and passes the descriptor back
 * (SCM_RIGHTS). It has its own, shorter allow-list.
 */
#define NV_LOG_COMPONENT "nicvisor.shim.sandbox"

#include <errno.h>
#include <grp.h>
#include <linux/kvm.h>
#include <pwd.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "nv_log.h"
#include "shim.h"

#define NOBODY_ID      65534u
#define CONNECT_WAIT_S 5

int
shim_sandbox_parse_mode(const char *s, enum shim_sandbox_mode *out)
{
	static const char *const names[] = {
		[SHIM_SANDBOX_ENFORCE] = "enforce",
		[SHIM_SANDBOX_LOG] = "log",
		[SHIM_SANDBOX_OFF] = "off",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (enum shim_sandbox_mode)i;
			return 0;
		}
	}
	return -EINVAL;
}

int
shim_sandbox_parse_user(const char *s, uint32_t *uid, uint32_t *gid, char *err, size_t errlen)
{
	const struct passwd *pw;
	unsigned long long u, g;
	char *end;

	if (s[0] >= '0' && s[0] <= '9') {
		u = strtoull(s, &end, 10);
		g = u;
		if (*end == ':') {
			if (end[1] < '0' || end[1] > '9') {
				snprintf(err, errlen, "%s: expected UID[:GID] or a user name", s);
				return -EINVAL;
			}
			g = strtoull(end + 1, &end, 10);
		}
		if (*end != 0 || u >= UINT32_MAX || g >= UINT32_MAX) {
			snprintf(err, errlen, "%s: expected UID[:GID] or a user name", s);
			return -EINVAL;
		}
	} else if ((pw = getpwnam(s)) != NULL) {
		u = pw->pw_uid;
		g = pw->pw_gid;
	} else if (strcmp(s, "nobody") == 0) {
		/* A minimal root (an initramfs) has no passwd: Debian's
		 * nobody:nogroup. */
		u = g = NOBODY_ID;
	} else {
		snprintf(err, errlen, "%s: no such user", s);
		return -ENOENT;
	}
	if (u == 0 || g == 0) {
		snprintf(err, errlen, "%s: root is not an unprivileged user", s);
		return -EINVAL;
	}
	*uid = (uint32_t)u;
	*gid = (uint32_t)g;
	return 0;
}

int
shim_sandbox_conf(const char *mode, const char *user, struct shim_sandbox *sb, char *err,
		  size_t errlen)
{
	char why[160];
	int rc;

	sb->mode = SHIM_SANDBOX_ENFORCE;
	sb->uid = sb->gid = 0;
	if (mode != NULL && shim_sandbox_parse_mode(mode, &sb->mode) < 0) {
		snprintf(err, errlen, "--vm-sandbox %s: expected enforce, log or off", mode);
		return -EINVAL;
	}
	if (sb->mode == SHIM_SANDBOX_OFF)
		return 0;
	rc = shim_sandbox_parse_user(user != NULL ? user : SHIM_SANDBOX_DEFAULT_USER, &sb->uid,
				     &sb->gid, why, sizeof(why));
	if (rc < 0)
		snprintf(err, errlen, "--vm-user %s", why);
	return rc;
}

void
shim_sandbox_to_boot(const struct shim_sandbox *sb, Nicvisor__V1__ChildBoot *b)
{
	b->sandbox = (Nicvisor__V1__SandboxMode)sb->mode;
	b->vm_uid = sb->uid;
	b->vm_gid = sb->gid;
}

/* --- the connector ------------------------------------------------------ */

struct reply {
	int32_t err; /* 0: the connected socket comes with it */
};

static int
add_rules(scmp_filter_ctx ctx, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int nr = seccomp_syscall_resolve_name(names[i]);
		int rc;

		/* A call this architecture does not have (poll on arm64). */
		if (nr < 0)
			continue;
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static bool
allowed_path(const char *path, const char *const *paths, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(path, paths[i]) == 0)
			return true;
	return false;
}

/* The connector process: never returns. Forked before the VM process
 * starts any thread, so that libseccomp may allocate here. */
static void __attribute__((noreturn))
connector_main(int sock, pid_t parent, const char *const *paths, size_t n)
{
	static const char *const calls[] = {
		"recvfrom", "recvmsg",    "sendmsg",      "sendto",          "connect", "close",
		"exit",     "exit_group", "rt_sigreturn", "restart_syscall", "brk",     "munmap",
	};
	scmp_filter_ctx ctx;

	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (getppid() != parent)
		_exit(0);
	close_range(3, (unsigned int)sock - 1, 0);
	close_range((unsigned int)sock + 1, ~0u, 0);
	prctl(PR_SET_NAME, "nv-vm-connect", 0, 0, 0);
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	if (ctx == NULL || add_rules(ctx, calls, sizeof(calls) / sizeof(calls[0])) < 0 ||
	    seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
			     SCMP_A0(SCMP_CMP_EQ, AF_UNIX)) < 0 ||
	    seccomp_load(ctx) < 0)
		_exit(1);
	for (;;) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		struct reply r = { 0 };
		/* A path that fills sun_path has no room for its NUL: too long. */
		ssize_t len = shim_sock_recv(sock, sa.sun_path, sizeof(sa.sun_path) - 1, NULL, 0,
					     NULL, 0);
		int fd = -1;

		if (len == 0 || (len < 0 && len != -EMSGSIZE))
			_exit(0); /* the VM's process is gone */
		if (len < 0 || memchr(sa.sun_path, 0, (size_t)len))
			r.err = EINVAL;
		else if (!allowed_path(sa.sun_path, paths, n))
			r.err = EACCES;
		else if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
			r.err = errno;
		else if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			r.err = errno;
		if (shim_sock_send(sock, &r, sizeof(r), &fd, r.err == 0 ? 1 : 0, 0) < 0)
			_exit(0);
		if (fd >= 0)
			close(fd);
	}
}

int
shim_connector_start(struct shim_connector *c, const char *const *paths, size_t n, char *err,
		     size_t errlen)
{
	struct timeval tv = { .tv_sec = CONNECT_WAIT_S };
	pid_t parent = getpid(), pid;
	int sv[2];

	c->fd = -1;
	pthread_mutex_init(&c->lock, NULL);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		snprintf(err, errlen, "connector: socketpair: %s", strerror(errno));
		return -errno;
	}
	pid = fork();
	if (pid < 0) {
		int rc = -errno;

		snprintf(err, errlen, "connector: fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return rc;
	}
	if (pid == 0)
		connector_main(sv[1], parent, paths, n);
	close(sv[1]);
	setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(sv[0], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	c->fd = sv[0];
	return 0;
}

int
shim_connector_connect(void *opaque, const char *path, char *err, size_t errlen)
{
	struct shim_connector *c = opaque;
	struct reply r = { 0 };
	unsigned int nfds = 0;
	ssize_t len;
	int fd = -1, rc;

	pthread_mutex_lock(&c->lock);
	rc = shim_sock_send(c->fd, path, strlen(path), NULL, 0, 0);
	len = rc < 0 ? rc : shim_sock_recv(c->fd, &r, sizeof(r), &fd, 1, &nfds, 0);
	pthread_mutex_unlock(&c->lock);
	if (len <= 0) {
		rc = len == 0 ? -EPIPE : (int)len;
		snprintf(err, errlen, "%s: the connector: %s", path, strerror(-rc));
		return rc;
	}
	if (len != sizeof(r) || (r.err == 0) != (nfds == 1)) {
		if (nfds == 1)
			close(fd);
		snprintf(err, errlen, "%s: the connector answered nonsense", path);
		return -EPROTO;
	}
	if (r.err != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(r.err));
		return -r.err;
	}
	return fd;
}

void
shim_connector_stop(struct shim_connector *c)
{
	if (c->fd < 0)
		return;
	close(c->fd); /* it exits on the hangup; init reaps it */
	c->fd = -1;
	pthread_mutex_destroy(&c->lock);
}

/* --- the VM process's filter --------------------------------------------- */

/* What a running VM process calls: the vCPU loops (KVM ioctls, MMIO and
 * port I/O handlers), the console and control socket, the vhost-user
 * frontends (messages with descriptors, eventfds for reconnected queues),
 * memory (allocations, thread stacks, mincore for the resident count),
 * threads and their signals, clocks. Both architectures' names: those a
 * build's architecture lacks are skipped. */
static const char *const vm_calls[] = {
	"read",           "write",        "readv",         "writev",
	"pread64",        "pwrite64",     "lseek",         "close",
	"fstat",          "newfstatat",   "fcntl",         "poll",
	"ppoll",          "recvfrom",     "recvmsg",       "sendto",
	"sendmsg",        "shutdown",     "eventfd2",      "mmap",
	"munmap",         "mprotect",     "madvise",       "mremap",
	"mincore",        "brk",          "futex",         "set_robust_list",
	"rseq",           "exit",         "exit_group",    "rt_sigaction",
	"rt_sigprocmask", "rt_sigreturn", "sigaltstack",   "restart_syscall",
	"gettid",         "getpid",       "clock_gettime", "clock_nanosleep",
	"nanosleep",      "gettimeofday", "sched_yield",   "sched_getaffinity",
	"getrandom",
};

static int
vm_filter(enum shim_sandbox_mode mode, char *err, size_t errlen)
{
	scmp_filter_ctx ctx =
		seccomp_init(mode == SHIM_SANDBOX_LOG ? SCMP_ACT_LOG : SCMP_ACT_KILL_PROCESS);
	int rc;

	if (ctx == NULL) {
		snprintf(err, errlen, "seccomp: cannot start a filter");
		return -ENOMEM;
	}
	rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	if (rc == 0)
		rc = add_rules(ctx, vm_calls, sizeof(vm_calls) / sizeof(vm_calls[0]));
	/* Threads only (pthread_create), never a new process. glibc tries
	 * clone3 first and takes ENOSYS for "use clone". */
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
				      SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	/* Signals to its own threads only (vCPU kicks). */
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
				      SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid()));
	/* KVM's ioctls only (type 0xAE): the VM's, its vCPUs' and
	 * /dev/kvm's; no other ioctl on its sockets or eventfds. */
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				      SCMP_A1(SCMP_CMP_MASKED_EQ, 0xff00, KVMIO << 8));
	/* Thread names. */
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
				      SCMP_A0(SCMP_CMP_EQ, PR_SET_NAME));
	if (rc == 0)
		rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc < 0)
		snprintf(err, errlen, "seccomp: %s", strerror(-rc));
	return rc;
}

int
shim_sandbox_enter(enum shim_sandbox_mode mode, uint32_t uid, uint32_t gid, char *err,
		   size_t errlen)
{
	if (mode == SHIM_SANDBOX_OFF)
		return 0;
	if (uid == 0 || gid == 0) {
		snprintf(err, errlen, "sandbox: uid %u, gid %u: not unprivileged", uid, gid);
		return -EINVAL;
	}
	/* The log's time stamps: the zone is read now, not under the filter. */
	tzset();
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		snprintf(err, errlen, "sandbox: no_new_privs: %s", strerror(errno));
		return -errno;
	}
	/* glibc applies these to every thread of the process. */
	if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 ||
	    setresuid(uid, uid, uid) < 0) {
		int rc = -errno;

		snprintf(err, errlen, "sandbox: cannot become uid %u gid %u: %s", uid, gid,
			 strerror(errno));
		return rc;
	}
	return vm_filter(mode, err, errlen);
}
