/* SPDX-License-Identifier: MIT */
#define NV_LOG_COMPONENT "nicvisor.test.fakehost"

#include "fake_host.h"

#include <errno.h>
#include <mbedtls/sha256.h>
#include <mbedtls/version.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nv_log.h"
#include "nv_rpc.h"
#include "nv_wire.h"

#if MBEDTLS_VERSION_MAJOR < 3
#define sha256(b, n, out) mbedtls_sha256_ret((b), (n), (out), 0)
#else
#define sha256(b, n, out) mbedtls_sha256((b), (n), (out), 0)
#endif

#define CALL_MS 3000

struct fake_host {
	struct fake_host_conf conf;
	struct nv_rpc_client *client;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stopping;
	bool silent;
	bool need_hello;
	char session[64];
	uint64_t applied; /* last command seq applied */
	struct fake_vm vms[FAKE_MAX_VMS];
	unsigned nvms;
	struct fake_host_stats stats;
	char id[64];
	char banner[256];
};

static void
sleep_ms(int ms)
{
	usleep((useconds_t)ms * 1000);
}

static struct fake_vm *
find_vm(struct fake_host *fh, const char *id)
{
	for (unsigned i = 0; i < fh->nvms; i++)
		if (strcmp(fh->vms[i].id, id) == 0)
			return &fh->vms[i];
	return NULL;
}

static int
do_call(struct fake_host *fh, Nicvisor__V1__HostRequest *req, int timeout_ms,
	Nicvisor__V1__HostResponse **rep)
{
	char session[64];
	int rc;

	*rep = NULL;
	req->version = NV_PROTOCOL_VERSION;
	if (req->session == NULL || req->session[0] == 0) {
		pthread_mutex_lock(&fh->lock);
		snprintf(session, sizeof(session), "%s", fh->session);
		pthread_mutex_unlock(&fh->lock);
		req->session = session;
	}
	rc = nv_rpc_client_call(fh->client, &req->base, &nicvisor__v1__host_response__descriptor,
				timeout_ms, (ProtobufCMessage **)rep);
	req->session = NULL;
	if (rc < 0)
		return -1;
	if ((*rep)->status == NULL)
		return 0;
	if ((*rep)->status->code == NICVISOR__V1__CODE__CODE_UNAUTHENTICATED) {
		pthread_mutex_lock(&fh->lock);
		fh->need_hello = true;
		fh->stats.unauthenticated++;
		pthread_mutex_unlock(&fh->lock);
	}
	return (int)(*rep)->status->code;
}

int
fake_host_call(struct fake_host *fh, Nicvisor__V1__HostRequest *req,
	       Nicvisor__V1__HostResponse **rep)
{
	Nicvisor__V1__HostResponse *r;
	int rc = do_call(fh, req, CALL_MS, &r);

	if (rep != NULL)
		*rep = r;
	else
		nv_wire_free((ProtobufCMessage *)r);
	return rc;
}

