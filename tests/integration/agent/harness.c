/* SPDX-License-Identifier: MIT */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <mbedtls/sha256.h>
#include <mbedtls/version.h>
#include <nng/protocol/pubsub0/sub.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nv_rpc.h"
#include "nv_wire.h"

#if MBEDTLS_VERSION_MAJOR < 3
#define sha256(b, n, out) mbedtls_sha256_ret((b), (n), (out), 0)
#else
#define sha256(b, n, out) mbedtls_sha256((b), (n), (out), 0)
#endif

uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void
sleep_ms(int ms)
{
	usleep((useconds_t)ms * 1000);
}

static const char *
binary(const char *env)
{
	const char *p = getenv(env);

	if (p == NULL || p[0] == 0) {
		fprintf(stderr, "harness: $%s is not set (run through meson test)\n", env);
		exit(1);
	}
	return p;
}

int
agent_spawn(struct agent_proc *ap)
{
	char hb[16], dead[16];
	const char *argv[64];
	size_t n = 0;
	pid_t pid;

	snprintf(hb, sizeof(hb), "%u", ap->heartbeat_ms);
	snprintf(dead, sizeof(dead), "%u", ap->dead_after_ms);
	argv[n++] = binary("NICVISOR_DPU");
	argv[n++] = "--api";
	argv[n++] = ap->api;
	argv[n++] = "--events";
	argv[n++] = ap->events;
	argv[n++] = "--southbound";
	argv[n++] = ap->south;
	argv[n++] = "--state-dir";
	argv[n++] = ap->state;
	argv[n++] = "--heartbeat-ms";
	argv[n++] = hb;
	argv[n++] = "--dead-after-ms";
	argv[n++] = dead;
	argv[n++] = "--log-level";
	argv[n++] = getenv("AGENT_LOG_LEVEL") ? getenv("AGENT_LOG_LEVEL") : "info";
	argv[n++] = "--vhost-dir";
	argv[n++] = ap->vhost;
	if (ap->dataplane != NULL) {
		argv[n++] = "--dataplane";
		argv[n++] = ap->dataplane;
	}
	for (size_t i = 0; ap->extra[i] != NULL && n < 63; i++)
		argv[n++] = ap->extra[i];
	argv[n] = NULL;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	ap->pid = pid;
	if (ap->client == NULL &&
	    nv_rpc_client_open(ap->api, NV_RPC_DIAL_BACKGROUND, &ap->client) < 0)
		return -1;
	for (int i = 0; i < 100; i++) {
		if (agent_alive(ap))
			return 0;
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			ap->pid = 0;
			return -1;
		}
		sleep_ms(50);
	}
	return -1;
}

int
agent_setup(struct agent_proc *ap, uint32_t heartbeat_ms, uint32_t dead_after_ms)
{
	return agent_setup_with(ap, heartbeat_ms, dead_after_ms, "fake", NULL);
}

