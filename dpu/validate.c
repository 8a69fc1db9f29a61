/* SPDX-License-Identifier: MIT */
#include "validate.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CODE_INVALID NICVISOR__V1__CODE__CODE_INVALID_ARGUMENT

static const char *
join(char *buf, size_t size, const char *prefix, const char *name)
{
	if (prefix == NULL || prefix[0] == 0)
		snprintf(buf, size, "%s", name);
	else
		snprintf(buf, size, "%s.%s", prefix, name);
	return buf;
}

static bool
is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool
is_hex_lower(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

bool
dpu_is_vm_id(const char *s)
{
	if (s == NULL || strlen(s) != DPU_VM_ID_LEN || strncmp(s, "vm-", 3) != 0)
		return false;
	for (int i = 3; i < DPU_VM_ID_LEN; i++)
		if (!is_hex_lower(s[i]))
			return false;
	return true;
}

bool
dpu_is_network_id(const char *s)
{
	if (s == NULL || strlen(s) != DPU_NETWORK_ID_LEN || strncmp(s, "net-", 4) != 0)
		return false;
	for (int i = 4; i < DPU_NETWORK_ID_LEN; i++)
		if (!is_hex_lower(s[i]))
			return false;
	return true;
}

bool
dpu_is_volume_id(const char *s)
{
	if (s == NULL || strlen(s) != DPU_VOLUME_ID_LEN || strncmp(s, "vol-", 4) != 0)
		return false;
	for (int i = 4; i < DPU_VOLUME_ID_LEN; i++)
		if (!is_hex_lower(s[i]))
			return false;
	return true;
}

bool
dpu_is_artifact_id(const char *s)
{
	if (s == NULL || strlen(s) != 64)
		return false;
	for (int i = 0; i < 64; i++)
		if (!is_hex_lower(s[i]))
			return false;
	return true;
}

int
dpu_validate_name(const char *name, const char *field, struct dpu_status *st)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0)
		return dpu_fail(st, CODE_INVALID, field, "a name is required");
	if (n > DPU_NAME_MAX)
		return dpu_fail(st, CODE_INVALID, field,
				"name is %zu characters long; at most %d are allowed", n,
				DPU_NAME_MAX);
	if (!is_lower_alnum(name[0]))
		return dpu_fail(st, CODE_INVALID, field,
				"name '%.63s' must start with a lower-case letter or a digit",
				name);
	for (size_t i = 1; i < n; i++) {
		char c = name[i];

		if (!is_lower_alnum(c) && c != '.' && c != '_' && c != '-')
			return dpu_fail(st, CODE_INVALID, field,
					"name '%.63s' has the character 0x%02x at %zu; use only "
					"a-z, 0-9, '.', '_' and '-'",
					name, (unsigned char)c, i);
	}
	if (dpu_is_vm_id(name))
		return dpu_fail(st, CODE_INVALID, field,
				"name '%s' looks like a VM id (vm-<16 hex digits>); choose another",
				name);
	return 0;
}

int
dpu_validate_network_name(const char *name, const char *field, struct dpu_status *st)
{
	if (dpu_validate_name(name, field, st) < 0)
		return -EINVAL;
	if (dpu_is_network_id(name))
		return dpu_fail(st, CODE_INVALID, field,
				"name '%s' looks like a network id (net-<16 hex digits>); choose "
				"another",
				name);
	return 0;
}

static int
validate_ref(const char *ref, const char *what, const char *field, struct dpu_status *st)
{
	size_t n = ref ? strlen(ref) : 0;

	if (n == 0)
		return dpu_fail(st, CODE_INVALID, field, "name or id of a %s is required", what);
	if (n > DPU_NAME_MAX)
		return dpu_fail(st, CODE_INVALID, field,
				"'%.40s...' is %zu characters long; names and ids have at most %d",
				ref, n, DPU_NAME_MAX);
	return 0;
}

int
dpu_validate_vm_ref(const char *ref, const char *field, struct dpu_status *st)
{
	return validate_ref(ref, "VM", field, st);
}

int
dpu_validate_network_ref(const char *ref, const char *field, struct dpu_status *st)
{
	return validate_ref(ref, "network", field, st);
}

int
dpu_validate_vlan(uint32_t vlan, const char *field, struct dpu_status *st)
{
	if (vlan > DPU_VLAN_MAX)
		return dpu_fail(st, CODE_INVALID, field,
				"VLAN %u is out of range; give 1..%d for a tagged network or 0 "
				"for an untagged one",
				vlan, DPU_VLAN_MAX);
	return 0;
}

