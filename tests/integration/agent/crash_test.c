/* SPDX-License-Identifier: MIT */
/*
 * The crash loop: a stream of API changes (networks, volumes, VMs with a
 * NIC and disks, disks attached and detached, deletions) against
 * nicvisor-dpu (--dataplane fake) while another thread kills it with
 * SIGKILL at a random moment. After each kill the agent starts again on
 * the same state directory, and what it shows must be exactly the world
 * of the acknowledged changes, with the one change in flight at the kill
 * either wholly applied or not at all: nothing acknowledged is lost, no
 * half change appears. Also checked each time: every file volume's file
 * exists with its size, and no file the agent made is left that no volume
 * owns.
 *
 * Usage: crash_test [ROUNDS [SEED]]   (defaults: 30 rounds, seed from the
 * clock, printed so that a failing sequence can be replayed)
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "nv_wire.h"

#define CODE(x)   NICVISOR__V1__CODE__CODE_##x
#define OP(x)     NICVISOR__V1__REQUEST__OP_##x

#define NNET      6
#define NVOL      10
#define NVM       6
#define MAXDISK   2
#define CALL_MS   1500
#define BUDGET_MS 100000 /* the whole loop; rounds stop early past it */

/* What the agent must hold: names are "cn-<i>", "cv-<i>", "cm-<i>". */
struct world {
	bool net[NNET];
	bool vol[NVOL];
	bool vm[NVM];
	int vm_net[NVM];
	int vm_ndisks[NVM];
	int vm_disk[NVM][MAXDISK];
};

enum op_kind {
	NET_CREATE,
	NET_DELETE,
	VOL_CREATE,
	VOL_DELETE,
	VM_CREATE,
	VM_DELETE,
	ATTACH,
	DETACH
};

struct op {
	enum op_kind kind;
	int obj; /* the object created, deleted or changed */
	int net; /* VM_CREATE: its NIC's network */
	int vol; /* VM_CREATE, ATTACH: the disk's volume */
};

static int failures;
static uint64_t rng;
static char kernel[400];

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			printf("FAIL: ");                                                          \
			printf(__VA_ARGS__);                                                       \
			printf("\n");                                                              \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

static uint32_t
rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

static bool
net_used(const struct world *w, int n)
{
	for (int v = 0; v < NVM; v++)
		if (w->vm[v] && w->vm_net[v] == n)
			return true;
	return false;
}

static bool
vol_used(const struct world *w, int k)
{
	for (int v = 0; v < NVM; v++)
		for (int d = 0; w->vm[v] && d < w->vm_ndisks[v]; d++)
			if (w->vm_disk[v][d] == k)
				return true;
	return false;
}

/* A random index i < n with pred(w, i), or -1. */
static int
pick(const struct world *w, int n, bool (*pred)(const struct world *, int))
{
	int c[16], m = 0;

	for (int i = 0; i < n; i++)
		if (pred(w, i))
			c[m++] = i;
	return m ? c[rnd((uint32_t)m)] : -1;
}

static bool
p_net_absent(const struct world *w, int i)
{
	return !w->net[i];
}
static bool
p_net_free(const struct world *w, int i)
{
	return w->net[i] && !net_used(w, i);
}
static bool
p_net_present(const struct world *w, int i)
{
	return w->net[i];
}
static bool
p_vol_absent(const struct world *w, int i)
{
	return !w->vol[i];
}
static bool
p_vol_free(const struct world *w, int i)
{
	return w->vol[i] && !vol_used(w, i);
}
static bool
p_vm_absent(const struct world *w, int i)
{
	return !w->vm[i];
}
static bool
p_vm_present(const struct world *w, int i)
{
	return w->vm[i];
}
static bool
p_vm_one(const struct world *w, int i)
{
	return w->vm[i] && w->vm_ndisks[i] < MAXDISK;
}
static bool
p_vm_two(const struct world *w, int i)
{
	return w->vm[i] && w->vm_ndisks[i] > 1;
}

