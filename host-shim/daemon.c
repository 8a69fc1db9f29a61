/* SPDX-License-Identifier: MIT */
/*
 * The shim daemon: the VM table, the agent's commands, one child process
 * per running VM, and what to tell the agent when a child speaks or dies.
 *
 * Threads: main (epoll on a signalfd and the children's sockets, stop
 * deadlines), the session's poller (applies commands) and sender, one
 * download thread per launch. d->lock guards the VM table; lock order is
 * d->lock, then the session's or the image cache's.
 */
#define NV_LOG_COMPONENT "nicvisor.shim.daemon"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nv_log.h"
#include "nv_rpc.h"
#include "nv_wire.h"
#include "shim.h"

#define VMS_MAX 256
/* A child gets this long past its graceful stop before it is killed. */
#define KILL_GRACE_MS 5000
/* A guest that resets more often than this is not booted again. */
#define REBOOT_BURST     10
#define REBOOT_WINDOW_MS 10000

typedef Nicvisor__V1__VmState VmState;
typedef Nicvisor__V1__ExitKind ExitKind;

struct vm {
	struct vm *next;
	char id[SHIM_VM_ID_MAX];
	Nicvisor__V1__VmSpec *spec;          /* a copy of the launch's, packed and unpacked */
	struct shim_nic nics[SHIM_NICS_MAX]; /* LaunchVm.nics, checked */
	unsigned int nnics;
	struct shim_disk disks[SHIM_DISKS_MAX]; /* LaunchVm.disks, checked, queues <= vcpus */
	unsigned int ndisks;
	char kernel_id[65], initrd_id[65];
	uint64_t kernel_size, initrd_size;
	struct shim_image *kernel, *initrd;
	struct shim_report rep; /* what the agent is told */
	uint64_t gen;           /* launches: a download of an older one is void */
	bool downloading;

	pid_t pid; /* the child, 0 if none */
	int sock;
	bool running_seen, final_seen;
	struct shim_report final; /* the child's last word */

	bool stop_requested, forget, killed;
	uint64_t kill_at_ns;
	uint64_t resets_since_ns; /* the reset loop guard */
	unsigned int resets;
};

struct daemon {
	pthread_mutex_t lock;
	struct vm *vms;
	unsigned int nvms;
	struct shim_session *sess;
	struct shim_image_cache images;
	int epfd;
	const char *kvm_path;
	bool debug_exit;
	struct shim_sandbox sandbox;
	bool stopping;
	unsigned int downloads; /* download threads alive */
	pthread_cond_t downloads_done;
	uint64_t bad_child_msgs;
	struct nv_ratelimit rl;
};

static struct vm *
find_vm(struct daemon *d, const char *id)
{
	for (struct vm *vm = d->vms; vm != NULL; vm = vm->next) {
		if (strcmp(vm->id, id) == 0)
			return vm;
	}
	return NULL;
}

static void
report(struct daemon *d, struct vm *vm)
{
	shim_session_report(d->sess, &vm->rep);
}

static void
set_state(struct daemon *d, struct vm *vm, VmState state, ExitKind exit, const char *reason)
{
	vm->rep.state = state;
	vm->rep.exit = exit;
	shim_reason_set(vm->rep.reason, sizeof(vm->rep.reason), reason);
	nv_info("%s: %s%s%s: %s", vm->id, nv_vm_state_name(state), exit ? " / " : "",
		exit ? nv_exit_kind_name(exit) : "", vm->rep.reason);
	report(d, vm);
}

static void
release_images(struct daemon *d, struct vm *vm)
{
	shim_image_put(&d->images, vm->kernel);
	shim_image_put(&d->images, vm->initrd);
	vm->kernel = vm->initrd = NULL;
}

static void
close_sock(struct daemon *d, struct vm *vm)
{
	if (vm->sock < 0)
		return;
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, vm->sock, NULL);
	close(vm->sock);
	vm->sock = -1;
}

static void
remove_vm(struct daemon *d, struct vm *vm)
{
	for (struct vm **p = &d->vms; *p != NULL; p = &(*p)->next) {
		if (*p == vm) {
			*p = vm->next;
			break;
		}
	}
	d->nvms--;
	shim_session_forget(d->sess, vm->id);
	close_sock(d, vm);
	release_images(d, vm);
	nv_wire_free(vm->spec ? &vm->spec->base : NULL);
	free(vm);
}

