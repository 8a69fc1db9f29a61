/* SPDX-License-Identifier: MIT */
/*
 * PCI host bridge and type-0 config space (pci.h). References: PCI Local
 * Bus 3.0 (header 6.1, BARs 6.2.5.1, capabilities 6.7) and PCI Express
 * Base 4.0, 7.2.2 (ECAM: bus << 20 | device << 15 | function << 12 | reg).
 */
#include "pci.h"

#include <errno.h>
#include <string.h>

#define ECAM_BUS_SHIFT 20
#define ECAM_DEV_SHIFT 15
#define ECAM_FN_SHIFT  12
#define ECAM_REG_MASK  0xfffu

static bool
power_of_two(uint64_t v)
{
	return v != 0 && (v & (v - 1)) == 0;
}

void
vmm_pci_cfg_set(struct vmm_pci_func *f, uint32_t off, uint32_t len, uint32_t v)
{
	for (uint32_t i = 0; i < len && off + i < VMM_PCI_CFG_SIZE; i++)
		f->cfg[off + i] = (uint8_t)(v >> (8 * i));
}

uint32_t
vmm_pci_cfg_get(const struct vmm_pci_func *f, uint32_t off, uint32_t len)
{
	uint32_t v = 0;

	for (uint32_t i = 0; i < len && i < 4 && off + i < VMM_PCI_CFG_SIZE; i++)
		v |= (uint32_t)f->cfg[off + i] << (8 * i);
	return v;
}

void
vmm_pci_cfg_writable(struct vmm_pci_func *f, uint32_t off, uint32_t len, uint32_t mask)
{
	for (uint32_t i = 0; i < len && off + i < VMM_PCI_CFG_SIZE; i++)
		f->wmask[off + i] = (uint8_t)(mask >> (8 * i));
}

void
vmm_pci_func_init(struct vmm_pci_func *f, uint16_t vendor, uint16_t device, uint32_t class_code,
		  uint8_t revision, uint16_t subsys_vendor, uint16_t subsys_id,
		  const struct vmm_pci_func_ops *ops, void *owner)
{
	memset(f, 0, sizeof(*f));
	f->slot = -1;
	f->ops = ops;
	f->owner = owner;
	f->cap_end = VMM_PCI_CAPS_START;
	vmm_pci_cfg_set(f, VMM_PCI_VENDOR_ID, 2, vendor);
	vmm_pci_cfg_set(f, VMM_PCI_DEVICE_ID, 2, device);
	vmm_pci_cfg_set(f, VMM_PCI_REVISION, 1, revision);
	vmm_pci_cfg_set(f, VMM_PCI_CLASS_PROG, 3, class_code);
	vmm_pci_cfg_set(f, VMM_PCI_SUBSYS_VENDOR, 2, subsys_vendor);
	vmm_pci_cfg_set(f, VMM_PCI_SUBSYS_ID, 2, subsys_id);
	vmm_pci_cfg_writable(f, VMM_PCI_COMMAND, 2,
			     VMM_PCI_CMD_MEMORY | VMM_PCI_CMD_MASTER | VMM_PCI_CMD_PARITY |
				     VMM_PCI_CMD_SERR | VMM_PCI_CMD_INTX_DISABLE);
	/* Status error bits are RW1C; nothing here ever sets them. */
	f->w1c[VMM_PCI_STATUS + 1] = 0xf9;
	/* Software's scratch registers: Linux writes cache line size and the
	 * interrupt line even for functions without an interrupt pin. */
	vmm_pci_cfg_writable(f, VMM_PCI_CACHE_LINE, 2, 0xffff);
	vmm_pci_cfg_writable(f, VMM_PCI_INT_LINE, 1, 0xff);
}