bool
dpu_vtep_addr_parse(const char *s, uint32_t *ip)
{
	struct in_addr a;
	const uint8_t *b = (const uint8_t *)&a.s_addr;

	if (s == NULL || inet_pton(AF_INET, s, &a) != 1 || b[0] == 0 || b[0] == 127 || b[0] >= 224)
		return false;
	*ip = a.s_addr;
	return true;
}

int
dpu_validate_overlay(uint32_t vlan, uint32_t vni, char *const *vteps, size_t nvteps, uint32_t *ips,
		     struct dpu_status *st)
{
	uint32_t seen[DPU_MAX_VTEPS];
	char field[32];

	if (vni > DPU_VNI_MAX)
		return dpu_fail(st, CODE_INVALID, "vni",
				"VNI %u is out of range; give 1..%d for an overlay network or 0 "
				"for none",
				vni, DPU_VNI_MAX);
	if (vni != 0 && vlan != 0)
		return dpu_fail(st, CODE_INVALID, "vni",
				"a network has a VLAN or a VNI, not both: VLAN %u and VNI %u given",
				vlan, vni);
	if (nvteps > 0 && vni == 0)
		return dpu_fail(st, CODE_INVALID, "remote_vteps",
				"remote VTEPs need an overlay network: give a vni");
	if (nvteps > DPU_MAX_VTEPS)
		return dpu_fail(st, CODE_INVALID, "remote_vteps", "%zu remote VTEPs; at most %d",
				nvteps, DPU_MAX_VTEPS);
	for (size_t i = 0; i < nvteps; i++) {
		snprintf(field, sizeof(field), "remote_vteps[%zu]", i);
		if (!dpu_vtep_addr_parse(vteps[i], &seen[i]))
			return dpu_fail(st, CODE_INVALID, field,
					"'%.64s' is not a unicast IPv4 address (a.b.c.d)",
					vteps[i] ? vteps[i] : "");
		for (size_t j = 0; j < i; j++)
			if (seen[j] == seen[i])
				return dpu_fail(st, CODE_INVALID, field,
						"%s is given twice (remote_vteps[%zu])", vteps[i],
						j);
		if (ips != NULL)
			ips[i] = seen[i];
	}
	return 0;
}

int
dpu_validate_uplink_name(const char *name, const char *field, struct dpu_status *st)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0)
		return dpu_fail(st, CODE_INVALID, field, "an uplink name is required");
	if (n > DPU_UPLINK_NAME_MAX)
		return dpu_fail(st, CODE_INVALID, field,
				"uplink name is %zu characters long; at most %d", n,
				DPU_UPLINK_NAME_MAX);
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!is_lower_alnum(c) && (i == 0 || (c != '_' && c != '-')))
			return dpu_fail(st, CODE_INVALID, field,
					"uplink name '%s' has the character 0x%02x at %zu; use "
					"a-z, 0-9, '_' and '-' (not first)",
					name, (unsigned char)c, i);
	}
	if (strncmp(name, "vm-", 3) == 0)
		return dpu_fail(st, CODE_INVALID, field,
				"uplink name '%s' begins with 'vm-', which names VM ports", name);
	return 0;
}

static int
hex_digit(char c)
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
dpu_mac_parse(const char *s, uint8_t mac[6])
{
	if (s == NULL || strlen(s) != DPU_MAC_STR_LEN)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		int hi = hex_digit(s[3 * i]), lo = hex_digit(s[3 * i + 1]);

		if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':'))
			return -EINVAL;
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

void
dpu_mac_format(const uint8_t mac[6], char *out)
{
	snprintf(out, DPU_MAC_STR_LEN + 1, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2],
		 mac[3], mac[4], mac[5]);
}

int
dpu_validate_mac(const char *s, const char *field, struct dpu_status *st)
{
	static const uint8_t zero[6];
	uint8_t mac[6];

	if (dpu_mac_parse(s, mac) < 0)
		return dpu_fail(st, CODE_INVALID, field,
				"MAC '%.40s' is not 6 octets written like 52:54:00:12:34:56",
				s ? s : "");
	/* IEEE 802-2014, 8.2: the I/G bit (bit 0 of the first octet) set
	 * means a group address, which no NIC may send from. */
	if (mac[0] & 1)
		return dpu_fail(st, CODE_INVALID, field,
				"MAC %s is a multicast address; a NIC needs a unicast one (first "
				"octet even)",
				s);
	if (memcmp(mac, zero, 6) == 0)
		return dpu_fail(st, CODE_INVALID, field, "MAC 00:00:00:00:00:00 is not an address");
	return 0;
}

