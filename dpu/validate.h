/* SPDX-License-Identifier: MIT */
/*
 * Field-by-field validation of what peers send the agent. Each function
 * returns 0, or fills st with a typed error naming the offending field
 * (prefixed by the caller's `field`) and returns -EINVAL. Pure functions
 * apart from dpu_check_boot_file(), which opens the file; all thread safe.
 */
#ifndef DPU_VALIDATE_H
#define DPU_VALIDATE_H

#include <stdbool.h>
#include <stdint.h>

#include "dp.h"
#include "nicvisor/v1/types.pb-c.h"
#include "status.h"

#define DPU_NAME_MAX        63
#define DPU_VM_ID_LEN       19 /* "vm-" + 16 hex digits */
#define DPU_HOST_ID_MAX     63
#define DPU_VCPUS_MAX       256
#define DPU_MEMORY_MIN_MIB  16
#define DPU_MEMORY_MAX_MIB  (16ull << 20) /* 16 TiB */
#define DPU_CMDLINE_MAX     2048
#define DPU_PATH_MAX        1024
#define DPU_KERNEL_MAX_SIZE (256ull << 20)
#define DPU_INITRD_MAX_SIZE (1ull << 30)
#define DPU_REASON_MAX      256
#define DPU_NETWORK_ID_LEN  20 /* "net-" + 16 hex digits */
#define DPU_MAX_NICS        8  /* per VM */
#define DPU_VLAN_MAX        4094
#define DPU_MAC_STR_LEN     17 /* "52:54:00:12:34:56" */
#define DPU_UPLINK_NAME_MAX 31
#define DPU_VOLUME_ID_LEN   20 /* "vol-" + 16 hex digits */
#define DPU_MAX_DISKS       8  /* per VM: what the shim and its PCI layout take */
/* A disk's limits (DiskSpec): 0 is none. */
#define DPU_DISK_MAX_IOPS   10000000ull
#define DPU_DISK_MIN_BPS    4096ull
#define DPU_DISK_MAX_BPS    (1ull << 40)
#define DPU_VOLUME_MIN_SIZE (1ull << 20)
#define DPU_VOLUME_MAX_SIZE (64ull << 40) /* 64 TiB */
#define DPU_NBD_URL_MAX     255
#define DPU_NBD_HOST_MAX    253
#define DPU_NBD_EXPORT_MAX  128
#define DPU_NBD_PORT        10809

enum dpu_boot_file {
	DPU_BOOT_KERNEL,
	DPU_BOOT_INITRD,
};

/* [a-z0-9][a-z0-9._-]{0,62}, and not shaped like a VM id. */
int dpu_validate_name(const char *name, const char *field, struct dpu_status *st);
/* A reference to a VM in a request: its id or its name. */
int dpu_validate_vm_ref(const char *ref, const char *field, struct dpu_status *st);
/* "vm-" followed by 16 lower-case hex digits. */
bool dpu_is_vm_id(const char *s);
/* A network's name: like a VM's, and not shaped like a network id either. */
int dpu_validate_network_name(const char *name, const char *field, struct dpu_status *st);
/* A reference to a network in a request: its id or its name. */
int dpu_validate_network_ref(const char *ref, const char *field, struct dpu_status *st);
/* "net-" followed by 16 lower-case hex digits. */
bool dpu_is_network_id(const char *s);
/* 0 (untagged) or 1..4094. */
int dpu_validate_vlan(uint32_t vlan, const char *field, struct dpu_status *st);
/* A network's overlay: vni 0 (none) or 1..DPU_VNI_MAX and then vlan 0;
 * remote VTEPs only with a vni, at most DPU_MAX_VTEPS distinct unicast
 * IPv4 addresses, parsed into ips (network byte order; may be NULL).
 * Fields "vni" and "remote_vteps[i]". */
#define DPU_VNI_MAX   16777215
#define DPU_MAX_VTEPS 16
int dpu_validate_overlay(uint32_t vlan, uint32_t vni, char *const *vteps, size_t nvteps,
			 uint32_t *ips, struct dpu_status *st);
/* A VTEP address: dotted IPv4, unicast (not 0/8, 127/8, multicast, class
 * E or broadcast); into *ip in network byte order. */
bool dpu_vtep_addr_parse(const char *s, uint32_t *ip);
/* An uplink's name (nicvisor-dpu --uplink NAME=...): [a-z0-9][a-z0-9_-]{0,30},
 * not beginning with "vm-". */
int dpu_validate_uplink_name(const char *name, const char *field, struct dpu_status *st);

/* "52:54:00:12:34:56" (hex digits of either case) into 6 octets; -EINVAL
 * for anything else. */
int dpu_mac_parse(const char *s, uint8_t mac[6]);
/* Lower-case "xx:xx:xx:xx:xx:xx" into out (DPU_MAC_STR_LEN + 1 bytes). */
void dpu_mac_format(const uint8_t mac[6], char *out);
/* A NIC's MAC: that form, unicast (first octet even) and not all zeros. */
int dpu_validate_mac(const char *s, const char *field, struct dpu_status *st);
/* A NicSpec as an operator sends it: network reference present and well
 * formed, MAC empty (the agent assigns one) or valid. field_prefix is
 * "nic" or "spec.nics[2]". Whether the network exists and the MAC is free
 * is the agent's to check. */