int
vmm_pci_func_add_bar(struct vmm_pci_func *f, unsigned int bar, uint64_t size, bool mem64,
		     const struct vmm_dev_ops *ops, void *dev)
{
	uint32_t reg = VMM_PCI_BAR0 + 4 * bar;

	if (bar >= VMM_PCI_BARS || (mem64 && bar + 1 >= VMM_PCI_BARS) || !power_of_two(size) ||
	    size < 16 || (!mem64 && size > (1ull << 31)) || ops == NULL)
		return -EINVAL;
	if (f->bar[bar].size != 0 || (bar > 0 && f->bar[bar - 1].mem64) ||
	    (mem64 && f->bar[bar + 1].size != 0))
		return -EINVAL;
	f->bar[bar] = (struct vmm_pci_bar){
		.size = size,
		.mem64 = mem64,
		.ops = ops,
		.dev = dev,
	};
	/* 6.2.5.1: the address bits below the size read 0, so writing all
	 * ones reads back the size; bits 3:0 are the type, read-only. */
	vmm_pci_cfg_set(f, reg, 4, mem64 ? VMM_PCI_BAR_MEM64 : 0);
	vmm_pci_cfg_writable(f, reg, 4, (uint32_t) ~(size - 1) & ~0xfu);
	if (mem64)
		vmm_pci_cfg_writable(f, reg + 4, 4, (uint32_t)(~(size - 1) >> 32));
	return 0;
}

int
vmm_pci_func_add_cap(struct vmm_pci_func *f, uint8_t id, unsigned int len)
{
	unsigned int off = f->cap_end;

	if (len < 2 || len > VMM_PCI_CFG_SIZE || off + len > VMM_PCI_CFG_SIZE)
		return -ENOSPC;
	f->cfg[off] = id;
	f->cfg[off + 1] = 0;
	if (f->cap_last == 0)
		f->cfg[VMM_PCI_CAP_PTR] = (uint8_t)off;
	else
		f->cfg[f->cap_last + 1] = (uint8_t)off;
	f->cap_last = (uint8_t)off;
	f->cap_end = (uint16_t)((off + len + 3) & ~3u);
	vmm_pci_cfg_set(f, VMM_PCI_STATUS, 2,
			vmm_pci_cfg_get(f, VMM_PCI_STATUS, 2) | VMM_PCI_STATUS_CAP_LIST);
	return (int)off;
}

void
vmm_pci_func_cfg_read(const struct vmm_pci_func *f, uint32_t off, uint8_t *data, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		data[i] = off + i < VMM_PCI_CFG_SIZE ? f->cfg[off + i] : 0;
}

void
vmm_pci_func_cfg_write(struct vmm_pci_func *f, uint32_t off, const uint8_t *data, uint32_t len)
{
	for (uint32_t i = 0; i < len && off + i < VMM_PCI_CFG_SIZE; i++) {
		uint32_t o = off + i;
		uint8_t v = data[i];

		f->cfg[o] = (uint8_t)((f->cfg[o] & ~f->wmask[o]) | (v & f->wmask[o]));
		f->cfg[o] &= (uint8_t) ~(v & f->w1c[o]);
	}
}

uint16_t
vmm_pci_func_rid(const struct vmm_pci_func *f)
{
	return f->slot < 0 ? 0 : (uint16_t)((unsigned int)f->slot << 3);
}

uint64_t
vmm_pci_func_bar_decode(const struct vmm_pci_func *f, unsigned int bar)
{
	const struct vmm_pci_bar *b;
	uint64_t base;

	if (bar >= VMM_PCI_BARS)
		return 0;
	b = &f->bar[bar];
	if (b->size == 0 || !(vmm_pci_cfg_get(f, VMM_PCI_COMMAND, 2) & VMM_PCI_CMD_MEMORY))
		return 0;
	base = vmm_pci_cfg_get(f, VMM_PCI_BAR0 + 4 * bar, 4) & ~0xfull;
	if (b->mem64)
		base |= (uint64_t)vmm_pci_cfg_get(f, VMM_PCI_BAR0 + 4 * bar + 4, 4) << 32;
	if (base == 0 || base + b->size < base)
		return 0;
	return base;
}

