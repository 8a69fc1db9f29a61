#!/bin/bash
# make demo: the DPU agent boots a 2-vCPU Debian guest on a host shim, then
# two guests, each with a NIC on one network and a disk on the DPU, make a
# file system on their disks and ping each other through the DPU's switch.
#
#   tools/demo/demo.sh [BUILD_DIR]
#
# The agent (nicvisor-dpu) runs on this machine. The shim runs directly on
# this machine when its KVM has hardware virtualization (VMX/SVM);
# otherwise (a PVM /dev/kvm, as on our development machines, where a stock
# kernel cannot boot) inside the nested test host: a Linux under QEMU
# software emulation with a working KVM, which dials the agent over TCP as
# a real host would. For networking the DPU's switch and the VMs must share
# a kernel (vhost-user sockets, memfd guest RAM), and so do its block
# backend and the disks: nested, a second test host then runs both the
# agent, with its DPDK dataplane, and the shim.
# Everything it starts is stopped on exit.
set -eu
NV_BUILD=$(cd "${1:-build}" && pwd)
export NV_BUILD
. "$(dirname "$0")/../../tests/integration/lib/nv-test.sh"

DPU=$NV_BUILD/dpu/nicvisor-dpu
SHIM=$NV_BUILD/host-shim/nicvisor-shim
CTL=$NV_BUILD/tools/nicvisorctl/nicvisorctl
MARKER=NICVISOR-GUEST-READY
export NICVISOR_API="ipc://$NV_TMP/api.sock"
export NICVISOR_EVENTS="ipc://$NV_TMP/events.sock"

