/* SPDX-License-Identifier: MIT */
/*
 * nicvisor-dpu serving a disk for real: the agent in its default mode
 * (DPDK started when first needed: here by the disk, no network exists),
 * no hugepages, idle sleep; a file volume; a VM with that disk started on
 * a fake host. The vhost-user-blk socket LaunchVm.disks names is driven by
 * blk_driver (a userspace vhost-user-blk frontend, tests/integration/blk):
 * its "hostile" run writes a pattern and reads it back, then zeroes and
 * discards it, among refused requests. GetDiskStats and nicvisorctl stats
 * show the counters; the volume file shows what reached it; stopping the
 * VM removes the socket. The same for an NBD volume exported by Debian's
 * nbd-server (skipped without it), and again after an agent restart.
 * Then --dataplane on serves a VM's NIC and disk from one dataplane, and
 * --dataplane off refuses the disk with a reason. Exits 77 when the machine lacks root or
 * blk_driver is not built.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "fake_host.h"
#include "harness.h"
#include "nv_log.h"
#include "nv_wire.h"

#define CODE(x)  NICVISOR__V1__CODE__CODE_##x
#define STATE(x) NICVISOR__V1__VM_STATE__VM_STATE_##x
#define OP(x)    NICVISOR__V1__REQUEST__OP_##x

#define SKIP     77
#define MIB      (1024ull * 1024)
#define VOL_SIZE (8 * MIB)

static int failures;
/* nbd-server, to end if the agent stops answering (call() exits). */
static pid_t nbd_pid;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (cond) {                                                                        \
			printf("ok: ");                                                            \
		} else {                                                                           \
			printf("FAIL: ");                                                          \
			failures++;                                                                \
		}                                                                                  \
		printf(__VA_ARGS__);                                                               \
		printf("\n");                                                                      \
		fflush(stdout);                                                                    \
	} while (0)

/* One API call. Up to 60 s: a call that needs the dataplane may start
 * DPDK first, which takes seconds (tens on a loaded machine). No answer
 * ends the test, with the agent and nbd-server it started. */
static Nicvisor__V1__Response *
call(struct agent_proc *ap, Nicvisor__V1__Request *req)
{
	Nicvisor__V1__Response *rep = api_call_ms(ap, req, 60000);

	if (rep == NULL || rep->status == NULL) {
		fprintf(stderr, "FAIL: no answer from the agent within 60 s\n");
		if (nbd_pid > 0) {
			kill(nbd_pid, SIGKILL);
			waitpid(nbd_pid, NULL, 0);
		}
		setenv("KEEP_TEST_DIR", "1", 1);
		agent_teardown(ap);
		exit(1);
	}
	return rep;
}

/* CreateVolume of a file volume; its id in id (32 bytes). */
static int
create_volume(struct agent_proc *ap, const char *name, uint64_t size, char *id)
{
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__CreateVolumeRequest cv = NICVISOR__V1__CREATE_VOLUME_REQUEST__INIT;
	Nicvisor__V1__Response *rep;
	int code;

	cv.name = (char *)name;
	cv.size_bytes = size;
	cv.nbd_url = "";
	req.op_case = OP(CREATE_VOLUME);
	req.create_volume = &cv;
	rep = call(ap, &req);
	code = (int)rep->status->code;
	if (code == CODE(OK))
		snprintf(id, 32, "%s", rep->volume->id);
	else
		fprintf(stderr, "create volume %s: %s\n", name, rep->status->message);
	nv_wire_free(&rep->base);
	return code;
}

/* CreateVm (started) with one disk on volume, at most max_iops requests
 * per second (0: no limit); id (32 bytes) and the status message (msg,
 * may be NULL) back. */
static int
create_vm_lim(struct agent_proc *ap, const char *name, const char *kernel, const char *volume,
	      uint64_t max_iops, char *id, char *msg, size_t msglen)
{
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__CreateVmRequest cr = NICVISOR__V1__CREATE_VM_REQUEST__INIT;
	Nicvisor__V1__VmSpec spec = NICVISOR__V1__VM_SPEC__INIT;
	Nicvisor__V1__DiskSpec d = NICVISOR__V1__DISK_SPEC__INIT, *dp[1] = { &d };
	Nicvisor__V1__Response *rep;
	int code;

	d.volume = (char *)volume;
	d.max_iops = max_iops;
	spec.name = (char *)name;
	spec.vcpus = 1;
	spec.memory_mib = 64;
	spec.kernel = (char *)kernel;
	spec.disks = dp;
	spec.n_disks = 1;
	cr.spec = &spec;
	cr.start = true;
	req.op_case = OP(CREATE_VM);
	req.create_vm = &cr;
	rep = call(ap, &req);
	code = (int)rep->status->code;
	if (code == CODE(OK))
		snprintf(id, 32, "%s", rep->vm->id);
	if (msg != NULL)
		snprintf(msg, msglen, "%s", rep->status->message ? rep->status->message : "");
	nv_wire_free(&rep->base);
	return code;
}

