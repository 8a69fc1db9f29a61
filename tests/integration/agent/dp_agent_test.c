/* SPDX-License-Identifier: MIT */
/*
 * nicvisor-dpu with the real dataplane (DPDK, no hugepages, one worker,
 * idle sleep): two VMs with a NIC each on one network, started on a fake
 * host; the socket each LaunchVm names gets a driver, one dpdk-testpmd
 * net_virtio_user port per NIC (each testpmd its own --file-prefix).
 * Frames from one reach the other through the switch, and GetPortStats
 * (and nicvisorctl stats) show the counters. Then the default mode: DPDK
 * starts with the first network, and at agent start when networks are
 * saved. Exits 77 only when the machine lacks root or dpdk-testpmd.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fake_host.h"
#include "harness.h"
#include "nv_log.h"
#include "nv_wire.h"

#define CODE(x)  NICVISOR__V1__CODE__CODE_##x
#define STATE(x) NICVISOR__V1__VM_STATE__VM_STATE_##x
#define OP(x)    NICVISOR__V1__REQUEST__OP_##x

#define SKIP     77
#define TESTPMD  "dpdk-testpmd"
#define MAC_A    "02:00:00:00:0a:01"
#define MAC_B    "02:00:00:00:0b:01"

static int failures;

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

/* One dpdk-testpmd with one net_virtio_user port, driven on its stdin;
 * its output goes to a file that is read back. */
struct testpmd {
	pid_t pid;
	int in;
	char log[400];
	size_t mark; /* bytes of the log already looked at */
};

static char *
read_log(const struct testpmd *t, size_t *len)
{
	struct stat sb;
	char *buf;
	int fd = open(t->log, O_RDONLY);

	*len = 0;
	if (fd < 0 || fstat(fd, &sb) < 0) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	buf = calloc(1, (size_t)sb.st_size + 1);
	if (buf != NULL && read(fd, buf, (size_t)sb.st_size) == sb.st_size)
		*len = (size_t)sb.st_size;
	close(fd);
	return buf;
}

/* Wait until the output after the mark shows the prompt; the text between
 * (malloc'd) in *out if out != NULL. */
static bool
wait_prompt(struct testpmd *t, int timeout_ms, char **out)
{
	uint64_t t0 = now_ms();

	while (now_ms() - t0 < (uint64_t)timeout_ms) {
		size_t len;
		char *buf = read_log(t, &len), *p;

		if (buf != NULL && len > t->mark &&
		    (p = strstr(buf + t->mark, "testpmd> ")) != NULL) {
			if (out != NULL)
				*out = strndup(buf + t->mark, (size_t)(p - (buf + t->mark)));
			t->mark = (size_t)(p - buf) + strlen("testpmd> ");
			free(buf);
			return true;
		}
		free(buf);
		if (waitpid(t->pid, NULL, WNOHANG) == t->pid) {
			t->pid = 0;
			return false;
		}
		sleep_ms(50);
	}
	return false;
}

static bool
tp_cmd(struct testpmd *t, const char *line, char **out)
{
	size_t n = strlen(line);

	if (write(t->in, line, n) != (ssize_t)n || write(t->in, "\n", 1) != 1)
		return false;
	return wait_prompt(t, 30000, out);
}

