/* SPDX-License-Identifier: MIT */
/*
 * Split virtqueue, device side (virtq.h). virtio 1.2: ring layout 2.7.2
 * and alignment 2.7.2 table, descriptors 2.7.5, indirect descriptors
 * 2.7.5.3, available ring 2.7.6, used ring 2.7.8, event suppression
 * 2.7.7 and 2.7.10, the device's view 2.7.13 and 2.7.14.
 */
#include "virtq.h"

#include <errno.h>
#include <string.h>

#define DESC_SIZE 16

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

static uint16_t
ld16(const uint8_t *p)
{
	return __atomic_load_n((const uint16_t *)p, __ATOMIC_RELAXED);
}

static uint16_t
ld16_acquire(const uint8_t *p)
{
	return __atomic_load_n((const uint16_t *)p, __ATOMIC_ACQUIRE);
}

static void
st16(uint8_t *p, uint16_t v)
{
	__atomic_store_n((uint16_t *)p, v, __ATOMIC_RELAXED);
}

/* One descriptor, copied once: the guest may rewrite the table under us. */
static struct desc
read_desc(const uint8_t *table, uint16_t i)
{
	const uint8_t *p = table + (size_t)i * DESC_SIZE;
	struct desc d;

	memcpy(&d.addr, p, 8);
	memcpy(&d.len, p + 8, 4);
	memcpy(&d.flags, p + 12, 2);
	memcpy(&d.next, p + 14, 2);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	return d;
}

static int
broken(struct vmm_virtq *q, const char *why)
{
	if (!q->broken)
		q->st.broken++;
	q->broken = true;
	q->why = why;
	return -EBADMSG;
}

int
vmm_virtq_init(struct vmm_virtq *q, const struct vmm_mem *mem, uint16_t size, uint64_t desc,
	       uint64_t avail, uint64_t used, uint64_t features)
{
	uint64_t avail_len = 6 + 2ull * size, used_len = 6 + 8ull * size;

	memset(q, 0, sizeof(*q));
	if (size == 0 || (size & (size - 1)) != 0)
		return -EINVAL;
	q->event_idx = features & (1ull << VMM_VIRTIO_F_RING_EVENT_IDX);
	q->indirect = features & (1ull << VMM_VIRTIO_F_RING_INDIRECT_DESC);
	/* 2.7.2: descriptor table 16-byte, available ring 2-byte, used ring
	 * 4-byte alignment; used_event and avail_event are inside these
	 * lengths. */
	if ((desc & 15) || (avail & 1) || (used & 3))
		return -EFAULT;
	q->desc = vmm_mem_ptr(mem, desc, (uint64_t)size * DESC_SIZE);
	q->avail = vmm_mem_ptr(mem, avail, avail_len);
	q->used = vmm_mem_ptr(mem, used, used_len);
	if (q->desc == NULL || q->avail == NULL || q->used == NULL)
		return -EFAULT;
	q->mem = mem;
	q->size = size;
	return 0;
}

/* Add a buffer to c, in order: readable ones may not follow writable. */
static int
add_buffer(struct vmm_virtq *q, struct vmm_virtq_chain *c, const struct desc *d)
{
	uint8_t *p;

	if (d->flags & VMM_VIRTQ_DESC_F_WRITE) {
		c->nin++;
	} else {
		if (c->nin > 0)
			return broken(q, "a readable buffer after a writable one");
		c->nout++;
	}
	if (c->nout + c->nin > VMM_VIRTQ_MAX_SEGS)
		return broken(q, "more buffers in a chain than the device takes");
	/* 2.7.5: nothing forbids a zero-length buffer; it carries nothing. */
	p = d->len == 0 ? NULL : vmm_mem_ptr(q->mem, d->addr, d->len);
	if (d->len != 0 && p == NULL)
		return broken(q, "a buffer outside guest memory");
	c->iov[c->nout + c->nin - 1] = (struct vmm_virtq_iov){ .base = p, .len = d->len };
	return 0;
}

/* 2.7.5.3: an indirect table, chained through its own next fields. */
static int
walk_indirect(struct vmm_virtq *q, struct vmm_virtq_chain *c, const struct desc *d,
	      unsigned int *budget)
{
	unsigned int n = d->len / DESC_SIZE;
	const uint8_t *table;
	uint16_t i = 0;

	if (!q->indirect)
		return broken(q, "an indirect descriptor without VIRTIO_F_INDIRECT_DESC");
	if (d->flags & VMM_VIRTQ_DESC_F_NEXT)
		return broken(q, "an indirect descriptor with NEXT");
	if (d->len == 0 || d->len % DESC_SIZE != 0 || n > VMM_VIRTQ_MAX_SIZE)
		return broken(q, "an indirect table of a bad length");
	if (d->addr & 15)
		return broken(q, "a misaligned indirect table");
	table = vmm_mem_ptr(q->mem, d->addr, d->len);
	if (table == NULL)
		return broken(q, "an indirect table outside guest memory");
	for (;;) {
		struct desc e;
		int rc;

		if (*budget == 0)
			return broken(q, "a chain longer than the queue (a loop?)");
		(*budget)--;
		e = read_desc(table, i);
		if (e.flags & VMM_VIRTQ_DESC_F_INDIRECT)
			return broken(q, "an indirect descriptor inside an indirect table");
		rc = add_buffer(q, c, &e);
		if (rc < 0)
			return rc;
		if (!(e.flags & VMM_VIRTQ_DESC_F_NEXT))
			return 0;
		if (e.next >= n)
			return broken(q, "an indirect next index past the table");
		i = e.next;
	}
}

