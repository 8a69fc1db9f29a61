/* SPDX-License-Identifier: MIT */
/*
 * Waking rte_vhost's event thread after a socket starts listening.
 *
 * rte_vhost (22.11, lib/vhost/socket.c and fd_man.c) serves every
 * vhost-user socket from one event thread that sleeps in poll() with a 1 s
 * timeout. Its poll list is rebuilt when that timeout passes or when a
 * connection is added (fdset_pipe_notify), but not when a server socket
 * starts listening (vhost_user_start_server adds the listening fd without
 * a notify). A frontend that connects to a socket started while the
 * thread sleeps sits in the listen backlog, its first message unanswered,
 * for up to a second: every NIC and disk restored by a restarted agent,
 * which its frontends (retrying every 20 ms) find at once, and every VM
 * port made just before its VM starts.
 *
 * The one public path to the notify is a connection being added. So after
 * starting a server socket, dp_vhost_wake() makes one: it listens on a
 * private socket next to the port's (<dir>/.nv-wake-<pid>.sock, there for
 * the call only), registers that path with rte_vhost as a client (which
 * connects at once, adds the connection and notifies), and takes it all
 * away again. The connection's
 * device callbacks are its own and do nothing; no vhost-user message is
 * ever sent on it. If anything fails the socket is served anyway, up to a
 * second late, and the failure is logged once.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <rte_vhost.h>

#include "dp_priv.h"

static pthread_mutex_t wake_lock = PTHREAD_MUTEX_INITIALIZER;
static bool wake_failed;

static int
wake_new_device(int vid)
{
	(void)vid;
	return -1; /* never a device: no frontend speaks on this connection */
}

static void
wake_destroy_device(int vid)
{
	(void)vid;
}

static const struct rte_vhost_device_ops wake_ops = {
	.new_device = wake_new_device,
	.destroy_device = wake_destroy_device,
};

/* A listening socket at PATH (filled in) next to NEAR; its fd or -errno. */
static int
wake_listen(const char *near, char *path, size_t len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *slash = strrchr(near, '/');
	int n, fd;

	n = slash != NULL ? snprintf(path, len, "%.*s/.nv-wake-%d.sock", (int)(slash - near), near,
				     (int)getpid())
			  : snprintf(path, len, ".nv-wake-%d.sock", (int)getpid());
	if (n < 0 || (size_t)n >= len || (size_t)n >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, (size_t)n + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0) {
		int e = errno;

		close(fd);
		unlink(path);
		return -e;
	}
	return fd;
}

void
dp_vhost_wake(const char *near)
{
	char path[PATH_MAX];
	int lfd, fd;

	pthread_mutex_lock(&wake_lock);
	if (wake_failed)
		goto out;
	lfd = wake_listen(near, path, sizeof(path));
	if (lfd < 0) {
		DP_LOG(WARNING,
		       "vhost wake socket next to %s: %s; new vhost sockets may wait "
		       "up to 1 s\n",
		       near, strerror(-lfd));
		wake_failed = true;
		goto out;
	}
	if (rte_vhost_driver_register(path, RTE_VHOST_USER_CLIENT) != 0) {
		wake_failed = true;
	} else if (rte_vhost_driver_callback_register(path, &wake_ops) != 0 ||
		   rte_vhost_driver_start(path) != 0) {
		wake_failed = true;
		rte_vhost_driver_unregister(path);
	} else {
		/* The connection was added (and the event thread woken) in
		 * rte_vhost_driver_start; both ends go now. */
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			close(fd);
		rte_vhost_driver_unregister(path);
	}
	if (wake_failed)
		DP_LOG(WARNING,
		       "vhost wake: rte_vhost refused %s; new vhost sockets may wait "
		       "up to 1 s\n",
		       path);
	close(lfd);
	unlink(path);
out:
	pthread_mutex_unlock(&wake_lock);
}
