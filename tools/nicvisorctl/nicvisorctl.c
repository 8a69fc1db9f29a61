/* SPDX-License-Identifier: MIT */
/*
 * nicvisorctl: the operator's command line for nicvisor-dpu, speaking the
 * northbound API (api.proto) like any orchestrator. Exit status: 0 done,
 * 1 error (the agent's typed error is printed), 2 usage.
 */
#define NV_LOG_COMPONENT "nicvisor.ctl"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "nicvisor/v1/api.pb-c.h"
#include "nv_config.h"
#include "nv_log.h"
#include "nv_rpc.h"
#include "nv_wire.h"
#include "print.h"

#define DEFAULT_API     "ipc:///run/nicvisor/api.sock"
#define DEFAULT_EVENTS  "ipc:///run/nicvisor/events.sock"
#define CALL_TIMEOUT_MS 15000

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: nicvisorctl [--api URL] [--events URL] [--json]\n"
		"                   [--tls-cert FILE --tls-key FILE --tls-ca FILE] COMMAND [ARGS]\n"
		"\n"
		"commands:\n"
		"  create NAME --kernel PATH [--initrd PATH] [--cmdline TEXT] [--vcpus N]\n"
		"         [--memory MIB] [--nic NETWORK[,MAC][,LIMITS]]...\n"
		"         [--disk VOLUME[,ro][,iops=N][,bps=SIZE]]... [--start]\n"
		"                                      create a VM (paths are on the DPU;\n"
		"                                      1 vCPU and 256 MiB unless given; a NIC\n"
		"                                      without MAC gets one from the agent;\n"
		"                                      a disk may be limited to N requests\n"
		"                                      and SIZE bytes per second)\n"
		"  start NAME                          start a VM\n"
		"  stop NAME [--timeout S] [--force]   stop a VM: graceful for S seconds\n"
		"                                      (default 30), then forced\n"
		"  delete NAME [--force]               delete a VM (--force: even running)\n"
		"  list                                list VMs\n"
		"  get NAME                            show one VM\n"
		"  hosts                               list hosts\n"
		"  console NAME [--follow] [--until PATTERN] [--timeout S]\n"
		"                                      print the console; --until exits 0 as\n"
		"                                      soon as PATTERN was printed, 1 on timeout\n"
		"  wait NAME --state STATE [--timeout S]\n"
		"                                      wait until the VM is in STATE\n"
		"  ready [--timeout S] [--save FILE] [--since FILE]\n"
		"                                      wait (default 30 s) until the DPU side\n"
		"                                      is back after a restart or upgrade:\n"
		"                                      every host with VMs reattached, every\n"
		"                                      NIC of a running VM connected (its\n"
		"                                      guest driving it); --save: the NICs\n"
		"                                      connected now, to FILE; --since: only\n"
		"                                      those must be back\n"
		"  events                              print events as they happen\n"
		"  network create NAME [--vlan N]      create a network (VLAN 1..4094 on the\n"
		"                                      uplinks; untagged without)\n"
		"  network create NAME --vni N [--remote-vtep IP]...\n"
		"                                      an overlay network: VXLAN VNI\n"
		"                                      1..16777215 between DPUs' VTEPs,\n"
		"                                      flooded to each --remote-vtep (<= 16)\n"
		"  network update NAME [--remote-vtep IP]...\n"
		"                                      replace an overlay network's remote\n"
		"                                      VTEPs (none given: no flooding)\n"
		"  network delete NAME                 delete a network no NIC is on\n"
		"  network list                        list networks\n"
		"  network get NAME                    show one network\n"
		"  nic add NAME NETWORK [--mac MAC] [NIC LIMITS]\n"
		"                                      add a NIC to a stopped VM\n"
		"  nic remove NAME INDEX               remove NIC INDEX (0..) of a stopped VM\n"
		"  nic qos NAME INDEX [NIC LIMITS]     set NIC INDEX's rate limits, also while\n"
		"                                      it runs (a limit not given: none)\n"
		"  nic security NAME INDEX [--ingress RULE]... [--egress RULE]...\n"
		"         [--ingress-deny] [--egress-deny] [--default-deny] [--none]\n"
		"                                      replace NIC INDEX's security group, live;\n"
		"                                      RULE: [deny:]PROTO[:PORTS[:CIDR]], PROTO\n"
		"                                      any|tcp|udp|icmp|0..255, PORTS N or N-M\n"
		"                                      (destination; empty: any), e.g.\n"
		"                                      tcp:22:10.0.0.0/8, udp:53, "
		"icmp::0.0.0.0/0;\n"
		"                                      --*-deny: drop what no rule allows (both\n"
		"                                      with --default-deny); --none: no filter\n"
		"  nic security-show NAME INDEX        the security group with its counters\n"
		"  mirror create MIRROR NAME INDEX from_vm|to_vm|both\n"
		"         (--to VM:INDEX | --to-uplink UPLINK)\n"
		"                                      copy NIC INDEX's frames to another NIC\n"
		"                                      or an uplink\n"
		"  mirror delete MIRROR                delete a mirror session\n"
		"  mirror list                         list mirror sessions and their counters\n"
		"  mirror get MIRROR                   show one mirror session\n"
		"  volume create NAME --size SIZE [--nbd URL]\n"
		"                                      create a volume: a sparse file on the\n"
		"                                      DPU, or an NBD export "
		"nbd://HOST:PORT/NAME;\n"
		"                                      SIZE in bytes or with K, M, G, T (binary)\n"
		"  volume delete NAME                  delete a volume no VM has as a disk\n"
		"  volume list                         list volumes, their size and allocation\n"
		"  volume get NAME                     show one volume and where it is attached\n"
		"  disk attach NAME VOLUME [--ro] [--iops N] [--bps SIZE]\n"
		"                                      attach a volume to a stopped VM\n"
		"  disk detach NAME INDEX              detach disk INDEX (0..) of a stopped VM\n"
		"  stats [NAME]                        port counters and drops of a VM's NICs,\n"
		"                                      or of every port; disk counters too\n"
		"  top [--interval S] [--count N]      a live view: VMs, each worker core's\n"
		"                                      load, each port's and disk's rates,\n"
		"                                      every S seconds (default 2), N times\n"
		"                                      (default: until interrupted)\n"
		"\n"
		"NIC LIMITS: --from-vm RATE --to-vm RATE --from-vm-burst SIZE\n"
		"--to-vm-burst SIZE (in --nic: from_vm=RATE,to_vm=RATE,from_vm_burst=SIZE,\n"
		"to_vm_burst=SIZE); RATE in bits per second with k, M, G, T (decimal:\n"
		"100M is 10^8 bit/s); a burst of 0 is the rate for 10 ms, at least 128K.\n"
		"NAME is a VM's name or id. Defaults: --api %s (or $NICVISOR_API),\n"
		"--events %s (or $NICVISOR_EVENTS). With tls+tcp:// URLs the\n"
		"client certificate, its key and the agent's CA (PEM files) come from\n"
		"--tls-cert, --tls-key, --tls-ca (or $NICVISOR_TLS_CERT, _KEY, _CA).\n"
		"Exit status: 0 ok, 1 error, 2 usage.\n",
		DEFAULT_API, DEFAULT_EVENTS);
}

static int
usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "nicvisorctl: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nrun 'nicvisorctl --help' for usage\n");
	return EXIT_USAGE;
}

static int
connect_api(struct ctl *c)
{
	int rc = nv_rpc_client_open_tls(c->api_url, &c->tls, NV_RPC_DIAL_WAIT, &c->client);

	if (rc < 0) {
		fprintf(stderr,
			"nicvisorctl: cannot reach the agent at %s: %s; is nicvisor-dpu "
			"running?\n",
			c->api_url,
			rc == -ECONNREFUSED || rc == -ENOENT ? "connection refused"
							     : strerror(-rc));
		return EXIT_ERR;
	}
	return EXIT_OK;
}

/* Send req (its version is set here); on success *rep is an OK response. */
static int
call(struct ctl *c, Nicvisor__V1__Request *req, Nicvisor__V1__Response **rep)
{
	const Nicvisor__V1__Status *st;
	int rc;

	*rep = NULL;
	if (c->client == NULL && connect_api(c) != EXIT_OK)
		return EXIT_ERR;
	req->version = NV_PROTOCOL_VERSION;
	rc = nv_rpc_client_call(c->client, &req->base, &nicvisor__v1__response__descriptor,
				CALL_TIMEOUT_MS, (ProtobufCMessage **)rep);
	if (rc == -ETIMEDOUT) {
		fprintf(stderr, "nicvisorctl: the agent at %s did not answer within %d s\n",
			c->api_url, CALL_TIMEOUT_MS / 1000);
		return EXIT_ERR;
	}
	if (rc < 0) {
		fprintf(stderr, "nicvisorctl: call to the agent at %s failed: %s\n", c->api_url,
			strerror(-rc));
		return EXIT_ERR;
	}
	st = (*rep)->status;
	if (st != NULL && st->code != NICVISOR__V1__CODE__CODE_OK) {
		if (c->json) {
			printf("{\"error\":{\"code\":");
			ctl_json_string(stdout, nv_code_name(st->code));
			printf(",\"message\":");
			ctl_json_string(stdout, st->message);
			printf(",\"field\":");
			ctl_json_string(stdout, st->field);
			printf("}}\n");
		}
		fprintf(stderr, "nicvisorctl: %s (%s%s%s)\n", st->message, nv_code_name(st->code),
			st->field[0] ? ", field " : "", st->field);
		nv_wire_free(&(*rep)->base);
		*rep = NULL;
		return EXIT_ERR;
	}
	return EXIT_OK;
}

int
ctl_call(struct ctl *c, Nicvisor__V1__Request *req, Nicvisor__V1__Response **rep)
{
	return call(c, req, rep);
}

int
ctl_usage_error(const char *fmt, const char *arg)
{
	return usage_error(fmt, arg);
}

/* Where the field at offset of message m is. */
static void *
field_at(const void *m, unsigned int offset)
{
	return (char *)m + offset;
}

/* A new message of op's type (zeroed, initialised) as req's op; free()
 * it after the call. NULL if out of memory (said). */
static ProtobufCMessage *
op_new(Nicvisor__V1__Request *req, Nicvisor__V1__Request__OpCase op)
{
	const ProtobufCFieldDescriptor *f =
		protobuf_c_message_descriptor_get_field(&nicvisor__v1__request__descriptor, op);
	const ProtobufCMessageDescriptor *d = f->descriptor;
	ProtobufCMessage *m = calloc(1, d->sizeof_message);

	if (m == NULL) {
		fprintf(stderr, "nicvisorctl: out of memory\n");
		return NULL;
	}
	protobuf_c_message_init(d, m);
	req->op_case = op;
	*(ProtobufCMessage **)field_at(req, f->offset) = m;
	return m;
}

