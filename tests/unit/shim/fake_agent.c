/* SPDX-License-Identifier: MIT */
#include "fake_agent.h"

#include <errno.h>
#include <mbedtls/sha256.h>
#include <mbedtls/version.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nv_log.h"
#include "nv_rpc.h"
#include "nv_wire.h"

#if MBEDTLS_VERSION_NUMBER < 0x03000000
#define mbedtls_sha256 mbedtls_sha256_ret
#endif

typedef Nicvisor__V1__HostRequest HostRequest;
typedef Nicvisor__V1__HostResponse HostResponse;

void
fa_sha256_hex(const void *data, size_t len, char id[65])
{
	unsigned char sum[32];

	mbedtls_sha256(data, len, sum, 0);
	for (int i = 0; i < 32; i++)
		snprintf(id + 2 * i, 3, "%02x", sum[i]);
}

static void
reply_status(struct nv_rpc_call *call, Nicvisor__V1__Code code)
{
	HostResponse rep = NICVISOR__V1__HOST_RESPONSE__INIT;
	Nicvisor__V1__Status st = NICVISOR__V1__STATUS__INIT;

	rep.version = NV_PROTOCOL_VERSION;
	st.code = code;
	st.message = (char *)nv_code_name(code);
	rep.status = &st;
	nv_rpc_reply(call, &rep.base);
}

/* Answer the held poll with every command not yet acknowledged. Caller
 * holds the lock. */
static void
answer_poll(struct fake_agent *fa)
{
	HostResponse rep = NICVISOR__V1__HOST_RESPONSE__INIT;
	Nicvisor__V1__Commands cmds = NICVISOR__V1__COMMANDS__INIT;
	Nicvisor__V1__Command *list[256];

	for (unsigned int i = 0; i < fa->ncmds; i++)
		list[i] = (Nicvisor__V1__Command *)protobuf_c_message_unpack(
			&nicvisor__v1__command__descriptor, NULL, fa->cmds[i].len,
			fa->cmds[i].packed);
	cmds.commands = list;
	cmds.n_commands = fa->ncmds;
	rep.version = NV_PROTOCOL_VERSION;
	rep.result_case = NICVISOR__V1__HOST_RESPONSE__RESULT_COMMANDS;
	rep.commands = &cmds;
	fa->commands_sent += fa->ncmds;
	nv_rpc_reply(fa->poll_call, &rep.base);
	fa->poll_call = NULL;
	for (unsigned int i = 0; i < fa->ncmds; i++)
		protobuf_c_message_free_unpacked(&list[i]->base, NULL);
}

static void *
ticker_main(void *arg)
{
	struct fake_agent *fa = arg;

	for (;;) {
		pthread_mutex_lock(&fa->lock);
		if (fa->stopping) {
			pthread_mutex_unlock(&fa->lock);
			return NULL;
		}
		if (fa->poll_call != NULL &&
		    (fa->ncmds > 0 ||
		     nv_mono_ns() - fa->poll_since_ns >= fa->heartbeat_ms * 1000000ull))
			answer_poll(fa);
		pthread_mutex_unlock(&fa->lock);
		usleep(5000);
	}
}

static void
record_console(struct fake_agent *fa, const Nicvisor__V1__ConsoleData *cd)
{
	struct fa_console *c = NULL;
	size_t skip = 0, n;

	for (unsigned int i = 0; i < fa->ncons; i++) {
		if (strcmp(fa->cons[i].vm_id, cd->vm_id) == 0)
			c = &fa->cons[i];
	}
	if (c == NULL) {
		if (fa->ncons == 8)
			return;
		c = &fa->cons[fa->ncons++];
		snprintf(c->vm_id, sizeof(c->vm_id), "%s", cd->vm_id);
		c->first = c->next = cd->offset;
	}
	if (cd->offset > c->next)
		c->gaps++;
	else if (cd->offset < c->next)
		skip = (size_t)(c->next - cd->offset); /* a resend */
	if (skip >= cd->data.len)
		return;
	n = cd->data.len - skip;
	if (n > sizeof(c->data) - c->len)
		n = sizeof(c->data) - c->len;
	memcpy(c->data + c->len, cd->data.data + skip, n);
	c->len += n;
	c->next = cd->offset + cd->data.len;
}

