/* SPDX-License-Identifier: MIT */
/*
 * Writes the seed corpora of fuzz_api and fuzz_host: one valid request of
 * every kind (using the ids and session fuzz_agent.h makes predictable),
 * plus a few broken ones. Usage: gen_seeds DIR  (writes DIR/api, DIR/host)
 * The committed corpus/ was made with it; rerun after a protocol change.
 */
#include "fuzz_agent.h"

#include "artifact.h"

static char out_dir[512];

static void
put(const char *sub, const char *name, const void *buf, size_t len)
{
	char path[700];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", out_dir, sub);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/%s", out_dir, sub, name);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(buf, 1, len, f) != len)
		abort();
	fclose(f);
}

static void
put_msg(const char *sub, const char *name, const ProtobufCMessage *m)
{
	uint8_t *buf;
	size_t len;

	if (nv_wire_pack_buf(m, &buf, &len) < 0)
		abort();
	put(sub, name, buf, len);
	free(buf);
}

/* Networks, NICs, port statistics (against fuzz_agent.h's networks). */
static void
net_seeds(void)
{
	Nicvisor__V1__Request r = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__CreateNetworkRequest cn = NICVISOR__V1__CREATE_NETWORK_REQUEST__INIT;
	Nicvisor__V1__DeleteNetworkRequest dn = NICVISOR__V1__DELETE_NETWORK_REQUEST__INIT;
	Nicvisor__V1__GetNetworkRequest gn = NICVISOR__V1__GET_NETWORK_REQUEST__INIT;
	Nicvisor__V1__ListNetworksRequest ln = NICVISOR__V1__LIST_NETWORKS_REQUEST__INIT;
	Nicvisor__V1__AddNicRequest an = NICVISOR__V1__ADD_NIC_REQUEST__INIT;
	Nicvisor__V1__RemoveNicRequest rn = NICVISOR__V1__REMOVE_NIC_REQUEST__INIT;
	Nicvisor__V1__GetPortStatsRequest ps = NICVISOR__V1__GET_PORT_STATS_REQUEST__INIT;
	Nicvisor__V1__CreateVmRequest c = NICVISOR__V1__CREATE_VM_REQUEST__INIT;
	Nicvisor__V1__VmSpec spec = NICVISOR__V1__VM_SPEC__INIT;
	Nicvisor__V1__NicSpec nic = NICVISOR__V1__NIC_SPEC__INIT,
			      nic2 = NICVISOR__V1__NIC_SPEC__INIT;
	Nicvisor__V1__NicSpec *nics[2] = { &nic, &nic2 };

	r.version = NV_PROTOCOL_VERSION;
	cn.name = "green";
	cn.vlan = 20;
	r.op_case = NICVISOR__V1__REQUEST__OP_CREATE_NETWORK;
	r.create_network = &cn;
	put_msg("api", "create-network", &r.base);
	cn.vlan = 10; /* blue's */
	put_msg("api", "create-network-vlan-taken", &r.base);
	cn.vlan = 4095;
	put_msg("api", "create-network-vlan-range", &r.base);
	dn.network = "blue"; /* web1 has a NIC on it */
	r.op_case = NICVISOR__V1__REQUEST__OP_DELETE_NETWORK;
	r.delete_network = &dn;
	put_msg("api", "delete-network-in-use", &r.base);
	dn.network = "red";
	put_msg("api", "delete-network", &r.base);
	gn.network = fuzz_net_id;
	r.op_case = NICVISOR__V1__REQUEST__OP_GET_NETWORK;
	r.get_network = &gn;
	put_msg("api", "get-network-by-id", &r.base);
	ln.page_size = 1;
	ln.page_token = "networks1.626c7565";
	r.op_case = NICVISOR__V1__REQUEST__OP_LIST_NETWORKS;
	r.list_networks = &ln;
	put_msg("api", "list-networks", &r.base);
	nic.network = "red";
	an.vm = "web1";
	an.nic = &nic;
	r.op_case = NICVISOR__V1__REQUEST__OP_ADD_NIC;
	r.add_nic = &an;
	put_msg("api", "add-nic", &r.base);
	nic.mac = FUZZ_MAC; /* web1's */
	put_msg("api", "add-nic-mac-taken", &r.base);
	nic.mac = "52:54:00:12:34:zz";
	put_msg("api", "add-nic-bad-mac", &r.base);
	rn.vm = fuzz_vm_id;
	rn.index = 0;
	r.op_case = NICVISOR__V1__REQUEST__OP_REMOVE_NIC;
	r.remove_nic = &rn;
	put_msg("api", "remove-nic", &r.base);
	rn.index = 5;
	put_msg("api", "remove-nic-no-such-index", &r.base);
	ps.vm = "web1";
	r.op_case = NICVISOR__V1__REQUEST__OP_GET_PORT_STATS;
	r.get_port_stats = &ps;
	put_msg("api", "get-port-stats-vm", &r.base);
	ps.vm = "";
	put_msg("api", "get-port-stats-all", &r.base);
	spec.name = "db2";
	spec.vcpus = 4;
	spec.memory_mib = 512;
	spec.kernel = "/proc/self/exe";
	nic.network = "blue";
	nic.mac = "02:00:00:00:00:05";
	nic2.network = fuzz_net_id;
	nic2.mac = "";
	spec.nics = nics;
	spec.n_nics = 2;
	c.spec = &spec;
	r.op_case = NICVISOR__V1__REQUEST__OP_CREATE_VM;
	r.create_vm = &c;
	put_msg("api", "create-vm-nics", &r.base);
	nic2.mac = "02:00:00:00:00:05";
	put_msg("api", "create-vm-nics-same-mac", &r.base);
}

