/* SPDX-License-Identifier: MIT */
/*
 * The southbound channel (host.proto): host sessions, the long poll that
 * carries commands to hosts, reconciliation when a host says Hello, VM
 * reports, console data, artifact reads, and the timers that answer held
 * polls and notice silent hosts.
 */
#define NV_LOG_COMPONENT "nicvisor.dpu.south"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_priv.h"
#include "nv_log.h"
#include "nv_wire.h"
#include "pb_util.h"
#include "vm_state.h"

#define CODE(x)        NICVISOR__V1__CODE__CODE_##x
#define STATE(x)       NICVISOR__V1__VM_STATE__VM_STATE_##x

#define CAPS_STR_MAX   256
#define CAPS_LIST_MAX  64
#define REPORT_STR_MAX 1024

enum {
	ANSWERED = 0,
	HELD = 1,
};

/* Commands going out */

static void
answer_held(struct dpu_agent *a, struct dpu_host *h, bool with_commands)
{
	Nicvisor__V1__HostResponse rep = NICVISOR__V1__HOST_RESPONSE__INIT;
	Nicvisor__V1__Commands cmds = NICVISOR__V1__COMMANDS__INIT;
	Nicvisor__V1__Status ok = NICVISOR__V1__STATUS__INIT;
	Nicvisor__V1__Command *list[DPU_POLL_MAX_CMDS];
	struct dpu_reply *r = h->held;

	(void)a;
	if (r == NULL)
		return;
	h->held = NULL;
	rep.version = NV_PROTOCOL_VERSION;
	rep.status = &ok;
	rep.result_case = NICVISOR__V1__HOST_RESPONSE__RESULT_COMMANDS;
	rep.commands = &cmds;
	if (with_commands) {
		cmds.n_commands = dpu_cmdq_peek(&h->cmdq, list, DPU_POLL_MAX_CMDS);
		cmds.commands = list;
	}
	/* Packed and handed to nng right here: the queue may change as soon
	 * as the lock is released. */
	r->send(r, &rep);
}

void
host_flush(struct dpu_agent *a, struct dpu_host *h)
{
	if (h->held != NULL && h->cmdq.len > 0)
		answer_held(a, h, true);
}

void
host_drop_held(struct dpu_agent *a, struct dpu_host *h, Nicvisor__V1__Code code, const char *msg)
{
	Nicvisor__V1__HostResponse rep = NICVISOR__V1__HOST_RESPONSE__INIT;
	Nicvisor__V1__Status st = NICVISOR__V1__STATUS__INIT;
	struct dpu_reply *r = h->held;

	(void)a;
	if (r == NULL)
		return;
	h->held = NULL;
	rep.version = NV_PROTOCOL_VERSION;
	st.code = code;
	st.message = (char *)msg;
	rep.status = &st;
	r->send(r, &rep);
}

int
host_send(struct dpu_agent *a, struct dpu_host *h, const Nicvisor__V1__Command *cmd, uint64_t *seq)
{
	int64_t s = dpu_cmdq_push(&h->cmdq, cmd);

	if (s < 0) {
		nv_warn("host %s: command not queued: %s", h->id, strerror((int)-s));
		return (int)s;
	}
	if (seq != NULL)
		*seq = (uint64_t)s;
	host_flush(a, h);
	return 0;
}

static Nicvisor__V1__Artifact *
artifact_pb(const struct dpu_artifact *art, Nicvisor__V1__Artifact *pb)
{
	if (art == NULL)
		return NULL;
	nicvisor__v1__artifact__init(pb);
	pb->id = (char *)dpu_artifact_id(art);
	pb->name = (char *)dpu_artifact_name(art);
	pb->size = dpu_artifact_size(art);
	return pb;
}

int
host_send_launch(struct dpu_agent *a, struct dpu_host *h, const struct dpu_vm *vm)
{
	Nicvisor__V1__Command cmd = NICVISOR__V1__COMMAND__INIT;
	Nicvisor__V1__LaunchVm l = NICVISOR__V1__LAUNCH_VM__INIT;
	Nicvisor__V1__NicAttachment att[DPU_MAX_NICS], *atts[DPU_MAX_NICS];
	Nicvisor__V1__DiskAttachment datt[DPU_MAX_DISKS], *datts[DPU_MAX_DISKS];
	Nicvisor__V1__Artifact k, i;

	/* The ports exist: vm_start_on() and reconcile() attach them first. */
	for (size_t n = 0; n < vm->spec->n_nics && n < DPU_MAX_NICS; n++) {
		nicvisor__v1__nic_attachment__init(&att[n]);
		att[n].index = (uint32_t)n;
		att[n].mac = vm->spec->nics[n]->mac;
		att[n].vhost_user_socket = (char *)vm->ports[n].socket;
		att[n].queue_pairs = vm_nic_queue_pairs(vm->spec);
		atts[n] = &att[n];
		l.n_nics++;
	}
	l.nics = atts;
	/* The disks exist: vm_start_on() and reattach_disks() add them. */
	for (size_t n = 0; n < vm->spec->n_disks && n < DPU_MAX_DISKS; n++) {
		const struct dpu_volume *vol = vol_find_name(a, vm->spec->disks[n]->volume);

		nicvisor__v1__disk_attachment__init(&datt[n]);
		datt[n].index = (uint32_t)n;
		datt[n].vhost_user_socket = (char *)vm->disks[n].socket;
		datt[n].read_only = vm->spec->disks[n]->read_only;
		datt[n].queues = vm_disk_queues(vm->spec);
		datt[n].serial = vol ? (char *)vol->id : "";
		datt[n].size_bytes = vol ? vol->size_bytes : 0;
		datts[n] = &datt[n];
		l.n_disks++;
	}
	l.disks = datts;
	l.vm_id = (char *)vm->id;
	l.spec = vm->spec;
	l.kernel = artifact_pb(vm->kernel, &k);
	l.initrd = artifact_pb(vm->initrd, &i);
	l.console_offset = vm->console.end;
	l.boots = vm->boots;
	cmd.op_case = NICVISOR__V1__COMMAND__OP_LAUNCH;
	cmd.launch = &l;
	return host_send(a, h, &cmd, NULL);
}

