/* SPDX-License-Identifier: MIT */
/*
 * A PCI host bridge with one root bus: configuration space through an ECAM
 * window (PCI Express Base 4.0, 7.2.2; no port-based access), and type-0
 * functions with memory BARs and a capability list (PCI Local Bus 3.0,
 * 6.1, 6.2.5, 6.7).
 *
 * A function is a struct vmm_pci_func owned by its device: 256 bytes of
 * config space with, per byte, a write mask and a write-1-to-clear mask,
 * so guest writes land only where the device allows. BARs decode while the
 * Memory Space bit of the command register is set; the bus places them in
 * its window when a function is added (as firmware would) and follows the
 * guest when it moves them. BAR accesses reach the bus through
 * vmm_pci_bar_access() for MMIO no fixed device claims.
 *
 * Threads: config accesses run on vCPU threads under the bus's lock, so
 * they never run concurrently; the owner's hooks run there too, and may
 * take the owner's lock (lock order: bus, then device). BAR accesses run
 * on vCPU threads without the bus lock, possibly concurrently.
 */
#ifndef VMM_PCI_H
#define VMM_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus.h"

#define VMM_PCI_CFG_SIZE 256 /* conventional functions: no extended space */
#define VMM_PCI_SLOTS    32
#define VMM_PCI_BARS     6

/* Type-0 header (PCI Local Bus 3.0, 6.1). */
#define VMM_PCI_VENDOR_ID        0x00
#define VMM_PCI_DEVICE_ID        0x02
#define VMM_PCI_COMMAND          0x04
#define VMM_PCI_STATUS           0x06
#define VMM_PCI_REVISION         0x08
#define VMM_PCI_CLASS_PROG       0x09
#define VMM_PCI_CACHE_LINE       0x0c
#define VMM_PCI_LATENCY          0x0d
#define VMM_PCI_HEADER_TYPE      0x0e
#define VMM_PCI_BAR0             0x10
#define VMM_PCI_SUBSYS_VENDOR    0x2c
#define VMM_PCI_SUBSYS_ID        0x2e
#define VMM_PCI_CAP_PTR          0x34
#define VMM_PCI_INT_LINE         0x3c
#define VMM_PCI_INT_PIN          0x3d
#define VMM_PCI_CMD_MEMORY       0x0002
#define VMM_PCI_CMD_MASTER       0x0004
#define VMM_PCI_CMD_PARITY       0x0040
#define VMM_PCI_CMD_SERR         0x0100
#define VMM_PCI_CMD_INTX_DISABLE 0x0400
#define VMM_PCI_STATUS_CAP_LIST  0x0010
#define VMM_PCI_BAR_MEM64        0x4
#define VMM_PCI_CAP_ID_VNDR      0x09
#define VMM_PCI_CAP_ID_MSIX      0x11
#define VMM_PCI_CAPS_START       0x40

struct vmm_pci_func;

/* The owner's hooks, each (opt). vCPU thread, bus lock held. */
struct vmm_pci_func_ops {
	/* The guest is about to read config bytes [off, off + len): a
	 * register whose value is not stored (a window into a BAR) can be
	 * filled in now. */
	void (*cfg_read)(void *owner, struct vmm_pci_func *f, uint32_t off, uint32_t len);
	/* The guest wrote config bytes [off, off + len); already applied. */
	void (*cfg_written)(void *owner, struct vmm_pci_func *f, uint32_t off, uint32_t len);
	/* BAR `bar` decodes at new_gpa now (0: it stopped decoding); it
	 * decoded at old_gpa before (0: it did not). */
	void (*bar_mapped)(void *owner, struct vmm_pci_func *f, unsigned int bar, uint64_t old_gpa,
			   uint64_t new_gpa);
};

struct vmm_pci_bar {
	uint64_t size;                 /* 0: no BAR here; else a power of two >= 16 */
	bool mem64;                    /* takes this and the next BAR register */
	const struct vmm_dev_ops *ops; /* accesses, offsets from the BAR's start */
	void *dev;
	uint64_t mapped; /* where it decodes now; 0: nowhere */
};

struct vmm_pci_func {
	uint8_t cfg[VMM_PCI_CFG_SIZE];
	uint8_t wmask[VMM_PCI_CFG_SIZE]; /* bits the guest may write */
	uint8_t w1c[VMM_PCI_CFG_SIZE];   /* bits the guest clears by writing 1 */
	struct vmm_pci_bar bar[VMM_PCI_BARS];
	uint16_t cap_end; /* first free byte for the next capability */
	uint8_t cap_last; /* offset of the last capability, 0 if none */
	int slot;         /* -1 until added to a bus */
	const struct vmm_pci_func_ops *ops;
	void *owner;
};

