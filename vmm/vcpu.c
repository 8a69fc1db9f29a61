/* SPDX-License-Identifier: MIT */
/*
 * vCPU threads: KVM_RUN in a loop and the exit dispatcher. A thread leaves
 * its loop once the run has ended; vmm_end_run() makes it leave KVM_RUN by
 * setting kvm_run->immediate_exit and sending VMM_KICK_SIGNAL (api.rst,
 * "immediate_exit"), which works even when the guest spins without exits.
 */
#define NV_LOG_COMPONENT "nicvisor.vmm.vcpu"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm_int.h"

static __thread int current_vcpu = -1;

int
vmm_current_vcpu(void)
{
	return current_vcpu;
}

int
vmm_vcpu_create(struct vmm *vm, struct vmm_vcpu *vcpu, int index, char *err, size_t errlen)
{
	int rc;

	vcpu->vm = vm;
	vcpu->index = index;
	vcpu->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)index);
	if (vcpu->fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "KVM_CREATE_VCPU %d: %s", index, strerror(errno));
		return rc;
	}
	vcpu->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd, 0);
	if (vcpu->run == MAP_FAILED) {
		rc = -errno;
		vcpu->run = NULL;
		snprintf(err, errlen, "vCPU %d: mmap kvm_run: %s", index, strerror(errno));
		return rc;
	}
	return vmm_arch_vcpu_init(vm, vcpu, err, errlen);
}

void
vmm_vcpu_destroy(struct vmm_vcpu *vcpu)
{
	if (vcpu->run != NULL)
		munmap(vcpu->run, vcpu->vm->run_size);
	if (vcpu->fd >= 0)
		close(vcpu->fd);
	vcpu->run = NULL;
	vcpu->fd = -1;
}

static void
count(uint64_t *counter)
{
	__atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
}

static void
unhandled(struct vmm_vcpu *vcpu, const char *space, uint64_t addr, uint32_t len, int is_write)
{
	count(&vcpu->io_unhandled);
	if (nv_ratelimit_ok(&vcpu->unhandled_rl, 5, 10000))
		nv_debug("vCPU %d: unclaimed %s %s 0x%llx/%u", vcpu->index, space,
			 is_write ? "write" : "read", (unsigned long long)addr, len);
}

static void
handle_io(struct vmm_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	int is_write = run->io.direction == KVM_EXIT_IO_OUT;

	count(&vcpu->exits_io);
	/* String I/O (rep ins/outs) comes as `count` elements in a row. */
	for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size) {
		if (vmm_bus_access(&vcpu->vm->pio, run->io.port, data, run->io.size, is_write) < 0)
			unhandled(vcpu, "port", run->io.port, run->io.size, is_write);
	}
}

static void
handle_mmio(struct vmm_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	uint32_t len = run->mmio.len;

	count(&vcpu->exits_mmio);
	if (len == 0 || len > sizeof(run->mmio.data))
		len = sizeof(run->mmio.data);
	/* Fixed devices first, then whatever BAR the guest put there. */
	if (vmm_bus_access(&vcpu->vm->mmio, run->mmio.phys_addr, run->mmio.data, len,
			   run->mmio.is_write) < 0 &&
	    (!vcpu->vm->pci_ready ||
	     vmm_pci_bar_access(&vcpu->vm->pci, run->mmio.phys_addr, run->mmio.data, len,
				run->mmio.is_write) < 0))
		unhandled(vcpu, "mmio", run->mmio.phys_addr, len, run->mmio.is_write);
}

static const char *
internal_suberror(uint32_t sub)
{
	switch (sub) {
	case KVM_INTERNAL_ERROR_EMULATION:
		return "emulation failure";
	case KVM_INTERNAL_ERROR_SIMUL_EX:
		return "exception while delivering an exception";
	case KVM_INTERNAL_ERROR_DELIVERY_EV:
		return "exit while delivering an event";
	case KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON:
		return "unexpected exit reason";
	default:
		return "unknown suberror";
	}
}

static void
internal_error(struct vmm_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	char where[160], data[96] = "";
	size_t used = 0;

	vmm_arch_describe_rip(vcpu, where, sizeof(where));
	for (uint32_t i = 0; i < run->internal.ndata && i < 4 && used < sizeof(data); i++)
		used += (size_t)snprintf(data + used, sizeof(data) - used, " 0x%llx",
					 (unsigned long long)run->internal.data[i]);
	vmm_end_run(vcpu->vm, VMM_EXIT_KVM_ERROR, KVM_EXIT_INTERNAL_ERROR,
		    "KVM_EXIT_INTERNAL_ERROR: %s (suberror %u) at %s%s%s",
		    internal_suberror(run->internal.suberror), run->internal.suberror, where,
		    used ? ", data" : "", data);
}

