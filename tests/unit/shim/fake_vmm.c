/* SPDX-License-Identifier: MIT */
/*
 * A stand-in for vmm.h, so the shim's processes can be tested on a machine
 * without KVM. The "kernel" is a script, one command a line, after a first
 * line "#nvfake":
 *
 *   print TEXT         TEXT and a newline on the console
 *   flood N            N bytes of console output at once
 *   sleep MS
 *   initrd             print the initrd's first line
 *   nics               print each NIC of the config: "nic INDEX MAC SOCKET PAIRS"
 *   disks              print each disk of the config: "disk INDEX SOCKET QUEUES ro|rw"
 *   spin               run until stopped; ignore the power button
 *   spin-ack           run until stopped or the power button
 *   reboot-below PATH N  count boots in file PATH; reset while below N
 *   crash              abort(): die of SIGABRT
 *   hostile            play a compromised VM process: send the daemon
 *                      garbage and messages out of order on its socket
 *   exit debug V | poweroff | reboot | triple | kvmerror
 *
 * A script that ends without an exit powers off.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "nv_log.h"
#include "shim.h"
#include "vhost_user.h"
#include "vmm.h"

struct vmm {
	char *script;
	char initrd_line[128];
	char nics[VMM_MAX_NICS * 160];
	char disks[VMM_MAX_DISKS * 160];
	struct vmm_events ev;
	pthread_t thread;
	bool started;
	int efd;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop, button, ended;
	struct vmm_exit exit;
	uint64_t created_ns, setup_ns;
};

/* vhost_user.h: the fake connects to nothing. */
void
vmm_set_connector(vmm_connect_fn fn, void *opaque)
{
	(void)fn;
	(void)opaque;
}

int
vmm_guests_supported(char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	return 0;
}

int
vmm_probe(const char *kvm_path, struct vmm_host_info *info)
{
	(void)kvm_path;
	memset(info, 0, sizeof(*info));
	info->kvm_api_version = 12;
	info->max_vcpus = 2;
	snprintf(info->virt, sizeof(info->virt), "none");
	snprintf(info->caps, sizeof(info->caps), "fake irqchip");
	return 0;
}

static char *
read_image(const struct vmm_image *img)
{
	char *buf = calloc(1, img->size + 1);

	if (buf == NULL)
		return NULL;
	if (pread(img->fd, buf, img->size, 0) != (ssize_t)img->size) {
		free(buf);
		return NULL;
	}
	return buf;
}

int
vmm_create(const struct vmm_config *cfg, const struct vmm_events *ev, struct vmm **out, char *err,
	   size_t errlen)
{
	struct vmm *vm = calloc(1, sizeof(*vm));

	if (vm == NULL)
		return -ENOMEM;
	vm->created_ns = nv_mono_ns();
	vm->script = read_image(&cfg->kernel);
	if (vm->script == NULL || strncmp(vm->script, "#nvfake\n", 8) != 0) {
		snprintf(err, errlen, "kernel: neither a bzImage nor an ELF with a PVH note");
		free(vm->script);
		free(vm);
		return -EINVAL;
	}
	if (cfg->initrd.fd >= 0) {
		char *i = read_image(&cfg->initrd);

		if (i != NULL)
			snprintf(vm->initrd_line, sizeof(vm->initrd_line), "%.*s",
				 (int)strcspn(i, "\n"), i);
		free(i);
	}
	for (unsigned int i = 0; i < cfg->nnics && i < VMM_MAX_NICS; i++) {
		const struct vmm_nic *n = &cfg->nics[i];
		size_t used = strlen(vm->nics);

		snprintf(vm->nics + used, sizeof(vm->nics) - used,
			 "nic %u %02x:%02x:%02x:%02x:%02x:%02x %s %u\n", n->index, n->mac[0],
			 n->mac[1], n->mac[2], n->mac[3], n->mac[4], n->mac[5],
			 n->vhost_user_socket, n->queue_pairs);
	}
	for (unsigned int i = 0; i < cfg->ndisks && i < VMM_MAX_DISKS; i++) {
		const struct vmm_disk *d = &cfg->disks[i];
		size_t used = strlen(vm->disks);

		snprintf(vm->disks + used, sizeof(vm->disks) - used, "disk %u %s %u %s\n", d->index,
			 d->vhost_user_socket, d->queues, d->read_only ? "ro" : "rw");
	}
	vm->ev = *ev;
	vm->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->cond, NULL);
	*out = vm;
	return 0;
}

