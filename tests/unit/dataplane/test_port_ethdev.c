/* SPDX-License-Identifier: MIT */
/*
 * Unit tests on a small EAL with virtual devices: which ethdev port
 * devargs designate, and what detaching one port of a device leaves
 * (port_ethdev.c is included, dp.c stubbed). net_ring0 and
 * net_ring1, probed by the EAL, are devices with two ports each (nvra and
 * nvrb, nvrp and nvrq), as a PCI device and its representors are on mlx5.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include <rte_eal.h>

#include "../../../dataplane/port_ethdev.c"

/* Stub of dp.c (xdp_steer.c is built without libbpf: its stubs). */
int dp_logtype;

static uint16_t
port_of(const char *name)
{
	uint16_t pid = RTE_MAX_ETHPORTS;

	assert_int_equal(rte_eth_dev_get_port_by_name(name, &pid), 0);
	return pid;
}

static bool
exists(const char *name)
{
	uint16_t pid;

	return rte_eth_dev_get_port_by_name(name, &pid) == 0;
}

static int
open_port(struct dp_port *port, const char *devargs, struct rte_mempool **pool, char *err)
{
	return dp_ethdev_open_arg(port, devargs, 1, pool, err, 256);
}

static void
close_port(struct dp_port *port, struct rte_mempool *pool)
{
	eth_close(port);
	rte_mempool_free(pool);
}

/* Frames sent on a net_ring port (nodeaction CREATE) come back on it. */
static void
assert_loops(uint16_t pid, struct rte_mempool *mp)
{
	struct rte_mbuf *tx[4], *rx[8];
	uint16_t n;

	for (n = 0; n < 4; n++) {
		tx[n] = rte_pktmbuf_alloc(mp);
		assert_non_null(tx[n]);
		assert_non_null(rte_pktmbuf_append(tx[n], 60));
	}
	assert_int_equal(rte_eth_tx_burst(pid, 0, tx, 4), 4);
	n = rte_eth_rx_burst(pid, 0, rx, 8);
	assert_int_equal(n, 4);
	rte_pktmbuf_free_bulk(rx, n);
}

static void
test_designated(void **state)
{
	uint16_t pids[MAX_NAMED];

	(void)state;
	assert_int_equal(designated_ports("net_ring0", "net_ring0", pids, MAX_NAMED), 2);
	assert_int_equal(pids[0], port_of("nvra"));
	assert_int_equal(pids[1], port_of("nvrb"));
	/* Extra PMD options do not change what the device designates. */
	assert_int_equal(
		designated_ports("net_ring0,nodeaction=x:0:CREATE", "net_ring0", pids, MAX_NAMED),
		2);
	/* net_ring has no representors. */
	assert_int_equal(
		designated_ports("net_ring0,representor=vf0", "net_ring0", pids, MAX_NAMED), 0);
	assert_int_equal(designated_ports("net_null42", "net_null42", pids, MAX_NAMED), 0);
	assert_true(designated_ports("no such=thing", "no such", pids, MAX_NAMED) < 0);
}

/* Detaching one port of a device keeps its other ports working; the last
 * one takes the device with it. */
static void
test_release_keeps_siblings(void **state)
{
	struct rte_eth_conf conf = { 0 };
	struct rte_mempool *mp;
	struct rte_device *dev;
	struct rte_eth_dev_info info;
	uint16_t ra = port_of("nvra"), rb = port_of("nvrb");
	char err[256];

	(void)state;
	mp = rte_pktmbuf_pool_create("ut_ring", 255, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
				     (int)rte_socket_id());
	assert_non_null(mp);
	assert_int_equal(rte_eth_dev_info_get(ra, &info), 0);
	dev = info.device;
	assert_int_equal(rte_eth_dev_configure(rb, 1, 1, &conf), 0);
	assert_int_equal(rte_eth_rx_queue_setup(rb, 0, 64, (unsigned int)rte_socket_id(), NULL, mp),
			 0);
	assert_int_equal(rte_eth_tx_queue_setup(rb, 0, 64, (unsigned int)rte_socket_id(), NULL), 0);
	assert_int_equal(rte_eth_dev_start(rb), 0);

	release_port(ra, false);
	assert_false(exists("nvra"));
	assert_true(rte_eth_dev_is_valid_port(rb));
	assert_int_equal(rte_eth_dev_info_get(rb, &info), 0);
	assert_ptr_equal(info.device, dev);
	assert_loops(rb, mp);
	/* Its devargs find the port left (nvrb), without a new probe. */
	assert_int_equal(
		find_port("net_ring0,nodeaction=nvrx:0:CREATE", "net_ring0", &ra, err, sizeof(err)),
		0);
	assert_int_equal(ra, rb);
	assert_false(exists("nvrx"));

	release_port(rb, true);
	assert_false(exists("nvrb"));
	/* Gone with its last port: the name probes a fresh device. */
	assert_int_equal(
		find_port("net_ring0,nodeaction=nvrc:0:CREATE", "net_ring0", &ra, err, sizeof(err)),
		0);
	assert_int_equal(ra, port_of("nvrc"));
	release_port(ra, false);
	assert_false(exists("nvrc"));
	rte_mempool_free(mp);
}

