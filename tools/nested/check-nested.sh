#!/bin/bash
# Validate the nested test host (L1) through tests/integration/lib:
#   - L1 boots, kvm_amd loads, /dev/kvm opens (NV-L1-READY ... kvm=ok)
#   - L1 reaches a TCP listener on the outer loopback at 10.0.2.2
#   - the outer machine reaches a listener in L1 through --hostfwd
#   - the payload's exit status comes back as run-l1's status
# With --l2-qemu, also: qemu-system-x86_64 -enable-kvm inside L1 boots the
# Debian guest (L2) to NICVISOR-GUEST-READY (QEMU, its libraries and
# firmware are copied into the payload for this check only). Prints times.
set -eu
export NV_TEST_NAME=nested-l1
[ "${1:-}" != --l2-qemu ] || export NV_TEST_NAME=nested-l2-qemu
# shellcheck source-path=SCRIPTDIR source=../../tests/integration/lib/nv-test.sh
. "$(dirname "$0")/../../tests/integration/lib/nv-test.sh"
nv_require_images

l2=0
[ "${1:-}" != --l2-qemu ] || l2=1

# The outer side: a listener L1 dials, and a port forwarded into L1.
out_port=$(nv_free_port)
nv_bg listener python3 -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(1)
while True:  # the first connection is the readiness probe
    c, _ = s.accept()
    got = c.recv(100).decode().strip()
    if got:
        break
print("outer got: " + got, flush=True)
c.sendall(b"hello-from-outer\n")
' "$out_port"
listener=$NV_BG_PID
nv_wait_port "$out_port" 10 "$listener" || nv_die "outer listener did not start"
fwd_port=$(nv_free_port)

cat >"$NV_TMP/payload.sh" <<'EOF'
#!/bin/sh
up() { cut -d' ' -f1 /proc/uptime; }
[ "$NV_L1_KVM" = ok ] || { echo "no /dev/kvm: $NV_L1_KVM"; exit 3; }
reply=$(echo hello-from-l1 | nc -w 10 10.0.2.2 "$OUT_PORT") || exit 4
[ "$reply" = hello-from-outer ] || { echo "bad reply: $reply"; exit 5; }
echo "L1-DIALED-OUTER"
nc -l -p 7777 >/tmp/got &
# Say so only once the socket listens (port 7777 = 1E61, state 0A): QEMU's
# forward accepts outer connections at once and drops them if L1 refuses.
i=0
until grep -qs ':1E61 0*:0000 0A' /proc/net/tcp /proc/net/tcp6 || [ $i -ge 100 ]; do
	sleep 0.05
	i=$((i + 1))
done
echo "L1-LISTENING"
i=0
while [ ! -s /tmp/got ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
echo "L1 got: $(cat /tmp/got)"
[ "$(cat /tmp/got)" = hello-from-outer-via-fwd ] || exit 6
[ "${L2:-0}" = 1 ] || exit 0
t0=$(up)
qemu-system-x86_64 -L /payload/qemu-fw -enable-kvm -M microvm -cpu host \
	-m 256 -smp 2 -nodefaults -no-user-config -display none -no-reboot \
	-serial stdio -kernel /payload/vmlinux -initrd /payload/initramfs.cpio.gz \
	-append "$L2_CMDLINE pci=off initcall_blacklist=cmos_init nv.poweroff" </dev/null
rc=$?
echo "L2-QEMU rc=$rc start=$t0 end=$(up)"
exit $rc
EOF

args=(-t 240 -f "tcp:127.0.0.1:$fwd_port-:7777" -e "OUT_PORT=$out_port" -e "L2=$l2"
	-e "L2_CMDLINE=$NV_GUEST_CMDLINE"
	-s "$NV_TMP/payload.sh")
if [ "$l2" = 1 ]; then
	mkdir -p "$NV_TMP/qemu-fw"
	for f in bios-microvm.bin pvh.bin linuxboot_dma.bin; do
		cp -L "/usr/share/qemu/$f" "$NV_TMP/qemu-fw/" 2>/dev/null || true
	done
	args+=(-a "$(command -v qemu-system-x86_64):/payload/bin/qemu-system-x86_64"
		-a "$NV_TMP/qemu-fw" -a "$NV_IMAGES/vmlinux" -a "$NV_IMAGES/initramfs.cpio.gz")
fi

t0=$(date +%s.%N)
nv_l1_start l1 "${args[@]}"
nv_l1_wait_ready l1 120 || nv_die "L1 did not boot"
nv_log "$(grep -a '^NV-L1-READY' "$NV_L1_LOG" | tr -d '\r')"
nv_l1_wait_marker l1 '^L1-LISTENING' 60 || nv_die "L1 payload did not get to listen"
ok=0
for _ in $(seq 50); do
	if (exec 3<>"/dev/tcp/127.0.0.1/$fwd_port" && echo hello-from-outer-via-fwd >&3) 2>/dev/null; then
		ok=1
		break
	fi
	sleep 0.1
done
[ "$ok" = 1 ] || nv_die "could not connect to L1 through hostfwd"
rc=0
nv_l1_wait l1 240 || rc=$?
t1=$(date +%s.%N)
[ "$rc" = 0 ] || nv_die "L1 payload status $rc"
nv_wait_exit "$listener" 5 || nv_die "outer listener was not reached"
grep -q 'outer got: hello-from-l1' "$NV_TMP/listener.log" || nv_die "outer listener got nothing"

log=$(tr -d '\r' <"$NV_L1_LOG")
l1_ready=$(sed -n 's/^NV-L1-READY.* uptime=\([0-9.]*\).*/\1/p' <<<"$log")
echo "L1 kernel+init to NV-L1-READY: ${l1_ready}s (L1 uptime)"
if [ "$l2" = 1 ]; then
	grep -q '^NICVISOR-GUEST-READY' <<<"$log" || nv_die "L2 never printed NICVISOR-GUEST-READY"
	l2_line=$(grep '^L2-QEMU ' <<<"$log")
	l2_up=$(sed -n 's/^NICVISOR-GUEST-INFO.* uptime=\([0-9.]*\).*/\1/p' <<<"$log")
	awk -v l="$l2_line" -v g="$l2_up" 'BEGIN {
		split(l, f, /[ =]/); printf "L2 under qemu -enable-kvm in L1: %.2fs from QEMU start to power off (L2 uptime at marker %ss)\n", f[7] - f[5], g }'
fi
awk -v a="$t0" -v b="$t1" 'BEGIN { printf "end to end (outer wall clock, payload packing included): %.2fs\n", b - a }'
echo "nested: all checks passed"
