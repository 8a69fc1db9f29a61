/* SPDX-License-Identifier: MIT */
/*
 * nicvisor-shim internals. The shim is three programs in one binary:
 *
 *   nicvisor-shim [options]          the daemon (daemon.c): a session with
 *                                    the DPU agent (session.c), boot images
 *                                    (artifact.c), one child per VM
 *   nicvisor-shim vm --control-fd N  one VM's child (child.c)
 *   nicvisor-shim run --kernel K     a local VM without an agent (run.c)
 *
 * The daemon and a child speak ChildControl/ChildEvent (vmm.proto) over a
 * SOCK_SEQPACKET socketpair (chan.c). See docs/shim.md.
 *
 * Errors are 0 or a negative errno; functions that can fail for a reason a
 * person should read also fill a `why` buffer.
 */
#ifndef SHIM_H
#define SHIM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "nicvisor/v1/host.pb-c.h"
#include "nicvisor/v1/vmm.pb-c.h"
#include "nv_arena.h"
#include "nv_rpc.h"

#define SHIM_VM_ID_MAX      64
#define SHIM_REASON_MAX     256
#define SHIM_CMDLINE_MAX    2048
#define SHIM_VCPUS_MAX      256
#define SHIM_MEMORY_MIB_MIN 16
#define SHIM_BOOTS_MAX      (1u << 30) /* LaunchVm.boots; the count only grows */
/* Largest boot artifact (kernel or initrd) the shim downloads. */
#define SHIM_ARTIFACT_MAX (1ull << 30)
/* Largest daemon<->child message, and console bytes per ChildEvent. */
#define SHIM_CHAN_MAX_MSG  (64 * 1024)
#define SHIM_CHAN_MAX_FDS  2
#define SHIM_CONSOLE_CHUNK (16 * 1024)
/* The fd a child finds its control socket on. */
#define SHIM_CHILD_CONTROL_FD 3
/* Shutdown: children get 10 s to stop, then the session closes. */
#define SHIM_SHUTDOWN_WATCHDOG_S 20

/* What the shim tells the agent about one VM (VmReport without the spec). */
struct shim_report {
	char vm_id[SHIM_VM_ID_MAX];
	Nicvisor__V1__VmState state;
	Nicvisor__V1__ExitKind exit;
	char reason[SHIM_REASON_MAX];
	uint32_t boots;
	uint64_t console_offset;
	uint32_t pid;
	uint64_t boot_ns;
};

/* Copy s into a reason buffer, keeping printable ASCII only (a reason may
 * come from a child, which is where the guest is). */
void shim_reason_set(char *dst, size_t n, const char *s);
/* vm ids are 1..63 of [A-Za-z0-9._-]. */
bool shim_vm_id_ok(const char *id);
/* 64 hex digits. */
bool shim_digest_ok(const char *id);

/* ---- command.c: the agent's commands ---- */

/* Command sequence numbers of one session: each seq is applied once. A new
 * session (Hello) starts again from 0, since a restarted agent may number
 * from 1 again; commands are idempotent, so one repeated across a session
 * change does no harm. */
struct shim_cmdseq {
	uint64_t applied;    /* highest seq applied: the next Poll's ack_seq */
	uint64_t duplicates; /* commands seen again (not applied) */
	uint64_t gaps;       /* seqs skipped by the agent */
};
/* true, once per seq, when seq is new (and records it applied). */
bool shim_cmdseq_take(struct shim_cmdseq *s, uint64_t seq);
void shim_cmdseq_reset(struct shim_cmdseq *s);

/* Field-by-field check of a decoded Command; -EINVAL with the field in why. */
int shim_command_check(const Nicvisor__V1__Command *cmd, char *why, size_t n);

