/* SPDX-License-Identifier: MIT */
/*
 * Test harness for the kvm suite: boot one purpose-built guest
 * (tests/guests) through vmm.h with test devices on the report port and
 * the test MMIO window, collect its console output and reports, and wait
 * for them with deadlines. Every wait is bounded; a test that times out
 * stops the VM and fails.
 */
#ifndef KVM_HARNESS_H
#define KVM_HARNESS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm.h"

/* Must match tests/guests/guest.inc. */
#define GUEST_REPORT_PORT        0x500
#define GUEST_TEST_MMIO          0xd0000000ull
#define GUEST_MMIO_REPORT_OFFSET 0x100 /* reports from ring 3 */
#define GUEST_EXIT_OK            0x10
#define GUEST_EXIT_FAIL          0x11
#define TEST_MMIO_READ_VALUE     0x89abcdefu

#define MAX_REPORTS              256
#define MAX_MMIO                 64

struct report {
	int vcpu;
	uint32_t len;
	uint32_t value;
};

struct mmio_access {
	int is_write;
	uint64_t offset;
	uint32_t len;
	uint64_t value;
};

struct guest {
	struct vmm *vm;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	char console[8192];
	size_t console_len;
	struct report reports[MAX_REPORTS];
	unsigned int nreports;
	struct mmio_access mmio[MAX_MMIO];
	unsigned int nmmio;
};

/* 1 if /dev/kvm can be opened, else prints why and returns 0. */
int kvm_available(void);

/* Path of a built guest ("marker" -> <guest dir>/marker.elf). */
const char *guest_path(const char *name);

/* Create (not start) a VM booting guest `name` with the test devices.
 * Returns vmm_create()'s result; err gets its message. */
int guest_create(struct guest *g, const char *name, uint32_t vcpus, uint64_t mem_mib, char *err,
		 size_t errlen);
int guest_start(struct guest *g);
/* Wait for console output containing s / for n reports; false on timeout. */
bool guest_wait_console(struct guest *g, const char *s, int timeout_ms);
bool guest_wait_reports(struct guest *g, unsigned int n, int timeout_ms);
/* Wait for the end of the run (vmm_stop() after timeout_ms) and return it. */
struct vmm_exit guest_wait_exit(struct guest *g, int timeout_ms);
/* Reports made by one vCPU (-1: all), in order; returns how many. */
unsigned int guest_reports_of(struct guest *g, int vcpu, uint32_t *out, unsigned int max);
void guest_destroy(struct guest *g);

#endif
