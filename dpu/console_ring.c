/* SPDX-License-Identifier: MIT */
#include "console_ring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void
dpu_console_ring_init(struct dpu_console_ring *r, size_t size, uint64_t offset)
{
	r->buf = NULL;
	r->size = size ? size : DPU_CONSOLE_RING_SIZE;
	r->start = offset;
	r->end = offset;
}

void
dpu_console_ring_fini(struct dpu_console_ring *r)
{
	free(r->buf);
	r->buf = NULL;
}

long
dpu_console_ring_append(struct dpu_console_ring *r, uint64_t off, const uint8_t *data, size_t len,
			uint64_t *new_off)
{
	size_t skip, n;

	if (off > r->end) {
		/* Bytes between end and off never reached us. */
		r->start = off;
		r->end = off;
	}
	if (off + len <= r->end) {
		*new_off = r->end;
		return 0;
	}
	skip = (size_t)(r->end - off);
	data += skip;
	n = len - skip;
	*new_off = r->end;
	if (r->buf == NULL) {
		r->buf = malloc(r->size);
		if (r->buf == NULL)
			return -ENOMEM;
	}
	/* Only the last r->size bytes of a big write survive. */
	if (n > r->size) {
		r->end += n - r->size;
		data += n - r->size;
		n = r->size;
	}
	for (size_t done = 0; done < n;) {
		size_t pos = (size_t)(r->end & (r->size - 1));
		size_t chunk = r->size - pos;

		if (chunk > n - done)
			chunk = n - done;
		memcpy(r->buf + pos, data + done, chunk);
		done += chunk;
		r->end += chunk;
	}
	if (r->end - r->start > r->size)
		r->start = r->end - r->size;
	return (long)(len - skip);
}

size_t
dpu_console_ring_read(const struct dpu_console_ring *r, uint64_t off, uint8_t *out, size_t max,
		      uint64_t *out_off)
{
	size_t n, done = 0;

	if (off < r->start)
		off = r->start;
	*out_off = off;
	if (off >= r->end || r->buf == NULL)
		return 0;
	n = (size_t)(r->end - off);
	if (n > max)
		n = max;
	while (done < n) {
		size_t pos = (size_t)((off + done) & (r->size - 1));
		size_t chunk = r->size - pos;

		if (chunk > n - done)
			chunk = n - done;
		memcpy(out + done, r->buf + pos, chunk);
		done += chunk;
	}
	return n;
}
