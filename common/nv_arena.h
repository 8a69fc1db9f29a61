/* SPDX-License-Identifier: MIT */
/*
 * nv_arena: a bump allocator for building one reply. Protobuf-c messages
 * point at strings and sub-messages they do not own; a handler allocates
 * them all in an arena, packs the reply and frees everything at once.
 * Not thread safe: one arena per request. Allocation failure aborts: the
 * amounts are bounded by the sizes the decoders accept.
 */
#ifndef NV_ARENA_H
#define NV_ARENA_H

#include <stddef.h>

struct nv_arena_chunk;

struct nv_arena {
	struct nv_arena_chunk *head;
};

#define NV_ARENA_INIT                                                                              \
	{                                                                                          \
		NULL                                                                               \
	}

void *nv_arena_alloc(struct nv_arena *a, size_t size); /* zeroed */
char *nv_arena_strdup(struct nv_arena *a, const char *s);
char *nv_arena_printf(struct nv_arena *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void *nv_arena_memdup(struct nv_arena *a, const void *p, size_t len);
void nv_arena_free(struct nv_arena *a); /* leaves the arena empty and reusable */

#endif