int
dpu_validate_nic(const Nicvisor__V1__NicSpec *nic, const char *prefix, struct dpu_status *st)
{
	char f[96];

	if (nic == NULL)
		return dpu_fail(st, CODE_INVALID, prefix, "a NIC spec is required");
	if (dpu_validate_network_ref(nic->network, join(f, sizeof(f), prefix, "network"), st) < 0)
		return -EINVAL;
	if (nic->mac != NULL && nic->mac[0] != 0 &&
	    dpu_validate_mac(nic->mac, join(f, sizeof(f), prefix, "mac"), st) < 0)
		return -EINVAL;
	if (dpu_validate_nic_qos(nic->from_vm_bits_per_second, nic->from_vm_burst_bytes,
				 nic->to_vm_bits_per_second, nic->to_vm_burst_bytes, prefix,
				 st) < 0)
		return -EINVAL;
	if (nic->n_mirrors > DP_MIRRORS_PER_PORT)
		return dpu_fail(st, CODE_INVALID, join(f, sizeof(f), prefix, "mirrors"),
				"%zu mirror sessions; a NIC is the source of at most %d",
				nic->n_mirrors, DP_MIRRORS_PER_PORT);
	if (nic->security != NULL) {
		struct dp_sg_policy pol;

		if (dpu_security_from_pb(nic->security, join(f, sizeof(f), prefix, "security"),
					 NULL, NULL, &pol, st) < 0)
			return -EINVAL;
	}
	for (size_t i = 0; i < nic->n_mirrors; i++) {
		char mf[112];

		snprintf(mf, sizeof(mf), "%s[%zu]", join(f, sizeof(f), prefix, "mirrors"), i);
		if (dpu_validate_mirror_spec(nic->mirrors[i], mf, st) < 0)
			return -EINVAL;
	}
	return 0;
}

int
dpu_validate_mirror_spec(const Nicvisor__V1__MirrorSpec *ms, const char *prefix,
			 struct dpu_status *st)
{
	bool to_mac = ms->to_mac != NULL && ms->to_mac[0] != 0;
	bool to_uplink = ms->to_uplink != NULL && ms->to_uplink[0] != 0;
	char f[160];

	if (dpu_validate_name(ms->name, join(f, sizeof(f), prefix, "name"), st) < 0)
		return -EINVAL;
	if (ms->direction < NICVISOR__V1__MIRROR_DIRECTION__MIRROR_DIRECTION_FROM_VM ||
	    ms->direction > NICVISOR__V1__MIRROR_DIRECTION__MIRROR_DIRECTION_BOTH)
		return dpu_fail(st, CODE_INVALID, join(f, sizeof(f), prefix, "direction"),
				"give a direction: from_vm, to_vm or both");
	if (to_mac == to_uplink)
		return dpu_fail(st, CODE_INVALID, join(f, sizeof(f), prefix, "to_mac"),
				"give one destination: to_mac or to_uplink");
	if (to_mac)
		return dpu_validate_mac(ms->to_mac, join(f, sizeof(f), prefix, "to_mac"), st);
	return dpu_validate_uplink_name(ms->to_uplink, join(f, sizeof(f), prefix, "to_uplink"), st);
}

/* One direction's limit: rate and burst as dp.h takes them. */
static int
validate_limit(uint64_t bps, uint64_t burst, const char *prefix, const char *dir,
	       struct dpu_status *st)
{
	char name[64], f[96];

	if (bps == 0 && burst != 0) {
		snprintf(name, sizeof(name), "%s_burst_bytes", dir);
		return dpu_fail(st, CODE_INVALID, join(f, sizeof(f), prefix, name),
				"a burst of %llu bytes without a rate: give %s_bits_per_second too",
				(unsigned long long)burst, dir);
	}
	if (bps != 0 && (bps < DP_QOS_MIN_RATE || bps > DP_QOS_MAX_RATE)) {
		snprintf(name, sizeof(name), "%s_bits_per_second", dir);
		return dpu_fail(st, CODE_INVALID, join(f, sizeof(f), prefix, name),
				"%llu bits per second; give 0 (no limit) or %llu..%llu",
				(unsigned long long)bps, (unsigned long long)DP_QOS_MIN_RATE,
				(unsigned long long)DP_QOS_MAX_RATE);
	}
	if (burst != 0 && (burst < DP_QOS_MIN_BURST || burst > DP_QOS_MAX_BURST)) {
		snprintf(name, sizeof(name), "%s_burst_bytes", dir);
		return dpu_fail(st, CODE_INVALID, join(f, sizeof(f), prefix, name),
				"%llu bytes; give 0 (the rate for %d ms) or %llu..%llu (it holds "
				"two of the largest frames)",
				(unsigned long long)burst, DP_QOS_BURST_MS,
				(unsigned long long)DP_QOS_MIN_BURST,
				(unsigned long long)DP_QOS_MAX_BURST);
	}
	return 0;
}

