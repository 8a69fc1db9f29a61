/* SPDX-License-Identifier: MIT */
/* KVM stand-ins for the device unit tests (kvm_stubs.h). */
#include "kvm_stubs.h"

int
kvm_stub_route(void *opaque, int *gsi, uint64_t addr, uint32_t data, uint32_t devid)
{
	(void)opaque;
	(void)addr;
	(void)data;
	(void)devid;
	if (*gsi < 0)
		*gsi = 24;
	return 0;
}

void
kvm_stub_route_free(void *opaque, int gsi)
{
	(void)opaque;
	(void)gsi;
}

int
kvm_stub_irqfd(void *opaque, int fd, int gsi, bool assign)
{
	(void)opaque;
	(void)fd;
	(void)gsi;
	(void)assign;
	return 0;
}

int
kvm_stub_ioeventfd(void *opaque, uint64_t gpa, uint32_t len, int fd, bool assign)
{
	(void)opaque;
	(void)gpa;
	(void)len;
	(void)fd;
	(void)assign;
	return 0;
}
