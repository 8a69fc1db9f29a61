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
#include <string.h>

#include "agent.h"
#include "artifact.h"
#include "blk.h"
#include "cmdq.h"
#include "console_ring.h"
#include "net.h"
#include "nicvisor/v1/dpu_state.pb-c.h"
#include "status.h"
#include "validate.h"
#include "vm_state.h"

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
#define DPU_MAX_NETWORKS  1024
/* Queue pairs of a NIC: one per vCPU, at most this many. */
#define DPU_NIC_MAX_QUEUE_PAIRS 8
/* "vm-<16 hex>-<12 hex of the MAC>" */
#define DPU_PORT_NAME_MAX 40
#define DPU_SOCKET_MAX    108 /* sun_path */

/* The dataplane port of one VM NIC. Not durable: made again at start. */
struct dpu_nic_port {
	char name[DPU_PORT_NAME_MAX]; /* "" = the dataplane has no port for it */
	char socket[DPU_SOCKET_MAX];  /* vhost-user socket path */
};

/* The block backend's disk of one VM disk. Not durable: made at start,
 * removed when the VM stops. */
struct dpu_disk_port {
	char name[DPU_BLK_NAME_MAX]; /* "" = the backend has no disk for it */
	char socket[DPU_SOCKET_MAX]; /* vhost-user-blk socket path */
};

#define DPU_MAX_VOLUMES 4096
/* Request queues of a disk: one per vCPU, at most this many. */
#define DPU_DISK_MAX_QUEUES 8

/* A volume. Which VMs have it as a disk follows from their specs. */
struct dpu_volume {
	char id[DPU_VOLUME_ID_LEN + 1];
	char name[DPU_NAME_MAX + 1];
	uint64_t size_bytes;
	char nbd_url[DPU_NBD_URL_MAX + 1]; /* "" = a file under conf.volume_dir */
	uint64_t created_unix_ms;
};

/* A logical network. */
struct dpu_network {
	char id[DPU_NETWORK_ID_LEN + 1];
	char name[DPU_NAME_MAX + 1];
	uint32_t vlan;
	uint32_t vni; /* overlay (VXLAN) network; 0: none */
	size_t nvteps;
	uint32_t vteps[DPU_MAX_VTEPS]; /* remote VTEPs, network byte order */
	uint64_t created_unix_ms;
	bool programmed; /* not durable: the dataplane has it */
};

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
	uint32_t host_pid;     /* as last reported; 0 when not running */
	uint64_t vmm_setup_ns; /* of the last boot, as reported */

	/* Not durable. */
	struct dpu_nic_port ports[DPU_MAX_NICS];   /* of spec->nics, same order */
	struct dpu_disk_port disks[DPU_MAX_DISKS]; /* of spec->disks, same order */
	struct dpu_artifact *kernel;               /* while active and started in this run */
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
	struct dpu_network **nets;
	size_t nnets;
	struct dpu_net *net; /* conf.net: NULL when networking is off */
	struct dpu_volume **vols;
	size_t nvols;
	struct dpu_blk *blk; /* conf.blk: NULL when no block backend */
	uint64_t event_seq;
	uint64_t first_cmd_seq;
	/* Not 0: NIC ports are being made in a batch; agent_mirrors_sync()
	 * runs once after it rather than after each port. */
	unsigned int mirror_sync_held;
	bool shutting_down;
	struct dpu_agent_stats stats;
	struct dpu_api_op_stats api_ops[DPU_API_OPS];
};

/* agent.c */
uint64_t agent_now_ms(struct dpu_agent *a);
void agent_random_hex(struct dpu_agent *a, char *out, size_t digits);

/*
 * Records kept as arrays of pointers (a->nets, a->vols), each with its id
 * and its name as char arrays (at offsets id and name in the record).
 */