/* call(), then its answer printed by print: verb says what was done
 * ("created"), NULL for a get. */
static int
call_print(struct ctl *c, Nicvisor__V1__Request *req,
	   int (*print)(struct ctl *c, const Nicvisor__V1__Response *rep, const char *verb),
	   const char *verb)
{
	Nicvisor__V1__Response *rep;
	int rc = call(c, req, &rep);

	if (rc == EXIT_OK)
		rc = print(c, rep, verb);
	nv_wire_free((ProtobufCMessage *)rep);
	return rc;
}

/* An op whose request is only a name or id, its field 1 (Get*, Delete*,
 * StartVm), on name; its answer printed as call_print() does. */
static int
call_named(struct ctl *c, Nicvisor__V1__Request__OpCase op, const char *name,
	   int (*print)(struct ctl *c, const Nicvisor__V1__Response *rep, const char *verb),
	   const char *verb)
{
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	ProtobufCMessage *m = op_new(&req, op);
	int rc;

	if (m == NULL)
		return EXIT_ERR;
	*(const char **)field_at(
		m, protobuf_c_message_descriptor_get_field(m->descriptor, 1)->offset) = name;
	rc = call_print(c, &req, print, verb);
	free(m);
	return rc;
}

static bool
parse_u64(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno == 0 && end != s && *end == 0 && s[0] != '-';
}

/* With --json, vm as a line of JSON: true; else false (the caller says
 * what happened in words). */
static bool
json_vm(struct ctl *c, const Nicvisor__V1__Vm *vm)
{
	if (!c->json)
		return false;
	ctl_json_vm(stdout, vm);
	putchar('\n');
	return true;
}

static int
print_vm_result(struct ctl *c, const Nicvisor__V1__Response *rep, const char *verb)
{
	const Nicvisor__V1__Vm *vm = rep->vm;

	if (vm == NULL) {
		fprintf(stderr, "nicvisorctl: the agent answered without a VM\n");
		return EXIT_ERR;
	}
	if (json_vm(c, vm))
		return EXIT_OK;
	if (verb == NULL)
		ctl_print_vm(stdout, vm);
	else
		printf("vm %s (%s) %s: %s\n", vm->spec ? vm->spec->name : "", vm->id, verb,
		       nv_vm_state_name(vm->state));
	return EXIT_OK;
}

/* More than an agent accepts, so that its typed error is what one sees. */
#define CTL_MAX_NICS  16
#define CTL_MAX_DISKS 32

/* "4096", "512K", "10M", "20G", "1T" (also "20GiB"): binary units. */
static bool
parse_size(const char *s, uint64_t *out)
{
	uint64_t v = 0, mult = 1;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	switch (*p) {
	case 0:
		break;
	case 'K':
	case 'k':
		mult = 1ull << 10;
		break;
	case 'M':
	case 'm':
		mult = 1ull << 20;
		break;
	case 'G':
	case 'g':
		mult = 1ull << 30;
		break;
	case 'T':
	case 't':
		mult = 1ull << 40;
		break;
	default:
		return false;
	}
	if (*p != 0) {
		p++;
		if (strcmp(p, "iB") != 0 && strcmp(p, "B") != 0 && *p != 0)
			return false;
	}
	if (v > UINT64_MAX / mult)
		return false;
	*out = v * mult;
	return true;
}

/* A count: decimal digits only. */
static bool
parse_count(const char *s, uint64_t *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno == 0 && *end == 0;
}

/* VOLUME[,ro|rw][,iops=N][,bps=SIZE] */
static int
parse_disk(char *arg, Nicvisor__V1__DiskSpec *disk)
{
	char *opt, *save = NULL;

	nicvisor__v1__disk_spec__init(disk);
	disk->volume = strtok_r(arg, ",", &save);
	if (disk->volume == NULL || disk->volume[0] == 0)
		return -EINVAL;
	while ((opt = strtok_r(NULL, ",", &save)) != NULL) {
		if (strcmp(opt, "ro") == 0 || strcmp(opt, "rw") == 0)
			disk->read_only = strcmp(opt, "ro") == 0;
		else if (strncmp(opt, "iops=", 5) == 0 && parse_count(opt + 5, &disk->max_iops))
			continue;
		else if (strncmp(opt, "bps=", 4) == 0 &&
			 parse_size(opt + 4, &disk->max_bytes_per_second))
			continue;
		else
			return -EINVAL;
	}
	return 0;
}

/* A rate in bits per second: digits with k, M, G or T (decimal: 100M is
 * 10^8 bit/s), as link speeds are given. */
static bool
parse_rate(const char *s, uint64_t *out)
{
	static const struct {
		char c;
		uint64_t mult;
	} units[] = { { 'k', 1000ull },
		      { 'K', 1000ull },
		      { 'M', 1000000ull },
		      { 'G', 1000000000ull },
		      { 'T', 1000000000000ull } };
	uint64_t v, mult = 1;
	char *end;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return false;
	if (*end != 0) {
		size_t i;

		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (*end == units[i].c)
				break;
		if (i == sizeof(units) / sizeof(units[0]))
			return false;
		mult = units[i].mult;
		end++;
		if (*end != 0 && strcmp(end, "bit") != 0 && strcmp(end, "bps") != 0)
			return false;
	}
	if (v > UINT64_MAX / mult)
		return false;
	*out = v * mult;
	return true;
}

/* One NIC limit option, KEY=VALUE: from_vm=RATE, to_vm=RATE,
 * from_vm_burst=SIZE, to_vm_burst=SIZE. */
static bool
parse_nic_limit(const char *opt, Nicvisor__V1__NicSpec *nic)
{
	if (strncmp(opt, "from_vm=", 8) == 0)
		return parse_rate(opt + 8, &nic->from_vm_bits_per_second);
	if (strncmp(opt, "to_vm=", 6) == 0)
		return parse_rate(opt + 6, &nic->to_vm_bits_per_second);
	if (strncmp(opt, "from_vm_burst=", 14) == 0)
		return parse_size(opt + 14, &nic->from_vm_burst_bytes);
	if (strncmp(opt, "to_vm_burst=", 12) == 0)
		return parse_size(opt + 12, &nic->to_vm_burst_bytes);
	return false;
}

/* NETWORK[,MAC][,from_vm=RATE][,to_vm=RATE][,from_vm_burst=SIZE]
 * [,to_vm_burst=SIZE] (arg is modified). */
static int
parse_nic(char *arg, Nicvisor__V1__NicSpec *nic)
{
	char *opt, *save = NULL;

	nicvisor__v1__nic_spec__init(nic);
	nic->network = strtok_r(arg, ",", &save);
	if (nic->network == NULL || nic->network[0] == 0 || arg[0] == ',')
		return -EINVAL;
	while ((opt = strtok_r(NULL, ",", &save)) != NULL) {
		if (strchr(opt, '=') == NULL && (nic->mac == NULL || nic->mac[0] == 0))
			nic->mac = opt;
		else if (!parse_nic_limit(opt, nic))
			return -EINVAL;
	}
	return 0;
}

/* Options of subcommands: getopt_long on argv after the command word. */
static int
cmd_create(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "kernel", required_argument, NULL, 'k' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "cmdline", required_argument, NULL, 'c' },
		{ "vcpus", required_argument, NULL, 'n' },
		{ "memory", required_argument, NULL, 'm' },
		{ "start", no_argument, NULL, 's' },
		{ "nic", required_argument, NULL, 'N' },
		{ "disk", required_argument, NULL, 'D' },
		{ NULL, 0, NULL, 0 },
	};
	Nicvisor__V1__DiskSpec disks[CTL_MAX_DISKS], *diskp[CTL_MAX_DISKS];
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__CreateVmRequest cr = NICVISOR__V1__CREATE_VM_REQUEST__INIT;
	Nicvisor__V1__VmSpec spec = NICVISOR__V1__VM_SPEC__INIT;
	Nicvisor__V1__NicSpec nics[CTL_MAX_NICS], *nicp[CTL_MAX_NICS];
	char arg[256];
	uint64_t v;
	int o;

	spec.vcpus = 1;
	spec.memory_mib = 256;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'k':
			spec.kernel = optarg;
			break;
		case 'i':
			spec.initrd = optarg;
			break;
		case 'c':
			spec.cmdline = optarg;
			break;
		case 'n':
			if (!parse_u64(optarg, &v) || v > UINT32_MAX)
				return usage_error("--vcpus %s: give a number", optarg);
			spec.vcpus = (uint32_t)v;
			break;
		case 'm':
			if (!parse_u64(optarg, &v))
				return usage_error("--memory %s: give MiB as a number", optarg);
			spec.memory_mib = v;
			break;
		case 's':
			cr.start = true;
			break;
		case 'N':
			if (spec.n_nics >= CTL_MAX_NICS)
				return usage_error("--nic %s: too many NICs", optarg);
			if (parse_nic(optarg, &nics[spec.n_nics]) < 0)
				return usage_error("--nic %s: give NETWORK[,MAC][,from_vm=RATE]"
						   "[,to_vm=RATE][,from_vm_burst=SIZE]"
						   "[,to_vm_burst=SIZE]",
						   optarg);
			nicp[spec.n_nics] = &nics[spec.n_nics];
			spec.n_nics++;
			break;
		case 'D':
			if (spec.n_disks >= CTL_MAX_DISKS)
				return usage_error("--disk %s: too many disks", optarg);
			snprintf(arg, sizeof(arg), "%s", optarg);
			if (parse_disk(optarg, &disks[spec.n_disks]) < 0)
				return usage_error(
					"--disk %s: give VOLUME[,ro][,iops=N][,bps=SIZE]", arg);
			diskp[spec.n_disks] = &disks[spec.n_disks];
			spec.n_disks++;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	spec.nics = nicp;
	spec.disks = diskp;
	if (optind + 1 != argc)
		return usage_error("%s", "create needs exactly one NAME");
	if (spec.kernel[0] == 0)
		return usage_error("%s", "create needs --kernel PATH");
	spec.name = argv[optind];
	cr.spec = &spec;
	req.op_case = NICVISOR__V1__REQUEST__OP_CREATE_VM;
	req.create_vm = &cr;
	return call_print(c, &req, print_vm_result, cr.start ? "created and starting" : "created");
}

static int
one_name(int argc, char **argv, const char *cmd, const char **name)
{
	if (optind + 1 != argc) {
		fprintf(stderr, "nicvisorctl: %s needs exactly one NAME\n", cmd);
		return EXIT_USAGE;
	}
	*name = argv[optind];
	return EXIT_OK;
}

static int
no_options(int argc, char **argv)
{
	static const struct option opts[] = { { NULL, 0, NULL, 0 } };

	return getopt_long(argc, argv, "", opts, NULL) == -1 ? EXIT_OK : EXIT_USAGE;
}

