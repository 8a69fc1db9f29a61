/* SPDX-License-Identifier: MIT */
/*
 * The shim's processes for real (daemon, per-VM children, `run`), built
 * over fake_vmm.c so that no KVM is needed, against an agent played by the
 * test (fake_agent.c). The same flows on real KVM guests and the real agent
 * are in tests/integration/shim.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "fake_agent.h"
#include "nv_log.h"
#include "shim.h"

#define T_MS 8000 /* every wait; the sanitizers make processes slow */

enum {
	STARTING = NICVISOR__V1__VM_STATE__VM_STATE_STARTING,
	RUNNING = NICVISOR__V1__VM_STATE__VM_STATE_RUNNING,
	STOPPING = NICVISOR__V1__VM_STATE__VM_STATE_STOPPING,
	STOPPED = NICVISOR__V1__VM_STATE__VM_STATE_STOPPED,
	FAILED = NICVISOR__V1__VM_STATE__VM_STATE_FAILED,
};

static const char *shim_bin;

struct fixture {
	char dir[64], url[128];
	struct fake_agent fa;
	pid_t daemon;
	unsigned int from; /* reports seen so far */
};

static pid_t
spawn(char *const argv[], const char *out)
{
	pid_t pid = fork();

	if (pid == 0) {
		if (out != NULL) {
			int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);

			dup2(fd, 1);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/* waitpid with a bound; SIGKILL past it. */
static int
reap(pid_t pid, int ms)
{
	int status = 0;

	for (int i = 0; i < ms / 10; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return status;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

static pid_t
start_daemon(struct fixture *f)
{
	/* No sandbox: the fake VM processes run ASan and open files (the
	 * sandbox is tested on real KVM, tests/integration/shim). */
	char *argv[] = { (char *)shim_bin, "--agent",      f->url,        "--host-id",
			 "host-test",      "--debug-exit", "--log-level", "warn",
			 "--vm-sandbox",   "off",          NULL };

	return spawn(argv, NULL);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/shim-proc-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->url, sizeof(f->url), "ipc://%s/agent.sock", f->dir);
	assert_int_equal(fa_start(&f->fa, f->url, 200), 0);
	/* Only a restart makes the daemon say Hello again, not a slow
	 * machine: a Hello supersedes reports a test waits for. */
	f->fa.dead_after_ms = 60000;
	f->daemon = start_daemon(f);
	assert_true(f->daemon > 0);
	assert_true(fa_wait_count(&f->fa, &f->fa.hellos, 1, T_MS));
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	if (f->daemon > 0) {
		kill(f->daemon, SIGTERM);
		reap(f->daemon, 15000);
	}
	fa_stop(&f->fa);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

/* Serve a kernel script (or any bytes) and launch vm with it. */
static void
launch(struct fixture *f, const char *vm, const char *kernel, const char *initrd)
{
	char kid[65], iid[65];

	fa_add_blob(&f->fa, kernel, strlen(kernel), kid);
	if (initrd != NULL)
		fa_add_blob(&f->fa, initrd, strlen(initrd), iid);
	fa_push_launch(&f->fa, vm, kid, strlen(kernel), initrd ? iid : NULL,
		       initrd ? strlen(initrd) : 0);
}

static struct fa_report
expect(struct fixture *f, const char *vm, int state, int exit)
{
	struct fa_report r = { 0 };

	if (!fa_wait_report(&f->fa, vm, state, exit, &f->from, &r, T_MS))
		fail_msg("%s: no report of state %d exit %d", vm, state, exit);
	return r;
}

static bool
process_gone(pid_t pid)
{
	char path[64], st = 0;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fp = fopen(path, "r");
	if (fp == NULL)
		return true;
	if (fscanf(fp, "%*d %*s %c", &st) != 1)
		st = 'Z';
	fclose(fp);
	return st == 'Z' || st == 'X'; /* orphans may linger as zombies here */
}

static void
marker_and_debug_exit(void **state)
{
	struct fixture *f = *state;
	struct fa_report r;

	launch(f, "vm-a", "#nvfake\nprint MARKER-OK\nexit debug 0\n", NULL);
	expect(f, "vm-a", STARTING, -1);
	r = expect(f, "vm-a", RUNNING, -1);
	assert_true(r.pid > 0);
	assert_int_equal(r.boots, 1);
	r = expect(f, "vm-a", STOPPED, NICVISOR__V1__EXIT_KIND__EXIT_KIND_DEBUG_EXIT);
	assert_string_equal(r.reason, "debug exit code 0");
	assert_int_equal(r.pid, 0);
	assert_true(fa_wait_console(&f->fa, "vm-a", "MARKER-OK\n", T_MS));
}

static void
initrd_and_poweroff(void **state)
{
	struct fixture *f = *state;

	launch(f, "vm-i", "#nvfake\ninitrd\nexit poweroff\n", "the-initrd\n");
	expect(f, "vm-i", STOPPED, NICVISOR__V1__EXIT_KIND__EXIT_KIND_POWEROFF);
	assert_true(fa_wait_console(&f->fa, "vm-i", "the-initrd\n", T_MS));
}

static void
stop_spinning_guest(void **state)
{
	struct fixture *f = *state;
	struct fa_report r;
	uint64_t t0;

	/* Ignores the power button: forced once the timeout passes. */
	launch(f, "vm-s", "#nvfake\nprint up\nspin\n", NULL);
	expect(f, "vm-s", RUNNING, -1);
	t0 = nv_mono_ns();
	fa_push_stop(&f->fa, "vm-s", 300, false, false);
	expect(f, "vm-s", STOPPING, -1);
	r = expect(f, "vm-s", STOPPED, NICVISOR__V1__EXIT_KIND__EXIT_KIND_STOPPED);
	assert_true(nv_mono_ns() - t0 >= 300 * 1000000ull);
	assert_non_null(strstr(r.reason, "ignored the power button"));

	/* Listens to it: powers off by itself. */
	launch(f, "vm-p", "#nvfake\nspin-ack\n", NULL);
	expect(f, "vm-p", RUNNING, -1);
	fa_push_stop(&f->fa, "vm-p", 30000, false, false);
	expect(f, "vm-p", STOPPED, NICVISOR__V1__EXIT_KIND__EXIT_KIND_POWEROFF);

	/* Forced right away. */
	launch(f, "vm-f", "#nvfake\nspin-ack\n", NULL);
	expect(f, "vm-f", RUNNING, -1);
	fa_push_stop(&f->fa, "vm-f", 30000, true, false);
	expect(f, "vm-f", STOPPED, NICVISOR__V1__EXIT_KIND__EXIT_KIND_STOPPED);
}

static void
killed_child_then_new_vm(void **state)
{
	struct fixture *f = *state;
	struct fa_report r;

	launch(f, "vm-k", "#nvfake\nspin\n", NULL);
	r = expect(f, "vm-k", RUNNING, -1);
	assert_int_equal(kill((pid_t)r.pid, SIGKILL), 0);
	r = expect(f, "vm-k", FAILED, NICVISOR__V1__EXIT_KIND__EXIT_KIND_CRASHED);
	assert_non_null(strstr(r.reason, "signal 9"));

	/* A crash inside the VM's process is the same to the daemon. */
	launch(f, "vm-c", "#nvfake\ncrash\n", NULL);
	r = expect(f, "vm-c", FAILED, NICVISOR__V1__EXIT_KIND__EXIT_KIND_CRASHED);
	assert_non_null(strstr(r.reason, "signal 6"));

	/* The daemon goes on serving. */
	launch(f, "vm-n", "#nvfake\nexit debug 3\n", NULL);
	r = expect(f, "vm-n", STOPPED, NICVISOR__V1__EXIT_KIND__EXIT_KIND_DEBUG_EXIT);
	assert_string_equal(r.reason, "debug exit code 3");
	assert_int_equal(kill(f->daemon, 0), 0);
	/* And a VM launched again after it failed runs again. */
	launch(f, "vm-k", "#nvfake\nexit poweroff\n", NULL);
	expect(f, "vm-k", STOPPED, NICVISOR__V1__EXIT_KIND__EXIT_KIND_POWEROFF);
}

static void
corrupt_and_unbootable_kernels(void **state)
{
	struct fixture *f = *state;
	struct fa_report r;

	pthread_mutex_lock(&f->fa.lock);
	f->fa.fault = FA_FAULT_CORRUPT;
	pthread_mutex_unlock(&f->fa.lock);
	launch(f, "vm-d", "#nvfake\nexit debug 0\n", NULL);
	r = expect(f, "vm-d", FAILED, NICVISOR__V1__EXIT_KIND__EXIT_KIND_BOOT_ERROR);
	assert_non_null(strstr(r.reason, "data loss"));
	assert_int_equal(r.pid, 0);
	pthread_mutex_lock(&f->fa.lock);
	f->fa.fault = FA_FAULT_NONE;
	pthread_mutex_unlock(&f->fa.lock);

	launch(f, "vm-g", "this is no kernel", NULL);
	r = expect(f, "vm-g", FAILED, NICVISOR__V1__EXIT_KIND__EXIT_KIND_BOOT_ERROR);
	assert_non_null(strstr(r.reason, "neither a bzImage"));

	/* An artifact the agent does not have. */
	fa_push_launch(&f->fa, "vm-m",
		       "0000000000000000000000000000000000000000000000000000000000000000", 10, NULL,
		       0);
	r = expect(f, "vm-m", FAILED, NICVISOR__V1__EXIT_KIND__EXIT_KIND_BOOT_ERROR);
	assert_non_null(strstr(r.reason, "cannot download"));
}

static void
reboot_relaunches(void **state)
{
	struct fixture *f = *state;
	struct fa_console con;
	struct fa_report r;
	char script[256];

	snprintf(script, sizeof(script),
		 "#nvfake\nprint boot\nreboot-below %s/boots 3\nprint done\nexit debug 0\n",
		 f->dir);
	launch(f, "vm-r", script, NULL);
	r = expect(f, "vm-r", RUNNING, -1);
	assert_int_equal(r.boots, 1);
	r = expect(f, "vm-r", STARTING, NICVISOR__V1__EXIT_KIND__EXIT_KIND_REBOOT);
	assert_int_equal(r.boots, 1);
	r = expect(f, "vm-r", RUNNING, -1);
	assert_int_equal(r.boots, 2);
	r = expect(f, "vm-r", STOPPED, NICVISOR__V1__EXIT_KIND__EXIT_KIND_DEBUG_EXIT);
	assert_int_equal(r.boots, 3);
	assert_true(fa_wait_console(&f->fa, "vm-r", "done\n", T_MS));
	/* One console stream across the boots, offsets continued. */
	assert_true(fa_console_get(&f->fa, "vm-r", &con));
	assert_int_equal(con.gaps, 0);
	assert_int_equal(con.len, 20);
	assert_memory_equal(con.data, "boot\nboot\nboot\ndone\n", 20);
	assert_int_equal(r.console_offset, 20);

	/* A guest that resets for ever is stopped after a burst. */
	launch(f, "vm-l", "#nvfake\nprint loop\nexit reboot\n", NULL);
	r = expect(f, "vm-l", FAILED, NICVISOR__V1__EXIT_KIND__EXIT_KIND_REBOOT);
	assert_int_equal(r.boots, 11);
	assert_non_null(strstr(r.reason, "not booting it again"));
}

static void
agent_restart_reattaches(void **state)
{
	struct fixture *f = *state;
	struct fa_report r;

	launch(f, "vm-x", "#nvfake\nprint before\nsleep 400\nprint while-away\nspin\n", NULL);
	r = expect(f, "vm-x", RUNNING, -1);
	fa_away(&f->fa);
	usleep(800 * 1000);
	assert_int_equal(fa_back(&f->fa), 0);
	assert_true(fa_wait_count(&f->fa, &f->fa.hellos, 2, T_MS));
	assert_int_equal(f->fa.hello_vms, 1);
	assert_string_equal(f->fa.hello_vm[0].vm_id, "vm-x");
	assert_int_equal(f->fa.hello_vm[0].state, RUNNING);
	assert_int_equal(f->fa.hello_vm[0].pid, r.pid);
	assert_false(process_gone((pid_t)r.pid));
	assert_true(fa_wait_console(&f->fa, "vm-x", "while-away\n", T_MS));
	/* The new agent's commands (seq 1 again) are applied. */
	fa_push_stop(&f->fa, "vm-x", 0, true, false);
	expect(f, "vm-x", STOPPED, NICVISOR__V1__EXIT_KIND__EXIT_KIND_STOPPED);
}

/* A VM that ends while the agent is away is in the next Hello with how
 * it ended; once the agent knows, the host keeps nothing about it. */
static void
ended_while_away(void **state)
{
	struct fixture *f = *state;

	launch(f, "vm-e", "#nvfake\nsleep 300\nexit poweroff\n", NULL);
	expect(f, "vm-e", RUNNING, -1);
	fa_away(&f->fa);
	usleep(800 * 1000);
	assert_int_equal(fa_back(&f->fa), 0);
	assert_true(fa_wait_count(&f->fa, &f->fa.hellos, 2, T_MS));
	assert_int_equal(f->fa.hello_vms, 1);
	assert_int_equal(f->fa.hello_vm[0].state, STOPPED);
	assert_int_equal(f->fa.hello_vm[0].exit, NICVISOR__V1__EXIT_KIND__EXIT_KIND_POWEROFF);
	fa_away(&f->fa);
	assert_int_equal(fa_back(&f->fa), 0);
	assert_true(fa_wait_count(&f->fa, &f->fa.hellos, 3, T_MS));
	assert_int_equal(f->fa.hello_vms, 0);
}

static void
two_vms_and_forget(void **state)
{
	struct fixture *f = *state;
	struct fa_report a, b;

	launch(f, "vm-1", "#nvfake\nprint one\nspin\n", NULL);
	launch(f, "vm-2", "#nvfake\nprint two\nspin\n", NULL);
	a = expect(f, "vm-1", RUNNING, -1);
	f->from = 0;
	b = expect(f, "vm-2", RUNNING, -1);
	assert_true(a.pid != b.pid);
	assert_true(fa_wait_console(&f->fa, "vm-1", "one\n", T_MS));
	assert_true(fa_wait_console(&f->fa, "vm-2", "two\n", T_MS));
	/* Delete vm-1: stopped, then nothing about it remains. */
	fa_push_stop(&f->fa, "vm-1", 0, true, true);
	for (int i = 0; i < T_MS / 10 && kill((pid_t)a.pid, 0) == 0; i++)
		usleep(10000); /* until the daemon reaped it */
	assert_int_equal(kill((pid_t)a.pid, 0), -1);
	fa_away(&f->fa);
	assert_int_equal(fa_back(&f->fa), 0);
	assert_true(fa_wait_count(&f->fa, &f->fa.hellos, 2, T_MS));
	assert_int_equal(f->fa.hello_vms, 1);
	assert_string_equal(f->fa.hello_vm[0].vm_id, "vm-2");
}

/* The VM's process holds stdio, its control socket, its images and what
 * the VMM opens; none of the daemon's sockets. */
static void
child_fds(void **state)
{
	struct fixture *f = *state;
	struct fa_report r;
	char path[64], link[256], target[256];
	struct dirent *de;
	DIR *d;
	int sockets = 0, images = 0;

	launch(f, "vm-h", "#nvfake\nspin\n", "initrd\n");
	r = expect(f, "vm-h", RUNNING, -1);
	snprintf(path, sizeof(path), "/proc/%u/fd", r.pid);
	d = opendir(path);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		ssize_t n;

		if (de->d_name[0] == '.' || atoi(de->d_name) < 3)
			continue;
		snprintf(link, sizeof(link), "%s/%s", path, de->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n < 0)
			continue;
		target[n] = 0;
		if (strncmp(target, "socket:", 7) == 0) {
			assert_int_equal(atoi(de->d_name), SHIM_CHILD_CONTROL_FD);
			sockets++;
		}
		images += strstr(target, "memfd:nicvisor-image") != NULL;
	}
	closedir(d);
	assert_int_equal(sockets, 1);
	assert_int_equal(images, 2);
}

/* The daemon dies: its VMs' processes stop their VMs and exit. */
static void
daemon_death_stops_vms(void **state)
{
	struct fixture *f = *state;
	struct fa_report r;

	launch(f, "vm-o", "#nvfake\nspin\n", NULL);
	r = expect(f, "vm-o", RUNNING, -1);
	kill(f->daemon, SIGKILL);
	reap(f->daemon, 5000);
	f->daemon = 0;
	for (int i = 0; i < 300 && !process_gone((pid_t)r.pid); i++)
		usleep(10000);
	assert_true(process_gone((pid_t)r.pid));
}

/* A VM process that misbehaves cannot make the daemon believe or crash. */
static void
hostile_child(void **state)
{
	struct fixture *f = *state;
	struct fa_console con;
	struct fa_report r;

	launch(f, "vm-h",
	       "#nvfake\nprint first\nsleep 200\nhostile\nprint still here\nexit debug 0\n", NULL);
	expect(f, "vm-h", RUNNING, -1);
	r = expect(f, "vm-h", STOPPED, NICVISOR__V1__EXIT_KIND__EXIT_KIND_DEBUG_EXIT);
	assert_string_equal(r.reason, "debug exit code 0");
	assert_true(fa_wait_console(&f->fa, "vm-h", "still here\n", T_MS));
	assert_true(fa_console_get(&f->fa, "vm-h", &con));
	assert_null(memmem(con.data, con.len, "forged", 6));
	assert_false(fa_console_get(&f->fa, "another-vm", &con));
	for (unsigned int i = 0; i < f->fa.nreports; i++)
		assert_int_not_equal(f->fa.reports[i].state, FAILED);
	assert_int_equal(kill(f->daemon, 0), 0);
}

static void
garbage_commands(void **state)
{
	struct fixture *f = *state;
	struct fa_report r;

	/* Fields the daemon refuses: the VM fails with the reason. */
	fa_push_launch(&f->fa, "vm-z", "not-a-digest", 10, NULL, 0);
	r = expect(f, "vm-z", FAILED, NICVISOR__V1__EXIT_KIND__EXIT_KIND_BOOT_ERROR);
	assert_non_null(strstr(r.reason, "launch.kernel.id"));
	fa_push_stop(&f->fa, "no such vm", 0, true, false);
	fa_push_stop(&f->fa, "vm-unknown", 0, true, false);
	launch(f, "vm-ok", "#nvfake\nexit debug 0\n", NULL);
	expect(f, "vm-ok", STOPPED, NICVISOR__V1__EXIT_KIND__EXIT_KIND_DEBUG_EXIT);
	assert_true(fa_wait_acked(&f->fa, 4, T_MS));
}

/* NICs from LaunchVm reach the VM's config (the fake prints them); a bad
 * one fails the launch and names the field. */
static void
nics_reach_the_vm(void **state)
{
	struct fixture *f = *state;
	static const char script[] = "#nvfake\nnics\nexit debug 0\n";
	const char *nics[] = { "52:54:00:ab:cd:01,/run/nv/a.sock,2",
			       "52:54:00:ab:cd:02,/run/nv/b.sock,1" };
	const char *bad[] = { "53:54:00:ab:cd:01,/run/nv/a.sock,1" }; /* multicast */
	struct fa_report r;
	char kid[65];

	fa_add_blob(&f->fa, script, strlen(script), kid);
	fa_push_launch_nics(&f->fa, "vm-n", kid, strlen(script), nics, 2);
	expect(f, "vm-n", STOPPED, NICVISOR__V1__EXIT_KIND__EXIT_KIND_DEBUG_EXIT);
	assert_true(fa_wait_console(&f->fa, "vm-n", "nic 0 52:54:00:ab:cd:01 /run/nv/a.sock 2\n",
				    T_MS));
	assert_true(fa_wait_console(&f->fa, "vm-n", "nic 1 52:54:00:ab:cd:02 /run/nv/b.sock 1\n",
				    T_MS));
	fa_push_launch_nics(&f->fa, "vm-bad-nic", kid, strlen(script), bad, 1);
	r = expect(f, "vm-bad-nic", FAILED, NICVISOR__V1__EXIT_KIND__EXIT_KIND_BOOT_ERROR);
	assert_non_null(strstr(r.reason, "launch.nics[0].mac"));
}

/* Disks from LaunchVm reach the VM's config with their queues lowered to
 * the vCPUs; the spec's disks (and NICs) come back in a Hello; a bad disk
 * fails the launch and names the field, and the daemon goes on. */
static void
disks_reach_the_vm(void **state)
{
	struct fixture *f = *state;
	static const char script[] = "#nvfake\ndisks\nspin\n";
	const char *disks[] = { "/run/nv/d0.sock,2,ro", "/run/nv/d1.sock,8" };
	const char *zero[] = { "/run/nv/d0.sock,0" };
	const char *nine[] = { "/run/nv/d0.sock,9" };
	const char *rel[] = { "run/nv/d0.sock,1" };
	const char *many[9];
	struct fa_report r;
	char kid[65];

	fa_add_blob(&f->fa, script, strlen(script), kid);
	fa_push_launch_disks(&f->fa, "vm-d", kid, strlen(script), 2, disks, 2);
	r = expect(f, "vm-d", RUNNING, -1);
	assert_true(fa_wait_console(&f->fa, "vm-d", "disk 0 /run/nv/d0.sock 2 ro\n", T_MS));
	assert_true(fa_wait_console(&f->fa, "vm-d", "disk 1 /run/nv/d1.sock 2 rw\n", T_MS));

	/* A new agent learns the VM's disks and NICs from the Hello. */
	fa_away(&f->fa);
	usleep(300 * 1000);
	assert_int_equal(fa_back(&f->fa), 0);
	assert_true(fa_wait_count(&f->fa, &f->fa.hellos, 2, T_MS));
	assert_int_equal(f->fa.hello_vms, 1);
	assert_string_equal(f->fa.hello_vm[0].vm_id, "vm-d");
	assert_int_equal(f->fa.hello_vm[0].pid, r.pid);
	assert_true(f->fa.hello_vm[0].has_spec);
	assert_int_equal(f->fa.hello_vm[0].spec_disks, 2);
	assert_string_equal(f->fa.hello_vm[0].spec_disk0_volume, "vol-0");
	assert_true(f->fa.hello_vm[0].spec_disk0_ro);
	assert_int_equal(f->fa.hello_vm[0].spec_nics, 1);
	assert_string_equal(f->fa.hello_vm[0].spec_nic0_network, "net-a");
	fa_push_stop(&f->fa, "vm-d", 0, true, false);
	expect(f, "vm-d", STOPPED, NICVISOR__V1__EXIT_KIND__EXIT_KIND_STOPPED);

	fa_push_launch_disks(&f->fa, "vm-q0", kid, strlen(script), 2, zero, 1);
	r = expect(f, "vm-q0", FAILED, NICVISOR__V1__EXIT_KIND__EXIT_KIND_BOOT_ERROR);
	assert_non_null(strstr(r.reason, "launch.disks[0].queues"));
	fa_push_launch_disks(&f->fa, "vm-q9", kid, strlen(script), 8, nine, 1);
	r = expect(f, "vm-q9", FAILED, NICVISOR__V1__EXIT_KIND__EXIT_KIND_BOOT_ERROR);
	assert_non_null(strstr(r.reason, "launch.disks[0].queues"));
	fa_push_launch_disks(&f->fa, "vm-rel", kid, strlen(script), 1, rel, 1);
	r = expect(f, "vm-rel", FAILED, NICVISOR__V1__EXIT_KIND__EXIT_KIND_BOOT_ERROR);
	assert_non_null(strstr(r.reason, "launch.disks[0].vhost_user_socket"));
	for (int i = 0; i < 9; i++)
		many[i] = "/run/nv/d.sock,1";
	fa_push_launch_disks(&f->fa, "vm-9", kid, strlen(script), 1, many, 9);
	r = expect(f, "vm-9", FAILED, NICVISOR__V1__EXIT_KIND__EXIT_KIND_BOOT_ERROR);
	assert_non_null(strstr(r.reason, "launch.disks: 9 disks"));
	/* Still serving: a VM with one disk runs (8 queues, lowered to 1). */
	fa_push_launch_disks(&f->fa, "vm-d1", kid, strlen(script), 1, disks + 1, 1);
	expect(f, "vm-d1", RUNNING, -1);
	assert_true(fa_wait_console(&f->fa, "vm-d1", "disk 0 /run/nv/d1.sock 1 rw\n", T_MS));
	fa_push_stop(&f->fa, "vm-d1", 0, true, false);
	expect(f, "vm-d1", STOPPED, NICVISOR__V1__EXIT_KIND__EXIT_KIND_STOPPED);
}

/* `nicvisor-shim run` with argv extra (NULL-terminated, at most 8). */
static int
runv(struct fixture *f, const char *script, const char *const *extra, const char *out)
{
	char kpath[128];
	FILE *k;
	char *argv[16] = { (char *)shim_bin, "run",          "--kernel", kpath,
			   "--debug-exit",   "--vm-sandbox", "off" };
	int status, n = 7;

	for (int i = 0; extra[i] != NULL && i < 8; i++)
		argv[n++] = (char *)extra[i];
	argv[n] = NULL;
	snprintf(kpath, sizeof(kpath), "%s/kernel", f->dir);
	k = fopen(kpath, "w");
	fputs(script, k);
	fclose(k);
	status = reap(spawn(argv, out), 15000);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void
run_disks(void **state)
{
	struct fixture *f = *state;
	static const char script[] = "#nvfake\ndisks\nexit debug 0\n";
	char out[128], buf[256] = "";
	FILE *fp;

	snprintf(out, sizeof(out), "%s/out", f->dir);
	assert_int_equal(
		runv(f, script,
		     (const char *[]){ "--vcpus", "2", "--disk", "/tmp/nv-d0.sock,queues=2",
				       "--disk", "/tmp/nv-d1.sock,ro", NULL },
		     out),
		0);
	fp = fopen(out, "r");
	assert_true(fread(buf, 1, sizeof(buf) - 1, fp) > 0);
	fclose(fp);
	assert_string_equal(buf, "disk 0 /tmp/nv-d0.sock 2 rw\ndisk 1 /tmp/nv-d1.sock 1 ro\n");
	/* More queues than vCPUs: lowered, as the daemon does. */
	assert_int_equal(
		runv(f, script, (const char *[]){ "--disk", "/tmp/s,queues=2", NULL }, out), 0);
	fp = fopen(out, "r");
	memset(buf, 0, sizeof(buf));
	assert_true(fread(buf, 1, sizeof(buf) - 1, fp) > 0);
	fclose(fp);
	assert_string_equal(buf, "disk 0 /tmp/s 1 rw\n");
	/* Refused: 0 or 9 queues, a relative path, an unknown option, an
	 * argument over 250 bytes. */
	assert_int_equal(runv(f, script,
			      (const char *[]){ "--vcpus", "8", "--disk", "/tmp/s,queues=0", NULL },
			      out),
			 2);
	assert_int_equal(runv(f, script,
			      (const char *[]){ "--vcpus", "9", "--disk", "/tmp/s,queues=9", NULL },
			      out),
			 2);
	assert_int_equal(runv(f, script, (const char *[]){ "--disk", "tmp/s", NULL }, out), 2);
	assert_int_equal(runv(f, script, (const char *[]){ "--disk", "/tmp/s,rw", NULL }, out), 2);
	{
		char arg[300] = "/tmp/s";

		for (int i = 0; i < 90; i++)
			strcat(arg, ",ro");
		assert_int_equal(runv(f, script, (const char *[]){ "--disk", arg, NULL }, out), 2);
	}
}

static int
run(struct fixture *f, const char *script, const char *extra1, const char *extra2, const char *out)
{
	char kpath[128];
	FILE *k;
	char *argv[] = { (char *)shim_bin, "run", "--kernel",     kpath,          "--debug-exit",
			 "--vm-sandbox",   "off", (char *)extra1, (char *)extra2, NULL };
	int status;

	snprintf(kpath, sizeof(kpath), "%s/kernel", f->dir);
	k = fopen(kpath, "w");
	fputs(script, k);
	fclose(k);
	status = reap(spawn(argv, out), 15000);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void
run_command(void **state)
{
	struct fixture *f = *state;
	char out[128], buf[256] = "";
	FILE *fp;

	snprintf(out, sizeof(out), "%s/out", f->dir);
	assert_int_equal(run(f, "#nvfake\nprint hi\nexit debug 5\n", NULL, NULL, out), 5);
	fp = fopen(out, "r");
	assert_int_equal(fread(buf, 1, sizeof(buf) - 1, fp), 3);
	fclose(fp);
	assert_string_equal(buf, "hi\n");
	assert_int_equal(run(f, "#nvfake\nprint x\nprint READY\nspin\n", "--until", "READY", out),
			 0);
	/* Seen, even if the guest ends right after it. */
	assert_int_equal(run(f, "#nvfake\nprint READY\nexit debug 3\n", "--until", "READY", out),
			 0);
	assert_int_equal(run(f, "#nvfake\nexit poweroff\n", "--until", "READY", out), 1);
	assert_int_equal(run(f, "#nvfake\nspin\n", "--timeout", "0.3", out), 124);
	assert_int_equal(run(f, "garbage", NULL, NULL, out), 100);
	assert_int_equal(run(f, "#nvfake\nexit triple\n", NULL, NULL, out), 101);
	assert_int_equal(run(f, "#nvfake\nexit kvmerror\n", NULL, NULL, out), 102);
	assert_int_equal(run(f, "#nvfake\ncrash\n", NULL, NULL, out), 103);
}

static void
run_nics(void **state)
{
	struct fixture *f = *state;
	char out[128], buf[256] = "";
	FILE *fp;

	snprintf(out, sizeof(out), "%s/out", f->dir);
	assert_int_equal(run(f, "#nvfake\nnics\nexit debug 0\n", "--nic",
			     "52:54:00:12:34:56,/tmp/nv-test.sock,3", out),
			 0);
	fp = fopen(out, "r");
	assert_true(fread(buf, 1, sizeof(buf) - 1, fp) > 0);
	fclose(fp);
	assert_string_equal(buf, "nic 0 52:54:00:12:34:56 /tmp/nv-test.sock 3\n");
	/* One pair unless told. */
	assert_int_equal(
		run(f, "#nvfake\nnics\nexit debug 0\n", "--nic", "02:00:00:00:00:01,/tmp/s", out),
		0);
	/* Refused: no socket, a multicast MAC, a relative path, 0 or 9 pairs,
	 * a MAC of the wrong shape. */
	assert_int_equal(run(f, "#nvfake\n", "--nic", "52:54:00:12:34:56", out), 2);
	assert_int_equal(run(f, "#nvfake\n", "--nic", "01:00:5e:00:00:01,/tmp/s", out), 2);
	assert_int_equal(run(f, "#nvfake\n", "--nic", "52:54:00:12:34:56,tmp/s", out), 2);
	assert_int_equal(run(f, "#nvfake\n", "--nic", "52:54:00:12:34:56,/tmp/s,0", out), 2);
	assert_int_equal(run(f, "#nvfake\n", "--nic", "52:54:00:12:34:56,/tmp/s,9", out), 2);
	assert_int_equal(run(f, "#nvfake\n", "--nic", "52:54:00:12:34,/tmp/s", out), 2);
}

/* Whether this machine can execute path: a cross-built shim under
 * qemu-user cannot re-execute itself (or be executed) without binfmt_misc
 * registering qemu for its CPU. */
static bool
can_exec(const char *path)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 1);
		dup2(null, 2);
		execl(path, path, "--help", (char *)NULL);
		_exit(errno == ENOEXEC ? 126 : 127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return false;
	return !(WIFEXITED(status) && WEXITSTATUS(status) == 126);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(marker_and_debug_exit, setup, teardown),
		cmocka_unit_test_setup_teardown(nics_reach_the_vm, setup, teardown),
		cmocka_unit_test_setup_teardown(run_nics, setup, teardown),
		cmocka_unit_test_setup_teardown(disks_reach_the_vm, setup, teardown),
		cmocka_unit_test_setup_teardown(run_disks, setup, teardown),
		cmocka_unit_test_setup_teardown(initrd_and_poweroff, setup, teardown),
		cmocka_unit_test_setup_teardown(stop_spinning_guest, setup, teardown),
		cmocka_unit_test_setup_teardown(killed_child_then_new_vm, setup, teardown),
		cmocka_unit_test_setup_teardown(corrupt_and_unbootable_kernels, setup, teardown),
		cmocka_unit_test_setup_teardown(reboot_relaunches, setup, teardown),
		cmocka_unit_test_setup_teardown(agent_restart_reattaches, setup, teardown),
		cmocka_unit_test_setup_teardown(ended_while_away, setup, teardown),
		cmocka_unit_test_setup_teardown(two_vms_and_forget, setup, teardown),
		cmocka_unit_test_setup_teardown(child_fds, setup, teardown),
		cmocka_unit_test_setup_teardown(daemon_death_stops_vms, setup, teardown),
		cmocka_unit_test_setup_teardown(hostile_child, setup, teardown),
		cmocka_unit_test_setup_teardown(garbage_commands, setup, teardown),
		cmocka_unit_test_setup_teardown(run_command, setup, teardown),
	};

	shim_bin = getenv("NV_SHIM_FAKE");
	if (shim_bin == NULL) {
		fprintf(stderr, "set NV_SHIM_FAKE to the shim binary built over fake_vmm.c\n");
		return 1;
	}
	if (!can_exec(shim_bin)) {
		fprintf(stderr,
			"SKIP: %s cannot be executed here (ENOEXEC): a cross-built shim under "
			"qemu-user needs binfmt_misc to start its VM processes\n",
			shim_bin);
		return 77;
	}
	nv_log_init("test-shim-process", NV_LOG_WARN);
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
