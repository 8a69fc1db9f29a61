/* SPDX-License-Identifier: MIT */
/*
 * A purpose-built virtio-net driver (a test guest, c_entry.S): finds the
 * device through ECAM, checks its config space, BAR and capabilities,
 * negotiates features, sets up a queue pair with MSI-X and moves frames
 * through the vhost-user backend, which must send each frame back with
 * the MAC addresses swapped (dpdk-testpmd --forward-mode=macswap).
 *
 * It never takes an interrupt: an MSI is seen in the local APIC's IRR
 * (interrupts stay disabled), and time comes from the APIC timer's count.
 * Results go to COM1 as lines "NET ..." ("NET-OK" at the end, "NET-FAIL
 * <what> <value>" on the first failed check) and the exit code to the
 * debug-exit port.
 *
 * Variants (meson passes one):
 *   NET_BASIC    exchange, an MSI per queue, masking (a masked vector is
 *                pending in the PBA and delivered on unmask), features the
 *                device refuses, reset and a second exchange
 *   NET_RELINK   boots with no backend: link down; waits for the link to
 *                come up (config interrupt), exchanges, then prints
 *                "NET-WAIT-DOWN" and waits for the backend to go away and
 *                come back (the test restarts it), exchanges again on the
 *                same rings
 *   NET_HOSTILE  two queue pairs and the control queue: MQ commands, then
 *                garbage on the transmit ring, the receive ring and the
 *                control queue (addresses outside RAM, loops, chains
 *                longer than the queue, zero lengths, bad indices); the
 *                shim must mark its control queue broken (NEEDS_RESET) and
 *                recover on reset; at the end a clean exchange
 *   NET_REFLECT  the peer instead of testpmd: another guest on the same
 *                switch whose device's MAC is the peer's; sends every frame
 *                to its MAC back with the addresses swapped, until its
 *                link goes down (the test removes its port); prints
 *                "NET-REFLECTING" when its buffers are posted, and
 *                "NET reflected=N" at the end
 *   NET_REFLECT with NET_REFLECT_STAY (for restart tests): the same, but
 *                a link that goes down (the backend restarts) does not end
 *                it: it keeps reflecting when the link is back, for at most
 *                110 s, until the test stops its VM; frames it cannot send
 *                (its 8 transmit buffers still held by an absent backend)
 *                are dropped and counted
 *   NET_PING     the prober for restart tests: sends a numbered frame to
 *                the peer (a NET_REFLECT_STAY guest) every NET_PING_US
 *                microseconds for NET_PING_MS (at most 6 unanswered, one
 *                more every 20 ms while none comes back, so that no ring
 *                overflows: frames are lost only where a switch loses
 *                them), matches the replies, and
 *                prints the longest gap between two replies (the one
 *                before the first and after the last included) as
 *                "NET ping-gap-us=N", frames sent, received, duplicated,
 *                lost, and not sent (the window full, or the backend held
 *                all 8 transmit buffers: "NET ping-held=N"), and how long before
 *                the end the last reply came ("NET ping-tail-us=N"); the
 *                frames missing where the longest gap ended, after the
 *                last reply, and (the first 16) where and how many frames
 *                were missing before a reply ("ping-hole-at-ms",
 *                "ping-hole-frames");
 *                "NET-PINGING" when the stream starts
 *   NET_HOSTILE with NET_WINDOW_TRAFFIC (for a backend that watches its
 *                rings, such as our switch): the garbage stays on the first
 *                pair's rings for NET_GARBAGE_MS while frames go out on the
 *                second pair, one at a time, to the peer (which sends them
 *                back to the broken receive ring); prints
 *                "NET-GARBAGE-POSTED" when it starts and the number of
 *                frames the backend took as "NET window-frames=N"
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guest.inc"

/* Helpers not every variant uses. */
#define SHARED    __attribute__((unused))

#define ECAM      0xe0000000ull
#define LAPIC     0xfee00000ull
#define QSZ       16
#define BUF_SIZE  2048
#define HDR_LEN   12 /* struct virtio_net_hdr with VERSION_1 (5.1.6) */
#define FRAME_LEN 60
#define ETHERTYPE 0x88b5 /* IEEE local experimental */

/* virtio 1.2, 4.1.4.3 common configuration. */
#define C_DFSELECT    0x00
#define C_DF          0x04
#define C_GFSELECT    0x08
#define C_GF          0x0c
#define C_MSIX        0x10
#define C_NUMQ        0x12
#define C_STATUS      0x14
#define C_GEN         0x15
#define C_QSEL        0x16
#define C_QSIZE       0x18
#define C_QMSIX       0x1a
#define C_QENABLE     0x1c
#define C_QNOFF       0x1e
#define C_QDESC       0x20
#define C_QDRIVER     0x28
#define C_QDEVICE     0x30

#define S_ACK         1
#define S_DRIVER      2
#define S_DRIVER_OK   4
#define S_FEATURES_OK 8
#define S_NEEDS_RESET 0x40

#define F_MAC         5
#define F_STATUS      16
#define F_CTRL_VQ     17
#define F_MQ          22
#define F_INDIRECT    28
#define F_VERSION_1   32
#define BIT(n)        (1ull << (n))

#define D_NEXT        1
#define D_WRITE       2
#define D_INDIRECT    4
#define NO_VECTOR     0xffff

#define V_CONFIG      0x40
#define V_RX          0x41
#define V_TX          0x42

/* ---- ports, MMIO, console, time ---- */

static inline void
outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t
inb(uint16_t port)
{
	uint8_t v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

#define MMIO(type, a) (*(volatile type *)(uintptr_t)(a))
#define rd8(a)        MMIO(uint8_t, a)
#define rd16(a)       MMIO(uint16_t, a)
#define rd32(a)       MMIO(uint32_t, a)
#define wr8(a, v)     (MMIO(uint8_t, a) = (uint8_t)(v))
#define wr16(a, v)    (MMIO(uint16_t, a) = (uint16_t)(v))
#define wr32(a, v)    (MMIO(uint32_t, a) = (uint32_t)(v))

static inline void
barrier(void)
{
	__asm__ volatile("lock addl $0, (%%rsp)" : : : "memory");
}

static void
putc_(char c)
{
	for (int i = 0; i < 1000 && !(inb(COM1_PORT + 5) & 0x20); i++)
		;
	outb(COM1_PORT, (uint8_t)c);
}

static void
print(const char *s)
{
	while (*s)
		putc_(*s++);
}

static void
print_hex(uint64_t v)
{
	char b[19];
	int i = 18;

	b[i] = 0;
	do {
		b[--i] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v != 0 && i > 2);
	b[--i] = 'x';
	b[--i] = '0';
	print(b + i);
}

static void
say(const char *what, uint64_t v)
{
	print("NET ");
	print(what);
	print("=");
	print_hex(v);
	print("\n");
}

static uint64_t fail_count;

static void
fail(const char *what, uint64_t v)
{
	print("NET-FAIL ");
	print(what);
	print(" ");
	print_hex(v);
	print("\n");
	fail_count++;
}

#define CHECK(cond, what, v)                                                                       \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fail(what, (uint64_t)(v));                                                 \
			return -1;                                                                 \
		}                                                                                  \
	} while (0)
