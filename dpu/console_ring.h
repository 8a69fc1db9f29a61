/* SPDX-License-Identifier: MIT */
/*
 * A VM's console as the agent keeps it: the last DPU_CONSOLE_RING_SIZE
 * bytes of an unbounded byte stream, addressed by stream offsets. Hosts
 * send console data with its offset and may resend it (after a dropped
 * connection), so appending is idempotent: bytes below the end are
 * skipped, and a jump past the end (bytes lost, or an agent that restarted)
 * restarts the ring at the new offset. Not thread safe: the agent lock
 * protects it.
 */
#ifndef DPU_CONSOLE_RING_H
#define DPU_CONSOLE_RING_H

#include <stddef.h>
#include <stdint.h>

#define DPU_CONSOLE_RING_SIZE (256u << 10)

struct dpu_console_ring {
	uint8_t *buf;   /* allocated on the first byte */
	size_t size;    /* power of two */
	uint64_t start; /* offset of the oldest byte kept */
	uint64_t end;   /* offset one past the newest byte */
};

/* size: a power of two (0 = DPU_CONSOLE_RING_SIZE). Empty, at offset. */
void dpu_console_ring_init(struct dpu_console_ring *r, size_t size, uint64_t offset);
void dpu_console_ring_fini(struct dpu_console_ring *r);

/*
 * Add data that starts at stream offset off. Returns the number of new
 * bytes taken (the rest were already there), and in *new_off the offset of
 * the first new byte, which is data + (*new_off - off). -ENOMEM if the ring
 * cannot be allocated.
 */
long dpu_console_ring_append(struct dpu_console_ring *r, uint64_t off, const uint8_t *data,
			     size_t len, uint64_t *new_off);

/*
 * Copy up to max bytes from offset off (or from the oldest byte kept, if
 * off is older) into out. Returns the count and the offset of out[0] in
 * *out_off; 0 bytes when off >= end.
 */
size_t dpu_console_ring_read(const struct dpu_console_ring *r, uint64_t off, uint8_t *out,
			     size_t max, uint64_t *out_off);

#endif
