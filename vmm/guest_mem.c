/* SPDX-License-Identifier: MIT */
/*
 * Guest RAM as one memfd, mapped once, exposed as up to two guest-physical
 * regions around the MMIO hole (see guest_mem.h).
 */
#include "guest_mem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE_SIZE 4096ull

static int
page_aligned(uint64_t v)
{
	return (v & (PAGE_SIZE - 1)) == 0;
}

int
vmm_mem_create(uint64_t size, uint64_t hole_start, uint64_t hole_end, struct vmm_mem **out)
{
	struct vmm_mem *mem;
	uint64_t low, high;
	void *base;
	int rc;

	if (out == NULL || size == 0 || !page_aligned(size) || !page_aligned(hole_start) ||
	    !page_aligned(hole_end) || hole_end < hole_start)
		return -EINVAL;
	/* An empty hole means one contiguous region from 0. */
	low = size < hole_start || hole_start == hole_end ? size : hole_start;
	high = size - low;
	/* RAM above the hole must not wrap the 64-bit address space. */
	if (high > 0 && high - 1 > UINT64_MAX - hole_end)
		return -EINVAL;
	if (size > (uint64_t)SIZE_MAX || size > (uint64_t)INT64_MAX)
		return -ENOMEM;

	mem = calloc(1, sizeof(*mem));
	if (mem == NULL)
		return -ENOMEM;
	mem->fd = memfd_create("nicvisor-guest-ram", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (mem->fd < 0) {
		rc = -errno;
		goto out_free_mem;
	}
	if (ftruncate(mem->fd, (off_t)size) < 0) {
		rc = -errno;
		goto out_close_fd;
	}
	/*
	 * The fd is handed to DPU backends later; a peer that shrank it would
	 * turn our accesses into SIGBUS. The size never changes after this.
	 */
	if (fcntl(mem->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0) {
		rc = -errno;
		goto out_close_fd;
	}
	base = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, mem->fd, 0);
	if (base == MAP_FAILED) {
		rc = -errno;
		goto out_close_fd;
	}
	mem->base = base;
	mem->size = size;

	if (low > 0) {
		mem->regions[mem->nregions++] = (struct vmm_mem_region){
			.gpa = 0,
			.size = low,
			.fd_offset = 0,
			.hva = mem->base,
		};
	}
	if (high > 0) {
		mem->regions[mem->nregions++] = (struct vmm_mem_region){
			.gpa = hole_end,
			.size = high,
			.fd_offset = low,
			.hva = mem->base + low,
		};
	}
	*out = mem;
	return 0;

out_close_fd:
	close(mem->fd);
out_free_mem:
	free(mem);
	return rc;
}

void
vmm_mem_destroy(struct vmm_mem *mem)
{
	if (mem == NULL)
		return;
	if (mem->base != NULL)
		munmap(mem->base, (size_t)mem->size);
	if (mem->fd >= 0)
		close(mem->fd);
	free(mem);
}

void *
vmm_mem_ptr(const struct vmm_mem *mem, uint64_t gpa, uint64_t len)
{
	unsigned int i;

	if (mem == NULL)
		return NULL;
	for (i = 0; i < mem->nregions && i < VMM_MEM_MAX_REGIONS; i++) {
		const struct vmm_mem_region *r = &mem->regions[i];
		uint64_t off;

		if (gpa < r->gpa)
			continue;
		off = gpa - r->gpa;
		/* Written so that no sum can wrap: off < size, then len fits in the rest. */
		if (off >= r->size || len > r->size - off)
			continue;
		return r->hva + off;
	}
	return NULL;
}

int
vmm_mem_write(struct vmm_mem *mem, uint64_t gpa, const void *src, uint64_t len)
{
	void *dst;

	if (len == 0)
		return 0;
	dst = vmm_mem_ptr(mem, gpa, len);
	if (dst == NULL)
		return -EFAULT;
	memcpy(dst, src, (size_t)len);
	return 0;
}

int
vmm_mem_read(const struct vmm_mem *mem, uint64_t gpa, void *dst, uint64_t len)
{
	const void *src;

	if (len == 0)
		return 0;
	src = vmm_mem_ptr(mem, gpa, len);
	if (src == NULL)
		return -EFAULT;
	memcpy(dst, src, (size_t)len);
	return 0;
}

uint64_t
vmm_mem_top_below(const struct vmm_mem *mem, uint64_t limit)
{
	uint64_t top = 0;
	unsigned int i;

	if (mem == NULL)
		return 0;
	for (i = 0; i < mem->nregions && i < VMM_MEM_MAX_REGIONS; i++) {
		const struct vmm_mem_region *r = &mem->regions[i];
		uint64_t end;

		if (r->size == 0 || r->gpa >= limit)
			continue;
		end = r->size > limit - r->gpa ? limit : r->gpa + r->size;
		if (end > top)
			top = end;
	}
	return top;
}