int
vmm_virtq_pop(struct vmm_virtq *q, struct vmm_virtq_chain *c)
{
	unsigned int budget;
	uint16_t avail_idx, i;

	if (q->broken)
		return -EBADMSG;
	if (q->size == 0)
		return 0;
	avail_idx = ld16_acquire(q->avail + 2);
	if (avail_idx == q->last_avail)
		return 0;
	/* 2.7.13.3.1: the driver never makes more than size available. */
	if ((uint16_t)(avail_idx - q->last_avail) > q->size)
		return broken(q, "avail idx moved by more than the queue size");
	c->head = ld16(q->avail + 4 + 2 * (q->last_avail % q->size));
	c->nout = c->nin = 0;
	if (c->head >= q->size)
		return broken(q, "a head index past the descriptor table");
	q->last_avail++;
	if (q->event_idx) {
		/* 2.7.10: avail_event, after the used ring; the driver notifies
		 * when it makes the slot after this one available. */
		st16(q->used + 4 + 8 * (size_t)q->size, q->last_avail);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
	}
	/* 2.7.5.2: a chain is at most size descriptors, indirect ones
	 * included; a longer one loops. */
	budget = q->size;
	for (i = c->head;;) {
		struct desc d;
		int rc;

		if (budget == 0)
			return broken(q, "a chain longer than the queue (a loop?)");
		budget--;
		d = read_desc(q->desc, i);
		if (d.flags & VMM_VIRTQ_DESC_F_INDIRECT) {
			rc = walk_indirect(q, c, &d, &budget);
			if (rc < 0)
				return rc;
			break;
		}
		rc = add_buffer(q, c, &d);
		if (rc < 0)
			return rc;
		if (!(d.flags & VMM_VIRTQ_DESC_F_NEXT))
			break;
		if (d.next >= q->size)
			return broken(q, "a next index past the descriptor table");
		i = d.next;
	}
	q->st.chains++;
	return 1;
}

void
vmm_virtq_push(struct vmm_virtq *q, uint16_t head, uint32_t len)
{
	uint8_t *e;
	uint32_t id = head;

	if (q->size == 0)
		return;
	e = q->used + 4 + 8 * (size_t)(q->used_idx % q->size);
	memcpy(e, &id, 4);
	memcpy(e + 4, &len, 4);
	q->used_idx++;
	/* 2.7.8.2: the element before the index that publishes it. */
	__atomic_store_n((uint16_t *)(q->used + 2), q->used_idx, __ATOMIC_RELEASE);
}

bool
vmm_virtq_need_notify(struct vmm_virtq *q)
{
	uint16_t old = q->signalled, now = q->used_idx, event;
	bool need;

	if (q->size == 0 || old == now)
		return false;
	/* The used index must be visible before the driver's suppression
	 * state is read (2.7.10, as for the driver in 2.7.13.4). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (q->event_idx) {
		event = ld16(q->avail + 4 + 2 * (size_t)q->size); /* used_event */
		need = (uint16_t)(now - event - 1) < (uint16_t)(now - old);
	} else {
		need = !(ld16(q->avail) & VMM_VIRTQ_AVAIL_F_NO_INTERRUPT);
	}
	q->signalled = now;
	return need;
}

uint32_t
vmm_virtq_read(const struct vmm_virtq_chain *c, void *dst, uint32_t n)
{
	uint32_t done = 0;

	for (unsigned int i = 0; i < c->nout && done < n; i++) {
		uint32_t k = c->iov[i].len < n - done ? c->iov[i].len : n - done;

		if (k > 0)
			memcpy((uint8_t *)dst + done, c->iov[i].base, k);
		done += k;
	}
	return done;
}

uint32_t
vmm_virtq_write(const struct vmm_virtq_chain *c, const void *src, uint32_t n)
{
	uint32_t done = 0;

	for (unsigned int i = c->nout; i < c->nout + c->nin && done < n; i++) {
		uint32_t k = c->iov[i].len < n - done ? c->iov[i].len : n - done;

		if (k > 0)
			memcpy(c->iov[i].base, (const uint8_t *)src + done, k);
		done += k;
	}
	return done;
}

uint32_t
vmm_virtq_writable(const struct vmm_virtq_chain *c)
{
	uint64_t n = 0;

	for (unsigned int i = c->nout; i < c->nout + c->nin; i++)
		n += c->iov[i].len;
	return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}