/* Start a child for the VM's next boot. */
static void
start_child(struct daemon *d, struct vm *vm)
{
	Nicvisor__V1__ChildControl m = NICVISOR__V1__CHILD_CONTROL__INIT;
	Nicvisor__V1__ChildBoot b = NICVISOR__V1__CHILD_BOOT__INIT;
	int fds[2] = { vm->kernel->art.fd, vm->initrd ? vm->initrd->art.fd : -1 };
	Nicvisor__V1__NicAttachment nics[SHIM_NICS_MAX], *nicp[SHIM_NICS_MAX];
	char macs[SHIM_NICS_MAX][18];
	Nicvisor__V1__DiskAttachment disks[SHIM_DISKS_MAX], *diskp[SHIM_DISKS_MAX];
	struct epoll_event ev = { .events = EPOLLIN };
	char why[SHIM_REASON_MAX];
	pid_t pid;
	int sock, rc;

	rc = shim_child_spawn(&pid, &sock);
	if (rc < 0) {
		snprintf(why, sizeof(why), "cannot start the VM's process: %s", strerror(-rc));
		release_images(d, vm);
		set_state(d, vm, NICVISOR__V1__VM_STATE__VM_STATE_FAILED,
			  NICVISOR__V1__EXIT_KIND__EXIT_KIND_BOOT_ERROR, why);
		return;
	}
	vm->pid = pid;
	vm->sock = sock;
	vm->running_seen = vm->final_seen = vm->killed = false;
	vm->kill_at_ns = 0;
	vm->rep.boots++;
	vm->rep.pid = (uint32_t)pid;
	vm->rep.boot_ns = 0;
	ev.data.fd = sock;
	epoll_ctl(d->epfd, EPOLL_CTL_ADD, sock, &ev);

	b.vm_id = vm->id;
	b.spec = vm->spec;
	b.has_initrd = vm->initrd != NULL;
	b.console_offset = vm->rep.console_offset;
	b.boot = vm->rep.boots;
	b.debug_exit = d->debug_exit;
	shim_sandbox_to_boot(&d->sandbox, &b);
	b.kvm_path = (char *)(d->kvm_path ? d->kvm_path : "");
	for (unsigned int i = 0; i < vm->nnics; i++) {
		const struct shim_nic *sn = &vm->nics[i];

		nicvisor__v1__nic_attachment__init(&nics[i]);
		snprintf(macs[i], sizeof(macs[i]), "%02x:%02x:%02x:%02x:%02x:%02x", sn->mac[0],
			 sn->mac[1], sn->mac[2], sn->mac[3], sn->mac[4], sn->mac[5]);
		nics[i].index = sn->index;
		nics[i].mac = macs[i];
		nics[i].vhost_user_socket = (char *)sn->socket;
		nics[i].queue_pairs = sn->queue_pairs;
		nicp[i] = &nics[i];
	}
	b.n_nics = vm->nnics;
	b.nics = nicp;
	for (unsigned int i = 0; i < vm->ndisks; i++) {
		const struct shim_disk *sd = &vm->disks[i];

		nicvisor__v1__disk_attachment__init(&disks[i]);
		disks[i].index = sd->index;
		disks[i].vhost_user_socket = (char *)sd->socket;
		disks[i].queues = sd->queues;
		disks[i].read_only = sd->read_only;
		diskp[i] = &disks[i];
	}
	b.n_disks = vm->ndisks;
	b.disks = diskp;
	m.op_case = NICVISOR__V1__CHILD_CONTROL__OP_BOOT;
	m.boot = &b;
	rc = shim_chan_send(sock, &m.base, fds, b.has_initrd ? 2 : 1, MSG_DONTWAIT);
	if (rc < 0) {
		nv_err("%s: cannot hand the boot to pid %d: %s", vm->id, (int)pid, strerror(-rc));
		kill(pid, SIGKILL); /* reaped as a crash */
	}
}

struct download {
	struct daemon *d;
	char vm_id[SHIM_VM_ID_MAX];
	uint64_t gen;
};