static void
record_report(struct fa_report *r, const Nicvisor__V1__VmReport *v)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->vm_id, sizeof(r->vm_id), "%s", v->vm_id);
	r->state = v->state;
	r->exit = v->exit;
	snprintf(r->reason, sizeof(r->reason), "%s", v->reason);
	r->boots = v->boots;
	r->console_offset = v->console_offset;
	r->pid = v->pid;
	r->boot_ns = v->boot_ns;
	if (v->spec != NULL) {
		r->has_spec = true;
		r->spec_nics = (unsigned int)v->spec->n_nics;
		r->spec_disks = (unsigned int)v->spec->n_disks;
		if (v->spec->n_nics > 0)
			snprintf(r->spec_nic0_network, sizeof(r->spec_nic0_network), "%s",
				 v->spec->nics[0]->network);
		if (v->spec->n_disks > 0) {
			snprintf(r->spec_disk0_volume, sizeof(r->spec_disk0_volume), "%s",
				 v->spec->disks[0]->volume);
			r->spec_disk0_ro = v->spec->disks[0]->read_only;
		}
	}
}

static void
serve_chunk(struct fake_agent *fa, struct nv_rpc_call *call, const Nicvisor__V1__ReadArtifact *ra)
{
	HostResponse rep = NICVISOR__V1__HOST_RESPONSE__INIT;
	Nicvisor__V1__ArtifactChunk ch = NICVISOR__V1__ARTIFACT_CHUNK__INIT;
	uint8_t *copy;
	size_t n;

	for (unsigned int i = 0; i < fa->nblobs; i++) {
		if (strcmp(fa->blobs[i].id, ra->artifact_id) != 0)
			continue;
		if (ra->offset > fa->blobs[i].len || ra->length > (1u << 20))
			return reply_status(call, NICVISOR__V1__CODE__CODE_INVALID_ARGUMENT);
		n = fa->blobs[i].len - ra->offset < ra->length ? fa->blobs[i].len - ra->offset
							       : ra->length;
		copy = malloc(n + 1);
		memcpy(copy, fa->blobs[i].data + ra->offset, n);
		if (fa->fault == FA_FAULT_CORRUPT && n > 0)
			copy[n / 2] ^= 0x5a;
		if (fa->fault == FA_FAULT_SHORT && n > 0)
			n--;
		if (fa->fault == FA_FAULT_LONG)
			copy[n++] = 0;
		ch.artifact_id = ra->artifact_id;
		ch.offset = ra->offset;
		ch.data.data = copy;
		ch.data.len = n;
		rep.version = NV_PROTOCOL_VERSION;
		rep.result_case = NICVISOR__V1__HOST_RESPONSE__RESULT_CHUNK;
		rep.chunk = &ch;
		nv_rpc_reply(call, &rep.base);
		free(copy);
		return;
	}
	reply_status(call, NICVISOR__V1__CODE__CODE_NOT_FOUND);
}