/* NIC rate limits and mirror sessions (against web1's NIC). */
static void
qos_mirror_seeds(void)
{
	Nicvisor__V1__Request r = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__SetNicQosRequest q = NICVISOR__V1__SET_NIC_QOS_REQUEST__INIT;
	Nicvisor__V1__CreateMirrorRequest cm = NICVISOR__V1__CREATE_MIRROR_REQUEST__INIT;
	Nicvisor__V1__DeleteMirrorRequest dm = NICVISOR__V1__DELETE_MIRROR_REQUEST__INIT;
	Nicvisor__V1__GetMirrorRequest gm = NICVISOR__V1__GET_MIRROR_REQUEST__INIT;
	Nicvisor__V1__ListMirrorsRequest lm = NICVISOR__V1__LIST_MIRRORS_REQUEST__INIT;

	r.version = NV_PROTOCOL_VERSION;
	q.vm = "web1";
	q.from_vm_bits_per_second = 100000000;
	q.to_vm_bits_per_second = 1000000000;
	q.to_vm_burst_bytes = 1 << 20;
	r.op_case = NICVISOR__V1__REQUEST__OP_SET_NIC_QOS;
	r.set_nic_qos = &q;
	put_msg("api", "set-nic-qos", &r.base);
	q.from_vm_burst_bytes = 4096;
	put_msg("api", "set-nic-qos-bad-burst", &r.base);
	cm.name = "tap1";
	cm.vm = "web1";
	cm.direction = NICVISOR__V1__MIRROR_DIRECTION__MIRROR_DIRECTION_BOTH;
	cm.to_uplink = "up0";
	r.op_case = NICVISOR__V1__REQUEST__OP_CREATE_MIRROR;
	r.create_mirror = &cm;
	put_msg("api", "create-mirror-uplink", &r.base);
	cm.to_uplink = "";
	cm.to_vm = "web1";
	put_msg("api", "create-mirror-to-itself", &r.base);
	dm.mirror = "tap1";
	r.op_case = NICVISOR__V1__REQUEST__OP_DELETE_MIRROR;
	r.delete_mirror = &dm;
	put_msg("api", "delete-mirror", &r.base);
	gm.mirror = "tap1";
	r.op_case = NICVISOR__V1__REQUEST__OP_GET_MIRROR;
	r.get_mirror = &gm;
	put_msg("api", "get-mirror", &r.base);
	lm.page_size = 1;
	r.op_case = NICVISOR__V1__REQUEST__OP_LIST_MIRRORS;
	r.list_mirrors = &lm;
	put_msg("api", "list-mirrors", &r.base);
}

