/* SPDX-License-Identifier: MIT */
/*
 * A host's queue of commands (host.proto: Command). Each command gets the
 * next sequence number of its host and stays queued, and is repeated in
 * every Poll answer, until a Poll acknowledges it (ack_seq >= seq).
 *
 * Sequence numbers grow across sessions and across agent runs (the agent
 * seeds first_seq from the wall clock), so a host that remembers the last
 * seq it applied never mistakes a new command for an old one.
 * Not thread safe: the agent lock protects it.
 */
#ifndef DPU_CMDQ_H
#define DPU_CMDQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nicvisor/v1/host.pb-c.h"

#define DPU_CMDQ_MAX 4096 /* commands waiting for one host */

struct dpu_cmd {
	struct dpu_cmd *next;
	Nicvisor__V1__Command *cmd; /* owned copy; cmd->seq set */
	bool sent;                  /* was in a Poll answer */
};

struct dpu_cmdq {
	struct dpu_cmd *head, *tail;
	size_t len;
	uint64_t next_seq;
};

void dpu_cmdq_init(struct dpu_cmdq *q, uint64_t first_seq);
void dpu_cmdq_fini(struct dpu_cmdq *q); /* frees every command */

/* Queue a copy of cmd with the next seq (cmd->seq is ignored). The seq, or
 * -ENOSPC (queue full) / -ENOMEM. */
int64_t dpu_cmdq_push(struct dpu_cmdq *q, const Nicvisor__V1__Command *cmd);

/* Drop every command with seq <= ack_seq. Returns how many. */
size_t dpu_cmdq_ack(struct dpu_cmdq *q, uint64_t ack_seq);

/* Up to max commands, oldest first, into out (pointers stay owned by the
 * queue until acked or dropped); marks them sent. Returns the count. */
size_t dpu_cmdq_peek(struct dpu_cmdq *q, Nicvisor__V1__Command **out, size_t max);

/* The oldest queued command for vm_id of kind op, or NULL. */
struct dpu_cmd *dpu_cmdq_find(struct dpu_cmdq *q, const char *vm_id,
			      Nicvisor__V1__Command__OpCase op);

/* Remove and free one queued command. */
void dpu_cmdq_remove(struct dpu_cmdq *q, struct dpu_cmd *c);

/* The vm_id a command is about ("" if none). */
const char *dpu_cmd_vm_id(const Nicvisor__V1__Command *cmd);

#endif