/* NICs of a VM (LaunchVm.nics, ChildBoot.nics). */
#define SHIM_NICS_MAX       8   /* vmm.h VMM_MAX_NICS */
#define SHIM_NIC_PAIRS_MAX  8   /* vmm.h VMM_NIC_MAX_QUEUE_PAIRS */
#define SHIM_NIC_SOCKET_MAX 107 /* sun_path less its NUL */
struct shim_nic {
	uint32_t index;
	uint8_t mac[6];
	char socket[SHIM_NIC_SOCKET_MAX + 1];
	uint32_t queue_pairs;
};
/* "52:54:00:12:34:56" (hex digits of either case): 0, or -EINVAL; a
 * multicast or all-zero address is -EINVAL too. */
int shim_mac_parse(const char *s, uint8_t mac[6]);
/* Check nics field by field (prefix names the field, e.g. "launch.nics")
 * and, with out not NULL, convert them. -EINVAL with the field in why. */
int shim_nics_check(Nicvisor__V1__NicAttachment *const *nics, size_t n, const char *prefix,
		    struct shim_nic *out, char *why, size_t wn);

/*
 * Disks of a VM (LaunchVm.disks, ChildBoot.disks, `nicvisor-shim run
 * --disk`). A disk never has more request queues than its VM has vCPUs:
 * the daemon lowers LaunchVm's count, `run` refuses more, and the child
 * refuses a ChildBoot with more.
 */
#define SHIM_DISKS_MAX       8  /* vmm.h VMM_MAX_DISKS */
#define SHIM_DISK_QUEUES_MAX 8  /* vmm.h VMM_DISK_MAX_QUEUES */
#define SHIM_DISK_SERIAL_MAX 20 /* VIRTIO_BLK_ID_BYTES */
struct shim_disk {
	uint32_t index;
	char socket[SHIM_NIC_SOCKET_MAX + 1];
	uint32_t queues;
	bool read_only;
};
/* Parse one "SOCKET[,ro][,queues=N]" (an absolute path under 108 bytes
 * without ',' or a newline; N in 1..SHIM_DISK_QUEUES_MAX; default 1
 * queue, read-write). 0, or -EINVAL with why. */
int shim_disk_parse(const char *arg, uint32_t index, struct shim_disk *d, char *why, size_t wn);
/* Check disks field by field (prefix names the field, e.g.
 * "launch.disks"): at most SHIM_DISKS_MAX, unique index below it, an
 * absolute socket path of at most SHIM_NIC_SOCKET_MAX bytes, queues in
 * 1..max_queues, a serial of at most SHIM_DISK_SERIAL_MAX bytes. With out
 * not NULL, convert them, queues lowered to vcpus (0: not lowered).
 * -EINVAL with the field in why. */
int shim_disks_check(Nicvisor__V1__DiskAttachment *const *disks, size_t n, const char *prefix,
		     uint32_t max_queues, uint32_t vcpus, struct shim_disk *out, char *why,
		     size_t wn);

/* ---- outbox.c: reports and console waiting for the agent ---- */

enum shim_out_kind {
	SHIM_OUT_REPORT,
	SHIM_OUT_CONSOLE,
};

struct shim_out {
	struct shim_out *next;
	uint64_t id;
	enum shim_out_kind kind;
	bool in_flight;
	struct shim_report rep; /* REPORT; vm_id for both kinds */
	uint64_t offset;        /* CONSOLE: console offset of data[0] */
	size_t len;
	uint8_t *data;
};

struct shim_outbox_stats {
	uint64_t queued;
	uint64_t delivered;
	uint64_t dropped_reports; /* evicted by a full buffer */
	uint64_t dropped_console_bytes;
	uint64_t superseded; /* reports replaced by a Hello's snapshot */
};

/*
 * A bounded FIFO, in the order things happened. Console chunks of a VM that
 * follow each other are merged. When full, the oldest console chunk goes
 * first (its bytes are counted, and the gap shows in the offsets the agent
 * receives), then the oldest report. Not thread safe.
 */
struct shim_outbox {
	struct shim_out *head, *tail;
	size_t bytes, entries;
	size_t max_bytes, max_entries;
	uint64_t next_id;
	struct shim_outbox_stats st;
};