/* Security groups (against web1's NIC). */
static void
security_seeds(void)
{
	Nicvisor__V1__Request r = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__SetNicSecurityRequest s = NICVISOR__V1__SET_NIC_SECURITY_REQUEST__INIT;
	Nicvisor__V1__GetNicSecurityRequest g = NICVISOR__V1__GET_NIC_SECURITY_REQUEST__INIT;
	Nicvisor__V1__SecurityPolicy pol = NICVISOR__V1__SECURITY_POLICY__INIT;
	Nicvisor__V1__SecurityRule rule = NICVISOR__V1__SECURITY_RULE__INIT, *rp = &rule;

	r.version = NV_PROTOCOL_VERSION;
	rule.protocol = "tcp";
	rule.remote_cidr = "10.0.0.0/8";
	rule.port_lo = rule.port_hi = 22;
	pol.ingress = &rp;
	pol.n_ingress = 1;
	pol.egress = &rp;
	pol.n_egress = 1;
	pol.ingress_default_deny = true;
	s.vm = "web1";
	s.policy = &pol;
	r.op_case = NICVISOR__V1__REQUEST__OP_SET_NIC_SECURITY;
	r.set_nic_security = &s;
	put_msg("api", "set-nic-security", &r.base);
	rule.remote_cidr = "10.0.0.1/8";
	put_msg("api", "set-nic-security-bad-cidr", &r.base);
	s.policy = NULL;
	put_msg("api", "set-nic-security-none", &r.base);
	g.vm = "web1";
	r.op_case = NICVISOR__V1__REQUEST__OP_GET_NIC_SECURITY;
	r.get_nic_security = &g;
	put_msg("api", "get-nic-security", &r.base);
}

/* Volumes, disks, disk statistics (against fuzz_agent.h's volumes). */
static void
vol_seeds(void)
{
	Nicvisor__V1__Request r = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__CreateVolumeRequest cv = NICVISOR__V1__CREATE_VOLUME_REQUEST__INIT;
	Nicvisor__V1__DeleteVolumeRequest dv = NICVISOR__V1__DELETE_VOLUME_REQUEST__INIT;
	Nicvisor__V1__GetVolumeRequest gv = NICVISOR__V1__GET_VOLUME_REQUEST__INIT;
	Nicvisor__V1__ListVolumesRequest lv = NICVISOR__V1__LIST_VOLUMES_REQUEST__INIT;
	Nicvisor__V1__AttachDiskRequest ad = NICVISOR__V1__ATTACH_DISK_REQUEST__INIT;
	Nicvisor__V1__DetachDiskRequest dd = NICVISOR__V1__DETACH_DISK_REQUEST__INIT;
	Nicvisor__V1__GetDiskStatsRequest ds = NICVISOR__V1__GET_DISK_STATS_REQUEST__INIT;
	Nicvisor__V1__CreateVmRequest c = NICVISOR__V1__CREATE_VM_REQUEST__INIT;
	Nicvisor__V1__VmSpec spec = NICVISOR__V1__VM_SPEC__INIT;
	Nicvisor__V1__DiskSpec d1 = NICVISOR__V1__DISK_SPEC__INIT,
			       d2 = NICVISOR__V1__DISK_SPEC__INIT;
	Nicvisor__V1__DiskSpec *disks[2] = { &d1, &d2 };

	r.version = NV_PROTOCOL_VERSION;
	cv.name = "data";
	cv.size_bytes = 64 << 20;
	r.op_case = NICVISOR__V1__REQUEST__OP_CREATE_VOLUME;
	r.create_volume = &cv;
	put_msg("api", "create-volume", &r.base);
	cv.nbd_url = "nbd://[fd00::7]:10810/exports/data";
	put_msg("api", "create-volume-nbd", &r.base);
	cv.nbd_url = "nbd://host:99999/e";
	put_msg("api", "create-volume-bad-port", &r.base);
	cv.nbd_url = "";
	cv.size_bytes = (64 << 20) + 1;
	put_msg("api", "create-volume-bad-size", &r.base);
	cv.name = "root";
	cv.size_bytes = 1 << 20;
	put_msg("api", "create-volume-name-taken", &r.base);
	dv.volume = "root"; /* web1's disk 0 */
	r.op_case = NICVISOR__V1__REQUEST__OP_DELETE_VOLUME;
	r.delete_volume = &dv;
	put_msg("api", "delete-volume-in-use", &r.base);
	dv.volume = "remote";
	put_msg("api", "delete-volume", &r.base);
	gv.volume = fuzz_vol_id;
	r.op_case = NICVISOR__V1__REQUEST__OP_GET_VOLUME;
	r.get_volume = &gv;
	put_msg("api", "get-volume-by-id", &r.base);
	lv.page_size = 1;
	r.op_case = NICVISOR__V1__REQUEST__OP_LIST_VOLUMES;
	r.list_volumes = &lv;
	put_msg("api", "list-volumes", &r.base);
	lv.page_token = "volumes1.726f6f74";
	put_msg("api", "list-volumes-page-2", &r.base);
	d1.volume = "remote";
	d1.read_only = true;
	ad.vm = "web1";
	ad.disk = &d1;
	r.op_case = NICVISOR__V1__REQUEST__OP_ATTACH_DISK;
	r.attach_disk = &ad;
	put_msg("api", "attach-disk-ro", &r.base);
	d1.volume = "root";
	put_msg("api", "attach-disk-twice", &r.base);
	dd.vm = "web1";
	dd.index = 0;
	r.op_case = NICVISOR__V1__REQUEST__OP_DETACH_DISK;
	r.detach_disk = &dd;
	put_msg("api", "detach-disk", &r.base);
	dd.index = 3;
	put_msg("api", "detach-disk-no-such-index", &r.base);
	ds.vm = "web1";
	r.op_case = NICVISOR__V1__REQUEST__OP_GET_DISK_STATS;
	r.get_disk_stats = &ds;
	put_msg("api", "get-disk-stats-vm", &r.base);
	ds.vm = "";
	put_msg("api", "get-disk-stats-all", &r.base);
	/* A second VM: root is web1's read-write, so this is refused; with
	 * remote read-only twice, refused as the same volume twice. */
	spec.name = "db2";
	spec.vcpus = 2;
	spec.memory_mib = 128;
	spec.kernel = "/proc/self/exe";
	d1.volume = "remote";
	d1.read_only = true;
	d2.volume = "root";
	d2.read_only = true;
	spec.disks = disks;
	spec.n_disks = 2;
	c.spec = &spec;
	r.op_case = NICVISOR__V1__REQUEST__OP_CREATE_VM;
	r.create_vm = &c;
	put_msg("api", "create-vm-disks-shared-rw", &r.base);
	spec.n_disks = 1;
	put_msg("api", "create-vm-disk-ro", &r.base);
	d2.volume = "remote";
	spec.n_disks = 2;
	put_msg("api", "create-vm-disks-same-volume", &r.base);
}

