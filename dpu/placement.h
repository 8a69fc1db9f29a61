/* SPDX-License-Identifier: MIT */
/*
 * Placement: which connected host runs a VM. A host fits a VM when the
 * VM's vCPUs are at most the host's cores and at most its KVM vCPU limit
 * (KVM_CAP_NR_VCPUS; 0 = not reported, no limit), and the VM's memory is at
 * most the host's memory capacity minus what is placed there already.
 * A VM stays on its previous host while that host is connected and fits;
 * otherwise the fitting host with the most free memory is taken (ties: the
 * smallest id). Pure functions, thread safe.
 */
#ifndef DPU_PLACEMENT_H
#define DPU_PLACEMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

struct dpu_place_host {
	const char *id;
	bool connected;
	uint32_t cores;
	uint32_t kvm_max_vcpus;
	uint64_t memory_capacity_mib; /* memory_available_mib when the host said Hello */
	uint64_t memory_used_mib;     /* by the active VMs placed there */
};

/*
 * Choose a host for a VM of vcpus and memory_mib; prefer (may be NULL) is
 * its previous host. 0 and *chosen (index into hosts), or -EINVAL with
 * CODE_UNAVAILABLE (no host connected) or CODE_RESOURCE_EXHAUSTED (saying
 * what is short, with field "spec.vcpus" or "spec.memory_mib") in st.
 */
int dpu_place(const struct dpu_place_host *hosts, size_t n, uint32_t vcpus, uint64_t memory_mib,
	      const char *prefer, size_t *chosen, struct dpu_status *st);

#endif
