/* SPDX-License-Identifier: MIT */
/*
 * Prometheus metrics over HTTP: GET /metrics answers the text exposition
 * format (version 0.0.4) with the agent's counters, the API's latency
 * histograms by operation, every VM, switch port and disk, and the load of
 * each dataplane worker. Rendered on each scrape from the same queries the
 * API answers (dpu_agent_query), so the figures are the API's.
 *
 * The HTTP server is nng's (one handler, on nng's threads). Names follow
 * Prometheus conventions: counters end in _total, times are seconds.
 */
#define NV_LOG_COMPONENT "nicvisor.dpu.metrics"

#include "metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <nng/nng.h>
#include <nng/supplemental/http/http.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "nv_log.h"

struct dpu_metrics {
	struct dpu_agent *agent;
	nng_http_server *srv;
	nng_http_handler *h;
	char url[128];
};

/* A growing text buffer; on allocation failure it stays short and
 * failed is set. */
struct text {
	char *buf;
	size_t len, cap;
	bool failed;
};

static void __attribute__((format(printf, 2, 3))) put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = t->failed ? 0 : vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0 || t->failed)
			return;
		if ((size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		char *b = realloc(t->buf, t->cap * 2 + (size_t)n + 1);

		if (b == NULL) {
			t->failed = true;
			return;
		}
		t->buf = b;
		t->cap = t->cap * 2 + (size_t)n + 1;
	}
}

