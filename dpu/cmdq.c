/* SPDX-License-Identifier: MIT */
#include "cmdq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pb_util.h"

void
dpu_cmdq_init(struct dpu_cmdq *q, uint64_t first_seq)
{
	q->head = q->tail = NULL;
	q->len = 0;
	q->next_seq = first_seq ? first_seq : 1;
}

static void
cmd_free(struct dpu_cmd *c)
{
	dpu_pb_free(c->cmd);
	free(c);
}

void
dpu_cmdq_fini(struct dpu_cmdq *q)
{
	struct dpu_cmd *c = q->head;

	while (c != NULL) {
		struct dpu_cmd *next = c->next;

		cmd_free(c);
		c = next;
	}
	q->head = q->tail = NULL;
	q->len = 0;
}

int64_t
dpu_cmdq_push(struct dpu_cmdq *q, const Nicvisor__V1__Command *cmd)
{
	struct dpu_cmd *c;

	if (q->len >= DPU_CMDQ_MAX)
		return -ENOSPC;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	c->cmd = dpu_pb_dup(&cmd->base);
	if (c->cmd == NULL) {
		free(c);
		return -ENOMEM;
	}
	c->cmd->seq = q->next_seq++;
	if (q->tail != NULL)
		q->tail->next = c;
	else
		q->head = c;
	q->tail = c;
	q->len++;
	return (int64_t)c->cmd->seq;
}

size_t
dpu_cmdq_ack(struct dpu_cmdq *q, uint64_t ack_seq)
{
	size_t n = 0;

	/* Seqs are increasing along the queue. */
	while (q->head != NULL && q->head->cmd->seq <= ack_seq) {
		struct dpu_cmd *c = q->head;

		q->head = c->next;
		cmd_free(c);
		q->len--;
		n++;
	}
	if (q->head == NULL)
		q->tail = NULL;
	return n;
}

size_t
dpu_cmdq_peek(struct dpu_cmdq *q, Nicvisor__V1__Command **out, size_t max)
{
	size_t n = 0;

	for (struct dpu_cmd *c = q->head; c != NULL && n < max; c = c->next) {
		c->sent = true;
		out[n++] = c->cmd;
	}
	return n;
}

const char *
dpu_cmd_vm_id(const Nicvisor__V1__Command *cmd)
{
	switch (cmd->op_case) {
	case NICVISOR__V1__COMMAND__OP_LAUNCH:
		return cmd->launch && cmd->launch->vm_id ? cmd->launch->vm_id : "";
	case NICVISOR__V1__COMMAND__OP_STOP:
		return cmd->stop && cmd->stop->vm_id ? cmd->stop->vm_id : "";
	default:
		return "";
	}
}

struct dpu_cmd *
dpu_cmdq_find(struct dpu_cmdq *q, const char *vm_id, Nicvisor__V1__Command__OpCase op)
{
	for (struct dpu_cmd *c = q->head; c != NULL; c = c->next)
		if (c->cmd->op_case == op && strcmp(dpu_cmd_vm_id(c->cmd), vm_id) == 0)
			return c;
	return NULL;
}

void
dpu_cmdq_remove(struct dpu_cmdq *q, struct dpu_cmd *c)
{
	struct dpu_cmd **pp = &q->head, *prev = NULL;

	while (*pp != NULL && *pp != c) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	if (*pp == NULL)
		return;
	*pp = c->next;
	if (q->tail == c)
		q->tail = prev;
	q->len--;
	cmd_free(c);
}