#define TRY(call)                                                                                  \
	do {                                                                                       \
		if ((call) < 0)                                                                    \
			return -1;                                                                 \
	} while (0)

void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);

void *
memset(void *d, int c, size_t n)
{
	uint8_t *p = d;

	while (n--)
		*p++ = (uint8_t)c;
	return d;
}

void *
memcpy(void *d, const void *s, size_t n)
{
	uint8_t *p = d;
	const uint8_t *q = s;

	while (n--)
		*p++ = *q++;
	return d;
}

static int
memeq(const void *a, const void *b, size_t n)
{
	const uint8_t *p = a, *q = b;

	for (size_t i = 0; i < n; i++)
		if (p[i] != q[i])
			return 0;
	return 1;
}

/* The local APIC: software enabled (it drops MSIs otherwise), its timer
 * counting down from 2^32 - 1 in steps of 16 bus clocks (KVM: 1 ns each),
 * masked: a clock. */
static void
lapic_init(void)
{
	wr32(LAPIC + 0xf0, 0x1ff);
	wr32(LAPIC + 0x80, 0);        /* TPR */
	wr32(LAPIC + 0x320, 0x10030); /* LVT timer masked */
	wr32(LAPIC + 0x3e0, 0x3);     /* divide by 16 */
	wr32(LAPIC + 0x380, 0xffffffff);
}

static uint64_t
now_ms(void)
{
	return (uint64_t)(0xffffffffu - rd32(LAPIC + 0x390)) * 16 / 1000000;
}

SHARED static bool
irr(unsigned int v)
{
	return (rd32(LAPIC + 0x200 + 0x10 * (v / 32)) >> (v % 32)) & 1;
}

/* An MSI that KVM injects from its irqfd work (a vector unmasked while
 * pending, for one) waits for a kernel worker; on a host whose two CPUs
 * are shared with busy pollers that was seen to run more than a second
 * late. */
#define IRQ_WAIT_MS 5000

#define WAIT(cond, ms)                                                                             \
	({                                                                                         \
		uint64_t _until = now_ms() + (ms);                                                 \
		bool _ok;                                                                          \
		while (!(_ok = (cond)) && now_ms() < _until)                                       \
			;                                                                          \
		_ok;                                                                               \
	})

/* ---- PCI and the virtio-pci function ---- */

static uint64_t
ecam(unsigned int dev, unsigned int reg)
{
	return ECAM + ((uint64_t)dev << 15) + reg;
}

struct vdev {
	unsigned int slot;
	uint64_t bar;
	uint64_t common, isr, device, notify;
	uint32_t mult;
	unsigned int msix_cap, pci_cap, nvec;
	uint64_t table, pba;
	uint16_t nq;
	uint64_t offered;
	uint8_t mac[6];
};

struct q {
	uint16_t idx;
	uint8_t *desc, *avail, *used;
	uint16_t avail_idx, used_seen;
	uint64_t notify;
};

static uint8_t ring_mem[5][8192] __attribute__((aligned(4096)));
static uint8_t bufs[16][BUF_SIZE] __attribute__((aligned(4096)));
SHARED static uint8_t ind_table[64 * 16] __attribute__((aligned(16)));

static struct vdev dev;
static struct q rxq, txq;
SHARED static struct q ctlq;

static int
find_device(struct vdev *d)
{
	unsigned int found = 0, off, n;

	for (unsigned int s = 0; s < 32; s++) {
		uint32_t id = rd32(ecam(s, 0));

		if (id == 0xffffffff)
			continue;
		found++;
		if (id == 0x10411af4 && d->slot == 0)
			d->slot = s;
	}
	say("pci-functions", found);
	CHECK(d->slot != 0, "no virtio-net function", found);
	say("pci-slot", d->slot);
	/* Class network/ethernet, modern revision, capabilities, no INTx. */
	CHECK((rd32(ecam(d->slot, 8)) >> 8) == 0x020000, "class", rd32(ecam(d->slot, 8)));
	CHECK((rd32(ecam(d->slot, 8)) & 0xff) >= 1, "revision", rd32(ecam(d->slot, 8)));
	CHECK(rd16(ecam(d->slot, 6)) & 0x10, "status cap list", rd16(ecam(d->slot, 6)));
	CHECK(rd8(ecam(d->slot, 0x3d)) == 0, "interrupt pin", rd8(ecam(d->slot, 0x3d)));
	CHECK(rd8(ecam(d->slot, 0x0e)) == 0, "header type", rd8(ecam(d->slot, 0x0e)));

	/* BAR 0: placed by the VMM; size it with decode off, as Linux does. */
	d->bar = rd32(ecam(d->slot, 0x10));
	CHECK((d->bar & 0xf) == 0, "bar0 type", d->bar);
	CHECK(d->bar >= 0xc0000000 && d->bar < 0xe0000000, "bar0 window", d->bar);
	wr16(ecam(d->slot, 4), 0);
	wr32(ecam(d->slot, 0x10), 0xffffffff);
	n = rd32(ecam(d->slot, 0x10));
	wr32(ecam(d->slot, 0x10), (uint32_t)d->bar);
	CHECK(n == 0xffff8000, "bar0 size", n);
	CHECK(rd32(ecam(d->slot, 0x14)) == 0, "bar1 empty", rd32(ecam(d->slot, 0x14)));
	say("bar0", d->bar);

	/* Capabilities, a bounded walk (4.1.4). */
	off = rd8(ecam(d->slot, 0x34));
	for (unsigned int i = 0; off != 0 && i < 48; i++, off = rd8(ecam(d->slot, off + 1))) {
		uint8_t id = rd8(ecam(d->slot, off)), type = rd8(ecam(d->slot, off + 3));
		uint32_t bar = rd8(ecam(d->slot, off + 4)), o = rd32(ecam(d->slot, off + 8));

		if (id == 0x11) {
			d->msix_cap = off;
			d->nvec = (rd16(ecam(d->slot, off + 2)) & 0x7ff) + 1;
			d->table = d->bar + (rd32(ecam(d->slot, off + 4)) & ~7u);
			d->pba = d->bar + (rd32(ecam(d->slot, off + 8)) & ~7u);
			CHECK((rd32(ecam(d->slot, off + 4)) & 7) == 0, "msix bir", 0);
			continue;
		}
		if (id != 0x09)
			continue;
		CHECK(type == 5 || bar == 0, "virtio cap bar", bar);
		if (type == 1)
			d->common = d->bar + o;
		else if (type == 2) {
			d->notify = d->bar + o;
			d->mult = rd32(ecam(d->slot, off + 16));
		} else if (type == 3)
			d->isr = d->bar + o;
		else if (type == 4)
			d->device = d->bar + o;
		else if (type == 5)
			d->pci_cap = off;
	}
	CHECK(d->common && d->notify && d->isr && d->device, "virtio caps", d->common);
	CHECK(d->msix_cap != 0 && d->nvec >= 3, "msix cap", d->nvec);
	CHECK(d->pci_cap != 0, "pci cfg cap", 0);
	say("msix-vectors", d->nvec);
	say("notify-multiplier", d->mult);
	wr16(ecam(d->slot, 4), 0x6); /* memory decode, bus master */
	d->nq = rd16(d->common + C_NUMQ);
	say("num-queues", d->nq);
	/* 4.1.4.9: the same register through the PCI configuration window. */
	wr8(ecam(d->slot, d->pci_cap + 4), 0);
	wr32(ecam(d->slot, d->pci_cap + 8), (uint32_t)(d->common - d->bar) + C_NUMQ);
	wr32(ecam(d->slot, d->pci_cap + 12), 2);
	CHECK((rd32(ecam(d->slot, d->pci_cap + 16)) & 0xffff) == d->nq, "pci cfg window",
	      rd32(ecam(d->slot, d->pci_cap + 16)));
	return 0;
}