static void *
download_main(void *arg)
{
	struct download *j = arg;
	struct daemon *d = j->d;
	struct shim_image *k = NULL, *i = NULL;
	char kid[65], iid[65], why[SHIM_REASON_MAX] = "", reason[SHIM_REASON_MAX];
	uint64_t ksize, isize;
	const char *what = "kernel";
	struct vm *vm;
	int rc;

	pthread_mutex_lock(&d->lock);
	vm = find_vm(d, j->vm_id);
	if (vm == NULL || vm->gen != j->gen) {
		d->downloads--;
		pthread_cond_broadcast(&d->downloads_done);
		pthread_mutex_unlock(&d->lock);
		free(j);
		return NULL;
	}
	memcpy(kid, vm->kernel_id, sizeof(kid));
	memcpy(iid, vm->initrd_id, sizeof(iid));
	ksize = vm->kernel_size;
	isize = vm->initrd_size;
	pthread_mutex_unlock(&d->lock);

	rc = shim_image_get(&d->images, kid, ksize, &k, why, sizeof(why));
	if (rc == 0 && iid[0] != 0) {
		what = "initrd";
		rc = shim_image_get(&d->images, iid, isize, &i, why, sizeof(why));
	}

	pthread_mutex_lock(&d->lock);
	vm = find_vm(d, j->vm_id);
	if (vm == NULL || vm->gen != j->gen) {
		shim_image_put(&d->images, k);
		shim_image_put(&d->images, i);
	} else {
		vm->downloading = false;
		vm->kernel = k;
		vm->initrd = i;
		if (rc < 0) {
			snprintf(reason, sizeof(reason), "%s: %s%s", what,
				 rc == -EBADMSG ? "data loss: " : "cannot download: ", why);
			release_images(d, vm);
			set_state(d, vm, NICVISOR__V1__VM_STATE__VM_STATE_FAILED,
				  NICVISOR__V1__EXIT_KIND__EXIT_KIND_BOOT_ERROR, reason);
		} else if (vm->stop_requested) {
			release_images(d, vm);
			set_state(d, vm, NICVISOR__V1__VM_STATE__VM_STATE_STOPPED,
				  NICVISOR__V1__EXIT_KIND__EXIT_KIND_STOPPED,
				  "stopped before it booted");
		} else if (!d->stopping) {
			start_child(d, vm);
		}
		if (vm->forget && vm->pid == 0)
			remove_vm(d, vm);
	}
	d->downloads--;
	pthread_cond_broadcast(&d->downloads_done);
	pthread_mutex_unlock(&d->lock);
	free(j);
	return NULL;
}

static bool
vm_active(const struct vm *vm)
{
	return vm->downloading || vm->pid != 0;
}

/* A copy of spec that the VM owns. */
static Nicvisor__V1__VmSpec *
spec_dup(const Nicvisor__V1__VmSpec *spec)
{
	ProtobufCMessage *copy = NULL;
	uint8_t *buf;
	size_t len;

	if (nv_wire_pack_buf(&spec->base, &buf, &len) < 0)
		return NULL;
	nv_wire_unpack(&nicvisor__v1__vm_spec__descriptor, buf, len, &copy);
	free(buf);
	return (Nicvisor__V1__VmSpec *)copy;
}

static void
launch(struct daemon *d, const Nicvisor__V1__LaunchVm *l)
{
	struct vm *vm = find_vm(d, l->vm_id);
	char reason[SHIM_REASON_MAX];
	Nicvisor__V1__VmSpec *spec;
	struct download *j;
	pthread_t tid;

	if (vm != NULL && vm_active(vm)) {
		report(d, vm); /* already on its way: say where */
		return;
	}
	if (vm == NULL) {
		if (d->nvms >= VMS_MAX || (vm = calloc(1, sizeof(*vm))) == NULL) {
			struct shim_report r = {
				.state = NICVISOR__V1__VM_STATE__VM_STATE_FAILED,
				.exit = NICVISOR__V1__EXIT_KIND__EXIT_KIND_BOOT_ERROR,
				.reason = "the host runs as many VMs as it can",
			};

			snprintf(r.vm_id, sizeof(r.vm_id), "%s", l->vm_id);
			shim_session_report(d->sess, &r);
			return;
		}
		snprintf(vm->id, sizeof(vm->id), "%s", l->vm_id);
		vm->sock = -1;
		vm->next = d->vms;
		d->vms = vm;
		d->nvms++;
	}
	spec = spec_dup(l->spec);
	if (spec != NULL) {
		nv_wire_free(vm->spec ? &vm->spec->base : NULL);
		vm->spec = spec;
	}
	/* Checked with the command (shim_command_check()); cannot fail here. */
	vm->nnics = 0;
	if (shim_nics_check(l->nics, l->n_nics, "launch.nics", vm->nics, reason, sizeof(reason)) ==
	    0)
		vm->nnics = (unsigned int)l->n_nics;
	/* Never more queues than vCPUs: the backend waits for each one named. */
	vm->ndisks = 0;
	if (shim_disks_check(l->disks, l->n_disks, "launch.disks", SHIM_DISK_QUEUES_MAX,
			     l->spec->vcpus, vm->disks, reason, sizeof(reason)) == 0)
		vm->ndisks = (unsigned int)l->n_disks;
	snprintf(vm->kernel_id, sizeof(vm->kernel_id), "%s", l->kernel->id);
	vm->kernel_size = l->kernel->size;
	vm->initrd_id[0] = 0;
	vm->initrd_size = 0;
	if (l->initrd != NULL && l->initrd->id[0] != 0) {
		snprintf(vm->initrd_id, sizeof(vm->initrd_id), "%s", l->initrd->id);
		vm->initrd_size = l->initrd->size;
	}
	vm->gen++;
	vm->stop_requested = vm->forget = false;
	vm->rep = (struct shim_report){ .console_offset = l->console_offset, .boots = l->boots };
	snprintf(vm->rep.vm_id, sizeof(vm->rep.vm_id), "%s", vm->id);
	vm->downloading = true;
	j = calloc(1, sizeof(*j));
	if (spec == NULL || j == NULL ||
	    (j->d = d, snprintf(j->vm_id, sizeof(j->vm_id), "%s", vm->id), j->gen = vm->gen,
	     pthread_create(&tid, NULL, download_main, j) != 0)) {
		free(j);
		vm->downloading = false;
		set_state(d, vm, NICVISOR__V1__VM_STATE__VM_STATE_FAILED,
			  NICVISOR__V1__EXIT_KIND__EXIT_KIND_BOOT_ERROR, "out of resources");
		return;
	}
	pthread_detach(tid);
	d->downloads++;
	set_state(d, vm, NICVISOR__V1__VM_STATE__VM_STATE_STARTING, 0, "fetching boot images");
}