int
host_send_stop(struct dpu_agent *a, struct dpu_host *h, const char *vm_id, uint32_t timeout_ms,
	       bool force, bool forget, uint64_t *seq)
{
	Nicvisor__V1__Command cmd = NICVISOR__V1__COMMAND__INIT;
	Nicvisor__V1__StopVm s = NICVISOR__V1__STOP_VM__INIT;

	s.vm_id = (char *)vm_id;
	s.timeout_ms = timeout_ms;
	s.force = force;
	s.forget = forget;
	cmd.op_case = NICVISOR__V1__COMMAND__OP_STOP;
	cmd.stop = &s;
	return host_send(a, h, &cmd, seq);
}

/* Validation of what hosts send */

static int
check_str(const char *s, size_t max, const char *field, struct dpu_status *st)
{
	size_t n = s ? strlen(s) : 0;

	if (n > max)
		return dpu_fail(st, CODE(INVALID_ARGUMENT), field,
				"%zu bytes long; at most %zu are accepted", n, max);
	return 0;
}

static int
validate_report(const Nicvisor__V1__VmReport *r, const char *prefix, struct dpu_status *st)
{
	char f[96];

	snprintf(f, sizeof(f), "%s.vm_id", prefix);
	if (!dpu_is_vm_id(r->vm_id))
		return dpu_fail(st, CODE(INVALID_ARGUMENT), f,
				"'%.40s' is not a VM id (vm-<16 hex digits>)", r->vm_id);
	snprintf(f, sizeof(f), "%s.state", prefix);
	if (!dpu_vm_state_valid(r->state) || !dpu_vm_state_reportable(r->state))
		return dpu_fail(st, CODE(INVALID_ARGUMENT), f,
				"state %d is not one a host reports (starting, running, "
				"stopping, stopped, failed)",
				(int)r->state);
	snprintf(f, sizeof(f), "%s.exit", prefix);
	if (!dpu_exit_kind_valid(r->exit))
		return dpu_fail(st, CODE(INVALID_ARGUMENT), f, "exit kind %d is unknown",
				(int)r->exit);
	snprintf(f, sizeof(f), "%s.reason", prefix);
	return check_str(r->reason, REPORT_STR_MAX, f, st);
}

static int
validate_hello(const Nicvisor__V1__Hello *h, struct dpu_status *st)
{
	const Nicvisor__V1__HostCapabilities *c = h->caps;
	char f[64];

	if (dpu_validate_host_id(h->host_id, "hello.host_id", st) < 0)
		return -EINVAL;
	if (c == NULL)
		return dpu_fail(st, CODE(INVALID_ARGUMENT), "hello.caps",
				"the host's capabilities are missing");
	if (c->cores == 0)
		return dpu_fail(st, CODE(INVALID_ARGUMENT), "hello.caps.cores",
				"a host with 0 cores cannot run VMs");
	if (check_str(c->arch, 32, "hello.caps.arch", st) < 0 ||
	    check_str(c->virt, 32, "hello.caps.virt", st) < 0 ||
	    check_str(c->shim_version, 64, "hello.caps.shim_version", st) < 0 ||
	    check_str(c->hostname, CAPS_STR_MAX, "hello.caps.hostname", st) < 0)
		return -EINVAL;
	if (c->n_kvm_caps > CAPS_LIST_MAX)
		return dpu_fail(st, CODE(INVALID_ARGUMENT), "hello.caps.kvm_caps",
				"%zu capabilities listed; at most %d", c->n_kvm_caps,
				CAPS_LIST_MAX);
	for (size_t i = 0; i < c->n_kvm_caps; i++) {
		snprintf(f, sizeof(f), "hello.caps.kvm_caps[%zu]", i);
		if (check_str(c->kvm_caps[i], 64, f, st) < 0)
			return -EINVAL;
	}
	if (h->n_vms > DPU_MAX_VMS)
		return dpu_fail(st, CODE(INVALID_ARGUMENT), "hello.vms",
				"%zu VMs reported; at most %d are supported", h->n_vms,
				DPU_MAX_VMS);
	for (size_t i = 0; i < h->n_vms; i++) {
		snprintf(f, sizeof(f), "hello.vms[%zu]", i);
		if (validate_report(h->vms[i], f, st) < 0)
			return -EINVAL;
		for (size_t j = 0; j < i; j++)
			if (strcmp(h->vms[j]->vm_id, h->vms[i]->vm_id) == 0)
				return dpu_fail(st, CODE(INVALID_ARGUMENT), f,
						"vm %s is reported twice", h->vms[i]->vm_id);
	}
	return 0;
}