static int
say_hello(struct fake_host *fh)
{
	Nicvisor__V1__HostRequest req = NICVISOR__V1__HOST_REQUEST__INIT;
	Nicvisor__V1__Hello hello = NICVISOR__V1__HELLO__INIT;
	Nicvisor__V1__HostCapabilities caps = NICVISOR__V1__HOST_CAPABILITIES__INIT;
	Nicvisor__V1__VmReport reports[FAKE_MAX_VMS], *rp[FAKE_MAX_VMS];
	Nicvisor__V1__VmSpec specs[FAKE_MAX_VMS];
	Nicvisor__V1__NicSpec nics[FAKE_MAX_VMS][FAKE_MAX_NICS];
	Nicvisor__V1__NicSpec *nicp[FAKE_MAX_VMS][FAKE_MAX_NICS];
	Nicvisor__V1__DiskSpec disks[FAKE_MAX_VMS][FAKE_MAX_DISKS];
	Nicvisor__V1__DiskSpec *diskp[FAKE_MAX_VMS][FAKE_MAX_DISKS];
	struct fake_vm vms[FAKE_MAX_VMS];
	Nicvisor__V1__HostResponse *rep;
	unsigned nvms;
	char *kvm_caps[] = { "KVM_CAP_USER_MEMORY", "KVM_CAP_IRQFD" };
	int rc;

	caps.arch = "x86_64";
	caps.cores = fh->conf.cores;
	caps.memory_mib = fh->conf.memory_mib;
	caps.memory_available_mib = fh->conf.memory_mib;
	caps.kvm_api_version = 12;
	caps.kvm_max_vcpus = fh->conf.kvm_max_vcpus;
	caps.kvm_caps = kvm_caps;
	caps.n_kvm_caps = 2;
	caps.virt = "fake";
	caps.shim_version = "fake-0";
	caps.hostname = fh->id;
	hello.host_id = fh->id;
	hello.caps = &caps;
	pthread_mutex_lock(&fh->lock);
	nvms = fh->nvms;
	memcpy(vms, fh->vms, sizeof(vms));
	pthread_mutex_unlock(&fh->lock);
	for (unsigned i = 0; i < nvms; i++) {
		struct fake_vm *v = &vms[i];

		nicvisor__v1__vm_report__init(&reports[i]);
		nicvisor__v1__vm_spec__init(&specs[i]);
		specs[i].name = v->name;
		specs[i].vcpus = v->vcpus;
		specs[i].memory_mib = v->memory_mib;
		specs[i].kernel = "/fake/kernel";
		for (unsigned j = 0; j < v->nnics; j++) {
			nicvisor__v1__nic_spec__init(&nics[i][j]);
			nics[i][j].network = v->nics[j].network;
			nics[i][j].mac = v->nics[j].mac;
			nicp[i][j] = &nics[i][j];
		}
		specs[i].nics = nicp[i];
		specs[i].n_nics = v->nnics;
		for (unsigned j = 0; j < v->ndisks; j++) {
			nicvisor__v1__disk_spec__init(&disks[i][j]);
			disks[i][j].volume = v->disks[j].volume;
			disks[i][j].read_only = v->disks[j].read_only;
			diskp[i][j] = &disks[i][j];
		}
		specs[i].disks = diskp[i];
		specs[i].n_disks = v->ndisks;
		reports[i].vm_id = v->id;
		reports[i].state = v->state;
		reports[i].boots = v->boots;
		reports[i].console_offset = v->console_offset;
		reports[i].spec = &specs[i];
		rp[i] = &reports[i];
	}
	hello.vms = rp;
	hello.n_vms = nvms;
	req.op_case = NICVISOR__V1__HOST_REQUEST__OP_HELLO;
	req.hello = &hello;
	req.session = "";
	rc = do_call(fh, &req, CALL_MS, &rep);
	if (rc == 0 && rep->hello != NULL) {
		pthread_mutex_lock(&fh->lock);
		snprintf(fh->session, sizeof(fh->session), "%s", rep->hello->session);
		fh->need_hello = false;
		fh->stats.hellos++;
		fh->stats.heartbeat_ms = rep->hello->heartbeat_ms;
		fh->stats.dead_after_ms = rep->hello->dead_after_ms;
		pthread_cond_broadcast(&fh->cond);
		pthread_mutex_unlock(&fh->lock);
	}
	nv_wire_free((ProtobufCMessage *)rep);
	return rc == 0 ? 0 : -1;
}

