/* SPDX-License-Identifier: MIT */
#include "bus.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int
vmm_bus_add(struct vmm_bus *bus, uint64_t base, uint64_t len, const struct vmm_dev_ops *ops,
	    void *dev)
{
	unsigned int i;

	if (bus->frozen)
		return -EBUSY;
	if (len == 0 || base + len < base || ops == NULL)
		return -EINVAL;
	for (i = 0; i < bus->n && bus->ranges[i].base < base; i++)
		;
	if (i > 0 && bus->ranges[i - 1].base + bus->ranges[i - 1].len > base)
		return -EEXIST;
	if (i < bus->n && base + len > bus->ranges[i].base)
		return -EEXIST;
	if (bus->n == bus->cap) {
		unsigned int cap = bus->cap ? bus->cap * 2 : 8;
		struct vmm_bus_range *r = realloc(bus->ranges, cap * sizeof(*r));

		if (r == NULL)
			return -ENOMEM;
		bus->ranges = r;
		bus->cap = cap;
	}
	memmove(&bus->ranges[i + 1], &bus->ranges[i], (bus->n - i) * sizeof(bus->ranges[0]));
	bus->ranges[i] = (struct vmm_bus_range){
		.base = base,
		.len = len,
		.ops = ops,
		.dev = dev,
	};
	bus->n++;
	return 0;
}

void
vmm_bus_freeze(struct vmm_bus *bus)
{
	bus->frozen = 1;
}

void
vmm_bus_free(struct vmm_bus *bus)
{
	free(bus->ranges);
	memset(bus, 0, sizeof(*bus));
}

const struct vmm_bus_range *
vmm_bus_find(const struct vmm_bus *bus, uint64_t addr, uint32_t len)
{
	unsigned int lo = 0, hi = bus->n;
	const struct vmm_bus_range *r;

	/* The last range starting at or below addr. */
	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (bus->ranges[mid].base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	r = &bus->ranges[lo - 1];
	if (addr - r->base >= r->len || len > r->len - (addr - r->base))
		return NULL;
	return r;
}

int
vmm_bus_access(const struct vmm_bus *bus, uint64_t addr, uint8_t *data, uint32_t len, int is_write)
{
	const struct vmm_bus_range *r = vmm_bus_find(bus, addr, len);

	if (r == NULL) {
		if (!is_write)
			memset(data, 0xff, len);
		return -ENOENT;
	}
	if (is_write) {
		if (r->ops->write != NULL)
			r->ops->write(r->dev, addr - r->base, data, len);
	} else if (r->ops->read != NULL) {
		r->ops->read(r->dev, addr - r->base, data, len);
	} else {
		memset(data, 0xff, len);
	}
	return 0;
}