void shim_outbox_init(struct shim_outbox *ob, size_t max_bytes, size_t max_entries);
void shim_outbox_fini(struct shim_outbox *ob);
void shim_outbox_push_report(struct shim_outbox *ob, const struct shim_report *r);
void shim_outbox_push_console(struct shim_outbox *ob, const char *vm_id, uint64_t offset,
			      const uint8_t *data, size_t len);
/* The oldest entry, marked in flight (never evicted or merged into), or
 * NULL. Finish it with shim_outbox_done(). */
struct shim_out *shim_outbox_peek(struct shim_outbox *ob);
/* delivered: remove entry `id` if still queued; else it may be sent again. */
void shim_outbox_done(struct shim_outbox *ob, uint64_t id, bool delivered);
void shim_outbox_drop_vm(struct shim_outbox *ob, const char *vm_id);
void shim_outbox_drop_reports(struct shim_outbox *ob); /* superseded by a Hello */

/* ---- artifact.c: boot images ---- */

/*
 * One artifact assembled from chunks into a sealed memfd. Chunks are
 * SHIM_ARTIFACT_CHUNK bytes at aligned offsets (the last one shorter), may
 * arrive in any order, and are checked: a chunk of the wrong length or
 * offset is refused, the size and SHA-256 are checked before the image is
 * used.
 */
#define SHIM_ARTIFACT_CHUNK (1u << 20)

struct shim_artifact {
	char id[65]; /* sha256, lower-case hex */
	uint64_t size;
	int fd;
	uint32_t nchunks;
	uint32_t nhave;
	uint8_t *have;
};

/* -EINVAL (bad id or size), or -errno from memfd_create. */
int shim_artifact_init(struct shim_artifact *a, const char *id, uint64_t size);
/* -ERANGE (offset not a chunk of a), -EMSGSIZE (length is not the chunk's:
 * short or oversized), -EIO. A chunk received twice is accepted once. */
int shim_artifact_put(struct shim_artifact *a, uint64_t offset, const void *data, size_t len);
/* Every chunk present and the content's SHA-256 is the id: 0 and the memfd
 * sealed read-only; else -EBADMSG with why. */
int shim_artifact_finish(struct shim_artifact *a, char *why, size_t n);
void shim_artifact_fini(struct shim_artifact *a);

/* Fetch one chunk: 0 and *data (malloc'd) filled, or a negative errno;
 * -ETIMEDOUT and -EAGAIN are retried. Called from several threads. */
typedef int (*shim_fetch_fn)(void *opaque, const char *id, uint64_t offset, uint32_t len,
			     uint8_t **data, size_t *data_len);

/* Download a (after init) with up to `inflight` requests in flight, giving
 * up after deadline_ms; then shim_artifact_finish(). */
int shim_artifact_fetch(struct shim_artifact *a, shim_fetch_fn fn, void *opaque,
			unsigned int inflight, int deadline_ms, char *why, size_t n);

/* Images by digest, shared by the VMs that use them, dropped with the last. */
struct shim_image {
	struct shim_image *next;
	unsigned int refs;
	bool ready;  /* downloaded and verified */
	bool failed; /* the download that made it failed: err, why */
	int err;
	char why[SHIM_REASON_MAX];
	struct shim_artifact art;
};

struct shim_image_cache {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	struct shim_image *images;
	shim_fetch_fn fetch;
	void *opaque;
};

void shim_image_cache_init(struct shim_image_cache *c, shim_fetch_fn fn, void *opaque);
void shim_image_cache_fini(struct shim_image_cache *c);
/* Blocking: the image of artifact (id, size), downloaded by this caller or
 * by a concurrent one. 0 and a reference, or -errno with why (-EBADMSG:
 * the content does not match its digest). */
int shim_image_get(struct shim_image_cache *c, const char *id, uint64_t size,
		   struct shim_image **out, char *why, size_t n);