SHARED static void
msix_entry(unsigned int e, unsigned int vector, bool masked)
{
	uint64_t a = dev.table + 16 * e;

	wr32(a + 12, 1); /* mask while changing (PCI 3.0, 6.8.3.5) */
	wr32(a, 0xfee00000);
	wr32(a + 4, 0);
	wr32(a + 8, vector);
	wr32(a + 12, masked ? 1 : 0);
}

SHARED static void
msix_enable(void)
{
	uint16_t c = rd16(ecam(dev.slot, dev.msix_cap + 2));

	wr16(ecam(dev.slot, dev.msix_cap + 2), (c | 0x8000) & ~0x4000);
}

SHARED static bool
pba(unsigned int e)
{
	return (rd32(dev.pba + 4 * (e / 32)) >> (e % 32)) & 1;
}

static uint8_t
status(void)
{
	return rd8(dev.common + C_STATUS);
}

SHARED static uint16_t
link(void)
{
	return rd16(dev.device + 6);
}

static int
dev_reset(void)
{
	wr8(dev.common + C_STATUS, 0);
	CHECK(status() == 0, "reset status", status());
	return 0;
}

static uint64_t
device_features(void)
{
	uint64_t f;

	wr32(dev.common + C_DFSELECT, 0);
	f = rd32(dev.common + C_DF);
	wr32(dev.common + C_DFSELECT, 1);
	f |= (uint64_t)rd32(dev.common + C_DF) << 32;
	return f;
}