/* A command on one NAME, without options (get, start, network delete, ...):
 * op on it, its answer printed by print with verb. */
static int
cmd_named(struct ctl *c, int argc, char **argv, const char *cmd, Nicvisor__V1__Request__OpCase op,
	  int (*print)(struct ctl *c, const Nicvisor__V1__Response *rep, const char *verb),
	  const char *verb)
{
	const char *name;

	if (no_options(argc, argv) != EXIT_OK || one_name(argc, argv, cmd, &name) != EXIT_OK)
		return EXIT_USAGE;
	return call_named(c, op, name, print, verb);
}

static int
cmd_stop(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "force", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__StopVmRequest sr = NICVISOR__V1__STOP_VM_REQUEST__INIT;
	const char *name;
	uint64_t v;
	int o;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 't':
			if (!parse_u64(optarg, &v) || v == 0 || v > 3600)
				return usage_error("--timeout %s: give seconds, 1 to 3600", optarg);
			sr.timeout_ms = (uint32_t)(v * 1000);
			break;
		case 'f':
			sr.force = true;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (one_name(argc, argv, "stop", &name) != EXIT_OK)
		return EXIT_USAGE;
	sr.vm = (char *)name;
	req.op_case = NICVISOR__V1__REQUEST__OP_STOP_VM;
	req.stop_vm = &sr;
	return call_print(c, &req, print_vm_result, "stopping");
}

static int
cmd_delete(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__DeleteVmRequest dr = NICVISOR__V1__DELETE_VM_REQUEST__INIT;
	Nicvisor__V1__Response *rep;
	const char *name;
	int o, rc;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o != 'f')
			return EXIT_USAGE;
		dr.force = true;
	}
	if (one_name(argc, argv, "delete", &name) != EXIT_OK)
		return EXIT_USAGE;
	dr.vm = (char *)name;
	req.op_case = NICVISOR__V1__REQUEST__OP_DELETE_VM;
	req.delete_vm = &dr;
	rc = call(c, &req, &rep);
	if (rc == EXIT_OK && rep->vm != NULL && !json_vm(c, rep->vm))
		printf("vm %s (%s) deleted\n", rep->vm->spec ? rep->vm->spec->name : "",
		       rep->vm->id);
	nv_wire_free((ProtobufCMessage *)rep);
	return rc;
}

/* GetPortStats of one VM (or every port: ""); *rep has port_stats. */
static int
get_port_stats(struct ctl *c, const char *vm, Nicvisor__V1__Response **rep)
{
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__GetPortStatsRequest ps = NICVISOR__V1__GET_PORT_STATS_REQUEST__INIT;
	int rc;

	ps.vm = (char *)vm;
	req.op_case = NICVISOR__V1__REQUEST__OP_GET_PORT_STATS;
	req.get_port_stats = &ps;
	rc = call(c, &req, rep);
	if (rc != EXIT_OK)
		return rc;
	if ((*rep)->port_stats == NULL) {
		fprintf(stderr, "nicvisorctl: the agent answered without port statistics\n");
		nv_wire_free(&(*rep)->base);
		*rep = NULL;
		return EXIT_ERR;
	}
	return EXIT_OK;
}

/*
 * Every item of a List operation, page by page: fn(arg, item) for each.
 * The List operations page alike (api.proto): each List*Request has
 * page_token = 2, each List*Response its items as field 1 and
 * next_page_token = 2; op is the Request's List* field and result the
 * Response's field with the page. A response without the page ends the
 * list, or, if missing names what it lacks, is an error.
 */
static int
list_all(struct ctl *c, Nicvisor__V1__Request__OpCase op, Nicvisor__V1__Response__ResultCase result,
	 const char *missing, void (*fn)(void *arg, const void *item), void *arg)
{
	const ProtobufCFieldDescriptor *resf = protobuf_c_message_descriptor_get_field(
		&nicvisor__v1__response__descriptor, result);
	const ProtobufCFieldDescriptor *itemsf =
		protobuf_c_message_descriptor_get_field(resf->descriptor, 1);
	const ProtobufCFieldDescriptor *nextf =
		protobuf_c_message_descriptor_get_field(resf->descriptor, 2);
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	ProtobufCMessage *lr = op_new(&req, op);
	const ProtobufCFieldDescriptor *tokf;
	char *token = NULL;
	int rc = EXIT_OK;

	if (lr == NULL)
		return EXIT_ERR;
	tokf = protobuf_c_message_descriptor_get_field(lr->descriptor, 2);
	/* Bounded because each page moves past the last key. */
	for (int page = 0; page < 100000; page++) {
		const ProtobufCMessage *pg = NULL;
		Nicvisor__V1__Response *rep;
		const char *next = "";

		*(const char **)field_at(lr, tokf->offset) = token ? token : "";
		rc = call(c, &req, &rep);
		if (rc != EXIT_OK)
			break;
		if (rep->result_case == result)
			pg = *(ProtobufCMessage **)field_at(rep, resf->offset);
		if (pg == NULL && missing != NULL) {
			fprintf(stderr, "nicvisorctl: the agent answered without %s\n", missing);
			nv_wire_free(&rep->base);
			rc = EXIT_ERR;
			break;
		}
		if (pg != NULL) {
			size_t n = *(size_t *)field_at(pg, itemsf->quantifier_offset);
			ProtobufCMessage **items =
				*(ProtobufCMessage ***)field_at(pg, itemsf->offset);

			for (size_t i = 0; i < n; i++)
				fn(arg, items[i]);
			next = *(const char **)field_at(pg, nextf->offset);
		}
		free(token);
		token = next != NULL && next[0] ? strdup(next) : NULL;
		nv_wire_free(&rep->base);
		if (token == NULL)
			break;
	}
	free(token);
	free(lr);
	return rc;
}

struct list_print {
	struct ctl *c;
	size_t count;
};

/* Items as table rows, or as JSON objects with commas between them. */
static void
list_print_one(void *arg, const void *item)
{
	struct list_print *lp = arg;

	if (lp->c->json && lp->count > 0)
		putchar(',');
	ctl_print_item(stdout, item, lp->c->json);
	lp->count++;
}

/* A list command: its name, its JSON ({"KEY":[...]}), its List operation
 * and its table's header. */
struct list_cmd {
	const char *cmd;
	const char *key;
	Nicvisor__V1__Request__OpCase op;
	Nicvisor__V1__Response__ResultCase result;
	void (*header)(FILE *f);
};

static const struct list_cmd list_vms = { "list", "vms", NICVISOR__V1__REQUEST__OP_LIST_VMS,
					  NICVISOR__V1__RESPONSE__RESULT_VMS,
					  ctl_print_vm_table_header };
static const struct list_cmd list_hosts = { "hosts", "hosts", NICVISOR__V1__REQUEST__OP_LIST_HOSTS,
					    NICVISOR__V1__RESPONSE__RESULT_HOSTS,
					    ctl_print_host_table_header };
static const struct list_cmd list_networks = { "network list", "networks",
					       NICVISOR__V1__REQUEST__OP_LIST_NETWORKS,
					       NICVISOR__V1__RESPONSE__RESULT_NETWORKS,
					       ctl_print_network_table_header };
static const struct list_cmd list_volumes = { "volume list", "volumes",
					      NICVISOR__V1__REQUEST__OP_LIST_VOLUMES,
					      NICVISOR__V1__RESPONSE__RESULT_VOLUMES,
					      ctl_print_volume_table_header };

static int
cmd_list(struct ctl *c, int argc, char **argv, const struct list_cmd *l)
{
	struct list_print lp = { .c = c };
	int rc;

	if (no_options(argc, argv) != EXIT_OK || optind != argc)
		return usage_error("%s takes no arguments", l->cmd);
	if (c->client == NULL && connect_api(c) != EXIT_OK)
		return EXIT_ERR;
	if (c->json)
		printf("{\"%s\":[", l->key);
	else
		l->header(stdout);
	rc = list_all(c, l->op, l->result, NULL, list_print_one, &lp);
	if (c->json)
		printf("]}\n");
	return rc;
}

/* ready: is the DPU side back (after a restart or an upgrade of
 * nicvisor-dpu)? Every host with VMs reattached, and every NIC of every
 * running VM has its port with a connected frontend (link up). */
#define READY_PORTS_MAX 4096

struct ready {
	Nicvisor__V1__PortStatsResponse *ports;
	unsigned int hosts_away, vms, nics, nics_down;
	char what[256];
	/* --since: only these ports (link up when saved) must be up again */
	char **since;
	size_t n_since;
	FILE *save; /* --save: the ports up now go here */
};

static bool
ready_wanted(const struct ready *r, const char *port)
{
	if (r->since == NULL)
		return true;
	for (size_t i = 0; i < r->n_since; i++)
		if (strcmp(r->since[i], port) == 0)
			return true;
	return false;
}

static void
ready_host(void *arg, const void *item)
{
	const Nicvisor__V1__Host *h = item;
	struct ready *r = arg;

	if (h->connected || h->vms == 0)
		return;
	if (r->hosts_away++ == 0)
		snprintf(r->what, sizeof(r->what), "host %s (%u VMs) has not reattached", h->id,
			 h->vms);
}

static void
ready_vm(void *arg, const void *item)
{
	const Nicvisor__V1__Vm *vm = item;
	struct ready *r = arg;

	if (vm->state != NICVISOR__V1__VM_STATE__VM_STATE_RUNNING || vm->spec == NULL)
		return;
	r->vms++;
	for (size_t i = 0; i < vm->spec->n_nics; i++) {
		const Nicvisor__V1__PortStats *p = NULL;
		char name[96];

		snprintf(name, sizeof(name), "%s/nic%zu", vm->id, i);
		for (size_t j = 0; r->ports != NULL && j < r->ports->n_ports; j++)
			if (strcmp(r->ports->ports[j]->port, name) == 0)
				p = r->ports->ports[j];
		if (p != NULL && p->link_up && r->save != NULL)
			fprintf(r->save, "%s\n", name);
		if (!ready_wanted(r, name))
			continue;
		r->nics++;
		if (p != NULL && p->link_up)
			continue;
		if (r->nics_down++ == 0 && r->hosts_away == 0)
			snprintf(r->what, sizeof(r->what), "vm %s nic%zu: %s", vm->spec->name, i,
				 p == NULL ? "no port" : "no frontend connected (link down)");
	}
}

static int
ready_check(struct ctl *c, struct ready *r)
{
	Nicvisor__V1__Response *rep;
	int rc;

	r->hosts_away = r->vms = r->nics = r->nics_down = 0;
	r->what[0] = 0;
	if (list_all(c, list_hosts.op, list_hosts.result, NULL, ready_host, r) != EXIT_OK ||
	    get_port_stats(c, "", &rep) != EXIT_OK)
		return EXIT_ERR;
	r->ports = rep->port_stats;
	rc = list_all(c, list_vms.op, list_vms.result, NULL, ready_vm, r);
	r->ports = NULL;
	nv_wire_free(&rep->base);
	return rc;
}