static void
stop(struct daemon *d, const Nicvisor__V1__StopVm *s)
{
	Nicvisor__V1__ChildControl m = NICVISOR__V1__CHILD_CONTROL__INIT;
	Nicvisor__V1__ChildStop cs = NICVISOR__V1__CHILD_STOP__INIT;
	struct vm *vm = find_vm(d, s->vm_id);
	bool force = s->force || s->timeout_ms == 0;

	if (vm == NULL) {
		if (!s->forget) { /* so the agent stops waiting for it */
			struct shim_report r = {
				.state = NICVISOR__V1__VM_STATE__VM_STATE_STOPPED,
				.exit = NICVISOR__V1__EXIT_KIND__EXIT_KIND_STOPPED,
				.reason = "not running on this host",
			};

			snprintf(r.vm_id, sizeof(r.vm_id), "%s", s->vm_id);
			shim_session_report(d->sess, &r);
		}
		return;
	}
	vm->forget |= s->forget;
	if (!vm_active(vm)) {
		if (vm->forget)
			remove_vm(d, vm);
		else
			report(d, vm); /* already ended: say how */
		return;
	}
	if (vm->stop_requested && !force)
		return;
	vm->stop_requested = true;
	if (vm->sock < 0 || vm->final_seen)
		return; /* downloading, or ending anyway: finished when it ends */
	cs.timeout_ms = s->timeout_ms;
	cs.force = force;
	m.op_case = NICVISOR__V1__CHILD_CONTROL__OP_STOP;
	m.stop = &cs;
	if (shim_chan_send(vm->sock, &m.base, NULL, 0, MSG_DONTWAIT) < 0)
		vm->kill_at_ns = nv_mono_ns(); /* cannot tell it: kill it */
	else
		vm->kill_at_ns = nv_mono_ns() + (force ? 0 : s->timeout_ms * 1000000ull) +
				 KILL_GRACE_MS * 1000000ull;
	set_state(d, vm, NICVISOR__V1__VM_STATE__VM_STATE_STOPPING, 0,
		  force ? "stopping (forced)" : "stopping (power button)");
}

/* The session's poller, for each new command. */
static void
apply(void *opaque, const Nicvisor__V1__Command *cmd)
{
	struct daemon *d = opaque;
	char why[SHIM_REASON_MAX];

	pthread_mutex_lock(&d->lock);
	if (d->stopping) {
		/* shutting down: the next Hello tells the agent what runs */
	} else if (shim_command_check(cmd, why, sizeof(why)) < 0) {
		nv_warn("command %llu refused: %s", (unsigned long long)cmd->seq, why);
		if (cmd->op_case == NICVISOR__V1__COMMAND__OP_LAUNCH &&
		    shim_vm_id_ok(cmd->launch->vm_id) && find_vm(d, cmd->launch->vm_id) == NULL) {
			struct shim_report r = {
				.state = NICVISOR__V1__VM_STATE__VM_STATE_FAILED,
				.exit = NICVISOR__V1__EXIT_KIND__EXIT_KIND_BOOT_ERROR,
			};

			snprintf(r.vm_id, sizeof(r.vm_id), "%s", cmd->launch->vm_id);
			snprintf(r.reason, sizeof(r.reason), "launch refused: %s", why);
			shim_session_report(d->sess, &r);
		}
	} else if (cmd->op_case == NICVISOR__V1__COMMAND__OP_LAUNCH) {
		launch(d, cmd->launch);
	} else {
		stop(d, cmd->stop);
	}
	pthread_mutex_unlock(&d->lock);
}

