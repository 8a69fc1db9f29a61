#!/bin/bash
# make demo: the DPU agent boots a 2-vCPU Debian guest on a host shim.
#
#   tools/demo/demo.sh [BUILD_DIR]
#
# The agent (nicvisor-dpu) runs on this machine. The shim runs directly on
# this machine when its KVM has hardware virtualization (VMX/SVM);
# otherwise (a PVM /dev/kvm, as on our development machines, where a stock
# kernel cannot boot) inside the nested test host: a Linux under QEMU
# software emulation with a working KVM, which dials the agent over TCP as
# a real host would. Everything it starts is stopped on exit.
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
vm_field() { "$CTL" --json get demo | python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

step 1/6 "images and programs"
for f in "$DPU" "$SHIM" "$CTL" "$NV_IMAGES/vmlinux" "$NV_IMAGES/initramfs.cpio.gz"; do
	[ -e "$f" ] || nv_die "missing $f: run 'make build' first"
done
echo "guest kernel: Debian $(cat "$NV_IMAGES/kernel.version") (PVH vmlinux), busybox initramfs"

step 2/6 "where the guest will run"
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

step 3/6 "starting the DPU agent (nicvisor-dpu)"
port=$(nv_free_port)
if [ $nested = 1 ]; then south="tcp://127.0.0.1:$port"; else south="ipc://$NV_TMP/host.sock"; fi
nv_bg agent "$DPU" --api "$NICVISOR_API" --events "$NICVISOR_EVENTS" --southbound "$south" \
	--state-dir "$NV_TMP/state"
agent=$NV_BG_PID
if [ $nested = 1 ]; then
	nv_wait_port "$port" 10 "$agent" || nv_die "the agent did not start (see $NV_TMP/agent.log)"
else
	nv_wait_socket "$NV_TMP/host.sock" 10 "$agent" || nv_die "the agent did not start"
fi
echo "northbound $NICVISOR_API, southbound $south"

step 4/6 "starting the host shim (nicvisor-shim)"
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
i=0
until "$CTL" hosts 2>/dev/null | grep -Eq "^$host +yes"; do
	nv_alive "$shim" || nv_die "the shim ended before it registered (logs in $NV_TMP)"
	i=$((i + 1))
	[ $i -lt 600 ] || nv_die "the shim did not register within 120 s"
	sleep 0.2
done
echo "host registered after $(fmt_s "$(ms_since "$t_shim")"):"
"$CTL" hosts | sed 's/^/  /'

step 5/6 "nicvisorctl create demo --vcpus 2 --memory 256 --start"
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

step 6/6 "nicvisorctl stop demo (ACPI power button; forced after 30 s)"
t1=$(date +%s%N)
"$CTL" stop demo --timeout 30 | sed 's/^/  /'
"$CTL" wait demo --state stopped --timeout 45 | sed 's/^/  /'
stop_ms=$(ms_since "$t1")
"$CTL" console demo | grep -a 'NICVISOR-GUEST-POWEROFF\|Power down' | sed 's/^/  | /' || true
"$CTL" get demo | sed 's/^/  /'
last_exit=$(vm_field last_exit)

cat <<SUMMARY

== nicvisor demo: done
ran on:     $where
boot time:  $(fmt_s "$boot_ms") from CreateVm+StartVm to $MARKER on the console;
            $(fmt_s "$run_ms") of it to RUNNING (placement, boot images streamed from
            the DPU and checked by SHA-256, VMM setup $((setup_ns / 1000000)) ms)
stop:       $(fmt_s "$stop_ms") from StopVm to stopped (last exit: $last_exit)
SUMMARY
[ $nested = 0 ] || echo "note:       nested under software emulation: these times show function, not speed."
[ "$last_exit" = poweroff ] || nv_die "the guest did not power off cleanly"
