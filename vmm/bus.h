/* SPDX-License-Identifier: MIT */
/*
 * Device bus: the address ranges of one space (x86 I/O ports, or MMIO)
 * and the device behind each. Ranges are added while the machine is built
 * and the bus is frozen when the vCPUs start, so lookups on vCPU threads
 * take no lock: a device with state has its own lock.
 */
#ifndef VMM_BUS_H
#define VMM_BUS_H

#include <stdint.h>

/*
 * A device model. Both members run on the vCPU thread that made the
 * access, possibly on several vCPU threads at once. `offset` is relative
 * to the start of the device's range, `len` is 1, 2, 4 or 8, `data` is
 * little endian.
 */
struct vmm_dev_ops {
	const char *name;
	/* Fill data. (opt) NULL reads as all ones. */
	void (*read)(void *dev, uint64_t offset, uint8_t *data, uint32_t len);
	/* (opt) NULL ignores writes. */
	void (*write)(void *dev, uint64_t offset, const uint8_t *data, uint32_t len);
};

struct vmm_bus_range {
	uint64_t base;
	uint64_t len;
	const struct vmm_dev_ops *ops;
	void *dev;
};

struct vmm_bus {
	unsigned int n;
	unsigned int cap;
	struct vmm_bus_range *ranges; /* sorted by base, never overlapping */
	int frozen;
};

/* Add [base, base + len). -EINVAL for len 0 or a wrapping range, -EEXIST if
 * it overlaps a range already there, -EBUSY once frozen, -ENOMEM. */
int vmm_bus_add(struct vmm_bus *bus, uint64_t base, uint64_t len, const struct vmm_dev_ops *ops,
		void *dev);
void vmm_bus_freeze(struct vmm_bus *bus);
void vmm_bus_free(struct vmm_bus *bus); /* the ranges, not the devices */

/* The range holding all of [addr, addr + len), or NULL. */
const struct vmm_bus_range *vmm_bus_find(const struct vmm_bus *bus, uint64_t addr, uint32_t len);

/* Perform an access; 0, or -ENOENT if no device claims it (then a read
 * returns all ones and a write is dropped). */
int vmm_bus_access(const struct vmm_bus *bus, uint64_t addr, uint8_t *data, uint32_t len,
		   int is_write);

/* Little-endian helpers for device models. */
static inline uint64_t
vmm_io_get(const uint8_t *data, uint32_t len)
{
	uint64_t v = 0;

	for (uint32_t i = 0; i < len && i < 8; i++)
		v |= (uint64_t)data[i] << (8 * i);
	return v;
}

static inline void
vmm_io_put(uint8_t *data, uint32_t len, uint64_t v)
{
	for (uint32_t i = 0; i < len && i < 8; i++)
		data[i] = (uint8_t)(v >> (8 * i));
}

#endif