/* The record whose char array at offset off holds s, or NULL. */
static inline void *
dpu_record_with(void *const *recs, size_t n, size_t off, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp((const char *)recs[i] + off, s) == 0)
			return recs[i];
	return NULL;
}

/* The record ref names: by id (if ref is_id and one has it), else by name. */
static inline void *
dpu_record_find(void *const *recs, size_t n, size_t id, size_t name, bool is_id, const char *ref)
{
	void *rec = is_id ? dpu_record_with(recs, n, id, ref) : NULL;

	return rec != NULL ? rec : dpu_record_with(recs, n, name, ref);
}

/* out := prefix ("net-") and 16 random hex digits, an id no record has. */
static inline void
dpu_record_new_id(struct dpu_agent *a, char *out, const char *prefix, void *const *recs, size_t n,
		  size_t id)
{
	size_t len = strlen(prefix);

	do {
		memcpy(out, prefix, len);
		agent_random_hex(a, out + len, 16);
	} while (dpu_record_with(recs, n, id, out) != NULL);
}

/* rec out of recs (the last one takes its place). */
static inline void
dpu_record_remove(void **recs, size_t *n, const void *rec)
{
	for (size_t i = 0; i < *n; i++) {
		if (recs[i] == rec) {
			recs[i] = recs[--*n];
			break;
		}
	}
}
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

/* network.c: networks, NICs and their dataplane ports */
struct dpu_network *net_find(struct dpu_agent *a, const char *id_or_name);
struct dpu_network *net_find_name(struct dpu_agent *a, const char *name);
struct dpu_network *net_find_vni(struct dpu_agent *a, uint32_t vni);
/* n <= DPU_MAX_VTEPS addresses (network byte order), checked. */
void net_set_vteps(struct dpu_network *net, const uint32_t *vteps, size_t n);
/* A new network record (not programmed); a fresh id unless id != NULL.
 * NULL if out of memory. */
struct dpu_network *net_add(struct dpu_agent *a, const char *name, uint32_t vlan, const char *id);
void net_remove(struct dpu_agent *a, struct dpu_network *net);
Nicvisor__V1__Network *net_to_pb(const struct dpu_network *net, struct nv_arena *ar);
/* Make sure the dataplane has net; CODE_INTERNAL in st if it refuses. */
int net_program(struct dpu_agent *a, struct dpu_network *net, struct dpu_status *st);
/* NICs on the network named name; *vm and *index (may be NULL) get the first. */
size_t net_nic_users(struct dpu_agent *a, const char *name, const struct dpu_vm **vm,
		     size_t *index);
/* 0 if the agent has a dataplane, else CODE_FAILED_PRECONDITION naming field. */
int agent_need_net(struct dpu_agent *a, const char *field, struct dpu_status *st);
/* The VM (other than except, may be NULL) whose NIC has this MAC, or NULL. */
struct dpu_vm *mac_owner(struct dpu_agent *a, const char *mac, const struct dpu_vm *except);
/*
 * The NICs of a spec being created or extended, made ready to keep: each
 * network reference checked (CODE_NOT_FOUND) and replaced by the network's
 * name, each MAC checked free (CODE_ALREADY_EXISTS) and written in lower
 * case, or assigned (locally administered, unique). nics[0..n) are the
 * request's (the VM they go to, if it exists, is among a->vms); out[0..n)
 * are filled with strings in ar. prefix names the fields: "spec.nics" with
 * indexed gives "spec.nics[1].mac", "nic" without gives "nic.mac".
 */
int nics_resolve(struct dpu_agent *a, Nicvisor__V1__NicSpec *const *nics, size_t n,
		 const char *prefix, bool indexed, Nicvisor__V1__NicSpec *out, struct nv_arena *ar,
		 struct dpu_status *st);
/* An owned copy of spec with its NICs replaced by nics[0..n). NULL if out
 * of memory. */
Nicvisor__V1__VmSpec *spec_with_nics(const Nicvisor__V1__VmSpec *spec,
				     Nicvisor__V1__NicSpec *const *nics, size_t n);
