/* SPDX-License-Identifier: MIT */
#include "nv_arena.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct nv_arena_chunk {
	struct nv_arena_chunk *next;
	size_t used;
	size_t size;
	max_align_t data[];
};

#define CHUNK_MIN 4096u

void *
nv_arena_alloc(struct nv_arena *a, size_t size)
{
	struct nv_arena_chunk *c = a->head;
	size_t need = (size + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
	void *p;

	if (c == NULL || c->size - c->used < need) {
		size_t sz = need > CHUNK_MIN ? need : CHUNK_MIN;

		c = calloc(1, sizeof(*c) + sz);
		if (c == NULL)
			abort();
		c->size = sz;
		c->next = a->head;
		a->head = c;
	}
	p = (char *)c->data + c->used;
	c->used += need;
	return p;
}

void *
nv_arena_memdup(struct nv_arena *a, const void *p, size_t len)
{
	void *q = nv_arena_alloc(a, len ? len : 1);

	if (len)
		memcpy(q, p, len);
	return q;
}

char *
nv_arena_strdup(struct nv_arena *a, const char *s)
{
	return nv_arena_memdup(a, s, strlen(s) + 1);
}

char *
nv_arena_printf(struct nv_arena *a, const char *fmt, ...)
{
	va_list ap;
	int n;
	char *s;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	s = nv_arena_alloc(a, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

void
nv_arena_free(struct nv_arena *a)
{
	struct nv_arena_chunk *c = a->head;

	while (c != NULL) {
		struct nv_arena_chunk *next = c->next;

		free(c);
		c = next;
	}
	a->head = NULL;
}
