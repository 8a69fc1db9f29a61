/* SPDX-License-Identifier: MIT */
/* dpu/vm_state.c: which operations each state allows, how reports apply. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "vm_state.h"

#define S(x) NICVISOR__V1__VM_STATE__VM_STATE_##x

static const Nicvisor__V1__VmState all[] = {
	S(CREATED), S(STARTING), S(RUNNING), S(STOPPING), S(STOPPED), S(FAILED),
};

static bool
allowed(enum dpu_vm_op op, Nicvisor__V1__VmState s, bool force)
{
	struct dpu_status st;
	int rc = dpu_vm_check_op(op, s, force, "web1", &st);

	if (rc < 0) {
		assert_int_equal(st.code, NICVISOR__V1__CODE__CODE_FAILED_PRECONDITION);
		assert_string_equal(st.field, "vm");
		assert_non_null(strstr(st.message, "web1"));
	}
	return rc == 0;
}

static void
test_start(void **state)
{
	(void)state;
	assert_true(allowed(DPU_VM_OP_START, S(CREATED), false));
	assert_true(allowed(DPU_VM_OP_START, S(STOPPED), false));
	assert_true(allowed(DPU_VM_OP_START, S(FAILED), false));
	assert_false(allowed(DPU_VM_OP_START, S(STARTING), false));
	assert_false(allowed(DPU_VM_OP_START, S(RUNNING), false));
	assert_false(allowed(DPU_VM_OP_START, S(STOPPING), false));
}

static void
test_edit_nics(void **state)
{
	(void)state;
	/* NICs change only while nothing runs on a host. */
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		assert_int_equal(allowed(DPU_VM_OP_EDIT_NICS, all[i], false),
				 all[i] == S(CREATED) || all[i] == S(STOPPED) ||
					 all[i] == S(FAILED));
	/* Disks likewise. */
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		assert_int_equal(allowed(DPU_VM_OP_EDIT_DISKS, all[i], false),
				 all[i] == S(CREATED) || all[i] == S(STOPPED) ||
					 all[i] == S(FAILED));
}

static void
test_stop(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		bool active =
			all[i] == S(STARTING) || all[i] == S(RUNNING) || all[i] == S(STOPPING);

		assert_int_equal(allowed(DPU_VM_OP_STOP, all[i], false), active);
		assert_int_equal(allowed(DPU_VM_OP_STOP, all[i], true), active);
		assert_int_equal(dpu_vm_state_active(all[i]), active);
	}
}

static void
test_delete(void **state)
{
	struct dpu_status st;

	(void)state;
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		assert_int_equal(allowed(DPU_VM_OP_DELETE, all[i], false),
				 !dpu_vm_state_active(all[i]));
		assert_true(allowed(DPU_VM_OP_DELETE, all[i], true));
	}
	assert_int_equal(dpu_vm_check_op(DPU_VM_OP_DELETE, S(RUNNING), false, "web1", &st),
			 -EINVAL);
	assert_non_null(strstr(st.message, "force"));
}

static void
test_reports(void **state)
{
	(void)state;
	assert_false(dpu_vm_state_reportable(S(UNSPECIFIED)));
	assert_false(dpu_vm_state_reportable(S(CREATED)));
	for (size_t i = 1; i < sizeof(all) / sizeof(all[0]); i++)
		assert_true(dpu_vm_state_reportable(all[i]));
	assert_true(dpu_vm_state_valid(0));
	assert_true(dpu_vm_state_valid(6));
	assert_false(dpu_vm_state_valid(7));
	assert_false(dpu_vm_state_valid(-1));
	assert_true(dpu_exit_kind_valid(8));
	assert_false(dpu_exit_kind_valid(9));

	/* The host's word... */
	assert_int_equal(dpu_vm_apply_report(S(STARTING), S(RUNNING)), S(RUNNING));
	assert_int_equal(dpu_vm_apply_report(S(RUNNING), S(FAILED)), S(FAILED));
	assert_int_equal(dpu_vm_apply_report(S(STOPPED), S(RUNNING)), S(RUNNING));
	assert_int_equal(dpu_vm_apply_report(S(STOPPING), S(STOPPED)), S(STOPPED));
	assert_int_equal(dpu_vm_apply_report(S(STOPPING), S(FAILED)), S(FAILED));
	/* ...except that it does not undo a stop under way. */
	assert_int_equal(dpu_vm_apply_report(S(STOPPING), S(RUNNING)), S(STOPPING));
	assert_int_equal(dpu_vm_apply_report(S(STOPPING), S(STARTING)), S(STOPPING));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_start),   cmocka_unit_test(test_edit_nics),
		cmocka_unit_test(test_stop),    cmocka_unit_test(test_delete),
		cmocka_unit_test(test_reports),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
