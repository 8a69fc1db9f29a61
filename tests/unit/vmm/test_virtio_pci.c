/* SPDX-License-Identifier: MIT */
/*
 * Unit tests: vmm/virtio_pci.c with a fake device and a recording
 * stand-in for KVM. The function a driver finds (ids, BAR, the
 * capabilities of virtio 1.2 4.1.4 and where they point), the common
 * configuration's rules (feature negotiation, queue fields, vectors,
 * DRIVER_OK, reset), notifications (ioeventfds that follow the BAR, the
 * fallbacks that reach this process), the ISR, and the PCI configuration
 * access window.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kvm_stubs.h"
#include "virtio_pci.h"

/* virtio 1.2, 4.1.4.3. */
#define C_DFSELECT 0x00
#define C_DF       0x04
#define C_GFSELECT 0x08
#define C_GF       0x0c
#define C_MSIX     0x10
#define C_NUMQ     0x12
#define C_STATUS   0x14
#define C_GEN      0x15
#define C_QSEL     0x16
#define C_QSIZE    0x18
#define C_QMSIX    0x1a
#define C_QENABLE  0x1c
#define C_QNOFF    0x1e
#define C_QDESC    0x20
#define C_QDRIVER  0x28
#define C_QDEVICE  0x30

struct fake {
	uint64_t features;
	int refuse;
	int start_rc;
	unsigned int starts, resets, notifies, last_q;
	uint64_t features_ok_arg;
};

static uint64_t
fake_features(void *dev)
{
	return ((struct fake *)dev)->features;
}

static int
fake_features_ok(void *dev, uint64_t f)
{
	struct fake *d = dev;

	d->features_ok_arg = f;
	return d->refuse;
}

static int
fake_start(void *dev)
{
	struct fake *d = dev;

	d->starts++;
	return d->start_rc;
}

static void
fake_reset(void *dev)
{
	((struct fake *)dev)->resets++;
}

static void
fake_notify(void *dev, unsigned int q)
{
	struct fake *d = dev;

	d->notifies++;
	d->last_q = q;
}

static void
fake_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	(void)dev;
	for (uint32_t i = 0; i < len; i++)
		data[i] = (uint8_t)(0xa0 + off + i);
}

static const struct vmm_virtio_dev_ops fake_ops = {
	.device_features = fake_features,
	.features_ok = fake_features_ok,
	.start = fake_start,
	.reset = fake_reset,
	.notify = fake_notify,
	.config_read = fake_config_read,
};

struct kvm_stub {
	struct {
		uint64_t gpa;
		uint32_t len;
		int fd;
	} ioev[64];
	unsigned int nioev, assigns, deassigns;
};

static int
stub_ioeventfd(void *opaque, uint64_t gpa, uint32_t len, int fd, bool assign)
{
	struct kvm_stub *k = opaque;

	if (assign) {
		for (unsigned int i = 0; i < k->nioev; i++)
			if (k->ioev[i].gpa == gpa)
				return -EEXIST;
		k->ioev[k->nioev].gpa = gpa;
		k->ioev[k->nioev].len = len;
		k->ioev[k->nioev].fd = fd;
		k->nioev++;
		k->assigns++;
		return 0;
	}
	for (unsigned int i = 0; i < k->nioev; i++) {
		if (k->ioev[i].gpa == gpa && k->ioev[i].fd == fd) {
			k->ioev[i] = k->ioev[--k->nioev];
			k->deassigns++;
			return 0;
		}
	}
	fail_msg("deassigning an ioeventfd never assigned at 0x%llx", (unsigned long long)gpa);
	return -ENOENT;
}

static struct kvm_stub kvm;
static const struct vmm_eventfd_ops efd = {
	.msi_route = kvm_stub_route,
	.msi_route_free = kvm_stub_route_free,
	.irqfd = kvm_stub_irqfd,
	.ioeventfd = stub_ioeventfd,
	.opaque = &kvm,
};

#define VERSION_1 (1ull << 32)

