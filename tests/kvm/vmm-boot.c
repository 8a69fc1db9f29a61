/* SPDX-License-Identifier: MIT */
/*
 * vmm-boot: boot a kernel through vmm.h, for tests and by hand.
 *
 *   vmm-boot --kernel K [--initrd I] [--cmdline C] [--vcpus N] [--memory MiB]
 *            [--debug-exit] [--timeout S] [--power-button-on TEXT]
 *
 * --power-button-on presses the ACPI power button once the console has
 * shown TEXT (e.g. the guest's ready marker).
 *
 * The guest's COM1 goes to stdout, stdin to its receiver; the exit and the
 * statistics go to stderr. Exit status: 0 poweroff, 1 usage or setup
 * error, 3 reboot, 4 triple fault, 5 KVM error, 6 stopped (timeout,
 * SIGINT, SIGTERM), 7 debug-exit (the code is printed).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nv_log.h"
#include "vmm.h"

/* Watch the console for the --power-button-on text (vCPU threads). */
struct watch {
	const char *text;
	size_t matched;
	int fd; /* eventfd, written once on a match */
	pthread_mutex_t lock;
};

static void
watch_console(struct watch *w, const uint8_t *data, size_t len)
{
	uint64_t one = 1;
	size_t n;

	pthread_mutex_lock(&w->lock);
	n = strlen(w->text);
	for (size_t i = 0; i < len && w->matched < n; i++) {
		/* Restarting at 0 or 1 is exact for markers without a
		 * repeated prefix, which is what this is for. */
		if (data[i] == (uint8_t)w->text[w->matched])
			w->matched++;
		else
			w->matched = data[i] == (uint8_t)w->text[0];
		if (w->matched == n && write(w->fd, &one, sizeof(one)) < 0)
			break;
	}
	pthread_mutex_unlock(&w->lock);
}

static void
console_out(void *opaque, const uint8_t *data, size_t len)
{
	struct watch *w = opaque;
	const uint8_t *p = data;
	size_t left = len;

	/* Best effort: a closed stdout must not stop the guest. */
	while (left > 0) {
		ssize_t n = write(STDOUT_FILENO, p, left);

		if (n <= 0)
			break;
		p += n;
		left -= (size_t)n;
	}
	if (w->text != NULL)
		watch_console(w, data, len);
}

static int
open_image(const char *path, struct vmm_image *img)
{
	struct stat st;

	img->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (img->fd < 0 || fstat(img->fd, &st) < 0) {
		fprintf(stderr, "vmm-boot: %s: %s\n", path, strerror(errno));
		return -1;
	}
	img->size = (uint64_t)st.st_size;
	return 0;
}

static int
status_of(const struct vmm_exit *e)
{
	switch (e->kind) {
	case VMM_EXIT_POWEROFF:
		return 0;
	case VMM_EXIT_REBOOT:
		return 3;
	case VMM_EXIT_TRIPLE_FAULT:
		return 4;
	case VMM_EXIT_KVM_ERROR:
		return 5;
	case VMM_EXIT_DEBUG_EXIT:
		return 7;
	default:
		return 6;
	}
}

static void
usage(void)
{
	fprintf(stderr, "usage: vmm-boot --kernel K [--initrd I] [--cmdline C] [--vcpus N]"
			" [--memory MiB] [--debug-exit] [--timeout S] [--power-button-on TEXT]\n");
}

/* Run until the guest ends, a signal, or the deadline; feeds stdin to the
 * guest's console and presses the power button when the watch fires. */