static void
handle(void *opaque, struct nv_rpc_call *call, const uint8_t *buf, size_t len)
{
	struct fake_agent *fa = opaque;
	HostRequest *r = NULL;

	pthread_mutex_lock(&fa->lock);
	if (fa->away && !fa->stopping && fa->nheld < 64) {
		fa->held[fa->nheld++] = call;
		goto out;
	}
	if (fa->away || fa->partitioned || fa->stopping) {
		nv_rpc_drop(call);
		goto out;
	}
	if (nv_wire_unpack(&nicvisor__v1__host_request__descriptor, buf, len,
			   (ProtobufCMessage **)&r) < 0) {
		fa->bad_requests++;
		reply_status(call, NICVISOR__V1__CODE__CODE_MALFORMED);
		goto out;
	}
	if (fa->garbage_replies > 0 && r->op_case != NICVISOR__V1__HOST_REQUEST__OP_POLL) {
		/* Field 1 as a string: a HostResponse decoder must refuse it. */
		Nicvisor__V1__ConsoleData junk = NICVISOR__V1__CONSOLE_DATA__INIT;

		fa->garbage_replies--;
		junk.vm_id = "not a response";
		nv_rpc_reply(call, &junk.base);
		goto out;
	}
	if (r->op_case == NICVISOR__V1__HOST_REQUEST__OP_HELLO) {
		HostResponse rep = NICVISOR__V1__HOST_RESPONSE__INIT;
		Nicvisor__V1__HelloReply hr = NICVISOR__V1__HELLO_REPLY__INIT;

		fa->hellos++;
		snprintf(fa->session, sizeof(fa->session), "s%u-%u", fa->epoch, fa->hellos);
		fa->hello_vms = (unsigned int)r->hello->n_vms;
		for (size_t i = 0; i < r->hello->n_vms && i < 8; i++)
			record_report(&fa->hello_vm[i], r->hello->vms[i]);
		fa->hello_caps_cores = r->hello->caps ? r->hello->caps->cores : 0;
		hr.session = fa->session;
		hr.heartbeat_ms = fa->heartbeat_ms;
		hr.dead_after_ms = fa->dead_after_ms;
		rep.version = NV_PROTOCOL_VERSION;
		rep.result_case = NICVISOR__V1__HOST_RESPONSE__RESULT_HELLO;
		rep.hello = &hr;
		nv_rpc_reply(call, &rep.base);
		goto out;
	}
	if (fa->session[0] == 0 || strcmp(r->session, fa->session) != 0) {
		reply_status(call, NICVISOR__V1__CODE__CODE_UNAUTHENTICATED);
		goto out;
	}
	switch (r->op_case) {
	case NICVISOR__V1__HOST_REQUEST__OP_POLL: {
		unsigned int keep = 0;

		fa->polls++;
		if (r->poll->ack_seq > fa->acked)
			fa->acked = r->poll->ack_seq;
		for (unsigned int i = 0; i < fa->ncmds; i++) {
			if (fa->cmds[i].seq <= r->poll->ack_seq)
				free(fa->cmds[i].packed);
			else
				fa->cmds[keep++] = fa->cmds[i];
		}
		fa->ncmds = keep;
		if (fa->poll_call != NULL) {
			fa->overlapping_polls++;
			answer_poll(fa);
		}
		fa->poll_call = call;
		fa->poll_since_ns = nv_mono_ns();
		break;
	}
	case NICVISOR__V1__HOST_REQUEST__OP_READ_ARTIFACT:
		fa->reads++;
		serve_chunk(fa, call, r->read_artifact);
		break;
	case NICVISOR__V1__HOST_REQUEST__OP_VM_REPORT:
		if (fa->nreports < 1024)
			record_report(&fa->reports[fa->nreports++], r->vm_report);
		reply_status(call, NICVISOR__V1__CODE__CODE_OK);
		break;
	case NICVISOR__V1__HOST_REQUEST__OP_CONSOLE:
		record_console(fa, r->console);
		reply_status(call, NICVISOR__V1__CODE__CODE_OK);
		break;
	default:
		fa->bad_requests++;
		reply_status(call, NICVISOR__V1__CODE__CODE_UNIMPLEMENTED);
	}
out:
	pthread_cond_broadcast(&fa->changed);
	pthread_mutex_unlock(&fa->lock);
	nv_wire_free(r ? &r->base : NULL);
}

int
fa_start(struct fake_agent *fa, const char *url, uint32_t heartbeat_ms)
{
	memset(fa, 0, sizeof(*fa));
	pthread_mutex_init(&fa->lock, NULL);
	pthread_cond_init(&fa->changed, NULL);
	snprintf(fa->url, sizeof(fa->url), "%s", url);
	fa->heartbeat_ms = heartbeat_ms;
	fa->dead_after_ms = 3 * heartbeat_ms;
	fa->next_seq = 1;
	fa->epoch = 1;
	if (nv_rpc_server_open(url, handle, fa, &fa->srv) < 0)
		return -1;
	return pthread_create(&fa->ticker, NULL, ticker_main, fa) == 0 ? 0 : -1;
}

void
fa_away(struct fake_agent *fa)
{
	pthread_mutex_lock(&fa->lock);
	fa->away = true;
	if (fa->poll_call != NULL && fa->nheld < 64)
		fa->held[fa->nheld++] = fa->poll_call;
	else if (fa->poll_call != NULL)
		nv_rpc_drop(fa->poll_call);
	fa->poll_call = NULL;
	pthread_mutex_unlock(&fa->lock);
}

