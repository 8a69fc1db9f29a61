/* SPDX-License-Identifier: MIT */
/*
 * A split virtqueue served in this process (virtio 1.2, 2.7): for the few
 * queues the shim itself serves, such as virtio-net's control queue. The
 * data queues never come here: their backend reads them directly.
 *
 * Everything the driver wrote is untrusted: ring and buffer addresses go
 * through vmm_mem_ptr(), indices are bounded by the queue size, chains by
 * the queue size (so a descriptor loop ends), each descriptor is read once
 * into a local copy. A queue that breaks a rule is marked broken and
 * yields nothing more until it is set up again.
 *
 * Not thread safe: the owner serialises calls (its device lock). The guest
 * writes the rings concurrently; loads and stores that it shares use
 * atomics with the ordering 2.7.7 and 2.7.13 require.
 */
#ifndef VMM_VIRTQ_H
#define VMM_VIRTQ_H

#include <stdbool.h>
#include <stdint.h>

#include "guest_mem.h"

#define VMM_VIRTQ_MAX_SIZE 32768 /* 2.7: split queue sizes are powers of two up to this */
#define VMM_VIRTQ_MAX_SEGS 64    /* buffers per chain this implementation takes */

/* Descriptor flags (2.7.5). */
#define VMM_VIRTQ_DESC_F_NEXT          1
#define VMM_VIRTQ_DESC_F_WRITE         2
#define VMM_VIRTQ_DESC_F_INDIRECT      4
#define VMM_VIRTQ_AVAIL_F_NO_INTERRUPT 1

/* Feature bits that change how the rings are read (6). */
#define VMM_VIRTIO_F_RING_INDIRECT_DESC 28
#define VMM_VIRTIO_F_RING_EVENT_IDX     29

struct vmm_virtq_iov {
	uint8_t *base; /* host pointer into guest RAM */
	uint32_t len;
};

/* One chain: nout device-readable buffers, then nin device-writable ones. */
struct vmm_virtq_chain {
	uint16_t head;
	unsigned int nout, nin;
	struct vmm_virtq_iov iov[VMM_VIRTQ_MAX_SEGS];
};

struct vmm_virtq_stats {
	uint64_t chains;
	uint64_t broken; /* times the queue was found broken */
};

struct vmm_virtq {
	const struct vmm_mem *mem;
	uint16_t size;
	bool event_idx, indirect;
	uint8_t *desc, *avail, *used; /* host pointers, whole rings checked */
	uint16_t last_avail;          /* next avail ring slot to read */
	uint16_t used_idx;            /* next used ring slot to write */
	uint16_t signalled;           /* used_idx at the last notification */
	bool broken;
	const char *why; /* the rule broken, for logs */
	struct vmm_virtq_stats st;
};

/* Set up a queue of `size` entries (a power of two) with rings at these
 * guest-physical addresses and the negotiated features. -EINVAL (size),
 * -EFAULT (a ring outside RAM or misaligned, 2.7). */
int vmm_virtq_init(struct vmm_virtq *q, const struct vmm_mem *mem, uint16_t size, uint64_t desc,
		   uint64_t avail, uint64_t used, uint64_t features);

/* The next available chain: 1 and *c filled, 0 if none, -EBADMSG if the
 * queue is (now) broken. With EVENT_IDX, publishes avail_event so that
 * the driver notifies again for the next one. */
int vmm_virtq_pop(struct vmm_virtq *q, struct vmm_virtq_chain *c);

/* Return chain `head` with `len` bytes written to it. */
void vmm_virtq_push(struct vmm_virtq *q, uint16_t head, uint32_t len);

/* Whether the driver wants an interrupt for what was pushed since the
 * last call that returned true (2.7.7.2, 2.7.10). */
bool vmm_virtq_need_notify(struct vmm_virtq *q);

/* Copy up to n bytes of the readable part of c, from its start; returns
 * bytes copied. */
uint32_t vmm_virtq_read(const struct vmm_virtq_chain *c, void *dst, uint32_t n);
/* Copy up to n bytes into the writable part of c, from its start; returns
 * bytes copied. */
uint32_t vmm_virtq_write(const struct vmm_virtq_chain *c, const void *src, uint32_t n);
/* Bytes of writable buffers in c. */
uint32_t vmm_virtq_writable(const struct vmm_virtq_chain *c);

#endif
