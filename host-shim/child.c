/* SPDX-License-Identifier: MIT */
/*
 * One VM's process: `nicvisor-shim vm --control-fd N`. Receives ChildBoot
 * and the boot images, runs the VM, relays its console, obeys ChildStop,
 * reports the end and exits. If the daemon goes away, it stops the VM.
 */
#define NV_LOG_COMPONENT "nicvisor.shim.vm"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nv_log.h"
#include "nv_wire.h"
#include "shim.h"
#include "vhost_user.h"
#include "vmm.h"

/* Console bytes wait at most FLUSH_MS, or until FLUSH_BYTES are buffered,
 * and at most RING bytes are held; older ones are dropped beyond that. */
#define FLUSH_MS    5
#define FLUSH_BYTES 4096
#define RING        (256 * 1024)
#define PATTERN_MAX 256

struct child {
	int ctl;
	int status_fd; /* /proc/self/status */
	int efd;       /* console: the vCPU threads have something to say */
	struct vmm *vm;
	char vm_id[SHIM_VM_ID_MAX];

	pthread_mutex_t lock; /* the ring and the matcher; held for a copy at most */
	uint8_t ring[RING];
	size_t start, len;
	uint64_t end_off; /* console offset after the newest byte */
	uint64_t dropped;

	char pat[PATTERN_MAX + 1];
	size_t plen, matched, fail[PATTERN_MAX];
	bool hit;
};

static void
match_init(struct child *c, const char *pat)
{
	snprintf(c->pat, sizeof(c->pat), "%s", pat);
	c->plen = strlen(c->pat);
	if (c->plen == 0)
		return;
	c->fail[0] = 0;
	for (size_t i = 1, k = 0; i < c->plen; i++) {
		while (k > 0 && c->pat[i] != c->pat[k])
			k = c->fail[k - 1];
		if (c->pat[i] == c->pat[k])
			k++;
		c->fail[i] = k;
	}
}

/* vCPU thread: never blocks on anything but the short ring lock. */
static void
on_console(void *opaque, const uint8_t *data, size_t len)
{
	struct child *c = opaque;
	uint64_t one = 1;
	bool wake;
	size_t was;

	pthread_mutex_lock(&c->lock);
	was = c->len;
	for (size_t i = 0; i < len; i++) {
		if (c->len == RING) {
			c->start = (c->start + 1) % RING;
			c->len--;
			c->dropped++;
		}
		c->ring[(c->start + c->len) % RING] = data[i];
		c->len++;
		c->end_off++;
		if (c->plen == 0 || c->hit)
			continue;
		while (c->matched > 0 && c->pat[c->matched] != (char)data[i])
			c->matched = c->fail[c->matched - 1];
		if (c->pat[c->matched] == (char)data[i] && ++c->matched == c->plen) {
			c->hit = true;
			was = 0; /* wake now */
		}
	}
	wake = was == 0 || (was < FLUSH_BYTES && c->len >= FLUSH_BYTES);
	pthread_mutex_unlock(&c->lock);
	if (wake && write(c->efd, &one, sizeof(one)) < 0)
		return; /* the counter cannot overflow in practice */
}

/* Send what the ring holds; -EAGAIN if the daemon is not reading. */
static int
console_flush(struct child *c, int flags)
{
	static uint8_t chunk[SHIM_CONSOLE_CHUNK];

	for (;;) {
		Nicvisor__V1__ChildEvent ev = NICVISOR__V1__CHILD_EVENT__INIT;
		Nicvisor__V1__ConsoleData cd = NICVISOR__V1__CONSOLE_DATA__INIT;
		uint64_t off;
		size_t n, first;
		int rc;

		pthread_mutex_lock(&c->lock);
		n = c->len < sizeof(chunk) ? c->len : sizeof(chunk);
		off = c->end_off - c->len;
		first = RING - c->start < n ? RING - c->start : n;
		memcpy(chunk, c->ring + c->start, first);
		memcpy(chunk + first, c->ring, n - first);
		pthread_mutex_unlock(&c->lock);
		if (n == 0)
			return 0;

		cd.vm_id = c->vm_id;
		cd.offset = off;
		cd.data.data = chunk;
		cd.data.len = n;
		ev.kind_case = NICVISOR__V1__CHILD_EVENT__KIND_CONSOLE;
		ev.console = &cd;
		rc = shim_chan_send(c->ctl, &ev.base, NULL, 0, flags);
		if (rc < 0)
			return rc;

		pthread_mutex_lock(&c->lock);
		if (c->end_off - c->len < off + n) { /* not overwritten meanwhile */
			size_t skip = (size_t)(off + n - (c->end_off - c->len));

			c->start = (c->start + skip) % RING;
			c->len -= skip;
		}
		pthread_mutex_unlock(&c->lock);
	}
}