static int
tp_start(struct testpmd *t, const char *dir, const char *name, const char *socket, const char *mac)
{
	char prefix[64], vdev[512];
	int pipefd[2];
	pid_t pid;

	memset(t, 0, sizeof(*t));
	snprintf(t->log, sizeof(t->log), "%s/%s.log", dir, name);
	snprintf(prefix, sizeof(prefix), "nvtp%s%d", name, (int)getpid());
	snprintf(vdev, sizeof(vdev), "net_virtio_user0,path=%s,mac=%s", socket, mac);
	if (pipe(pipefd) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(t->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		dup2(pipefd[0], 0);
		dup2(fd, 1);
		dup2(fd, 2);
		close(pipefd[1]);
		/* stdbuf: testpmd's printf output must reach the file now. */
		execlp("stdbuf", "stdbuf", "-o0", TESTPMD, "-l", "0,1", "--no-huge", "-m", "512",
		       "--no-shconf", "--file-prefix", prefix, "--iova-mode=va",
		       "--single-file-segments", "--no-pci", "--log-level=lib.eal:warning",
		       "--vdev", vdev, "--", "-i", "--total-num-mbufs=16384", "--no-flush-rx",
		       (char *)NULL);
		_exit(127);
	}
	close(pipefd[0]);
	t->pid = pid;
	t->in = pipefd[1];
	return wait_prompt(t, 90000, NULL) ? 0 : -1;
}

static void
tp_stop(struct testpmd *t)
{
	if (t->pid <= 0)
		return;
	if (write(t->in, "quit\n", 5) == 5)
		for (int i = 0; i < 100 && waitpid(t->pid, NULL, WNOHANG) != t->pid; i++)
			sleep_ms(100);
	if (waitpid(t->pid, NULL, WNOHANG) != t->pid) {
		kill(t->pid, SIGKILL);
		waitpid(t->pid, NULL, 0);
	}
	close(t->in);
	t->pid = 0;
}

/* RX-packets of port 0 since the last clear, or -1. */
static long long
tp_rx_packets(struct testpmd *t)
{
	char *out = NULL;
	const char *p;
	long long n = -1;

	if (!tp_cmd(t, "show port stats 0", &out) || out == NULL)
		return -1;
	p = strstr(out, "RX-packets:");
	if (p != NULL)
		n = strtoll(p + strlen("RX-packets:"), NULL, 10);
	free(out);
	return n;
}

/* The testpmds of main(), to end if the agent stops answering. */
static struct testpmd ta, tb;

/* One API call. Up to 60 s: the first network starts DPDK in the default
 * mode, which took over 10 s on a loaded machine. No answer ends the
 * test, with the processes it started. */
static Nicvisor__V1__Response *
call(struct agent_proc *ap, Nicvisor__V1__Request *req)
{
	Nicvisor__V1__Response *rep = api_call_ms(ap, req, 60000);

	if (rep == NULL || rep->status == NULL) {
		fprintf(stderr, "FAIL: no answer from the agent within 60 s\n");
		tp_stop(&ta);
		tp_stop(&tb);
		setenv("KEEP_TEST_DIR", "1", 1);
		agent_teardown(ap);
		exit(1);
	}
	return rep;
}

static int
create_network(struct agent_proc *ap, const char *name)
{
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__CreateNetworkRequest cn = NICVISOR__V1__CREATE_NETWORK_REQUEST__INIT;
	Nicvisor__V1__Response *rep;
	int code;

	cn.name = (char *)name;
	req.op_case = OP(CREATE_NETWORK);
	req.create_network = &cn;
	rep = call(ap, &req);
	code = (int)rep->status->code;
	nv_wire_free(&rep->base);
	return code;
}

static int
create_vm(struct agent_proc *ap, const char *name, const char *kernel, const char *mac, char *id)
{
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__CreateVmRequest cr = NICVISOR__V1__CREATE_VM_REQUEST__INIT;
	Nicvisor__V1__VmSpec spec = NICVISOR__V1__VM_SPEC__INIT;
	Nicvisor__V1__NicSpec nic = NICVISOR__V1__NIC_SPEC__INIT, *nics[1] = { &nic };
	Nicvisor__V1__Response *rep;
	int code;

	nic.network = "blue";
	nic.mac = (char *)mac;
	spec.name = (char *)name;
	spec.vcpus = 1;
	spec.memory_mib = 64;
	spec.kernel = (char *)kernel;
	spec.nics = nics;
	spec.n_nics = 1;
	cr.spec = &spec;
	cr.start = true;
	req.op_case = OP(CREATE_VM);
	req.create_vm = &cr;
	rep = call(ap, &req);
	code = (int)rep->status->code;
	if (code == CODE(OK))
		snprintf(id, 32, "%s", rep->vm->id);
	else
		fprintf(stderr, "create %s: %s\n", name, rep->status->message);
	nv_wire_free(&rep->base);
	return code;
}

/* The one NIC of vm: its counters. */
static bool
nic_stats(struct agent_proc *ap, const char *vm, Nicvisor__V1__PortStats *out, uint64_t *spoofed)
{
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__GetPortStatsRequest ps = NICVISOR__V1__GET_PORT_STATS_REQUEST__INIT;
	Nicvisor__V1__Response *rep;
	bool ok;

	ps.vm = (char *)vm;
	req.op_case = OP(GET_PORT_STATS);
	req.get_port_stats = &ps;
	rep = call(ap, &req);
	ok = rep->status->code == CODE(OK) && rep->port_stats->n_ports == 1;
	if (ok) {
		const Nicvisor__V1__PortStats *p = rep->port_stats->ports[0];

		*out = *p;
		out->port = out->kind = out->network = out->mac = NULL;
		out->n_drops = 0;
		out->drops = NULL;
		*spoofed = 0;
		for (size_t i = 0; i < p->n_drops; i++)
			if (strcmp(p->drops[i]->key, "spoofed_src_mac") == 0)
				*spoofed = p->drops[i]->value;
		printf("  %s: %s %s link %s rx %llu tx %llu\n", vm, p->port, p->mac,
		       p->link_up ? "up" : "down", (unsigned long long)p->rx_packets,
		       (unsigned long long)p->tx_packets);
	}
	nv_wire_free(&rep->base);
	return ok;
}

/* The count of drop reason `reason` of vm's one NIC, or -1. */
static long long
nic_drops(struct agent_proc *ap, const char *vm, const char *reason)
{
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__GetPortStatsRequest ps = NICVISOR__V1__GET_PORT_STATS_REQUEST__INIT;
	Nicvisor__V1__Response *rep;
	long long n = -1;

	ps.vm = (char *)vm;
	req.op_case = OP(GET_PORT_STATS);
	req.get_port_stats = &ps;
	rep = call(ap, &req);
	if (rep->status->code == CODE(OK) && rep->port_stats->n_ports == 1)
		for (size_t i = 0; i < rep->port_stats->ports[0]->n_drops; i++)
			if (strcmp(rep->port_stats->ports[0]->drops[i]->key, reason) == 0)
				n = (long long)rep->port_stats->ports[0]->drops[i]->value;
	nv_wire_free(&rep->base);
	return n;
}

/* from's driver sends to to_mac for ms while to's drains: the frames
 * to's driver got. */
static long long
send_between(struct testpmd *from, struct testpmd *to, const char *to_mac, int ms)
{
	char peer[64];

	snprintf(peer, sizeof(peer), "set eth-peer 0 %s", to_mac);
	tp_cmd(to, "set fwd rxonly", NULL);
	tp_cmd(to, "clear port stats all", NULL);
	tp_cmd(to, "start", NULL);
	tp_cmd(from, peer, NULL);
	tp_cmd(from, "set fwd txonly", NULL);
	tp_cmd(from, "start", NULL);
	sleep_ms(ms);
	tp_cmd(from, "stop", NULL);
	sleep_ms(300);
	tp_cmd(to, "stop", NULL);
	return tp_rx_packets(to);
}

/* A NIC's rate limit and a mirror session, through nicvisorctl, on the
 * DPDK switch: the dataplane applies them and counts what they do. */
static void
qos_and_mirror(struct agent_proc *ap)
{
	char *qos[] = { "nic", "qos", "a", "0", "--from-vm", "8M", NULL };
	char *mirror[] = { "mirror", "create", "tap", "a", "0", "from_vm", "--to", "b:0", NULL };
	char *get[] = { "--json", "mirror", "get", "tap", NULL };
	char out[8192], err[4096];
	Nicvisor__V1__PortStats st;
	uint64_t spoofed;
	long long before, limited, got;

	CHECK(run_ctlv(ap, out, sizeof(out), err, sizeof(err), 10, qos) == 0,
	      "nicvisorctl nic qos limits what a sends: %s", err);
	CHECK(nic_stats(ap, "a", &st, &spoofed) && st.rx_limit_bits_per_second == 8000000 &&
		      st.rx_limit_burst_bytes == 131072,
	      "the switch has the limit, with its default burst (%llu)",
	      (unsigned long long)st.rx_limit_burst_bytes);
	before = nic_drops(ap, "a", "rate_limited");
	got = send_between(&ta, &tb, MAC_B, 1000);
	limited = nic_drops(ap, "a", "rate_limited") - before;
	/* 64-byte frames at 1 MB/s for about 1.3 s (the stop takes time),
	 * plus the burst. */
	CHECK(limited > 0 && got > 0 && got * 64 <= 1000000 * 2 + 131072,
	      "over the limit counted as rate_limited (%lld), %lld frames through", limited, got);

	CHECK(run_ctlv(ap, out, sizeof(out), err, sizeof(err), 10, mirror) == 0 &&
		      strstr(out, "created (active)") != NULL,
	      "nicvisorctl mirror create: a's frames copied to b (%s%s)", out, err);
	got = send_between(&ta, &tb, MAC_B, 300);
	CHECK(run_ctlv(ap, out, sizeof(out), err, sizeof(err), 10, get) == 0 &&
		      strstr(out, "\"active\":true") != NULL &&
		      strstr(out, "\"packets\":0,") == NULL,
	      "the session copied frames: %s", out);
	/* b gets a's frames twice: the original and the copy. */
	CHECK(nic_stats(ap, "b", &st, &spoofed) && got > 0, "b's driver got %lld frames", got);
}

/* Whether the process has a thread named like a DPDK worker lcore. */
static bool
has_dpdk_worker(pid_t pid)
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
			    strncmp(name, "rte-worker", 10) == 0)
				found = true;
			fclose(f);
		}
	}
	if (d != NULL)
		closedir(d);
	return found;
}