/* Sessions */

static struct dpu_host *
host_by_session(struct dpu_agent *a, const char *session, struct dpu_status *st)
{
	if (session != NULL && session[0] != 0)
		for (size_t i = 0; i < a->nhosts; i++)
			if (a->hosts[i]->connected && strcmp(a->hosts[i]->session, session) == 0)
				return a->hosts[i];
	dpu_fail(st, CODE(UNAUTHENTICATED), "session",
		 "unknown or expired session; say Hello again");
	return NULL;
}

static void
touch(struct dpu_agent *a, struct dpu_host *h)
{
	h->last_seen_ms = agent_now_ms(a);
	h->last_seen_unix_ms = nv_now_unix_ms();
}

/* Hello and reconciliation */

static const Nicvisor__V1__VmReport *
find_report(const Nicvisor__V1__Hello *hello, const char *vm_id)
{
	for (size_t i = 0; i < hello->n_vms; i++)
		if (strcmp(hello->vms[i]->vm_id, vm_id) == 0)
			return hello->vms[i];
	return NULL;
}

static const char *
report_reason(const Nicvisor__V1__VmReport *r, char *buf, size_t size, const char *fallback,
	      const char *host)
{
	if (r->reason != NULL && r->reason[0] != 0)
		snprintf(buf, size, "%s", r->reason);
	else
		snprintf(buf, size, fallback, host);
	return buf;
}

/* What a report says about the VM's process, kept for operators. */
static void
take_process_facts(struct dpu_vm *vm, const Nicvisor__V1__VmReport *r)
{
	if (r->pid != 0)
		vm->host_pid = r->pid;
	if (r->boot_ns != 0)
		vm->vmm_setup_ns = r->boot_ns;
}

/* A VM the agent knows, as the host reports it at Hello. */
/* A VM found active at a host's reconnect has its disks in the block
 * backend again (after an agent restart the backend has none), so its
 * frontends reconnect to the same sockets: names follow the VM and volume
 * ids. A refusal is logged; the guest sees its disk stall. */
static void
reattach_disks(struct dpu_agent *a, struct dpu_vm *vm)
{
	struct dpu_status st;

	if (!dpu_vm_state_active(vm->state) || vm->spec->n_disks == 0)
		return;
	if (vm_disks_attach(a, vm, &st) < 0)
		nv_err("vm %s (%s) runs but its disks cannot be served: %s", vm->spec->name, vm->id,
		       st.message);
}

static void
reattach(struct dpu_agent *a, struct dpu_host *h, struct dpu_vm *vm,
	 const Nicvisor__V1__VmReport *r)
{
	Nicvisor__V1__VmState next = dpu_vm_apply_report(vm->state, r->state);
	char reason[DPU_REASON_MAX];
	uint64_t off;

	snprintf(vm->host, sizeof(vm->host), "%s", h->id);
	take_process_facts(vm, r);
	if (r->boots > vm->boots)
		vm->boots = r->boots;
	if (r->exit != NICVISOR__V1__EXIT_KIND__EXIT_KIND_NONE)
		vm->last_exit = r->exit;
	if (r->console_offset > vm->console.end)
		dpu_console_ring_append(&vm->console, r->console_offset, NULL, 0, &off);
	if (next == STATE(STOPPING)) {
		/* The operator's stop did not reach the host yet. */
		host_send_stop(a, h, vm->id, vm->stop_timeout_ms, vm->stop_force, false, NULL);
		if (!vm->stop_force)
			vm->stop_deadline_ms =
				agent_now_ms(a) + vm->stop_timeout_ms + DPU_STOP_GRACE_MS;
		vm_set_state(a, vm, next, "host %s reconnected; stopping the VM", h->id);
		return;
	}
	vm_set_state(a, vm, next, "%s",
		     report_reason(r, reason, sizeof(reason), "reported by host %s at reconnect",
				   h->id));
	reattach_disks(a, vm);
}

/* A VM the agent does not know (its state was lost): take the host's
 * word for its spec. */