/* A change that the API must accept in world w. */
static struct op
next_op(const struct world *w)
{
	for (;;) {
		struct op o = { .kind = (enum op_kind)rnd(8), .obj = -1, .net = -1, .vol = -1 };

		switch (o.kind) {
		case NET_CREATE:
			o.obj = pick(w, NNET, p_net_absent);
			break;
		case NET_DELETE:
			o.obj = pick(w, NNET, p_net_free);
			break;
		case VOL_CREATE:
			o.obj = pick(w, NVOL, p_vol_absent);
			break;
		case VOL_DELETE:
			o.obj = pick(w, NVOL, p_vol_free);
			break;
		case VM_CREATE:
			o.obj = pick(w, NVM, p_vm_absent);
			o.net = pick(w, NNET, p_net_present);
			o.vol = pick(w, NVOL, p_vol_free);
			if (o.net < 0 || o.vol < 0)
				o.obj = -1;
			break;
		case VM_DELETE:
			o.obj = pick(w, NVM, p_vm_present);
			break;
		case ATTACH:
			o.obj = pick(w, NVM, p_vm_one);
			o.vol = pick(w, NVOL, p_vol_free);
			if (o.vol < 0)
				o.obj = -1;
			break;
		case DETACH:
			o.obj = pick(w, NVM, p_vm_two);
			break;
		}
		if (o.obj >= 0)
			return o;
	}
}

static void
apply(struct world *w, const struct op *o)
{
	switch (o->kind) {
	case NET_CREATE:
		w->net[o->obj] = true;
		break;
	case NET_DELETE:
		w->net[o->obj] = false;
		break;
	case VOL_CREATE:
		w->vol[o->obj] = true;
		break;
	case VOL_DELETE:
		w->vol[o->obj] = false;
		break;
	case VM_CREATE:
		w->vm[o->obj] = true;
		w->vm_net[o->obj] = o->net;
		w->vm_ndisks[o->obj] = 1;
		w->vm_disk[o->obj][0] = o->vol;
		break;
	case VM_DELETE:
		w->vm[o->obj] = false;
		break;
	case ATTACH:
		w->vm_disk[o->obj][w->vm_ndisks[o->obj]++] = o->vol;
		break;
	case DETACH:
		w->vm_ndisks[o->obj]--;
		break;
	}
}

static const char *const op_names[] = { "create network", "delete network", "create volume",
					"delete volume",  "create vm",      "delete vm",
					"attach disk",    "detach disk" };

