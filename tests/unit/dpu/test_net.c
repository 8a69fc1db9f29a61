/* SPDX-License-Identifier: MIT */
/*
 * dpu/net_fake.c and net_open.c: the fake dataplane keeps the contract of
 * dp.h (duplicates, unknown networks, networks in use, counters), and the
 * options of nicvisor-dpu choose the dataplane: uplinks, hugepages, off.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "net.h"
#include "nv_log.h"

static const uint8_t mac[6] = { 0x52, 0x54, 0, 0, 0, 1 };

static void
test_fake_contract(void **state)
{
	struct dpu_net *n;
	struct dp_port_stats st[4];
	char err[DPU_NET_ERR_MAX], path[128], network[64];
	unsigned int qp;
	size_t nets, vports, uplinks;

	(void)state;
	assert_int_equal(dpu_net_fake_open("/run/x/vhost", &n), 0);
	assert_string_equal(n->ops->name, "fake");
	assert_int_equal(n->ops->network_add(n, "blue", 10, err, sizeof(err)), 0);
	assert_int_equal(n->ops->network_add(n, "blue", 10, err, sizeof(err)), -EEXIST);
	assert_int_equal(n->ops->vhost_port_add(n, "p1", "red", mac, 1, path, sizeof(path), err,
						sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "red"));
	assert_int_equal(n->ops->vhost_port_add(n, "p1", "blue", mac, 2, path, sizeof(path), err,
						sizeof(err)),
			 0);
	assert_string_equal(path, "/run/x/vhost/p1.sock");
	assert_int_equal(n->ops->vhost_port_add(n, "p1", "blue", mac, 2, path, sizeof(path), err,
						sizeof(err)),
			 -EEXIST);
	/* A path that does not fit is an error, not a truncation. */
	assert_int_equal(
		n->ops->vhost_port_add(n, "p2", "blue", mac, 2, path, 10, err, sizeof(err)),
		-ENAMETOOLONG);
	assert_int_equal(n->ops->network_del(n, "blue", err, sizeof(err)), -EBUSY);
	assert_int_equal(n->ops->uplink_add(n, "up0", "net_null0", err, sizeof(err)), 0);
	dpu_net_fake_counts(n, &nets, &vports, &uplinks);
	assert_int_equal(nets, 1);
	assert_int_equal(vports, 1);
	assert_int_equal(uplinks, 1);
	assert_true(dpu_net_fake_port(n, "p1", network, sizeof(network), &qp));
	assert_string_equal(network, "blue");
	assert_int_equal(qp, 2);

	assert_int_equal(dpu_net_fake_set_counters(n, "p1", 5, 6, "queue_full", 7), 0);
	assert_int_equal(dpu_net_fake_set_counters(n, "nope", 5, 6, NULL, 0), -ENOENT);
	assert_int_equal(n->ops->port_stats(n, "p1", st, 1), 1);
	assert_string_equal(st[0].kind, "vhost");
	assert_memory_equal(st[0].mac, mac, 6);
	assert_int_equal(st[0].rx_packets, 5);
	assert_int_equal(st[0].tx_packets, 6);
	assert_int_equal(st[0].ndrops, 1);
	assert_string_equal(st[0].drops[0].reason, "queue_full");
	assert_int_equal(n->ops->port_stats(n, NULL, st, 4), 2);
	assert_int_equal(n->ops->port_stats(n, NULL, st, 1), 1);
	assert_int_equal(n->ops->port_stats(n, "nope", st, 1), -ENOENT);

	/* Injected failures: once, after the given number of calls. */
	dpu_net_fake_fail(n, "port_del", 1, -EIO);
	assert_int_equal(n->ops->port_del(n, "up0", err, sizeof(err)), 0);
	assert_int_equal(n->ops->port_del(n, "p1", err, sizeof(err)), -EIO);
	assert_int_equal(n->ops->port_del(n, "p1", err, sizeof(err)), 0);
	assert_int_equal(n->ops->port_del(n, "p1", err, sizeof(err)), -ENOENT);
	assert_int_equal(n->ops->network_del(n, "blue", err, sizeof(err)), 0);
	assert_int_equal(n->ops->network_del(n, "blue", err, sizeof(err)), -ENOENT);
	dpu_net_close(n);
	dpu_net_close(NULL);
}