static void
adopt(struct dpu_agent *a, struct dpu_host *h, const Nicvisor__V1__VmReport *r)
{
	Nicvisor__V1__VmSpec fallback = NICVISOR__V1__VM_SPEC__INIT;
	Nicvisor__V1__VmSpec *spec;
	char name[DPU_NAME_MAX + 1];
	struct dpu_status st;
	struct dpu_vm *vm;
	uint64_t off;

	if (a->nvms >= DPU_MAX_VMS) {
		nv_err("host %s runs vm %s, but the agent is at its limit of %d VMs; not adopted",
		       h->id, r->vm_id, DPU_MAX_VMS);
		return;
	}
	if (r->spec != NULL && dpu_validate_spec(r->spec, "spec", false, &st) == 0) {
		spec = dpu_pb_dup(&r->spec->base);
	} else {
		/* Keep what can be kept; the operator sees the VM and can
		 * stop or delete it. */
		const Nicvisor__V1__VmSpec *s = r->spec;

		fallback.vcpus = s && s->vcpus >= 1 && s->vcpus <= DPU_VCPUS_MAX ? s->vcpus : 1;
		fallback.memory_mib = s && s->memory_mib >= DPU_MEMORY_MIN_MIB &&
						      s->memory_mib <= DPU_MEMORY_MAX_MIB
					      ? s->memory_mib
					      : DPU_MEMORY_MIN_MIB;
		fallback.kernel = "/unknown";
		fallback.name = "x";
		spec = dpu_pb_dup(&fallback.base);
		if (spec != NULL) {
			free(spec->name);
			spec->name = NULL;
		}
	}
	if (spec != NULL && spec->n_nics > 0) {
		Nicvisor__V1__NicSpec *keep[DPU_MAX_NICS];
		Nicvisor__V1__VmSpec *kept;
		size_t n = 0;

		/* Only NICs on networks the agent knows, with a MAC no other
		 * NIC has, survive adoption. */
		for (size_t i = 0; i < spec->n_nics && i < DPU_MAX_NICS; i++) {
			Nicvisor__V1__NicSpec *nic = spec->nics[i];
			uint8_t mac[6];
			bool dup = false;

			for (size_t j = 0; j < n; j++)
				dup = dup || strcmp(keep[j]->mac, nic->mac) == 0;
			if (a->net == NULL || net_find_name(a, nic->network) == NULL ||
			    dpu_mac_parse(nic->mac, mac) < 0 || mac_owner(a, nic->mac, NULL) ||
			    dup) {
				nv_warn("host %s runs vm %s: its NIC %zu (network '%.63s', MAC "
					"'%.20s') is dropped: unknown network or unusable MAC",
					h->id, r->vm_id, i, nic->network, nic->mac);
				continue;
			}
			keep[n++] = nic;
		}
		kept = n != spec->n_nics ? spec_with_nics(spec, keep, n) : spec;
		if (kept != spec)
			dpu_pb_free(spec);
		spec = kept;
	}
	if (spec != NULL && spec->n_disks > 0) {
		Nicvisor__V1__DiskSpec *keep[DPU_MAX_DISKS];
		Nicvisor__V1__VmSpec *kept;
		size_t n = 0;

		/* Only disks of volumes the agent knows, shareable as the
		 * rules say, survive adoption. */
		for (size_t i = 0; i < spec->n_disks && i < DPU_MAX_DISKS; i++) {
			Nicvisor__V1__DiskSpec *d = spec->disks[i];
			const struct dpu_volume *vol = vol_find_name(a, d->volume);
			bool rw = false, dup = false;

			for (size_t j = 0; j < n; j++)
				dup = dup || strcmp(keep[j]->volume, d->volume) == 0;
			if (vol == NULL || dup ||
			    (vol_disk_users(a, vol->name, NULL, NULL, NULL, &rw) > 0 &&
			     (rw || !d->read_only))) {
				nv_warn("host %s runs vm %s: its disk %zu (volume '%.63s') is "
					"dropped: unknown volume or attached elsewhere",
					h->id, r->vm_id, i, d->volume);
				continue;
			}
			keep[n++] = d;
		}
		kept = n != spec->n_disks ? spec_with_disks(spec, keep, n) : spec;
		if (kept != spec)
			dpu_pb_free(spec);
		spec = kept;
	}
	if (spec == NULL)
		return;
	if (spec->name == NULL || vm_find_name(a, spec->name) != NULL) {
		snprintf(name, sizeof(name), "adopted-%s", r->vm_id + 3);
		free(spec->name);
		spec->name = strdup(name);
	}
	vm = spec->name ? vm_add(a, spec, r->vm_id) : NULL;
	if (vm == NULL) {
		dpu_pb_free(spec);
		return;
	}
	snprintf(vm->host, sizeof(vm->host), "%s", h->id);
	take_process_facts(vm, r);
	vm->boots = r->boots;
	vm->last_exit = r->exit;
	vm->started_unix_ms = vm->created_unix_ms;
	dpu_console_ring_append(&vm->console, r->console_offset, NULL, 0, &off);
	vm->state = STATE(UNSPECIFIED);
	vm_set_state(a, vm, r->state, "adopted: host %s runs it and the agent had no record of it",
		     h->id);
	/* Its frontends reconnect to the same sockets: names follow the id
	 * and the MACs. */
	vm_nics_attach(a, vm, &st);
	reattach_disks(a, vm);
	nv_warn("adopted vm %s (%s) from host %s", vm->spec->name, vm->id, h->id);
}

