/* SPDX-License-Identifier: MIT */
/*
 * The DPU agent's control plane, without transport: VMs and their
 * lifecycle, host sessions and their long polls, placement, boot
 * artifacts, console rings, events and durable state. dpu/server.c puts it
 * on nng; unit tests and fuzzers call it directly.
 *
 * Threads: every entry point may be called from any thread, concurrently.
 * One agent lock serialises the control plane; it is never held while
 * copying boot files or serving artifact bytes. Answers to held polls
 * (struct dpu_reply) and events (struct dpu_event_sink) are handed out
 * with the lock held, so neither callback may block or call back into the
 * agent.
 */
#ifndef DPU_AGENT_H
#define DPU_AGENT_H

#include <stddef.h>
#include <stdint.h>

#include "nicvisor/v1/api.pb-c.h"
#include "nicvisor/v1/host.pb-c.h"
#include "nv_arena.h"

struct dpu_agent;
struct dpu_blk;
struct dpu_net;
struct dpu_store;

/* Where events go. publish gets one whole pub/sub message: topic, NUL,
 * packed nicvisor.v1.Event. Called with the agent lock held. (opt) NULL
 * drops events. */
struct dpu_event_sink {
	void (*publish)(void *opaque, const void *msg, size_t len);
	void *opaque;
};

/*
 * One southbound request being answered. The agent calls exactly one of
 * send() (with the answer; rep is valid during the call only) or
 * abandon() (the transport is going away; do not answer), once, possibly
 * later and from another thread. Both may run with the agent lock held.
 */
struct dpu_reply {
	void (*send)(struct dpu_reply *r, const Nicvisor__V1__HostResponse *rep);
	void (*abandon)(struct dpu_reply *r);
};

struct dpu_agent_conf {
	struct dpu_store *store;  /* required; owned by the caller */
	const char *artifact_dir; /* required; emptied at open */
	uint32_t heartbeat_ms;    /* 0 = 1000 */
	uint32_t dead_after_ms;   /* 0 = 3 * heartbeat_ms + 1000 */
	struct dpu_event_sink events;
	/* (opt) monotonic milliseconds; tests drive time with it. */
	uint64_t (*clock_ms)(void);
	/* (opt) random bytes for VM ids and sessions; tests make them
	 * predictable with it. Default: getrandom(). */
	void (*random)(void *buf, size_t len);
	/* (opt) the dataplane (dpu/net.h), owned by the caller and closed
	 * after the agent. NULL: networking is off; the agent refuses what
	 * would need it and says why with net_off_reason (opt). */
	struct dpu_net *net;
	const char *net_off_reason;
	/* (opt) the block backend (dpu/blk.h), owned by the caller and
	 * closed after the agent. NULL: VMs with disks do not start. */
	struct dpu_blk *blk;
	/* (opt) where file volumes live (<dir>/<volume id>.img); created if
	 * missing. NULL: only NBD volumes can be created. */
	const char *volume_dir;
};

/* Load the saved state and start serving. 0, or a negative errno with the
 * reason logged (a corrupt state file is -EBADMSG). */
int dpu_agent_open(const struct dpu_agent_conf *conf, struct dpu_agent **out);
/* Abandon held replies and free everything. Accepts NULL. */
void dpu_agent_close(struct dpu_agent *a);

/*
 * Northbound: decode one Request (any bytes), validate it, apply it and
 * fill rep (strings and sub-messages from arena) with a typed status and
 * a result. Never fails; the agent keeps serving after any input.
 */
void dpu_agent_api(struct dpu_agent *a, const uint8_t *req, size_t len, struct nv_arena *arena,
		   Nicvisor__V1__Response *rep);
/* The same for a read-only caller: Get and List operations are served,
 * every other is answered CODE_PERMISSION_DENIED. */
void dpu_agent_api_read_only(struct dpu_agent *a, const uint8_t *req, size_t len,
			     struct nv_arena *arena, Nicvisor__V1__Response *rep);

/* Southbound: one HostRequest (any bytes), answered through r now or, for
 * a Poll, later. */
void dpu_agent_host(struct dpu_agent *a, const uint8_t *req, size_t len, struct dpu_reply *r);

/*
 * Timers: answer polls held for heartbeat_ms, declare hosts silent for
 * dead_after_ms lost, force stops that overran. Call it every few tens of
 * milliseconds; returns the suggested delay before the next call in ms.
 */
uint32_t dpu_agent_tick(struct dpu_agent *a);

/* Stop holding polls: held ones are abandoned, new ones answered at once.
 * Called before the transport closes. */
void dpu_agent_shutdown(struct dpu_agent *a);

/* Counters (for tests and, later, metrics). */
struct dpu_agent_stats {
	uint64_t api_requests;
	uint64_t api_errors;
	uint64_t host_requests;
	uint64_t host_errors;
	uint64_t events;
	uint64_t store_errors;
	size_t vms;
	size_t hosts_connected;
	size_t held_polls;
	size_t artifacts;
	size_t networks;
	size_t nics;
	uint64_t net_errors; /* dataplane calls that failed */
	size_t volumes;
	size_t disks;
	uint64_t blk_errors; /* block backend calls that failed */
};
void dpu_agent_get_stats(struct dpu_agent *a, struct dpu_agent_stats *out);

/* API requests by operation (index: the Request's op field number; 0:
 * requests that did not decode), with a latency histogram. bucket[i]
 * counts requests that took at most dpu_api_bucket_ns[i] and more than
 * the bucket before (not cumulative); slower than the last: count minus
 * their sum. */
#define DPU_API_OPS     128
#define DPU_API_BUCKETS 14
extern const uint64_t dpu_api_bucket_ns[DPU_API_BUCKETS];
struct dpu_api_op_stats {
	uint64_t count;
	uint64_t errors;
	uint64_t sum_ns;
	uint64_t bucket[DPU_API_BUCKETS];
};
/* A copy of every operation's stats (out[DPU_API_OPS]). */
void dpu_agent_api_stats(struct dpu_agent *a, struct dpu_api_op_stats *out);

/* A decoded request on behalf of the agent's own readers (the metrics
 * endpoint): validated and applied like dpu_agent_api's, not counted in
 * the API's stats. Meant for Get and List operations. */
void dpu_agent_query(struct dpu_agent *a, const Nicvisor__V1__Request *rq, struct nv_arena *arena,
		     Nicvisor__V1__Response *rep);

#endif
