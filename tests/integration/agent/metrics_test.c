/* SPDX-License-Identifier: MIT */
/*
 * nicvisor-dpu --metrics: the Prometheus endpoint of a real agent, read
 * over HTTP with a plain socket. Checks the exposition format line by
 * line (HELP and TYPE before a metric's samples, names, labels, values),
 * that API counters and latency histograms count what the test sent and
 * nothing else (scrapes are not API requests), VMs and their switch ports,
 * 404 and 405, and a bad --metrics value. With "dataplane" as argument,
 * the agent runs the DPDK switch and the workers' load is there.
 *
 * Usage: metrics_test [fake|dataplane]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "nv_wire.h"

#define CODE(x) NICVISOR__V1__CODE__CODE_##x
#define OP(x)   NICVISOR__V1__REQUEST__OP_##x

static int failures;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		bool ok_ = (cond);                                                                 \
		printf(ok_ ? "ok: " : "FAIL: ");                                                   \
		failures += !ok_;                                                                  \
		printf(__VA_ARGS__);                                                               \
		printf("\n");                                                                      \
	} while (0)

/* A port nobody listens on now (the agent binds it right after). */
static int
free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* One HTTP/1.0 request; the whole response (headers and body) in a
 * malloc'd string, or NULL. */
static char *
http(int port, const char *method, const char *path)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = 5 };
	size_t len = 0, cap = 1 << 16;
	char req[256], *buf = malloc(cap);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ssize_t n;

	if (buf == NULL || fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		goto fail;
	snprintf(req, sizeof(req), "%s %s HTTP/1.0\r\nHost: localhost\r\n\r\n", method, path);
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req))
		goto fail;
	while ((n = read(fd, buf + len, cap - len - 1)) > 0) {
		len += (size_t)n;
		if (len + 1 == cap) {
			char *b = realloc(buf, cap * 2);

			if (b == NULL)
				goto fail;
			buf = b;
			cap *= 2;
		}
	}
	buf[len] = 0;
	close(fd);
	if (len > 0)
		return buf;
fail:
	if (fd >= 0)
		close(fd);
	free(buf);
	return NULL;
}

static const char *
body_of(const char *resp)
{
	const char *b = resp ? strstr(resp, "\r\n\r\n") : NULL;

	return b ? b + 4 : "";
}

/* The value of the sample whose line starts with `series ` (name and
 * labels exactly), or -1. */
static double
sample(const char *body, const char *series)
{
	size_t l = strlen(series);

	for (const char *p = body; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, series, l) == 0 && p[l] == ' ')
			return strtod(p + l + 1, NULL);
	return -1;
}

static bool
name_char(char c, bool first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
	       (!first && c >= '0' && c <= '9');
}

/* The text format, line by line: "# HELP name text", "# TYPE name type"
 * before the samples of name (or of name_bucket/_sum/_count for a
 * histogram), samples "name{l="v",...} value". Returns the number of
 * samples, or -1 after printing the first bad line. */
static int
check_format(const char *body)
{
	char typed[256] = "", line[1024];
	int samples = 0;

	for (const char *p = body; *p;) {
		const char *e = strchr(p, '\n');
		size_t l = e ? (size_t)(e - p) : strlen(p), i = 0;

		if (l >= sizeof(line)) {
			printf("  line too long: %.80s\n", p);
			return -1;
		}
		memcpy(line, p, l);
		line[l] = 0;
		p += l + (e != NULL);
		if (strncmp(line, "# HELP ", 7) == 0)
			continue;
		if (strncmp(line, "# TYPE ", 7) == 0) {
			char type[32];

			if (sscanf(line + 7, "%255s %31s", typed, type) != 2 ||
			    (strcmp(type, "counter") != 0 && strcmp(type, "gauge") != 0 &&
			     strcmp(type, "histogram") != 0)) {
				printf("  bad TYPE line: %s\n", line);
				return -1;
			}
			continue;
		}
		while (name_char(line[i], i == 0))
			i++;
		if (i == 0 || strncmp(line, typed, strlen(typed)) != 0 || typed[0] == 0) {
			printf("  sample before its TYPE (%s): %s\n", typed, line);
			return -1;
		}
		if (line[i] == '{') {
			char *close = strrchr(line, '}');

			if (close == NULL || strstr(line + i, "=\"") == NULL) {
				printf("  bad labels: %s\n", line);
				return -1;
			}
			i = (size_t)(close - line) + 1;
		}
		if (line[i] != ' ' || line[i + 1] == 0) {
			printf("  no value: %s\n", line);
			return -1;
		}
		char *end;

		strtod(line + i + 1, &end);
		if (*end != 0 && strcmp(line + i + 1, "+Inf") != 0) {
			printf("  bad value: %s\n", line);
			return -1;
		}
		samples++;
	}
	return samples;
}

