/* SPDX-License-Identifier: MIT */
/* dpu/cmdq.c: numbering, repetition until acknowledged, recall. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cmdq.h"

static int64_t
push_stop(struct dpu_cmdq *q, const char *vm)
{
	Nicvisor__V1__Command c = NICVISOR__V1__COMMAND__INIT;
	Nicvisor__V1__StopVm s = NICVISOR__V1__STOP_VM__INIT;

	s.vm_id = (char *)vm;
	s.timeout_ms = 1234;
	c.op_case = NICVISOR__V1__COMMAND__OP_STOP;
	c.stop = &s;
	c.seq = 999999; /* ignored */
	return dpu_cmdq_push(q, &c);
}

static int64_t
push_launch(struct dpu_cmdq *q, const char *vm)
{
	Nicvisor__V1__Command c = NICVISOR__V1__COMMAND__INIT;
	Nicvisor__V1__LaunchVm l = NICVISOR__V1__LAUNCH_VM__INIT;
	Nicvisor__V1__VmSpec spec = NICVISOR__V1__VM_SPEC__INIT;
	char name[32];

	snprintf(name, sizeof(name), "name-of-%s", vm);
	spec.name = name;
	l.vm_id = (char *)vm;
	l.spec = &spec;
	c.op_case = NICVISOR__V1__COMMAND__OP_LAUNCH;
	c.launch = &l;
	return dpu_cmdq_push(q, &c);
}

static void
test_seq_and_ack(void **state)
{
	Nicvisor__V1__Command *out[8];
	struct dpu_cmdq q;

	(void)state;
	dpu_cmdq_init(&q, 100);
	assert_int_equal(push_launch(&q, "vm-1"), 100);
	assert_int_equal(push_stop(&q, "vm-2"), 101);
	assert_int_equal(push_stop(&q, "vm-3"), 102);
	/* Repeated in every answer until acknowledged. */
	for (int round = 0; round < 2; round++) {
		assert_int_equal(dpu_cmdq_peek(&q, out, 8), 3);
		assert_int_equal(out[0]->seq, 100);
		assert_int_equal(out[0]->op_case, NICVISOR__V1__COMMAND__OP_LAUNCH);
		/* The queue owns a deep copy. */
		assert_string_equal(out[0]->launch->spec->name, "name-of-vm-1");
		assert_int_equal(out[1]->stop->timeout_ms, 1234);
		assert_int_equal(out[2]->seq, 102);
	}
	assert_int_equal(dpu_cmdq_peek(&q, out, 2), 2);
	assert_int_equal(dpu_cmdq_ack(&q, 99), 0);
	assert_int_equal(dpu_cmdq_ack(&q, 101), 2);
	assert_int_equal(q.len, 1);
	assert_int_equal(dpu_cmdq_peek(&q, out, 8), 1);
	assert_int_equal(out[0]->seq, 102);
	/* An old ack changes nothing; a later one drains. */
	assert_int_equal(dpu_cmdq_ack(&q, 100), 0);
	assert_int_equal(dpu_cmdq_ack(&q, UINT64_MAX), 1);
	assert_int_equal(dpu_cmdq_peek(&q, out, 8), 0);
	/* Numbering continues after a drain and after fini. */
	assert_int_equal(push_stop(&q, "vm-4"), 103);
	dpu_cmdq_fini(&q);
	assert_int_equal(q.len, 0);
	assert_int_equal(push_stop(&q, "vm-5"), 104);
	dpu_cmdq_fini(&q);
}

static void
test_find_remove(void **state)
{
	Nicvisor__V1__Command *out[8];
	struct dpu_cmdq q;
	struct dpu_cmd *c;

	(void)state;
	dpu_cmdq_init(&q, 0);
	assert_int_equal(q.next_seq, 1);
	push_launch(&q, "vm-a");
	push_stop(&q, "vm-a");
	push_launch(&q, "vm-b");
	c = dpu_cmdq_find(&q, "vm-a", NICVISOR__V1__COMMAND__OP_LAUNCH);
	assert_non_null(c);
	assert_false(c->sent);
	assert_string_equal(dpu_cmd_vm_id(c->cmd), "vm-a");
	assert_null(dpu_cmdq_find(&q, "vm-b", NICVISOR__V1__COMMAND__OP_STOP));
	dpu_cmdq_peek(&q, out, 1);
	assert_true(c->sent);
	c = dpu_cmdq_find(&q, "vm-b", NICVISOR__V1__COMMAND__OP_LAUNCH);
	assert_false(c->sent);
	/* Remove the tail, then push: the tail pointer must follow. */
	dpu_cmdq_remove(&q, c);
	assert_int_equal(q.len, 2);
	push_stop(&q, "vm-c");
	assert_int_equal(dpu_cmdq_peek(&q, out, 8), 3);
	assert_string_equal(dpu_cmd_vm_id(out[2]), "vm-c");
	/* Remove the head. */
	dpu_cmdq_remove(&q, q.head);
	assert_int_equal(dpu_cmdq_peek(&q, out, 8), 2);
	assert_int_equal(out[0]->op_case, NICVISOR__V1__COMMAND__OP_STOP);
	dpu_cmdq_fini(&q);
}

static void
test_bounded(void **state)
{
	struct dpu_cmdq q;

	(void)state;
	dpu_cmdq_init(&q, 1);
	for (int i = 0; i < DPU_CMDQ_MAX; i++)
		assert_true(push_stop(&q, "vm-x") > 0);
	assert_int_equal(push_stop(&q, "vm-x"), -ENOSPC);
	assert_int_equal(dpu_cmdq_ack(&q, 10), 10);
	assert_true(push_stop(&q, "vm-x") > 0);
	dpu_cmdq_fini(&q);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seq_and_ack),
		cmocka_unit_test(test_find_remove),
		cmocka_unit_test(test_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