/* One switch port per ethdev port; what a failed attach probed goes. */
static void
test_open_claims(void **state)
{
	static struct dp_port a = { .id = 1, .name = "up-a" }, b = { .id = 2, .name = "up-b" };
	struct rte_mempool *pa = NULL, *pb = NULL;
	char err[256];

	(void)state;
	assert_int_equal(open_port(&a, "net_null0,no-rx=1", &pa, err), 0);
	assert_int_equal(open_port(&b, "net_null0,no-rx=1", &pb, err), -EEXIST);
	assert_non_null(strstr(err, "already switch port up-a"));
	assert_null(pb);
	assert_true(eth_link_up(&a));
	/* Two ports on one device: neither is taken, none is closed; the
	 * ports a refused probe made are released, the device removed. */
	assert_int_equal(open_port(&b, "net_ring1", &pb, err), -EINVAL);
	assert_non_null(strstr(err, "2 ethdev ports (nvrp, nvrq)"));
	assert_true(exists("nvrp") && exists("nvrq"));
	assert_int_equal(open_port(&b,
				   "net_ring9,nodeaction=nvr1:0:CREATE,nodeaction=nvr2:0:CREATE",
				   &pb, err),
			 -EINVAL);
	assert_non_null(strstr(err, "(nvr1, nvr2)"));
	assert_false(exists("nvr1"));
	assert_false(exists("nvr2"));
	assert_int_equal(open_port(&b, "net_ring9,nodeaction=nvr3:0:CREATE", &pb, err), 0);
	assert_true(eth_link_up(&b));
	close_port(&b, pb);
	assert_false(exists("nvr3"));
	pb = NULL;
	/* DPDK 22.11's probe would crash on it. */
	assert_int_equal(open_port(&b, "class=eth,mac=02:00:00:00:00:01", &pb, err), -EINVAL);
	assert_int_equal(open_port(&b, "net_null1,no-rx=1", &pb, err), 0);
	close_port(&a, pa);
	assert_false(exists("net_null0"));
	assert_true(eth_link_up(&b));
	/* Only a removed device probes again (a probed vdev would not). */
	assert_int_equal(open_port(&a, "net_null0,no-rx=1", &pa, err), 0);
	close_port(&a, pa);
	close_port(&b, pb);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_designated),
		cmocka_unit_test(test_release_keeps_siblings),
		cmocka_unit_test(test_open_claims),
	};
	char prefix[64], rundir[PATH_MAX];
	int rc;
	char *argv[] = { "test_port_ethdev",
			 "--no-huge",
			 "-m",
			 "128",
			 "--no-shconf",
			 "--no-pci",
			 "--iova-mode=va",
			 "-l",
			 "0",
			 "--log-level=warning",
			 "--no-telemetry",
			 "--vdev",
			 "net_ring0,nodeaction=nvra:0:CREATE,nodeaction=nvrb:0:CREATE",
			 "--vdev",
			 "net_ring1,nodeaction=nvrp:0:CREATE,nodeaction=nvrq:0:CREATE",
			 prefix,
			 NULL };

	snprintf(prefix, sizeof(prefix), "--file-prefix=ut_ethdev_%d", (int)getpid());
	if (rte_eal_init((int)RTE_DIM(argv) - 1, argv) < 0) {
		fprintf(stderr, "EAL init failed\n");
		return 1;
	}
	snprintf(rundir, sizeof(rundir), "%s", rte_eal_get_runtime_dir());
	rc = cmocka_run_group_tests(tests, NULL, NULL) | rte_eal_cleanup();
	rmdir(rundir); /* the EAL leaves it behind, empty */
	return rc;
}