int
fa_back(struct fake_agent *fa)
{
	pthread_mutex_lock(&fa->lock);
	fa->epoch++;
	fa->session[0] = 0;
	for (unsigned int i = 0; i < fa->ncmds; i++)
		free(fa->cmds[i].packed);
	fa->ncmds = 0;
	fa->next_seq = 1; /* a new agent numbers from 1 again */
	fa->acked = 0;
	fa->away = false;
	for (unsigned int i = 0; i < fa->nheld; i++)
		reply_status(fa->held[i], NICVISOR__V1__CODE__CODE_UNAUTHENTICATED);
	fa->nheld = 0;
	pthread_mutex_unlock(&fa->lock);
	return 0;
}

void
fa_stop(struct fake_agent *fa)
{
	struct nv_rpc_server *srv;

	pthread_mutex_lock(&fa->lock);
	fa->stopping = true;
	fa->poll_call = NULL; /* freed by the server's close, with the held ones */
	fa->nheld = 0;
	srv = fa->srv;
	fa->srv = NULL;
	pthread_mutex_unlock(&fa->lock);
	nv_rpc_server_close(srv);
	pthread_join(fa->ticker, NULL);
	for (unsigned int i = 0; i < fa->ncmds; i++)
		free(fa->cmds[i].packed);
	for (unsigned int i = 0; i < fa->nblobs; i++)
		free(fa->blobs[i].data);
}

void
fa_add_blob(struct fake_agent *fa, const void *data, size_t len, char id[65])
{
	fa_sha256_hex(data, len, id);
	pthread_mutex_lock(&fa->lock);
	if (fa->nblobs < 8) {
		snprintf(fa->blobs[fa->nblobs].id, 65, "%s", id);
		fa->blobs[fa->nblobs].data = malloc(len);
		memcpy(fa->blobs[fa->nblobs].data, data, len);
		fa->blobs[fa->nblobs].len = len;
		fa->nblobs++;
	}
	pthread_mutex_unlock(&fa->lock);
}

uint64_t
fa_push(struct fake_agent *fa, const Nicvisor__V1__Command *cmd)
{
	Nicvisor__V1__Command c = *cmd;
	uint64_t seq;

	pthread_mutex_lock(&fa->lock);
	if (c.seq == 0)
		c.seq = fa->next_seq++;
	seq = c.seq;
	fa->cmds[fa->ncmds].seq = seq;
	fa->cmds[fa->ncmds].len = protobuf_c_message_get_packed_size(&c.base);
	fa->cmds[fa->ncmds].packed = malloc(fa->cmds[fa->ncmds].len + 1);
	protobuf_c_message_pack(&c.base, fa->cmds[fa->ncmds].packed);
	fa->ncmds++;
	pthread_mutex_unlock(&fa->lock);
	return seq;
}

uint64_t
fa_push_launch(struct fake_agent *fa, const char *vm_id, const char *kernel_id,
	       uint64_t kernel_size, const char *initrd_id, uint64_t initrd_size)
{
	Nicvisor__V1__Command c = NICVISOR__V1__COMMAND__INIT;
	Nicvisor__V1__LaunchVm l = NICVISOR__V1__LAUNCH_VM__INIT;
	Nicvisor__V1__VmSpec spec = NICVISOR__V1__VM_SPEC__INIT;
	Nicvisor__V1__Artifact k = NICVISOR__V1__ARTIFACT__INIT;
	Nicvisor__V1__Artifact i = NICVISOR__V1__ARTIFACT__INIT;

	spec.name = (char *)vm_id;
	spec.vcpus = 1;
	spec.memory_mib = 32;
	spec.kernel = "kernel";
	spec.cmdline = "console=ttyS0";
	k.id = (char *)kernel_id;
	k.size = kernel_size;
	l.vm_id = (char *)vm_id;
	l.spec = &spec;
	l.kernel = &k;
	if (initrd_id != NULL) {
		i.id = (char *)initrd_id;
		i.size = initrd_size;
		l.initrd = &i;
	}
	c.op_case = NICVISOR__V1__COMMAND__OP_LAUNCH;
	c.launch = &l;
	return fa_push(fa, &c);
}