/* VmHWM of this process in KiB, 0 if /proc does not say; status_fd is
 * /proc/self/status, opened before the sandbox (which forbids open). */
static uint64_t
peak_rss_kib(int status_fd)
{
	char buf[4096];
	unsigned long long kib = 0;
	ssize_t len = status_fd < 0 ? -1 : pread(status_fd, buf, sizeof(buf) - 1, 0);
	const char *p;

	if (len <= 0)
		return 0;
	buf[len] = 0;
	p = strstr(buf, "\nVmHWM:");
	if (p == NULL || sscanf(p + 1, "VmHWM: %llu kB", &kib) != 1)
		return 0;
	return kib;
}

/* A state for the daemon; the final one also says what the process cost
 * (for `run` and benchmarks). */
static int
send_state(struct child *c, Nicvisor__V1__VmState state, Nicvisor__V1__ExitKind exit,
	   const char *reason, uint32_t code, uint64_t boot_ns, bool final)
{
	Nicvisor__V1__ChildEvent ev = NICVISOR__V1__CHILD_EVENT__INIT;
	Nicvisor__V1__ChildState st = NICVISOR__V1__CHILD_STATE__INIT;
	char buf[SHIM_REASON_MAX];

	shim_reason_set(buf, sizeof(buf), reason);
	st.state = state;
	st.exit = exit;
	st.reason = buf;
	st.code = code;
	st.boot_ns = boot_ns;
	if (final) {
		st.peak_rss_kib = peak_rss_kib(c->status_fd);
		st.guest_resident_kib = vmm_guest_resident_bytes(c->vm) / 1024;
	}
	pthread_mutex_lock(&c->lock);
	st.console_dropped = c->dropped;
	st.console_matched = c->hit;
	pthread_mutex_unlock(&c->lock);
	ev.kind_case = NICVISOR__V1__CHILD_EVENT__KIND_STATE;
	ev.state = &st;
	return shim_chan_send(c->ctl, &ev.base, NULL, 0, 0);
}

/* The end of the run, as the agent should see it. */
static void
report_exit(struct child *c, const struct vmm_exit *ex, const char *stop_reason)
{
	static const struct {
		Nicvisor__V1__VmState state;
		Nicvisor__V1__ExitKind exit;
		const char *reason;
	} map[] = {
		[VMM_EXIT_NONE] = { NICVISOR__V1__VM_STATE__VM_STATE_FAILED,
				    NICVISOR__V1__EXIT_KIND__EXIT_KIND_KVM_ERROR,
				    "ended, no reason" },
		[VMM_EXIT_POWEROFF] = { NICVISOR__V1__VM_STATE__VM_STATE_STOPPED,
					NICVISOR__V1__EXIT_KIND__EXIT_KIND_POWEROFF,
					"the guest powered off" },
		[VMM_EXIT_REBOOT] = { NICVISOR__V1__VM_STATE__VM_STATE_STOPPED,
				      NICVISOR__V1__EXIT_KIND__EXIT_KIND_REBOOT,
				      "the guest reset" },
		[VMM_EXIT_STOPPED] = { NICVISOR__V1__VM_STATE__VM_STATE_STOPPED,
				       NICVISOR__V1__EXIT_KIND__EXIT_KIND_STOPPED,
				       "stopped on request" },
		[VMM_EXIT_TRIPLE_FAULT] = { NICVISOR__V1__VM_STATE__VM_STATE_FAILED,
					    NICVISOR__V1__EXIT_KIND__EXIT_KIND_TRIPLE_FAULT,
					    "triple fault" },
		[VMM_EXIT_KVM_ERROR] = { NICVISOR__V1__VM_STATE__VM_STATE_FAILED,
					 NICVISOR__V1__EXIT_KIND__EXIT_KIND_KVM_ERROR,
					 "KVM error" },
		[VMM_EXIT_DEBUG_EXIT] = { NICVISOR__V1__VM_STATE__VM_STATE_STOPPED,
					  NICVISOR__V1__EXIT_KIND__EXIT_KIND_DEBUG_EXIT,
					  "debug exit" },
	};
	unsigned int k = (unsigned int)ex->kind < sizeof(map) / sizeof(map[0]) ? ex->kind : 0;
	char reason[SHIM_REASON_MAX];

	if (ex->kind == VMM_EXIT_DEBUG_EXIT)
		snprintf(reason, sizeof(reason), "debug exit code %u", ex->code);
	else if (ex->kind == VMM_EXIT_STOPPED && stop_reason != NULL)
		snprintf(reason, sizeof(reason), "%s", stop_reason);
	else
		snprintf(reason, sizeof(reason), "%s", ex->reason[0] ? ex->reason : map[k].reason);
	console_flush(c, 0);
	if (send_state(c, map[k].state, map[k].exit, reason, ex->code, 0, true) < 0)
		nv_warn("%s: final state not delivered (%s)", c->vm_id, reason);
}