static void
test_uplink_option(void **state)
{
	struct dpu_net_opts o = { 0 };
	char err[256];

	(void)state;
	assert_int_equal(
		dpu_net_opts_add_uplink(&o, "up0=net_af_packet0,iface=veth0", err, sizeof(err)), 0);
	assert_int_equal(o.nuplinks, 1);
	assert_string_equal(o.uplinks[0].name, "up0");
	assert_string_equal(o.uplinks[0].devargs, "net_af_packet0,iface=veth0");
	/* devargs may hold '=' themselves. */
	assert_int_equal(dpu_net_opts_add_uplink(&o, "up1=net_tap0,iface=t=1", err, sizeof(err)),
			 0);
	assert_string_equal(o.uplinks[1].devargs, "net_tap0,iface=t=1");
	assert_int_equal(dpu_net_opts_add_uplink(&o, "up0=net_null0", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "twice"));
	assert_int_equal(dpu_net_opts_add_uplink(&o, "up2", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "NAME=DEVARGS"));
	assert_int_equal(dpu_net_opts_add_uplink(&o, "=net_null0", err, sizeof(err)), -EINVAL);
	assert_int_equal(dpu_net_opts_add_uplink(&o, "up2=", err, sizeof(err)), -EINVAL);
	assert_int_equal(dpu_net_opts_add_uplink(&o, "vm-x=net_null0", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "vm-"));
	assert_int_equal(dpu_net_opts_add_uplink(&o, "Up=net_null0", err, sizeof(err)), -EINVAL);
	for (int i = 2; i < DPU_NET_MAX_UPLINKS; i++) {
		char arg[32];

		snprintf(arg, sizeof(arg), "u%d=net_null%d", i, i);
		assert_int_equal(dpu_net_opts_add_uplink(&o, arg, err, sizeof(err)), 0);
	}
	assert_int_equal(dpu_net_opts_add_uplink(&o, "last=net_null99", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "at most"));
}

static void
test_host_port_option(void **state)
{
	struct dpu_net_opts o = { 0 };
	char err[256], arg[700];

	(void)state;
	assert_int_equal(
		dpu_net_opts_add_host_port(&o, "hpf0=0000:03:00.0,representor=[65535]@tenant-a",
					   err, sizeof(err)),
		0);
	assert_int_equal(o.nhost_ports, 1);
	assert_string_equal(o.host_ports[0].name, "hpf0");
	assert_string_equal(o.host_ports[0].devargs, "0000:03:00.0,representor=[65535]");
	assert_string_equal(o.host_ports[0].network, "tenant-a");
	/* The network follows the last '@': devargs may hold one. */
	assert_int_equal(dpu_net_opts_add_host_port(&o, "m0=net_memif0,socket=/r/a@b.sock@blue",
						    err, sizeof(err)),
			 0);
	assert_string_equal(o.host_ports[1].devargs, "net_memif0,socket=/r/a@b.sock");
	assert_string_equal(o.host_ports[1].network, "blue");
	/* One namespace with the uplinks, both ways. */
	assert_int_equal(dpu_net_opts_add_uplink(&o, "up0=net_null0", err, sizeof(err)), 0);
	assert_int_equal(dpu_net_opts_add_host_port(&o, "up0=net_null1@blue", err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "twice"));
	assert_int_equal(dpu_net_opts_add_uplink(&o, "m0=net_null2", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "twice"));
	static const char *const bad[] = {
		"hp",                                /* no '=' */
		"hp=net_null0",                      /* no network */
		"hp=net_null0@",                     /* empty network */
		"hp=@blue",                          /* empty devargs */
		"=net_null0@blue",                   /* empty name */
		"vm-1=net_null0@blue",               /* a VM port's name */
		"hp=net_null0@Blue",                 /* not a network name */
		"hp=net_null0@net-0123456789abcdef", /* a network id, not a name */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		assert_int_equal(dpu_net_opts_add_host_port(&o, bad[i], err, sizeof(err)), -EINVAL);
		assert_true(err[0] != 0);
	}
	assert_int_equal(dpu_net_opts_add_host_port(&o, "hp", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "NAME=DEVARGS@NETWORK"));
	/* devargs longer than the port keeps */
	snprintf(arg, sizeof(arg), "long=net_null0,x=%0*d@blue", 600, 0);
	assert_int_equal(dpu_net_opts_add_host_port(&o, arg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "longer"));
	assert_int_equal(o.nhost_ports, 2);
	for (int i = 2; i < DPU_NET_MAX_HOST_PORTS; i++) {
		snprintf(arg, sizeof(arg), "h%d=net_null%d@blue", i, i);
		assert_int_equal(dpu_net_opts_add_host_port(&o, arg, err, sizeof(err)), 0);
	}
	assert_int_equal(dpu_net_opts_add_host_port(&o, "last=net_null99@blue", err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "at most"));
}

