/* SPDX-License-Identifier: MIT */
/*
 * dp_testd: the dataplane in a process of its own, driven line by line on
 * stdin, for integration tests (and people). Every command answers one
 * line, "OK ..." or "ERR <errno> <reason>"; `stats` prints one "STAT" line
 * per port first.
 *
 *   net NAME VLAN                 vhost PORT NET MAC QUEUE_PAIRS
 *   netvx NAME VNI [IP,IP...]     vteps NAME [IP,IP...]   (overlay networks)
 *   vtep IP [UDP_PORT]            (this dataplane's VTEP; IP 0.0.0.0: off)
 *   uplink PORT DEVARGS           access PORT NET DEVARGS
 *   del PORT                      delnet NAME
 *   stats [PORT]                  workers (one "WORKER" line each)
 *   qos PORT RX_BPS RX_BURST TX_BPS TX_BURST    (bits/s, bytes; 0: none/default)
 *   mirror NAME SRC rx|tx|both DST  delmirror NAME
 *   mirrors (one "MIRROR" line each)
 *   sg PORT none | sg PORT allow|deny allow|deny [in|eg:PROTO:LO-HI:a.b.c.d/N]...
 *                                 (or @FILE: those rules one a line)
 *                 (security group: ingress and egress default, up to 6 rules;
 *                 PROTO -1 for any; "OK" then)
 *   sgstat PORT   ("OK ct_hits=.. ct_created=.. ..." with the rules' packets)
 *   sgtimeout MS  (every connection timeout)
 *   quit
 *
 * Usage: dp_testd --vhost-dir DIR --prefix PREFIX [--workers N]
 *                 [--cpus LIST] [--mem MB] [--no-idle-sleep] [--no-flow-cache] [--hugepages]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dp.h"
#include "worker_lines.h"

static int
parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int b[6], i;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6)
		return -EINVAL;
	for (i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return 0;
}

/* "a.b.c.d,e.f.g.h" (or absent) into vteps; the count or -EINVAL. */
static int
parse_vteps(char *s, uint32_t *vteps, unsigned int max)
{
	char *save = NULL, *tok;
	unsigned int n = 0;

	if (s == NULL)
		return 0;
	for (tok = strtok_r(s, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		struct in_addr a;

		if (n == max || inet_pton(AF_INET, tok, &a) != 1)
			return -EINVAL;
		vteps[n++] = a.s_addr;
	}
	return (int)n;
}

static void
print_stats(const struct dp_port_stats *st)
{
	unsigned int i;

	printf("STAT port=%s kind=%s network=%s link=%s rx_packets=%" PRIu64 " rx_bytes=%" PRIu64
	       " tx_packets=%" PRIu64 " tx_bytes=%" PRIu64 " rx_l2_only=%" PRIu64
	       " queues_broken=%u vxlan_encap=%" PRIu64 " vxlan_decap=%" PRIu64,
	       st->port, st->kind, st->network[0] ? st->network : "-", st->link_up ? "up" : "down",
	       st->rx_packets, st->rx_bytes, st->tx_packets, st->tx_bytes, st->rx_l2_only,
	       st->queues_broken, st->vxlan_encap, st->vxlan_decap);
	printf(" rx_limit_bps=%" PRIu64 " rx_limit_burst=%" PRIu64 " tx_limit_bps=%" PRIu64
	       " tx_limit_burst=%" PRIu64,
	       st->qos.rx.bits_per_second, st->qos.rx.burst_bytes, st->qos.tx.bits_per_second,
	       st->qos.tx.burst_bytes);
	for (i = 0; i < st->ndrops; i++)
		printf(" drop_%s=%" PRIu64, st->drops[i].reason, st->drops[i].count);
	printf("\n");
}

static int
mirror_dir(const char *s)
{
	if (strcmp(s, "rx") == 0)
		return DP_MIRROR_RX;
	if (strcmp(s, "tx") == 0)
		return DP_MIRROR_TX;
	if (strcmp(s, "both") == 0)
		return DP_MIRROR_RX | DP_MIRROR_TX;
	return 0;
}

static int
print_mirrors(struct dp *dp)
{
	static struct dp_mirror_stats ms[DP_MAX_MIRRORS];
	int n = dp_mirror_stats(dp, NULL, ms, DP_MAX_MIRRORS), i;

	for (i = 0; i < n; i++)
		printf("MIRROR name=%s src=%s dst=%s dir=%u packets=%" PRIu64 " bytes=%" PRIu64
		       " drops=%" PRIu64 " no_buffer=%" PRIu64 "\n",
		       ms[i].name, ms[i].src, ms[i].dst, ms[i].dir, ms[i].packets, ms[i].bytes,
		       ms[i].drops, ms[i].no_buffer);
	return n;
}

/* "in:udp:9-9:198.18.0.0/24" (PROTO a number, -1 any) into r; 1 for in. */
static int
parse_sg_rule(char *s, struct dp_sg_rule *r)
{
	unsigned int a, b, c, d, plen, lo, hi;
	char dir[3];
	int proto;

	memset(r, 0, sizeof(*r));
	if (sscanf(s, "%2[a-z]:%d:%u-%u:%u.%u.%u.%u/%u", dir, &proto, &lo, &hi, &a, &b, &c, &d,
		   &plen) != 9)
		return -1;
	r->proto = (int16_t)proto;
	r->port_lo = (uint16_t)lo;
	r->port_hi = (uint16_t)hi;
	r->src_port_hi = 65535;
	r->remote_ip = htonl(a << 24 | b << 16 | c << 8 | d);
	r->prefix_len = (uint8_t)plen;
	return strcmp(dir, "in") == 0;
}

static int
set_sg(struct dp *dp, int argc, char **argv, char *err, size_t errlen)
{
	static struct dp_sg_rule in[DP_SG_MAX_RULES], eg[DP_SG_MAX_RULES];
	struct dp_sg_policy pol = { .ingress = in, .egress = eg };
	char line[128];
	FILE *f = NULL;
	int i, k;

	if (strcmp(argv[2], "none") == 0)
		return dp_port_sg_set(dp, argv[1], NULL, err, errlen);
	if (argc < 4)
		return -EINVAL;
	pol.ingress_deny = strcmp(argv[2], "deny") == 0;
	pol.egress_deny = strcmp(argv[3], "deny") == 0;
	/* @FILE: the rules one a line (more than a command line holds) */
	if (argc == 5 && argv[4][0] == '@') {
		f = fopen(argv[4] + 1, "r");
		if (f == NULL)
			return -errno;
	}
	for (i = 4; f != NULL ? fgets(line, sizeof(line), f) != NULL : i < argc; i++) {
		struct dp_sg_rule r;

		line[strcspn(line, "\n")] = '\0';
		k = parse_sg_rule(f != NULL ? line : argv[i], &r);
		if (k < 0 || (k ? pol.n_ingress : pol.n_egress) >= DP_SG_MAX_RULES) {
			if (f != NULL)
				fclose(f);
			return -EINVAL;
		}
		if (k)
			in[pol.n_ingress++] = r;
		else
			eg[pol.n_egress++] = r;
	}
	if (f != NULL)
		fclose(f);
	return dp_port_sg_set(dp, argv[1], &pol, err, errlen);
}

static int
print_sg(struct dp *dp, const char *port)
{
	struct dp_sg_rule_stats in[8], eg[8];
	struct dp_sg_stats st;
	unsigned int i;
	int rc = dp_port_sg_stats(dp, port, &st, in, 8, eg, 8);

	if (rc < 0) {
		printf("ERR %d %s\n", -rc, strerror(-rc));
		return 0;
	}
	printf("OK ct_hits=%" PRIu64 " ct_created=%" PRIu64 " ct_full=%" PRIu64
	       " ct_entries=%" PRIu64 " in_denied=%" PRIu64 " eg_denied=%" PRIu64,
	       st.ct_hits, st.ct_created, st.ct_full, st.ct_entries, st.default_denied[0],
	       st.default_denied[1]);
	for (i = 0; i < st.n_ingress && i < 8; i++)
		printf(" in%u=%" PRIu64, i, in[i].packets);
	for (i = 0; i < st.n_egress && i < 8; i++)
		printf(" eg%u=%" PRIu64, i, eg[i].packets);
	printf("\n");
	return 0;
}

static int
command(struct dp *dp, char *line)
{
	char *argv[10], *save = NULL, *tok, err[256] = "", path[256];
	static struct dp_port_stats st[256];
	int argc = 0, rc = -EINVAL, i;
	uint8_t mac[6];

	for (tok = strtok_r(line, " \t\n", &save); tok != NULL && argc < 10;
	     tok = strtok_r(NULL, " \t\n", &save))
		argv[argc++] = tok;
	if (argc == 0)
		return 0;
	if (strcmp(argv[0], "quit") == 0)
		return 1;
	if (strcmp(argv[0], "net") == 0 && argc == 3) {
		rc = dp_network_add(dp, argv[1], (uint16_t)atoi(argv[2]), err, sizeof(err));
	} else if ((strcmp(argv[0], "netvx") == 0 && (argc == 3 || argc == 4)) ||
		   (strcmp(argv[0], "vteps") == 0 && (argc == 2 || argc == 3))) {
		uint32_t vteps[DP_NET_MAX_VTEPS];
		bool add = strcmp(argv[0], "netvx") == 0;
		int n = parse_vteps(argc == (add ? 4 : 3) ? argv[argc - 1] : NULL, vteps,
				    DP_NET_MAX_VTEPS);

		if (n < 0)
			snprintf(err, sizeof(err), "bad VTEP list");
		else if (add)
			rc = dp_network_add_vxlan(dp, argv[1], (uint32_t)strtoul(argv[2], NULL, 0),
						  vteps, (unsigned int)n, err, sizeof(err));
		else
			rc = dp_network_set_vteps(dp, argv[1], vteps, (unsigned int)n, err,
						  sizeof(err));
	} else if (strcmp(argv[0], "vtep") == 0 && (argc == 2 || argc == 3)) {
		struct in_addr a;

		if (inet_pton(AF_INET, argv[1], &a) != 1)
			snprintf(err, sizeof(err), "bad address %s", argv[1]);
		else
			rc = dp_vtep_set(dp, a.s_addr, argc == 3 ? (uint16_t)atoi(argv[2]) : 0, err,
					 sizeof(err));
	} else if (strcmp(argv[0], "delnet") == 0 && argc == 2) {
		rc = dp_network_del(dp, argv[1], err, sizeof(err));
	} else if (strcmp(argv[0], "vhost") == 0 && argc == 5) {
		if (parse_mac(argv[3], mac) != 0) {
			snprintf(err, sizeof(err), "bad MAC %s", argv[3]);
		} else {
			rc = dp_vhost_port_add(dp, argv[1], argv[2], mac,
					       (unsigned int)atoi(argv[4]), path, sizeof(path), err,
					       sizeof(err));
			if (rc == 0) {
				printf("OK %s\n", path);
				return 0;
			}
		}
	} else if (strcmp(argv[0], "uplink") == 0 && argc == 3) {
		rc = dp_uplink_add(dp, argv[1], argv[2], err, sizeof(err));
	} else if (strcmp(argv[0], "access") == 0 && argc == 4) {
		rc = dp_access_port_add(dp, argv[1], argv[2], argv[3], err, sizeof(err));
	} else if (strcmp(argv[0], "del") == 0 && argc == 2) {
		rc = dp_port_del(dp, argv[1], err, sizeof(err));
	} else if (strcmp(argv[0], "qos") == 0 && argc == 6) {
		struct dp_qos q = {
			.rx = { strtoull(argv[2], NULL, 0), strtoull(argv[3], NULL, 0) },
			.tx = { strtoull(argv[4], NULL, 0), strtoull(argv[5], NULL, 0) },
		};

		rc = dp_port_qos_set(dp, argv[1], &q, err, sizeof(err));
	} else if (strcmp(argv[0], "sg") == 0 && argc >= 3) {
		rc = set_sg(dp, argc, argv, err, sizeof(err));
	} else if (strcmp(argv[0], "sgstat") == 0 && argc == 2) {
		return print_sg(dp, argv[1]);
	} else if (strcmp(argv[0], "sgtimeout") == 0 && argc == 2) {
		uint32_t ms = (uint32_t)strtoul(argv[1], NULL, 0);
		struct dp_sg_timeouts t = { ms, ms, ms, ms };

		rc = dp_sg_timeouts_set(dp, &t, err, sizeof(err));
	} else if (strcmp(argv[0], "mirror") == 0 && argc == 5) {
		rc = dp_mirror_add(dp, argv[1], argv[2], (unsigned int)mirror_dir(argv[3]), argv[4],
				   err, sizeof(err));
	} else if (strcmp(argv[0], "delmirror") == 0 && argc == 2) {
		rc = dp_mirror_del(dp, argv[1], err, sizeof(err));
	} else if (strcmp(argv[0], "mirrors") == 0 && argc == 1) {
		rc = print_mirrors(dp);
		if (rc >= 0) {
			printf("OK %d\n", rc);
			return 0;
		}
	} else if (strcmp(argv[0], "workers") == 0 && argc == 1) {
		rc = dpt_print_workers(dp);
		if (rc >= 0)
			return 0;
	} else if (strcmp(argv[0], "stats") == 0 && argc <= 2) {
		rc = dp_port_stats(dp, argc == 2 ? argv[1] : NULL, st, 256);
		for (i = 0; i < rc; i++)
			print_stats(&st[i]);
		if (rc >= 0) {
			printf("OK %d\n", rc);
			return 0;
		}
		snprintf(err, sizeof(err), "no such port");
	} else {
		snprintf(err, sizeof(err), "unknown command or wrong arguments");
	}
	if (rc == 0)
		printf("OK\n");
	else
		printf("ERR %d %s\n", -rc, err);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "vhost-dir", required_argument, NULL, 'd' },
		{ "prefix", required_argument, NULL, 'p' },
		{ "workers", required_argument, NULL, 'w' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "mem", required_argument, NULL, 'm' },
		{ "no-idle-sleep", no_argument, NULL, 'n' },
		{ "no-flow-cache", no_argument, NULL, 'F' },
		{ "hugepages", no_argument, NULL, 'H' },
		{ "eal", required_argument, NULL, 'e' },
		{ NULL, 0, NULL, 0 },
	};
	struct dp_conf conf = {
		.workers = 1,
		.no_huge = true,
		.mem_mb = 256,
		.idle_sleep = true,
	};
	char line[1024], err[256] = "";
	struct dp *dp;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			conf.vhost_dir = optarg;
			break;
		case 'p':
			conf.file_prefix = optarg;
			break;
		case 'w':
			conf.workers = (unsigned int)atoi(optarg);
			break;
		case 'c':
			conf.cpus = optarg;
			break;
		case 'm':
			conf.mem_mb = (unsigned int)atoi(optarg);
			break;
		case 'n':
			conf.idle_sleep = false;
			break;
		case 'F':
			conf.no_flow_cache = true;
			break;
		case 'H':
			conf.no_huge = false;
			break;
		case 'e':
			conf.eal_extra = optarg;
			break;
		default:
			fprintf(stderr, "usage: dp_testd --vhost-dir DIR --prefix P [...]\n");
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	rc = dp_open(&conf, &dp, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "dp_testd: %s (%s)\n", err, strerror(-rc));
		return 1;
	}
	printf("READY\n");
	while (fgets(line, sizeof(line), stdin) != NULL)
		if (command(dp, line) != 0)
			break;
	dp_close(dp);
	printf("BYE\n");
	return 0;
}