static void
reconcile(struct dpu_agent *a, struct dpu_host *h, const Nicvisor__V1__Hello *hello)
{
	bool *relaunch = calloc(a->nvms + 1, sizeof(*relaunch));
	size_t nvms = a->nvms;

	/* Commands of the old session: only a LaunchVm the host never
	 * acknowledged still means something; it is queued again below. */
	for (size_t i = 0; i < nvms && relaunch; i++) {
		struct dpu_vm *vm = a->vms[i];

		relaunch[i] = vm->state == STATE(STARTING) && strcmp(vm->host, h->id) == 0 &&
			      vm->kernel != NULL &&
			      dpu_cmdq_find(&h->cmdq, vm->id, NICVISOR__V1__COMMAND__OP_LAUNCH);
	}
	dpu_cmdq_fini(&h->cmdq); /* keeps next_seq */

	/* VMs the agent had placed here but the host does not run. Done
	 * first, so that adopted VMs (appended to a->vms) are not visited. */
	for (size_t i = 0; i < nvms; i++) {
		struct dpu_vm *vm = a->vms[i];

		if (strcmp(vm->host, h->id) != 0 || !dpu_vm_state_active(vm->state) ||
		    find_report(hello, vm->id) != NULL)
			continue;
		if (vm->state == STATE(STOPPING)) {
			vm->last_exit = NICVISOR__V1__EXIT_KIND__EXIT_KIND_STOPPED;
			vm_set_state(a, vm, STATE(STOPPED), "stopped while host %s was unreachable",
				     h->id);
		} else if (relaunch && relaunch[i]) {
			host_send_launch(a, h, vm);
			vm_set_state(a, vm, STATE(STARTING),
				     "host %s reconnected before launching the VM; launching",
				     h->id);
		} else if (vm->state == STATE(STARTING)) {
			vm_set_state(a, vm, STATE(FAILED),
				     "host %s reconnected without the VM before it ran; start it "
				     "again",
				     h->id);
		} else {
			vm_set_state(
				a, vm, STATE(FAILED),
				"host %s restarted; the VM was not running when it reconnected",
				h->id);
		}
	}
	free(relaunch);

	for (size_t i = 0; i < hello->n_vms; i++) {
		const Nicvisor__V1__VmReport *r = hello->vms[i];
		struct dpu_tombstone *t = tomb_find(a, r->vm_id);
		struct dpu_host *other;
		struct dpu_vm *vm;

		if (t != NULL) {
			snprintf(t->host, sizeof(t->host), "%s", h->id);
			t->stop_seq = 0;
			host_send_stop(a, h, r->vm_id, 0, true, true, &t->stop_seq);
			continue;
		}
		vm = vm_find_id(a, r->vm_id);
		other = vm && strcmp(vm->host, h->id) != 0 ? host_find(a, vm->host) : NULL;
		if (vm == NULL) {
			adopt(a, h, r);
		} else if (other != NULL && other->connected && dpu_vm_state_active(vm->state)) {
			/* Two hosts run one VM: keep the one the agent placed. */
			nv_warn("host %s runs vm %s, which is placed on host %s; stopping it on %s",
				h->id, vm->id, vm->host, h->id);
			host_send_stop(a, h, vm->id, 0, true, false, NULL);
		} else {
			reattach(a, h, vm, r);
		}
	}

	/* Deleted VMs this host no longer runs need no more stopping. */
	for (size_t i = 0; i < a->ntombs;) {
		if (strcmp(a->tombs[i].host, h->id) == 0 &&
		    find_report(hello, a->tombs[i].vm_id) == NULL)
			tomb_remove(a, &a->tombs[i]);
		else
			i++;
	}
}

static int
hello(struct dpu_agent *a, const Nicvisor__V1__HostRequest *rq, struct nv_arena *ar,
      Nicvisor__V1__HostResponse *rep, struct dpu_status *st)
{
	const Nicvisor__V1__Hello *hl = rq->hello;
	Nicvisor__V1__HelloReply *hr;
	Nicvisor__V1__HostCapabilities *caps;
	struct dpu_host *h;
	bool was_known;

	if (validate_hello(hl, st) < 0)
		return -EINVAL;
	caps = dpu_pb_dup(&hl->caps->base);
	if (caps == NULL)
		return dpu_fail(st, CODE(INTERNAL), "", "out of memory");
	pthread_mutex_lock(&a->lock);
	h = host_find(a, hl->host_id);
	was_known = h != NULL;
	if (h == NULL)
		h = host_add(a, hl->host_id);
	if (h == NULL) {
		pthread_mutex_unlock(&a->lock);
		dpu_pb_free(caps);
		return dpu_fail(st, CODE(RESOURCE_EXHAUSTED), "hello.host_id",
				"the agent serves %d hosts already", DPU_MAX_HOSTS);
	}
	host_drop_held(a, h, CODE(UNAUTHENTICATED), "superseded by a new Hello from this host");
	dpu_pb_free(h->caps);
	h->caps = caps;
	h->connected = true;
	agent_random_hex(a, h->session, DPU_SESSION_LEN);
	h->memory_capacity_mib =
		caps->memory_available_mib ? caps->memory_available_mib : caps->memory_mib;
	h->vms_running = 0;
	touch(a, h);
	reconcile(a, h, hl);
	nv_info("host %s %s: %u cores, %llu MiB available, %zu VMs running", h->id,
		was_known ? "reconnected" : "connected", caps->cores,
		(unsigned long long)caps->memory_available_mib, hl->n_vms);
	host_publish(a, h);
	agent_save(a);

	hr = nv_arena_alloc(ar, sizeof(*hr));
	nicvisor__v1__hello_reply__init(hr);
	hr->session = nv_arena_strdup(ar, h->session);
	hr->heartbeat_ms = a->conf.heartbeat_ms;
	hr->dead_after_ms = a->conf.dead_after_ms;
	pthread_mutex_unlock(&a->lock);
	rep->result_case = NICVISOR__V1__HOST_RESPONSE__RESULT_HELLO;
	rep->hello = hr;
	return 0;
}

/* Poll */

static int
poll(struct dpu_agent *a, const Nicvisor__V1__HostRequest *rq, struct dpu_reply *r,
     struct nv_arena *ar, Nicvisor__V1__HostResponse *rep, struct dpu_status *st)
{
	const Nicvisor__V1__Poll *p = rq->poll;
	Nicvisor__V1__Commands *cmds;
	Nicvisor__V1__Command *list[DPU_POLL_MAX_CMDS];
	bool saved = false;
	struct dpu_host *h;

