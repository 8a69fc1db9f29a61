#!/bin/sh
# Install the Debian packages nicvisor needs, and only those missing.
# Idempotent: a second run installs nothing and prints one line.
# Usage: tools/deps.sh [build|all|bench]   (default: all; bench: all + benchmark peers)
set -eu

BUILD_PKGS="meson ninja-build pkg-config clang libclang-rt-14-dev clang-format
	protobuf-c-compiler libprotobuf-c-dev libnng-dev libmbedtls-dev libcmocka-dev libdpdk-dev
	python3 acpica-tools time liburing-dev"
# Guest images, the nested test host, the boot benchmark, storage tests
# (nbd-server: remote volumes; qemu-utils, e2fsprogs: images, file systems).
RUN_PKGS="busybox-static cpio xz-utils zstd kmod qemu-system-x86 iproute2 procps dpdk dpdk-dev
	iputils-ping nbd-server qemu-utils e2fsprogs"
# Peers that only benchmarks run (qemu-storage-daemon comes with qemu-system-x86).
BENCH_PKGS="openvswitch-switch-dpdk fio"

want=$BUILD_PKGS
[ "${1:-all}" = build ] || want="$want $RUN_PKGS"
[ "${1:-all}" != bench ] || want="$want $BENCH_PKGS"

missing=""
for p in $want; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$st" = "install ok installed" ] || missing="$missing $p"
done
if [ -z "$missing" ]; then
	echo "deps: all $(echo $want | wc -w) packages present"
	exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "deps: done"
