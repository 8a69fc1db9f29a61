/* SPDX-License-Identifier: MIT */
/*
 * nv_corelat: the round trip of one cache line between two CPUs, on
 * demand, for the packet benchmarks (tools/bench/switch).
 *
 *   nv_corelat CPU_A CPU_B [TRIPS]
 *
 * For every line read on stdin it measures TRIPS (default 2000) round
 * trips of a cache line between a thread on CPU_A and one on CPU_B and
 * prints the mean in nanoseconds ("rtt_ns=N"), or "rtt_ns=timeout" when
 * the other thread did not answer within 100 ms. EOF ends it.
 *
 * Why: on a virtual machine the host places the two vCPUs near each other
 * (same last-level cache) or far apart, and moves them while we run; the
 * round trip is ~60 ns or ~330 ns on the machines this was written on, and
 * a closed loop over shared memory (memif) runs about 4 times slower far
 * apart whatever the switch. Between probes both threads sleep; a probe
 * runs both at SCHED_FIFO (when allowed), so it preempts whatever else
 * runs on the two CPUs for well under a millisecond.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "nv_log.h"

#define DEADLINE_NS 100000000ull /* 100 ms */

struct shared {
	_Alignas(64) _Atomic uint64_t ball; /* (probe << 32) | step; odd: A's turn is over */
	_Alignas(64) _Atomic uint32_t probe;
	_Atomic uint32_t trips;
	_Atomic int quit;
	_Atomic int b_placed; /* B runs on its CPU: probes may start */
	int efd;              /* wakes B for a probe */
	int cpu_b;
};

/* Pin the calling thread to cpu and raise it to SCHED_FIFO 1: 0, or a
 * negative errno for what failed (only the pinning is fatal). */
static int
place(int cpu, int *fifo_err)
{
	struct sched_param sp = { .sched_priority = 1 };
	cpu_set_t set;
	int rc;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	if (rc != 0)
		return -rc;
	*fifo_err = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
	return 0;
}

/* B: for each wake-up, answer every odd step of the current probe until
 * TRIPS are answered, the probe changes, or the deadline passes. */
static void *
thread_b(void *arg)
{
	struct shared *sh = arg;
	int fifo_err = 0;
	uint64_t v;

	if (place(sh->cpu_b, &fifo_err) != 0) {
		fprintf(stderr, "nv_corelat: cannot run on CPU %d\n", sh->cpu_b);
		exit(1);
	}
	atomic_store(&sh->b_placed, 1);
	while (read(sh->efd, &v, sizeof(v)) == sizeof(v) && !atomic_load(&sh->quit)) {
		uint64_t p = atomic_load(&sh->probe), n = 0, trips = atomic_load(&sh->trips);
		uint64_t deadline = nv_mono_ns() + DEADLINE_NS;
		unsigned int spins = 0;

		while (n < trips) {
			v = atomic_load_explicit(&sh->ball, memory_order_acquire);
			if ((v >> 32) != p)
				break; /* a newer probe: A gave up on this one */
			if (v & 1) {
				atomic_store_explicit(&sh->ball, v + 1, memory_order_release);
				n++;
				continue;
			}
			if (++spins % 4096 == 0 && nv_mono_ns() > deadline)
				break;
		}
	}
	return NULL;
}

/* A: one probe; the mean round trip in ns, or 0 on timeout. The clock
 * starts at B's first answer, so B's wake-up is not counted. */
static uint64_t
probe(struct shared *sh, uint32_t trips)
{
	uint32_t p = atomic_load(&sh->probe) + 1;
	uint64_t one = 1, base = (uint64_t)p << 32, t0 = 0, deadline;
	unsigned int spins = 0;
	uint32_t i;

	atomic_store(&sh->trips, trips + 1);
	atomic_store(&sh->probe, p);
	atomic_store_explicit(&sh->ball, base | 1, memory_order_release);
	if (write(sh->efd, &one, sizeof(one)) != sizeof(one))
		return 0;
	deadline = nv_mono_ns() + DEADLINE_NS;
	for (i = 0; i <= trips; i++) {
		uint64_t want = base | (2 * i + 2);

		if (i > 0)
			atomic_store_explicit(&sh->ball, base | (2 * i + 1), memory_order_release);
		while (atomic_load_explicit(&sh->ball, memory_order_acquire) != want)
			if (++spins % 4096 == 0 && nv_mono_ns() > deadline)
				return 0;
		if (i == 0)
			t0 = nv_mono_ns();
	}
	return (nv_mono_ns() - t0) / trips;
}

static int
parse_int(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

int
main(int argc, char **argv)
{
	struct shared sh = { 0 };
	long cpu_a, cpu_b, trips = 2000;
	uint64_t one = 1;
	char line[64];
	pthread_t tb;
	int fifo_err = 0, rc;

	if (argc < 3 || argc > 4 || parse_int(argv[1], 0, CPU_SETSIZE - 1, &cpu_a) != 0 ||
	    parse_int(argv[2], 0, CPU_SETSIZE - 1, &cpu_b) != 0 || cpu_a == cpu_b ||
	    (argc == 4 && parse_int(argv[3], 1, 1000000, &trips) != 0)) {
		fprintf(stderr, "usage: nv_corelat CPU_A CPU_B [TRIPS]  (two different CPUs; "
				"TRIPS 1..1000000)\n");
		return 2;
	}
	sh.cpu_b = (int)cpu_b;
	sh.efd = eventfd(0, EFD_CLOEXEC);
	if (sh.efd < 0) {
		perror("nv_corelat: eventfd");
		return 1;
	}
	rc = place((int)cpu_a, &fifo_err);
	if (rc != 0) {
		fprintf(stderr, "nv_corelat: cannot run on CPU %ld: %s\n", cpu_a, strerror(-rc));
		return 1;
	}
	if (fifo_err != 0)
		fprintf(stderr, "nv_corelat: no SCHED_FIFO (%s): probes may wait for the CPUs\n",
			strerror(fifo_err));
	rc = pthread_create(&tb, NULL, thread_b, &sh);
	if (rc != 0) {
		fprintf(stderr, "nv_corelat: thread: %s\n", strerror(rc));
		return 1;
	}
	/* B starts on A's CPU: spinning there at SCHED_FIFO before B has
	 * moved would starve it. Sleep until it has. */
	while (!atomic_load(&sh.b_placed))
		usleep(1000);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready\n");
	while (fgets(line, sizeof(line), stdin) != NULL) {
		uint64_t ns = probe(&sh, (uint32_t)trips);

		if (ns == 0)
			printf("rtt_ns=timeout\n");
		else
			printf("rtt_ns=%llu\n", (unsigned long long)ns);
	}
	atomic_store(&sh.quit, 1);
	if (write(sh.efd, &one, sizeof(one)) == sizeof(one))
		pthread_join(tb, NULL);
	close(sh.efd);
	return 0;
}
