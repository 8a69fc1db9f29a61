/* SPDX-License-Identifier: MIT */
/* dpu/validate.c: every rule, its code and its field. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "validate.h"

#define INVALID NICVISOR__V1__CODE__CODE_INVALID_ARGUMENT

static char dir[] = "/tmp/nv-validate-XXXXXX";
static char kernel[256], initrd[256], elf[256], image[256], junk[256], empty[256], big[256];
static char fifo[256];

static void
write_file(const char *path, const void *head, size_t hlen, size_t off, size_t size)
{
	uint8_t *b = calloc(1, size ? size : 1);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_non_null(b);
	assert_true(fd >= 0);
	if (hlen && off + hlen <= size)
		memcpy(b + off, head, hlen);
	assert_int_equal(write(fd, b, size), (ssize_t)size);
	close(fd);
	free(b);
}

static int
setup(void **state)
{
	(void)state;
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(kernel, sizeof(kernel), "%s/bzImage", dir);
	snprintf(initrd, sizeof(initrd), "%s/initrd", dir);
	snprintf(elf, sizeof(elf), "%s/vmlinux", dir);
	snprintf(image, sizeof(image), "%s/Image", dir);
	snprintf(junk, sizeof(junk), "%s/junk", dir);
	snprintf(empty, sizeof(empty), "%s/empty", dir);
	snprintf(big, sizeof(big), "%s/big", dir);
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	write_file(kernel, "HdrS", 4, 0x202, 4096);
	write_file(initrd, "070701", 6, 0, 512);
	write_file(elf,
		   "\x7f"
		   "ELF",
		   4, 0, 256);
	write_file(image, "ARM\x64", 4, 0x38, 256);
	write_file(junk, "hello", 5, 0, 4096);
	write_file(empty, "", 0, 0, 0);
	/* Sparse: over the limit without using the disk. */
	{
		int fd = open(big, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		assert_int_equal(pwrite(fd, "HdrS", 4, 0x202), 4);
		assert_int_equal(ftruncate(fd, (off_t)DPU_KERNEL_MAX_SIZE + 1), 0);
		close(fd);
	}
	assert_int_equal(mkfifo(fifo, 0600), 0);
	return 0;
}

static int
teardown(void **state)
{
	const char *files[] = { kernel, initrd, elf, image, junk, empty, big, fifo };

	(void)state;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		unlink(files[i]);
	rmdir(dir);
	return 0;
}

static void
expect(int rc, const struct dpu_status *st, const char *field, const char *part)
{
	assert_int_equal(rc, -EINVAL);
	assert_int_equal(st->code, INVALID);
	assert_string_equal(st->field, field);
	if (part != NULL && strstr(st->message, part) == NULL)
		fail_msg("message '%s' lacks '%s'", st->message, part);
}

static void
test_names(void **state)
{
	struct dpu_status st;
	char long_name[80];

	(void)state;
	assert_int_equal(dpu_validate_name("web1", "n", &st), 0);
	assert_int_equal(dpu_validate_name("a", "n", &st), 0);
	assert_int_equal(dpu_validate_name("0.a_b-c", "n", &st), 0);
	memset(long_name, 'a', 63);
	long_name[63] = 0;
	assert_int_equal(dpu_validate_name(long_name, "n", &st), 0);
	long_name[63] = 'a';
	long_name[64] = 0;
	expect(dpu_validate_name(long_name, "spec.name", &st), &st, "spec.name", "64");
	expect(dpu_validate_name("", "spec.name", &st), &st, "spec.name", "required");
	expect(dpu_validate_name(NULL, "spec.name", &st), &st, "spec.name", "required");
	expect(dpu_validate_name("-web", "spec.name", &st), &st, "spec.name", "start");
	expect(dpu_validate_name(".web", "spec.name", &st), &st, "spec.name", "start");
	expect(dpu_validate_name("Web", "spec.name", &st), &st, "spec.name", "start");
	expect(dpu_validate_name("web 1", "spec.name", &st), &st, "spec.name", "0x20");
	expect(dpu_validate_name("web/1", "spec.name", &st), &st, "spec.name", "0x2f");
	expect(dpu_validate_name("wEb", "spec.name", &st), &st, "spec.name", "0x45");
	expect(dpu_validate_name("vm-0123456789abcdef", "spec.name", &st), &st, "spec.name",
	       "looks like a VM id");
	/* Not an id shape: fine. */
	assert_int_equal(dpu_validate_name("vm-0123456789abcdeg", "n", &st), 0);
	assert_int_equal(dpu_validate_name("vm-0123", "n", &st), 0);
}