static int
ms_until(uint64_t deadline_ns)
{
	uint64_t now = nv_mono_ns();

	return deadline_ns <= now ? 0 : (int)((deadline_ns - now + 999999) / 1000000);
}

/* Wait up to 10 s for ChildBoot and its fds. */
static int
recv_boot(int ctl, Nicvisor__V1__ChildControl **boot, int fds[SHIM_CHAN_MAX_FDS])
{
	struct pollfd p = { .fd = ctl, .events = POLLIN };
	char why[128];
	unsigned int nfds = 0;
	int rc;

	if (poll(&p, 1, 10000) != 1)
		return -ETIMEDOUT;
	rc = shim_chan_recv(ctl, &nicvisor__v1__child_control__descriptor,
			    (ProtobufCMessage **)boot, fds, &nfds, 0);
	if (rc < 0)
		return rc;
	if ((*boot)->op_case != NICVISOR__V1__CHILD_CONTROL__OP_BOOT ||
	    shim_child_control_check(*boot, nfds, why, sizeof(why)) < 0) {
		nv_err("bad ChildBoot: %s", (*boot)->op_case ? why : "not a boot");
		for (unsigned int i = 0; i < nfds; i++)
			close(fds[i]);
		nv_wire_free(&(*boot)->base);
		return -EINVAL;
	}
	return 0;
}

static uint64_t
fd_size(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static void
wait_setup_ns(struct child *c, uint64_t *boot_ns)
{
	struct vmm_stats st = { 0 };

	for (int i = 0; i < 200; i++) {
		vmm_get_stats(c->vm, &st);
		if (st.setup_ns != 0)
			break;
		usleep(1000);
	}
	*boot_ns = st.setup_ns;
}

/* The connector for the VM's own backend sockets, and the vmm's way to
 * them from now on. */
static int
start_connector(struct shim_connector *conn, const struct vmm_config *cfg, char *err, size_t errlen)
{
	static const char *paths[SHIM_NICS_MAX + SHIM_DISKS_MAX];
	size_t n = 0;
	int rc;

	for (unsigned int i = 0; i < cfg->nnics; i++)
		paths[n++] = cfg->nics[i].vhost_user_socket;
	for (unsigned int i = 0; i < cfg->ndisks; i++)
		paths[n++] = cfg->disks[i].vhost_user_socket;
	rc = shim_connector_start(conn, paths, n, err, errlen);
	if (rc == 0)
		vmm_set_connector(shim_connector_connect, conn);
	return rc;
}

/* Run the VM until it ends; returns when the final state is sent or the
 * daemon is gone. */
static void
run_vm(struct child *c)
{
	uint64_t flush_at = 0, stop_at = 0;
	const char *stop_reason = NULL;
	uint64_t bad = 0;

	for (;;) {
		struct pollfd p[3] = {
			{ .fd = c->ctl, .events = POLLIN },
			{ .fd = vmm_exit_fd(c->vm), .events = POLLIN },
			{ .fd = c->efd, .events = POLLIN },
		};
		int timeout = -1;

		if (flush_at != 0)
			timeout = ms_until(flush_at);
		if (stop_at != 0 && (timeout < 0 || ms_until(stop_at) < timeout))
			timeout = ms_until(stop_at);
		if (poll(p, 3, timeout) < 0 && errno != EINTR)
			break;

		if (p[2].revents & POLLIN) {
			uint64_t v;
			bool hit, full;

			if (read(c->efd, &v, sizeof(v)) < 0)
				v = 0;
			pthread_mutex_lock(&c->lock);
			hit = c->hit;
			full = c->len >= FLUSH_BYTES;
			pthread_mutex_unlock(&c->lock);
			if (full)
				flush_at = nv_mono_ns();
			else if (flush_at == 0)
				flush_at = nv_mono_ns() + FLUSH_MS * 1000000ull;
			if (hit && stop_reason == NULL) {
				stop_reason = "the console showed the pattern";
				vmm_stop(c->vm);
			}
		}
		if (flush_at != 0 && ms_until(flush_at) == 0) {
			int rc = console_flush(c, MSG_DONTWAIT);

			flush_at = rc == -EAGAIN ? nv_mono_ns() + FLUSH_MS * 1000000ull : 0;
		}
		if (p[1].revents & POLLIN) {
			struct vmm_exit ex = { 0 };

			if (vmm_wait(c->vm, &ex, 0) == 0) {
				report_exit(c, &ex, stop_reason);
				return;
			}
		}
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			Nicvisor__V1__ChildControl *m = NULL;
			char why[128];
			int rc = shim_chan_recv(c->ctl, &nicvisor__v1__child_control__descriptor,
						(ProtobufCMessage **)&m, NULL, NULL, MSG_DONTWAIT);

			if (rc == -EPIPE) {
				nv_warn("%s: the daemon is gone; stopping the VM", c->vm_id);
				vmm_stop(c->vm);
				return;
			}
			if (rc == 0 && (m->op_case != NICVISOR__V1__CHILD_CONTROL__OP_STOP ||
					shim_child_control_check(m, 0, why, sizeof(why)) < 0))
				rc = -EINVAL;
			if (rc < 0 && rc != -EAGAIN) {
				if (bad++ < 5)
					nv_warn("%s: control message refused (%s)", c->vm_id,
						strerror(-rc));
			} else if (rc == 0 && stop_reason == NULL) {
				if (m->stop->force || m->stop->timeout_ms == 0) {
					stop_reason = "stopped on request (forced)";
					vmm_stop(c->vm);
				} else {
					stop_at = nv_mono_ns() + m->stop->timeout_ms * 1000000ull;
					vmm_request_poweroff(c->vm);
				}
			}
			nv_wire_free(m ? &m->base : NULL);
		}
		if (stop_at != 0 && ms_until(stop_at) == 0 && stop_reason == NULL) {
			stop_reason = "stopped on request (the guest ignored the power button)";
			vmm_stop(c->vm);
		}
	}
	vmm_stop(c->vm);
}

