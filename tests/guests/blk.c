/* SPDX-License-Identifier: MIT */
/*
 * A purpose-built virtio-blk driver (a test guest, c_entry.S): finds the
 * device through ECAM, checks its config space, BAR and capabilities,
 * negotiates features, reads the device configuration (capacity, blk_size,
 * num_queues) and moves requests through the vhost-user-blk backend
 * (qemu-storage-daemon in tests), one at a time per queue, each queue with
 * its own MSI-X vector.
 *
 * Same conventions as net.c: no interrupt is taken (an MSI is seen in the
 * local APIC's IRR), time from the APIC timer; results go to COM1 as lines
 * "BLK ..." ("BLK-OK" at the end, "BLK-FAIL <what> <value>" on the first
 * failed check) and the exit code to the debug-exit port.
 *
 * The disk's contents that the test on the host checks (sectors of 512
 * bytes): sector HOST_SECTOR holds HOST_BYTE in every byte, written by the
 * test before the guest boots; the guest reads and checks it. For each
 * queue q the guest writes sectors WRITE_SECTOR + 8 q .. + 7 (one request
 * of 4 KiB), each sector: its number as 8 little-endian bytes, then the
 * byte 0xa0 + q, reads them back, then flushes.
 *
 * Variants (meson passes one):
 *   BLK_RW  one queue: host sector, write, read back, flush, get-id, an
 *           unknown request type (UNSUPP), a read past the end (IOERR),
 *           reset and one more read on new rings
 *   BLK_RO  a read-only disk: RO offered, the host sector reads back, a
 *           write is refused by the backend (IOERR), nothing changes
 *   BLK_RECONNECT  one queue: write and read, then "BLK-WAIT-RESTART"; 2 s
 *           later (the test kills the backend meanwhile and starts it
 *           again a little later) a write and read that wait for the new
 *           backend, on the same rings
 *   BLK_DURABLE  one queue: write, read back, flush, then "BLK-FLUSHED"
 *           and spin until killed (the test kills -9 the VM's process and
 *           the backend, then checks the image)
 *   BLK_STREAM  one queue, for restart tests: "BLK-STREAMING", then 4 KiB
 *           writes one after the other for BLK_STREAM_MS (sectors
 *           WRITE_SECTOR + 8 (n % 256), as above), each timed from post to
 *           completion; then every slot written is read back and checked.
 *           Prints "BLK stream-writes=N", "BLK stream-errors=N" (a status
 *           other than OK), "BLK stream-stall-us=N" (the slowest write)
 *           and when it was posted ("BLK stream-stall-at-ms=N", from the
 *           start of the stream)
 *           and "BLK-STREAM-DONE"; a request that does not complete in
 *           10 s fails the guest
 *   BLK_MQ  as many queues as num_queues says (at least 2 expected), a
 *           write and read on each, each completion's MSI on its vector
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guest.inc"

/* Helpers not every variant uses. */
#define SHARED   __attribute__((unused))

#define ECAM     0xe0000000ull
#define LAPIC    0xfee00000ull
#define QSZ      16
#define NQ_MAX   4
#define BUF_SIZE 4096

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

/* 5.2.3 */
#define F_SEG_MAX   2
#define F_RO        5
#define F_BLK_SIZE  6
#define F_FLUSH     9
#define F_MQ        12
#define F_VERSION_1 32
#define BIT(n)      (1ull << (n))

/* 5.2.6 */
#define T_IN         0
#define T_OUT        1
#define T_FLUSH      4
#define T_GET_ID     8
#define ST_OK        0
#define ST_IOERR     1
#define ST_UNSUPP    2

#define D_NEXT       1
#define D_WRITE      2
#define NO_VECTOR    0xffff
#define V_CONFIG     0x40
#define V_Q0         0x41

#define HOST_SECTOR  64
#define HOST_BYTE    0x5a
#define WRITE_SECTOR 128

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
	print("BLK ");
	print(what);
	print("=");
	print_hex(v);
	print("\n");
}

static uint64_t fail_count;

