/* SPDX-License-Identifier: MIT */
#include "nv_wire.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A protobuf-c allocator that refuses to go past a budget. Each block is
 * prefixed with its owner and size, so that free can give the budget back
 * and nv_wire_free() can find the allocator from the message alone (the
 * top-level message is the first block the decoder allocates). */
struct decoded {
	size_t left;
	bool exhausted; /* an allocation was refused */
	ProtobufCAllocator alloc;
};

struct block_hdr {
	struct decoded *owner;
	size_t size;
	max_align_t pad[];
};

static void *
budget_alloc(void *data, size_t size)
{
	struct decoded *d = data;
	struct block_hdr *h;

	if (size > d->left) {
		d->exhausted = true;
		return NULL;
	}
	h = malloc(sizeof(*h) + size);
	if (h == NULL)
		return NULL;
	h->owner = d;
	h->size = size;
	d->left -= size;
	return h + 1;
}

static void
budget_free(void *data, void *p)
{
	struct decoded *d = data;
	struct block_hdr *h;

	if (p == NULL)
		return;
	h = (struct block_hdr *)p - 1;
	d->left += h->size;
	free(h);
}

int
nv_wire_unpack(const ProtobufCMessageDescriptor *desc, const void *buf, size_t len,
	       ProtobufCMessage **out)
{
	struct decoded *d;
	ProtobufCMessage *m;

	*out = NULL;
	if (len > NV_WIRE_MAX_MSG)
		return -EMSGSIZE;
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return -ENOMEM;
	d->left = NV_WIRE_DECODE_BUDGET(len);
	d->alloc.alloc = budget_alloc;
	d->alloc.free = budget_free;
	d->alloc.allocator_data = d;
	m = protobuf_c_message_unpack(desc, &d->alloc, len, buf);
	if (m == NULL) {
		/* protobuf-c does not say why; a refused allocation is the
		 * one cause we can tell apart. */
		int rc = d->exhausted ? -ENOMEM : -EBADMSG;

		free(d);
		return rc;
	}
	*out = m;
	return 0;
}

void
nv_wire_free(ProtobufCMessage *msg)
{
	struct decoded *d;

	if (msg == NULL)
		return;
	d = ((struct block_hdr *)msg - 1)->owner;
	protobuf_c_message_free_unpacked(msg, &d->alloc);
	free(d);
}

int
nv_wire_pack_buf(const ProtobufCMessage *msg, uint8_t **buf, size_t *len)
{
	size_t n = protobuf_c_message_get_packed_size(msg);
	uint8_t *b;

	*buf = NULL;
	*len = 0;
	if (n > NV_WIRE_MAX_MSG)
		return -EMSGSIZE;
	b = malloc(n ? n : 1);
	if (b == NULL)
		return -ENOMEM;
	*len = protobuf_c_message_pack(msg, b);
	*buf = b;
	return 0;
}

void
nv_status_set(Nicvisor__V1__Status *st, struct nv_arena *a, Nicvisor__V1__Code code,
	      const char *field, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	st->code = code;
	st->message = nv_arena_strdup(a, msg);
	st->field = nv_arena_strdup(a, field ? field : "");
}

/* The value's name without its prefix, in lower case: CODE_NOT_FOUND ->
 * "not_found". The result lives until the same thread's fourth next call. */
static const char *
enum_short_name(const ProtobufCEnumDescriptor *desc, int value, const char *prefix)
{
	static _Thread_local char ring[4][48];
	static _Thread_local unsigned int next;
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(desc, value);
	size_t n = strlen(prefix);
	const char *src;
	char *dst;
	size_t i;

	if (v == NULL)
		return "unknown";
	src = strncasecmp(v->name, prefix, n) == 0 ? v->name + n : v->name;
	dst = ring[next++ % 4];
	for (i = 0; src[i] != 0 && i < sizeof(ring[0]) - 1; i++)
		dst[i] = (char)tolower((unsigned char)src[i]);
	dst[i] = 0;
	return dst;
}

const char *
nv_code_name(Nicvisor__V1__Code code)
{
	return enum_short_name(&nicvisor__v1__code__descriptor, (int)code, "code_");
}

const char *
nv_vm_state_name(Nicvisor__V1__VmState state)
{
	return enum_short_name(&nicvisor__v1__vm_state__descriptor, (int)state, "vm_state_");
}

const char *
nv_exit_kind_name(Nicvisor__V1__ExitKind kind)
{
	return enum_short_name(&nicvisor__v1__exit_kind__descriptor, (int)kind, "exit_kind_");
}

int
nv_wire_event_split(const void *buf, size_t len, const char **topic, const uint8_t **payload,
		    size_t *payload_len)
{
	const char *b = buf;
	const char *nul = memchr(b, 0, len < NV_TOPIC_MAX ? len : NV_TOPIC_MAX);

	if (nul == NULL)
		return -EBADMSG;
	*topic = b;
	*payload = (const uint8_t *)nul + 1;
	*payload_len = len - (size_t)(nul + 1 - b);
	return 0;
}