struct t {
	struct fake dev;
	struct vmm_virtio_pci vp;
};

static struct t *
new_vp(bool any_len)
{
	static struct t t;
	struct vmm_virtio_pci_conf c = {
		.device_id = 1,
		.pci_class = 0x020000,
		.nqueues = 3,
		.queue_max = { 256, 256, 64 },
		.ioeventfd_mask = 0x3, /* queue 2 is served here */
		.config_size = 24,
		.msix_vectors = 4,
	};

	memset(&t, 0, sizeof(t));
	memset(&kvm, 0, sizeof(kvm));
	t.dev.features = VERSION_1 | (1ull << 5) | (1ull << 16);
	assert_int_equal(vmm_virtio_pci_init(&t.vp, &c, &fake_ops, &t.dev, &efd, any_len), 0);
	return &t;
}

static uint64_t
rd(struct t *t, uint64_t off, uint32_t len)
{
	uint8_t b[8];

	vmm_virtio_pci_bar_ops.read(&t->vp, off, b, len);
	return vmm_io_get(b, len);
}

static void
wr(struct t *t, uint64_t off, uint32_t len, uint64_t v)
{
	uint8_t b[8];

	vmm_io_put(b, len, v);
	vmm_virtio_pci_bar_ops.write(&t->vp, off, b, len);
}

static bool
readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint64_t v;

	if (poll(&p, 1, 0) != 1)
		return false;
	assert_int_equal(read(fd, &v, sizeof(v)), sizeof(v));
	return true;
}

static void
test_layout(void **state)
{
	struct t *t = new_vp(true);
	const struct vmm_pci_func *f = &t->vp.func;
	unsigned int seen = 0, off, n;

	(void)state;
	assert_int_equal(vmm_pci_cfg_get(f, 0, 4), 0x10411af4); /* 0x1040 + net */
	assert_int_equal(vmm_pci_cfg_get(f, VMM_PCI_CLASS_PROG, 3), 0x020000);
	assert_true(vmm_pci_cfg_get(f, VMM_PCI_REVISION, 1) >= 1);
	assert_true(vmm_pci_cfg_get(f, VMM_PCI_SUBSYS_ID, 2) >= 0x40);
	assert_int_equal(f->bar[0].size, VMM_VIRTIO_PCI_BAR_SIZE);
	assert_false(f->bar[0].mem64);

	for (off = f->cfg[VMM_PCI_CAP_PTR], n = 0; off != 0 && n < 16; off = f->cfg[off + 1], n++) {
		uint8_t type = f->cfg[off + 3];
		uint32_t o = vmm_pci_cfg_get(f, off + 8, 4), l = vmm_pci_cfg_get(f, off + 12, 4);

		assert_true(off >= 0x40 && off % 4 == 0);
		if (f->cfg[off] == VMM_PCI_CAP_ID_MSIX) {
			assert_int_equal(vmm_pci_cfg_get(f, off + 2, 2) & 0x7ff, 3);
			assert_int_equal(vmm_pci_cfg_get(f, off + 4, 4), VMM_VIRTIO_PCI_MSIX_OFF);
			assert_int_equal(vmm_pci_cfg_get(f, off + 8, 4), VMM_VIRTIO_PCI_PBA_OFF);
			seen |= 1u << 0;
			continue;
		}
		assert_int_equal(f->cfg[off], VMM_PCI_CAP_ID_VNDR);
		assert_int_equal(f->cfg[off + 4], 0); /* BAR 0 */
		switch (type) {
		case 1:
			assert_int_equal(f->cfg[off + 2], 16);
			assert_int_equal(o, VMM_VIRTIO_PCI_COMMON_OFF);
			assert_true(l >= 0x38);
			break;
		case 2:
			assert_int_equal(f->cfg[off + 2], 20);
			assert_int_equal(o, VMM_VIRTIO_PCI_NOTIFY_OFF);
			assert_int_equal(l, 3 * 4);
			assert_int_equal(vmm_pci_cfg_get(f, off + 16, 4), 4);
			break;
		case 3:
			assert_int_equal(o, VMM_VIRTIO_PCI_ISR_OFF);
			assert_true(l >= 1);
			break;
		case 4:
			assert_int_equal(o, VMM_VIRTIO_PCI_DEVICE_OFF);
			assert_int_equal(l, 24);
			break;
		case 5:
			assert_int_equal(f->cfg[off + 2], 20);
			break;
		default:
			fail_msg("unexpected virtio capability type %u", type);
		}
		seen |= 1u << type;
	}
	assert_int_equal(seen, 0x3f);
	/* The regions do not overlap and fit the BAR. */
	assert_true(VMM_VIRTIO_PCI_COMMON_OFF + 0x38 <= VMM_VIRTIO_PCI_ISR_OFF);
	assert_true(VMM_VIRTIO_PCI_NOTIFY_OFF + 17 * 4 <= VMM_VIRTIO_PCI_MSIX_OFF);
	assert_true(VMM_VIRTIO_PCI_MSIX_OFF + 64 * 16 <= VMM_VIRTIO_PCI_PBA_OFF);
	assert_true(VMM_VIRTIO_PCI_PBA_OFF + 8 <= VMM_VIRTIO_PCI_BAR_SIZE);
	vmm_virtio_pci_fini(&t->vp);
}

