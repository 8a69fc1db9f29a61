/* SPDX-License-Identifier: MIT */
/*
 * Unit tests: vmm/virtio_blk.c and the GET_CONFIG of vmm/vhost_user.c,
 * the device as a guest driver sees it (through the transport's BAR) and
 * as a vhost-user backend sees it (the scripted backend of vhu_backend.c,
 * listening on a socket): the offer and num_queues for what the backend
 * offers, the configuration read from the backend, what DRIVER_OK and a
 * reset send, read-only, everything sent again when the backend comes
 * back (rings continued from the guest's used index, the inflight area
 * handed over), and backends that answer GET_CONFIG or GET_INFLIGHT_FD
 * badly. No KVM: the interrupt plumbing is a stand-in.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "kvm_stubs.h"
#include "vhu_backend.h"
#include "virtio_blk.h"
#include "virtio_pci.h"
#include "virtq.h"

#define BIT(n) (1ull << (n))
#define MiB    (1ull << 20)

/* virtio 1.2, 4.1.4.3. */
#define C_DFSELECT 0x00
#define C_DF       0x04
#define C_GFSELECT 0x08
#define C_GF       0x0c
#define C_NUMQ     0x12
#define C_STATUS   0x14
#define C_GEN      0x15
#define C_QSEL     0x16
#define C_QSIZE    0x18
#define C_QENABLE  0x1c
#define C_QDESC    0x20
#define C_QDRIVER  0x28
#define C_QDEVICE  0x30
#define DEV        VMM_VIRTIO_PCI_DEVICE_OFF

#define BLK_BACKEND                                                                                \
	(BIT(32) | BIT(30) | BIT(VMM_VIRTIO_BLK_F_FLUSH) | BIT(VMM_VIRTIO_BLK_F_BLK_SIZE) |        \
	 BIT(VMM_VIRTIO_BLK_F_SEG_MAX) | BIT(VMM_VIRTIO_BLK_F_MQ) |                                \
	 BIT(VMM_VIRTIO_BLK_F_CONFIG_WCE))

static const struct vmm_eventfd_ops efd = {
	.msi_route = kvm_stub_route,
	.msi_route_free = kvm_stub_route_free,
	.irqfd = kvm_stub_irqfd,
	.ioeventfd = kvm_stub_ioeventfd,
};

struct t {
	char dir[64], path[128];
	struct vmm_mem *mem;
	struct backend b;
	struct vmm_virtio_blk *d;
	struct vmm_pci_func *f;
};

static struct t T;
static struct seen seen[MAX_SEEN];

static uint64_t
rd(uint64_t off, uint32_t len)
{
	uint8_t b[8];

	T.f->bar[0].ops->read(T.f->bar[0].dev, off, b, len);
	return vmm_io_get(b, len);
}

static void
wr(uint64_t off, uint32_t len, uint64_t v)
{
	uint8_t b[8];

	vmm_io_put(b, len, v);
	T.f->bar[0].ops->write(T.f->bar[0].dev, off, b, len);
}

static struct vmm_disk_stats
stats(void)
{
	struct vmm_disk_stats st;

	vmm_virtio_blk_get_stats(T.d, &st);
	return st;
}

/* Bounded waits: 5 s at most. */
#define UNTIL(cond)                                                                                \
	({                                                                                         \
		bool _ok = false;                                                                  \
		for (int _i = 0; _i < 500 && !(_ok = (cond)); _i++)                                \
			usleep(10000);                                                             \
		_ok;                                                                               \
	})

static void
put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

