/* SPDX-License-Identifier: MIT */
/*
 * Ethdev ports, uplinks and access ports (dp.c tells them apart): any
 * ethdev by devargs ("net_af_packet0,iface=veth0", "net_tap0,iface=dp0",
 * "net_memif0,role=server,socket=...", or a PCI address with its options
 * for mlx5: "0000:03:00.0" for p0, "0000:03:00.0,representor=pf0vf0" for a
 * VF's representor).
 *
 * One switch port takes one ethdev port: the one DPDK's device iterator
 * (RTE_ETH_FOREACH_MATCHING_DEV) finds for the devargs, by representor=
 * on drivers with representors and by the device otherwise. When no port
 * matches yet, rte_dev_probe() attaches the device (or, for a device
 * already probed, mlx5 probes the new representors: several switch ports
 * share one PCI device); devargs that match several ports (a range,
 * representor=pf0vf[0-3], or a vdev with several ports as net_ring's
 * nodeactions) are refused, naming the ports. Detaching closes that
 * ethdev port only, and removes its device when it has no other port left.
 *
 * Each worker has its own tx queue when the device has enough; otherwise
 * workers share queues under a per-queue spinlock taken once per burst.
 * Rx queues (as many as workers, up to the device's maximum) are spread
 * over the workers by the snapshot.
 *
 * AF_XDP ("net_af_xdp0,iface=eth0,xdp_prog=.../uplink_steer.bpf.o"): with
 * our steering program the netdev keeps the machine's own traffic and the
 * uplink gets the VMs' and the overlay's (xdp_steer.c keeps its MAC map);
 * without xdp_prog the PMD's default program takes everything.
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <rte_dev.h>
#include <rte_ethdev.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_spinlock.h>

#include "dp_priv.h"

#define NB_RXD 1024
#define NB_TXD 1024

struct eth_port {
	struct dp_xdp_steer *steer; /* AF_XDP with the steering program */
	uint16_t pid;
	uint16_t ntxq;
	bool shared_tx;
	bool started;
	struct rte_mempool *pool;
	uint16_t txq_of_worker[DP_MAX_WORKERS];
	rte_spinlock_t txlock[DP_MAX_WORKERS];
};

/* Which switch port took each ethdev port (control thread, dp->lock). */
static const struct dp_port *owner[RTE_MAX_ETHPORTS];

/* Devargs designating several ports: the ones named in the error. */
#define MAX_NAMED 4

struct dp_ethdev_arg {
	const char *devargs;
	unsigned int workers;
	struct rte_mempool **pool; /* created here, handed back */
	char pool_name[RTE_MEMPOOL_NAMESIZE];
};

/* The value of key=value in devargs ("name,k=v,..."); -ENOENT if absent. */
static int
devarg(const char *devargs, const char *key, char *out, size_t outlen)
{
	size_t klen = strlen(key);
	const char *p = devargs;

	while ((p = strchr(p, ',')) != NULL) {
		p++;
		if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
			size_t n = strcspn(p + klen + 1, ",");

			if (n == 0 || n >= outlen)
				return -EINVAL;
			memcpy(out, p + klen + 1, n);
			out[n] = '\0';
			return 0;
		}
	}
	return -ENOENT;
}

static bool
has_devarg(const char *devargs, const char *key)
{
	char v[2];

	return devarg(devargs, key, v, sizeof(v)) != -ENOENT;
}

/*
 * The uplink's MTU, for VXLAN's too_big check. PMDs on a kernel netdev
 * (af_packet, af_xdp: iface=) send what the netdev's MTU allows, whatever
 * the ethdev says; others report their own.
 */
static uint16_t
uplink_mtu(uint16_t pid, const char *devargs)
{
	char iface[IF_NAMESIZE];
	struct ifreq ifr = { 0 };
	uint16_t mtu = RTE_ETHER_MTU;
	int fd;

	if (devarg(devargs, "iface", iface, sizeof(iface)) == 0) {
		fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (fd >= 0) {
			snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", iface);
			if (ioctl(fd, SIOCGIFMTU, &ifr) == 0 && ifr.ifr_mtu > 0)
				mtu = (uint16_t)RTE_MIN(ifr.ifr_mtu, UINT16_MAX);
			close(fd);
			return mtu;
		}
	}
	if (rte_eth_dev_get_mtu(pid, &mtu) != 0)
		mtu = RTE_ETHER_MTU;
	return mtu;
}

