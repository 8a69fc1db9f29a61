/* SPDX-License-Identifier: MIT */
#include "placement.h"

#include <errno.h>
#include <string.h>

static uint32_t
vcpu_limit(const struct dpu_place_host *h)
{
	if (h->kvm_max_vcpus != 0 && h->kvm_max_vcpus < h->cores)
		return h->kvm_max_vcpus;
	return h->cores;
}

static uint64_t
memory_free(const struct dpu_place_host *h)
{
	return h->memory_used_mib >= h->memory_capacity_mib
		       ? 0
		       : h->memory_capacity_mib - h->memory_used_mib;
}

static bool
fits(const struct dpu_place_host *h, uint32_t vcpus, uint64_t memory_mib)
{
	return h->connected && vcpus <= vcpu_limit(h) && memory_mib <= memory_free(h);
}

int
dpu_place(const struct dpu_place_host *hosts, size_t n, uint32_t vcpus, uint64_t memory_mib,
	  const char *prefer, size_t *chosen, struct dpu_status *st)
{
	size_t best = n, connected = 0;
	uint32_t max_vcpus = 0;
	uint64_t max_free = 0;

	for (size_t i = 0; i < n; i++) {
		const struct dpu_place_host *h = &hosts[i];

		if (!h->connected)
			continue;
		connected++;
		if (vcpu_limit(h) > max_vcpus)
			max_vcpus = vcpu_limit(h);
		if (memory_free(h) > max_free)
			max_free = memory_free(h);
		if (!fits(h, vcpus, memory_mib))
			continue;
		if (prefer != NULL && strcmp(h->id, prefer) == 0) {
			*chosen = i;
			return 0;
		}
		if (best == n || memory_free(h) > memory_free(&hosts[best]) ||
		    (memory_free(h) == memory_free(&hosts[best]) &&
		     strcmp(h->id, hosts[best].id) < 0))
			best = i;
	}
	if (best < n) {
		*chosen = best;
		return 0;
	}
	if (connected == 0)
		return dpu_fail(st, NICVISOR__V1__CODE__CODE_UNAVAILABLE, "",
				"no host is connected to the agent; start nicvisor-shim on a host "
				"and retry");
	if (vcpus > max_vcpus)
		return dpu_fail(st, NICVISOR__V1__CODE__CODE_RESOURCE_EXHAUSTED, "spec.vcpus",
				"needs %u vCPUs, largest host has %u", vcpus, max_vcpus);
	if (memory_mib > max_free)
		return dpu_fail(st, NICVISOR__V1__CODE__CODE_RESOURCE_EXHAUSTED, "spec.memory_mib",
				"needs %llu MiB of memory, the most any host has free is %llu MiB",
				(unsigned long long)memory_mib, (unsigned long long)max_free);
	return dpu_fail(st, NICVISOR__V1__CODE__CODE_RESOURCE_EXHAUSTED, "spec",
			"no single host has both %u vCPUs and %llu MiB free (largest host has "
			"%u vCPUs, most free memory is %llu MiB)",
			vcpus, (unsigned long long)memory_mib, max_vcpus,
			(unsigned long long)max_free);
}