static int
create_network(struct agent_proc *ap, const char *name, uint32_t vlan)
{
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__CreateNetworkRequest cn = NICVISOR__V1__CREATE_NETWORK_REQUEST__INIT;
	Nicvisor__V1__Response *rep;
	int code;

	cn.name = (char *)name;
	cn.vlan = vlan;
	req.op_case = OP(CREATE_NETWORK);
	req.create_network = &cn;
	rep = api_call_ms(ap, &req, 30000);
	if (rep == NULL)
		return -1;
	code = rep->status ? (int)rep->status->code : -1;
	nv_wire_free(&rep->base);
	return code;
}

static int
create_vm(struct agent_proc *ap, const char *name, const char *kernel, const char *net)
{
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__CreateVmRequest cr = NICVISOR__V1__CREATE_VM_REQUEST__INIT;
	Nicvisor__V1__VmSpec spec = NICVISOR__V1__VM_SPEC__INIT;
	Nicvisor__V1__NicSpec nic = NICVISOR__V1__NIC_SPEC__INIT, *nics[1] = { &nic };
	Nicvisor__V1__Response *rep;
	int code;

	nic.network = (char *)net;
	nic.mac = "";
	spec.name = (char *)name;
	spec.vcpus = 1;
	spec.memory_mib = 64;
	spec.kernel = (char *)kernel;
	spec.nics = nics;
	spec.n_nics = 1;
	cr.spec = &spec;
	req.op_case = OP(CREATE_VM);
	req.create_vm = &cr;
	rep = api_call_ms(ap, &req, 30000);
	if (rep == NULL)
		return -1;
	code = rep->status ? (int)rep->status->code : -1;
	nv_wire_free(&rep->base);
	return code;
}

static void
check_histogram(const char *body, const char *op, double want)
{
	static const char *const les[] = { "5e-05",  "0.0001", "0.00025", "0.0005", "0.001",
					   "0.0025", "0.005",  "0.01",    "0.025",  "0.05",
					   "0.1",    "0.25",   "1",       "5",      "+Inf" };
	char series[160];
	double prev = 0, v = 0;
	bool mono = true;

	for (size_t i = 0; i < sizeof(les) / sizeof(les[0]); i++) {
		snprintf(series, sizeof(series),
			 "nicvisor_api_request_duration_seconds_bucket{op=\"%s\",le=\"%s\"}", op,
			 les[i]);
		v = sample(body, series);
		mono = mono && v >= prev;
		prev = v;
	}
	CHECK(mono && v == want, "%s: the latency buckets grow with le and +Inf holds all %g (%g)",
	      op, want, v);
	snprintf(series, sizeof(series), "nicvisor_api_request_duration_seconds_count{op=\"%s\"}",
		 op);
	CHECK(sample(body, series) == want, "%s: histogram count %g", op, sample(body, series));
	snprintf(series, sizeof(series), "nicvisor_api_request_duration_seconds_sum{op=\"%s\"}",
		 op);
	CHECK(sample(body, series) > 0 && sample(body, series) < 60, "%s: latency sum %g s", op,
	      sample(body, series));
}