static void
test_features(void **state)
{
	struct t *t = new_vp(true);

	(void)state;
	assert_int_equal(rd(t, C_NUMQ, 2), 3);
	wr(t, C_DFSELECT, 4, 0);
	assert_int_equal(rd(t, C_DF, 4), (1u << 5) | (1u << 16));
	wr(t, C_DFSELECT, 4, 1);
	assert_int_equal(rd(t, C_DF, 4), 1);
	wr(t, C_DFSELECT, 4, 7);
	assert_int_equal(rd(t, C_DF, 4), 0);

	/* Not offered: refused. */
	wr(t, C_STATUS, 1, 3);
	wr(t, C_GFSELECT, 4, 0);
	wr(t, C_GF, 4, (1u << 5) | (1u << 6));
	wr(t, C_GFSELECT, 4, 1);
	wr(t, C_GF, 4, 1);
	wr(t, C_STATUS, 1, 3 | 8);
	assert_int_equal(rd(t, C_STATUS, 1), 3);
	/* No VERSION_1: refused. */
	wr(t, C_GFSELECT, 4, 0);
	wr(t, C_GF, 4, 1u << 5);
	wr(t, C_GFSELECT, 4, 1);
	wr(t, C_GF, 4, 0);
	wr(t, C_STATUS, 1, 3 | 8);
	assert_int_equal(rd(t, C_STATUS, 1), 3);
	/* The device says no. */
	wr(t, C_GF, 4, 1);
	t->dev.refuse = -EINVAL;
	wr(t, C_STATUS, 1, 3 | 8);
	assert_int_equal(rd(t, C_STATUS, 1), 3);
	assert_int_equal(t->dev.features_ok_arg, VERSION_1 | (1u << 5));
	/* Accepted; then the driver's features are fixed. */
	t->dev.refuse = 0;
	wr(t, C_STATUS, 1, 3 | 8);
	assert_int_equal(rd(t, C_STATUS, 1), 3 | 8);
	wr(t, C_GFSELECT, 4, 0);
	wr(t, C_GF, 4, 1u << 16);
	assert_int_equal(rd(t, C_GF, 4), 1u << 5);
	assert_int_equal(t->vp.st.refused_features, 3);
	/* Status bits only accumulate; NEEDS_RESET is not the driver's. */
	wr(t, C_STATUS, 1, 1 | 0x40);
	assert_int_equal(rd(t, C_STATUS, 1), 3 | 8);
	vmm_virtio_pci_fini(&t->vp);
}

