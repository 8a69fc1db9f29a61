/* SPDX-License-Identifier: MIT */
/* The "memory" store: the packed state in a heap buffer, for tests. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

struct mem_store {
	struct dpu_store base;
	uint8_t *buf;
	size_t len;
	bool saved;
};

static int
mem_load(struct dpu_store *s, Nicvisor__V1__AgentState **out)
{
	struct mem_store *ms = (struct mem_store *)s;

	*out = NULL;
	if (!ms->saved)
		return 0;
	*out = nicvisor__v1__agent_state__unpack(NULL, ms->len, ms->buf);
	return *out ? 0 : -EBADMSG;
}

static int
mem_save(struct dpu_store *s, const Nicvisor__V1__AgentState *st)
{
	struct mem_store *ms = (struct mem_store *)s;
	size_t len = nicvisor__v1__agent_state__get_packed_size(st);
	uint8_t *buf = malloc(len ? len : 1);

	if (buf == NULL)
		return -ENOMEM;
	nicvisor__v1__agent_state__pack(st, buf);
	free(ms->buf);
	ms->buf = buf;
	ms->len = len;
	ms->saved = true;
	return 0;
}

static void
mem_close(struct dpu_store *s)
{
	struct mem_store *ms = (struct mem_store *)s;

	free(ms->buf);
	free(ms);
}

static const struct dpu_store_ops mem_store_ops = {
	.name = "memory",
	.load = mem_load,
	.save = mem_save,
	.close = mem_close,
};

int
dpu_store_mem_open(struct dpu_store **out)
{
	struct mem_store *ms = calloc(1, sizeof(*ms));

	if (ms == NULL)
		return -ENOMEM;
	ms->base.ops = &mem_store_ops;
	*out = &ms->base;
	return 0;
}