static void
console(struct vmm *vm, const char *s, size_t n)
{
	if (vm->ev.console != NULL)
		vm->ev.console(vm->ev.opaque, (const uint8_t *)s, n);
}

static void
end(struct vmm *vm, enum vmm_exit_kind kind, uint32_t code, const char *reason)
{
	uint64_t one = 1;

	pthread_mutex_lock(&vm->lock);
	if (!vm->ended) {
		vm->ended = true;
		vm->exit.kind = kind;
		vm->exit.code = code;
		vm->exit.vcpu = 0;
		snprintf(vm->exit.reason, sizeof(vm->exit.reason), "%s", reason);
		if (write(vm->efd, &one, sizeof(one)) < 0)
			abort();
	}
	pthread_mutex_unlock(&vm->lock);
}

/* Wait up to ms (-1: forever) for a stop, or for the button if `button`. */
static bool
wait_stop(struct vmm *vm, int ms, bool button)
{
	struct timespec ts;
	bool stop;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&vm->lock);
	while (!vm->stop && !(button && vm->button)) {
		if (ms < 0)
			pthread_cond_wait(&vm->cond, &vm->lock);
		else if (pthread_cond_timedwait(&vm->cond, &vm->lock, &ts) != 0)
			break;
	}
	stop = vm->stop || (button && vm->button);
	pthread_mutex_unlock(&vm->lock);
	return stop;
}

static int
bump_counter(const char *path)
{
	int n = 0;
	FILE *f = fopen(path, "r");

	if (f != NULL) {
		if (fscanf(f, "%d", &n) != 1)
			n = 0;
		fclose(f);
	}
	f = fopen(path, "w");
	if (f != NULL) {
		fprintf(f, "%d\n", ++n);
		fclose(f);
	}
	return n;
}

/* What a guest that took over its VM process could send the daemon. */
static void
hostile(void)
{
	Nicvisor__V1__ChildEvent ev = NICVISOR__V1__CHILD_EVENT__INIT;
	Nicvisor__V1__ChildState st = NICVISOR__V1__CHILD_STATE__INIT;
	Nicvisor__V1__ConsoleData cd = NICVISOR__V1__CONSOLE_DATA__INIT;
	const uint8_t junk[] = { 0x52, 0xff, 0xff, 0xff, 0x0f, 0x00, 0x08 };
	int fd = SHIM_CHILD_CONTROL_FD;

	if (send(fd, junk, sizeof(junk), 0) < 0)
		return;
	ev.kind_case = NICVISOR__V1__CHILD_EVENT__KIND_STATE;
	ev.state = &st;
	st.state = NICVISOR__V1__VM_STATE__VM_STATE_STARTING; /* not the child's to say */
	shim_chan_send(fd, &ev.base, NULL, 0, 0);
	st.state = NICVISOR__V1__VM_STATE__VM_STATE_RUNNING; /* twice */
	shim_chan_send(fd, &ev.base, NULL, 0, 0);
	st.state = NICVISOR__V1__VM_STATE__VM_STATE_FAILED;
	st.exit = (Nicvisor__V1__ExitKind)77;
	shim_chan_send(fd, &ev.base, NULL, 0, 0);
	ev.kind_case = NICVISOR__V1__CHILD_EVENT__KIND_CONSOLE;
	ev.console = &cd;
	cd.vm_id = "another-vm";
	cd.offset = 0; /* back before what was sent */
	cd.data.data = (uint8_t *)"forged";
	cd.data.len = 6;
	shim_chan_send(fd, &ev.base, NULL, 0, 0);
}