/* The spec's NICs and disks, for a Hello: the agent reattaches them. */
static void
spec_devices_copy(struct nv_arena *a, const Nicvisor__V1__VmSpec *from, Nicvisor__V1__VmSpec *to)
{
	to->nics = nv_arena_alloc(a, sizeof(*to->nics) * (from->n_nics + 1));
	for (size_t i = 0; i < from->n_nics; i++) {
		Nicvisor__V1__NicSpec *n = nv_arena_alloc(a, sizeof(*n));

		nicvisor__v1__nic_spec__init(n);
		n->network = nv_arena_strdup(a, from->nics[i]->network);
		n->mac = nv_arena_strdup(a, from->nics[i]->mac);
		to->nics[i] = n;
	}
	to->n_nics = from->n_nics;
	to->disks = nv_arena_alloc(a, sizeof(*to->disks) * (from->n_disks + 1));
	for (size_t i = 0; i < from->n_disks; i++) {
		Nicvisor__V1__DiskSpec *d = nv_arena_alloc(a, sizeof(*d));

		nicvisor__v1__disk_spec__init(d);
		d->volume = nv_arena_strdup(a, from->disks[i]->volume);
		d->read_only = from->disks[i]->read_only;
		to->disks[i] = d;
	}
	to->n_disks = from->n_disks;
}

static void
hello_vms(void *opaque, struct nv_arena *a, Nicvisor__V1__Hello *h)
{
	struct daemon *d = opaque;
	size_t i = 0;

	pthread_mutex_lock(&d->lock);
	h->vms = nv_arena_alloc(a, sizeof(*h->vms) * (d->nvms + 1));
	for (struct vm *vm = d->vms; vm != NULL; vm = vm->next) {
		Nicvisor__V1__VmReport *r = nv_arena_alloc(a, sizeof(*r));

		nicvisor__v1__vm_report__init(r);
		r->vm_id = nv_arena_strdup(a, vm->id);
		r->state = vm->rep.state;
		r->reason = nv_arena_strdup(a, vm->rep.reason);
		r->exit = vm->rep.exit;
		r->boots = vm->rep.boots;
		r->console_offset = vm->rep.console_offset;
		r->pid = vm->rep.pid;
		r->boot_ns = vm->rep.boot_ns;
		if (vm->spec != NULL) {
			/* A copy: the VM's may change once the lock is dropped. */
			r->spec = nv_arena_alloc(a, sizeof(*r->spec));
			nicvisor__v1__vm_spec__init(r->spec);
			r->spec->name = nv_arena_strdup(a, vm->spec->name);
			r->spec->vcpus = vm->spec->vcpus;
			r->spec->memory_mib = vm->spec->memory_mib;
			r->spec->kernel = nv_arena_strdup(a, vm->spec->kernel);
			r->spec->initrd = nv_arena_strdup(a, vm->spec->initrd);
			r->spec->cmdline = nv_arena_strdup(a, vm->spec->cmdline);
			spec_devices_copy(a, vm->spec, r->spec);
		}
		h->vms[i++] = r;
	}
	h->n_vms = i;
	pthread_mutex_unlock(&d->lock);
}

static void
poll_info(void *opaque, Nicvisor__V1__Poll *p)
{
	struct daemon *d = opaque;
	uint32_t n = 0;

	pthread_mutex_lock(&d->lock);
	for (struct vm *vm = d->vms; vm != NULL; vm = vm->next)
		n += vm->pid != 0;
	pthread_mutex_unlock(&d->lock);
	p->vms_running = n;
	p->memory_available_mib = shim_mem_available_mib();
}

/* A VM's end reached the agent: nothing more to keep about it. */
static void
told(void *opaque, const char *vm_id, VmState state)
{
	struct daemon *d = opaque;
	struct vm *vm;

	pthread_mutex_lock(&d->lock);
	vm = find_vm(d, vm_id);
	if (vm != NULL && !vm_active(vm) && vm->rep.state == state &&
	    (state == NICVISOR__V1__VM_STATE__VM_STATE_STOPPED ||
	     state == NICVISOR__V1__VM_STATE__VM_STATE_FAILED))
		remove_vm(d, vm);
	pthread_mutex_unlock(&d->lock);
}

static void
child_bad(struct daemon *d, struct vm *vm, const char *why)
{
	d->bad_child_msgs++;
	if (nv_ratelimit_ok(&d->rl, 5, 10000))
		nv_warn("%s: message from pid %d dropped: %s", vm->id, (int)vm->pid, why);
}