static void
test_vtep_option(void **state)
{
	struct dpu_net_opts o = { 0 };
	char err[256];

	(void)state;
	assert_int_equal(dpu_net_opts_set_vtep(&o, "192.0.2.1", err, sizeof(err)), 0);
	assert_int_equal(o.vtep_ip, htonl(0xc0000201));
	assert_int_equal(o.vtep_port, 0);
	assert_int_equal(dpu_net_opts_set_vtep(&o, "192.0.2.7:8472", err, sizeof(err)), 0);
	assert_int_equal(o.vtep_ip, htonl(0xc0000207));
	assert_int_equal(o.vtep_port, 8472);
	assert_int_equal(dpu_net_opts_set_vtep(&o, "192.0.2.7:0", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "1..65535"));
	assert_int_equal(dpu_net_opts_set_vtep(&o, "192.0.2.7:65536", err, sizeof(err)), -EINVAL);
	assert_int_equal(dpu_net_opts_set_vtep(&o, "192.0.2.7:", err, sizeof(err)), -EINVAL);
	assert_int_equal(dpu_net_opts_set_vtep(&o, "192.0.2.7:1x", err, sizeof(err)), -EINVAL);
	assert_int_equal(dpu_net_opts_set_vtep(&o, "224.0.0.1", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "unicast"));
	assert_int_equal(dpu_net_opts_set_vtep(&o, "host.example", err, sizeof(err)), -EINVAL);
	assert_int_equal(dpu_net_opts_set_vtep(&o, "0.0.0.0", err, sizeof(err)), -EINVAL);
	assert_int_equal(dpu_net_opts_set_vtep(&o, "1234567890123456789:1", err, sizeof(err)),
			 -EINVAL);
}

static void
write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void
test_hugepages_detection(void **state)
{
	char dir[] = "/tmp/nv-net-XXXXXX", meminfo[64], mounts[64];

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(meminfo, sizeof(meminfo), "%s/meminfo", dir);
	snprintf(mounts, sizeof(mounts), "%s/mounts", dir);
	write_text(meminfo, "MemTotal: 100 kB\nHugePages_Total:      64\nHugePages_Free:       "
			    "32\nHugepagesize:    2048 kB\n");
	write_text(mounts, "proc /proc proc rw 0 0\nhugetlbfs /dev/hugepages hugetlbfs rw 0 0\n");
	assert_true(dpu_net_hugepages_usable(meminfo, mounts));
	/* None free. */
	write_text(meminfo, "HugePages_Total:      64\nHugePages_Free:        0\n");
	assert_false(dpu_net_hugepages_usable(meminfo, mounts));
	/* Free, but nothing mounted to map them from. */
	write_text(meminfo, "HugePages_Free:        8\n");
	write_text(mounts, "proc /proc proc rw 0 0\n");
	assert_false(dpu_net_hugepages_usable(meminfo, mounts));
	assert_false(dpu_net_hugepages_usable("/nonexistent", mounts));
	unlink(meminfo);
	unlink(mounts);
	rmdir(dir);
}

static void
test_open_modes(void **state)
{
	struct dpu_net_opts o = { .vhost_dir = "/tmp/vh", .state_dir = "/tmp" };
	const char *why;
	struct dpu_net *n;
	char err[256];
	size_t nets, vports, uplinks;

	(void)state;
	o.mode = DPU_DATAPLANE_OFF;
	assert_int_equal(dpu_net_open(&o, &n, &why), 0);
	assert_null(n);
	assert_non_null(strstr(why, "--dataplane off"));
	/* The fake gets the uplinks too. */
	o.mode = DPU_DATAPLANE_FAKE;
	assert_int_equal(dpu_net_opts_add_uplink(&o, "up0=net_null0", err, sizeof(err)), 0);
	assert_int_equal(dpu_net_open(&o, &n, &why), 0);
	assert_non_null(n);
	assert_null(why);
	dpu_net_fake_counts(n, &nets, &vports, &uplinks);
	assert_int_equal(uplinks, 1);
	dpu_net_close(n);
	/* Host ports are the DPDK dataplane's: the fake ignores them. */
	assert_int_equal(dpu_net_opts_add_host_port(&o, "hp0=net_null1@blue", err, sizeof(err)), 0);
	assert_int_equal(dpu_net_open(&o, &n, &why), 0);
	assert_int_equal(n->ops->network_add(n, "blue", 0, err, sizeof(err)), 0);
	dpu_net_fake_counts(n, &nets, &vports, &uplinks);
	assert_int_equal(nets, 1);
	assert_int_equal(vports + uplinks, 1);
	assert_int_equal(dpu_net_host_ports_check(n, &o), 0);
	dpu_net_close(n);
	/* This build of the unit tests has no DPDK: on is refused, the
	 * default is off. */
	o.mode = DPU_DATAPLANE_ON;
	assert_int_equal(dpu_net_open(&o, &n, &why), -ENOTSUP);
	assert_null(n);
	o.mode = DPU_DATAPLANE_DEFAULT;
	assert_int_equal(dpu_net_open(&o, &n, &why), 0);
	assert_null(n);
	assert_non_null(strstr(why, "without DPDK"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fake_contract),       cmocka_unit_test(test_uplink_option),
		cmocka_unit_test(test_host_port_option),    cmocka_unit_test(test_vtep_option),
		cmocka_unit_test(test_hugepages_detection), cmocka_unit_test(test_open_modes),
	};

	nv_log_init("test_net", NV_LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