uint64_t
fa_push_launch_nics(struct fake_agent *fa, const char *vm_id, const char *kernel_id,
		    uint64_t kernel_size, const char *const *nics, unsigned int n)
{
	Nicvisor__V1__Command c = NICVISOR__V1__COMMAND__INIT;
	Nicvisor__V1__LaunchVm l = NICVISOR__V1__LAUNCH_VM__INIT;
	Nicvisor__V1__VmSpec spec = NICVISOR__V1__VM_SPEC__INIT;
	Nicvisor__V1__Artifact k = NICVISOR__V1__ARTIFACT__INIT;
	Nicvisor__V1__NicAttachment a[8], *ap[8];
	char buf[8][160];

	spec.name = (char *)vm_id;
	spec.vcpus = 1;
	spec.memory_mib = 32;
	spec.kernel = "kernel";
	spec.cmdline = "console=ttyS0";
	k.id = (char *)kernel_id;
	k.size = kernel_size;
	l.vm_id = (char *)vm_id;
	l.spec = &spec;
	l.kernel = &k;
	for (unsigned int i = 0; i < n && i < 8; i++) {
		char *sock, *pairs;

		snprintf(buf[i], sizeof(buf[i]), "%s", nics[i]);
		nicvisor__v1__nic_attachment__init(&a[i]);
		sock = strchr(buf[i], ',');
		pairs = sock ? strchr(sock + 1, ',') : NULL;
		if (sock != NULL)
			*sock++ = 0;
		if (pairs != NULL)
			*pairs++ = 0;
		a[i].index = i;
		a[i].mac = buf[i];
		a[i].vhost_user_socket = sock ? sock : "";
		a[i].queue_pairs = pairs ? (uint32_t)strtoul(pairs, NULL, 10) : 1;
		ap[i] = &a[i];
	}
	l.n_nics = n;
	l.nics = ap;
	c.op_case = NICVISOR__V1__COMMAND__OP_LAUNCH;
	c.launch = &l;
	return fa_push(fa, &c);
}

uint64_t
fa_push_launch_disks(struct fake_agent *fa, const char *vm_id, const char *kernel_id,
		     uint64_t kernel_size, uint32_t vcpus, const char *const *disks, unsigned int n)
{
	Nicvisor__V1__Command c = NICVISOR__V1__COMMAND__INIT;
	Nicvisor__V1__LaunchVm l = NICVISOR__V1__LAUNCH_VM__INIT;
	Nicvisor__V1__VmSpec spec = NICVISOR__V1__VM_SPEC__INIT;
	Nicvisor__V1__Artifact k = NICVISOR__V1__ARTIFACT__INIT;
	Nicvisor__V1__NicSpec nic = NICVISOR__V1__NIC_SPEC__INIT, *nicp = &nic;
	Nicvisor__V1__DiskAttachment a[10], *ap[10];
	Nicvisor__V1__DiskSpec ds[10], *dsp[10];
	char buf[10][160], vol[10][16];

	spec.name = (char *)vm_id;
	spec.vcpus = vcpus;
	spec.memory_mib = 32;
	spec.kernel = "kernel";
	spec.cmdline = "console=ttyS0";
	nic.network = "net-a";
	nic.mac = "52:54:00:00:00:01";
	spec.nics = &nicp;
	spec.n_nics = 1;
	k.id = (char *)kernel_id;
	k.size = kernel_size;
	l.vm_id = (char *)vm_id;
	l.spec = &spec;
	l.kernel = &k;
	if (n > 10)
		n = 10;
	for (unsigned int i = 0; i < n; i++) {
		char *queues, *ro;

		snprintf(buf[i], sizeof(buf[i]), "%s", disks[i]);
		nicvisor__v1__disk_attachment__init(&a[i]);
		queues = strchr(buf[i], ',');
		ro = queues ? strchr(queues + 1, ',') : NULL;
		if (queues != NULL)
			*queues++ = 0;
		if (ro != NULL)
			*ro++ = 0;
		a[i].index = i;
		a[i].vhost_user_socket = buf[i];
		a[i].queues = queues ? (uint32_t)strtoul(queues, NULL, 10) : 1;
		a[i].read_only = ro != NULL && strcmp(ro, "ro") == 0;
		a[i].serial = vol[i];
		a[i].size_bytes = 1 << 20;
		ap[i] = &a[i];
		snprintf(vol[i], sizeof(vol[i]), "vol-%u", i);
		nicvisor__v1__disk_spec__init(&ds[i]);
		ds[i].volume = vol[i];
		ds[i].read_only = a[i].read_only;
		dsp[i] = &ds[i];
	}
	spec.n_disks = n;
	spec.disks = dsp;
	l.n_disks = n;
	l.disks = ap;
	c.op_case = NICVISOR__V1__COMMAND__OP_LAUNCH;
	c.launch = &l;
	return fa_push(fa, &c);
}