static void
child_event(struct daemon *d, struct vm *vm, const Nicvisor__V1__ChildEvent *ev)
{
	const Nicvisor__V1__ChildState *st = ev->state;
	const Nicvisor__V1__ConsoleData *cd = ev->console;
	char why[SHIM_REASON_MAX];

	if (shim_child_event_check(ev, why, sizeof(why)) < 0)
		return child_bad(d, vm, why);
	if (vm->final_seen)
		return child_bad(d, vm, "after its final state");
	if (ev->kind_case == NICVISOR__V1__CHILD_EVENT__KIND_CONSOLE) {
		if (cd->offset < vm->rep.console_offset || cd->offset > UINT64_MAX / 4)
			return child_bad(d, vm, "console offset went back or is implausible");
		shim_session_console(d->sess, vm->id, cd->offset, cd->data.data, cd->data.len);
		vm->rep.console_offset = cd->offset + cd->data.len;
		return;
	}
	if (st->state == NICVISOR__V1__VM_STATE__VM_STATE_RUNNING) {
		if (vm->running_seen)
			return child_bad(d, vm, "RUNNING twice");
		vm->running_seen = true;
		vm->rep.boot_ns = st->boot_ns;
		if (!vm->stop_requested)
			set_state(d, vm, st->state, 0, "vCPUs running");
		return;
	}
	vm->final_seen = true;
	vm->kill_at_ns = nv_mono_ns() + KILL_GRACE_MS * 1000000ull; /* it exits now */
	vm->final = vm->rep;
	vm->final.state = st->state;
	vm->final.exit = st->exit;
	vm->final.pid = 0;
	shim_reason_set(vm->final.reason, sizeof(vm->final.reason), st->reason);
	/* A reset is told once the next boot is on its way (child_ended). */
	if (st->exit != NICVISOR__V1__EXIT_KIND__EXIT_KIND_REBOOT) {
		vm->rep.pid = 0;
		set_state(d, vm, st->state, st->exit, vm->final.reason);
	}
}

/* Everything the child has sent, then nothing more from it. */
static void
drain_child(struct daemon *d, struct vm *vm)
{
	for (int i = 0; i < 256 && vm->sock >= 0; i++) {
		Nicvisor__V1__ChildEvent *ev = NULL;
		int rc = shim_chan_recv(vm->sock, &nicvisor__v1__child_event__descriptor,
					(ProtobufCMessage **)&ev, NULL, NULL, MSG_DONTWAIT);

		if (rc == -EAGAIN)
			return;
		if (rc == -EPIPE || rc == -EBADF) {
			close_sock(d, vm);
			return;
		}
		if (rc < 0) {
			child_bad(d, vm, strerror(-rc));
			continue;
		}
		child_event(d, vm, ev);
		nv_wire_free(&ev->base);
	}
}

static void
child_ended(struct daemon *d, struct vm *vm, int status)
{
	char why[SHIM_REASON_MAX];

	drain_child(d, vm);
	close_sock(d, vm);
	vm->pid = 0;
	vm->rep.pid = 0;
	vm->kill_at_ns = 0;
	if (!vm->final_seen) {
		if (WIFSIGNALED(status))
			snprintf(why, sizeof(why), "the VM's process died of signal %d (%s)%s",
				 WTERMSIG(status), strsignal(WTERMSIG(status)),
				 vm->killed ? ", killed: it did not stop in time" : "");
		else
			snprintf(why, sizeof(why), "the VM's process exited (%d) without a report",
				 WEXITSTATUS(status));
		release_images(d, vm);
		set_state(d, vm, NICVISOR__V1__VM_STATE__VM_STATE_FAILED,
			  NICVISOR__V1__EXIT_KIND__EXIT_KIND_CRASHED, why);
	} else if (vm->final.exit == NICVISOR__V1__EXIT_KIND__EXIT_KIND_REBOOT) {
		uint64_t now = nv_mono_ns();

		if (now - vm->resets_since_ns > REBOOT_WINDOW_MS * 1000000ull) {
			vm->resets_since_ns = now;
			vm->resets = 0;
		}
		if (vm->stop_requested || d->stopping) {
			release_images(d, vm);
			set_state(d, vm, NICVISOR__V1__VM_STATE__VM_STATE_STOPPED,
				  NICVISOR__V1__EXIT_KIND__EXIT_KIND_STOPPED,
				  "stopped on request (while resetting)");
		} else if (++vm->resets > REBOOT_BURST) {
			snprintf(why, sizeof(why),
				 "the guest reset %u times in %d s; not booting it again",
				 vm->resets, REBOOT_WINDOW_MS / 1000);
			release_images(d, vm);
			set_state(d, vm, NICVISOR__V1__VM_STATE__VM_STATE_FAILED,
				  NICVISOR__V1__EXIT_KIND__EXIT_KIND_REBOOT, why);
		} else {
			set_state(d, vm, NICVISOR__V1__VM_STATE__VM_STATE_STARTING,
				  NICVISOR__V1__EXIT_KIND__EXIT_KIND_REBOOT,
				  "the guest reset: booting again");
			start_child(d, vm);
		}
	} else {
		release_images(d, vm);
	}
	if (vm->forget && vm->pid == 0)
		remove_vm(d, vm);
}

static void
reap(struct daemon *d)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		pthread_mutex_lock(&d->lock);
		for (struct vm *vm = d->vms; vm != NULL; vm = vm->next) {
			if (vm->pid == pid) {
				child_ended(d, vm, status);
				break;
			}
		}
		pthread_mutex_unlock(&d->lock);
	}
}

