/* SPDX-License-Identifier: MIT */
/*
 * blk_driver: a vhost-user-blk frontend with its own userspace virtio-blk
 * "guest driver" (one split queue of 256 in 4 MiB of memfd memory at guest
 * physical 0), for tests that need requests no Linux driver sends.
 *
 *   blk_driver SOCKET hostile CAPACITY_SECTORS SERIAL
 *       posts good requests and bad ones one at a time and prints one line
 *       per case: "CASE <name> status=<s> used_len=<n> ok=<0|1>", where ok
 *       says the backend answered as virtio 1.2, 5.2.6 wants; then "DONE".
 *   blk_driver SOCKET rate COUNT [rw=read|randread|randwrite] [qd=N]
 *              [secs=S] [warm=S] [sectors=N] [seed=N]
 *       COUNT 4 KiB requests (default: sequential reads, 16 in flight,
 *       waiting 200 us between looks at the used ring); prints "RATE
 *       n=<count> ms=<elapsed> ...". With secs=S it is the load generator
 *       of tools/bench/blk: it spins on the used ring (no sleep in the hot
 *       path), keeps qd (1..64) requests in flight for warm=S seconds
 *       unmeasured and then S seconds (COUNT 0: no limit), at 4 KiB-aligned
 *       random offsets below sectors=N for randread/randwrite, and adds
 *       iops=, p50_us=, p99_us=, p999_us=, max_us= (latency from posting to
 *       seeing the used element) and errors= (status not OK) to the line;
 *       "WINDOW" is printed as the measured window starts.
 *   blk_driver SOCKET resubmit
 *       plays a frontend whose previous backend died: reads in avail
 *       slots 0..2 (heads 0, 3, 6), head 3 completed (used index 1),
 *       head 0 still marked in the shared inflight region
 *       (VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD), the ring base restored
 *       to the used index as QEMU does. A backend that honours the region
 *       completes heads 0 and 6, once each; prints "RESUBMIT ok=<0|1>".
 *
 * Every wait is bounded (5 s per request); it exits 1 on a protocol error.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <linux/virtio_blk.h>
#include <linux/virtio_ring.h>

#define MEM_SIZE (4u << 20)
#define QSIZE    256
#define RING     0x0      /* desc table; avail at +0x1000, used at +0x2000 */
#define HDRS     0x10000  /* 16-byte headers, one per slot */
#define STATUS   0x20000  /* status bytes, one per slot */
#define DATA     0x100000 /* 4 KiB per slot for slots 0..15, more for case data */

enum {
	GET_FEATURES = 1,
	SET_FEATURES = 2,
	SET_OWNER = 3,
	SET_MEM_TABLE = 5,
	SET_VRING_NUM = 8,
	SET_VRING_ADDR = 9,
	SET_VRING_BASE = 10,
	SET_VRING_KICK = 12,
	SET_VRING_CALL = 13,
	GET_PROTOCOL_FEATURES = 15,
	SET_PROTOCOL_FEATURES = 16,
	SET_VRING_ENABLE = 18,
	SET_INFLIGHT_FD = 32,
};

#define F_PROTOCOL_FEATURES 30
#define PF_INFLIGHT_SHMFD   12

/* The inflight region of one split queue (vhost-user spec, "Inflight I/O
 * tracking"), 64-byte aligned per queue. */
struct inflight_desc {
	uint8_t inflight;
	uint8_t padding[5];
	uint16_t next;
	uint64_t counter;
};
struct inflight_split {
	uint64_t features;
	uint16_t version;
	uint16_t desc_num;
	uint16_t last_inflight_io;
	uint16_t used_idx;
	struct inflight_desc desc[QSIZE];
};
#define INFLIGHT_SIZE ((sizeof(struct inflight_split) + 63) & ~(size_t)63)

struct msg {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
	union {
		uint64_t u64;
		struct {
			uint32_t index, num;
		} state;
		struct {
			uint32_t index, flags;
			uint64_t desc, used, avail, log;
		} addr;
		struct {
			uint64_t mmap_size, mmap_offset;
			uint16_t num_queues, queue_size;
			uint32_t pad;
		} inflight;
		struct {
			uint32_t nregions, padding;
			struct {
				uint64_t gpa, size, uaddr, offset;
			} r[1];
		} mem;
	} u;
} __attribute__((packed));