static void
api_seeds(void)
{
	Nicvisor__V1__Request r = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__CreateVmRequest c = NICVISOR__V1__CREATE_VM_REQUEST__INIT;
	Nicvisor__V1__VmSpec spec = NICVISOR__V1__VM_SPEC__INIT;
	Nicvisor__V1__StartVmRequest s = NICVISOR__V1__START_VM_REQUEST__INIT;
	Nicvisor__V1__StopVmRequest t = NICVISOR__V1__STOP_VM_REQUEST__INIT;
	Nicvisor__V1__DeleteVmRequest d = NICVISOR__V1__DELETE_VM_REQUEST__INIT;
	Nicvisor__V1__GetVmRequest g = NICVISOR__V1__GET_VM_REQUEST__INIT;
	Nicvisor__V1__ListVmsRequest lv = NICVISOR__V1__LIST_VMS_REQUEST__INIT;
	Nicvisor__V1__ListHostsRequest lh = NICVISOR__V1__LIST_HOSTS_REQUEST__INIT;
	Nicvisor__V1__GetConsoleRequest gc = NICVISOR__V1__GET_CONSOLE_REQUEST__INIT;

	r.version = NV_PROTOCOL_VERSION;
	/* An ELF file every Linux machine has, so that seeds hold no
	 * machine-specific path. */
	spec.name = "db2";
	spec.vcpus = 2;
	spec.memory_mib = 512;
	spec.kernel = "/proc/self/exe";
	spec.cmdline = "console=ttyS0";
	c.spec = &spec;
	r.op_case = NICVISOR__V1__REQUEST__OP_CREATE_VM;
	r.create_vm = &c;
	put_msg("api", "create-vm", &r.base);
	c.start = true;
	put_msg("api", "create-vm-start", &r.base);
	spec.name = "web1";
	put_msg("api", "create-vm-duplicate", &r.base);
	spec.initrd = "/proc/self/exe";
	put_msg("api", "create-vm-bad-initrd", &r.base);

	s.vm = "web1";
	r.op_case = NICVISOR__V1__REQUEST__OP_START_VM;
	r.start_vm = &s;
	put_msg("api", "start-vm", &r.base);
	t.vm = fuzz_vm_id;
	t.timeout_ms = 1000;
	r.op_case = NICVISOR__V1__REQUEST__OP_STOP_VM;
	r.stop_vm = &t;
	put_msg("api", "stop-vm-by-id", &r.base);
	d.vm = "web1";
	d.force = true;
	r.op_case = NICVISOR__V1__REQUEST__OP_DELETE_VM;
	r.delete_vm = &d;
	put_msg("api", "delete-vm", &r.base);
	g.vm = "web1";
	r.op_case = NICVISOR__V1__REQUEST__OP_GET_VM;
	r.get_vm = &g;
	put_msg("api", "get-vm", &r.base);
	lv.page_size = 1;
	lv.page_token = "vms1.61";
	r.op_case = NICVISOR__V1__REQUEST__OP_LIST_VMS;
	r.list_vms = &lv;
	put_msg("api", "list-vms", &r.base);
	lh.page_size = 10;
	r.op_case = NICVISOR__V1__REQUEST__OP_LIST_HOSTS;
	r.list_hosts = &lh;
	put_msg("api", "list-hosts", &r.base);
	gc.vm = "web1";
	gc.max_bytes = 100;
	r.op_case = NICVISOR__V1__REQUEST__OP_GET_CONSOLE;
	r.get_console = &gc;
	put_msg("api", "get-console", &r.base);
	r.version = 2;
	put_msg("api", "version-mismatch", &r.base);
	put("api", "garbage", "\xff\xff\xff\xff\x0f", 5);
	net_seeds();
	qos_mirror_seeds();
	security_seeds();
}