uint64_t
fa_push_stop(struct fake_agent *fa, const char *vm_id, uint32_t timeout_ms, bool force, bool forget)
{
	Nicvisor__V1__Command c = NICVISOR__V1__COMMAND__INIT;
	Nicvisor__V1__StopVm s = NICVISOR__V1__STOP_VM__INIT;

	s.vm_id = (char *)vm_id;
	s.timeout_ms = timeout_ms;
	s.force = force;
	s.forget = forget;
	c.op_case = NICVISOR__V1__COMMAND__OP_STOP;
	c.stop = &s;
	return fa_push(fa, &c);
}

/* Wait on fa->changed until ready(fa, arg) or the timeout. Holds the lock
 * while ready runs. */
static bool
wait_for(struct fake_agent *fa, bool (*ready)(struct fake_agent *, void *), void *arg,
	 int timeout_ms)
{
	struct timespec ts;
	bool ok;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&fa->lock);
	while (!(ok = ready(fa, arg))) {
		if (pthread_cond_timedwait(&fa->changed, &fa->lock, &ts) == ETIMEDOUT) {
			ok = ready(fa, arg);
			break;
		}
	}
	pthread_mutex_unlock(&fa->lock);
	return ok;
}

struct report_q {
	const char *vm_id;
	int state, exit;
	unsigned int from;
	struct fa_report *out;
};

static bool
report_ready(struct fake_agent *fa, void *arg)
{
	struct report_q *q = arg;

	for (unsigned int i = q->from; i < fa->nreports; i++) {
		const struct fa_report *r = &fa->reports[i];

		if (strcmp(r->vm_id, q->vm_id) == 0 && r->state == q->state &&
		    (q->exit < 0 || r->exit == q->exit)) {
			if (q->out != NULL)
				*q->out = *r;
			q->from = i + 1;
			return true;
		}
	}
	return false;
}

bool
fa_wait_report(struct fake_agent *fa, const char *vm_id, int state, int exit, unsigned int *from,
	       struct fa_report *out, int timeout_ms)
{
	struct report_q q = { vm_id, state, exit, from ? *from : 0, out };
	bool ok = wait_for(fa, report_ready, &q, timeout_ms);

	if (ok && from != NULL)
		*from = q.from;
	return ok;
}

struct console_q {
	const char *vm_id, *text;
};

static bool
console_ready(struct fake_agent *fa, void *arg)
{
	struct console_q *q = arg;

	for (unsigned int i = 0; i < fa->ncons; i++) {
		if (strcmp(fa->cons[i].vm_id, q->vm_id) == 0)
			return memmem(fa->cons[i].data, fa->cons[i].len, q->text,
				      strlen(q->text)) != NULL;
	}
	return false;
}

bool
fa_wait_console(struct fake_agent *fa, const char *vm_id, const char *text, int timeout_ms)
{
	struct console_q q = { vm_id, text };

	return wait_for(fa, console_ready, &q, timeout_ms);
}

struct count_q {
	const unsigned int *counter;
	unsigned int v;
};

static bool
count_ready(struct fake_agent *fa, void *arg)
{
	struct count_q *q = arg;

	(void)fa;
	return *q->counter >= q->v;
}

bool
fa_wait_count(struct fake_agent *fa, const unsigned int *counter, unsigned int v, int timeout_ms)
{
	struct count_q q = { counter, v };

	return wait_for(fa, count_ready, &q, timeout_ms);
}

static bool
acked_ready(struct fake_agent *fa, void *arg)
{
	return fa->acked >= *(uint64_t *)arg;
}

bool
fa_wait_acked(struct fake_agent *fa, uint64_t seq, int timeout_ms)
{
	return wait_for(fa, acked_ready, &seq, timeout_ms);
}

bool
fa_console_get(struct fake_agent *fa, const char *vm_id, struct fa_console *out)
{
	bool found = false;

	pthread_mutex_lock(&fa->lock);
	for (unsigned int i = 0; i < fa->ncons; i++) {
		if (strcmp(fa->cons[i].vm_id, vm_id) == 0) {
			*out = fa->cons[i];
			found = true;
		}
	}
	pthread_mutex_unlock(&fa->lock);
	return found;
}
