/* SPDX-License-Identifier: MIT */
/*
 * evil_frontend: a vhost-user frontend whose guest driver posts garbage.
 *
 * It connects to a vhost-user socket, shares 4 MiB of "guest memory" (a
 * memfd at guest physical address 0), sets up one queue pair of 256
 * entries without VHOST_USER_F_PROTOCOL_FEATURES (rings start enabled at
 * SET_VRING_KICK, vhost-user spec) and makes buffers available on both
 * queues that break the rules in one way:
 *
 *   outside   the buffer's address is beyond guest memory
 *   badhead   the avail ring names descriptor 4000 of a 256-entry table
 *   loop      a chain 0 -> 1 -> 0 -> ...
 *   long      a chain through all 256 descriptors and on (longer than the ring)
 *   indirect  an indirect table of 1000 entries (more than the ring)
 *   zero      16 chains of one zero-length buffer
 *   frames    no rx buffers; on tx, one well-formed chain per frame of FILE
 *             (one frame a line, in hex, at most 128 of at most 2036
 *             bytes): frames whose headers are bad, not the descriptors
 *
 * Then it prints "READY" and holds the connection until stdin closes.
 * Usage: evil_frontend SOCKET MODE [FILE]
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MEM_SIZE   (4u << 20)
#define QSIZE      256
#define F_NEXT     1
#define F_WRITE    2
#define F_INDIRECT 4
#define HDR_LEN    12 /* virtio-net header with VERSION_1 */
#define MAX_FRAMES 128
#define FRAME_BUF  2048
#define FRAMES_GPA 0x100000

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
};

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
			uint32_t nregions, padding;
			struct {
				uint64_t gpa, size, uaddr, offset;
			} r[1];
		} mem;
	} u;
} __attribute__((packed));

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

struct avail {
	uint16_t flags, idx, ring[QSIZE];
};

static int sock;