/* 3.1.1 steps 1-6. */
static int
negotiate(uint64_t want)
{
	TRY(dev_reset());
	wr8(dev.common + C_STATUS, S_ACK);
	wr8(dev.common + C_STATUS, S_ACK | S_DRIVER);
	dev.offered = device_features();
	wr32(dev.common + C_GFSELECT, 0);
	wr32(dev.common + C_GF, (uint32_t)want);
	wr32(dev.common + C_GFSELECT, 1);
	wr32(dev.common + C_GF, (uint32_t)(want >> 32));
	wr8(dev.common + C_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	return (status() & S_FEATURES_OK) ? 0 : -1;
}

static int
queue_setup(struct q *q, uint16_t idx, uint16_t vector, unsigned int mem)
{
	uint8_t *m = ring_mem[mem];
	uint64_t desc = (uintptr_t)m, avail = desc + 1024, used = desc + 2048;

	memset(m, 0, sizeof(ring_mem[mem]));
	q->idx = idx;
	q->desc = m;
	q->avail = m + 1024;
	q->used = m + 2048;
	q->avail_idx = q->used_seen = 0;
	wr16(dev.common + C_QSEL, idx);
	CHECK(rd16(dev.common + C_QSIZE) >= QSZ, "queue size", rd16(dev.common + C_QSIZE));
	wr16(dev.common + C_QSIZE, 12); /* not a power of two: ignored */
	CHECK(rd16(dev.common + C_QSIZE) != 12, "queue size 12 taken", 12);
	wr16(dev.common + C_QSIZE, QSZ);
	CHECK(rd16(dev.common + C_QSIZE) == QSZ, "queue size set", rd16(dev.common + C_QSIZE));
	wr16(dev.common + C_QMSIX, vector);
	CHECK(rd16(dev.common + C_QMSIX) == vector, "queue vector", rd16(dev.common + C_QMSIX));
	wr32(dev.common + C_QDESC, (uint32_t)desc);
	wr32(dev.common + C_QDESC + 4, 0);
	wr32(dev.common + C_QDRIVER, (uint32_t)avail);
	wr32(dev.common + C_QDRIVER + 4, 0);
	wr32(dev.common + C_QDEVICE, (uint32_t)used);
	wr32(dev.common + C_QDEVICE + 4, 0);
	q->notify = dev.notify + (uint64_t)rd16(dev.common + C_QNOFF) * dev.mult;
	wr16(dev.common + C_QENABLE, 1);
	CHECK(rd16(dev.common + C_QENABLE) == 1, "queue enable", 0);
	return 0;
}

static void
desc_set(struct q *q, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t *d = q->desc + 16 * i;

	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
}

static void
avail_add(struct q *q, uint16_t head)
{
	memcpy(q->avail + 4 + 2 * (q->avail_idx % QSZ), &head, 2);
	barrier();
	q->avail_idx++;
	MMIO(uint16_t, (uintptr_t)(q->avail + 2)) = q->avail_idx;
	barrier();
}

static void
kick(struct q *q)
{
	wr16(q->notify, q->idx);
}

static uint16_t
used_idx(const struct q *q)
{
	return MMIO(uint16_t, (uintptr_t)(q->used + 2));
}

static void
used_elem(const struct q *q, uint16_t n, uint32_t *id, uint32_t *len)
{
	const uint8_t *e = q->used + 4 + 8 * (n % QSZ);

	memcpy(id, e, 4);
	memcpy(len, e + 4, 4);
}

/* ---- frames ---- */

static const uint8_t peer[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x02 };

static void
build_frame(uint8_t *f, uint8_t seq)
{
	static const char text[] = "nicvisor tiny guest frame";

	memset(f, 0, HDR_LEN + FRAME_LEN);
	f += HDR_LEN;
	memcpy(f, peer, 6);
	memcpy(f + 6, dev.mac, 6);
	f[12] = ETHERTYPE >> 8;
	f[13] = ETHERTYPE & 0xff;
	f[14] = seq;
	memcpy(f + 15, text, sizeof(text));
}

/* Receive buffers 0..3 (buffers 0..3 of bufs). */
SHARED static void
post_rx(void)
{
	for (uint16_t i = 0; i < 4; i++) {
		desc_set(&rxq, i, (uintptr_t)bufs[i], BUF_SIZE, D_WRITE, 0);
		avail_add(&rxq, i);
	}
	kick(&rxq);
}

/* Send frame seq from buffer 8 + slot and wait for it to come back
 * swapped: dst = us, src = peer, the payload unchanged. */
SHARED static int
exchange(uint8_t seq)
{
	uint8_t *tx = bufs[8 + seq % 8], want[HDR_LEN + FRAME_LEN];
	uint16_t t = txq.avail_idx % QSZ;
	uint32_t id, len;
	uint8_t *rx;

	uint64_t t0 = now_ms();

	build_frame(tx, seq);
	desc_set(&txq, t, (uintptr_t)tx, HDR_LEN + FRAME_LEN, 0, 0);
	avail_add(&txq, t);
	kick(&txq);
	/* Generous: a backend on a loaded machine may start polling late. */
	CHECK(WAIT(used_idx(&txq) != txq.used_seen, 10000), "tx not used", used_idx(&txq));
	txq.used_seen++;
	if (now_ms() - t0 > 500)
		say("slow-tx-ms", now_ms() - t0);
	CHECK(WAIT(used_idx(&rxq) != rxq.used_seen, 10000), "rx not used", used_idx(&rxq));
	used_elem(&rxq, rxq.used_seen, &id, &len);
	rxq.used_seen++;
	CHECK(id < 4, "rx used id", id);
	CHECK(len == HDR_LEN + FRAME_LEN, "rx used len", len);
	rx = bufs[id];
	build_frame(want, seq);
	CHECK(memeq(rx + HDR_LEN, dev.mac, 6), "rx dst is not us", rx[HDR_LEN + 5]);
	CHECK(memeq(rx + HDR_LEN + 6, peer, 6), "rx src is not the peer", rx[HDR_LEN + 11]);
	CHECK(memeq(rx + HDR_LEN + 12, want + HDR_LEN + 12, FRAME_LEN - 12), "rx payload",
	      rx[HDR_LEN + 14]);
	/* The buffer goes back for the next frame. */
	desc_set(&rxq, (uint16_t)id, (uintptr_t)bufs[id], BUF_SIZE, D_WRITE, 0);
	avail_add(&rxq, (uint16_t)id);
	kick(&rxq);
	say("frame-exchanged", seq);
	return 0;
}

/* Features, MSI-X vectors, the first pair; DRIVER_OK. */
SHARED static int
bring_up(uint64_t want, uint16_t v_rx, uint16_t v_tx)
{
	CHECK(negotiate(want) == 0, "features refused", want);
	for (unsigned int i = 0; i < 6; i++)
		dev.mac[i] = rd8(dev.device + i);
	/* 4.1.5.1.2.1: a vector past the table reads back NO_VECTOR. */
	wr16(dev.common + C_MSIX, 200);
	CHECK(rd16(dev.common + C_MSIX) == NO_VECTOR, "bad config vector taken",
	      rd16(dev.common + C_MSIX));
	wr16(dev.common + C_MSIX, 0);
	CHECK(rd16(dev.common + C_MSIX) == 0, "config vector", rd16(dev.common + C_MSIX));
	TRY(queue_setup(&rxq, 0, v_rx, 0));
	TRY(queue_setup(&txq, 1, v_tx, 1));
	wr8(dev.common + C_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	CHECK(status() == (S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK), "driver ok status",
	      status());
	return 0;
}

SHARED static void
say_mac(void)
{
	print("NET mac=");
	for (int i = 0; i < 6; i++) {
		putc_("0123456789abcdef"[dev.mac[i] >> 4]);
		putc_("0123456789abcdef"[dev.mac[i] & 15]);
		if (i < 5)
			putc_(':');
	}
	print("\n");
}

static const uint64_t base_features = BIT(F_VERSION_1) | BIT(F_MAC) | BIT(F_STATUS);

/* ---- variants ---- */

/* The device configuration is readable before the driver starts, and its
 * link says whether the backend is there; the offer is read after it is,
 * so that it is the backend's and not the shim's baseline. */
SHARED static int
wait_backend(void)
{
	CHECK(WAIT(link() & 1, 10000), "no backend", link());
	TRY(dev_reset());
	dev.offered = device_features();
	say("offered", dev.offered);
	return 0;
}

#ifdef NET_BASIC
static int
run(void)
{
	const uint64_t offloads = BIT(0) | BIT(1) | BIT(15) | BIT(28) | BIT(29);
	uint8_t gen;

	TRY(wait_backend());
	CHECK((dev.offered & base_features) == base_features, "offer", dev.offered);
	/* What dpdk-testpmd's net_vhost offers, passed through: CSUM,
	 * GUEST_CSUM, MRG_RXBUF, INDIRECT_DESC, EVENT_IDX. */
	CHECK((dev.offered & offloads) == offloads, "backend offloads not offered", dev.offered);
	/* The device refuses a feature it did not offer, and no VERSION_1. */
	CHECK(negotiate(base_features | BIT(63)) < 0, "unoffered feature accepted", 0);
	CHECK(negotiate(BIT(F_MAC)) < 0, "no VERSION_1 accepted", 0);

	msix_entry(0, V_CONFIG, false);
	msix_entry(1, V_RX, false);
	msix_entry(2, V_TX, false);
	msix_enable();
	gen = rd8(dev.common + C_GEN);
	TRY(bring_up(base_features, 1, 2));
	say_mac();
	/* The backend may still be finishing its side of the handshake. */
	if (!(link() & 1))
		CHECK(WAIT(link() & 1, 5000), "link down", link());
	else
		CHECK(rd8(dev.common + C_GEN) == gen, "config generation moved", gen);
	say("link", link());
	post_rx();
	TRY(exchange(1));
	CHECK(WAIT(irr(V_RX), IRQ_WAIT_MS), "no rx interrupt", V_RX);
	say("rx-msi", irr(V_RX));
	say("tx-msi", irr(V_TX));

	/* Masked: the event is pending (PBA), not delivered; unmasked: it is
	 * delivered and no longer pending. The new vector shows which. */
	msix_entry(1, 0x43, true);
	TRY(exchange(2));
	CHECK(WAIT(pba(1), 1000), "masked vector not pending", pba(1));
	CHECK(!irr(0x43), "masked vector delivered", 0x43);
	wr32(dev.table + 16 + 12, 0);
	CHECK(WAIT(irr(0x43), IRQ_WAIT_MS), "pending vector not delivered on unmask", 0x43);
	CHECK(!pba(1), "still pending after unmask", pba(1));
	say("masking", 1);
	/* The function mask works the same way. */
	wr16(ecam(dev.slot, dev.msix_cap + 2), 0xc000 | (dev.nvec - 1));
	msix_entry(1, 0x44, false);
	TRY(exchange(3));
	CHECK(WAIT(pba(1), 1000), "function-masked vector not pending", pba(1));
	CHECK(!irr(0x44), "function-masked vector delivered", 0x44);
	msix_enable();
	CHECK(WAIT(irr(0x44), IRQ_WAIT_MS), "not delivered after function unmask", 0x44);
	say("function-mask", 1);

	/* Reset (the backend's rings stop) and start again on new rings. */
	msix_entry(1, 0x45, false);
	TRY(bring_up(base_features, 1, 2));
	post_rx();
	TRY(exchange(4));
	CHECK(WAIT(irr(0x45), IRQ_WAIT_MS), "no rx interrupt after reset", 0x45);
	say("reset-exchange", 1);
	TRY(dev_reset());
	return 0;
}
#endif

#ifdef NET_RELINK
static int
run(void)
{
	msix_entry(0, V_CONFIG, false);
	msix_entry(1, V_RX, false);
	msix_entry(2, V_TX, false);
	msix_enable();
	TRY(bring_up(base_features, 1, 2));
	say_mac();
	say("link-at-boot", link());
	CHECK(!(link() & 1), "link up without a backend", link());
	print("NET-WAIT-UP\n");
	CHECK(WAIT(irr(V_CONFIG), 30000), "no config interrupt", 0);
	CHECK(link() & 1, "link still down after the config interrupt", link());
	say("link-up", 1);
	post_rx();
	TRY(exchange(1));

	msix_entry(0, 0x46, false);
	print("NET-WAIT-DOWN\n");
	CHECK(WAIT(!(link() & 1), 30000), "link stayed up", link());
	CHECK(WAIT(irr(0x46), IRQ_WAIT_MS), "no config interrupt for link down", 0x46);
	say("link-down", 1);
	msix_entry(0, 0x47, false);
	print("NET-WAIT-UP-AGAIN\n");
	CHECK(WAIT(link() & 1, 30000), "link stayed down", link());
	CHECK(WAIT(irr(0x47), IRQ_WAIT_MS), "no config interrupt for link up", 0x47);
	CHECK(!(status() & S_NEEDS_RESET), "needs reset after relink", status());
	say("link-up-again", 1);
	/* The same rings, continued by the new backend. */
	TRY(exchange(2));
	TRY(exchange(3));
	return 0;
}
#endif

#ifdef NET_REFLECT
#define REFLECT_BUFS 8 /* receive buffers 0..7; buffer 8 transmits */

#ifdef NET_REFLECT_STAY
static uint64_t reflect_held;
#endif

static int
reflect_one(uint64_t n)
{
	uint16_t t = txq.avail_idx % QSZ;
	uint32_t id, len;
	uint8_t *rx, *tx = bufs[REFLECT_BUFS];

#ifdef NET_REFLECT_STAY
	/* Buffers 8..15 transmit; the backend may be away holding them. */
	while (used_idx(&txq) != txq.used_seen)
		txq.used_seen++;
	tx = bufs[REFLECT_BUFS + txq.avail_idx % 8];
#endif

	used_elem(&rxq, rxq.used_seen, &id, &len);
	rxq.used_seen++;
	CHECK(id < REFLECT_BUFS, "reflect rx used id", id);
	CHECK(len == HDR_LEN + FRAME_LEN, "reflect rx used len", len);
	rx = bufs[id];
#ifdef NET_REFLECT_STAY
	if ((uint16_t)(txq.avail_idx - txq.used_seen) >= 8) {
		reflect_held++;
		desc_set(&rxq, (uint16_t)id, (uintptr_t)rx, BUF_SIZE, D_WRITE, 0);
		avail_add(&rxq, (uint16_t)id);
		kick(&rxq);
		return 0;
	}
#endif
	CHECK(memeq(rx + HDR_LEN, dev.mac, 6), "a frame not for us", rx[HDR_LEN + 5]);
	CHECK(rx[HDR_LEN + 12] == ETHERTYPE >> 8 && rx[HDR_LEN + 13] == (ETHERTYPE & 0xff),
	      "a frame of another type", rx[HDR_LEN + 12]);
	/* A clean header (no offloads), the addresses swapped, the rest as is. */
	memset(tx, 0, HDR_LEN);
	memcpy(tx + HDR_LEN, rx + HDR_LEN + 6, 6);
	memcpy(tx + HDR_LEN + 6, dev.mac, 6);
	memcpy(tx + HDR_LEN + 12, rx + HDR_LEN + 12, FRAME_LEN - 12);
	desc_set(&rxq, (uint16_t)id, (uintptr_t)rx, BUF_SIZE, D_WRITE, 0);
	avail_add(&rxq, (uint16_t)id);
	kick(&rxq);
	desc_set(&txq, t, (uintptr_t)tx, HDR_LEN + FRAME_LEN, 0, 0);
	avail_add(&txq, t);
	kick(&txq);
#ifndef NET_REFLECT_STAY
	CHECK(WAIT(used_idx(&txq) != txq.used_seen, 10000), "reflected frame not taken", n);
	txq.used_seen++;
#else
	(void)n;
#endif
	return 0;
}

static int
run(void)
{
	uint64_t n = 0, until, next_link = 0;

	TRY(wait_backend());
	TRY(bring_up(base_features, NO_VECTOR, NO_VECTOR));
	say_mac();
	for (uint16_t i = 0; i < REFLECT_BUFS; i++) {
		desc_set(&rxq, i, (uintptr_t)bufs[i], BUF_SIZE, D_WRITE, 0);
		avail_add(&rxq, i);
	}
	kick(&rxq);
	print("NET-REFLECTING\n");
	/* Bounded: the test removes the port long before. */
	until = now_ms() + 110000;
	for (;;) {
		if (used_idx(&rxq) != rxq.used_seen) {
			TRY(reflect_one(n));
			n++;
			continue;
		}
		/* The device configuration exits to the shim: not every turn. */
		if (now_ms() >= next_link) {
#ifdef NET_REFLECT_STAY
			if (now_ms() >= until)
				break;
#else
			if (!(link() & 1))
				break;
#endif
			next_link = now_ms() + 20;
		}
#ifndef NET_REFLECT_STAY
		CHECK(now_ms() < until, "the link never went down", n);
#endif
	}
#ifdef NET_REFLECT_STAY
	say("reflect-held", reflect_held);
#endif
	say("reflected", n);
	TRY(dev_reset());
	return 0;
}
#endif

#ifdef NET_HOSTILE
#ifndef NET_GARBAGE_MS
#define NET_GARBAGE_MS 300
#endif

#ifdef NET_WINDOW_TRAFFIC
static struct q rxq1, txq1;
#endif

/* A control command: class, cmd, data; returns the ack (0xff: none). */
static int
ctrl(uint8_t class, uint8_t cmd, uint16_t data, uint8_t *ack)
{
	uint8_t *out = bufs[12], *in = bufs[13];
	uint16_t before = used_idx(&ctlq);

	out[0] = class;
	out[1] = cmd;
	memcpy(out + 2, &data, 2);
	in[0] = 0xff;
	desc_set(&ctlq, 0, (uintptr_t)out, 4, D_NEXT, 1);
	desc_set(&ctlq, 1, (uintptr_t)in, 1, D_WRITE, 0);
	avail_add(&ctlq, 0);
	kick(&ctlq);
	CHECK(used_idx(&ctlq) == (uint16_t)(before + 1), "ctrl not answered", used_idx(&ctlq));
	*ack = in[0];
	return 0;
}

static int
bring_up_mq(void)
{
	uint64_t f = base_features | BIT(F_CTRL_VQ) | BIT(F_MQ);

	if (dev.offered & BIT(F_INDIRECT))
		f |= BIT(F_INDIRECT);
	CHECK(negotiate(f) == 0, "mq features refused", dev.offered);
	for (unsigned int i = 0; i < 6; i++)
		dev.mac[i] = rd8(dev.device + i);
	wr16(dev.common + C_MSIX, 0);
	TRY(queue_setup(&rxq, 0, 1, 0));
	TRY(queue_setup(&txq, 1, 2, 1));
	TRY(queue_setup(&ctlq, (uint16_t)(dev.nq - 1), NO_VECTOR, 4));
#ifdef NET_WINDOW_TRAFFIC
	TRY(queue_setup(&rxq1, 2, NO_VECTOR, 2));
	TRY(queue_setup(&txq1, 3, NO_VECTOR, 3));
#endif
	wr8(dev.common + C_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	CHECK(status() == (S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK), "driver ok status",
	      status());
	return 0;
}

/* Garbage on the control queue must break it: NEEDS_RESET, then a reset
 * brings it back. */
static int
ctrl_garbage(unsigned int kind)
{
	uint8_t ack;

	TRY(bring_up_mq());
	switch (kind) {
	case 0: /* a head index past the table */
		memcpy(ctlq.avail + 4, &(uint16_t){ 200 }, 2);
		ctlq.avail_idx = 1;
		MMIO(uint16_t, (uintptr_t)(ctlq.avail + 2)) = 1;
		break;
	case 1: /* a loop */
		desc_set(&ctlq, 0, (uintptr_t)bufs[12], 4, D_NEXT, 1);
		desc_set(&ctlq, 1, (uintptr_t)bufs[12], 4, D_NEXT, 0);
		avail_add(&ctlq, 0);
		break;
	case 2: /* a buffer outside guest RAM */
		desc_set(&ctlq, 0, 0x7fffffff000ull, 4, D_NEXT, 1);
		desc_set(&ctlq, 1, (uintptr_t)bufs[13], 1, D_WRITE, 0);
		avail_add(&ctlq, 0);
		break;
	case 3: /* avail idx far ahead */
		ctlq.avail_idx = 100;
		MMIO(uint16_t, (uintptr_t)(ctlq.avail + 2)) = 100;
		break;
	default: /* an indirect table chaining more than the queue size */
		for (uint16_t i = 0; i < 64; i++) {
			uint8_t *d = ind_table + 16 * i;
			uint64_t a = (uintptr_t)bufs[12];
			uint32_t l = 1;
			uint16_t fl = i < 63 ? D_NEXT : 0, nx = (uint16_t)(i + 1);

			memcpy(d, &a, 8);
			memcpy(d + 8, &l, 4);
			memcpy(d + 12, &fl, 2);
			memcpy(d + 14, &nx, 2);
		}
		desc_set(&ctlq, 0, (uintptr_t)ind_table, sizeof(ind_table), D_INDIRECT, 0);
		avail_add(&ctlq, 0);
		break;
	}
	kick(&ctlq);
	CHECK(WAIT(status() & S_NEEDS_RESET, 1000), "control queue garbage not refused", kind);
	/* Broken stays broken: a good command gets no answer now. */
	ack = 0xee;
	desc_set(&ctlq, 5, (uintptr_t)bufs[12], 4, D_NEXT, 6);
	desc_set(&ctlq, 6, (uintptr_t)bufs[13], 1, D_WRITE, 0);
	bufs[13][0] = 0xee;
	avail_add(&ctlq, 5);
	kick(&ctlq);
	ack = bufs[13][0];
	CHECK(ack == 0xee, "a broken queue answered", ack);
	TRY(dev_reset());
	say("ctrl-garbage-refused", kind);
	return 0;
}

#ifdef NET_WINDOW_TRAFFIC
/* For ms, one frame at a time on the second pair's transmit ring, each
 * taken (used) by the backend before the next: the backend keeps serving
 * a VM whose other pair it found broken. Returns the frames taken. */
static int
window_traffic(uint64_t ms, uint64_t *sent)
{
	uint64_t until = now_ms() + ms;

	*sent = 0;
	while (now_ms() < until) {
		uint16_t t = txq1.avail_idx % QSZ;

		build_frame(bufs[10], (uint8_t)(0x80 | (*sent & 0x7f)));
		desc_set(&txq1, t, (uintptr_t)bufs[10], HDR_LEN + FRAME_LEN, 0, 0);
		avail_add(&txq1, t);
		kick(&txq1);
		CHECK(WAIT(used_idx(&txq1) != txq1.used_seen, 2000), "second pair tx not used",
		      *sent);
		txq1.used_seen++;
		(*sent)++;
		WAIT(0, 10);
	}
	return 0;
}
#endif

static int
run(void)
{
	uint8_t ack;
	uint32_t l0;

	TRY(wait_backend());
	CHECK(dev.offered & BIT(F_MQ), "no MQ offered", dev.offered);
	CHECK(dev.offered & BIT(F_INDIRECT), "no INDIRECT_DESC offered", dev.offered);
	CHECK(dev.nq == 5, "queues for 2 pairs and control", dev.nq);
	say("max-pairs", rd16(dev.device + 8));
	CHECK(rd16(dev.device + 8) == 2, "max_virtqueue_pairs", rd16(dev.device + 8));
	msix_entry(0, V_CONFIG, false);
	msix_entry(1, V_RX, false);
	msix_entry(2, V_TX, false);
	msix_enable();

	/* 5.1.6.5.5: pairs in 1..max are taken; others and unknown commands
	 * are refused. */
	TRY(bring_up_mq());
	TRY(ctrl(4, 0, 2, &ack));
	CHECK(ack == 0, "mq 2 pairs", ack);
	TRY(ctrl(4, 0, 1, &ack));
	CHECK(ack == 0, "mq 1 pair", ack);
	TRY(ctrl(4, 0, 3, &ack));
	CHECK(ack == 1, "mq 3 pairs accepted", ack);
	TRY(ctrl(4, 0, 0, &ack));
	CHECK(ack == 1, "mq 0 pairs accepted", ack);
	TRY(ctrl(0x7f, 0, 0, &ack));
	CHECK(ack == 1, "unknown class accepted", ack);
	/* A zero-length command buffer is no command, but no breakage. */
	desc_set(&ctlq, 0, (uintptr_t)bufs[12], 0, D_NEXT, 1);
	desc_set(&ctlq, 1, (uintptr_t)bufs[13], 1, D_WRITE, 0);
	bufs[13][0] = 0xff;
	avail_add(&ctlq, 0);
	kick(&ctlq);
	CHECK(bufs[13][0] == 1, "zero-length command", bufs[13][0]);
	CHECK(!(status() & S_NEEDS_RESET), "zero length broke the queue", status());
	say("ctrl-commands", 1);
#ifdef NET_WINDOW_TRAFFIC
	/* Both pairs in use: the second carries the window's frames. */
	TRY(ctrl(4, 0, 2, &ack));
	CHECK(ack == 0, "mq 2 pairs for the window", ack);
#endif

	/* Garbage for the backend: a transmit buffer outside RAM, a loop, a
	 * zero length, an indirect chain longer than the queue; receive
	 * buffers outside RAM, then a frame it has to drop. */
	desc_set(&txq, 0, 0xfffff000000ull, 100, 0, 0);
	avail_add(&txq, 0);
	desc_set(&txq, 1, (uintptr_t)bufs[8], 64, D_NEXT, 2);
	desc_set(&txq, 2, (uintptr_t)bufs[8], 64, D_NEXT, 1);
	avail_add(&txq, 1);
	desc_set(&txq, 3, (uintptr_t)bufs[8], 0, 0, 0);
	avail_add(&txq, 3);
	if (dev.offered & BIT(F_INDIRECT)) {
		for (uint16_t i = 0; i < 64; i++) {
			uint8_t *d = ind_table + 16 * i;
			uint64_t a = (uintptr_t)bufs[8];
			uint32_t l = 16;
			uint16_t fl = i < 63 ? D_NEXT : 0, nx = (uint16_t)(i + 1);

			memcpy(d, &a, 8);
			memcpy(d + 8, &l, 4);
			memcpy(d + 12, &fl, 2);
			memcpy(d + 14, &nx, 2);
		}
		desc_set(&txq, 4, (uintptr_t)ind_table, sizeof(ind_table), D_INDIRECT, 0);
		avail_add(&txq, 4);
	}
	/* A good frame behind them: whether it gets out is the backend's
	 * business (a backend may stall on a broken ring until a reset). */
	build_frame(bufs[9], 9);
	desc_set(&txq, 5, (uintptr_t)bufs[9], HDR_LEN + FRAME_LEN, 0, 0);
	avail_add(&txq, 5);
	kick(&txq);
	for (uint16_t i = 0; i < 4; i++) {
		desc_set(&rxq, i, 0x10000000000ull + i * 4096, BUF_SIZE, D_WRITE, 0);
		avail_add(&rxq, i);
	}
	desc_set(&rxq, 4, (uintptr_t)bufs[0], 0, D_WRITE, 0);
	avail_add(&rxq, 4);
	kick(&rxq);
	l0 = (uint32_t)now_ms();
#ifdef NET_WINDOW_TRAFFIC
	{
		uint64_t sent;

		print("NET-GARBAGE-POSTED\n");
		TRY(window_traffic(NET_GARBAGE_MS, &sent));
		say("window-frames", sent);
		CHECK(sent > 0, "no frame taken on the second pair", sent);
	}
#else
	WAIT(0, NET_GARBAGE_MS);
#endif
	say("backend-garbage-ms", now_ms() - l0);
	say("tx-used-after-garbage", used_idx(&txq));
	say("rx-used-after-garbage", used_idx(&rxq));
	TRY(dev_reset());

	for (unsigned int k = 0; k < 5; k++) {
		if (k == 4 && !(dev.offered & BIT(F_INDIRECT)))
			break;
		TRY(ctrl_garbage(k));
	}

	/* After all that: a clean start, and frames still go through. */
	TRY(bring_up_mq());
	CHECK(!(status() & S_NEEDS_RESET), "needs reset after reset", status());
	post_rx();
	TRY(exchange(1));
	TRY(ctrl(4, 0, 2, &ack));
	CHECK(ack == 0, "mq after recovery", ack);
	TRY(exchange(2));
	TRY(dev_reset());
	return 0;
}
#endif

#ifdef NET_PING
#ifndef NET_PING_MS
#define NET_PING_MS 15000
#endif
#ifndef NET_PING_US
#define NET_PING_US 1000
#endif
#define PING_RX       8 /* receive buffers 0..7; 8..15 transmit */
#define PING_WINDOW   6 /* frames unanswered at most (both receive rings have 8) */
#define PING_PROBE_US 20000

/* The APIC timer's count, in microseconds since lapic_init (68 s at most). */
static uint64_t
now_us(void)
{
	return (uint64_t)(0xffffffffu - rd32(LAPIC + 0x390)) * 16 / 1000;
}

struct ping {
	uint64_t sent, received, dup, held, bad, gap, last, start;
	uint64_t gap_lost;  /* frames missing at the reply that ended the longest gap */
	uint64_t probe;     /* when the last frame beyond the window went */
	unsigned int holes; /* holes reported so far */
	uint32_t top;       /* the highest sequence number back */
};

static void
ping_send(struct ping *p)
{
	uint16_t t = txq.avail_idx % QSZ;
	uint8_t *f = bufs[PING_RX + txq.avail_idx % 8];
	uint32_t seq;

	while (used_idx(&txq) != txq.used_seen)
		txq.used_seen++;
	/* At most PING_WINDOW frames unanswered, so that no receive ring on
	 * the way (8 buffers each) can overflow whatever the load: a frame is
	 * lost only where the switch loses it. With no reply for PING_PROBE_US
	 * (the switch is away) one more goes every PING_PROBE_US. */
	if ((uint16_t)(txq.avail_idx - txq.used_seen) >= 8 ||
	    (p->sent - p->top >= PING_WINDOW && now_us() - p->probe < PING_PROBE_US)) {
		p->held++;
		return;
	}
	if (p->sent - p->top >= PING_WINDOW)
		p->probe = now_us();
	seq = (uint32_t)++p->sent;
	build_frame(f, 0);
	memcpy(f + HDR_LEN + 14, &seq, 4);
	desc_set(&txq, t, (uintptr_t)f, HDR_LEN + FRAME_LEN, 0, 0);
	avail_add(&txq, t);
	kick(&txq);
}

static void
ping_receive(struct ping *p)
{
	uint32_t id, len, seq;
	uint64_t now = now_us();
	uint8_t *rx;

	used_elem(&rxq, rxq.used_seen, &id, &len);
	rxq.used_seen++;
	if (id >= PING_RX) {
		p->bad++;
		return;
	}
	rx = bufs[id];
	memcpy(&seq, rx + HDR_LEN + 14, 4);
	if (len != HDR_LEN + FRAME_LEN || !memeq(rx + HDR_LEN, dev.mac, 6) ||
	    !memeq(rx + HDR_LEN + 6, peer, 6) || seq == 0 || seq > p->sent) {
		p->bad++;
	} else if (seq <= p->top) {
		p->dup++; /* a frame served twice across a restart */
	} else {
		p->received++;
		/* Frames missing before this one: when and how many (the first 16). */
		if (seq - p->top > 1 && p->holes++ < 16) {
			say("ping-hole-at-ms", (now - p->start) / 1000);
			say("ping-hole-frames", seq - p->top - 1);
		}
		if (now - p->last > p->gap) {
			p->gap = now - p->last;
			p->gap_lost = seq - p->top - 1;
		}
		p->top = seq;
		p->last = now;
	}
	desc_set(&rxq, (uint16_t)id, (uintptr_t)rx, BUF_SIZE, D_WRITE, 0);
	avail_add(&rxq, (uint16_t)id);
	kick(&rxq);
}

static int
run(void)
{
	struct ping p = { 0 };
	uint64_t start, end, next, now, tail;

	TRY(wait_backend());
	TRY(bring_up(base_features, NO_VECTOR, NO_VECTOR));
	say_mac();
	for (uint16_t i = 0; i < PING_RX; i++) {
		desc_set(&rxq, i, (uintptr_t)bufs[i], BUF_SIZE, D_WRITE, 0);
		avail_add(&rxq, i);
	}
	kick(&rxq);
	print("NET-PINGING\n");
	start = next = p.last = p.start = now_us();
	end = start + (uint64_t)NET_PING_MS * 1000;
	while ((now = now_us()) < end) {
		if (used_idx(&rxq) != rxq.used_seen) {
			ping_receive(&p);
			continue;
		}
		if (now >= next) {
			ping_send(&p);
			/* A steady rate: no burst to catch up after a stall. */
			next = now > next + NET_PING_US ? now + NET_PING_US : next + NET_PING_US;
		}
	}
	/* The last replies: a round trip is well under a second, even with
	 * the host's CPUs shared. */
	while (now_us() < end + 1000000)
		if (used_idx(&rxq) != rxq.used_seen)
			ping_receive(&p);
	tail = p.last < end ? end - p.last : 0;
	if (tail > p.gap)
		p.gap = tail;
	say("ping-sent", p.sent);
	say("ping-received", p.received);
	say("ping-dup", p.dup);
	say("ping-lost", p.sent - p.received);
	say("ping-held", p.held);
	say("ping-bad", p.bad);
	say("ping-gap-us", p.gap);
	say("ping-gap-lost", p.gap_lost);
	say("ping-tail-lost", p.sent - p.top);
	say("ping-tail-us", tail);
	print("NET-PING-DONE\n");
	CHECK(p.bad == 0, "bad replies", p.bad);
	TRY(dev_reset());
	return 0;
}
#endif

int guest_main(uint32_t start_info);

int
guest_main(uint32_t start_info)
{
	(void)start_info;
	lapic_init();
	print("NET-START\n");
	if (find_device(&dev) < 0 || run() < 0 || fail_count != 0)
		return GUEST_EXIT_FAIL;
	print("NET-OK\n");
	return GUEST_EXIT_OK;
}