step() { printf '\n[%s] %s\n' "$1" "$2"; }
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }
fmt_s() { printf '%d.%03d s' $(($1 / 1000)) $(($1 % 1000)); }
# wait_host HOST PID SECS: until the agent lists HOST as connected; PID is
# the shim's (or its test host's) process.
wait_host() {
	local i
	for i in $(seq $(($3 * 5))); do
		"$CTL" hosts 2>/dev/null | grep -Eq "^$1 +yes" && return 0
		nv_alive "$2" || nv_die "the shim ended before it registered (logs in $NV_TMP)"
		sleep 0.2
	done
	nv_die "the shim did not register within $3 s (logs in $NV_TMP)"
}
vm_field() { "$CTL" --json get demo | python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

step 1/7 "images and programs"
for f in "$DPU" "$SHIM" "$CTL" "$NV_IMAGES/vmlinux" "$NV_IMAGES/initramfs.cpio.gz"; do
	[ -e "$f" ] || nv_die "missing $f: run 'make build' first"
done
echo "guest kernel: Debian $(cat "$NV_IMAGES/kernel.version") (PVH vmlinux), busybox initramfs"

step 2/7 "where the guest will run"
virt=none
grep -qw vmx /proc/cpuinfo && virt=vmx
grep -qw svm /proc/cpuinfo && virt=svm
[ -d /sys/module/kvm_pvm ] && [ $virt = none ] && virt=pvm
if [ $virt = vmx ] || [ $virt = svm ]; then
	[ -w /dev/kvm ] || nv_die "/dev/kvm is not usable by $(id -un)"
	where="this machine, on its own KVM ($virt)"
	nested=0
else
	where="the nested test host: Linux under QEMU software emulation with SVM and kvm_amd (this machine's /dev/kvm is $virt and cannot boot a stock kernel)"
	nested=1
	nv_require_cmd qemu-system-x86_64
fi
echo "$where"

step 3/7 "starting the DPU agent (nicvisor-dpu)"
port=$(nv_free_port)
if [ $nested = 1 ]; then south="tcp://127.0.0.1:$port"; else south="ipc://$NV_TMP/host.sock"; fi
nv_bg agent "$DPU" --api "$NICVISOR_API" --events "$NICVISOR_EVENTS" --southbound "$south" \
	--state-dir "$NV_TMP/state" --dp-idle-sleep
agent=$NV_BG_PID
if [ $nested = 1 ]; then
	nv_wait_port "$port" 10 "$agent" || nv_die "the agent did not start (see $NV_TMP/agent.log)"
else
	nv_wait_socket "$NV_TMP/host.sock" 10 "$agent" || nv_die "the agent did not start"
fi
echo "northbound $NICVISOR_API, southbound $south"

step 4/7 "starting the host shim (nicvisor-shim)"
t_shim=$(date +%s%N)
if [ $nested = 1 ]; then
	echo "booting the nested test host; its shim dials tcp://10.0.2.2:$port (this machine)"
	nv_l1_start l1 -a "$SHIM" -m 1024 -p 2 -t 600 -- \
		nicvisor-shim --agent "tcp://10.0.2.2:$port" --host-id nested-host
	shim=$NV_L1_PID
	host=nested-host
else
	host=$(hostname)
	nv_bg shim "$SHIM" --agent "$south" --host-id "$host"
	shim=$NV_BG_PID
fi
wait_host "$host" "$shim" 120
echo "host registered after $(fmt_s "$(ms_since "$t_shim")"):"
"$CTL" hosts | sed 's/^/  /'

step 5/7 "nicvisorctl create demo --vcpus 2 --memory 256 --start"
# pci=off: the guest has no PCI devices yet; it spares a scan of all 256
# buses that costs seconds under emulation.
cmdline="console=ttyS0 quiet panic=-1 cryptomgr.notests mitigations=off pci=off"
t0=$(date +%s%N)
"$CTL" create demo --vcpus 2 --memory 256 --kernel "$NV_IMAGES/vmlinux" \
	--initrd "$NV_IMAGES/initramfs.cpio.gz" --cmdline "$cmdline" --start | sed 's/^/  /'
echo "  console (the guest's ttyS0, through the shim and the agent):"
"$CTL" console demo --until "$MARKER" --timeout 180 | sed 's/^/  | /'
[ "${PIPESTATUS[0]}" = 0 ] || nv_die "the guest did not reach $MARKER"
boot_ms=$(ms_since "$t0")
"$CTL" console demo --until ' uptime=' --timeout 20 | grep -a -o 'NICVISOR-GUEST-INFO.*' |
	tail -n 1 | sed 's/^/  | /'
setup_ns=$(vm_field vmm_setup_ns)
run_ms=$(($(vm_field running_unix_ms) - $(vm_field started_unix_ms)))

step 6/7 "nicvisorctl stop demo (ACPI power button; forced after 30 s)"
t1=$(date +%s%N)
"$CTL" stop demo --timeout 30 | sed 's/^/  /'
"$CTL" wait demo --state stopped --timeout 45 | sed 's/^/  /'
stop_ms=$(ms_since "$t1")
"$CTL" console demo | grep -a 'NICVISOR-GUEST-POWEROFF\|Power down' | sed 's/^/  | /' || true
"$CTL" get demo | sed 's/^/  /'
last_exit=$(vm_field last_exit)

step 7/7 "networking and storage: two guests, every frame and every disk request served by the DPU"
net_cmdline="console=ttyS0 quiet panic=-1 cryptomgr.notests mitigations=off pci=noearly"
kernel=$NV_IMAGES/vmlinux initrd=$NV_IMAGES/initramfs.cpio.gz
if [ $nested = 1 ]; then
	echo "the switch and the VMs need one kernel: booting a second nested test host"
	echo "that runs nicvisor-dpu (with its DPDK dataplane) and nicvisor-shim"
	nv_stop "$shim" >/dev/null || true
	pmd=$(nv_dpdk_mempool_driver "$DPU") || nv_die "cannot find DPDK's mempool_ring driver"
	api_port=$(nv_free_port)
	ev_port=$(nv_free_port)
	nv_l1_start l1net -a "$SHIM" -a "$DPU" -a "$pmd:$pmd" -a "$kernel" -a "$initrd" \
		-s "$NV_SRC/tools/nested/l1-dpu-host.sh" -m 1536 -p 2 -t 600 \
		-f "tcp:127.0.0.1:$api_port-:7000" -f "tcp:127.0.0.1:$ev_port-:7001"
	shim=$NV_L1_PID
	export NICVISOR_API="tcp://127.0.0.1:$api_port" NICVISOR_EVENTS="tcp://127.0.0.1:$ev_port"
	host=l1
	kernel=/payload/vmlinux initrd=/payload/initramfs.cpio.gz
	wait_host "$host" "$shim" 180
	echo "agent and shim up in the second test host; its API is $NICVISOR_API"
fi
t2=$(date +%s%N)
echo "  \$ nicvisorctl network create demo-net"
"$CTL" network create demo-net | sed 's/^/  /'
echo "  \$ nicvisorctl volume create demo-a-disk --size 64M; ... demo-b-disk"
for v in demo-a-disk demo-b-disk; do
	"$CTL" volume create "$v" --size 64M | sed 's/^/  /'
done
# netvm NAME IP [CMDLINE-EXTRA]: a 1-vCPU guest with a NIC on demo-net
# (the agent assigns its MAC) and NAME-disk as its disk, on which it makes
# a file system, writes 35 files, remounts and checks them (nv.fstest).
netvm() {
	"$CTL" create "$1" --vcpus 1 --memory 256 --nic demo-net --disk "$1-disk" \
		--kernel "$kernel" --initrd "$initrd" \
		--cmdline "$net_cmdline nv.ip=$2/24 nv.fstest=vda ${3:-}" --start >/dev/null
}
echo "  \$ nicvisorctl create demo-b --nic demo-net --disk demo-b-disk ... (10.0.0.2)"
netvm demo-b 10.0.0.2 'nv.cmd="sleep 3600"'
"$CTL" console demo-b --until "$MARKER" --timeout 180 >/dev/null ||
	nv_die "demo-b did not boot"
echo "  \$ nicvisorctl create demo-a --nic demo-net --disk demo-a-disk ... (10.0.0.1; runs: ping -c 5 10.0.0.2)"
netvm demo-a 10.0.0.1 'nv.cmd="ping -c 5 -W 10 10.0.0.2"'
"$CTL" wait demo-a --state stopped --timeout 240 >/dev/null || nv_die "demo-a did not finish its ping"
echo "  demo-a's console:"
"$CTL" console demo-a | tr -d '\r' | grep -a -E 'PING|bytes from|packets|round-trip|CMD-EXIT' |
	sed 's/^/  | /'
net_ms=$(ms_since "$t2")
"$CTL" console demo-b --until 'NICVISOR-FS-' --timeout 120 >/dev/null || true
fs_ok=0
for g in demo-a demo-b; do
	line=$("$CTL" console "$g" | tr -d '\r' | grep -a -o 'NICVISOR-FS-[A-Z]*.*' | tail -n 1)
	echo "  $g's disk: ${line:-no file system result}"
	case $line in NICVISOR-FS-OK*) fs_ok=$((fs_ok + 1)) ;; esac
