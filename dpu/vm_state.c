/* SPDX-License-Identifier: MIT */
#include "vm_state.h"

#include <errno.h>

#include "nv_wire.h"

#define S(x) NICVISOR__V1__VM_STATE__VM_STATE_##x

bool
dpu_vm_state_active(Nicvisor__V1__VmState state)
{
	return state == S(STARTING) || state == S(RUNNING) || state == S(STOPPING);
}

bool
dpu_vm_state_reportable(Nicvisor__V1__VmState state)
{
	return state == S(STARTING) || state == S(RUNNING) || state == S(STOPPING) ||
	       state == S(STOPPED) || state == S(FAILED);
}

bool
dpu_vm_state_valid(int state)
{
	return state >= S(UNSPECIFIED) && state <= S(FAILED);
}

bool
dpu_exit_kind_valid(int kind)
{
	return kind >= NICVISOR__V1__EXIT_KIND__EXIT_KIND_NONE &&
	       kind <= NICVISOR__V1__EXIT_KIND__EXIT_KIND_DEBUG_EXIT;
}

int
dpu_vm_check_op(enum dpu_vm_op op, Nicvisor__V1__VmState state, bool force, const char *name,
		struct dpu_status *st)
{
	const Nicvisor__V1__Code pre = NICVISOR__V1__CODE__CODE_FAILED_PRECONDITION;
	const char *sn = nv_vm_state_name(state);

	switch (op) {
	case DPU_VM_OP_START:
		if (state == S(CREATED) || state == S(STOPPED) || state == S(FAILED))
			return 0;
		if (state == S(STOPPING))
			return dpu_fail(
				st, pre, "vm",
				"vm %s is stopping; wait until it is stopped, then start it", name);
		return dpu_fail(st, pre, "vm", "vm %s is already %s", name, sn);
	case DPU_VM_OP_STOP:
		if (dpu_vm_state_active(state))
			return 0;
		return dpu_fail(st, pre, "vm", "vm %s is not running (it is %s)", name, sn);
	case DPU_VM_OP_DELETE:
		if (!dpu_vm_state_active(state) || force)
			return 0;
		return dpu_fail(st, pre, "vm", "vm %s is %s; stop it first or delete it with force",
				name, sn);
	case DPU_VM_OP_EDIT_NICS:
		if (!dpu_vm_state_active(state))
			return 0;
		return dpu_fail(st, pre, "vm",
				"vm %s is %s; NICs change only while a VM is created, stopped or "
				"failed: stop it first",
				name, sn);
	case DPU_VM_OP_EDIT_DISKS:
		if (!dpu_vm_state_active(state))
			return 0;
		return dpu_fail(st, pre, "vm",
				"vm %s is %s; disks change only while a VM is created, stopped "
				"or failed: stop it first",
				name, sn);
	}
	return dpu_fail(st, NICVISOR__V1__CODE__CODE_INTERNAL, "", "unknown operation %d", (int)op);
}

Nicvisor__V1__VmState
dpu_vm_apply_report(Nicvisor__V1__VmState cur, Nicvisor__V1__VmState reported)
{
	if (cur == S(STOPPING) && (reported == S(STARTING) || reported == S(RUNNING)))
		return cur;
	return reported;
}