static int sock;
static uint8_t *mem;
static struct vring_desc *desc;
static struct vring_avail *avail;
static struct vring_used *used;
static uint16_t avail_idx, used_seen;
static int kickfd = -1;

static void
die(const char *what)
{
	fprintf(stderr, "blk_driver: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void
send_msg(uint32_t req, const void *payload, uint32_t size, int fd)
{
	struct msg m = { .request = req, .flags = 1, .size = size };
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { &m, 12 + size };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (size)
		memcpy(&m.u, payload, size);
	if (fd >= 0) {
		struct cmsghdr *c;

		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	if (sendmsg(sock, &mh, 0) < 0)
		die("sendmsg");
}

static uint64_t
get_u64(uint32_t req)
{
	struct msg m;

	send_msg(req, NULL, 0, -1);
	if (recv(sock, &m, 12 + 8, MSG_WAITALL) != 20)
		die("reply");
	return m.u.u64;
}

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int inflight_fd = -1; /* resubmit mode: shared before SET_VRING_KICK */
static struct inflight_split *inflight;
static void (*prepare_rings)(void); /* fills the rings before the backend sees them */

static void
setup(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uint64_t features, v;
	struct msg m;
	int memfd;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	sock = socket(AF_UNIX, SOCK_STREAM, 0);
	if (sock < 0 || connect(sock, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		die("connect");
	memfd = memfd_create("blk-guest", 0);
	if (memfd < 0 || ftruncate(memfd, MEM_SIZE) != 0)
		die("memfd");
	mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (mem == MAP_FAILED)
		die("mmap");
	desc = (struct vring_desc *)(mem + RING);
	avail = (struct vring_avail *)(mem + RING + 0x1000);
	used = (struct vring_used *)(mem + RING + 0x2000);
	if (prepare_rings != NULL)
		prepare_rings();

	/* VERSION_1 and the blk features; no PROTOCOL_FEATURES: the ring is
	 * enabled at SET_VRING_KICK (vhost-user spec). */
	features = get_u64(GET_FEATURES) &
		   ((1ull << 32) | (1ull << VIRTIO_BLK_F_FLUSH) | (1ull << VIRTIO_BLK_F_DISCARD) |
		    (1ull << VIRTIO_BLK_F_WRITE_ZEROES) | (1ull << VIRTIO_BLK_F_BLK_SIZE) |
		    (1ull << VIRTIO_BLK_F_SEG_MAX));
	if (inflight_fd >= 0) {
		uint64_t pf;

		features |= 1ull << F_PROTOCOL_FEATURES;
		pf = get_u64(GET_PROTOCOL_FEATURES);
		if (!(pf & (1ull << PF_INFLIGHT_SHMFD))) {
			printf("RESUBMIT ok=0 (inflight not offered)\n");
			exit(1);
		}
		pf = 1ull << PF_INFLIGHT_SHMFD;
		send_msg(SET_FEATURES, &features, 8, -1);
		send_msg(SET_PROTOCOL_FEATURES, &pf, 8, -1);
	}
	send_msg(SET_OWNER, NULL, 0, -1);
	send_msg(SET_FEATURES, &features, 8, -1);
	m.u.mem.nregions = 1;
	m.u.mem.padding = 0;
	m.u.mem.r[0].gpa = 0;
	m.u.mem.r[0].size = MEM_SIZE;
	m.u.mem.r[0].uaddr = (uint64_t)(uintptr_t)mem;
	m.u.mem.r[0].offset = 0;
	send_msg(SET_MEM_TABLE, &m.u.mem, 8 + 32, memfd);
	m.u.state.index = 0;
	m.u.state.num = QSIZE;
	send_msg(SET_VRING_NUM, &m.u.state, 8, -1);
	m.u.addr.index = 0;
	m.u.addr.flags = 0;
	m.u.addr.desc = (uint64_t)(uintptr_t)desc;
	m.u.addr.avail = (uint64_t)(uintptr_t)avail;
	m.u.addr.used = (uint64_t)(uintptr_t)used;
	m.u.addr.log = 0;
	send_msg(SET_VRING_ADDR, &m.u.addr, 40, -1);
	m.u.state.index = 0;
	m.u.state.num = used_seen; /* the ring base: where the used ring is */
	send_msg(SET_VRING_BASE, &m.u.state, 8, -1);
	v = 0;
	send_msg(SET_VRING_CALL, &v, 8, eventfd(0, 0));
	if (inflight_fd >= 0) {
		m.u.inflight.mmap_size = INFLIGHT_SIZE;
		m.u.inflight.mmap_offset = 0;
		m.u.inflight.num_queues = 1;
		m.u.inflight.queue_size = QSIZE;
		m.u.inflight.pad = 0;
		send_msg(SET_INFLIGHT_FD, &m.u.inflight, 24, inflight_fd);
	}
	kickfd = eventfd(0, 0);
	send_msg(SET_VRING_KICK, &v, 8, kickfd);
	if (inflight_fd >= 0) {
		m.u.state.index = 0;
		m.u.state.num = 1;
		send_msg(SET_VRING_ENABLE, &m.u.state, 8, -1);
	}
}

static void
post(uint16_t head)
{
	avail->ring[avail_idx % QSIZE] = head;
	__atomic_store_n(&avail->idx, (uint16_t)(avail_idx + 1), __ATOMIC_RELEASE);
	avail_idx++;
	/* virtio 1.2, 2.7.10: kick unless the device said it polls */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (kickfd >= 0 &&
	    !(__atomic_load_n(&used->flags, __ATOMIC_ACQUIRE) & VRING_USED_F_NO_NOTIFY)) {
		uint64_t one = 1;

		if (write(kickfd, &one, sizeof(one)) != sizeof(one))
			die("kick");
	}
}

/* Waits for the next used element; false after 5 s. */
static bool
wait_used(struct vring_used_elem *out, double ms)
{
	double end = now_ms() + ms;

	while (__atomic_load_n(&used->idx, __ATOMIC_ACQUIRE) == used_seen) {
		if (now_ms() > end)
			return false;
		usleep(200);
	}
	*out = used->ring[used_seen % QSIZE];
	used_seen++;
	return true;
}

static void
hdr(unsigned int slot, uint32_t type, uint64_t sector)
{
	struct virtio_blk_outhdr h = { .type = type, .ioprio = 0, .sector = sector };

	memcpy(mem + HDRS + slot * 16, &h, sizeof(h));
}

/* A standard chain in slot s (descriptors 3s..3s+2): header, data, status. */
static uint16_t
chain3(unsigned int s, uint32_t type, uint64_t sector, uint64_t data_gpa, uint32_t len,
       bool data_writable)
{
	uint16_t d = (uint16_t)(3 * s);

	hdr(s, type, sector);
	mem[STATUS + s] = 0xee;
	desc[d] = (struct vring_desc){ HDRS + s * 16, 16, VRING_DESC_F_NEXT, (uint16_t)(d + 1) };
	desc[d + 1] = (struct vring_desc){ data_gpa, len,
					   (uint16_t)(VRING_DESC_F_NEXT |
						      (data_writable ? VRING_DESC_F_WRITE : 0)),
					   (uint16_t)(d + 2) };
	desc[d + 2] = (struct vring_desc){ STATUS + s, 1, VRING_DESC_F_WRITE, 0 };
	return d;
}

static int failures;

/* Posts head, waits, checks status (-1: the chain has no status to
 * check, then used_len must be 0). */
static void
run_case(const char *name, unsigned int slot, uint16_t head, int want_status)
{
	struct vring_used_elem e;
	int st;
	bool ok;

	post(head);
	if (!wait_used(&e, 5000)) {
		printf("CASE %s status=none used_len=none ok=0\n", name);
		failures++;
		return;
	}
	st = mem[STATUS + slot];
	if (want_status < 0)
		ok = e.len == 0 && e.id == head;
	else
		ok = st == want_status && e.id == head;
	printf("CASE %s status=%d used_len=%u ok=%d\n", name, st, e.len, ok);
	failures += !ok;
}

static int
hostile(uint64_t cap, const char *serial)
{
	struct virtio_blk_discard_write_zeroes seg = { .sector = 0, .num_sectors = 8, .flags = 1 };
	struct vring_used_elem e;
	uint16_t d;
	unsigned int i;

	for (i = 0; i < 4096; i++)
		mem[DATA + i] = (uint8_t)(i * 7 + 1);
	run_case("write", 0, chain3(0, VIRTIO_BLK_T_OUT, 8, DATA, 4096, false), VIRTIO_BLK_S_OK);
	memset(mem + DATA + 0x10000, 0, 4096);
	run_case("read", 1, chain3(1, VIRTIO_BLK_T_IN, 8, DATA + 0x10000, 4096, true),
		 VIRTIO_BLK_S_OK);
	printf("CASE readback status=0 used_len=0 ok=%d\n",
	       memcmp(mem + DATA, mem + DATA + 0x10000, 4096) == 0);
	failures += memcmp(mem + DATA, mem + DATA + 0x10000, 4096) != 0;
	run_case("out_of_range", 2, chain3(2, VIRTIO_BLK_T_IN, cap - 4, DATA + 0x10000, 4096, true),
		 VIRTIO_BLK_S_IOERR);
	run_case("sector_wrap", 3, chain3(3, VIRTIO_BLK_T_OUT, UINT64_MAX - 3, DATA, 4096, false),
		 VIRTIO_BLK_S_IOERR);
	run_case("unaligned_len", 4, chain3(4, VIRTIO_BLK_T_IN, 0, DATA + 0x10000, 1000, true),
		 VIRTIO_BLK_S_IOERR);
	run_case("unknown_type", 5, chain3(5, 99, 0, DATA + 0x10000, 512, true),
		 VIRTIO_BLK_S_UNSUPP);
	memcpy(mem + DATA + 0x20000, &seg, sizeof(seg));
	run_case("discard_unmap_flag", 6,
		 chain3(6, VIRTIO_BLK_T_DISCARD, 0, DATA + 0x20000, 16, false),
		 VIRTIO_BLK_S_UNSUPP);
	/* no status byte: header only, readable */
	d = (uint16_t)(3 * 7);
	hdr(7, VIRTIO_BLK_T_IN, 0);
	desc[d] = (struct vring_desc){ HDRS + 7 * 16, 16, 0, 0 };
	run_case("no_status", 7, d, -1);
	/* data outside guest memory */
	run_case("outside_memory", 8, chain3(8, VIRTIO_BLK_T_IN, 0, 1ull << 40, 4096, true), -1);
	/* a loop */
	d = chain3(9, VIRTIO_BLK_T_IN, 0, DATA + 0x10000, 512, true);
	desc[d + 1].next = d;
	run_case("loop", 9, d, -1);
	/* a head beyond the ring: dropped (counted), the queue goes on */
	post(4000);
	run_case("after_bad_head", 10, chain3(10, VIRTIO_BLK_T_IN, 8, DATA + 0x10000, 4096, true),
		 VIRTIO_BLK_S_OK);
	/* GET_ID */
	memset(mem + DATA + 0x30000, 0, 32);
	run_case("get_id", 11, chain3(11, VIRTIO_BLK_T_GET_ID, 0, DATA + 0x30000, 20, true),
		 VIRTIO_BLK_S_OK);
	i = strncmp((char *)mem + DATA + 0x30000, serial, 20) == 0;
	printf("CASE serial status=0 used_len=0 ok=%u\n", i);
	failures += !i;
	/* write zeroes over the pattern at sector 8, then discard it */
	seg = (struct virtio_blk_discard_write_zeroes){ .sector = 8, .num_sectors = 8, .flags = 0 };
	memcpy(mem + DATA + 0x20000, &seg, sizeof(seg));
	run_case("write_zeroes", 14,
		 chain3(14, VIRTIO_BLK_T_WRITE_ZEROES, 0, DATA + 0x20000, 16, false),
		 VIRTIO_BLK_S_OK);
	memset(mem + DATA + 0x10000, 0xaa, 4096);
	run_case("read_zeroes", 15, chain3(15, VIRTIO_BLK_T_IN, 8, DATA + 0x10000, 4096, true),
		 VIRTIO_BLK_S_OK);
	for (i = 0; i < 4096 && mem[DATA + 0x10000 + i] == 0; i++)
		;
	printf("CASE zeroes_read_back status=0 used_len=0 ok=%d\n", i == 4096);
	failures += i != 4096;
	run_case("discard", 16, chain3(16, VIRTIO_BLK_T_DISCARD, 0, DATA + 0x20000, 16, false),
		 VIRTIO_BLK_S_OK);
	run_case("flush", 12, chain3(12, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false), VIRTIO_BLK_S_OK);
	run_case("final_read", 13, chain3(13, VIRTIO_BLK_T_IN, 8, DATA + 0x10000, 4096, true),
		 VIRTIO_BLK_S_OK);
	/* nothing else was completed */
	printf("CASE no_stray_used status=0 used_len=0 ok=%d\n", !wait_used(&e, 300));
	printf("DONE failures=%d\n", failures);
	return 0;
}

static int
rate(unsigned int count)
{
	struct vring_used_elem e;
	unsigned int posted = 0, done = 0, s;
	double t0 = now_ms();

	for (s = 0; s < 16 && posted < count; s++, posted++)
		post(chain3(s, VIRTIO_BLK_T_IN, s * 8, DATA + s * 4096, 4096, true));
	while (done < count) {
		if (!wait_used(&e, 5000)) {
			printf("RATE timeout done=%u\n", done);
			return 1;
		}
		done++;
		if (posted < count) {
			post((uint16_t)e.id);
			posted++;
		}
	}
	printf("RATE n=%u ms=%.0f\n", count, now_ms() - t0);
	return 0;
}

/* ---- the load generator (rate ... secs=S) ------------------------------ */

#define BENCH_QD_MAX 64
/* Latency histogram: 100 ns buckets up to 100 ms, the rest in the last. */
#define HIST_NS    100
#define HIST_SLOTS 1000000

struct bench {
	int write, random, qd;
	double secs, warm;
	uint64_t sectors, seed;
};

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t
xorshift(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* Percentile p (0..1) of the histogram, in microseconds. */
static double
hist_pct(const uint32_t *h, uint64_t n, double p)
{
	uint64_t want = (uint64_t)((double)n * p), sum = 0;
	unsigned int i;

	if (want >= n)
		want = n - 1;
	for (i = 0; i < HIST_SLOTS; i++) {
		sum += h[i];
		if (sum > want)
			break;
	}
	return (double)i * HIST_NS / 1000.0 + HIST_NS / 2000.0;
}

static bool
parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v > max)
		return false;
	*out = v;
	return true;
}

static bool
parse_secs(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v >= 0 && v <= 3600))
		return false;
	*out = v;
	return true;
}

/* Parses rate's key=value options; false on anything unknown or out of range. */
static bool
bench_opts(int argc, char **argv, struct bench *b)
{
	uint64_t v;
	int i;

	*b = (struct bench){ .qd = 16, .seed = 88172645463325252ull };
	for (i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "rw=read") == 0) {
			b->write = 0;
			b->random = 0;
		} else if (strcmp(a, "rw=randread") == 0) {
			b->write = 0;
			b->random = 1;
		} else if (strcmp(a, "rw=randwrite") == 0) {
			b->write = 1;
			b->random = 1;
		} else if (strncmp(a, "qd=", 3) == 0 && parse_u64(a + 3, BENCH_QD_MAX, &v) &&
			   v > 0) {
			b->qd = (int)v;
		} else if (strncmp(a, "secs=", 5) == 0 && parse_secs(a + 5, &b->secs) &&
			   b->secs > 0) {
			;
		} else if (strncmp(a, "warm=", 5) == 0 && parse_secs(a + 5, &b->warm)) {
			;
		} else if (strncmp(a, "sectors=", 8) == 0 && parse_u64(a + 8, UINT64_MAX / 2, &v) &&
			   v >= 8) {
			b->sectors = v;
		} else if (strncmp(a, "seed=", 5) == 0 && parse_u64(a + 5, UINT64_MAX, &v) &&
			   v > 0) {
			b->seed = v;
		} else {
			fprintf(stderr, "blk_driver: bad rate option '%s'\n", a);
			return false;
		}
	}
	if (b->secs <= 0) {
		fprintf(stderr, "blk_driver: rate options need secs=S\n");
		return false;
	}
	if (b->random && b->sectors == 0) {
		fprintf(stderr, "blk_driver: random I/O needs sectors=N (the disk's size)\n");
		return false;
	}
	return true;
}

