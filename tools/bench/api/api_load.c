/* SPDX-License-Identifier: MIT */
#include "api_load.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "nicvisor/v1/api.pb-c.h"
#include "nv_rpc.h"
#include "nv_wire.h"

#define CYCLE     10
#define OVSDB_BUF 65536

enum kind { READ_ONE, LIST, CREATE, DELETE };

/* One cycle of the mix (api_load.h); LIST alternates between lists. */
static const enum kind mix[CYCLE] = {
	READ_ONE, LIST, READ_ONE, LIST, READ_ONE, CREATE, READ_ONE, LIST, READ_ONE, DELETE,
};

struct client {
	const struct api_load_conf *conf;
	unsigned int id, n;
	struct nv_rpc_client *rpc;
	int fd; /* ovsdb-server */
	unsigned int seq;
	char *buf;
	uint64_t *lat_ns; /* n entries */
	bool *is_write;
	unsigned int done, errors;
	char first_error[256];
};

static uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void
client_error(struct client *c, const char *fmt, const char *what, const char *detail)
{
	if (c->errors++ == 0)
		snprintf(c->first_error, sizeof(c->first_error), fmt, c->id, what, detail);
}

/* nicvisor-dpu */

static int
nv_call(struct client *c, Nicvisor__V1__Request *req, const char *what)
{
	Nicvisor__V1__Response *rep = NULL;
	int rc;

	req->version = NV_PROTOCOL_VERSION;
	rc = nv_rpc_client_call(c->rpc, &req->base, &nicvisor__v1__response__descriptor,
				c->conf->timeout_ms, (ProtobufCMessage **)&rep);
	if (rc < 0) {
		client_error(c, "client %u: %s: %s", what, strerror(-rc));
		return -1;
	}
	rc = 0;
	if (rep->status == NULL || rep->status->code != NICVISOR__V1__CODE__CODE_OK) {
		client_error(c, "client %u: %s: %s", what,
			     rep->status ? rep->status->message : "no status");
		rc = -1;
	}
	nv_wire_free(&rep->base);
	return rc;
}

static int
nv_request(struct client *c, enum kind k, unsigned int i, const char *name)
{
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__GetNetworkRequest get = NICVISOR__V1__GET_NETWORK_REQUEST__INIT;
	Nicvisor__V1__ListNetworksRequest ln = NICVISOR__V1__LIST_NETWORKS_REQUEST__INIT;
	Nicvisor__V1__ListVmsRequest lv = NICVISOR__V1__LIST_VMS_REQUEST__INIT;
	Nicvisor__V1__ListHostsRequest lh = NICVISOR__V1__LIST_HOSTS_REQUEST__INIT;
	Nicvisor__V1__CreateNetworkRequest cn = NICVISOR__V1__CREATE_NETWORK_REQUEST__INIT;
	Nicvisor__V1__DeleteNetworkRequest dn = NICVISOR__V1__DELETE_NETWORK_REQUEST__INIT;

	switch (k) {
	case READ_ONE:
		get.network = API_LOAD_NET;
		req.op_case = NICVISOR__V1__REQUEST__OP_GET_NETWORK;
		req.get_network = &get;
		return nv_call(c, &req, "GetNetwork");
	case LIST:
		switch (i % 3) {
		case 0:
			req.op_case = NICVISOR__V1__REQUEST__OP_LIST_NETWORKS;
			req.list_networks = &ln;
			return nv_call(c, &req, "ListNetworks");
		case 1:
			req.op_case = NICVISOR__V1__REQUEST__OP_LIST_VMS;
			req.list_vms = &lv;
			return nv_call(c, &req, "ListVms");
		default:
			req.op_case = NICVISOR__V1__REQUEST__OP_LIST_HOSTS;
			req.list_hosts = &lh;
			return nv_call(c, &req, "ListHosts");
		}
	case CREATE:
		cn.name = (char *)name;
		cn.vlan = c->conf->vlan_base + c->id;
		req.op_case = NICVISOR__V1__REQUEST__OP_CREATE_NETWORK;
		req.create_network = &cn;
		return nv_call(c, &req, "CreateNetwork");
	case DELETE:
		dn.network = (char *)name;
		req.op_case = NICVISOR__V1__REQUEST__OP_DELETE_NETWORK;
		req.delete_network = &dn;
		return nv_call(c, &req, "DeleteNetwork");
	}
	return -1;
}

/* ovsdb-server: JSON-RPC 1.0 over a unix socket (RFC 7047 4.1.3). */

static int
ovsdb_connect(const char *url)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = strncmp(url, "unix:", 5) == 0 ? url + 5 : url;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -1;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int
write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read one JSON object (the server sends nothing between them); its
 * length, or -1. */
