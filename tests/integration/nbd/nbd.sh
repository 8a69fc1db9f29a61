#!/bin/bash
# The NBD client (dataplane/nbd.c, through nbd_it) against Debian's
# nbd-server, run in the foreground (-d: no fork, one client, then it
# exits) with a config in the test's temp dir, on a free TCP port or a
# unix socket. Cases:
#   tcp        nbd://127.0.0.1:PORT/disk: write a pattern over the export,
#              flush, read back, trim, write zeroes; the file on disk holds
#              the pattern and the trimmed half is deallocated; a missing
#              export is refused with the server's reason
#   unix       nbd+unix:// the same, then the read-only export refuses
#              writes and reads the data back
#   reconnect  nbd-server is killed and restarted while 32 requests are in
#              flight: every request completes, the data reads back
#   stall      the same, but the server is stopped (SIGSTOP: no reset, no
#              replies) for 2.5 s before it is killed: the client's request
#              timeout (1 s) notices, its first attempt fails on the stopped
#              server, a later one gets through to the new server
#   qemu-nbd   the unix case against QEMU's qemu-nbd (another server's
#              reading of the protocol), if it is installed
# Usage: nbd.sh NBD_IT CASE
set -eu
. "$(dirname "$0")/../lib/nv-test.sh"

nbd_it=$1
case_=$2
if [ "$case_" = qemu-nbd ]; then
	nv_require_cmd qemu-nbd python3
else
	nv_require_cmd nbd-server python3
fi
[ -x "$nbd_it" ] || nv_die "no $nbd_it"

size=$((8 << 20))
truncate -s "$size" "$NV_TMP/disk.img"
sock=$NV_TMP/nbd.sock
port=$(nv_free_port)

# write_config unix|tcp
write_config() {
	{
		echo "[generic]"
		if [ "$1" = unix ]; then
			echo "  unixsock = $sock"
		else
			echo "  listenaddr = 127.0.0.1"
			echo "  port = $port"
		fi
		echo "[disk]"
		echo "  exportname = $NV_TMP/disk.img"
		echo "  flush = true"
		echo "  trim = true"
		echo "[ro]"
		echo "  exportname = $NV_TMP/disk.img"
		echo "  readonly = true"
	} >"$NV_TMP/nbd.conf"
}

# start_server NAME: nbd-server in the foreground, up when it listens.
server=""
start_server() {
	rm -f "$sock"
	nv_bg "$1" nbd-server -C "$NV_TMP/nbd.conf" -d
	server=$NV_BG_PID
	if [ "$mode" = unix ]; then
		nv_wait_socket "$sock" 10 "$server" || nv_die "nbd-server did not listen on $sock"
	else
		nv_wait_port "$port" 10 "$server" || nv_die "nbd-server did not listen on $port"
		# nv_wait_port's probe was the server's one client: start again.
		nv_stop "$server"
		nv_bg "$1-2" nbd-server -C "$NV_TMP/nbd.conf" -d
		server=$NV_BG_PID
		sleep 0.3
		nv_alive "$server" || nv_die "nbd-server exited: $(cat "$NV_TMP/$1-2.log")"
	fi
}

# client NAME URI MODE: run nbd_it (bounded), fail with its output.
client() {
	local rc=0
	nv_bg "$1" "$nbd_it" "$2" "$3"
	nv_wait_exit "$NV_BG_PID" 90 || rc=$?
	cat "$NV_TMP/$1.log"
	[ "$rc" -eq 0 ] || nv_die "nbd_it $3 on $2 failed ($rc)"
	grep -q '^OK$\|^missing export refused' "$NV_TMP/$1.log" || nv_die "nbd_it $3: no verdict"
}

