/* SPDX-License-Identifier: MIT */
/*
 * Waking rte_vhost's event thread (vhost_wake.c included) on a small EAL,
 * against the real librte_vhost:
 *
 *  - a server socket started while the thread sleeps in poll() is served
 *    late without the wake (the 22.11 behaviour the wake exists for) and
 *    at once with it;
 *  - waking while frontends of another socket connect and hang up in a
 *    loop does not crash. The wake's earlier design (a throwaway client
 *    connection) crashed here within a thousand rounds: rte_vhost closes
 *    a hung-up connection's fd before it leaves the fd table, and the
 *    throwaway connection, reusing the number, was then unregistered by
 *    it. The connection-teardown callback below sleeps a little to widen
 *    that window, as the dataplane's destroy_device (which waits for its
 *    workers) does.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <rte_eal.h>
#include <rte_vhost.h>

#include "../../../dataplane/vhost_wake.c"

int dp_logtype;

static char dir[PATH_MAX];
static atomic_uint torn_down;

static int
no_device(int vid)
{
	(void)vid;
	return 0;
}

static void
gone(int vid)
{
	(void)vid;
}

static void
teardown_slowly(int vid)
{
	const struct timespec ts = { .tv_sec = 0, .tv_nsec = 200 * 1000 };

	(void)vid;
	atomic_fetch_add(&torn_down, 1);
	nanosleep(&ts, NULL);
}

static const struct rte_vhost_device_ops ops = {
	.new_device = no_device,
	.destroy_device = gone,
	.destroy_connection = teardown_slowly,
};

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void
sleep_ms(unsigned int ms)
{
	const struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static void
sock_path(char *out, size_t len, const char *name)
{
	int n = snprintf(out, len, "%s/%s", dir, name);

	assert_true(n > 0 && (size_t)n < len);
}

static void
start_server(const char *path)
{
	assert_int_equal(rte_vhost_driver_register(path, 0), 0);
	assert_int_equal(rte_vhost_driver_callback_register(path, &ops), 0);
	assert_int_equal(rte_vhost_driver_start(path), 0);
}

static int
connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Milliseconds from starting a server socket at PATH (then waking the
 * event thread if WAKE) to its answer to VHOST_USER_GET_FEATURES. */
static double
first_answer_ms(const char *path, bool wake)
{
	const uint32_t get_features[3] = { 1, 0x1, 0 }; /* request, flags (v1), size */
	uint8_t reply[64];
	struct pollfd pfd;
	double t0, ms;
	int fd;

	/* Let the thread go back to sleep after the last activity. */
	sleep_ms(150);
	t0 = now_ms();
	start_server(path);
	if (wake)
		dp_vhost_wake();
	fd = connect_to(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, get_features, sizeof(get_features)), sizeof(get_features));
	pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
	assert_int_equal(poll(&pfd, 1, 5000), 1);
	assert_true(read(fd, reply, sizeof(reply)) >= 12);
	ms = now_ms() - t0;
	close(fd);
	assert_int_equal(rte_vhost_driver_unregister(path), 0);
	return ms;
}

static void
wake_serves_new_socket_at_once(void **state)
{
	char path[PATH_MAX];
	double late, ms;
	unsigned int i;

	(void)state;
	/* The first socket starts the event thread. */
	sock_path(path, sizeof(path), "first.sock");
	start_server(path);
	assert_int_equal(rte_vhost_driver_unregister(path), 0);

	sock_path(path, sizeof(path), "late.sock");
	late = first_answer_ms(path, false);
	print_message("without the wake: answered after %.0f ms\n", late);
	assert_true(late > 300.0);
	for (i = 0; i < 5; i++) {
		sock_path(path, sizeof(path), "woken.sock");
		ms = first_answer_ms(path, true);
		print_message("woken: answered after %.0f ms\n", ms);
		assert_true(ms < 300.0);
	}
}

struct churn {
	char path[PATH_MAX];
	atomic_bool stop;
	atomic_uint connections;
};

/* A frontend that connects and hangs up, over and over. */
static void *
churn_main(void *arg)
{
	struct churn *c = arg;
	const struct timespec pause = { .tv_sec = 0, .tv_nsec = 50 * 1000 };

	while (!atomic_load(&c->stop)) {
		int fd = connect_to(c->path);

		if (fd >= 0) {
			atomic_fetch_add(&c->connections, 1);
			nanosleep(&pause, NULL);
			close(fd);
		}
		nanosleep(&pause, NULL);
	}
	return NULL;
}

static void
wake_survives_frontend_churn(void **state)
{
	static struct churn c;
	char path[PATH_MAX];
	pthread_t t;
	unsigned int i;

	(void)state;
	sock_path(c.path, sizeof(c.path), "churn.sock");
	start_server(c.path);
	assert_int_equal(pthread_create(&t, NULL, churn_main, &c), 0);
	for (i = 0; i < 1500; i++) {
		sock_path(path, sizeof(path), "port.sock");
		start_server(path);
		dp_vhost_wake();
		assert_int_equal(rte_vhost_driver_unregister(path), 0);
	}
	atomic_store(&c.stop, true);
	pthread_join(t, NULL);
	print_message("%u wakes; %u frontend connections, %u torn down meanwhile\n", i,
		      atomic_load(&c.connections), atomic_load(&torn_down));
	/* The race needs connections torn down while we woke. */
	assert_true(atomic_load(&c.connections) > 100);
	assert_true(atomic_load(&torn_down) > 100);
	assert_int_equal(rte_vhost_driver_unregister(c.path), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(wake_serves_new_socket_at_once),
		cmocka_unit_test(wake_survives_frontend_churn),
	};
	char prefix[64], tmpl[] = "/tmp/ut_vhost_wake.XXXXXX";
	char *argv[] = { "test_vhost_wake", "--no-huge",      "-m", "64", "--no-shconf",
			 "--no-pci",        "--iova-mode=va", "-l", "0",  "--log-level=warning",
			 "--no-telemetry",  prefix,           NULL };
	int rc;

	snprintf(prefix, sizeof(prefix), "--file-prefix=ut_wake_%d", (int)getpid());
	if (rte_eal_init((int)RTE_DIM(argv) - 1, argv) < 0) {
		fprintf(stderr, "rte_eal_init failed\n");
		return 1;
	}
	if (mkdtemp(tmpl) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(dir, sizeof(dir), "%s", tmpl);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	rmdir(dir);
	rte_eal_cleanup();
	return rc;
}