static void
run(struct vmm *vm, int sfd, unsigned int timeout_s, int watch_fd)
{
	uint64_t deadline = timeout_s ? nv_mono_ns() + (uint64_t)timeout_s * 1000000000ull : 0;
	struct pollfd pfd[4] = {
		{ .fd = vmm_exit_fd(vm), .events = POLLIN },
		{ .fd = sfd, .events = POLLIN },
		{ .fd = STDIN_FILENO, .events = POLLIN },
		{ .fd = watch_fd, .events = POLLIN },
	};
	uint8_t buf[256];

	for (;;) {
		int wait_ms = -1;

		if (deadline) {
			uint64_t now = nv_mono_ns();

			if (now >= deadline) {
				fprintf(stderr, "vmm-boot: timeout after %u s\n", timeout_s);
				return;
			}
			wait_ms = (int)((deadline - now) / 1000000) + 1;
		}
		if (poll(pfd, 4, wait_ms) < 0 && errno != EINTR)
			return;
		if (pfd[3].revents) {
			fprintf(stderr, "vmm-boot: pressing the power button\n");
			if (vmm_request_poweroff(vm) < 0)
				fprintf(stderr, "vmm-boot: power button: failed\n");
			pfd[3].fd = -1;
		}
		if (pfd[0].revents || pfd[1].revents)
			return;
		if (pfd[2].revents) {
			ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));

			if (n <= 0)
				pfd[2].fd = -1; /* EOF: stop polling stdin */
			else if (vmm_console_input(vm, buf, (size_t)n) < (size_t)n)
				fprintf(stderr, "vmm-boot: console input overrun\n");
		}
	}
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "kernel", required_argument, NULL, 'k' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "cmdline", required_argument, NULL, 'c' },
		{ "vcpus", required_argument, NULL, 'n' },
		{ "memory", required_argument, NULL, 'm' },
		{ "debug-exit", no_argument, NULL, 'd' },
		{ "timeout", required_argument, NULL, 't' },
		{ "power-button-on", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct vmm_config cfg = {
		.vcpus = 1,
		.mem_bytes = 256ull << 20,
		.kernel = { .fd = -1 },
		.initrd = { .fd = -1 },
		.cmdline = "console=ttyS0",
	};
	struct watch watch = { .fd = -1, .lock = PTHREAD_MUTEX_INITIALIZER };
	struct vmm_events ev = { .console = console_out, .opaque = &watch };
	const char *kernel = NULL, *initrd = NULL;
	unsigned int timeout_s = 0;
	struct vmm_exit e;
	struct vmm_stats st;
	struct vmm *vm;
	sigset_t sigs;
	char err[256];
	int c, rc, sfd;

	nv_log_init("vmm-boot", NV_LOG_WARN);
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			kernel = optarg;
			break;
		case 'i':
			initrd = optarg;
			break;
		case 'c':
			cfg.cmdline = optarg;
			break;
		case 'n':
			cfg.vcpus = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'm':
			cfg.mem_bytes = strtoull(optarg, NULL, 0) << 20;
			break;
		case 'd':
			cfg.debug_exit = true;
			break;
		case 't':
			timeout_s = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		case 'p':
			watch.text = optarg[0] ? optarg : NULL;
			break;
		default:
			usage();
			return 1;
		}
	}
	if (kernel == NULL || optind != argc) {
		usage();
		return 1;
	}
	if (open_image(kernel, &cfg.kernel) < 0 || (initrd && open_image(initrd, &cfg.initrd) < 0))
		return 1;

	/* SIGINT/SIGTERM end the run through a signalfd; blocked before any
	 * vCPU thread exists so that none of them takes it. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC);

	if (watch.text != NULL)
		watch.fd = eventfd(0, EFD_CLOEXEC);
	rc = vmm_create(&cfg, &ev, &vm, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "vmm-boot: %s (%s)\n", err, strerror(-rc));
		return 1;
	}
	rc = vmm_start(vm);
	if (rc < 0) {
		fprintf(stderr, "vmm-boot: start: %s\n", strerror(-rc));
		vmm_destroy(vm);
		return 1;
	}
	run(vm, sfd, timeout_s, watch.fd);
	vmm_stop(vm);
	vmm_wait(vm, &e, 0);
	vmm_get_stats(vm, &st);
	fprintf(stderr, "vmm-boot: exit %s", vmm_exit_kind_name(e.kind));
	if (e.kind == VMM_EXIT_DEBUG_EXIT)
		fprintf(stderr, " code 0x%x", e.code);
	fprintf(stderr, " (vCPU %d): %s\n", e.vcpu, e.reason);
	fprintf(stderr,
		"vmm-boot: setup %.3f ms, exits io %llu mmio %llu other %llu, unclaimed io %llu\n",
		(double)st.setup_ns / 1e6, (unsigned long long)st.exits_io,
		(unsigned long long)st.exits_mmio, (unsigned long long)st.exits_other,
		(unsigned long long)st.io_unhandled);
	vmm_destroy(vm);
	return status_of(&e);
}