int
vmm_pci_init(struct vmm_pci *pci, uint64_t ecam_base, unsigned int buses, uint64_t window_start,
	     uint64_t window_end)
{
	if (buses == 0 || buses > 256 || window_end <= window_start ||
	    ecam_base + ((uint64_t)buses << ECAM_BUS_SHIFT) < ecam_base)
		return -EINVAL;
	memset(pci, 0, sizeof(*pci));
	pthread_mutex_init(&pci->lock, NULL);
	pci->ecam_base = ecam_base;
	pci->buses = buses;
	pci->window_start = pci->window_next = window_start;
	pci->window_end = window_end;
	return 0;
}

void
vmm_pci_fini(struct vmm_pci *pci)
{
	if (pci == NULL)
		return;
	pthread_mutex_destroy(&pci->lock);
}

uint64_t
vmm_pci_ecam_size(const struct vmm_pci *pci)
{
	return (uint64_t)pci->buses << ECAM_BUS_SHIFT;
}

int
vmm_pci_add(struct vmm_pci *pci, unsigned int slot, struct vmm_pci_func *f)
{
	uint64_t next;
	uint64_t addr[VMM_PCI_BARS] = { 0 };

	if (slot >= VMM_PCI_SLOTS || f == NULL)
		return -EINVAL;
	pthread_mutex_lock(&pci->lock);
	if (pci->slot[slot] != NULL) {
		pthread_mutex_unlock(&pci->lock);
		return -EEXIST;
	}
	next = pci->window_next;
	for (unsigned int i = 0; i < VMM_PCI_BARS; i++) {
		uint64_t size = f->bar[i].size;

		if (size == 0)
			continue;
		next = (next + size - 1) & ~(size - 1);
		if (next < pci->window_next || next > pci->window_end ||
		    size > pci->window_end - next) {
			pthread_mutex_unlock(&pci->lock);
			return -ENOSPC;
		}
		addr[i] = next;
		next += size;
	}
	for (unsigned int i = 0; i < VMM_PCI_BARS; i++) {
		if (f->bar[i].size == 0)
			continue;
		vmm_pci_cfg_set(f, VMM_PCI_BAR0 + 4 * i, 4,
				(uint32_t)addr[i] | (f->bar[i].mem64 ? VMM_PCI_BAR_MEM64 : 0));
		if (f->bar[i].mem64)
			vmm_pci_cfg_set(f, VMM_PCI_BAR0 + 4 * i + 4, 4, (uint32_t)(addr[i] >> 32));
	}
	pci->window_next = next;
	f->slot = (int)slot;
	pci->slot[slot] = f;
	pthread_mutex_unlock(&pci->lock);
	return 0;
}

/* Under pci->lock: follow the guest's BAR and command registers. */
static void
update_bars(struct vmm_pci_func *f)
{
	for (unsigned int i = 0; i < VMM_PCI_BARS; i++) {
		uint64_t now = vmm_pci_func_bar_decode(f, i), was = f->bar[i].mapped;

		if (now == was)
			continue;
		f->bar[i].mapped = now;
		if (f->ops != NULL && f->ops->bar_mapped != NULL)
			f->ops->bar_mapped(f->owner, f, i, was, now);
	}
}

static bool
overlaps(uint32_t off, uint32_t len, uint32_t start, uint32_t end)
{
	return off < end && off + len > start;
}

/* Under pci->lock; the function at (bus, devfn), or NULL. */
static struct vmm_pci_func *
lookup(struct vmm_pci *pci, unsigned int bus, unsigned int dev, unsigned int fn)
{
	if (bus >= pci->buses || bus != 0 || fn != 0 || dev >= VMM_PCI_SLOTS)
		return NULL;
	return pci->slot[dev];
}

