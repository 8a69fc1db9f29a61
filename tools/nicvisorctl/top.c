/* SPDX-License-Identifier: MIT */
/*
 * nicvisorctl top: a live view of the DPU from the API alone. Every
 * interval it reads the VMs, the dataplane workers' load, and the
 * counters of every switch port and disk, and prints rates over the
 * interval: each worker core's busy share (switching and disks), each
 * port's packets, bits and drops per second, each disk's requests and
 * bytes per second. On a terminal the screen is redrawn; otherwise (and
 * with --json, one object per line) each view follows the last.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "nv_wire.h"
#include "print.h"

struct sample {
	double t; /* seconds, monotonic */
	Nicvisor__V1__Response *vms, *ports, *disks, *workers;
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
sample_free(struct sample *s)
{
	Nicvisor__V1__Response **r[] = { &s->vms, &s->ports, &s->disks, &s->workers };

	for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
		if (*r[i] != NULL)
			nv_wire_free(&(*r[i])->base);
		*r[i] = NULL;
	}
}

static int
take(struct ctl *c, struct sample *s)
{
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__ListVmsRequest lv = NICVISOR__V1__LIST_VMS_REQUEST__INIT;
	Nicvisor__V1__GetPortStatsRequest ps = NICVISOR__V1__GET_PORT_STATS_REQUEST__INIT;
	Nicvisor__V1__GetDiskStatsRequest ds = NICVISOR__V1__GET_DISK_STATS_REQUEST__INIT;
	Nicvisor__V1__GetWorkerStatsRequest ws = NICVISOR__V1__GET_WORKER_STATS_REQUEST__INIT;
	int rc;

	memset(s, 0, sizeof(*s));
	s->t = now_s();
	lv.page_size = 1000; /* the first 1000 VMs name the ports */
	req.op_case = NICVISOR__V1__REQUEST__OP_LIST_VMS;
	req.list_vms = &lv;
	rc = ctl_call(c, &req, &s->vms);
	ps.vm = "";
	req.op_case = NICVISOR__V1__REQUEST__OP_GET_PORT_STATS;
	req.get_port_stats = &ps;
	/* Without networking or a block backend these fail: shown empty. */
	if (rc == EXIT_OK && ctl_call(c, &req, &s->ports) != EXIT_OK)
		s->ports = NULL;
	ds.vm = "";
	req.op_case = NICVISOR__V1__REQUEST__OP_GET_DISK_STATS;
	req.get_disk_stats = &ds;
	if (rc == EXIT_OK && ctl_call(c, &req, &s->disks) != EXIT_OK)
		s->disks = NULL;
	req.op_case = NICVISOR__V1__REQUEST__OP_GET_WORKER_STATS;
	req.get_worker_stats = &ws;
	if (rc == EXIT_OK)
		rc = ctl_call(c, &req, &s->workers);
	if (rc != EXIT_OK)
		sample_free(s);
	return rc;
}

/* "vm-<id>/nicN" or "vm-<id>/diskN" -> the VM's name, else "-". */
static const char *
vm_name(const struct sample *s, const char *port)
{
	const char *slash = strchr(port, '/');
	size_t n = slash ? (size_t)(slash - port) : 0;

	for (size_t i = 0; n > 0 && s->vms != NULL && i < s->vms->vms->n_vms; i++) {
		const Nicvisor__V1__Vm *vm = s->vms->vms->vms[i];

		if (strlen(vm->id) == n && strncmp(vm->id, port, n) == 0 && vm->spec != NULL)
			return vm->spec->name;
	}
	return "-";
}

static const Nicvisor__V1__PortStats *
old_port(const struct sample *s, const char *name)
{
	for (size_t i = 0; s->ports != NULL && i < s->ports->port_stats->n_ports; i++)
		if (strcmp(s->ports->port_stats->ports[i]->port, name) == 0)
			return s->ports->port_stats->ports[i];
	return NULL;
}

