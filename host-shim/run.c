/* SPDX-License-Identifier: MIT */
/*
 * `nicvisor-shim run`: one VM on this host without an agent, through the
 * same child as the daemon's VMs; the console goes to stdout.
 */
#define NV_LOG_COMPONENT "nicvisor.shim.run"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nv_log.h"
#include "nv_wire.h"
#include "shim.h"
#include "vmm.h"

/* Exit statuses (see docs/shim.md). A debug exit's value is the status. */
enum {
	RUN_OK = 0,
	RUN_USAGE = 2,
	RUN_NOT_SEEN = 1, /* --until: the guest ended without the pattern */
	RUN_BOOT_ERROR = 100,
	RUN_TRIPLE_FAULT = 101,
	RUN_KVM_ERROR = 102,
	RUN_CRASHED = 103,
	RUN_REBOOT = 104,
	RUN_TIMEOUT = 124,
	RUN_INTERRUPTED = 130,
};

static volatile sig_atomic_t interrupted;

static void
on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static void
usage(void)
{
	fprintf(stderr,
		"usage: nicvisor-shim run --kernel K [--initrd I] [--cmdline C] [--vcpus N]\n"
		"           [--memory MiB] [--debug-exit] [--until PATTERN] [--timeout S]\n"
		"           [--nic MAC,SOCKET[,QUEUES]]... [--disk SOCKET[,ro][,queues=N]]...\n"
		"           [--kvm PATH] [--log-level L] [--vm-sandbox MODE] [--vm-user USER]\n"
		"  " SHIM_SANDBOX_USAGE);
}

static int
open_image(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		nv_err("%s: %s", path, strerror(errno));
	return fd;
}

static void
write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

/* --nic MAC,SOCKET[,QUEUES]: a NIC whose vhost-user backend listens on
 * SOCKET; the NICs are numbered in the order given. */
static int
parse_nic(char *arg, Nicvisor__V1__NicAttachment *a, uint32_t index)
{
	char *mac = arg, *sock = strchr(arg, ','), *queues, *end;
	uint8_t m[6];

	if (sock == NULL)
		return -EINVAL;
	*sock++ = 0;
	queues = strchr(sock, ',');
	if (queues != NULL)
		*queues++ = 0;
	nicvisor__v1__nic_attachment__init(a);
	a->index = index;
	a->mac = mac;
	a->vhost_user_socket = sock;
	a->queue_pairs = 1;
	if (queues != NULL) {
		unsigned long q = strtoul(queues, &end, 10);

		if (*queues == 0 || *end != 0 || q > SHIM_NIC_PAIRS_MAX)
			return -EINVAL;
		a->queue_pairs = (uint32_t)q;
	}
	return shim_mac_parse(mac, m);
}

static int
status_of(const Nicvisor__V1__ChildState *st, bool until)
{
	if (until)
		return st->console_matched ? RUN_OK : RUN_NOT_SEEN;
	switch (st->exit) {
	case NICVISOR__V1__EXIT_KIND__EXIT_KIND_STOPPED:
		return RUN_TIMEOUT;
	case NICVISOR__V1__EXIT_KIND__EXIT_KIND_POWEROFF:
		return RUN_OK;
	case NICVISOR__V1__EXIT_KIND__EXIT_KIND_DEBUG_EXIT:
		return (int)(st->code & 0xff);
	case NICVISOR__V1__EXIT_KIND__EXIT_KIND_BOOT_ERROR:
		return RUN_BOOT_ERROR;
	case NICVISOR__V1__EXIT_KIND__EXIT_KIND_TRIPLE_FAULT:
		return RUN_TRIPLE_FAULT;
	case NICVISOR__V1__EXIT_KIND__EXIT_KIND_REBOOT:
		return RUN_REBOOT;
	default:
		return RUN_KVM_ERROR;
	}
}