	pthread_mutex_lock(&a->lock);
	h = host_by_session(a, rq->session, st);
	if (h == NULL) {
		pthread_mutex_unlock(&a->lock);
		return -EINVAL;
	}
	touch(a, h);
	h->vms_running = p->vms_running;
	if (h->caps != NULL)
		h->caps->memory_available_mib = p->memory_available_mib;
	dpu_cmdq_ack(&h->cmdq, p->ack_seq);
	for (size_t i = 0; i < a->ntombs;) {
		struct dpu_tombstone *t = &a->tombs[i];

		if (t->stop_seq != 0 && t->stop_seq <= p->ack_seq && strcmp(t->host, h->id) == 0) {
			tomb_remove(a, t);
			saved = true;
		} else {
			i++;
		}
	}
	if (saved)
		agent_save(a);
	/* A newer poll answers the older one (its client gave up on it). */
	answer_held(a, h, false);
	if (h->cmdq.len == 0 && !a->shutting_down) {
		h->held = r;
		h->held_since_ms = agent_now_ms(a);
		pthread_mutex_unlock(&a->lock);
		return HELD;
	}
	cmds = nv_arena_alloc(ar, sizeof(*cmds));
	nicvisor__v1__commands__init(cmds);
	cmds->n_commands = dpu_cmdq_peek(&h->cmdq, list, DPU_POLL_MAX_CMDS);
	cmds->commands = nv_arena_alloc(ar, (cmds->n_commands + 1) * sizeof(*cmds->commands));
	for (size_t i = 0; i < cmds->n_commands; i++)
		cmds->commands[i] = dpu_pb_dup_arena(&list[i]->base, ar);
	pthread_mutex_unlock(&a->lock);
	rep->result_case = NICVISOR__V1__HOST_RESPONSE__RESULT_COMMANDS;
	rep->commands = cmds;
	return ANSWERED;
}

/* Reports, console, artifacts */

/* The VM a host request is about: known and placed on h. NULL and st set
 * otherwise; NULL with st OK for a deleted VM (nothing to do). */
static struct dpu_vm *
host_vm(struct dpu_agent *a, struct dpu_host *h, const char *vm_id, const char *field,
	struct dpu_status *st)
{
	struct dpu_vm *vm;

	if (tomb_find(a, vm_id) != NULL)
		return NULL;
	vm = vm_find_id(a, vm_id);
	if (vm == NULL) {
		dpu_fail(st, CODE(NOT_FOUND), field, "vm %s is not known to the agent", vm_id);
		return NULL;
	}
	if (strcmp(vm->host, h->id) != 0) {
		dpu_fail(st, CODE(FAILED_PRECONDITION), field,
			 "vm %s is placed on host '%s', not on %s", vm_id, vm->host, h->id);
		return NULL;
	}
	return vm;
}

static int
vm_report(struct dpu_agent *a, const Nicvisor__V1__HostRequest *rq, struct dpu_status *st)
{
	const Nicvisor__V1__VmReport *r = rq->vm_report;
	Nicvisor__V1__VmState next;
	char reason[DPU_REASON_MAX];
	struct dpu_host *h;
	struct dpu_vm *vm;
	bool changed;

	if (validate_report(r, "vm_report", st) < 0)
		return -EINVAL;
	pthread_mutex_lock(&a->lock);
	h = host_by_session(a, rq->session, st);
	if (h == NULL)
		goto out_unlock;
	touch(a, h);
	vm = host_vm(a, h, r->vm_id, "vm_report.vm_id", st);
	if (vm == NULL)
		goto out_unlock;
	take_process_facts(vm, r);
	next = dpu_vm_apply_report(vm->state, r->state);
	report_reason(r, reason, sizeof(reason), "reported by host %s", h->id);
	if (r->boots > vm->boots && vm->boots > 0 && next == STATE(RUNNING) &&
	    (r->reason == NULL || r->reason[0] == 0))
		snprintf(reason, sizeof(reason), "guest rebooted (boot %u)", r->boots);
	changed = next != vm->state || r->boots > vm->boots || strcmp(reason, vm->reason) != 0 ||
		  (r->exit != NICVISOR__V1__EXIT_KIND__EXIT_KIND_NONE && r->exit != vm->last_exit);
	if (!changed)
		goto out_unlock;
	if (r->boots > vm->boots)
		vm->boots = r->boots;
	if (r->exit != NICVISOR__V1__EXIT_KIND__EXIT_KIND_NONE)
		vm->last_exit = r->exit;
	if (next == STATE(STOPPING) && vm->state != STATE(STOPPING))
		vm->stop_deadline_ms = 0; /* the host stops it on its own */
	vm_set_state(a, vm, next, "%s", reason);
	agent_save(a);
out_unlock:
	pthread_mutex_unlock(&a->lock);
	return st->code == CODE(OK) ? 0 : -EINVAL;
}

