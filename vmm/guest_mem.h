/* SPDX-License-Identifier: MIT */
/*
 * Guest RAM: one memfd mapped shared, laid out in guest-physical regions
 * around the architecture's MMIO hole. The memfd is what a later issue
 * hands to DPU backends over vhost-user (region fd + offset), so every
 * region is a window into the same fd.
 *
 * Every gpa access from device or loader code goes through vmm_mem_ptr(),
 * which refuses ranges outside RAM: a guest-supplied address is never
 * dereferenced unchecked.
 */
#ifndef VMM_GUEST_MEM_H
#define VMM_GUEST_MEM_H

#include <stdint.h>

#define VMM_MEM_MAX_REGIONS 4

struct vmm_mem_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t fd_offset; /* offset of this region in the memfd */
	uint8_t *hva;
};

struct vmm_mem {
	int fd;        /* the memfd ("nicvisor-guest-ram") */
	uint64_t size; /* total RAM bytes */
	uint8_t *base; /* the whole memfd mapped, MAP_SHARED */
	unsigned int nregions;
	struct vmm_mem_region regions[VMM_MEM_MAX_REGIONS];
};

/*
 * Create size bytes of RAM split around the hole [hole_start, hole_end):
 * RAM below hole_start, the rest from hole_end up. size and the hole must
 * be page aligned; an empty hole gives one region from 0, a hole from 0
 * one region from hole_end. The memfd is sealed against shrinking and
 * growing. 0 or -errno (-EINVAL for a bad size or hole).
 */
int vmm_mem_create(uint64_t size, uint64_t hole_start, uint64_t hole_end, struct vmm_mem **out);
void vmm_mem_destroy(struct vmm_mem *mem); /* accepts NULL */

/* Host pointer for [gpa, gpa + len) if it lies within one RAM region,
 * else NULL. */
void *vmm_mem_ptr(const struct vmm_mem *mem, uint64_t gpa, uint64_t len);

/* Copy in or out; -EFAULT if the range is not RAM. */
int vmm_mem_write(struct vmm_mem *mem, uint64_t gpa, const void *src, uint64_t len);
int vmm_mem_read(const struct vmm_mem *mem, uint64_t gpa, void *dst, uint64_t len);

/* Highest gpa + 1 of RAM below `limit` (for placing an initrd). */
uint64_t vmm_mem_top_below(const struct vmm_mem *mem, uint64_t limit);

#endif