static void
test_fake(void)
{
	const char *extra[5] = { "--metrics", NULL, "--uplink", "up0=net_null0", NULL };
	char listen[32], kernel[400], sha[65], series[256], out[4096];
	struct agent_proc ap;
	char *r1, *r2;
	const char *b;
	int port = free_port(), n;

	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	extra[1] = listen;
	if (port < 0 || agent_setup_with(&ap, 300, 1200, "fake", extra) < 0) {
		CHECK(false, "nicvisor-dpu --metrics %s starts", listen);
		return;
	}
	snprintf(kernel, sizeof(kernel), "%s/bzImage", ap.dir);
	CHECK(make_kernel(kernel, 64 << 10, 3, sha) == 0, "a kernel file");
	for (int i = 0; i < 5; i++) {
		char name[16];

		snprintf(name, sizeof(name), "net%d", i);
		CHECK(create_network(&ap, name, (uint32_t)(10 + i)) == CODE(OK), "network %s",
		      name);
	}
	CHECK(create_network(&ap, "net0", 99) == CODE(ALREADY_EXISTS), "a 6th, refused");
	CHECK(create_vm(&ap, "m1", kernel, "net1") == CODE(OK), "vm m1 with a NIC on net1");
	CHECK(run_ctl(&ap, out, sizeof(out), 10, "nic", "qos", "m1", "0", "--to-vm", "50M", NULL) ==
		      0,
	      "m1's NIC limited to 50 Mbit/s to the VM");
	CHECK(run_ctl(&ap, out, sizeof(out), 10, "mirror", "create", "tap", "m1", "0", "both",
		      "--to-uplink", "up0", NULL) == 0,
	      "a mirror session from m1's NIC to the uplink");

	r1 = http(port, "GET", "/metrics");
	r2 = http(port, "GET", "/metrics");
	b = body_of(r2);
	CHECK(r1 && r2 && strncmp(r2, "HTTP/1.", 7) == 0 && strstr(r2, " 200 ") != NULL,
	      "GET /metrics answers 200");
	CHECK(r2 && strstr(r2, "Content-Type: text/plain; version=0.0.4") != NULL,
	      "in the text exposition format 0.0.4");
	n = check_format(b);
	CHECK(n > 40, "every line is a comment or a well-formed sample (%d samples)", n);
	CHECK(sample(b, "nicvisor_api_requests_total{op=\"create_network\"}") == 6 &&
		      sample(b, "nicvisor_api_errors_total{op=\"create_network\"}") == 1,
	      "create_network: 6 requests, 1 error");
	check_histogram(b, "create_network", 6);
	CHECK(sample(b, "nicvisor_api_requests_total{op=\"list_vms\"}") ==
		      sample(body_of(r1), "nicvisor_api_requests_total{op=\"list_vms\"}"),
	      "scrapes are not counted as API requests (list_vms: %g both times)",
	      sample(b, "nicvisor_api_requests_total{op=\"list_vms\"}"));
	CHECK(sample(b, "nicvisor_networks") == 5, "5 networks");
	CHECK(sample(b, "nicvisor_vms{state=\"created\"}") == 1, "1 VM created");
	CHECK(strstr(b, "nicvisor_vm_info{vm=\"vm-") != NULL &&
		      strstr(b, "name=\"m1\",host=\"\",state=\"created\"} 1") != NULL,
	      "vm m1 listed with its state");
	snprintf(series, sizeof(series), "network=\"net1\"");
	CHECK(strstr(b, "nicvisor_port_info{port=\"vm-") != NULL && strstr(b, series) != NULL &&
		      strstr(b, "nicvisor_port_rx_packets_total{port=\"vm-") != NULL,
	      "its switch port, with counters");
	CHECK(strstr(b, "nicvisor_port_tx_limit_bits_per_second{port=\"vm-") != NULL &&
		      strstr(b, "} 50000000\n") != NULL &&
		      strstr(b, "nicvisor_port_rx_limit_bits_per_second{port=\"vm-") != NULL,
	      "and its rate limits");
	CHECK(sample(b, "nicvisor_mirror_active{mirror=\"tap\",destination=\"uplink:up0\"}") == 1 &&
		      sample(b, "nicvisor_mirror_packets_total{mirror=\"tap\"}") == 0 &&
		      sample(b, "nicvisor_mirror_drops_total{mirror=\"tap\"}") == 0,
	      "the mirror session, active, with its counters");
	free(r1);
	free(r2);

	r1 = http(port, "GET", "/nope");
	CHECK(r1 && strstr(r1, " 404 ") != NULL, "another path: 404");
	free(r1);
	r1 = http(port, "POST", "/metrics");
	CHECK(r1 && strstr(r1, " 405 ") != NULL, "POST: 405");
	free(r1);
	agent_teardown(&ap);

	/* A bad value stops the agent with a reason. */
	extra[1] = "http://127.0.0.1:9464/metrics";
	CHECK(agent_setup_with(&ap, 300, 1200, "fake", extra) < 0 && ap.pid == 0,
	      "--metrics http://...: the agent refuses to start");
	agent_teardown(&ap);
}

static void
test_dataplane(void)
{
	const char *extra[] = { "--dp-no-huge", "--dp-workers", "1", "--dp-idle-sleep",
				"--metrics",    NULL,           NULL };
	char listen[32];
	struct agent_proc ap;
	char *r;
	const char *b;
	int port = free_port();

	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	extra[5] = listen;
	/* The default: DPDK starts with the first network. */
	if (port < 0 || agent_setup_with(&ap, 300, 1200, NULL, extra) < 0) {
		CHECK(false, "nicvisor-dpu --metrics %s starts", listen);
		return;
	}
	r = http(port, "GET", "/metrics");
	CHECK(r != NULL && strstr(body_of(r), "nicvisor_dp_worker") == NULL,
	      "no worker metrics before the dataplane starts");
	free(r);
	CHECK(create_network(&ap, "n1", 0) == CODE(OK), "a network (DPDK starts)");
	r = http(port, "GET", "/metrics");
	b = body_of(r);
	CHECK(check_format(b) > 0, "well-formed");
	CHECK(sample(b, "nicvisor_dp_worker_busy_seconds_total{worker=\"0\",lcore=\"1\"}") >= 0 &&
		      sample(b, "nicvisor_dp_worker_packets_total{worker=\"0\",lcore=\"1\"}") ==
			      0 &&
		      sample(b,
			     "nicvisor_dp_worker_idle_seconds_total{worker=\"0\",lcore=\"1\"}") >=
			      0 &&
		      sample(b, "nicvisor_dp_worker_flow_cache_hits_total{worker=\"0\",lcore="
				"\"1\"}") == 0,
	      "worker 0's load is there (idle: no packets, no flow cache hits)");
	free(r);
	agent_teardown(&ap);
}

int
main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && strcmp(argv[1], "dataplane") == 0)
		test_dataplane();
	else
		test_fake();
	printf("%s: %d failure(s)\n", failures ? "FAIL" : "ok", failures);
	return failures ? 1 : 0;
}