static const Nicvisor__V1__DiskStats *
old_disk(const struct sample *s, const char *name)
{
	for (size_t i = 0; s->disks != NULL && i < s->disks->disk_stats->n_disks; i++)
		if (strcmp(s->disks->disk_stats->disks[i]->disk, name) == 0)
			return s->disks->disk_stats->disks[i];
	return NULL;
}

static const Nicvisor__V1__WorkerStats *
old_worker(const struct sample *s, uint32_t w)
{
	for (size_t i = 0; s->workers != NULL && i < s->workers->worker_stats->n_workers; i++)
		if (s->workers->worker_stats->workers[i]->worker == w)
			return s->workers->worker_stats->workers[i];
	return NULL;
}

static uint64_t
drops(const Nicvisor__V1__PortStats *p)
{
	uint64_t n = 0;

	for (size_t i = 0; p != NULL && i < p->n_drops; i++)
		n += p->drops[i]->value;
	return n;
}

/* The growth of a counter per second (0 if it went back: a restart). */
static double
rate(uint64_t now, uint64_t before, double dt)
{
	return now >= before && dt > 0 ? (double)(now - before) / dt : 0;
}

static double
share(double now, double before, double dt)
{
	return now >= before && dt > 0 ? 100.0 * (now - before) / dt : 0;
}

/* Of the frames a worker switched in the interval, the share its flow
 * cache decided (0 with no previous sample or no frames). */
static double
hit_pct(const Nicvisor__V1__WorkerStats *w, const Nicvisor__V1__WorkerStats *o)
{
	uint64_t hits, all;

	if (o == NULL || w->flow_hits < o->flow_hits || w->flow_misses < o->flow_misses)
		return 0;
	hits = w->flow_hits - o->flow_hits;
	all = hits + w->flow_misses - o->flow_misses;
	return all != 0 ? 100.0 * (double)hits / (double)all : 0;
}