/* "tcp", "udp", "icmp", "any" or "", or a number 0..255. */
static int
parse_protocol(const char *s, int16_t *out)
{
	static const struct {
		const char *name;
		int16_t proto;
	} names[] = { { "", DP_SG_PROTO_ANY },
		      { "any", DP_SG_PROTO_ANY },
		      { "tcp", 6 },
		      { "udp", 17 },
		      { "icmp", 1 } };
	char *end;
	long v;

	if (s == NULL)
		s = "";
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(s, names[i].name) == 0) {
			*out = names[i].proto;
			return 0;
		}
	if (s[0] < '0' || s[0] > '9')
		return -EINVAL;
	v = strtol(s, &end, 10);
	if (*end != 0 || v < 0 || v > 255)
		return -EINVAL;
	*out = (int16_t)v;
	return 0;
}

/* "a.b.c.d/len" or "a.b.c.d" (/32), host bits zero; "" is any. */
static int
parse_cidr(const char *s, uint32_t *ip, uint8_t *plen)
{
	char addr[INET_ADDRSTRLEN];
	const char *slash;
	struct in_addr a;
	long len = 32;
	char *end;
	uint32_t host;

	*ip = 0;
	*plen = 0;
	if (s == NULL || s[0] == 0)
		return 0;
	slash = strchr(s, '/');
	if ((size_t)(slash ? slash - s : (ptrdiff_t)strlen(s)) >= sizeof(addr))
		return -EINVAL;
	snprintf(addr, sizeof(addr), "%.*s", (int)(slash ? slash - s : (ptrdiff_t)strlen(s)), s);
	if (inet_pton(AF_INET, addr, &a) != 1)
		return -EINVAL;
	if (slash != NULL) {
		if (slash[1] < '0' || slash[1] > '9')
			return -EINVAL;
		len = strtol(slash + 1, &end, 10);
		if (*end != 0 || len < 0 || len > 32)
			return -EINVAL;
	}
	host = ntohl(a.s_addr);
	if (len < 32 && (host & (UINT32_MAX >> len)) != 0)
		return -ERANGE;
	*ip = a.s_addr;
	*plen = (uint8_t)len;
	return 0;
}

static int
port_range(uint32_t lo, uint32_t hi, const char *prefix, const char *lo_name, const char *hi_name,
	   uint16_t *out_lo, uint16_t *out_hi, struct dpu_status *st)
{
	char f[160];

	if (lo == 0 && hi == 0)
		hi = 65535;
	if (hi > 65535)
		return dpu_fail(st, CODE_INVALID, join(f, sizeof(f), prefix, hi_name),
				"port %u is above 65535", hi);
	if (lo > hi)
		return dpu_fail(st, CODE_INVALID, join(f, sizeof(f), prefix, lo_name),
				"port %u is above %s %u", lo, hi_name, hi);
	*out_lo = (uint16_t)lo;
	*out_hi = (uint16_t)hi;
	return 0;
}

static int
security_rule(const Nicvisor__V1__SecurityRule *pb, const char *prefix, struct dp_sg_rule *r,
	      struct dpu_status *st)
{
	char f[160];
	int rc;

	if (pb == NULL)
		return dpu_fail(st, CODE_INVALID, prefix, "a rule is required");
	memset(r, 0, sizeof(*r));
	r->deny = pb->deny;
	if (parse_protocol(pb->protocol, &r->proto) < 0)
		return dpu_fail(st, CODE_INVALID, join(f, sizeof(f), prefix, "protocol"),
				"protocol '%s': give any, tcp, udp, icmp or a number 0..255",
				pb->protocol);
	rc = parse_cidr(pb->remote_cidr, &r->remote_ip, &r->prefix_len);
	if (rc < 0)
		return dpu_fail(st, CODE_INVALID, join(f, sizeof(f), prefix, "remote_cidr"),
				rc == -ERANGE ? "'%s' has host bits set beyond its prefix length"
					      : "'%s' is not an IPv4 address or a.b.c.d/0..32",
				pb->remote_cidr);
	if (port_range(pb->port_lo, pb->port_hi, prefix, "port_lo", "port_hi", &r->port_lo,
		       &r->port_hi, st) < 0 ||
	    port_range(pb->src_port_lo, pb->src_port_hi, prefix, "src_port_lo", "src_port_hi",
		       &r->src_port_lo, &r->src_port_hi, st) < 0)
		return -EINVAL;
	if (r->proto != 6 && r->proto != 17 &&
	    (r->port_hi - r->port_lo != 65535 || r->src_port_hi - r->src_port_lo != 65535))
		return dpu_fail(st, CODE_INVALID, join(f, sizeof(f), prefix, "protocol"),
				"port ranges need protocol tcp or udp");
	return 0;
}

