/* SPDX-License-Identifier: MIT */
/*
 * Plays a guest that broke out into its VM process: makes one thread of a
 * running process execute socket(AF_INET, SOCK_STREAM, 0), a call a VMM
 * never needs, through ptrace (the thread is stopped where it sits in a
 * system call, its registers set to the new call on the same syscall
 * instruction, then put back as they were).
 *
 *   sys_inject TID
 *
 * Prints one line and exits 0:
 *   "killed by signal N"  the process died of the call (the sandbox)
 *   "returned R"          the call ran (R: its result); the thread goes on
 *                         with the call it was in
 * Exits 1 on a failure of its own (no such thread, not in a system call),
 * 77 on an architecture it does not know.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#if !defined(__x86_64__)
int
main(void)
{
	fprintf(stderr, "sys_inject: x86_64 only\n");
	return 77;
}
#else

static int
fail(const char *what)
{
	fprintf(stderr, "sys_inject: %s: %s\n", what, strerror(errno));
	return 1;
}

/* The next stop or the end of tid; 1 if it ended (line printed). */
static int
wait_stop(pid_t tid, int *status)
{
	while (waitpid(tid, status, __WALL) < 0) {
		if (errno != EINTR)
			return -1;
	}
	if (WIFSIGNALED(*status)) {
		printf("killed by signal %d\n", WTERMSIG(*status));
		return 1;
	}
	if (WIFEXITED(*status)) {
		printf("exited %d\n", WEXITSTATUS(*status));
		return 1;
	}
	return 0;
}

/* SIGSYS pending for the thread or its process (/proc status masks). */
static bool
sigsys_pending(pid_t tid)
{
	char path[64], line[128];
	unsigned long long mask;
	bool pending = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	f = fopen(path, "re");
	if (f == NULL)
		return false;
	while (fgets(line, sizeof(line), f) != NULL)
		if ((sscanf(line, "SigPnd: %llx", &mask) == 1 ||
		     sscanf(line, "ShdPnd: %llx", &mask) == 1) &&
		    (mask & (1ull << (SIGSYS - 1))))
			pending = true;
	fclose(f);
	return pending;
}

int
main(int argc, char **argv)
{
	struct user_regs_struct saved, regs;
	pid_t tid;
	long insn;
	int status, rc;

	if (argc != 2 || (tid = (pid_t)atoi(argv[1])) <= 0) {
		fprintf(stderr, "usage: sys_inject TID\n");
		return 2;
	}
	if (ptrace(PTRACE_SEIZE, tid, NULL, (void *)PTRACE_O_TRACESYSGOOD) < 0)
		return fail("PTRACE_SEIZE");
	if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) < 0)
		return fail("PTRACE_INTERRUPT");
	rc = wait_stop(tid, &status);
	if (rc != 0)
		return rc < 0 ? fail("waitpid") : 0;
	if (ptrace(PTRACE_GETREGS, tid, NULL, &saved) < 0)
		return fail("PTRACE_GETREGS");
	/* Stopped in a system call: the two bytes before rip are its syscall
	 * instruction (0f 05), and orig_rax is its number. */
	errno = 0;
	insn = ptrace(PTRACE_PEEKTEXT, tid, (void *)(saved.rip - 2), NULL);
	if (errno != 0)
		return fail("PTRACE_PEEKTEXT");
	if ((insn & 0xffff) != 0x050f || (long long)saved.orig_rax < 0) {
		fprintf(stderr, "sys_inject: thread %d is not in a system call (rip %llx)\n",
			(int)tid, (unsigned long long)saved.rip);
		return 1;
	}
	regs = saved;
	regs.rip = saved.rip - 2;
	regs.rax = SYS_socket;
	regs.orig_rax = (unsigned long long)-1; /* no restart of the interrupted call */
	regs.rdi = AF_INET;
	regs.rsi = SOCK_STREAM;
	regs.rdx = 0;
	if (ptrace(PTRACE_SETREGS, tid, NULL, &regs) < 0)
		return fail("PTRACE_SETREGS");
	/* To the call's entry, then its exit (or the end of the process:
	 * seccomp decides after the entry stop). */
	for (int stops = 0; stops < 2; stops++) {
		if (ptrace(PTRACE_SYSCALL, tid, NULL, NULL) < 0)
			return fail("PTRACE_SYSCALL");
		rc = wait_stop(tid, &status);
		if (rc != 0)
			return rc < 0 ? fail("waitpid") : 0;
		if (!WIFSTOPPED(status) || WSTOPSIG(status) != (SIGTRAP | 0x80)) {
			fprintf(stderr, "sys_inject: unexpected stop %#x\n", status);
			return 1;
		}
	}
	/* A call seccomp refused with SECCOMP_RET_KILL_PROCESS was skipped,
	 * and SIGSYS is on its way: let it come, and see the end. */
	if (sigsys_pending(tid)) {
		int sig = 0;

		for (int stops = 0; stops < 8; stops++) {
			if (ptrace(PTRACE_CONT, tid, NULL, (void *)(long)sig) < 0)
				return fail("PTRACE_CONT");
			rc = wait_stop(tid, &status);
			if (rc != 0)
				return rc < 0 ? fail("waitpid") : 0;
			sig = WSTOPSIG(status) == SIGSYS ? SIGSYS : 0;
		}
		fprintf(stderr, "sys_inject: SIGSYS pending, but the thread lives on\n");
		return 1;
	}
	if (ptrace(PTRACE_GETREGS, tid, NULL, &regs) < 0)
		return fail("PTRACE_GETREGS");
	printf("returned %lld\n", (long long)regs.rax);
	/* Back into the call it was in, as a restart would. */
	saved.rip -= 2;
	saved.rax = saved.orig_rax;
	saved.orig_rax = (unsigned long long)-1;
	if (ptrace(PTRACE_SETREGS, tid, NULL, &saved) < 0)
		return fail("PTRACE_SETREGS");
	if (ptrace(PTRACE_DETACH, tid, NULL, NULL) < 0)
		return fail("PTRACE_DETACH");
	return 0;
}
#endif