static int
read_object(struct client *c)
{
	size_t len = 0;
	int depth = 0;
	bool in_str = false, esc = false, started = false;

	for (;;) {
		ssize_t n;

		if (len + 1 >= OVSDB_BUF)
			return -1;
		n = read(c->fd, c->buf + len, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		char ch = c->buf[len++];
		if (in_str) {
			if (esc)
				esc = false;
			else if (ch == '\\')
				esc = true;
			else if (ch == '"')
				in_str = false;
		} else if (ch == '"') {
			in_str = true;
		} else if (ch == '{') {
			depth++;
			started = true;
		} else if (ch == '}') {
			depth--;
		}
		if (started && depth == 0) {
			c->buf[len] = '\0';
			return (int)len;
		}
	}
}

/* A connection that failed carries no more requests. */
static void
ovsdb_drop(struct client *c)
{
	close(c->fd);
	c->fd = -1;
}

static int
ovsdb_transact(struct client *c, const char *ops, const char *what)
{
	char req[1024];
	int n;

	n = snprintf(req, sizeof(req),
		     "{\"method\":\"transact\",\"params\":[\"Load\",%s],\"id\":%u}", ops, ++c->seq);
	if (n < 0 || (size_t)n >= sizeof(req) || write_all(c->fd, req, (size_t)n) < 0) {
		client_error(c, "client %u: %s: %s", what, "send failed");
		ovsdb_drop(c);
		return -1;
	}
	for (;;) {
		if (read_object(c) < 0) {
			client_error(c, "client %u: %s: %s", what, "connection lost");
			ovsdb_drop(c);
			return -1;
		}
		/* The server's inactivity probe: answer it and read on. */
		if (strstr(c->buf, "\"method\":\"echo\"") != NULL) {
			static const char echo[] = "{\"id\":\"echo\",\"result\":[],\"error\":null}";

			if (write_all(c->fd, echo, sizeof(echo) - 1) < 0) {
				client_error(c, "client %u: %s: %s", what, "echo reply failed");
				ovsdb_drop(c);
				return -1;
			}
			continue;
		}
		break;
	}
	/* Success: "error":null at the top and no operation with an error. */
	if (strstr(c->buf, "\"error\":null") == NULL || strstr(c->buf, "\"error\":\"") != NULL) {
		client_error(c, "client %u: %s: %.200s", what, c->buf);
		return -1;
	}
	return 0;
}

static int
ovsdb_request(struct client *c, enum kind k, const char *name)
{
	char ops[512];

	switch (k) {
	case READ_ONE:
		return ovsdb_transact(
			c,
			"{\"op\":\"select\",\"table\":\"Network\",\"where\":[[\"name\","
			"\"==\",\"" API_LOAD_NET "\"]]}",
			"select");
	case LIST:
		return ovsdb_transact(c, "{\"op\":\"select\",\"table\":\"Network\",\"where\":[]}",
				      "select all");
	case CREATE:
		snprintf(ops, sizeof(ops),
			 "{\"op\":\"insert\",\"table\":\"Network\",\"row\":{\"name\":\"%s\","
			 "\"vlan\":%u}},"
			 "{\"op\":\"commit\",\"durable\":true}",
			 name, c->conf->vlan_base + c->id);
		return ovsdb_transact(c, ops, "insert");
	case DELETE:
		snprintf(ops, sizeof(ops),
			 "{\"op\":\"delete\",\"table\":\"Network\",\"where\":[[\"name\",\"==\",\"%"
			 "s\"]]},"
			 "{\"op\":\"commit\",\"durable\":true}",
			 name);
		return ovsdb_transact(c, ops, "delete");
	}
	return -1;
}

static void *
client_main(void *arg)
{
	struct client *c = arg;
	char name[64];

	for (unsigned int i = 0; i < c->n; i++) {
		enum kind k = mix[i % CYCLE];
		uint64_t t0;
		int rc;

		snprintf(name, sizeof(name), "lt-%u-%u", c->id, i / CYCLE);
		t0 = mono_ns();
		if (c->conf->server == API_LOAD_OVSDB)
			rc = ovsdb_request(c, k, name);
		else
			rc = nv_request(c, k, i / CYCLE, name);
		c->lat_ns[c->done] = mono_ns() - t0;
		c->is_write[c->done] = k == CREATE || k == DELETE;
		c->done++;
		if (rc < 0 && c->conf->server == API_LOAD_OVSDB && c->fd < 0)
			break;
	}
	return NULL;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The p-th percentile (nearest rank) of sorted v[n], in ms. */
static double
pct_ms(const uint64_t *v, size_t n, double p)
{
	size_t r;

	if (n == 0)
		return 0;
	r = (size_t)(p / 100.0 * (double)n + 0.999999);
	if (r < 1)
		r = 1;
	if (r > n)
		r = n;
	return (double)v[r - 1] / 1e6;
}

static void
summarize(struct client *cl, unsigned int n_clients, struct api_load_result *res)
{
	size_t total = 0, nr = 0, nw = 0;
	uint64_t *all, *rd, *wr;

	for (unsigned int i = 0; i < n_clients; i++)
		total += cl[i].done;
	all = calloc(total + 1, sizeof(*all));
	rd = calloc(total + 1, sizeof(*rd));
	wr = calloc(total + 1, sizeof(*wr));
	if (all == NULL || rd == NULL || wr == NULL)
		goto out;
	total = 0;
	for (unsigned int i = 0; i < n_clients; i++) {
		for (unsigned int j = 0; j < cl[i].done; j++) {
			all[total++] = cl[i].lat_ns[j];
			if (cl[i].is_write[j])
				wr[nw++] = cl[i].lat_ns[j];
			else
				rd[nr++] = cl[i].lat_ns[j];
		}
	}
	qsort(all, total, sizeof(*all), cmp_u64);
	qsort(rd, nr, sizeof(*rd), cmp_u64);
	qsort(wr, nw, sizeof(*wr), cmp_u64);
	res->done = (unsigned int)total;
	res->p50_ms = pct_ms(all, total, 50);
	res->p99_ms = pct_ms(all, total, 99);
	res->max_ms = total ? (double)all[total - 1] / 1e6 : 0;
	res->read_p50_ms = pct_ms(rd, nr, 50);
	res->read_p99_ms = pct_ms(rd, nr, 99);
	res->write_p50_ms = pct_ms(wr, nw, 50);
	res->write_p99_ms = pct_ms(wr, nw, 99);
out:
	free(all);
	free(rd);
	free(wr);
}

static int
client_open(struct client *c)
{
	if (c->conf->server == API_LOAD_OVSDB) {
		c->buf = malloc(OVSDB_BUF);
		c->fd = ovsdb_connect(c->conf->url);
		return c->buf != NULL && c->fd >= 0 ? 0 : -1;
	}
	c->fd = -1;
	return nv_rpc_client_open(c->conf->url, NV_RPC_DIAL_WAIT, &c->rpc) < 0 ? -1 : 0;
}

static void
client_close(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	nv_rpc_client_close(c->rpc);
	free(c->buf);
	free(c->lat_ns);
	free(c->is_write);
}

int
api_load_prepare(const char *url, unsigned int vlan)
{
	struct api_load_conf conf = {
		.server = API_LOAD_NICVISOR,
		.url = url,
		.vlan_base = vlan,
		.timeout_ms = 10000,
	};
	struct client c = { .conf = &conf, .fd = -1 };
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__CreateNetworkRequest cn = NICVISOR__V1__CREATE_NETWORK_REQUEST__INIT;
	int rc;

	if (nv_rpc_client_open(url, NV_RPC_DIAL_WAIT, &c.rpc) < 0) {
		fprintf(stderr, "api_load: cannot connect to %s\n", url);
		return -1;
	}
	cn.name = API_LOAD_NET;
	cn.vlan = vlan;
	req.op_case = NICVISOR__V1__REQUEST__OP_CREATE_NETWORK;
	req.create_network = &cn;
	rc = nv_call(&c, &req, "CreateNetwork " API_LOAD_NET);
	if (rc < 0)
		fprintf(stderr, "api_load: %s\n", c.first_error);
	nv_rpc_client_close(c.rpc);
	return rc;
}

int
api_load_run(const struct api_load_conf *conf, struct api_load_result *res)
{
	struct client cl[API_LOAD_MAX_CLIENTS];
	pthread_t th[API_LOAD_MAX_CLIENTS];
	unsigned int started = 0, opened = 0;
	uint64_t t0;
	int rc = -1;

	memset(res, 0, sizeof(*res));
	memset(cl, 0, sizeof(cl));
	if (conf->clients == 0 || conf->clients > API_LOAD_MAX_CLIENTS || conf->requests == 0)
		return -1;
	for (unsigned int i = 0; i < conf->clients; i++) {
		struct client *c = &cl[i];

		c->conf = conf;
		c->id = i;
		c->fd = -1;
		c->n = conf->requests / conf->clients + (i < conf->requests % conf->clients);
		c->lat_ns = calloc(c->n + 1, sizeof(*c->lat_ns));
		c->is_write = calloc(c->n + 1, sizeof(*c->is_write));
		opened++;
		if (c->lat_ns == NULL || c->is_write == NULL || client_open(c) < 0) {
			fprintf(stderr, "api_load: client %u cannot connect to %s\n", i, conf->url);
			goto out;
		}
	}
	t0 = mono_ns();
	for (; started < conf->clients; started++)
		if (pthread_create(&th[started], NULL, client_main, &cl[started]) != 0)
			break;
	for (unsigned int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	res->secs = (double)(mono_ns() - t0) / 1e9;
	if (started < conf->clients) {
		fprintf(stderr, "api_load: cannot start client threads\n");
		goto out;
	}
	summarize(cl, conf->clients, res);
	for (unsigned int i = 0; i < conf->clients; i++) {
		if (cl[i].errors > 0 && res->errors == 0)
			snprintf(res->first_error, sizeof(res->first_error), "%s",
				 cl[i].first_error);
		res->errors += cl[i].errors;
	}
	rc = 0;
out:
	for (unsigned int i = 0; i < opened; i++)
		client_close(&cl[i]);
	return rc;
}