static int
create_vm(struct agent_proc *ap, const char *name, const char *kernel, const char *volume, char *id,
	  char *msg, size_t msglen)
{
	return create_vm_lim(ap, name, kernel, volume, 0, id, msg, msglen);
}

struct disk_counters {
	uint64_t throttled, max_iops;
	bool served, connected;
	uint64_t read_ops, read_bytes, write_ops, write_bytes, flush_ops, discard_ops;
	uint64_t out_of_range, unsupported, bad_descriptor;
};

/* GetDiskStats of vm's one disk. */
static bool
disk_stats(struct agent_proc *ap, const char *vm, struct disk_counters *c)
{
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__GetDiskStatsRequest ds = NICVISOR__V1__GET_DISK_STATS_REQUEST__INIT;
	Nicvisor__V1__Response *rep;
	bool ok;

	memset(c, 0, sizeof(*c));
	ds.vm = (char *)vm;
	req.op_case = OP(GET_DISK_STATS);
	req.get_disk_stats = &ds;
	rep = call(ap, &req);
	ok = rep->status->code == CODE(OK) && rep->disk_stats != NULL &&
	     rep->disk_stats->n_disks == 1;
	if (ok) {
		const Nicvisor__V1__DiskStats *s = rep->disk_stats->disks[0];

		c->served = s->served;
		c->connected = s->connected;
		c->read_ops = s->read_ops;
		c->read_bytes = s->read_bytes;
		c->write_ops = s->write_ops;
		c->write_bytes = s->write_bytes;
		c->flush_ops = s->flush_ops;
		c->discard_ops = s->discard_ops;
		c->throttled = s->throttled;
		c->max_iops = s->max_iops;
		for (size_t i = 0; i < s->n_errors; i++) {
			if (strcmp(s->errors[i]->key, "out_of_range") == 0)
				c->out_of_range = s->errors[i]->value;
			else if (strcmp(s->errors[i]->key, "unsupported") == 0)
				c->unsupported = s->errors[i]->value;
			else if (strcmp(s->errors[i]->key, "bad_descriptor") == 0)
				c->bad_descriptor = s->errors[i]->value;
		}
		printf("  %s: served %d connected %d reads %llu (%llu B) writes %llu (%llu B) "
		       "flushes %llu discards %llu errors: out_of_range %llu unsupported %llu "
		       "bad_descriptor %llu\n",
		       s->disk, c->served, c->connected, (unsigned long long)c->read_ops,
		       (unsigned long long)c->read_bytes, (unsigned long long)c->write_ops,
		       (unsigned long long)c->write_bytes, (unsigned long long)c->flush_ops,
		       (unsigned long long)c->discard_ops, (unsigned long long)c->out_of_range,
		       (unsigned long long)c->unsupported, (unsigned long long)c->bad_descriptor);
	}
	nv_wire_free(&rep->base);
	return ok;
}

/* Whether the process has a thread whose name starts with prefix. */
static bool
has_thread(pid_t pid, const char *prefix)
{
	char path[64];
	struct dirent *e;
	bool found = false;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	while (d != NULL && !found && (e = readdir(d)) != NULL) {
		char comm[300], name[64] = "";
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(comm, sizeof(comm), "%s/%s/comm", path, e->d_name);
		f = fopen(comm, "r");
		if (f != NULL) {
			if (fgets(name, sizeof(name), f) != NULL &&
			    strncmp(name, prefix, strlen(prefix)) == 0)
				found = true;
			fclose(f);
		}
	}
	if (d != NULL)
		closedir(d);
	return found;
}

static bool
is_socket(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 && S_ISSOCK(sb.st_mode);
}

/* Run driver with args, its stdout and stderr to log; its exit status, or
 * -1 if it did not finish within timeout_ms (then killed). */
static int
run_driver(const char *driver, const char *log, int timeout_ms, char *const *args)
{
	uint64_t t0 = now_ms();
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		if (fd < 0)
			_exit(127);
		dup2(fd, 1);
		dup2(fd, 2);
		execv(driver, args);
		_exit(127);
	}
	while (now_ms() - t0 < (uint64_t)timeout_ms) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
		sleep_ms(50);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

static char *
slurp(const char *path)
{
	struct stat sb;
	char *buf = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	if (fstat(fd, &sb) == 0 && (buf = calloc(1, (size_t)sb.st_size + 1)) != NULL &&
	    read(fd, buf, (size_t)sb.st_size) != sb.st_size) {
		free(buf);
		buf = NULL;
	}
	close(fd);
	return buf;
}

