/* SPDX-License-Identifier: MIT */
/* The agent's commands: sequence numbers and field checks. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shim.h"

bool
shim_cmdseq_take(struct shim_cmdseq *s, uint64_t seq)
{
	if (seq <= s->applied) {
		s->duplicates++;
		return false;
	}
	if (seq > s->applied + 1)
		s->gaps += seq - s->applied - 1;
	s->applied = seq;
	return true;
}

void
shim_cmdseq_reset(struct shim_cmdseq *s)
{
	s->applied = 0;
}

void
shim_reason_set(char *dst, size_t n, const char *s)
{
	size_t i = 0;

	if (n == 0)
		return;
	for (; s != NULL && *s != 0 && i + 1 < n; s++)
		dst[i++] = isprint((unsigned char)*s) ? *s : '?';
	dst[i] = 0;
}

bool
shim_vm_id_ok(const char *id)
{
	size_t n = id ? strlen(id) : 0;

	if (n == 0 || n >= SHIM_VM_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!isalnum((unsigned char)id[i]) && strchr("._-", id[i]) == NULL)
			return false;
	}
	return true;
}

bool
shim_digest_ok(const char *id)
{
	if (id == NULL || strlen(id) != 64)
		return false;
	for (int i = 0; i < 64; i++) {
		if (!isxdigit((unsigned char)id[i]))
			return false;
	}
	return true;
}

#define BAD(field, ...)                                                                            \
	do {                                                                                       \
		snprintf(why, n, field ": " __VA_ARGS__);                                          \
		return -EINVAL;                                                                    \
	} while (0)

static int
artifact_check(const Nicvisor__V1__Artifact *a, bool optional, const char *what, char *why,
	       size_t n)
{
	if (a == NULL || (optional && a->id[0] == 0 && a->size == 0)) {
		if (optional)
			return 0;
		BAD("launch.%s", "missing", what);
	}
	if (!shim_digest_ok(a->id))
		BAD("launch.%s.id", "not a sha256 in hex", what);
	if (a->size == 0 || a->size > SHIM_ARTIFACT_MAX)
		BAD("launch.%s.size", "%llu is not in 1..%llu", what, (unsigned long long)a->size,
		    SHIM_ARTIFACT_MAX);
	return 0;
}

int
shim_command_check(const Nicvisor__V1__Command *cmd, char *why, size_t n)
{
	const Nicvisor__V1__LaunchVm *l;
	const Nicvisor__V1__VmSpec *sp;
	int rc;

	switch (cmd->op_case) {
	case NICVISOR__V1__COMMAND__OP_LAUNCH:
		l = cmd->launch;
		if (!shim_vm_id_ok(l->vm_id))
			BAD("launch.vm_id", "not a vm id");
		sp = l->spec;
		if (sp == NULL)
			BAD("launch.spec", "missing");
		if (sp->vcpus < 1 || sp->vcpus > SHIM_VCPUS_MAX)
			BAD("launch.spec.vcpus", "%u is not in 1..%d", sp->vcpus, SHIM_VCPUS_MAX);
		if (sp->memory_mib < SHIM_MEMORY_MIB_MIN || sp->memory_mib > (1u << 24))
			BAD("launch.spec.memory_mib", "%llu is out of range",
			    (unsigned long long)sp->memory_mib);
		if (strlen(sp->cmdline) > SHIM_CMDLINE_MAX)
			BAD("launch.spec.cmdline", "longer than %d bytes", SHIM_CMDLINE_MAX);
		if (l->boots > SHIM_BOOTS_MAX)
			BAD("launch.boots", "%u is implausible", l->boots);
		rc = artifact_check(l->kernel, false, "kernel", why, n);
		if (rc == 0)
			rc = artifact_check(l->initrd, true, "initrd", why, n);
		if (rc == 0)
			rc = shim_nics_check(l->nics, l->n_nics, "launch.nics", NULL, why, n);
		if (rc == 0)
			rc = shim_disks_check(l->disks, l->n_disks, "launch.disks",
					      SHIM_DISK_QUEUES_MAX, 0, NULL, why, n);
		return rc;
	case NICVISOR__V1__COMMAND__OP_STOP:
		if (!shim_vm_id_ok(cmd->stop->vm_id))
			BAD("stop.vm_id", "not a vm id");
		return 0;
	default:
		BAD("op", "unknown command %d", (int)cmd->op_case);
	}
}

static int
hex_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
shim_mac_parse(const char *s, uint8_t mac[6])
{
	static const uint8_t zero[6];

	if (s == NULL || strlen(s) != 17)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		int hi = hex_nibble(s[3 * i]), lo = hex_nibble(s[3 * i + 1]);

		if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':'))
			return -EINVAL;
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	/* A NIC's own address: unicast (I/G bit clear), not all zero. */
	if ((mac[0] & 1) || memcmp(mac, zero, 6) == 0)
		return -EINVAL;
	return 0;
}

int
shim_nics_check(Nicvisor__V1__NicAttachment *const *nics, size_t count, const char *prefix,
		struct shim_nic *out, char *why, size_t n)
{
	uint32_t seen = 0;