int
dpu_security_from_pb(const Nicvisor__V1__SecurityPolicy *pb, const char *prefix,
		     struct dp_sg_rule *in, struct dp_sg_rule *eg, struct dp_sg_policy *out,
		     struct dpu_status *st)
{
	const size_t n[2] = { pb ? pb->n_ingress : 0, pb ? pb->n_egress : 0 };
	static const char *const dname[2] = { "ingress", "egress" };
	struct dp_sg_rule *dst[2] = { in, eg };
	char f[128], rf[160];

	memset(out, 0, sizeof(*out));
	if (pb == NULL)
		return 1;
	for (size_t d = 0; d < 2; d++) {
		Nicvisor__V1__SecurityRule **rules = d == 0 ? pb->ingress : pb->egress;

		if (n[d] > DP_SG_MAX_RULES)
			return dpu_fail(st, CODE_INVALID, join(f, sizeof(f), prefix, dname[d]),
					"%zu rules; at most %d", n[d], DP_SG_MAX_RULES);
		for (size_t i = 0; i < n[d]; i++) {
			struct dp_sg_rule scratch;

			snprintf(rf, sizeof(rf), "%s[%zu]", join(f, sizeof(f), prefix, dname[d]),
				 i);
			if (security_rule(rules[i], rf, dst[d] ? &dst[d][i] : &scratch, st) < 0)
				return -EINVAL;
		}
	}
	out->ingress_deny = pb->ingress_default_deny;
	out->egress_deny = pb->egress_default_deny;
	out->n_ingress = (unsigned int)n[0];
	out->n_egress = (unsigned int)n[1];
	out->ingress = in;
	out->egress = eg;
	return 0;
}

int
dpu_validate_nic_qos(uint64_t from_vm_bps, uint64_t from_vm_burst, uint64_t to_vm_bps,
		     uint64_t to_vm_burst, const char *prefix, struct dpu_status *st)
{
	if (validate_limit(from_vm_bps, from_vm_burst, prefix, "from_vm", st) < 0 ||
	    validate_limit(to_vm_bps, to_vm_burst, prefix, "to_vm", st) < 0)
		return -EINVAL;
	return 0;
}

int
dpu_validate_volume_name(const char *name, const char *field, struct dpu_status *st)
{
	if (dpu_validate_name(name, field, st) < 0)
		return -EINVAL;
	if (dpu_is_volume_id(name))
		return dpu_fail(st, CODE_INVALID, field,
				"name '%s' looks like a volume id (vol-<16 hex digits>); choose "
				"another",
				name);
	return 0;
}

int
dpu_validate_volume_ref(const char *ref, const char *field, struct dpu_status *st)
{
	return validate_ref(ref, "volume", field, st);
}

int
dpu_validate_volume_size(uint64_t size, const char *field, struct dpu_status *st)
{
	if (size < DPU_VOLUME_MIN_SIZE || size > DPU_VOLUME_MAX_SIZE)
		return dpu_fail(st, CODE_INVALID, field,
				"size %llu bytes is out of range; give 1 MiB to 64 TiB",
				(unsigned long long)size);
	if (size % 512 != 0)
		return dpu_fail(st, CODE_INVALID, field,
				"size %llu bytes is not a multiple of 512 (the virtio-blk sector)",
				(unsigned long long)size);
	return 0;
}

static bool
is_host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '-';
}

static bool
is_export_char(char c)
{
	return is_host_char(c) || c == '_' || c == '/';
}

int
dpu_nbd_url_parse(const char *url, struct dpu_nbd_url *out, const char *field,
		  struct dpu_status *st)
{
	const char *p, *host, *host_end, *slash;
	size_t n = url ? strlen(url) : 0, hn;
	unsigned long port = DPU_NBD_PORT;