static void
put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static int
setup(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uint64_t cap = 0x123456789ull;

	(void)state;
	memset(&T, 0, sizeof(T));
	snprintf(T.dir, sizeof(T.dir), "/tmp/nv-blk-test.XXXXXX");
	assert_non_null(mkdtemp(T.dir));
	snprintf(T.path, sizeof(T.path), "%s/blk.sock", T.dir);
	assert_int_equal(vmm_mem_create(16 * MiB, 0, 0, &T.mem), 0);
	pthread_mutex_init(&T.b.lock, NULL);
	T.b.fd = -1;
	T.b.protocol = true;
	T.b.features = BLK_BACKEND;
	T.b.queue_num = 4;
	/* 5.2.4: capacity, seg_max, blk_size, num_queues. */
	memcpy(T.b.config, &cap, 8);
	put32(T.b.config + 12, 126);
	put32(T.b.config + 20, 4096);
	put16(T.b.config + 34, 2);
	T.b.ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", T.path);
	assert_int_equal(bind(T.b.ls, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(T.b.ls, 4), 0);
	assert_int_equal(pthread_create(&T.b.th, NULL, backend_main, &T.b), 0);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	vmm_virtio_blk_destroy(T.d);
	shutdown(T.b.ls, SHUT_RDWR);
	pthread_mutex_lock(&T.b.lock);
	if (T.b.fd >= 0)
		shutdown(T.b.fd, SHUT_RDWR);
	pthread_mutex_unlock(&T.b.lock);
	pthread_join(T.b.th, NULL);
	close(T.b.ls);
	unlink(T.path);
	rmdir(T.dir);
	vmm_mem_destroy(T.mem);
	return 0;
}

static void
create(uint32_t queues, bool ro)
{
	struct vmm_virtio_blk_conf c = {
		.socket = T.path,
		.max_queues = queues,
		.read_only = ro,
		.mem = T.mem,
		.efd = &efd,
		.connect_timeout_ms = 2000,
		.name = "test-disk",
	};

	assert_int_equal(vmm_virtio_blk_create(&c, &T.d), 0);
	T.f = vmm_virtio_blk_func(T.d);
}

static uint64_t
ring(unsigned int q)
{
	return MiB + q * 0x10000ull;
}

static uint64_t
offer(void)
{
	uint64_t f;

	wr(C_STATUS, 1, 0);
	wr(C_DFSELECT, 4, 0);
	f = rd(C_DF, 4);
	wr(C_DFSELECT, 4, 1);
	return f | rd(C_DF, 4) << 32;
}

static void
driver_ok(uint64_t features, unsigned int nq)
{
	wr(C_STATUS, 1, 0);
	wr(C_STATUS, 1, 1 | 2);
	wr(C_GFSELECT, 4, 0);
	wr(C_GF, 4, (uint32_t)features);
	wr(C_GFSELECT, 4, 1);
	wr(C_GF, 4, (uint32_t)(features >> 32));
	wr(C_STATUS, 1, 1 | 2 | 8);
	assert_int_equal(rd(C_STATUS, 1), 1 | 2 | 8);
	for (unsigned int q = 0; q < nq; q++) {
		wr(C_QSEL, 2, q);
		wr(C_QSIZE, 2, 16);
		wr(C_QDESC, 8, ring(q));
		wr(C_QDRIVER, 8, ring(q) + 0x1000);
		wr(C_QDEVICE, 8, ring(q) + 0x2000);
		wr(C_QENABLE, 2, 1);
	}
	wr(C_STATUS, 1, 1 | 2 | 8 | 4);
}

static unsigned int
count(unsigned int n, unsigned int conn, uint32_t req)
{
	unsigned int k = 0;

	for (unsigned int i = 0; i < n; i++)
		k += seen[i].conn == conn && seen[i].request == req;
	return k;
}

/* The u64 payload of the last request req of conn. */
static uint64_t
u64_of(unsigned int n, unsigned int conn, uint32_t req)
{
	uint64_t v = ~0ull;

	for (unsigned int i = 0; i < n; i++)
		if (seen[i].conn == conn && seen[i].request == req)
			memcpy(&v, seen[i].payload, 8);
	return v;
}

/* Whether conn's first request a came before its first request b, and
 * every a carried one open fd. */
static bool
before(unsigned int n, unsigned int conn, uint32_t a, uint32_t b)
{
	bool seen_a = false;

	for (unsigned int i = 0; i < n; i++) {
		if (seen[i].conn != conn)
			continue;
		if (seen[i].request == a) {
			if (seen[i].nfds != 1 || !seen[i].fds_valid)
				return false;
			seen_a = true;
		}
		if (seen[i].request == b)
			return seen_a;
	}
	return false;
}

/* The (index, num) of the i-th request req of conn. */
static void
state_of(unsigned int n, unsigned int conn, uint32_t req, unsigned int which, uint32_t *idx,
	 uint32_t *num)
{
	for (unsigned int i = 0; i < n; i++) {
		if (seen[i].conn != conn || seen[i].request != req || which-- != 0)
			continue;
		memcpy(idx, seen[i].payload, 4);
		memcpy(num, seen[i].payload + 4, 4);
		return;
	}
	fail_msg("request %u #%u of connection %u not seen", req, which, conn);
}

static void
test_offer(void **state)
{
	uint8_t cfg[VMM_VIRTIO_BLK_CONFIG_SIZE] = { 0 };
	uint64_t f;

	(void)state;
	/* Before a backend: VERSION_1, RO if asked, nothing else. */
	assert_int_equal(vmm_virtio_blk_offer(0, false, false, 1), BIT(32));
	assert_int_equal(vmm_virtio_blk_offer(0, false, true, 1),
			 BIT(32) | BIT(VMM_VIRTIO_BLK_F_RO));
	/* The backend's blk features pass, CONFIG_WCE and the protocol bit
	 * do not; MQ only for several queues. */
	f = vmm_virtio_blk_offer(BLK_BACKEND | BIT(VMM_VIRTIO_F_RING_EVENT_IDX), true, false, 1);
	assert_int_equal(f, BIT(32) | BIT(VMM_VIRTIO_BLK_F_FLUSH) | BIT(VMM_VIRTIO_BLK_F_BLK_SIZE) |
				    BIT(VMM_VIRTIO_BLK_F_SEG_MAX) |
				    BIT(VMM_VIRTIO_F_RING_EVENT_IDX));
	f = vmm_virtio_blk_offer(BLK_BACKEND, true, true, 2);
	assert_true(f & BIT(VMM_VIRTIO_BLK_F_MQ));
	assert_true(f & BIT(VMM_VIRTIO_BLK_F_RO));
	/* A backend's own RO stays. */
	assert_true(vmm_virtio_blk_offer(BIT(32) | BIT(VMM_VIRTIO_BLK_F_RO), true, false, 1) &
		    BIT(VMM_VIRTIO_BLK_F_RO));

	/* Queues: min(asked, GET_QUEUE_NUM, config num_queues); 1 without
	 * the backend's MQ. */
	put16(cfg + 34, 3);
	assert_int_equal(vmm_virtio_blk_queues(4, 8, BLK_BACKEND, cfg), 3);
	assert_int_equal(vmm_virtio_blk_queues(4, 2, BLK_BACKEND, cfg), 2);
	assert_int_equal(vmm_virtio_blk_queues(2, 8, BLK_BACKEND, cfg), 2);
	assert_int_equal(vmm_virtio_blk_queues(4, 8, BIT(32), cfg), 1);
	put16(cfg + 34, 0);
	assert_int_equal(vmm_virtio_blk_queues(4, 0, BLK_BACKEND, cfg), 4);
}

/* GET_CONFIG replies, good and bad, through the pure parser. */
static void
test_config_reply(void **state)
{
	uint8_t msg[12 + 12 + 16], out[16];
	uint32_t req = VMM_VHU_GET_CONFIG, flags = VMM_VHU_VERSION | VMM_VHU_FLAG_REPLY;
	uint32_t size = 12 + 16, off = 0, len = 16;
	char why[160];

	(void)state;
	memset(msg, 0, sizeof(msg));
	memcpy(msg, &req, 4);
	memcpy(msg + 4, &flags, 4);
	memcpy(msg + 8, &size, 4);
	memcpy(msg + 12, &off, 4);
	memcpy(msg + 16, &len, 4);
	for (int i = 0; i < 16; i++)
		msg[24 + i] = (uint8_t)(0xa0 + i);
	assert_int_equal(vmm_vhu_parse_config_reply(msg, sizeof(msg), 0, 16, out, why, sizeof(why)),
			 0);
	assert_memory_equal(out, msg + 24, 16);
	/* Truncated, a request for other bytes, a wrong size. */
	assert_int_equal(vmm_vhu_parse_config_reply(msg, 11, 0, 16, out, why, sizeof(why)),
			 -EPROTO);
	assert_int_equal(
		vmm_vhu_parse_config_reply(msg, sizeof(msg) - 1, 0, 16, out, why, sizeof(why)),
		-EPROTO);
	assert_int_equal(vmm_vhu_parse_config_reply(msg, sizeof(msg), 4, 16, out, why, sizeof(why)),
			 -EPROTO);
	assert_non_null(strstr(why, "answered with"));
	assert_int_equal(vmm_vhu_parse_config_reply(msg, sizeof(msg), 0, 8, out, why, sizeof(why)),
			 -EPROTO);
	/* The echoed size differs from the header's. */
	len = 15;
	memcpy(msg + 16, &len, 4);
	assert_int_equal(vmm_vhu_parse_config_reply(msg, sizeof(msg), 0, 16, out, why, sizeof(why)),
			 -EPROTO);
	len = 16;
	memcpy(msg + 16, &len, 4);
	/* Not a reply, or a reply to something else. */
	flags = VMM_VHU_VERSION;
	memcpy(msg + 4, &flags, 4);
	assert_int_equal(vmm_vhu_parse_config_reply(msg, sizeof(msg), 0, 16, out, why, sizeof(why)),
			 -EPROTO);
	flags = VMM_VHU_VERSION | VMM_VHU_FLAG_REPLY;
	memcpy(msg + 4, &flags, 4);
	req = VMM_VHU_GET_FEATURES;
	memcpy(msg, &req, 4);
	assert_int_equal(vmm_vhu_parse_config_reply(msg, sizeof(msg), 0, 16, out, why, sizeof(why)),
			 -EPROTO);
}

static void
test_device(void **state)
{
	const uint64_t want = BIT(32) | BIT(VMM_VIRTIO_BLK_F_FLUSH) | BIT(VMM_VIRTIO_BLK_F_MQ) |
			      BIT(VMM_VIRTIO_BLK_F_BLK_SIZE);
	uint16_t used7 = 7;
	unsigned int n, mark, fds = 0;
	uint32_t idx, num;
	uint64_t f;

	(void)state;
	create(2, false);
	/* The backend was tried at creation: known before the first reset. */
	assert_true(stats().backend_connected);
	f = offer();
	assert_int_equal(f & want, want);
	assert_false(f & BIT(VMM_VIRTIO_BLK_F_CONFIG_WCE));
	assert_false(f & BIT(VMM_VIRTIO_BLK_F_RO));
	/* The configuration is the backend's; num_queues the shim's. */
	assert_int_equal(rd(DEV, 4), 0x23456789);
	assert_int_equal(rd(DEV + 4, 4), 0x1);
	assert_int_equal(rd(DEV + 12, 4), 126);
	assert_int_equal(rd(DEV + 20, 4), 4096);
	assert_int_equal(rd(DEV + 34, 2), 2);
	assert_int_equal(rd(C_NUMQ, 2), 2);
	assert_int_equal(stats().capacity, 0x123456789ull);

	driver_ok(want, 2);
	assert_int_equal(rd(C_STATUS, 1), 15);
	assert_true(stats().backend_running);
	assert_int_equal(stats().queues, 2);
	n = backend_seen(&T.b, seen, MAX_SEEN);
	assert_int_equal(count(n, 1, VMM_VHU_GET_CONFIG), 1);
	/* What the guest took of the backend's, and the protocol bit. */
	assert_int_equal(u64_of(n, 1, VMM_VHU_SET_FEATURES), want | BIT(30));
	for (unsigned int i = 0; i < n; i++)
		if (seen[i].request == VMM_VHU_SET_MEM_TABLE)
			fds += seen[i].nfds;
	assert_int_equal(fds, T.mem->nregions);
	assert_int_equal(count(n, 1, VMM_VHU_SET_VRING_KICK), 2);
	assert_int_equal(count(n, 1, VMM_VHU_SET_VRING_CALL), 2);
	assert_int_equal(count(n, 1, VMM_VHU_SET_VRING_ENABLE), 2);
	state_of(n, 1, VMM_VHU_SET_VRING_BASE, 1, &idx, &num);
	assert_int_equal(idx, 1);
	assert_int_equal(num, 0);
	/* The inflight area: asked for once, handed back before the rings. */
	assert_int_equal(count(n, 1, VMM_VHU_GET_INFLIGHT_FD), 1);
	assert_int_equal(count(n, 1, VMM_VHU_SET_INFLIGHT_FD), 1);
	assert_true(before(n, 1, VMM_VHU_SET_INFLIGHT_FD, VMM_VHU_SET_VRING_KICK));
	assert_true(stats().inflight_area);

	/* The backend goes away; requests wait. It comes back (the same
	 * listener) and gets everything again, from the used index. */
	assert_int_equal(vmm_mem_write(T.mem, ring(1) + 0x2000 + 2, &used7, 2), 0);
	pthread_mutex_lock(&T.b.lock);
	shutdown(T.b.fd, SHUT_RDWR);
	pthread_mutex_unlock(&T.b.lock);
	assert_true(UNTIL(stats().connects == 2 && stats().backend_running));
	assert_int_equal(stats().disconnects, 1);
	assert_int_equal(rd(C_STATUS, 1), 15); /* nothing for the guest to see */
	n = backend_seen(&T.b, seen, MAX_SEEN);
	assert_int_equal(count(n, 2, VMM_VHU_GET_CONFIG), 1);
	assert_int_equal(count(n, 2, VMM_VHU_SET_MEM_TABLE), 1);
	assert_int_equal(count(n, 2, VMM_VHU_SET_VRING_ADDR), 2);
	state_of(n, 2, VMM_VHU_SET_VRING_BASE, 1, &idx, &num);
	assert_int_equal(idx, 1);
	assert_int_equal(num, 7);
	/* The same area goes to the new backend: no new one asked for. */
	assert_int_equal(count(n, 2, VMM_VHU_GET_INFLIGHT_FD), 0);
	assert_int_equal(count(n, 2, VMM_VHU_SET_INFLIGHT_FD), 1);
	assert_true(before(n, 2, VMM_VHU_SET_INFLIGHT_FD, VMM_VHU_SET_VRING_KICK));
	assert_int_equal(stats().inflight_handovers, 1);

	/* Reset: both rings stopped. */
	mark = n;
	wr(C_STATUS, 1, 0);
	n = backend_seen(&T.b, seen, MAX_SEEN);
	assert_int_equal(count(n, 2, VMM_VHU_GET_VRING_BASE), 2);
	assert_true(n > mark);
	assert_false(stats().driver_ok);
	assert_int_equal(stats().queues, 0);
	assert_false(stats().inflight_area); /* nothing in flight after a reset */
}

static void
test_read_only_one_queue(void **state)
{
	unsigned int n;
	uint64_t f;

	(void)state;
	create(1, true);
	f = offer();
	/* RO is the shim's own; no MQ for one queue. */
	assert_true(f & BIT(VMM_VIRTIO_BLK_F_RO));
	assert_false(f & BIT(VMM_VIRTIO_BLK_F_MQ));
	assert_int_equal(rd(DEV + 34, 2), 1);
	assert_int_equal(rd(C_NUMQ, 2), 1);
	driver_ok(BIT(32) | BIT(VMM_VIRTIO_BLK_F_RO) | BIT(VMM_VIRTIO_BLK_F_FLUSH), 1);
	assert_int_equal(rd(C_STATUS, 1), 15);
	n = backend_seen(&T.b, seen, MAX_SEEN);
	/* The backend never offered RO: it is not sent. */
	assert_int_equal(u64_of(n, 1, VMM_VHU_SET_FEATURES),
			 BIT(32) | BIT(30) | BIT(VMM_VIRTIO_BLK_F_FLUSH));
}

/* The next backend serves fewer queues than the guest uses: the device
 * needs a reset; after it, the new backend's offer and configuration. */
static void
test_incompatible_backend(void **state)
{
	const uint64_t want = BIT(32) | BIT(VMM_VIRTIO_BLK_F_MQ);
	uint64_t cap = 0x5000;

	(void)state;
	create(2, false);
	driver_ok(want, 2);
	assert_true(stats().backend_running);
	pthread_mutex_lock(&T.b.lock);
	T.b.queue_num = 1;
	memcpy(T.b.config, &cap, 8);
	shutdown(T.b.fd, SHUT_RDWR);
	pthread_mutex_unlock(&T.b.lock);
	assert_true(UNTIL(stats().connects == 2));
	assert_true(UNTIL(rd(C_STATUS, 1) & VMM_VIRTIO_S_NEEDS_RESET));
	assert_false(stats().backend_running);
	assert_int_equal(stats().queue_errors, 1);
	assert_false(offer() & BIT(VMM_VIRTIO_BLK_F_MQ));
	assert_int_equal(rd(DEV + 34, 2), 1);
	assert_int_equal(rd(DEV, 4), 0x5000);
	driver_ok(BIT(32), 1);
	assert_int_equal(rd(C_STATUS, 1), 15);
	assert_true(stats().backend_running);
}

/* A queue past num_queues (the guest did not negotiate MQ) is refused. */
static void
test_queue_past_num_queues(void **state)
{
	(void)state;
	create(2, false);
	driver_ok(BIT(32), 2);
	assert_true(rd(C_STATUS, 1) & VMM_VIRTIO_S_NEEDS_RESET);
	assert_int_equal(stats().queue_errors, 1);
	assert_false(stats().backend_running);
}

static unsigned int
backend_conns(void)
{
	unsigned int c;

	pthread_mutex_lock(&T.b.lock);
	c = T.b.conns;
	pthread_mutex_unlock(&T.b.lock);
	return c;
}

/* Backends that answer GET_CONFIG badly are dropped and counted; the disk
 * shows no capacity; a good answer later is taken. */
static void
bad_config(enum bad bad)
{
	T.b.bad_on = VMM_VHU_GET_CONFIG;
	T.b.bad = bad;
	create(1, false);
	/* Tried at creation and again by the thread, refused each time. */
	assert_true(UNTIL(count(backend_seen(&T.b, seen, MAX_SEEN), backend_conns(),
				VMM_VHU_GET_CONFIG) >= 1 &&
			  backend_conns() >= 2));
	assert_false(stats().backend_connected);
	assert_int_equal(stats().connects, 0);
	/* The thread counts its refusal after the backend saw it connect:
	 * wait for it (qemu-user, in the arm64 suite, is slow enough to lose
	 * the race). */
	if (bad != BAD_CLOSE)
		assert_true(UNTIL(stats().backend_errors >= 1));
	assert_int_equal(stats().capacity, 0);
	assert_int_equal(rd(DEV, 4), 0);
	pthread_mutex_lock(&T.b.lock);
	T.b.bad = BAD_NONE;
	pthread_mutex_unlock(&T.b.lock);
	assert_true(UNTIL(stats().backend_connected));
	assert_int_equal(stats().capacity, 0x123456789ull);
}

static void
test_bad_config_size(void **state)
{
	(void)state;
	bad_config(BAD_SIZE);
}

static void
test_bad_config_offset(void **state)
{
	(void)state;
	bad_config(BAD_INDEX);
}

static void
test_bad_config_request(void **state)
{
	(void)state;
	bad_config(BAD_WRONG_REQUEST);
}

static void
test_bad_config_close(void **state)
{
	(void)state;
	bad_config(BAD_CLOSE);
}

/* A GET_INFLIGHT_FD reply without its fd, or with an absurd area: the
 * backend is dropped (counted), the rings are not handed over. */
static void
bad_inflight(enum bad bad)
{
	T.b.bad_on = VMM_VHU_GET_INFLIGHT_FD;
	T.b.bad = bad;
	create(1, false);
	driver_ok(BIT(32), 1);
	assert_true(UNTIL(stats().backend_errors >= 1));
	assert_false(stats().backend_running);
	assert_false(stats().inflight_area);
	pthread_mutex_lock(&T.b.lock);
	T.b.bad = BAD_NONE;
	pthread_mutex_unlock(&T.b.lock);
	assert_true(UNTIL(stats().backend_running));
	assert_true(stats().inflight_area);
}

static void
test_bad_inflight_no_fd(void **state)
{
	(void)state;
	bad_inflight(BAD_SIZE);
}

static void
test_bad_inflight_huge(void **state)
{
	(void)state;
	bad_inflight(BAD_HUGE_SIZE);
}

static void
test_no_backend(void **state)
{
	struct vmm_virtio_blk_conf c = {
		.socket = "/nonexistent/nv-test/blk.sock",
		.max_queues = 1,
		.mem = T.mem,
		.efd = &efd,
		.name = "lonely",
	};

	(void)state;
	c.max_queues = 0;
	assert_int_equal(vmm_virtio_blk_create(&c, &T.d), -EINVAL);
	c.max_queues = VMM_DISK_MAX_QUEUES + 1;
	assert_int_equal(vmm_virtio_blk_create(&c, &T.d), -EINVAL);
	c.max_queues = 1;
	c.socket = NULL;
	assert_int_equal(vmm_virtio_blk_create(&c, &T.d), -EINVAL);
	c.socket = "/nonexistent/nv-test/blk.sock";
	/* No backend: VERSION_1 and a capacity of 0; DRIVER_OK waits. */
	assert_int_equal(vmm_virtio_blk_create(&c, &T.d), 0);
	T.f = vmm_virtio_blk_func(T.d);
	assert_int_equal(offer(), BIT(32));
	assert_int_equal(rd(DEV, 4), 0);
	driver_ok(BIT(32), 1);
	assert_int_equal(rd(C_STATUS, 1), 15);
	assert_false(stats().backend_running);
	/* Rings outside guest RAM: refused at DRIVER_OK. */
	wr(C_STATUS, 1, 0);
	wr(C_STATUS, 1, 3);
	wr(C_GFSELECT, 4, 1);
	wr(C_GF, 4, 1);
	wr(C_STATUS, 1, 1 | 2 | 8);
	wr(C_QSEL, 2, 0);
	wr(C_QDESC, 8, 64 * MiB);
	wr(C_QENABLE, 2, 1);
	wr(C_STATUS, 1, 1 | 2 | 8 | 4);
	assert_true(rd(C_STATUS, 1) & VMM_VIRTIO_S_NEEDS_RESET);
	assert_int_equal(stats().queue_errors, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_offer),
		cmocka_unit_test(test_config_reply),
		cmocka_unit_test_setup_teardown(test_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_only_one_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_past_num_queues, setup, teardown),
		cmocka_unit_test_setup_teardown(test_incompatible_backend, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_config_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_config_offset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_config_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_config_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_inflight_no_fd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_inflight_huge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_backend, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
