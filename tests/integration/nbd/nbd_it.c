/* SPDX-License-Identifier: MIT */
/*
 * The NBD client (dataplane/nbd.c) against a real server: one scenario per
 * run, driven by nbd.sh. Exit 0 when every check held; the first failed
 * check is printed ("FAIL: ...") and exits 1.
 *
 * Usage: nbd_it URI MODE
 *   rw         write a pattern over the whole export (32 requests in
 *              flight), flush, read it back, trim, write zeroes
 *   ro         read-only export: writes refused, the pattern reads back
 *   missing    the export does not exist: -ENOENT, with the reason
 *   reconnect  keep 32 requests in flight while nbd.sh kills (or stops)
 *              and restarts the server ("READY" on stdout tells it when);
 *              every request must succeed and the written data read back
 *              (a request timeout of 1 s)
 *   bench      (by hand, not a test) 4 KiB random reads for 2 s each at
 *              queue depth 1 and 32: IOPS and mean latency
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nbd.h"

#define CHUNK (64u << 10)
#define DEPTH 32

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			printf("FAIL: " __VA_ARGS__);                                              \
			printf(" (%s:%d)\n", __FILE__, __LINE__);                                  \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

struct slot {
	bool busy;
	int status;
	bool done;
	enum nbd_op op;
	uint64_t off;
	uint8_t *buf;
};

static struct slot slots[DEPTH];
static unsigned int nbusy, failures;

static void
on_complete(void *arg, uint64_t cookie, int status)
{
	(void)arg;
	CHECK(cookie < DEPTH && slots[cookie].busy && !slots[cookie].done,
	      "completion for cookie %llu, which is not in flight", (unsigned long long)cookie);
	slots[cookie].done = true;
	slots[cookie].status = status;
	if (status < 0)
		failures++;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
fill(uint8_t *buf, uint64_t off, uint32_t len, uint64_t seed)
{
	for (uint32_t i = 0; i < len; i += 8) {
		uint64_t v = (off + i) * 0x9e3779b97f4a7c15ull ^ seed;

		memcpy(buf + i, &v, 8);
	}
}

static void
verify(const uint8_t *buf, uint64_t off, uint32_t len, uint64_t seed)
{
	static uint8_t want[CHUNK];

	fill(want, off, len, seed);
	for (uint32_t i = 0; i < len; i++)
		CHECK(buf[i] == want[i], "byte %llu reads %#x, wrote %#x",
		      (unsigned long long)(off + i), buf[i], want[i]);
}

static void
pump(struct nbd_conn *conn, double deadline)
{
	struct pollfd p = { .fd = nbd_fd(conn), .events = nbd_poll_events(conn) };
	int to = nbd_timeout_ms(conn);

	CHECK(now_s() < deadline, "timed out with %u requests in flight", nbusy);
	poll(&p, p.fd >= 0 ? 1 : 0, to >= 0 && to < 100 ? to : 100);
	CHECK(nbd_process(conn) >= 0, "connection dead: %s", nbd_errmsg(conn));
	/* Every new error, for the log and nbd.sh. */
	static char last[256];

	if (strcmp(last, nbd_errmsg(conn)) != 0) {
		snprintf(last, sizeof(last), "%s", nbd_errmsg(conn));
		printf("error: %s\n", last);
	}
}

/* Retire finished slots: reads are checked against @seed. */
static void
reap(uint64_t seed)
{
	for (unsigned int i = 0; i < DEPTH; i++) {
		struct slot *s = &slots[i];

		if (!s->busy || !s->done)
			continue;
		CHECK(s->status == 0, "op %d at %llu failed: %s", s->op, (unsigned long long)s->off,
		      strerror(-s->status));
		if (s->op == NBD_OP_READ)
			verify(s->buf, s->off, CHUNK, seed);
		s->busy = false;
		nbusy--;
	}
}

/* @op over [start, end) in CHUNK pieces, DEPTH in flight. */
static void
io_range(struct nbd_conn *conn, enum nbd_op op, uint64_t start, uint64_t end, uint64_t seed)
{
	double deadline = now_s() + 60;
	uint64_t off = start;

	while (off < end || nbusy > 0) {
		for (unsigned int i = 0; i < DEPTH && off < end; i++) {
			struct slot *s = &slots[i];
			struct iovec iov[2];
			int rc;

			if (s->busy)
				continue;
			s->busy = true;
			s->done = false;
			s->op = op;
			s->off = off;
			/* Two segments, as a virtio-blk request has. */
			iov[0].iov_base = s->buf;
			iov[0].iov_len = 4096;
			iov[1].iov_base = s->buf + 4096;
			iov[1].iov_len = CHUNK - 4096;
			if (op == NBD_OP_WRITE)
				fill(s->buf, off, CHUNK, seed);
			rc = nbd_submit(conn, op, off, CHUNK, iov, 2, i);
			CHECK(rc == 0, "submit op %d at %llu: %s", op, (unsigned long long)off,
			      strerror(-rc));
			nbusy++;
			off += CHUNK;
		}
		pump(conn, deadline);
		reap(seed);
	}
}