	memset(out, 0, sizeof(*out));
	if (n == 0)
		return dpu_fail(st, CODE_INVALID, field, "an NBD URL is required");
	if (n > DPU_NBD_URL_MAX)
		return dpu_fail(st, CODE_INVALID, field,
				"NBD URL is %zu characters long; at most %d are allowed", n,
				DPU_NBD_URL_MAX);
	if (strncmp(url, "nbd://", 6) != 0)
		return dpu_fail(st, CODE_INVALID, field,
				"'%.64s' is not an NBD URL; give nbd://HOST:PORT/EXPORT", url);
	host = url + 6;
	if (host[0] == '[') {
		host++;
		host_end = strchr(host, ']');
		if (host_end == NULL)
			return dpu_fail(st, CODE_INVALID, field,
					"NBD URL '%.64s': the IPv6 address has no closing ']'",
					url);
		for (p = host; p < host_end; p++)
			if (!is_hex_lower(*p) && !(*p >= 'A' && *p <= 'F') && *p != ':' &&
			    *p != '.')
				return dpu_fail(st, CODE_INVALID, field,
						"NBD URL '%.64s': bad IPv6 address", url);
		p = host_end + 1;
	} else {
		for (p = host; is_host_char(*p); p++)
			;
		host_end = p;
	}
	hn = (size_t)(host_end - host);
	if (hn == 0 || hn > DPU_NBD_HOST_MAX)
		return dpu_fail(st, CODE_INVALID, field,
				"NBD URL '%.64s' has no host or a bad one; give "
				"nbd://HOST:PORT/EXPORT",
				url);
	if (*p == ':') {
		char *end;

		p++;
		if (*p < '0' || *p > '9')
			return dpu_fail(st, CODE_INVALID, field, "NBD URL '%.64s': bad port", url);
		port = strtoul(p, &end, 10);
		if (port == 0 || port > 65535 || end - p > 5)
			return dpu_fail(st, CODE_INVALID, field,
					"NBD URL '%.64s': port out of range (1..65535)", url);
		p = end;
	}
	if (*p != '/' || p[1] == 0)
		return dpu_fail(st, CODE_INVALID, field,
				"NBD URL '%.64s' names no export; give nbd://HOST:PORT/EXPORT",
				url);
	slash = p + 1;
	if (strlen(slash) > DPU_NBD_EXPORT_MAX)
		return dpu_fail(st, CODE_INVALID, field,
				"NBD URL '%.64s': export name longer than %d characters", url,
				DPU_NBD_EXPORT_MAX);
	for (p = slash; *p; p++)
		if (!is_export_char(*p))
			return dpu_fail(st, CODE_INVALID, field,
					"NBD URL '%.64s': export name has the character 0x%02x; "
					"use A-Z, a-z, 0-9, '.', '_', '-' and '/'",
					url, (unsigned char)*p);
	memcpy(out->host, host, hn);
	out->port = (uint16_t)port;
	snprintf(out->export_name, sizeof(out->export_name), "%s", slash);
	return 0;
}

int
dpu_validate_disk(const Nicvisor__V1__DiskSpec *disk, const char *prefix, struct dpu_status *st)
{
	char f[96];

	if (disk == NULL)
		return dpu_fail(st, CODE_INVALID, prefix, "a disk spec is required");
	if (disk->max_iops > DPU_DISK_MAX_IOPS)
		return dpu_fail(st, CODE_INVALID, join(f, sizeof(f), prefix, "max_iops"),
				"%llu requests per second; at most %llu (0: no limit)",
				(unsigned long long)disk->max_iops,
				(unsigned long long)DPU_DISK_MAX_IOPS);
	if (disk->max_bytes_per_second != 0 && (disk->max_bytes_per_second < DPU_DISK_MIN_BPS ||
						disk->max_bytes_per_second > DPU_DISK_MAX_BPS))
		return dpu_fail(
			st, CODE_INVALID, join(f, sizeof(f), prefix, "max_bytes_per_second"),
			"%llu bytes per second; give 0 (no limit) or %llu..%llu",
			(unsigned long long)disk->max_bytes_per_second,
			(unsigned long long)DPU_DISK_MIN_BPS, (unsigned long long)DPU_DISK_MAX_BPS);
	return dpu_validate_volume_ref(disk->volume, join(f, sizeof(f), prefix, "volume"), st);
}

int
dpu_validate_host_id(const char *id, const char *field, struct dpu_status *st)
{
	size_t n = id ? strlen(id) : 0;

	if (n == 0)
		return dpu_fail(st, CODE_INVALID, field, "a host id is required");
	if (n > DPU_HOST_ID_MAX)
		return dpu_fail(st, CODE_INVALID, field,
				"host id is %zu characters long; at most %d are allowed", n,
				DPU_HOST_ID_MAX);
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || (i > 0 && (c == '.' || c == '_' || c == '-'));

		if (!ok)
			return dpu_fail(st, CODE_INVALID, field,
					"host id '%.63s' has the character 0x%02x at %zu; use "
					"letters, digits, '.', '_' and '-' (not first)",
					id, (unsigned char)c, i);
	}
	return 0;
}

static int
validate_path(const char *path, bool required, const char *field, struct dpu_status *st)
{
	size_t n = path ? strlen(path) : 0;

	if (n == 0) {
		if (required)
			return dpu_fail(st, CODE_INVALID, field,
					"a path is required (an absolute path on the DPU)");
		return 0;
	}
	if (n > DPU_PATH_MAX)
		return dpu_fail(st, CODE_INVALID, field, "path is %zu bytes long; at most %d", n,
				DPU_PATH_MAX);
	if (path[0] != '/')
		return dpu_fail(st, CODE_INVALID, field,
				"path '%.200s' is relative; give an absolute path on the DPU",
				path);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)path[i] < 0x20 || path[i] == 0x7f)
			return dpu_fail(st, CODE_INVALID, field,
					"path has the control character 0x%02x at %zu",
					(unsigned char)path[i], i);
	return 0;
}