static void
setup_queue(struct t *t, uint16_t q, uint16_t size, uint16_t vector)
{
	wr(t, C_QSEL, 2, q);
	wr(t, C_QSIZE, 2, size);
	wr(t, C_QMSIX, 2, vector);
	wr(t, C_QDESC, 4, 0x100000 + q * 0x10000);
	wr(t, C_QDESC + 4, 4, 0);
	wr(t, C_QDRIVER, 8, 0x101000 + q * 0x10000); /* one 64-bit write works too */
	wr(t, C_QDEVICE, 4, 0x102000 + q * 0x10000);
	wr(t, C_QDEVICE + 4, 4, 0);
	wr(t, C_QENABLE, 2, 1);
}

static void
test_queues_and_start(void **state)
{
	struct t *t = new_vp(true);
	uint8_t gen;

	(void)state;
	wr(t, C_QSEL, 2, 7);
	assert_int_equal(rd(t, C_QSIZE, 2), 0); /* not there */
	wr(t, C_QSEL, 2, 2);
	assert_int_equal(rd(t, C_QSIZE, 2), 64);
	assert_int_equal(rd(t, C_QNOFF, 2), 2);
	wr(t, C_QSIZE, 2, 48); /* not a power of two */
	assert_int_equal(rd(t, C_QSIZE, 2), 64);
	wr(t, C_QSIZE, 2, 128); /* over the maximum */
	assert_int_equal(rd(t, C_QSIZE, 2), 64);
	wr(t, C_QMSIX, 2, 4); /* past the table */
	assert_int_equal(rd(t, C_QMSIX, 2), VMM_MSIX_NO_VECTOR);
	wr(t, C_MSIX, 2, 9);
	assert_int_equal(rd(t, C_MSIX, 2), VMM_MSIX_NO_VECTOR);
	wr(t, C_MSIX, 2, 0);
	assert_int_equal(rd(t, C_MSIX, 2), 0);

	setup_queue(t, 0, 16, 1);
	setup_queue(t, 1, 256, 2);
	wr(t, C_QSEL, 2, 0);
	assert_int_equal(rd(t, C_QSIZE, 2), 16);
	assert_int_equal(rd(t, C_QMSIX, 2), 1);
	assert_int_equal(rd(t, C_QDESC, 8), 0x100000);
	assert_int_equal(rd(t, C_QDRIVER, 4), 0x101000);
	assert_int_equal(rd(t, C_QDEVICE, 8), 0x102000);
	assert_int_equal(rd(t, C_QENABLE, 2), 1);
	/* Enabled: its fields are fixed. */
	wr(t, C_QSIZE, 2, 32);
	wr(t, C_QDESC, 4, 0x200000);
	assert_int_equal(rd(t, C_QSIZE, 2), 16);
	assert_int_equal(rd(t, C_QDESC, 4), 0x100000);

	/* DRIVER_OK needs FEATURES_OK. */
	wr(t, C_STATUS, 1, 1 | 2 | 4);
	assert_int_equal(t->dev.starts, 0);
	assert_int_equal(rd(t, C_STATUS, 1) & 4, 0);
	wr(t, C_GFSELECT, 4, 1);
	wr(t, C_GF, 4, 1);
	wr(t, C_STATUS, 1, 1 | 2 | 8);
	wr(t, C_STATUS, 1, 1 | 2 | 8 | 4);
	assert_int_equal(t->dev.starts, 1);
	assert_int_equal(rd(t, C_STATUS, 1), 1 | 2 | 8 | 4);
	wr(t, C_STATUS, 1, 1 | 2 | 8 | 4); /* again: nothing new */
	assert_int_equal(t->dev.starts, 1);
	assert_int_equal(t->vp.q[0].size, 16);
	assert_int_equal(t->vp.q[1].desc, 0x110000);

	/* Reset: everything back, the device told, the offer sampled again. */
	t->dev.features |= 1ull << 15;
	gen = (uint8_t)rd(t, C_GEN, 1);
	wr(t, C_STATUS, 1, 0);
	assert_int_equal(rd(t, C_STATUS, 1), 0);
	assert_int_equal(t->dev.resets, 1);
	wr(t, C_QSEL, 2, 0);
	assert_int_equal(rd(t, C_QSIZE, 2), 256);
	assert_int_equal(rd(t, C_QENABLE, 2), 0);
	assert_int_equal(rd(t, C_QMSIX, 2), VMM_MSIX_NO_VECTOR);
	assert_int_equal(rd(t, C_QDESC, 8), 0);
	assert_int_equal(rd(t, C_MSIX, 2), VMM_MSIX_NO_VECTOR);
	wr(t, C_DFSELECT, 4, 0);
	assert_true(rd(t, C_DF, 4) & (1u << 15));
	assert_int_equal(rd(t, C_GEN, 1), gen);

	/* A start that fails: NEEDS_RESET, a configuration change. */
	readable(t->vp.config_fd);
	t->dev.start_rc = -EFAULT;
	wr(t, C_STATUS, 1, 1 | 2);
	wr(t, C_GFSELECT, 4, 1);
	wr(t, C_GF, 4, 1);
	wr(t, C_STATUS, 1, 1 | 2 | 8);
	wr(t, C_STATUS, 1, 1 | 2 | 8 | 4);
	assert_int_equal(rd(t, C_STATUS, 1) & 0x40, 0x40);
	assert_int_equal(rd(t, C_GEN, 1), (uint8_t)(gen + 1));
	assert_true(readable(t->vp.config_fd));
	/* The ISR says "configuration change" once, and clears on read. */
	assert_int_equal(rd(t, VMM_VIRTIO_PCI_ISR_OFF, 1), 2);
	assert_int_equal(rd(t, VMM_VIRTIO_PCI_ISR_OFF, 1), 0);
	/* Device configuration comes from the device; past its size, 0. */
	assert_int_equal(rd(t, VMM_VIRTIO_PCI_DEVICE_OFF + 2, 2), 0xa3a2);
	assert_int_equal(rd(t, VMM_VIRTIO_PCI_DEVICE_OFF + 24, 4), 0);
	vmm_virtio_pci_fini(&t->vp);
}