/* Kill children past their stop deadline; ms to the next deadline or -1. */
static int
enforce_deadlines(struct daemon *d)
{
	uint64_t now = nv_mono_ns(), next = 0;

	pthread_mutex_lock(&d->lock);
	for (struct vm *vm = d->vms; vm != NULL; vm = vm->next) {
		if (vm->kill_at_ns == 0 || vm->pid == 0)
			continue;
		if (vm->kill_at_ns <= now) {
			nv_warn("%s: pid %d did not stop in time; killing it", vm->id,
				(int)vm->pid);
			kill(vm->pid, SIGKILL);
			vm->killed = true;
			vm->kill_at_ns = 0;
		} else if (next == 0 || vm->kill_at_ns < next) {
			next = vm->kill_at_ns;
		}
	}
	pthread_mutex_unlock(&d->lock);
	return next == 0 ? -1 : (int)((next - now) / 1000000 + 1);
}

static void
child_readable(struct daemon *d, int sock)
{
	pthread_mutex_lock(&d->lock);
	for (struct vm *vm = d->vms; vm != NULL; vm = vm->next) {
		if (vm->sock == sock) {
			drain_child(d, vm);
			pthread_mutex_unlock(&d->lock);
			return;
		}
	}
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, sock, NULL);
	pthread_mutex_unlock(&d->lock);
}

/* Close the children's sockets (each stops its VM) and wait for them. */
static void
shutdown_children(struct daemon *d)
{
	uint64_t until = nv_mono_ns() + 10000 * 1000000ull;
	bool any = true;

	pthread_mutex_lock(&d->lock);
	d->stopping = true;
	for (struct vm *vm = d->vms; vm != NULL; vm = vm->next)
		close_sock(d, vm);
	pthread_mutex_unlock(&d->lock);
	while (any && nv_mono_ns() < until) {
		reap(d);
		any = false;
		pthread_mutex_lock(&d->lock);
		for (struct vm *vm = d->vms; vm != NULL; vm = vm->next)
			any |= vm->pid != 0;
		pthread_mutex_unlock(&d->lock);
		if (any)
			usleep(20 * 1000);
	}
	pthread_mutex_lock(&d->lock);
	for (struct vm *vm = d->vms; vm != NULL; vm = vm->next) {
		if (vm->pid != 0) {
			nv_warn("%s: pid %d did not stop; killing it", vm->id, (int)vm->pid);
			kill(vm->pid, SIGKILL);
			waitpid(vm->pid, NULL, 0);
			vm->pid = 0;
		}
	}
	pthread_mutex_unlock(&d->lock);
}

/* After the children: the session and every download, then the table. */
static void
daemon_free(struct daemon *d)
{
	struct shim_session_stats st;

	shim_session_get_stats(d->sess, &st);
	nv_info("counters: %llu hellos, %llu commands, %llu bad agent answers, %llu refused, "
		"%llu reports superseded, %llu dropped, %llu console bytes dropped, "
		"%llu bad child messages",
		(unsigned long long)st.hellos, (unsigned long long)st.commands,
		(unsigned long long)st.bad_replies, (unsigned long long)st.rejected,
		(unsigned long long)st.outbox.superseded,
		(unsigned long long)st.outbox.dropped_reports,
		(unsigned long long)st.outbox.dropped_console_bytes,
		(unsigned long long)d->bad_child_msgs);
	shim_session_cancel(d->sess);
	pthread_mutex_lock(&d->lock);
	while (d->downloads > 0)
		pthread_cond_wait(&d->downloads_done, &d->lock);
	pthread_mutex_unlock(&d->lock);
	shim_session_stop(d->sess);
	while (d->vms != NULL) {
		struct vm *vm = d->vms;

		d->vms = vm->next;
		close_sock(d, vm);
		release_images(d, vm);
		nv_wire_free(vm->spec ? &vm->spec->base : NULL);
		free(vm);
	}
	shim_image_cache_fini(&d->images);
	close(d->epfd);
}

static void
usage(void)
{
	fprintf(stderr, "usage: nicvisor-shim [--agent URL] [--host-id ID] [--kvm PATH] "
			"[--log-level L] [--debug-exit]\n"
			"                     [--tls-cert FILE --tls-key FILE --tls-ca FILE]\n"
			"                     [--vm-sandbox MODE] [--vm-user USER]\n"
			"       nicvisor-shim run --kernel K [...]   (see run --help)\n"
			"A tls+tcp:// agent URL is mutual TLS: the host's certificate and key,\n"
			"and the CA of the agent's certificate (PEM files).\n"
			"  " SHIM_SANDBOX_USAGE);
}

