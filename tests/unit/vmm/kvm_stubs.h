/* SPDX-License-Identifier: MIT */
/*
 * KVM stand-ins for the device unit tests: MSI routes that hand out GSI 24
 * and free nothing, irqfds and ioeventfds that accept everything. A test
 * that records a kind of call writes its own function for it and takes
 * the others from here.
 */
#ifndef TEST_KVM_STUBS_H
#define TEST_KVM_STUBS_H

#include <stdbool.h>
#include <stdint.h>

int kvm_stub_route(void *opaque, int *gsi, uint64_t addr, uint32_t data, uint32_t devid);
void kvm_stub_route_free(void *opaque, int gsi);
int kvm_stub_irqfd(void *opaque, int fd, int gsi, bool assign);
int kvm_stub_ioeventfd(void *opaque, uint64_t gpa, uint32_t len, int fd, bool assign);

#endif