/* The dataplane port of NIC i of vm, made if it is missing (its network
 * too). CODE_FAILED_PRECONDITION without a dataplane, CODE_INTERNAL if the
 * dataplane refuses. */
int vm_nic_attach(struct dpu_agent *a, struct dpu_vm *vm, size_t i, struct dpu_status *st);
/* Every NIC of vm attached; stops at the first failure. */
int vm_nics_attach(struct dpu_agent *a, struct dpu_vm *vm, struct dpu_status *st);
/* Remove the port of NIC i (if any). Never fails; a refusal is logged. */
void vm_nic_detach(struct dpu_agent *a, struct dpu_vm *vm, size_t i);
void vm_nics_detach(struct dpu_agent *a, struct dpu_vm *vm);
uint32_t vm_nic_queue_pairs(const Nicvisor__V1__VmSpec *spec);
/* A NIC's rate limits as the dataplane takes them (rx: from the VM). */
void nic_qos(const Nicvisor__V1__NicSpec *nic, struct dp_qos *q);
/* Program a port's security group from its (validated) spec; NULL
 * removes it. The ops' result, reason in err. */
int nic_security_apply(struct dpu_agent *a, const char *port,
		       const Nicvisor__V1__SecurityPolicy *pb, char *err, size_t errlen);

/* mirror.c: mirror sessions, kept in their source NIC's spec */
/* A session by name: its VM, NIC index and spec; NULL if none. */
const Nicvisor__V1__MirrorSpec *mirror_find(struct dpu_agent *a, const char *name,
					    struct dpu_vm **vm, size_t *nic);
/* The dataplane's ports of a session: src and dst ("" when the NIC or
 * uplink is missing, each DPU_PORT_NAME_MAX or more bytes). */
void mirror_ports(struct dpu_agent *a, const struct dpu_vm *vm, size_t nic,
		  const Nicvisor__V1__MirrorSpec *ms, char *src, char *dst, size_t size);
/* Whether the dataplane has an uplink of that name (a->net not NULL). */
bool agent_uplink_exists(struct dpu_agent *a, const char *name);
/* DP_MIRROR_* of a direction; 0 for none. */
unsigned int mirror_dir(Nicvisor__V1__MirrorDirection d);
/* Make the dataplane run exactly the sessions whose two ports exist, as
 * the specs say. Refusals are logged and counted (net_errors). */
void agent_mirrors_sync(struct dpu_agent *a);
/* At open: the saved networks and every VM's NIC ports into the dataplane.
 * Failures are logged; the ports are made again when the VM starts. */
void agent_net_restore(struct dpu_agent *a);
/* Serve the disks of VMs saved as active again (volume.c). */
void agent_disks_restore(struct dpu_agent *a);

/* volume.c: volumes, VM disks and their block backend disks */
struct dpu_volume *vol_find(struct dpu_agent *a, const char *id_or_name);
struct dpu_volume *vol_find_name(struct dpu_agent *a, const char *name);
/* A new volume record; a fresh id unless id != NULL. NULL if out of memory. */
struct dpu_volume *vol_add(struct dpu_agent *a, const char *name, uint64_t size_bytes,
			   const char *nbd_url, const char *id);
void vol_remove(struct dpu_agent *a, struct dpu_volume *vol);
/* Remove files of the volume directory that no volume owns (at start). */
void vol_sweep_orphans(struct dpu_agent *a);
/* The file of a file volume: <conf.volume_dir>/<id>.img. -ENAMETOOLONG,
 * or -EINVAL for an NBD volume or an agent without a volume directory. */
int vol_path(struct dpu_agent *a, const struct dpu_volume *vol, char *buf, size_t size);
/* Bytes the file system holds for a file volume (st_blocks * 512); 0 for
 * NBD or when the file cannot be examined. */