/* Every byte of len at off in path is b. */
static bool
file_bytes_are(const char *path, off_t off, size_t len, uint8_t b)
{
	uint8_t buf[4096];
	bool ok = len <= sizeof(buf);
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	ok = ok && pread(fd, buf, len, off) == (ssize_t)len;
	for (size_t i = 0; ok && i < len; i++)
		ok = buf[i] == b;
	close(fd);
	return ok;
}

static bool
fill_file(const char *path, off_t off, size_t len, uint8_t b)
{
	uint8_t buf[16384];
	bool ok;
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0 || len > sizeof(buf)) {
		if (fd >= 0)
			close(fd);
		return false;
	}
	memset(buf, b, len);
	ok = pwrite(fd, buf, len, off) == (ssize_t)len && fsync(fd) == 0;
	close(fd);
	return ok;
}

static bool
have_cmd(const char *cmd)
{
	const char *path = getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin";
	char buf[4096], *save = NULL, *dir;

	snprintf(buf, sizeof(buf), "%s", path);
	for (dir = strtok_r(buf, ":", &save); dir != NULL; dir = strtok_r(NULL, ":", &save)) {
		char p[4200];

		snprintf(p, sizeof(p), "%s/%s", dir, cmd);
		if (access(p, X_OK) == 0)
			return true;
	}
	return false;
}

/* A TCP port on 127.0.0.1 nobody listens on now. */
static int
free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* Whether /proc/net/tcp shows a listener on 127.0.0.1:port (without
 * connecting: nbd-server -d serves one client). */
static bool
tcp_listening(int port)
{
	char line[512], want[32];
	bool found = false;
	FILE *f = fopen("/proc/net/tcp", "re");

	if (f == NULL)
		return false;
	snprintf(want, sizeof(want), "0100007F:%04X", port);
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		char local[64], remote[64], st[8];

		if (sscanf(line, "%*s %63s %63s %7s", local, remote, st) == 3 &&
		    strcmp(local, want) == 0 && strcmp(st, "0A") == 0)
			found = true;
	}
	fclose(f);
	return found;
}

/* An NBD volume through the same backend: Debian's nbd-server exports a
 * file on 127.0.0.1; a VM with that volume as its disk, blk_driver on the
 * socket; what reached the export shows in its file. */