static void
test_notifications(void **state)
{
	struct t *t = new_vp(false);
	struct vmm_pci pci;
	uint64_t bar;
	uint8_t b[4];

	(void)state;
	assert_int_equal(vmm_pci_init(&pci, 0xe0000000, 1, 0xc0000000, 0xe0000000), 0);
	assert_int_equal(vmm_pci_add(&pci, 1, &t->vp.func), 0);
	bar = vmm_pci_cfg_get(&t->vp.func, VMM_PCI_BAR0, 4);
	assert_int_equal(kvm.nioev, 0);
	/* Memory decode on: one ioeventfd per backend queue, at its notify
	 * address, two bytes (KVM without ANY_LENGTH); none for queue 2. */
	vmm_io_put(b, 2, VMM_PCI_CMD_MEMORY);
	vmm_pci_ecam_ops.write(&pci, (1u << 15) | VMM_PCI_COMMAND, b, 2);
	assert_int_equal(kvm.nioev, 2);
	for (unsigned int i = 0; i < 2; i++) {
		unsigned int q = kvm.ioev[i].gpa == bar + 0x3000 ? 0 : 1;

		assert_int_equal(kvm.ioev[i].gpa, bar + 0x3000 + 4 * q);
		assert_int_equal(kvm.ioev[i].len, 2);
		assert_int_equal(kvm.ioev[i].fd, t->vp.q[q].kick_fd);
	}
	/* The guest moves the BAR: they move with it. */
	vmm_io_put(b, 4, 0xd0000000);
	vmm_pci_ecam_ops.write(&pci, (1u << 15) | VMM_PCI_BAR0, b, 4);
	assert_int_equal(kvm.nioev, 2);
	assert_int_equal(kvm.deassigns, 2);
	assert_true(kvm.ioev[0].gpa >= 0xd0003000 && kvm.ioev[0].gpa <= 0xd0003004);

	/* A kick KVM did not take still reaches the backend's eventfd. */
	wr(t, 0x3000 + 4, 4, 1);
	assert_true(readable(t->vp.q[1].kick_fd));
	assert_int_equal(t->vp.q[1].kicks_here, 1);
	/* Queue 2's notifications are the device's, once it is started. */
	wr(t, 0x3000 + 8, 2, 2);
	assert_int_equal(t->dev.notifies, 0);
	wr(t, C_GFSELECT, 4, 1);
	wr(t, C_GF, 4, 1);
	wr(t, C_STATUS, 1, 1 | 2 | 8 | 4);
	wr(t, 0x3000 + 8, 2, 2);
	assert_int_equal(t->dev.notifies, 1);
	assert_int_equal(t->dev.last_q, 2);
	assert_false(readable(t->vp.q[2].kick_fd));
	/* Misaligned and past the last queue: nothing. */
	wr(t, 0x3000 + 6, 2, 1);
	wr(t, 0x3000 + 12, 2, 3);
	assert_int_equal(t->dev.notifies, 1);
	assert_false(readable(t->vp.q[1].kick_fd));

	/* Decode off: gone. */
	vmm_io_put(b, 2, 0);
	vmm_pci_ecam_ops.write(&pci, (1u << 15) | VMM_PCI_COMMAND, b, 2);
	assert_int_equal(kvm.nioev, 0);
	vmm_virtio_pci_fini(&t->vp);
	vmm_pci_fini(&pci);
}