/* Send the change; 1 acknowledged, 0 no answer (the agent died), -1 refused. */
static int
send_op(struct agent_proc *ap, const struct op *o)
{
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__CreateNetworkRequest cn = NICVISOR__V1__CREATE_NETWORK_REQUEST__INIT;
	Nicvisor__V1__DeleteNetworkRequest dn = NICVISOR__V1__DELETE_NETWORK_REQUEST__INIT;
	Nicvisor__V1__CreateVolumeRequest cv = NICVISOR__V1__CREATE_VOLUME_REQUEST__INIT;
	Nicvisor__V1__DeleteVolumeRequest dv = NICVISOR__V1__DELETE_VOLUME_REQUEST__INIT;
	Nicvisor__V1__CreateVmRequest cm = NICVISOR__V1__CREATE_VM_REQUEST__INIT;
	Nicvisor__V1__DeleteVmRequest dm = NICVISOR__V1__DELETE_VM_REQUEST__INIT;
	Nicvisor__V1__AttachDiskRequest ad = NICVISOR__V1__ATTACH_DISK_REQUEST__INIT;
	Nicvisor__V1__DetachDiskRequest dd = NICVISOR__V1__DETACH_DISK_REQUEST__INIT;
	Nicvisor__V1__VmSpec spec = NICVISOR__V1__VM_SPEC__INIT;
	Nicvisor__V1__NicSpec nic = NICVISOR__V1__NIC_SPEC__INIT, *nics[1] = { &nic };
	Nicvisor__V1__DiskSpec disk = NICVISOR__V1__DISK_SPEC__INIT, *disks[1] = { &disk };
	char name[32], ref[32], vref[32];
	Nicvisor__V1__Response *rep;
	int rc;

	switch (o->kind) {
	case NET_CREATE:
	case NET_DELETE:
		snprintf(name, sizeof(name), "cn-%d", o->obj);
		break;
	case VOL_CREATE:
	case VOL_DELETE:
		snprintf(name, sizeof(name), "cv-%d", o->obj);
		break;
	default:
		snprintf(name, sizeof(name), "cm-%d", o->obj);
		break;
	}
	switch (o->kind) {
	case NET_CREATE:
		cn.name = name;
		cn.vlan = (uint32_t)(100 + o->obj);
		req.op_case = OP(CREATE_NETWORK);
		req.create_network = &cn;
		break;
	case NET_DELETE:
		dn.network = name;
		req.op_case = OP(DELETE_NETWORK);
		req.delete_network = &dn;
		break;
	case VOL_CREATE:
		cv.name = name;
		cv.size_bytes = (uint64_t)(o->obj + 1) << 20;
		cv.nbd_url = "";
		req.op_case = OP(CREATE_VOLUME);
		req.create_volume = &cv;
		break;
	case VOL_DELETE:
		dv.volume = name;
		req.op_case = OP(DELETE_VOLUME);
		req.delete_volume = &dv;
		break;
	case VM_CREATE:
		snprintf(ref, sizeof(ref), "cn-%d", o->net);
		snprintf(vref, sizeof(vref), "cv-%d", o->vol);
		nic.network = ref;
		nic.mac = "";
		disk.volume = vref;
		spec.name = name;
		spec.vcpus = 1;
		spec.memory_mib = 64;
		spec.kernel = kernel;
		spec.nics = nics;
		spec.n_nics = 1;
		spec.disks = disks;
		spec.n_disks = 1;
		cm.spec = &spec;
		req.op_case = OP(CREATE_VM);
		req.create_vm = &cm;
		break;
	case VM_DELETE:
		dm.vm = name;
		req.op_case = OP(DELETE_VM);
		req.delete_vm = &dm;
		break;
	case ATTACH:
		snprintf(vref, sizeof(vref), "cv-%d", o->vol);
		disk.volume = vref;
		ad.vm = name;
		ad.disk = &disk;
		req.op_case = OP(ATTACH_DISK);
		req.attach_disk = &ad;
		break;
	case DETACH:
		dd.vm = name;
		dd.index = 1;
		req.op_case = OP(DETACH_DISK);
		req.detach_disk = &dd;
		break;
	}
	rep = api_call_ms(ap, &req, CALL_MS);
	if (rep == NULL)
		return 0;
	rc = rep->status != NULL && rep->status->code == CODE(OK) ? 1 : -1;
	if (rc < 0)
		printf("FAIL: %s %s refused: %s\n", op_names[o->kind], name,
		       rep->status ? rep->status->message : "(no status)");
	nv_wire_free(&rep->base);
	return rc;
}

/* "<prefix><i>" with i < n: i, else -1. */
static int
index_of(const char *name, const char *prefix, int n)
{
	size_t l = strlen(prefix);
	char *end;
	long i;

	if (name == NULL || strncmp(name, prefix, l) != 0)
		return -1;
	i = strtol(name + l, &end, 10);
	return *end == 0 && end != name + l && i >= 0 && i < n ? (int)i : -1;
}

static Nicvisor__V1__Response *
list(struct agent_proc *ap, int op)
{
	Nicvisor__V1__Request req = NICVISOR__V1__REQUEST__INIT;
	Nicvisor__V1__ListNetworksRequest ln = NICVISOR__V1__LIST_NETWORKS_REQUEST__INIT;
	Nicvisor__V1__ListVolumesRequest lv = NICVISOR__V1__LIST_VOLUMES_REQUEST__INIT;
	Nicvisor__V1__ListVmsRequest lm = NICVISOR__V1__LIST_VMS_REQUEST__INIT;
	Nicvisor__V1__Response *rep;

	ln.page_size = lv.page_size = lm.page_size = 1000;
	req.op_case = (Nicvisor__V1__Request__OpCase)op;
	if (op == OP(LIST_NETWORKS))
		req.list_networks = &ln;
	else if (op == OP(LIST_VOLUMES))
		req.list_volumes = &lv;
	else
		req.list_vms = &lm;
	rep = api_call_ms(ap, &req, 5000);
	if (rep != NULL && (rep->status == NULL || rep->status->code != CODE(OK))) {
		nv_wire_free(&rep->base);
		rep = NULL;
	}
	return rep;
}

/* Files named like the agent's volume files in dir. */
static int
count_img(const char *dir)
{
	struct dirent *e;
	int n = 0;
	DIR *d = opendir(dir);

	if (d == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);

		if (l > 4 && strcmp(e->d_name + l - 4, ".img") == 0)
			n++;
	}
	closedir(d);
	return n;
}

