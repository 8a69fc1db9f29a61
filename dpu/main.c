/* SPDX-License-Identifier: MIT */
/*
 * nicvisor-dpu: the DPU agent. Parses options, prepares directories, runs
 * the agent on nng until SIGTERM or SIGINT.
 */
#define NV_LOG_COMPONENT "nicvisor.dpu"

#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "blk.h"
#include "metrics.h"
#include "net.h"
#include "nv_config.h"
#include "nv_log.h"
#include "nv_rpc.h"
#include "server.h"
#include "store.h"

#define DEFAULT_API    "ipc:///run/nicvisor/api.sock"
#define DEFAULT_EVENTS "ipc:///run/nicvisor/events.sock"
#define DEFAULT_SOUTH  "ipc:///run/nicvisor/host.sock"
#define DEFAULT_STATE  "/var/lib/nicvisor"
#define DEFAULT_RUN    "/run/nicvisor"
/* <vhost dir>/<port>.sock must fit sun_path (108 bytes); ports are
 * "vm-<16 hex>-<12 hex>". */
#define VHOST_DIR_MAX (107 - 1 - 32 - 5)
/* <dir>/<volume id>.img stays a short path. */
#define VOLUME_DIR_MAX 512

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: nicvisor-dpu [options]\n"
		"\n"
		"The nicvisor DPU agent: owns VMs, hosts and boot images; serves the API.\n"
		"\n"
		"  --api URL            northbound API (default " DEFAULT_API ")\n"
		"  --events URL         event publisher (default " DEFAULT_EVENTS ")\n"
		"  --southbound URL     host channel, e.g. tcp://0.0.0.0:7470\n"
		"                       (default " DEFAULT_SOUTH ")\n"
		"  --state-dir DIR      durable state and boot artifacts (default " DEFAULT_STATE
		")\n"
		"  --api-read-only URL  a second API endpoint that serves only Get and List\n"
		"                       requests (default: none)\n"
		"\n"
		"Security (tls+tcp:// URLs are mutual TLS; ipc:// sockets are root's only,\n"
		"plain tcp:// admits anyone and is logged as such):\n"
		"  --tls-cert FILE      the agent's certificate (PEM)\n"
		"  --tls-key FILE       its private key (PEM)\n"
		"  --tls-ca FILE        CA of the admin clients' certificates (--api, events)\n"
		"  --tls-read-only-ca FILE  CA of the read-only clients' certificates\n"
		"                       (--api-read-only, events)\n"
		"  --tls-host-ca FILE   CA of the hosts' certificates (--southbound; default\n"
		"                       --tls-ca)\n"
		"  --heartbeat-ms N     longest a host poll is held (default 1000)\n"
		"  --dead-after-ms N    host lost after this much silence\n"
		"                       (default 3 * heartbeat + 1000)\n"
		"\n"
		"Dataplane (DPDK: the switch serving VM NICs, the block backend serving disks):\n"
		"  --dataplane MODE     on (DPDK starts now), off (networks, NICs, disks refused)\n"
		"                       or fake (kept in memory, no packets; tests). Default\n"
		"                       when built with DPDK: on, starting DPDK when first\n"
		"                       needed (a network, an uplink or a disk); else off\n"
		"  --dp-workers N       forwarding cores (default 1)\n"
		"  --dp-cpus LIST       EAL core list for the main and worker cores, e.g. 2-3\n"
		"  --dp-hugepages       use hugepages (default: if the machine has some free)\n"
		"  --dp-no-huge         use ordinary memory (development)\n"
		"  --dp-mem MB          memory without hugepages (default 512)\n"
		"  --dp-huge-dir DIR    hugetlbfs mount (default: the EAL finds one)\n"
		"  --dp-idle-sleep      workers sleep when idle (development, tests)\n"
		"  --dp-eal-args ARGS   more EAL arguments, space separated\n"
		"  --vhost-dir DIR      vhost-user sockets of VM NICs and disks (default:\n"
		"                       the directory of the --api socket, or " DEFAULT_RUN ",\n"
		"                       plus /vhost)\n"
		"  --uplink NAME=DEVARGS  an uplink ethdev, e.g. up0=net_af_packet0,iface=eth1\n"
		"                       (repeatable)\n"
		"  --host-port NAME=DEVARGS@NETWORK\n"
		"                       an ethdev as an access port of NETWORK (untagged,\n"
		"                       switched like a VM's NIC), e.g. a BlueField's host PF\n"
		"                       representor hpf0=0000:03:00.0,representor=[65535]@blue;\n"
		"                       attached when NETWORK is created or restored, detached\n"
		"                       when it is deleted (repeatable)\n"
		"  --vtep IP[:PORT]     this DPU's VXLAN tunnel endpoint on the uplinks (overlay\n"
		"                       networks, network create --vni); PORT default 4789\n"
		"\n"
		"Storage:\n"
		"  --volume-dir DIR     sparse files of file volumes (default STATE-DIR/volumes)\n"
		"                       Disks are vhost-user-blk sockets in the --vhost-dir,\n"
		"                       served by the DPDK dataplane (started by the first\n"
		"                       disk in the default mode); --dataplane off refuses\n"
		"                       VMs with disks, fake keeps them without I/O\n"
		"\n"
		"  --metrics ADDR:PORT  serve Prometheus metrics at http://ADDR:PORT/metrics\n"
		"                       (default: none), e.g. 127.0.0.1:9464\n"
		"  --log-level LEVEL    err, warn, info or debug (default info)\n"
		"  --version            print the version and exit\n"
		"  --help               print this help and exit\n");
}

