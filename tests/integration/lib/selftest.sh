#!/bin/bash
# Self-test of nv-test.sh: processes, waits, ports, skip, and the cleanup
# trap (it stops what a test started and removes the temp dir).
set -eu
export NV_TEST_NAME=lib-selftest
# shellcheck source-path=SCRIPTDIR source=nv-test.sh
. "$(dirname "$0")/nv-test.sh"
lib=$(dirname "$0")/nv-test.sh

[ -d "$NV_TMP" ] || nv_die "no NV_TMP"

# nv_bg + nv_wait_log + nv_log_value
nv_bg talker sh -c 'sleep 0.3; echo "STATE rc=5 x=1"; sleep 100'
talker=$NV_BG_PID
nv_wait_log "$NV_TMP/talker.log" '^STATE ' 5 "$talker" || nv_die "nv_wait_log missed the line"
[ "$(nv_log_value "$NV_TMP/talker.log" rc)" = 5 ] || nv_die "nv_log_value"
nv_wait_log "$NV_TMP/talker.log" NEVER 0.3 && nv_die "nv_wait_log matched nothing"

# nv_stop: TERM, then KILL for a process that ignores TERM
nv_bg stubborn sh -c 'trap "" TERM; echo up; while :; do sleep 0.1; done'
stubborn=$NV_BG_PID
nv_wait_log "$NV_TMP/stubborn.log" up 5 || nv_die "stubborn did not start"
nv_stop "$stubborn" 1
nv_alive "$stubborn" && nv_die "nv_stop left $stubborn running"

# nv_wait_exit: the status, and 124 on timeout
nv_bg quick sh -c 'exit 9'
rc=0
nv_wait_exit "$NV_BG_PID" 5 || rc=$?
[ "$rc" = 9 ] || nv_die "nv_wait_exit gave $rc, want 9"
rc=0
nv_wait_exit "$talker" 0.3 || rc=$?
[ "$rc" = 124 ] || nv_die "nv_wait_exit timeout gave $rc, want 124"

# a dead process ends a wait early with status 2
nv_bg dies sh -c 'exit 0'
rc=0
nv_wait_file "$NV_TMP/never" 10 "$NV_BG_PID" || rc=$?
[ "$rc" = 2 ] || nv_die "wait on a dead PID gave $rc, want 2"

# nv_free_port + nv_wait_port, nv_wait_socket, nv_wait_file
port=$(nv_free_port)
nv_bg server python3 -c '
import socket, sys, time
t = socket.socket(); t.bind(("127.0.0.1", int(sys.argv[1]))); t.listen(4)
u = socket.socket(socket.AF_UNIX); u.bind(sys.argv[2]); u.listen(1)
open(sys.argv[3], "w").close()
time.sleep(100)' "$port" "$NV_TMP/sock" "$NV_TMP/flag"
nv_wait_port "$port" 10 "$NV_BG_PID" || nv_die "nv_wait_port"
nv_wait_socket "$NV_TMP/sock" 10 "$NV_BG_PID" || nv_die "nv_wait_socket"
nv_wait_file "$NV_TMP/flag" 10 "$NV_BG_PID" || nv_die "nv_wait_file"

# nv_skip exits 77 with a loud line
rc=0
out=$(bash -c ". '$lib'; nv_skip 'no widget'") || rc=$?
[ "$rc" = 77 ] || nv_die "nv_skip exited $rc"
grep -q '^SKIP: .*no widget' <<<"$out" || nv_die "nv_skip said: $out"

# cleanup trap in a child test: its process is stopped, its temp dir gone
bash -c ". '$lib'; nv_bg sleeper sleep 100; echo \"\$NV_BG_PID \$NV_TMP\"; exit 3" \
	>"$NV_TMP/child.out" 2>/dev/null || rc=$?
read -r cpid ctmp <"$NV_TMP/child.out"
[ "$rc" = 3 ] || nv_die "child status $rc, want 3"
nv_alive "$cpid" && nv_die "cleanup left PID $cpid running"
[ ! -e "$ctmp" ] || nv_die "cleanup left $ctmp"

echo "lib-selftest: all checks passed"