static void
ecam_access(struct vmm_pci *pci, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	unsigned int bus = (unsigned int)(offset >> ECAM_BUS_SHIFT);
	unsigned int dev = (unsigned int)(offset >> ECAM_DEV_SHIFT) & 0x1f;
	unsigned int fn = (unsigned int)(offset >> ECAM_FN_SHIFT) & 0x7;
	uint32_t reg = (uint32_t)(offset & ECAM_REG_MASK);
	struct vmm_pci_func *f;

	pthread_mutex_lock(&pci->lock);
	f = lookup(pci, bus, dev, fn);
	/* An access that runs into the next function's space is no access. */
	if (f == NULL || reg + len > ECAM_REG_MASK + 1) {
		pci->st.cfg_absent++;
		if (!is_write)
			memset(data, 0xff, len);
		pthread_mutex_unlock(&pci->lock);
		return;
	}
	if (!is_write) {
		pci->st.cfg_reads++;
		if (reg < VMM_PCI_CFG_SIZE && f->ops != NULL && f->ops->cfg_read != NULL)
			f->ops->cfg_read(f->owner, f, reg, len);
		vmm_pci_func_cfg_read(f, reg, data, len);
	} else {
		pci->st.cfg_writes++;
		if (reg < VMM_PCI_CFG_SIZE) {
			vmm_pci_func_cfg_write(f, reg, data, len);
			if (overlaps(reg, len, VMM_PCI_COMMAND, VMM_PCI_COMMAND + 2) ||
			    overlaps(reg, len, VMM_PCI_BAR0, VMM_PCI_BAR0 + 4 * VMM_PCI_BARS))
				update_bars(f);
			if (f->ops != NULL && f->ops->cfg_written != NULL)
				f->ops->cfg_written(f->owner, f, reg, len);
		}
	}
	pthread_mutex_unlock(&pci->lock);
}

static void
ecam_read(void *dev, uint64_t offset, uint8_t *data, uint32_t len)
{
	ecam_access(dev, offset, data, len, false);
}

static void
ecam_write(void *dev, uint64_t offset, const uint8_t *data, uint32_t len)
{
	ecam_access(dev, offset, (uint8_t *)data, len, true);
}

const struct vmm_dev_ops vmm_pci_ecam_ops = {
	.name = "pci-ecam",
	.read = ecam_read,
	.write = ecam_write,
};

int
vmm_pci_bar_access(struct vmm_pci *pci, uint64_t gpa, uint8_t *data, uint32_t len, bool is_write)
{
	const struct vmm_dev_ops *ops = NULL;
	uint64_t offset = 0;
	void *dev = NULL;

	pthread_mutex_lock(&pci->lock);
	for (unsigned int s = 0; s < VMM_PCI_SLOTS && ops == NULL; s++) {
		struct vmm_pci_func *f = pci->slot[s];

		for (unsigned int i = 0; f != NULL && i < VMM_PCI_BARS; i++) {
			const struct vmm_pci_bar *b = &f->bar[i];

			if (b->mapped == 0 || gpa < b->mapped || gpa - b->mapped >= b->size ||
			    len > b->size - (gpa - b->mapped))
				continue;
			ops = b->ops;
			dev = b->dev;
			offset = gpa - b->mapped;
			break;
		}
	}
	if (ops != NULL)
		pci->st.bar_accesses++;
	pthread_mutex_unlock(&pci->lock);
	if (ops == NULL)
		return -ENOENT;
	/* Without the bus lock: a device's region handlers may block (a
	 * virtio status write talks to its backend). Functions live as long
	 * as the bus, so a BAR moved meanwhile only means a stale decode. */
	if (is_write) {
		if (ops->write != NULL)
			ops->write(dev, offset, data, len);
	} else if (ops->read != NULL) {
		ops->read(dev, offset, data, len);
	} else {
		memset(data, 0xff, len);
	}
	return 0;
}

void
vmm_pci_get_stats(struct vmm_pci *pci, struct vmm_pci_stats *st)
{
	pthread_mutex_lock(&pci->lock);
	*st = pci->st;
	pthread_mutex_unlock(&pci->lock);
}