/* Default mode (no --dataplane): DPDK starts when first needed. */
static void
test_started_when_needed(void)
{
	static const char *const extra[] = { "--dp-no-huge", "--dp-idle-sleep", NULL };
	struct agent_proc ap;
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__GetPortStatsRequest ps = NICVISOR__V1__GET_PORT_STATS_REQUEST__INIT;
	Nicvisor__V1__Response *rep;

	if (agent_setup_with(&ap, 300, 1200, NULL, extra) < 0) {
		CHECK(false, "nicvisor-dpu in its default mode started");
		agent_teardown(&ap);
		return;
	}
	CHECK(!has_dpdk_worker(ap.pid), "no DPDK worker while there is no network");
	ps.vm = "";
	req.op_case = OP(GET_PORT_STATS);
	req.get_port_stats = &ps;
	rep = call(&ap, &req);
	CHECK(rep->status->code == CODE(OK) && rep->port_stats->n_ports == 0,
	      "GetPortStats answers, with no ports");
	nv_wire_free(&rep->base);
	CHECK(!has_dpdk_worker(ap.pid), "and does not start it");
	CHECK(create_network(&ap, "blue") == CODE(OK) && has_dpdk_worker(ap.pid),
	      "the first network starts it");
	CHECK(agent_kill(&ap, SIGTERM) == 0 && agent_spawn(&ap) == 0 && has_dpdk_worker(ap.pid),
	      "an agent with a saved network starts it at once");
	rep = call(&ap, &req);
	CHECK(rep->status->code == CODE(OK), "and serves it");
	nv_wire_free(&rep->base);
	if (failures)
		setenv("KEEP_TEST_DIR", "1", 1);
	agent_teardown(&ap);
}