void shim_image_put(struct shim_image_cache *c, struct shim_image *img); /* accepts NULL */
unsigned int shim_image_count(struct shim_image_cache *c);

/* ---- chan.c: daemon <-> child ---- */

/* One packet of len bytes with up to SHIM_CHAN_MAX_FDS descriptors
 * (SCM_RIGHTS); EINTR retried, no SIGPIPE. 0, -EPIPE (the peer is gone) or
 * -errno. No allocation: the connector calls it under its filter. */
int shim_sock_send(int sock, const void *buf, size_t len, const int *fds, unsigned int nfds,
		   int flags);
/* One packet into buf (cap bytes) and its descriptors (close-on-exec) into
 * fds, up to max (those beyond are closed; fds may be NULL with max 0).
 * The packet's length (0: end of stream), -EMSGSIZE when it or its
 * descriptors did not fit (none kept), -EPIPE or -errno. */
ssize_t shim_sock_recv(int sock, void *buf, size_t cap, int *fds, unsigned int max,
		       unsigned int *nfds, int flags);
/* Send one message with up to SHIM_CHAN_MAX_FDS fds; flags for sendmsg
 * (MSG_DONTWAIT). -EAGAIN, -EPIPE, -EMSGSIZE. */
int shim_chan_send(int sock, const ProtobufCMessage *msg, const int *fds, unsigned int nfds,
		   int flags);
/* Receive and decode one message. fds may be NULL (fds that come anyway
 * are closed). -EAGAIN (nothing waiting), -EPIPE (peer closed), -EBADMSG,
 * -EMSGSIZE, -ENOMEM; on an error no fd is left open. */
int shim_chan_recv(int sock, const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out,
		   int *fds, unsigned int *nfds, int flags);

int shim_child_control_check(const Nicvisor__V1__ChildControl *c, unsigned int nfds, char *why,
			     size_t n);
int shim_child_event_check(const Nicvisor__V1__ChildEvent *ev, char *why, size_t n);

/* fork + exec of /proc/self/exe as `vm --control-fd 3`, the socket end its
 * only fd besides stdio. */
int shim_child_spawn(pid_t *pid, int *sock);

/* ---- session.c: the southbound session with the agent ---- */

struct shim_session;

/* Called on the session's threads, with no session lock held. */
struct shim_session_ops {
	/* Fill hello->vms, from arena a: every VM on the host now. */
	void (*hello_vms)(void *opaque, struct nv_arena *a, Nicvisor__V1__Hello *hello);
	/* Apply one command, once per seq; must not block for long. */
	void (*apply)(void *opaque, const Nicvisor__V1__Command *cmd);
	/* vms_running and memory_available_mib of a Poll. */
	void (*poll_info)(void *opaque, Nicvisor__V1__Poll *poll);
	/* The agent took (or refused for good) vm_id's report of `state`,
	 * alone or in a Hello. */
	void (*told)(void *opaque, const char *vm_id, Nicvisor__V1__VmState state);
};

struct shim_session_conf {
	const char *url;
	struct nv_tls tls; /* for a tls+tcp:// url: the host's certificate */
	const char *host_id;
	const Nicvisor__V1__HostCapabilities *caps;
	size_t outbox_bytes;
	size_t outbox_entries;
	int call_timeout_ms; /* Hello, reports, chunks; 0: 5000 */
};

struct shim_session_stats {
	uint64_t hellos;
	uint64_t polls;
	uint64_t commands;
	uint64_t bad_replies; /* undecodable or invalid answers from the agent */
	uint64_t rejected;    /* reports/console the agent refused */
	uint64_t applied_seq;
	struct shim_outbox_stats outbox;
};

int shim_session_start(const struct shim_session_conf *conf, const struct shim_session_ops *ops,
		       void *opaque, struct shim_session **out);
/* Wind down: nothing more is sent, calls fail with -ECANCELED from now on,
 * no op is called once the current one returns. */