static int
console_data(struct dpu_agent *a, const Nicvisor__V1__HostRequest *rq, struct dpu_status *st)
{
	const Nicvisor__V1__ConsoleData *c = rq->console;
	struct dpu_host *h;
	struct dpu_vm *vm;
	uint64_t new_off;
	long n;

	if (!dpu_is_vm_id(c->vm_id))
		return dpu_fail(st, CODE(INVALID_ARGUMENT), "console.vm_id",
				"'%.40s' is not a VM id", c->vm_id);
	if (c->data.len > NV_WIRE_MAX_CHUNK)
		return dpu_fail(st, CODE(INVALID_ARGUMENT), "console.data",
				"%zu bytes of console data; at most %u per message", c->data.len,
				NV_WIRE_MAX_CHUNK);
	if (c->offset > UINT64_MAX / 2)
		return dpu_fail(st, CODE(INVALID_ARGUMENT), "console.offset",
				"offset %llu is implausible", (unsigned long long)c->offset);
	pthread_mutex_lock(&a->lock);
	h = host_by_session(a, rq->session, st);
	if (h == NULL)
		goto out_unlock;
	touch(a, h);
	vm = host_vm(a, h, c->vm_id, "console.vm_id", st);
	if (vm == NULL)
		goto out_unlock;
	n = dpu_console_ring_append(&vm->console, c->offset, c->data.data, c->data.len, &new_off);
	if (n < 0)
		dpu_fail(st, CODE(INTERNAL), "", "out of memory for the console");
	else if (n > 0)
		vm_publish_console(a, vm, new_off, c->data.data + (new_off - c->offset), (size_t)n);
out_unlock:
	pthread_mutex_unlock(&a->lock);
	return st->code == CODE(OK) ? 0 : -EINVAL;
}

static int
read_artifact(struct dpu_agent *a, const Nicvisor__V1__HostRequest *rq, struct nv_arena *ar,
	      Nicvisor__V1__HostResponse *rep, struct dpu_status *st)
{
	const Nicvisor__V1__ReadArtifact *ra = rq->read_artifact;
	uint32_t len = ra->length ? ra->length : NV_WIRE_MAX_CHUNK;
	struct dpu_artifact *art = NULL;
	Nicvisor__V1__ArtifactChunk *ch;
	struct dpu_host *h;
	long n;

	if (!dpu_is_artifact_id(ra->artifact_id))
		return dpu_fail(st, CODE(INVALID_ARGUMENT), "read_artifact.artifact_id",
				"'%.70s' is not an artifact id (64 hex digits of SHA-256)",
				ra->artifact_id);
	if (len > NV_WIRE_MAX_CHUNK)
		return dpu_fail(st, CODE(INVALID_ARGUMENT), "read_artifact.length",
				"%u bytes asked; at most %u per read", len, NV_WIRE_MAX_CHUNK);
	pthread_mutex_lock(&a->lock);
	h = host_by_session(a, rq->session, st);
	if (h != NULL) {
		touch(a, h);
		/* A host reads only the boot files of VMs it was told to launch. */
		for (size_t i = 0; i < a->nvms && art == NULL; i++) {
			struct dpu_vm *vm = a->vms[i];

			if (strcmp(vm->host, h->id) != 0)
				continue;
			if (vm->kernel && strcmp(dpu_artifact_id(vm->kernel), ra->artifact_id) == 0)
				art = dpu_artifact_hold(vm->kernel);
			else if (vm->initrd &&
				 strcmp(dpu_artifact_id(vm->initrd), ra->artifact_id) == 0)
				art = dpu_artifact_hold(vm->initrd);
		}
		if (art == NULL)
			dpu_fail(st, CODE(NOT_FOUND), "read_artifact.artifact_id",
				 "artifact %s is not a boot file of any VM being launched on host "
				 "%s",
				 ra->artifact_id, h->id);
	}
	pthread_mutex_unlock(&a->lock);
	if (art == NULL)
		return -EINVAL;

	if (ra->offset > dpu_artifact_size(art)) {
		dpu_fail(st, CODE(INVALID_ARGUMENT), "read_artifact.offset",
			 "offset %llu is past the end of artifact %s (%llu bytes)",
			 (unsigned long long)ra->offset, ra->artifact_id,
			 (unsigned long long)dpu_artifact_size(art));
		goto out_put;
	}
	ch = nv_arena_alloc(ar, sizeof(*ch));
	nicvisor__v1__artifact_chunk__init(ch);
	ch->artifact_id = nv_arena_strdup(ar, ra->artifact_id);
	ch->offset = ra->offset;
	ch->data.data = nv_arena_alloc(ar, len);
	n = dpu_artifact_read(art, ra->offset, ch->data.data, len);
	if (n < 0) {
		dpu_fail(st, CODE(INTERNAL), "", "cannot read artifact %s: %s", ra->artifact_id,
			 strerror((int)-n));
		goto out_put;
	}
	ch->data.len = (size_t)n;
	rep->result_case = NICVISOR__V1__HOST_RESPONSE__RESULT_CHUNK;
	rep->chunk = ch;
out_put:
	dpu_artifact_put(art);
	return st->code == CODE(OK) ? 0 : -EINVAL;
}

static int
dispatch(struct dpu_agent *a, const Nicvisor__V1__HostRequest *rq, struct dpu_reply *r,
	 struct nv_arena *ar, Nicvisor__V1__HostResponse *rep, struct dpu_status *st)
{
#define NEED(p, name)                                                                              \
	do {                                                                                       \
		if ((p) == NULL)                                                                   \
			return dpu_fail(st, CODE(INVALID_ARGUMENT), name, "%s is missing", name);  \
	} while (0)