int
shim_run_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "kernel", required_argument, NULL, 'k' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "cmdline", required_argument, NULL, 'c' },
		{ "vcpus", required_argument, NULL, 'n' },
		{ "memory", required_argument, NULL, 'm' },
		{ "debug-exit", no_argument, NULL, 'd' },
		{ "until", required_argument, NULL, 'u' },
		{ "timeout", required_argument, NULL, 't' },
		{ "kvm", required_argument, NULL, 'K' },
		{ "nic", required_argument, NULL, 'N' },
		{ "disk", required_argument, NULL, 'D' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "vm-sandbox", required_argument, NULL, 'S' },
		{ "vm-user", required_argument, NULL, 'U' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	Nicvisor__V1__ChildControl m = NICVISOR__V1__CHILD_CONTROL__INIT;
	Nicvisor__V1__ChildBoot b = NICVISOR__V1__CHILD_BOOT__INIT;
	Nicvisor__V1__VmSpec spec = NICVISOR__V1__VM_SPEC__INIT;
	Nicvisor__V1__NicAttachment nics[SHIM_NICS_MAX], *nicp[SHIM_NICS_MAX];
	unsigned int nnics = 0;
	char nic_why[SHIM_REASON_MAX], arch_why[128];
	struct shim_disk sdisks[SHIM_DISKS_MAX];
	Nicvisor__V1__DiskAttachment disks[SHIM_DISKS_MAX], *diskp[SHIM_DISKS_MAX];
	unsigned int ndisks = 0;
	const char *kernel = NULL, *initrd = NULL, *sandbox = NULL, *vm_user = NULL;
	struct shim_sandbox sb;
	enum nv_log_level level = NV_LOG_WARN;
	struct sigaction sa = { .sa_handler = on_signal };
	int fds[2] = { -1, -1 }, status = RUN_CRASHED, wstatus = 0, c, sock, rc;
	double timeout_s = 0;
	uint64_t t0, deadline = 0, stop_sent_ns = 0;
	bool stop_sent = false, ended = false;
	pid_t pid;

	spec.name = "local";
	spec.vcpus = 1;
	spec.memory_mib = 64;
	spec.cmdline = "console=ttyS0";
	b.stop_on_console = "";
	b.kvm_path = "";
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			kernel = optarg;
			break;
		case 'i':
			initrd = optarg;
			break;
		case 'c':
			spec.cmdline = optarg;
			break;
		case 'n':
			spec.vcpus = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'm':
			spec.memory_mib = strtoull(optarg, NULL, 0);
			break;
		case 'd':
			b.debug_exit = true;
			break;
		case 'u':
			b.stop_on_console = optarg;
			break;
		case 't':
			timeout_s = strtod(optarg, NULL);
			break;
		case 'K':
			b.kvm_path = optarg;
			break;
		case 'N':
			if (nnics == SHIM_NICS_MAX || parse_nic(optarg, &nics[nnics], nnics) < 0) {
				fprintf(stderr,
					"--nic: MAC,SOCKET[,QUEUES] with a unicast MAC and "
					"1..%d queue pairs, at most %d NICs\n",
					SHIM_NIC_PAIRS_MAX, SHIM_NICS_MAX);
				return RUN_USAGE;
			}
			nicp[nnics] = &nics[nnics];
			nnics++;
			break;
		case 'D':
			if (ndisks == SHIM_DISKS_MAX || strlen(optarg) > 250 ||
			    shim_disk_parse(optarg, ndisks, &sdisks[ndisks], nic_why,
					    sizeof(nic_why)) < 0) {
				fprintf(stderr, "--disk: %s\n",
					ndisks == SHIM_DISKS_MAX ? "too many disks"
					: strlen(optarg) > 250   ? "too long"
								 : nic_why);
				return RUN_USAGE;
			}
			nicvisor__v1__disk_attachment__init(&disks[ndisks]);
			disks[ndisks].index = sdisks[ndisks].index;
			disks[ndisks].vhost_user_socket = sdisks[ndisks].socket;
			disks[ndisks].queues = sdisks[ndisks].queues;
			disks[ndisks].read_only = sdisks[ndisks].read_only;
			diskp[ndisks] = &disks[ndisks];
			ndisks++;
			break;
		case 'l':
			if (nv_log_parse_level(optarg, &level) < 0) {
				usage();
				return RUN_USAGE;
			}
			break;
		case 'S':
			sandbox = optarg;
			break;
		case 'U':
			vm_user = optarg;
			break;
		default:
			usage();
			return c == 'h' ? RUN_OK : RUN_USAGE;
		}
	}
	if (kernel == NULL || optind != argc || timeout_s < 0) {
		usage();
		return RUN_USAGE;
	}
	if (shim_nics_check(nicp, nnics, "--nic", NULL, nic_why, sizeof(nic_why)) < 0 ||
	    shim_sandbox_conf(sandbox, vm_user, &sb, nic_why, sizeof(nic_why)) < 0) {
		fprintf(stderr, "%s\n", nic_why);
		return RUN_USAGE;
	}
	shim_sandbox_to_boot(&sb, &b);
	/* Before any work: a build that runs no guests here says so (vmm.h). */
	if (vmm_guests_supported(arch_why, sizeof(arch_why)) < 0) {
		fprintf(stderr, "nicvisor-shim run: %s\n", arch_why);
		return RUN_BOOT_ERROR;
	}
	b.nics = nicp;
	b.n_nics = nnics;
	b.disks = diskp;
	b.n_disks = ndisks;
	nv_log_init("nicvisor-shim", level);
	for (unsigned int i = 0; i < ndisks; i++) {
		/* As the daemon does: the backend waits for every queue the
		 * frontend names, and a guest uses at most one per vCPU. */
		if (spec.vcpus >= 1 && disks[i].queues > spec.vcpus) {
			nv_warn("disk %u: %u queues lowered to the %u vCPUs", i, disks[i].queues,
				spec.vcpus);
			disks[i].queues = spec.vcpus;
		}
	}
	setenv("NV_LOG_LEVEL",
	       (const char *[]){ "err", "warn", "info", "debug" }[nv_log_get_level()],
	       1); /* the child logs like us */
	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGINT, &sa, NULL); /* no SA_RESTART: poll returns */
	sigaction(SIGTERM, &sa, NULL);

	fds[0] = open_image(kernel);
	if (fds[0] < 0)
		return RUN_BOOT_ERROR;
	if (initrd != NULL && (fds[1] = open_image(initrd)) < 0)
		return RUN_BOOT_ERROR;
	t0 = nv_mono_ns();
	if (timeout_s > 0)
		deadline = t0 + (uint64_t)(timeout_s * 1e9);
	rc = shim_child_spawn(&pid, &sock);
	if (rc < 0) {
		nv_err("cannot start the VM's process: %s", strerror(-rc));
		return RUN_CRASHED;
	}
	b.vm_id = "local";
	b.spec = &spec;
	b.has_initrd = initrd != NULL;
	b.boot = 1;
	m.op_case = NICVISOR__V1__CHILD_CONTROL__OP_BOOT;
	m.boot = &b;
	rc = shim_chan_send(sock, &m.base, fds, initrd ? 2 : 1, 0);
	close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	if (rc < 0)
		nv_err("cannot hand the boot over: %s", strerror(-rc));

	while (!ended) {
		struct pollfd p = { .fd = sock, .events = POLLIN };
		Nicvisor__V1__ChildEvent *ev = NULL;
		char why[128];
		int wait = -1;

		if ((interrupted || (deadline && nv_mono_ns() >= deadline)) && !stop_sent) {
			Nicvisor__V1__ChildControl sm = NICVISOR__V1__CHILD_CONTROL__INIT;
			Nicvisor__V1__ChildStop cs = NICVISOR__V1__CHILD_STOP__INIT;

			cs.force = true;
			sm.op_case = NICVISOR__V1__CHILD_CONTROL__OP_STOP;
			sm.stop = &cs;
			shim_chan_send(sock, &sm.base, NULL, 0, MSG_DONTWAIT);
			stop_sent = true;
			stop_sent_ns = nv_mono_ns();
		}
		if (stop_sent && nv_mono_ns() - stop_sent_ns > 10000 * 1000000ull) {
			nv_err("the VM's process does not stop; killing it");
			kill(pid, SIGKILL);
			break;
		}
		if (stop_sent)
			wait = 100;
		else if (deadline)
			wait = (int)((deadline - nv_mono_ns()) / 1000000 + 1);
		if (poll(&p, 1, wait) <= 0)
			continue;
		rc = shim_chan_recv(sock, &nicvisor__v1__child_event__descriptor,
				    (ProtobufCMessage **)&ev, NULL, NULL, 0);
		if (rc == -EPIPE)
			break;
		if (rc < 0 || shim_child_event_check(ev, why, sizeof(why)) < 0) {
			nv_warn("message from the VM's process dropped");
			nv_wire_free(ev ? &ev->base : NULL);
			continue;
		}
		if (ev->kind_case == NICVISOR__V1__CHILD_EVENT__KIND_CONSOLE) {
			write_all(1, ev->console->data.data, ev->console->data.len);
		} else if (ev->state->state == NICVISOR__V1__VM_STATE__VM_STATE_RUNNING) {
			nv_info("running; VMM setup took %.3f ms", ev->state->boot_ns / 1e6);
		} else {
			status = status_of(ev->state, b.stop_on_console[0] != 0);
			if (stop_sent && !ev->state->console_matched)
				status = interrupted ? RUN_INTERRUPTED : RUN_TIMEOUT;
			nv_info("ended after %.3f ms: %s: %s", (nv_mono_ns() - t0) / 1e6,
				nv_exit_kind_name(ev->state->exit), ev->state->reason);
			nv_info("VM process: peak RSS %" PRIu64 " KiB, guest RAM resident %" PRIu64
				" KiB",
				ev->state->peak_rss_kib, ev->state->guest_resident_kib);
			ended = true;
		}
		nv_wire_free(&ev->base);
	}
	close(sock);
	while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR)
		;
	if (!ended)
		nv_err("the VM's process died without a report (%s %d)",
		       WIFSIGNALED(wstatus) ? "signal" : "status",
		       WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : WEXITSTATUS(wstatus));
	return status;
}