/* The next request's sector: random 4 KiB blocks below b->sectors, or
 * the next block (wrapping at b->sectors when given). */
static uint64_t
bench_sector(struct bench *b, uint64_t *seq)
{
	if (b->random)
		return (xorshift(&b->seed) % (b->sectors / 8)) * 8;
	*seq += 8;
	if (b->sectors != 0 && *seq + 8 > b->sectors)
		*seq = 0;
	return *seq;
}

/* Keeps b->qd requests in flight, spinning on the used ring; a request
 * that takes more than 5 s ends the run (exit 1). */
static int
bench_run(unsigned int count, struct bench *b)
{
	static uint32_t hist[HIST_SLOTS];
	uint64_t posted_at[BENCH_QD_MAX], t0, t_meas, t_end, now, n = 0, errors = 0, seq = 0;
	uint64_t max_ns = 0, last_progress;
	uint32_t type = b->write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN;
	bool measuring = b->warm <= 0;
	int s;

	for (s = 0; s < b->qd; s++)
		memset(mem + DATA + (size_t)s * 4096, 0x5a ^ s, 4096);
	t0 = now_ns();
	t_meas = t0 + (uint64_t)(b->warm * 1e9);
	t_end = t_meas + (uint64_t)(b->secs * 1e9);
	if (measuring)
		printf("WINDOW\n");
	for (s = 0; s < b->qd; s++) {
		posted_at[s] = now_ns();
		post(chain3((unsigned int)s, type, bench_sector(b, &seq), DATA + (uint64_t)s * 4096,
			    4096, !b->write));
	}
	last_progress = t0;
	for (;;) {
		uint16_t idx = __atomic_load_n(&used->idx, __ATOMIC_ACQUIRE);

		now = now_ns();
		if (idx == used_seen) {
			if (now - last_progress > 5000000000ull) {
				printf("RATE timeout done=%" PRIu64 "\n", n);
				return 1;
			}
			continue;
		}
		last_progress = now;
		if (!measuring && now >= t_meas) {
			measuring = true;
			t_meas = now;
			t_end = now + (uint64_t)(b->secs * 1e9);
			printf("WINDOW\n"); /* for a caller sampling CPU time */
		}
		while (idx != used_seen) {
			struct vring_used_elem e = used->ring[used_seen % QSIZE];
			unsigned int slot = e.id / 3;
			uint64_t lat;

			used_seen++;
			if (e.id % 3 != 0 || slot >= (unsigned int)b->qd) {
				printf("RATE bad used id=%u\n", e.id);
				return 1;
			}
			lat = now - posted_at[slot];
			if (measuring) {
				n++;
				hist[lat / HIST_NS < HIST_SLOTS ? lat / HIST_NS : HIST_SLOTS - 1]++;
				if (lat > max_ns)
					max_ns = lat;
				errors += mem[STATUS + slot] != VIRTIO_BLK_S_OK;
			}
			if (now >= t_end || (count != 0 && n >= count))
				continue; /* drain: no new request */
			posted_at[slot] = now_ns();
			post(chain3(slot, type, bench_sector(b, &seq), DATA + (uint64_t)slot * 4096,
				    4096, !b->write));
		}
		if (measuring && (now >= t_end || (count != 0 && n >= count)))
			break;
	}
	now = now_ns();
	if (n == 0) {
		printf("RATE n=0\n");
		return 1;
	}
	printf("RATE n=%" PRIu64 " ms=%.0f iops=%.0f p50_us=%.1f p99_us=%.1f p999_us=%.1f "
	       "max_us=%.1f errors=%" PRIu64 " qd=%d rw=%s\n",
	       n, (double)(now - t_meas) / 1e6, (double)n * 1e9 / (double)(now - t_meas),
	       hist_pct(hist, n, 0.50), hist_pct(hist, n, 0.99), hist_pct(hist, n, 0.999),
	       (double)max_ns / 1000.0, errors, b->qd,
	       b->write    ? "randwrite"
	       : b->random ? "randread"
			   : "read");
	return errors == 0 ? 0 : 1;
}