/* What the agent shows, as a world; false (and failures counted) if it
 * shows something no world of this test has. */
static bool
read_world(struct agent_proc *ap, struct world *w)
{
	Nicvisor__V1__Response *nets = list(ap, OP(LIST_NETWORKS));
	Nicvisor__V1__Response *vols = list(ap, OP(LIST_VOLUMES));
	Nicvisor__V1__Response *vms = list(ap, OP(LIST_VMS));
	char dir[512] = "";
	int before = failures, files = 0;

	memset(w, 0, sizeof(*w));
	CHECK(nets != NULL && vols != NULL && vms != NULL, "the restarted agent lists its objects");
	if (nets == NULL || vols == NULL || vms == NULL)
		goto out;
	for (size_t i = 0; i < nets->networks->n_networks; i++) {
		const Nicvisor__V1__Network *n = nets->networks->networks[i];
		int k = index_of(n->name, "cn-", NNET);

		CHECK(k >= 0 && n->vlan == (uint32_t)(100 + k),
		      "network %s (vlan %u) is one of ours", n->name, n->vlan);
		if (k >= 0)
			w->net[k] = true;
	}
	for (size_t i = 0; i < vols->volumes->n_volumes; i++) {
		const Nicvisor__V1__Volume *v = vols->volumes->volumes[i];
		int k = index_of(v->name, "cv-", NVOL);
		struct stat sb;

		CHECK(k >= 0 && v->size_bytes == (uint64_t)(k + 1) << 20,
		      "volume %s (%" PRIu64 " bytes) is one of ours", v->name, v->size_bytes);
		CHECK(v->path != NULL && stat(v->path, &sb) == 0 &&
			      (uint64_t)sb.st_size == v->size_bytes,
		      "volume %s has its file %s of its size", v->name, v->path ? v->path : "-");
		if (v->path != NULL && dir[0] == 0) {
			snprintf(dir, sizeof(dir), "%s", v->path);
			if (strrchr(dir, '/') != NULL)
				*strrchr(dir, '/') = 0;
		}
		files++;
		if (k >= 0)
			w->vol[k] = true;
	}
	if (dir[0] == 0)
		snprintf(dir, sizeof(dir), "%s/volumes", ap->state);
	CHECK(count_img(dir) == files, "the volume directory %s holds %d files for %d volumes", dir,
	      count_img(dir), files);
	for (size_t i = 0; i < vms->vms->n_vms; i++) {
		const Nicvisor__V1__Vm *vm = vms->vms->vms[i];
		const Nicvisor__V1__VmSpec *s = vm->spec;
		int k = index_of(s ? s->name : NULL, "cm-", NVM);

		CHECK(k >= 0 && s->n_nics == 1 && s->n_disks >= 1 && s->n_disks <= MAXDISK,
		      "vm %s is one of ours with one NIC and %zu disks", s ? s->name : "-",
		      s ? s->n_disks : 0);
		if (k < 0 || s->n_nics != 1 || s->n_disks < 1 || s->n_disks > MAXDISK)
			continue;
		w->vm[k] = true;
		w->vm_net[k] = index_of(s->nics[0]->network, "cn-", NNET);
		w->vm_ndisks[k] = (int)s->n_disks;
		for (size_t d = 0; d < s->n_disks; d++)
			w->vm_disk[k][d] = index_of(s->disks[d]->volume, "cv-", NVOL);
	}
out:
	if (nets)
		nv_wire_free(&nets->base);
	if (vols)
		nv_wire_free(&vols->base);
	if (vms)
		nv_wire_free(&vms->base);
	return failures == before;
}

static bool
same(const struct world *a, const struct world *b)
{
	for (int i = 0; i < NNET; i++)
		if (a->net[i] != b->net[i])
			return false;
	for (int i = 0; i < NVOL; i++)
		if (a->vol[i] != b->vol[i])
			return false;
	for (int i = 0; i < NVM; i++) {
		if (a->vm[i] != b->vm[i])
			return false;
		if (!a->vm[i])
			continue;
		if (a->vm_net[i] != b->vm_net[i] || a->vm_ndisks[i] != b->vm_ndisks[i])
			return false;
		for (int d = 0; d < a->vm_ndisks[i]; d++)
			if (a->vm_disk[i][d] != b->vm_disk[i][d])
				return false;
	}
	return true;
}

