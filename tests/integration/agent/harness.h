/* SPDX-License-Identifier: MIT */
/*
 * The agent's integration harness: nicvisor-dpu as a real child process
 * in a private temp directory (ipc:// sockets, state dir), API calls, raw
 * bytes on either channel, event subscriptions, and nicvisorctl runs.
 * Binaries come from $NICVISOR_DPU and $NICVISORCTL (set by meson).
 * Every wait is bounded; teardown kills only the agent this harness
 * started and removes the directory.
 */
#ifndef AGENT_HARNESS_H
#define AGENT_HARNESS_H

#include <nng/nng.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "nicvisor/v1/api.pb-c.h"
#include "nicvisor/v1/host.pb-c.h"

struct agent_proc {
	char dir[256];
	char api[320];
	char events[320];
	char south[320];
	char state[320];
	char vhost[320];
	const char *dataplane; /* --dataplane; agent_setup sets "fake" */
	const char *extra[16]; /* more nicvisor-dpu arguments (NULL-terminated) */
	pid_t pid;
	uint32_t heartbeat_ms;
	uint32_t dead_after_ms;
	struct nv_rpc_client *client;
};

/* Make the temp dir and start the agent (--dataplane fake, vhost-user
 * sockets in <dir>/vhost); 0 or -1. */
int agent_setup(struct agent_proc *ap, uint32_t heartbeat_ms, uint32_t dead_after_ms);
/* The same, with the dataplane and extra arguments of the caller's
 * choosing (dataplane NULL: no --dataplane option). */
int agent_setup_with(struct agent_proc *ap, uint32_t heartbeat_ms, uint32_t dead_after_ms,
		     const char *dataplane, const char *const *extra);
/* Start the agent again on the same directory (after agent_kill). */
int agent_spawn(struct agent_proc *ap);
/* Send sig and wait (5 s, then SIGKILL). Returns the wait status. */
int agent_kill(struct agent_proc *ap, int sig);
void agent_teardown(struct agent_proc *ap);
/* The agent still answers the API (ListVms within 2 s). */
bool agent_alive(struct agent_proc *ap);

/* One API call (5 s at most); NULL on transport failure. Free with
 * nv_wire_free(). */
Nicvisor__V1__Response *api_call(struct agent_proc *ap, Nicvisor__V1__Request *req);
/* The same, waiting at most timeout_ms (calls that may start DPDK). */
Nicvisor__V1__Response *api_call_ms(struct agent_proc *ap, Nicvisor__V1__Request *req,
				    int timeout_ms);
/* Raw bytes to url (a req/rep server); the reply bytes or NULL on timeout. */
uint8_t *raw_call(const char *url, const void *buf, size_t len, int timeout_ms, size_t *rep_len);

/* Send one request of len bytes (zeros) to an ipc:// req/rep server with
 * plain sockets (SP over IPC framing), as a peer that ignores the size
 * limit would. True if the server closed the connection without an answer
 * within timeout_ms. (nng itself is not used: libnng 1.5.2 can hang
 * closing a socket whose large send was cut off.) */
bool raw_ipc_unanswered(const char *url, size_t len, int timeout_ms);

/* Convenience API calls; return the status code, fill *vm (may be NULL)
 * with a copy of the VM (free with nv_wire_free). */
int api_create(struct agent_proc *ap, const char *name, const char *kernel, const char *initrd,
	       uint32_t vcpus, uint64_t memory_mib, bool start, Nicvisor__V1__Response **rep);
int api_simple(struct agent_proc *ap, int op, const char *vm, bool force,
	       Nicvisor__V1__Response **rep);
/* GetVm: the state, or -1. */
int api_vm_state(struct agent_proc *ap, const char *vm);
/* Poll GetVm until the VM is in state; true if it got there in time. */
bool api_wait_state(struct agent_proc *ap, const char *vm, int state, int timeout_ms);

/* Events */
struct sub {
	nng_socket sock;
};
int sub_open(struct sub *s, const char *url, const char *topic);
void sub_close(struct sub *s);
/* Next event within timeout_ms; topic copied to topic. NULL on timeout. */
Nicvisor__V1__Event *sub_next(struct sub *s, int timeout_ms, char *topic, size_t topic_size);

/* Run nicvisorctl with --api/--events of ap and the given arguments
 * (NULL-terminated); stdout in out (NUL-terminated, truncated). Returns
 * the exit status, or -1 if it did not finish in timeout_s. */
int run_ctl(struct agent_proc *ap, char *out, size_t out_size, int timeout_s, ...);
/* Same, with an explicit argv (NULL-terminated) and stderr kept in err. */
int run_ctlv(struct agent_proc *ap, char *out, size_t out_size, char *err, size_t err_size,
	     int timeout_s, char *const *args);

/* A file that passes for a bzImage (or an initrd) of size bytes with
 * pseudo-random content from seed; its SHA-256 in hex (65 bytes). */
int make_kernel(const char *path, size_t size, uint32_t seed, char *sha_hex);
int make_initrd(const char *path, size_t size, uint32_t seed, char *sha_hex);

uint64_t now_ms(void);
void sleep_ms(int ms);

#endif