static uint16_t chain3(unsigned int s, uint32_t type, uint64_t sector, uint64_t data_gpa,
		       uint32_t len, bool data_writable);

/* What the previous backend left: avail 0..2 = heads 0, 3, 6; head 3
 * completed (used index 1); head 0 in flight. */
static void
resubmit_rings(void)
{
	unsigned int s;

	for (s = 0; s < 3; s++)
		avail->ring[s] = chain3(s, VIRTIO_BLK_T_IN, s * 8, DATA + s * 4096, 4096, true);
	avail->idx = avail_idx = 3;
	used->ring[0].id = 3;
	used->ring[0].len = 4097;
	used->idx = 1;
	mem[STATUS + 1] = VIRTIO_BLK_S_OK;
}

static int
resubmit(const char *path)
{
	struct vring_used_elem e[2];
	bool ok;

	inflight_fd = memfd_create("blk-inflight", 0);
	if (inflight_fd < 0 || ftruncate(inflight_fd, INFLIGHT_SIZE) != 0)
		die("inflight memfd");
	inflight = mmap(NULL, INFLIGHT_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, inflight_fd, 0);
	if (inflight == MAP_FAILED)
		die("inflight mmap");
	inflight->version = 1;
	inflight->desc_num = QSIZE;
	inflight->used_idx = 1;
	inflight->last_inflight_io = 3;
	inflight->desc[0].inflight = 1;
	inflight->desc[0].counter = 1;
	used_seen = 1;
	prepare_rings = resubmit_rings;
	setup(path);
	ok = wait_used(&e[0], 5000) && wait_used(&e[1], 5000);
	if (!ok) {
		printf("RESUBMIT ok=0 (fewer than 2 completions)\n");
		return 1;
	}
	printf("RESUBMIT used=%u,%u status=%u,%u inflight_left=%u\n", e[0].id, e[1].id,
	       mem[STATUS + 0], mem[STATUS + 2], inflight->desc[0].inflight);
	ok = ((e[0].id == 0 && e[1].id == 6) || (e[0].id == 6 && e[1].id == 0)) &&
	     mem[STATUS + 0] == VIRTIO_BLK_S_OK && mem[STATUS + 2] == VIRTIO_BLK_S_OK &&
	     inflight->desc[0].inflight == 0 && inflight->desc[6].inflight == 0;
	/* head 3 must not come back */
	if (wait_used(&e[0], 300)) {
		printf("RESUBMIT extra used=%u\n", e[0].id);
		ok = false;
	}
	printf("RESUBMIT ok=%d\n", ok);
	return ok ? 0 : 1;
}

int
main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 5 && strcmp(argv[2], "hostile") == 0) {
		setup(argv[1]);
		return hostile(strtoull(argv[3], NULL, 10), argv[4]);
	}
	if (argc == 3 && strcmp(argv[2], "resubmit") == 0)
		return resubmit(argv[1]);
	if (argc >= 4 && strcmp(argv[2], "rate") == 0) {
		struct bench b;
		uint64_t count;

		if (!parse_u64(argv[3], UINT32_MAX, &count))
			goto usage;
		if (argc == 4) {
			setup(argv[1]);
			return rate((unsigned int)count);
		}
		if (!bench_opts(argc - 4, argv + 4, &b))
			goto usage;
		setup(argv[1]);
		return bench_run((unsigned int)count, &b);
	}
usage:
	fprintf(stderr, "usage: blk_driver SOCKET hostile CAPACITY SERIAL | rate COUNT "
			"[rw=read|randread|randwrite] [qd=N] [secs=S] [warm=S] [sectors=N] "
			"[seed=N] | resubmit\n");
	return 2;
}