	if (count > SHIM_NICS_MAX)
		BAD("%s", "%zu NICs; at most %d", prefix, count, SHIM_NICS_MAX);
	for (size_t i = 0; i < count; i++) {
		const Nicvisor__V1__NicAttachment *a = nics[i];
		uint8_t mac[6];

		if (a->index >= SHIM_NICS_MAX || (seen & (1u << a->index)))
			BAD("%s[%zu].index", "%u is not unique in 0..%d", prefix, i, a->index,
			    SHIM_NICS_MAX - 1);
		seen |= 1u << a->index;
		if (shim_mac_parse(a->mac, mac) < 0)
			BAD("%s[%zu].mac", "not a unicast MAC address like 52:54:00:12:34:56",
			    prefix, i);
		if (a->vhost_user_socket[0] != '/' ||
		    strlen(a->vhost_user_socket) > SHIM_NIC_SOCKET_MAX)
			BAD("%s[%zu].vhost_user_socket", "not an absolute path of at most %d bytes",
			    prefix, i, SHIM_NIC_SOCKET_MAX);
		if (a->queue_pairs < 1 || a->queue_pairs > SHIM_NIC_PAIRS_MAX)
			BAD("%s[%zu].queue_pairs", "%u is not in 1..%d", prefix, i, a->queue_pairs,
			    SHIM_NIC_PAIRS_MAX);
		if (out != NULL) {
			out[i].index = a->index;
			memcpy(out[i].mac, mac, 6);
			snprintf(out[i].socket, sizeof(out[i].socket), "%s", a->vhost_user_socket);
			out[i].queue_pairs = a->queue_pairs;
		}
	}
	return 0;
}

int
shim_disks_check(Nicvisor__V1__DiskAttachment *const *disks, size_t count, const char *prefix,
		 uint32_t max_queues, uint32_t vcpus, struct shim_disk *out, char *why, size_t n)
{
	uint32_t seen = 0;

	if (count > SHIM_DISKS_MAX)
		BAD("%s", "%zu disks; at most %d", prefix, count, SHIM_DISKS_MAX);
	for (size_t i = 0; i < count; i++) {
		const Nicvisor__V1__DiskAttachment *a = disks[i];

		if (a->index >= SHIM_DISKS_MAX || (seen & (1u << a->index)))
			BAD("%s[%zu].index", "%u is not unique in 0..%d", prefix, i, a->index,
			    SHIM_DISKS_MAX - 1);
		seen |= 1u << a->index;
		if (a->vhost_user_socket[0] != '/' ||
		    strlen(a->vhost_user_socket) > SHIM_NIC_SOCKET_MAX)
			BAD("%s[%zu].vhost_user_socket", "not an absolute path of at most %d bytes",
			    prefix, i, SHIM_NIC_SOCKET_MAX);
		if (a->queues < 1 || a->queues > max_queues)
			BAD("%s[%zu].queues", "%u is not in 1..%u", prefix, i, a->queues,
			    max_queues);
		if (strlen(a->serial) > SHIM_DISK_SERIAL_MAX)
			BAD("%s[%zu].serial", "longer than %d bytes", prefix, i,
			    SHIM_DISK_SERIAL_MAX);
		if (out != NULL) {
			out[i].index = a->index;
			snprintf(out[i].socket, sizeof(out[i].socket), "%s", a->vhost_user_socket);
			out[i].queues = vcpus != 0 && a->queues > vcpus ? vcpus : a->queues;
			out[i].read_only = a->read_only;
		}
	}
	return 0;
}

int
shim_disk_parse(const char *arg, uint32_t index, struct shim_disk *d, char *why, size_t wn)
{
	const char *p = strchr(arg, ','), *opt;
	size_t len = p != NULL ? (size_t)(p - arg) : strlen(arg);

	memset(d, 0, sizeof(*d));
	d->index = index;
	d->queues = 1;
	if (arg[0] != '/' || len >= sizeof(d->socket) || memchr(arg, '\n', len) != NULL) {
		snprintf(why, wn, "disk %u: socket: not an absolute path under %zu bytes", index,
			 sizeof(d->socket));
		return -EINVAL;
	}
	memcpy(d->socket, arg, len);
	for (opt = p; opt != NULL; opt = p) {
		size_t olen;

		opt++;
		p = strchr(opt, ',');
		olen = p != NULL ? (size_t)(p - opt) : strlen(opt);
		if (olen == 2 && strncmp(opt, "ro", 2) == 0) {
			d->read_only = true;
		} else if (olen >= 7 && strncmp(opt, "queues=", 7) == 0) {
			char num[8] = "", *end;
			unsigned long q;

			if (olen - 7 >= sizeof(num))
				goto bad_queues;
			memcpy(num, opt + 7, olen - 7);
			q = strtoul(num, &end, 10);
			if (*end != 0 || q < 1 || q > SHIM_DISK_QUEUES_MAX)
				goto bad_queues;
			d->queues = (uint32_t)q;
		} else {
			snprintf(why, wn, "disk %u: unknown option \"%.*s\" (ro, queues=N)", index,
				 (int)(olen > 32 ? 32 : olen), opt);
			return -EINVAL;
		}
	}
	return 0;

bad_queues:
	snprintf(why, wn, "disk %u: queues: not in 1..%d", index, SHIM_DISK_QUEUES_MAX);
	return -EINVAL;
}
