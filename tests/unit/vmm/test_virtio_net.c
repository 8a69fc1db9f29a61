/* SPDX-License-Identifier: MIT */
/*
 * Unit tests: vmm/virtio_net.c, the device as a guest driver sees it
 * (through the transport's BAR) and as a vhost-user backend sees it (the
 * scripted backend of vhu_backend.c, listening on a socket): what is
 * offered for what the backend offers, what DRIVER_OK, the control
 * queue's MQ command and a reset send to the backend, the link going down
 * when the backend goes away, everything sent again when it comes back
 * (rings continued from the guest's used index), and DEVICE_NEEDS_RESET
 * when the new backend lacks a feature the guest uses. No KVM: the
 * interrupt plumbing is a stand-in.
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "kvm_stubs.h"
#include "nv_log.h"
#include "vhu_backend.h"
#include "virtio_net.h"
#include "virtio_pci.h"
#include "virtq.h"

#define BIT(n) (1ull << (n))
#define MiB    (1ull << 20)

/* virtio 1.2, 4.1.4.3. */
#define C_DFSELECT 0x00
#define C_DF       0x04
#define C_GFSELECT 0x08
#define C_GF       0x0c
#define C_STATUS   0x14
#define C_GEN      0x15
#define C_QSEL     0x16
#define C_QSIZE    0x18
#define C_QENABLE  0x1c
#define C_QDESC    0x20
#define C_QDRIVER  0x28
#define C_QDEVICE  0x30

static void
test_offer(void **state)
{
	const uint64_t base = BIT(VMM_VIRTIO_NET_F_MAC) | BIT(VMM_VIRTIO_NET_F_STATUS);
	const uint64_t mq = BIT(VMM_VIRTIO_NET_F_CTRL_VQ) | BIT(VMM_VIRTIO_NET_F_MQ);
	uint64_t dpdk = 0xd7c66e7cbull; /* what testpmd's net_vhost offered here */
	uint64_t f;

	(void)state;
	/* Nobody has said anything yet: a baseline every backend serves. */
	assert_int_equal(vmm_virtio_net_offer(0, false, 1, 0),
			 base | BIT(32) | BIT(VMM_VIRTIO_NET_F_MRG_RXBUF));
	assert_int_equal(vmm_virtio_net_offer(0, false, 2, 0),
			 base | BIT(32) | BIT(VMM_VIRTIO_NET_F_MRG_RXBUF) | mq);
	/* A backend's offloads and ring features pass; what the shim does not
	 * implement does not (packed rings 34, in order 35, the backend's
	 * protocol bit 30, CTRL_RX 18, GUEST_ANNOUNCE 21). */
	f = vmm_virtio_net_offer(dpdk, true, 1, 0);
	assert_int_equal(f & (BIT(34) | BIT(35) | BIT(30) | BIT(18) | BIT(21) | BIT(33)), 0);
	assert_int_equal(f & (BIT(0) | BIT(1) | BIT(7) | BIT(8) | BIT(15) | BIT(28) | BIT(29) |
			      BIT(32) | base),
			 BIT(0) | BIT(1) | BIT(7) | BIT(8) | BIT(15) | BIT(28) | BIT(29) | BIT(32) |
				 base);
	assert_int_equal(f & mq, 0); /* one pair: no control queue */
	/* Several pairs need the backend's queues. */
	assert_int_equal(vmm_virtio_net_offer(dpdk, true, 2, 2) & mq, 0);
	assert_int_equal(vmm_virtio_net_offer(dpdk, true, 2, 4) & mq, mq);
	/* 5.1.3.1: features without what they require are not offered. */
	f = vmm_virtio_net_offer(BIT(32) | BIT(VMM_VIRTIO_NET_F_GUEST_TSO4) |
					 BIT(VMM_VIRTIO_NET_F_HOST_TSO6) |
					 BIT(VMM_VIRTIO_NET_F_HOST_ECN),
				 true, 1, 0);
	assert_int_equal(f & (BIT(VMM_VIRTIO_NET_F_GUEST_TSO4) | BIT(VMM_VIRTIO_NET_F_HOST_TSO6) |
			      BIT(VMM_VIRTIO_NET_F_HOST_ECN)),
			 0);
	f = vmm_virtio_net_offer(BIT(32) | BIT(VMM_VIRTIO_NET_F_CSUM) |
					 BIT(VMM_VIRTIO_NET_F_HOST_TSO6) |
					 BIT(VMM_VIRTIO_NET_F_HOST_ECN),
				 true, 1, 0);
	assert_true(f & BIT(VMM_VIRTIO_NET_F_HOST_ECN));
	/* A backend without VERSION_1 gets none offered (the driver then
	 * fails FEATURES_OK: this device is modern only). */
	assert_int_equal(vmm_virtio_net_offer(BIT(15), true, 1, 0) & BIT(32), 0);
}

