/* SPDX-License-Identifier: MIT */
/*
 * A southbound agent played by a test: answers Hello, holds Polls and
 * hands out queued commands until they are acknowledged, serves artifacts
 * (with faults on request), records reports and console bytes. It can go
 * away and come back as a new agent (new sessions, seqs from 1 again).
 * Thread safe; fa_wait_* block up to a timeout.
 */
#ifndef FAKE_AGENT_H
#define FAKE_AGENT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nicvisor/v1/host.pb-c.h"

struct fa_report {
	char vm_id[64];
	int state, exit;
	char reason[256];
	uint32_t boots;
	uint64_t console_offset;
	uint32_t pid;
	uint64_t boot_ns;
	/* The report's spec, if it has one (a Hello's do). */
	bool has_spec;
	unsigned int spec_nics, spec_disks;
	char spec_nic0_network[64], spec_disk0_volume[64];
	bool spec_disk0_ro;
};

struct fa_console {
	char vm_id[64];
	uint64_t first, next; /* offsets: first byte seen, after the last */
	unsigned int gaps;
	size_t len;
	uint8_t data[256 * 1024];
};

enum fa_fault {
	FA_FAULT_NONE,
	FA_FAULT_CORRUPT, /* flip a byte of every chunk */
	FA_FAULT_SHORT,   /* serve one byte less than asked */
	FA_FAULT_LONG,    /* serve one byte more than asked */
};

struct fake_agent {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	char url[256];
	struct nv_rpc_server *srv;
	uint32_t heartbeat_ms, dead_after_ms;
	unsigned int epoch;
	char session[64];
	bool away, stopping;
	bool partitioned; /* drop every request, keep the session */
	pthread_t ticker;

	struct {
		uint64_t seq;
		uint8_t *packed;
		size_t len;
	} cmds[256];
	unsigned int ncmds;
	uint64_t next_seq, acked;

	struct nv_rpc_call *poll_call;
	struct nv_rpc_call *held[64]; /* asked while away */
	unsigned int nheld;
	uint64_t poll_since_ns;
	unsigned int overlapping_polls;

	struct {
		char id[65];
		uint8_t *data;
		size_t len;
	} blobs[8];
	unsigned int nblobs;
	enum fa_fault fault;
	unsigned int garbage_replies; /* answer this many requests with garbage */

	struct fa_report reports[1024];
	unsigned int nreports;
	struct fa_console cons[8];
	unsigned int ncons;
	unsigned int hellos, polls, reads, bad_requests, commands_sent;
	unsigned int hello_vms;       /* VMs in the last Hello */
	struct fa_report hello_vm[8]; /* and their reports */
	uint32_t hello_caps_cores;
};

int fa_start(struct fake_agent *fa, const char *url, uint32_t heartbeat_ms);
void fa_stop(struct fake_agent *fa);
/* Go away (requests get no answer) and, with back, come back as a new
 * agent: what was asked meanwhile is answered CODE_UNAUTHENTICATED, as a
 * restarted agent answers what nng resends to it. The socket stays open:
 * closing an nng socket with requests in flight can hang in nng 1.5. */
void fa_away(struct fake_agent *fa);
int fa_back(struct fake_agent *fa);

/* The artifact id (sha256 hex) of data, and serve it. */
void fa_add_blob(struct fake_agent *fa, const void *data, size_t len, char id[65]);
void fa_sha256_hex(const void *data, size_t len, char id[65]);

/* Queue a command (with its seq, or the next one if 0); returns the seq. */
uint64_t fa_push(struct fake_agent *fa, const Nicvisor__V1__Command *cmd);
uint64_t fa_push_launch(struct fake_agent *fa, const char *vm_id, const char *kernel_id,
			uint64_t kernel_size, const char *initrd_id, uint64_t initrd_size);
/* A launch with NICs: n of them, each "MAC,SOCKET,PAIRS" and index i. */
uint64_t fa_push_launch_nics(struct fake_agent *fa, const char *vm_id, const char *kernel_id,
			     uint64_t kernel_size, const char *const *nics, unsigned int n);
/* A launch with disks: n of them, each "SOCKET,QUEUES[,ro]" and index i,
 * for a VM of `vcpus` whose spec has disks on volumes "vol-0".. (read-only
 * as the attachment says) and one NIC on network "net-a". */
uint64_t fa_push_launch_disks(struct fake_agent *fa, const char *vm_id, const char *kernel_id,
			      uint64_t kernel_size, uint32_t vcpus, const char *const *disks,
			      unsigned int n);
uint64_t fa_push_stop(struct fake_agent *fa, const char *vm_id, uint32_t timeout_ms, bool force,
		      bool forget);

/* Wait for a report of vm_id in `state` (and `exit` unless -1), later than
 * the index *from (updated past it if not NULL). true and *out filled. */
bool fa_wait_report(struct fake_agent *fa, const char *vm_id, int state, int exit,
		    unsigned int *from, struct fa_report *out, int timeout_ms);
/* Wait until vm_id's console holds `text`. */
bool fa_wait_console(struct fake_agent *fa, const char *vm_id, const char *text, int timeout_ms);
/* Wait until counter (a field of fa read under the lock) reaches at least v. */
bool fa_wait_count(struct fake_agent *fa, const unsigned int *counter, unsigned int v,
		   int timeout_ms);
bool fa_wait_acked(struct fake_agent *fa, uint64_t seq, int timeout_ms);
/* A copy of vm_id's console record; false if none. */
bool fa_console_get(struct fake_agent *fa, const char *vm_id, struct fa_console *out);

#endif