static bool parse_timeout(const char *s, uint64_t *deadline_ns);
static int remaining_ms(uint64_t deadline_ns);

/* --since FILE: the port names, one a line. */
static int
ready_load(struct ready *r, const char *path)
{
	char line[128];
	FILE *f = fopen(path, "r");

	if (f == NULL) {
		fprintf(stderr, "nicvisorctl: --since %s: %s\n", path, strerror(errno));
		return EXIT_ERR;
	}
	r->since = calloc(READY_PORTS_MAX, sizeof(*r->since));
	while (r->since != NULL && r->n_since < READY_PORTS_MAX && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		if (line[0] != 0 && (r->since[r->n_since] = strdup(line)) != NULL)
			r->n_since++;
	}
	fclose(f);
	return r->since != NULL ? EXIT_OK : EXIT_ERR;
}

static int
cmd_ready(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "save", required_argument, NULL, 's' },
		{ "since", required_argument, NULL, 'i' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t deadline = nv_mono_ns() + 30 * 1000000000ull;
	const char *save = NULL, *since = NULL;
	struct ready r = { 0 };
	int o, rc = EXIT_ERR;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o == 's')
			save = optarg;
		else if (o == 'i')
			since = optarg;
		else if (o != 't')
			return EXIT_USAGE;
		else if (!parse_timeout(optarg, &deadline))
			return usage_error("--timeout %s: give seconds", optarg);
	}
	if (optind != argc)
		return usage_error("%s", "ready takes no arguments");
	if (since != NULL && ready_load(&r, since) != EXIT_OK)
		return EXIT_ERR;
	for (;;) {
		int left;

		if (save != NULL && (r.save = fopen(save, "w")) == NULL) {
			fprintf(stderr, "nicvisorctl: --save %s: %s\n", save, strerror(errno));
			break;
		}
		if (ready_check(c, &r) != EXIT_OK)
			break;
		if (r.save != NULL && fclose(r.save) != 0) {
			r.save = NULL;
			fprintf(stderr, "nicvisorctl: --save %s: %s\n", save, strerror(errno));
			break;
		}
		r.save = NULL;
		if (r.hosts_away == 0 && r.nics_down == 0) {
			if (c->json)
				printf("{\"ready\":true,\"running_vms\":%u,\"nics\":%u}\n", r.vms,
				       r.nics);
			else
				printf("ready: every host reattached, %u running VMs, %u NICs "
				       "connected\n",
				       r.vms, r.nics);
			rc = EXIT_OK;
			break;
		}
		left = remaining_ms(deadline);
		if (left == 0) {
			if (c->json)
				printf("{\"ready\":false,\"hosts_away\":%u,\"nics_down\":%u}\n",
				       r.hosts_away, r.nics_down);
			fprintf(stderr,
				"nicvisorctl: not ready: %u hosts away, %u of %u NICs down; "
				"first: %s\n",
				r.hosts_away, r.nics_down, r.nics, r.what);
			break;
		}
		usleep(100 * 1000);
	}
	if (r.save != NULL)
		fclose(r.save);
	for (size_t i = 0; i < r.n_since; i++)
		free(r.since[i]);
	free(r.since);
	return rc;
}

/* Networks, NICs, port statistics */

static int
print_network_result(struct ctl *c, const Nicvisor__V1__Response *rep, const char *verb)
{
	const Nicvisor__V1__Network *n = rep->network;

	if (n == NULL) {
		fprintf(stderr, "nicvisorctl: the agent answered without a network\n");
		return EXIT_ERR;
	}
	if (c->json) {
		ctl_json_network(stdout, n);
		putchar('\n');
	} else if (verb == NULL) {
		ctl_print_network(stdout, n);
	} else {
		printf("network %s (%s) %s\n", n->name, n->id, verb);
	}
	return EXIT_OK;
}

static int
network_create(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "vlan", required_argument, NULL, 'v' },
		{ "vni", required_argument, NULL, 'x' },
		{ "remote-vtep", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__CreateNetworkRequest cn = NICVISOR__V1__CREATE_NETWORK_REQUEST__INIT;
	char *vteps[16];
	const char *name;
	uint64_t v;
	int o;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'v':
			if (!parse_u64(optarg, &v) || v > UINT32_MAX)
				return usage_error("--vlan %s: give a number, 1 to 4094", optarg);
			cn.vlan = (uint32_t)v;
			break;
		case 'x':
			if (!parse_u64(optarg, &v) || v > UINT32_MAX)
				return usage_error("--vni %s: give a number, 1 to 16777215",
						   optarg);
			cn.vni = (uint32_t)v;
			break;
		case 'r':
			/* the agent checks the addresses */
			if (cn.n_remote_vteps == 16)
				return usage_error("--remote-vtep %s: at most 16 are allowed",
						   optarg);
			vteps[cn.n_remote_vteps++] = optarg;
			cn.remote_vteps = vteps;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (one_name(argc, argv, "network create", &name) != EXIT_OK)
		return EXIT_USAGE;
	cn.name = (char *)name;
	req.op_case = NICVISOR__V1__REQUEST__OP_CREATE_NETWORK;
	req.create_network = &cn;
	return call_print(c, &req, print_network_result, "created");
}

static int
network_update(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "remote-vtep", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__UpdateNetworkRequest un = NICVISOR__V1__UPDATE_NETWORK_REQUEST__INIT;
	char *vteps[16];
	const char *name;
	int o;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o != 'r')
			return EXIT_USAGE;
		if (un.n_remote_vteps == 16)
			return usage_error("--remote-vtep %s: at most 16 are allowed", optarg);
		vteps[un.n_remote_vteps++] = optarg;
		un.remote_vteps = vteps;
	}
	if (one_name(argc, argv, "network update", &name) != EXIT_OK)
		return EXIT_USAGE;
	un.network = (char *)name;
	req.op_case = NICVISOR__V1__REQUEST__OP_UPDATE_NETWORK;
	req.update_network = &un;
	return call_print(c, &req, print_network_result, "updated");
}

/* argv[0] is a command with subcommands ("network"): its subcommand ("" if
 * none), with argv moved to it so that getopt parses its options. */
static const char *
subcommand(int *argc, char ***argv)
{
	const char *sub = *argc > 1 ? (*argv)[1] : "";

	(*argc)--;
	(*argv)++;
	optind = 0;
	return sub;
}

/* argv[0] is "network"; the subcommand follows. */
static int
cmd_network(struct ctl *c, int argc, char **argv)
{
	const char *sub = subcommand(&argc, &argv);

	if (strcmp(sub, "create") == 0)
		return network_create(c, argc, argv);
	if (strcmp(sub, "delete") == 0)
		return cmd_named(c, argc, argv, "network delete",
				 NICVISOR__V1__REQUEST__OP_DELETE_NETWORK, print_network_result,
				 "deleted");
	if (strcmp(sub, "get") == 0)
		return cmd_named(c, argc, argv, "network get",
				 NICVISOR__V1__REQUEST__OP_GET_NETWORK, print_network_result, NULL);
	if (strcmp(sub, "list") == 0)
		return cmd_list(c, argc, argv, &list_networks);
	if (strcmp(sub, "update") == 0)
		return network_update(c, argc, argv);
	return usage_error("network %s: use network create, update, delete, list or get",
			   sub[0] ? sub : "(nothing)");
}

/* The options of a NIC's limits: --from-vm RATE, --to-vm RATE,
 * --from-vm-burst SIZE, --to-vm-burst SIZE. */
#define NIC_LIMIT_OPTIONS                                                                          \
	{ "from-vm", required_argument, NULL, 'f' }, { "to-vm", required_argument, NULL, 't' },    \
		{ "from-vm-burst", required_argument, NULL, 'F' },                                 \
	{                                                                                          \
		"to-vm-burst", required_argument, NULL, 'T'                                        \
	}

/* Option o of NIC_LIMIT_OPTIONS into nic: EXIT_OK, EXIT_USAGE (said why)
 * or -1 if o is not one of them. */
static int
nic_limit_option(int o, const char *arg, Nicvisor__V1__NicSpec *nic)
{
	static const char *const keys[] = { "from_vm", "to_vm", "from_vm_burst", "to_vm_burst" };
	const char *const opts = "ftFT";
	const char *at = o > 0 ? strchr(opts, o) : NULL;
	char buf[128];

	if (at == NULL)
		return -1;
	snprintf(buf, sizeof(buf), "%s=%s", keys[at - opts], arg);
	if (!parse_nic_limit(buf, nic))
		return usage_error("%s: give a rate in bits per second (k, M, G, T: decimal) or a "
				   "burst in bytes (K, M, G: binary)",
				   arg);
	return EXIT_OK;
}

static int
nic_add(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mac", required_argument, NULL, 'm' },
		NIC_LIMIT_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__AddNicRequest an = NICVISOR__V1__ADD_NIC_REQUEST__INIT;
	Nicvisor__V1__NicSpec nic = NICVISOR__V1__NIC_SPEC__INIT;
	Nicvisor__V1__Response *rep;
	int o, rc;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o == 'm') {
			nic.mac = optarg;
			continue;
		}
		rc = nic_limit_option(o, optarg, &nic);
		if (rc != EXIT_OK)
			return EXIT_USAGE;
	}
	if (optind + 2 != argc)
		return usage_error("%s", "nic add needs a VM NAME and a NETWORK");
	an.vm = argv[optind];
	nic.network = argv[optind + 1];
	an.nic = &nic;
	req.op_case = NICVISOR__V1__REQUEST__OP_ADD_NIC;
	req.add_nic = &an;
	rc = call(c, &req, &rep);
	if (rc == EXIT_OK && rep->vm != NULL && rep->vm->spec != NULL &&
	    rep->vm->spec->n_nics > 0) {
		const Nicvisor__V1__VmSpec *s = rep->vm->spec;
		const Nicvisor__V1__NicSpec *n = s->nics[s->n_nics - 1];

		if (!json_vm(c, rep->vm))
			printf("vm %s: nic%zu on network %s, mac %s\n", s->name, s->n_nics - 1,
			       n->network, n->mac);
	}
	nv_wire_free((ProtobufCMessage *)rep);
	return rc;
}