static bool
have_testpmd(void)
{
	const char *path = getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin";
	char buf[4096], *save = NULL, *dir;

	snprintf(buf, sizeof(buf), "%s", path);
	for (dir = strtok_r(buf, ":", &save); dir != NULL; dir = strtok_r(NULL, ":", &save)) {
		char p[4200];

		snprintf(p, sizeof(p), "%s/%s", dir, TESTPMD);
		if (access(p, X_OK) == 0)
			return true;
	}
	return false;
}

int
main(void)
{
	static const char *const extra[] = { "--dp-no-huge", "--dp-workers", "1", "--dp-idle-sleep",
					     NULL };
	struct fake_host_conf hc = { .id = "h1", .cores = 2, .memory_mib = 4096 };
	Nicvisor__V1__PortStats sa, sb;
	struct agent_proc ap;
	struct fake_host *host = NULL;
	struct fake_vm va, vb;
	char kernel[400], sha[65], id_a[32], id_b[32], out[16384];
	uint64_t spoof_a = 0, spoof_b = 0;
	long long rx_b = -1, rx_a = -1;

	nv_log_init("dp_agent_test", NV_LOG_WARN);
	if (geteuid() != 0) {
		printf("SKIP: the DPDK dataplane and testpmd need root\n");
		return SKIP;
	}
	if (!have_testpmd()) {
		printf("SKIP: %s is not installed (Debian package dpdk)\n", TESTPMD);
		return SKIP;
	}
	if (agent_setup_with(&ap, 300, 1200, "on", extra) < 0) {
		fprintf(stderr, "nicvisor-dpu with --dataplane on did not start\n");
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
	CHECK(create_network(&ap, "blue") == CODE(OK), "network blue created on the DPDK switch");
	CHECK(create_vm(&ap, "a", kernel, MAC_A, id_a) == CODE(OK), "vm a with a NIC on blue");
	CHECK(create_vm(&ap, "b", kernel, MAC_B, id_b) == CODE(OK), "vm b with a NIC on blue");
	if (failures)
		goto out;
	CHECK(fake_host_wait_vm(host, id_a, STATE(RUNNING), 10000, &va) && va.nnics == 1 &&
		      fake_host_wait_vm(host, id_b, STATE(RUNNING), 10000, &vb) && vb.nnics == 1,
	      "LaunchVm of each carries its NIC");
	if (failures)
		goto out;
	CHECK(access(va.nics[0].socket, F_OK) == 0 && access(vb.nics[0].socket, F_OK) == 0,
	      "the dataplane listens on the sockets LaunchVm names (%s)", va.nics[0].socket);
	CHECK(nic_stats(&ap, "a", &sa, &spoof_a) && !sa.link_up,
	      "a's port is down before a driver");

	/* The VMs' drivers: one testpmd per NIC socket. */
	if (tp_start(&ta, ap.dir, "a", va.nics[0].socket, MAC_A) < 0 ||
	    tp_start(&tb, ap.dir, "b", vb.nics[0].socket, MAC_B) < 0) {
		CHECK(false, "dpdk-testpmd came up on both sockets (logs in %s)", ap.dir);
		goto out;
	}
	sleep_ms(500);
	CHECK(nic_stats(&ap, "a", &sa, &spoof_a) && sa.link_up &&
		      nic_stats(&ap, "b", &sb, &spoof_b) && sb.link_up,
	      "both ports are up once the drivers connected");

	/* b receives while a sends to b's MAC for a second. */
	tp_cmd(&tb, "set fwd rxonly", NULL);
	tp_cmd(&tb, "clear port stats all", NULL);
	tp_cmd(&tb, "start", NULL);
	tp_cmd(&ta, "set eth-peer 0 " MAC_B, NULL);
	tp_cmd(&ta, "set fwd txonly", NULL);
	tp_cmd(&ta, "start", NULL);
	{
		/* The live view while a sends: a's port and the worker are busy. */
		char *args[] = { "--json", "top", "--interval", "0.5", "--count", "1", NULL };
		char want[96], err[4096];
		const char *port;

		snprintf(want, sizeof(want), "{\"port\":\"%s/nic0\"", id_a);
		CHECK(run_ctlv(&ap, out, sizeof(out), err, sizeof(err), 10, args) == 0 &&
			      (port = strstr(out, want)) != NULL &&
			      strstr(port, "\"rx_pps\":0,") != strstr(port, "\"rx_pps\":") &&
			      strstr(out, "\"dataplane_running\":true") != NULL &&
			      strstr(out, "\"switch_busy_pct\":0.00,") == NULL &&
			      strstr(out, "\"pps\":0,") == NULL &&
			      strstr(out, "\"flow_hit_pct\":") != NULL &&
			      strstr(out, "\"flow_hit_pct\":0.00,") == NULL,
		      "nicvisorctl top: a's port receives, the worker switches, its flow cache "
		      "hits (%s)",
		      out);
	}
	sleep_ms(500);
	tp_cmd(&ta, "stop", NULL);
	sleep_ms(300);
	tp_cmd(&tb, "stop", NULL);
	rx_b = tp_rx_packets(&tb);
	CHECK(rx_b > 0, "b's driver received %lld frames from a through the switch", rx_b);
	CHECK(nic_stats(&ap, "a", &sa, &spoof_a) && sa.rx_packets > 0 && spoof_a == 0,
	      "GetPortStats: a's port took %llu frames into the switch, none spoofed",
	      (unsigned long long)sa.rx_packets);
	CHECK(nic_stats(&ap, "b", &sb, &spoof_b) && sb.tx_packets > 0 &&
		      (long long)sb.tx_packets >= rx_b && sb.tx_packets <= sa.rx_packets,
	      "GetPortStats: b's port sent %llu frames to its driver (it counted %lld)",
	      (unsigned long long)sb.tx_packets, rx_b);

	/* And back: b answers a. */
	rx_a = send_between(&tb, &ta, MAC_A, 500);
	CHECK(rx_a > 0, "a's driver received %lld frames from b", rx_a);
	CHECK(nic_stats(&ap, "a", &sa, &spoof_a) && sa.tx_packets > 0,
	      "GetPortStats: a's port sent %llu frames", (unsigned long long)sa.tx_packets);

	/* The operator's view. */
	{
		char *args[] = { "stats", NULL };
		char err[4096];
		char want[64];

		snprintf(want, sizeof(want), "%s/nic0", id_a);
		CHECK(run_ctlv(&ap, out, sizeof(out), err, sizeof(err), 10, args) == 0 &&
			      strstr(out, want) != NULL && strstr(out, " up ") != NULL,
		      "nicvisorctl stats shows the ports up");
		fputs(out, stdout);
	}
	qos_and_mirror(&ap);

out:
	tp_stop(&ta);
	tp_stop(&tb);
	fake_host_stop(host);
	CHECK(agent_kill(&ap, SIGTERM) == 0, "the agent with its dataplane shuts down cleanly");
	if (failures)
		setenv("KEEP_TEST_DIR", "1", 1);
	agent_teardown(&ap);
	test_started_when_needed();
	printf("%s\n", failures ? "FAILED" : "PASSED");
	return failures ? 1 : 0;
}