/* ---- the device against the scripted backend ---- */

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
	struct vmm_virtio_net *n;
	struct vmm_pci_func *f;
};

static struct t T;

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

static struct vmm_nic_stats
stats(void)
{
	struct vmm_nic_stats st;

	vmm_virtio_net_get_stats(T.n, &st);
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

static int
setup(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	(void)state;
	memset(&T, 0, sizeof(T));
	snprintf(T.dir, sizeof(T.dir), "/tmp/nv-net-test.XXXXXX");
	assert_non_null(mkdtemp(T.dir));
	snprintf(T.path, sizeof(T.path), "%s/vhost.sock", T.dir);
	assert_int_equal(vmm_mem_create(16 * MiB, 0, 0, &T.mem), 0);
	pthread_mutex_init(&T.b.lock, NULL);
	T.b.fd = -1;
	T.b.protocol = true;
	T.b.queue_num = 4;
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
	vmm_virtio_net_destroy(T.n);
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
create(uint32_t pairs)
{
	struct vmm_virtio_net_conf c = {
		.mac = { 0x52, 0x54, 0, 0x12, 0x34, 0x56 },
		.socket = T.path,
		.max_pairs = pairs,
		.mem = T.mem,
		.efd = &efd,
		.connect_timeout_ms = 2000,
		.name = "test-nic",
	};

	assert_int_equal(vmm_virtio_net_create(&c, &T.n), 0);
	T.f = vmm_virtio_net_func(T.n);
	assert_true(UNTIL(stats().backend_connected));
}

/* Queue q's rings at 1 MiB + q * 64 KiB: desc, avail + 4 KiB, used + 8 KiB. */
static uint64_t
ring(unsigned int q)
{
	return MiB + q * 0x10000ull;
}

static void
queue(unsigned int q, uint16_t size)
{
	wr(C_QSEL, 2, q);
	wr(C_QSIZE, 2, size);
	wr(C_QDESC, 8, ring(q));
	wr(C_QDRIVER, 8, ring(q) + 0x1000);
	wr(C_QDEVICE, 8, ring(q) + 0x2000);
	wr(C_QENABLE, 2, 1);
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
	for (unsigned int q = 0; q < nq; q++)
		queue(q, 16);
	wr(C_STATUS, 1, 1 | 2 | 8 | 4);
}

static struct seen seen[MAX_SEEN];

/* Requests of connection conn from index from, matching req. */
static unsigned int
count(unsigned int n, unsigned int conn, uint32_t req)
{
	unsigned int k = 0;

	for (unsigned int i = 0; i < n; i++)
		k += seen[i].conn == conn && seen[i].request == req;
	return k;
}

/* The state payload (index, num) of the i-th request req of conn. */
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

/* vring enables of conn after position from: bit q set for enable 1,
 * bit 8 + q for enable 0. */
static uint32_t
enables_since(unsigned int n, unsigned int conn, unsigned int from)
{
	uint32_t m = 0, idx, num;

	for (unsigned int i = from; i < n; i++) {
		if (seen[i].conn != conn || seen[i].request != VMM_VHU_SET_VRING_ENABLE)
			continue;
		memcpy(&idx, seen[i].payload, 4);
		memcpy(&num, seen[i].payload + 4, 4);
		m |= 1u << (num ? idx : 8 + idx);
	}
	return m;
}

static uint8_t
ctrl(unsigned int cq, uint16_t *avail, uint8_t class, uint8_t cmd, uint16_t data)
{
	uint8_t out[4] = { class, cmd, (uint8_t)data, (uint8_t)(data >> 8) }, ack = 0xff;
	uint64_t d = ring(cq), bufs = ring(cq) + 0x8000;
	uint16_t flags[2] = { VMM_VIRTQ_DESC_F_NEXT, VMM_VIRTQ_DESC_F_WRITE }, next = 1;
	uint32_t len[2] = { 4, 1 };
	uint64_t addr[2] = { bufs, bufs + 0x100 };
	uint16_t head = 0;

	assert_int_equal(vmm_mem_write(T.mem, bufs, out, 4), 0);
	assert_int_equal(vmm_mem_write(T.mem, bufs + 0x100, &ack, 1), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(vmm_mem_write(T.mem, d + 16 * i, &addr[i], 8), 0);
		assert_int_equal(vmm_mem_write(T.mem, d + 16 * i + 8, &len[i], 4), 0);
		assert_int_equal(vmm_mem_write(T.mem, d + 16 * i + 12, &flags[i], 2), 0);
		assert_int_equal(vmm_mem_write(T.mem, d + 16 * i + 14, &next, 2), 0);
	}
	assert_int_equal(vmm_mem_write(T.mem, d + 0x1000 + 4 + 2 * (*avail % 16), &head, 2), 0);
	(*avail)++;
	assert_int_equal(vmm_mem_write(T.mem, d + 0x1000 + 2, avail, 2), 0);
	wr(VMM_VIRTIO_PCI_NOTIFY_OFF + 4 * cq, 2, cq);
	assert_int_equal(vmm_mem_read(T.mem, bufs + 0x100, &ack, 1), 0);
	return ack;
}

static void
test_device(void **state)
{
	const uint64_t want = BIT(32) | BIT(VMM_VIRTIO_NET_F_MAC) | BIT(VMM_VIRTIO_NET_F_STATUS) |
			      BIT(VMM_VIRTIO_NET_F_MRG_RXBUF) | BIT(VMM_VIRTIO_NET_F_CTRL_VQ) |
			      BIT(VMM_VIRTIO_NET_F_MQ);
	uint16_t avail = 0, used5 = 5;
	unsigned int n, mark, fds = 0;
	uint32_t idx, num;
	uint8_t gen;
	uint64_t f;

	(void)state;
	create(2);
	/* Offer: the backend's, with MQ (2 pairs: 4 queues wanted, 4 served). */
	wr(C_STATUS, 1, 0);
	wr(C_DFSELECT, 4, 0);
	f = rd(C_DF, 4);
	wr(C_DFSELECT, 4, 1);
	f |= rd(C_DF, 4) << 32;
	assert_int_equal(f & want, want);
	/* Device configuration: the MAC, link up, two pairs. */
	assert_int_equal(rd(VMM_VIRTIO_PCI_DEVICE_OFF, 4), 0x12005452);
	assert_int_equal(rd(VMM_VIRTIO_PCI_DEVICE_OFF + 4, 2), 0x5634);
	assert_int_equal(rd(VMM_VIRTIO_PCI_DEVICE_OFF + 6, 2), 1);
	assert_int_equal(rd(VMM_VIRTIO_PCI_DEVICE_OFF + 8, 2), 2);

	driver_ok(want, 5);
	assert_int_equal(rd(C_STATUS, 1), 15);
	assert_true(UNTIL(stats().link_up));
	assert_int_equal(stats().queue_pairs, 1);
	n = backend_seen(&T.b, seen, MAX_SEEN);
	/* The features the backend offered, and its protocol bit. */
	for (unsigned int i = 0; i < n; i++) {
		if (seen[i].request == VMM_VHU_SET_FEATURES) {
			memcpy(&f, seen[i].payload, 8);
			assert_int_equal(f, BIT(32) | BIT(30) | BIT(15));
		}
		if (seen[i].request == VMM_VHU_SET_MEM_TABLE)
			fds += seen[i].nfds;
	}
	assert_int_equal(fds, T.mem->nregions);
	/* The four data queues, never the control queue; one pair enabled. */
	assert_int_equal(count(n, 1, VMM_VHU_SET_VRING_NUM), 4);
	assert_int_equal(count(n, 1, VMM_VHU_SET_VRING_KICK), 4);
	assert_int_equal(count(n, 1, VMM_VHU_SET_VRING_CALL), 4);
	state_of(n, 1, VMM_VHU_SET_VRING_BASE, 1, &idx, &num);
	assert_int_equal(idx, 1);
	assert_int_equal(num, 0);
	assert_int_equal(enables_since(n, 1, 0), 0x3 | (0xc << 8));

	/* 5.1.6.5.5: two pairs; three is too many; unknown classes fail. */
	mark = n;
	assert_int_equal(ctrl(4, &avail, VMM_VIRTIO_NET_CTRL_MQ, 0, 2), VMM_VIRTIO_NET_OK);
	assert_int_equal(ctrl(4, &avail, VMM_VIRTIO_NET_CTRL_MQ, 0, 3), VMM_VIRTIO_NET_ERR);
	assert_int_equal(ctrl(4, &avail, 0x20, 0, 0), VMM_VIRTIO_NET_ERR);
	assert_int_equal(stats().queue_pairs, 2);
	assert_int_equal(stats().ctrl_commands, 3);
	assert_int_equal(stats().ctrl_errors, 2);
	n = backend_seen(&T.b, seen, MAX_SEEN);
	assert_int_equal(enables_since(n, 1, mark), 0xf);

	/* The backend goes away: link down, a configuration change. The
	 * guest used 5 entries of queue 1 meanwhile. */
	gen = (uint8_t)rd(C_GEN, 1);
	assert_int_equal(vmm_mem_write(T.mem, ring(1) + 0x2000 + 2, &used5, 2), 0);
	pthread_mutex_lock(&T.b.lock);
	shutdown(T.b.fd, SHUT_RDWR);
	pthread_mutex_unlock(&T.b.lock);
	/* It comes back at once (the same listener): everything again. */
	assert_true(UNTIL(stats().connects == 2 && stats().link_up));
	assert_int_equal(stats().disconnects, 1);
	assert_int_equal((uint8_t)(rd(C_GEN, 1) - gen), 2); /* down, then up */
	assert_int_equal(rd(VMM_VIRTIO_PCI_DEVICE_OFF + 6, 2), 1);
	n = backend_seen(&T.b, seen, MAX_SEEN);
	assert_int_equal(count(n, 2, VMM_VHU_SET_MEM_TABLE), 1);
	assert_int_equal(count(n, 2, VMM_VHU_SET_VRING_ADDR), 4);
	state_of(n, 2, VMM_VHU_SET_VRING_BASE, 1, &idx, &num);
	assert_int_equal(idx, 1);
	assert_int_equal(num, 5);                      /* continued from the guest's used index */
	assert_int_equal(enables_since(n, 2, 0), 0xf); /* both pairs, as before */

	/* The guest resets: every ring stopped (disabled, then its base). */
	mark = n;
	wr(C_STATUS, 1, 0);
	n = backend_seen(&T.b, seen, MAX_SEEN);
	assert_int_equal(enables_since(n, 2, mark), 0xf << 8);
	assert_int_equal(count(n, 2, VMM_VHU_GET_VRING_BASE), 4);
	assert_true(stats().link_up); /* the backend is still there */
	assert_false(stats().driver_ok);
}

static void
test_incompatible_backend(void **state)
{
	const uint64_t want = BIT(32) | BIT(VMM_VIRTIO_NET_F_MAC) | BIT(VMM_VIRTIO_NET_F_STATUS) |
			      BIT(VMM_VIRTIO_NET_F_MRG_RXBUF);

	(void)state;
	create(1);
	driver_ok(want, 2);
	assert_true(UNTIL(stats().link_up));
	/* The next backend has no mergeable buffers: the guest's rings cannot
	 * go on with it. The device needs a reset; the link stays down. */
	pthread_mutex_lock(&T.b.lock);
	T.b.features = BIT(32) | BIT(30);
	shutdown(T.b.fd, SHUT_RDWR);
	pthread_mutex_unlock(&T.b.lock);
	assert_true(UNTIL(stats().connects == 2));
	assert_true(UNTIL(rd(C_STATUS, 1) & VMM_VIRTIO_S_NEEDS_RESET));
	assert_false(stats().link_up);
	assert_true(stats().queue_errors >= 1);
	/* After a reset the offer is the new backend's; with it, all is well. */
	wr(C_STATUS, 1, 0);
	driver_ok(BIT(32) | BIT(VMM_VIRTIO_NET_F_MAC), 2);
	assert_int_equal(rd(C_STATUS, 1), 15);
	assert_true(UNTIL(stats().link_up));
}

static void
test_no_backend(void **state)
{
	struct vmm_virtio_net_conf c = {
		.mac = { 0x52, 0x54, 0, 0, 0, 1 },
		.socket = "/nonexistent/nv-test/vhost.sock",
		.max_pairs = 1,
		.mem = T.mem,
		.efd = &efd,
		.name = "lonely",
	};

	(void)state;
	/* Bad configurations. */
	c.max_pairs = 0;
	assert_int_equal(vmm_virtio_net_create(&c, &T.n), -EINVAL);
	c.max_pairs = VMM_NIC_MAX_QUEUE_PAIRS + 1;
	assert_int_equal(vmm_virtio_net_create(&c, &T.n), -EINVAL);
	c.max_pairs = 1;
	/* No backend: it boots, link down, the baseline offered; DRIVER_OK
	 * is accepted (the rings wait for a backend). */
	assert_int_equal(vmm_virtio_net_create(&c, &T.n), 0);
	T.f = vmm_virtio_net_func(T.n);
	assert_false(stats().link_up);
	assert_int_equal(rd(VMM_VIRTIO_PCI_DEVICE_OFF + 6, 2), 0);
	driver_ok(BIT(32) | BIT(VMM_VIRTIO_NET_F_MAC) | BIT(VMM_VIRTIO_NET_F_MRG_RXBUF), 2);
	assert_int_equal(rd(C_STATUS, 1), 15);
	assert_false(stats().link_up);
	assert_int_equal(stats().connects, 0);
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
		cmocka_unit_test_setup_teardown(test_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_incompatible_backend, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_backend, setup, teardown),
	};

	nv_log_init("test_virtio_net", NV_LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