done
pinged=$("$CTL" console demo-a | tr -d '\r' | grep -a -o '[0-9]* packets received' | tail -n 1)
echo "  \$ nicvisorctl list"
"$CTL" list | sed 's/^/  /'
echo "  \$ nicvisorctl stats    (the switch's port counters, a port per NIC: <vm id>/nic<index>; the disks')"
"$CTL" stats | sed 's/^/  /'
"$CTL" stop demo-b --force >/dev/null
"$CTL" console demo-a | grep -aq 'NICVISOR-CMD-EXIT=0' || nv_die "demo-a could not ping demo-b"
[ "$fs_ok" = 2 ] || nv_die "a guest could not use its disk"

cat <<SUMMARY

== nicvisor demo: done
ran on:     $where
boot time:  $(fmt_s "$boot_ms") from CreateVm+StartVm to $MARKER on the console;
            $(fmt_s "$run_ms") of it to RUNNING (placement, boot images streamed from
            the DPU and checked by SHA-256, VMM setup $((setup_ns / 1000000)) ms)
stop:       $(fmt_s "$stop_ms") from StopVm to stopped (last exit: $last_exit)
network:    demo-a pinged demo-b through the DPU's switch: 5 sent, ${pinged:-none};
            $(fmt_s "$net_ms") from CreateNetwork to the last reply (two boots included)
storage:    each guest made a file system on its disk (a volume on the DPU), wrote 35
            files, remounted and verified them with SHA-256: $fs_ok of 2 ok
SUMMARY
[ $nested = 0 ] || echo "note:       nested under software emulation: these times show function, not speed."
[ "$last_exit" = poweroff ] || nv_die "the guest did not power off cleanly"