static void
test_nbd(struct agent_proc *ap, struct fake_host *host, const char *kernel, const char *driver)
{
	char exp[400], conf[400], log[400], url[128], vol_id[32], vm_id[32], msg[512] = "";
	char cap[32], *text;
	struct disk_counters dc;
	struct fake_vm fv;
	uint64_t t0;
	pid_t pid;
	int port, fd, rc;
	FILE *f;

	if (!have_cmd("nbd-server")) {
		printf("skip: nbd-server is not installed (Debian package nbd-server): no NBD "
		       "volume\n");
		return;
	}
	snprintf(exp, sizeof(exp), "%s/export.img", ap->dir);
	snprintf(conf, sizeof(conf), "%s/nbd.conf", ap->dir);
	snprintf(log, sizeof(log), "%s/nbd-server.log", ap->dir);
	port = free_port();
	fd = open(exp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(port > 0 && fd >= 0 && ftruncate(fd, (off_t)(4 * MIB)) == 0,
	      "an export file of 4 MiB, port %d", port);
	if (fd >= 0)
		close(fd);
	f = fopen(conf, "we");
	if (f == NULL || failures) {
		if (f != NULL)
			fclose(f);
		CHECK(false, "nbd-server configuration written");
		return;
	}
	fprintf(f,
		"[generic]\n  listenaddr = 127.0.0.1\n  port = %d\n[exp]\n  exportname = %s\n"
		"  flush = true\n  trim = true\n",
		port, exp);
	fclose(f);
	CHECK(fill_file(exp, 0, 24 * 512, 0xff), "the export file is prepared");
	pid = fork();
	if (pid == 0) {
		int lfd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		if (lfd >= 0) {
			dup2(lfd, 1);
			dup2(lfd, 2);
		}
		execlp("nbd-server", "nbd-server", "-C", conf, "-d", (char *)NULL);
		_exit(127);
	}
	nbd_pid = pid;
	t0 = now_ms();
	while (pid > 0 && !tcp_listening(port) && now_ms() - t0 < 10000 &&
	       waitpid(pid, NULL, WNOHANG) == 0)
		sleep_ms(50);
	CHECK(pid > 0 && tcp_listening(port), "nbd-server listens on 127.0.0.1:%d", port);
	if (failures)
		goto out;

	snprintf(url, sizeof(url), "nbd://127.0.0.1:%d/exp", port);
	{
		Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
		Nicvisor__V1__CreateVolumeRequest cv = NICVISOR__V1__CREATE_VOLUME_REQUEST__INIT;
		Nicvisor__V1__Response *rep;

		cv.name = "remote";
		cv.size_bytes = 4 * MIB;
		cv.nbd_url = url;
		req.op_case = OP(CREATE_VOLUME);
		req.create_volume = &cv;
		rep = call(ap, &req);
		rc = (int)rep->status->code;
		if (rc == CODE(OK))
			snprintf(vol_id, sizeof(vol_id), "%s", rep->volume->id);
		nv_wire_free(&rep->base);
	}
	CHECK(rc == CODE(OK), "NBD volume remote (%s)", url);
	rc = create_vm(ap, "rb", kernel, "remote", vm_id, msg, sizeof(msg));
	CHECK(rc == CODE(OK), "vm rb with the NBD disk started: %s", rc == CODE(OK) ? "" : msg);
	if (failures)
		goto out;
	CHECK(fake_host_wait_vm(host, vm_id, STATE(RUNNING), 10000, &fv) && fv.ndisks == 1 &&
		      is_socket(fv.disks[0].socket),
	      "LaunchVm carries the disk; the dataplane listens on %s", fv.disks[0].socket);
	if (failures)
		goto out;
	snprintf(cap, sizeof(cap), "%llu", (unsigned long long)(4 * MIB / 512));
	{
		char dlog[400];
		char *args[] = { (char *)driver, fv.disks[0].socket, "hostile", cap, vol_id, NULL };

		snprintf(dlog, sizeof(dlog), "%s/blk_driver_nbd.log", ap->dir);
		t0 = now_ms();
		rc = run_driver(driver, dlog, 60000, args);
		text = slurp(dlog);
	}
	CHECK(rc == 0 && text != NULL && strstr(text, "DONE failures=0") != NULL &&
		      strstr(text, "CASE readback status=0 used_len=0 ok=1") != NULL,
	      "blk_driver on the NBD disk: write, read back, bad requests (exit %d, %llu ms)", rc,
	      (unsigned long long)(now_ms() - t0));
	if (rc != 0 && text != NULL)
		fputs(text, stdout);
	free(text);
	CHECK(disk_stats(ap, "rb", &dc) && dc.write_ops >= 1 && dc.read_ops >= 4 &&
		      dc.flush_ops >= 1 && dc.out_of_range >= 1,
	      "GetDiskStats counts the NBD disk's requests");
	CHECK(file_bytes_are(exp, 8 * 512, 4096, 0) && file_bytes_are(exp, 0, 4096, 0xff) &&
		      file_bytes_are(exp, 16 * 512, 4096, 0xff),
	      "the exported file holds the driver's last writes, nothing else changed");
	CHECK(api_simple(ap, OP(STOP_VM), "rb", false, NULL) == CODE(OK) &&
		      api_wait_state(ap, "rb", STATE(STOPPED), 10000),
	      "vm rb stopped");
	t0 = now_ms();
	while (access(fv.disks[0].socket, F_OK) == 0 && now_ms() - t0 < 5000)
		sleep_ms(50);
	CHECK(access(fv.disks[0].socket, F_OK) != 0, "the NBD disk's socket is gone");
out:
	if (pid > 0) {
		kill(pid, SIGTERM);
		t0 = now_ms();
		while (waitpid(pid, NULL, WNOHANG) == 0 && now_ms() - t0 < 5000)
			sleep_ms(50);
		if (waitpid(pid, NULL, WNOHANG) == 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
	}
	nbd_pid = 0;
}

/* A disk limited to 200 requests per second through the API: blk_driver's
 * 100 reads (16 in flight) take at least (100 - 21) / 200 s (the bucket
 * holds a tenth of a second's worth, plus one), and GetDiskStats shows the
 * limit and the polls that held requests back. */
static void
test_limits(struct agent_proc *ap, struct fake_host *host, const char *kernel, const char *driver)
{
	char vol_id[32], vm_id[32], msg[512] = "", dlog[400], *text;
	struct disk_counters dc;
	struct fake_vm fv;
	uint64_t t0, ms;
	int rc;

	CHECK(create_volume(ap, "slow", VOL_SIZE, vol_id) == CODE(OK), "volume slow created");
	rc = create_vm_lim(ap, "lim", kernel, "slow", 200, vm_id, msg, sizeof(msg));
	CHECK(rc == CODE(OK), "vm lim with a disk of at most 200 requests/s started: %s",
	      rc == CODE(OK) ? "" : msg);
	if (failures)
		return;
	CHECK(fake_host_wait_vm(host, vm_id, STATE(RUNNING), 10000, &fv) && fv.ndisks == 1 &&
		      is_socket(fv.disks[0].socket),
	      "the dataplane serves its disk on %s", fv.disks[0].socket);
	if (failures)
		return;
	{
		char *args[] = { (char *)driver, fv.disks[0].socket, "rate", "100", NULL };

		snprintf(dlog, sizeof(dlog), "%s/blk_driver_lim.log", ap->dir);
		t0 = now_ms();
		rc = run_driver(driver, dlog, 60000, args);
		ms = now_ms() - t0;
		text = slurp(dlog);
	}
	{
		const char *r = text != NULL ? strstr(text, "RATE n=100 ms=") : NULL;
		unsigned long in = r != NULL ? strtoul(r + 14, NULL, 10) : 0;

		/* the driver's own clock, from its first post; at least the
		 * tokens' time and not much more (the worker sleeps up to
		 * 1 ms when idle, --dp-idle-sleep) */
		CHECK(rc == 0 && r != NULL && in >= 390 && in <= 1000,
		      "100 reads at most 200/s took %lu ms (%llu ms with the connection): "
		      "395 ms of tokens",
		      in, (unsigned long long)ms);
	}
	free(text);
	CHECK(disk_stats(ap, "lim", &dc) && dc.read_ops == 100 && dc.max_iops == 200 &&
		      dc.throttled > 0,
	      "GetDiskStats: 100 reads, limit 200/s, %llu polls held requests back",
	      (unsigned long long)dc.throttled);
	CHECK(api_simple(ap, OP(STOP_VM), "lim", false, NULL) == CODE(OK) &&
		      api_wait_state(ap, "lim", STATE(STOPPED), 10000),
	      "vm lim stopped");
}

/* --dataplane on: DPDK at start; one VM with a NIC on a network and a
 * disk, both served by the one dataplane. */
static void
test_dataplane_on(const char *driver)
{
	static const char *const extra[] = { "--dp-no-huge", "--dp-idle-sleep", NULL };
	struct fake_host_conf hc = { .id = "h1", .cores = 2, .memory_mib = 4096 };
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__CreateNetworkRequest cn = NICVISOR__V1__CREATE_NETWORK_REQUEST__INIT;
	Nicvisor__V1__CreateVmRequest cr = NICVISOR__V1__CREATE_VM_REQUEST__INIT;
	Nicvisor__V1__VmSpec spec = NICVISOR__V1__VM_SPEC__INIT;
	Nicvisor__V1__NicSpec nic = NICVISOR__V1__NIC_SPEC__INIT, *nics[1] = { &nic };
	Nicvisor__V1__DiskSpec d = NICVISOR__V1__DISK_SPEC__INIT, *dp[1] = { &d };
	Nicvisor__V1__Response *rep;
	struct fake_host *host = NULL;
	struct disk_counters dc;
	struct agent_proc ap;
	struct fake_vm fv;
	char kernel[400], sha[65], vol[32], vm[32] = "", log[400], *text;
	int code, rc;

	if (agent_setup_with(&ap, 300, 60000, "on", extra) < 0) {
		CHECK(false, "nicvisor-dpu --dataplane on started");
		agent_teardown(&ap);
		return;
	}
	CHECK(has_thread(ap.pid, "rte-worker"), "--dataplane on: DPDK runs from the start");
	snprintf(kernel, sizeof(kernel), "%s/bzImage", ap.dir);
	hc.url = ap.south;
	CHECK(fake_host_start(&hc, &host) == 0 && fake_host_wait_hellos(host, 1, 5000) &&
		      make_kernel(kernel, 64 << 10, 7, sha) == 0 &&
		      create_volume(&ap, "data", VOL_SIZE, vol) == CODE(OK),
	      "--dataplane on: a host and a volume");
	cn.name = "blue";
	req.op_case = OP(CREATE_NETWORK);
	req.create_network = &cn;
	rep = call(&ap, &req);
	code = (int)rep->status->code;
	nv_wire_free(&rep->base);
	CHECK(code == CODE(OK), "network blue");
	nic.network = "blue";
	nic.mac = "02:00:00:00:0c:01";
	d.volume = "data";
	spec.name = "both";
	spec.vcpus = 1;
	spec.memory_mib = 64;
	spec.kernel = kernel;
	spec.nics = nics;
	spec.n_nics = 1;
	spec.disks = dp;
	spec.n_disks = 1;
	cr.spec = &spec;
	cr.start = true;
	memset(&req, 0, sizeof(req));
	nicvisor__v1__request__init(&req);
	req.op_case = OP(CREATE_VM);
	req.create_vm = &cr;
	rep = call(&ap, &req);
	code = (int)rep->status->code;
	if (code == CODE(OK))
		snprintf(vm, sizeof(vm), "%s", rep->vm->id);
	nv_wire_free(&rep->base);
	CHECK(code == CODE(OK) && fake_host_wait_vm(host, vm, STATE(RUNNING), 10000, &fv) &&
		      fv.nnics == 1 && fv.ndisks == 1 && is_socket(fv.nics[0].socket) &&
		      is_socket(fv.disks[0].socket),
	      "--dataplane on: vm both runs; its NIC's and its disk's sockets are served");
	if (failures)
		goto out;
	snprintf(log, sizeof(log), "%s/blk_driver.log", ap.dir);
	{
		char *args[] = { (char *)driver, fv.disks[0].socket, "rate", "32", NULL };

		rc = run_driver(driver, log, 60000, args);
	}
	text = slurp(log);
	CHECK(rc == 0 && text != NULL && strstr(text, "RATE n=32") != NULL &&
		      disk_stats(&ap, "both", &dc) && dc.read_ops >= 32,
	      "--dataplane on: blk_driver reads 32 blocks; GetDiskStats counts them");
	free(text);
out:
	fake_host_stop(host);
	CHECK(agent_kill(&ap, SIGTERM) == 0, "--dataplane on: the agent shuts down cleanly");
	if (failures)
		setenv("KEEP_TEST_DIR", "1", 1);
	agent_teardown(&ap);
}

/* --dataplane off: a VM with a disk is refused, with the reason. */
static void
test_dataplane_off(void)
{
	struct fake_host_conf hc = { .id = "h1", .cores = 2, .memory_mib = 4096 };
	struct fake_host *host = NULL;
	struct agent_proc ap;
	char kernel[400], sha[65], vol[32], vm[32], msg[512] = "";
	int code;

	if (agent_setup_with(&ap, 300, 1200, "off", NULL) < 0) {
		CHECK(false, "nicvisor-dpu --dataplane off started");
		agent_teardown(&ap);
		return;
	}
	snprintf(kernel, sizeof(kernel), "%s/bzImage", ap.dir);
	hc.url = ap.south;
	CHECK(fake_host_start(&hc, &host) == 0 && fake_host_wait_hellos(host, 1, 5000) &&
		      make_kernel(kernel, 64 << 10, 5, sha) == 0 &&
		      create_volume(&ap, "data", VOL_SIZE, vol) == CODE(OK),
	      "--dataplane off: a host and a volume");
	code = create_vm(&ap, "v", kernel, "data", vm, msg, sizeof(msg));
	CHECK(code == CODE(FAILED_PRECONDITION) && strstr(msg, "--dataplane off") != NULL &&
		      strstr(msg, "block backend") != NULL,
	      "--dataplane off: a VM with a disk is refused (code %d: %s)", code, msg);
	fake_host_stop(host);
	if (failures)
		setenv("KEEP_TEST_DIR", "1", 1);
	agent_teardown(&ap);
}

int
main(void)
{
	static const char *const extra[] = { "--dp-no-huge", "--dp-idle-sleep", NULL };
	struct fake_host_conf hc = { .id = "h1", .cores = 2, .memory_mib = 4096 };
	const char *driver = getenv("NV_BLK_DRIVER");
	struct disk_counters dc;
	struct fake_host_stats hs;
	struct agent_proc ap;
	struct fake_host *host = NULL;
	struct fake_vm fv;
	char kernel[400], sha[65], vol_id[32], vm_id[32], volfile[700], log[400], cap[32];
	char sock[128] = "", want[128], out[16384], *text;
	uint64_t t0;
	int rc;

	nv_log_init("dp_blk_test", NV_LOG_WARN);
	if (geteuid() != 0) {
		printf("SKIP: the DPDK dataplane needs root\n");
		return SKIP;
	}
	if (driver == NULL || access(driver, X_OK) != 0) {
		printf("SKIP: blk_driver (tests/integration/blk) is not built\n");
		return SKIP;
	}
	/* The first disk starts DPDK with the agent's lock held (the EAL
	 * took 0.5 to 21 s here, on a loaded machine), which stalls hosts'
	 * polls too: they are declared lost only after 60 s of silence. */
	if (agent_setup_with(&ap, 300, 60000, NULL, extra) < 0) {
		fprintf(stderr, "nicvisor-dpu in its default mode did not start\n");
		agent_teardown(&ap);
		return 1;
	}
	snprintf(kernel, sizeof(kernel), "%s/bzImage", ap.dir);
	hc.url = ap.south;
	if (make_kernel(kernel, 64 << 10, 3, sha) < 0 || fake_host_start(&hc, &host) < 0 ||
	    !fake_host_wait_hellos(host, 1, 5000)) {
		fprintf(stderr, "set-up failed\n");
		failures++;
		goto out;
	}
	CHECK(create_volume(&ap, "data", VOL_SIZE, vol_id) == CODE(OK), "volume data (%s) created",
	      vol_id);
	snprintf(volfile, sizeof(volfile), "%s/volumes/%s.img", ap.state, vol_id);
	/* 0xff over sectors 0..23: what the driver's requests change shows. */
	CHECK(fill_file(volfile, 0, 24 * 512, 0xff), "the volume file %s is prepared", volfile);
	CHECK(!has_thread(ap.pid, "rte-worker"), "no DPDK thread before a disk is needed");
	t0 = now_ms();
	rc = create_vm(&ap, "db", kernel, "data", vm_id, out, sizeof(out));
	CHECK(rc == CODE(OK), "vm db with disk data created and started (%llu ms): %s",
	      (unsigned long long)(now_ms() - t0), rc == CODE(OK) ? "" : out);
	if (failures)
		goto out;
	CHECK(fake_host_wait_vm(host, vm_id, STATE(RUNNING), 10000, &fv) && fv.ndisks == 1,
	      "LaunchVm carries the disk");
	if (failures)
		goto out;
	snprintf(sock, sizeof(sock), "%s", fv.disks[0].socket);
	snprintf(want, sizeof(want), "%s/%s-disk0.sock", ap.vhost, vm_id);
	CHECK(strcmp(sock, want) == 0 && is_socket(sock),
	      "the dataplane listens on the socket LaunchVm names (%s)", sock);
	CHECK(fv.disks[0].size_bytes == VOL_SIZE && strcmp(fv.disks[0].serial, vol_id) == 0,
	      "LaunchVm gives the volume's size and id as serial");
	CHECK(has_thread(ap.pid, "rte-worker"),
	      "the disk started the dataplane, whose worker lcores serve it");
	CHECK(disk_stats(&ap, "db", &dc) && dc.served && !dc.connected && dc.read_ops == 0,
	      "GetDiskStats: served, no frontend yet, no reads");

	/* The frontend: blk_driver's hostile run on the disk's socket. */
	snprintf(log, sizeof(log), "%s/blk_driver.log", ap.dir);
	snprintf(cap, sizeof(cap), "%llu", (unsigned long long)(VOL_SIZE / 512));
	{
		char *args[] = { (char *)driver, sock, "hostile", cap, vol_id, NULL };

		t0 = now_ms();
		rc = run_driver(driver, log, 60000, args);
	}
	text = slurp(log);
	CHECK(rc == 0 && text != NULL && strstr(text, "DONE failures=0") != NULL &&
		      strstr(text, "CASE readback status=0 used_len=0 ok=1") != NULL &&
		      strstr(text, "CASE serial status=0 used_len=0 ok=1") != NULL,
	      "blk_driver wrote, read back the same bytes, read the volume id as serial and "
	      "got the right status for every bad request (exit %d, %llu ms)",
	      rc, (unsigned long long)(now_ms() - t0));
	if (rc != 0 && text != NULL)
		fputs(text, stdout);
	free(text);

	CHECK(disk_stats(&ap, "db", &dc) && dc.served && dc.write_ops >= 1 &&
		      dc.write_bytes >= 4096 && dc.read_ops >= 4 && dc.read_bytes >= 4 * 4096 &&
		      dc.flush_ops >= 1 && dc.discard_ops >= 1,
	      "GetDiskStats counts the driver's writes, reads, flush and discard");
	CHECK(dc.out_of_range >= 1 && dc.unsupported >= 1 && dc.bad_descriptor >= 1,
	      "GetDiskStats counts the refused requests by reason");
	/* The write put a pattern on sectors 8..15, the driver then zeroed
	 * and discarded them; sectors 0..7 and 16..23 were refused or not
	 * touched. */
	CHECK(file_bytes_are(volfile, 8 * 512, 4096, 0),
	      "the volume file holds the driver's last writes (sectors 8..15 zero)");
	CHECK(file_bytes_are(volfile, 0, 4096, 0xff) &&
		      file_bytes_are(volfile, 16 * 512, 4096, 0xff),
	      "and nothing else changed (sectors 0..7 and 16..23 as prepared)");
	{
		char *args[] = { "stats", "db", NULL };
		char err[4096];

		snprintf(want, sizeof(want), "%s/disk0", vm_id);
		CHECK(run_ctlv(&ap, out, sizeof(out), err, sizeof(err), 10, args) == 0 &&
			      strstr(out, "DISK") != NULL && strstr(out, want) != NULL,
		      "nicvisorctl stats shows the disk");
		fputs(out, stdout);
	}

	/* Stopped: the socket goes. */
	CHECK(api_simple(&ap, OP(STOP_VM), "db", false, NULL) == CODE(OK) &&
		      api_wait_state(&ap, "db", STATE(STOPPED), 10000),
	      "vm db stopped");
	t0 = now_ms();
	while (access(sock, F_OK) == 0 && now_ms() - t0 < 5000)
		sleep_ms(50);
	CHECK(access(sock, F_OK) != 0, "the disk's socket is gone");
	CHECK(disk_stats(&ap, "db", &dc) && !dc.served, "GetDiskStats: no longer served");

	/* Started again: served again on the same socket. */
	CHECK(api_simple(&ap, OP(START_VM), "db", false, NULL) == CODE(OK) &&
		      api_wait_state(&ap, "db", STATE(RUNNING), 10000) && is_socket(sock),
	      "started again, the disk is served again");
	{
		char *args[] = { (char *)driver, sock, "rate", "64", NULL };

		rc = run_driver(driver, log, 60000, args);
		text = slurp(log);
		CHECK(rc == 0 && text != NULL && strstr(text, "RATE n=64") != NULL,
		      "blk_driver reads 64 blocks after the restart");
		free(text);
	}
	CHECK(disk_stats(&ap, "db", &dc) && dc.read_ops >= 64, "and GetDiskStats counts them");

	/* The agent restarts while the VM runs, first after SIGTERM, then
	 * after SIGKILL (its socket file left behind, the EAL's files of the
	 * same prefix too): the host reports the VM at its next Hello and
	 * the disk is served again on the same socket. */
	CHECK(agent_kill(&ap, SIGTERM) == 0 && access(sock, F_OK) != 0,
	      "the agent stops; its disk socket goes with it");
	CHECK(agent_spawn(&ap) == 0 && fake_host_wait_hellos(host, 2, 10000),
	      "the agent is back and the host said Hello again");
	t0 = now_ms();
	while (!is_socket(sock) && now_ms() - t0 < 10000)
		sleep_ms(50);
	CHECK(is_socket(sock), "the running VM's disk is served again (%llu ms)",
	      (unsigned long long)(now_ms() - t0));
	/* The host keeps quiet across this restart: the agent serves the
	 * disk of a VM saved as running before any Hello. */
	fake_host_set_silent(host, true);
	rc = agent_kill(&ap, SIGKILL);
	CHECK(WIFSIGNALED(rc) && WTERMSIG(rc) == SIGKILL && is_socket(sock),
	      "kill -9 of the agent leaves the socket file behind");
	CHECK(file_bytes_are(volfile, 8 * 512, 4096, 0) && file_bytes_are(volfile, 0, 4096, 0xff),
	      "the flushed writes are in the volume file after kill -9");
	t0 = now_ms();
	CHECK(agent_spawn(&ap) == 0 && disk_stats(&ap, "db", &dc) && dc.served && is_socket(sock) &&
		      has_thread(ap.pid, "rte-worker"),
	      "the agent is back after kill -9 and serves the running VM's disk before the "
	      "host speaks (%llu ms)",
	      (unsigned long long)(now_ms() - t0));
	fake_host_get_stats(host, &hs);
	CHECK(hs.hellos == 2, "(no Hello yet: %u)", hs.hellos);
	fake_host_set_silent(host, false);
	CHECK(fake_host_wait_hellos(host, 3, 10000) &&
		      api_wait_state(&ap, "db", STATE(RUNNING), 5000),
	      "the host said Hello again; the VM is still running");
	{
		char *args[] = { (char *)driver, sock, "rate", "16", NULL };

		rc = run_driver(driver, log, 60000, args);
		text = slurp(log);
		CHECK(rc == 0 && text != NULL && strstr(text, "RATE n=16") != NULL &&
			      disk_stats(&ap, "db", &dc) && dc.read_ops >= 16,
		      "blk_driver reads 16 blocks from it, GetDiskStats counts them");
		free(text);
	}
	if (!failures)
		test_limits(&ap, host, kernel, driver);
	if (!failures)
		test_nbd(&ap, host, kernel, driver);

out:
	fake_host_stop(host);
	CHECK(agent_kill(&ap, SIGTERM) == 0, "the agent with its disks shuts down cleanly");
	CHECK(sock[0] == 0 || access(sock, F_OK) != 0, "no disk socket is left behind");
	if (failures)
		setenv("KEEP_TEST_DIR", "1", 1);
	agent_teardown(&ap);
	test_dataplane_on(driver);
	test_dataplane_off();
	printf("%s\n", failures ? "FAILED" : "PASSED");
	return failures ? 1 : 0;
}
