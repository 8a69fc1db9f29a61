/* SPDX-License-Identifier: MIT */
/*
 * vmm: one KVM virtual machine in the calling process.
 *
 * This is the whole contract the host shim's per-VM child uses: create a
 * machine from a config (KVM VM, guest RAM in a memfd, devices, boot images
 * loaded, vCPUs created), start it (one thread per vCPU), wait for it to
 * end, and stop it. Everything the guest can do to end itself (power off,
 * reboot, triple fault, an instruction KVM cannot handle) ends the run with
 * a struct vmm_exit saying which; nothing the guest does crashes the
 * process.
 *
 * Threads: vmm_create/start/wait/stop/destroy are called from one control
 * thread. Console callbacks run on vCPU threads. vCPU threads block every
 * signal but SIGRTMIN, which the library uses to interrupt KVM_RUN: the
 * process must not use SIGRTMIN for anything else. Each NIC and each disk
 * has a thread of its own from vmm_create() to vmm_destroy() (its
 * vhost-user connection).
 */
#ifndef VMM_H
#define VMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vmm;

/* A boot image the VMM reads (never writes): a memfd or a file. It is read
 * once, into guest RAM, during vmm_create(); the caller may close the fd
 * after that. The caller must not shrink it during vmm_create() (SIGBUS):
 * the shim passes memfds sealed against shrinking. */
struct vmm_image {
	int fd;        /* -1: none (only valid for the initrd) */
	uint64_t size; /* bytes to read from offset 0 */
};

/*
 * A network interface: virtio-net on PCI (device 00:<index + 1>.0, so the
 * guest names them in index order), its queues served by a vhost-user
 * backend listening on vhost_user_socket (docs/architecture.md, "VM
 * networking"). The backend may be absent at vmm_create() or go away
 * later: the link is down meanwhile and the VMM connects again in the
 * background. The guest gets min(queue_pairs, vcpus, what the backend
 * serves) queue pairs.
 */
#define VMM_MAX_NICS            8
#define VMM_NIC_MAX_QUEUE_PAIRS 8
struct vmm_nic {
	uint32_t index;                /* 0..VMM_MAX_NICS - 1, unique */
	uint8_t mac[6];                /* unicast, not all zero */
	const char *vhost_user_socket; /* absolute path, < 108 bytes; copied */
	uint32_t queue_pairs;          /* 1..VMM_NIC_MAX_QUEUE_PAIRS */
};

/*
 * A disk: virtio-blk on PCI (device 00:<VMM_DISK_SLOT0 + index>.0, after
 * every NIC, so the guest names them vda, vdb, ... in index order), its
 * request queues served by a vhost-user-blk backend listening on
 * vhost_user_socket (docs/architecture.md, "VM storage"). Capacity, block
 * size and the backend's limits come from the backend (GET_CONFIG). The
 * backend may be absent at vmm_create() or go away later: requests wait
 * (nothing fails in the guest) and the VMM connects again in the
 * background. The guest gets min(queues, vcpus, what the backend serves)
 * request queues. read_only offers VIRTIO_BLK_F_RO to the guest; the
 * backend enforces it (a guest may ignore the bit).
 */
#define VMM_MAX_DISKS       8
#define VMM_DISK_MAX_QUEUES 8
#define VMM_DISK_SLOT0      16
struct vmm_disk {
	uint32_t index;                /* 0..VMM_MAX_DISKS - 1, unique */
	const char *vhost_user_socket; /* absolute path, < 108 bytes; copied */
	uint32_t queues;               /* 1..VMM_DISK_MAX_QUEUES */
	bool read_only;
};

struct vmm_config {
	uint32_t vcpus;
	uint64_t mem_bytes;
	struct vmm_image kernel; /* x86_64: bzImage, or ELF vmlinux with a PVH note */
	struct vmm_image initrd;
	const char *cmdline;
	/* Test device for purpose-built guests: a write of v to
	 * VMM_DEBUG_EXIT_PORT ends the run with VMM_EXIT_DEBUG_EXIT, code v. */
	bool debug_exit;
	const char *kvm_path; /* NULL: /dev/kvm */
	/* NICs (nnics 0..VMM_MAX_NICS); read during vmm_create() only. */
	const struct vmm_nic *nics;
	unsigned int nnics;
	/* Disks (ndisks 0..VMM_MAX_DISKS); read during vmm_create() only. */
	const struct vmm_disk *disks;
	unsigned int ndisks;
};