void shim_session_cancel(struct shim_session *s);
/* Cancel, join the threads (each within its call timeout: up to a
 * heartbeat for the poller) and free. Accepts NULL. */
void shim_session_stop(struct shim_session *s);
/* Thread safe; never block on the agent. */
void shim_session_report(struct shim_session *s, const struct shim_report *r);
void shim_session_console(struct shim_session *s, const char *vm_id, uint64_t offset,
			  const uint8_t *data, size_t len);
void shim_session_forget(struct shim_session *s, const char *vm_id);
/* A shim_fetch_fn over ReadArtifact; opaque is the session. */
int shim_session_read_artifact(void *opaque, const char *id, uint64_t offset, uint32_t len,
			       uint8_t **data, size_t *data_len);
void shim_session_get_stats(struct shim_session *s, struct shim_session_stats *st);

/* ---- hostinfo.c ---- */

/* Capabilities for Hello, from arena a. */
void shim_host_caps(const char *kvm_path, struct nv_arena *a, Nicvisor__V1__HostCapabilities *caps);
uint64_t shim_mem_available_mib(void);
/* /etc/machine-id, else the hostname. */
void shim_default_host_id(char *buf, size_t n);

/* ---- sandbox.c: the VM process's sandbox (docs/shim.md "Sandbox") ---- */

/* The values of ChildBoot.sandbox (SandboxMode). */
enum shim_sandbox_mode {
	SHIM_SANDBOX_ENFORCE = 0,
	SHIM_SANDBOX_LOG = 1,
	SHIM_SANDBOX_OFF = 2,
};
#define SHIM_SANDBOX_DEFAULT_USER "nobody"

/* "enforce", "log" or "off". */
int shim_sandbox_parse_mode(const char *s, enum shim_sandbox_mode *out);
/* A user name or UID[:GID] (GID defaults to UID); root is refused. */
int shim_sandbox_parse_user(const char *s, uint32_t *uid, uint32_t *gid, char *err, size_t errlen);

/* What the daemon and `run` give their VM processes (--vm-sandbox,
 * --vm-user). */
struct shim_sandbox {
	enum shim_sandbox_mode mode;
	uint32_t uid, gid;
};
/* From the options' strings (NULL: the defaults, enforce as nobody); 0, or
 * -errno with err naming the option. */
int shim_sandbox_conf(const char *mode, const char *user, struct shim_sandbox *sb, char *err,
		      size_t errlen);
void shim_sandbox_to_boot(const struct shim_sandbox *sb, Nicvisor__V1__ChildBoot *b);
#define SHIM_SANDBOX_USAGE                                                                         \
	"--vm-sandbox enforce|log|off  the VM processes' seccomp sandbox (default enforce)\n"      \
	"  --vm-user USER|UID[:GID]      their unprivileged user (default nobody)\n"
/* no_new_privs, uid and gid, then the seccomp allow-list on every thread;
 * nothing for SHIM_SANDBOX_OFF. */
int shim_sandbox_enter(enum shim_sandbox_mode mode, uint32_t uid, uint32_t gid, char *err,
		       size_t errlen);

/* Connects, as root, to the vhost-user sockets in paths only, for a VM
 * process that cannot (vmm_vhu_set_connector()). Start it before any
 * thread exists; it ends when the VM's process does. */
struct shim_connector {
	int fd;
	pthread_mutex_t lock;
};
int shim_connector_start(struct shim_connector *c, const char *const *paths, size_t n, char *err,
			 size_t errlen);
/* A connected socket's fd, or -errno with err set. */
int shim_connector_connect(void *opaque, const char *path, char *err, size_t errlen);
void shim_connector_stop(struct shim_connector *c);

/* ---- entry points (main.c dispatches) ---- */

int shim_daemon_main(int argc, char **argv);
int shim_child_main(int argc, char **argv);
int shim_run_main(int argc, char **argv);

#endif