static bool
at(const uint8_t *hdr, size_t len, size_t off, const void *magic, size_t mlen)
{
	return len >= off + mlen && memcmp(hdr + off, magic, mlen) == 0;
}

const char *
dpu_sniff_boot_file(const uint8_t *hdr, size_t len, enum dpu_boot_file kind)
{
	if (kind == DPU_BOOT_KERNEL) {
		/* Linux boot protocol (x86 boot.rst): setup header magic at 0x202. */
		if (at(hdr, len, 0x202, "HdrS", 4))
			return "bzImage";
		if (at(hdr, len, 0,
		       "\x7f"
		       "ELF",
		       4))
			return "vmlinux";
		/* arm64 booting.rst: magic "ARM\x64" at offset 0x38. */
		if (at(hdr, len, 0x38, "ARM\x64", 4))
			return "Image";
		return NULL;
	}
	if (at(hdr, len, 0, "07070", 5))
		return "cpio";
	if (at(hdr, len, 0, "\x1f\x8b", 2))
		return "gzip";
	if (at(hdr, len, 0,
	       "\xfd"
	       "7zXZ\0",
	       6))
		return "xz";
	if (at(hdr, len, 0, "\x28\xb5\x2f\xfd", 4))
		return "zstd";
	if (at(hdr, len, 0, "\x02\x21\x4c\x18", 4))
		return "lz4";
	if (at(hdr, len, 0, "BZh", 3))
		return "bzip2";
	if (at(hdr, len, 0, "\x5d\x00\x00", 3))
		return "lzma";
	if (at(hdr, len, 0, "\x89LZO", 4))
		return "lzo";
	return NULL;
}

int
dpu_check_boot_file(const char *path, enum dpu_boot_file kind, const char *field,
		    struct dpu_status *st)
{
	const char *what = kind == DPU_BOOT_KERNEL ? "kernel" : "initrd";
	uint64_t max = kind == DPU_BOOT_KERNEL ? DPU_KERNEL_MAX_SIZE : DPU_INITRD_MAX_SIZE;
	uint8_t hdr[1024];
	struct stat sb;
	ssize_t got;
	int fd;

	/* O_NONBLOCK: opening a FIFO must not hang the agent. */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return dpu_fail(st, CODE_INVALID, field, "cannot open %s %s on the DPU: %s", what,
				path, strerror(errno));
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return dpu_fail(st, CODE_INVALID, field, "%s %s is not a regular file", what, path);
	}
	if (sb.st_size == 0) {
		close(fd);
		return dpu_fail(st, CODE_INVALID, field, "%s %s is empty", what, path);
	}
	if ((uint64_t)sb.st_size > max) {
		close(fd);
		return dpu_fail(st, CODE_INVALID, field,
				"%s %s is %llu bytes; at most %llu MiB are accepted", what, path,
				(unsigned long long)sb.st_size, (unsigned long long)(max >> 20));
	}
	got = pread(fd, hdr, sizeof(hdr), 0);
	close(fd);
	if (got < 0)
		return dpu_fail(st, CODE_INVALID, field, "cannot read %s %s: %s", what, path,
				strerror(errno));
	if (dpu_sniff_boot_file(hdr, (size_t)got, kind) == NULL) {
		if (kind == DPU_BOOT_KERNEL)
			return dpu_fail(st, CODE_INVALID, field,
					"%s is not a kernel image: no bzImage header ('HdrS' at "
					"0x202), no ELF header, no arm64 Image magic",
					path);
		return dpu_fail(st, CODE_INVALID, field,
				"%s is not an initrd: neither a cpio archive nor gzip, xz, zstd, "
				"lz4, bzip2, lzma or lzo data",
				path);
	}
	return 0;
}

int
dpu_validate_spec(const Nicvisor__V1__VmSpec *spec, const char *prefix, bool check_files,
		  struct dpu_status *st)
{
	char f[96];
	size_t n;