static int
nic_remove(struct ctl *c, int argc, char **argv)
{
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__RemoveNicRequest rn = NICVISOR__V1__REMOVE_NIC_REQUEST__INIT;
	Nicvisor__V1__Response *rep;
	uint64_t v;
	int rc;

	if (no_options(argc, argv) != EXIT_OK || optind + 2 != argc)
		return usage_error("%s", "nic remove needs a VM NAME and an INDEX");
	if (!parse_u64(argv[optind + 1], &v) || v > UINT32_MAX)
		return usage_error("nic remove: INDEX %s: give a number (0 for the first NIC)",
				   argv[optind + 1]);
	rn.vm = argv[optind];
	rn.index = (uint32_t)v;
	req.op_case = NICVISOR__V1__REQUEST__OP_REMOVE_NIC;
	req.remove_nic = &rn;
	rc = call(c, &req, &rep);
	if (rc == EXIT_OK && rep->vm != NULL && !json_vm(c, rep->vm))
		printf("vm %s: nic%u removed; %zu left\n", rep->vm->spec ? rep->vm->spec->name : "",
		       rn.index, rep->vm->spec ? rep->vm->spec->n_nics : 0);
	nv_wire_free((ProtobufCMessage *)rep);
	return rc;
}

static int
nic_qos(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		NIC_LIMIT_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__SetNicQosRequest q = NICVISOR__V1__SET_NIC_QOS_REQUEST__INIT;
	Nicvisor__V1__NicSpec nic = NICVISOR__V1__NIC_SPEC__INIT;
	Nicvisor__V1__Response *rep;
	uint64_t v;
	int o, rc;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1)
		if (nic_limit_option(o, optarg, &nic) != EXIT_OK)
			return EXIT_USAGE;
	if (optind + 2 != argc)
		return usage_error("%s", "nic qos needs a VM NAME and an INDEX");
	if (!parse_u64(argv[optind + 1], &v) || v > UINT32_MAX)
		return usage_error("nic qos: INDEX %s: give a number (0 for the first NIC)",
				   argv[optind + 1]);
	q.vm = argv[optind];
	q.index = (uint32_t)v;
	q.from_vm_bits_per_second = nic.from_vm_bits_per_second;
	q.from_vm_burst_bytes = nic.from_vm_burst_bytes;
	q.to_vm_bits_per_second = nic.to_vm_bits_per_second;
	q.to_vm_burst_bytes = nic.to_vm_burst_bytes;
	req.op_case = NICVISOR__V1__REQUEST__OP_SET_NIC_QOS;
	req.set_nic_qos = &q;
	rc = call(c, &req, &rep);
	if (rc == EXIT_OK && rep->vm != NULL && rep->vm->spec != NULL &&
	    q.index < rep->vm->spec->n_nics) {
		if (!json_vm(c, rep->vm)) {
			printf("vm %s: nic%u", rep->vm->spec->name, q.index);
			ctl_print_nic_limits(stdout, rep->vm->spec->nics[q.index]);
			printf("%s\n", nic.from_vm_bits_per_second || nic.to_vm_bits_per_second
					       ? ""
					       : ": no limits");
		}
	}
	nv_wire_free((ProtobufCMessage *)rep);
	return rc;
}

#define CTL_SG_MAX_RULES 1000

/* "[allow:|deny:]PROTO[:PORTS[:CIDR]]" into r (strings point into buf). */
static bool
parse_sg_rule(char *buf, Nicvisor__V1__SecurityRule *r)
{
	char *part[3] = { NULL, NULL, NULL }, *t;
	unsigned int n = 0;
	uint64_t lo, hi;

	nicvisor__v1__security_rule__init(r);
	if (strncmp(buf, "deny:", 5) == 0) {
		r->deny = true;
		buf += 5;
	} else if (strncmp(buf, "allow:", 6) == 0) {
		buf += 6;
	}
	/* strsep keeps empty fields ("icmp::10.0.0.0/8"). */
	while ((t = strsep(&buf, ":")) != NULL && n < 3)
		part[n++] = t;
	if (t != NULL || n == 0)
		return false;
	r->protocol = part[0];
	if (part[1] != NULL && part[1][0] != 0) {
		char *dash = strchr(part[1], '-');

		if (dash != NULL)
			*dash = 0;
		if (!parse_u64(part[1], &lo) || lo > UINT32_MAX)
			return false;
		hi = lo;
		if (dash != NULL && (!parse_u64(dash + 1, &hi) || hi > UINT32_MAX))
			return false;
		r->port_lo = (uint32_t)lo;
		r->port_hi = (uint32_t)hi;
	}
	r->remote_cidr = part[2] != NULL ? part[2] : "";
	return true;
}

static int
nic_security(struct ctl *c, int argc, char **argv)
{
	enum { O_INGRESS = 1, O_EGRESS, O_IN_DENY, O_EG_DENY, O_DENY, O_NONE };
	static const struct option opts[] = {
		{ "ingress", required_argument, NULL, O_INGRESS },
		{ "egress", required_argument, NULL, O_EGRESS },
		{ "ingress-deny", no_argument, NULL, O_IN_DENY },
		{ "egress-deny", no_argument, NULL, O_EG_DENY },
		{ "default-deny", no_argument, NULL, O_DENY },
		{ "none", no_argument, NULL, O_NONE },
		{ NULL, 0, NULL, 0 },
	};
	static Nicvisor__V1__SecurityRule rules[2][CTL_SG_MAX_RULES];
	static Nicvisor__V1__SecurityRule *rp[2][CTL_SG_MAX_RULES];
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__SetNicSecurityRequest q = NICVISOR__V1__SET_NIC_SECURITY_REQUEST__INIT;
	Nicvisor__V1__SecurityPolicy pol = NICVISOR__V1__SECURITY_POLICY__INIT;
	Nicvisor__V1__Response *rep;
	size_t n[2] = { 0, 0 };
	bool none = false;
	uint64_t v;
	int o, rc, d;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case O_INGRESS:
		case O_EGRESS:
			d = o == O_INGRESS ? 0 : 1;
			if (n[d] == CTL_SG_MAX_RULES)
				return usage_error("%s",
						   "nic security: at most 1000 rules each way");
			if (!parse_sg_rule(optarg, &rules[d][n[d]]))
				return usage_error("nic security: rule '%s': give "
						   "[deny:]PROTO[:PORTS[:CIDR]]",
						   optarg);
			rp[d][n[d]] = &rules[d][n[d]];
			n[d]++;
			break;
		case O_IN_DENY:
			pol.ingress_default_deny = true;
			break;
		case O_EG_DENY:
			pol.egress_default_deny = true;
			break;
		case O_DENY:
			pol.ingress_default_deny = pol.egress_default_deny = true;
			break;
		case O_NONE:
			none = true;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind + 2 != argc)
		return usage_error("%s", "nic security needs a VM NAME and an INDEX");
	if (!parse_u64(argv[optind + 1], &v) || v > UINT32_MAX)
		return usage_error("nic security: INDEX %s: give a number (0 for the first NIC)",
				   argv[optind + 1]);
	if (none && (n[0] || n[1] || pol.ingress_default_deny || pol.egress_default_deny))
		return usage_error("%s", "nic security: --none takes no rules");
	pol.ingress = rp[0];
	pol.n_ingress = n[0];
	pol.egress = rp[1];
	pol.n_egress = n[1];
	q.vm = argv[optind];
	q.index = (uint32_t)v;
	q.policy = none ? NULL : &pol;
	req.op_case = NICVISOR__V1__REQUEST__OP_SET_NIC_SECURITY;
	req.set_nic_security = &q;
	rc = call(c, &req, &rep);
	if (rc == EXIT_OK && rep->vm != NULL && rep->vm->spec != NULL && !json_vm(c, rep->vm)) {
		if (none)
			printf("vm %s: nic%u: no security group\n", rep->vm->spec->name, q.index);
		else
			printf("vm %s: nic%u: security group of %zu ingress and %zu egress rules "
			       "(default: ingress %s, egress %s)\n",
			       rep->vm->spec->name, q.index, n[0], n[1],
			       pol.ingress_default_deny ? "deny" : "allow",
			       pol.egress_default_deny ? "deny" : "allow");
	}
	nv_wire_free((ProtobufCMessage *)rep);
	return rc;
}

static void
print_sg_rules(const char *dir, Nicvisor__V1__SecurityRule **r, size_t n,
	       Nicvisor__V1__RuleCounters **ctr, size_t nctr)
{
	for (size_t i = 0; i < n; i++) {
		char ports[32] = "any";
		const char *proto = r[i]->protocol && r[i]->protocol[0] ? r[i]->protocol : "any";
		const char *cidr =
			r[i]->remote_cidr && r[i]->remote_cidr[0] ? r[i]->remote_cidr : "any";

		if (r[i]->port_lo != 0 || r[i]->port_hi != 0)
			snprintf(ports, sizeof(ports), "%u-%u", r[i]->port_lo, r[i]->port_hi);
		printf("  %-7s %-3zu %-5s %-5s %-11s %-18s", dir, i, r[i]->deny ? "deny" : "allow",
		       proto, ports, cidr);
		if (i < nctr)
			printf(" %" PRIu64 " pkts %" PRIu64 " bytes", ctr[i]->packets,
			       ctr[i]->bytes);
		putchar('\n');
	}
}

static int
nic_security_show(struct ctl *c, int argc, char **argv)
{
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__GetNicSecurityRequest q = NICVISOR__V1__GET_NIC_SECURITY_REQUEST__INIT;
	const Nicvisor__V1__NicSecurity *s;
	Nicvisor__V1__Response *rep;
	uint64_t v;
	int rc;

	if (argc != 3)
		return usage_error("%s", "nic security-show needs a VM NAME and an INDEX");
	if (!parse_u64(argv[2], &v) || v > UINT32_MAX)
		return usage_error("nic security-show: INDEX %s: give a number", argv[2]);
	q.vm = argv[1];
	q.index = (uint32_t)v;
	req.op_case = NICVISOR__V1__REQUEST__OP_GET_NIC_SECURITY;
	req.get_nic_security = &q;
	rc = call(c, &req, &rep);
	if (rc == EXIT_OK && (s = rep->nic_security) != NULL) {
		if (s->policy == NULL) {
			printf("vm %s nic%u: no security group (not filtered)\n", s->vm, s->nic);
		} else {
			printf("vm %s nic%u: security group %s; default ingress %s, egress %s\n",
			       s->vm, s->nic, s->active ? "active" : "not active (no port)",
			       s->policy->ingress_default_deny ? "deny" : "allow",
			       s->policy->egress_default_deny ? "deny" : "allow");
			print_sg_rules("ingress", s->policy->ingress, s->policy->n_ingress,
				       s->ingress_counters, s->n_ingress_counters);
			print_sg_rules("egress", s->policy->egress, s->policy->n_egress,
				       s->egress_counters, s->n_egress_counters);
			printf("  default: ingress %" PRIu64 " allowed %" PRIu64
			       " denied, egress %" PRIu64 " allowed %" PRIu64 " denied\n",
			       s->ingress_default_allowed, s->ingress_default_denied,
			       s->egress_default_allowed, s->egress_default_denied);
			printf("  connections: %" PRIu64 " open, %" PRIu64 " opened, %" PRIu64
			       " frames passed by them, %" PRIu64 " not opened (table full)\n",
			       s->connections, s->connections_opened, s->connection_hits,
			       s->connections_table_full);
		}
	}
	nv_wire_free((ProtobufCMessage *)rep);
	return rc;
}