	switch (rq->op_case) {
	case NICVISOR__V1__HOST_REQUEST__OP_HELLO:
		NEED(rq->hello, "hello");
		return hello(a, rq, ar, rep, st);
	case NICVISOR__V1__HOST_REQUEST__OP_POLL:
		NEED(rq->poll, "poll");
		return poll(a, rq, r, ar, rep, st);
	case NICVISOR__V1__HOST_REQUEST__OP_READ_ARTIFACT:
		NEED(rq->read_artifact, "read_artifact");
		return read_artifact(a, rq, ar, rep, st);
	case NICVISOR__V1__HOST_REQUEST__OP_VM_REPORT:
		NEED(rq->vm_report, "vm_report");
		return vm_report(a, rq, st);
	case NICVISOR__V1__HOST_REQUEST__OP_CONSOLE:
		NEED(rq->console, "console");
		return console_data(a, rq, st);
	default:
		return dpu_fail(st, CODE(UNIMPLEMENTED), "op",
				"the request names no operation this agent knows (protocol "
				"version %u)",
				NV_PROTOCOL_VERSION);
	}
#undef NEED
}

void
dpu_agent_host(struct dpu_agent *a, const uint8_t *req, size_t len, struct dpu_reply *r)
{
	Nicvisor__V1__HostResponse rep = NICVISOR__V1__HOST_RESPONSE__INIT;
	Nicvisor__V1__HostRequest *rq = NULL;
	struct nv_arena ar = NV_ARENA_INIT;
	struct dpu_status st;
	int rc = ANSWERED;

	dpu_status_clear(&st);
	rep.version = NV_PROTOCOL_VERSION;
	rc = nv_wire_unpack(&nicvisor__v1__host_request__descriptor, req, len,
			    (ProtobufCMessage **)&rq);
	if (rc < 0)
		rc = dpu_decode_error(rc, len, "HostRequest", &st);
	else if (rq->version != NV_PROTOCOL_VERSION)
		rc = dpu_fail(&st, CODE(VERSION_MISMATCH), "version",
			      "request has protocol version %u; this agent speaks version %u",
			      rq->version, NV_PROTOCOL_VERSION);
	else
		rc = dispatch(a, rq, r, &ar, &rep, &st);

	pthread_mutex_lock(&a->lock);
	a->stats.host_requests++;
	a->stats.host_errors += st.code != CODE(OK);
	pthread_mutex_unlock(&a->lock);
	if (rc != HELD) {
		if (st.code != CODE(OK)) {
			rep.result_case = NICVISOR__V1__HOST_RESPONSE__RESULT__NOT_SET;
			rep.hello = NULL;
		}
		rep.status = dpu_status_to_pb(&st, &ar);
		r->send(r, &rep);
	}
	nv_wire_free((ProtobufCMessage *)rq);
	nv_arena_free(&ar);
}

/* Timers */

static void
host_lost(struct dpu_agent *a, struct dpu_host *h, uint64_t silent_ms)
{
	h->connected = false;
	h->session[0] = 0;
	host_drop_held(a, h, CODE(UNAUTHENTICATED), "host considered lost; say Hello again");
	nv_warn("host %s lost: no contact for %llu ms", h->id, (unsigned long long)silent_ms);
	for (size_t i = 0; i < a->nvms; i++) {
		struct dpu_vm *vm = a->vms[i];

		if (strcmp(vm->host, h->id) != 0 || !dpu_vm_state_active(vm->state))
			continue;
		vm_set_state(a, vm, vm->state,
			     "host %s unreachable since %llu ms; last known state kept", h->id,
			     (unsigned long long)silent_ms);
	}
	host_publish(a, h);
	agent_save(a);
}

uint32_t
dpu_agent_tick(struct dpu_agent *a)
{
	uint32_t hb = a->conf.heartbeat_ms;
	uint64_t now;

	pthread_mutex_lock(&a->lock);
	now = agent_now_ms(a);
	for (size_t i = 0; i < a->nhosts; i++) {
		struct dpu_host *h = a->hosts[i];

		if (h->held != NULL && now - h->held_since_ms >= hb) {
			answer_held(a, h, false);
			/* Silence starts when the host has its answer. */
			h->last_seen_ms = now;
		}
		/* A held poll is contact: the host is waiting on us. */
		if (h->held != NULL)
			continue;
		if (h->connected && now - h->last_seen_ms > a->conf.dead_after_ms)
			host_lost(a, h, now - h->last_seen_ms);
	}
	for (size_t i = 0; i < a->nvms; i++) {
		struct dpu_vm *vm = a->vms[i];
		struct dpu_host *h;

		if (vm->state != STATE(STOPPING) || vm->stop_deadline_ms == 0 ||
		    now < vm->stop_deadline_ms)
			continue;
		vm->stop_deadline_ms = 0;
		h = host_find(a, vm->host);
		if (h == NULL || !h->connected)
			continue;
		vm->stop_force = true;
		host_send_stop(a, h, vm->id, 0, true, false, NULL);
		vm_set_state(a, vm, vm->state, "graceful stop did not finish in time; forcing");
	}
	pthread_mutex_unlock(&a->lock);
	return hb / 10 < 10 ? 10 : hb / 10 > 100 ? 100 : hb / 10;
}

void
dpu_agent_shutdown(struct dpu_agent *a)
{
	pthread_mutex_lock(&a->lock);
	a->shutting_down = true;
	for (size_t i = 0; i < a->nhosts; i++) {
		struct dpu_host *h = a->hosts[i];

		if (h->held != NULL) {
			h->held->abandon(h->held);
			h->held = NULL;
		}
	}
	pthread_mutex_unlock(&a->lock);
}