static void
print_world(const char *what, const struct world *w)
{
	printf("  %s: networks", what);
	for (int i = 0; i < NNET; i++)
		if (w->net[i])
			printf(" cn-%d", i);
	printf("; volumes");
	for (int i = 0; i < NVOL; i++)
		if (w->vol[i])
			printf(" cv-%d", i);
	printf("; vms");
	for (int i = 0; i < NVM; i++) {
		if (!w->vm[i])
			continue;
		printf(" cm-%d(cn-%d", i, w->vm_net[i]);
		for (int d = 0; d < w->vm_ndisks[i]; d++)
			printf(",cv-%d", w->vm_disk[i][d]);
		printf(")");
	}
	printf("\n");
}

struct killer {
	pid_t pid;
	int delay_ms;
};

static void *
killer_main(void *arg)
{
	struct killer *k = arg;

	sleep_ms(k->delay_ms);
	kill(k->pid, SIGKILL);
	return NULL;
}

int
main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 30;
	struct agent_proc ap;
	struct world w;
	uint64_t t0 = now_ms(), acked = 0, inflight_applied = 0, inflight_not = 0;
	char sha[65];
	int r;

	setvbuf(stdout, NULL, _IOLBF, 0);
	rng = argc > 2 ? strtoull(argv[2], NULL, 0) : (uint64_t)time(NULL) * 2654435761u + 1;
	printf("crash loop: %d rounds, seed %" PRIu64 "\n", rounds, rng);
	if (agent_setup(&ap, 1000, 5000) < 0) {
		printf("FAIL: cannot start nicvisor-dpu\n");
		return 1;
	}
	snprintf(kernel, sizeof(kernel), "%s/bzImage", ap.dir);
	if (make_kernel(kernel, 64 << 10, 7, sha) < 0) {
		printf("FAIL: cannot make a kernel file\n");
		agent_teardown(&ap);
		return 1;
	}
	memset(&w, 0, sizeof(w));
	for (r = 0; r < rounds && failures == 0 && now_ms() - t0 < BUDGET_MS; r++) {
		struct killer k = { .pid = ap.pid, .delay_ms = 5 + (int)rnd(200) };
		struct world applied, seen;
		pthread_t th;
		struct op o;
		int n = 0, rc;

		if (pthread_create(&th, NULL, killer_main, &k) != 0) {
			printf("FAIL: pthread_create\n");
			failures++;
			break;
		}
		for (;;) {
			o = next_op(&w);
			rc = send_op(&ap, &o);
			if (rc <= 0)
				break;
			apply(&w, &o);
			acked++;
			n++;
		}
		pthread_join(th, NULL);
		if (rc < 0) {
			failures++;
			break;
		}
		agent_kill(&ap, SIGKILL); /* reaps it */
		CHECK(agent_spawn(&ap) == 0, "the agent starts again after kill -9 (round %d)", r);
		if (failures)
			break;
		applied = w;
		apply(&applied, &o);
		if (!read_world(&ap, &seen))
			break;
		if (same(&seen, &w)) {
			inflight_not++;
		} else if (same(&seen, &applied)) {
			w = applied;
			inflight_applied++;
		} else {
			CHECK(false,
			      "round %d: after %d acknowledged changes and a kill during '%s' of "
			      "#%d, "
			      "the agent holds neither the acknowledged world nor it plus that "
			      "change",
			      r, n, op_names[o.kind], o.obj);
			print_world("acknowledged", &w);
			print_world("with the change", &applied);
			print_world("the agent's", &seen);
			break;
		}
	}
	printf("%s: %d rounds of kill -9 in %.1f s, %" PRIu64 " acknowledged changes%s; the "
	       "change in flight at the kill was found applied %" PRIu64 " times and not applied "
	       "%" PRIu64 " times\n",
	       failures ? "FAIL" : "ok", r, (double)(now_ms() - t0) / 1000.0, acked,
	       failures ? "" : " all kept", inflight_applied, inflight_not);
	if (failures == 0 && r < 5) {
		printf("FAIL: only %d rounds ran\n", r);
		failures++;
	}
	agent_teardown(&ap);
	return failures ? 1 : 0;
}