uint64_t vol_allocated(struct dpu_agent *a, const struct dpu_volume *vol);
/* The volume as the API shows it, with allocation and attachments. */
Nicvisor__V1__Volume *vol_to_pb(struct dpu_agent *a, const struct dpu_volume *vol,
				struct nv_arena *ar);
/* The volume as it is saved (no allocation, no attachments). */
Nicvisor__V1__Volume *vol_to_state_pb(const struct dpu_volume *vol, struct nv_arena *ar);
/* Disks on the volume named name; *vm and *index (may be NULL) get the
 * first, *rw (may be NULL) whether any of them is read-write. except (may
 * be NULL) is not counted. */
size_t vol_disk_users(struct dpu_agent *a, const char *name, const struct dpu_vm *except,
		      const struct dpu_vm **vm, size_t *index, bool *rw);
/*
 * The disks of a spec being created or extended, made ready to keep: each
 * volume reference checked (CODE_NOT_FOUND) and replaced by the volume's
 * name, no volume twice in the VM (CODE_INVALID_ARGUMENT), and the sharing
 * rule against other VMs (CODE_FAILED_PRECONDITION): a volume another VM
 * has read-write is refused, and one other VMs have read-only is accepted
 * here only read-only. keep[0..nkeep) are disks the VM (vm, may be
 * NULL) has already; disks[0..n) are the request's; out[0..n) are filled
 * with strings in ar. prefix names the fields as nics_resolve()'s does.
 */
int disks_resolve(struct dpu_agent *a, const struct dpu_vm *vm, Nicvisor__V1__DiskSpec *const *keep,
		  size_t nkeep, Nicvisor__V1__DiskSpec *const *disks, size_t n, const char *prefix,
		  bool indexed, Nicvisor__V1__DiskSpec *out, struct nv_arena *ar,
		  struct dpu_status *st);
/* An owned copy of spec with its disks replaced by disks[0..n). NULL if
 * out of memory. */
Nicvisor__V1__VmSpec *spec_with_disks(const Nicvisor__V1__VmSpec *spec,
				      Nicvisor__V1__DiskSpec *const *disks, size_t n);
uint32_t vm_disk_queues(const Nicvisor__V1__VmSpec *spec);
/* 0 if the agent has a block backend, else CODE_FAILED_PRECONDITION. */
int agent_need_blk(struct dpu_agent *a, const char *field, struct dpu_status *st);
/* Every disk of vm added to the block backend (those it has already are
 * kept); on a failure the ones added are removed again and st says why
 * (CODE_FAILED_PRECONDITION without a backend, CODE_NOT_FOUND for a
 * volume gone, CODE_INTERNAL if the backend refuses). */
int vm_disks_attach(struct dpu_agent *a, struct dpu_vm *vm, struct dpu_status *st);
/* Remove vm's disks from the backend. Never fails; a refusal is logged. */
void vm_disks_detach(struct dpu_agent *a, struct dpu_vm *vm);

/* api.c */
/* After a look-up of ref under a->lock: 0 if found (the lock still held);
 * else the lock is released and CODE_NOT_FOUND on field `what` is in st. */
int api_found(struct dpu_agent *a, const void *found, const char *what, const char *ref,
	      struct dpu_status *st);
/* Validate a VM reference (id or name) and find the VM: 0 with a->lock
 * held and *out set, or a negative errno with st filled and no lock held. */
int api_lock_vm(struct dpu_agent *a, const char *ref, struct dpu_vm **out, struct dpu_status *st);
/* agent_save(); CODE_INTERNAL in st if it fails (the change stays). */
int api_save_or_fail(struct dpu_agent *a, struct dpu_status *st);
/* api_lock_vm(), and the VM's state allows op (not forced): 0 with a->lock
 * held, or a negative errno with st filled and no lock held. */
int api_lock_vm_for(struct dpu_agent *a, const char *ref, enum dpu_vm_op op, struct dpu_vm **out,
		    struct dpu_status *st);