int dpu_validate_nic(const Nicvisor__V1__NicSpec *nic, const char *field_prefix,
		     struct dpu_status *st);
/* A mirror session as kept in a NicSpec: name, direction, one destination
 * (a unicast MAC or an uplink name). dpu_validate_nic() checks each. */
int dpu_validate_mirror_spec(const Nicvisor__V1__MirrorSpec *ms, const char *field_prefix,
			     struct dpu_status *st);
/* A NIC's rate limits (NicSpec, SetNicQos): per direction a rate of 0 or
 * DP_QOS_MIN_RATE..DP_QOS_MAX_RATE bits per second and a burst of 0 or
 * DP_QOS_MIN_BURST..DP_QOS_MAX_BURST bytes, a burst only with a rate
 * (dataplane/dp.h). Fields are named under field_prefix: "nic" gives
 * "nic.to_vm_burst_bytes", "" gives "to_vm_burst_bytes". */
int dpu_validate_nic_qos(uint64_t from_vm_bps, uint64_t from_vm_burst, uint64_t to_vm_bps,
			 uint64_t to_vm_burst, const char *field_prefix, struct dpu_status *st);

/* A NIC's security group (NicSpec.security, SetNicSecurity), turned into
 * the dataplane's form: rules go to in[0..DP_SG_MAX_RULES) and
 * eg[0..DP_SG_MAX_RULES) (either may be NULL to only validate), *out
 * points to them. pb NULL gives an empty policy (allow both ways) and
 * returns 1; else 0, or -EINVAL with the field named under field_prefix
 * ("nic.security.egress[3].remote_cidr"). */
int dpu_security_from_pb(const Nicvisor__V1__SecurityPolicy *pb, const char *field_prefix,
			 struct dp_sg_rule *in, struct dp_sg_rule *eg, struct dp_sg_policy *out,
			 struct dpu_status *st);

/* "vol-" followed by 16 lower-case hex digits. */
bool dpu_is_volume_id(const char *s);
/* A volume's name: like a VM's, and not shaped like a volume id either. */
int dpu_validate_volume_name(const char *name, const char *field, struct dpu_status *st);
/* A reference to a volume in a request: its id or its name. */
int dpu_validate_volume_ref(const char *ref, const char *field, struct dpu_status *st);
/* A multiple of 512 in DPU_VOLUME_MIN_SIZE..DPU_VOLUME_MAX_SIZE. */
int dpu_validate_volume_size(uint64_t size, const char *field, struct dpu_status *st);

/* An NBD export's address, "nbd://HOST[:PORT]/EXPORT": HOST a DNS name or
 * IPv4 address ([A-Za-z0-9.-]) or an IPv6 one in brackets, PORT 1..65535
 * (default 10809), EXPORT 1..128 characters of [A-Za-z0-9._/-]. */
struct dpu_nbd_url {
	char host[DPU_NBD_HOST_MAX + 1]; /* without brackets */
	uint16_t port;
	char export_name[DPU_NBD_EXPORT_MAX + 1];
};
int dpu_nbd_url_parse(const char *url, struct dpu_nbd_url *out, const char *field,
		      struct dpu_status *st);
/* A DiskSpec as an operator sends it: volume reference present and well
 * formed. field_prefix is "disk" or "spec.disks[2]". Whether the volume
 * exists and may be attached is the agent's to check. */
int dpu_validate_disk(const Nicvisor__V1__DiskSpec *disk, const char *field_prefix,
		      struct dpu_status *st);

/* [A-Za-z0-9][A-Za-z0-9._-]{0,62} */
int dpu_validate_host_id(const char *id, const char *field, struct dpu_status *st);
/* 64 lower-case hex digits (a SHA-256). */
bool dpu_is_artifact_id(const char *s);

/*
 * A VmSpec as an operator sends it: name, vcpus, memory, paths (absolute,
 * bounded, no control characters), cmdline, at most DPU_MAX_NICS NICs
 * (dpu_validate_nic) with no MAC given twice, at most DPU_MAX_DISKS disks
 * (dpu_validate_disk) with no volume given twice. With check_files, the kernel and initrd are
 * also opened and sniffed (dpu_check_boot_file). field_prefix is "spec".
 */
int dpu_validate_spec(const Nicvisor__V1__VmSpec *spec, const char *field_prefix, bool check_files,
		      struct dpu_status *st);

/*
 * path names a readable regular file of a plausible size whose first bytes
 * look like a kernel (bzImage: "HdrS" at 0x202; vmlinux: ELF; arm64 Image:
 * "ARM\x64" at 0x38) or an initrd (cpio, or gzip/xz/zstd/lz4/bzip2/lzma/lzo).
 * Does not block on FIFOs or devices.
 */
int dpu_check_boot_file(const char *path, enum dpu_boot_file kind, const char *field,
			struct dpu_status *st);

/* What the sniff found in a header of len bytes: "bzImage", "vmlinux", "Image",
 * "cpio", "gzip", ...; NULL if nothing known. */
const char *dpu_sniff_boot_file(const uint8_t *hdr, size_t len, enum dpu_boot_file kind);

#endif