/* Fetch one artifact in chunks and check its digest. */
static bool
fetch(struct fake_host *fh, const Nicvisor__V1__Artifact *art, uint64_t *bytes)
{
	uint8_t *buf = malloc(art->size ? art->size : 1);
	uint64_t off = 0;
	uint8_t d[32];
	char hex[65];
	bool ok = buf != NULL;

	while (ok && off < art->size) {
		Nicvisor__V1__HostRequest req = NICVISOR__V1__HOST_REQUEST__INIT;
		Nicvisor__V1__ReadArtifact ra = NICVISOR__V1__READ_ARTIFACT__INIT;
		Nicvisor__V1__HostResponse *rep;

		ra.artifact_id = art->id;
		ra.offset = off;
		ra.length = fh->conf.chunk;
		req.op_case = NICVISOR__V1__HOST_REQUEST__OP_READ_ARTIFACT;
		req.read_artifact = &ra;
		if (do_call(fh, &req, CALL_MS, &rep) != 0 || rep->chunk == NULL ||
		    rep->chunk->offset != off || rep->chunk->data.len == 0 ||
		    rep->chunk->data.len > art->size - off) {
			ok = false;
		} else {
			memcpy(buf + off, rep->chunk->data.data, rep->chunk->data.len);
			off += rep->chunk->data.len;
		}
		nv_wire_free((ProtobufCMessage *)rep);
		pthread_mutex_lock(&fh->lock);
		fh->stats.artifact_reads++;
		pthread_mutex_unlock(&fh->lock);
	}
	if (ok) {
		sha256(buf, art->size, d);
		for (int i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02x", d[i]);
		ok = strcmp(hex, art->id) == 0;
	}
	free(buf);
	*bytes = off;
	return ok;
}

static void
launch(struct fake_host *fh, const Nicvisor__V1__LaunchVm *l)
{
	struct fake_vm *v;
	bool ok;

	pthread_mutex_lock(&fh->lock);
	fh->stats.launches++;
	v = find_vm(fh, l->vm_id);
	if (v == NULL && fh->nvms < FAKE_MAX_VMS)
		v = &fh->vms[fh->nvms++];
	if (v == NULL) {
		pthread_mutex_unlock(&fh->lock);
		return;
	}
	memset(v, 0, sizeof(*v));
	snprintf(v->id, sizeof(v->id), "%s", l->vm_id);
	snprintf(v->name, sizeof(v->name), "%s", l->spec ? l->spec->name : "");
	v->vcpus = l->spec ? l->spec->vcpus : 1;
	v->memory_mib = l->spec ? l->spec->memory_mib : 16;
	v->console_offset = l->console_offset;
	v->state = NICVISOR__V1__VM_STATE__VM_STATE_STARTING;
	if (l->kernel != NULL)
		snprintf(v->kernel_id, sizeof(v->kernel_id), "%s", l->kernel->id);
	for (size_t i = 0; i < l->n_nics && i < FAKE_MAX_NICS; i++) {
		const Nicvisor__V1__NicAttachment *a = l->nics[i];

		v->nics[i].index = a->index;
		snprintf(v->nics[i].mac, sizeof(v->nics[i].mac), "%s", a->mac);
		snprintf(v->nics[i].socket, sizeof(v->nics[i].socket), "%s", a->vhost_user_socket);
		v->nics[i].queue_pairs = a->queue_pairs;
		if (l->spec != NULL && i < l->spec->n_nics)
			snprintf(v->nics[i].network, sizeof(v->nics[i].network), "%s",
				 l->spec->nics[i]->network);
		v->nnics++;
	}
	for (size_t i = 0; i < l->n_disks && i < FAKE_MAX_DISKS; i++) {
		const Nicvisor__V1__DiskAttachment *a = l->disks[i];

		v->disks[i].index = a->index;
		v->disks[i].read_only = a->read_only;
		snprintf(v->disks[i].socket, sizeof(v->disks[i].socket), "%s",
			 a->vhost_user_socket);
		v->disks[i].queues = a->queues;
		snprintf(v->disks[i].serial, sizeof(v->disks[i].serial), "%s", a->serial);
		v->disks[i].size_bytes = a->size_bytes;
		if (l->spec != NULL && i < l->spec->n_disks)
			snprintf(v->disks[i].volume, sizeof(v->disks[i].volume), "%s",
				 l->spec->disks[i]->volume);
		v->ndisks++;
	}
	pthread_mutex_unlock(&fh->lock);

	fake_host_report(fh, l->vm_id, NICVISOR__V1__VM_STATE__VM_STATE_STARTING,
			 NICVISOR__V1__EXIT_KIND__EXIT_KIND_NONE, 0, "fetching boot files");
	ok = l->kernel != NULL;
	if (ok) {
		uint64_t kb = 0, ib = 0;

		ok = fetch(fh, l->kernel, &kb);
		if (ok && l->initrd != NULL)
			ok = fetch(fh, l->initrd, &ib);
		pthread_mutex_lock(&fh->lock);
		v = find_vm(fh, l->vm_id);
		if (v != NULL) {
			v->kernel_bytes = kb;
			v->initrd_bytes = ib;
			v->digests_ok = ok;
		}
		pthread_mutex_unlock(&fh->lock);
	}
	if (!ok) {
		fake_host_report(fh, l->vm_id, NICVISOR__V1__VM_STATE__VM_STATE_FAILED,
				 NICVISOR__V1__EXIT_KIND__EXIT_KIND_BOOT_ERROR, 0,
				 "boot files did not match their digests");
		return;
	}
	fake_host_report(fh, l->vm_id, NICVISOR__V1__VM_STATE__VM_STATE_RUNNING,
			 NICVISOR__V1__EXIT_KIND__EXIT_KIND_NONE, 1, "");
	if (fh->banner[0] != 0)
		fake_host_console(fh, l->vm_id, fh->banner, UINT64_MAX);
}

static void
stop(struct fake_host *fh, const Nicvisor__V1__StopVm *s)
{
	struct fake_vm *v;

	pthread_mutex_lock(&fh->lock);
	fh->stats.stops++;
	fh->stats.forgets += s->forget;
	v = find_vm(fh, s->vm_id);
	if (v != NULL && s->forget) {
		*v = fh->vms[--fh->nvms];
		v = NULL;
	}
	pthread_mutex_unlock(&fh->lock);
	if (v != NULL)
		fake_host_report(fh, s->vm_id, NICVISOR__V1__VM_STATE__VM_STATE_STOPPED,
				 NICVISOR__V1__EXIT_KIND__EXIT_KIND_STOPPED, 0,
				 s->force ? "stopped (forced)" : "stopped (graceful)");
}

static void *
host_main(void *arg)
{
	struct fake_host *fh = arg;

	for (;;) {
		Nicvisor__V1__HostRequest req = NICVISOR__V1__HOST_REQUEST__INIT;
		Nicvisor__V1__Poll poll = NICVISOR__V1__POLL__INIT;
		Nicvisor__V1__HostResponse *rep;
		bool stopping, silent, hello;
		uint32_t hb;
		int rc;

		pthread_mutex_lock(&fh->lock);
		stopping = fh->stopping;
		silent = fh->silent;
		hello = fh->need_hello;
		hb = fh->stats.heartbeat_ms;
		poll.ack_seq = fh->applied;
		poll.vms_running = fh->nvms;
		poll.memory_available_mib = fh->conf.memory_mib;
		pthread_mutex_unlock(&fh->lock);
		if (stopping)
			break;
		if (silent) {
			sleep_ms(20);
			continue;
		}
		if (hello) {
			if (say_hello(fh) < 0)
				sleep_ms(50);
			continue;
		}
		req.op_case = NICVISOR__V1__HOST_REQUEST__OP_POLL;
		req.poll = &poll;
		rc = do_call(fh, &req, (int)hb + 2000, &rep);
		pthread_mutex_lock(&fh->lock);
		fh->stats.polls++;
		pthread_mutex_unlock(&fh->lock);
		if (rc != 0 || rep->commands == NULL) {
			nv_wire_free((ProtobufCMessage *)rep);
			if (rc != 0)
				sleep_ms(20);
			continue;
		}
		for (size_t i = 0; i < rep->commands->n_commands; i++) {
			const Nicvisor__V1__Command *c = rep->commands->commands[i];

			pthread_mutex_lock(&fh->lock);
			rc = c->seq <= fh->applied || fh->silent || fh->stopping;
			pthread_mutex_unlock(&fh->lock);
			if (rc)
				continue;
			if (c->op_case == NICVISOR__V1__COMMAND__OP_LAUNCH && c->launch)
				launch(fh, c->launch);
			else if (c->op_case == NICVISOR__V1__COMMAND__OP_STOP && c->stop)
				stop(fh, c->stop);
			pthread_mutex_lock(&fh->lock);
			fh->applied = c->seq;
			fh->stats.last_seq = c->seq;
			pthread_cond_broadcast(&fh->cond);
			pthread_mutex_unlock(&fh->lock);
		}
		nv_wire_free((ProtobufCMessage *)rep);
	}
	return NULL;
}

int
fake_host_start(const struct fake_host_conf *conf, struct fake_host **out)
{
	struct fake_host *fh = calloc(1, sizeof(*fh));
	int rc;

	if (fh == NULL)
		return -ENOMEM;
	fh->conf = *conf;
	snprintf(fh->id, sizeof(fh->id), "%s", conf->id);
	snprintf(fh->banner, sizeof(fh->banner), "%s", conf->banner ? conf->banner : "");
	fh->conf.id = fh->id;
	if (fh->conf.cores == 0)
		fh->conf.cores = 2;
	if (fh->conf.memory_mib == 0)
		fh->conf.memory_mib = 4096;
	if (fh->conf.chunk == 0)
		fh->conf.chunk = 256 << 10;
	fh->need_hello = true;
	fh->stats.heartbeat_ms = 1000;
	pthread_mutex_init(&fh->lock, NULL);
	pthread_cond_init(&fh->cond, NULL);
	rc = nv_rpc_client_open(conf->url, NV_RPC_DIAL_BACKGROUND, &fh->client);
	if (rc < 0)
		goto out_free;
	rc = -pthread_create(&fh->thread, NULL, host_main, fh);
	if (rc < 0)
		goto out_close;
	*out = fh;
	return 0;

out_close:
	nv_rpc_client_close(fh->client);
out_free:
	free(fh);
	return rc;
}

void
fake_host_stop(struct fake_host *fh)
{
	if (fh == NULL)
		return;
	pthread_mutex_lock(&fh->lock);
	fh->stopping = true;
	pthread_mutex_unlock(&fh->lock);
	/* The outstanding call ends within its timeout (a Poll within the
	 * agent's heartbeat when the agent is up). */
	pthread_join(fh->thread, NULL);
	nv_rpc_client_close(fh->client);
	pthread_cond_destroy(&fh->cond);
	pthread_mutex_destroy(&fh->lock);
	free(fh);
}

void
fake_host_set_silent(struct fake_host *fh, bool silent)
{
	pthread_mutex_lock(&fh->lock);
	fh->silent = silent;
	pthread_mutex_unlock(&fh->lock);
}

void
fake_host_restart(struct fake_host *fh)
{
	pthread_mutex_lock(&fh->lock);
	fh->nvms = 0;
	fh->applied = 0;
	fh->session[0] = 0;
	fh->need_hello = true;
	pthread_mutex_unlock(&fh->lock);
}

static void
deadline_in(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

bool
fake_host_wait_vm(struct fake_host *fh, const char *vm_id, Nicvisor__V1__VmState state,
		  int timeout_ms, struct fake_vm *out)
{
	struct timespec ts;
	bool found = false;

	deadline_in(&ts, timeout_ms);
	pthread_mutex_lock(&fh->lock);
	for (;;) {
		struct fake_vm *v = find_vm(fh, vm_id);

		if (v != NULL && (state == 0 || v->state == state)) {
			if (out != NULL)
				*out = *v;
			found = true;
			break;
		}
		if (pthread_cond_timedwait(&fh->cond, &fh->lock, &ts) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&fh->lock);
	return found;
}

bool
fake_host_wait_hellos(struct fake_host *fh, unsigned n, int timeout_ms)
{
	struct timespec ts;
	bool ok;

	deadline_in(&ts, timeout_ms);
	pthread_mutex_lock(&fh->lock);
	while (fh->stats.hellos < n &&
	       pthread_cond_timedwait(&fh->cond, &fh->lock, &ts) != ETIMEDOUT)
		;
	ok = fh->stats.hellos >= n;
	pthread_mutex_unlock(&fh->lock);
	return ok;
}

void
fake_host_get_stats(struct fake_host *fh, struct fake_host_stats *out)
{
	pthread_mutex_lock(&fh->lock);
	*out = fh->stats;
	pthread_mutex_unlock(&fh->lock);
}

int
fake_host_report(struct fake_host *fh, const char *vm_id, Nicvisor__V1__VmState state,
		 Nicvisor__V1__ExitKind exit, uint32_t boots, const char *reason)
{
	Nicvisor__V1__HostRequest req = NICVISOR__V1__HOST_REQUEST__INIT;
	Nicvisor__V1__VmReport r = NICVISOR__V1__VM_REPORT__INIT;
	struct fake_vm *v;

	pthread_mutex_lock(&fh->lock);
	v = find_vm(fh, vm_id);
	if (v != NULL) {
		v->state = state;
		if (boots > v->boots)
			v->boots = boots;
		r.boots = v->boots;
		r.console_offset = v->console_offset;
	}
	pthread_cond_broadcast(&fh->cond);
	pthread_mutex_unlock(&fh->lock);
	r.vm_id = (char *)vm_id;
	r.state = state;
	r.exit = exit;
	r.reason = (char *)(reason ? reason : "");
	if (boots > r.boots)
		r.boots = boots;
	req.op_case = NICVISOR__V1__HOST_REQUEST__OP_VM_REPORT;
	req.vm_report = &r;
	return fake_host_call(fh, &req, NULL);
}

int
fake_host_console(struct fake_host *fh, const char *vm_id, const char *text, uint64_t offset)
{
	Nicvisor__V1__HostRequest req = NICVISOR__V1__HOST_REQUEST__INIT;
	Nicvisor__V1__ConsoleData cd = NICVISOR__V1__CONSOLE_DATA__INIT;
	struct fake_vm *v;
	size_t n = strlen(text);

	pthread_mutex_lock(&fh->lock);
	v = find_vm(fh, vm_id);
	if (offset == UINT64_MAX)
		offset = v ? v->console_offset : 0;
	if (v != NULL && offset + n > v->console_offset)
		v->console_offset = offset + n;
	pthread_mutex_unlock(&fh->lock);
	cd.vm_id = (char *)vm_id;
	cd.offset = offset;
	cd.data.data = (uint8_t *)text;
	cd.data.len = n;
	req.op_case = NICVISOR__V1__HOST_REQUEST__OP_CONSOLE;
	req.console = &cd;
	return fake_host_call(fh, &req, NULL);
}