/* A crash leaves its signal and stack in the log (then the default action:
 * a core if enabled). Only async-signal-safe calls. */
static void
fatal_signal(int sig)
{
	static const char head[] = "nicvisor-dpu: fatal signal ";
	void *frames[48];
	char num[4] = { (char)('0' + sig / 10), (char)('0' + sig % 10), '\n', 0 };
	int n;

	if (write(2, head, sizeof(head) - 1) < 0 || write(2, num, 3) < 0)
		_exit(128 + sig);
	n = backtrace(frames, 48);
	backtrace_symbols_fd(frames, n, 2);
	raise(sig);
}

static void
catch_fatal_signals(void)
{
	static const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };
	struct sigaction sa = { .sa_handler = fatal_signal, .sa_flags = SA_RESETHAND | SA_NODEFER };
	void *warm[1];

	backtrace(warm, 1); /* loads libgcc now, not in the handler */
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}

/* mkdir -p with mode for new directories. */
static int
make_dirs(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p != 0; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* For ipc://PATH, create the directory PATH lives in. */
static int
prepare_url(const char *opt, const char *url)
{
	const char *path;
	char dir[PATH_MAX];
	char *slash;
	int rc;

	if (strncmp(url, "ipc://", 6) != 0)
		return 0;
	path = url + 6;
	if (strlen(path) >= sizeof(dir)) {
		nv_err("%s %s: path too long", opt, url);
		return -ENAMETOOLONG;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir)
		return 0;
	*slash = 0;
	rc = make_dirs(dir, 0755);
	if (rc < 0)
		nv_err("cannot create directory %s for %s %s: %s", dir, opt, url, strerror(-rc));
	return rc;
}

/* The directory of an ipc:// URL's socket, else the default run dir. */
static void
run_dir(const char *api, char *out, size_t size)
{
	const char *slash;

	if (strncmp(api, "ipc://", 6) == 0 && (slash = strrchr(api + 6, '/')) != NULL &&
	    slash > api + 6)
		snprintf(out, size, "%.*s", (int)(slash - (api + 6)), api + 6);
	else
		snprintf(out, size, "%s", DEFAULT_RUN);
}

static int
parse_uint(const char *opt, const char *s, unsigned long min, unsigned long max, unsigned int *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != 0 || end == s || s[0] == '-' || v < min || v > max) {
		fprintf(stderr, "nicvisor-dpu: %s %s: give a number from %lu to %lu\n", opt, s, min,
			max);
		return -EINVAL;
	}
	*out = (unsigned int)v;
	return 0;
}

/* An EAL core list: digits, ',' and '-' only. */
static bool
cpu_list_ok(const char *s)
{
	if (s[0] == 0 || strlen(s) > 256)
		return false;
	for (; *s != 0; s++)
		if (!(*s >= '0' && *s <= '9') && *s != ',' && *s != '-')
			return false;
	return true;
}