/* Mirrors nicvisor.v1.ExitKind; the shim maps one to the other. */
enum vmm_exit_kind {
	VMM_EXIT_NONE = 0,
	VMM_EXIT_POWEROFF,     /* ACPI S5 */
	VMM_EXIT_REBOOT,       /* ACPI reset register, or i8042 reset */
	VMM_EXIT_STOPPED,      /* vmm_stop() */
	VMM_EXIT_TRIPLE_FAULT, /* KVM_EXIT_SHUTDOWN */
	VMM_EXIT_KVM_ERROR,    /* KVM_EXIT_INTERNAL_ERROR, FAIL_ENTRY, unknown exit, ioctl error */
	VMM_EXIT_DEBUG_EXIT,   /* test device */
};

/* "poweroff", "reboot", ..., "unknown" for a value outside the enum. */
const char *vmm_exit_kind_name(enum vmm_exit_kind kind);

struct vmm_exit {
	enum vmm_exit_kind kind;
	uint32_t code;    /* DEBUG_EXIT: the value written; KVM_ERROR: exit reason
			     (0 if KVM_RUN itself failed) */
	int vcpu;         /* the vCPU that ended the run, -1 if none */
	char reason[256]; /* for a person, e.g. "KVM_EXIT_INTERNAL_ERROR: emulation failure at rip
			     0x..." */
};

struct vmm_events {
	/* Bytes the guest wrote to its ttyS0 (COM1). vCPU thread; must not
	 * block. (opt) */
	void (*console)(void *opaque, const uint8_t *data, size_t len);
	void *opaque;
};

/* What this host's KVM offers; for the shim's hello. */
struct vmm_host_info {
	int kvm_api_version;
	uint32_t max_vcpus;     /* KVM_CAP_NR_VCPUS */
	char virt[8];           /* "vmx", "svm", "pvm", "none" */
	char missing_caps[128]; /* required capabilities KVM lacks, "" if none */
	char caps[256];         /* capabilities found, space separated */
};

#define VMM_DEBUG_EXIT_PORT 0xf4

/* Smallest guest RAM vmm_create() accepts; it must also be a multiple of
 * 4 KiB. */
#define VMM_MIN_MEM_BYTES (16ull << 20)

/* Whether this build runs guests on this host's architecture: 0, or
 * -ENOTSUP with err saying so for a person. x86_64 and arm64 builds do
 * (arm64: without NICs and disks yet, refused by vmm_create()).
 * vmm_create() checks it first. */
int vmm_guests_supported(char *err, size_t errlen);

/* Fill info from kvm_path (NULL: /dev/kvm). -errno if KVM cannot be opened,
 * -ENODEV if kvm_path is not KVM. */
int vmm_probe(const char *kvm_path, struct vmm_host_info *info);

/*
 * Build the machine. 0, or a negative errno with err (if not NULL) saying
 * why for a person: -EINVAL for a bad config (a NIC's "nic 1: mac: ...")
 * or an image that cannot boot ("kernel: neither a bzImage nor an ELF
 * with a PVH note"), -ENOMEM, -ENODEV when KVM is missing a capability, or
 * what KVM answered. A NIC's backend that is not there is no error.
 */
int vmm_create(const struct vmm_config *cfg, const struct vmm_events *ev, struct vmm **out,
	       char *err, size_t errlen);

/* Start the vCPU threads. 0; -EALREADY if started; -ESRCH if the run has
 * already ended (vmm_stop() before vmm_start()); or a thread could not be
 * created (-errno; the run then ends with VMM_EXIT_KVM_ERROR). */
int vmm_start(struct vmm *vm);

/* An eventfd that becomes readable once the run has ended, for poll(). */
int vmm_exit_fd(const struct vmm *vm);

/* Wait up to timeout_ms (-1: forever) for the run to end: 0 and *exit
 * filled, or -ETIMEDOUT. */
int vmm_wait(struct vmm *vm, struct vmm_exit *exit, int timeout_ms);

/* Press the ACPI power button; a guest that listens powers off. 0, or
 * -EINVAL if the run is not in progress. */
int vmm_request_poweroff(struct vmm *vm);