int
agent_setup_with(struct agent_proc *ap, uint32_t heartbeat_ms, uint32_t dead_after_ms,
		 const char *dataplane, const char *const *extra)
{
	memset(ap, 0, sizeof(*ap));
	ap->dataplane = dataplane;
	for (size_t i = 0; extra != NULL && extra[i] != NULL && i < 15; i++)
		ap->extra[i] = extra[i];
	snprintf(ap->dir, sizeof(ap->dir), "%s/nv-agent-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(ap->dir) == NULL)
		return -1;
	snprintf(ap->api, sizeof(ap->api), "ipc://%s/api.sock", ap->dir);
	snprintf(ap->events, sizeof(ap->events), "ipc://%s/events.sock", ap->dir);
	snprintf(ap->south, sizeof(ap->south), "ipc://%s/host.sock", ap->dir);
	snprintf(ap->state, sizeof(ap->state), "%s/state", ap->dir);
	snprintf(ap->vhost, sizeof(ap->vhost), "%s/vhost", ap->dir);
	ap->heartbeat_ms = heartbeat_ms;
	ap->dead_after_ms = dead_after_ms;
	return agent_spawn(ap);
}

int
agent_kill(struct agent_proc *ap, int sig)
{
	int status = -1;

	if (ap->pid <= 0)
		return -1;
	kill(ap->pid, sig);
	for (int i = 0; i < 100; i++) {
		if (waitpid(ap->pid, &status, WNOHANG) == ap->pid) {
			ap->pid = 0;
			return status;
		}
		sleep_ms(50);
	}
	kill(ap->pid, SIGKILL);
	waitpid(ap->pid, &status, 0);
	ap->pid = 0;
	return status;
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void
agent_teardown(struct agent_proc *ap)
{
	agent_kill(ap, SIGTERM);
	nv_rpc_client_close(ap->client);
	ap->client = NULL;
	if (ap->dir[0] != 0 && getenv("KEEP_TEST_DIR") == NULL)
		nftw(ap->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

Nicvisor__V1__Response *
api_call_ms(struct agent_proc *ap, Nicvisor__V1__Request *req, int timeout_ms)
{
	Nicvisor__V1__Response *rep = NULL;

	if (req->version == 0)
		req->version = NV_PROTOCOL_VERSION;
	if (nv_rpc_client_call(ap->client, &req->base, &nicvisor__v1__response__descriptor,
			       timeout_ms, (ProtobufCMessage **)&rep) < 0)
		return NULL;
	return rep;
}

Nicvisor__V1__Response *
api_call(struct agent_proc *ap, Nicvisor__V1__Request *req)
{
	return api_call_ms(ap, req, 5000);
}

bool
agent_alive(struct agent_proc *ap)
{
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__ListVmsRequest lr = NICVISOR__V1__LIST_VMS_REQUEST__INIT;
	Nicvisor__V1__Response *rep = NULL;
	bool ok;

	req.version = NV_PROTOCOL_VERSION;
	req.op_case = NICVISOR__V1__REQUEST__OP_LIST_VMS;
	req.list_vms = &lr;
	if (nv_rpc_client_call(ap->client, &req.base, &nicvisor__v1__response__descriptor, 2000,
			       (ProtobufCMessage **)&rep) < 0)
		return false;
	ok = rep->status != NULL && rep->status->code == NICVISOR__V1__CODE__CODE_OK &&
	     rep->vms != NULL;
	nv_wire_free(&rep->base);
	return ok;
}

uint8_t *
raw_call(const char *url, const void *buf, size_t len, int timeout_ms, size_t *rep_len)
{
	struct nv_rpc_client *c;
	uint8_t *rep = NULL;

	*rep_len = 0;
	if (nv_rpc_client_open(url, NV_RPC_DIAL_WAIT, &c) < 0)
		return NULL;
	if (nv_rpc_client_call_raw(c, buf, len, timeout_ms, &rep, rep_len) < 0)
		rep = NULL;
	nv_rpc_client_close(c);
	return rep;
}

bool
raw_ipc_unanswered(const char *url, size_t len, int timeout_ms)
{
	/* SP header of a req0 peer (protocol 0x30), then a message: type 1,
	 * 64-bit big-endian length, a 4-byte request id, the body. */
	static const uint8_t hello[8] = { 0, 'S', 'P', 0, 0x00, 0x30, 0, 0 };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uint64_t total = len + 4;
	uint8_t hdr[13], peer[8], *body;
	struct pollfd p;
	bool closed = false;
	size_t off = 0;
	int fd;

	if (strncmp(url, "ipc://", 6) != 0 || strlen(url + 6) >= sizeof(sa.sun_path))
		return false;
	strcpy(sa.sun_path, url + 6);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    write(fd, hello, 8) != 8 || read(fd, peer, 8) != 8) {
		if (fd >= 0)
			close(fd);
		return false;
	}
	hdr[0] = 1;
	for (int i = 0; i < 8; i++)
		hdr[1 + i] = (uint8_t)(total >> (56 - 8 * i));
	memcpy(hdr + 9, "\x80\x00\x00\x01", 4);
	body = calloc(1, len);
	if (send(fd, hdr, sizeof(hdr), MSG_NOSIGNAL) == (ssize_t)sizeof(hdr)) {
		while (off < len) {
			ssize_t n = send(fd, body + off, len - off, MSG_NOSIGNAL);

			if (n <= 0)
				break;
			off += (size_t)n;
		}
	}
	free(body);
	p.fd = fd;
	p.events = POLLIN;
	if (poll(&p, 1, timeout_ms) == 1) {
		uint8_t b;

		closed = read(fd, &b, 1) <= 0;
	}
	close(fd);
	return closed;
}

static int
code_of(Nicvisor__V1__Response *rep)
{
	if (rep == NULL)
		return -1;
	return rep->status ? (int)rep->status->code : 0;
}

int
api_create(struct agent_proc *ap, const char *name, const char *kernel, const char *initrd,
	   uint32_t vcpus, uint64_t memory_mib, bool start, Nicvisor__V1__Response **out)
{
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__CreateVmRequest cr = NICVISOR__V1__CREATE_VM_REQUEST__INIT;
	Nicvisor__V1__VmSpec spec = NICVISOR__V1__VM_SPEC__INIT;
	Nicvisor__V1__Response *rep;
	int code;

	spec.name = (char *)name;
	spec.kernel = (char *)kernel;
	spec.initrd = (char *)(initrd ? initrd : "");
	spec.vcpus = vcpus;
	spec.memory_mib = memory_mib;
	spec.cmdline = "console=ttyS0";
	cr.spec = &spec;
	cr.start = start;
	req.op_case = NICVISOR__V1__REQUEST__OP_CREATE_VM;
	req.create_vm = &cr;
	rep = api_call(ap, &req);
	code = code_of(rep);
	if (out != NULL)
		*out = rep;
	else
		nv_wire_free((ProtobufCMessage *)rep);
	return code;
}

int
api_simple(struct agent_proc *ap, int op, const char *vm, bool force, Nicvisor__V1__Response **out)
{
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__StartVmRequest start = NICVISOR__V1__START_VM_REQUEST__INIT;
	Nicvisor__V1__StopVmRequest stop = NICVISOR__V1__STOP_VM_REQUEST__INIT;
	Nicvisor__V1__DeleteVmRequest del = NICVISOR__V1__DELETE_VM_REQUEST__INIT;
	Nicvisor__V1__GetVmRequest get = NICVISOR__V1__GET_VM_REQUEST__INIT;
	Nicvisor__V1__Response *rep;
	int code;

	req.op_case = (Nicvisor__V1__Request__OpCase)op;
	switch (op) {
	case NICVISOR__V1__REQUEST__OP_START_VM:
		start.vm = (char *)vm;
		req.start_vm = &start;
		break;
	case NICVISOR__V1__REQUEST__OP_STOP_VM:
		stop.vm = (char *)vm;
		stop.force = force;
		stop.timeout_ms = 2000;
		req.stop_vm = &stop;
		break;
	case NICVISOR__V1__REQUEST__OP_DELETE_VM:
		del.vm = (char *)vm;
		del.force = force;
		req.delete_vm = &del;
		break;
	default:
		get.vm = (char *)vm;
		req.op_case = NICVISOR__V1__REQUEST__OP_GET_VM;
		req.get_vm = &get;
	}
	rep = api_call(ap, &req);
	code = code_of(rep);
	if (out != NULL)
		*out = rep;
	else
		nv_wire_free((ProtobufCMessage *)rep);
	return code;
}

int
api_vm_state(struct agent_proc *ap, const char *vm)
{
	Nicvisor__V1__Response *rep;
	int state = -1;

	if (api_simple(ap, NICVISOR__V1__REQUEST__OP_GET_VM, vm, false, &rep) == 0 &&
	    rep->vm != NULL)
		state = (int)rep->vm->state;
	nv_wire_free((ProtobufCMessage *)rep);
	return state;
}

bool
api_wait_state(struct agent_proc *ap, const char *vm, int state, int timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;

	do {
		if (api_vm_state(ap, vm) == state)
			return true;
		sleep_ms(20);
	} while (now_ms() < end);
	return false;
}

int
sub_open(struct sub *s, const char *url, const char *topic)
{
	if (nng_sub0_open(&s->sock) != 0)
		return -1;
	nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, NV_WIRE_MAX_MSG + NV_TOPIC_MAX);
	if (nng_socket_set(s->sock, NNG_OPT_SUB_SUBSCRIBE, topic, strlen(topic)) != 0 ||
	    nng_dial(s->sock, url, NULL, 0) != 0) {
		nng_close(s->sock);
		return -1;
	}
	/* pub/sub has no handshake; let the subscription settle. */
	sleep_ms(50);
	return 0;
}

void
sub_close(struct sub *s)
{
	nng_close(s->sock);
}

Nicvisor__V1__Event *
sub_next(struct sub *s, int timeout_ms, char *topic, size_t topic_size)
{
	Nicvisor__V1__Event *ev = NULL;
	const uint8_t *payload;
	const char *t;
	size_t plen;
	nng_msg *msg;

	nng_socket_set_ms(s->sock, NNG_OPT_RECVTIMEO, timeout_ms);
	if (nng_recvmsg(s->sock, &msg, 0) != 0)
		return NULL;
	if (nv_wire_event_split(nng_msg_body(msg), nng_msg_len(msg), &t, &payload, &plen) == 0) {
		snprintf(topic, topic_size, "%s", t);
		nv_wire_unpack(&nicvisor__v1__event__descriptor, payload, plen,
			       (ProtobufCMessage **)&ev);
	}
	nng_msg_free(msg);
	return ev;
}

/* Read both pipes until EOF or the deadline. */
static void
drain(int out_fd, char *out, size_t out_size, int err_fd, char *err, size_t err_size,
      uint64_t deadline)
{
	size_t on = 0, en = 0;
	struct pollfd p[2] = { { out_fd, POLLIN, 0 }, { err_fd, POLLIN, 0 } };
	int open_fds = 2;

	while (open_fds > 0 && now_ms() < deadline) {
		if (poll(p, 2, (int)(deadline - now_ms())) <= 0)
			continue;
		for (int i = 0; i < 2; i++) {
			char tmp[4096];
			ssize_t n;

			if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = read(p[i].fd, tmp, sizeof(tmp));
			if (n <= 0) {
				p[i].fd = -1;
				open_fds--;
				continue;
			}
			if (i == 0 && out != NULL && on + 1 < out_size) {
				size_t k = (size_t)n < out_size - on - 1 ? (size_t)n
									 : out_size - on - 1;

				memcpy(out + on, tmp, k);
				on += k;
			}
			if (i == 1 && err != NULL && en + 1 < err_size) {
				size_t k = (size_t)n < err_size - en - 1 ? (size_t)n
									 : err_size - en - 1;

				memcpy(err + en, tmp, k);
				en += k;
			}
		}
	}
	if (out != NULL && out_size > 0)
		out[on] = 0;
	if (err != NULL && err_size > 0)
		err[en] = 0;
}

int
run_ctlv(struct agent_proc *ap, char *out, size_t out_size, char *err, size_t err_size,
	 int timeout_s, char *const *args)
{
	const char *ctl = binary("NICVISORCTL");
	char *argv[64];
	int po[2], pe[2], status, n = 0;
	uint64_t deadline = now_ms() + (uint64_t)timeout_s * 1000;
	pid_t pid;

	argv[n++] = (char *)ctl;
	argv[n++] = "--api";
	argv[n++] = ap->api;
	argv[n++] = "--events";
	argv[n++] = ap->events;
	for (int i = 0; args[i] != NULL && n < 63; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	if (pipe(po) < 0 || pipe(pe) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(po[1], 1);
		dup2(pe[1], 2);
		close(po[0]);
		close(pe[0]);
		execv(ctl, argv);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	drain(po[0], out, out_size, pe[0], err, err_size, deadline);
	close(po[0]);
	close(pe[0]);
	while (now_ms() < deadline) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
		sleep_ms(10);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

int
run_ctl(struct agent_proc *ap, char *out, size_t out_size, int timeout_s, ...)
{
	char *args[48];
	char err[4096];
	va_list va;
	int n = 0, rc;

	va_start(va, timeout_s);
	while (n < 47 && (args[n] = va_arg(va, char *)) != NULL)
		n++;
	va_end(va);
	args[n] = NULL;
	rc = run_ctlv(ap, out, out_size, err, sizeof(err), timeout_s, args);
	if (err[0] != 0)
		fprintf(stderr, "nicvisorctl %s: %s", args[0], err);
	return rc;
}

static int
make_file(const char *path, size_t size, uint32_t seed, bool kernel, char *sha_hex)
{
	uint8_t *b = malloc(size);
	uint8_t d[32];
	uint32_t x = seed * 2654435761u + 1;
	int fd, rc = 0;

	if (b == NULL)
		return -1;
	for (size_t i = 0; i < size; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		b[i] = (uint8_t)x;
	}
	if (kernel && size >= 0x206)
		memcpy(b + 0x202, "HdrS", 4);
	if (!kernel && size >= 2) {
		b[0] = 0x1f;
		b[1] = 0x8b;
	}
	sha256(b, size, d);
	for (int i = 0; i < 32; i++)
		snprintf(sha_hex + 2 * i, 3, "%02x", d[i]);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, b, size) != (ssize_t)size)
		rc = -1;
	if (fd >= 0)
		close(fd);
	free(b);
	return rc;
}

int
make_kernel(const char *path, size_t size, uint32_t seed, char *sha_hex)
{
	return make_file(path, size, seed, true, sha_hex);
}

int
make_initrd(const char *path, size_t size, uint32_t seed, char *sha_hex)
{
	return make_file(path, size, seed, false, sha_hex);
}