static int
cmd_nic(struct ctl *c, int argc, char **argv)
{
	const char *sub = subcommand(&argc, &argv);

	if (strcmp(sub, "add") == 0)
		return nic_add(c, argc, argv);
	if (strcmp(sub, "remove") == 0)
		return nic_remove(c, argc, argv);
	if (strcmp(sub, "qos") == 0)
		return nic_qos(c, argc, argv);
	if (strcmp(sub, "security") == 0)
		return nic_security(c, argc, argv);
	if (strcmp(sub, "security-show") == 0)
		return nic_security_show(c, argc, argv);
	return usage_error("nic %s: use nic add, nic remove, nic qos, nic security or nic "
			   "security-show",
			   sub[0] ? sub : "(nothing)");
}

/* Mirror sessions */

static int
print_mirror_result(struct ctl *c, const Nicvisor__V1__Response *rep, const char *verb)
{
	if (rep->mirror == NULL) {
		fprintf(stderr, "nicvisorctl: the agent answered without the mirror session\n");
		return EXIT_ERR;
	}
	if (c->json) {
		ctl_json_mirror(stdout, rep->mirror);
		putchar('\n');
	} else if (verb != NULL) {
		printf("mirror %s %s\n", rep->mirror->name, verb);
	} else {
		ctl_print_mirror_table_header(stdout);
		ctl_print_mirror_row(stdout, rep->mirror);
	}
	return EXIT_OK;
}

static Nicvisor__V1__MirrorDirection
parse_mirror_dir(const char *s)
{
	if (strcmp(s, "from_vm") == 0)
		return NICVISOR__V1__MIRROR_DIRECTION__MIRROR_DIRECTION_FROM_VM;
	if (strcmp(s, "to_vm") == 0)
		return NICVISOR__V1__MIRROR_DIRECTION__MIRROR_DIRECTION_TO_VM;
	if (strcmp(s, "both") == 0)
		return NICVISOR__V1__MIRROR_DIRECTION__MIRROR_DIRECTION_BOTH;
	return NICVISOR__V1__MIRROR_DIRECTION__MIRROR_DIRECTION_UNSPECIFIED;
}

/* mirror create NAME VM INDEX DIRECTION (--to VM:INDEX | --to-uplink UPLINK) */
static int
mirror_create(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "to", required_argument, NULL, 't' },
		{ "to-uplink", required_argument, NULL, 'u' },
		{ NULL, 0, NULL, 0 },
	};
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__CreateMirrorRequest cm = NICVISOR__V1__CREATE_MIRROR_REQUEST__INIT;
	Nicvisor__V1__Response *rep;
	char *colon;
	uint64_t v;
	int o, rc;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o == 'u') {
			cm.to_uplink = optarg;
			continue;
		}
		if (o != 't')
			return EXIT_USAGE;
		colon = strrchr(optarg, ':');
		if (colon == NULL || !parse_u64(colon + 1, &v) || v > UINT32_MAX)
			return usage_error("--to %s: give VM:INDEX (a VM's name or id and a NIC "
					   "index)",
					   optarg);
		*colon = 0;
		cm.to_vm = optarg;
		cm.to_nic = (uint32_t)v;
	}
	if (optind + 4 != argc)
		return usage_error("%s", "mirror create needs NAME VM INDEX DIRECTION");
	if (!parse_u64(argv[optind + 2], &v) || v > UINT32_MAX)
		return usage_error("mirror create: INDEX %s: give a number (0 for the first NIC)",
				   argv[optind + 2]);
	cm.name = argv[optind];
	cm.vm = argv[optind + 1];
	cm.nic = (uint32_t)v;
	cm.direction = parse_mirror_dir(argv[optind + 3]);
	if (cm.direction == NICVISOR__V1__MIRROR_DIRECTION__MIRROR_DIRECTION_UNSPECIFIED)
		return usage_error("mirror create: DIRECTION %s: give from_vm, to_vm or both",
				   argv[optind + 3]);
	req.op_case = NICVISOR__V1__REQUEST__OP_CREATE_MIRROR;
	req.create_mirror = &cm;
	rc = call(c, &req, &rep);
	if (rc == EXIT_OK)
		rc = print_mirror_result(c, rep,
					 rep->mirror && rep->mirror->active
						 ? "created (active)"
						 : "created (inactive: a port is missing)");
	nv_wire_free((ProtobufCMessage *)rep);
	return rc;
}

/* mirror delete NAME, mirror get NAME */
static int
mirror_named(struct ctl *c, int argc, char **argv, bool del)
{
	if (no_options(argc, argv) != EXIT_OK || optind + 1 != argc)
		return usage_error("mirror %s needs a session NAME", del ? "delete" : "get");
	return call_named(c,
			  del ? NICVISOR__V1__REQUEST__OP_DELETE_MIRROR
			      : NICVISOR__V1__REQUEST__OP_GET_MIRROR,
			  argv[optind], print_mirror_result, del ? "deleted" : NULL);
}

static int
mirror_list(struct ctl *c, int argc, char **argv)
{
	struct list_print lp = { .c = c };
	int rc;

	if (no_options(argc, argv) != EXIT_OK || optind != argc)
		return usage_error("%s", "mirror list takes no arguments");
	if (c->json)
		putchar('[');
	else
		ctl_print_mirror_table_header(stdout);
	rc = list_all(c, NICVISOR__V1__REQUEST__OP_LIST_MIRRORS,
		      NICVISOR__V1__RESPONSE__RESULT_MIRRORS, "mirror sessions", list_print_one,
		      &lp);
	if (rc == EXIT_OK && c->json)
		printf("]\n");
	return rc;
}

static int
cmd_mirror(struct ctl *c, int argc, char **argv)
{
	const char *sub = subcommand(&argc, &argv);

	if (strcmp(sub, "create") == 0)
		return mirror_create(c, argc, argv);
	if (strcmp(sub, "delete") == 0 || strcmp(sub, "get") == 0)
		return mirror_named(c, argc, argv, strcmp(sub, "delete") == 0);
	if (strcmp(sub, "list") == 0)
		return mirror_list(c, argc, argv);
	return usage_error("mirror %s: use mirror create, delete, get or list",
			   sub[0] ? sub : "(nothing)");
}

/* The disk table of `stats` (or ,"disks":[...] with --json); nothing in
 * text when there are no disks. */
static int
print_disk_stats(struct ctl *c, const char *vm)
{
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__GetDiskStatsRequest ds = NICVISOR__V1__GET_DISK_STATS_REQUEST__INIT;
	struct list_print lp = { .c = c };
	Nicvisor__V1__Response *rep;
	int rc;

	ds.vm = (char *)vm;
	req.op_case = NICVISOR__V1__REQUEST__OP_GET_DISK_STATS;
	req.get_disk_stats = &ds;
	rc = call(c, &req, &rep);
	if (rc != EXIT_OK)
		return rc;
	if (rep->disk_stats == NULL) {
		fprintf(stderr, "nicvisorctl: the agent answered without disk statistics\n");
		nv_wire_free(&rep->base);
		return EXIT_ERR;
	}
	if (c->json)
		printf(",\"disks\":[");
	else if (rep->disk_stats->n_disks > 0) {
		putchar('\n');
		ctl_print_disk_table_header(stdout);
	}
	for (size_t i = 0; i < rep->disk_stats->n_disks; i++)
		list_print_one(&lp, rep->disk_stats->disks[i]);
	if (c->json)
		putchar(']');
	nv_wire_free(&rep->base);
	return EXIT_OK;
}

static int
cmd_stats(struct ctl *c, int argc, char **argv)
{
	struct list_print lp = { .c = c };
	Nicvisor__V1__Response *rep;
	const char *vm;
	int rc;

	if (no_options(argc, argv) != EXIT_OK || optind + 1 < argc)
		return usage_error("%s", "stats takes at most one VM NAME");
	vm = optind < argc ? argv[optind] : "";
	rc = get_port_stats(c, vm, &rep);
	if (rc != EXIT_OK)
		return rc;
	if (c->json)
		printf("{\"ports\":[");
	else
		ctl_print_port_table_header(stdout);
	/* The disks' counters follow in the same object (see print_disk_stats). */
	for (size_t i = 0; i < rep->port_stats->n_ports; i++)
		list_print_one(&lp, rep->port_stats->ports[i]);
	if (c->json)
		putchar(']');
	nv_wire_free(&rep->base);
	rc = print_disk_stats(c, vm);
	if (c->json)
		printf("}\n");
	return rc;
}

/* Volumes and disks */

static int
print_volume_result(struct ctl *c, const Nicvisor__V1__Response *rep, const char *verb)
{
	const Nicvisor__V1__Volume *v = rep->volume;

	if (v == NULL) {
		fprintf(stderr, "nicvisorctl: the agent answered without a volume\n");
		return EXIT_ERR;
	}
	if (c->json) {
		ctl_json_volume(stdout, v);
		putchar('\n');
	} else if (verb == NULL) {
		ctl_print_volume(stdout, v);
	} else {
		printf("volume %s (%s) %s\n", v->name, v->id, verb);
	}
	return EXIT_OK;
}

static int
volume_create(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "nbd", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__CreateVolumeRequest cv = NICVISOR__V1__CREATE_VOLUME_REQUEST__INIT;
	const char *name;
	bool sized = false;
	int o;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 's':
			if (!parse_size(optarg, &cv.size_bytes))
				return usage_error("--size %s: give bytes, or a number with K, M, "
						   "G or T",
						   optarg);
			sized = true;
			break;
		case 'n':
			cv.nbd_url = optarg;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (one_name(argc, argv, "volume create", &name) != EXIT_OK)
		return EXIT_USAGE;
	if (!sized)
		return usage_error("%s", "volume create needs --size SIZE");
	cv.name = (char *)name;
	req.op_case = NICVISOR__V1__REQUEST__OP_CREATE_VOLUME;
	req.create_volume = &cv;
	return call_print(c, &req, print_volume_result, "created");
}