int
shim_daemon_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "agent", required_argument, NULL, 'a' },
		{ "dpu", required_argument, NULL, 'a' },
		{ "host-id", required_argument, NULL, 'i' },
		{ "kvm", required_argument, NULL, 'k' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "debug-exit", no_argument, NULL, 'd' },
		{ "tls-cert", required_argument, NULL, 'c' },
		{ "tls-key", required_argument, NULL, 'K' },
		{ "tls-ca", required_argument, NULL, 'A' },
		{ "vm-sandbox", required_argument, NULL, 'S' },
		{ "vm-user", required_argument, NULL, 'U' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static const struct shim_session_ops ops = {
		.hello_vms = hello_vms,
		.apply = apply,
		.poll_info = poll_info,
		.told = told,
	};
	struct daemon d = {
		.lock = PTHREAD_MUTEX_INITIALIZER,
		.downloads_done = PTHREAD_COND_INITIALIZER,
	};
	Nicvisor__V1__HostCapabilities caps = NICVISOR__V1__HOST_CAPABILITIES__INIT;
	struct shim_session_conf conf = { .url = "ipc:///run/nicvisor/host.sock" };
	struct epoll_event ev = { .events = EPOLLIN };
	enum nv_log_level level = NV_LOG_INFO;
	struct nv_arena a = NV_ARENA_INIT;
	char host_id[256], why[192];
	const char *sandbox = NULL, *vm_user = NULL;
	sigset_t sigs;
	int sfd, c, rc;

	shim_default_host_id(host_id, sizeof(host_id));
	conf.host_id = host_id;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			conf.url = optarg;
			break;
		case 'i':
			conf.host_id = optarg;
			break;
		case 'k':
			d.kvm_path = optarg;
			break;
		case 'l':
			if (nv_log_parse_level(optarg, &level) < 0) {
				usage();
				return 2;
			}
			break;
		case 'd':
			d.debug_exit = true;
			break;
		case 'c':
			conf.tls.cert = optarg;
			break;
		case 'K':
			conf.tls.key = optarg;
			break;
		case 'A':
			conf.tls.ca[0] = optarg;
			break;
		case 'S':
			sandbox = optarg;
			break;
		case 'U':
			vm_user = optarg;
			break;
		default:
			usage();
			return c == 'h' ? 0 : 2;
		}
	}
	if (optind != argc) {
		usage();
		return 2;
	}
	if (shim_sandbox_conf(sandbox, vm_user, &d.sandbox, why, sizeof(why)) < 0) {
		fprintf(stderr, "nicvisor-shim: %s\n", why);
		return 2;
	}
	nv_log_init("nicvisor-shim", level);
	setenv("NV_LOG_LEVEL",
	       (const char *[]){ "err", "warn", "info", "debug" }[nv_log_get_level()],
	       1); /* the children log like us */
	signal(SIGPIPE, SIG_IGN);
	/* Before any thread exists, so that every thread inherits the mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGCHLD);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	d.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (sfd < 0 || d.epfd < 0) {
		nv_err("cannot set up the event loop: %s", strerror(errno));
		return 1;
	}
	ev.data.fd = sfd;
	epoll_ctl(d.epfd, EPOLL_CTL_ADD, sfd, &ev);

	shim_host_caps(d.kvm_path, &a, &caps);
	conf.caps = &caps;
	nv_info("host %s: %s, %u cores, %llu MiB, KVM %d (%s), agent %s", conf.host_id, caps.arch,
		caps.cores, (unsigned long long)caps.memory_mib, caps.kvm_api_version, caps.virt,
		conf.url);
	if (d.sandbox.mode == SHIM_SANDBOX_OFF)
		nv_warn("VM processes: no sandbox (--vm-sandbox off): they run as root");
	else
		nv_info("VM processes: seccomp sandbox (%s), uid %u gid %u",
			d.sandbox.mode == SHIM_SANDBOX_LOG ? "log only" : "enforced", d.sandbox.uid,
			d.sandbox.gid);
	shim_image_cache_init(&d.images, shim_session_read_artifact, NULL);
	pthread_mutex_lock(&d.lock); /* no command before d.sess is set */
	rc = shim_session_start(&conf, &ops, &d, &d.sess);
	d.images.opaque = d.sess;
	pthread_mutex_unlock(&d.lock);
	if (rc < 0) {
		nv_err("cannot dial %s: %s", conf.url, strerror(-rc));
		return 1;
	}

	for (;;) {
		struct epoll_event evs[16];
		int n = epoll_wait(d.epfd, evs, 16, enforce_deadlines(&d));
		bool quit = false;

		for (int i = 0; i < n; i++) {
			struct signalfd_siginfo si;

			if (evs[i].data.fd != sfd) {
				child_readable(&d, evs[i].data.fd);
				continue;
			}
			while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGCHLD)
					reap(&d);
				else
					quit = true;
			}
		}
		if (quit)
			break;
	}
	nv_info("shutting down: stopping every VM");
	/* Stopping VMs is bounded by their stop timeouts; nng is not. */
	nv_rpc_exit_watchdog(SHIM_SHUTDOWN_WATCHDOG_S);
	shutdown_children(&d);
	daemon_free(&d);
	nv_arena_free(&a);
	close(sfd);
	return 0;
}
