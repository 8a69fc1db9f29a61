/* SPDX-License-Identifier: MIT */
#include "print.h"

#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "nv_wire.h"

void
ctl_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p != 0; p++) {
		switch (*p) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}

static void
json_bytes(FILE *f, const uint8_t *d, size_t n)
{
	fputc('"', f);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = d[i];

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void
json_spec(FILE *f, const Nicvisor__V1__VmSpec *s)
{
	if (s == NULL) {
		fputs("null", f);
		return;
	}
	fputs("{\"name\":", f);
	ctl_json_string(f, s->name);
	fprintf(f, ",\"vcpus\":%u,\"memory_mib\":%" PRIu64 ",\"kernel\":", s->vcpus, s->memory_mib);
	ctl_json_string(f, s->kernel);
	fputs(",\"initrd\":", f);
	ctl_json_string(f, s->initrd);
	fputs(",\"cmdline\":", f);
	ctl_json_string(f, s->cmdline);
	fputs(",\"nics\":[", f);
	for (size_t i = 0; i < s->n_nics; i++) {
		if (i)
			fputc(',', f);
		fputs("{\"network\":", f);
		ctl_json_string(f, s->nics[i]->network);
		fputs(",\"mac\":", f);
		ctl_json_string(f, s->nics[i]->mac);
		/* Limits and sessions only where there are some. */
		if (s->nics[i]->from_vm_bits_per_second != 0)
			fprintf(f,
				",\"from_vm_bits_per_second\":%" PRIu64
				",\"from_vm_burst_bytes\":%" PRIu64,
				s->nics[i]->from_vm_bits_per_second,
				s->nics[i]->from_vm_burst_bytes);
		if (s->nics[i]->to_vm_bits_per_second != 0)
			fprintf(f,
				",\"to_vm_bits_per_second\":%" PRIu64
				",\"to_vm_burst_bytes\":%" PRIu64,
				s->nics[i]->to_vm_bits_per_second, s->nics[i]->to_vm_burst_bytes);
		for (size_t m = 0; m < s->nics[i]->n_mirrors; m++) {
			fputs(m ? "," : ",\"mirrors\":[", f);
			ctl_json_string(f, s->nics[i]->mirrors[m]->name);
			if (m + 1 == s->nics[i]->n_mirrors)
				fputc(']', f);
		}
		fputc('}', f);
	}
	fputs("],\"disks\":[", f);
	for (size_t i = 0; i < s->n_disks; i++) {
		if (i)
			fputc(',', f);
		fputs("{\"volume\":", f);
		ctl_json_string(f, s->disks[i]->volume);
		fprintf(f,
			",\"read_only\":%s,\"max_iops\":%" PRIu64
			",\"max_bytes_per_second\":%" PRIu64 "}",
			s->disks[i]->read_only ? "true" : "false", s->disks[i]->max_iops,
			s->disks[i]->max_bytes_per_second);
	}
	fputs("]}", f);
}

void
ctl_json_vm(FILE *f, const Nicvisor__V1__Vm *vm)
{
	fputs("{\"id\":", f);
	ctl_json_string(f, vm->id);
	fputs(",\"spec\":", f);
	json_spec(f, vm->spec);
	fputs(",\"state\":", f);
	ctl_json_string(f, nv_vm_state_name(vm->state));
	fputs(",\"host\":", f);
	ctl_json_string(f, vm->host);
	fputs(",\"reason\":", f);
	ctl_json_string(f, vm->reason);
	fputs(",\"last_exit\":", f);
	ctl_json_string(f, nv_exit_kind_name(vm->last_exit));
	fprintf(f,
		",\"created_unix_ms\":%" PRIu64 ",\"started_unix_ms\":%" PRIu64
		",\"running_unix_ms\":%" PRIu64 ",\"boots\":%u,\"console_bytes\":%" PRIu64
		",\"host_pid\":%u,\"vmm_setup_ns\":%" PRIu64 "}",
		vm->created_unix_ms, vm->started_unix_ms, vm->running_unix_ms, vm->boots,
		vm->console_bytes, vm->host_pid, vm->vmm_setup_ns);
}

void
ctl_json_host(FILE *f, const Nicvisor__V1__Host *h)
{
	const Nicvisor__V1__HostCapabilities *c = h->caps;

	fputs("{\"id\":", f);
	ctl_json_string(f, h->id);
	fprintf(f,
		",\"connected\":%s,\"last_seen_unix_ms\":%" PRIu64
		",\"vms\":%u,\"vcpus_used\":%u,\"memory_used_mib\":%" PRIu64 ",\"caps\":",
		h->connected ? "true" : "false", h->last_seen_unix_ms, h->vms, h->vcpus_used,
		h->memory_used_mib);
	if (c == NULL) {
		fputs("null}", f);
		return;
	}
	fputs("{\"arch\":", f);
	ctl_json_string(f, c->arch);
	fprintf(f,
		",\"cores\":%u,\"memory_mib\":%" PRIu64 ",\"memory_available_mib\":%" PRIu64
		",\"kvm_api_version\":%d,\"kvm_max_vcpus\":%u,\"kvm_caps\":[",
		c->cores, c->memory_mib, c->memory_available_mib, c->kvm_api_version,
		c->kvm_max_vcpus);
	for (size_t i = 0; i < c->n_kvm_caps; i++) {
		if (i)
			fputc(',', f);
		ctl_json_string(f, c->kvm_caps[i]);
	}
	fputs("],\"virt\":", f);
	ctl_json_string(f, c->virt);
	fputs(",\"shim_version\":", f);
	ctl_json_string(f, c->shim_version);
	fputs(",\"hostname\":", f);
	ctl_json_string(f, c->hostname);
	fputs("}}", f);
}

void
ctl_json_event(FILE *f, const char *topic, const Nicvisor__V1__Event *ev)
{
	fprintf(f, "{\"topic\":");
	ctl_json_string(f, topic);
	fprintf(f, ",\"seq\":%" PRIu64 ",\"unix_ms\":%" PRIu64, ev->seq, ev->unix_ms);
	switch (ev->kind_case) {
	case NICVISOR__V1__EVENT__KIND_VM_STATE: {
		const Nicvisor__V1__VmStateChanged *s = ev->vm_state;

		fputs(",\"vm_state\":{\"vm\":", f);
		ctl_json_string(f, s->vm);
		fputs(",\"name\":", f);
		ctl_json_string(f, s->name);
		fputs(",\"state\":", f);
		ctl_json_string(f, nv_vm_state_name(s->state));
		fputs(",\"previous\":", f);
		ctl_json_string(f, nv_vm_state_name(s->previous));
		fputs(",\"reason\":", f);
		ctl_json_string(f, s->reason);
		fputs(",\"host\":", f);
		ctl_json_string(f, s->host);
		fputs(",\"exit\":", f);
		ctl_json_string(f, nv_exit_kind_name(s->exit));
		fputc('}', f);
		break;
	}
	case NICVISOR__V1__EVENT__KIND_CONSOLE:
		fputs(",\"console\":{\"vm\":", f);
		ctl_json_string(f, ev->console->vm);
		fprintf(f, ",\"offset\":%" PRIu64 ",\"data\":", ev->console->offset);
		json_bytes(f, ev->console->data.data, ev->console->data.len);
		fputc('}', f);
		break;
	case NICVISOR__V1__EVENT__KIND_HOST:
		fputs(",\"host\":", f);
		if (ev->host->host != NULL)
			ctl_json_host(f, ev->host->host);
		else
			fputs("null", f);
		break;
	default:
		break;
	}
	fputs("}\n", f);
}

static const char *
fmt_time(uint64_t unix_ms, char *buf, size_t size)
{
	time_t t = (time_t)(unix_ms / 1000);
	struct tm tm;

	if (unix_ms == 0)
		return "-";
	gmtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

void
ctl_print_vm(FILE *f, const Nicvisor__V1__Vm *vm)
{
	const Nicvisor__V1__VmSpec *s = vm->spec;
	char t1[32], t2[32], t3[32];

	fprintf(f, "name:       %s\n", s ? s->name : "");
	fprintf(f, "id:         %s\n", vm->id);
	fprintf(f, "state:      %s\n", nv_vm_state_name(vm->state));
	fprintf(f, "reason:     %s\n", vm->reason);
	fprintf(f, "host:       %s\n", vm->host[0] ? vm->host : "-");
	if (s != NULL) {
		fprintf(f, "vcpus:      %u\n", s->vcpus);
		fprintf(f, "memory:     %" PRIu64 " MiB\n", s->memory_mib);
		fprintf(f, "kernel:     %s\n", s->kernel);
		fprintf(f, "initrd:     %s\n", s->initrd[0] ? s->initrd : "-");
		fprintf(f, "cmdline:    %s\n", s->cmdline);
		for (size_t i = 0; i < s->n_nics; i++) {
			fprintf(f, "nic%zu:       network %s, mac %s", i, s->nics[i]->network,
				s->nics[i]->mac);
			ctl_print_nic_limits(f, s->nics[i]);
			for (size_t m = 0; m < s->nics[i]->n_mirrors; m++)
				fprintf(f, ", mirror %s", s->nics[i]->mirrors[m]->name);
			fputc('\n', f);
		}
		for (size_t i = 0; i < s->n_disks; i++) {
			fprintf(f, "disk%zu:%s     volume %s%s", i, i < 10 ? " " : "",
				s->disks[i]->volume, s->disks[i]->read_only ? ", read-only" : "");
			ctl_print_disk_limits(f, s->disks[i]);
			fputc('\n', f);
		}
	}
	fprintf(f, "last exit:  %s\n", nv_exit_kind_name(vm->last_exit));
	fprintf(f, "boots:      %u\n", vm->boots);
	if (vm->host_pid != 0)
		fprintf(f, "host pid:   %u\n", vm->host_pid);
	if (vm->vmm_setup_ns != 0)
		fprintf(f, "vmm setup:  %.1f ms\n", (double)vm->vmm_setup_ns / 1e6);
	fprintf(f, "console:    %" PRIu64 " bytes\n", vm->console_bytes);
	fprintf(f, "created:    %s\n", fmt_time(vm->created_unix_ms, t1, sizeof(t1)));
	fprintf(f, "started:    %s\n", fmt_time(vm->started_unix_ms, t2, sizeof(t2)));
	fprintf(f, "running:    %s\n", fmt_time(vm->running_unix_ms, t3, sizeof(t3)));
}

void
ctl_print_vm_table_header(FILE *f)
{
	fprintf(f, "%-20s %-19s %-9s %-16s %5s %8s %5s  %s\n", "NAME", "ID", "STATE", "HOST",
		"VCPUS", "MEMORY", "BOOTS", "REASON");
}

void
ctl_print_vm_row(FILE *f, const Nicvisor__V1__Vm *vm)
{
	const Nicvisor__V1__VmSpec *s = vm->spec;

	fprintf(f, "%-20s %-19s %-9s %-16s %5u %7" PRIu64 "M %5u  %s\n", s ? s->name : "", vm->id,
		nv_vm_state_name(vm->state), vm->host[0] ? vm->host : "-", s ? s->vcpus : 0,
		s ? s->memory_mib : 0, vm->boots, vm->reason);
}

void
ctl_print_host_table_header(FILE *f)
{
	fprintf(f, "%-16s %-9s %-7s %-5s %5s %10s %10s %4s %6s %10s\n", "ID", "CONNECTED", "ARCH",
		"VIRT", "CORES", "MEMORY", "AVAILABLE", "VMS", "VCPUS", "MEM_USED");
}

void
ctl_print_host_row(FILE *f, const Nicvisor__V1__Host *h)
{
	const Nicvisor__V1__HostCapabilities *c = h->caps;

	fprintf(f, "%-16s %-9s %-7s %-5s %5u %9" PRIu64 "M %9" PRIu64 "M %4u %6u %9" PRIu64 "M\n",
		h->id, h->connected ? "yes" : "no", c ? c->arch : "-", c ? c->virt : "-",
		c ? c->cores : 0, c ? c->memory_mib : 0, c ? c->memory_available_mib : 0, h->vms,
		h->vcpus_used, h->memory_used_mib);
}

void
ctl_print_event(FILE *f, const char *topic, const Nicvisor__V1__Event *ev)
{
	char t[32];

	fprintf(f, "%s #%" PRIu64 " %s: ", fmt_time(ev->unix_ms, t, sizeof(t)), ev->seq, topic);
	switch (ev->kind_case) {
	case NICVISOR__V1__EVENT__KIND_VM_STATE: {
		const Nicvisor__V1__VmStateChanged *s = ev->vm_state;

		if (s->state == NICVISOR__V1__VM_STATE__VM_STATE_UNSPECIFIED)
			fprintf(f, "vm %s deleted\n", s->name);
		else
			fprintf(f, "vm %s %s -> %s on %s: %s\n", s->name,
				nv_vm_state_name(s->previous), nv_vm_state_name(s->state),
				s->host[0] ? s->host : "-", s->reason);
		break;
	}
	case NICVISOR__V1__EVENT__KIND_CONSOLE:
		fprintf(f, "console %zu bytes at %" PRIu64 "\n", ev->console->data.len,
			ev->console->offset);
		break;
	case NICVISOR__V1__EVENT__KIND_HOST:
		if (ev->host->host != NULL)
			fprintf(f, "host %s %s\n", ev->host->host->id,
				ev->host->host->connected ? "connected" : "disconnected");
		else
			fputs("host event\n", f);
		break;
	default:
		fputs("unknown event\n", f);
	}
}

void
ctl_json_network(FILE *f, const Nicvisor__V1__Network *n)
{
	fputs("{\"id\":", f);
	ctl_json_string(f, n->id);
	fputs(",\"name\":", f);
	ctl_json_string(f, n->name);
	fprintf(f, ",\"vlan\":%u,\"vni\":%u,\"remote_vteps\":[", n->vlan, n->vni);
	for (size_t i = 0; i < n->n_remote_vteps; i++) {
		if (i)
			fputc(',', f);
		ctl_json_string(f, n->remote_vteps[i]);
	}
	fprintf(f, "],\"created_unix_ms\":%" PRIu64 "}", n->created_unix_ms);
}

void
ctl_print_network(FILE *f, const Nicvisor__V1__Network *n)
{
	char t[32];

	fprintf(f, "name:       %s\n", n->name);
	fprintf(f, "id:         %s\n", n->id);
	if (n->vni != 0) {
		fprintf(f, "vni:        %u (VXLAN)\n", n->vni);
		fprintf(f, "vteps:     ");
		for (size_t i = 0; i < n->n_remote_vteps; i++)
			fprintf(f, " %s", n->remote_vteps[i]);
		fprintf(f, "%s\n", n->n_remote_vteps ? "" : " none (no flooding)");
	} else if (n->vlan != 0) {
		fprintf(f, "vlan:       %u\n", n->vlan);
	} else {
		fprintf(f, "vlan:       untagged\n");
	}
	fprintf(f, "created:    %s\n", fmt_time(n->created_unix_ms, t, sizeof(t)));
}

void
ctl_print_network_table_header(FILE *f)
{
	fprintf(f, "%-24s %-20s %-12s %s\n", "NAME", "ID", "VLAN/VNI", "CREATED");
}

void
ctl_print_network_row(FILE *f, const Nicvisor__V1__Network *n)
{
	char t[32], vlan[16];

	if (n->vni != 0)
		snprintf(vlan, sizeof(vlan), "vni:%u", n->vni);
	else if (n->vlan != 0)
		snprintf(vlan, sizeof(vlan), "%u", n->vlan);
	else
		snprintf(vlan, sizeof(vlan), "untagged");
	fprintf(f, "%-24s %-20s %-12s %s\n", n->name, n->id, vlan,
		fmt_time(n->created_unix_ms, t, sizeof(t)));
}

/* v in units of base: how many times it was divided (at most max). */
static int
scale(uint64_t v, double base, int max, double *d)
{
	int u = 0;

	*d = (double)v;
	while (*d >= base && u < max) {
		*d /= base;
		u++;
	}
	return u;
}

/* 100000000 -> "100Mbit/s", decimal units as rates go. */
static const char *
fmt_rate(uint64_t bps, char *buf, size_t size)
{
	static const char units[] = " kMGT";
	double d;
	int u = scale(bps, 1000, 4, &d);

	if (u == 0)
		snprintf(buf, size, "%" PRIu64 "bit/s", bps);
	else
		snprintf(buf, size, "%.4g%cbit/s", d, units[u]);
	return buf;
}

void
ctl_print_nic_limits(FILE *f, const Nicvisor__V1__NicSpec *n)
{
	char r[32];

	if (n->from_vm_bits_per_second != 0)
		fprintf(f, ", from the VM at most %s (burst %" PRIu64 " B)",
			fmt_rate(n->from_vm_bits_per_second, r, sizeof(r)), n->from_vm_burst_bytes);
	if (n->to_vm_bits_per_second != 0)
		fprintf(f, ", to the VM at most %s (burst %" PRIu64 " B)",
			fmt_rate(n->to_vm_bits_per_second, r, sizeof(r)), n->to_vm_burst_bytes);
}

static const char *
mirror_dir_name(Nicvisor__V1__MirrorDirection d)
{
	switch (d) {
	case NICVISOR__V1__MIRROR_DIRECTION__MIRROR_DIRECTION_FROM_VM:
		return "from_vm";
	case NICVISOR__V1__MIRROR_DIRECTION__MIRROR_DIRECTION_TO_VM:
		return "to_vm";
	case NICVISOR__V1__MIRROR_DIRECTION__MIRROR_DIRECTION_BOTH:
		return "both";
	default:
		return "unspecified";
	}
}

void
ctl_json_mirror(FILE *f, const Nicvisor__V1__Mirror *m)
{
	fputs("{\"name\":", f);
	ctl_json_string(f, m->name);
	fputs(",\"vm\":", f);
	ctl_json_string(f, m->vm);
	fprintf(f, ",\"nic\":%u,\"direction\":\"%s\",\"destination\":", m->nic,
		mirror_dir_name(m->direction));
	ctl_json_string(f, m->destination);
	fprintf(f,
		",\"active\":%s,\"packets\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"drops\":%" PRIu64
		",\"no_buffer\":%" PRIu64 "}",
		m->active ? "true" : "false", m->packets, m->bytes, m->drops, m->no_buffer);
}

void
ctl_print_mirror_table_header(FILE *f)
{
	fprintf(f, "%-20s %-26s %-8s %-26s %-6s %12s %14s %10s\n", "NAME", "SOURCE", "DIR",
		"DESTINATION", "ACTIVE", "PACKETS", "BYTES", "DROPS");
}

void
ctl_print_mirror_row(FILE *f, const Nicvisor__V1__Mirror *m)
{
	char src[64];

	snprintf(src, sizeof(src), "%s/nic%u", m->vm, m->nic);
	fprintf(f, "%-20s %-26s %-8s %-26s %-6s %12" PRIu64 " %14" PRIu64 " %10" PRIu64 "\n",
		m->name, src, mirror_dir_name(m->direction), m->destination,
		m->active ? "yes" : "no", m->packets, m->bytes, m->drops + m->no_buffer);
}

/* Entry i of a JSON map of counters (drops, errors by reason). */
static void
json_counter(FILE *f, size_t i, const char *key, uint64_t value)
{
	if (i)
		fputc(',', f);
	ctl_json_string(f, key);
	fprintf(f, ":%" PRIu64, value);
}

/* A counter by reason in a table row: "key=value" after the `shown` ones
 * before it, nothing if it is 0. Returns how many are shown now. */
static size_t
row_counter(FILE *f, size_t shown, const char *key, uint64_t value)
{
	if (value == 0)
		return shown;
	fprintf(f, "%s%s=%" PRIu64, shown ? " " : "", key, value);
	return shown + 1;
}

void
ctl_json_port_stats(FILE *f, const Nicvisor__V1__PortStats *p)
{
	fputs("{\"port\":", f);
	ctl_json_string(f, p->port);
	fputs(",\"kind\":", f);
	ctl_json_string(f, p->kind);
	fputs(",\"network\":", f);
	ctl_json_string(f, p->network);
	fputs(",\"mac\":", f);
	ctl_json_string(f, p->mac);
	fprintf(f,
		",\"link_up\":%s,\"rx_packets\":%" PRIu64 ",\"rx_bytes\":%" PRIu64
		",\"tx_packets\":%" PRIu64 ",\"tx_bytes\":%" PRIu64 ",\"rx_l2_only\":%" PRIu64
		",\"vxlan_encap\":%" PRIu64 ",\"vxlan_decap\":%" PRIu64
		",\"rx_limit_bits_per_second\":%" PRIu64 ",\"rx_limit_burst_bytes\":%" PRIu64
		",\"tx_limit_bits_per_second\":%" PRIu64 ",\"tx_limit_burst_bytes\":%" PRIu64
		",\"drops\":{",
		p->link_up ? "true" : "false", p->rx_packets, p->rx_bytes, p->tx_packets,
		p->tx_bytes, p->rx_l2_only, p->vxlan_encap, p->vxlan_decap,
		p->rx_limit_bits_per_second, p->rx_limit_burst_bytes, p->tx_limit_bits_per_second,
		p->tx_limit_burst_bytes);
	for (size_t i = 0; i < p->n_drops; i++)
		json_counter(f, i, p->drops[i]->key, p->drops[i]->value);
	fputs("}}", f);
}

void
ctl_print_port_table_header(FILE *f)
{
	fprintf(f, "%-26s %-6s %-16s %-17s %-4s %12s %14s %12s %14s  %s\n", "PORT", "KIND",
		"NETWORK", "MAC", "LINK", "RX_PACKETS", "RX_BYTES", "TX_PACKETS", "TX_BYTES",
		"DROPS");
}

void
ctl_print_port_row(FILE *f, const Nicvisor__V1__PortStats *p)
{
	size_t shown = 0;
	char r[32];

	fprintf(f,
		"%-26s %-6s %-16s %-17s %-4s %12" PRIu64 " %14" PRIu64 " %12" PRIu64 " %14" PRIu64
		"  ",
		p->port, p->kind, p->network[0] ? p->network : "-", p->mac[0] ? p->mac : "-",
		p->link_up ? "up" : "down", p->rx_packets, p->rx_bytes, p->tx_packets, p->tx_bytes);
	/* Uplinks: the overlay's counters, before the drops. */
	if (p->vxlan_encap != 0 || p->vxlan_decap != 0) {
		fprintf(f, "vxlan_encap=%" PRIu64 " vxlan_decap=%" PRIu64, p->vxlan_encap,
			p->vxlan_decap);
		shown++;
	}
	/* Reasons that never happened are in --json only. */
	for (size_t i = 0; i < p->n_drops; i++)
		shown = row_counter(f, shown, p->drops[i]->key, p->drops[i]->value);
	if (shown == 0)
		fputc('-', f);
	if (p->rx_limit_bits_per_second != 0)
		fprintf(f, " (rx limit %s)", fmt_rate(p->rx_limit_bits_per_second, r, sizeof(r)));
	if (p->tx_limit_bits_per_second != 0)
		fprintf(f, " (tx limit %s)", fmt_rate(p->tx_limit_bits_per_second, r, sizeof(r)));
	fputc('\n', f);
}

static const char *
backend_name(Nicvisor__V1__VolumeBackend b)
{
	switch (b) {
	case NICVISOR__V1__VOLUME_BACKEND__VOLUME_BACKEND_FILE:
		return "file";
	case NICVISOR__V1__VOLUME_BACKEND__VOLUME_BACKEND_NBD:
		return "nbd";
	default:
		return "unknown";
	}
}

/* 1536 -> "1.5K", binary units. */
static const char *
fmt_bytes(uint64_t v, char *buf, size_t size)
{
	static const char units[] = "BKMGTPE";
	double d;
	int u = scale(v, 1024, 6, &d);

	if (u == 0)
		snprintf(buf, size, "%" PRIu64 "B", v);
	else
		snprintf(buf, size, "%.*f%c", d < 10 ? 1 : 0, d, units[u]);
	return buf;
}

void
ctl_json_volume(FILE *f, const Nicvisor__V1__Volume *v)
{
	fputs("{\"id\":", f);
	ctl_json_string(f, v->id);
	fputs(",\"name\":", f);
	ctl_json_string(f, v->name);
	fprintf(f, ",\"size_bytes\":%" PRIu64 ",\"allocated_bytes\":%" PRIu64 ",\"backend\":",
		v->size_bytes, v->allocated_bytes);
	ctl_json_string(f, backend_name(v->backend));
	fputs(",\"nbd_url\":", f);
	ctl_json_string(f, v->nbd_url);
	fputs(",\"path\":", f);
	ctl_json_string(f, v->path);
	fprintf(f, ",\"created_unix_ms\":%" PRIu64 ",\"attachments\":[", v->created_unix_ms);
	for (size_t i = 0; i < v->n_attachments; i++) {
		const Nicvisor__V1__VolumeAttachment *at = v->attachments[i];

		if (i)
			fputc(',', f);
		fputs("{\"vm\":", f);
		ctl_json_string(f, at->vm);
		fputs(",\"vm_name\":", f);
		ctl_json_string(f, at->vm_name);
		fprintf(f, ",\"index\":%u,\"read_only\":%s}", at->index,
			at->read_only ? "true" : "false");
	}
	fputs("]}", f);
}

void
ctl_print_volume(FILE *f, const Nicvisor__V1__Volume *v)
{
	char t[32], b1[16], b2[16];

	fprintf(f, "name:       %s\n", v->name);
	fprintf(f, "id:         %s\n", v->id);
	fprintf(f, "size:       %s (%" PRIu64 " bytes)\n", fmt_bytes(v->size_bytes, b1, sizeof(b1)),
		v->size_bytes);
	if (v->backend != NICVISOR__V1__VOLUME_BACKEND__VOLUME_BACKEND_NBD)
		fprintf(f, "allocated:  %s (%" PRIu64 " bytes)\n",
			fmt_bytes(v->allocated_bytes, b2, sizeof(b2)), v->allocated_bytes);
	fprintf(f, "backend:    %s\n", backend_name(v->backend));
	if (v->nbd_url[0] != 0)
		fprintf(f, "nbd url:    %s\n", v->nbd_url);
	if (v->path[0] != 0)
		fprintf(f, "path:       %s\n", v->path);
	fprintf(f, "created:    %s\n", fmt_time(v->created_unix_ms, t, sizeof(t)));
	for (size_t i = 0; i < v->n_attachments; i++)
		fprintf(f, "attached:   vm %s (%s) disk%u%s\n", v->attachments[i]->vm_name,
			v->attachments[i]->vm, v->attachments[i]->index,
			v->attachments[i]->read_only ? ", read-only" : "");
}

void
ctl_print_volume_table_header(FILE *f)
{
	fprintf(f, "%-24s %-20s %-5s %9s %9s %-8s %s\n", "NAME", "ID", "KIND", "SIZE", "ALLOC",
		"VMS", "CREATED");
}

void
ctl_print_volume_row(FILE *f, const Nicvisor__V1__Volume *v)
{
	char t[32], b1[16], b2[16], vms[16];

	snprintf(vms, sizeof(vms), "%zu", v->n_attachments);
	/* The DPU cannot know what a remote export holds. */
	if (v->backend == NICVISOR__V1__VOLUME_BACKEND__VOLUME_BACKEND_NBD)
		snprintf(b2, sizeof(b2), "-");
	else
		fmt_bytes(v->allocated_bytes, b2, sizeof(b2));
	fprintf(f, "%-24s %-20s %-5s %9s %9s %-8s %s\n", v->name, v->id, backend_name(v->backend),
		fmt_bytes(v->size_bytes, b1, sizeof(b1)), b2, vms,
		fmt_time(v->created_unix_ms, t, sizeof(t)));
}

void
ctl_print_disk_limits(FILE *f, const Nicvisor__V1__DiskSpec *d)
{
	if (d->max_iops != 0)
		fprintf(f, ", at most %" PRIu64 " requests/s", d->max_iops);
	if (d->max_bytes_per_second != 0)
		fprintf(f, ", at most %" PRIu64 " bytes/s", d->max_bytes_per_second);
}

void
ctl_json_disk_stats(FILE *f, const Nicvisor__V1__DiskStats *d)
{
	fputs("{\"disk\":", f);
	ctl_json_string(f, d->disk);
	fputs(",\"volume\":", f);
	ctl_json_string(f, d->volume);
	fprintf(f,
		",\"served\":%s,\"connected\":%s,\"read_only\":%s,\"read_ops\":%" PRIu64
		",\"read_bytes\":%" PRIu64 ",\"write_ops\":%" PRIu64 ",\"write_bytes\":%" PRIu64
		",\"flush_ops\":%" PRIu64 ",\"discard_ops\":%" PRIu64 ",\"throttled\":%" PRIu64
		",\"max_iops\":%" PRIu64 ",\"max_bytes_per_second\":%" PRIu64 ",\"errors\":{",
		d->served ? "true" : "false", d->connected ? "true" : "false",
		d->read_only ? "true" : "false", d->read_ops, d->read_bytes, d->write_ops,
		d->write_bytes, d->flush_ops, d->discard_ops, d->throttled, d->max_iops,
		d->max_bytes_per_second);
	for (size_t i = 0; i < d->n_errors; i++)
		json_counter(f, i, d->errors[i]->key, d->errors[i]->value);
	fputs("}}", f);
}

void
ctl_print_disk_table_header(FILE *f)
{
	fprintf(f, "%-26s %-16s %-4s %-3s %10s %12s %10s %12s %8s %9s  %s\n", "DISK", "VOLUME",
		"CONN", "RO", "READS", "READ_BYTES", "WRITES", "WRITE_BYTES", "FLUSHES",
		"THROTTLED", "ERRORS");
}

void
ctl_print_disk_row(FILE *f, const Nicvisor__V1__DiskStats *d)
{
	size_t shown = 0;

	fprintf(f,
		"%-26s %-16s %-4s %-3s %10" PRIu64 " %12" PRIu64 " %10" PRIu64 " %12" PRIu64
		" %8" PRIu64 " %9" PRIu64 "  ",
		d->disk, d->volume,
		!d->served     ? "-"
		: d->connected ? "yes"
			       : "no",
		d->read_only ? "ro" : "rw", d->read_ops, d->read_bytes, d->write_ops,
		d->write_bytes, d->flush_ops, d->throttled);
	for (size_t i = 0; i < d->n_errors; i++)
		shown = row_counter(f, shown, d->errors[i]->key, d->errors[i]->value);
	if (shown == 0)
		fputc('-', f);
	fputc('\n', f);
}

void
ctl_print_item(FILE *f, const ProtobufCMessage *m, bool json)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const void *item = m; /* each message begins with its ProtobufCMessage */

	if (d == &nicvisor__v1__vm__descriptor)
		json ? ctl_json_vm(f, item) : ctl_print_vm_row(f, item);
	else if (d == &nicvisor__v1__host__descriptor)
		json ? ctl_json_host(f, item) : ctl_print_host_row(f, item);
	else if (d == &nicvisor__v1__network__descriptor)
		json ? ctl_json_network(f, item) : ctl_print_network_row(f, item);
	else if (d == &nicvisor__v1__volume__descriptor)
		json ? ctl_json_volume(f, item) : ctl_print_volume_row(f, item);
	else if (d == &nicvisor__v1__mirror__descriptor)
		json ? ctl_json_mirror(f, item) : ctl_print_mirror_row(f, item);
	else if (d == &nicvisor__v1__port_stats__descriptor)
		json ? ctl_json_port_stats(f, item) : ctl_print_port_row(f, item);
	else if (d == &nicvisor__v1__disk_stats__descriptor)
		json ? ctl_json_disk_stats(f, item) : ctl_print_disk_row(f, item);
}
