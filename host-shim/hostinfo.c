/* SPDX-License-Identifier: MIT */
/* What this host offers, for the agent's Hello. */
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "nv_config.h"
#include "shim.h"
#include "vmm.h"

/* A /proc/meminfo line in MiB, 0 if absent. */
static uint64_t
meminfo_mib(const char *key)
{
	char line[256];
	unsigned long long kb = 0;
	size_t n = strlen(key);
	FILE *f = fopen("/proc/meminfo", "re");

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, key, n) == 0 && line[n] == ':') {
			sscanf(line + n + 1, "%llu", &kb);
			break;
		}
	}
	fclose(f);
	return kb / 1024;
}

uint64_t
shim_mem_available_mib(void)
{
	return meminfo_mib("MemAvailable");
}

void
shim_host_caps(const char *kvm_path, struct nv_arena *a, Nicvisor__V1__HostCapabilities *caps)
{
	struct vmm_host_info info = { 0 };
	struct utsname u;
	char host[256] = "";
	char *save = NULL;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);

	caps->arch = nv_arena_strdup(a, uname(&u) == 0 ? u.machine : "unknown");
	caps->cores = cores > 0 ? (uint32_t)cores : 0;
	caps->memory_mib = meminfo_mib("MemTotal");
	caps->memory_available_mib = shim_mem_available_mib();
	caps->shim_version = NV_VERSION;
	gethostname(host, sizeof(host) - 1);
	caps->hostname = nv_arena_strdup(a, host);
	caps->virt = "none";
	if (vmm_probe(kvm_path, &info) < 0)
		return;
	caps->kvm_api_version = info.kvm_api_version;
	caps->kvm_max_vcpus = info.max_vcpus;
	caps->virt = nv_arena_strdup(a, info.virt);
	caps->kvm_caps = nv_arena_alloc(a, sizeof(char *) * 64);
	for (char *t = strtok_r(info.caps, " ", &save); t != NULL && caps->n_kvm_caps < 64;
	     t = strtok_r(NULL, " ", &save))
		caps->kvm_caps[caps->n_kvm_caps++] = nv_arena_strdup(a, t);
}

void
shim_default_host_id(char *buf, size_t n)
{
	FILE *f = fopen("/etc/machine-id", "re");

	buf[0] = 0;
	if (f != NULL) {
		if (fgets(buf, (int)n, f) == NULL)
			buf[0] = 0;
		fclose(f);
		buf[strcspn(buf, "\r\n")] = 0;
	}
	if (buf[0] == 0 && gethostname(buf, n - 1) < 0)
		snprintf(buf, n, "unknown-host");
	buf[n - 1] = 0;
}