int
shim_child_main(int argc, char **argv)
{
	static struct child c; /* the ring is large */
	Nicvisor__V1__ChildControl *m = NULL;
	int fds[SHIM_CHAN_MAX_FDS] = { -1, -1 };
	struct timeval snd = { .tv_sec = 5 };
	struct vmm_config cfg = { 0 };
	struct vmm_events ev = { .console = on_console, .opaque = &c };
	const Nicvisor__V1__ChildBoot *b;
	struct shim_nic snics[SHIM_NICS_MAX];
	struct vmm_nic nics[SHIM_NICS_MAX];
	struct shim_disk sdisks[SHIM_DISKS_MAX];
	struct vmm_disk disks[SHIM_DISKS_MAX];
	struct shim_connector conn = { .fd = -1 };
	char err[256] = "";
	uint64_t boot_ns = 0;
	int rc;

	if (argc != 3 || strcmp(argv[1], "--control-fd") != 0) {
		fprintf(stderr, "usage: nicvisor-shim vm --control-fd N\n");
		return 2;
	}
	nv_log_init("nicvisor-shim-vm", NV_LOG_INFO);
	c.ctl = atoi(argv[2]);
	if (c.ctl < 3)
		return 2;
	/* Only stdio, the control socket and (soon) the images. */
	close_range(3, (unsigned int)c.ctl - 1, 0);
	close_range((unsigned int)c.ctl + 1, ~0u, 0);
	setsockopt(c.ctl, SOL_SOCKET, SO_SNDTIMEO, &snd, sizeof(snd));
	pthread_mutex_init(&c.lock, NULL);
	c.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	c.status_fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	if (c.efd < 0)
		return 1;

	rc = recv_boot(c.ctl, &m, fds);
	if (rc < 0) {
		nv_err("no valid ChildBoot: %s", strerror(-rc));
		return 1;
	}
	b = m->boot;
	snprintf(c.vm_id, sizeof(c.vm_id), "%s", b->vm_id);
	prctl(PR_SET_NAME, "nv-vm", 0, 0, 0);
	match_init(&c, b->stop_on_console);
	c.end_off = b->console_offset;
	cfg.vcpus = b->spec->vcpus;
	cfg.mem_bytes = b->spec->memory_mib << 20;
	cfg.kernel.fd = fds[0];
	cfg.kernel.size = fd_size(fds[0]);
	cfg.initrd.fd = b->has_initrd ? fds[1] : -1;
	cfg.initrd.size = b->has_initrd ? fd_size(fds[1]) : 0;
	cfg.cmdline = b->spec->cmdline;
	cfg.debug_exit = b->debug_exit;
	cfg.kvm_path = b->kvm_path[0] ? b->kvm_path : NULL;
	/* Checked in recv_boot() (shim_child_control_check()). */
	if (shim_nics_check(b->nics, b->n_nics, "boot.nics", snics, err, sizeof(err)) == 0) {
		for (size_t i = 0; i < b->n_nics; i++) {
			nics[i] = (struct vmm_nic){
				.index = snics[i].index,
				.vhost_user_socket = snics[i].socket,
				.queue_pairs = snics[i].queue_pairs,
			};
			memcpy(nics[i].mac, snics[i].mac, 6);
		}
		cfg.nics = nics;
		cfg.nnics = (unsigned int)b->n_nics;
	}
	/* Checked in recv_boot() too; a VM never boots without a disk it was
	 * given. */
	rc = shim_disks_check(b->disks, b->n_disks, "boot.disks", SHIM_DISK_QUEUES_MAX,
			      b->spec->vcpus, sdisks, err, sizeof(err));
	if (rc == 0) {
		for (size_t i = 0; i < b->n_disks; i++)
			disks[i] = (struct vmm_disk){
				.index = sdisks[i].index,
				.vhost_user_socket = sdisks[i].socket,
				.queues = sdisks[i].queues,
				.read_only = sdisks[i].read_only,
			};
		cfg.disks = disks;
		cfg.ndisks = (unsigned int)b->n_disks;
	}

	/* Before any thread exists (the connector is a fork). */
	if (rc == 0 && b->sandbox != NICVISOR__V1__SANDBOX_MODE__SANDBOX_MODE_OFF)
		rc = start_connector(&conn, &cfg, err, sizeof(err));
	if (rc == 0)
		rc = vmm_create(&cfg, &ev, &c.vm, err, sizeof(err));
	/* Built and connected; no guest code has run yet. */
	if (rc == 0)
		rc = shim_sandbox_enter((enum shim_sandbox_mode)b->sandbox, b->vm_uid, b->vm_gid,
					err, sizeof(err));
	if (rc == 0) {
		rc = vmm_start(c.vm);
		if (rc < 0)
			snprintf(err, sizeof(err), "cannot start vCPUs: %s", strerror(-rc));
	} else if (err[0] == 0) {
		snprintf(err, sizeof(err), "%s", strerror(-rc));
	}
	if (rc < 0) {
		char reason[SHIM_REASON_MAX];

		snprintf(reason, sizeof(reason), "boot: %s", err);
		nv_warn("%s: %s", c.vm_id, reason);
		send_state(&c, NICVISOR__V1__VM_STATE__VM_STATE_FAILED,
			   NICVISOR__V1__EXIT_KIND__EXIT_KIND_BOOT_ERROR, reason, 0, 0, false);
		goto out;
	}
	wait_setup_ns(&c, &boot_ns);
	send_state(&c, NICVISOR__V1__VM_STATE__VM_STATE_RUNNING,
		   NICVISOR__V1__EXIT_KIND__EXIT_KIND_NONE, "vCPUs running", 0, boot_ns, false);
	run_vm(&c);
out:
	if (c.vm != NULL) {
		struct vmm_stats vs;

		vmm_get_stats(c.vm, &vs);
		nv_info("%s: exits: %llu I/O, %llu MMIO, %llu other; %llu accesses nothing claimed",
			c.vm_id, (unsigned long long)vs.exits_io, (unsigned long long)vs.exits_mmio,
			(unsigned long long)vs.exits_other, (unsigned long long)vs.io_unhandled);
		for (unsigned int i = 0; i < cfg.nnics; i++) {
			struct vmm_nic_stats ns;

			if (vmm_get_nic_stats(c.vm, i, &ns) < 0)
				continue;
			nv_info("%s: nic %u: link %s, %u of %u queue pairs, features 0x%llx, "
				"%llu connects, %llu disconnects, %llu backend errors, %llu "
				"control commands (%llu refused), %llu queue errors, %llu kicks "
				"exited",
				c.vm_id, nics[i].index, ns.link_up ? "up" : "down", ns.queue_pairs,
				ns.max_queue_pairs, (unsigned long long)ns.features,
				(unsigned long long)ns.connects, (unsigned long long)ns.disconnects,
				(unsigned long long)ns.backend_errors,
				(unsigned long long)ns.ctrl_commands,
				(unsigned long long)ns.ctrl_errors,
				(unsigned long long)ns.queue_errors,
				(unsigned long long)ns.kicks_exited);
		}
	}
	vmm_destroy(c.vm);
	shim_connector_stop(&conn);
	close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	nv_wire_free(&m->base);
	return 0;
}
