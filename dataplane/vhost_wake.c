/* SPDX-License-Identifier: MIT */
/*
 * Waking rte_vhost's event thread after a socket starts listening.
 *
 * rte_vhost (22.11, lib/vhost/socket.c and fd_man.c) serves every
 * vhost-user socket from one event thread, "vhost-events", that sleeps in
 * poll() with a 1 s timeout on the first `num` entries of its fd table.
 * A server socket that starts listening is appended to the table, but the
 * thread is told (through its private pipe) only when a connection is
 * added: a frontend that connects to a socket started while the thread
 * sleeps sits in the listen backlog, its first message unanswered, for up
 * to a second. That is every NIC and disk restored by a restarted agent,
 * whose frontends (retrying every 20 ms) find them at once, and every VM
 * port made just before its VM starts.
 *
 * dp_vhost_wake() interrupts that poll() with a signal sent to the thread
 * alone (tgkill). Its handler does nothing; poll() returns EINTR, and the
 * thread goes round its loop, re-reading `num`. The handler is installed
 * with SA_RESTART, so a signal that lands while the thread is in a
 * callback restarts its socket reads and writes instead of failing them.
 * A signal that lands after the thread read `num` but before it entered
 * poll() is lost: a second one 2 ms later covers that.
 *
 * An earlier version woke the thread by adding a throwaway client
 * connection and unregistering it at once. In 22.11 that races with a
 * frontend's connection being torn down: vhost_user_read_cb() closes its
 * fd before the event thread takes the fd out of the table, the throwaway
 * connection can get the same fd number, and unregistering it by number
 * can clear the stale entry instead of its own, leaving an entry that
 * points at a freed connection; the next poll() hands it to
 * vhost_user_read_cb(), which logs "device not found" for a garbage vid
 * and crashes (tests/unit/test_vhost_wake.c reproduces it). Signalling
 * touches no descriptor.
 *
 * If the thread cannot be found, or the signal is taken by the
 * application, sockets are served anyway, up to a second late; logged once.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "dp_priv.h"

#define EVENTS_THREAD "vhost-events"

static pthread_mutex_t wake_lock = PTHREAD_MUTEX_INITIALIZER;
static bool wake_failed;
static bool handler_set;
static pid_t events_tid;

static void
wake_handler(int sig)
{
	(void)sig;
}

static int
wake_signal(void)
{
	return SIGRTMIN + 6;
}

/* The tid of this process's thread named NAME, or 0. */
static pid_t
thread_named(const char *name)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	pid_t tid = 0;

	if (d == NULL)
		return 0;
	while (tid == 0 && (e = readdir(d)) != NULL) {
		char path[64], comm[32];
		FILE *f;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		f = fopen(path, "re");
		if (f == NULL)
			continue;
		if (fgets(comm, sizeof(comm), f) != NULL) {
			comm[strcspn(comm, "\n")] = 0;
			if (strcmp(comm, name) == 0)
				tid = (pid_t)atoi(e->d_name);
		}
		fclose(f);
	}
	closedir(d);
	return tid;
}

/* Under wake_lock: the handler in place and the thread found, or a reason. */
static const char *
wake_prepare(void)
{
	int sig = wake_signal();

	if (!handler_set) {
		struct sigaction old, sa = { .sa_handler = wake_handler, .sa_flags = SA_RESTART };

		if (sigaction(sig, NULL, &old) != 0)
			return "cannot read the wake signal's disposition";
		if (old.sa_handler != SIG_DFL && old.sa_handler != wake_handler)
			return "the application handles the wake signal";
		sigemptyset(&sa.sa_mask);
		if (sigaction(sig, &sa, NULL) != 0)
			return "cannot install the wake signal's handler";
		handler_set = true;
	}
	if (events_tid == 0 || syscall(SYS_tgkill, getpid(), events_tid, 0) != 0) {
		events_tid = thread_named(EVENTS_THREAD);
		if (events_tid == 0)
			return "no thread named " EVENTS_THREAD;
	}
	return NULL;
}

void
dp_vhost_wake(void)
{
	const struct timespec gap = { .tv_sec = 0, .tv_nsec = 2 * 1000 * 1000 };
	const char *why;

	pthread_mutex_lock(&wake_lock);
	if (wake_failed)
		goto out;
	why = wake_prepare();
	if (why == NULL && syscall(SYS_tgkill, getpid(), events_tid, wake_signal()) != 0)
		why = strerror(errno);
	if (why != NULL) {
		DP_LOG(WARNING, "vhost wake: %s; new vhost sockets may wait up to 1 s\n", why);
		wake_failed = true;
		goto out;
	}
	nanosleep(&gap, NULL);
	syscall(SYS_tgkill, getpid(), events_tid, wake_signal());
out:
	pthread_mutex_unlock(&wake_lock);
}
