/* SPDX-License-Identifier: MIT */
#include "pb_util.h"

#include <stdint.h>
#include <stdlib.h>

void *
dpu_pb_dup(const ProtobufCMessage *msg)
{
	ProtobufCMessage *copy;
	uint8_t *buf;
	size_t len;

	if (msg == NULL)
		return NULL;
	len = protobuf_c_message_get_packed_size(msg);
	buf = malloc(len ? len : 1);
	if (buf == NULL)
		return NULL;
	protobuf_c_message_pack(msg, buf);
	copy = protobuf_c_message_unpack(msg->descriptor, NULL, len, buf);
	free(buf);
	return copy;
}

void
dpu_pb_free(void *msg)
{
	if (msg != NULL)
		protobuf_c_message_free_unpacked(msg, NULL);
}

static void *
arena_alloc(void *data, size_t size)
{
	return nv_arena_alloc(data, size);
}

static void
arena_free(void *data, void *p)
{
	(void)data;
	(void)p;
}

void *
dpu_pb_dup_arena(const ProtobufCMessage *msg, struct nv_arena *a)
{
	ProtobufCAllocator alloc = {
		.alloc = arena_alloc,
		.free = arena_free,
		.allocator_data = a,
	};
	size_t len;
	uint8_t *buf;

	if (msg == NULL)
		return NULL;
	len = protobuf_c_message_get_packed_size(msg);
	buf = nv_arena_alloc(a, len ? len : 1);
	protobuf_c_message_pack(msg, buf);
	/* Cannot fail: the bytes came from the packer, the arena aborts
	 * rather than return NULL. */
	return protobuf_c_message_unpack(msg->descriptor, &alloc, len, buf);
}