static void
fail(const char *what, uint64_t v)
{
	print("BLK-FAIL ");
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

SHARED static int
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

static uint8_t ring_mem[NQ_MAX][8192] __attribute__((aligned(4096)));
static uint8_t bufs[NQ_MAX][BUF_SIZE] __attribute__((aligned(4096)));
static uint8_t hdrs[NQ_MAX][64] __attribute__((aligned(64)));

static struct vdev dev;
static struct q queues[NQ_MAX];

static int
find_device(struct vdev *d)
{
	unsigned int found = 0, off, n;

	for (unsigned int s = 0; s < 32; s++) {
		uint32_t id = rd32(ecam(s, 0));

		if (id == 0xffffffff)
			continue;
		found++;
		if (id == 0x10421af4 && d->slot == 0)
			d->slot = s;
	}
	say("pci-functions", found);
	CHECK(d->slot != 0, "no virtio-blk function", found);
	say("pci-slot", d->slot);
	/* Class mass storage, modern revision, capabilities, no INTx. */
	CHECK((rd32(ecam(d->slot, 8)) >> 24) == 0x01, "class", rd32(ecam(d->slot, 8)));
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
	CHECK(d->msix_cap != 0 && d->nvec >= 2, "msix cap", d->nvec);
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

/* ---- requests ---- */

static uint64_t capacity;

/* One request on queue q: header, data (len bytes of bufs[q], written by
 * the device for reads), status. Returns the status byte, or -1. */
static int
request(unsigned int qi, uint32_t type, uint64_t sector, uint32_t len, uint32_t *used_len)
{
	struct q *q = &queues[qi];
	uint8_t *h = hdrs[qi], *st = hdrs[qi] + 32;
	uint16_t d = (uint16_t)(q->avail_idx * 3 % QSZ);
	uint16_t dw = type == T_OUT ? 0 : D_WRITE;
	uint32_t id, ulen;

	memset(h, 0, 16);
	memcpy(h, &type, 4);
	memcpy(h + 8, &sector, 8);
	*st = 0xff;
	if (d + 3 > QSZ)
		d = 0;
	if (len > 0) {
		desc_set(q, d, (uintptr_t)h, 16, D_NEXT, (uint16_t)(d + 1));
		desc_set(q, (uint16_t)(d + 1), (uintptr_t)bufs[qi], len, D_NEXT | dw,
			 (uint16_t)(d + 2));
		desc_set(q, (uint16_t)(d + 2), (uintptr_t)st, 1, D_WRITE, 0);
	} else {
		desc_set(q, d, (uintptr_t)h, 16, D_NEXT, (uint16_t)(d + 1));
		desc_set(q, (uint16_t)(d + 1), (uintptr_t)st, 1, D_WRITE, 0);
	}
	avail_add(q, d);
	kick(q);
	CHECK(WAIT(used_idx(q) != q->used_seen, 10000), "request not completed", type);
	used_elem(q, q->used_seen, &id, &ulen);
	q->used_seen++;
	CHECK(id == d, "used id", id);
	if (used_len != NULL)
		*used_len = ulen;
	return *st;
}

static void
fill(unsigned int qi, uint64_t first)
{
	for (unsigned int s = 0; s < BUF_SIZE / 512; s++) {
		uint64_t n = first + s;

		memset(bufs[qi] + 512 * s, 0xa0 + (int)qi, 512);
		memcpy(bufs[qi] + 512 * s, &n, 8);
	}
}

static int
check_filled(unsigned int qi, uint64_t first)
{
	for (unsigned int s = 0; s < BUF_SIZE / 512; s++) {
		uint64_t n;

		memcpy(&n, bufs[qi] + 512 * s, 8);
		CHECK(n == first + s, "read back sector number", n);
		for (unsigned int i = 8; i < 512; i++)
			CHECK(bufs[qi][512 * s + i] == 0xa0 + qi, "read back byte", i);
	}
	return 0;
}

SHARED static int
read_host_sector(unsigned int qi)
{
	memset(bufs[qi], 0, BUF_SIZE);
	CHECK(request(qi, T_IN, HOST_SECTOR, 512, NULL) == ST_OK, "host sector read", 0);
	for (unsigned int i = 0; i < 512; i++)
		CHECK(bufs[qi][i] == HOST_BYTE, "host sector byte", i);
	say("host-sector", HOST_SECTOR);
	return 0;
}

/* Write then read back 8 sectors on queue qi; flush if asked. */
SHARED static int
write_read(unsigned int qi, bool flush)
{
	uint64_t first = WRITE_SECTOR + 8 * qi;

	fill(qi, first);
	CHECK(request(qi, T_OUT, first, BUF_SIZE, NULL) == ST_OK, "write", first);
	memset(bufs[qi], 0, BUF_SIZE);
	CHECK(request(qi, T_IN, first, BUF_SIZE, NULL) == ST_OK, "read", first);
	TRY(check_filled(qi, first));
	if (flush)
		CHECK(request(qi, T_FLUSH, 0, 0, NULL) == ST_OK, "flush", qi);
	say("written-and-read-queue", qi);
	return 0;
}

/* Features, vectors, nq queues; DRIVER_OK. */
static int
bring_up(uint64_t want, unsigned int nq)
{
	CHECK(negotiate(want) == 0, "features refused", want);
	capacity = (uint64_t)rd32(dev.device) | (uint64_t)rd32(dev.device + 4) << 32;
	wr16(dev.common + C_MSIX, 0);
	CHECK(rd16(dev.common + C_MSIX) == 0, "config vector", rd16(dev.common + C_MSIX));
	for (unsigned int q = 0; q < nq; q++)
		TRY(queue_setup(&queues[q], (uint16_t)q, (uint16_t)(q + 1), q));
	wr8(dev.common + C_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	CHECK(status() == (S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK), "driver ok status",
	      status());
	return 0;
}

static int
start(uint64_t want, unsigned int nq)
{
	TRY(dev_reset());
	dev.offered = device_features();
	say("offered", dev.offered);
	CHECK(dev.offered & BIT(F_VERSION_1), "no VERSION_1", dev.offered);
	for (unsigned int e = 0; e <= nq; e++)
		msix_entry(e, V_CONFIG + e, false);
	msix_enable();
	TRY(bring_up(want & dev.offered, nq));
	say("capacity", capacity);
	CHECK(capacity >= 2 * WRITE_SECTOR, "capacity", capacity);
	if (dev.offered & BIT(F_BLK_SIZE))
		say("blk-size", rd32(dev.device + 20));
	return 0;
}

#ifdef BLK_RW
static int
run(void)
{
	uint32_t ulen = 0;
	int st;

	TRY(start(BIT(F_VERSION_1) | BIT(F_FLUSH) | BIT(F_BLK_SIZE) | BIT(F_SEG_MAX), 1));
	CHECK(dev.offered & BIT(F_FLUSH), "FLUSH not offered", dev.offered);
	CHECK(!(dev.offered & BIT(F_RO)), "RO offered on a writable disk", dev.offered);
	CHECK(!(dev.offered & BIT(F_MQ)), "MQ offered for one queue", dev.offered);
	/* The device refuses a feature it did not offer. */
	TRY(read_host_sector(0));
	CHECK(WAIT(irr(V_Q0), IRQ_WAIT_MS), "no queue interrupt", V_Q0);
	say("queue-msi", 1);
	TRY(write_read(0, true));
	/* 5.2.6: get-id writes up to 20 bytes of serial. */
	memset(bufs[0], 0, 64);
	st = request(0, T_GET_ID, 0, 20, &ulen);
	say("get-id-status", (uint64_t)st);
	/* Bad requests: the backend answers them, the disk goes on. */
	st = request(0, 77, 0, 512, NULL);
	CHECK(st == ST_UNSUPP, "unknown request type", st);
	st = request(0, T_IN, capacity, 512, NULL);
	CHECK(st == ST_IOERR, "read past the end", st);
	say("bad-requests-refused", 2);
	/* Reset: the backend's rings stop; new rings from index 0. */
	TRY(bring_up(BIT(F_VERSION_1) | BIT(F_FLUSH), 1));
	TRY(read_host_sector(0));
	say("reset-read", 1);
	TRY(dev_reset());
	return 0;
}
#endif

#ifdef BLK_RO
static int
run(void)
{
	uint64_t first = WRITE_SECTOR;
	int st;

	TRY(start(BIT(F_VERSION_1) | BIT(F_FLUSH) | BIT(F_RO), 1));
	CHECK(dev.offered & BIT(F_RO), "RO not offered", dev.offered);
	TRY(read_host_sector(0));
	fill(0, first);
	st = request(0, T_OUT, first, BUF_SIZE, NULL);
	CHECK(st == ST_IOERR, "write to a read-only disk", st);
	say("write-refused", (uint64_t)st);
	memset(bufs[0], 0, BUF_SIZE);
	CHECK(request(0, T_IN, first, BUF_SIZE, NULL) == ST_OK, "read", first);
	for (unsigned int i = 0; i < BUF_SIZE; i++)
		CHECK(bufs[0][i] == 0, "the refused write changed the disk", i);
	TRY(dev_reset());
	return 0;
}
#endif

#ifdef BLK_RECONNECT
static int
run(void)
{
	uint64_t until;

	TRY(start(BIT(F_VERSION_1) | BIT(F_FLUSH), 1));
	TRY(read_host_sector(0));
	TRY(write_read(0, true));
	print("BLK-WAIT-RESTART\n");
	until = now_ms() + 2000;
	while (now_ms() < until)
		;
	/* Posted while there is no backend: it waits for the next one. */
	until = now_ms();
	TRY(write_read(0, true));
	say("restart-wait-ms", now_ms() - until);
	say("after-restart", 1);
	TRY(dev_reset());
	return 0;
}
#endif

#ifdef BLK_DURABLE
static int
run(void)
{
	TRY(start(BIT(F_VERSION_1) | BIT(F_FLUSH), 1));
	CHECK(dev.offered & BIT(F_FLUSH), "FLUSH not offered", dev.offered);
	TRY(write_read(0, true));
	print("BLK-FLUSHED\n");
	for (;;)
		__asm__ volatile("pause");
	return 0;
}
#endif

#ifdef BLK_STREAM
#ifndef BLK_STREAM_MS
#define BLK_STREAM_MS 15000
#endif
#define STREAM_SLOTS 256

static uint64_t
now_us(void)
{
	return (uint64_t)(0xffffffffu - rd32(LAPIC + 0x390)) * 16 / 1000;
}

static int
run(void)
{
	uint64_t n = 0, errors = 0, stall = 0, stall_at = 0, began, end;
	int st;

	TRY(start(BIT(F_VERSION_1) | BIT(F_FLUSH), 1));
	CHECK(capacity >= WRITE_SECTOR + 8 * STREAM_SLOTS, "capacity", capacity);
	print("BLK-STREAMING\n");
	began = now_us();
	end = began + (uint64_t)BLK_STREAM_MS * 1000;
	while (now_us() < end) {
		uint64_t first = WRITE_SECTOR + 8 * (n % STREAM_SLOTS), t0 = now_us(), dt;

		fill(0, first);
		st = request(0, T_OUT, first, BUF_SIZE, NULL);
		CHECK(st >= 0, "stream write lost", n);
		dt = now_us() - t0;
		if (dt > stall) {
			stall = dt;
			stall_at = (t0 - began) / 1000;
		}
		if (st != ST_OK)
			errors++;
		n++;
	}
	for (uint64_t i = 0; i < STREAM_SLOTS && i < n; i++) {
		uint64_t first = WRITE_SECTOR + 8 * i;

		memset(bufs[0], 0, BUF_SIZE);
		CHECK(request(0, T_IN, first, BUF_SIZE, NULL) == ST_OK, "stream read", first);
		TRY(check_filled(0, first));
	}
	say("stream-writes", n);
	say("stream-errors", errors);
	say("stream-stall-us", stall);
	say("stream-stall-at-ms", stall_at);
	print("BLK-STREAM-DONE\n");
	CHECK(errors == 0, "stream write errors", errors);
	TRY(dev_reset());
	return 0;
}
#endif

#ifdef BLK_MQ
static int
run(void)
{
	unsigned int nq;

	TRY(dev_reset());
	dev.offered = device_features();
	CHECK(dev.offered & BIT(F_MQ), "MQ not offered", dev.offered);
	nq = rd16(dev.device + 34);
	say("num-queues", nq);
	CHECK(nq >= 2 && nq <= NQ_MAX && nq <= dev.nq, "num_queues", nq);
	TRY(start(BIT(F_VERSION_1) | BIT(F_FLUSH) | BIT(F_MQ), nq));
	for (unsigned int q = 0; q < nq; q++) {
		TRY(write_read(q, q == nq - 1));
		CHECK(WAIT(irr(V_Q0 + q), IRQ_WAIT_MS), "no interrupt on the queue's vector", q);
		say("queue-msi", q);
	}
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
	print("BLK-START\n");
	if (find_device(&dev) < 0 || run() < 0 || fail_count != 0)
		return GUEST_EXIT_FAIL;
	print("BLK-OK\n");
	return GUEST_EXIT_OK;
}
