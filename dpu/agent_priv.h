/* SPDX-License-Identifier: MIT */
/*
 * Inside the agent: the records behind dpu_agent, shared by agent.c (state,
 * persistence, events), api.c (northbound) and south.c (southbound, timers).
 * Everything here is protected by dpu_agent.lock unless said otherwise.
 */
#ifndef DPU_AGENT_PRIV_H
#define DPU_AGENT_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "agent.h"
#include "artifact.h"
#include "cmdq.h"
#include "console_ring.h"
#include "nicvisor/v1/dpu_state.pb-c.h"
#include "status.h"
#include "validate.h"

#define DPU_MAX_VMS         4096
#define DPU_MAX_HOSTS       1024
#define DPU_MAX_TOMBSTONES  4096
#define DPU_SESSION_LEN     32 /* hex digits */
#define DPU_STOP_DEFAULT_MS 30000
/* A stop that has not finished this long after its graceful phase is
 * sent again, forced. */
#define DPU_STOP_GRACE_MS 5000
/* Commands in one Poll answer; more wait for the next Poll. */
#define DPU_POLL_MAX_CMDS 32

struct dpu_vm {
	char id[DPU_VM_ID_LEN + 1];
	Nicvisor__V1__VmSpec *spec; /* owned copy */
	Nicvisor__V1__VmState state;
	Nicvisor__V1__ExitKind last_exit;
	char host[DPU_HOST_ID_MAX + 1]; /* "" = never placed */
	char reason[DPU_REASON_MAX];
	uint64_t created_unix_ms;
	uint64_t started_unix_ms;
	uint64_t running_unix_ms;
	uint32_t boots;
	struct dpu_console_ring console;

	/* Not durable. */
	struct dpu_artifact *kernel; /* while active and started in this run */
	struct dpu_artifact *initrd;
	uint64_t start_gen;        /* bumped by each StartVm */
	uint64_t stop_deadline_ms; /* force the stop after this (0 = none) */
	uint32_t stop_timeout_ms;  /* of the stop under way */
	bool stop_force;
};

struct dpu_host {
	char id[DPU_HOST_ID_MAX + 1];
	Nicvisor__V1__HostCapabilities *caps; /* owned copy */
	bool connected;
	char session[DPU_SESSION_LEN + 1];
	uint64_t last_seen_ms; /* monotonic */
	uint64_t last_seen_unix_ms;
	uint64_t memory_capacity_mib; /* placement: available at Hello */
	uint32_t vms_running;         /* as last polled */
	struct dpu_cmdq cmdq;
	struct dpu_reply *held; /* the Poll being held, if any */
	uint64_t held_since_ms;
};

/* A VM deleted while its host may still run it: the host is told to stop
 * and forget it, and a VM it reports with this id is not adopted. */
struct dpu_tombstone {
	char vm_id[DPU_VM_ID_LEN + 1];
	char host[DPU_HOST_ID_MAX + 1];
	uint64_t deleted_unix_ms;
	uint64_t stop_seq; /* the StopVm(forget) queued in this run; 0 = none */
};

struct dpu_agent {
	pthread_mutex_t lock;
	struct dpu_agent_conf conf;
	struct dpu_artifacts *artifacts;
	struct dpu_vm **vms;
	size_t nvms;
	struct dpu_host **hosts;
	size_t nhosts;
	struct dpu_tombstone *tombs;
	size_t ntombs;
	uint64_t event_seq;
	uint64_t first_cmd_seq;
	bool shutting_down;
	struct dpu_agent_stats stats;
};

/* agent.c */
uint64_t agent_now_ms(struct dpu_agent *a);
void agent_random_hex(struct dpu_agent *a, char *out, size_t digits);
struct dpu_vm *vm_find(struct dpu_agent *a, const char *id_or_name);
struct dpu_vm *vm_find_id(struct dpu_agent *a, const char *id);
struct dpu_vm *vm_find_name(struct dpu_agent *a, const char *name);
/* A new VM with a fresh id; takes ownership of spec. NULL if out of memory. */
struct dpu_vm *vm_add(struct dpu_agent *a, Nicvisor__V1__VmSpec *spec, const char *id);
void vm_remove(struct dpu_agent *a, struct dpu_vm *vm);
void vm_release_artifacts(struct dpu_vm *vm);
/* Move vm to state with reason (printf); publishes VmStateChanged. Does
 * not save. */
void vm_set_state(struct dpu_agent *a, struct dpu_vm *vm, Nicvisor__V1__VmState state,
		  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Publish VmStateChanged from prev to vm->state (also for a reason change). */
void vm_publish_state(struct dpu_agent *a, const struct dpu_vm *vm, Nicvisor__V1__VmState prev);
void vm_publish_deleted(struct dpu_agent *a, const struct dpu_vm *vm);
void vm_publish_console(struct dpu_agent *a, const struct dpu_vm *vm, uint64_t off,
			const uint8_t *data, size_t len);
Nicvisor__V1__Vm *vm_to_pb(const struct dpu_vm *vm, struct nv_arena *ar);
Nicvisor__V1__VmSpec *spec_to_arena(const Nicvisor__V1__VmSpec *spec, struct nv_arena *ar);

struct dpu_host *host_find(struct dpu_agent *a, const char *id);
struct dpu_host *host_add(struct dpu_agent *a, const char *id);
void host_publish(struct dpu_agent *a, const struct dpu_host *h);
Nicvisor__V1__Host *host_to_pb(struct dpu_agent *a, const struct dpu_host *h, struct nv_arena *ar);
/* vCPUs and memory of the active VMs placed on h. */
void host_usage(struct dpu_agent *a, const struct dpu_host *h, uint32_t *vms, uint32_t *vcpus,
		uint64_t *memory_mib);
/* Choose a host for spec (prefer: the VM's previous host). */
int host_place(struct dpu_agent *a, const Nicvisor__V1__VmSpec *spec, const char *prefer,
	       struct dpu_host **out, struct dpu_status *st);

struct dpu_tombstone *tomb_find(struct dpu_agent *a, const char *vm_id);
int tomb_add(struct dpu_agent *a, const char *vm_id, const char *host);
void tomb_remove(struct dpu_agent *a, struct dpu_tombstone *t);

/* Save the whole state; on failure log, count, and return the errno. */
int agent_save(struct dpu_agent *a);

/* api.c */
/* Put vm on h and send LaunchVm; takes the artifact references. */
int vm_start_on(struct dpu_agent *a, struct dpu_vm *vm, struct dpu_host *h,
		struct dpu_artifact *kernel, struct dpu_artifact *initrd, struct dpu_status *st);
/* CODE_MALFORMED for an nv_wire_unpack() error rc on a `what` of len bytes. */
int dpu_decode_error(int rc, size_t len, const char *what, struct dpu_status *st);

/* south.c */
/* Queue a command for h and answer its held poll. -ENOSPC if h's queue is
 * full. *seq (may be NULL) gets the command's seq. */
int host_send(struct dpu_agent *a, struct dpu_host *h, const Nicvisor__V1__Command *cmd,
	      uint64_t *seq);
int host_send_launch(struct dpu_agent *a, struct dpu_host *h, const struct dpu_vm *vm);
int host_send_stop(struct dpu_agent *a, struct dpu_host *h, const char *vm_id, uint32_t timeout_ms,
		   bool force, bool forget, uint64_t *seq);
/* Answer h's held poll (if any) with its pending commands. */
void host_flush(struct dpu_agent *a, struct dpu_host *h);
void host_drop_held(struct dpu_agent *a, struct dpu_host *h, Nicvisor__V1__Code code,
		    const char *msg);

#endif