static void
die(const char *what)
{
	fprintf(stderr, "evil_frontend: %s: %s\n", what, strerror(errno));
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

/* Frames of FILE (hex, one a line) into guest memory at FRAMES_GPA, one
 * FRAME_BUF each behind a zeroed virtio-net header, as descriptors of d. */
static int
load_frames(const char *path, uint8_t *mem, struct desc *d)
{
	char line[2 * FRAME_BUF + 2];
	FILE *f = fopen(path, "r");
	int n = 0;

	if (f == NULL)
		die(path);
	while (n < MAX_FRAMES && fgets(line, sizeof(line), f) != NULL) {
		uint8_t *buf = mem + FRAMES_GPA + (size_t)n * FRAME_BUF;
		size_t len = 0;
		unsigned int byte;

		memset(buf, 0, HDR_LEN);
		while (len < FRAME_BUF - HDR_LEN && sscanf(line + 2 * len, "%2x", &byte) == 1)
			buf[HDR_LEN + len++] = (uint8_t)byte;
		d[n] = (struct desc){ FRAMES_GPA + (uint64_t)n * FRAME_BUF,
				      (uint32_t)(HDR_LEN + len), 0, 0 };
		n++;
	}
	fclose(f);
	return n;
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

int
main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *mode;
	uint8_t *mem;
	uint64_t features, v;
	int memfd, q;
	char buf[64];

	if (argc != 3 && !(argc == 4 && strcmp(argv[2], "frames") == 0)) {
		fprintf(stderr, "usage: evil_frontend SOCKET MODE [FILE]\n");
		return 2;
	}
	mode = argv[2];
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", argv[1]);
	sock = socket(AF_UNIX, SOCK_STREAM, 0);
	if (sock < 0 || connect(sock, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		die("connect");
	memfd = memfd_create("evil-guest", 0);
	if (memfd < 0 || ftruncate(memfd, MEM_SIZE) != 0)
		die("memfd");
	mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (mem == MAP_FAILED)
		die("mmap");

	features = get_u64(GET_FEATURES) & (1ull << 32); /* VIRTIO_F_VERSION_1 only */
	send_msg(SET_OWNER, NULL, 0, -1);
	send_msg(SET_FEATURES, &features, 8, -1);
	{
		struct msg m;

		m.u.mem.nregions = 1;
		m.u.mem.padding = 0;
		m.u.mem.r[0].gpa = 0;
		m.u.mem.r[0].size = MEM_SIZE;
		m.u.mem.r[0].uaddr = (uint64_t)(uintptr_t)mem;
		m.u.mem.r[0].offset = 0;
		send_msg(SET_MEM_TABLE, &m.u.mem, 8 + 32, memfd);
	}
	for (q = 0; q < 2; q++) {
		uint64_t base = (uint64_t)q * 0x4000;
		struct desc *d = (struct desc *)(mem + base);
		struct avail *av = (struct avail *)(mem + base + 0x1000);
		uint16_t wflag = q == 0 ? F_WRITE : 0; /* queue 0: guest rx */
		struct msg m;
		int i, n = 1;

		if (strcmp(mode, "outside") == 0) {
			d[0] = (struct desc){ 1ull << 40, 1500, wflag, 0 };
		} else if (strcmp(mode, "badhead") == 0) {
			d[0] = (struct desc){ 0x10000, 1500, wflag, 0 };
		} else if (strcmp(mode, "loop") == 0) {
			d[0] = (struct desc){ 0x10000, 100, (uint16_t)(wflag | F_NEXT), 1 };
			d[1] = (struct desc){ 0x11000, 100, (uint16_t)(wflag | F_NEXT), 0 };
		} else if (strcmp(mode, "long") == 0) {
			for (i = 0; i < QSIZE; i++)
				d[i] = (struct desc){ 0x10000 + (uint64_t)i * 64, 64,
						      (uint16_t)(wflag | F_NEXT),
						      (uint16_t)((i + 1) % QSIZE) };
		} else if (strcmp(mode, "indirect") == 0) {
			d[0] = (struct desc){ 0x20000, 1000 * 16, F_INDIRECT, 0 };
		} else if (strcmp(mode, "frames") == 0) {
			n = q == 0 ? 0 : load_frames(argv[3], mem, d);
		} else if (strcmp(mode, "zero") == 0) {
			n = 16;
			for (i = 0; i < n; i++)
				d[i] = (struct desc){ 0x10000, 0, wflag, 0 };
		} else {
			fprintf(stderr, "evil_frontend: unknown mode %s\n", mode);
			return 2;
		}
		for (i = 0; i < n; i++)
			av->ring[i] = strcmp(mode, "badhead") == 0 ? 4000 : (uint16_t)i;
		av->idx = (uint16_t)n;

		m.u.state.index = (uint32_t)q;
		m.u.state.num = QSIZE;
		send_msg(SET_VRING_NUM, &m.u.state, 8, -1);
		m.u.addr.index = (uint32_t)q;
		m.u.addr.flags = 0;
		m.u.addr.desc = (uint64_t)(uintptr_t)(mem + base);
		m.u.addr.avail = (uint64_t)(uintptr_t)(mem + base + 0x1000);
		m.u.addr.used = (uint64_t)(uintptr_t)(mem + base + 0x2000);
		m.u.addr.log = 0;
		send_msg(SET_VRING_ADDR, &m.u.addr, 40, -1);
		m.u.state.index = (uint32_t)q;
		m.u.state.num = 0;
		send_msg(SET_VRING_BASE, &m.u.state, 8, -1);
		v = (uint64_t)q;
		send_msg(SET_VRING_CALL, &v, 8, eventfd(0, 0));
		send_msg(SET_VRING_KICK, &v, 8, eventfd(0, 0));
	}
	printf("READY\n");
	fflush(stdout);
	while (fgets(buf, sizeof(buf), stdin) != NULL)
		;
	return 0;
}