/* argv[0] is "volume"; the subcommand follows. */
static int
cmd_volume(struct ctl *c, int argc, char **argv)
{
	const char *sub = subcommand(&argc, &argv);

	if (strcmp(sub, "create") == 0)
		return volume_create(c, argc, argv);
	if (strcmp(sub, "delete") == 0)
		return cmd_named(c, argc, argv, "volume delete",
				 NICVISOR__V1__REQUEST__OP_DELETE_VOLUME, print_volume_result,
				 "deleted");
	if (strcmp(sub, "get") == 0)
		return cmd_named(c, argc, argv, "volume get", NICVISOR__V1__REQUEST__OP_GET_VOLUME,
				 print_volume_result, NULL);
	if (strcmp(sub, "list") == 0)
		return cmd_list(c, argc, argv, &list_volumes);
	return usage_error("volume %s: use volume create, delete, list or get",
			   sub[0] ? sub : "(nothing)");
}

static int
disk_attach(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ro", no_argument, NULL, 'r' },
		{ "iops", required_argument, NULL, 'i' },
		{ "bps", required_argument, NULL, 'b' },
		{ NULL, 0, NULL, 0 },
	};
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__AttachDiskRequest ad = NICVISOR__V1__ATTACH_DISK_REQUEST__INIT;
	Nicvisor__V1__DiskSpec disk = NICVISOR__V1__DISK_SPEC__INIT;
	Nicvisor__V1__Response *rep;
	int o, rc;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'r':
			disk.read_only = true;
			break;
		case 'i':
			if (!parse_count(optarg, &disk.max_iops))
				return usage_error(
					"--iops %s: give a number of requests per second", optarg);
			break;
		case 'b':
			if (!parse_size(optarg, &disk.max_bytes_per_second))
				return usage_error(
					"--bps %s: give bytes per second (K, M, G: binary)",
					optarg);
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind + 2 != argc)
		return usage_error("%s", "disk attach needs a VM NAME and a VOLUME");
	ad.vm = argv[optind];
	disk.volume = argv[optind + 1];
	ad.disk = &disk;
	req.op_case = NICVISOR__V1__REQUEST__OP_ATTACH_DISK;
	req.attach_disk = &ad;
	rc = call(c, &req, &rep);
	if (rc == EXIT_OK && rep->vm != NULL && rep->vm->spec != NULL &&
	    rep->vm->spec->n_disks > 0) {
		const Nicvisor__V1__VmSpec *s = rep->vm->spec;
		const Nicvisor__V1__DiskSpec *d = s->disks[s->n_disks - 1];

		if (!json_vm(c, rep->vm)) {
			printf("vm %s: disk%zu is volume %s%s", s->name, s->n_disks - 1, d->volume,
			       d->read_only ? ", read-only" : "");
			ctl_print_disk_limits(stdout, d);
			putchar('\n');
		}
	}
	nv_wire_free((ProtobufCMessage *)rep);
	return rc;
}

static int
disk_detach(struct ctl *c, int argc, char **argv)
{
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__DetachDiskRequest dd = NICVISOR__V1__DETACH_DISK_REQUEST__INIT;
	Nicvisor__V1__Response *rep;
	uint64_t v;
	int rc;

	if (no_options(argc, argv) != EXIT_OK || optind + 2 != argc)
		return usage_error("%s", "disk detach needs a VM NAME and an INDEX");
	if (!parse_u64(argv[optind + 1], &v) || v > UINT32_MAX)
		return usage_error("disk detach: INDEX %s: give a number (0 for the first disk)",
				   argv[optind + 1]);
	dd.vm = argv[optind];
	dd.index = (uint32_t)v;
	req.op_case = NICVISOR__V1__REQUEST__OP_DETACH_DISK;
	req.detach_disk = &dd;
	rc = call(c, &req, &rep);
	if (rc == EXIT_OK && rep->vm != NULL && !json_vm(c, rep->vm))
		printf("vm %s: disk%u detached; %zu left\n",
		       rep->vm->spec ? rep->vm->spec->name : "", dd.index,
		       rep->vm->spec ? rep->vm->spec->n_disks : 0);
	nv_wire_free((ProtobufCMessage *)rep);
	return rc;
}

static int
cmd_disk(struct ctl *c, int argc, char **argv)
{
	const char *sub = subcommand(&argc, &argv);

	if (strcmp(sub, "attach") == 0)
		return disk_attach(c, argc, argv);
	if (strcmp(sub, "detach") == 0)
		return disk_detach(c, argc, argv);
	return usage_error("disk %s: use disk attach or disk detach", sub[0] ? sub : "(nothing)");
}

/* Events */

static int
subscribe(struct ctl *c, const char *const *topics, size_t n)
{
	int rv = nng_sub0_open(&c->sub);

	if (rv == 0) {
		c->sub_open = true;
		nng_socket_set_size(c->sub, NNG_OPT_RECVMAXSZ, NV_WIRE_MAX_MSG + NV_TOPIC_MAX);
		for (size_t i = 0; i < n && rv == 0; i++)
			rv = nng_socket_set(c->sub, NNG_OPT_SUB_SUBSCRIBE, topics[i],
					    strlen(topics[i]));
	}
	if (rv == 0) {
		nng_dialer d;

		rv = nng_dialer_create(&d, c->sub, c->events_url);
		if (rv == 0 && nv_tls_dialer(d, c->events_url, &c->tls) < 0)
			return EXIT_ERR;
		if (rv == 0)
			rv = nng_dialer_start(d, 0);
	}
	if (rv != 0) {
		fprintf(stderr,
			"nicvisorctl: cannot subscribe to events at %s: %s; is nicvisor-dpu "
			"running?\n",
			c->events_url, nng_strerror(rv));
		return EXIT_ERR;
	}
	/* pub/sub has no handshake: a message published before the
	 * subscription reached the agent is not seen. Callers read the
	 * current state through the API after this. */
	usleep(20000);
	return EXIT_OK;
}

/* Next event within timeout_ms (<0: none). 0, -ETIMEDOUT, or -EIO. */
static int
next_event(struct ctl *c, int timeout_ms, char *topic, size_t topic_size, Nicvisor__V1__Event **ev)
{
	const uint8_t *payload;
	const char *t;
	size_t plen;
	nng_msg *msg;
	int rv;

	*ev = NULL;
	nng_socket_set_ms(c->sub, NNG_OPT_RECVTIMEO,
			  timeout_ms < 0 ? NNG_DURATION_INFINITE : timeout_ms);
	rv = nng_recvmsg(c->sub, &msg, 0);
	if (rv == NNG_ETIMEDOUT)
		return -ETIMEDOUT;
	if (rv != 0)
		return -EIO;
	rv = nv_wire_event_split(nng_msg_body(msg), nng_msg_len(msg), &t, &payload, &plen);
	if (rv == 0) {
		snprintf(topic, topic_size, "%s", t);
		rv = nv_wire_unpack(&nicvisor__v1__event__descriptor, payload, plen,
				    (ProtobufCMessage **)ev);
	}
	nng_msg_free(msg);
	return rv < 0 ? -EAGAIN : 0;
}

static int
remaining_ms(uint64_t deadline_ns)
{
	uint64_t now = nv_mono_ns();

	if (deadline_ns == 0)
		return -1;
	return now >= deadline_ns ? 0 : (int)((deadline_ns - now) / 1000000);
}

static int
cmd_events(struct ctl *c, int argc, char **argv)
{
	static const char *const all[] = { "" };

	if (no_options(argc, argv) != EXIT_OK || optind != argc)
		return usage_error("%s", "events takes no arguments");
	if (subscribe(c, all, 1) != EXIT_OK)
		return EXIT_ERR;
	for (;;) {
		Nicvisor__V1__Event *ev;
		char topic[NV_TOPIC_MAX];
		int rc = next_event(c, -1, topic, sizeof(topic), &ev);

		if (rc == -EAGAIN)
			continue;
		if (rc < 0)
			return EXIT_ERR;
		if (c->json)
			ctl_json_event(stdout, topic, ev);
		else
			ctl_print_event(stdout, topic, ev);
		fflush(stdout);
		nv_wire_free(&ev->base);
	}
}

static int
get_vm(struct ctl *c, const char *name, Nicvisor__V1__Response **rep)
{
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__GetVmRequest gr = NICVISOR__V1__GET_VM_REQUEST__INIT;

	gr.vm = (char *)name;
	req.op_case = NICVISOR__V1__REQUEST__OP_GET_VM;
	req.get_vm = &gr;
	return call(c, &req, rep);
}

static bool
parse_state(const char *s, Nicvisor__V1__VmState *out)
{
	for (int v = NICVISOR__V1__VM_STATE__VM_STATE_CREATED;
	     v <= NICVISOR__V1__VM_STATE__VM_STATE_FAILED; v++) {
		if (strcasecmp(s, nv_vm_state_name((Nicvisor__V1__VmState)v)) == 0) {
			*out = (Nicvisor__V1__VmState)v;
			return true;
		}
	}
	return false;
}

static bool
parse_timeout(const char *s, uint64_t *deadline_ns)
{
	uint64_t v;

	if (!parse_u64(s, &v) || v > 86400)
		return false;
	*deadline_ns = nv_mono_ns() + v * 1000000000ull;
	return true;
}

static int
cmd_wait(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "state", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	Nicvisor__V1__VmState want = NICVISOR__V1__VM_STATE__VM_STATE_UNSPECIFIED;
	uint64_t deadline = nv_mono_ns() + 60 * 1000000000ull;
	Nicvisor__V1__Response *rep;
	char topics[1][NV_TOPIC_MAX];
	const char *tp[1] = { topics[0] };
	const char *name;
	int o, rc;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 's':
			if (!parse_state(optarg, &want))
				return usage_error("--state %s: use created, starting, running, "
						   "stopping, stopped or failed",
						   optarg);
			break;
		case 't':
			if (!parse_timeout(optarg, &deadline))
				return usage_error("--timeout %s: give seconds", optarg);
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (one_name(argc, argv, "wait", &name) != EXIT_OK)
		return EXIT_USAGE;
	if (want == NICVISOR__V1__VM_STATE__VM_STATE_UNSPECIFIED)
		return usage_error("%s", "wait needs --state STATE");
	rc = get_vm(c, name, &rep);
	if (rc != EXIT_OK)
		return rc;
	snprintf(topics[0], sizeof(topics[0]), "vm/%s/state", rep->vm->id);
	nv_wire_free(&rep->base);
	if (subscribe(c, tp, 1) != EXIT_OK)
		return EXIT_ERR;
	/* Events wake us; GetVm (at most every 500 ms) is the truth. */
	for (;;) {
		Nicvisor__V1__VmState state;
		Nicvisor__V1__Event *ev;
		char topic[NV_TOPIC_MAX];
		int left;

		rc = get_vm(c, name, &rep);
		if (rc != EXIT_OK)
			return rc;
		state = rep->vm->state;
		if (state == want) {
			if (!json_vm(c, rep->vm))
				printf("vm %s is %s\n", name, nv_vm_state_name(state));
			nv_wire_free(&rep->base);
			return EXIT_OK;
		}
		if (state == NICVISOR__V1__VM_STATE__VM_STATE_FAILED) {
			fprintf(stderr, "nicvisorctl: vm %s failed while waiting for %s: %s\n",
				name, nv_vm_state_name(want), rep->vm->reason);
			nv_wire_free(&rep->base);
			return EXIT_ERR;
		}
		nv_wire_free(&rep->base);
		left = remaining_ms(deadline);
		if (left == 0) {
			fprintf(stderr, "nicvisorctl: vm %s is %s, not %s, after the timeout\n",
				name, nv_vm_state_name(state), nv_vm_state_name(want));
			return EXIT_ERR;
		}
		if (next_event(c, left < 500 ? left : 500, topic, sizeof(topic), &ev) == 0)
			nv_wire_free(&ev->base);
	}
}