static void
test_ids(void **state)
{
	struct dpu_status st;

	(void)state;
	assert_true(dpu_is_vm_id("vm-0123456789abcdef"));
	assert_false(dpu_is_vm_id("vm-0123456789ABCDEF"));
	assert_false(dpu_is_vm_id("vm-0123456789abcde"));
	assert_false(dpu_is_vm_id("vm-0123456789abcdef0"));
	assert_false(dpu_is_vm_id("xx-0123456789abcdef"));
	assert_false(dpu_is_vm_id(NULL));
	assert_true(dpu_is_artifact_id(
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
	assert_false(dpu_is_artifact_id(
		"E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"));
	assert_false(dpu_is_artifact_id("e3b0"));
	assert_int_equal(dpu_validate_host_id("host-1.rack_2", "h", &st), 0);
	assert_int_equal(dpu_validate_host_id("H1", "h", &st), 0);
	expect(dpu_validate_host_id("", "hello.host_id", &st), &st, "hello.host_id", "required");
	expect(dpu_validate_host_id("-h", "hello.host_id", &st), &st, "hello.host_id", "0x2d");
	expect(dpu_validate_host_id("h 1", "hello.host_id", &st), &st, "hello.host_id", NULL);
	expect(dpu_validate_vm_ref("", "vm", &st), &st, "vm", "required");
	assert_int_equal(dpu_validate_vm_ref("anything goes", "vm", &st), 0);
}

static Nicvisor__V1__VmSpec
good_spec(void)
{
	Nicvisor__V1__VmSpec s = NICVISOR__V1__VM_SPEC__INIT;

	s.name = "web1";
	s.vcpus = 2;
	s.memory_mib = 512;
	s.kernel = kernel;
	s.initrd = initrd;
	s.cmdline = "console=ttyS0 quiet";
	return s;
}

static void
test_spec(void **state)
{
	Nicvisor__V1__VmSpec s = good_spec();
	struct dpu_status st;
	char cmdline[DPU_CMDLINE_MAX + 2];

	(void)state;
	assert_int_equal(dpu_validate_spec(&s, "spec", true, &st), 0);
	expect(dpu_validate_spec(NULL, "spec", true, &st), &st, "spec", "required");
	s.name = "Bad";
	expect(dpu_validate_spec(&s, "spec", true, &st), &st, "spec.name", NULL);
	s = good_spec();
	s.vcpus = 0;
	expect(dpu_validate_spec(&s, "spec", true, &st), &st, "spec.vcpus", "at least 1");
	s.vcpus = DPU_VCPUS_MAX + 1;
	expect(dpu_validate_spec(&s, "spec", true, &st), &st, "spec.vcpus", "at most");
	s = good_spec();
	s.memory_mib = DPU_MEMORY_MIN_MIB - 1;
	expect(dpu_validate_spec(&s, "spec", true, &st), &st, "spec.memory_mib", "at least 16");
	s.memory_mib = DPU_MEMORY_MIN_MIB;
	assert_int_equal(dpu_validate_spec(&s, "spec", true, &st), 0);
	s.memory_mib = DPU_MEMORY_MAX_MIB + 1;
	expect(dpu_validate_spec(&s, "spec", true, &st), &st, "spec.memory_mib", "at most");
	s = good_spec();
	s.kernel = "";
	expect(dpu_validate_spec(&s, "spec", true, &st), &st, "spec.kernel", "required");
	s.kernel = "boot/bzImage";
	expect(dpu_validate_spec(&s, "spec", true, &st), &st, "spec.kernel", "relative");
	s.kernel = "/boot/\nbzImage";
	expect(dpu_validate_spec(&s, "spec", true, &st), &st, "spec.kernel", "control");
	s = good_spec();
	s.initrd = "initrd.img";
	expect(dpu_validate_spec(&s, "spec", true, &st), &st, "spec.initrd", "relative");
	s.initrd = "";
	assert_int_equal(dpu_validate_spec(&s, "spec", true, &st), 0);
	s = good_spec();
	memset(cmdline, 'x', DPU_CMDLINE_MAX);
	cmdline[DPU_CMDLINE_MAX] = 0;
	s.cmdline = cmdline;
	assert_int_equal(dpu_validate_spec(&s, "spec", true, &st), 0);
	cmdline[DPU_CMDLINE_MAX] = 'x';
	cmdline[DPU_CMDLINE_MAX + 1] = 0;
	expect(dpu_validate_spec(&s, "spec", true, &st), &st, "spec.cmdline", "2048");
	s.cmdline = "a\tb";
	expect(dpu_validate_spec(&s, "spec", true, &st), &st, "spec.cmdline", "0x09");

	/* Without file checks a missing kernel passes (adopted specs). */
	s = good_spec();
	s.kernel = "/nonexistent/kernel";
	assert_int_equal(dpu_validate_spec(&s, "spec", false, &st), 0);
	expect(dpu_validate_spec(&s, "spec", true, &st), &st, "spec.kernel", "No such file");
	/* Prefix changes the field names. */
	s = good_spec();
	s.vcpus = 0;
	expect(dpu_validate_spec(&s, "hello.vms[0].spec", false, &st), &st,
	       "hello.vms[0].spec.vcpus", NULL);
}

static void
test_network_rules(void **state)
{
	struct dpu_status st;

	(void)state;
	assert_true(dpu_is_network_id("net-0123456789abcdef"));
	assert_false(dpu_is_network_id("net-0123456789ABCDEF"));
	assert_false(dpu_is_network_id("net-0123456789abcde"));
	assert_false(dpu_is_network_id("vm-0123456789abcdef"));
	assert_false(dpu_is_network_id(NULL));
	assert_int_equal(dpu_validate_network_name("blue", "name", &st), 0);
	assert_int_equal(dpu_validate_network_name("net-01", "name", &st), 0);
	expect(dpu_validate_network_name("net-0123456789abcdef", "name", &st), &st, "name",
	       "looks like a network id");
	expect(dpu_validate_network_name("vm-0123456789abcdef", "name", &st), &st, "name",
	       "looks like a VM id");
	expect(dpu_validate_network_name("Blue", "name", &st), &st, "name", "start");
	expect(dpu_validate_network_name("", "name", &st), &st, "name", "required");
	expect(dpu_validate_network_ref("", "network", &st), &st, "network", "network is required");
	assert_int_equal(dpu_validate_network_ref("net-0123456789abcdef", "network", &st), 0);

	assert_int_equal(dpu_validate_vlan(0, "vlan", &st), 0);
	assert_int_equal(dpu_validate_vlan(1, "vlan", &st), 0);
	assert_int_equal(dpu_validate_vlan(4094, "vlan", &st), 0);
	expect(dpu_validate_vlan(4095, "vlan", &st), &st, "vlan", "1..4094");
	expect(dpu_validate_vlan(UINT32_MAX, "vlan", &st), &st, "vlan", "out of range");

	assert_int_equal(dpu_validate_uplink_name("up0", "uplink", &st), 0);
	assert_int_equal(dpu_validate_uplink_name("p0_a-1", "uplink", &st), 0);
	expect(dpu_validate_uplink_name("", "uplink", &st), &st, "uplink", "required");
	expect(dpu_validate_uplink_name("-up", "uplink", &st), &st, "uplink", "0x2d");
	expect(dpu_validate_uplink_name("up.0", "uplink", &st), &st, "uplink", "0x2e");
	expect(dpu_validate_uplink_name("Up0", "uplink", &st), &st, "uplink", "0x55");
	expect(dpu_validate_uplink_name("vm-1", "uplink", &st), &st, "uplink", "vm-");
	expect(dpu_validate_uplink_name("a234567890123456789012345678901x", "uplink", &st), &st,
	       "uplink", "at most 31");
}

static void
test_mac(void **state)
{
	struct dpu_status st;
	uint8_t mac[6];
	char out[DPU_MAC_STR_LEN + 1];

	(void)state;
	assert_int_equal(dpu_mac_parse("52:54:00:12:34:56", mac), 0);
	assert_memory_equal(mac, "\x52\x54\x00\x12\x34\x56", 6);
	assert_int_equal(dpu_mac_parse("0A:bC:De:f0:01:FF", mac), 0);
	dpu_mac_format(mac, out);
	assert_string_equal(out, "0a:bc:de:f0:01:ff");
	assert_int_equal(dpu_mac_parse("52:54:00:12:34", mac), -EINVAL);
	assert_int_equal(dpu_mac_parse("52:54:00:12:34:56:78", mac), -EINVAL);
	assert_int_equal(dpu_mac_parse("52-54-00-12-34-56", mac), -EINVAL);
	assert_int_equal(dpu_mac_parse("5254.0012.3456..", mac), -EINVAL);
	assert_int_equal(dpu_mac_parse("52:54:00:12:34:5g", mac), -EINVAL);
	assert_int_equal(dpu_mac_parse(" 52:54:00:12:34:5", mac), -EINVAL);
	assert_int_equal(dpu_mac_parse(NULL, mac), -EINVAL);

	assert_int_equal(dpu_validate_mac("52:54:00:12:34:56", "nic.mac", &st), 0);
	assert_int_equal(dpu_validate_mac("02:00:00:00:00:01", "nic.mac", &st), 0);
	expect(dpu_validate_mac("01:00:5e:00:00:01", "nic.mac", &st), &st, "nic.mac", "multicast");
	expect(dpu_validate_mac("ff:ff:ff:ff:ff:ff", "nic.mac", &st), &st, "nic.mac", "multicast");
	expect(dpu_validate_mac("00:00:00:00:00:00", "nic.mac", &st), &st, "nic.mac",
	       "not an address");
	expect(dpu_validate_mac("525400123456", "nic.mac", &st), &st, "nic.mac",
	       "52:54:00:12:34:56");
}

static void
test_spec_nics(void **state)
{
	Nicvisor__V1__NicSpec n[DPU_MAX_NICS + 1], *np[DPU_MAX_NICS + 1];
	Nicvisor__V1__VmSpec s = good_spec();
	struct dpu_status st;

	(void)state;
	for (int i = 0; i <= DPU_MAX_NICS; i++) {
		nicvisor__v1__nic_spec__init(&n[i]);
		n[i].network = "blue";
		np[i] = &n[i];
	}
	s.nics = np;
	s.n_nics = DPU_MAX_NICS;
	/* Eight NICs with MACs left to the agent. */
	assert_int_equal(dpu_validate_spec(&s, "spec", true, &st), 0);
	s.n_nics = DPU_MAX_NICS + 1;
	expect(dpu_validate_spec(&s, "spec", true, &st), &st, "spec.nics", "at most 8");
	s.n_nics = 3;
	n[1].network = "";
	expect(dpu_validate_spec(&s, "spec", true, &st), &st, "spec.nics[1].network", "required");
	n[1].network = "blue";
	n[2].mac = "01:02:03:04:05:06";
	expect(dpu_validate_spec(&s, "spec", true, &st), &st, "spec.nics[2].mac", "multicast");
	n[2].mac = "52:54:00:aa:bb:cc";
	n[0].mac = "52:54:00:AA:BB:CD";
	assert_int_equal(dpu_validate_spec(&s, "spec", false, &st), 0);
	/* The same MAC twice (in any case) in one spec. */
	n[0].mac = "52:54:00:aa:bb:cc";
	n[2].mac = "52:54:00:AA:BB:CC";
	expect(dpu_validate_spec(&s, "spec", false, &st), &st, "spec.nics[2].mac",
	       "given to NIC 0 already");
	assert_int_equal(dpu_validate_nic(&n[0], "nic", &st), 0);
	expect(dpu_validate_nic(NULL, "nic", &st), &st, "nic", "required");
	n[0].network = NULL;
	expect(dpu_validate_nic(&n[0], "nic", &st), &st, "nic.network", "required");
}

/* A NIC's security group: each rule's fields, converted for the switch. */
static void
test_nic_security(void **state)
{
	Nicvisor__V1__SecurityPolicy pol = NICVISOR__V1__SECURITY_POLICY__INIT;
	Nicvisor__V1__SecurityRule r[2], *rp[2] = { &r[0], &r[1] };
	Nicvisor__V1__NicSpec n = NICVISOR__V1__NIC_SPEC__INIT;
	struct dp_sg_rule in[2], eg[2];
	struct dp_sg_policy out;
	struct dpu_status st;

	(void)state;
	nicvisor__v1__security_rule__init(&r[0]);
	nicvisor__v1__security_rule__init(&r[1]);
	r[0].protocol = "tcp";
	r[0].remote_cidr = "10.0.0.0/8";
	r[0].port_lo = r[0].port_hi = 22;
	r[1].deny = true;
	r[1].protocol = "47";
	r[1].remote_cidr = "192.0.2.7";
	pol.ingress = rp;
	pol.n_ingress = 2;
	pol.egress = rp;
	pol.n_egress = 1;
	pol.egress_default_deny = true;
	assert_int_equal(dpu_security_from_pb(&pol, "policy", in, eg, &out, &st), 0);
	assert_int_equal(out.n_ingress, 2);
	assert_int_equal(out.n_egress, 1);
	assert_false(out.ingress_deny);
	assert_true(out.egress_deny);
	assert_int_equal(in[0].proto, 6);
	assert_int_equal(in[0].remote_ip, htonl(0x0a000000));
	assert_int_equal(in[0].prefix_len, 8);
	assert_int_equal(in[0].port_lo, 22);
	assert_int_equal(in[0].port_hi, 22);
	assert_int_equal(in[0].src_port_lo, 0);
	assert_int_equal(in[0].src_port_hi, 65535);
	assert_true(in[1].deny);
	assert_int_equal(in[1].proto, 47);
	assert_int_equal(in[1].prefix_len, 32);
	assert_int_equal(in[1].port_hi, 65535);
	assert_int_equal(dpu_security_from_pb(NULL, "policy", in, eg, &out, &st), 1);

	r[1].protocol = "256";
	expect(dpu_security_from_pb(&pol, "policy", in, eg, &out, &st), &st,
	       "policy.ingress[1].protocol", "0..255");
	r[1].protocol = "any";
	r[1].remote_cidr = "192.0.2.7/33";
	expect(dpu_security_from_pb(&pol, "policy", in, eg, &out, &st), &st,
	       "policy.ingress[1].remote_cidr", NULL);
	r[1].remote_cidr = "192.0.2.7/24";
	expect(dpu_security_from_pb(&pol, "policy", in, eg, &out, &st), &st,
	       "policy.ingress[1].remote_cidr", "host bits");
	r[1].remote_cidr = "";
	r[1].src_port_lo = 5;
	expect(dpu_security_from_pb(&pol, "policy", in, eg, &out, &st), &st,
	       "policy.ingress[1].src_port_lo", NULL);
	r[1].src_port_lo = 0;
	r[1].port_hi = 80;
	expect(dpu_security_from_pb(&pol, "policy", in, eg, &out, &st), &st,
	       "policy.ingress[1].protocol", "tcp or udp");
	r[1].port_hi = 0;
	r[0].port_hi = 65536;
	expect(dpu_security_from_pb(&pol, "policy", in, eg, &out, &st), &st,
	       "policy.ingress[0].port_hi", "65535");
	r[0].port_hi = 22;
	/* In a NicSpec, under its prefix. */
	n.network = "blue";
	n.security = &pol;
	assert_int_equal(dpu_validate_nic(&n, "spec.nics[0]", &st), 0);
	r[0].remote_cidr = "10.0.0";
	expect(dpu_validate_nic(&n, "spec.nics[0]", &st), &st,
	       "spec.nics[0].security.ingress[0].remote_cidr", NULL);
}

/* A NIC's rate limits and the mirror sessions kept with it. */
static void
test_nic_qos_and_mirrors(void **state)
{
	Nicvisor__V1__NicSpec n = NICVISOR__V1__NIC_SPEC__INIT;
	Nicvisor__V1__MirrorSpec m[DP_MIRRORS_PER_PORT + 1], *mp[DP_MIRRORS_PER_PORT + 1];
	struct dpu_status st;

	(void)state;
	n.network = "blue";
	n.from_vm_bits_per_second = DP_QOS_MIN_RATE;
	n.to_vm_bits_per_second = DP_QOS_MAX_RATE;
	n.to_vm_burst_bytes = DP_QOS_MIN_BURST;
	assert_int_equal(dpu_validate_nic(&n, "spec.nics[1]", &st), 0);
	n.from_vm_bits_per_second = DP_QOS_MIN_RATE - 1;
	expect(dpu_validate_nic(&n, "spec.nics[1]", &st), &st,
	       "spec.nics[1].from_vm_bits_per_second", "0 (no limit)");
	n.from_vm_bits_per_second = 0;
	n.from_vm_burst_bytes = DP_QOS_MIN_BURST;
	expect(dpu_validate_nic(&n, "nic", &st), &st, "nic.from_vm_burst_bytes", "without a rate");
	n.from_vm_burst_bytes = 0;
	n.to_vm_burst_bytes = DP_QOS_MAX_BURST + 1;
	expect(dpu_validate_nic(&n, "nic", &st), &st, "nic.to_vm_burst_bytes", NULL);
	n.to_vm_bits_per_second = DP_QOS_MAX_RATE + 1;
	n.to_vm_burst_bytes = 0;
	expect(dpu_validate_nic_qos(0, 0, n.to_vm_bits_per_second, 0, "", &st), &st,
	       "to_vm_bits_per_second", NULL);
	n.to_vm_bits_per_second = 0;

	for (int i = 0; i <= DP_MIRRORS_PER_PORT; i++) {
		nicvisor__v1__mirror_spec__init(&m[i]);
		m[i].name = "tap";
		m[i].direction = NICVISOR__V1__MIRROR_DIRECTION__MIRROR_DIRECTION_BOTH;
		m[i].to_uplink = "up0";
		mp[i] = &m[i];
	}
	n.mirrors = mp;
	n.n_mirrors = DP_MIRRORS_PER_PORT;
	assert_int_equal(dpu_validate_nic(&n, "nic", &st), 0);
	n.n_mirrors = DP_MIRRORS_PER_PORT + 1;
	expect(dpu_validate_nic(&n, "nic", &st), &st, "nic.mirrors", "at most");
	n.n_mirrors = 2;
	m[1].direction = NICVISOR__V1__MIRROR_DIRECTION__MIRROR_DIRECTION_UNSPECIFIED;
	expect(dpu_validate_nic(&n, "nic", &st), &st, "nic.mirrors[1].direction", NULL);
	m[1].direction = NICVISOR__V1__MIRROR_DIRECTION__MIRROR_DIRECTION_TO_VM;
	m[1].to_mac = "52:54:00:aa:bb:cc";
	expect(dpu_validate_nic(&n, "nic", &st), &st, "nic.mirrors[1].to_mac", "one destination");
	m[1].to_uplink = "";
	assert_int_equal(dpu_validate_nic(&n, "nic", &st), 0);
	m[1].to_mac = "ff:ff:ff:ff:ff:ff";
	expect(dpu_validate_nic(&n, "nic", &st), &st, "nic.mirrors[1].to_mac", "multicast");
	m[0].name = "Tap";
	expect(dpu_validate_nic(&n, "nic", &st), &st, "nic.mirrors[0].name", NULL);
}

static void
test_boot_files(void **state)
{
	struct dpu_status st;

	(void)state;
	assert_int_equal(dpu_check_boot_file(kernel, DPU_BOOT_KERNEL, "k", &st), 0);
	assert_int_equal(dpu_check_boot_file(elf, DPU_BOOT_KERNEL, "k", &st), 0);
	assert_int_equal(dpu_check_boot_file(image, DPU_BOOT_KERNEL, "k", &st), 0);
	assert_int_equal(dpu_check_boot_file(initrd, DPU_BOOT_INITRD, "i", &st), 0);
	expect(dpu_check_boot_file(junk, DPU_BOOT_KERNEL, "spec.kernel", &st), &st, "spec.kernel",
	       "not a kernel image");
	expect(dpu_check_boot_file(junk, DPU_BOOT_INITRD, "spec.initrd", &st), &st, "spec.initrd",
	       "not an initrd");
	expect(dpu_check_boot_file(kernel, DPU_BOOT_INITRD, "spec.initrd", &st), &st, "spec.initrd",
	       "not an initrd");
	expect(dpu_check_boot_file(empty, DPU_BOOT_KERNEL, "spec.kernel", &st), &st, "spec.kernel",
	       "empty");
	expect(dpu_check_boot_file(big, DPU_BOOT_KERNEL, "spec.kernel", &st), &st, "spec.kernel",
	       "at most 256 MiB");
	expect(dpu_check_boot_file(dir, DPU_BOOT_KERNEL, "spec.kernel", &st), &st, "spec.kernel",
	       "not a regular file");
	/* A FIFO neither blocks nor passes. */
	expect(dpu_check_boot_file(fifo, DPU_BOOT_KERNEL, "spec.kernel", &st), &st, "spec.kernel",
	       "not a regular file");
	expect(dpu_check_boot_file("/nonexistent", DPU_BOOT_KERNEL, "spec.kernel", &st), &st,
	       "spec.kernel", "cannot open");
	if (geteuid() != 0) {
		chmod(kernel, 0);
		expect(dpu_check_boot_file(kernel, DPU_BOOT_KERNEL, "spec.kernel", &st), &st,
		       "spec.kernel", "Permission denied");
		chmod(kernel, 0644);
	}
}

static void
test_sniff(void **state)
{
	uint8_t h[0x300] = { 0 };

	(void)state;
	assert_null(dpu_sniff_boot_file(h, sizeof(h), DPU_BOOT_KERNEL));
	memcpy(h + 0x202, "HdrS", 4);
	assert_string_equal(dpu_sniff_boot_file(h, sizeof(h), DPU_BOOT_KERNEL), "bzImage");
	/* Too short to hold the magic: no match, no overread. */
	assert_null(dpu_sniff_boot_file(h, 0x205, DPU_BOOT_KERNEL));
	memset(h, 0, sizeof(h));
	memcpy(h,
	       "\xfd"
	       "7zXZ\0",
	       6);
	assert_string_equal(dpu_sniff_boot_file(h, sizeof(h), DPU_BOOT_INITRD), "xz");
	memcpy(h, "\x28\xb5\x2f\xfd", 4);
	assert_string_equal(dpu_sniff_boot_file(h, sizeof(h), DPU_BOOT_INITRD), "zstd");
	memcpy(h, "\x1f\x8b", 2);
	assert_string_equal(dpu_sniff_boot_file(h, sizeof(h), DPU_BOOT_INITRD), "gzip");
	assert_null(dpu_sniff_boot_file(h, 1, DPU_BOOT_INITRD));
}

static void
test_volume_rules(void **state)
{
	struct dpu_status st;

	(void)state;
	assert_true(dpu_is_volume_id("vol-0123456789abcdef"));
	assert_false(dpu_is_volume_id("vol-0123456789ABCDEF"));
	assert_false(dpu_is_volume_id("vol-0123456789abcde"));
	assert_false(dpu_is_volume_id("net-0123456789abcdef"));
	assert_false(dpu_is_volume_id(NULL));
	assert_int_equal(dpu_validate_volume_name("data-1", "name", &st), 0);
	expect(dpu_validate_volume_name("vol-0123456789abcdef", "name", &st), &st, "name",
	       "volume id");
	expect(dpu_validate_volume_name("vm-0123456789abcdef", "name", &st), &st, "name", "VM id");
	expect(dpu_validate_volume_ref("", "volume", &st), &st, "volume", "required");
	assert_int_equal(dpu_validate_volume_size(DPU_VOLUME_MIN_SIZE, "size_bytes", &st), 0);
	assert_int_equal(dpu_validate_volume_size(DPU_VOLUME_MAX_SIZE, "size_bytes", &st), 0);
	expect(dpu_validate_volume_size(DPU_VOLUME_MIN_SIZE - 512, "size_bytes", &st), &st,
	       "size_bytes", "range");
	expect(dpu_validate_volume_size(DPU_VOLUME_MAX_SIZE + 512, "size_bytes", &st), &st,
	       "size_bytes", "range");
	expect(dpu_validate_volume_size(DPU_VOLUME_MIN_SIZE + 1, "size_bytes", &st), &st,
	       "size_bytes", "512");
}

static void
test_nbd_url(void **state)
{
	struct dpu_nbd_url u;
	struct dpu_status st;
	char longurl[400];

	(void)state;
	assert_int_equal(dpu_nbd_url_parse("nbd://10.0.0.2:10810/vol/a_1.img", &u, "f", &st), 0);
	assert_string_equal(u.host, "10.0.0.2");
	assert_int_equal(u.port, 10810);
	assert_string_equal(u.export_name, "vol/a_1.img");
	assert_int_equal(dpu_nbd_url_parse("nbd://storage.example/e", &u, "f", &st), 0);
	assert_string_equal(u.host, "storage.example");
	assert_int_equal(u.port, DPU_NBD_PORT);
	assert_int_equal(dpu_nbd_url_parse("nbd://[fd00::1]:99/e", &u, "f", &st), 0);
	assert_string_equal(u.host, "fd00::1");
	assert_int_equal(u.port, 99);
	expect(dpu_nbd_url_parse("", &u, "f", &st), &st, "f", "required");
	expect(dpu_nbd_url_parse(NULL, &u, "f", &st), &st, "f", "required");
	expect(dpu_nbd_url_parse("nbd:/h/e", &u, "f", &st), &st, "f", "not an NBD URL");
	expect(dpu_nbd_url_parse("nbd:///e", &u, "f", &st), &st, "f", "host");
	expect(dpu_nbd_url_parse("nbd://h_x/e", &u, "f", &st), &st, "f", "export");
	expect(dpu_nbd_url_parse("nbd://h:/e", &u, "f", &st), &st, "f", "port");
	expect(dpu_nbd_url_parse("nbd://h:0/e", &u, "f", &st), &st, "f", "port");
	expect(dpu_nbd_url_parse("nbd://h:65536/e", &u, "f", &st), &st, "f", "port");
	expect(dpu_nbd_url_parse("nbd://h:0000001/e", &u, "f", &st), &st, "f", "port");
	expect(dpu_nbd_url_parse("nbd://h:1", &u, "f", &st), &st, "f", "export");
	expect(dpu_nbd_url_parse("nbd://h:1/", &u, "f", &st), &st, "f", "export");
	expect(dpu_nbd_url_parse("nbd://h:1/a?b", &u, "f", &st), &st, "f", "0x3f");
	expect(dpu_nbd_url_parse("nbd://[fd00::1/e", &u, "f", &st), &st, "f", "]");
	expect(dpu_nbd_url_parse("nbd://[fd00::g]/e", &u, "f", &st), &st, "f", "IPv6");
	expect(dpu_nbd_url_parse("nbd://[]/e", &u, "f", &st), &st, "f", "host");
	memset(longurl, 'a', sizeof(longurl) - 1);
	longurl[sizeof(longurl) - 1] = 0;
	memcpy(longurl, "nbd://h/", 8);
	expect(dpu_nbd_url_parse(longurl, &u, "f", &st), &st, "f", "at most");
	longurl[8 + DPU_NBD_EXPORT_MAX + 1] = 0;
	expect(dpu_nbd_url_parse(longurl, &u, "f", &st), &st, "f", "longer");
	longurl[8 + DPU_NBD_EXPORT_MAX] = 0;
	assert_int_equal(dpu_nbd_url_parse(longurl, &u, "f", &st), 0);
}

static void
test_spec_disks(void **state)
{
	Nicvisor__V1__VmSpec s = good_spec();
	Nicvisor__V1__DiskSpec d[DPU_MAX_DISKS + 1], *dp[DPU_MAX_DISKS + 1];
	char names[DPU_MAX_DISKS + 1][8];
	struct dpu_status st;

	(void)state;
	for (int i = 0; i <= DPU_MAX_DISKS; i++) {
		nicvisor__v1__disk_spec__init(&d[i]);
		snprintf(names[i], sizeof(names[i]), "v%d", i);
		d[i].volume = names[i];
		dp[i] = &d[i];
	}
	s.disks = dp;
	s.n_disks = DPU_MAX_DISKS;
	assert_int_equal(dpu_validate_spec(&s, "spec", false, &st), 0);
	s.n_disks = DPU_MAX_DISKS + 1;
	expect(dpu_validate_spec(&s, "spec", false, &st), &st, "spec.disks", "at most");
	s.n_disks = 3;
	d[2].volume = "v0";
	expect(dpu_validate_spec(&s, "spec", false, &st), &st, "spec.disks[2].volume", "disk 0");
	d[2].volume = "";
	expect(dpu_validate_spec(&s, "spec", false, &st), &st, "spec.disks[2].volume", "required");
	expect(dpu_validate_disk(NULL, "disk", &st), &st, "disk", "required");

	/* Limits: 0 is none; IOPS up to 10M, bytes/s 4 KiB..1 TiB. */
	d[2].volume = "v2";
	d[1].max_iops = DPU_DISK_MAX_IOPS;
	d[1].max_bytes_per_second = DPU_DISK_MIN_BPS;
	assert_int_equal(dpu_validate_spec(&s, "spec", false, &st), 0);
	d[1].max_bytes_per_second = DPU_DISK_MAX_BPS;
	assert_int_equal(dpu_validate_spec(&s, "spec", false, &st), 0);
	d[1].max_iops = DPU_DISK_MAX_IOPS + 1;
	expect(dpu_validate_spec(&s, "spec", false, &st), &st, "spec.disks[1].max_iops",
	       "at most 10000000");
	d[1].max_iops = 0;
	d[1].max_bytes_per_second = DPU_DISK_MIN_BPS - 1;
	expect(dpu_validate_spec(&s, "spec", false, &st), &st, "spec.disks[1].max_bytes_per_second",
	       "4096..");
	d[1].max_bytes_per_second = DPU_DISK_MAX_BPS + 1;
	expect(dpu_validate_disk(&d[1], "disk", &st), &st, "disk.max_bytes_per_second", "4096..");
}

static void
test_network_overlay(void **state)
{
	char *vteps[DPU_MAX_VTEPS + 1] = { "192.0.2.1", "192.0.2.2" };
	uint32_t ips[DPU_MAX_VTEPS];
	struct dpu_status st;

	(void)state;
	assert_int_equal(dpu_validate_overlay(0, 0, NULL, 0, NULL, &st), 0);
	assert_int_equal(dpu_validate_overlay(0, 1, NULL, 0, NULL, &st), 0);
	assert_int_equal(dpu_validate_overlay(0, DPU_VNI_MAX, vteps, 2, ips, &st), 0);
	assert_int_equal(ips[1], htonl(0xc0000202));
	expect(dpu_validate_overlay(0, DPU_VNI_MAX + 1, NULL, 0, NULL, &st), &st, "vni",
	       "1..16777215");
	expect(dpu_validate_overlay(100, 5, NULL, 0, NULL, &st), &st, "vni", "not both");
	expect(dpu_validate_overlay(0, 0, vteps, 1, NULL, &st), &st, "remote_vteps", "give a vni");
	expect(dpu_validate_overlay(0, 5, vteps, DPU_MAX_VTEPS + 1, NULL, &st), &st, "remote_vteps",
	       "at most 16");
	vteps[1] = "192.0.2.1";
	expect(dpu_validate_overlay(0, 5, vteps, 2, ips, &st), &st, "remote_vteps[1]",
	       "given twice");
	vteps[1] = "224.0.0.5";
	expect(dpu_validate_overlay(0, 5, vteps, 2, ips, &st), &st, "remote_vteps[1]", "unicast");
	vteps[1] = "192.0.2";
	expect(dpu_validate_overlay(0, 5, vteps, 2, ips, &st), &st, "remote_vteps[1]", "unicast");
	vteps[1] = NULL;
	expect(dpu_validate_overlay(0, 5, vteps, 2, ips, &st), &st, "remote_vteps[1]", "unicast");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_spec),
		cmocka_unit_test(test_boot_files),
		cmocka_unit_test(test_sniff),
		cmocka_unit_test(test_network_rules),
		cmocka_unit_test(test_mac),
		cmocka_unit_test(test_spec_nics),
		cmocka_unit_test(test_volume_rules),
		cmocka_unit_test(test_nbd_url),
		cmocka_unit_test(test_spec_disks),
		cmocka_unit_test(test_network_overlay),
		cmocka_unit_test(test_nic_qos_and_mirrors),
		cmocka_unit_test(test_nic_security),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
