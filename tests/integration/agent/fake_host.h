/* SPDX-License-Identifier: MIT */
/*
 * A fake nicvisor-shim for the agent's integration tests: speaks the
 * southbound protocol (host.proto) through nv_rpc like the real shim,
 * runs no guests. A thread says Hello and keeps a Poll outstanding; on
 * LaunchVm it fetches the boot artifacts with ReadArtifact, checks their
 * SHA-256 against the artifact ids, reports STARTING then RUNNING and
 * writes a console banner; on StopVm it reports STOPPED. Tests steer it
 * (silence, restart, reports, console) and read what it saw.
 */
#ifndef FAKE_HOST_H
#define FAKE_HOST_H

#include <stdbool.h>
#include <stdint.h>

#include "nicvisor/v1/host.pb-c.h"

struct fake_host;

struct fake_host_conf {
	const char *url; /* the agent's southbound URL */
	const char *id;  /* host id */
	uint32_t cores;  /* 0 = 2 */
	uint32_t kvm_max_vcpus;
	uint64_t memory_mib; /* 0 = 4096 */
	const char *banner;  /* console text written after RUNNING (NULL: none) */
	uint32_t chunk;      /* ReadArtifact length; 0 = 256 KiB */
};

#define FAKE_MAX_VMS   16
#define FAKE_MAX_NICS  8
#define FAKE_MAX_DISKS 16

/* What the fake host knows about one VM it was told to run. */
struct fake_vm {
	char id[32];
	Nicvisor__V1__VmState state;
	uint32_t boots;
	uint64_t console_offset;
	uint64_t kernel_bytes; /* fetched */
	uint64_t initrd_bytes;
	bool digests_ok; /* every artifact matched its id */
	char kernel_id[65];
	uint32_t vcpus;
	uint64_t memory_mib;
	char name[64];
	/* LaunchVm.nics, as received (also reported back in spec.nics at
	 * Hello, as a real shim does). */
	unsigned nnics;
	struct {
		uint32_t index;
		char mac[24];
		char network[64]; /* from spec.nics */
		char socket[128];
		uint32_t queue_pairs;
	} nics[FAKE_MAX_NICS];
	/* LaunchVm.disks, as received (spec.disks reported back at Hello). */
	unsigned ndisks;
	struct {
		uint32_t index;
		char volume[64]; /* from spec.disks */
		bool read_only;
		char socket[128];
		uint32_t queues;
		char serial[24];
		uint64_t size_bytes;
	} disks[FAKE_MAX_DISKS];
};

struct fake_host_stats {
	unsigned hellos;
	unsigned polls;
	unsigned launches;
	unsigned stops;
	unsigned forgets;
	unsigned unauthenticated;
	unsigned artifact_reads;
	uint64_t last_seq;
	uint32_t heartbeat_ms;
	uint32_t dead_after_ms;
};

int fake_host_start(const struct fake_host_conf *conf, struct fake_host **out);
void fake_host_stop(struct fake_host *fh); /* accepts NULL */

/* Stop or resume all traffic (the agent then sees a silent host). */
void fake_host_set_silent(struct fake_host *fh, bool silent);
/* Forget the session and every VM, as a restarted shim would. */
void fake_host_restart(struct fake_host *fh);

/* Wait until the host has a VM in state (or any state if 0). */
bool fake_host_wait_vm(struct fake_host *fh, const char *vm_id, Nicvisor__V1__VmState state,
		       int timeout_ms, struct fake_vm *out);
/* Wait until stats.hellos >= n. */
bool fake_host_wait_hellos(struct fake_host *fh, unsigned n, int timeout_ms);
void fake_host_get_stats(struct fake_host *fh, struct fake_host_stats *out);

/* Report a VM state change now (also updates the fake's own record);
 * returns the response code, or -1 on a transport error. */
int fake_host_report(struct fake_host *fh, const char *vm_id, Nicvisor__V1__VmState state,
		     Nicvisor__V1__ExitKind exit, uint32_t boots, const char *reason);
/* Send console bytes at the VM's current offset (or at `offset` if not
 * UINT64_MAX, for resends); advances the offset. Response code or -1. */
int fake_host_console(struct fake_host *fh, const char *vm_id, const char *text, uint64_t offset);

/* One raw southbound call with this host's session filled in when
 * req->session is NULL or empty. Response code or -1; *rep (may be NULL) gets the
 * response (nv_wire_free it). */
int fake_host_call(struct fake_host *fh, Nicvisor__V1__HostRequest *req,
		   Nicvisor__V1__HostResponse **rep);

#endif