/*
 * A memif server's socket file outlives a process that was killed, and
 * net_memif then refuses to create it again (EPERM): after a crash the
 * port could not come back. A socket file nobody listens on is removed;
 * one in use is left for net_memif to report.
 */
static void
unlink_stale_memif(const char *devargs)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char role[16] = "", abstract[8] = "";
	struct stat st;
	int fd, rc;

	if (strncmp(devargs, "net_memif", 9) != 0 ||
	    devarg(devargs, "socket", sa.sun_path, sizeof(sa.sun_path)) != 0 ||
	    devarg(devargs, "role", role, sizeof(role)) != 0 || strcmp(role, "server") != 0 ||
	    devarg(devargs, "socket-abstract", abstract, sizeof(abstract)) != 0 ||
	    strcmp(abstract, "no") != 0)
		return;
	if (stat(sa.sun_path, &st) != 0 || !S_ISSOCK(st.st_mode))
		return;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	rc = connect(fd, (const struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	if (rc != 0 && errno == ECONNREFUSED && unlink(sa.sun_path) == 0)
		DP_LOG(INFO, "removed %s: a stale memif socket (nobody listens)\n", sa.sun_path);
}

static bool
is_representor(uint16_t pid)
{
	struct rte_eth_dev_info info;

	return rte_eth_dev_info_get(pid, &info) == 0 && info.dev_flags != NULL &&
	       (*info.dev_flags & RTE_ETH_DEV_REPRESENTOR) != 0;
}

/*
 * The ethdev ports devargs designate (the first max of them into pids):
 * their count, or a negative errno if DPDK cannot parse them. Without
 * representor=, representors are left out: DPDK 22.11 matches a bare
 * device name ("0000:03:00.0") to its representors too, and that is p0.
 * Buses the iterator does not know (auxiliary, for mlx5 SFs) fall back to
 * the ethdev named as the device.
 */
static int
designated_ports(const char *devargs, const char *devname, uint16_t *pids, unsigned int max)
{
	bool reps = has_devarg(devargs, "representor");
	struct rte_dev_iterator it;
	unsigned int n = 0;
	uint16_t pid;
	int rc;

	rc = rte_eth_iterator_init(&it, devargs);
	if (rc == -ENOTSUP) {
		if (rte_eth_dev_get_port_by_name(devname, &pid) != 0)
			return 0;
		pids[0] = pid;
		return 1;
	}
	if (rc < 0)
		return rc;
	/* The iterator cleans itself up at the end: run it to the end. */
	for (pid = rte_eth_iterator_next(&it); pid != RTE_MAX_ETHPORTS;
	     pid = rte_eth_iterator_next(&it)) {
		if (!reps && is_representor(pid))
			continue;
		if (n < max)
			pids[n] = pid;
		n++;
	}
	return (int)n;
}

/*
 * Stop (if started) and close ethdev port pid, then remove its device if
 * no other ethdev port of it is left: on mlx5 the PF's port and its
 * representors share one PCI device, and other switch ports (or ports the
 * EAL probed at start) may still use it.
 */
static void
release_port(uint16_t pid, bool started)
{
	struct rte_eth_dev_info info;
	struct rte_device *dev = NULL;
	unsigned int left = 0;
	uint16_t p;

	if (rte_eth_dev_info_get(pid, &info) == 0)
		dev = info.device;
	if (started)
		rte_eth_dev_stop(pid);
	rte_eth_dev_close(pid);
	owner[pid] = NULL;
	if (dev == NULL)
		return;
	/* Every valid port, owned ones (bonding, failsafe members) included. */
	for (p = 0; p < RTE_MAX_ETHPORTS; p++)
		if (rte_eth_dev_is_valid_port(p) && rte_eth_dev_info_get(p, &info) == 0 &&
		    info.device == dev)
			left++;
	if (left == 0)
		rte_dev_remove(dev);
}

/* The ports of "a, b, c" (at most n of them) for an error message. */
static void
port_names(const uint16_t *pids, unsigned int n, char *out, size_t outlen)
{
	char name[RTE_ETH_NAME_MAX_LEN];
	size_t len = 0;
	unsigned int i;

	out[0] = '\0';
	for (i = 0; i < n && len < outlen; i++) {
		if (rte_eth_dev_get_name_by_port(pids[i], name) != 0)
			snprintf(name, sizeof(name), "port %u", pids[i]);
		len += (size_t)snprintf(out + len, outlen - len, "%s%s", i ? ", " : "", name);
	}
}

/*
 * The ethdev port devargs designate, probing the device when none matches
 * yet, into *pid. On failure, ports this probe created are released again.
 */
static int
find_port(const char *devargs, const char *devname, uint16_t *pid, char *err, size_t errlen)
{
	uint16_t pids[MAX_NAMED], p;
	bool before[RTE_MAX_ETHPORTS];
	char names[MAX_NAMED * RTE_ETH_NAME_MAX_LEN];
	bool probed = false;
	int n, rc;

	n = designated_ports(devargs, devname, pids, MAX_NAMED);
	if (n < 0) {
		snprintf(err, errlen, "cannot parse devargs %s: %s", devargs, strerror(-n));
		return n;
	}
	if (n == 0) {
		for (p = 0; p < RTE_MAX_ETHPORTS; p++)
			before[p] = rte_eth_dev_is_valid_port(p);
		unlink_stale_memif(devargs);
		/* An existing device: 0 or -EEXIST; mlx5 probes it again for
		 * representors it has no port for yet. */
		rc = rte_dev_probe(devargs);
		probed = true;
		if (rc < 0 && rc != -EEXIST) {
			snprintf(
				err, errlen,
				"cannot attach %s: %s (wrong devargs, or its PMD is not installed)",
				devargs, strerror(-rc));
			return rc;
		}
		n = designated_ports(devargs, devname, pids, MAX_NAMED);
	}
	if (n <= 0) {
		snprintf(err, errlen, "%s attached but designates no ethdev port", devargs);
		rc = -ENODEV;
	} else if (n > 1) {
		port_names(pids, RTE_MIN((unsigned int)n, MAX_NAMED), names, sizeof(names));
		snprintf(err, errlen,
			 "%s designates %d ethdev ports (%s%s): a switch port takes one, name it "
			 "(e.g. representor=pf0vf0, not a range)",
			 devargs, n, names, n > MAX_NAMED ? ", ..." : "");
		rc = -EINVAL;
	} else {
		*pid = pids[0];
		return 0;
	}
	for (p = 0; probed && p < RTE_MAX_ETHPORTS; p++)
		if (!before[p] && rte_eth_dev_is_valid_port(p))
			release_port(p, false);
	return rc;
}

static int
eth_open(struct dp_port *port, const void *argp, char *err, size_t errlen)
{
	const struct dp_ethdev_arg *arg = argp;
	struct rte_eth_conf conf = { 0 };
	struct rte_eth_dev_info info;
	struct rte_eth_txconf txc;
	struct rte_ether_addr ea;
	char devname[RTE_DEV_NAME_MAX_LEN], name[RTE_ETH_NAME_MAX_LEN];
	uint16_t nrxq, ntxq, nb_rxd = NB_RXD, nb_txd = NB_TXD, q;
	struct eth_port *ep;
	unsigned int w, nmbufs;
	size_t len;
	int rc;

	/* DEVICE,key=value,...: DPDK 22.11 crashes on the bus=/class= syntax
	 * (rte_dev_probe on "class=eth,...", its iterator on "bus=..."). */
	len = strcspn(arg->devargs, ",");
	if (len == 0 || len >= sizeof(devname) || memchr(arg->devargs, '=', len) != NULL) {
		snprintf(err, errlen,
			 "devargs must start with a device name (DEVICE,key=value,...), not %.*s",
			 (int)RTE_MIN(len, 64), arg->devargs);
		return -EINVAL;
	}
	memcpy(devname, arg->devargs, len);
	devname[len] = '\0';
	ep = rte_zmalloc("dp_eport", sizeof(*ep), RTE_CACHE_LINE_SIZE);
	if (ep == NULL)
		return -ENOMEM;
	rc = find_port(arg->devargs, devname, &ep->pid, err, errlen);
	if (rc < 0)
		goto out_free;
	if (rte_eth_dev_get_name_by_port(ep->pid, name) != 0)
		snprintf(name, sizeof(name), "port %u", ep->pid);
	if (owner[ep->pid] != NULL) {
		snprintf(err, errlen, "%s (ethdev %s) is already switch port %s", arg->devargs,
			 name, owner[ep->pid]->name);
		rc = -EEXIST;
		goto out_free;
	}
	owner[ep->pid] = port;
	rc = rte_eth_dev_info_get(ep->pid, &info);
	if (rc != 0) {
		snprintf(err, errlen, "%s: cannot get device info", name);
		goto out_release;
	}
	nrxq = (uint16_t)RTE_MIN(arg->workers, info.max_rx_queues);
	ntxq = (uint16_t)RTE_MIN(arg->workers, info.max_tx_queues);
	if (nrxq == 0 || ntxq == 0) {
		snprintf(err, errlen, "%s has no rx or tx queue", name);
		rc = -ENODEV;
		goto out_release;
	}
	/* Several workers share an uplink's load: RSS spreads flows over the
	 * rx queues (one per worker) where the device can hash. */
	if (nrxq > 1) {
		conf.rx_adv_conf.rss_conf.rss_hf =
			(RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP) &
			info.flow_type_rss_offloads;
		if (conf.rx_adv_conf.rss_conf.rss_hf != 0)
			conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
	}
	rc = rte_eth_dev_configure(ep->pid, nrxq, ntxq, &conf);
	if (rc == 0)
		rc = rte_eth_dev_adjust_nb_rx_tx_desc(ep->pid, &nb_rxd, &nb_txd);
	if (rc != 0) {
		snprintf(err, errlen, "%s: cannot configure %u rx / %u tx queues: %s", name, nrxq,
			 ntxq, strerror(-rc));
		goto out_release;
	}
	nmbufs = nrxq * nb_rxd + ntxq * nb_txd + arg->workers * DP_BURST * 4 + 1024;
	ep->pool = rte_pktmbuf_pool_create(arg->pool_name, nmbufs, 256, 0,
					   RTE_MBUF_DEFAULT_BUF_SIZE, (int)rte_socket_id());
	if (ep->pool == NULL) {
		snprintf(err, errlen, "%s: no memory for %u mbufs", name, nmbufs);
		rc = -ENOMEM;
		goto out_release;
	}
	for (q = 0; q < nrxq; q++) {
		rc = rte_eth_rx_queue_setup(ep->pid, q, nb_rxd, (unsigned int)rte_socket_id(), NULL,
					    ep->pool);
		if (rc != 0) {
			snprintf(err, errlen, "%s: rx queue %u: %s", name, q, strerror(-rc));
			goto out_release;
		}
	}
	txc = info.default_txconf;
	for (q = 0; q < ntxq; q++) {
		rc = rte_eth_tx_queue_setup(ep->pid, q, nb_txd, (unsigned int)rte_socket_id(),
					    &txc);
		if (rc != 0) {
			snprintf(err, errlen, "%s: tx queue %u: %s", name, q, strerror(-rc));
			goto out_release;
		}
	}
	/* Frames for the VMs' MACs arrive only in promiscuous mode. */
	rc = rte_eth_promiscuous_enable(ep->pid);
	if (rc != 0 && rc != -ENOTSUP)
		DP_LOG(WARNING, "%s: promiscuous mode: %s\n", name, strerror(-rc));
	rc = rte_eth_dev_start(ep->pid);
	if (rc != 0) {
		snprintf(err, errlen, "%s: cannot start: %s", name, strerror(-rc));
		goto out_release;
	}
	ep->started = true;
	if (strncmp(devname, "net_af_xdp", 10) == 0 && strstr(arg->devargs, "xdp_prog=") != NULL) {
		char iface[IF_NAMESIZE];

		rc = devarg(arg->devargs, "iface", iface, sizeof(iface));
		if (rc != 0) {
			snprintf(err, errlen, "%s: no usable iface= in devargs", name);
			goto out_release;
		}
		rc = dp_xdp_steer_open(iface, &ep->steer, err, errlen);
		if (rc != 0)
			goto out_release;
	}
	ep->ntxq = ntxq;
	ep->shared_tx = ntxq < arg->workers;
	for (w = 0; w < DP_MAX_WORKERS; w++) {
		ep->txq_of_worker[w] = (uint16_t)(w % ntxq);
		rte_spinlock_init(&ep->txlock[w]);
	}
	port->priv = ep;
	port->n_rxq = nrxq;
	if (rte_eth_macaddr_get(ep->pid, &ea) == 0)
		memcpy(port->mac, ea.addr_bytes, 6);
	port->mtu = uplink_mtu(ep->pid, arg->devargs);
	atomic_store(&port->txok, 0); /* offloads are finished in software */
	*arg->pool = ep->pool;
	return 0;

out_release:
	release_port(ep->pid, ep->started);
	rte_mempool_free(ep->pool);
out_free:
	rte_free(ep);
	return rc;
}

static void
eth_close(struct dp_port *port)
{
	struct eth_port *ep = port->priv;

	if (ep == NULL)
		return;
	dp_xdp_steer_close(ep->steer);
	release_port(ep->pid, ep->started);
	/* The pool is released by the caller (it may still hold mbufs in
	 * flight elsewhere until every worker flushed). */
	rte_free(ep);
	port->priv = NULL;
}

static uint16_t
eth_rx(struct dp_port *port, unsigned int w, uint16_t q, struct rte_mbuf **pkts, uint16_t n)
{
	struct eth_port *ep = port->priv;

	(void)w;
	return rte_eth_rx_burst(ep->pid, q, pkts, n);
}

static uint16_t
eth_tx(struct dp_port *port, unsigned int w, struct rte_mbuf **pkts, uint16_t n,
       struct dp_port_counters *ctr)
{
	struct eth_port *ep = port->priv;
	uint16_t q = ep->txq_of_worker[w], sent, i;
	uint64_t bytes = 0;

	for (i = 0; i < n; i++)
		bytes += pkts[i]->pkt_len;
	if (ep->shared_tx)
		rte_spinlock_lock(&ep->txlock[q]);
	sent = rte_eth_tx_burst(ep->pid, q, pkts, n);
	if (ep->shared_tx)
		rte_spinlock_unlock(&ep->txlock[q]);
	if (unlikely(sent < n)) {
		for (i = sent; i < n; i++)
			bytes -= pkts[i]->pkt_len;
		ctr->drops[DP_DROP_QUEUE_FULL] += n - sent;
		rte_pktmbuf_free_bulk(&pkts[sent], n - sent);
	}
	ctr->tx_packets += sent;
	ctr->tx_bytes += bytes;
	return sent;
}

static bool
eth_link_up(const struct dp_port *port)
{
	const struct eth_port *ep = port->priv;
	struct rte_eth_link link;

	if (ep == NULL || rte_eth_link_get_nowait(ep->pid, &link) != 0)
		return false;
	return link.link_status == RTE_ETH_LINK_UP;
}

static int
eth_vm_mac(struct dp_port *port, const uint8_t mac[6], bool add)
{
	struct eth_port *ep = port->priv;

	if (ep == NULL || ep->steer == NULL)
		return 0;
	return dp_xdp_steer_mac(ep->steer, mac, add);
}

static int
eth_vtep(struct dp_port *port, uint32_t old_ip, uint32_t ip)
{
	struct eth_port *ep = port->priv;

	if (ep == NULL || ep->steer == NULL)
		return 0;
	return dp_xdp_steer_vtep(ep->steer, old_ip, ip);
}

static void
eth_stats(const struct dp_port *port, struct dp_port_stats *st)
{
	const struct eth_port *ep = port->priv;
	struct rte_eth_stats es;
	unsigned int i;

	if (ep == NULL || rte_eth_stats_get(ep->pid, &es) != 0)
		return;
	for (i = 0; i < st->ndrops; i++) {
		if (strcmp(st->drops[i].reason, "no_buffer") == 0)
			st->drops[i].count += es.rx_nombuf;
		else if (strcmp(st->drops[i].reason, "queue_full") == 0)
			st->drops[i].count += es.imissed;
	}
}

int
dp_ethdev_open_arg(struct dp_port *port, const char *devargs, unsigned int workers,
		   struct rte_mempool **pool, char *err, size_t errlen)
{
	struct dp_ethdev_arg arg = { .devargs = devargs, .workers = workers, .pool = pool };

	snprintf(arg.pool_name, sizeof(arg.pool_name), "dp_up%u", port->id);
	return eth_open(port, &arg, err, errlen);
}

const struct dp_port_ops dp_ethdev_ops = {
	.kind = "uplink",
	.open = eth_open,
	.close = eth_close,
	.rx = eth_rx,
	.tx = eth_tx,
	.link_up = eth_link_up,
	.stats = eth_stats,
	.vm_mac = eth_vm_mac,
	.vtep = eth_vtep,
};