static void
test_pci_cfg_window(void **state)
{
	struct t *t = new_vp(true);
	struct vmm_pci pci;
	unsigned int cap = 0;
	uint8_t b[4];

	(void)state;
	assert_int_equal(vmm_pci_init(&pci, 0xe0000000, 1, 0xc0000000, 0xe0000000), 0);
	assert_int_equal(vmm_pci_add(&pci, 1, &t->vp.func), 0);
	for (unsigned int off = t->vp.func.cfg[VMM_PCI_CAP_PTR]; off; off = t->vp.func.cfg[off + 1])
		if (t->vp.func.cfg[off] == VMM_PCI_CAP_ID_VNDR && t->vp.func.cfg[off + 3] == 5)
			cap = off;
	assert_true(cap != 0);
#define CFG_WR(off, len, v)                                                                        \
	do {                                                                                       \
		vmm_io_put(b, len, v);                                                             \
		vmm_pci_ecam_ops.write(&pci, (1u << 15) | (off), b, len);                          \
	} while (0)
	/* 4.1.4.9: bar 0, offset of num_queues, 2 bytes; read the data. */
	CFG_WR(cap + 4, 1, 0);
	CFG_WR(cap + 8, 4, C_NUMQ);
	CFG_WR(cap + 12, 4, 2);
	vmm_pci_ecam_ops.read(&pci, (1u << 15) | (cap + 16), b, 4);
	assert_int_equal(vmm_io_get(b, 2), 3);
	/* Writes go through too: queue_select, then read it back. */
	CFG_WR(cap + 8, 4, C_QSEL);
	CFG_WR(cap + 16, 2, 2);
	assert_int_equal(t->vp.queue_select, 2);
	/* A length that is not 1, 2 or 4, or a misaligned offset: no access. */
	CFG_WR(cap + 12, 4, 3);
	CFG_WR(cap + 16, 4, 0);
	assert_int_equal(t->vp.queue_select, 2);
	CFG_WR(cap + 8, 4, C_QSEL + 1);
	CFG_WR(cap + 12, 4, 2);
	CFG_WR(cap + 16, 2, 0);
	assert_int_equal(t->vp.queue_select, 2);
#undef CFG_WR
	vmm_virtio_pci_fini(&t->vp);
	vmm_pci_fini(&pci);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout),           cmocka_unit_test(test_features),
		cmocka_unit_test(test_queues_and_start), cmocka_unit_test(test_notifications),
		cmocka_unit_test(test_pci_cfg_window),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