	if (spec == NULL)
		return dpu_fail(st, CODE_INVALID, prefix, "a VM spec is required");
	if (dpu_validate_name(spec->name, join(f, sizeof(f), prefix, "name"), st) < 0)
		return -EINVAL;
	if (spec->vcpus == 0)
		return dpu_fail(st, CODE_INVALID, join(f, sizeof(f), prefix, "vcpus"),
				"vcpus is 0; a VM needs at least 1 vCPU");
	if (spec->vcpus > DPU_VCPUS_MAX)
		return dpu_fail(st, CODE_INVALID, join(f, sizeof(f), prefix, "vcpus"),
				"%u vCPUs asked; at most %d are supported", spec->vcpus,
				DPU_VCPUS_MAX);
	if (spec->memory_mib < DPU_MEMORY_MIN_MIB)
		return dpu_fail(st, CODE_INVALID, join(f, sizeof(f), prefix, "memory_mib"),
				"%llu MiB of memory asked; a VM needs at least %d MiB",
				(unsigned long long)spec->memory_mib, DPU_MEMORY_MIN_MIB);
	if (spec->memory_mib > DPU_MEMORY_MAX_MIB)
		return dpu_fail(st, CODE_INVALID, join(f, sizeof(f), prefix, "memory_mib"),
				"%llu MiB of memory asked; at most %llu MiB are supported",
				(unsigned long long)spec->memory_mib,
				(unsigned long long)DPU_MEMORY_MAX_MIB);
	if (spec->n_nics > DPU_MAX_NICS)
		return dpu_fail(st, CODE_INVALID, join(f, sizeof(f), prefix, "nics"),
				"%zu NICs asked; a VM has at most %d", spec->n_nics, DPU_MAX_NICS);
	for (size_t i = 0; i < spec->n_nics; i++) {
		char nf[64];
		uint8_t mi[6], mj[6];

		snprintf(nf, sizeof(nf), "nics[%zu]", i);
		if (dpu_validate_nic(spec->nics[i], join(f, sizeof(f), prefix, nf), st) < 0)
			return -EINVAL;
		if (dpu_mac_parse(spec->nics[i]->mac, mi) < 0)
			continue;
		for (size_t j = 0; j < i; j++) {
			if (dpu_mac_parse(spec->nics[j]->mac, mj) == 0 && memcmp(mi, mj, 6) == 0) {
				snprintf(nf, sizeof(nf), "nics[%zu].mac", i);
				return dpu_fail(st, CODE_INVALID, join(f, sizeof(f), prefix, nf),
						"MAC %s is given to NIC %zu already",
						spec->nics[i]->mac, j);
			}
		}
	}
	if (spec->n_disks > DPU_MAX_DISKS)
		return dpu_fail(st, CODE_INVALID, join(f, sizeof(f), prefix, "disks"),
				"%zu disks asked; a VM has at most %d", spec->n_disks,
				DPU_MAX_DISKS);
	for (size_t i = 0; i < spec->n_disks; i++) {
		char df[64];

		snprintf(df, sizeof(df), "disks[%zu]", i);
		if (dpu_validate_disk(spec->disks[i], join(f, sizeof(f), prefix, df), st) < 0)
			return -EINVAL;
		for (size_t j = 0; j < i; j++) {
			if (strcmp(spec->disks[i]->volume, spec->disks[j]->volume) != 0)
				continue;
			snprintf(df, sizeof(df), "disks[%zu].volume", i);
			return dpu_fail(st, CODE_INVALID, join(f, sizeof(f), prefix, df),
					"volume %s is disk %zu already; a volume is attached "
					"once per VM",
					spec->disks[i]->volume, j);
		}
	}
	if (validate_path(spec->kernel, true, join(f, sizeof(f), prefix, "kernel"), st) < 0)
		return -EINVAL;
	if (validate_path(spec->initrd, false, join(f, sizeof(f), prefix, "initrd"), st) < 0)
		return -EINVAL;
	n = spec->cmdline ? strlen(spec->cmdline) : 0;
	if (n > DPU_CMDLINE_MAX)
		return dpu_fail(st, CODE_INVALID, join(f, sizeof(f), prefix, "cmdline"),
				"command line is %zu bytes; at most %d are allowed", n,
				DPU_CMDLINE_MAX);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)spec->cmdline[i] < 0x20 || spec->cmdline[i] == 0x7f)
			return dpu_fail(st, CODE_INVALID, join(f, sizeof(f), prefix, "cmdline"),
					"command line has the control character 0x%02x at %zu",
					(unsigned char)spec->cmdline[i], i);
	if (!check_files)
		return 0;
	if (dpu_check_boot_file(spec->kernel, DPU_BOOT_KERNEL, join(f, sizeof(f), prefix, "kernel"),
				st) < 0)
		return -EINVAL;
	if (spec->initrd != NULL && spec->initrd[0] != 0 &&
	    dpu_check_boot_file(spec->initrd, DPU_BOOT_INITRD, join(f, sizeof(f), prefix, "initrd"),
				st) < 0)
		return -EINVAL;
	return 0;
}
