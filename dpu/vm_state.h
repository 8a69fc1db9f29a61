/* SPDX-License-Identifier: MIT */
/*
 * The VM lifecycle. Operators move a VM with StartVm, StopVm and DeleteVm;
 * the host that runs it reports what really happened (VmReport), and the
 * agent takes the host's word for it except where an operator's stop is
 * still under way.
 *
 *   CREATED --start--> STARTING --host--> RUNNING --stop--> STOPPING
 *      ^                  |  ^               |  ^              |
 *      |               stop  +--host reboot--+  |         host: STOPPED
 *    (delete)             v                     |              v
 *                      STOPPING / STOPPED     FAILED <--host-- STOPPED
 *   STOPPED, FAILED --start--> STARTING
 *
 * Pure functions, thread safe.
 */
#ifndef DPU_VM_STATE_H
#define DPU_VM_STATE_H

#include <stdbool.h>

#include "nicvisor/v1/types.pb-c.h"
#include "status.h"

enum dpu_vm_op {
	DPU_VM_OP_START,
	DPU_VM_OP_STOP,
	DPU_VM_OP_DELETE,
	DPU_VM_OP_EDIT_NICS,  /* AddNic, RemoveNic: only while it does not run */
	DPU_VM_OP_EDIT_DISKS, /* AttachDisk, DetachDisk: likewise */
};

/*
 * May an operator apply op to a VM in state? 0, or CODE_FAILED_PRECONDITION
 * in st saying what to do instead. force: StopVm.force / DeleteVm.force.
 */
int dpu_vm_check_op(enum dpu_vm_op op, Nicvisor__V1__VmState state, bool force, const char *name,
		    struct dpu_status *st);

/* The VM holds resources on its host (STARTING, RUNNING, STOPPING). */
bool dpu_vm_state_active(Nicvisor__V1__VmState state);

/* A state a host may report: STARTING, RUNNING, STOPPING, STOPPED, FAILED. */
bool dpu_vm_state_reportable(Nicvisor__V1__VmState state);

/* A value of the VmState enum (UNSPECIFIED included). */
bool dpu_vm_state_valid(int state);
bool dpu_exit_kind_valid(int kind);

/*
 * The state a VM in `cur` takes when its host reports `reported` (which
 * must be reportable): the host's word, except that an operator's stop in
 * progress is not undone by a report that the VM (still) runs.
 */
Nicvisor__V1__VmState dpu_vm_apply_report(Nicvisor__V1__VmState cur,
					  Nicvisor__V1__VmState reported);

#endif