static void *
vcpu(void *arg)
{
	struct vmm *vm = arg;
	char *save = NULL;

	__atomic_store_n(&vm->setup_ns, nv_mono_ns() - vm->created_ns, __ATOMIC_RELAXED);
	for (char *l = strtok_r(vm->script + 8, "\n", &save); l != NULL;
	     l = strtok_r(NULL, "\n", &save)) {
		char arg1[128] = "";
		long v = 0;

		if (strncmp(l, "print ", 6) == 0) {
			console(vm, l + 6, strlen(l + 6));
			console(vm, "\n", 1);
		} else if (sscanf(l, "flood %ld", &v) == 1) {
			char *b = malloc((size_t)v);

			memset(b, 'x', (size_t)v);
			console(vm, b, (size_t)v);
			free(b);
		} else if (sscanf(l, "sleep %ld", &v) == 1) {
			if (wait_stop(vm, (int)v, false))
				break;
		} else if (strcmp(l, "initrd") == 0) {
			console(vm, vm->initrd_line, strlen(vm->initrd_line));
			console(vm, "\n", 1);
		} else if (strcmp(l, "nics") == 0) {
			console(vm, vm->nics, strlen(vm->nics));
		} else if (strcmp(l, "disks") == 0) {
			console(vm, vm->disks, strlen(vm->disks));
		} else if (strcmp(l, "spin") == 0 || strcmp(l, "spin-ack") == 0) {
			wait_stop(vm, -1, strcmp(l, "spin-ack") == 0);
			if (vm->button && !vm->stop)
				end(vm, VMM_EXIT_POWEROFF, 0, "ACPI S5");
			break;
		} else if (sscanf(l, "reboot-below %127s %ld", arg1, &v) == 2) {
			if (bump_counter(arg1) < v) {
				end(vm, VMM_EXIT_REBOOT, 0, "reset");
				break;
			}
		} else if (strcmp(l, "hostile") == 0) {
			usleep(50 * 1000); /* after the console so far went out */
			hostile();
		} else if (strcmp(l, "crash") == 0) {
			abort();
		} else if (sscanf(l, "exit debug %ld", &v) == 1) {
			end(vm, VMM_EXIT_DEBUG_EXIT, (uint32_t)v, "debug exit");
			break;
		} else if (strcmp(l, "exit poweroff") == 0) {
			end(vm, VMM_EXIT_POWEROFF, 0, "ACPI S5");
			break;
		} else if (strcmp(l, "exit reboot") == 0) {
			end(vm, VMM_EXIT_REBOOT, 0, "reset");
			break;
		} else if (strcmp(l, "exit triple") == 0) {
			end(vm, VMM_EXIT_TRIPLE_FAULT, 0, "KVM_EXIT_SHUTDOWN at rip 0xfff0");
			break;
		} else if (strcmp(l, "exit kvmerror") == 0) {
			end(vm, VMM_EXIT_KVM_ERROR, 17,
			    "KVM_EXIT_INTERNAL_ERROR: emulation failure");
			break;
		}
	}
	end(vm, vm->stop ? VMM_EXIT_STOPPED : VMM_EXIT_POWEROFF, 0,
	    vm->stop ? "stopped" : "script ended");
	return NULL;
}

int
vmm_start(struct vmm *vm)
{
	if (pthread_create(&vm->thread, NULL, vcpu, vm) != 0)
		return -EAGAIN;
	vm->started = true;
	return 0;
}

int
vmm_exit_fd(const struct vmm *vm)
{
	return vm->efd;
}

int
vmm_wait(struct vmm *vm, struct vmm_exit *exit, int timeout_ms)
{
	(void)timeout_ms;
	pthread_mutex_lock(&vm->lock);
	if (!vm->ended) {
		pthread_mutex_unlock(&vm->lock);
		return -ETIMEDOUT;
	}
	*exit = vm->exit;
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

int
vmm_request_poweroff(struct vmm *vm)
{
	pthread_mutex_lock(&vm->lock);
	vm->button = true;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

void
vmm_stop(struct vmm *vm)
{
	pthread_mutex_lock(&vm->lock);
	vm->stop = true;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	if (vm->started) {
		pthread_join(vm->thread, NULL);
		vm->started = false;
	}
	end(vm, VMM_EXIT_STOPPED, 0, "stopped");
}

void
vmm_destroy(struct vmm *vm)
{
	if (vm == NULL)
		return;
	vmm_stop(vm);
	close(vm->efd);
	free(vm->script);
	free(vm);
}

size_t
vmm_console_input(struct vmm *vm, const uint8_t *data, size_t len)
{
	(void)vm;
	(void)data;
	return len;
}

void
vmm_get_stats(const struct vmm *vm, struct vmm_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->setup_ns = __atomic_load_n(&vm->setup_ns, __ATOMIC_RELAXED);
}

uint64_t
vmm_guest_resident_bytes(const struct vmm *vm)
{
	(void)vm;
	return 0; /* the fake has no guest RAM */
}

int
vmm_get_nic_stats(struct vmm *vm, unsigned int i, struct vmm_nic_stats *st)
{
	(void)vm;
	(void)i;
	memset(st, 0, sizeof(*st));
	return -ENOENT;
}