/* End the run now (exit kind VMM_EXIT_STOPPED unless it already ended)
 * and join the vCPU threads. */
void vmm_stop(struct vmm *vm);

/* Stop if needed and free everything. Accepts NULL. */
void vmm_destroy(struct vmm *vm);

/* Queue bytes for the guest's ttyS0 receiver; returns bytes taken (at
 * most 4 KiB are pending; none are taken while the guest has the UART in
 * loopback). Any thread. */
size_t vmm_console_input(struct vmm *vm, const uint8_t *data, size_t len);

struct vmm_stats {
	uint64_t setup_ns; /* vmm_create() start to first KVM_RUN */
	uint64_t exits_io;
	uint64_t exits_mmio;
	uint64_t exits_other;
	uint64_t io_unhandled; /* accesses to ports or MMIO no device claims */
};
void vmm_get_stats(const struct vmm *vm, struct vmm_stats *st);

/* One NIC's state and counters (nothing here is per packet: packets never
 * pass through the VMM). */
struct vmm_nic_stats {
	bool link_up;              /* what the guest sees in virtio-net status */
	bool backend_connected;    /* a vhost-user backend is attached now */
	bool driver_ok;            /* the guest driver started the device */
	uint8_t status;            /* virtio device status (NEEDS_RESET is 0x40) */
	uint32_t queue_pairs;      /* pairs the guest uses now; 0 before DRIVER_OK */
	uint32_t max_queue_pairs;  /* max_virtqueue_pairs offered */
	uint64_t offered;          /* virtio features offered at the last reset */
	uint64_t features;         /* negotiated with the guest */
	uint64_t backend_features; /* the backend's GET_FEATURES */
	uint64_t connects;         /* backend handshakes that succeeded */
	uint64_t disconnects;      /* backends lost (closed, failed or misbehaved) */
	uint64_t backend_errors;   /* malformed replies or refused requests */
	uint64_t ctrl_commands;    /* control queue commands */
	uint64_t ctrl_errors;      /* commands answered VIRTIO_NET_ERR */
	uint64_t queue_errors;     /* guest errors: broken control queue, rings outside RAM */
	/* Receive/transmit notifications that exited to the VMM instead of
	 * going to the backend through KVM's ioeventfd (0 when all is well;
	 * the VMM passes them on to the backend anyway). */
	uint64_t kicks_exited;
};

/* Stats of the NIC at position i of vmm_config.nics. 0, or -ENOENT. Any
 * thread. */
int vmm_get_nic_stats(struct vmm *vm, unsigned int i, struct vmm_nic_stats *st);

/* One disk's state and counters (nothing per request: requests never pass
 * through the VMM). */
struct vmm_disk_stats {
	bool backend_connected;      /* a vhost-user backend is attached now */
	bool driver_ok;              /* the guest driver started the device */
	bool backend_running;        /* the backend has the rings */
	uint8_t status;              /* virtio device status */
	uint32_t queues;             /* queues handed to the backend now */
	uint32_t max_queues;         /* num_queues offered */
	bool inflight_area;          /* the frontend holds the backend's inflight area */
	uint64_t capacity;           /* 512-byte sectors, from the backend */
	uint64_t offered;            /* virtio features offered at the last reset */
	uint64_t features;           /* negotiated with the guest */
	uint64_t backend_features;   /* the backend's GET_FEATURES */
	uint64_t connects;           /* backend handshakes that succeeded */
	uint64_t disconnects;        /* backends lost (closed, failed or misbehaved) */
	uint64_t inflight_handovers; /* inflight areas handed to a new backend */
	uint64_t backend_errors;     /* malformed replies or refused requests */
	uint64_t queue_errors;       /* guest errors: rings outside RAM, queues past num_queues */
	uint64_t kicks_exited;       /* notifications that exited to the VMM (0 when all is well) */
};

/* Stats of the disk at position i of vmm_config.disks. 0, or -ENOENT. Any
 * thread. */
int vmm_get_disk_stats(struct vmm *vm, unsigned int i, struct vmm_disk_stats *st);

/* Guest RAM bytes resident right now (pages the loader, the devices or the
 * guest touched), by mincore(2) over the guest RAM mapping: what the
 * process's RSS owes to the guest rather than to the VMM. */
uint64_t vmm_guest_resident_bytes(const struct vmm *vm);

#endif
