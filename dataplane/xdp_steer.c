/* SPDX-License-Identifier: MIT */
/*
 * The maps of an AF_XDP uplink's steering program (xdp/uplink_steer.bpf.c),
 * found through the program the net_af_xdp PMD attached to the netdev:
 * nv_vm_macs (the VMs' MACs, kept here as VM ports come and go) and
 * nv_local_ip4 (the netdev's IPv4 addresses, read once at attach, so ARP
 * for them still reaches the kernel) and nv_vtep_ip4 (the dataplane's VTEP
 * address: ARP replies to it are the dataplane's). Control thread only
 * (dp->lock).
 */
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dp_priv.h"

#ifdef DP_HAVE_LIBBPF
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>

#define MAX_MAPS 16

struct dp_xdp_steer {
	int vm_macs;
	int local_ip4;
	int vtep_ip4;
};

static int
map_named(const __u32 *ids, __u32 n, const char *name)
{
	for (__u32 i = 0; i < n; i++) {
		struct bpf_map_info info = { 0 };
		__u32 len = sizeof(info);
		int fd = bpf_map_get_fd_by_id(ids[i]);

		if (fd < 0)
			continue;
		if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && strcmp(info.name, name) == 0)
			return fd;
		close(fd);
	}
	return -ENOENT;
}

/* The netdev's IPv4 addresses into nv_local_ip4; returns how many. */
static int
fill_local_ip4(int map, const char *iface)
{
	struct ifaddrs *ifa, *i;
	uint8_t one = 1;
	int n = 0;

	if (getifaddrs(&ifa) != 0)
		return -errno;
	for (i = ifa; i != NULL; i = i->ifa_next) {
		struct sockaddr_in *sin = (struct sockaddr_in *)i->ifa_addr;

		if (sin == NULL || sin->sin_family != AF_INET || strcmp(i->ifa_name, iface) != 0)
			continue;
		if (bpf_map_update_elem(map, &sin->sin_addr.s_addr, &one, BPF_ANY) == 0)
			n++;
	}
	freeifaddrs(ifa);
	return n;
}

int
dp_xdp_steer_open(const char *iface, struct dp_xdp_steer **out, char *err, size_t errlen)
{
	struct bpf_prog_info info = { 0 };
	__u32 ids[MAX_MAPS], len = sizeof(info), prog_id = 0;
	struct dp_xdp_steer *s;
	unsigned int ifindex = if_nametoindex(iface);
	int prog, rc;

	*out = NULL;
	if (ifindex == 0) {
		snprintf(err, errlen, "no netdev %s", iface);
		return -ENODEV;
	}
	rc = bpf_xdp_query_id((int)ifindex, 0, &prog_id);
	if (rc != 0 || prog_id == 0) {
		snprintf(err, errlen, "%s has no XDP program attached", iface);
		return rc != 0 ? rc : -ENOENT;
	}
	prog = bpf_prog_get_fd_by_id(prog_id);
	if (prog < 0) {
		snprintf(err, errlen, "%s: XDP program %u: %s", iface, prog_id, strerror(errno));
		return -errno;
	}
	info.nr_map_ids = MAX_MAPS;
	info.map_ids = (__u64)(uintptr_t)ids;
	rc = bpf_obj_get_info_by_fd(prog, &info, &len);
	close(prog);
	if (rc != 0) {
		snprintf(err, errlen, "%s: XDP program %u: no info", iface, prog_id);
		return -EIO;
	}
	if (info.nr_map_ids > MAX_MAPS)
		info.nr_map_ids = MAX_MAPS;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->vm_macs = map_named(ids, info.nr_map_ids, "nv_vm_macs");
	s->local_ip4 = map_named(ids, info.nr_map_ids, "nv_local_ip4");
	s->vtep_ip4 = map_named(ids, info.nr_map_ids, "nv_vtep_ip4");
	if (s->vm_macs < 0 || s->local_ip4 < 0 || s->vtep_ip4 < 0) {
		/* Another program (the PMD's default): it takes everything. */
		dp_xdp_steer_close(s);
		return 0;
	}
	rc = fill_local_ip4(s->local_ip4, iface);
	if (rc < 0) {
		snprintf(err, errlen, "%s: cannot read its addresses: %s", iface, strerror(-rc));
		dp_xdp_steer_close(s);
		return rc;
	}
	DP_LOG(INFO,
	       "%s: XDP program %u steers VM and overlay traffic to the dataplane, %d "
	       "local IPv4 addresses to the kernel\n",
	       iface, prog_id, rc);
	*out = s;
	return 0;
}

void
dp_xdp_steer_close(struct dp_xdp_steer *s)
{
	if (s == NULL)
		return;
	if (s->vm_macs >= 0)
		close(s->vm_macs);
	if (s->local_ip4 >= 0)
		close(s->local_ip4);
	if (s->vtep_ip4 >= 0)
		close(s->vtep_ip4);
	free(s);
}

int
dp_xdp_steer_mac(struct dp_xdp_steer *s, const uint8_t mac[6], bool add)
{
	uint64_t key = 0;
	uint8_t one = 1;

	memcpy(&key, mac, 6);
	if (add)
		return bpf_map_update_elem(s->vm_macs, &key, &one, BPF_ANY) == 0 ? 0 : -errno;
	return bpf_map_delete_elem(s->vm_macs, &key) == 0 || errno == ENOENT ? 0 : -errno;
}

int
dp_xdp_steer_vtep(struct dp_xdp_steer *s, uint32_t old_ip, uint32_t ip)
{
	uint8_t one = 1;

	if (old_ip != 0 && bpf_map_delete_elem(s->vtep_ip4, &old_ip) != 0 && errno != ENOENT)
		return -errno;
	if (ip != 0 && bpf_map_update_elem(s->vtep_ip4, &ip, &one, BPF_ANY) != 0)
		return -errno;
	return 0;
}

#else /* no libbpf: an AF_XDP uplink keeps the PMD's program (everything to the socket) */

int
dp_xdp_steer_open(const char *iface, struct dp_xdp_steer **out, char *err, size_t errlen)
{
	(void)iface;
	*out = NULL;
	snprintf(err, errlen, "built without libbpf: no steering XDP program for AF_XDP uplinks");
	return -ENOTSUP;
}

void
dp_xdp_steer_close(struct dp_xdp_steer *s)
{
	(void)s;
}

int
dp_xdp_steer_mac(struct dp_xdp_steer *s, const uint8_t mac[6], bool add)
{
	(void)s;
	(void)mac;
	(void)add;
	return -ENOTSUP;
}

int
dp_xdp_steer_vtep(struct dp_xdp_steer *s, uint32_t old_ip, uint32_t ip)
{
	(void)s;
	(void)old_ip;
	(void)ip;
	return -ENOTSUP;
}
#endif