static void
system_event(struct vmm_vcpu *vcpu)
{
	switch (vcpu->run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		vmm_end_run(vcpu->vm, VMM_EXIT_POWEROFF, 0, "KVM_SYSTEM_EVENT_SHUTDOWN");
		break;
	case KVM_SYSTEM_EVENT_RESET:
		vmm_end_run(vcpu->vm, VMM_EXIT_REBOOT, 0, "KVM_SYSTEM_EVENT_RESET");
		break;
	default:
		vmm_end_run(vcpu->vm, VMM_EXIT_KVM_ERROR, KVM_EXIT_SYSTEM_EVENT,
			    "KVM_EXIT_SYSTEM_EVENT type %u", vcpu->run->system_event.type);
		break;
	}
}

static void
dispatch(struct vmm_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	char where[160];

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		handle_io(vcpu);
		break;
	case KVM_EXIT_MMIO:
		handle_mmio(vcpu);
		break;
	case KVM_EXIT_INTR:
	case KVM_EXIT_IRQ_WINDOW_OPEN:
	case KVM_EXIT_HLT: /* only without the in-kernel LAPIC */
		count(&vcpu->exits_other);
		break;
	case KVM_EXIT_SHUTDOWN:
		count(&vcpu->exits_other);
		vmm_arch_describe_rip(vcpu, where, sizeof(where));
		vmm_end_run(vcpu->vm, VMM_EXIT_TRIPLE_FAULT, KVM_EXIT_SHUTDOWN,
			    "KVM_EXIT_SHUTDOWN: triple fault at %s", where);
		break;
	case KVM_EXIT_SYSTEM_EVENT:
		count(&vcpu->exits_other);
		system_event(vcpu);
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		count(&vcpu->exits_other);
		internal_error(vcpu);
		break;
	case KVM_EXIT_FAIL_ENTRY:
		count(&vcpu->exits_other);
		vmm_end_run(vcpu->vm, VMM_EXIT_KVM_ERROR, KVM_EXIT_FAIL_ENTRY,
			    "KVM_EXIT_FAIL_ENTRY: hardware entry failure reason 0x%llx on cpu %u",
			    (unsigned long long)run->fail_entry.hardware_entry_failure_reason,
			    run->fail_entry.cpu);
		break;
	default:
		count(&vcpu->exits_other);
		vmm_end_run(vcpu->vm, VMM_EXIT_KVM_ERROR, run->exit_reason,
			    "unhandled KVM exit reason %u", run->exit_reason);
		break;
	}
}

static void
record_first_run(struct vmm *vm)
{
	uint64_t expected = 0, ns = nv_mono_ns() - vm->create_ns;

	if (ns == 0)
		ns = 1;
	__atomic_compare_exchange_n(&vm->setup_ns, &expected, ns, false, __ATOMIC_RELAXED,
				    __ATOMIC_RELAXED);
}

static void *
vcpu_thread(void *arg)
{
	struct vmm_vcpu *vcpu = arg;
	struct vmm *vm = vcpu->vm;
	char name[16];
	sigset_t kick;
	bool go;

	current_vcpu = vcpu->index;
	snprintf(name, sizeof(name), "vcpu%d", vcpu->index);
	pthread_setname_np(pthread_self(), name);
	sigemptyset(&kick);
	sigaddset(&kick, VMM_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &kick, NULL);

	/* From here on vmm_end_run() may signal this thread (see kick_all). */
	pthread_mutex_lock(&vm->exit_lock);
	go = !vm->ended;
	vcpu->in_thread = go;
	vcpu->self = pthread_self();
	pthread_mutex_unlock(&vm->exit_lock);

	/* Ends with the run: vmm_end_run() sets immediate_exit, so every
	 * later KVM_RUN returns at once. */
	if (go)
		record_first_run(vm);
	while (go && !vmm_run_ended(vm)) {
		if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				count(&vcpu->exits_other);
				continue;
			}
			vmm_end_run(vm, VMM_EXIT_KVM_ERROR, 0, "KVM_RUN on vCPU %d: %s",
				    vcpu->index, strerror(errno));
			break;
		}
		dispatch(vcpu);
	}

	pthread_mutex_lock(&vm->exit_lock);
	vcpu->in_thread = false;
	pthread_mutex_unlock(&vm->exit_lock);
	return NULL;
}

static void
kick_handler(int sig)
{
	(void)sig; /* its only job is to interrupt KVM_RUN */
}

static void
install_kick_handler(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kick_handler;
	sigemptyset(&sa.sa_mask);
	sigaction(VMM_KICK_SIGNAL, &sa, NULL); /* no SA_RESTART: KVM_RUN returns EINTR */
}

int
vmm_vcpu_start(struct vmm_vcpu *vcpu)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	sigset_t all, old;
	int rc;

	pthread_once(&once, install_kick_handler);
	/* vCPU threads take no process signals but the kick. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&vcpu->thread, NULL, vcpu_thread, vcpu);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		return -rc;
	vcpu->joinable = true;
	return 0;
}