/* A label value with \, " and newline escaped (at most 255 bytes in). */
static const char *
esc(const char *s, char *out, size_t size)
{
	size_t o = 0;

	for (; s != NULL && *s != 0 && o + 3 < size; s++) {
		if (*s == '\\' || *s == '"') {
			out[o++] = '\\';
			out[o++] = *s;
		} else if (*s == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else {
			out[o++] = *s;
		}
	}
	out[o] = 0;
	return out;
}

static void
help(struct text *t, const char *name, const char *type, const char *text)
{
	put(t, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, type);
}

/* The Request oneof's field name for an op number ("create_vm"). */
static const char *
op_name(unsigned int op)
{
	const ProtobufCFieldDescriptor *f =
		protobuf_c_message_descriptor_get_field(&nicvisor__v1__request__descriptor, op);

	return op == 0 ? "undecodable" : f != NULL ? f->name : "unknown";
}

static void
render_api(struct text *t, struct dpu_agent *a)
{
	struct dpu_api_op_stats *ops = calloc(DPU_API_OPS, sizeof(*ops));
	unsigned int op, i;

	if (ops == NULL) {
		t->failed = true;
		return;
	}
	dpu_agent_api_stats(a, ops);
	help(t, "nicvisor_api_requests_total", "counter", "Northbound API requests by operation.");
	for (op = 0; op < DPU_API_OPS; op++)
		if (ops[op].count != 0)
			put(t, "nicvisor_api_requests_total{op=\"%s\"} %" PRIu64 "\n", op_name(op),
			    ops[op].count);
	help(t, "nicvisor_api_errors_total", "counter",
	     "Northbound API requests answered with an error status, by operation.");
	for (op = 0; op < DPU_API_OPS; op++)
		if (ops[op].count != 0)
			put(t, "nicvisor_api_errors_total{op=\"%s\"} %" PRIu64 "\n", op_name(op),
			    ops[op].errors);
	help(t, "nicvisor_api_request_duration_seconds", "histogram",
	     "Time from a request's arrival in the agent to its answer, by operation.");
	for (op = 0; op < DPU_API_OPS; op++) {
		uint64_t cum = 0;

		if (ops[op].count == 0)
			continue;
		for (i = 0; i < DPU_API_BUCKETS; i++) {
			cum += ops[op].bucket[i];
			put(t,
			    "nicvisor_api_request_duration_seconds_bucket{op=\"%s\",le=\"%g\"} "
			    "%" PRIu64 "\n",
			    op_name(op), (double)dpu_api_bucket_ns[i] / 1e9, cum);
		}
		put(t,
		    "nicvisor_api_request_duration_seconds_bucket{op=\"%s\",le=\"+Inf\"} %" PRIu64
		    "\n"
		    "nicvisor_api_request_duration_seconds_sum{op=\"%s\"} %.9f\n"
		    "nicvisor_api_request_duration_seconds_count{op=\"%s\"} %" PRIu64 "\n",
		    op_name(op), ops[op].count, op_name(op), (double)ops[op].sum_ns / 1e9,
		    op_name(op), ops[op].count);
	}
	free(ops);
}

static void
render_agent(struct text *t, struct dpu_agent *a)
{
	struct dpu_agent_stats st;

	dpu_agent_get_stats(a, &st);
	help(t, "nicvisor_southbound_requests_total", "counter", "Requests from hosts.");
	put(t, "nicvisor_southbound_requests_total %" PRIu64 "\n", st.host_requests);
	help(t, "nicvisor_southbound_errors_total", "counter",
	     "Requests from hosts answered with an error.");
	put(t, "nicvisor_southbound_errors_total %" PRIu64 "\n", st.host_errors);
	help(t, "nicvisor_events_total", "counter", "Events published.");
	put(t, "nicvisor_events_total %" PRIu64 "\n", st.events);
	help(t, "nicvisor_state_save_errors_total", "counter",
	     "Changes whose state could not be saved.");
	put(t, "nicvisor_state_save_errors_total %" PRIu64 "\n", st.store_errors);
	help(t, "nicvisor_hosts_connected", "gauge", "Hosts in session with the agent.");
	put(t, "nicvisor_hosts_connected %zu\n", st.hosts_connected);
	help(t, "nicvisor_networks", "gauge", "Logical networks.");
	put(t, "nicvisor_networks %zu\n", st.networks);
	help(t, "nicvisor_volumes", "gauge", "Volumes.");
	put(t, "nicvisor_volumes %zu\n", st.volumes);
	help(t, "nicvisor_dataplane_errors_total", "counter",
	     "Calls to the switch or the block backend that failed.");
	put(t, "nicvisor_dataplane_errors_total{part=\"switch\"} %" PRIu64 "\n", st.net_errors);
	put(t, "nicvisor_dataplane_errors_total{part=\"block\"} %" PRIu64 "\n", st.blk_errors);
}

/* rq (its op set) answered in rep, in ar: true if the answer is result;
 * else false, with ar freed. */
static bool
query(struct dpu_agent *a, Nicvisor__V1__Request *rq, Nicvisor__V1__Response__ResultCase result,
      struct nv_arena *ar, Nicvisor__V1__Response *rep)
{
	dpu_agent_query(a, rq, ar, rep);
	if (rep->result_case == result)
		return true;
	nv_arena_free(ar);
	return false;
}

/* One sample of a counter by reason: metric{label="name",reason="reason"}. */
static void
put_reason(struct text *t, const char *metric, const char *label, const char *name,
	   const char *reason, uint64_t value)
{
	char e1[256], e2[256];

	put(t, "%s{%s=\"%s\",reason=\"%s\"} %" PRIu64 "\n", metric, label,
	    esc(name, e1, sizeof(e1)), esc(reason, e2, sizeof(e2)), value);
}

static const char *const state_names[] = { "unspecified", "created", "starting", "running",
					   "stopping",    "stopped", "failed" };

static void
render_vms(struct text *t, struct dpu_agent *a)
{
	Nicvisor__V1__ListVmsRequest lr = NICVISOR__V1__LIST_VMS_REQUEST__INIT;
	Nicvisor__V1__Request rq = NICVISOR__V1__REQUEST__INIT;
	size_t by_state[7] = { 0 };
	char token[256] = "", e1[256], e2[256], e3[256];
	bool first = true;

	rq.op_case = NICVISOR__V1__REQUEST__OP_LIST_VMS;
	rq.list_vms = &lr;
	lr.page_size = 1000;
	help(t, "nicvisor_vm_info", "gauge",
	     "One per VM: its id, name, host and state as labels; the value is 1.");
	while (first || token[0] != 0) {
		struct nv_arena ar = NV_ARENA_INIT;
		Nicvisor__V1__Response rep;

		first = false;
		lr.page_token = token;
		dpu_agent_query(a, &rq, &ar, &rep);
		token[0] = 0;
		if (rep.result_case == NICVISOR__V1__RESPONSE__RESULT_VMS) {
			for (size_t i = 0; i < rep.vms->n_vms; i++) {
				const Nicvisor__V1__Vm *vm = rep.vms->vms[i];
				unsigned int s = (unsigned int)vm->state < 7 ? vm->state : 0;

				by_state[s]++;
				put(t,
				    "nicvisor_vm_info{vm=\"%s\",name=\"%s\",host=\"%s\",state=\"%"
				    "s\"} "
				    "1\n",
				    esc(vm->id, e1, sizeof(e1)),
				    esc(vm->spec ? vm->spec->name : "", e2, sizeof(e2)),
				    esc(vm->host, e3, sizeof(e3)), state_names[s]);
			}
			if (rep.vms->next_page_token != NULL)
				snprintf(token, sizeof(token), "%s", rep.vms->next_page_token);
		}
		nv_arena_free(&ar);
	}
	help(t, "nicvisor_vms", "gauge", "VMs by state.");
	for (unsigned int s = 1; s < 7; s++)
		put(t, "nicvisor_vms{state=\"%s\"} %zu\n", state_names[s], by_state[s]);
}

/* One sample per element of arr[0..n): metric{label="arr[i]->key"} field.
 * Uses the caller's t and e1. */
#define SERIES(metric, type, text, label, arr, n, key, field)                                      \
	do {                                                                                       \
		help(t, metric, type, text);                                                       \
		for (size_t i = 0; i < (n); i++)                                                   \
			put(t, metric "{" label "=\"%s\"} %" PRIu64 "\n",                          \
			    esc((arr)[i]->key, e1, sizeof(e1)), (uint64_t)(arr)[i]->field);        \
	} while (0)
#define PORT_COUNTER(name, field, text)                                                            \
	SERIES("nicvisor_port_" name "_total", "counter", text, "port", ps->ports, ps->n_ports,    \
	       port, field)
#define PORT_GAUGE(name, field, text)                                                              \
	SERIES("nicvisor_port_" name, "gauge", text, "port", ps->ports, ps->n_ports, port, field)
#define DISK_COUNTER(name, field, text)                                                            \
	SERIES("nicvisor_disk_" name "_total", "counter", text, "disk", ds->disks, ds->n_disks,    \
	       disk, field)
#define MIRROR_COUNTER(metric, field, text)                                                        \
	SERIES("nicvisor_mirror_" metric "_total", "counter", text, "mirror", ms->mirrors,         \
	       ms->n_mirrors, name, field)

static void
render_ports(struct text *t, struct dpu_agent *a)
{
	Nicvisor__V1__GetPortStatsRequest gr = NICVISOR__V1__GET_PORT_STATS_REQUEST__INIT;
	Nicvisor__V1__Request rq = NICVISOR__V1__REQUEST__INIT;
	struct nv_arena ar = NV_ARENA_INIT;
	Nicvisor__V1__Response rep;
	const Nicvisor__V1__PortStatsResponse *ps;
	char e1[256], e2[256], e3[256];

	gr.vm = "";
	rq.op_case = NICVISOR__V1__REQUEST__OP_GET_PORT_STATS;
	rq.get_port_stats = &gr;
	if (!query(a, &rq, NICVISOR__V1__RESPONSE__RESULT_PORT_STATS, &ar, &rep))
		return; /* networking off: no ports */
	ps = rep.port_stats;
	help(t, "nicvisor_port_info", "gauge",
	     "One per switch port: kind, network and MAC as labels; the value is 1.");
	for (size_t i = 0; i < ps->n_ports; i++)
		put(t, "nicvisor_port_info{port=\"%s\",kind=\"%s\",network=\"%s\",mac=\"%s\"} 1\n",
		    esc(ps->ports[i]->port, e1, sizeof(e1)),
		    esc(ps->ports[i]->kind, e2, sizeof(e2)),
		    esc(ps->ports[i]->network, e3, sizeof(e3)), ps->ports[i]->mac);
	help(t, "nicvisor_port_link_up", "gauge", "1 while the port's link is up.");
	for (size_t i = 0; i < ps->n_ports; i++)
		put(t, "nicvisor_port_link_up{port=\"%s\"} %d\n",
		    esc(ps->ports[i]->port, e1, sizeof(e1)), ps->ports[i]->link_up ? 1 : 0);
	PORT_COUNTER("rx_packets", rx_packets, "Frames from the port into the switch.");
	PORT_COUNTER("rx_bytes", rx_bytes, "Bytes from the port into the switch.");
	PORT_COUNTER("tx_packets", tx_packets, "Frames from the switch out of the port.");
	PORT_COUNTER("tx_bytes", tx_bytes, "Bytes from the switch out of the port.");
	PORT_COUNTER("rx_l2_only", rx_l2_only, "Frames forwarded as L2 only (see the API).");
	PORT_COUNTER("vxlan_encap", vxlan_encap, "Frames this uplink sent VXLAN-encapsulated.");
	PORT_COUNTER("vxlan_decap", vxlan_decap, "VXLAN frames this uplink took in, decapsulated.");
	PORT_GAUGE("rx_limit_bits_per_second", rx_limit_bits_per_second,
		   "The rate limit of what the port sends into the switch (a NIC's from_vm); 0: "
		   "none.");
	PORT_GAUGE("tx_limit_bits_per_second", tx_limit_bits_per_second,
		   "The rate limit of what the switch sends to the port (a NIC's to_vm); 0: none.");
	help(t, "nicvisor_port_drops_total", "counter", "Frames dropped, by port and reason.");
	for (size_t i = 0; i < ps->n_ports; i++)
		for (size_t j = 0; j < ps->ports[i]->n_drops; j++)
			put_reason(t, "nicvisor_port_drops_total", "port", ps->ports[i]->port,
				   ps->ports[i]->drops[j]->key, ps->ports[i]->drops[j]->value);
	nv_arena_free(&ar);
}

static void
render_disks(struct text *t, struct dpu_agent *a)
{
	Nicvisor__V1__GetDiskStatsRequest gr = NICVISOR__V1__GET_DISK_STATS_REQUEST__INIT;
	Nicvisor__V1__Request rq = NICVISOR__V1__REQUEST__INIT;
	struct nv_arena ar = NV_ARENA_INIT;
	Nicvisor__V1__Response rep;
	const Nicvisor__V1__DiskStatsResponse *ds;
	char e1[256], e2[256];

	gr.vm = "";
	rq.op_case = NICVISOR__V1__REQUEST__OP_GET_DISK_STATS;
	rq.get_disk_stats = &gr;
	if (!query(a, &rq, NICVISOR__V1__RESPONSE__RESULT_DISK_STATS, &ar, &rep))
		return;
	ds = rep.disk_stats;
	help(t, "nicvisor_disk_info", "gauge",
	     "One per disk the block backend serves: its volume as a label; the value is 1.");
	for (size_t i = 0; i < ds->n_disks; i++)
		put(t, "nicvisor_disk_info{disk=\"%s\",volume=\"%s\",read_only=\"%d\"} 1\n",
		    esc(ds->disks[i]->disk, e1, sizeof(e1)),
		    esc(ds->disks[i]->volume, e2, sizeof(e2)), ds->disks[i]->read_only ? 1 : 0);
	help(t, "nicvisor_disk_connected", "gauge", "1 while the disk's frontend is connected.");
	for (size_t i = 0; i < ds->n_disks; i++)
		put(t, "nicvisor_disk_connected{disk=\"%s\"} %d\n",
		    esc(ds->disks[i]->disk, e1, sizeof(e1)), ds->disks[i]->connected ? 1 : 0);
	DISK_COUNTER("read_ops", read_ops, "Read requests completed.");
	DISK_COUNTER("read_bytes", read_bytes, "Bytes read.");
	DISK_COUNTER("write_ops", write_ops, "Write requests completed.");
	DISK_COUNTER("write_bytes", write_bytes, "Bytes written.");
	DISK_COUNTER("flush_ops", flush_ops, "Flush requests completed.");
	DISK_COUNTER("discard_ops", discard_ops, "Discard and write-zeroes requests completed.");
	DISK_COUNTER("throttled", throttled, "Polls that left requests waiting for the limits.");
	help(t, "nicvisor_disk_errors_total", "counter", "Failed requests, by disk and reason.");
	for (size_t i = 0; i < ds->n_disks; i++)
		for (size_t j = 0; j < ds->disks[i]->n_errors; j++)
			put_reason(t, "nicvisor_disk_errors_total", "disk", ds->disks[i]->disk,
				   ds->disks[i]->errors[j]->key, ds->disks[i]->errors[j]->value);
	nv_arena_free(&ar);
}

#define WORKER_SERIES(name, type, text, fmt, expr)                                                 \
	do {                                                                                       \
		help(t, name, type, text);                                                         \
		for (size_t i = 0; i < wr->n_workers; i++)                                         \
			put(t, name "{worker=\"%u\",lcore=\"%u\"} " fmt "\n",                      \
			    wr->workers[i]->worker, wr->workers[i]->lcore, wr->workers[i]->expr);  \
	} while (0)

static void
render_mirrors(struct text *t, struct dpu_agent *a)
{
	Nicvisor__V1__ListMirrorsRequest lr = NICVISOR__V1__LIST_MIRRORS_REQUEST__INIT;
	Nicvisor__V1__Request rq = NICVISOR__V1__REQUEST__INIT;
	struct nv_arena ar = NV_ARENA_INIT;
	Nicvisor__V1__Response rep;
	const Nicvisor__V1__ListMirrorsResponse *ms;
	char e1[256], e2[256];

	/* 64 sessions at most: one page. */
	lr.page_size = 1000;
	rq.op_case = NICVISOR__V1__REQUEST__OP_LIST_MIRRORS;
	rq.list_mirrors = &lr;
	if (!query(a, &rq, NICVISOR__V1__RESPONSE__RESULT_MIRRORS, &ar, &rep) ||
	    rep.mirrors->n_mirrors == 0) {
		nv_arena_free(&ar);
		return;
	}
	ms = rep.mirrors;
	help(t, "nicvisor_mirror_active", "gauge",
	     "One per mirror session: 1 while the dataplane runs it (both ports exist).");
	for (size_t i = 0; i < ms->n_mirrors; i++)
		put(t, "nicvisor_mirror_active{mirror=\"%s\",destination=\"%s\"} %d\n",
		    esc(ms->mirrors[i]->name, e1, sizeof(e1)),
		    esc(ms->mirrors[i]->destination, e2, sizeof(e2)),
		    ms->mirrors[i]->active ? 1 : 0);
	MIRROR_COUNTER("packets", packets, "Copies the session handed to its destination.");
	MIRROR_COUNTER("bytes", bytes, "Bytes of those copies.");
	MIRROR_COUNTER("drops", drops, "Copies the destination did not take.");
	MIRROR_COUNTER("no_buffer", no_buffer, "Copies that could not be made.");
	nv_arena_free(&ar);
}

static void
render_workers(struct text *t, struct dpu_agent *a)
{
	Nicvisor__V1__GetWorkerStatsRequest gr = NICVISOR__V1__GET_WORKER_STATS_REQUEST__INIT;
	Nicvisor__V1__Request rq = NICVISOR__V1__REQUEST__INIT;
	const Nicvisor__V1__WorkerStatsResponse *wr;
	struct nv_arena ar = NV_ARENA_INIT;
	Nicvisor__V1__Response rep;

	rq.op_case = NICVISOR__V1__REQUEST__OP_GET_WORKER_STATS;
	rq.get_worker_stats = &gr;
	wr = query(a, &rq, NICVISOR__V1__RESPONSE__RESULT_WORKER_STATS, &ar, &rep)
		     ? rep.worker_stats
		     : NULL;
	if (wr != NULL && wr->n_workers > 0) {
		WORKER_SERIES(
			"nicvisor_dp_worker_busy_seconds_total", "counter",
			"Time each dataplane worker spent in rounds that switched frames (its "
			"rate is the switching load of its core, 0..1).",
			"%.6f", busy_seconds);
		WORKER_SERIES("nicvisor_dp_worker_idle_seconds_total", "counter",
			      "Time each dataplane worker spent polling and finding nothing (not "
			      "asleep).",
			      "%.6f", idle_seconds);
		WORKER_SERIES("nicvisor_dp_worker_flow_cache_hits_total", "counter",
			      "Frames each worker switched by its flow cache's decision.",
			      "%" PRIu64, flow_hits);
		WORKER_SERIES("nicvisor_dp_worker_flow_cache_misses_total", "counter",
			      "Switching decisions each worker looked up in the tables (then "
			      "cached).",
			      "%" PRIu64, flow_misses);
		WORKER_SERIES("nicvisor_dp_worker_blk_busy_seconds_total", "counter",
			      "Time each dataplane worker spent in rounds that served disks.",
			      "%.6f", blk_busy_seconds);
		WORKER_SERIES("nicvisor_dp_worker_packets_total", "counter",
			      "Frames each dataplane worker received and switched.", "%" PRIu64,
			      packets);
		WORKER_SERIES("nicvisor_dp_worker_blk_requests_total", "counter",
			      "Block requests each dataplane worker completed.", "%" PRIu64,
			      blk_requests);
	}
	nv_arena_free(&ar);
}

char *
dpu_metrics_render(struct dpu_agent *a, size_t *len)
{
	struct text t = { .cap = 16384 };

	t.buf = malloc(t.cap);
	if (t.buf == NULL)
		return NULL;
	t.buf[0] = 0;
	render_agent(&t, a);
	render_api(&t, a);
	render_vms(&t, a);
	render_ports(&t, a);
	render_mirrors(&t, a);
	render_disks(&t, a);
	render_workers(&t, a);
	if (t.failed) {
		free(t.buf);
		return NULL;
	}
	*len = t.len;
	return t.buf;
}

static void
reply(nng_aio *aio, uint16_t status, const char *ctype, const char *body, size_t len)
{
	nng_http_res *res;
	int rv;

	rv = nng_http_res_alloc(&res);
	if (rv != 0) {
		nng_aio_finish(aio, rv);
		return;
	}
	if ((rv = nng_http_res_set_status(res, status)) != 0 ||
	    (rv = nng_http_res_set_header(res, "Content-Type", ctype)) != 0 ||
	    (rv = nng_http_res_copy_data(res, body, len)) != 0) {
		nng_http_res_free(res);
		nng_aio_finish(aio, rv);
		return;
	}
	nng_aio_set_output(aio, 0, res);
	nng_aio_finish(aio, 0);
}

static void
serve(nng_aio *aio)
{
	nng_http_handler *h = nng_aio_get_input(aio, 1);
	struct dpu_metrics *m = nng_http_handler_get_data(h);
	size_t len = 0;
	char *body = dpu_metrics_render(m->agent, &len);

	if (body == NULL) {
		static const char oom[] = "out of memory\n";

		reply(aio, NNG_HTTP_STATUS_INTERNAL_SERVER_ERROR, "text/plain", oom,
		      sizeof(oom) - 1);
		return;
	}
	reply(aio, NNG_HTTP_STATUS_OK, "text/plain; version=0.0.4; charset=utf-8", body, len);
	free(body);
}

int
dpu_metrics_open(struct dpu_agent *a, const char *listen, struct dpu_metrics **out)
{
	struct dpu_metrics *m;
	nng_sockaddr sa;
	nng_url *url = NULL;
	char u[160];
	int rv;

	if (strchr(listen, '/') != NULL || strrchr(listen, ':') == NULL) {
		nv_err("--metrics wants ADDRESS:PORT (e.g. 127.0.0.1:9464), not '%s'", listen);
		return -EINVAL;
	}
	snprintf(u, sizeof(u), "http://%s", listen);
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return -ENOMEM;
	m->agent = a;
	rv = nng_url_parse(&url, u);
	if (rv == 0)
		rv = nng_http_server_hold(&m->srv, url);
	if (rv == 0)
		rv = nng_http_handler_alloc(&m->h, "/metrics", serve);
	if (rv == 0)
		rv = nng_http_handler_set_method(m->h, "GET");
	if (rv == 0)
		rv = nng_http_handler_set_data(m->h, m, NULL);
	if (rv == 0) {
		rv = nng_http_server_add_handler(m->srv, m->h);
		if (rv != 0)
			nng_http_handler_free(m->h);
		m->h = NULL;
	}
	if (rv == 0)
		rv = nng_http_server_start(m->srv);
	if (url != NULL)
		nng_url_free(url);
	if (rv != 0) {
		nv_err("cannot serve metrics on %s: %s", u, nng_strerror(rv));
		if (m->h != NULL)
			nng_http_handler_free(m->h);
		if (m->srv != NULL)
			nng_http_server_release(m->srv);
		free(m);
		return -EADDRNOTAVAIL;
	}
	snprintf(m->url, sizeof(m->url), "%s", u);
	if (nng_http_server_get_addr(m->srv, &sa) == 0 && sa.s_family == NNG_AF_INET)
		snprintf(m->url, sizeof(m->url), "http://%u.%u.%u.%u:%u",
			 ((uint8_t *)&sa.s_in.sa_addr)[0], ((uint8_t *)&sa.s_in.sa_addr)[1],
			 ((uint8_t *)&sa.s_in.sa_addr)[2], ((uint8_t *)&sa.s_in.sa_addr)[3],
			 (unsigned int)((sa.s_in.sa_port & 0xff) << 8 | sa.s_in.sa_port >> 8));
	nv_info("metrics on %s/metrics", m->url);
	*out = m;
	return 0;
}

const char *
dpu_metrics_url(const struct dpu_metrics *m)
{
	return m->url;
}

void
dpu_metrics_close(struct dpu_metrics *m)
{
	if (m == NULL)
		return;
	nng_http_server_stop(m->srv);
	nng_http_server_release(m->srv);
	free(m);
}