/* Write console bytes out and look for the pattern across writes. */
struct matcher {
	const char *pattern;
	size_t plen;
	char *tail; /* last plen - 1 bytes written */
	size_t tlen;
	bool found;
};

static void
console_out(struct matcher *m, const uint8_t *data, size_t len)
{
	fwrite(data, 1, len, stdout);
	fflush(stdout);
	if (m->pattern == NULL || m->found || len == 0)
		return;
	{
		size_t n = m->tlen + len;
		char *buf = malloc(n + 1);

		if (buf == NULL)
			return;
		memcpy(buf, m->tail, m->tlen);
		memcpy(buf + m->tlen, data, len);
		buf[n] = 0;
		if (memmem(buf, n, m->pattern, m->plen) != NULL)
			m->found = true;
		m->tlen = n < m->plen - 1 ? n : m->plen - 1;
		memcpy(m->tail, buf + n - m->tlen, m->tlen);
		free(buf);
	}
}

/* The console from *off up to the end the agent knows, page by page. */
static int
console_catch_up(struct ctl *c, Nicvisor__V1__Request *req, struct matcher *m, uint64_t *off)
{
	Nicvisor__V1__Response *rep;

	for (int page = 0; page < 64 && !m->found; page++) {
		uint64_t end;
		int rc;

		req->get_console->offset = *off;
		rc = call(c, req, &rep);
		if (rc != EXIT_OK)
			return rc;
		if (rep->console->offset + rep->console->data.len > *off) {
			uint64_t from = rep->console->offset > *off ? rep->console->offset : *off;

			console_out(m, rep->console->data.data + (from - rep->console->offset),
				    (size_t)(rep->console->offset + rep->console->data.len - from));
			*off = rep->console->offset + rep->console->data.len;
		}
		end = rep->console->end_offset;
		nv_wire_free(&rep->base);
		if (*off >= end)
			break;
	}
	return EXIT_OK;
}

static int
cmd_console(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "until", required_argument, NULL, 'u' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__GetConsoleRequest gc = NICVISOR__V1__GET_CONSOLE_REQUEST__INIT;
	struct matcher m = { 0 };
	uint64_t deadline = 0, off = 0;
	bool follow = false;
	char topics[2][NV_TOPIC_MAX];
	const char *tp[2] = { topics[0], topics[1] };
	Nicvisor__V1__Response *rep;
	char id[64];
	const char *name;
	int o, rc;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'f':
			follow = true;
			break;
		case 'u':
			if (optarg[0] == 0)
				return usage_error("%s", "--until needs a non-empty PATTERN");
			m.pattern = optarg;
			m.plen = strlen(optarg);
			follow = true;
			break;
		case 't':
			if (!parse_timeout(optarg, &deadline))
				return usage_error("--timeout %s: give seconds", optarg);
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (one_name(argc, argv, "console", &name) != EXIT_OK)
		return EXIT_USAGE;
	m.tail = malloc(m.plen + 1);
	if (m.tail == NULL)
		return EXIT_ERR;
	rc = get_vm(c, name, &rep);
	if (rc != EXIT_OK)
		goto out;
	snprintf(id, sizeof(id), "%s", rep->vm->id);
	nv_wire_free(&rep->base);
	if (follow) {
		/* Subscribe first, so that what the agent publishes after
		 * the first GetConsole comes as events; offsets remove the
		 * overlap and GetConsole fills any gap. */
		snprintf(topics[0], sizeof(topics[0]), "vm/%s/console", id);
		snprintf(topics[1], sizeof(topics[1]), "vm/%s/state", id);
		rc = subscribe(c, tp, 2);
		if (rc != EXIT_OK)
			goto out;
	}
	gc.vm = id;
	req.op_case = NICVISOR__V1__REQUEST__OP_GET_CONSOLE;
	req.get_console = &gc;
	/* pub/sub is lossy (a late subscription, a full queue): events only
	 * wake us, and GetConsole from our offset fills every gap: at the
	 * start, when an event starts past our offset, and after a second
	 * without events. */
	for (bool poll = true;;) {
		Nicvisor__V1__Event *ev;
		char topic[NV_TOPIC_MAX];
		int left, er;

		if (poll) {
			rc = console_catch_up(c, &req, &m, &off);
			if (rc != EXIT_OK)
				goto out;
			poll = false;
		}
		if (!follow || m.found)
			break;
		left = remaining_ms(deadline);
		if (left == 0) {
			rc = EXIT_ERR;
			if (m.pattern)
				fprintf(stderr,
					"\nnicvisorctl: '%s' did not appear on the console of "
					"vm %s before the timeout\n",
					m.pattern, name);
			goto out;
		}
		er = next_event(c, left >= 0 && left < 1000 ? left : 1000, topic, sizeof(topic),
				&ev);
		if (er == -ETIMEDOUT || er == -EAGAIN) {
			poll = true;
			continue;
		}
		if (er < 0) {
			rc = EXIT_ERR;
			goto out;
		}
		if (ev->kind_case == NICVISOR__V1__EVENT__KIND_CONSOLE) {
			const Nicvisor__V1__ConsoleOutput *co = ev->console;
			uint64_t cend = co->offset + co->data.len;

			if (co->offset > off) {
				poll = true; /* we missed something: read it in order */
			} else if (cend > off) {
				console_out(&m, co->data.data + (off - co->offset),
					    (size_t)(cend - off));
				off = cend;
			}
		} else if (ev->kind_case == NICVISOR__V1__EVENT__KIND_VM_STATE &&
			   ev->vm_state->state == NICVISOR__V1__VM_STATE__VM_STATE_UNSPECIFIED) {
			fprintf(stderr, "\nnicvisorctl: vm %s was deleted\n", name);
			nv_wire_free(&ev->base);
			rc = EXIT_ERR;
			goto out;
		}
		nv_wire_free(&ev->base);
	}
	rc = EXIT_OK;
out:
	free(m.tail);
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "api", required_argument, NULL, 'a' },
		{ "events", required_argument, NULL, 'e' },
		{ "json", no_argument, NULL, 'j' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ "tls-cert", required_argument, NULL, 'c' },
		{ "tls-key", required_argument, NULL, 'k' },
		{ "tls-ca", required_argument, NULL, 'A' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl c = { 0 };
	const char *cmd;
	int o, rc;

	c.api_url = getenv("NICVISOR_API") ? getenv("NICVISOR_API") : DEFAULT_API;
	c.events_url = getenv("NICVISOR_EVENTS") ? getenv("NICVISOR_EVENTS") : DEFAULT_EVENTS;
	c.tls.cert = getenv("NICVISOR_TLS_CERT");
	c.tls.key = getenv("NICVISOR_TLS_KEY");
	c.tls.ca[0] = getenv("NICVISOR_TLS_CA");
	/* '+': stop at the command word; its options are parsed after it. */
	while ((o = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (o) {
		case 'a':
			c.api_url = optarg;
			break;
		case 'e':
			c.events_url = optarg;
			break;
		case 'j':
			c.json = true;
			break;
		case 'c':
			c.tls.cert = optarg;
			break;
		case 'k':
			c.tls.key = optarg;
			break;
		case 'A':
			c.tls.ca[0] = optarg;
			break;
		case 'V':
			printf("nicvisorctl %s\n", NV_VERSION);
			return EXIT_OK;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	nv_log_init("nicvisorctl", NV_LOG_WARN);
	cmd = argv[optind];
	/* Parse the command's own options from argv[optind] on. */
	argc -= optind;
	argv += optind;
	optind = 0; /* glibc: 0 restarts getopt fully on the new argv */
	if (strcmp(cmd, "create") == 0)
		rc = cmd_create(&c, argc, argv);
	else if (strcmp(cmd, "start") == 0)
		rc = cmd_named(&c, argc, argv, cmd, NICVISOR__V1__REQUEST__OP_START_VM,
			       print_vm_result, "starting");
	else if (strcmp(cmd, "get") == 0)
		rc = cmd_named(&c, argc, argv, cmd, NICVISOR__V1__REQUEST__OP_GET_VM,
			       print_vm_result, NULL);
	else if (strcmp(cmd, "stop") == 0)
		rc = cmd_stop(&c, argc, argv);
	else if (strcmp(cmd, "delete") == 0)
		rc = cmd_delete(&c, argc, argv);
	else if (strcmp(cmd, "list") == 0)
		rc = cmd_list(&c, argc, argv, &list_vms);
	else if (strcmp(cmd, "hosts") == 0)
		rc = cmd_list(&c, argc, argv, &list_hosts);
	else if (strcmp(cmd, "console") == 0)
		rc = cmd_console(&c, argc, argv);
	else if (strcmp(cmd, "wait") == 0)
		rc = cmd_wait(&c, argc, argv);
	else if (strcmp(cmd, "events") == 0)
		rc = cmd_events(&c, argc, argv);
	else if (strcmp(cmd, "network") == 0)
		rc = cmd_network(&c, argc, argv);
	else if (strcmp(cmd, "nic") == 0)
		rc = cmd_nic(&c, argc, argv);
	else if (strcmp(cmd, "stats") == 0)
		rc = cmd_stats(&c, argc, argv);
	else if (strcmp(cmd, "ready") == 0)
		rc = cmd_ready(&c, argc, argv);
	else if (strcmp(cmd, "volume") == 0)
		rc = cmd_volume(&c, argc, argv);
	else if (strcmp(cmd, "disk") == 0)
		rc = cmd_disk(&c, argc, argv);
	else if (strcmp(cmd, "mirror") == 0)
		rc = cmd_mirror(&c, argc, argv);
	else if (strcmp(cmd, "top") == 0)
		rc = cmd_top(&c, argc, argv);
	else if (strcmp(cmd, "help") == 0) {
		usage(stdout);
		rc = EXIT_OK;
	} else
		rc = usage_error("unknown command '%s'", cmd);
	/* The sockets are not closed: exit releases them, and closing can
	 * deadlock in Debian 12's nng 1.5.2 (see nv_rpc_exit_watchdog()). */
	return rc;
}