static void
print_text(const struct sample *a, const struct sample *b, double interval, bool tty)
{
	const char *states[] = { "?",        "created", "starting", "running",
				 "stopping", "stopped", "failed" };
	size_t by_state[7] = { 0 }, nvms = b->vms->vms->n_vms;
	double dt = b->t - a->t;
	char when[32];
	time_t t = time(NULL);

	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime(&t));
	if (tty)
		fputs("\033[H\033[2J", stdout);
	printf("nicvisor top  %s  every %.1f s\n", when, interval);
	for (size_t i = 0; i < nvms; i++)
		by_state[(unsigned int)b->vms->vms->vms[i]->state < 7 ? b->vms->vms->vms[i]->state
								      : 0]++;
	printf("VMs: %zu (", nvms);
	for (unsigned int s = 1, first = 1; s < 7; s++)
		if (by_state[s]) {
			printf("%s%zu %s", first ? "" : ", ", by_state[s], states[s]);
			first = 0;
		}
	printf(")\n\n");
	if (!b->workers->worker_stats->running) {
		printf("dataplane: not started (it starts with the first network, NIC or disk)\n");
	} else {
		printf("%-6s %-5s %8s %8s %8s %10s %8s %10s\n", "WORKER", "LCORE", "SWITCH%",
		       "DISKS%", "IDLE%", "MPPS", "FLOWHIT%", "KIOPS");
		for (size_t i = 0; i < b->workers->worker_stats->n_workers; i++) {
			const Nicvisor__V1__WorkerStats *w = b->workers->worker_stats->workers[i];
			const Nicvisor__V1__WorkerStats *o = old_worker(a, w->worker);

			printf("%-6u %-5u %8.1f %8.1f %8.1f %10.3f %8.1f %10.1f\n", w->worker,
			       w->lcore, o ? share(w->busy_seconds, o->busy_seconds, dt) : 0,
			       o ? share(w->blk_busy_seconds, o->blk_busy_seconds, dt) : 0,
			       o ? share(w->idle_seconds, o->idle_seconds, dt) : 0,
			       o ? rate(w->packets, o->packets, dt) / 1e6 : 0, hit_pct(w, o),
			       o ? rate(w->blk_requests, o->blk_requests, dt) / 1e3 : 0);
		}
	}
	if (b->ports != NULL && b->ports->port_stats->n_ports > 0) {
		printf("\n%-25s %-16s %-4s %10s %10s %9s %9s %8s\n", "PORT", "VM", "LINK", "RX_PPS",
		       "TX_PPS", "RX_MBIT", "TX_MBIT", "DROP/S");
		for (size_t i = 0; i < b->ports->port_stats->n_ports; i++) {
			const Nicvisor__V1__PortStats *p = b->ports->port_stats->ports[i];
			const Nicvisor__V1__PortStats *o = old_port(a, p->port);

			printf("%-25s %-16s %-4s %10.0f %10.0f %9.1f %9.1f %8.0f\n", p->port,
			       vm_name(b, p->port), p->link_up ? "up" : "down",
			       o ? rate(p->rx_packets, o->rx_packets, dt) : 0,
			       o ? rate(p->tx_packets, o->tx_packets, dt) : 0,
			       o ? rate(p->rx_bytes, o->rx_bytes, dt) * 8 / 1e6 : 0,
			       o ? rate(p->tx_bytes, o->tx_bytes, dt) * 8 / 1e6 : 0,
			       o ? rate(drops(p), drops(o), dt) : 0);
		}
	}
	if (b->disks != NULL && b->disks->disk_stats->n_disks > 0) {
		printf("\n%-26s %-16s %-12s %8s %8s %8s %8s\n", "DISK", "VM", "VOLUME", "R_IOPS",
		       "W_IOPS", "R_MB/S", "W_MB/S");
		for (size_t i = 0; i < b->disks->disk_stats->n_disks; i++) {
			const Nicvisor__V1__DiskStats *d = b->disks->disk_stats->disks[i];
			const Nicvisor__V1__DiskStats *o = old_disk(a, d->disk);

			printf("%-26s %-16s %-12s %8.0f %8.0f %8.1f %8.1f\n", d->disk,
			       vm_name(b, d->disk), d->volume,
			       o ? rate(d->read_ops, o->read_ops, dt) : 0,
			       o ? rate(d->write_ops, o->write_ops, dt) : 0,
			       o ? rate(d->read_bytes, o->read_bytes, dt) / 1e6 : 0,
			       o ? rate(d->write_bytes, o->write_bytes, dt) / 1e6 : 0);
		}
	}
	if (!tty)
		putchar('\n');
	fflush(stdout);
}