static void
host_seeds(void)
{
	Nicvisor__V1__HostRequest r = NICVISOR__V1__HOST_REQUEST__INIT;
	Nicvisor__V1__Hello h = NICVISOR__V1__HELLO__INIT;
	Nicvisor__V1__HostCapabilities caps = NICVISOR__V1__HOST_CAPABILITIES__INIT;
	Nicvisor__V1__VmReport vr = NICVISOR__V1__VM_REPORT__INIT, *vrs[1] = { &vr };
	Nicvisor__V1__VmSpec spec = NICVISOR__V1__VM_SPEC__INIT;
	Nicvisor__V1__Poll p = NICVISOR__V1__POLL__INIT;
	Nicvisor__V1__ReadArtifact ra = NICVISOR__V1__READ_ARTIFACT__INIT;
	Nicvisor__V1__ConsoleData cd = NICVISOR__V1__CONSOLE_DATA__INIT;
	char *kvm_caps[] = { "KVM_CAP_IRQFD" };
	char kernel_id[65];
	uint8_t k[4096];

	for (size_t i = 0; i < sizeof(k); i++)
		k[i] = (uint8_t)(i * 31 + 7);
	memcpy(k + 0x202, "HdrS", 4);
	dpu_sha256_hex(k, sizeof(k), kernel_id);

	r.version = NV_PROTOCOL_VERSION;
	caps.arch = "x86_64";
	caps.cores = 2;
	caps.memory_mib = 2048;
	caps.memory_available_mib = 2000;
	caps.kvm_max_vcpus = 2;
	caps.kvm_caps = kvm_caps;
	caps.n_kvm_caps = 1;
	spec.name = "adoptee";
	spec.vcpus = 1;
	spec.memory_mib = 64;
	spec.kernel = "/boot/vmlinuz";
	vr.vm_id = "vm-00000000000000ab";
	vr.state = NICVISOR__V1__VM_STATE__VM_STATE_RUNNING;
	vr.spec = &spec;
	vr.boots = 2;
	vr.console_offset = 10;
	h.host_id = "h2";
	h.caps = &caps;
	h.vms = vrs;
	h.n_vms = 1;
	r.op_case = NICVISOR__V1__HOST_REQUEST__OP_HELLO;
	r.hello = &h;
	put_msg("host", "hello-new-host", &r.base);
	h.host_id = "h1";
	vr.vm_id = fuzz_vm_id;
	put_msg("host", "hello-reattach", &r.base);
	{
		Nicvisor__V1__NicSpec n1 = NICVISOR__V1__NIC_SPEC__INIT;
		Nicvisor__V1__NicSpec n2 = NICVISOR__V1__NIC_SPEC__INIT;
		Nicvisor__V1__NicSpec *ns[2] = { &n1, &n2 };

		/* An unknown VM with a NIC the agent can keep and one it
		 * cannot (unknown network). */
		n1.network = "blue";
		n1.mac = "52:54:00:00:00:0a";
		n2.network = "gone";
		n2.mac = "52:54:00:00:00:0b";
		spec.nics = ns;
		spec.n_nics = 2;
		vr.vm_id = "vm-00000000000000cd";
		put_msg("host", "hello-adopt-nics", &r.base);
		spec.nics = NULL;
		spec.n_nics = 0;
	}
	{
		Nicvisor__V1__DiskSpec d1 = NICVISOR__V1__DISK_SPEC__INIT;
		Nicvisor__V1__DiskSpec d2 = NICVISOR__V1__DISK_SPEC__INIT;
		Nicvisor__V1__DiskSpec *ds[2] = { &d1, &d2 };

		/* An unknown VM with a disk the agent can keep (remote,
		 * read-only) and one it cannot (root is web1's). */
		d1.volume = "remote";
		d1.read_only = true;
		d2.volume = "root";
		spec.disks = ds;
		spec.n_disks = 2;
		vr.vm_id = "vm-00000000000000ce";
		put_msg("host", "hello-adopt-disks", &r.base);
		spec.disks = NULL;
		spec.n_disks = 0;
	}

	r.session = fuzz_session;
	p.ack_seq = UINT64_MAX;
	r.op_case = NICVISOR__V1__HOST_REQUEST__OP_POLL;
	r.poll = &p;
	put_msg("host", "poll-held", &r.base);
	p.ack_seq = 0;
	put_msg("host", "poll-commands", &r.base);
	ra.artifact_id = kernel_id;
	ra.offset = 0x200;
	ra.length = 64;
	r.op_case = NICVISOR__V1__HOST_REQUEST__OP_READ_ARTIFACT;
	r.read_artifact = &ra;
	put_msg("host", "read-artifact", &r.base);
	vr.vm_id = fuzz_vm_id;
	vr.spec = NULL;
	r.op_case = NICVISOR__V1__HOST_REQUEST__OP_VM_REPORT;
	r.vm_report = &vr;
	put_msg("host", "vm-report-running", &r.base);
	vr.state = NICVISOR__V1__VM_STATE__VM_STATE_FAILED;
	vr.exit = NICVISOR__V1__EXIT_KIND__EXIT_KIND_TRIPLE_FAULT;
	vr.reason = "triple fault";
	put_msg("host", "vm-report-failed", &r.base);
	cd.vm_id = fuzz_vm_id;
	cd.offset = 0;
	cd.data.data = (uint8_t *)"Linux version 6.1\nlogin: ";
	cd.data.len = 25;
	r.op_case = NICVISOR__V1__HOST_REQUEST__OP_CONSOLE;
	r.console = &cd;
	put_msg("host", "console", &r.base);
	r.session = "bogus";
	put_msg("host", "console-bad-session", &r.base);
	put("host", "garbage", "\x0a\xff\xff\xff\xff\x0f", 6);
}

int
main(int argc, char **argv)
{
	struct dpu_agent *a;

	if (argc != 2) {
		fprintf(stderr, "usage: gen_seeds DIR\n");
		return 2;
	}
	snprintf(out_dir, sizeof(out_dir), "%s", argv[1]);
	mkdir(out_dir, 0755);
	fuzz_agent_init();
	a = fuzz_agent_open(false);
	api_seeds();
	vol_seeds();
	fuzz_agent_close(a);
	a = fuzz_agent_open(true);
	host_seeds();
	fuzz_agent_close(a);
	fuzz_agent_cleanup();
	printf("seeds in %s/api and %s/host (session %s, vm %s)\n", out_dir, out_dir, fuzz_session,
	       fuzz_vm_id);
	return 0;
}