/* An empty type-0 function: ids, class (base << 16 | sub << 8 | prog-if),
 * command register writable in its memory, bus master, parity, SERR and
 * INTx-disable bits, no interrupt pin. */
void vmm_pci_func_init(struct vmm_pci_func *f, uint16_t vendor, uint16_t device,
		       uint32_t class_code, uint8_t revision, uint16_t subsys_vendor,
		       uint16_t subsys_id, const struct vmm_pci_func_ops *ops, void *owner);

/* A memory BAR of `size` bytes (a power of two, at least 16); a 64-bit
 * BAR also takes register bar + 1. -EINVAL for a bad index or size, or a
 * register already taken. */
int vmm_pci_func_add_bar(struct vmm_pci_func *f, unsigned int bar, uint64_t size, bool mem64,
			 const struct vmm_dev_ops *ops, void *dev);

/* Append a capability of len bytes (id and next pointer included, len >= 2,
 * dword aligned) to the list; its body is zero and read-only until the
 * caller says otherwise. Returns its offset, or -ENOSPC. */
int vmm_pci_func_add_cap(struct vmm_pci_func *f, uint8_t id, unsigned int len);

/* Little-endian accessors of config bytes for device code (no masks). */
void vmm_pci_cfg_set(struct vmm_pci_func *f, uint32_t off, uint32_t len, uint32_t v);
uint32_t vmm_pci_cfg_get(const struct vmm_pci_func *f, uint32_t off, uint32_t len);
/* Let the guest write bits `mask` of [off, off + len). */
void vmm_pci_cfg_writable(struct vmm_pci_func *f, uint32_t off, uint32_t len, uint32_t mask);

/* A guest access of len bytes (1..8) at off; bytes past the 256 of config
 * space read 0 and ignore writes. Writes go through the masks; neither
 * calls the owner's hooks (the bus does). */
void vmm_pci_func_cfg_read(const struct vmm_pci_func *f, uint32_t off, uint8_t *data, uint32_t len);
void vmm_pci_func_cfg_write(struct vmm_pci_func *f, uint32_t off, const uint8_t *data,
			    uint32_t len);

/* The function's PCI requester ID, bus << 8 | device << 3 | function
 * (00:slot.0; 0 before it is added): the DeviceID its MSIs carry to a GICv3
 * ITS through the device tree's msi-map. */
uint16_t vmm_pci_func_rid(const struct vmm_pci_func *f);

/* Where BAR `bar` should decode by its register and the command register:
 * 0 if memory decode is off, the BAR is empty or its address wraps. */
uint64_t vmm_pci_func_bar_decode(const struct vmm_pci_func *f, unsigned int bar);

struct vmm_pci_stats {
	uint64_t cfg_reads, cfg_writes;
	uint64_t cfg_absent; /* accesses to functions or buses that are not there */
	uint64_t bar_accesses;
};

struct vmm_pci {
	pthread_mutex_t lock; /* config space of every function, BAR mappings */
	uint64_t ecam_base;
	unsigned int buses;
	struct vmm_pci_func *slot[VMM_PCI_SLOTS];
	uint64_t window_start, window_end, window_next; /* BAR window, [start, end) */
	struct vmm_pci_stats st;                        /* under lock */
};

/* A bus with `buses` (1..256) bus numbers of ECAM at ecam_base, placing
 * BARs in [window_start, window_end). */
int vmm_pci_init(struct vmm_pci *pci, uint64_t ecam_base, unsigned int buses, uint64_t window_start,
		 uint64_t window_end);
void vmm_pci_fini(struct vmm_pci *pci); /* the bus, not the functions */

/* Put f at 00:slot.0 and give its BARs addresses in the window (naturally
 * aligned, in order); decoding stays off until the guest turns it on.
 * -EINVAL (slot), -EEXIST (slot taken), -ENOSPC (window full). Before
 * the vCPUs start. */
int vmm_pci_add(struct vmm_pci *pci, unsigned int slot, struct vmm_pci_func *f);

/* The ECAM window, ECAM size = buses << 20; dev is the struct vmm_pci. */
extern const struct vmm_dev_ops vmm_pci_ecam_ops;
uint64_t vmm_pci_ecam_size(const struct vmm_pci *pci);

/* An MMIO access that no fixed device claimed: performed on the BAR
 * decoding gpa, if any. 0, or -ENOENT (nothing decodes it). vCPU threads. */
int vmm_pci_bar_access(struct vmm_pci *pci, uint64_t gpa, uint8_t *data, uint32_t len,
		       bool is_write);

void vmm_pci_get_stats(struct vmm_pci *pci, struct vmm_pci_stats *st);

#endif