static void
print_json(const struct sample *a, const struct sample *b)
{
	double dt = b->t - a->t;

	printf("{\"interval_s\":%.3f,\"vms\":%zu,\"dataplane_running\":%s,\"workers\":[", dt,
	       b->vms->vms->n_vms, b->workers->worker_stats->running ? "true" : "false");
	for (size_t i = 0; i < b->workers->worker_stats->n_workers; i++) {
		const Nicvisor__V1__WorkerStats *w = b->workers->worker_stats->workers[i];
		const Nicvisor__V1__WorkerStats *o = old_worker(a, w->worker);

		printf("%s{\"worker\":%u,\"lcore\":%u,\"switch_busy_pct\":%.2f,\"disk_busy_pct\":%."
		       "2f,"
		       "\"idle_pct\":%.2f,\"pps\":%.0f,\"flow_hit_pct\":%.2f,\"iops\":%.0f}",
		       i ? "," : "", w->worker, w->lcore,
		       o ? share(w->busy_seconds, o->busy_seconds, dt) : 0,
		       o ? share(w->blk_busy_seconds, o->blk_busy_seconds, dt) : 0,
		       o ? share(w->idle_seconds, o->idle_seconds, dt) : 0,
		       o ? rate(w->packets, o->packets, dt) : 0, hit_pct(w, o),
		       o ? rate(w->blk_requests, o->blk_requests, dt) : 0);
	}
	printf("],\"ports\":[");
	for (size_t i = 0; b->ports != NULL && i < b->ports->port_stats->n_ports; i++) {
		const Nicvisor__V1__PortStats *p = b->ports->port_stats->ports[i];
		const Nicvisor__V1__PortStats *o = old_port(a, p->port);

		printf("%s{\"port\":", i ? "," : "");
		ctl_json_string(stdout, p->port);
		printf(",\"vm\":");
		ctl_json_string(stdout, vm_name(b, p->port));
		printf(",\"link_up\":%s,\"rx_pps\":%.0f,\"tx_pps\":%.0f,\"rx_bps\":%.0f,"
		       "\"tx_bps\":%.0f,\"drops_per_s\":%.0f}",
		       p->link_up ? "true" : "false",
		       o ? rate(p->rx_packets, o->rx_packets, dt) : 0,
		       o ? rate(p->tx_packets, o->tx_packets, dt) : 0,
		       o ? rate(p->rx_bytes, o->rx_bytes, dt) * 8 : 0,
		       o ? rate(p->tx_bytes, o->tx_bytes, dt) * 8 : 0,
		       o ? rate(drops(p), drops(o), dt) : 0);
	}
	printf("],\"disks\":[");
	for (size_t i = 0; b->disks != NULL && i < b->disks->disk_stats->n_disks; i++) {
		const Nicvisor__V1__DiskStats *d = b->disks->disk_stats->disks[i];
		const Nicvisor__V1__DiskStats *o = old_disk(a, d->disk);

		printf("%s{\"disk\":", i ? "," : "");
		ctl_json_string(stdout, d->disk);
		printf(",\"vm\":");
		ctl_json_string(stdout, vm_name(b, d->disk));
		printf(",\"read_iops\":%.0f,\"write_iops\":%.0f,\"read_bytes_per_s\":%.0f,"
		       "\"write_bytes_per_s\":%.0f}",
		       o ? rate(d->read_ops, o->read_ops, dt) : 0,
		       o ? rate(d->write_ops, o->write_ops, dt) : 0,
		       o ? rate(d->read_bytes, o->read_bytes, dt) : 0,
		       o ? rate(d->write_bytes, o->write_bytes, dt) : 0);
	}
	printf("]}\n");
	fflush(stdout);
}

int
cmd_top(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "interval", required_argument, NULL, 'i' },
		{ "count", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	struct sample prev, cur;
	double interval = 2.0;
	long count = -1;
	bool tty = isatty(STDOUT_FILENO) && !c->json;
	char *end;
	int o, rc;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'i':
			interval = strtod(optarg, &end);
			if (*end != 0 || !(interval >= 0.1 && interval <= 3600))
				return ctl_usage_error("--interval %s: give seconds, 0.1 to 3600",
						       optarg);
			break;
		case 'n':
			errno = 0;
			count = strtol(optarg, &end, 10);
			if (errno != 0 || *end != 0 || count < 1)
				return ctl_usage_error("--count %s: give a number, 1 or more",
						       optarg);
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind < argc)
		return ctl_usage_error("top takes no arguments, not '%s'", argv[optind]);
	rc = take(c, &prev);
	while (rc == EXIT_OK && count != 0) {
		struct timespec ts = { .tv_sec = (time_t)interval,
				       .tv_nsec = (long)((interval - (double)(time_t)interval) *
							 1e9) };

		nanosleep(&ts, NULL);
		rc = take(c, &cur);
		if (rc != EXIT_OK)
			break;
		if (c->json)
			print_json(&prev, &cur);
		else
			print_text(&prev, &cur, interval, tty);
		sample_free(&prev);
		prev = cur;
		if (count > 0)
			count--;
	}
	sample_free(&prev);
	return rc;
}
