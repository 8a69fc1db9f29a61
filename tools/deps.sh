#!/bin/sh
# Install the Debian packages nicvisor needs, and only those missing.
# Idempotent: a second run installs nothing and prints one line.
# Usage: tools/deps.sh [build|all|bench|cross|pkg]
#   all (default): build and test; bench: all + benchmark peers;
#   cross: all + the aarch64 cross toolchain, qemu-user and the :arm64 -dev
#   packages (adds the arm64 architecture to dpkg once); pkg: all + what
#   `make deb` and its install test use.
set -eu

BUILD_PKGS="meson ninja-build pkg-config clang libclang-rt-14-dev clang-format
	protobuf-c-compiler libprotobuf-c-dev libnng-dev libmbedtls-dev libcmocka-dev libdpdk-dev
	python3 acpica-tools time liburing-dev libfdt-dev libbpf-dev libseccomp-dev"
# Guest images, the nested test host, the boot benchmark, storage tests
# (nbd-server: remote volumes; qemu-utils, e2fsprogs: images, file systems).
RUN_PKGS="busybox-static cpio xz-utils zstd kmod qemu-system-x86 iproute2 procps dpdk dpdk-dev
	iputils-ping nbd-server qemu-utils e2fsprogs"
# Peers that only benchmarks run (qemu-storage-daemon comes with qemu-system-x86).
BENCH_PKGS="openvswitch-switch-dpdk fio"
# The aarch64 cross build (tools/cross/arm64.ini) and its unit tests under
# qemu-aarch64. Debian's :arm64 -dev packages are Multi-Arch: same and
# install beside the amd64 ones. cmake: meson finds nng through its CMake
# package. DPDK is the exception: libdpdk-dev:arm64 needs libfdt-dev:arm64
# and the mlx PMDs need rdma-core:arm64, neither of which can sit beside
# its amd64 copy (installing them removes the amd64 DPDK). So here come
# libdpdk-dev's other dependencies (the librte libraries, the -dev
# packages its libdpdk.pc names), and tools/cross/arm64.sh extracts
# libdpdk-dev:arm64 itself into the cross build's sysroot. The same for
# libfdt-dev:arm64 (the arm64 guest's device tree): libfdt1:arm64 here,
# its -dev package extracted. device-tree-compiler: dtc decodes the
# generated trees in the unit tests; qemu-system-arm: the arm64 nested
# test host (tests/integration/arm64/).
CROSS_PKGS="gcc-aarch64-linux-gnu libc6-dev:arm64 qemu-user-static cmake
	libprotobuf-c-dev:arm64 libnng-dev:arm64 libmbedtls-dev:arm64 libcmocka-dev:arm64
	liburing-dev:arm64 libbsd-dev:arm64 libbpf-dev:arm64 libseccomp-dev:arm64 libfdt1:arm64
	device-tree-compiler
	qemu-system-arm"
# Debian packages (tools/pkg/build-deb.sh: dpkg-deb, dpkg-shlibdeps) and
# their install test in a clean root (debootstrap).
PKG_PKGS="dpkg-dev debootstrap"

mode=${1:-all}
want=$BUILD_PKGS
[ "$mode" = build ] || want="$want $RUN_PKGS"
[ "$mode" != bench ] || want="$want $BENCH_PKGS"
[ "$mode" != pkg ] || want="$want $PKG_PKGS"

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if [ "$mode" = cross ]; then
	if ! dpkg --print-foreign-architectures | grep -qx arm64; then
		echo "deps: adding the arm64 architecture to dpkg"
		$SUDO dpkg --add-architecture arm64
		$SUDO apt-get update -qq
	fi
	dpdk_deps=$(apt-cache depends libdpdk-dev:arm64 | awk '$1 == "Depends:" { print $2 }' |
		grep -v -e '^<' -e '^libfdt-dev' -e mlx -e '^librte-meta')
	want="$want $CROSS_PKGS $dpdk_deps"
fi

# A name without :arch means the native package (or an Architecture: all
# one); asked unqualified, dpkg-query would answer for every arch installed.
native=$(dpkg --print-architecture)
installed() {
	case $1 in
	*:*) st=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true) ;;
	*) st=$(dpkg-query -W -f='${Status}' "$1:$native" 2>/dev/null ||
		dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true) ;;
	esac
	case $st in
	"install ok installed" | "hold ok installed") return 0 ;;
	*) return 1 ;;
	esac
}

missing=""
for p in $want; do
	installed "$p" || missing="$missing $p"
done
if [ -z "$missing" ]; then
	echo "deps: all $(echo $want | wc -w) packages present"
	exit 0
fi

echo "deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
# --no-remove: never make room by removing a package (a :arm64 one that is
# not Multi-Arch: same would take its amd64 copy with it).
$SUDO apt-get install -y -qq --no-install-recommends --no-remove $missing >/dev/null
echo "deps: done"
