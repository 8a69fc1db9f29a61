/* SPDX-License-Identifier: MIT */
/*
 * dpu_store: where the agent's durable state (dpu_state.proto AgentState:
 * every VM's spec, id, last known state and host) lives between runs.
 *
 * The agent saves the whole state after every change it acknowledges and
 * loads it once at start; a save that returned 0 survives kill -9 and power
 * loss. A backend is a const struct dpu_store_ops; all members are
 * mandatory, called with the agent lock held (one caller at a time), and
 * may block on disk I/O. Backends: "file" (state.pb, written atomically)
 * and "memory" (tests and fuzzers). A database backend will replace
 * "file" behind this same interface.
 */
#ifndef DPU_STORE_H
#define DPU_STORE_H

#include "nicvisor/v1/dpu_state.pb-c.h"

struct dpu_store;

struct dpu_store_ops {
	const char *name;
	/* The saved state in *out (free with dpu_store_free_state()), or
	 * *out = NULL when nothing was saved yet. -EBADMSG for a corrupt
	 * state, another negative errno for I/O errors; logs the reason. */
	int (*load)(struct dpu_store *s, Nicvisor__V1__AgentState **out);
	/* Replace the saved state with st, durably, all or nothing. */
	int (*save)(struct dpu_store *s, const Nicvisor__V1__AgentState *st);
	void (*close)(struct dpu_store *s); /* never fails */
};

struct dpu_store {
	const struct dpu_store_ops *ops;
};

/* <dir>/state.pb; dir must exist. */
int dpu_store_file_open(const char *dir, struct dpu_store **out);
int dpu_store_mem_open(struct dpu_store **out);

static inline int
dpu_store_load(struct dpu_store *s, Nicvisor__V1__AgentState **out)
{
	return s->ops->load(s, out);
}

static inline int
dpu_store_save(struct dpu_store *s, const Nicvisor__V1__AgentState *st)
{
	return s->ops->save(s, st);
}

static inline void
dpu_store_close(struct dpu_store *s)
{
	if (s != NULL)
		s->ops->close(s);
}

void dpu_store_free_state(Nicvisor__V1__AgentState *st); /* accepts NULL */

#endif
