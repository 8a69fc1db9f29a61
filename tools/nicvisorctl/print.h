/* SPDX-License-Identifier: MIT */
/*
 * nicvisorctl output: tables and blocks for people, JSON for scripts
 * (snake_case field names as in the .proto files, enums by short name:
 * "running", "poweroff").
 */
#ifndef CTL_PRINT_H
#define CTL_PRINT_H

#include <stdbool.h>
#include <stdio.h>

#include "nicvisor/v1/api.pb-c.h"

void ctl_json_string(FILE *f, const char *s);
void ctl_json_vm(FILE *f, const Nicvisor__V1__Vm *vm);
void ctl_json_host(FILE *f, const Nicvisor__V1__Host *h);
void ctl_json_event(FILE *f, const char *topic, const Nicvisor__V1__Event *ev);
void ctl_json_network(FILE *f, const Nicvisor__V1__Network *n);
void ctl_json_port_stats(FILE *f, const Nicvisor__V1__PortStats *p);

void ctl_print_vm(FILE *f, const Nicvisor__V1__Vm *vm);
void ctl_print_vm_table_header(FILE *f);
void ctl_print_vm_row(FILE *f, const Nicvisor__V1__Vm *vm);
void ctl_print_host_table_header(FILE *f);
void ctl_print_host_row(FILE *f, const Nicvisor__V1__Host *h);
void ctl_print_event(FILE *f, const char *topic, const Nicvisor__V1__Event *ev);
void ctl_print_network(FILE *f, const Nicvisor__V1__Network *n);
void ctl_print_network_table_header(FILE *f);
void ctl_print_network_row(FILE *f, const Nicvisor__V1__Network *n);
void ctl_print_port_table_header(FILE *f);
void ctl_print_port_row(FILE *f, const Nicvisor__V1__PortStats *p);
void ctl_json_volume(FILE *f, const Nicvisor__V1__Volume *v);
void ctl_print_volume(FILE *f, const Nicvisor__V1__Volume *v);
void ctl_print_volume_table_header(FILE *f);
void ctl_print_volume_row(FILE *f, const Nicvisor__V1__Volume *v);
/* ", at most N requests/s, at most B bytes/s" for a limited disk, else nothing. */
void ctl_print_disk_limits(FILE *f, const Nicvisor__V1__DiskSpec *d);
/* ", from the VM at most R (burst B)" etc. for a limited NIC, else nothing. */
void ctl_print_nic_limits(FILE *f, const Nicvisor__V1__NicSpec *n);
void ctl_json_mirror(FILE *f, const Nicvisor__V1__Mirror *m);
void ctl_print_mirror_table_header(FILE *f);
void ctl_print_mirror_row(FILE *f, const Nicvisor__V1__Mirror *m);
void ctl_json_disk_stats(FILE *f, const Nicvisor__V1__DiskStats *d);
void ctl_print_disk_table_header(FILE *f);
void ctl_print_disk_row(FILE *f, const Nicvisor__V1__DiskStats *d);
/* A list's item (a Vm, Host, Network, Volume, Mirror, PortStats or
 * DiskStats): its JSON object or its table row. */
void ctl_print_item(FILE *f, const ProtobufCMessage *m, bool json);

#endif