# The file itself: the pattern nbd_it wrote (seed 1) in the second half,
# the first half deallocated by the trim, zeroes in the last 64 KiB.
check_file() {
	python3 - "$NV_TMP/disk.img" "$size" <<'PY'
import os, struct, sys
path, size = sys.argv[1], int(sys.argv[2])
data = open(path, "rb").read()
assert len(data) == size, len(data)
for off in range(size // 2, size - 65536, 4096 * 7 + 8):
    want = ((off * 0x9E3779B97F4A7C15) & (2**64 - 1)) ^ 1
    got, = struct.unpack_from("<Q", data, off)
    assert got == want, "offset %d: %#x, wrote %#x" % (off, got, want)
assert data[size - 65536:] == bytes(65536), "write zeroes did not zero the tail"
alloc = os.stat(path).st_blocks * 512
assert alloc <= size * 3 // 4, "trim freed nothing: %d bytes allocated" % alloc
print("file: pattern present, tail zero, %d of %d bytes allocated" % (alloc, size))
PY
}

mode=unix
[ "$case_" = tcp ] && mode=tcp
write_config "$mode"
uri_disk="nbd+unix:///disk?socket=$sock"
uri_ro="nbd+unix:///ro?socket=$sock"
uri_missing="nbd+unix:///missing?socket=$sock"
if [ "$mode" = tcp ]; then
	uri_disk="nbd://127.0.0.1:$port/disk"
	uri_missing="nbd://127.0.0.1:$port/missing"
fi

case $case_ in
tcp | unix)
	start_server server-rw
	client rw "$uri_disk" rw
	nv_wait_exit "$server" 10 || true
	check_file
	start_server server-missing
	client missing "$uri_missing" missing
	nv_stop "$server"
	if [ "$mode" = unix ]; then
		start_server server-ro
		client ro "$uri_ro" ro
		nv_stop "$server"
	fi
	;;
reconnect | stall)
	start_server server-1
	nv_bg reconnect "$nbd_it" "$uri_disk" reconnect
	client_pid=$NV_BG_PID
	nv_wait_log "$NV_TMP/reconnect.log" '^READY' 30 "$client_pid" || {
		cat "$NV_TMP/reconnect.log"
		nv_die "nbd_it never got going"
	}
	# Kill the server under load; the client retries while it is away.
	if [ "$case_" = stall ]; then
		kill -STOP "$server"
		sleep 2.5
	fi
	kill -KILL "$server"
	wait "$server" 2>/dev/null || true
	sleep 0.3
	start_server server-2
	rc=0
	nv_wait_exit "$client_pid" 90 || rc=$?
	cat "$NV_TMP/reconnect.log"
	[ "$rc" -eq 0 ] || nv_die "nbd_it reconnect failed ($rc)"
	grep -q '^OK$' "$NV_TMP/reconnect.log" || nv_die "nbd_it reconnect: no verdict"
	grep -Eq 'reconnects [1-9]' "$NV_TMP/reconnect.log" || nv_die "no reconnect counted"
	if [ "$case_" = stall ]; then
		grep -q '^error: no progress from the server in 1000 ms' "$NV_TMP/reconnect.log" ||
			nv_die "the request timeout did not fire"
		grep -q '^error: reconnect 1/30 failed' "$NV_TMP/reconnect.log" ||
			nv_die "an attempt got through to the stopped server"
	fi
	nv_stop "$server"
	;;
qemu-nbd)
	# --persistent: serve client after client; -r: the read-only export.
	rm -f "$sock"
	nv_bg qemu-nbd qemu-nbd -f raw -k "$sock" -x disk --persistent --discard=unmap \
		"$NV_TMP/disk.img"
	server=$NV_BG_PID
	nv_wait_socket "$sock" 10 "$server" || nv_die "qemu-nbd did not listen on $sock"
	client rw "$uri_disk" rw
	client missing "$uri_missing" missing
	nv_stop "$server"
	check_file
	rm -f "$sock"
	nv_bg qemu-nbd-ro qemu-nbd -f raw -k "$sock" -x ro -r --persistent "$NV_TMP/disk.img"
	server=$NV_BG_PID
	nv_wait_socket "$sock" 10 "$server" || nv_die "qemu-nbd did not listen on $sock"
	client ro "$uri_ro" ro
	nv_stop "$server"
	;;
*)
	nv_die "unknown case $case_"
	;;
esac
nv_log "PASS $case_"