/* index is one of vm's n NICs or disks (what: "NIC", "disk"): 0, or
 * CODE_NOT_FOUND on field "index" in st. */
int api_vm_index(const struct dpu_vm *vm, const char *what, uint32_t index, size_t n,
		 struct dpu_status *st);
/* vm's spec replaced by spec (owned, as from spec_with_nics(); NULL: out
 * of memory, CODE_INTERNAL in st), the old one freed. */
int api_vm_set_spec(struct dpu_vm *vm, Nicvisor__V1__VmSpec *spec, struct dpu_status *st);
/* vm is the answer in rep, and the change is saved: api_save_or_fail(). */
int api_answer_vm(struct dpu_agent *a, const struct dpu_vm *vm, struct nv_arena *ar,
		  Nicvisor__V1__Response *rep, struct dpu_status *st);
/* page_size and page_token of a List request of kind: the page size and
 * the key to continue after ("" for the first page). */
int api_page_args(const char *kind, uint32_t page_size, const char *token, uint32_t *size,
		  char *after, size_t after_size, struct dpu_status *st);

/* A kind of resource the API lists in pages, ordered by its key. */
struct api_list_kind {
	const char *name; /* in page tokens: a token is good for its own list only */
	int (*cmp)(const void *x, const void *y); /* (opt) qsort on item pointers; NULL: by key */
	const char *(*key)(const void *item);
	ProtobufCMessage *(*to_pb)(struct dpu_agent *a, const void *item, struct nv_arena *ar);
};

/*
 * One page of the n items (pointers; copied, then sorted by key): those
 * whose key comes after `after`, at most `size` of them and about
 * NV_WIRE_MAX_MSG / 2 packed. Returns the count and fills *msgs (arena)
 * and *token (NULL on the last page). The caller holds a->lock.
 */
size_t api_list_page(struct dpu_agent *a, const struct api_list_kind *k, void *const *all, size_t n,
		     const char *after, uint32_t size, struct nv_arena *ar,
		     ProtobufCMessage ***msgs, char **token);
/*
 * A List request of kind k (its page_size and page_token) answered in rep:
 * its page of the *n items at *all (the agent's array and count, read under
 * a->lock, which this takes) as the Response field `result`, a
 * List*Response with the items as field 1 and next_page_token as field 2
 * (as each of them is in api.proto). 0, or a negative errno with st filled.
 */
int api_list(struct dpu_agent *a, const struct api_list_kind *k, void *const *const *all,
	     const size_t *n, uint32_t page_size, const char *page_token,
	     Nicvisor__V1__Response__ResultCase result, struct nv_arena *ar,
	     Nicvisor__V1__Response *rep, struct dpu_status *st);

/* api_net.c: networks, NICs and port statistics */
int api_create_network(struct dpu_agent *a, const Nicvisor__V1__CreateNetworkRequest *r,
		       struct nv_arena *ar, Nicvisor__V1__Response *rep, struct dpu_status *st);
int api_delete_network(struct dpu_agent *a, const Nicvisor__V1__DeleteNetworkRequest *r,
		       struct nv_arena *ar, Nicvisor__V1__Response *rep, struct dpu_status *st);
int api_update_network(struct dpu_agent *a, const Nicvisor__V1__UpdateNetworkRequest *r,
		       struct nv_arena *ar, Nicvisor__V1__Response *rep, struct dpu_status *st);
int api_get_network(struct dpu_agent *a, const Nicvisor__V1__GetNetworkRequest *r,
		    struct nv_arena *ar, Nicvisor__V1__Response *rep, struct dpu_status *st);
int api_list_networks(struct dpu_agent *a, const Nicvisor__V1__ListNetworksRequest *r,
		      struct nv_arena *ar, Nicvisor__V1__Response *rep, struct dpu_status *st);
int api_add_nic(struct dpu_agent *a, const Nicvisor__V1__AddNicRequest *r, struct nv_arena *ar,
		Nicvisor__V1__Response *rep, struct dpu_status *st);