static int
parse_ms(const char *opt, const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != 0 || end == s || v < 10 || v > 3600000) {
		fprintf(stderr, "nicvisor-dpu: %s %s: give milliseconds between 10 and 3600000\n",
			opt, s);
		return -EINVAL;
	}
	*out = (uint32_t)v;
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "api", required_argument, NULL, 'a' },
		{ "events", required_argument, NULL, 'e' },
		{ "southbound", required_argument, NULL, 's' },
		{ "state-dir", required_argument, NULL, 'd' },
		{ "heartbeat-ms", required_argument, NULL, 'b' },
		{ "dead-after-ms", required_argument, NULL, 'D' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "dataplane", required_argument, NULL, 'P' },
		{ "dp-workers", required_argument, NULL, 'W' },
		{ "dp-cpus", required_argument, NULL, 'C' },
		{ "dp-hugepages", no_argument, NULL, 'H' },
		{ "dp-no-huge", no_argument, NULL, 'N' },
		{ "dp-mem", required_argument, NULL, 'M' },
		{ "dp-huge-dir", required_argument, NULL, 'G' },
		{ "dp-idle-sleep", no_argument, NULL, 'S' },
		{ "dp-eal-args", required_argument, NULL, 'E' },
		{ "vhost-dir", required_argument, NULL, 'v' },
		{ "uplink", required_argument, NULL, 'u' },
		{ "host-port", required_argument, NULL, 'p' },
		{ "vtep", required_argument, NULL, 'X' },
		{ "volume-dir", required_argument, NULL, 'o' },
		{ "metrics", required_argument, NULL, 'm' },
		{ "api-read-only", required_argument, NULL, 'R' },
		{ "tls-cert", required_argument, NULL, 'c' },
		{ "tls-key", required_argument, NULL, 'k' },
		{ "tls-ca", required_argument, NULL, 'A' },
		{ "tls-read-only-ca", required_argument, NULL, 'r' },
		{ "tls-host-ca", required_argument, NULL, 'O' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *api = DEFAULT_API, *events = DEFAULT_EVENTS, *south = DEFAULT_SOUTH;
	const char *state_dir = DEFAULT_STATE;
	enum nv_log_level level = NV_LOG_INFO;
	struct dpu_agent_conf conf = { 0 };
	struct dpu_server_conf sconf = { 0 };
	struct dpu_events *ev = NULL;
	struct dpu_server *srv = NULL;
	struct dpu_agent *agent = NULL;
	struct dpu_store *store = NULL;
	struct dpu_net_opts nopts = { .hugepages = -1 };
	struct dpu_net *net = NULL;
	struct dpu_blk *blk = NULL;
	const char *volume_dir = NULL, *metrics_listen = NULL, *api_ro = NULL;
	const char *tls_cert = NULL, *tls_key = NULL, *tls_ca = NULL, *tls_ro_ca = NULL;
	const char *tls_host_ca = NULL;
	struct nv_tls ev_tls;
	struct dpu_metrics *metrics = NULL;
	char artifacts[PATH_MAX], lockpath[PATH_MAX], vhost_dir[PATH_MAX], err[256];
	char volumes[PATH_MAX];
	sigset_t sigs;
	int c, rc, sig, lockfd;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			api = optarg;
			break;
		case 'e':
			events = optarg;
			break;
		case 's':
			south = optarg;
			break;
		case 'd':
			state_dir = optarg;
			break;
		case 'b':
			if (parse_ms("--heartbeat-ms", optarg, &conf.heartbeat_ms) < 0)
				return 2;
			break;
		case 'D':
			if (parse_ms("--dead-after-ms", optarg, &conf.dead_after_ms) < 0)
				return 2;
			break;
		case 'l':
			if (nv_log_parse_level(optarg, &level) < 0) {
				fprintf(stderr,
					"nicvisor-dpu: --log-level %s: use err, warn, info or "
					"debug\n",
					optarg);
				return 2;
			}
			break;
		case 'P':
			if (strcmp(optarg, "on") == 0)
				nopts.mode = DPU_DATAPLANE_ON;
			else if (strcmp(optarg, "off") == 0)
				nopts.mode = DPU_DATAPLANE_OFF;
			else if (strcmp(optarg, "fake") == 0)
				nopts.mode = DPU_DATAPLANE_FAKE;
			else {
				fprintf(stderr,
					"nicvisor-dpu: --dataplane %s: use on, off or fake\n",
					optarg);
				return 2;
			}
			break;
		case 'W':
			if (parse_uint("--dp-workers", optarg, 1, 64, &nopts.workers) < 0)
				return 2;
			break;
		case 'C':
			if (!cpu_list_ok(optarg)) {
				fprintf(stderr,
					"nicvisor-dpu: --dp-cpus %s: give a core list such as 1-2 "
					"or 0,3\n",
					optarg);
				return 2;
			}
			nopts.cpus = optarg;
			break;
		case 'H':
			nopts.hugepages = 1;
			break;
		case 'N':
			nopts.hugepages = 0;
			break;
		case 'M':
			if (parse_uint("--dp-mem", optarg, 64, 1 << 20, &nopts.mem_mb) < 0)
				return 2;
			break;
		case 'G':
			nopts.huge_dir = optarg;
			break;
		case 'S':
			nopts.idle_sleep = true;
			break;
		case 'E':
			nopts.eal_extra = optarg;
			break;
		case 'v':
			if (optarg[0] != '/' || strlen(optarg) > VHOST_DIR_MAX) {
				fprintf(stderr,
					"nicvisor-dpu: --vhost-dir %s: give an absolute path of at "
					"most %d bytes (socket paths are limited to 108)\n",
					optarg, VHOST_DIR_MAX);
				return 2;
			}
			nopts.vhost_dir = optarg;
			break;
		case 'u':
			if (dpu_net_opts_add_uplink(&nopts, optarg, err, sizeof(err)) < 0) {
				fprintf(stderr, "nicvisor-dpu: --uplink: %s\n", err);
				return 2;
			}
			break;
		case 'p':
			if (dpu_net_opts_add_host_port(&nopts, optarg, err, sizeof(err)) < 0) {
				fprintf(stderr, "nicvisor-dpu: --host-port: %s\n", err);
				return 2;
			}
			break;
		case 'm':
			metrics_listen = optarg;
			break;
		case 'R':
			api_ro = optarg;
			break;
		case 'c':
			tls_cert = optarg;
			break;
		case 'k':
			tls_key = optarg;
			break;
		case 'A':
			tls_ca = optarg;
			break;
		case 'r':
			tls_ro_ca = optarg;
			break;
		case 'O':
			tls_host_ca = optarg;
			break;
		case 'X':
			if (dpu_net_opts_set_vtep(&nopts, optarg, err, sizeof(err)) < 0) {
				fprintf(stderr, "nicvisor-dpu: --vtep: %s\n", err);
				return 2;
			}
			break;
		case 'o':
			if (optarg[0] != '/' || strlen(optarg) > VOLUME_DIR_MAX) {
				fprintf(stderr,
					"nicvisor-dpu: --volume-dir %s: give an absolute path of "
					"at most %d bytes\n",
					optarg, VOLUME_DIR_MAX);
				return 2;
			}
			volume_dir = optarg;
			break;
		case 'V':
			printf("nicvisor-dpu %s\n", NV_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "nicvisor-dpu: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	nv_log_init("nicvisor-dpu", level);
	if (conf.heartbeat_ms != 0 && conf.dead_after_ms != 0 &&
	    conf.dead_after_ms <= conf.heartbeat_ms) {
		nv_err("--dead-after-ms %u must be longer than --heartbeat-ms %u",
		       conf.dead_after_ms, conf.heartbeat_ms);
		return 2;
	}

	/* Threads started from here on inherit the mask; only sigwait below
	 * sees these signals. */
	catch_fatal_signals();
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	rc = make_dirs(state_dir, 0700);
	if (rc < 0) {
		nv_err("cannot create the state directory %s: %s; pass --state-dir", state_dir,
		       strerror(-rc));
		return 1;
	}
	snprintf(lockpath, sizeof(lockpath), "%s/lock", state_dir);
	lockfd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lockfd < 0 || flock(lockfd, LOCK_EX | LOCK_NB) < 0) {
		nv_err("cannot lock %s: %s%s", lockpath, strerror(errno),
		       errno == EWOULDBLOCK ? " (another nicvisor-dpu uses this state directory)"
					    : "");
		return 1;
	}
	snprintf(artifacts, sizeof(artifacts), "%s/artifacts", state_dir);
	rc = make_dirs(artifacts, 0700);
	if (rc < 0) {
		nv_err("cannot create %s: %s", artifacts, strerror(-rc));
		return 1;
	}
	if (volume_dir == NULL) {
		snprintf(volumes, sizeof(volumes), "%s/volumes", state_dir);
		volume_dir = volumes;
	}
	rc = make_dirs(volume_dir, 0700);
	if (rc < 0) {
		nv_err("cannot create the volume directory %s: %s; pass --volume-dir", volume_dir,
		       strerror(-rc));
		return 1;
	}
	if (prepare_url("--api", api) < 0 || prepare_url("--events", events) < 0 ||
	    prepare_url("--southbound", south) < 0 ||
	    (api_ro != NULL && prepare_url("--api-read-only", api_ro) < 0))
		return 1;
	if (api_ro != NULL && strncmp(api_ro, "tls+", 4) == 0 && tls_ro_ca == NULL) {
		nv_err("--api-read-only %s needs --tls-read-only-ca: the CA of the read-only "
		       "clients' certificates",
		       api_ro);
		return 1;
	}
	/* One certificate; each endpoint admits the clients of its CAs. */
	sconf.api_tls = (struct nv_tls){ .cert = tls_cert, .key = tls_key, .ca = { tls_ca } };
	sconf.api_ro_tls = (struct nv_tls){ .cert = tls_cert, .key = tls_key, .ca = { tls_ro_ca } };
	sconf.south_tls = (struct nv_tls){ .cert = tls_cert,
					   .key = tls_key,
					   .ca = { tls_host_ca ? tls_host_ca : tls_ca } };
	ev_tls =
		(struct nv_tls){ .cert = tls_cert,
				 .key = tls_key,
				 .ca = { tls_ca ? tls_ca : tls_ro_ca, tls_ca ? tls_ro_ca : NULL } };
	if (nopts.vhost_dir == NULL) {
		char rd[PATH_MAX];

		run_dir(api, rd, sizeof(rd));
		snprintf(vhost_dir, sizeof(vhost_dir), "%s/vhost", rd);
		if (vhost_dir[0] != '/' || strlen(vhost_dir) > VHOST_DIR_MAX) {
			nv_err("vhost-user socket directory %s is relative or longer than %d "
			       "bytes; pass --vhost-dir",
			       vhost_dir, VHOST_DIR_MAX);
			return 1;
		}
		nopts.vhost_dir = vhost_dir;
	}
	nopts.state_dir = state_dir;
	if (nopts.mode != DPU_DATAPLANE_OFF) {
		rc = make_dirs(nopts.vhost_dir, 0755);
		if (rc < 0) {
			nv_err("cannot create %s for vhost-user sockets: %s", nopts.vhost_dir,
			       strerror(-rc));
			return 1;
		}
	}

	rc = dpu_store_file_open(state_dir, &store);
	if (rc < 0)
		goto out;
	rc = dpu_events_open(events, &ev_tls, &ev);
	if (rc < 0)
		goto out;
	rc = dpu_net_open(&nopts, &net, &conf.net_off_reason);
	if (rc < 0)
		goto out;
	conf.net = net;
	/* Disks: the fake with the fake switch, the DPDK block backend on
	 * the DPDK dataplane (it shares the switch's EAL and may be the one
	 * that starts it), none when the dataplane is off. */
	if (nopts.mode == DPU_DATAPLANE_FAKE) {
		rc = dpu_blk_fake_open(nopts.vhost_dir, &blk);
		if (rc < 0) {
			nv_err("cannot open the fake block backend: %s", strerror(-rc));
			goto out;
		}
	}
#ifdef NV_HAVE_DATAPLANE
	else if (net != NULL) {
		rc = dpu_blk_dp_open(net, &blk);
		if (rc < 0)
			goto out;
	}
#endif
	conf.blk = blk;
	conf.volume_dir = volume_dir;
	conf.store = store;
	conf.artifact_dir = artifacts;
	conf.events = dpu_events_sink(ev);
	rc = dpu_agent_open(&conf, &agent);
	if (rc < 0) {
		nv_err("cannot start the agent: %s", strerror(-rc));
		goto out;
	}
	/* Its saved networks are in the dataplane now, with their host ports. */
	rc = dpu_net_host_ports_check(net, &nopts);
	if (rc < 0)
		goto out;
	/* Metrics before the API: an agent that cannot serve what it was
	 * asked to refuses to start before anyone can talk to it. */
	if (metrics_listen != NULL && (rc = dpu_metrics_open(agent, metrics_listen, &metrics)) < 0)
		goto out;
	sconf.api_url = api;
	sconf.api_ro_url = api_ro;
	sconf.south_url = south;
	rc = dpu_server_open(agent, &sconf, &srv);
	if (rc < 0)
		goto out;
	nv_info("nicvisor-dpu %s ready: state in %s, events on %s", NV_VERSION, state_dir, events);

	do {
		rc = sigwait(&sigs, &sig);
	} while (rc != 0);
	nv_info("%s: shutting down", strsignal(sig));
	nv_rpc_exit_watchdog(10);
	rc = 0;
out:
	dpu_metrics_close(metrics);
	dpu_server_close(srv);
	dpu_agent_close(agent);
	dpu_blk_close(blk);
	dpu_net_close(net);
	dpu_events_close(ev);
	dpu_store_close(store);
	close(lockfd);
	return rc < 0 ? 1 : 0;
}