/* 4 KiB random reads at queue depth @qd for @secs: IOPS. */
static double
bench_randread(struct nbd_conn *conn, unsigned int qd, double secs)
{
	uint64_t nblocks = nbd_get_info(conn)->size / 4096, done = 0, x = 88172645463325252ull;
	double t0 = now_s(), end = t0 + secs, deadline = end + 30;
	bool stop = false;

	while (!stop || nbusy > 0) {
		stop = now_s() >= end;
		for (unsigned int i = 0; i < qd && !stop; i++) {
			struct slot *s = &slots[i];
			struct iovec iov;

			if (s->busy)
				continue;
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			s->busy = true;
			s->done = false;
			s->op = NBD_OP_READ;
			s->off = x % nblocks * 4096;
			iov.iov_base = s->buf;
			iov.iov_len = 4096;
			CHECK(nbd_submit(conn, NBD_OP_READ, s->off, 4096, &iov, 1, i) == 0,
			      "submit");
			nbusy++;
		}
		pump(conn, deadline);
		for (unsigned int i = 0; i < qd; i++) {
			if (!slots[i].busy || !slots[i].done)
				continue;
			CHECK(slots[i].status == 0, "read failed: %s", strerror(-slots[i].status));
			slots[i].busy = false;
			nbusy--;
			done++;
		}
	}
	return (double)done / (now_s() - t0);
}

/* One request without data (flush, trim, write zeroes), waited for. */
static int
one(struct nbd_conn *conn, enum nbd_op op, uint64_t off, uint32_t len)
{
	double deadline = now_s() + 30;
	int rc;

	slots[0].busy = true;
	slots[0].done = false;
	rc = nbd_submit(conn, op, off, len, NULL, 0, 0);
	if (rc < 0) {
		slots[0].busy = false;
		return rc;
	}
	while (!slots[0].done)
		pump(conn, deadline);
	slots[0].busy = false;
	return slots[0].status;
}

static void
all_zero(struct nbd_conn *conn, uint64_t off)
{
	double deadline = now_s() + 30;
	struct iovec iov = { slots[0].buf, CHUNK };

	memset(slots[0].buf, 0xff, CHUNK);
	slots[0].busy = true;
	slots[0].done = false;
	CHECK(nbd_submit(conn, NBD_OP_READ, off, CHUNK, &iov, 1, 0) == 0, "submit read");
	while (!slots[0].done)
		pump(conn, deadline);
	slots[0].busy = false;
	CHECK(slots[0].status == 0, "read at %llu: %s", (unsigned long long)off,
	      strerror(-slots[0].status));
	for (uint32_t i = 0; i < CHUNK; i++)
		CHECK(slots[0].buf[i] == 0, "byte %llu is %#x after zeroing",
		      (unsigned long long)(off + i), slots[0].buf[i]);
}

