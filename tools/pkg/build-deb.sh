#!/bin/sh
# Debian packages of nicvisor from a build directory, with dpkg-deb:
#   nicvisor-dpu   the agent, its unit, the hugepage unit, /etc/nicvisor/dpu.conf
#                  and hugepages.conf, the AF_XDP uplinks' steering program
#   nicvisor-shim  the host daemon, its unit, /etc/nicvisor/shim.conf
#   nicvisorctl    the command line
# The architecture is the programs' (amd64 or arm64: a native build or the
# cross build of tools/cross/); Depends come from dpkg-shlibdeps.
#
# Usage: tools/pkg/build-deb.sh BUILD_DIR OUT_DIR
# Prints the paths of the .deb files it wrote.
set -eu

build=${1:?usage: build-deb.sh BUILD_DIR OUT_DIR}
out=${2:?usage: build-deb.sh BUILD_DIR OUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)

dpu=$build/dpu/nicvisor-dpu
shim=$build/host-shim/nicvisor-shim
ctl=$build/tools/nicvisorctl/nicvisorctl
for f in "$dpu" "$shim" "$ctl"; do
	[ -x "$f" ] || {
		echo "build-deb: $f is missing (build first)" >&2
		exit 1
	}
done

case $(readelf -h "$dpu" | sed -n 's/^ *Machine: *//p') in
AArch64) arch=arm64 ;;
*X86-64) arch=amd64 ;;
*)
	echo "build-deb: $dpu: not an amd64 or arm64 program" >&2
	exit 1
	;;
esac
version=$(sed -n 's/^#define NV_VERSION "\(.*\)"$/\1/p' "$build/nv_config.h")
[ -n "$version" ] || {
	echo "build-deb: no NV_VERSION in $build/nv_config.h" >&2
	exit 1
}

mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# stage PACKAGE PROGRAM...: the programs in usr/bin, stripped.
stage() {
	pkg=$1
	shift
	root=$work/$pkg
	mkdir -p "$root/DEBIAN" "$root/usr/bin" "$root/usr/share/doc/$pkg"
	for p in "$@"; do
		install -m 0755 "$p" "$root/usr/bin/"
	done
	strip=strip
	[ "$arch" = amd64 ] || strip=aarch64-linux-gnu-strip
	$strip --strip-unneeded "$root"/usr/bin/*
}

# files PACKAGE DIR FILE...: files of tools/pkg/ into DIR of the package;
# those under /etc are conffiles.
files() {
	pkg=$1
	dir=$2
	shift 2
	mkdir -p "$work/$pkg$dir"
	for f in "$@"; do
		install -m 0644 "$here/$f" "$work/$pkg$dir/"
		case $dir in
		/etc/*) echo "$dir/$f" >>"$work/$pkg/DEBIAN/conffiles" ;;
		esac
	done
}

# control PACKAGE DESCRIPTION [DEPENDS]: Depends from the libraries the
# programs link, plus DEPENDS (what they load at run time).
control() {
	pkg=$1
	desc=$2
	more=${3:-}
	# dpkg-shlibdeps reads debian/control; it needs one, not ours.
	mkdir -p "$work/src/debian"
	printf 'Source: nicvisor\n\nPackage: %s\nArchitecture: any\n' "$pkg" \
		>"$work/src/debian/control"
	deps=$(cd "$work/src" && DEB_HOST_ARCH=$arch dpkg-shlibdeps -O \
		-l"/usr/lib/$(dpkg-architecture -a"$arch" -qDEB_HOST_MULTIARCH 2>/dev/null)" \
		"$work/$pkg"/usr/bin/* 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
	[ -z "$more" ] || deps="$deps, $more"
	size=$(du -sk "$work/$pkg" | cut -f1)
	cat >"$work/$pkg/DEBIAN/control" <<EOT
Package: $pkg
Version: $version
Architecture: $arch
Maintainer: nicvisor developers <nicvisor@invalid>
Installed-Size: $size
Depends: $deps
Section: admin
Priority: optional
Description: $desc
EOT
	sed 's/^/ /; s/^ $/ ./' "$here/$pkg.description" >>"$work/$pkg/DEBIAN/control"
	cp "$here/$pkg.README" "$work/$pkg/usr/share/doc/$pkg/README.Debian"
	dpkg-deb --root-owner-group -Zxz --build "$work/$pkg" "$out/${pkg}_${version}_$arch.deb" >/dev/null
	echo "$out/${pkg}_${version}_$arch.deb"
}

stage nicvisor-dpu "$dpu"
files nicvisor-dpu /lib/systemd/system nicvisor-dpu.service nicvisor-hugepages.service
files nicvisor-dpu /etc/nicvisor dpu.conf hugepages.conf
# The steering XDP program of AF_XDP uplinks (devargs xdp_prog=), if built.
if [ -f "$build/dataplane/xdp/uplink_steer.bpf.o" ]; then
	mkdir -p "$work/nicvisor-dpu/usr/lib/nicvisor"
	install -m 0644 "$build/dataplane/xdp/uplink_steer.bpf.o" "$work/nicvisor-dpu/usr/lib/nicvisor/"
fi
# DPDK's drivers are plug-ins its EAL loads (dpdk-pmds-23): the ring mempool
# holds every mbuf and ring; af_packet and mlx5 are the uplinks of a
# development machine and of a BlueField.
control nicvisor-dpu "nicvisor DPU agent: API, virtual switch and block backends" \
	"librte-mempool-ring23, librte-net-af-packet23 | librte-net-mlx5-23"

stage nicvisor-shim "$shim"
files nicvisor-shim /lib/systemd/system nicvisor-shim.service
files nicvisor-shim /etc/nicvisor shim.conf
control nicvisor-shim "nicvisor host shim: KVM vCPUs and guest memory for the DPU's VMs"

stage nicvisorctl "$ctl"
control nicvisorctl "nicvisor command line: the northbound API for operators"