int api_remove_nic(struct dpu_agent *a, const Nicvisor__V1__RemoveNicRequest *r,
		   struct nv_arena *ar, Nicvisor__V1__Response *rep, struct dpu_status *st);
int api_get_port_stats(struct dpu_agent *a, const Nicvisor__V1__GetPortStatsRequest *r,
		       struct nv_arena *ar, Nicvisor__V1__Response *rep, struct dpu_status *st);
/* api_mirror.c: NIC rate limits and mirror sessions */
int api_set_nic_qos(struct dpu_agent *a, const Nicvisor__V1__SetNicQosRequest *r,
		    struct nv_arena *ar, Nicvisor__V1__Response *rep, struct dpu_status *st);
int api_set_nic_security(struct dpu_agent *a, const Nicvisor__V1__SetNicSecurityRequest *r,
			 struct nv_arena *ar, Nicvisor__V1__Response *rep, struct dpu_status *st);
int api_get_nic_security(struct dpu_agent *a, const Nicvisor__V1__GetNicSecurityRequest *r,
			 struct nv_arena *ar, Nicvisor__V1__Response *rep, struct dpu_status *st);
int api_create_mirror(struct dpu_agent *a, const Nicvisor__V1__CreateMirrorRequest *r,
		      struct nv_arena *ar, Nicvisor__V1__Response *rep, struct dpu_status *st);
int api_delete_mirror(struct dpu_agent *a, const Nicvisor__V1__DeleteMirrorRequest *r,
		      struct nv_arena *ar, Nicvisor__V1__Response *rep, struct dpu_status *st);
int api_get_mirror(struct dpu_agent *a, const Nicvisor__V1__GetMirrorRequest *r,
		   struct nv_arena *ar, Nicvisor__V1__Response *rep, struct dpu_status *st);
int api_list_mirrors(struct dpu_agent *a, const Nicvisor__V1__ListMirrorsRequest *r,
		     struct nv_arena *ar, Nicvisor__V1__Response *rep, struct dpu_status *st);
int api_get_worker_stats(struct dpu_agent *a, const Nicvisor__V1__GetWorkerStatsRequest *r,
			 struct nv_arena *ar, Nicvisor__V1__Response *rep, struct dpu_status *st);
/* api_vol.c: volumes, disks and disk statistics */
int api_create_volume(struct dpu_agent *a, const Nicvisor__V1__CreateVolumeRequest *r,
		      struct nv_arena *ar, Nicvisor__V1__Response *rep, struct dpu_status *st);
int api_delete_volume(struct dpu_agent *a, const Nicvisor__V1__DeleteVolumeRequest *r,
		      struct nv_arena *ar, Nicvisor__V1__Response *rep, struct dpu_status *st);
int api_get_volume(struct dpu_agent *a, const Nicvisor__V1__GetVolumeRequest *r,
		   struct nv_arena *ar, Nicvisor__V1__Response *rep, struct dpu_status *st);
int api_list_volumes(struct dpu_agent *a, const Nicvisor__V1__ListVolumesRequest *r,
		     struct nv_arena *ar, Nicvisor__V1__Response *rep, struct dpu_status *st);
int api_attach_disk(struct dpu_agent *a, const Nicvisor__V1__AttachDiskRequest *r,
		    struct nv_arena *ar, Nicvisor__V1__Response *rep, struct dpu_status *st);
int api_detach_disk(struct dpu_agent *a, const Nicvisor__V1__DetachDiskRequest *r,
		    struct nv_arena *ar, Nicvisor__V1__Response *rep, struct dpu_status *st);
int api_get_disk_stats(struct dpu_agent *a, const Nicvisor__V1__GetDiskStatsRequest *r,
		       struct nv_arena *ar, Nicvisor__V1__Response *rep, struct dpu_status *st);

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