int
main(int argc, char **argv)
{
	char err[512] = "";
	struct nbd_conf conf = {
		.connect_timeout_ms = 5000,
		.max_inflight = DEPTH,
		.complete = on_complete,
		.errbuf = err,
		.errbuf_len = sizeof(err),
	};
	struct nbd_conn *conn = NULL;
	const struct nbd_info *in;
	struct nbd_stats st;
	const char *mode;
	double t0;
	int rc;

	if (argc != 3) {
		fprintf(stderr, "usage: nbd_it URI rw|ro|missing|reconnect|bench\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	conf.uri = argv[1];
	mode = argv[2];
	for (unsigned int i = 0; i < DEPTH; i++) {
		slots[i].buf = malloc(CHUNK);
		CHECK(slots[i].buf != NULL, "out of memory");
	}
	if (strcmp(mode, "reconnect") == 0) {
		conf.max_reconnects = 30;
		conf.reconnect_delay_ms = 50;
		/* A stopped server is noticed within a second. (nbd-server
		 * can take a second over its greeting on a busy machine: the
		 * connect timeout stays at 5 s.) */
		conf.request_timeout_ms = 1000;
	}

	t0 = now_s();
	rc = nbd_connect(&conf, &conn);
	if (strcmp(mode, "missing") == 0) {
		CHECK(rc == -ENOENT, "connect to a missing export: %d (%s)", rc, err);
		printf("missing export refused: %s\n", err);
		return 0;
	}
	CHECK(rc == 0, "connect %s: %s (%s)", argv[1], strerror(-rc), err);
	in = nbd_get_info(conn);
	printf("connected in %.1f ms: size %llu flags %#x blocks %u/%u/%u%s\n",
	       (now_s() - t0) * 1e3, (unsigned long long)in->size, in->flags, in->min_block,
	       in->pref_block, in->max_payload, in->used_export_name ? " (EXPORT_NAME)" : "");
	CHECK(in->size >= 4 * CHUNK && in->size % CHUNK == 0, "export size %llu",
	      (unsigned long long)in->size);

	if (strcmp(mode, "rw") == 0) {
		CHECK(!(in->flags & NBD_FLAG_READ_ONLY), "read-write export is read-only");
		CHECK(in->flags & NBD_FLAG_SEND_FLUSH, "no flush on the export");
		CHECK(in->flags & NBD_FLAG_SEND_TRIM, "no trim on the export");
		t0 = now_s();
		io_range(conn, NBD_OP_WRITE, 0, in->size, 1);
		printf("wrote %llu bytes in %.0f ms\n", (unsigned long long)in->size,
		       (now_s() - t0) * 1e3);
		rc = one(conn, NBD_OP_FLUSH, 0, 0);
		CHECK(rc == 0, "flush: %s", strerror(-rc));
		t0 = now_s();
		io_range(conn, NBD_OP_READ, 0, in->size, 1);
		printf("read back and verified in %.0f ms\n", (now_s() - t0) * 1e3);
		/* Trim the first half; the second still holds the pattern. */
		rc = one(conn, NBD_OP_TRIM, 0, (uint32_t)(in->size / 2));
		CHECK(rc == 0, "trim: %s", strerror(-rc));
		rc = one(conn, NBD_OP_FLUSH, 0, 0);
		CHECK(rc == 0, "flush after trim: %s", strerror(-rc));
		io_range(conn, NBD_OP_READ, in->size / 2, in->size, 1);
		printf("trimmed the first half\n");
		if (in->flags & NBD_FLAG_SEND_WRITE_ZEROES) {
			rc = one(conn, NBD_OP_WRITE_ZEROES, in->size - CHUNK, CHUNK);
			CHECK(rc == 0, "write zeroes: %s", strerror(-rc));
			all_zero(conn, in->size - CHUNK);
			printf("write zeroes: zero\n");
		} else {
			rc = one(conn, NBD_OP_WRITE_ZEROES, 0, CHUNK);
			CHECK(rc == -ENOTSUP, "write zeroes without the flag: %d", rc);
			printf("write zeroes: not offered by the server, refused locally\n");
		}
		/* Beyond the end: refused before the wire. */
		CHECK(one(conn, NBD_OP_TRIM, in->size, CHUNK) == -EINVAL, "trim past the end");
	} else if (strcmp(mode, "ro") == 0) {
		struct iovec iov = { slots[0].buf, CHUNK };

		CHECK(in->flags & NBD_FLAG_READ_ONLY, "read-only export has flags %#x", in->flags);
		rc = nbd_submit(conn, NBD_OP_WRITE, 0, CHUNK, &iov, 1, 0);
		CHECK(rc == -EROFS, "write to a read-only export: %d", rc);
		rc = one(conn, NBD_OP_TRIM, 0, CHUNK);
		CHECK(rc == -EROFS, "trim on a read-only export: %d", rc);
		/* The first half was trimmed by the rw run; the second holds data. */
		io_range(conn, NBD_OP_READ, in->size / 2, in->size - CHUNK, 1);
		printf("read-only: writes refused, data reads back\n");
	} else if (strcmp(mode, "bench") == 0) {
		for (unsigned int qd = 1; qd <= DEPTH; qd *= 32) {
			double iops = bench_randread(conn, qd, 2.0);

			printf("randread 4k qd%u: %.0f IOPS, mean latency %.1f us\n", qd, iops,
			       qd * 1e6 / iops);
		}
	} else if (strcmp(mode, "reconnect") == 0) {
		double deadline = now_s() + 60;
		unsigned int rounds = 0;

		/* Rewrite and reread the export until the server came back and
		 * two more rounds went through. */
		for (;;) {
			nbd_get_stats(conn, &st);
			if (st.reconnects > 0 && rounds >= 2)
				break;
			if (st.reconnects > 0)
				rounds++;
			CHECK(now_s() < deadline, "no reconnect within 60 s");
			io_range(conn, NBD_OP_WRITE, 0, in->size, 7);
			io_range(conn, NBD_OP_READ, 0, in->size, 7);
			if (st.reconnects == 0)
				printf("READY\n");
		}
		rc = one(conn, NBD_OP_FLUSH, 0, 0);
		CHECK(rc == 0, "flush: %s", strerror(-rc));
	} else {
		fprintf(stderr, "unknown mode %s\n", mode);
		return 2;
	}
	CHECK(failures == 0, "%u requests failed", failures);
	nbd_get_stats(conn, &st);
	printf("stats: submitted %llu completed %llu errors %llu reconnects %llu replayed %llu "
	       "protocol_errors %llu\n",
	       (unsigned long long)st.submitted, (unsigned long long)st.completed,
	       (unsigned long long)st.errors, (unsigned long long)st.reconnects,
	       (unsigned long long)st.replayed, (unsigned long long)st.protocol_errors);
	if (strcmp(mode, "reconnect") == 0)
		CHECK(st.reconnects >= 1 && st.replayed >= 1, "no replay seen");
	nbd_close(conn);
	for (unsigned int i = 0; i < DEPTH; i++)
		free(slots[i].buf);
	printf("OK\n");
	return 0;
}
